"""lm-eval ``--log_samples`` jsonl (source ``lm-eval-samples``), on fixtures built in code.

The fixtures follow the documented format (FORMATS.md, "lm-evaluation-harness"): one object per
document with doc_id, doc, target, arguments, resps, filtered_resps ([log-likelihood, is_greedy]
per choice), filter, hashes and per-document metrics; a ``results_<timestamp>.json`` (new key style)
beside them names the model and the shots.  No real samples logs are shipped in ../shared/data.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources import lm_eval_samples as smp
from emergence.ingestion.sources.lm_eval_samples import classify_response, parse, parse_samples_name

TS = "2024-05-01T12-00-00.123456"
TPS = 2_097_152


def mc_record(doc_id, logliks, target, acc, acc_norm=None, as_strings=False, filt="none"):
    conts = [f" choice{i}" for i in range(len(logliks))]
    pairs = [[str(ll), "False"] if as_strings else [ll, False] for ll in logliks]
    rec = {"doc_id": doc_id, "doc": {"question": f"q{doc_id}", "choices": conts}, "target": target,
           "arguments": [[f"Question: q{doc_id}\nAnswer:", c] for c in conts],
           "resps": [[p] for p in pairs], "filtered_resps": pairs, "filter": filt,
           "metrics": ["acc", "acc_norm"], "doc_hash": "d", "prompt_hash": "p", "target_hash": "t", "acc": acc,
           "acc_norm": acc if acc_norm is None else acc_norm}
    return rec


def write_jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def write_results(folder: Path, results: dict, n_shot: dict, model_args: str, ts: str = TS, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {"results": results, "n-shot": n_shot, "config": {"model": "hf", "model_args": model_args}, **extra}
    p = folder / f"results_{ts}.json"
    p.write_text(json.dumps(data))
    return p


MC = [([-1.0, -2.0, -3.0], 0, 1.0), ([-2.0, -0.5, -3.0], 2, 0.0), ([-1.0, -1.2, -0.1], 2, 1.0),
      ([-4.0, -1.0, -2.0], 1, 1.0)]


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "out" / "EleutherAI__pythia-160m"
    write_jsonl(d / f"samples_arc_easy_{TS}.jsonl",
                [mc_record(i, ll, t, acc, acc_norm=1.0) for i, (ll, t, acc) in enumerate(MC)])
    write_jsonl(d / f"samples_gsm8k_{TS}.jsonl", [
        {"doc_id": 0, "doc": {"question": "2+40?"}, "target": "42",
         "arguments": {"gen_args_0": {"arg_0": "Q: 2+40?\nA:", "arg_1": {"until": ["\n"]}}},
         "resps": [["42 it is"]], "filtered_resps": ["42"], "filter": "strict-match",
         "metrics": ["exact_match"], "exact_match": 1.0},
        {"doc_id": 1, "doc": {"question": "3+4?"}, "target": "7", "arguments": {"gen_args_0": {"arg_0": "Q: 3+4?"}},
         "resps": [["8"]], "filtered_resps": ["8"], "filter": "strict-match", "metrics": ["exact_match"],
         "exact_match": 0.0}])
    write_jsonl(d / f"samples_lambada_openai_{TS}.jsonl", [
        {"doc_id": 0, "doc": {"text": "a b c"}, "target": " c", "arguments": [["a b", " c"]],
         "resps": [[[-0.7, True]]], "filtered_resps": [[-0.7, True]], "filter": "none",
         "metrics": ["perplexity", "acc"], "perplexity": -0.7, "acc": 1.0},
        {"doc_id": 1, "doc": {"text": "d e f"}, "target": " f", "arguments": [["d e", " f"]],
         "resps": [[[-3.2, False]]], "filtered_resps": [[-3.2, False]], "filter": "none",
         "metrics": ["perplexity", "acc"], "perplexity": -3.2, "acc": 0.0}])
    write_results(d, {"arc_easy": {"alias": "arc_easy", "acc,none": 0.75, "acc_stderr,none": 0.25,
                                   "acc_norm,none": 1.0, "acc_norm_stderr,none": 0.0},
                      "gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.5},
                      "lambada_openai": {"acc,none": 0.5}},
                  {"arc_easy": 0, "gsm8k": 5, "lambada_openai": 0},
                  "pretrained=EleutherAI/pythia-160m,revision=step13000,dtype=float",
                  model_name="EleutherAI/pythia-160m")
    return tmp_path / "out"


def one(df, **eq):
    sel = df
    for k, v in eq.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, f"{len(sel)} rows for {eq}"
    return sel.iloc[0]


# --------------------------------------------------------------------------- pure helpers

@pytest.mark.parametrize("name, expected", [
    (f"samples_arc_easy_{TS}.jsonl", {"task": "arc_easy", "timestamp": TS}),
    ("samples_hendrycksTest-college_biology_2023-11-02T08-01-59.jsonl",
     {"task": "hendrycksTest-college_biology", "timestamp": "2023-11-02T08-01-59"}),
    ("samples_mmlu_abstract_algebra.jsonl", {"task": "mmlu_abstract_algebra", "timestamp": ""}),
    ("results_2024-05-01T12-00-00.json", {}),
])
def test_parse_samples_name(name, expected):
    assert parse_samples_name(name) == expected


@pytest.mark.parametrize("filtered, kind, payload", [
    ([[-1.0, False], [-0.5, True]], "choices", [(-1.0, False), (-0.5, True)]),
    ([["-1.0", "False"], ["-0.5", "True"]], "choices", [(-1.0, False), (-0.5, True)]),
    ([[-0.7, True]], "continuation", (-0.7, True)),
    (["42"], "generation", "42"),
    ([["42"]], "generation", "42"),
    ("42", "generation", "42"),
    ([-123.5], "rolling", -123.5),
    ([{"a": 1}], "unknown", None),
    ([], "unknown", None),
])
def test_classify_response(filtered, kind, payload):
    assert classify_response(filtered) == (kind, payload)


# --------------------------------------------------------------------------- parsing

def test_multiple_choice_examples(run_dir):
    b = parse(run_dir)
    ex = b.examples
    arc = ex[ex["task"] == "arc_easy"].sort_values("example_id")
    assert arc["example_id"].tolist() == ["0", "1", "2", "3"]
    assert [list(v) for v in arc["choice_logprobs"]] == [m[0] for m in MC]
    assert arc["correct_index"].tolist() == [0, 2, 2, 1]
    assert arc["n_choices"].tolist() == [3, 3, 3, 3]
    assert arc["correct"].tolist() == [True, False, True, True]
    # p_correct = softmax(logliks)[target]: doc 0: e^-1 / (e^-1 + e^-2 + e^-3)
    expected = [math.exp(ll[t]) / sum(math.exp(x) for x in ll) for ll, t, _ in MC]
    assert np.allclose(arc["p_correct"].to_numpy(dtype=float), expected)
    assert np.allclose(arc["loss"].to_numpy(dtype=float), [1.0, 3.0, 0.1, 1.0])
    r = arc.iloc[0]
    assert (r["model"], r["family"], r["params"], r["shots"], r["checkpoint_step"], r["tokens"]) == \
        ("pythia-160m", "Pythia", 162_322_944, 0, 13000, 13000 * TPS)
    assert not r["is_final"] and r["row_ref"] == "1" and r["source"] == "lm-eval-samples"
    assert r["source_file"] == f"EleutherAI__pythia-160m/samples_arc_easy_{TS}.jsonl"


def test_aggregates_from_per_document_metrics(run_dir):
    o = parse(run_dir).observations
    acc = one(o, task="arc_easy", source_metric="acc")
    vals = np.array([1.0, 0.0, 1.0, 1.0])
    assert acc["metric"] == "multiple_choice_grade" and acc["value"] == 0.75 and acc["n_examples"] == 4
    assert acc["stderr"] == pytest.approx(vals.std(ddof=1) / 2)     # sample std / sqrt(n) = 0.25
    assert (acc["shots"], acc["checkpoint_step"], acc["params"], acc["family"]) == (0, 13000, 162_322_944, "Pythia")
    norm = one(o, task="arc_easy", source_metric="acc_norm")
    assert (norm["metric"], norm["value"], norm["stderr"]) == ("accuracy_norm", 1.0, 0.0)
    lam = one(o, task="lambada_openai", source_metric="acc")
    assert (lam["metric"], lam["value"], lam["n_examples"]) == ("accuracy", 0.5, 2)
    # per-document perplexity is the log-likelihood; the harness aggregates it as exp(-mean)
    ppl = one(o, task="lambada_openai", source_metric="perplexity")
    assert ppl["metric"] == "perplexity" and ppl["value"] == pytest.approx(math.exp((0.7 + 3.2) / 2))
    assert pd.isna(ppl["stderr"]) and not ppl["higher_is_better"]


def test_aggregation_named_by_task_config(tmp_path):
    d = tmp_path / "EleutherAI__pythia-70m"
    recs = [mc_record(i, [-1.0, -2.0], 0, 1.0) for i in range(2)]
    write_jsonl(d / f"samples_piqa_{TS}.jsonl", recs)
    write_results(d, {"piqa": {"acc,none": 1.0}}, {"piqa": 0}, "pretrained=EleutherAI/pythia-70m",
                  configs={"piqa": {"metric_list": [{"metric": "acc", "aggregation": "mean"},
                                                    {"metric": "acc_norm", "aggregation": "median"}]}})
    b = parse(d)
    assert b.observations["source_metric"].tolist() == ["acc"]
    iss = b.issues_frame()
    assert iss[["kind", "field", "value"]].values.tolist() == [["not_aggregated", "acc_norm", "median"]]


def test_generative_examples_and_filter_variant(run_dir):
    b = parse(run_dir)
    g = b.examples[b.examples["task"] == "gsm8k"].sort_values("example_id")
    assert g["example_id"].tolist() == ["0:strict-match", "1:strict-match"]
    assert g["prediction"].tolist() == ["42", "8"] and g["target"].tolist() == ["42", "7"]
    assert g["correct"].tolist() == [True, False] and g["choice_logprobs"].isna().all()
    em = one(b.observations, task="gsm8k")
    assert (em["metric"], em["variant"], em["value"], em["shots"], em["n_examples"]) == \
        ("exact_match", "strict-match", 0.5, 5, 2)


def test_single_continuation_examples(run_dir):
    ex = parse(run_dir).examples
    lam = ex[ex["task"] == "lambada_openai"].sort_values("example_id")
    assert np.allclose(lam["loss"].to_numpy(dtype=float), [0.7, 3.2])
    assert lam["target"].tolist() == [" c", " f"] and lam["correct"].tolist() == [True, False]
    assert lam["n_choices"].isna().all()


def test_no_issues_on_clean_run(run_dir):
    b = parse(run_dir)
    assert b.issues_frame().empty
    assert sorted(b.files) == sorted([
        f"EleutherAI__pythia-160m/samples_arc_easy_{TS}.jsonl", f"EleutherAI__pythia-160m/samples_gsm8k_{TS}.jsonl",
        f"EleutherAI__pythia-160m/samples_lambada_openai_{TS}.jsonl", f"EleutherAI__pythia-160m/results_{TS}.json"])


def test_string_logliks_and_text_target(tmp_path):
    rec = mc_record(0, [-2.0, -1.0], " choice1", 1.0, as_strings=True)
    write_jsonl(tmp_path / "facebook__opt-125m" / f"samples_piqa_{TS}.jsonl", [rec])
    write_results(tmp_path / "facebook__opt-125m", {"piqa": {"acc,none": 1.0}}, {"piqa": 0},
                  "pretrained=facebook/opt-125m")
    b = parse(tmp_path)
    r = b.examples.iloc[0]
    assert list(r["choice_logprobs"]) == [-2.0, -1.0] and r["correct_index"] == 1
    assert (r["model"], r["family"], r["params"], bool(r["is_final"])) == ("opt-125m", "OPT", 125e6, True)
    assert pd.isna(r["checkpoint_step"])


def test_without_results_json_model_from_folder(tmp_path):
    write_jsonl(tmp_path / "EleutherAI__pythia-70m" / f"samples_piqa_{TS}.jsonl", [mc_record(0, [-1.0, -2.0], 0, 1.0)])
    b = parse(tmp_path)
    o = b.observations.iloc[0]
    assert (o["model"], o["family"], o["params"]) == ("pythia-70m", "Pythia", 70_426_624)
    assert pd.isna(o["shots"])
    iss = b.issues_frame()
    assert iss[["kind", "field"]].values.tolist() == [["missing_value", "shots"]]


def test_results_matched_by_timestamp(tmp_path):
    d = tmp_path / "run"
    write_jsonl(d / f"samples_piqa_{TS}.jsonl", [mc_record(0, [-1.0, -2.0], 0, 1.0)])
    write_results(d, {"piqa": {"acc,none": 1.0}}, {"piqa": 3}, "pretrained=EleutherAI/pythia-410m")
    write_results(d, {"piqa": {"acc,none": 1.0}}, {"piqa": 1}, "pretrained=EleutherAI/pythia-1b",
                  ts="2024-06-01T00-00-00")
    o = parse(d).observations.iloc[0]
    assert (o["model"], o["shots"]) == ("pythia-410m", 3)


def test_unknown_model_no_scale(tmp_path):
    d = tmp_path / "acme__widget-3b"
    write_jsonl(d / f"samples_piqa_{TS}.jsonl", [mc_record(0, [-1.0, -2.0], 0, 1.0)])
    write_results(d, {"piqa": {"acc,none": 1.0}}, {"piqa": 0}, "pretrained=acme/widget-3b")
    b = parse(d)
    assert pd.isna(b.observations.iloc[0]["params"]) and pd.isna(b.examples.iloc[0]["params"])
    assert b.issues_frame()["kind"].tolist() == ["no_scale"]


def test_duplicate_doc_and_unaggregated_metric_and_mismatch(tmp_path):
    d = tmp_path / "EleutherAI__pythia-70m"
    recs = [mc_record(0, [-1.0, -2.0], 0, 1.0), mc_record(0, [-1.0, -2.0], 0, 1.0), mc_record(1, [-1.0, -2.0], 1, 0.0)]
    for r in recs:
        r["word_perplexity"] = [-3.0, 2]     # loglikelihood_rolling style: (loglik, words), not a mean
        r["metrics"] = ["acc", "word_perplexity"]
    write_jsonl(d / f"samples_piqa_{TS}.jsonl", recs)
    write_results(d, {"piqa": {"acc,none": 0.9}}, {"piqa": 0}, "pretrained=EleutherAI/pythia-70m")
    b = parse(d)
    assert len(b.examples) == 2
    assert one(b.observations, source_metric="acc")["value"] == 0.5
    iss = b.issues_frame().set_index("kind")
    assert sorted(iss.index) == ["duplicate", "not_aggregated", "suspect_value"]
    assert iss.loc["duplicate", "row_ref"] == "2"
    assert iss.loc["not_aggregated", "field"] == "word_perplexity"
    assert iss.loc["suspect_value", "field"] == "acc,none"


def test_unrecognised_response_counted(tmp_path):
    d = tmp_path / "EleutherAI__pythia-70m"
    write_jsonl(d / f"samples_piqa_{TS}.jsonl",
                [mc_record(0, [-1.0, -2.0], 0, 1.0), {"doc_id": 1, "filtered_resps": [{"x": 1}], "acc": 0.0}])
    b = parse(d)
    assert len(b.examples) == 1
    iss = b.issues_frame()
    assert iss["kind"].tolist() == ["missing_value", "unrecognised_response"]
    assert one(b.observations, source_metric="acc")["n_examples"] == 2


@pytest.mark.parametrize("lines, row, fragment", [
    ([json.dumps(mc_record(0, [-1.0, -2.0], 0, 1.0)), '{"doc_id": 1, "target": 0, "filtered_resps": [[-1.0'],
     2, "invalid JSON"),
    ([json.dumps(mc_record(0, [-1.0, -2.0], 0, 1.0)), "[1, 2]"], 2, "not a JSON object"),
    (['{"target": 0, "filtered_resps": [[-1.0, false], [-2.0, false]], "acc": 1.0}'], 1, "without doc_id"),
])
def test_malformed_line_names_file_and_line(tmp_path, lines, row, fragment):
    p = write_jsonl(tmp_path / "m" / f"samples_piqa_{TS}.jsonl", lines)
    with pytest.raises(IngestError) as e:
        parse(tmp_path)
    assert e.value.row == row and fragment in str(e.value)
    assert f"m/samples_piqa_{TS}.jsonl" in str(e.value) and p.exists()


def test_no_samples_files(tmp_path):
    with pytest.raises(IngestError, match="no lm-eval --log_samples files"):
        parse(tmp_path)


def test_detect(run_dir, tmp_path):
    assert smp.detect(run_dir)
    assert not smp.detect(tmp_path / "nothing")
