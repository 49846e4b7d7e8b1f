"""The `emergence` command on the real store built from ../shared/data (required when CI=true)."""
from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd
import pytest

import emergence
from emergence import api
from emergence.catalog import CATALOG


def run(db, *args, check=True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emergence.cli", "--db", str(db), *args],
                          capture_output=True, check=check, timeout=300)


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
