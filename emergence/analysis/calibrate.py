"""Calibration of the emergent call: simulated smooth and sharp series, false-call and power tables.

A statistical claim ships with its calibration (METHODS.md Sec. 8).  This module simulates a
store of mostly smooth scaling series at the sizes and noise of real ones, runs the very
verdict the store uses (:func:`emergence.analysis.verdict.assess` then :func:`~emergence.analysis.verdict.decide`,
one Benjamini-Hochberg family over the whole simulated store), and tabulates how often each kind
of series is called ``emergent`` (false calls for smooth kinds, power for sharp ones) and how
the other states are shared.  ``emergence calibrate`` and ``bench/calibrate.py`` print the
tables; BENCHMARKS.md records them with the command.

Smooth kinds (truth: no sharp onset), each over 4-30 sizes spanning 2-5 decades, binomial noise
at n in {100, 1000, 10000} (proportions) or a reported 0.5 % standard error (losses), with and
without model-to-model scatter (sd 0.02, in the metric's units, not reported to the verdict):

``line``
    a straight line in log N rising by 0.3-0.9 over the observed span.
``logistic``
    a logistic in log10 N with a 10-90 % width of 2.5-6 decades, midpoint inside the sizes.
``flat``
    a constant between 0.05 and 0.9 (e.g. at chance throughout).
``loss`` / ``perplexity``
    a power law L(N) = c + a N^-b (b in 0.05-0.5, c in 1.5-2.5 nats, L - c from 1 to 4 nats at
    the smallest size), as the loss or as its exponential with a 0.5 % reported stderr.
``mirage``
    exact match p(N)^L of an L-token target, p = exp(-(N/c)^alpha) with alpha in 0.2-0.5
    (Schaeffer et al. 2023 Sec. 2; a Gompertz curve in log N, 10-90 % width 1.34/alpha, 2.7-6.7
    decades), its half-point inside the sizes or up to 2 decades beyond them.

Sharp kind (truth: emergent):

``jump``
    flat at a level in [0, 0.05] (a quarter of the series exactly 0), then a jump of 0.35-0.9
    between two adjacent sizes, flat after; >= 3 sizes on each side; n in {1000, 10000}; scatter 0
    or 0.01.  Sizes 0.25-0.6 decades apart (a jump between sizes more than the width threshold
    apart cannot be told from a smooth rise: those are tabulated separately as ``jump_coarse``).

References
----------
Schaeffer, R., Miranda, B. & Koyejo, S. (2023). Are Emergent Abilities of Large Language Models a
Mirage? NeurIPS 2023, Sec. 2 (the mathematical model), Sec. 3 (resolution 1/n).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from emergence.analysis import verdict as V

__all__ = ["SMOOTH_KINDS", "SHARP_KINDS", "simulate_store", "run", "tables", "boundary", "TARGETS"]

SMOOTH_KINDS = ("line", "logistic", "flat", "loss", "perplexity", "mirage")
SHARP_KINDS = ("jump", "jump_coarse")
#: kind (and scatter) -> the most (false calls) or least (power) share called emergent allowed
TARGETS = {
    ("smooth", 0.0): ("<=", 0.05), ("smooth", 0.02): ("<=", 0.10),
    ("loss", None): ("<=", 0.05), ("perplexity", None): ("<=", 0.05), ("mirage", None): ("<=", 0.05),
    ("jump", None): (">=", 0.80),
}
_PROPORTION_KINDS = ("line", "logistic", "flat", "mirage", "jump", "jump_coarse")


def _sizes(rng, k: int, span: float) -> np.ndarray:
    lo = rng.uniform(6.5, 9.0)
    return np.logspace(lo, lo + span, k)


def _one(rng, kind: str, k: int, n: int, scatter: float):
    """One simulated series: (x, y, n_examples or NaN, stderr or NaN, metric, higher_is_better)."""
    if kind == "jump":
        spacing = rng.uniform(0.25, 0.6)
        x = _sizes(rng, k, spacing * (k - 1))
    elif kind == "jump_coarse":
        spacing = rng.uniform(1.2, 2.0)
        x = _sizes(rng, k, spacing * (k - 1))
    else:
        x = _sizes(rng, k, rng.uniform(2.0, 5.0))
    t = np.log10(x)
    tmin, tmax = t[0], t[-1]
    nan = np.full(k, np.nan)
    if kind in ("loss", "perplexity"):
        b = rng.uniform(0.05, 0.5)
        c = rng.uniform(1.5, 2.5)
        a = rng.uniform(1.0, 4.0) * x[0] ** b
        L = c + a * x ** -b + scatter * rng.standard_normal(k)
        if kind == "loss":
            y = L * (1 + 0.005 * rng.standard_normal(k))
            return x, y, nan, 0.005 * np.abs(y), "loss", False
        ppl = np.exp(L)
        y = ppl * (1 + 0.005 * rng.standard_normal(k))
        return x, y, nan, 0.005 * y, "perplexity", False
    if kind == "line":
        y0 = rng.uniform(0.02, 0.3)
        rise = rng.uniform(0.3, 0.9) * (1 - y0)
        p = y0 + rise * (t - tmin) / (tmax - tmin)
    elif kind == "logistic":
        w = rng.uniform(2.5, 6.0)
        t0 = rng.uniform(tmin, tmax)
        lo, hi = rng.uniform(0.0, 0.3), rng.uniform(0.6, 1.0)
        p = lo + (hi - lo) / (1 + np.exp(-(t - t0) * V.WIDTH_PER_S / w))
    elif kind == "flat":
        p = np.full(k, rng.uniform(0.05, 0.9))
    elif kind == "mirage":
        alpha = rng.uniform(0.2, 0.5)
        L = int(rng.integers(1, 11))
        half = rng.uniform(tmin + 0.3 * (tmax - tmin), tmax + 2.0)       # where p^L = 1/2
        # p^L = exp(-L (N/c)^-alpha) = 1/2 at N = 10^half  ->  c = 10^half * (ln 2 / L)^(1/alpha)
        c = 10 ** half * (np.log(2) / L) ** (1 / alpha)
        p = np.exp(-L * (x / c) ** -alpha)
    else:                                                                  # jump, jump_coarse
        before = 0.0 if rng.uniform() < 0.25 else rng.uniform(0.0, 0.05)
        jump = rng.uniform(0.35, 0.9)
        after = min(1.0, before + jump)
        j = int(rng.integers(3, k - 2))                                    # >= 3 sizes on each side
        p = np.where(np.arange(k) < j, before, after)
    p = np.clip(p + scatter * rng.standard_normal(k), 0.0, 1.0)
    y = rng.binomial(n, p) / n
    metric = "exact_match" if kind in ("mirage", "jump", "jump_coarse") else "accuracy"
    return x, y, np.full(k, float(n)), nan, metric, True


def simulate_store(*, per_cell: int = 20, seed: int = 0, sizes=(4, 6, 8, 12, 20, 30), ns=(100, 1000, 10000),
                   scatters=(0.0, 0.02), sharp_sizes=(7, 8, 12, 20, 30), sharp_ns=(1000, 10000),
                   sharp_scatters=(0.0, 0.01), pool_size: int = 10, kinds=SMOOTH_KINDS + SHARP_KINDS) -> pd.DataFrame:
    """A simulated store: a long points frame, one row per (series, size).

    ``per_cell`` series per (kind, number of sizes, n, scatter) cell; series of one cell are
    grouped into scatter pools of ``pool_size`` (as the series of one model family are).
    Columns: ``series, kind, truth, k, n, scatter, pool, x, y, n_examples, stderr, metric,
    higher_is_better, proportion``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    sid = 0
    for kind in kinds:
        sharp = kind in SHARP_KINDS
        ks = [k for k in (sharp_sizes if sharp else sizes) if not sharp or k >= 7]
        if kind == "jump_coarse":
            ks = [k for k in ks if k <= 8]
        n_list = sharp_ns if sharp else (ns if kind in _PROPORTION_KINDS else (0,))
        for k in ks:
            for n in n_list:
                for sc in (sharp_scatters if sharp else scatters):
                    for r in range(per_cell):
                        x, y, nex, se, metric, hib = _one(rng, kind, k, n, sc)
                        pool = f"{kind}|{k}|{n}|{sc}|{r // pool_size}"
                        rows.append(pd.DataFrame({
                            "series": sid, "kind": kind, "truth": "sharp" if sharp else "smooth", "k": k, "n": n,
                            "scatter": sc, "pool": pool, "x": x, "y": y, "n_examples": nex, "stderr": se,
                            "metric": metric, "higher_is_better": hib, "proportion": kind in _PROPORTION_KINDS}))
                        sid += 1
    return pd.concat(rows, ignore_index=True)


def run(points: pd.DataFrame, *, n_boot: int = V.DEFAULT_N_BOOT, width_threshold: float = V.WIDTH_THRESHOLD,
        fdr_level: float = V.FDR_LEVEL) -> pd.DataFrame:
    """The store's verdict on a simulated store: one row per series with its truth and state."""
    meta = points.groupby("series", sort=True)[["kind", "truth", "k", "n", "scatter", "pool"]].first().reset_index()
    a = V.assess(points, ["series"], pools=[["pool"]], n_boot=n_boot, width_threshold=width_threshold)
    d = V.decide(a, fdr_level=fdr_level, width_threshold=width_threshold)
    return meta.merge(d, on="series", how="left")


def tables(res: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """False-call and power tables.

    Returns
    -------
    dict
        ``'by_kind'``: per kind and scatter, the number and share called emergent with a 95 % Wilson
        interval, and the share of each other state; ``'by_size'``: called emergent per kind and number of
        sizes; ``'by_n'``: per kind and n; ``'targets'``: each target of the issue, the measured
        share, its interval and whether it holds.
    """
    from emergence.analysis.intervals import wilson_interval as wilson

    def share(g):
        n = len(g)
        e = int(g["emergent"].sum())
        lo, hi = wilson(e, n)
        out = {"series": n, "n_emergent": e, "share_emergent": e / n if n else np.nan, "ci_low": lo, "ci_high": hi}
        for st in V.STATES:
            if st != "emergent":                       # its share is share_emergent
                out[st] = float((g["verdict"] == st).mean()) if n else np.nan
        return pd.Series(out)

    def table(keys):
        t = res.groupby(keys, sort=True).apply(share, include_groups=False).reset_index()
        return t.astype({"series": int, "n_emergent": int})

    by_kind, by_size, by_n = table(["truth", "kind", "scatter"]), table(["truth", "kind", "k"]), table(
        ["truth", "kind", "n"])
    rows = []
    smooth = res[res["truth"] == "smooth"]
    prop = smooth[smooth["kind"].isin(("line", "logistic", "flat"))]
    for (what, sc), (op, bound) in TARGETS.items():
        if what == "smooth":
            g = prop[prop["scatter"] == sc]
            label = f"smooth proportions (line, logistic, flat), scatter {sc:g}"
        else:
            g = res[res["kind"] == what]
            label = {"loss": "power-law losses", "perplexity": "their perplexities",
                     "mirage": "mirage exact match p(N)^L", "jump": "jumps (sizes <= 0.6 decades apart)"}[what]
        s = share(g)
        holds = s["share_emergent"] <= bound if op == "<=" else s["share_emergent"] >= bound
        rows.append({"target": label, "series": int(s["series"]), "share_emergent": s["share_emergent"],
                     "ci_low": s["ci_low"], "ci_high": s["ci_high"], "target_op": op, "target_bound": bound,
                     "holds": bool(holds)})
    return {"by_kind": by_kind, "by_size": by_size, "by_n": by_n, "targets": pd.DataFrame(rows)}


def boundary(*, n_series: int = 300, sizes: int = 13, n: int = 1000, seed: int = 7, n_boot: int = V.DEFAULT_N_BOOT,
             width_threshold: float = V.WIDTH_THRESHOLD) -> pd.DataFrame:
    """The test at the edge of its null: series drawn from a logistic exactly W wide (binomial noise at
    ``n``; the midpoint uniform over the middle decade), before any FDR step.  A valid test rejects at
    most at its level there, and less inside the null (wider logistics).

    Returns
    -------
    pandas.DataFrame
        One row per level (0.01, 0.05, 0.10): the share of p-values at or below it, with its Wilson
        interval.
    """
    from emergence.analysis.intervals import wilson_interval
    rng = np.random.default_rng(seed)
    x = np.logspace(8, 11, sizes)
    t = np.log10(x)
    rows = []
    for s in range(n_series):
        p = 0.05 + 0.5 / (1 + np.exp(-(t - rng.uniform(9.0, 10.0)) * V.WIDTH_PER_S / width_threshold))
        rows.append(pd.DataFrame({"s": s, "x": x, "y": rng.binomial(n, p) / n, "n_examples": float(n),
                                  "proportion": True, "higher_is_better": True}))
    a = V.assess(pd.concat(rows, ignore_index=True), ["s"], n_boot=n_boot, width_threshold=width_threshold)
    out = []
    for level in (0.01, 0.05, 0.10):
        k = int((a["p_value"] <= level).sum())
        lo, hi = wilson_interval(k, n_series)
        out.append({"level": level, "series": n_series, "rejected": k, "share": k / n_series, "ci_low": float(lo),
                    "ci_high": float(hi)})
    return pd.DataFrame(out)
