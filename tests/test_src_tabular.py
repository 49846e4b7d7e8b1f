"""Tabular sources: obsscaling, on-emergence, mlfoundations-scaling, epoch-benchmark-stitching,
openllm-leaderboard-benchbench.

(a) fixtures built in code (column-name grammars, every data rule, bad input naming file/field/value);
(b) the real files in ../shared/data, with counts and values read off the raw files.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources import epoch, mlfoundations, obsscaling, on_emergence, openllm
from conftest import require_shared


def one(obs: pd.DataFrame, **where) -> pd.Series:
    """The single observation matching ``where`` (fails if there are none or several)."""
    m = pd.Series(True, index=obs.index)
    for k, v in where.items():
        m &= obs[k] == v
    rows = obs[m]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return rows.iloc[0]


def kinds(batch) -> dict:
    return batch.issues_frame()["kind"].value_counts().to_dict()


# ----------------------------------------------------------------------------------------------
# obsscaling: column-name grammar on the real names
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("col, kind, expected", [
    ("ipa_transliterate_2_exact_match", "emergent",
     dict(task="ipa_transliterate", metric="exact_match", source_metric="exact_match", shots=2, value_scale="unit")),
    ("ipa_transliterate_2_bleu", "emergent",
     dict(task="ipa_transliterate", metric="bleu", source_metric="bleu", shots=2, value_scale="percent")),
    ("parsinlu_qa_2_acc", "emergent",
     dict(task="parsinlu_qa", metric="multiple_choice_grade", source_metric="acc", shots=2)),
    ("arithmetic_3ds_2_acc", "emergent", dict(task="arithmetic_3ds", metric="exact_match", shots=2)),
    ("word_unscrambling_2_exact_match", "emergent", dict(task="word_unscrambling", metric="exact_match")),
    ("gsm8k_cot_self_consistency_8_exact_match,maj@5", "post_training",
     dict(task="gsm8k", subtask="", prompt_variant="cot_self_consistency", variant="maj@5", shots=8,
          metric="exact_match", source_metric="exact_match,maj@5")),
    ("gsm8k_5_exact_match,strict-match", "post_training",
     dict(task="gsm8k", prompt_variant="", variant="strict-match", shots=5)),
    ("gsm8k_cot_zeroshot_0_exact_match,flexible-extract", "post_training",
     dict(task="gsm8k", prompt_variant="cot_zeroshot", variant="flexible-extract", shots=0)),
    ("bbh_cot_fewshot_date_understanding_3_exact_match,flexible-extract,norm", "post_training",
     dict(task="bbh", subtask="date_understanding", prompt_variant="cot_fewshot", variant="flexible-extract",
          shots=3, metric="centered_accuracy", source_metric="exact_match,flexible-extract,norm",
          random_baseline=0.0)),
    ("bbh_fewshot_date_understanding_3_exact_match,strict-match", "post_training",
     dict(task="bbh", subtask="date_understanding", prompt_variant="fewshot", metric="exact_match",
          random_baseline=1 / 6)),
    ("bbh_fewshot_overall_3_exact_match,strict-match", "post_training",
     dict(task="bbh", subtask="", prompt_variant="fewshot", random_baseline=pytest.approx(0.262434, abs=1e-6))),
    ("MMLU", "benchmark", dict(task="MMLU", metric="multiple_choice_grade", shots=5)),
    ("ARC-C", "benchmark", dict(task="ARC-C", metric="accuracy_norm", shots=25)),
    ("HellaSwag", "benchmark", dict(metric="accuracy_norm", shots=10)),
    ("TruthfulQA", "benchmark", dict(metric="normalized_true_probability", shots=0)),
    ("GSM8K", "benchmark", dict(metric="exact_match", shots=5)),
    ("XWinograd", "benchmark", dict(metric="multiple_choice_grade", shots=None)),
    ("HumanEval", "benchmark", dict(metric="pass_at_k", shots=0)),
    ("MMLU", "instruct", dict(metric="accuracy", shots=None)),
    ("leaderboard_math_hard", "leaderboard_v2", dict(task="leaderboard_math_hard", metric="exact_match", shots=4)),
    ("ABoard-Embodied AI_ALF_SR", "agent",
     dict(task="AgentBoard", subtask="Embodied AI_ALF", metric="accuracy", source_metric="SR",
          value_scale="percent")),
    ("ABoard-Tool_TQ_PR", "agent", dict(task="AgentBoard", subtask="Tool_TQ", metric="score")),
    ("ABench-OA", "agent", dict(task="AgentBench", subtask="OA", metric="score", value_scale="unit")),
    ("something_new", "unknown", dict(task="something_new", metric="score", shots=None)),
])
def test_obsscaling_column_grammar(col, kind, expected):
    got = obsscaling.parse_column(col, kind)
    assert {k: got[k] for k in expected} == expected


# ----------------------------------------------------------------------------------------------
# obsscaling fixtures
# ----------------------------------------------------------------------------------------------

BASE_HEAD = ("Model,Model Family,Model Size (B),Pretraining Data Size (T),FLOPs (1E21),MMLU,ARC-C,HumanEval\n")
BASE_ROWS = ["org/a-1b,Fam,1.0,2.0,12.0,0.30,0.40,0.05",
             "org/a-7b,Fam,7.0,2.0,84.0,0.50,,0.15",
             "EleutherAI/pythia-1b-deduped,Pythia,1.0,0.3,1.8,0.25,0.26,0.01"]


def write_obs(root: Path, files: dict[str, str]) -> Path:
    d = root / "eval_results"
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)
    return root


def test_obsscaling_fixture_rules(tmp_path):
    root = write_obs(tmp_path, {
        "base_llm_benchmark_eval.csv": BASE_HEAD + "\n".join(BASE_ROWS) + "\n",
        "base_llm_benchmark_eval_sub_10b.csv": BASE_HEAD + BASE_ROWS[0] + "\n",
        "base_llm_emergent_capability_eval.csv": "Model,ipa_transliterate_2_exact_match,ipa_transliterate_2_bleu\n"
                                                 "org/a-7b,0.07,27.2\norg/unknown,0.01,\n",
        "base_llm_post_training_eval.csv": "Model,\"bbh_fewshot_navigate_3_exact_match,strict-match\","
                                           "\"bbh_fewshot_navigate_3_exact_match,strict-match,norm\"\n"
                                           "org/a-1b,0.6,0.2\n",
    })
    b = obsscaling.parse(root)
    obs = b.observations
    r = one(obs, model="org/a-7b", task="MMLU", source_file="eval_results/base_llm_benchmark_eval.csv")
    assert (r.params, r.tokens, r.flops, r.shots, r.family) == (7e9, 2e12, 8.4e22, 5, "Fam")
    # emergent values joined on Model for size; BLEU on 0-100
    r = one(obs, model="org/a-7b", task="ipa_transliterate", metric="bleu")
    assert (r.value, r.value_scale, r.params, r.shots) == (27.2, "percent", 7e9, 2)
    assert "joined on Model" in r.params_source
    # the sub-10b file repeats a row: duplicates, not new observations
    sub = obs[obs.source_file == "eval_results/base_llm_benchmark_eval_sub_10b.csv"]
    assert len(sub) == 3 and not sub.in_scoring.any()
    assert kinds(b)["duplicate"] == 3
    # pythia deduped kept apart
    assert set(obs.loc[obs.model == "EleutherAI/pythia-1b-deduped", "family"]) == {"Pythia-deduped"}
    # BBH norm column: centred accuracy, raw gets the random baseline
    raw = one(obs, model="org/a-1b", task="bbh", metric="exact_match")
    norm = one(obs, model="org/a-1b", task="bbh", metric="centered_accuracy")
    assert (raw.subtask, raw.random_baseline, norm.random_baseline, norm.value) == ("navigate", 0.5, 0.0, 0.2)
    # missing cells: no observation, one issue per column; unknown model: no size
    iss = b.issues_frame()
    miss = iss[iss.kind == "missing_value"]
    assert set(miss.field) == {"ARC-C", "ipa_transliterate_2_bleu"}
    assert pd.isna(one(obs, model="org/unknown", task="ipa_transliterate").params)
    assert "org/unknown" in set(iss.loc[iss.kind == "no_scale", "value"])


@pytest.mark.parametrize("text, field, value", [
    ("Model,Model Family,Model Size (B),Pretraining Data Size (T),FLOPs (1E21),MMLU\n"
     "org/a,Fam,1.0,2.0,3.0,abc\n", "MMLU", "abc"),
    ("Model,Model Family,Model Size (B),Pretraining Data Size (T),FLOPs (1E21),MMLU\n"
     "org/a,Fam,seven,2.0,3.0,0.5\n", "Model Size (B)", "seven"),
    ("Model,Model Family,Model Size (B),Pretraining Data Size (T),FLOPs (1E21),MMLU\n"
     "org/a,Fam,-1,2.0,3.0,0.5\n", "Model Size (B)", "-1"),
    ("Model,Model Family,Pretraining Data Size (T),FLOPs (1E21),MMLU\norg/a,Fam,2.0,3.0,0.5\n",
     "Model Size (B)", None),
])
def test_obsscaling_bad_input(tmp_path, text, field, value):
    root = write_obs(tmp_path, {"base_llm_benchmark_eval.csv": text})
    with pytest.raises(IngestError) as e:
        obsscaling.parse(root)
    assert e.value.file.endswith("base_llm_benchmark_eval.csv")
    assert e.value.field == field
    if value is not None:
        assert str(e.value.value) == value


# ----------------------------------------------------------------------------------------------
# on-emergence fixtures
# ----------------------------------------------------------------------------------------------

ON_HEAD = ("run_id,filename,number_of_data,model,prompt_type,number_of_shots,temperature,seed,"
           "exact_match_accuracy,exact_match_f1,exact_match_loss,bert_score_accuracy,bert_score_f1,"
           "edit_distance,single_bert_score\n")


def write_on(root: Path, rows: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "evaluation_scores.csv").write_text(ON_HEAD + "".join(r + "\n" for r in rows))
    return root


@pytest.mark.parametrize("filename, task", [
    ("tracking_shuffled_objects/task.json", "tracking_shuffled_objects"),
    ("international_phonetic_alphabet_transliterate/task.json", "international_phonetic_alphabet_transliterate"),
    ("gsm8k/task.json", "gsm8k"),
    ("gsm8k.json", None),
])
def test_on_emergence_task_of(filename, task):
    assert on_emergence.task_of(filename) == task


def test_on_emergence_fixture_rules(tmp_path):
    root = write_on(tmp_path, [
        "r1,codenames/task.json,80,t5-small,closed,0,0.01,2266,0.1,0.09,3,-100,-100,11.5,0.84",
        "r1,codenames/task.json,80,t5-small,closed,0,0.01,2266,0.1,0.09,3,-100,-100,11.5,0.84",
        "r2,codenames/task.json,80,gpt-4,open,5,0.0,None,0.4,0.3,-100,0.5,0.45,2.0,-100",
    ])
    b = on_emergence.parse(root)
    obs, iss = b.observations, b.issues_frame()
    r = one(obs, model="t5-small", source_metric="edit_distance", row_ref="2 (run_id r1)")
    assert (r.task, r.metric, r.higher_is_better, r.shots, r.prompt_variant, r.seed, r.n_examples, r.value) == \
        ("codenames", "edit_distance", False, 0, "closed", 2266, 80, 11.5)
    assert r.params == 60e6 and r.family == "T5"
    g = one(obs, model="gpt-4", source_metric="bert_score_f1")
    assert (g.metric, pd.isna(g.seed), pd.isna(g.params), g.family) == ("bertscore_f1", True, True, "GPT-4")
    assert one(obs, model="gpt-4", source_metric="exact_match_accuracy").metric == "exact_match"
    # loss: stored, not scored
    loss = obs[obs.source_metric == "exact_match_loss"]
    assert len(loss) == 2 and not loss.in_scoring.any()
    # -100: counted sentinels, one issue per column
    sent = iss[iss.kind == "sentinel"].set_index("field")["detail"].str.extract(r"^(\d+) rows")[0].astype(int)
    assert sent.to_dict() == {"exact_match_loss": 1, "bert_score_accuracy": 2, "bert_score_f1": 2,
                              "single_bert_score": 1}
    # the exact duplicate row: every scored observation of it is a duplicate issue
    dup = iss[iss.kind == "duplicate"]
    assert set(dup.row_ref) == {"3 (run_id r1)"} and len(dup) == 4
    assert set(iss.loc[iss.kind == "no_scale", "value"]) == {"gpt-4"}


@pytest.mark.parametrize("row, field, value", [
    ("r1,codenames/task.json,80,t5-small,closed,0,0.01,1,zero,0.1,1,0.1,0.1,1.0,0.9", "exact_match_accuracy", "zero"),
    ("r1,codenames.json,80,t5-small,closed,0,0.01,1,0.1,0.1,1,0.1,0.1,1.0,0.9", "filename", "codenames.json"),
    ("r1,codenames/task.json,80,t5-small,closed,five,0.01,1,0.1,0.1,1,0.1,0.1,1.0,0.9", "number_of_shots", "five"),
])
def test_on_emergence_bad_input(tmp_path, row, field, value):
    with pytest.raises(IngestError) as e:
        on_emergence.parse(write_on(tmp_path, [row]))
    assert (e.value.file, e.value.field, str(e.value.value)) == ("evaluation_scores.csv", field, value)


def test_on_emergence_missing_column(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "evaluation_scores.csv").write_text("run_id,filename,model\nr1,a/task.json,gpt2\n")
    with pytest.raises(IngestError, match="missing column"):
        on_emergence.parse(tmp_path)


# ----------------------------------------------------------------------------------------------
# mlfoundations fixtures
# ----------------------------------------------------------------------------------------------

META = ("Eval Task,Task Category,Task Type,#shots,#datapoints,Random baseline,Centered Metric?,Description\n"
        "mmlu,world knowledge,multiple choice,5,14042,25,,x\n"
        "bigbench_operators,symbolic,language modeling,10,210,0,,y\n"
        "arc_challenge,world knowledge,multiple choice,10,2376,25,,\"ARC easy consists of ...\"\n")


def write_ml(root: Path, runs: dict[str, dict], evals: dict[str, dict], meta: str = META) -> Path:
    (root / "exp_data" / "models").mkdir(parents=True, exist_ok=True)
    (root / "exp_data" / "evals").mkdir(parents=True, exist_ok=True)
    (root / "exp_data" / "eval_metadata.csv").write_text(meta)
    for run, d in runs.items():
        (root / "exp_data" / "models" / f"{run}.json").write_text(json.dumps(d))
    for run, d in evals.items():
        (root / "exp_data" / "evals" / f"evaluation_{run}_heavy.json").write_text(json.dumps(d))
    return root


def ml_model(corpus, cfg, params, tokens, mult, losses=(3.5,)):
    return {"name": f"{corpus}-{cfg}-{mult}", "dataset_name": corpus,
            "hyperparameters": {"model": f"scaling/open_lm_configs/{cfg}.json", "tokens": tokens, "params": params,
                                "chinchilla_multiplier": mult},
            "results": [{"loss": v, "val_data": [f"val/set{i}.tar"]} for i, v in enumerate(losses)]}


def ml_eval(cfg, icl):
    return {"name": "heavy", "model": cfg, "eval_metrics": {"icl": icl}}


@pytest.mark.parametrize("name, run", [
    ("evaluation_rpj-d=96_l=8_h=4-1.0_heavy.json", "rpj-d=96_l=8_h=4-1.0"),
    ("evaluation_c4_original-open_lm_1b-4.0_heavy.json", "c4_original-open_lm_1b-4.0"),
    ("c4_original-open_lm_1b-4.0.json", None),
])
def test_mlfoundations_run_of_eval(name, run):
    assert mlfoundations.run_of_eval(name) == run


@pytest.mark.parametrize("corpus, mult, family", [
    ("rpj", 32.0, "OpenLM rpj M=32"), ("c4_original", 0.25, "OpenLM c4_original M=0.25"),
    ("rw_original", 1.0, "OpenLM rw_original M=1"),
])
def test_mlfoundations_family_name(corpus, mult, family):
    assert mlfoundations.family_name(corpus, mult) == family


def test_mlfoundations_fixture_rules(tmp_path):
    runs = {"rpj-d=96_l=8_h=4-1.0": ml_model("rpj", "d=96_l=8_h=4", 10569312, 211386240, 1.0, (4.1, 3.9)),
            "rpj-d=512_l=8_h=4-1.0": ml_model("rpj", "d=512_l=8_h=4", 78914048, 1578280960, 1.0),
            "c4_original-d=96_l=8_h=4-2.0": ml_model("c4_original", "d=96_l=8_h=4", 10569312, 422772480, 2.0)}
    evals = {"rpj-d=96_l=8_h=4-1.0": ml_eval("d=96_l=8_h=4", {"mmlu": 0.25, "bigbench_operators": 0.01,
                                                               "arc_challenge": 0.2}),
             "rpj-d=512_l=8_h=4-1.0": ml_eval("d=576_l=24_h=8", {"mmlu": 0.26, "new_task": 0.5}),
             "orphan-run-1.0": ml_eval("d=96_l=8_h=4", {"mmlu": 0.3})}
    b = mlfoundations.parse(write_ml(tmp_path, runs, evals))
    obs, iss = b.observations, b.issues_frame()
    r = one(obs, model="rpj-d=96_l=8_h=4-1.0", task="mmlu")
    assert (r.metric, r.source_metric, r.shots, r.n_examples, r.random_baseline, r.baseline_source) == \
        ("multiple_choice_grade", "accuracy", 5, 14042, 0.25, "mlfoundations eval_metadata.csv")
    assert (r.params, r.tokens, pd.isna(r.flops), r.family, r.source_family) == \
        (10569312, 211386240, True, "OpenLM rpj M=1", "rpj")
    assert one(obs, model="rpj-d=96_l=8_h=4-1.0", task="bigbench_operators").metric == "exact_match"
    assert pd.isna(one(obs, model="rpj-d=96_l=8_h=4-1.0", task="arc_challenge").n_examples)
    loss = obs[(obs.task == "validation_loss") & (obs.model == "rpj-d=96_l=8_h=4-1.0")]
    assert sorted(loss.value) == [3.9, 4.1] and set(loss.metric) == {"loss"} and not loss.higher_is_better.any()
    assert pd.isna(one(obs, model="orphan-run-1.0", task="mmlu").params)
    got = iss.groupby("kind")["value"].apply(set).to_dict()
    assert got["config_mismatch"] == {"d=576_l=24_h=8"}
    assert got["no_scale"] == {"orphan-run-1.0"}
    assert got["missing_value"] == {"new_task", "c4_original-d=96_l=8_h=4-2.0"}
    assert got["suspect_value"] == {"2376"}


@pytest.mark.parametrize("evals, field, value", [
    ({"r-1.0": ml_eval("d", {"mmlu": 1.5})}, "eval_metrics.icl.mmlu", 1.5),
    ({"r-1.0": ml_eval("d", {"mmlu": "high"})}, "eval_metrics.icl.mmlu", "high"),
    ({"r-1.0": {"name": "x", "eval_metrics": {}}}, "eval_metrics.icl", None),
])
def test_mlfoundations_bad_input(tmp_path, evals, field, value):
    root = write_ml(tmp_path, {"r-1.0": ml_model("rpj", "d", 1, 2, 1.0)}, evals)
    with pytest.raises(IngestError) as e:
        mlfoundations.parse(root)
    assert e.value.file == "exp_data/evals/evaluation_r-1.0_heavy.json"
    assert (e.value.field, e.value.value) == (field, value)


def test_mlfoundations_invalid_json_and_negative_size(tmp_path):
    root = write_ml(tmp_path, {"r-1.0": ml_model("rpj", "d", -5, 2, 1.0)}, {"r-1.0": ml_eval("d", {"mmlu": 0.3})})
    with pytest.raises(IngestError, match="negative") as e:
        mlfoundations.parse(root)
    assert e.value.field == "hyperparameters.params"
    (root / "exp_data" / "evals" / "evaluation_r-1.0_heavy.json").write_text('{"eval_metrics": {"icl": {')
    (root / "exp_data" / "models" / "r-1.0.json").write_text(json.dumps(ml_model("rpj", "d", 5, 2, 1.0)))
    with pytest.raises(IngestError, match="invalid JSON"):
        mlfoundations.parse(root)


# ----------------------------------------------------------------------------------------------
# epoch fixtures
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, expected", [
    ("45.2%", (45.2, True)), ("88.000", (88.0, False)), (" 9.09% ", (9.09, True)), ("", (None, False)),
    (None, (None, False)), ("1,312", (1312.0, False)),
])
def test_epoch_parse_value(cell, expected):
    assert epoch.parse_value(cell) == expected


@pytest.mark.parametrize("cell", ["$0.13", "n/a", "45%%", "diff"])
def test_epoch_parse_value_rejects_text(cell):
    with pytest.raises(ValueError):
        epoch.parse_value(cell)


@pytest.mark.parametrize("cell, expected", [
    ("5", (5, "")), ("25-shot", (25, "")), ("0\n", (0, "")), ("few", (None, "shots=few")), ("", (None, "")),
])
def test_epoch_parse_shots(cell, expected):
    assert epoch.parse_shots(cell) == expected


@pytest.mark.parametrize("columns, scores, stderr", [
    (["id", "Name", "EM", "Model version", "Shots", "Source", "Source link", "Notes"], ["EM"], {}),
    (["id", "Model version", "Average progress", "Average Standard error", "BabyAI progress",
      "BabyAI Standard error", "Date added", "Trajectories", "Source", "Source link", "Notes"],
     ["Average progress", "BabyAI progress"],
     {"Average progress": "Average Standard error", "BabyAI progress": "BabyAI Standard error"}),
    (["id", "Agent", "Model version", "Accuracy mean", "Accuracy SE", "Notes", "Source", "Source link"],
     ["Accuracy mean"], {"Accuracy mean": "Accuracy SE"}),
    (["id", "Model version", "Percent correct", "Edit format", "Cost", "Source", "Source link", "Notes"],
     ["Percent correct"], {}),
    (["id", "Model version", "CI_high", "CI_low", "Time horizon", "Source", "Source link", "average_score", "Notes"],
     ["Time horizon", "average_score"], {}),
    (["id", "Model version", "Name", "Prompt", "Total tasks", "Overall pass (%)", "Total Passes", "SCAD Gen (%)",
      "SCAD Gen Success", "Avg Chamfer (mm)", "Notes", "Source", "Source link"], ["Overall pass (%)", "SCAD Gen (%)"],
     {}),
])
def test_epoch_classify_columns(columns, scores, stderr):
    got = epoch.classify_columns(columns)
    assert (got["scores"], got["stderr"]) == (scores, stderr)


EPOCH_CSV = ("\ufeffid,Name,Average progress,Average Standard error,Model version,Shots,Cost,Source,Source link,Notes\n"
             "rec00000000000001,Model A,43.6%,2.2%,model-a,few,$1.00,Paper A,http://a,\n"
             "rec00000000000002,Model B (One-shot),12.0%,,model-b,,$2.00,Paper A,http://a,\n"
             "rec00000000000003,,30.0%,1.0%,,5,,Paper A,http://a,mix of two models\n"
             "rec00000000000004,Model B,,,model-b,5,,Paper B,http://b,\n")


def test_epoch_fixture_rules(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "external_benchmark_toy.csv").write_text(EPOCH_CSV, encoding="utf-8")
    (d / "model_versions.csv").write_text("Model\nx\n")  # not a benchmark table: not read
    b = epoch.parse(tmp_path)
    obs, iss = b.observations, b.issues_frame()
    assert len(obs) == 2 and set(obs.task) == {"toy"} and set(obs.subtask) == {""}
    a = one(obs, model="model-a")
    assert (a.value, a.stderr, a.value_scale, pd.isna(a.shots), a.prompt_variant, a.variant, a.metric) == \
        (43.6, 2.2, "percent", True, "shots=few", "Paper A", "score")
    assert one(obs, model="model-b").shots == 1            # from the Name "(One-shot)"
    assert pd.isna(a.params) and "model-a" in set(iss.loc[iss.kind == "no_scale", "value"])
    miss = iss[iss.kind == "missing_value"]
    assert set(miss.row_ref) == {"4", ""}                   # the model-less row; the empty cell of row 5
    assert {"mix of two models"}.isdisjoint(set(obs.model))


def test_epoch_text_in_score(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "external_benchmark_toy.csv").write_text("id,Model version,Score,Source\nrec1,m,high,S\n")
    with pytest.raises(IngestError) as e:
        epoch.parse(tmp_path)
    assert (e.value.file, e.value.row, e.value.field, e.value.value) == \
        ("data/external_benchmark_toy.csv", 2, "Score", "high")


# ----------------------------------------------------------------------------------------------
# openllm fixtures
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("col, expected", [
    ("HFV1_ARC", dict(task="ARC", metric="accuracy_norm", shots=25, value_scale="percent")),
    ("HFV1_TruthfulQA", dict(task="TruthfulQA", metric="normalized_true_probability", shots=0)),
    ("HFV2_BBH Raw", dict(task="BBH Raw", metric="accuracy_norm", shots=3, value_scale="unit")),
    ("HFV2_MATH_Lvl_5", dict(task="MATH_Lvl_5", metric="centered_accuracy", shots=4, random_baseline=0.0)),
    ("hf_open_llm_v2", dict(task="hf_open_llm_v2", metric="score", shots=None)),
])
def test_openllm_column_info(col, expected):
    got = openllm.column_info(col)
    assert {k: got[k] for k in expected} == expected


def test_openllm_fixture_rules(tmp_path):
    (tmp_path / "hf_open_llm_v2_240829.csv").write_text(
        "model,hf_open_llm_v2,HFV2_BBH,HFV2_BBH Raw\n"
        "org/m1,40.0,50.0,0.6\norg/m1,40.0,50.0,0.6\norg/m2,30.0,,0.5\norg/m2,31.0,20.0,0.5\n")
    b = openllm.parse(tmp_path)
    obs = b.observations
    assert len(obs) == 11 and set(obs.variant) == {"v2"}
    assert obs.params.isna().all()
    k = kinds(b)
    assert (k["duplicate"], k["conflict"], k["missing_value"], k["no_scale"]) == (4, 2, 1, 2)


def test_openllm_text_in_value(tmp_path):
    (tmp_path / "hf_open_llm_v1_240829_frozen.csv").write_text("model,HFV1_ARC\norg/m,n/a\n")
    with pytest.raises(IngestError) as e:
        openllm.parse(tmp_path)
    assert (e.value.field, e.value.value, e.value.row) == ("HFV1_ARC", "n/a", "2")


# ----------------------------------------------------------------------------------------------
# real data
# ----------------------------------------------------------------------------------------------

def _real(shared_data: Path, folder: str) -> Path:
    """A real data folder: skipped when absent, a failure when CI=true (tests/conftest.py)."""
    return require_shared(folder)


@pytest.mark.parametrize("module, folder", [
    (obsscaling, "obsscaling"), (on_emergence, "on-emergence"), (mlfoundations, "mlfoundations-scaling"),
    (epoch, "epoch-benchmark-stitching"), (openllm, "openllm-leaderboard-benchbench"),
])
def test_real_detect(shared_data, module, folder):
    others = ["obsscaling", "on-emergence", "mlfoundations-scaling", "epoch-benchmark-stitching",
              "openllm-leaderboard-benchbench"]
    assert module.detect(_real(shared_data, folder))
    assert not any(module.detect(shared_data / o) for o in others if o != folder)


@pytest.fixture(scope="module")
def real_obsscaling(shared_data):
    return obsscaling.parse(_real(shared_data, "obsscaling"))


@pytest.fixture(scope="module")
def real_on_emergence(shared_data):
    return on_emergence.parse(_real(shared_data, "on-emergence"))


@pytest.fixture(scope="module")
def real_mlfoundations(shared_data):
    return mlfoundations.parse(_real(shared_data, "mlfoundations-scaling"))


@pytest.fixture(scope="module")
def real_epoch(shared_data):
    return epoch.parse(_real(shared_data, "epoch-benchmark-stitching"))


@pytest.fixture(scope="module")
def real_openllm(shared_data):
    return openllm.parse(_real(shared_data, "openllm-leaderboard-benchbench"))


@pytest.mark.parametrize("file, n", [
    ("base_llm_benchmark_eval.csv", 148 * 8 - 40),          # 3 ARC-C + 16 XWinograd + 21 HumanEval empty
    ("base_llm_benchmark_eval_sub_10b.csv", 730),
    ("base_llm_emergent_capability_eval.csv", 84 * 8 - 59),
    ("base_llm_leaderboard_v2_eval.csv", 72 * 6),
    ("base_llm_post_training_eval.csv", 96 * 234 - 4766),
    ("instruct_llm_benchmark_eval.csv", 27 * 9 - 24),
    ("instruct_llm_agent_eval.csv", 27 * 29 - 365),
])
def test_real_obsscaling_counts(real_obsscaling, file, n):
    obs = real_obsscaling.observations
    assert (obs.source_file == f"eval_results/{file}").sum() == n


def test_real_obsscaling_values(real_obsscaling):
    obs = real_obsscaling.observations
    llama = "meta-llama/Llama-2-7b-hf"
    em = one(obs, model=llama, task="ipa_transliterate", metric="exact_match")
    bleu = one(obs, model=llama, task="ipa_transliterate", metric="bleu")
    assert (em.value, em.value_scale, em.shots) == (0.0717846460618145, "unit", 2)
    assert (bleu.value, bleu.value_scale, bleu.source_metric) == (27.23879164406593, "percent", "bleu")
    assert (bleu.params, bleu.tokens, bleu.flops, bleu.family) == (7e9, 2e12, 8.4e22, "Llama-2")
    gsm = one(obs, model=llama, task="GSM8K", source_file="eval_results/base_llm_benchmark_eval.csv")
    assert (gsm.value, gsm.shots, gsm.metric) == (0.1448066717210007, 5, "exact_match")
    sc = one(obs, model=llama, task="gsm8k", prompt_variant="cot_self_consistency", variant="maj@5")
    assert (sc.value, sc.shots) == (0.144, 8)
    assert set(obs.loc[obs.model.str.startswith("EleutherAI/pythia"), "family"]) == {"Pythia-deduped"}


def test_real_obsscaling_issues(real_obsscaling):
    iss = real_obsscaling.issues_frame()
    assert (iss.kind == "duplicate").sum() == 730            # every sub-10b observation repeats the base file
    assert set(iss.loc[iss.kind == "duplicate", "source_file"]) == {"eval_results/base_llm_benchmark_eval_sub_10b.csv"}
    no_scale = set(iss.loc[iss.kind == "no_scale", "value"])
    api = {"gpt-4-0613", "gpt-4-0314", "claude-2.0", "claude-1.3", "claude-instant-1.1", "gpt-3.5-turbo-0613"}
    assert no_scale <= api                                     # only the API models have no size
    assert "conflict" not in set(iss.kind)


def test_real_on_emergence(real_on_emergence):
    b = real_on_emergence
    obs, iss = b.observations, b.issues_frame()
    assert len(obs) == 5055 * 10 - (1787 * 2 + 1828 * 2 + 2919 * 2 + 1209)
    sent = iss[iss.kind == "sentinel"].set_index("field")["detail"].str.extract(r"^(\d+) rows")[0].astype(int)
    assert sent.to_dict() == {"exact_match_loss": 1787, "exact_match_gain": 1787, "bert_score_accuracy": 1828,
                              "bert_score_f1": 1828, "bert_score_loss": 2919, "bert_score_gain": 2919,
                              "single_bert_score": 1209}
    dup = iss[iss.kind == "duplicate"]
    assert set(dup.row_ref) == {"4331 (run_id 20230608_195040)", "4335 (run_id 20230608_195044)",
                                "4337 (run_id 20230608_195045)"}
    assert len(dup) == 12                                      # 4 computed metrics in each of the 3 copies
    r = obs[obs.row_ref == "2 (run_id 20230524_123238)"].set_index("source_metric")
    assert r.loc["exact_match_accuracy", "value"] == 0.1651006711
    assert r.loc["edit_distance", "value"] == 36.10469799 and not r.loc["edit_distance", "higher_is_better"]
    assert r.loc["single_bert_score", "metric"] == "bertscore"
    assert (r.loc["exact_match_accuracy", "task"], r.loc["exact_match_accuracy", "n_examples"]) == \
        ("tracking_shuffled_objects", 745)
    assert obs.loc[obs.source_metric.str.endswith(("_loss", "_gain")), "in_scoring"].eq(False).all()
    assert obs.loc[obs.model.isin(["davinci", "gpt-4", "code"]), "seed"].isna().all()
    assert set(iss.loc[iss.kind == "no_scale", "value"]) == {"gpt-4", "code"}
    sizes = obs.groupby("model")["params"].first()
    assert (sizes["t5-small"], sizes["models--llama/30B"], sizes["google/flan-t5-large"]) == (60e6, 32.5e9, 780e6)
    assert obs.model.nunique() == 24 and obs.task.nunique() == 23


def test_real_mlfoundations(real_mlfoundations):
    obs = real_mlfoundations.observations
    icl = obs[obs.task != "validation_loss"]
    assert len(icl) == 104 * 46 and icl.model.nunique() == 104 and icl.task.nunique() == 46
    assert (obs.task == "validation_loss").sum() == 104 * 8
    assert icl.metric.value_counts().to_dict() == {"multiple_choice_grade": 33 * 104, "exact_match": 13 * 104}
    fams = {f"OpenLM {c} M={m}" for c in ("c4_original", "rpj", "rw_original")
            for m in ("0.25", "0.5", "1", "2", "4", "8", "16", "32")}
    assert set(obs.family) == fams
    assert set(obs.source_family) == {"c4_original", "rpj", "rw_original"}
    r = one(obs, model="c4_original-d=1024_l=24_h=8-0.25", task="mmlu")
    assert (r.value, r.params, r.tokens, r.shots, r.n_examples, r.random_baseline) == \
        (0.23942957870792925, 411616256, 2058081280, 5, 14042, 0.25)
    assert icl.loc[icl.task == "arc_challenge", "n_examples"].isna().all()
    assert kinds(real_mlfoundations) == {"suspect_value": 1}
    assert obs.flops.isna().all()


def test_real_epoch(real_epoch):
    obs, iss = real_epoch.observations, real_epoch.issues_frame()
    assert obs.source_file.nunique() == 37
    # no sizes in the files: a size can only come from the curated table
    assert obs.loc[obs.params.notna(), "params_source"].str.startswith("data/models/").all()
    unsized = set(obs.loc[obs.params.isna(), "model"])
    assert set(iss.loc[iss.kind == "no_scale", "value"]) == unsized
    r = one(obs, task="mmlu", model="amazon.nova-lite-v1:0")
    assert (r.value, r.value_scale, r.shots, r.metric, r.subtask) == (77.0, "percent", 5, "exact_match", "")
    r = one(obs, task="arc_ai2", model="Yi-6B", subtask="Challenge score")
    assert (r.value, r.shots) == (50.3, 25)
    r = one(obs, task="balrog", model="grok-4-0709", subtask="Average progress")
    assert (r.value, r.stderr) == (43.6, 2.2)
    # rows whose model version was deliberately left out: issues, not observations
    nameless = iss[(iss.kind == "missing_value") & (iss.row_ref != "")]
    assert nameless.source_file.value_counts().to_dict() == {
        "data/external_benchmark_aider_polyglot.csv": 5, "data/external_benchmark_fictionlivebench.csv": 1,
        "data/external_benchmark_osuniverse.csv": 1, "data/external_benchmark_weirdml.csv": 1}
    assert one(obs, task="livebench", model="perplexity-sonar-pro", subtask="Global average").value == 60.27


def test_real_openllm(real_openllm):
    obs, iss = real_openllm.observations, real_openllm.issues_frame()
    assert len(obs) == 1804 * 7 + 348 * 8
    assert obs.groupby("variant").model.nunique().to_dict() == {"v1": 1804 - 48, "v2": 348 - 8}
    r = one(obs, model="MaziyarPanahi/calme-2.1-qwen2-72b", task="BBH Raw")
    assert (r.value, r.value_scale, r.shots) == (0.7, "unit", 3)
    r = one(obs, model="Contamination/contaminated_proof_7b_v1.0", task="ARC")
    assert (r.value, r.value_scale, r.metric, r.shots) == (78.07, "percent", "accuracy_norm", 25)
    assert obs.loc[obs.params.notna(), "params_source"].str.startswith("data/models/").all()
    assert set(iss.loc[iss.kind == "no_scale", "value"]) == set(obs.loc[obs.params.isna(), "model"])
    k = kinds(real_openllm)
    assert k["duplicate"] + k["conflict"] > 0 and "missing_value" not in k
