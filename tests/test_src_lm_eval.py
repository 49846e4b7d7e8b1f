"""lm-eval-harness results JSON: sources ``pythia`` and ``lm-eval-harness-results-2023``.

Unit tests build results files in ``tmp_path`` from the documented format (old and new key
styles, both catalogue layouts); real-data tests check values read by hand from the raw JSON
in ``../shared/data``.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources import lm_eval_results as lm
from emergence.ingestion.sources.lm_eval_results import metric_for, parse, pythia_file_info
from conftest import require_shared

TPS = 2_097_152   # Pythia tokens per step: 1024 x 2048


def shared_folder(name: str) -> Path:
    return require_shared(name)


def old_style(results: dict, shots: int = 0, model_args: str = "pretrained=x") -> dict:
    return {"results": results, "versions": {t: 0 for t in results},
            "config": {"model": "hf-causal", "model_args": model_args, "num_fewshot": shots, "batch_size": 2,
                       "device": "cuda", "no_cache": True, "limit": None, "bootstrap_iters": 100000,
                       "description_dict": {}}}


def write(root: Path, rel: str, data) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def one(df, **eq):
    sel = df
    for k, v in eq.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, f"{len(sel)} rows for {eq}"
    return sel.iloc[0]


# --------------------------------------------------------------------------- pure helpers

@pytest.mark.parametrize("task, key, expected", [
    ("arc_easy", "acc", ("multiple_choice_grade", "", "")),
    ("arc_easy", "acc_norm", ("accuracy_norm", "", "")),
    ("lambada_openai", "acc", ("accuracy", "", "")),          # greedy last-word match, not a choice
    ("lambada_openai", "ppl", ("perplexity", "", "")),
    ("arithmetic_2da", "acc", ("accuracy", "", "")),
    ("gsm8k", "acc", ("accuracy", "", "")),
    ("math_algebra", "acc", ("accuracy", "", "")),
    ("mathqa", "acc", ("multiple_choice_grade", "", "")),       # multiple choice despite the 'math' prefix
    ("bigbench_date_understanding", "multiple_choice_grade", ("multiple_choice_grade", "", "")),
    ("bigbench_geometric_shapes", "exact_str_match", ("exact_match", "", "")),
    ("drop", "f1", ("exact_match_f1", "", "")),
    ("drop", "em", ("exact_match", "", "")),
    ("cb", "f1", ("f1", "", "")),
    ("squad2", "HasAns_exact", ("exact_match", "HasAns", "")),
    ("squad2", "best_f1", ("exact_match_f1", "", "best_threshold")),
    ("truthfulqa_mc", "mc1", ("multiple_choice_grade", "", "")),
    ("truthfulqa_mc", "mc2", ("normalized_true_probability", "", "")),
    ("crows_pairs_english", "pct_stereotype", ("pct_stereotype", "", "")),
    ("cola", "mcc", ("mcc", "", "")),
])
def test_metric_for(task, key, expected):
    assert metric_for(task, key) == expected


@pytest.mark.parametrize("relpath, family, model, step, implied", [
    ("evals/pythia-v1/pythia-12b/zero-shot/12b_step143000.json", "Pythia", "pythia-12b", 143000, 0),
    ("evals/pythia-v1/pythia-12b-deduped/five-shot/12b-deduped-5shot_step3000.json", "Pythia-deduped",
     "pythia-12b-deduped", 3000, 5),
    ("evals/pythia-v1/pythia-1b-bf16/zero-shot/1b-bf16-5shot_step128.json", "Pythia", "pythia-1b-bf16", 128, 5),
    ("evals/pythia-v1/pythia-160m-0.5MtokBS/160m-0.5MtokBS_step572000.json", "Pythia-0.5MtokBS",
     "pythia-160m-0.5MtokBS", 572000, None),
    ("evals/pythia-v1/pythia-70m-0.25MtokBS/five-shot/70m-0.25MtokBS_step1144000.json", "Pythia-0.25MtokBS",
     "pythia-70m-0.25MtokBS", 1144000, 5),
    ("evals/pythia-v1/pythia-70m-deduped/baseline/baseline-70m-deduped_step134000.json",
     "Pythia-deduped-genderstudy-baseline", "pythia-70m-deduped", 134000, 0),
    ("evals/pythia-v1/pythia-1.4b-deduped/intervention/intervention-1.4b-deduped-long_step114000.json",
     "Pythia-deduped-genderstudy-intervention", "intervention-pythia-1.4b-deduped-long", 114000, 0),
    ("evals/opt/opt-66b.json", "OPT", "opt-66b", None, None),
    ("evals/bloom/bloom-7b1.json", "BLOOM", "bloom-7b1", None, None),
])
def test_pythia_file_info_on_real_names(relpath, family, model, step, implied):
    info = pythia_file_info(relpath)
    assert (info["family"], info["model"], info["step"], info["implied_shots"]) == (family, model, step, implied)


@pytest.mark.parametrize("bs, tokens_per_step, final", [("0.25", 262_144, 1_144_000), ("0.5", 524_288, 572_000),
                                                       ("1", 1_048_576, 286_000)])
def test_batch_size_ablation_tokens_per_step(bs, tokens_per_step, final):
    info = pythia_file_info(f"evals/pythia-v1/pythia-410m-{bs}MtokBS/410m-{bs}MtokBS_step12000.json")
    assert (info["tokens_per_step"], info["final_step"]) == (tokens_per_step, final)


# --------------------------------------------------------------------------- pythia layout

@pytest.fixture
def pythia_root(tmp_path):
    r = tmp_path / "pythia"
    base = "evals/pythia-v1"
    lam = {"ppl": 4.5, "ppl_stderr": 0.1, "acc": 0.67, "acc_stderr": 0.0065}
    arc = {"acc": 0.25, "acc_stderr": 0.01, "acc_norm": 0.27, "acc_norm_stderr": 0.011}
    rev = "pretrained=EleutherAI/pythia-v1.1-70m,revision=step{}"
    write(r, f"{base}/pythia-70m/zero-shot/70m_step143000.json",
          old_style({"lambada_openai": lam, "arc_easy": arc}, 0, rev.format(143000)))
    write(r, f"{base}/pythia-70m/zero-shot/70m_step1000.json",
          old_style({"arc_easy": {"acc": 0.2, "acc_stderr": 0.01}}, 0, rev.format(1000)))
    write(r, f"{base}/pythia-70m/five-shot/70m-5shot_step143000.json",
          old_style({"arc_easy": {"acc": 0.3, "acc_stderr": 0.01}}, 5, rev.format(143000)))
    write(r, f"{base}/pythia-70m-deduped/zero-shot/70m-deduped_step143000.json",
          old_style({"arc_easy": {"acc": 0.31}}, 0))
    write(r, f"{base}/pythia-1b-bf16/zero-shot/1b-bf16-5shot_step128.json",
          old_style({"arc_easy": {"acc": 0.266}}, 0, "pretrained=EleutherAI/pythia-v1.1-1b-bf16,revision=step128"))
    write(r, f"{base}/pythia-160m-0.5MtokBS/160m-0.5MtokBS_step572000.json", old_style({"arc_easy": {"acc": 0.4}}, 5))
    write(r, f"{base}/pythia-160m-0.5MtokBS/160m-0.5MtokBS_step12000.json", old_style({"arc_easy": {"acc": 0.3}}, 5))
    write(r, f"{base}/pythia-70m-deduped/baseline/baseline-70m-deduped_step143000.json",
          old_style({"arc_easy": {"acc": 0.32}}, 0))
    write(r, f"{base}/pythia-70m-deduped/intervention/intervention-70m-deduped_step143000.json",
          old_style({"arc_easy": {"acc": 0.33}}, 0))
    write(r, "evals/opt/opt-125m.json", old_style({"arc_easy": {"acc": 0.43, "acc_stderr": 0.01}}, 0))
    write(r, "evals/csv/pythia-125m-deduped/term_frquency_all_shots.csv", "model,checkpoint\n")  # not in the file list
    return r


def test_pythia_layout_values(pythia_root):
    b = parse(pythia_root, source="pythia")
    o = b.observations
    assert len(b.files) == 10
    r = one(o, model="pythia-70m", task="lambada_openai", source_metric="acc", checkpoint_step=143000)
    assert (r["metric"], r["value"], r["stderr"], r["shots"]) == ("accuracy", 0.67, 0.0065, 0)
    assert r["is_final"] and r["tokens"] == 143000 * TPS and r["params"] == 70_426_624
    assert r["family"] == "Pythia" and r["in_scoring"]
    ppl = one(o, model="pythia-70m", task="lambada_openai", source_metric="ppl")
    assert (ppl["metric"], ppl["value"], ppl["stderr"], bool(ppl["higher_is_better"])) == ("perplexity", 4.5, 0.1, False)
    assert not (o["source_metric"].str.endswith("_stderr")).any()
    arc = one(o, model="pythia-70m", task="arc_easy", source_metric="acc_norm", checkpoint_step=143000)
    assert (arc["metric"], arc["value"], arc["stderr"]) == ("accuracy_norm", 0.27, 0.011)


def test_pythia_checkpoints_and_tokens(pythia_root):
    o = parse(pythia_root, source="pythia").observations
    early = one(o, model="pythia-70m", checkpoint_step=1000)
    assert (bool(early["is_final"]), early["tokens"]) == (False, 1000 * TPS)
    five = one(o, model="pythia-70m", shots=5)
    assert five["value"] == 0.3 and five["is_final"]
    abl = o[o["family"] == "Pythia-0.5MtokBS"].set_index("checkpoint_step")
    assert abl.loc[572000, "is_final"] and not abl.loc[12000, "is_final"]
    assert abl.loc[12000, "tokens"] == 12000 * 524_288 and abl.loc[572000, "params"] == 162_322_944


def test_pythia_families_kept_apart(pythia_root):
    o = parse(pythia_root, source="pythia").observations
    fam = dict(zip(o["source_file"].str.split("/").str[-1], o["family"]))
    assert fam["70m-deduped_step143000.json"] == "Pythia-deduped"
    assert fam["baseline-70m-deduped_step143000.json"] == "Pythia-deduped-genderstudy-baseline"
    assert fam["intervention-70m-deduped_step143000.json"] == "Pythia-deduped-genderstudy-intervention"
    assert fam["opt-125m.json"] == "OPT"
    opt = one(o, model="opt-125m")
    assert opt["params"] == 125e6 and pd.isna(opt["checkpoint_step"]) and opt["is_final"]


def test_pythia_shots_from_config_with_mismatch_issue(pythia_root):
    b = parse(pythia_root, source="pythia")
    r = one(b.observations, model="pythia-1b-bf16")
    assert (r["shots"], r["checkpoint_step"], r["params"]) == (0, 128, 1_011_781_632)
    iss = b.issues_frame()
    mm = iss[iss["kind"] == "config_mismatch"]
    assert mm["source_file"].tolist() == ["evals/pythia-v1/pythia-1b-bf16/zero-shot/1b-bf16-5shot_step128.json"]
    assert mm["field"].tolist() == ["num_fewshot"] and mm["value"].tolist() == ["0"]


def test_pythia_revision_mismatch_uses_config(tmp_path):
    write(tmp_path, "evals/pythia-v1/pythia-70m/zero-shot/70m_step2000.json",
          old_style({"arc_easy": {"acc": 0.2}}, 0, "pretrained=EleutherAI/pythia-v1.1-70m,revision=step3000"))
    b = parse(tmp_path, source="pythia")
    assert b.observations["checkpoint_step"].tolist() == [3000]
    assert b.issues_frame()["kind"].tolist() == ["config_mismatch"]


# --------------------------------------------------------------------------- 2023 layout

def test_2023_layout_bbh_squad_and_shots(tmp_path):
    bbh = {"bigbench_date_understanding": {"multiple_choice_grade": 0.62, "multiple_choice_grade_stderr": 0.025},
           "bigbench_geometric_shapes": {"multiple_choice_grade": 0.18, "multiple_choice_grade_stderr": 0.02,
                                         "exact_str_match": 0.0, "exact_str_match_stderr": 0.0}}
    write(tmp_path, "results/llama/llama-7B/llama-7B_bbh_3-shot.json", old_style(bbh, 3))
    write(tmp_path, "results/bloom/bloom-560m/bloom-560m_question_answering_0-shot.json",
          old_style({"squad2": {"exact": 4.2, "HasAns_exact": 2.2, "best_f1": 50.07}}, 0))
    write(tmp_path, "results/xglm/xglm-564M/xglm-564M_xnli_5-shot.json", old_style({"xnli_en": {"acc": 0.4}}, 0))
    b = parse(tmp_path, source="lm-eval-harness-results-2023")
    o = b.observations
    r = one(o, task="bigbench_date_understanding")
    assert (r["metric"], r["shots"], r["value"], r["stderr"], r["family"], r["params"]) == \
        ("multiple_choice_grade", 3, 0.62, 0.025, "LLaMA", 6.7e9)
    assert one(o, task="bigbench_geometric_shapes", source_metric="exact_str_match")["metric"] == "exact_match"
    sq = one(o, task="squad2", source_metric="HasAns_exact")
    assert (sq["metric"], sq["subtask"], sq["value_scale"], sq["value"]) == ("exact_match", "HasAns", "percent", 2.2)
    assert one(o, task="squad2", source_metric="best_f1")["variant"] == "best_threshold"
    x = one(o, task="xnli_en")
    assert x["shots"] == 0 and x["source_family"] == "xglm" and x["family"] == "XGLM"
    iss = b.issues_frame()
    assert iss.loc[iss["kind"] == "config_mismatch", "source_file"].tolist() == \
        ["results/xglm/xglm-564M/xglm-564M_xnli_5-shot.json"]


def test_2023_duplicates_and_conflicts_across_files(tmp_path):
    write(tmp_path, "results/mpt/mpt-7b/mpt-7b_common_sense_reasoning_0-shot.json",
          old_style({"boolq": {"acc": 0.735}, "copa": {"acc": 0.85}}, 0))
    write(tmp_path, "results/mpt/mpt-7b/mpt-7b_superglue_0-shot.json",
          old_style({"boolq": {"acc": 0.738}, "copa": {"acc": 0.85}}, 0))
    b = parse(tmp_path, source="lm-eval-harness-results-2023")
    o = b.observations
    assert len(o) == 4
    assert o.loc[o["task"] == "boolq", "in_scoring"].tolist() == [False, False]
    assert sorted(o.loc[o["task"] == "copa", "in_scoring"].tolist()) == [False, True]
    assert b.issues_frame()["kind"].value_counts().to_dict() == {"conflict": 2, "duplicate": 1}


# --------------------------------------------------------------------------- new key style, generic layout

def test_new_key_style(tmp_path):
    data = {"results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.6, "acc_stderr,none": 0.01,
                                     "acc_norm,none": 0.55, "acc_norm_stderr,none": "N/A"},
                        "gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.1,
                                  "exact_match_stderr,strict-match": 0.008, "exact_match,none": None}},
            "n-shot": {"arc_easy": 0, "gsm8k": 5},
            "n-samples": {"arc_easy": {"original": 2376, "effective": 2376}, "gsm8k": {"original": 1319, "effective": 100}},
            "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-410m,revision=step13000"},
            "model_name": "EleutherAI/pythia-410m", "versions": {"arc_easy": 1.0, "gsm8k": 3.0}}
    write(tmp_path, "EleutherAI__pythia-410m/results_2024-05-01T12-00-00.json", data)
    b = parse(tmp_path, source="my-runs")
    o = b.observations
    acc = one(o, task="arc_easy", source_metric="acc")
    assert (acc["metric"], acc["value"], acc["stderr"], acc["n_examples"], acc["shots"]) == \
        ("multiple_choice_grade", 0.6, 0.01, 2376, 0)
    assert (acc["model"], acc["family"], acc["checkpoint_step"], acc["tokens"]) == \
        ("pythia-410m", "Pythia", 13000, 13000 * TPS)
    assert not acc["is_final"] and acc["params"] == 405_334_016
    assert pd.isna(one(o, task="arc_easy", source_metric="acc_norm")["stderr"])   # "N/A": no stderr
    g = one(o, task="gsm8k")
    assert (g["metric"], g["variant"], g["n_examples"], g["shots"], g["stderr"]) == \
        ("exact_match", "strict-match", 100, 5, 0.008)
    iss = b.issues_frame()
    assert iss[["kind", "field"]].values.tolist() == [["missing_value", "exact_match,none"]]


def test_unknown_model_gets_no_scale(tmp_path):
    write(tmp_path, "results/acme/acme-3b/acme-3b_x_0-shot.json", old_style({"piqa": {"acc": 0.7}}, 0))
    b = parse(tmp_path, source="lm-eval-harness-results-2023")
    r = b.observations.iloc[0]
    assert pd.isna(r["params"]) and r["family"] == "acme"   # no size invented
    assert b.issues_frame()["kind"].tolist() == ["no_scale"]


def test_task_versions_never_mix(tmp_path):
    a = old_style({"piqa": {"acc": 0.7}}, 0)
    b_ = old_style({"piqa": {"acc": 0.72}}, 0)
    b_["versions"]["piqa"] = 1
    write(tmp_path, "results/opt/opt-125m/opt-125m_a_0-shot.json", a)
    write(tmp_path, "results/opt/opt-350m/opt-350m_a_0-shot.json", b_)
    o = parse(tmp_path, source="lm-eval-harness-results-2023").observations
    assert sorted(o["variant"]) == ["v0", "v1"]


# --------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("content, fragment", [
    ('{"results": {"piqa": {"acc": 0.7}', "invalid JSON"),
    ('[1, 2]', "no 'results' object"),
    ('{"versions": {}}', "no 'results' object"),
    ('{"results": {"piqa": {"acc": "high"}}, "config": {"num_fewshot": 0}}', "'acc'"),
    ('{"results": {"piqa": {"acc": 0.7}}, "config": {"num_fewshot": -1}}', "'shots'"),
])
def test_bad_input_names_file_and_field(tmp_path, content, fragment):
    write(tmp_path, "results/opt/opt-125m/opt-125m_x_0-shot.json", content)
    with pytest.raises(IngestError) as e:
        parse(tmp_path, source="lm-eval-harness-results-2023")
    msg = str(e.value)
    assert "results/opt/opt-125m/opt-125m_x_0-shot.json" in msg and fragment in msg


def test_text_metric_error_names_value(tmp_path):
    write(tmp_path, "results/opt/opt-125m/opt-125m_x_0-shot.json",
          '{"results": {"piqa": {"acc": "high"}}, "config": {"num_fewshot": 0}}')
    with pytest.raises(IngestError) as e:
        parse(tmp_path, source="lm-eval-harness-results-2023")
    assert (e.value.field, e.value.value, e.value.row) == ("acc", "high", "results.piqa")


def test_no_files(tmp_path):
    with pytest.raises(IngestError, match="no lm-eval-harness results JSON"):
        parse(tmp_path, source="pythia")


def test_detect(pythia_root, tmp_path):
    assert lm.detect(pythia_root)
    assert not lm.detect(tmp_path / "nothing")


# --------------------------------------------------------------------------- real data

@pytest.fixture(scope="module")
def pythia_real(shared_data):
    root = shared_folder("pythia")
    return root, parse(root, source="pythia"), None     # its time: bench/bench_timings.py


@pytest.fixture(scope="module")
def lm2023_real(shared_data):
    root = shared_folder("lm-eval-harness-results-2023")
    return root, parse(root, source="lm-eval-harness-results-2023")


def test_real_pythia_complete(pythia_real):
    _, b, _ = pythia_real
    assert len(b.files) == 889     # 876 pythia-v1 + 8 OPT + 5 BLOOM JSON; evals/csv is not in the file list
    assert sum(f.startswith("evals/pythia-v1/") for f in b.files) == 876
    assert len(b.observations) == 132_074


def test_real_pythia_12b_final_lambada(pythia_real):
    root, b, _ = pythia_real
    raw = json.loads((root / "evals/pythia-v1/pythia-12b/zero-shot/12b_step143000.json").read_text())
    r = one(b.observations, model="pythia-12b", task="lambada_openai", source_metric="acc", shots=0,
            checkpoint_step=143000)
    assert r["value"] == raw["results"]["lambada_openai"]["acc"] == 0.7046380749078207
    assert r["stderr"] == 0.006355831587333142
    assert (r["metric"], bool(r["is_final"]), r["params"], r["tokens"]) == \
        ("accuracy", True, 11_846_072_320, 299_892_736_000)


@pytest.mark.parametrize("model, shots, n_checkpoints", [
    ("pythia-12b", 0, 27), ("pythia-12b", 5, 15), ("pythia-1b-bf16", 0, 27), ("pythia-70m-deduped", 0, 27),
    ("pythia-160m-0.5MtokBS", 5, 15), ("pythia-70m-0.25MtokBS", 5, 14), ("intervention-pythia-1.4b-deduped-long", 0, 30),
])
def test_real_pythia_checkpoints(pythia_real, model, shots, n_checkpoints):
    o = pythia_real[1].observations
    sel = o[(o["model"] == model) & (o["shots"] == shots) & ~o["family"].str.contains("genderstudy-baseline")]
    assert sel["checkpoint_step"].nunique() == n_checkpoints


def test_real_pythia_genderstudy_baseline_is_its_own_family(pythia_real):
    o = pythia_real[1].observations
    base = o[o["family"] == "Pythia-deduped-genderstudy-baseline"]
    assert sorted(base.groupby("model")["checkpoint_step"].nunique().tolist()) == [10, 10, 10, 30]
    assert (base["source_file"].str.contains("/baseline/")).all()


def test_real_pythia_is_final_only_at_the_last_step(pythia_real):
    o = pythia_real[1].observations
    py = o[o["family"].isin(["Pythia", "Pythia-deduped"])]
    assert set(py.loc[py["is_final"].astype(bool), "checkpoint_step"]) == {143000}
    abl = o[o["family"] == "Pythia-0.25MtokBS"]
    assert set(abl.loc[abl["is_final"].astype(bool), "checkpoint_step"]) == {1_144_000}


def test_real_pythia_config_mismatch_files(pythia_real):
    _, b, _ = pythia_real
    iss = b.issues_frame()
    assert iss["kind"].value_counts().to_dict() == {"config_mismatch": 4}
    assert sorted(iss["source_file"].str.split("/").str[-1]) == [
        "1b-bf16-5shot_step1000.json", "1b-bf16-5shot_step128.json", "1b-bf16-5shot_step256.json",
        "1b-bf16-5shot_step512.json"]
    o = b.observations
    assert set(o.loc[o["source_file"].str.contains("1b-bf16-5shot"), "shots"]) == {0}


def test_real_pythia_families(pythia_real):
    o = pythia_real[1].observations
    assert o.groupby("family")["model"].nunique().to_dict() == {
        "BLOOM": 5, "OPT": 8, "Pythia": 8, "Pythia-deduped": 8, "Pythia-0.25MtokBS": 1, "Pythia-0.5MtokBS": 3,
        "Pythia-1MtokBS": 1, "Pythia-deduped-genderstudy-baseline": 4, "Pythia-deduped-genderstudy-intervention": 5}
    assert o["params"].notna().all()


def test_real_2023_llama7b_bbh(lm2023_real):
    _, b = lm2023_real
    o = b.observations
    bbh = o[(o["model"] == "llama-7B") & o["task"].str.startswith("bigbench_")
            & (o["metric"] == "multiple_choice_grade")]
    assert len(bbh) == bbh["task"].nunique() == 21
    assert set(bbh["shots"]) == {3} and set(bbh["family"]) == {"LLaMA"} and set(bbh["params"]) == {6.7e9}
    assert one(bbh, task="bigbench_date_understanding")["value"] == 0.6205962059620597


def test_real_2023_counts_and_issues(lm2023_real):
    _, b = lm2023_real
    o = b.observations
    assert len(b.files) == 166 and len(o) == 3483
    assert (o["metric"] == "multiple_choice_grade").sum() == 1908 + 7 + 105
    assert b.issues_frame()["kind"].value_counts().to_dict() == {"conflict": 14, "duplicate": 1}
    assert o.loc[o["task"] == "squad2", "value_scale"].eq("percent").all()
    assert o["params"].notna().all()


@pytest.mark.parametrize("rel, layout", [
    ("evals/pythia-v1/pythia-70m/zero-shot/70m_step0.json", "pythia"),
    ("evals/opt/opt-125m.json", "pythia"),
    ("results/opt/opt-125m/opt-125m.json", "lm-eval-harness-results-2023"),
    ("EleutherAI__pythia-70m/results_2024-05-01T12-00-00.json", "generic"),
])
def test_layout_of(tmp_path, rel, layout):
    write(tmp_path, rel, old_style({"piqa": {"acc": 0.6}}, 0))
    assert lm.layout_of(tmp_path) == layout


def test_user_folder_read_by_shape_whatever_its_name(tmp_path):
    # ingest may label any results folder with a catalogue name: the layout still follows the files
    write(tmp_path, "EleutherAI__pythia-70m/results_2024-05-01T12-00-00.json",
          {"results": {"piqa": {"acc,none": 0.6}}, "n-shot": {"piqa": 0},
           "config": {"model_args": "pretrained=EleutherAI/pythia-70m"}})
    b = parse(tmp_path, source="pythia")
    r = b.observations.iloc[0]
    assert (r["model"], r["family"], r["value"], r["shots"]) == ("pythia-70m", "Pythia", 0.6, 0)
    assert b.issues_frame().empty


def test_only_unrecognised_files_is_an_error(tmp_path):
    write(tmp_path, "evals/pythia-v1/not-a-model/x.json", old_style({"piqa": {"acc": 0.6}}, 0))
    with pytest.raises(IngestError, match="no metrics in any of 1 results files"):
        parse(tmp_path, source="pythia")


@pytest.mark.parametrize("task, metric, baseline", [
    ("piqa", "multiple_choice_grade", 0.5),
    ("hendrycksTest-global_facts", "accuracy_norm", 0.25),
    ("logiqa", "multiple_choice_grade", 0.25),
    ("arc_easy", "multiple_choice_grade", None),      # 3 to 5 choices per question: no single baseline
    ("lambada_openai", "accuracy", None),             # generative: no chance level
])
def test_random_baseline_is_one_over_the_choices_where_every_question_has_k(pythia_real, task, metric, baseline):
    obs = pythia_real[1].observations
    got = obs.loc[(obs["task"] == task) & (obs["metric"] == metric), "random_baseline"]
    assert len(got) and (got.isna().all() if baseline is None else (got == baseline).all())
