"""Emergence score (Srivastava et al. 2022; Schaeffer et al. 2023 Sec. 4): descriptive, continuous in the data;
Wei et al.'s threshold and the detection scale."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from emergence.analysis.scores import (FLAGS, RANGE_FLOOR, detection_scale, emergence_score, emergence_scores,
                              emergence_scores_loop, emergence_threshold)

X4 = [1e8, 1e9, 1e10, 1e11]

# (x, y, higher_is_better, resolution, expected score, expected flag), each computed by hand:
GOLDEN = [
    # steps 1, 1, 1: median of squares 1, range 3 -> 3 / 1
    ([1, 2, 3, 4], [1, 2, 3, 4], True, None, 3.0, "ok"),
    # lower is better: y negated to -4..-1, which rises: +3
    ([1, 2, 3, 4], [4, 3, 2, 1], False, None, 3.0, "ok"),
    # flat then a jump, 100 examples: median 0 -> denominator floored at 1/100 -> 0.5 / 0.01
    (X4, [0, 0, 0, 0.5], True, 0.01, 50.0, "floored_resolution"),
    # the same without a resolution: floored at 1 % of the range, 0.005 -> 100 (the most a score can be)
    (X4, [0, 0, 0, 0.5], True, None, 100.0, "floored_range"),
    # ... and a hair away from it (median 1e-6, below (0.005)^2): the same 100, no jump to 500
    (X4, [0, 0.001, 0.002, 0.5], True, None, 100.0, "floored_range"),
    # squares 0, 0.01, 0.16: median 0.01 -> 0.5 / 0.1
    (X4, [0, 0, 0.1, 0.5], True, None, 5.0, "ok"),
    # even number of steps 1, 2, 3, 4: squares 1, 4, 9, 16, median (4 + 9) / 2 = 6.5 -> 10 / sqrt(6.5)
    ([1, 2, 3, 4, 5], [0, 1, 3, 6, 10], True, None, 10 / math.sqrt(6.5), "ok"),
    # the same falling: argmax (0) before argmin (4) -> negative
    ([1, 2, 3, 4, 5], [10, 6, 3, 1, 0], True, None, -10 / math.sqrt(6.5), "ok"),
    # every point equal: score 0
    ([1, 2, 3], [0.2, 0.2, 0.2], True, 0.01, 0.0, "flat"),
    # ties in x averaged: (0 + 0.2)/2 = 0.1, 0.4, 0.6 -> squares 0.09, 0.04, median 0.065 -> 0.5 / sqrt(0.065)
    ([1, 1, 2, 3], [0, 0.2, 0.4, 0.6], True, None, 0.5 / math.sqrt(0.065), "ok"),
    # median 1e-6 below resolution^2 = 1e-4 (e.g. averaged seeds): floored -> 0.502 / 0.01
    (X4, [0, 0.001, 0.002, 0.502], True, 0.01, 50.2, "floored_resolution"),
    # argmax/argmin ties: first occurrence (smallest x) -> argmax 2 > argmin 0: positive; median 0 -> 1 / 0.01
    (X4, [0, 0, 1, 1], True, None, 100.0, "floored_range"),
    # ... and argmax 0 < argmin 2: negative
    (X4, [1, 1, 0, 0], True, None, -100.0, "floored_range"),
    # steps of 1e-12 are rounding noise (NUMERIC_TOL): zero median, floored at 1 % of the 0.5 range -> 100
    (X4, [1, 1 + 1e-12, 1 + 2e-12, 1.5], True, None, 100.0, "floored_range"),
    # a known stderr is the resolution of a non-proportion: median 0.0001 < 0.02^2 -> 0.3 / 0.02
    (X4, [0.1, 0.11, 0.11, 0.4], True, 0.02, 15.0, "floored_resolution"),
    # unsorted input is sorted by x first: same as the first row
    ([3, 1, 4, 2], [3, 1, 4, 2], True, None, 3.0, "ok"),
]


@pytest.mark.parametrize("x, y, hib, res, expected, flag", GOLDEN)
def test_emergence_score_golden(x, y, hib, res, expected, flag):
    r = emergence_score(x, y, higher_is_better=hib, resolution=res)
    assert (r.score, r.flag) == (pytest.approx(expected, rel=1e-9), flag)


@pytest.mark.parametrize("x, y, n_scales, flag", [
    ([1, 2], [0.1, 0.5], 2, "too_few_scales"),
    ([5, 5, 5], [0.1, 0.5, 0.9], 1, "too_few_scales"),   # three rows, one scale
    ([], [], 0, "no_scale"),
])
def test_fewer_than_three_scales_not_scored(x, y, n_scales, flag):
    r = emergence_score(x, y)
    assert (math.isnan(r.score), r.n_scales, r.flag) == (True, n_scales, flag)


def test_ties_keep_their_spread():
    r = emergence_score([1, 1, 2, 3], [0, 0.2, 0.4, 0.6])
    # sample sd of 0 and 0.2 is 0.2 / sqrt(2); single values have no spread
    assert r.y_sd[0] == pytest.approx(0.2 / math.sqrt(2))
    assert np.isnan(r.y_sd[1:]).all() and r.n_at_x.tolist() == [2, 1, 1]
    assert r.spread == pytest.approx(0.2 / math.sqrt(2))


@pytest.mark.parametrize("x, y, match", [
    ([1, 2, 3], [0.1, np.nan, 0.3], "y must be finite"),
    ([1, 2, np.inf], [0.1, 0.2, 0.3], "x must be finite"),
    ([1, 2, 3], [0.1, 0.2], "same length"),
])
def test_bad_input_raises(x, y, match):
    with pytest.raises(ValueError, match=match):
        emergence_score(x, y)


def test_every_flag_is_documented():
    seen = {flag for *_, flag in GOLDEN} | {"too_few_scales", "no_scale"}
    assert seen == set(FLAGS)


# ----------------------------------------------------------------------------- properties
# dyadic values (k/64) add exactly in floating point, so shifting by a constant is exact
dyadic = st.integers(-640, 640).map(lambda k: k / 64)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(dyadic, min_size=3, max_size=12, unique=True), st.booleans())
def test_reversing_scale_order_flips_the_sign(y, hib):
    x = np.arange(len(y), dtype=float)
    a = emergence_score(x, y, higher_is_better=hib)
    b = emergence_score(-x, y, higher_is_better=hib)      # same points, scale order reversed
    assert b.score == pytest.approx(-a.score, rel=1e-12, abs=1e-12)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(dyadic, min_size=3, max_size=12), dyadic, st.sampled_from([None, 1 / 64, 1 / 8]))
def test_adding_a_constant_leaves_the_score_unchanged(y, c, res):
    x = np.arange(len(y), dtype=float)
    a = emergence_score(x, y, resolution=res)
    b = emergence_score(x, np.asarray(y) + c, resolution=res)
    assert (b.score, b.flag) == (pytest.approx(a.score, rel=1e-9, abs=1e-12), a.flag)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.integers(-10**6, 10**6).map(lambda i: i / 1e6), min_size=3, max_size=10, unique=True),
       st.floats(0.1, 100))
def test_scaling_y_without_resolution_leaves_the_score_unchanged(y, k):
    assume(np.ptp(y) > 1e-6)
    x = np.arange(len(y), dtype=float)
    assert emergence_score(x, np.asarray(y) * k).score == pytest.approx(emergence_score(x, y).score, rel=1e-6)


# ----------------------------------------------------------------------------- many series
def _random_points(seed: int, n_series: int = 400) -> pd.DataFrame:
    """Random series with ties, NaN scales, both orientations, grid values (zero medians), some resolutions."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        k = int(rng.integers(0, 10))
        xs = rng.choice([1.0, 2.0, 3.0, 5.0, 8.0, 13.0, np.nan], size=k)
        grid = s % 3 == 0
        for x in xs:
            y = rng.integers(0, 4) / 4 if grid else rng.random()
            rows.append({"a": f"t{s % 5}", "b": s, "x": x, "y": y, "hib": bool(s % 2),
                         "res": 0.25 if s % 4 == 0 else np.nan})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorised_path_equals_the_per_series_loop(seed):
    pts = _random_points(seed)
    kw = dict(higher_is_better="hib", resolution="res")
    fast = emergence_scores(pts, ["a", "b"], **kw)
    slow = emergence_scores_loop(pts, ["a", "b"], **kw)
    assert len(fast) == len(slow) == pts.groupby(["a", "b"]).ngroups
    assert fast["flag"].tolist() == slow["flag"].tolist()
    for c in ["n_scales", "sign"]:
        assert fast[c].astype(int).tolist() == slow[c].astype(int).tolist(), c
    for c in ["x_min", "x_max", "emergence_score", "numerator", "denominator", "median_sq_diff"]:
        np.testing.assert_allclose(fast[c].astype(float), slow[c].astype(float), rtol=1e-12, equal_nan=True,
                                   err_msg=c)


def test_vectorised_keeps_series_without_any_scale():
    pts = pd.DataFrame({"s": [1, 1, 2, 2, 2], "x": [np.nan, np.nan, 1, 2, 3], "y": [np.nan, 0.5, 0, 1, 2]})
    out = emergence_scores(pts, ["s"])
    assert out["flag"].tolist() == ["no_scale", "ok"] and out["n_scales"].tolist() == [0, 3]


def test_mixed_orientation_within_a_series_raises():
    pts = pd.DataFrame({"s": [1, 1, 1], "x": [1, 2, 3], "y": [0, 1, 2], "hib": [True, False, True]})
    with pytest.raises(ValueError, match="mixes higher_is_better"):
        emergence_scores(pts, ["s"], higher_is_better="hib")


# ----------------------------------------------------------------------------- continuity (METHODS.md Sec. 8)
@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.integers(0, 4).map(lambda k: k / 4), min_size=3, max_size=10),
       st.lists(st.floats(-1, 1), min_size=10, max_size=10), st.sampled_from([None, 0.01]))
def test_the_score_is_continuous_in_the_data(y, z, res):
    """Grid values (zero medians: the case the old floor jumped on) moved by 1e-9 move the score's
    magnitude by a hair: the zero-median rule is continuous.  (Its sign, sign(argmax - argmin), is
    Srivastava et al.'s and flips where two points tie for the maximum: compared in magnitude.)"""
    assume(np.ptp(y) > 0)
    x = np.arange(len(y), dtype=float)
    a = emergence_score(x, y, resolution=res).score
    b = emergence_score(x, np.asarray(y) + 1e-9 * np.asarray(z[:len(y)]), resolution=res).score
    assert abs(abs(a) - abs(b)) <= 1e-5 * max(1.0, abs(a))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(st.floats(-10, 10), min_size=3, max_size=12))
def test_the_score_is_bounded_by_the_range_floor(y):
    assume(np.ptp(y) > 1e-6)
    assert abs(emergence_score(np.arange(len(y)), y).score) <= 1 / RANGE_FLOOR * (1 + 1e-9)


def test_a_straight_line_scores_k_minus_one():
    """The known dependence on the number of sizes (why the score is not the verdict)."""
    for k in (3, 4, 11, 30):
        assert emergence_score(np.logspace(8, 11, k), np.linspace(0, 1, k)).score == pytest.approx(k - 1)


# ----------------------------------------------------------------------------- detection scale
@pytest.mark.parametrize("y, kw, x_expected, against", [
    # against chance, binomial: 0.26 at n=1000 is not above 0.25 (p ~ 0.24), 0.40 is
    ([0.25, 0.26, 0.40, 0.60], dict(n_examples=1000, chance=0.25, proportion=True), 1e10, "chance"),
    # a dip back to chance at the largest size: never *stays* above
    ([0.25, 0.40, 0.60, 0.26], dict(n_examples=1000, chance=0.25, proportion=True), np.nan, "chance"),
    # above chance from the smallest model on
    ([0.40, 0.50, 0.60, 0.70], dict(n_examples=1000, chance=0.25, proportion=True), 1e8, "chance"),
    # no chance level: against the smallest model; 0 of 1000 vs 3 of 1000 is not significant, 30 of 1000 is
    ([0.0, 0.003, 0.03, 0.3], dict(n_examples=1000, proportion=True), 1e10, "smallest model"),
    # a reported stderr, lower is better (a loss): 2.0 -> 1.99 is within 2 se of 0.01; 1.9 is not
    ([2.0, 1.99, 1.9, 1.5], dict(stderr=0.01, higher_is_better=False), 1e10, "smallest model"),
    # paired per example: a difference of 0.01 with a paired se of 0.001 is significant at once
    ([2.0, 1.99, 1.98, 1.97], dict(stderr=0.01, higher_is_better=False, paired_se=[0, 0.001, 0.001, 0.001]), 1e9,
     "smallest model"),
    # no noise at all: cannot be tested
    ([0.1, 0.2, 0.3, 0.4], dict(), np.nan, "no n or stderr to test against"),
])
def test_detection_scale(y, kw, x_expected, against):
    d = detection_scale(X4, y, **kw)
    assert (d.x, d.against) == (pytest.approx(x_expected, nan_ok=True), against)


def test_detection_binomial_against_chance_matches_scipy_binomtest():
    from scipy.stats import binomtest
    y = np.array([0.26, 0.27, 0.28, 0.29, 0.30])
    d = detection_scale(np.logspace(8, 10, 5), y, n_examples=1000, chance=0.25, proportion=True)
    ok = [binomtest(int(round(v * 1000)), 1000, 0.25, alternative="greater").pvalue <= 0.05 for v in y]
    first = next(i for i in range(5) if all(ok[i:]))
    assert d.index == first


@pytest.mark.parametrize("y, hib, expected", [
    ([0.25, 0.26, 0.40, 0.60], True, 3.0),      # margin 2 * 0.02 = 0.04: 0.01 no, 0.15 yes at x = 3
    ([0.25, 0.25, 0.26, 0.27], True, np.nan),   # never clears 0.29
    ([0.75, 0.74, 0.60, 0.50], False, 3.0),     # lower is better: must fall below 0.75 - 0.04
])
def test_wei_emergence_threshold(y, hib, expected):
    got = emergence_threshold([1, 2, 3, 4], y, baseline=0.25 if hib else 0.75, stderr=0.02, k=2,
                              higher_is_better=hib)
    assert got == pytest.approx(expected, nan_ok=True)
