"""Per-example sources: inverse-scaling-eval-pipeline, gpt3-multiplication-tables, monkeys-powerlaws.

Unit tests build each format in ``tmp_path`` from its documented schema and check exact parsed
values, every data rule and the bad-input errors; real-data tests check counts and values read
by hand from the raw files in ``../shared/data`` (each golden value says where it comes from).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emergence.ingestion.schema import EXAMPLE_COLUMNS, IngestError
from emergence.ingestion.sources import inverse_scaling as inv
from emergence.ingestion.sources import monkeys as mk
from emergence.ingestion.sources import multiplication as mul


def kinds(batch) -> dict[str, int]:
    return batch.issues_frame()["kind"].value_counts().to_dict()


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# =====================================================================================
# inverse-scaling-eval-pipeline: fixtures
# =====================================================================================
@pytest.mark.parametrize("name, task, token, shots", [
    ("boolq-0shot-gpt3", "boolq-0shot", "gpt3", 0),
    ("boolq-1shot-gpt2", "boolq-1shot", "gpt2", 1),
    ("gpt2_sentiment_nyu", "sentiment_nyu", "gpt2", None),
    ("anli_R1_gpt2_NYU", "anli_R1_NYU", "gpt2", None),
    ("QA-v1-gpt3-new", "QA-v1-new", "gpt3", None),
    ("QA-v2-gpt3-instruct", "QA-v2", "gpt3-instruct", None),
    ("syllogism-0shot-opt", "syllogism-0shot", "opt", 0),
    ("syllogism-gpt3-multitoken", "syllogism-multitoken", "gpt3", None),
    ("lambada_gpt2", "lambada", "gpt2", None),
    ("lambada-1k_gpt3", "lambada-1k", "gpt3", None),
    ("2022-03-09T15:59:55_escher", "escher", None, None),
    ("commonsense", "commonsense", None, None),
    ("ids-gpt3-seq", "ids-seq", "gpt3", None),
])
def test_split_experiment(name, task, token, shots):
    assert inv.split_experiment(name) == (task, token, shots)


@pytest.mark.parametrize("model, family", [
    ("gpt2", "GPT-2"), ("gpt2-xl", "GPT-2"), ("ada", "GPT-3"), ("davinci", "GPT-3"),
    ("text-ada-001", "InstructGPT"), ("text-davinci-001", "InstructGPT"), ("opt-1.3b", "OPT"), ("opt-125m", "OPT"),
])
def test_model_family(model, family):
    assert inv.model_family(model) == family


BOOLQ_DATA = (",prompt,classes,answer_index\n"
              "0,\"passage one\nquestion: a?\nanswer:\",\"[' yes', ' no']\",1\n"
              "1,\"passage two\",\"[' yes', ' no']\",0\n"
              "2,\"passage three\",\"[' yes', ' no']\",1\n")


def inverse_fixture(root: Path) -> Path:
    r = root / "results"
    write(r / "boolq-0shot-gpt3" / "data.csv", BOOLQ_DATA)
    # ada: rows 0 and 1 only (row 2 absent)
    write(r / "boolq-0shot-gpt3" / "ada.csv", "index,loss,correct,total_logprob\n0,0.2,1,-1.0\n1,1.5,0,-2.0\n")
    # davinci: an empty row, a repeated index, an index past the end of data.csv
    write(r / "boolq-0shot-gpt3" / "davinci.csv",
          "index,loss,correct,total_logprob\n0,0.1,1,-1\n1,,,\n1,0.3,1,-1\n1,0.9,0,-1\n2,0.4,1,-1\n7,0.2,1,-1\n")
    # 3-class task, old run (no correct column)
    write(r / "snli-1k-gpt2" / "data.csv",
          ",prompt,classes,answer_index\n0,p,\"[' True', ' False', ' Neither']\",2\n"
          "1,q,\"[' True', ' False', ' Neither']\",0\n")
    write(r / "snli-1k-gpt2" / "gpt2.csv", "index,loss\n0,0.5\n1,2.0\n")
    # 2-class task, old run: correct derived from p_correct (a tie at 0.5 goes to choice 0)
    write(r / "syllogism-gpt2" / "data.csv",
          ",prompt,classes,answer_index\n0,a,\"[' Yes', ' No']\",1\n1,b,\"[' Yes', ' No']\",0\n"
          "2,c,\"[' Yes', ' No']\",1\n")
    write(r / "syllogism-gpt2" / "gpt2.csv", f"index,loss\n0,0.3\n1,{math.log(2)!r}\n2,{math.log(2)!r}\n")
    # sequence tasks: target = completion, else the prompt's last word; the two lambada-1k collide
    write(r / "lambada_gpt3" / "data.csv", ",prompt\n0,the cat sat on the mat\n1,I don't care about signs\n")
    write(r / "lambada_gpt3" / "ada.csv", "index,loss\n0,3.5\n1,0.25\n")
    write(r / "lambada-1k-gpt3" / "data.csv", ",prompt\n0,a b c\n")
    write(r / "lambada-1k-gpt3" / "ada.csv", "index,loss\n0,1.0\n")
    write(r / "lambada-1k_gpt3" / "data.csv", ",prompt,completion\n0,a b, c\n")
    write(r / "lambada-1k_gpt3" / "ada.csv", "index,loss\n0,2.0\n")
    # log-odds task
    write(r / "QA-v0-gpt3" / "data.csv", ",prompt,classes,answer_index\n0,q,\"[' Yes', ' No']\",0\n"
                                          "1,r,\"[' Yes', ' No']\",1\n")
    write(r / "QA-v0-gpt3" / "curie.csv", "index,logodds,correct,total_logprob\n0,0.5,1,-1\n1,-0.2,0,-1\n")
    # an empty model file, and an experiment without data.csv
    write(r / "syllogism-0shot-opt" / "data.csv", ",prompt,classes,answer_index\n0,a,\"[' Yes', ' No']\",1\n")
    write(r / "syllogism-0shot-opt" / "opt-125m.csv", "index,loss,correct,total_logprob\n0,0.1,1,-1\n")
    write(r / "syllogism-0shot-opt" / "opt-2.7b.csv", "index,loss,correct,total_logprob\n")
    write(r / "boolq-1shot-gpt3" / "babbage.csv", "index,loss,correct,total_logprob\n0,0.4,1,-1\n")
    # a timestamped early run whose first column is a label, not the row position
    write(r / "2022-03-09T15:59:55_escher" / "data.csv",
          ",prompt,classes,answer_index\n1,x,\"[' Yes', ' No']\",1\n1,y,\"[' Yes', ' No']\",0\n")
    write(r / "2022-03-09T15:59:55_escher" / "ada.csv", "index,loss\n0,2.0\n1,0.1\n")
    return root


@pytest.fixture
def inv_batch(tmp_path):
    return inv.parse(inverse_fixture(tmp_path))


def ex_row(batch, task, model, example_id):
    e = batch.examples
    r = e[(e["task"] == task) & (e["model"] == model) & (e["example_id"] == str(example_id))]
    assert len(r) == 1, (task, model, example_id, len(r))
    return r.iloc[0]


def obs_row(batch, task, model, metric):
    o = batch.observations
    r = o[(o["task"] == task) & (o["model"] == model) & (o["metric"] == metric)]
    assert len(r) == 1, (task, model, metric, len(r))
    return r.iloc[0]


def test_inverse_classification_example(inv_batch):
    r = ex_row(inv_batch, "boolq-0shot", "ada", 1)
    assert r["p_correct"] == pytest.approx(math.exp(-1.5))
    assert r["loss"] == pytest.approx(1.5)
    assert r["correct"] == False  # noqa: E712 (pandas NA-aware bool)
    assert r["correct_index"] == 0 and r["n_choices"] == 2
    # full 2-choice distribution: [log p_0, log p_1] with p_0 the right one
    assert r["choice_logprobs"] == pytest.approx([-1.5, math.log1p(-math.exp(-1.5))])
    assert r["family"] == "GPT-3" and r["source_family"] == "gpt3" and r["shots"] == 0
    assert r["params"] == 350e6 and r["params_estimate"] == True  # noqa: E712
    assert r["source_file"] == "results/boolq-0shot-gpt3/ada.csv" and r["row_ref"] == "3"
    assert isinstance(r["content_hash"], str) and len(r["content_hash"]) == 64
    r0 = ex_row(inv_batch, "boolq-0shot", "ada", 0)     # answer_index 1: the right choice is second
    assert r0["choice_logprobs"] == pytest.approx([math.log1p(-math.exp(-0.2)), -0.2])


def test_inverse_three_classes_keep_p_correct_only(inv_batch):
    r = ex_row(inv_batch, "snli-1k", "gpt2", 0)
    assert r["p_correct"] == pytest.approx(math.exp(-0.5))
    assert r["n_choices"] == 3 and r["correct_index"] == 2
    assert pd.isna(r["correct"]) and r["choice_logprobs"] is None
    o = inv_batch.observations
    assert not ((o["task"] == "snli-1k") & (o["metric"] == "multiple_choice_grade")).any()
    assert obs_row(inv_batch, "snli-1k", "gpt2", "neg_log_likelihood")["value"] == pytest.approx(1.25)


@pytest.mark.parametrize("example_id, correct", [(0, True), (1, True), (2, False)])
def test_inverse_derived_correct_for_two_classes(inv_batch, example_id, correct):
    # p = exp(-0.3) > 0.5 -> right; p = 0.5 ties go to choice 0 (np.argmax): right iff answer_index == 0
    assert bool(ex_row(inv_batch, "syllogism", "gpt2", example_id)["correct"]) is correct


def test_inverse_derived_grade_is_labelled(inv_batch):
    r = obs_row(inv_batch, "syllogism", "gpt2", "multiple_choice_grade")
    assert r["source_metric"] == "exp(-loss)>0.5"
    assert r["value"] == pytest.approx(2 / 3)


def test_inverse_aggregates(inv_batch):
    r = obs_row(inv_batch, "boolq-0shot", "davinci", "multiple_choice_grade")
    # davinci rows kept: index 0 (1), 1 (first of the repeated non-empty rows: 1), 2 (1)
    assert r["value"] == pytest.approx(1.0) and r["n_examples"] == 3
    assert r["source_metric"] == "correct" and r["random_baseline"] == 0.5
    assert r["stderr"] == pytest.approx(0.0)
    a = obs_row(inv_batch, "boolq-0shot", "ada", "multiple_choice_grade")
    assert a["value"] == pytest.approx(0.5) and a["stderr"] == pytest.approx(math.sqrt(0.25 / 2))
    nll = obs_row(inv_batch, "boolq-0shot", "ada", "neg_log_likelihood")
    assert nll["value"] == pytest.approx(0.85) and nll["source_metric"] == "loss"
    assert nll["stderr"] == pytest.approx(np.std([0.2, 1.5], ddof=1) / math.sqrt(2))
    assert nll["higher_is_better"] == False  # noqa: E712


def test_inverse_davinci_rows(inv_batch):
    e = inv_batch.examples
    d = e[(e["task"] == "boolq-0shot") & (e["model"] == "davinci")]
    assert sorted(d["example_id"]) == ["0", "1", "2"]
    assert ex_row(inv_batch, "boolq-0shot", "davinci", 1)["loss"] == pytest.approx(0.3)


def test_inverse_issues(inv_batch):
    iss = inv_batch.issues_frame()
    det = dict(zip(iss["source_file"] + "|" + iss["kind"] + "|" + iss["field"], iss["detail"]))
    assert "1 of 3 rows" in det["results/boolq-0shot-gpt3/ada.csv|missing_value|index"]
    assert det["results/boolq-0shot-gpt3/davinci.csv|missing_value|loss"].startswith("1 rows without a result")
    assert det["results/boolq-0shot-gpt3/davinci.csv|duplicate|index"].startswith("1 rows repeat")
    assert "past the end" in det["results/boolq-0shot-gpt3/davinci.csv|orphan|index"]
    assert "no rows" in det["results/syllogism-0shot-opt/opt-2.7b.csv|missing_value|rows"]
    assert "results/boolq-1shot-gpt3/data.csv|missing_value|data.csv" in det
    assert "results/QA-v0-gpt3|unsupported|logodds" in det
    assert kinds(inv_batch)["config_mismatch"] == 2


def test_inverse_sequence_targets_and_collision(inv_batch):
    assert ex_row(inv_batch, "lambada", "ada", 1)["target"] == "signs"
    assert ex_row(inv_batch, "lambada", "ada", 0)["loss"] == pytest.approx(3.5)
    assert pd.isna(ex_row(inv_batch, "lambada", "ada", 0)["p_correct"])
    # lambada-1k-gpt3 and lambada-1k_gpt3 both map to lambada-1k for GPT-3: each keeps its folder name
    assert ex_row(inv_batch, "lambada-1k_gpt3", "ada", 0)["target"] == " c"
    assert ex_row(inv_batch, "lambada-1k-gpt3", "ada", 0)["target"] == "c"
    assert "lambada-1k" not in set(inv_batch.examples["task"])


def test_inverse_logodds_keeps_correct_only(inv_batch):
    r = ex_row(inv_batch, "QA-v0", "curie", 1)
    assert r["correct"] == False and pd.isna(r["loss"]) and pd.isna(r["p_correct"])  # noqa: E712
    assert r["correct_index"] == 1 and r["n_choices"] == 2
    assert obs_row(inv_batch, "QA-v0", "curie", "multiple_choice_grade")["value"] == pytest.approx(0.5)


def test_inverse_no_data_csv(inv_batch):
    r = ex_row(inv_batch, "boolq-1shot", "babbage", 0)
    assert r["p_correct"] == pytest.approx(math.exp(-0.4)) and r["correct"] == True  # noqa: E712
    assert pd.isna(r["n_choices"]) and r["choice_logprobs"] is None and r["shots"] == 1


def test_inverse_joins_by_position_not_first_column(inv_batch):
    # escher's first column is a label (1, 1); index 1 is the second row (answer_index 0)
    r = ex_row(inv_batch, "escher", "ada", 1)
    assert r["correct_index"] == 0 and r["correct"] == True  # noqa: E712
    assert pd.isna(r["source_family"]) and r["family"] == "GPT-3"


def test_inverse_examples_schema(inv_batch):
    assert list(inv_batch.examples.columns) == list(EXAMPLE_COLUMNS)
    assert inv_batch.examples["is_final"].all()


@pytest.mark.parametrize("relpath, text, field, value", [
    ("results/x-gpt2/data.csv", ",prompt,classes,answer_index\n0,p,not a list,0\n", "classes", "not a list"),
    ("results/x-gpt2/data.csv", ",prompt,classes,answer_index\n0,p,\"[' a', ' b']\",2\n", "answer_index", "2"),
    ("results/x-gpt2/gpt2.csv", "index,loss\n0,abc\n", "loss", "abc"),
    ("results/x-gpt2/gpt2.csv", "index,loss\n0,-0.5\n", "loss", "-0.5"),
    ("results/x-gpt2/gpt2.csv", "index,loss\n0,inf\n", "loss", "inf"),
    ("results/x-gpt2/gpt2.csv", "index,loss,correct\n0,0.5,2\n", "correct", "2"),
    ("results/x-gpt2/gpt2.csv", "index,loss\n0.5,0.5\n", "index", "0.5"),
    ("results/x-gpt2/gpt2.csv", "index,score\n0,0.5\n", "loss", None),
])
def test_inverse_bad_input(tmp_path, relpath, text, field, value):
    write(tmp_path / "results/x-gpt2/data.csv", ",prompt,classes,answer_index\n0,p,\"[' a', ' b']\",0\n")
    write(tmp_path / "results/x-gpt2/gpt2.csv", "index,loss\n0,0.5\n")
    write(tmp_path / relpath, text)
    with pytest.raises(IngestError) as e:
        inv.parse(tmp_path)
    assert e.value.file == relpath and e.value.field == field
    if value is not None:
        assert str(e.value.value) == value


def test_inverse_no_results(tmp_path):
    with pytest.raises(IngestError, match="no inverse-scaling results"):
        inv.parse(tmp_path)


# =====================================================================================
# inverse-scaling-eval-pipeline: real data
# =====================================================================================
@pytest.fixture(scope="module")
def inv_real(shared_data):
    root = shared_data / "inverse-scaling-eval-pipeline"
    return root, inv.parse(root), None      # its time: bench/bench_timings.py


def test_inverse_real_counts(inv_real):
    _, b, _ = inv_real
    # 221 model files: 48 log-odds, 2 empty.  352 aggregates: 171 NLL (the 171 non-empty files with a
    # loss) and 181 grades (153 non-empty files with a correct column + 28 two-class runs without one)
    assert len(b.examples) == 312_478
    assert len(b.observations) == 352
    assert kinds(b) == {"missing_value": 21, "unsupported": 12, "config_mismatch": 2}
    assert (b.observations["metric"] == "neg_log_likelihood").sum() == 171
    assert (b.observations["metric"] == "multiple_choice_grade").sum() == 181


def test_inverse_real_boolq_davinci(inv_real):
    root, b, _ = inv_real
    e = b.examples
    d = e[(e["task"] == "boolq-0shot") & (e["family"] == "GPT-3") & (e["model"] == "davinci")]
    # results/boolq-0shot-gpt3/davinci.csv: 3,270 data rows (no trailing newline), indices 0..3269
    assert len(d) == 3270
    # line 7 of that file: "5,0.5739360451698303,1,-1.225144386291504"
    r = d[d["example_id"] == "5"].iloc[0]
    assert r["loss"] == 0.5739360451698303
    assert r["p_correct"] == pytest.approx(math.exp(-0.5739360451698303), rel=1e-12)
    assert r["correct"] == True and r["row_ref"] == "7"  # noqa: E712
    # the grade equals the mean of the file's correct column, computed independently here
    raw = pd.read_csv(root / "results/boolq-0shot-gpt3/davinci.csv")
    o = obs_row(b, "boolq-0shot", "davinci", "multiple_choice_grade")
    assert o["value"] == pytest.approx(raw["correct"].mean()) and o["n_examples"] == 3270
    assert o["value"] == pytest.approx(0.763914, abs=1e-6)


@pytest.mark.parametrize("task, model, n", [
    ("dice-0shot", "gpt2", 1560),          # 4,680 lines, 3,120 of them empty placeholders
    ("lambada", "babbage", 4000),          # babbage ran 4,000 of 5,153
    ("lambada", "davinci", 5153),
    ("anli_all", "curie", 3197),           # 3 of 3,200 absent
    ("escher", "davinci", 18),
    ("boolq-noq", "ada", 3270),            # 30 empty rows past the end of data.csv
    ("QA-v2", "text-davinci-001", 40),
    ("syllogism-0shot", "opt-350m", 1000),
    ("snli", "gpt2-xl", 10000),
])
def test_inverse_real_example_counts(inv_real, task, model, n):
    e = inv_real[1].examples
    assert ((e["task"] == task) & (e["model"] == model)).sum() == n


@pytest.mark.parametrize("model, family, params, estimate", [
    ("gpt2", "GPT-2", 124_439_808, False), ("gpt2-xl", "GPT-2", 1_557_611_200, False),
    ("ada", "GPT-3", 350e6, True), ("davinci", "GPT-3", 175e9, True),
    ("text-curie-001", "InstructGPT", 6.7e9, True), ("opt-1.3b", "OPT", 1.3e9, False),
])
def test_inverse_real_sizes(inv_real, model, family, params, estimate):
    e = inv_real[1].examples
    r = e[e["model"] == model].iloc[0]
    assert r["family"] == family and r["params"] == params and bool(r["params_estimate"]) is estimate


def test_inverse_real_empty_files_are_issues(inv_real):
    iss = inv_real[1].issues_frame()
    empty = set(iss.loc[iss["field"] == "rows", "source_file"])
    assert empty == {"results/syllogism-0shot-opt/opt-2.7b.csv", "results/anli_r1-gpt2/gpt2-large.csv"}


def test_inverse_real_two_class_distribution_sums_to_one(inv_real):
    e = inv_real[1].examples
    two = e[e["choice_logprobs"].notna()]
    lp = np.array(two["choice_logprobs"].tolist())
    assert np.allclose(np.exp(lp).sum(axis=1), 1.0)
    assert len(two) == 164_693


# =====================================================================================
# gpt3-multiplication-tables: fixtures
# =====================================================================================
def mult_fixture(root: Path) -> Path:
    d = root / "data"
    # range 0..1 (4 problems): all present, one empty completion, one 'NA' string
    write(d / "multiplication_data_GPT3-text-ada-001_0_2.csv", b"a,b,completion\n0,0,0\n0,1,NA\n1,0,\x92\n1,1,\n")
    write(d / "multiplication_data_HF-EleutherAI-gpt-neo-1.3B_0_2.csv", "a,b,completion\n0,0,0\n1,1,1\n1,1,2\n")
    write(d / "multiplication_data_StubAnswerer_0_2.csv", "a,b,completion\n0,0,66\n0,1,66\n1,0,66\n1,1,66\n")
    write(d / "prompt.csv", "a,b,completion\n41,70,2870\n")
    return root


@pytest.fixture
def mult_batch(tmp_path):
    return mul.parse(mult_fixture(tmp_path))


def test_mult_examples(mult_batch):
    e = mult_batch.examples.set_index(["model", "example_id"])
    assert len(mult_batch.observations) == 0
    assert e.loc[("text-ada-001", "1*1"), "prediction"] == ""          # empty completion: empty prediction
    assert e.loc[("text-ada-001", "0*1"), "prediction"] == "NA"        # NA-like text stays text
    assert e.loc[("text-ada-001", "1*0"), "prediction"] == "\u2019"    # cp1252 0x92
    assert e.loc[("text-ada-001", "1*1"), "target"] == "1"
    r = e.loc[("text-ada-001", "0*0")]
    assert r["task"] == "two_digit_multiplication" and r["shots"] == 3 and r["prompt_variant"] == ""
    assert r["family"] == "InstructGPT" and r["source_family"] == "GPT3" and r["params"] == 350e6
    assert e.loc[("gpt-neo-1.3B", "1*1"), "prediction"] == "1"          # first of the repeated pair
    assert e.loc[("gpt-neo-1.3B", "1*1"), "family"] == "GPT-Neo/J"
    stub = e.loc[("StubAnswerer", "0*0")]
    assert stub["family"] == "baseline" and pd.isna(stub["params"])
    assert set(mult_batch.examples["task"]) == {"two_digit_multiplication"}     # prompt.csv is not data


def test_mult_issues(mult_batch):
    iss = mult_batch.issues_frame()
    by = {(k, f.split("_data_")[-1]): d for k, f, d in zip(iss["kind"], iss["source_file"], iss["detail"])}
    assert "cp1252" in by[("encoding", "GPT3-text-ada-001_0_2.csv")]
    assert by[("missing_value", "GPT3-text-ada-001_0_2.csv")].startswith("1 empty completions")
    assert by[("duplicate", "HF-EleutherAI-gpt-neo-1.3B_0_2.csv")].startswith("1 rows repeat")
    assert by[("missing_value", "HF-EleutherAI-gpt-neo-1.3B_0_2.csv")].startswith("2 of the 4 problems")
    assert "stub" in by[("no_scale", "StubAnswerer_0_2.csv")]
    assert (iss["kind"] == "no_scale").sum() == 1     # the stub's own issue, no generic one on top


@pytest.mark.parametrize("text, field, value", [
    ("a,b,completion\nx,1,2\n", "a", "x"),
    ("a,b,completion\n1,-1,2\n", "b", "-1"),
    ("a,b\n1,1\n", "completion", None),
    ("", None, None),
])
def test_mult_bad_input(tmp_path, text, field, value):
    write(tmp_path / "data/multiplication_data_gpt2_0_2.csv", text)
    with pytest.raises(IngestError) as e:
        mul.parse(tmp_path)
    assert e.value.file == "data/multiplication_data_gpt2_0_2.csv" and e.value.field == field
    if value is not None:
        assert e.value.value == value and e.value.row == 2


# =====================================================================================
# gpt3-multiplication-tables: real data
# =====================================================================================
@pytest.fixture(scope="module")
def mult_real(shared_data):
    return mul.parse(shared_data / "gpt3-multiplication-tables")


# PROVENANCE.md's exact-match table (completion == str(a*b)), recomputed here from the example rows
@pytest.mark.parametrize("model, family, em", [
    ("text-ada-001", "InstructGPT", 0.0054), ("text-babbage-001", "InstructGPT", 0.0482),
    ("text-curie-001", "InstructGPT", 0.0881), ("text-davinci-003", "InstructGPT", 0.9115),
    ("gpt2", "GPT-2", 0.0128), ("gpt-neo-1.3B", "GPT-Neo/J", 0.0554), ("StubAnswerer", "baseline", 0.0008),
])
def test_mult_real_exact_match(mult_real, model, family, em):
    e = mult_real.examples[mult_real.examples["model"] == model]
    assert len(e) == 10_000 and e["example_id"].nunique() == 10_000
    assert set(e["family"]) == {family}
    assert (e["prediction"] == e["target"]).mean() == pytest.approx(em, abs=1e-12)


def test_mult_real_issues(mult_real):
    iss = mult_real.issues_frame()
    assert kinds(mult_real) == {"encoding": 1, "missing_value": 1, "config_mismatch": 1, "no_scale": 1}
    enc = iss[iss["kind"] == "encoding"].iloc[0]
    # a=20, b=48 is data row 2,049 -> line 2,050; the byte 0x92 is a right single quote in cp1252
    assert enc["source_file"].endswith("GPT3-text-ada-001_0_100.csv") and enc["row_ref"] == "2050"
    assert iss[iss["kind"] == "missing_value"].iloc[0]["detail"].startswith("547 empty completions")
    e = mult_real.examples.set_index(["model", "example_id"])
    assert e.loc[("text-ada-001", "20*48"), "prediction"] == "\u2019"
    assert e.loc[("text-davinci-003", "20*48"), "prediction"] == "960"


# =====================================================================================
# monkeys-powerlaws: fixtures
# =====================================================================================
META_CSV = ("Model Family,Model Nickname,HuggingFace Path,HuggingFace Revision,Tokens,Parameters\n"
            "Pythia,Pythia_70M_2B,EleutherAI/pythia-70m,step1000,2000000000,70000000\n"
            "Pythia,Pythia_70M_300B,EleutherAI/pythia-70m,step143000,300000000000,70000000\n"
            "Pythia,Pythia_1B_300B,EleutherAI/pythia-1b,step143000,300000000000,1000000000\n")


def monkeys_fixture(root: Path, *, with_nll: bool = True) -> Path:
    d = root / "data"
    (d / "processed_data").mkdir(parents=True)
    (d / "raw_data/large_language_monkeys").mkdir(parents=True)
    rows = []
    for model, correct in (("Pythia 70M", [0, 10, 0]), ("Pythia 1B", [5, 100, 1])):
        for prob, c in zip((3, 7, 9), correct):
            for k in (1, 10):
                p1 = c / 1000
                score = p1 if k == 1 else 1 - (1 - p1) ** 10
                rows.append({"Model": model, "Benchmark": "MATH", "Problem Idx": prob, "Num. Samples Total": 1000,
                             "Num. Samples Correct": float(c), "Scaling Parameter": k, "Score": score})
    pd.DataFrame(rows).to_parquet(d / "processed_data/large_language_monkeys_original_pass_at_k.parquet")
    raw = []
    for nick, counts in (("Pythia_70M_2B", [(128, 0), (128, 2)]), ("Pythia_70M_300B", [(640, 3), (128, 0)]),
                         ("Pythia_1B_300B", [(128, 64)])):
        for prob, (n, c) in zip((12, 20), counts):
            for k in (1, 4):
                raw.append({"Model Nickname": nick, "prompt_idx": prob, "Num. Samples": n,
                            "Num. Samples Correct": float(c), "Inference Compute": 1.0, "k": k,
                            "pass@k": c / n if k == 1 else min(1.0, 4 * c / n), "neg_log_pass@k": 0.0})
    pd.DataFrame(raw).to_parquet(d / "raw_data/large_language_monkeys/gsm8k_pass_at_k.parquet")
    write(d / "raw_data/gpt4_gsm8k/models_pythia.csv", META_CSV)
    if with_nll:
        pd.DataFrame({"Model": ["Pythia_70M_2B", "Pythia_70M_2B", "Pythia_1B_300B"], "Problem Idx": [0, 1, 0],
                      "Neg Log Score": [50.0, 70.0, 30.0], "Model Family": "Pythia",
                      "Scaling Parameter": [8.4e17, 8.4e17, 1.8e21], "Score": 0.0, "Log Score": 0.0}) \
            .to_parquet(d / "processed_data/gpt4_gsm8k_neg_log_likelihood.parquet")
    pd.DataFrame({"Log Score": [-1.0]}).to_parquet(d / "processed_data/pretraining_probability.parquet")
    return root


@pytest.fixture
def mk_batch(tmp_path):
    return mk.parse(monkeys_fixture(tmp_path))


def test_monkeys_original_examples(mk_batch):
    e = mk_batch.examples
    a = e[e["subtask"] == "large_language_monkeys_original_pass_at_k"].set_index(["model", "example_id"])
    assert len(a) == 6                                      # k == 1 rows only
    r = a.loc[("Pythia 1B", "7")]
    assert r["task"] == "MATH" and r["n_samples"] == 1000 and r["n_correct"] == 100
    assert r["family"] == "Pythia" and r["params"] == 1_011_781_632      # data/models/monkeys.csv
    assert r["is_final"] == True and pd.isna(r["checkpoint_step"])  # noqa: E712


def test_monkeys_original_observations(mk_batch):
    o = mk_batch.observations
    a = o[o["subtask"] == "large_language_monkeys_original_pass_at_k"].set_index(["model", "metric", "variant"])
    r = a.loc[("Pythia 70M", "pass_rate", "")]
    assert r["value"] == pytest.approx(10 / 3000) and r["n_examples"] == 3 and r["source_metric"] == "Score"
    assert r["stderr"] == pytest.approx(np.std([0, 0.01, 0], ddof=1) / math.sqrt(3))
    assert a.loc[("Pythia 1B", "pass_at_k", "k=10"), "value"] == pytest.approx(
        np.mean([1 - (1 - p) ** 10 for p in (0.005, 0.1, 0.001)]))
    assert a.loc[("Pythia 1B", "pass_at_k", "k=1"), "value"] == a.loc[("Pythia 1B", "pass_rate", ""), "value"]
    assert set(a.index.get_level_values("variant")) == {"", "k=1", "k=10"}


def test_monkeys_checkpoints(mk_batch):
    e = mk_batch.examples
    b = e[e["subtask"] == "gsm8k_pass_at_k"].set_index(["model", "example_id"])
    assert len(b) == 5 and set(b["task"]) == {"GSM8K"}
    r = b.loc[("Pythia_70M_300B", "12")]
    assert r["n_samples"] == 640 and r["n_correct"] == 3
    assert r["checkpoint_step"] == 143000 and r["is_final"] == True and r["tokens"] == 3e11  # noqa: E712
    assert r["params"] == 70e6 and r["family"] == "Pythia"
    early = b.loc[("Pythia_70M_2B", "20")]
    assert early["checkpoint_step"] == 1000 and early["is_final"] == False  # noqa: E712
    o = mk_batch.observations
    ob = o[(o["subtask"] == "gsm8k_pass_at_k")].set_index("model")
    assert ob.loc["Pythia_70M_2B", "value"] == pytest.approx(1 / 128)
    assert ob.loc["Pythia_70M_2B", "metric"] == "pass_rate" and ob.loc["Pythia_70M_2B", "tokens"] == 2e9
    assert ob.loc["Pythia_1B_300B", "n_examples"] == 1


def test_monkeys_nll(mk_batch):
    e = mk_batch.examples
    c = e[e["subtask"] == "gpt4_gsm8k_neg_log_likelihood"].set_index(["model", "example_id"])
    assert c.loc[("Pythia_70M_2B", "1"), "loss"] == 70.0
    o = mk_batch.observations
    r = o[(o["metric"] == "neg_log_likelihood") & (o["model"] == "Pythia_70M_2B")].iloc[0]
    assert r["value"] == 60.0 and r["flops"] == 8.4e17 and r["is_final"] == False  # noqa: E712
    assert r["higher_is_better"] == False  # noqa: E712


def test_monkeys_issues(mk_batch):
    iss = mk_batch.issues_frame()
    got = {(k, Path(f).name) for k, f in zip(iss["kind"], iss["source_file"])}
    assert ("missing_value", "gsm8k_pass_at_k.parquet") in got        # Pythia_1B_300B: 1 of 2 problems
    assert ("config_mismatch", "gpt4_gsm8k_neg_log_likelihood.parquet") in got
    assert ("unsupported", "pretraining_probability.parquet") in got


def test_monkeys_unknown_checkpoint(tmp_path):
    root = monkeys_fixture(tmp_path, with_nll=False)
    write(root / "data/raw_data/gpt4_gsm8k/models_pythia.csv", META_CSV.rsplit("\n", 2)[0] + "\n")  # drop 1B
    b = mk.parse(root)
    e = b.examples
    r = e[(e["model"] == "Pythia_1B_300B")].iloc[0]
    assert pd.isna(r["params"]) and pd.isna(r["checkpoint_step"])
    iss = b.issues_frame()
    assert ((iss["kind"] == "no_scale") & (iss["value"] == "Pythia_1B_300B")).sum() == 1


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.assign(**{"Num. Samples Correct": d["Num. Samples Correct"] + 2000}), "Num. Samples Correct"),
    (lambda d: d.assign(**{"Num. Samples Correct": d["Num. Samples Correct"] + 0.5}), "Num. Samples Correct"),
    (lambda d: d.assign(Score=d["Score"] + 2), "Score"),
    (lambda d: d.drop(columns=["Benchmark"]), "Benchmark"),
])
def test_monkeys_bad_original(tmp_path, mutate, field):
    root = monkeys_fixture(tmp_path)
    p = root / mk.ORIGINAL
    mutate(pd.read_parquet(p)).to_parquet(p)
    with pytest.raises(IngestError) as e:
        mk.parse(root)
    assert e.value.file == mk.ORIGINAL and e.value.field == field


def test_monkeys_corrupt_parquet(tmp_path):
    root = monkeys_fixture(tmp_path)
    (root / mk.NLL).write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(IngestError, match="not a readable parquet") as e:
        mk.parse(root)
    assert e.value.file == mk.NLL


def test_monkeys_bad_revision(tmp_path):
    root = monkeys_fixture(tmp_path)
    write(root / mk.META, META_CSV.replace("step1000", "main"))
    with pytest.raises(IngestError) as e:
        mk.parse(root)
    assert e.value.field == "HuggingFace Revision" and e.value.value == "main" and e.value.row == 2


def test_monkeys_nothing_there(tmp_path):
    with pytest.raises(IngestError, match="no monkeys-powerlaws"):
        mk.parse(tmp_path)


# =====================================================================================
# monkeys-powerlaws: real data
# =====================================================================================
@pytest.fixture(scope="module")
def mk_real(shared_data):
    return mk.parse(shared_data / "monkeys-powerlaws")


# PROVENANCE.md: problems never solved in 10,000 samples, per size; mean pass@1 from the raw Score column
@pytest.mark.parametrize("model, never, mean_pass1", [
    ("Pythia 70M", 94, 0.000647), ("Pythia 160M", 55, 0.002673), ("Pythia 410M", 44, 0.006219),
    ("Pythia 1B", 33, 0.008334), ("Pythia 2.8B", 24, 0.020312), ("Pythia 6.9B", 21, 0.018560),
    ("Pythia 12B", 16, 0.023191),
])
def test_monkeys_real_original(mk_real, model, never, mean_pass1):
    e = mk_real.examples
    a = e[(e["subtask"] == "large_language_monkeys_original_pass_at_k") & (e["model"] == model)]
    assert len(a) == 128 and (a["n_samples"] == 10_000).all()
    assert (a["n_correct"] == 0).sum() == never
    o = mk_real.observations
    r = o[(o["model"] == model) & (o["metric"] == "pass_rate")].iloc[0]
    assert r["value"] == pytest.approx(mean_pass1, abs=5e-7)
    assert r["value"] == pytest.approx((a["n_correct"] / a["n_samples"]).mean(), rel=1e-9)


def test_monkeys_real_counts(mk_real):
    e = mk_real.examples
    sizes = e.groupby("subtask")["model"].nunique().to_dict()
    assert sizes == {"large_language_monkeys_original_pass_at_k": 7, "gsm8k_pass_at_k": 81, "math_pass_at_k": 72,
                     "gpt4_gsm8k_neg_log_likelihood": 9}
    assert e.groupby("subtask").size().to_dict() == {
        "large_language_monkeys_original_pass_at_k": 896, "gsm8k_pass_at_k": 10_273, "math_pass_at_k": 9_097,
        "gpt4_gsm8k_neg_log_likelihood": 11_871}
    assert len(mk_real.observations) == 204     # 7 pass_rate + 35 pass@k + 81 + 72 pass_rate + 9 NLL
    assert kinds(mk_real) == {"missing_value": 2, "config_mismatch": 1, "duplicate": 1, "unsupported": 1}


def test_monkeys_real_checkpoints(mk_real):
    e = mk_real.examples
    g = e[e["subtask"] == "gsm8k_pass_at_k"]
    assert (g["model"] == "Pythia_12B_2M").sum() == 30                 # the partial checkpoint
    fin = g.groupby("model")["is_final"].first()
    assert sorted(fin[fin].index) == sorted(f"Pythia_{s}_300B" for s in
                                            ("14M", "70M", "160M", "410M", "1B", "1.4B", "2.8B", "6.9B", "12B"))
    r = g[g["model"] == "Pythia_410M_20B"].iloc[0]
    assert r["checkpoint_step"] == 10000 and r["tokens"] == 20e9 and r["params"] == 410e6


def test_monkeys_real_processed_duplicate(mk_real):
    iss = mk_real.issues_frame()
    d = iss[iss["kind"] == "duplicate"].iloc[0]
    assert d["source_file"] == mk.PROCESSED_DUP and d["detail"].startswith("all 1792 rows")


# =====================================================================================
# detection on the real folders
# =====================================================================================
@pytest.mark.parametrize("module, folder", [
    (inv, "inverse-scaling-eval-pipeline"), (mul, "gpt3-multiplication-tables"), (mk, "monkeys-powerlaws")])
def test_detect_claims_only_its_folder(shared_data, module, folder):
    claimed = {p.name for p in shared_data.iterdir() if p.is_dir() and module.detect(p)}
    assert claimed == {folder}
