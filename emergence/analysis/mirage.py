"""The mirage on the same outputs: pairs of metrics, detection leads, shares with intervals, and what the data say.

Schaeffer, Miranda & Koyejo (2023) argue that emergence is a property of the metric: the same
model outputs read through a thresholded metric (multiple choice grade, exact match) look sharp,
through a continuous one (Brier score, edit distance, log-likelihood) smooth.  The direct test is
a *pair*: two series computed from the same outputs (:func:`emergence.analysis.series.compare` finds them),
one thresholded, one continuous.  This module turns the paired table into

- :func:`metric_pairs`: one row per (outputs, thresholded metric a, continuous metric b) with both
  verdicts (:mod:`emergence.analysis.verdict`) and the **detection lead**;
- :func:`pair_verdicts`: per metric pair, how the verdicts combine;
- :func:`headline`: how often the thresholded metric is called emergent while the continuous one
  is smooth (the mirage pattern), the detection lead across pairs, with intervals from a bootstrap
  that resamples whole tasks, and one sentence saying what the data show;
- :func:`shares`: per metric and per metric class, the share called emergent over the series the
  verdict could decide (emergent or smooth), with task-bootstrap intervals.

The detection lead (METHODS.md Sec. 8).  For each metric of a pair, its detection scale is the
smallest size from which every larger size is significantly better than chance (or, with no chance
level, than the smallest model, paired per example where examples exist;
:func:`emergence.analysis.scores.detection_scale`).  The lead is ``log10(detect_a) - log10(detect_b)``
decades: positive when the continuous metric sees the ability earlier, as the mirage predicts.
When the thresholded metric never gets there and the continuous one does, the lead is censored:
at least ``log10(x_max_a) - log10(detect_b)`` (shown with ``>``).  With no detection of the
continuous metric there is no lead.

Intervals.  Pairs from one task are not independent (the same questions, often the same models),
so a share's interval comes from a percentile bootstrap over tasks (``source/task`` clusters,
resampled whole with replacement; Davison & Hinkley 1997, Sec. 3.8), seeded, so the same store
gives the same interval.

References
----------
Schaeffer, R., Miranda, B. & Koyejo, S. (2023). Are Emergent Abilities of Large Language Models a
Mirage? NeurIPS 2023, Sec. 3-5.
Wei, J. et al. (2022). Emergent Abilities of Large Language Models. TMLR.
Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their Application, Sec. 3.8.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from emergence.keys import GROUP_KEY, select
from emergence.analysis.metrics import CONTINUOUS, THRESHOLDED

__all__ = ["PAIR_COLUMNS", "DECIDABLE", "metric_pairs", "with_metric", "PairIndex", "pair_index", "pairs_within",
           "pair_verdicts", "Headline", "headline", "shares",
           "cluster_bootstrap_share", "fdr_families", "N_BOOT", "SEED"]

#: the states in which the verdict decided something
DECIDABLE = ("emergent", "smooth")
N_BOOT = 1000
SEED = 20231128

_PAIR_KEYS = ["group_id", *GROUP_KEY, "variant"]
_SIDE = ["metric", "metric_class", "verdict", "verdict_reason", "emergence_score", "q_value", "emergent", "flag",
         "detect_x", "detect_against", "x_min", "x_max", "n_scales", "series_id"]
#: columns of :func:`metric_pairs`
PAIR_COLUMNS = _PAIR_KEYS + ["pair"] + [f"{c}_a" for c in _SIDE] + [f"{c}_b" for c in _SIDE] + [
    "lead_decades", "lead_censored", "lead_text", "mirage"]


def metric_pairs(compare: pd.DataFrame) -> pd.DataFrame:
    """The paired table as (thresholded a, continuous b) pairs on the same outputs, with the lead.

    Parameters
    ----------
    compare : pandas.DataFrame
        :func:`emergence.analysis.series.compare` rows (with the verdict and detection columns).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PAIR_COLUMNS`, one row per group and (a, b) with ``a`` discontinuous or
        nonlinear and ``b`` continuous; ``pair`` is ``'a|b'`` (a metric read with a variant, e.g.
        digit tokens, is spelled ``metric[variant]``); ``mirage`` is True where a is emergent and
        b smooth; ``lead_text`` the lead as shown (``'1.2'``, ``'> 0.8'`` or ``''``).
    """
    if compare is None or len(compare) == 0:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    c = compare.copy()
    for col in _SIDE:
        if col not in c.columns:
            c[col] = np.nan
    mv = c["metric_variant"].fillna("").astype(str) if "metric_variant" in c.columns else pd.Series("", index=c.index)
    c["metric"] = c["metric"].astype(str) + np.where(mv != "", "[" + mv + "]", "")
    a = c[c["metric_class"].isin(THRESHOLDED)][["group_id"] + _SIDE]
    b = c[c["metric_class"].isin(CONTINUOUS)][["group_id"] + _SIDE]
    keys = c.drop_duplicates("group_id")[[k for k in _PAIR_KEYS if k in c.columns]]
    m = a.merge(b, on="group_id", suffixes=("_a", "_b")).merge(keys, on="group_id")
    if m.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    for k in _PAIR_KEYS:
        if k not in m.columns:
            m[k] = ""
    m["pair"] = m["metric_a"] + "|" + m["metric_b"]
    da = pd.to_numeric(m["detect_x_a"], errors="coerce").to_numpy(dtype=float)
    db = pd.to_numeric(m["detect_x_b"], errors="coerce").to_numpy(dtype=float)
    xa = pd.to_numeric(m["x_max_a"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        both = np.isfinite(da) & np.isfinite(db) & (da > 0) & (db > 0)
        cens = ~np.isfinite(da) & np.isfinite(db) & (db > 0) & np.isfinite(xa) & (xa > 0)
        lead = np.where(both, np.log10(da) - np.log10(db), np.where(cens, np.log10(xa) - np.log10(db), np.nan))
    m["lead_decades"] = lead
    m["lead_censored"] = cens
    m["lead_text"] = [("> " if c_ else "") + f"{v:.2g}" if np.isfinite(v) else "" for v, c_ in zip(lead, cens)]
    m["mirage"] = (m["verdict_a"] == "emergent") & (m["verdict_b"] == "smooth")
    return m[PAIR_COLUMNS].sort_values(["pair", "group_id"], kind="stable").reset_index(drop=True)


def with_metric(compare: pd.DataFrame, metric) -> np.ndarray:
    """The rows of a paired table (:func:`emergence.analysis.series.compare`) kept by a metric filter: every
    row of a group that holds one of ``metric`` (a value or a list), so that a pair is there when either of its
    metrics is wanted, with the rest of its group."""
    wanted = [metric] if isinstance(metric, str) else list(metric)
    return compare["group_id"].isin(compare.loc[compare["metric"].isin(wanted), "group_id"]).to_numpy(dtype=bool)


@dataclass(frozen=True)
class PairIndex:
    """The paired tables of one whole series table (one scale axis), computed once for :func:`pairs_within`.

    ``series`` the series rows as read; ``compare`` and ``pairs`` what
    :func:`emergence.analysis.series.compare` and :func:`metric_pairs` make of all of them; ``base`` per series
    row, the number of its group of outputs (:data:`emergence.keys.GROUP_KEY`, blanks and missing values as
    one, so never finer than the groups ``compare`` pairs within).
    """
    series: pd.DataFrame
    compare: pd.DataFrame
    pairs: pd.DataFrame
    base: np.ndarray


def pair_index(series: pd.DataFrame) -> PairIndex:
    """:class:`PairIndex` of a whole series table (one scale axis)."""
    from emergence.analysis.series import compare
    c = compare(series)
    cols = {k: (series[k].astype(object).where(series[k].notna(), "").astype(str) if k in series.columns else "")
            for k in GROUP_KEY}
    base = pd.DataFrame(cols, index=series.index).groupby(list(GROUP_KEY), sort=False).ngroup() \
        if len(series) else pd.Series([], dtype=int)
    return PairIndex(series, c, metric_pairs(c), base.to_numpy(dtype=np.int64))


def pairs_within(index: PairIndex, filters: dict | None) -> pd.DataFrame:
    """:func:`metric_pairs` of the series a view's ``filters`` select (:func:`emergence.keys.select`, the store's
    rule; a metric filter as :func:`with_metric`), read from the whole table's pairs: the same rows, values and
    order as pairing the view's series on their own, ``group_id`` numbered within the view.

    Pairs form within a group of outputs, and the filters on ``source``, ``task``, ``subtask``, ``family`` and
    ``shots`` take whole groups, so the view's pairs are the whole table's pairs of its groups.  A filter that
    cuts a group (a family filter matching ``source_family`` in some of a group's rows only) has them paired on
    their own instead.  Column types are the whole table's (``shots`` stays an integer column where a view's
    own pairing could make it float, as pandas does when one of its parts is empty).
    """
    f = dict(filters or {})
    metric = f.pop("metric", None)
    view = select(index.series, f)
    nb = int(index.base.max()) + 1 if len(index.base) else 0
    inside = np.bincount(index.base[view], minlength=nb)
    if ((inside > 0) & (inside < np.bincount(index.base, minlength=nb))).any():
        from emergence.analysis.series import compare
        c = compare(index.series[view])
        if metric is not None and len(c):
            c = c[with_metric(c, metric)].reset_index(drop=True)
        return metric_pairs(c)
    cmp = index.compare
    rows = cmp["series_id"].isin(index.series.loc[view, "series_id"]).to_numpy(dtype=bool)
    groups = np.unique(cmp["group_id"].to_numpy()[rows])          # the view's groups, in the whole table's order
    if metric is not None:
        rows = rows & with_metric(cmp, metric)
    kept = index.pairs["group_id"].isin(cmp["group_id"].to_numpy()[rows]).to_numpy(dtype=bool)
    if not kept.any():
        return pd.DataFrame(columns=PAIR_COLUMNS)
    out = index.pairs[kept].reset_index(drop=True)
    out["group_id"] = np.searchsorted(groups, out["group_id"].to_numpy()) + 1
    return out


def pair_verdicts(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per metric pair: how the two verdicts combine, and the detection lead.

    ``decidable`` counts pairs whose two series are both emergent or smooth; of those, ``mirage``
    (a emergent, b smooth: Schaeffer et al.'s pattern), ``both_emergent``, ``both_smooth`` and
    ``reverse`` (a smooth, b emergent).  ``with_lead`` counts pairs with a detection lead,
    ``lead_median`` is the median lead over them (censored leads at their bound, so it is a lower
    bound when some are censored), ``b_first`` the pairs whose continuous metric detects the
    ability at a smaller size (or only it does).
    """
    cols = ["pair", "n_pairs", "decidable", "mirage", "both_emergent", "both_smooth", "reverse", "with_lead",
            "b_first", "lead_median", "n_censored"]
    if pairs is None or len(pairs) == 0:
        return pd.DataFrame(columns=cols)
    p = pairs.copy()
    va, vb = p["verdict_a"].astype(str), p["verdict_b"].astype(str)
    dec = va.isin(DECIDABLE) & vb.isin(DECIDABLE)
    p["_dec"] = dec
    p["_mir"] = dec & (va == "emergent") & (vb == "smooth")
    p["_be"] = dec & (va == "emergent") & (vb == "emergent")
    p["_bs"] = dec & (va == "smooth") & (vb == "smooth")
    p["_rev"] = dec & (va == "smooth") & (vb == "emergent")
    lead = pd.to_numeric(p["lead_decades"], errors="coerce")
    p["_lead"] = lead.notna()
    p["_first"] = lead > 0
    p["_cens"] = p["lead_censored"].astype("boolean").fillna(False).astype(bool)
    p["_lv"] = lead
    g = p.groupby("pair", sort=True)
    out = g.agg(n_pairs=("group_id", "size"), decidable=("_dec", "sum"), mirage=("_mir", "sum"),
                both_emergent=("_be", "sum"), both_smooth=("_bs", "sum"), reverse=("_rev", "sum"),
                with_lead=("_lead", "sum"), b_first=("_first", "sum"), lead_median=("_lv", "median"),
                n_censored=("_cens", "sum")).reset_index()
    for c in cols[1:]:
        if c != "lead_median":
            out[c] = out[c].astype(int)
    return out[cols].sort_values(["decidable", "with_lead", "n_pairs"], ascending=False, kind="stable") \
        .reset_index(drop=True)


def _clusters(frame: pd.DataFrame) -> np.ndarray:
    return (frame["source"].astype(str) + "/" + frame["task"].astype(str)).to_numpy()


def cluster_bootstrap_share(hit, use, clusters, *, n_boot: int = N_BOOT, seed: int = SEED,
                            confidence: float = 0.95) -> tuple[float, float, float]:
    """A share ``sum(hit & use) / sum(use)`` and its percentile interval from resampling clusters whole.

    Parameters
    ----------
    hit, use : array_like of bool
        Per item: counted, and in the denominator.
    clusters : array_like
        Per item, its cluster (a task): clusters are drawn with replacement, items never apart.

    Returns
    -------
    (share, low, high) : floats (NaN without any item in use)
    """
    hit = np.asarray(hit, dtype=bool)
    use = np.asarray(use, dtype=bool)
    cl = np.asarray(clusters)
    if not use.any():
        return float("nan"), float("nan"), float("nan")
    codes, inv = np.unique(cl[use], return_inverse=True)
    h = np.bincount(inv, weights=hit[use].astype(float), minlength=codes.size)
    n = np.bincount(inv, minlength=codes.size).astype(float)
    share = float(h.sum() / n.sum())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, codes.size, size=(n_boot, codes.size))
    hb = h[draws].sum(axis=1)
    nb = n[draws].sum(axis=1)
    sb = hb / nb
    a = (1 - confidence) / 2
    return share, float(np.quantile(sb, a)), float(np.quantile(sb, 1 - a))


@dataclass(frozen=True)
class Headline:
    """What the paired outputs say (:func:`headline`).

    Attributes
    ----------
    n_pairs, n_tasks : int
        Pairs of series on the same outputs, and the tasks they come from.
    n_decidable : int
        Pairs whose two verdicts are both emergent or smooth.
    mirage_share, mirage_low, mirage_high : float
        Of the decidable pairs, the share with the thresholded metric emergent and the continuous
        one smooth, and its task-bootstrap interval.
    n_mirage, n_both_emergent, n_both_smooth, n_reverse : int
        The decidable pairs by their verdicts.
    n_lead : int
        Pairs with a detection lead; ``n_lead_censored`` of them censored.
    lead_median : float
        Median lead (decades) over them (censored at their bound: a lower bound when any is).
    b_first_share, b_first_low, b_first_high : float
        Of the pairs with a lead, the share where the continuous metric detects the ability at a
        smaller size, and its interval.
    sentence : str
        One sentence saying what the data show, from these numbers.
    """

    n_pairs: int
    n_tasks: int
    n_decidable: int
    mirage_share: float
    mirage_low: float
    mirage_high: float
    n_mirage: int
    n_both_emergent: int
    n_both_smooth: int
    n_reverse: int
    n_lead: int
    n_lead_censored: int
    lead_median: float
    b_first_share: float
    b_first_low: float
    b_first_high: float
    sentence: str


def _pct(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{100 * v:.0f}%"


def headline(pairs: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = SEED) -> Headline:
    """The paired evidence in numbers and one sentence (see the module docstring)."""
    if pairs is None or len(pairs) == 0:
        return Headline(0, 0, 0, *(float("nan"),) * 3, 0, 0, 0, 0, 0, 0, float("nan"), *(float("nan"),) * 3,
                        "No series in these filters has the same outputs under a thresholded and a continuous "
                        "metric, so the mirage cannot be tested here.")
    p = pairs
    cl = _clusters(p)
    va, vb = p["verdict_a"].astype(str).to_numpy(), p["verdict_b"].astype(str).to_numpy()
    dec = np.isin(va, DECIDABLE) & np.isin(vb, DECIDABLE)
    mir = dec & (va == "emergent") & (vb == "smooth")
    share, lo, hi = cluster_bootstrap_share(mir, dec, cl, n_boot=n_boot, seed=seed)
    lead = pd.to_numeric(p["lead_decades"], errors="coerce").to_numpy(dtype=float)
    has = np.isfinite(lead)
    cens = p["lead_censored"].astype("boolean").fillna(False).to_numpy(dtype=bool) & has
    first = has & (lead > 0)
    bshare, blo, bhi = cluster_bootstrap_share(first, has, cl, n_boot=n_boot, seed=seed)
    med = float(np.median(lead[has])) if has.any() else float("nan")
    n_tasks = int(np.unique(cl).size)
    parts = [f"Of {len(p):,} pairs of series scored from the same outputs ({n_tasks:,} tasks), "
             f"{int(dec.sum()):,} can be decided on both sides"]
    if dec.any():
        parts.append(f"; in {int(mir.sum()):,} of them ({_pct(share)}, 95% CI {_pct(lo)}–{_pct(hi)} over tasks) the "
                     f"thresholded metric is called emergent while the continuous one is smooth, and in "
                     f"{int((dec & (va == 'emergent') & (vb == 'emergent')).sum()):,} both are emergent")
    if has.any():
        parts.append(f". The continuous metric detects the ability at a smaller size in {int(first.sum()):,} of "
                     f"{int(has.sum()):,} pairs with a detection lead ({_pct(bshare)}, 95% CI {_pct(blo)}–{_pct(bhi)}; "
                     f"median lead {med:+.2g} decades"
                     + (f", {int(cens.sum()):,} censored because the thresholded metric never gets there" if cens.any()
                        else "") + ").")
    else:
        parts.append(". No pair has a detection lead (neither metric is significantly above chance or the smallest "
                     "model at every larger size, or the series report no noise).")
    sentence = "".join(parts)
    return Headline(len(p), n_tasks, int(dec.sum()), share, lo, hi, int(mir.sum()),
                    int((dec & (va == "emergent") & (vb == "emergent")).sum()),
                    int((dec & (va == "smooth") & (vb == "smooth")).sum()),
                    int((dec & (va == "smooth") & (vb == "emergent")).sum()),
                    int(has.sum()), int(cens.sum()), med, bshare, blo, bhi, sentence)


def shares(series: pd.DataFrame, by: str = "metric", *, n_boot: int = N_BOOT, seed: int = SEED) -> pd.DataFrame:
    """Per metric (or metric class): the share called emergent over the decidable series, with intervals.

    Only series the verdict tested on their own axis count (the primary rows).  ``n_series``
    counts them all, ``n_decidable`` those emergent or smooth, ``share_emergent`` =
    ``n_emergent / n_decidable`` with a task-bootstrap interval (``ci_low``, ``ci_high``);
    the other states are counted too, so a share says how much stands behind it.

    Parameters
    ----------
    series : pandas.DataFrame
        Rows of the series table.
    by : {'metric', 'metric_class'}
    """
    cols = [by] + (["metric_class"] if by == "metric" else []) + [
        "n_series", "n_decidable", "n_emergent", "n_smooth", "n_insufficient", "n_no_signal", "share_emergent",
        "ci_low", "ci_high", "median_emergence_score"]
    if series is None or len(series) == 0:
        return pd.DataFrame(columns=cols)
    s = series
    if "primary" in s.columns:
        s = s[s["primary"].astype("boolean").fillna(False).to_numpy(dtype=bool)]
    if s.empty:
        return pd.DataFrame(columns=cols)
    v = s["verdict"].astype(str)
    rows = []
    for key, g in s.groupby(by if by == "metric_class" else [by, "metric_class"], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        gv = v.loc[g.index]
        dec = gv.isin(DECIDABLE).to_numpy()
        em = (gv == "emergent").to_numpy()
        share, lo, hi = cluster_bootstrap_share(em, dec, _clusters(g), n_boot=n_boot, seed=seed)
        row = dict(zip([by] + (["metric_class"] if by == "metric" else []), key))
        row.update(n_series=len(g), n_decidable=int(dec.sum()), n_emergent=int(em.sum()),
                   n_smooth=int((gv == "smooth").sum()), n_insufficient=int((gv == "insufficient").sum()),
                   n_no_signal=int((gv == "no signal").sum()), share_emergent=share, ci_low=lo, ci_high=hi,
                   median_emergence_score=float(pd.to_numeric(g["emergence_score"], errors="coerce").median()))
        rows.append(row)
    return pd.DataFrame(rows)[cols].sort_values(["n_decidable", "n_series"], ascending=False, kind="stable") \
        .reset_index(drop=True)


def fdr_families(series: pd.DataFrame) -> pd.DataFrame:
    """The false-discovery families of the store (METHODS.md Sec. 6): per family, how many series were
    tested (one test per series: size-axis series on their primary axis; training-step series), how many
    reached the test with a positive statistic, and how many are called emergent."""
    cols = ["fdr_family", "question", "n_series", "n_tested", "n_sharp_fit", "n_emergent"]
    if series is None or len(series) == 0 or "fdr_family" not in series.columns:
        return pd.DataFrame(columns=cols)
    s = series[series["fdr_family"].astype(str) != ""]
    q = {"size": "is there a sharp onset with model size?", "step": "is there a sharp onset over training steps?"}
    rows = []
    for fam, g in s.groupby("fdr_family", sort=True):
        tested = (g["pre_state"] == "tested") & pd.to_numeric(g["p_value"], errors="coerce").notna()
        rows.append({"fdr_family": fam, "question": q.get(fam, ""), "n_series": len(g), "n_tested": int(tested.sum()),
                     "n_sharp_fit": int((tested & (pd.to_numeric(g["p_value"], errors="coerce") < 1)).sum()),
                     "n_emergent": int(g["emergent"].astype(bool).sum())})
    return pd.DataFrame(rows, columns=cols)
