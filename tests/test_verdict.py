"""The sharp-onset verdict (emergence.analysis.verdict) and its calibration machinery (emergence.analysis.calibrate), at small sizes.

The full calibration tables are a benchmark (bench/calibrate.py, BENCHMARKS.md); these tests check the
machinery: the states and their reasons, the pooled scatter, the p-values' validity under the null, the
determinism, and the mirage model never called emergent.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emergence.analysis import calibrate as C
from emergence.analysis import verdict as V
from emergence.analysis.simulate import per_token_probability

X12 = np.logspace(8, 11, 12)


# ----------------------------------------------------------------------------- one series
@pytest.mark.parametrize("y, kw, state, reason", [
    ([0.01] * 6 + [0.6] * 6, dict(n_examples=1000), "emergent", "sharp onset"),
    (list(np.linspace(0.1, 0.7, 12)), dict(n_examples=1000), "smooth", "rises steadily"),
    ([0.25] * 12, dict(n_examples=1000), "no signal", "flat"),
    (list(np.linspace(0.7, 0.1, 12)), dict(n_examples=1000), "no signal", "no rise: it declines"),
    # the jump right after the smallest size: an onset is not observed
    ([0.01] + [0.6] * 11, dict(n_examples=1000), "insufficient", "no onset observed"),
    # the jump before the last size: no level after it
    ([0.01] * 11 + [0.6], dict(n_examples=1000), "insufficient", "no level after the rise"),
])
def test_states_and_reasons(y, kw, state, reason):
    v = V.sharp_onset(X12, y, **kw)
    assert (v.state, reason in v.reason) == (state, True), v.reason


def test_sizes_too_far_apart_to_tell():
    """Six sizes two decades apart (five such series pool their scatter): a jump between the third and
    fourth fits a logistic one decade wide as well as a step, so the spacing cannot tell."""
    rng = np.random.default_rng(2)
    x = np.logspace(2, 12, 6)
    rows = [pd.DataFrame({"s": s, "pool": 0, "x": x, "y": rng.binomial(100, [0.05] * 3 + [0.55] * 3) / 100,
                          "n_examples": 100.0, "proportion": True, "higher_is_better": True}) for s in range(5)]
    d = V.decide(V.assess(pd.concat(rows), ["s"], pools=[["pool"]]))
    assert (d["verdict"] == "insufficient").all()
    # mostly the step lands in one gap; where a wide fit straddles a size, it is the noise that cannot tell
    assert d["verdict_reason"].str.contains("too far apart").sum() >= 3
    assert d["verdict_reason"].str.contains("too far apart|too noisy to tell").all()


@pytest.mark.parametrize("x, y, reason", [
    ([1e8, 1e9, 1e10], [0.0, 0.0, 0.5], "too few sizes: 3 < 4"),
    ([1e8, 1e9, np.nan, 1e11, 1e12], [0.0, 0.0, 0.5, 0.6, 0.6], "missing, infinite or negative scale"),
    ([1e8, 1e9, -1e10, 1e11, 1e12], [0.0, 0.0, 0.5, 0.6, 0.6], "missing, infinite or negative scale"),
    ([1e8, 1e9, 1e10, 1e11, 1e12], [0.0, np.inf, 0.5, 0.6, 0.6], "NaN or infinite value"),
    ([1e8, 1e9, 1e10, 1e11, 1e12], [0.0, np.nan, 0.5, 0.6, 0.6], "NaN or infinite value"),
])
def test_bad_points_get_a_reason_never_an_exception(x, y, reason):
    v = V.sharp_onset(x, y, n_examples=1000)
    assert v.state == "insufficient" and reason in v.reason


def test_a_perplexity_at_or_below_zero_cannot_be_logged():
    v = V.sharp_onset(X12[:5], [10.0, 8.0, 0.0, 4.0, 3.0], stderr=0.1, metric="perplexity", higher_is_better=False)
    assert v.state == "insufficient" and "log scale" in v.reason


def test_natural_units():
    y, se, ok = V.natural_units("perplexity", [np.e, np.e ** 2], [0.1 * np.e, 0.2 * np.e ** 2], higher_is_better=False)
    np.testing.assert_allclose(y, [-1.0, -2.0])           # log, then negated: improving is up
    np.testing.assert_allclose(se, [0.1, 0.2])            # delta method: se(log y) = se / y
    assert ok.all()
    y, _, _ = V.natural_units("edit_distance", [3.0, 1.0], higher_is_better=False)
    np.testing.assert_allclose(y, [-3.0, -1.0])


def test_a_perplexity_and_its_loss_get_the_same_verdict():
    """Put in natural units, a perplexity is its loss: same fit, same state."""
    loss = 1.7 + 2.0 * (X12 / X12[0]) ** -0.3
    a = V.sharp_onset(X12, loss, stderr=0.01, metric="loss", higher_is_better=False)
    b = V.sharp_onset(X12, np.exp(loss), stderr=0.01 * np.exp(loss), metric="perplexity", higher_is_better=False)
    assert (a.state, a.width) == (b.state, pytest.approx(b.width)) and a.state == "smooth"


def test_a_lower_is_better_proportion_is_flipped_as_one_minus():
    """An error rate stays a proportion (binomial noise) when oriented."""
    v = V.sharp_onset(X12, [0.99] * 6 + [0.4] * 6, n_examples=1000, higher_is_better=False)
    assert (v.state, v.noise) == ("emergent", "binomial")


# ----------------------------------------------------------------------------- the mirage (Schaeffer et al. Sec. 2)
@pytest.mark.parametrize("seed", range(4))
def test_mirage_exact_match_is_never_called_emergent(seed):
    """Exact match p(N)^L from a smooth per-token loss, 20 sizes, 1,000 examples: coarse small models read
    0 of n and the curve looks like a jump, but its 10-90 % width is 1.34/alpha = 4.5 decades."""
    rng = np.random.default_rng(seed)
    x = np.logspace(7, 12, 20)
    _, p = per_token_probability(x, c=5e7, alpha=-0.3)
    y = rng.binomial(1000, p ** 5) / 1000
    assert V.sharp_onset(x, y, n_examples=1000).state != "emergent"


# ----------------------------------------------------------------------------- scatter
def test_pool_scatter_by_hand():
    # pool A: excesses 1.0 and 3.0 over 5 + 5 df -> 0.4 (10 df); the second series' own 3/5 = 0.6 is larger
    # and kept.  Pool B: 2 df only, below POOL_MIN_DF, and 1 df each, below SERIES_MIN_DF -> none
    num = np.array([1.0, 3.0, 0.9, -1.0])
    df = np.array([5.0, 5.0, 1.0, 1.0])
    tau2, how = V.pool_scatter(num, df, [np.array(["A", "A", "B", "B"])])
    np.testing.assert_allclose(tau2, [0.4, 0.6, 0.0, 0.0])
    assert how.tolist() == ["pooled:0", "series", "none", "none"]
    # a wider level pools everything: 3.9 / 12 for B; B's first series scatters more (0.9) and keeps its own
    tau2, how = V.pool_scatter(num, df, [np.array(["A", "A", "B", "B"]), np.array(["s"] * 4)])
    np.testing.assert_allclose(tau2, [0.4, 0.6, 0.9, 3.9 / 12])
    assert how.tolist() == ["pooled:0", "series", "series", "pooled:1"]


def test_without_a_scatter_estimate_a_sharp_fit_is_not_called():
    """Four sizes, tiny reported noise: a logistic fits four points exactly, so nothing separates a sharp
    onset from models that differ in more than size."""
    v = V.sharp_onset([1e8, 1e9, 1e10, 1e11], [0.0, 0.0, 0.5, 0.5], n_examples=10_000)
    assert v.state == "insufficient" and "scatter between models cannot be estimated" in v.reason
    # ... nor a smooth one
    v = V.sharp_onset([1e8, 1e9, 1e10, 1e11], [0.1, 0.3, 0.5, 0.7], n_examples=10_000)
    assert v.state == "insufficient" and "scatter between models cannot be estimated" in v.reason


def test_a_zero_stderr_is_floored_at_the_series_smallest():
    """A point whose examples all scored alike (edit distance 0 everywhere) reports stderr 0: still Gaussian."""
    v = V.sharp_onset(X12, np.linspace(3.0, 0.0, 12), stderr=[0.05] * 11 + [0.0], metric="edit_distance",
                      higher_is_better=False)
    assert v.noise == "gaussian"


# ----------------------------------------------------------------------------- p-values
def test_p_values_are_valid_under_the_boundary_null():
    """Series drawn from the null's boundary itself (a logistic exactly W = 1 decade wide, binomial noise):
    the share of p-values below 0.1 is about 0.1 (0.10 and 0.10 in two runs of 300 series at B = 199; inside
    the null, wider logistics, it is smaller).  The bound allows for 160 series at B = 99."""
    rng = np.random.default_rng(7)
    x = np.logspace(8, 11, 13)
    t = np.log10(x)
    rows = []
    for s in range(160):
        p = 0.05 + 0.5 / (1 + np.exp(-(t - rng.uniform(9.0, 10.0)) * V.WIDTH_PER_S / V.WIDTH_THRESHOLD))
        rows.append(pd.DataFrame({"s": s, "x": x, "y": rng.binomial(1000, p) / 1000, "n_examples": 1000.0,
                                  "proportion": True, "higher_is_better": True, "metric": "accuracy"}))
    a = V.assess(pd.concat(rows), ["s"], n_boot=99)
    share = float((a["p_value"] < 0.1).mean())
    assert share <= 0.16, share


def test_p_values_never_go_below_the_floor_or_above_one():
    pts = C.simulate_store(per_cell=1, seed=3, sizes=(8,), ns=(1000,), scatters=(0.0,), sharp_sizes=(12,),
                           sharp_ns=(1000,), sharp_scatters=(0.0,))
    a = V.assess(pts, ["series"], pools=[["pool"]], n_boot=99)
    p = a["p_value"].dropna()
    assert ((p >= V.P_FLOOR) & (p <= 1)).all() and len(p)


def test_same_content_same_seed_same_p():
    assert V.content_seed(["a"], np.array([1.0, 2.0])) == V.content_seed(["a"], np.array([1.0, 2.0]))
    assert V.content_seed(["a"], np.array([1.0, 2.0])) != V.content_seed(["b"], np.array([1.0, 2.0]))


# ----------------------------------------------------------------------------- the call
def _frame(rows):
    base = dict(pre_state="tested", pre_reason="", p_value=1.0, p_method="", width_decades=3.0, gap_decades=0.0,
                n_before=3, n_after=3, narrow_stat=10.0, n_sizes=8, span_decades=3.0)
    return pd.DataFrame([{**base, **r} for r in rows])


def test_decide_by_hand():
    # p .01, .04, .03, .2: BH q = .04, .0533, .0533, .2 -> the first is emergent at 0.05 only
    f = _frame([dict(p_value=0.01, width_decades=0.1), dict(p_value=0.04, width_decades=0.1),
                dict(p_value=0.03, width_decades=0.1), dict(p_value=0.2, width_decades=0.1)])
    d = V.decide(f)
    np.testing.assert_allclose(d["q_value"], [0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert d["verdict"].tolist() == ["emergent", "insufficient", "insufficient", "insufficient"]
    assert d["emergent"].tolist() == [True, False, False, False]


@pytest.mark.parametrize("row, state, words", [
    (dict(p_value=0.5, width_decades=0.1, gap_decades=2.0), "insufficient", "too far apart"),
    (dict(p_value=0.5, width_decades=0.1, n_before=1), "insufficient", "no onset observed"),
    (dict(p_value=0.5, width_decades=0.1, n_after=1), "insufficient", "no level after the rise"),
    (dict(p_value=0.5, width_decades=0.1), "insufficient", "not significant"),
    (dict(p_value=1.0, width_decades=3.0, narrow_stat=10.0), "smooth", "rises over 3 decades"),
    (dict(p_value=1.0, width_decades=3.0, narrow_stat=1.0), "insufficient", "too noisy to tell"),
    (dict(p_value=np.nan, p_method="no scatter estimate", width_decades=0.1), "insufficient", "cannot be estimated"),
    (dict(p_value=1.0, width_decades=3.0, narrow_stat=10.0, tau_source="none"), "insufficient", "cannot be estimated"),
    (dict(pre_state="no signal", pre_reason="flat"), "no signal", "flat"),
])
def test_decide_rules(row, state, words):
    d = V.decide(_frame([row]))
    assert d["verdict"].iloc[0] == state and words in d["verdict_reason"].iloc[0]


def test_decide_keeps_families_apart():
    f = _frame([dict(p_value=0.01, width_decades=0.1, fam="a"), dict(p_value=0.02, width_decades=0.1, fam="b"),
                dict(p_value=0.03, width_decades=0.1, fam="b"), dict(p_value=0.001, width_decades=0.1, fam="")])
    d = V.decide(f, family="fam")
    np.testing.assert_allclose(d["q_value"].to_numpy()[:3], [0.01, 0.03, 0.03])
    assert math.isnan(d["q_value"].iloc[3]) and not d["emergent"].iloc[3]


# ----------------------------------------------------------------------------- calibration machinery
def test_calibration_at_small_sizes():
    """The calibration run end to end on a small simulated store: jumps are found, smooth kinds are not
    (the full tables, with their targets, are bench/calibrate.py)."""
    pts = C.simulate_store(per_cell=2, seed=11, sizes=(6, 12), ns=(1000,), scatters=(0.0, 0.02),
                           sharp_sizes=(8, 12), sharp_ns=(1000,), sharp_scatters=(0.0,))
    res = C.run(pts, n_boot=99)
    tb = C.tables(res)
    jumps = res[res["kind"] == "jump"]
    assert jumps["emergent"].mean() >= 0.75
    assert not res.loc[res["truth"] == "smooth", "emergent"].any()
    assert set(tb["targets"]["target"]) and {"by_kind", "by_size", "by_n", "targets"} <= set(tb)


def test_simulated_kinds_have_their_documented_shape():
    rng = np.random.default_rng(0)
    x, y, n, se, metric, hib = C._one(rng, "mirage", 20, 1000, 0.0)
    assert metric == "exact_match" and np.all(np.diff(x) > 0) and ((y >= 0) & (y <= 1)).all()
    x, y, n, se, metric, hib = C._one(rng, "perplexity", 10, 0, 0.0)
    assert metric == "perplexity" and not hib and np.all(se > 0) and np.all(y > 1)
    x, y, n, se, metric, hib = C._one(rng, "jump", 12, 1000, 0.0)
    gaps = np.diff(np.log10(x))
    assert gaps.max() <= 0.6 + 1e-9 and (np.abs(np.diff(y)) >= 0.3).sum() >= 1


def test_doctests():
    import doctest

    from emergence.analysis import scores
    for mod in (V, scores):
        assert doctest.testmod(mod).failed == 0


def test_identical_series_under_different_names_get_identical_p_values():
    """A modest jump at n = 100: its p-value is a Monte Carlo count (0.3 here), which seeds drawn from the
    names would make differ between the twins."""
    rng = np.random.default_rng(5)
    y = rng.binomial(100, [0.02] * 6 + [0.10] * 6) / 100
    rows = [pd.DataFrame({"s": name, "pool": 0, "x": X12, "y": y, "n_examples": 100.0, "proportion": True,
                          "higher_is_better": True}) for name in ("a task", "its twin")]
    a = V.assess(pd.concat(rows), ["s"], pools=[["pool"]], n_boot=99).set_index("s")
    assert a.loc["a task", "p_method"] == "bootstrap" and 0.05 < a.loc["a task", "p_value"] < 1
    assert a.loc["a task", "p_value"] == a.loc["its twin", "p_value"]


def test_p_values_resolve_below_the_benjamini_hochberg_threshold_of_a_large_family():
    """One clear jump among 300 flat series at B = 99: the Monte Carlo floor 1/100 is far above the first BH
    threshold 0.05/301; the fitted tail takes the p-value below it, and the jump is called."""
    rng = np.random.default_rng(9)
    rows = [pd.DataFrame({"s": f"flat{i}", "pool": 0, "x": X12, "y": rng.binomial(1000, 0.3, 12) / 1000,
                          "n_examples": 1000.0, "proportion": True, "higher_is_better": True}) for i in range(300)]
    rows.append(pd.DataFrame({"s": "jump", "pool": 0, "x": X12, "y": rng.binomial(1000, [0.02] * 6 + [0.5] * 6) / 1000,
                              "n_examples": 1000.0, "proportion": True, "higher_is_better": True}))
    d = V.decide(V.assess(pd.concat(rows), ["s"], pools=[["pool"]], n_boot=99)).set_index("s")
    assert d.loc["jump", "p_value"] < 0.05 / 301 and d.loc["jump", "p_method"] == "tail"
    assert d.loc["jump", "verdict"] == "emergent" and d["emergent"].sum() == 1
