"""Re-scoring the same outputs: Brier, grade, exact match, edit distance, intervals, aggregation."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emergence.analysis.rescore import (aggregate_examples, bootstrap_interval, brier_binary, brier_from_logprobs,
                               choice_probabilities, edit_distance, exact_match, multiple_choice_grade,
                               wilson_interval)
from emergence.ingestion.schema import OBSERVATION_COLUMNS

L = math.log


# ----------------------------------------------------------------------------- Brier and grade
@pytest.mark.parametrize("logprobs, correct, expected", [
    ([0.0, 0.0], 0, 0.5),                              # (0.5-1)^2 + 0.5^2
    ([L(2), L(2)], 1, 0.5),                            # unnormalised: same distribution
    ([L(0.7), L(0.2), L(0.1)], 1, 1.14),               # 0.7^2 + 0.8^2 + 0.1^2 = 0.49 + 0.64 + 0.01
    ([0.0, -math.inf], 0, 0.0),                        # certain and right
    ([0.0, -math.inf], 1, 2.0),                        # certain and wrong: the maximum
    ([L(0.9), L(0.1)], 0, 0.02),                       # 0.1^2 + 0.1^2
])
def test_brier_from_logprobs_golden(logprobs, correct, expected):
    assert brier_from_logprobs([logprobs], [correct])[0] == pytest.approx(expected)


def test_brier_ragged_rows_and_missing():
    got = brier_from_logprobs([[0.0, 0.0], [L(0.7), L(0.2), L(0.1)], None], [0, 1, None])
    np.testing.assert_allclose(got, [0.5, 1.14, np.nan], equal_nan=True)


def test_brier_rejects_an_index_outside_the_choices():
    with pytest.raises(ValueError, match="question 1: correct_index 2 is not one of its 2 choices"):
        brier_from_logprobs([[0.0, 0.0, 0.0], [0.0, 0.0]], [0, 2])


@pytest.mark.parametrize("p, expected", [(1.0, 0.0), (0.7, 0.09), (0.5, 0.25), (0.0, 1.0)])
def test_brier_binary(p, expected):
    assert brier_binary([p])[0] == pytest.approx(expected)


def test_brier_binary_rejects_a_probability_outside_0_1():
    with pytest.raises(ValueError, match="p_correct must lie in"):
        brier_binary([0.2, 1.5])


@pytest.mark.parametrize("scores, correct, expected", [
    ([0.1, 0.9], 1, 1.0),
    ([0.9, 0.1], 1, 0.0),
    ([0.5, 0.5], 0, 0.0),               # tie: strict rule, wrong even when listed first
    ([0.5, 0.5], 1, 0.0),
    ([L(0.2), L(0.5), L(0.3)], 1, 1.0),  # log-probabilities work the same
    ([0.0], 0, 1.0),                    # a single choice is trivially right
])
def test_multiple_choice_grade_golden(scores, correct, expected):
    assert multiple_choice_grade([scores], [correct])[0] == expected


probs = st.lists(st.floats(1e-6, 1.0), min_size=2, max_size=6)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.lists(st.floats(-30, 5), min_size=1, max_size=6), min_size=1, max_size=8), st.data())
def test_multiclass_brier_lies_in_0_2(rows, data):
    correct = [data.draw(st.integers(0, len(r) - 1)) for r in rows]
    bs = brier_from_logprobs(rows, correct)
    assert ((bs >= 0) & (bs <= 2 + 1e-12)).all()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(probs, st.data())
def test_grade_from_probabilities_equals_argmax(p, data):
    c = data.draw(st.integers(0, len(p) - 1))
    arr = np.asarray(p)
    unique_max = (arr == arr.max()).sum() == 1
    expected = float(int(np.argmax(arr)) == c) if unique_max else 0.0   # ties: strict rule
    assert multiple_choice_grade([p], [c])[0] == expected
    # the same grade from log-probabilities and from the softmax probabilities
    assert multiple_choice_grade(choice_probabilities([np.log(arr)]), [c])[0] == expected


# ----------------------------------------------------------------------------- text
@pytest.mark.parametrize("pred, target, expected", [
    (" 42\n", "42", 1.0),       # only surrounding whitespace is stripped
    ("2,880", "2880", 0.0),     # punctuation counts
    ("abc", "ABC", 0.0),        # case counts
    ("", "0", 0.0),             # an empty generation is an answer, and wrong
    ("4 2", "42", 0.0),         # inner spaces count
])
def test_exact_match(pred, target, expected):
    assert exact_match([pred], [target])[0] == expected


def test_exact_match_needs_both_texts():
    assert np.isnan(exact_match([None, "1"], ["1", None])).all()


@pytest.mark.parametrize("pred, target, tok, expected", [
    ("2,880", "2880", "characters", 1),          # delete ','
    ("2,880", "2880", "digits", 0),              # the digits of the number agree
    ("kitten", "sitting", "characters", 3),      # the textbook example: k->s, e->i, +g
    ("12a3", "123", "digits", 0),
    ("3996", "3956", "digits", 1),
    ("the cat sat", "the dog sat", "whitespace", 1),
    ("the cat sat", "the dog sat", "characters", 3),
    ("", "77", "characters", 2),
    (" 5 ", "5", "characters", 0),               # stripped like exact match
])
def test_edit_distance(pred, target, tok, expected):
    assert edit_distance([pred], [target], tok)[0] == expected


def test_edit_distance_takes_a_callable_tokeniser():
    by_comma = lambda s: s.split(",")   # noqa: E731
    assert edit_distance(["1,2,3"], ["1,9,3"], by_comma)[0] == 1


def test_unknown_tokeniser_raises():
    with pytest.raises(ValueError, match="unknown tokenizer 'bytes'"):
        edit_distance(["a"], ["b"], "bytes")


# ----------------------------------------------------------------------------- intervals
@pytest.mark.parametrize("k, n, low, high", [
    # z = 1.959964: 0/10 -> centre (0 + z^2/20)/(1 + z^2/10), half the same: [0, 0.2775]
    (0, 10, 0.0, 0.27753),
    # 5/10: centre 0.5, half 1.96 * sqrt(0.025 + 0.0096)/1.3841 = 0.2634
    (5, 10, 0.23659, 0.76341),
    (10, 10, 0.72247, 1.0),
    (50, 100, 0.40383, 0.59617),
])
def test_wilson_interval_golden(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert (float(lo), float(hi)) == (pytest.approx(low, abs=1e-5), pytest.approx(high, abs=1e-5))


def test_wilson_interval_rejects_k_above_n():
    with pytest.raises(ValueError, match="need 0 <= k <= n"):
        wilson_interval(11, 10)


def test_wilson_interval_unknown_n_is_nan():
    lo, hi = wilson_interval([0, 0], [0, np.nan])
    assert np.isnan(lo).all() and np.isnan(hi).all()


def test_bootstrap_interval_constant_values():
    out = bootstrap_interval([0.3] * 20, n_boot=200)
    assert out[["mean", "low", "high"]].iloc[0].tolist() == pytest.approx([0.3, 0.3, 0.3])


def test_bootstrap_interval_agrees_with_wilson_for_a_large_sample():
    # 400 Bernoulli outcomes with 120 successes: both intervals are about 0.3 +- 0.045
    v = np.r_[np.ones(120), np.zeros(280)]
    out = bootstrap_interval(v, n_boot=2000, seed=1)
    lo, hi = wilson_interval(120, 400)
    assert out["low"].iloc[0] == pytest.approx(float(lo), abs=0.008)
    assert out["high"].iloc[0] == pytest.approx(float(hi), abs=0.008)


def test_bootstrap_interval_many_groups_chunked():
    rng = np.random.default_rng(0)
    g = np.repeat(["a", "b", "c"], [10, 100, 1000])
    v = rng.random(g.size)
    small_chunks = bootstrap_interval(v, g, n_boot=300, seed=2, max_chunk_elements=5000)
    assert small_chunks["group"].tolist() == ["a", "b", "c"] and small_chunks["n"].tolist() == [10, 100, 1000]
    assert ((small_chunks["low"] <= small_chunks["mean"]) & (small_chunks["mean"] <= small_chunks["high"])).all()
    width = (small_chunks["high"] - small_chunks["low"]).to_numpy()
    assert width[0] > width[1] > width[2]        # ~ 1/sqrt(n)


# ----------------------------------------------------------------------------- aggregation
def _examples() -> pd.DataFrame:
    base = dict(source="fx", task="t", subtask="", family="F", source_family="f", shots=0, prompt_variant="",
                params_estimate=False, source_file="f.csv", content_hash="h1")
    rows = [
        # A: full distributions
        dict(model="A", params=1e8, choice_logprobs=[0.0, 0.0], correct_index=0),
        dict(model="A", params=1e8, choice_logprobs=[L(0.7), L(0.2), L(0.1)], correct_index=1),
        dict(model="A", params=1e8, choice_logprobs=[L(0.9), L(0.1)], correct_index=0, p_correct=0.123),
        # B: p_correct only
        dict(model="B", params=1e9, p_correct=0.8, n_choices=2),
        dict(model="B", params=1e9, p_correct=0.4, n_choices=2),
        dict(model="B", params=1e9, p_correct=0.5, n_choices=3),
        # C: generations
        dict(model="C", params=1e10, prediction="2,880", target="2880"),
        dict(model="C", params=1e10, prediction="42", target="42"),
        dict(model="C", params=1e10, prediction="", target="7", source_file="g.csv", content_hash="h2"),
        # D: repeated sampling
        dict(model="D", params=1e11, n_samples=10, n_correct=1),
        dict(model="D", params=1e11, n_samples=100, n_correct=50),
        dict(model="D", params=1e11, n_samples=10, n_correct=0),
        # E: losses
        dict(model="E", params=1e12, loss=1.0),
        dict(model="E", params=1e12, loss=2.0),
        # F: two checkpoints of one model, no is_final given
        dict(model="F", params=1e8, checkpoint_step=100, loss=3.0),
        dict(model="F", params=1e8, checkpoint_step=200, loss=2.0),
    ]
    return pd.DataFrame([{**base, "row_ref": str(i + 2), **r} for i, r in enumerate(rows)])


@pytest.fixture(scope="module")
def agg():
    return aggregate_examples(_examples())


def _one(agg, model, metric, variant=""):
    r = agg[(agg["model"] == model) & (agg["metric"] == metric) & (agg["variant"] == variant)]
    assert len(r) == 1, (model, metric, variant, len(r))
    return r.iloc[0]


@pytest.mark.parametrize("model, metric, variant, value, n", [
    # A: brier (0.5 + 1.14 + 0.02)/3; binary (0.25 + 0.64 + 0.01)/3 (row 3's p_correct is ignored); grade 0,0,1
    ("A", "brier_score", "", (0.5 + 1.14 + 0.02) / 3, 3),
    ("A", "brier_score_binary", "", 0.3, 3),
    ("A", "multiple_choice_grade", "", 1 / 3, 3),
    # B: binary (0.04 + 0.36 + 0.25)/3; two-choice rows only: brier 2(1-p)^2 -> (0.08 + 0.72)/2, grade (1 + 0)/2
    ("B", "brier_score_binary", "", 0.65 / 3, 3),
    ("B", "brier_score", "", 0.4, 2),
    ("B", "multiple_choice_grade", "", 0.5, 2),
    # C: exact match 0, 1, 0; characters 1, 0, 1; digits 0, 0, 1;
    #    whitespace 1, 0, 1 (['2,880'] vs ['2880'], [] vs ['7'])
    ("C", "exact_match", "", 1 / 3, 3),
    ("C", "edit_distance", "tokens=characters", 2 / 3, 3),
    ("C", "edit_distance", "tokens=digits", 1 / 3, 3),
    ("C", "edit_distance", "tokens=whitespace", 2 / 3, 3),
    # D: mean of per-problem rates (0.1 + 0.5 + 0)/3 = 0.2, not 51/120; n is every sample drawn, 10 + 100 + 10
    ("D", "pass_rate", "", 0.2, 120),
    # E: mean loss
    ("E", "neg_log_likelihood", "", 1.5, 2),
])
def test_aggregate_examples_golden(agg, model, metric, variant, value, n):
    r = _one(agg, model, metric, variant)
    assert (r["value"], r["n_examples"], r["source_metric"]) == (pytest.approx(value), n, f"rescored:{metric}")


def test_aggregate_examples_stderr_and_baseline(agg):
    r = _one(agg, "A", "multiple_choice_grade")
    # grades 0, 0, 1: sd = sqrt(1/3), stderr = sd / sqrt(3) = 1/3; baseline mean(1/2, 1/3, 1/2)
    assert r["stderr"] == pytest.approx(1 / 3)
    assert r["random_baseline"] == pytest.approx((0.5 + 1 / 3 + 0.5) / 3)
    assert _one(agg, "E", "neg_log_likelihood")["stderr"] == pytest.approx(math.sqrt(0.5) / math.sqrt(2))


def test_aggregate_examples_shape(agg):
    assert list(agg.columns) == list(OBSERVATION_COLUMNS)
    assert agg["in_scoring"].all() and (agg["value_scale"] == "unit").all()
    # which metrics each group yields, and nothing else
    got = agg.groupby("model")["metric"].apply(lambda m: sorted(set(m))).to_dict()
    assert got == {"A": ["brier_score", "brier_score_binary", "multiple_choice_grade"],
                   "B": ["brier_score", "brier_score_binary", "multiple_choice_grade"],
                   "C": ["edit_distance", "exact_match"], "D": ["pass_rate"],
                   "E": ["neg_log_likelihood"], "F": ["neg_log_likelihood"]}
    hib = dict(zip(agg["metric"], agg["higher_is_better"]))
    assert (hib["brier_score"], hib["exact_match"], hib["edit_distance"]) == (False, True, False)


def test_aggregate_examples_files_and_final_checkpoint(agg):
    assert _one(agg, "C", "exact_match")["source_file"] == "f.csv; g.csv"
    assert _one(agg, "C", "exact_match")["content_hash"] == "h1; h2"
    f = agg[agg["model"] == "F"].sort_values("checkpoint_step")
    assert f["checkpoint_step"].tolist() == [100, 200] and f["is_final"].tolist() == [False, True]
    assert _one(agg, "A", "brier_score")["is_final"]


@pytest.mark.parametrize("change, match", [
    (dict(correct_index=5), r"f.csv row 2: correct_index 5 is not one of its 2 choices"),
    (dict(choice_logprobs=None, p_correct=1.5, n_choices=2), r"f.csv row 2: p_correct 1.5 outside"),
    (dict(choice_logprobs=None, n_samples=3, n_correct=4), r"f.csv row 2: n_correct 4 not within 0..n_samples 3"),
])
def test_aggregate_examples_rejects_bad_rows(change, match):
    ex = _examples()
    for k, v in change.items():
        ex[k] = ex[k].astype(object)
        ex.at[0, k] = v
    with pytest.raises(ValueError, match=match):
        aggregate_examples(ex)


def test_aggregate_examples_empty():
    out = aggregate_examples(pd.DataFrame(columns=["source", "task", "model"]))
    assert out.empty and list(out.columns) == list(OBSERVATION_COLUMNS)


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def multiplication(shared_data):
    from emergence.ingestion.sources import multiplication as parser
    batch = parser.parse(shared_data / "gpt3-multiplication-tables")
    return aggregate_examples(batch.examples)


# exact match as listed in gpt3-multiplication-tables/PROVENANCE.md (completion == str(a*b), 10,000 problems)
@pytest.mark.parametrize("model, em", [
    ("text-ada-001", 0.0054), ("text-babbage-001", 0.0482), ("text-curie-001", 0.0881),
    ("text-davinci-003", 0.9115),
])
def test_instructgpt_multiplication_rescored(multiplication, model, em):
    rows = multiplication[multiplication["model"] == model]
    assert _one(rows, model, "exact_match")[["value", "n_examples"]].tolist() == [pytest.approx(em), 10000]
    ed = rows[rows["metric"] == "edit_distance"]
    assert sorted(ed["variant"]) == ["tokens=characters", "tokens=digits", "tokens=whitespace"]
    assert (ed["value"] >= 0).all() and (ed["n_examples"] == 10000).all()


@pytest.mark.parametrize("tok", ["characters", "digits", "whitespace"])
@pytest.mark.parametrize("a, b", [(" 1\t2 3\n", "12 3"), ("x 4,0 5", "40  5 y"), ("", " "), ("ab  cd", "ab cd")])
def test_batch_tokenisers_agree_with_single_text_tokenise(tok, a, b):
    from rapidfuzz.distance import Levenshtein
    from emergence.analysis.rescore import tokenise
    assert edit_distance([a], [b], tok)[0] == Levenshtein.distance(tokenise(a, tok), tokenise(b, tok))


def test_aggregate_examples_bootstrap_interval_brackets_each_mean():
    rng = np.random.default_rng(3)
    ex = pd.DataFrame({"source": "s", "task": "t", "model": np.repeat(["a", "b"], 400), "family": "f",
                       "prediction": rng.choice(["12", "13"], 800), "target": "12"})
    out = aggregate_examples(ex, n_boot=300)
    em = out[out["metric"] == "exact_match"]
    assert len(em) == 2
    assert ((em["ci_low"] < em["value"]) & (em["value"] < em["ci_high"])).all()
    assert "ci_low" not in aggregate_examples(ex).columns     # the ingest path stores stderr only


def test_paired_se_against_the_smallest_model_by_hand():
    """Three examples scored by a small and a large model: the large model's row carries the standard
    error of the per-example differences (sd(ddof=1) / sqrt(n)); the smallest model's row none."""
    rows = []
    for model, params, preds in (("small", 1e8, ["1", "22", "333"]), ("large", 1e9, ["1", "2", "33"])):
        for i, (p, t) in enumerate(zip(preds, ["1", "2", "3"])):
            rows.append(dict(source="s", task="t", subtask="", family="F", source_family="F", model=model,
                             params=params, shots=0, prompt_variant="", example_id=f"e{i}", prediction=p, target=t,
                             source_file="f.jsonl", row_ref=str(i)))
    out = aggregate_examples(pd.DataFrame(rows))
    ed = out[(out["metric"] == "edit_distance") & (out["variant"] == "tokens=characters")].set_index("model")
    # character edit distances to 1, 2, 3: small "1" 0, "22" 1, "333" 2; large "1" 0, "2" 0, "33" 1
    # -> differences 0, -1, -1
    d = np.array([0.0, -1.0, -1.0])
    assert ed.loc["large", "paired_se"] == pytest.approx(d.std(ddof=1) / math.sqrt(3))
    assert math.isnan(ed.loc["small", "paired_se"])


def test_pass_rate_noise_is_binomial_per_problem(agg):
    """c of n samples per problem: se = sqrt(sum p(1-p)/n) / P, not the spread of the per-problem rates."""
    r = _one(agg, "D", "pass_rate")
    v = 0.1 * 0.9 / 10 + 0.5 * 0.5 / 100 + 0.0
    assert r["stderr"] == pytest.approx(math.sqrt(v) / 3)
    assert r["row_ref"] == "3 problems, 120 samples"
