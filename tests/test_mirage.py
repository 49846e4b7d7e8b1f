"""The same outputs under two metrics (emergence.analysis.mirage) and the replications on real outputs (emergence.analysis.replications)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emergence.analysis import mirage
from conftest import require_shared


def _cmp(rows):
    base = dict(group_id=1, source="s", task="t", subtask="", family="F", shots=0, prompt_variant="",
                scale_axis="params", model="", variant="", metric_variant="", emergence_score=1.0, q_value=np.nan,
                emergent=False, flag="ok", n_scales=8, x_min=1e8, x_max=1e11, detect_against="smallest model",
                verdict_reason="", series_id="")
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.mark.parametrize("a, b, lead, censored, text", [
    (dict(detect_x=1e10), dict(detect_x=1e9), 1.0, False, "1"),
    (dict(detect_x=1e9), dict(detect_x=1e9), 0.0, False, "0"),
    # thresholded never detected: at least log10(x_max 1e11) - log10(1e9) = 2
    (dict(detect_x=np.nan), dict(detect_x=1e9), 2.0, True, "> 2"),
    (dict(detect_x=1e9), dict(detect_x=np.nan), np.nan, False, ""),
])
def test_detection_lead(a, b, lead, censored, text):
    c = _cmp([dict(metric="exact_match", metric_class="discontinuous", verdict="smooth", **a),
              dict(metric="edit_distance", metric_class="continuous", verdict="smooth", **b)])
    p = mirage.metric_pairs(c).iloc[0]
    assert (p["pair"], p["lead_decades"], bool(p["lead_censored"]), p["lead_text"]) == (
        "exact_match|edit_distance", pytest.approx(lead, nan_ok=True), censored, text)


def test_pairs_only_join_thresholded_with_continuous_and_flag_the_mirage():
    c = _cmp([dict(metric="exact_match", metric_class="discontinuous", verdict="emergent", detect_x=1e10),
              dict(metric="multiple_choice_grade", metric_class="discontinuous", verdict="smooth", detect_x=1e10),
              dict(metric="edit_distance", metric_class="continuous", verdict="smooth", detect_x=1e9,
                   metric_variant="tokens=digits")])
    p = mirage.metric_pairs(c)
    assert sorted(p["pair"]) == ["exact_match|edit_distance[tokens=digits]",
                                 "multiple_choice_grade|edit_distance[tokens=digits]"]
    assert p.set_index("pair")["mirage"].to_dict() == {"exact_match|edit_distance[tokens=digits]": True,
                                                       "multiple_choice_grade|edit_distance[tokens=digits]": False}
    v = mirage.pair_verdicts(p).set_index("pair")
    assert v.loc["exact_match|edit_distance[tokens=digits]", ["decidable", "mirage", "b_first"]].tolist() == [1, 1, 1]


def test_cluster_bootstrap_resamples_whole_tasks():
    """Two tasks, one all hits and one all misses: resampling tasks whole can only give 0, 1/2 or 1."""
    hit = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    share, lo, hi = mirage.cluster_bootstrap_share(hit, np.ones(20, bool), ["a"] * 10 + ["b"] * 10, n_boot=400)
    assert share == 0.5 and lo == 0.0 and hi == 1.0


def test_cluster_bootstrap_is_deterministic_and_handles_empty():
    hit = np.random.default_rng(0).random(50) < 0.3
    cl = np.repeat(np.arange(10), 5)
    assert mirage.cluster_bootstrap_share(hit, np.ones(50, bool), cl) == mirage.cluster_bootstrap_share(
        hit, np.ones(50, bool), cl)
    assert all(math.isnan(v) for v in mirage.cluster_bootstrap_share(hit, np.zeros(50, bool), cl))


def _pairs_frame():
    rows = []
    for i, (va, vb, da, db, task) in enumerate([("emergent", "smooth", 1e10, 1e9, "t1"), ("smooth", "smooth", 1e9, 1e9, "t1"),
                                                ("insufficient", "smooth", np.nan, 1e9, "t2"),
                                                ("emergent", "emergent", 1e10, 1e10, "t3")]):
        rows += [dict(group_id=i, task=task, metric="exact_match", metric_class="discontinuous", verdict=va, detect_x=da),
                 dict(group_id=i, task=task, metric="edit_distance", metric_class="continuous", verdict=vb, detect_x=db)]
    return mirage.metric_pairs(_cmp(rows))


def test_headline_numbers_and_sentence():
    h = mirage.headline(_pairs_frame())
    assert (h.n_pairs, h.n_tasks, h.n_decidable, h.n_mirage, h.n_both_emergent, h.n_both_smooth) == (4, 3, 3, 1, 1, 1)
    assert h.mirage_share == pytest.approx(1 / 3)
    # leads: 1, 0, censored >= 2 (x_max 1e11 vs 1e9), 0 -> 2 of 4 with the continuous metric first
    assert (h.n_lead, h.n_lead_censored, h.b_first_share, h.lead_median) == (4, 1, 0.5, pytest.approx(0.5))
    assert "Of 4 pairs" in h.sentence and "in 1 of them (33%" in h.sentence and "1 censored" in h.sentence


def test_headline_without_pairs_says_so():
    assert "cannot be tested" in mirage.headline(pd.DataFrame()).sentence


def test_shares_over_decidable_series_only():
    s = pd.DataFrame({"source": "s", "task": ["a", "b", "c", "d", "e"], "metric": "exact_match",
                      "metric_class": "discontinuous", "primary": [True, True, True, True, False],
                      "verdict": ["emergent", "smooth", "insufficient", "no signal", "emergent"],
                      "emergence_score": [1.0, 2.0, 3.0, 4.0, 5.0]})
    r = mirage.shares(s, "metric").iloc[0]
    assert (r["n_series"], r["n_decidable"], r["n_emergent"], r["n_insufficient"], r["n_no_signal"]) == (4, 2, 1, 1, 1)
    assert r["share_emergent"] == 0.5 and r["ci_low"] <= 0.5 <= r["ci_high"]


def test_fdr_families():
    s = pd.DataFrame({"fdr_family": ["size", "size", "step", ""], "pre_state": ["tested", "insufficient", "tested",
                                                                                  "tested"],
                      "p_value": [0.01, np.nan, 1.0, 0.5], "emergent": [True, False, False, False]})
    f = mirage.fdr_families(s).set_index("fdr_family")
    assert f.loc["size", ["n_series", "n_tested", "n_sharp_fit", "n_emergent"]].tolist() == [2, 1, 1, 1]
    assert f.loc["step", ["n_tested", "n_sharp_fit"]].tolist() == [1, 0]


# ----------------------------------------------------------------------------- real outputs
@pytest.fixture(scope="module")
def multiplication(shared_data):
    from emergence.analysis.replications import multiplication_by_digits
    from emergence.ingestion.sources import multiplication as src
    root = require_shared("gpt3-multiplication-tables")
    return multiplication_by_digits(src.parse(root).examples), root


def test_multiplication_by_digits_against_the_raw_files(multiplication):
    """Exact match per operand-digit split, recomputed with pandas from the raw CSV (completion == str(a*b))."""
    by, root = multiplication
    assert set(by["split"]) == {"1x1", "1x2", "2x2"} and (by.groupby("split")["n"].first().to_dict()
                                                         == {"1x1": 100, "1x2": 1800, "2x2": 8100})
    raw = pd.read_csv(root / "data" / "multiplication_data_GPT3-text-davinci-003_0_100.csv", dtype={"completion": str},
                      keep_default_na=False)
    digits = raw["a"].astype(str).str.len().combine(raw["b"].astype(str).str.len(), lambda u, v: f"{min(u, v)}x{max(u, v)}")
    right = raw["completion"].str.strip() == (raw["a"] * raw["b"]).astype(str)
    for split in ("1x1", "1x2", "2x2"):
        want = float(right[digits == split].mean())
        got = by[(by["split"] == split) & (by["model"] == "text-davinci-003")]["exact_match"].iloc[0]
        assert got == pytest.approx(want)


def test_multiplication_shows_exact_match_falling_with_target_length(multiplication):
    """Schaeffer et al. Fig. 3's pattern on real completions: for the largest model, exact match falls as the
    target grows while the edit distance stays small."""
    by, _ = multiplication
    big = by[by["model"] == "text-davinci-003"].set_index("split")
    assert big.loc["1x1", "exact_match"] > big.loc["2x2", "exact_match"]
    assert (big["edit_distance"] < 0.5).all()


def test_multiplication_verdicts_have_a_state_and_a_lead(multiplication):
    from emergence.analysis.replications import multiplication_verdicts
    by, _ = multiplication
    v = multiplication_verdicts(by)
    assert len(v) == 6 and v["verdict"].isin(["emergent", "smooth", "insufficient", "no signal"]).all()
    assert v["verdict_reason"].str.len().gt(0).all()
    em = v[v["metric"] == "exact_match"]
    assert em["lead_text"].str.len().gt(0).all()
