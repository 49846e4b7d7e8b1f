"""Tests for the BIG-bench native results parser (emergence.ingestion.sources.bigbench).

The fixtures are built in code and follow the BIG-bench package's own dataclasses
(``pip download --no-deps bigbench==1.0.0``; read, not a dependency):

- a results file is ``dataclasses.asdict(ResultsFileData)`` written by
  ``bigbench/evaluate_task.py``: keys ``scores``, ``task``, ``model`` (+ ``queries`` in a
  full log) -- ``bigbench/api/results.py`` ``ResultsFileData``;
- ``scores`` entries are ``bigbench/api/task.py`` ``ScoreData`` (score_dict, preferred_score,
  number_of_shots, low_score, high_score, subtask_description);
- ``model`` is ``bigbench/api/model.py`` ``ModelData`` (model_family, model_name,
  total_params, non_embedding_params, flop_matched_non_embedding_params,
  training_batch_size, training_steps, description, decoding_params, additional_details);
- ``task`` is ``results.py`` ``TaskData`` (task_name);
- queries are ``results.py`` ``MultipleChoiceQuery`` / ``ScoringQuery`` / ``GenerativeQuery``
  with ``MultipleChoiceSample`` / ``ScoringSample`` / ``GenerativeSample`` samples, the JSON-task
  versions filled in by ``bigbench/api/util.py`` ``update_*_query`` (shots, task = subtask name,
  target_values, correct; generative targets -> {metric: value});
- file names are ``results.score_result_filename`` / ``query_result_filename``
  (``scores_BIG-G_T=0_2b.json``, ``full-log_BIG-G_T=0_2b.json``);
- JSON subtasks are named ``<task>:<subtask>`` (``json_task.JsonTask``), the aggregate entry
  per shot count has ``subtask_description == task name`` and adds
  ``normalized_aggregate_score`` on 0-100 (``results.add_aggregate_scores`` / ``util``);
- metric values are stored as the task computed them: multiple_choice_grade etc. on 0-1
  (the x100 of ``results.RENORMALIZED_METRICS`` happens only in the loader), bleu on 0-100.

Sizes and scores below are made up for the test; only the shapes follow the package.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources import bigbench as bb

from conftest import assert_same_rows

from bigbench_fixtures import (  # tests/ is on sys.path under pytest
    GEN_TASK, MC_TASK, SIZES, gen_queries, gen_scores, make_checkout, mc_queries, mc_scores, results_file, write)


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A BIG-bench checkout: 2 tasks x 3 BIG-G T=0 sizes, one T=1 file, two full logs."""
    return make_checkout(tmp_path)


@pytest.fixture
def batch(checkout):
    return bb.parse(checkout)


# ------------------------------------------------------------------ detection
@pytest.mark.parametrize("sub, expected", [
    ("", True),                                                     # checkout root
    ("bigbench", True),                                             # has benchmark_tasks
    ("bigbench/benchmark_tasks", True),                             # */results/scores_*.json
    ("bigbench/benchmark_tasks/logical_deduction", True),           # results/scores_*.json
    ("bigbench/benchmark_tasks/logical_deduction/results", True),   # scores_*.json
    ("bigbench/benchmark_tasks/logical_deduction/results/scores_BIG-G_T=0_2b.json", True),
    ("bigbench/benchmark_tasks/logical_deduction/task.json", False),
])
def test_detect_layouts(checkout, sub, expected):
    assert bb.detect(checkout / sub) is expected


def test_detect_rejects_other_folders(tmp_path):
    write(tmp_path / "results" / "model.json", {"results": {}})
    assert bb.detect(tmp_path) is False


# ------------------------------------------------------------------ observations
def test_counts(batch):
    obs = batch.observations
    # MC task: 3 models x 3 shots x (2 subtasks x 3 metrics + aggregate x 4 metrics) = 90
    # gen task: (3 T=0 + 1 T=1 + 1 sparse from its full log) x 3 shots x 3 metrics = 45
    assert len(obs) == 135
    assert obs["in_scoring"].all()
    assert batch.examples is not None and len(batch.examples) == 7


@pytest.mark.parametrize("family, model, task, subtask, shots, source_metric, value", [
    ("BIG-G T=0", "2m", MC_TASK, "logical_deduction:three_objects", 0, "multiple_choice_grade", 0.30),
    ("BIG-G T=0", "2b", MC_TASK, "logical_deduction:five_objects", 2, "multiple_choice_grade", 0.49),
    ("BIG-G T=0", "125m", MC_TASK, "", 1, "multiple_choice_grade", (0.42 + 0.37) / 2),
    ("BIG-G T=0", "125m", MC_TASK, "", 1, "normalized_aggregate_score",
     100 * ((0.42 - 1 / 3) / (2 / 3) + (0.37 - 0.2) / 0.8) / 2),
    ("BIG-G T=0", "2b", MC_TASK, "logical_deduction:three_objects", 0,
     "calibration_multiple_choice_brier_score", 0.21),
    ("BIG-G T=0", "125m", GEN_TASK, "", 2, "exact_str_match", 0.2),
    ("BIG-G T=0", "2b", GEN_TASK, "", 1, "bleu", 21.0),
    ("BIG-G T=1", "2b", GEN_TASK, "", 0, "log_likelihood", -3.0),
    ("BIG-G sparse", "125m", GEN_TASK, "", 2, "bleu", 12.0),
])
def test_values(batch, family, model, task, subtask, shots, source_metric, value):
    obs = batch.observations
    hit = obs[(obs["family"] == family) & (obs["model"] == model) & (obs["task"] == task)
              & (obs["subtask"] == subtask) & (obs["shots"] == shots) & (obs["source_metric"] == source_metric)]
    assert len(hit) == 1
    assert hit["value"].iloc[0] == pytest.approx(value, abs=1e-12)


@pytest.mark.parametrize("source_metric, metric, higher, scale", [
    ("multiple_choice_grade", "multiple_choice_grade", True, "unit"),
    ("calibration_multiple_choice_brier_score", "brier_score_bigbench", False, "unit"),
    ("expected_calibration_error", "expected_calibration_error", False, "unit"),
    ("normalized_aggregate_score", "normalized_aggregate_score", True, "percent"),
    ("exact_str_match", "exact_match", True, "unit"),
    ("bleu", "bleu", True, "percent"),
    ("log_likelihood", "log_likelihood", True, "unit"),
])
def test_metric_map_orientation_and_scale(batch, source_metric, metric, higher, scale):
    rows = batch.observations[batch.observations["source_metric"] == source_metric]
    assert set(rows["metric"]) == {metric}
    assert set(rows["higher_is_better"]) == {higher}
    assert set(rows["value_scale"]) == {scale}


@pytest.mark.parametrize("model, params", [(n, float(t)) for n, (t, _) in SIZES.items()])
def test_params_are_total_params(batch, model, params):
    rows = batch.observations[(batch.observations["model"] == model)
                              & (batch.observations["family"] == "BIG-G T=0")]
    assert set(rows["params"]) == {params}
    assert rows["params_source"].iloc[0] == (
        f"file field model.total_params (non_embedding_params={SIZES[model][1]}, "
        f"flop_matched_non_embedding_params={SIZES[model][1]})")
    assert rows["tokens"].isna().all() and rows["flops"].isna().all()
    assert not rows["params_estimate"].any()
    # BIG-bench's own size axis, next to the total
    assert set(rows["non_embedding_params"]) == {float(SIZES[model][1])}


def test_non_embedding_axis_is_a_size_axis(batch):
    """The non-embedding count is a size axis of its own: the same series, other x values."""
    from emergence.analysis.series import build_series_points
    obs = batch.observations
    sel = obs[(obs["family"] == "BIG-G T=0") & (obs["task"] == MC_TASK) & (obs["subtask"] == "")
              & (obs["source_metric"] == "multiple_choice_grade") & (obs["shots"] == 0)]
    pts = build_series_points(sel, axis="non_embedding_params")
    assert sorted(pts["x"]) == sorted(float(n) for _, n in SIZES.values())
    total = build_series_points(sel, axis="params")
    assert pts["y"].tolist() == total["y"].tolist()       # same points in the same order: sizes rank alike
    ex = batch.examples
    assert (ex.loc[ex["model"] == "2b", "non_embedding_params"] == float(SIZES["2b"][1])).sum() == 3
    assert (ex.loc[ex["model"] == "125m", "non_embedding_params"] == float(SIZES["125m"][1])).sum() == 4


def test_family_kept_as_written(batch):
    obs = batch.observations
    assert set(obs["family"]) == {"BIG-G T=0", "BIG-G T=1", "BIG-G sparse"}
    assert (obs["family"] == obs["source_family"]).all()
    assert obs["is_final"].all() and obs["checkpoint_step"].isna().all()


def test_low_score_is_baseline_of_preferred_metric_only(batch):
    obs = batch.observations
    pref = obs[(obs["task"] == MC_TASK) & (obs["source_metric"] == "multiple_choice_grade")]
    three = pref[pref["subtask"] == "logical_deduction:three_objects"]
    assert three["random_baseline"].tolist() == pytest.approx([1 / 3] * len(three))
    agg = pref[pref["subtask"] == ""]
    assert agg["random_baseline"].tolist() == pytest.approx([(1 / 3 + 1 / 5) / 2] * len(agg))
    assert set(pref["baseline_source"]) == {"BIG-bench low_score"}
    other = obs[(obs["task"] == MC_TASK) & (obs["source_metric"] != "multiple_choice_grade")]
    assert other["random_baseline"].isna().all() and other["baseline_source"].isna().all()


def test_row_refs_and_files(batch):
    obs = batch.observations
    r = obs[(obs["model"] == "2m") & (obs["task"] == MC_TASK) & (obs["shots"] == 0)
            & (obs["subtask"] == "logical_deduction:five_objects") & (obs["source_metric"] == "multiple_choice_grade")]
    assert r["source_file"].iloc[0] == \
        "bigbench/benchmark_tasks/logical_deduction/results/scores_BIG-G_T=0_2m.json"
    assert r["row_ref"].iloc[0] == "scores[1].score_dict.multiple_choice_grade"
    assert len(batch.files) == 9 and all(len(h) == 64 for h in batch.files.values())


def test_full_log_duplicate_of_scores_file_not_ingested_twice(batch):
    dup = [i for i in batch.issues if i["kind"] == "duplicate"]
    assert len(dup) == 1
    assert dup[0]["source_file"].endswith("logical_deduction/results/full-log_BIG-G_T=0_2b.json")
    assert dup[0]["value"] == "30"
    assert not batch.observations["source_file"].str.contains("full-log_BIG-G_T=0").any()


def test_issue_kinds(batch):
    kinds = sorted(i["kind"] for i in batch.issues)
    assert kinds == ["duplicate", "multiple_correct"]


# ------------------------------------------------------------------ examples
def test_multiple_choice_examples(batch):
    ex = batch.examples
    mc = ex[ex["example_id"].str.startswith("multiple_choice:")].reset_index(drop=True)
    assert len(mc) == 3
    first = mc.iloc[0]
    assert (first["task"], first["subtask"], first["shots"], first["family"], first["model"]) == \
        (MC_TASK, "logical_deduction:three_objects", 0, "BIG-G T=0", "2b")
    assert first["example_id"] == "multiple_choice:0"
    assert first["choice_logprobs"] == [-0.5, -1.5, -2.0]
    assert first["correct_index"] == 0 and first["n_choices"] == 3
    p = np.exp([-0.5, -1.5, -2.0])
    assert first["p_correct"] == pytest.approx(p[0] / p.sum(), rel=1e-12)
    assert bool(first["correct"]) is True and first["prediction"] == "A" and first["target"] == "A"
    assert first["params"] == SIZES["2b"][0]
    assert first["row_ref"] == "queries[0].samples[0]"
    second = mc.iloc[1]
    assert second["correct_index"] == 2 and bool(second["correct"]) is False
    assert second["prediction"] == "A" and second["target"] == "C"
    third = mc.iloc[2]  # two targets share the top value: the first is the correct index
    assert (third["subtask"], third["shots"], third["correct_index"], bool(third["correct"])) == \
        ("logical_deduction:five_objects", 1, 0, True)
    assert len(first["content_hash"]) == 64


def test_generative_and_scoring_examples(batch):
    ex = batch.examples
    gen = ex[ex["example_id"].str.startswith("generative:")].reset_index(drop=True)
    assert gen["prediction"].tolist() == ["5", "3"]
    assert gen["target"].tolist() == ["5", "3"]
    assert [bool(c) for c in gen["correct"]] == [True, False]
    assert set(gen["subtask"]) == {""} and set(gen["shots"]) == {1}
    assert set(gen["family"]) == {"BIG-G sparse"}
    sc = ex[ex["example_id"].str.startswith("scoring:")].reset_index(drop=True)
    assert sc["target"].tolist() == ["5", "3"]
    assert sc["loss"].iloc[0] == pytest.approx(0.7)
    assert sc["loss"].iloc[1] == pytest.approx(-math.log(math.exp(-1.0) + math.exp(-2.0)))
    assert sc["choice_logprobs"].isna().all()


# ------------------------------------------------------------------ data rules
def test_sentinel_shots_nan_value_backup_and_names(tmp_path):
    res = tmp_path / "my_task" / "results"
    scores = [{"score_dict": {"custom_score": 0.5, "bleu": float("nan"), "multiple_choice_grade": None},
               "preferred_score": "custom_score", "number_of_shots": -1, "low_score": 0.0, "high_score": 1.0}]
    write(res / "scores_GPT_GPT-3_Small.json", results_file("my_task", "BIG-G T=0", "2m", scores))
    write(res / "scores_BIG-G_T=0_2m.json.backup_000001", "{}")
    b = bb.parse(tmp_path)
    obs = b.observations
    assert len(obs) == 1
    r = obs.iloc[0]
    assert (r["subtask"], r["metric"], r["value"]) == ("", "custom_score", 0.5)
    assert pd.isna(r["shots"])
    kinds = sorted((i["kind"], i["field"]) for i in b.issues)
    assert kinds == [("config_mismatch", "model"), ("missing_value", "score_dict.bleu"),
                     ("missing_value", "score_dict.multiple_choice_grade"),
                     ("sentinel", "number_of_shots"), ("superseded", "file")]


def test_task_folder_mismatch_and_null_size(tmp_path):
    d = results_file("real_name", "PaLM", "2b", gen_scores(1))
    d["model"]["total_params"] = None
    write(tmp_path / "other_folder" / "results" / "scores_PaLM_2b.json", d)
    b = bb.parse(tmp_path)
    assert b.observations["params"].isna().all()
    assert set(b.observations["task"]) == {"real_name"}
    kinds = sorted((i["kind"], i["field"]) for i in b.issues)
    assert kinds == [("config_mismatch", "task.task_name"), ("no_scale", "model.total_params")]


def test_rescaled_file_recorded_as_percent(tmp_path):
    scores = [{"score_dict": {"multiple_choice_grade": 45.0, "calibration_multiple_choice_brier_score": 22.0,
                              "bleu": 3.0, "log_likelihood": -2.0},
               "preferred_score": "multiple_choice_grade", "number_of_shots": 0, "low_score": 25.0,
               "high_score": 100.0, "subtask_description": "t"}]
    write(tmp_path / "t" / "results" / "scores_BIG-G_T=0_2m.json", results_file("t", "BIG-G T=0", "2m", scores))
    b = bb.parse(tmp_path)
    scale = dict(zip(b.observations["source_metric"], b.observations["value_scale"]))
    assert scale == {"multiple_choice_grade": "percent", "calibration_multiple_choice_brier_score": "percent",
                     "bleu": "percent", "log_likelihood": "unit"}
    assert b.observations.set_index("source_metric").loc["multiple_choice_grade", "value"] == 45.0
    assert [i["kind"] for i in b.issues] == ["suspect_value"]


def test_single_file_and_differing_full_log(tmp_path):
    res = tmp_path / GEN_TASK / "results"
    only = write(res / "scores_BIG-G_T=0_2m.json", results_file(GEN_TASK, "BIG-G T=0", "2m", gen_scores(0)))
    b = bb.parse(only)  # one file given directly: paths relative to its folder
    assert len(b.observations) == 9 and set(b.observations["source_file"]) == {only.name}
    changed = gen_scores(0)
    changed[0]["score_dict"]["bleu"] = 99.0
    write(res / "full-log_BIG-G_T=0_2m.json", results_file(GEN_TASK, "BIG-G T=0", "2m", changed, gen_queries()))
    b = bb.parse(tmp_path)
    obs = b.observations
    assert len(obs) == 18  # the full log's copy differs, so both are kept ...
    kinds = sorted(i["kind"] for i in b.issues)
    assert kinds == ["conflict", "conflict"] + ["duplicate"] * 8  # ... and compared row by row
    assert obs["in_scoring"].sum() == 18 - 2 - 8


def test_no_results_files(tmp_path):
    (tmp_path / "bigbench" / "benchmark_tasks" / "x").mkdir(parents=True)
    with pytest.raises(IngestError, match="no BIG-bench results files"):
        bb.parse(tmp_path)


@pytest.mark.parametrize("mutate, field, value, message", [
    (lambda d: d.update(scores={"a": 1}), "scores", '{"a": 1}', "expected a list"),
    (lambda d: d["scores"][0]["score_dict"].update(multiple_choice_grade="0.5"),
     "score_dict.multiple_choice_grade", "0.5", "not a number"),
    (lambda d: d["scores"][0]["score_dict"].update(bleu=True), "score_dict.bleu", "true", "not a number"),
    (lambda d: d["scores"][0]["score_dict"].update(bleu=float("inf")), "score_dict.bleu", "inf", "infinite"),
    (lambda d: d["scores"][0].pop("number_of_shots"), "number_of_shots", None, "missing ScoreData field"),
    (lambda d: d["scores"][0].update(number_of_shots=1.5), "number_of_shots", "1.5", "whole number"),
    (lambda d: d["model"].pop("total_params"), "model.total_params", None, "missing ModelData field"),
    (lambda d: d["model"].update(total_params=-5), "model.total_params", "-5", "negative"),
    (lambda d: d["model"].update(total_params="2B"), "model.total_params", "2B", "not a number"),
    (lambda d: d.pop("task"), "task", None, "missing top-level key"),
])
def test_malformed_scores_file(tmp_path, mutate, field, value, message):
    d = results_file(MC_TASK, "BIG-G T=0", "2m", mc_scores(0))
    mutate(d)
    path = write(tmp_path / MC_TASK / "results" / "scores_BIG-G_T=0_2m.json", json.dumps(d))
    with pytest.raises(IngestError) as e:
        bb.parse(tmp_path)
    err = e.value
    assert err.file == f"{MC_TASK}/results/{path.name}"
    assert err.field == field
    assert (err.value is None) if value is None else (str(err.value) == value)
    assert message in str(err)


def test_truncated_json(tmp_path):
    text = json.dumps(results_file(MC_TASK, "BIG-G T=0", "2m", mc_scores(0)), indent=2)
    write(tmp_path / MC_TASK / "results" / "scores_BIG-G_T=0_2m.json", text[: len(text) // 2])
    with pytest.raises(IngestError, match=r"scores_BIG-G_T=0_2m\.json: invalid or truncated JSON"):
        bb.parse(tmp_path)


@pytest.mark.parametrize("mutate, row, field", [
    (lambda q: q[0]["samples"][0].update(scores=[-1.0]), "queries[0].samples[0]", "scores"),
    (lambda q: q[0]["samples"][1]["target_values"].pop("C"), "queries[0].samples[1]", "target_values"),
    (lambda q: q[0]["samples"][0].update(correct="yes"), "queries[0].samples[0]", "correct"),
    (lambda q: q[1].update(function="embed"), "queries[1]", "function"),
])
def test_malformed_full_log(tmp_path, mutate, row, field):
    q = mc_queries()
    mutate(q)
    write(tmp_path / MC_TASK / "results" / "full-log_BIG-G_T=0_2m.json",
          results_file(MC_TASK, "BIG-G T=0", "2m", mc_scores(0), q))
    with pytest.raises(IngestError) as e:
        bb.parse(tmp_path)
    assert e.value.file == f"{MC_TASK}/results/full-log_BIG-G_T=0_2m.json"
    assert (e.value.row, e.value.field) == (row, field)


def test_expected_filename():
    assert bb.expected_filename("scores", "BIG-G T=0", "2b") == "scores_BIG-G_T=0_2b.json"
    assert bb.expected_filename("full-log", "BIG-G sparse", "125m") == "full-log_BIG-G_sparse_125m.json"


# ------------------------------------------------------------------ real data
def test_detect_claims_no_other_real_source(shared_data):
    """``ingest`` tries bigbench first: it must not claim any real source folder."""
    folders = sorted(p for p in shared_data.iterdir() if p.is_dir())
    assert folders
    assert [p.name for p in folders if bb.detect(p)] == []


# ------------------------------------------------------------------ Git LFS pointers and full-log archives
from bigbench_fixtures import ARCHIVE_NAME, lfs_pointer_text, make_archive  # noqa: E402


def _strip_location(ex: pd.DataFrame) -> pd.DataFrame:
    """Example rows without where they were read from (a file in the checkout or a member of an archive);
    a missing list is None whether it came back from Parquet or from pandas (NaN)."""
    out = ex.drop(columns=["source_file", "content_hash"]).sort_values(
        ["model", "task", "subtask", "shots", "example_id"]).reset_index(drop=True)
    lists = [None if not isinstance(v, (list, np.ndarray)) else list(v) for v in out["choice_logprobs"]]
    out = out.drop(columns=["choice_logprobs"]).astype(object)
    out = out.where(out.notna(), None)
    out["choice_logprobs"] = lists
    return out


@pytest.fixture
def archived(tmp_path, checkout):
    """The checkout with its two full logs moved into the per-task lrzip archives BIG-bench ships."""
    tasks = checkout / "bigbench" / "benchmark_tasks"
    for task in (MC_TASK, GEN_TASK):
        logs = sorted((tasks / task / "results").glob("full-log_*.json"))
        make_archive({p.name: json.loads(p.read_text()) for p in logs}, tasks / task / "results" / ARCHIVE_NAME)
        for p in logs:
            p.unlink()
    return checkout


def test_archive_not_read_without_full_logs(archived):
    b = bb.parse(archived)
    assert b.examples is None and not b.example_files
    not_read = [i for i in b.issues if i["kind"] == "not_read"]
    assert len(not_read) == 2 and all(i["source_file"].endswith(ARCHIVE_NAME) for i in not_read)
    assert "--full-logs" in not_read[0]["detail"]


def test_archive_streams_the_same_examples_as_the_unpacked_logs(archived, checkout_copy):
    """Read from the archive (lrzip -d | tar, one query at a time) or from the unpacked files: the same rows."""
    unpacked = bb.parse(checkout_copy)
    packed = bb.parse(archived, full_logs=True)
    pd.testing.assert_frame_equal(_strip_location(packed.examples), _strip_location(unpacked.examples))
    files = set(packed.examples["source_file"])
    assert files == {f"bigbench/benchmark_tasks/{MC_TASK}/results/{ARCHIVE_NAME}/full-log_BIG-G_T=0_2b.json",
                     f"bigbench/benchmark_tasks/{GEN_TASK}/results/{ARCHIVE_NAME}/full-log_BIG-G_sparse_125m.json"}
    # the member's own SHA-256, computed while streaming
    want = hashlib.sha256((checkout_copy / "bigbench" / "benchmark_tasks" / MC_TASK / "results" /
                           "full-log_BIG-G_T=0_2b.json").read_bytes()).hexdigest()
    got = packed.examples.loc[packed.examples["model"] == "2b", "content_hash"]
    assert set(got) == {want}     # the fixture writes the log into the archive byte for byte as in the checkout
    # the duplicate rule holds across an archive and the scores files
    dup = [i for i in packed.issues if i["kind"] == "duplicate"]
    assert len(dup) == 1 and "full-log_BIG-G_T=0_2b.json" in dup[0]["source_file"]
    assert len(packed.observations) == len(unpacked.observations)
    assert set(packed.files) == {p for p in unpacked.files if "full-log" not in p} | {
        f"bigbench/benchmark_tasks/{t}/results/{ARCHIVE_NAME}" for t in (MC_TASK, GEN_TASK)}


def test_spilled_examples_equal_the_in_memory_ones(archived, tmp_path):
    """With a spill folder the rows go to Parquet as they are read, with their re-scored aggregates."""
    from emergence.analysis.rescore import aggregate_examples
    spill = tmp_path / "spill"
    spill.mkdir()
    mem = bb.parse(archived, full_logs=True)
    disk = bb.parse(archived, full_logs=True, spill_dir=spill)
    assert disk.examples is None and len(disk.example_files) == 1 and disk.n_examples == len(mem.examples)
    spilled = pd.read_parquet(disk.example_files[0])
    pd.testing.assert_frame_equal(_strip_location(spilled), _strip_location(mem.examples), check_dtype=False)
    # spilled = large: the parser re-scores every metric but the choice metrics, which the ingest takes from SQL
    want = aggregate_examples(mem.examples, from_logprobs=False).sort_values(
        ["model", "subtask", "shots", "metric", "variant"])
    got = disk.rescored.sort_values(["model", "subtask", "shots", "metric", "variant"])
    assert np.allclose(got["value"], want["value"]) and got["metric"].tolist() == want["metric"].tolist()
    assert not set(got["metric"]) & set(CHOICE_METRICS) and len(got)


CHOICE_METRICS = ["brier_score", "brier_score_binary", "multiple_choice_grade"]
OBS_KEY = ["task", "subtask", "family", "model", "shots", "metric", "variant"]


def _rescored_rows(obs: pd.DataFrame) -> pd.DataFrame:
    """The re-scored observation rows in a fixed order; ``in_scoring`` left out (the rule that a source's own
    value of the same outputs is scored instead is ingest._defer_to_native's, tested in test_rescore.py)."""
    r = obs[obs["source_metric"].astype(str).str.startswith("rescored:")].drop(columns=["in_scoring"],
                                                                                errors="ignore")
    return r.sort_values(OBS_KEY, kind="stable").reset_index(drop=True)


@pytest.fixture
def bigg_sizes(tmp_path):
    """Six BIG-G sizes of two multiple-choice tasks in one archive per task (the models share their questions)."""
    from bigbench_fixtures import make_bigg_checkout, require_lrzip
    require_lrzip()
    return make_bigg_checkout(tmp_path / "bigg" / "BIG-bench",
                              {"logical_deduction": ["logical_deduction:three_objects", "logical_deduction:five_objects"],
                               "hyperbaton": ["hyperbaton"]})


@pytest.mark.parametrize("which", ["archived", "bigg_sizes"])
def test_ingest_rescores_spilled_logs_in_sql_as_numpy_does_in_memory(which, request, tmp_path, monkeypatch):
    """Spilled full logs: the ingest's re-scored rows (choice metrics from Store.rescore_choices over the spilled
    Parquet, the rest per log in numpy) equal aggregate_examples run on the same examples in memory, every column."""
    from emergence.analysis.rescore import aggregate_examples
    from emergence.ingestion.ingest import ingest
    from emergence.store import Store
    root = request.getfixturevalue(which)
    calls = []
    sql = Store.rescore_choices

    def spy(self, data=None, *a, **k):
        calls.append((data, k.get("group_meta")))
        return sql(self, data, *a, **k)
    monkeypatch.setattr(Store, "rescore_choices", spy)
    db = tmp_path / "s.duckdb"
    ingest([str(root)], db=db, full_logs=True)
    assert len(calls) == 1 and calls[0][1] is True and str(calls[0][0][0]).endswith(".parquet")
    got = _rescored_rows(Store(db).observations())
    mem = bb.parse(root, full_logs=True)          # no spill folder: every example row in memory
    whole = _rescored_rows(aggregate_examples(mem.examples))
    per_log = _rescored_rows(pd.concat([aggregate_examples(g) for _, g in mem.examples.groupby("source_file")],
                                       ignore_index=True))
    # the choice metrics (SQL over the whole spilled table) as numpy gives them over the whole table in memory;
    # the others (numpy, one log at a time) as numpy gives them log by log: the same rows but for paired_se,
    # which needs the series' smallest model, in another log (NaN per log, as before this path existed)
    choice = whole["metric"].isin(CHOICE_METRICS).to_numpy()
    want = _rescored_rows(pd.concat([whole[choice], per_log[~per_log["metric"].isin(CHOICE_METRICS)]]))
    assert set(CHOICE_METRICS) <= set(want["metric"]) and (~choice).any()
    assert_same_rows(got, want)
    assert_same_rows(per_log.drop(columns="paired_se"), whole.drop(columns="paired_se"))
    if which == "bigg_sizes":     # the models share their questions: the paired standard errors are compared too
        assert want.loc[want["metric"].isin(CHOICE_METRICS), "paired_se"].notna().sum() >= 10
    # the comparison can fail: one value off by 1e-9 relative, or one paired standard error, is caught
    for col in ("value", "paired_se", "stderr"):
        bad = want.copy()
        i = int(np.flatnonzero(bad[col].notna().to_numpy() & bad["metric"].isin(CHOICE_METRICS).to_numpy())[0]) \
            if bad[col].notna().any() else None
        if i is None:
            continue
        bad.loc[i, col] *= 1 + 1e-9
        with pytest.raises(AssertionError):
            assert_same_rows(got, bad)


@pytest.fixture
def checkout_copy(tmp_path):
    return make_checkout(tmp_path / "copy")


def test_lfs_pointers_are_reported_never_parsed(archived):
    """A checkout without git-lfs holds pointer files: each is an issue saying what to do."""
    res = archived / "bigbench" / "benchmark_tasks" / MC_TASK / "results"
    real = (res / ARCHIVE_NAME).read_bytes()
    (res / ARCHIVE_NAME).write_text(lfs_pointer_text(real))
    (res / "scores_BIG-G_T=0_2m.json").write_text(lfs_pointer_text(b"{}"))
    b = bb.parse(archived, full_logs=True)
    ptr = {i["source_file"]: i for i in b.issues if i["kind"] == "lfs_pointer"}
    assert set(ptr) == {f"bigbench/benchmark_tasks/{MC_TASK}/results/{ARCHIVE_NAME}",
                        f"bigbench/benchmark_tasks/{MC_TASK}/results/scores_BIG-G_T=0_2m.json"}
    arch = ptr[f"bigbench/benchmark_tasks/{MC_TASK}/results/{ARCHIVE_NAME}"]
    assert "emergence ingest bigbench --full-logs" in arch["detail"] and "git lfs pull" in arch["detail"]
    assert arch["value"] == f"sha256:{hashlib.sha256(real).hexdigest()} ({len(real):,} bytes)"
    assert not b.observations["source_file"].str.contains(f"{MC_TASK}/results/scores_BIG-G_T=0_2m.json").any()
    assert set(b.examples["task"]) == {GEN_TASK}          # the other task's archive is still read


def test_only_pointers_is_a_clear_error(tmp_path):
    res = tmp_path / "bigbench" / "benchmark_tasks" / "t" / "results"
    write(res / "scores_BIG-G_T=0_2m.json", lfs_pointer_text(b"x" * 5000))
    with pytest.raises(IngestError, match="Git LFS pointers.*git lfs pull"):
        bb.parse(tmp_path)


def test_a_corrupt_archive_names_the_file(archived):
    res = archived / "bigbench" / "benchmark_tasks" / MC_TASK / "results"
    data = (res / ARCHIVE_NAME).read_bytes()
    (res / ARCHIVE_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match=f"{MC_TASK}/results/{ARCHIVE_NAME}"):
        bb.parse(archived, full_logs=True)


def test_without_lrzip_the_archive_is_named_and_the_package_too(archived, monkeypatch):
    monkeypatch.setattr(bb.shutil, "which", lambda name: None)
    with pytest.raises(IngestError, match=f"{ARCHIVE_NAME}: lrzip is not installed.*apt-get install lrzip"):
        bb.parse(archived, full_logs=True)


def test_a_malformed_log_inside_an_archive_names_member_row_and_field(tmp_path):
    bad = results_file(MC_TASK, "BIG-G T=0", "2b", mc_scores(2), mc_queries())
    bad["queries"][1]["samples"][0]["scores"] = [-1.0, "x"]
    res = tmp_path / "bigbench" / "benchmark_tasks" / MC_TASK / "results"
    make_archive({"full-log_BIG-G_T=0_2b.json": bad}, res / ARCHIVE_NAME)
    with pytest.raises(IngestError) as e:
        bb.parse(tmp_path, full_logs=True)
    msg = str(e.value)
    assert f"{ARCHIVE_NAME}/full-log_BIG-G_T=0_2b.json" in msg and "queries[1].samples[0]" in msg and "'scores'" in msg


# ------------------------------------------------------------------ the streaming JSON reader
@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_streamed_object_equals_json_loads(chunk):
    """Every key and every array element as json.loads reads them, whatever the read size (a multi-byte
    character, a number or an escape split across reads)."""
    import io
    from emergence.ingestion.sources._jsonstream import iter_object
    doc = {"scores": [{"a": 1.5e-3}], "task": {"task_name": "naïve — ü"},
           "queries": [{"n": 12345678901234567890, "s": "a\"b\\c\u00e9\U0001F600", "x": [True, False, None]},
                       {"n": -0.25, "e": []}, {}], "model": {"m": "2b"}}
    raw = json.dumps(doc, ensure_ascii=False).encode()
    got = list(iter_object(io.BytesIO(raw), "f.json", "queries", chunk=chunk))
    assert [(k, n) for k, n, _ in got] == [("key", "scores"), ("key", "task"), ("item", 0), ("item", 1),
                                           ("item", 2), ("key", "model")]
    assert [v for k, _, v in got if k == "item"] == doc["queries"]
    assert {n: v for k, n, v in got if k == "key"} == {k: v for k, v in doc.items() if k != "queries"}


@pytest.mark.parametrize("raw, message", [
    (b'{"queries": [{"a": 1}, {"a": 2', "truncated"),
    (b'{"queries": [{"a": 1} {"a": 2}]}', "expected ',' or ']'"),
    (b'[1, 2]', "expected '{'"),
    (b'{"a": 1} x', "text after"),
    (b'{"a": "\xff"}', "UTF-8"),
])
def test_streamed_object_errors(raw, message):
    import io
    from emergence.ingestion.sources._jsonstream import iter_object
    with pytest.raises(IngestError, match=message):
        list(iter_object(io.BytesIO(raw), "f.json", "queries", chunk=4))
