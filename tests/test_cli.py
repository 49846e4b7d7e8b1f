"""The `emergence` command on the real store built from ../shared/data (required when CI=true).

Most calls run :func:`emergence.cli.main` in this process with stdout and stderr captured as bytes (what a
subprocess would return, without a new interpreter importing pandas, DuckDB and SciPy for each of ~40 calls);
the console entry point itself (``python -m emergence.cli``) runs as a subprocess in ``test_simulate_csv`` and
``test_db_goes_before_or_after_the_subcommand``.
"""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pandas as pd
import pytest

import emergence
from emergence import api
from emergence.ingestion.catalog import CATALOG


def run(db, *args, check=True) -> subprocess.CompletedProcess:
    """``emergence --db DB ARGS`` in this process: its exit status and the bytes it wrote to stdout and stderr."""
    from emergence import cli
    argv = ["--db", str(db), *map(str, args)]
    out, err = io.BytesIO(), io.BytesIO()
    so = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    se = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        try:
            code = cli.main(argv)
        except SystemExit as e:          # argparse: --help (0) and usage errors (2)
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        so.flush()
        se.flush()
    done = subprocess.CompletedProcess(["emergence", *argv], code or 0, out.getvalue(), err.getvalue())
    if check:
        done.check_returncode()
    return done


def csv(db, *args) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(run(db, *args, "--csv", "-").stdout), keep_default_na=False, na_values=[""])


SHARED_SOURCES = [n for n, s in CATALOG.items() if s.repo and s.commit]


def test_every_shared_source_is_ingested(real_store):
    db, out = real_store
    assert sorted(out["result"]) == sorted(SHARED_SOURCES)
    assert set(out["result"].values()) == {"added"}


def test_sources_shows_real_counts(real_store):
    db, _ = real_store
    df = csv(db, "sources").set_index("source")
    assert df.loc["pythia", "files"] == 889
    assert df.loc["pythia", "observations"] == 132_074
    assert df.loc["gpt3-multiplication-tables", "examples"] == 70_000
    assert df.loc["monkeys-powerlaws", "license"] == "none stated"
    assert "mislabelled=12" in df.loc["expemergence", "data_issues"]
    assert df.loc["openllm-leaderboard-benchbench", "without_scale"] > 15_000   # leaderboards have no sizes


def test_observations_csv_is_the_api_csv_byte_for_byte(real_store):
    db, _ = real_store
    out = run(db, "observations", "--source", "expemergence", "--task", "arithmetic", "--csv", "-").stdout
    assert out == api.to_csv(emergence.observations(source="expemergence", task="arithmetic", db=db))
    df = pd.read_csv(io.BytesIO(out))
    assert set(df["task"]) == {"arithmetic"} and len(df) > 1000
    # a row traced back to the raw file: Llama-2-7b overall acc on arithmetic
    row = df[(df["model"] == "meta-llama/Llama-2-7b-hf") & (df["source_metric"] == "acc") & df["in_scoring"]
             & df["subtask"].isna()]
    assert row["value"].tolist() == pytest.approx([0.5304533049324369])


def test_repeated_filters_are_ored(real_store):
    db, _ = real_store
    both = csv(db, "observations", "--source", "expemergence", "--task", "arithmetic", "--task", "mmlu")
    assert set(both["task"]) == {"arithmetic", "mmlu"}


def test_series_has_every_column_the_issue_names(real_store):
    db, _ = real_store
    df = csv(db, "series", "--source", "expemergence")
    needed = ["source", "task", "subtask", "metric", "source_metric", "metric_class", "higher_is_better", "family",
              "source_family", "shots", "n_scales", "scale_axis", "emergence_score", "flag", "p_value", "q_value",
              "emergent", "verdict", "verdict_reason"]
    assert [c for c in needed if c not in df.columns] == []
    assert df["flag"].notna().all()
    scored = df[df["n_scales"] >= 3]
    assert scored["emergence_score"].notna().all()
    # every series has a verdict and a reason; emergent only in the emergent state
    assert df["verdict"].isin(["emergent", "smooth", "insufficient", "no signal"]).all()
    assert df["verdict_reason"].notna().all() and (df["verdict_reason"].str.len() > 0).all()
    assert (df["emergent"] == (df["verdict"] == "emergent")).all()
    # q-values exist exactly where a sharp-onset test ran on the primary axis (and are copied to the other axes)
    prim = df[df["primary"] & (df["pre_state"] == "tested")]
    assert (prim["p_value"].notna() == prim["q_value"].notna()).all()
    pythia_acc = df[(df["task"] == "arithmetic") & (df["source_family"] == "Pythia") & (df["source_metric"] == "acc")
                    & (df["subtask"].isna())]
    assert len(pythia_acc) == 1 and pythia_acc["verdict"].notna().all()


def test_compare_pairs_metrics_of_the_same_outputs(real_store):
    db, _ = real_store
    df = csv(db, "compare")
    assert {"group_id", "metric", "emergence_score", "emergent"} <= set(df.columns)
    assert (df.groupby("group_id")["metric"].nunique() >= 2).all()
    ex = df[(df["source"] == "expemergence") & (df["task"] == "arithmetic") & (df["family"] == "Pythia")]
    assert {"multiple_choice_grade", "brier_score_target"} <= set(ex["metric"])


def test_instructgpt_multiplication_exact_match_and_edit_distance_for_all_four_sizes(real_store):
    db, _ = real_store
    obs = csv(db, "observations", "--source", "gpt3-multiplication-tables", "--family", "InstructGPT")
    models = {"text-ada-001", "text-babbage-001", "text-curie-001", "text-davinci-003"}
    for metric in ("exact_match", "edit_distance"):
        got = obs[obs["metric"] == metric]
        assert models <= {m.split("GPT3-")[-1] for m in got["model"]}, metric
    em = obs[obs["metric"] == "exact_match"].set_index("model")["value"]
    assert em[[m for m in em.index if "davinci-003" in m][0]] == pytest.approx(0.9115)


def test_ingesting_the_same_content_again_adds_nothing(real_store, tmp_path):
    db, _ = real_store
    before = csv(db, "sources")[["source", "observations", "examples", "issues"]]
    out = run(db, "ingest", "expemergence", "on-emergence", "--offline")
    assert out.stdout.decode().count("unchanged") == 2
    after = csv(db, "sources")[["source", "observations", "examples", "issues"]]
    pd.testing.assert_frame_equal(before, after)


def test_passuntil_task_law_on_monkeys(real_store):
    db, _ = real_store
    df = csv(db, "passuntil", "--source", "monkeys-powerlaws")
    math = df[df["task"] == "MATH/large_language_monkeys_original_pass_at_k"].iloc[0]
    assert math["n_sizes"] == 7 and math["n_instances"] == 128
    assert 0 < math["pu_predicted"] < 1 and math["pu_actual"] == pytest.approx(0.0232, abs=5e-4)


def test_predict_gives_held_out_errors(real_store):
    db, _ = real_store
    df = csv(db, "predict", "--source", "expemergence", "--task", "arithmetic", "--family", "Pythia")
    ok = df[df["status"] == "ok"]
    assert len(ok) and ok["abs_error"].notna().all()


def test_simulate_csv():
    df = pd.read_csv(io.BytesIO(subprocess.run([sys.executable, "-m", "emergence.cli", "simulate", "--n-scales", "5",
                                                "--csv", "-"], capture_output=True, check=True).stdout))
    assert len(df) == 5 and (df["accuracy_expected"].diff().dropna() > 0).all()


def test_missing_source_offline_says_what_and_how(tmp_path):
    out = run(tmp_path / "s.duckdb", "ingest", "pythia", "--data-dir", str(tmp_path / "nowhere"), "--offline",
              check=False)
    err = out.stderr.decode()
    assert out.returncode == 2
    assert "pythia" in err and "github.com/EleutherAI/pythia" in err and str(tmp_path / "nowhere") in err
    assert not (tmp_path / "s.duckdb").exists()


def test_listing_without_a_store_is_a_clear_error(tmp_path):
    out = run(tmp_path / "none.duckdb", "sources", check=False)
    assert out.returncode == 2 and "emergence ingest" in out.stderr.decode()


def test_rescore_gives_bootstrap_intervals_over_examples(real_store):
    db, _ = real_store
    df = csv(db, "rescore", "--source", "gpt3-multiplication-tables", "--family", "InstructGPT", "--n-boot", "200")
    em = df[df["metric"] == "exact_match"].set_index("model")
    assert len(em) == 4 and (em["n_examples"] == 10_000).all()
    assert (em["ci_low"] <= em["value"]).all() and (em["value"] <= em["ci_high"]).all()
    # at p = 0.9115 and n = 10,000 the interval is about +-1.96 * sqrt(p(1-p)/n) = +-0.0056 wide
    assert em.loc["text-davinci-003", "ci_high"] - em.loc["text-davinci-003", "ci_low"] == pytest.approx(0.0111, abs=0.002)


@pytest.mark.parametrize("args", [["--db", "{db}", "sources"], ["sources", "--db", "{db}"]])
def test_db_goes_before_or_after_the_subcommand(real_store, args):
    db, _ = real_store
    out = subprocess.run([sys.executable, "-m", "emergence.cli", *[a.format(db=db) for a in args], "--csv", "-"],
                         capture_output=True, check=True, timeout=120)
    assert b"expemergence" in out.stdout


# ---------------------------------------------------------------- issue 12: ingest flags, remove, help, errors
from emergence.ingestion.sources.byo import fields_for  # noqa: E402


def test_ingest_help_lists_every_mappable_field_of_both_kinds():
    text = run("unused.duckdb", "ingest", "--help").stdout.decode()
    for kind in ("aggregate", "examples"):
        assert f"kind = {kind}" in text
        for field in fields_for(kind):
            assert f"\n  {field} " in text, field
    for flag in ("--size MODEL=COUNT", "--delimiter", "--empty-prediction {wrong,skip}"):
        assert flag in text


def test_a_malformed_mapping_is_one_line_without_a_traceback(tmp_path):
    (tmp_path / "m.toml").write_text('name = "x"\nkind = examples\n')
    (tmp_path / "d.csv").write_text("a\n1\n")
    out = run(tmp_path / "s.duckdb", "ingest", str(tmp_path / "d.csv"), "--map", str(tmp_path / "m.toml"), check=False)
    err = out.stderr.decode().strip().splitlines()
    assert out.returncode == 2 and len(err) == 1 and "Traceback" not in out.stderr.decode()
    assert err[0].startswith(f"error: {tmp_path / 'm.toml'}: not valid TOML at line 2, column 8")
    assert err[0].endswith("(nothing was written)") and not (tmp_path / "s.duckdb").exists()


def test_flags_size_delimiter_empty_prediction_and_remove(tmp_path):
    db = tmp_path / "s.duckdb"
    data = tmp_path / "mine.csv"
    data.write_text("model;q;out;gold\nmy-small;1;4;4\nmy-small;2;;5\nmy-big;1;4;4\nmy-big;2;5;5\nmy-mid;1;4;4\n")
    base = ["ingest", str(data), "--kind", "examples", "--column", "model=model", "--column", "example_id=q",
            "--column", "prediction=out", "--column", "target=gold", "--set", "task=sums", "--size", "my-small=350M",
            "--size", "my-big=7B", "--size", "my-mid=1.3e9"]
    out = run(db, *base, "--delimiter", ";")
    assert "mine" in out.stdout.decode() and "added" in out.stdout.decode()
    obs = csv(db, "observations", "--metric", "exact_match").set_index("model")
    assert obs.loc["my-small", "value"] == 0.5 and obs.loc["my-big", "params"] == 7e9
    assert obs.loc["my-small", "params"] == 3.5e8
    out = run(db, *base, "--empty-prediction", "skip")          # the delimiter detected; a new option: replaced
    assert "replaced" in out.stdout.decode()
    assert csv(db, "observations", "--metric", "exact_match").set_index("model").loc["my-small", "value"] == 1.0
    copy = run(db, *base, "--name", "again")                    # same file, second name: a warning, counted once
    assert "warning: again: 1 file(s) have the same content" in copy.stderr.decode()
    assert set(csv(db, "series")["source"]) == {"mine"}
    bad = run(db, "remove", "mine", "nope", check=False)
    assert bad.returncode == 2 and "no source 'nope'" in bad.stderr.decode()
    assert set(csv(db, "sources")["source"]) == {"mine", "again"}
    gone = run(db, "remove", "mine")
    assert "mine" in gone.stdout.decode() and "removed" in gone.stdout.decode()
    assert set(csv(db, "sources")["source"]) == {"again"} and set(csv(db, "series")["source"]) == {"again"}
    issues = csv(db, "issues")
    assert "duplicate_source" not in set(issues["kind"]) and "empty_prediction" in set(issues["kind"])


def test_a_bad_size_flag_names_the_flag(tmp_path):
    (tmp_path / "d.csv").write_text("model,q,out,gold\nm,1,a,a\n")
    out = run(tmp_path / "s.duckdb", "ingest", str(tmp_path / "d.csv"), "--kind", "examples", "--column", "model=model",
              "--column", "prediction=out", "--column", "target=gold", "--set", "task=t", "--size", "m:7B", check=False)
    assert out.returncode == 2 and "--size" in out.stderr.decode() and "KEY=VALUE" in out.stderr.decode()
