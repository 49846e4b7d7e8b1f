"""The verdict on one scaling series: is there a *sharp onset*, a smooth rise, no signal, or too little data?

What an emergence call must mean (METHODS.md Sec. 8).  Schaeffer, Miranda & Koyejo (2023) define
emergent abilities as *sharp and unpredictable*; Hu et al. (2023) as growth faster than the task
scaling law.  The emergence score of Srivastava et al. (2022) cannot carry that call: it grows
with the number of sizes and its median-step denominator shrinks on any geometric decay, so it
calls smooth power laws "emergent" (kept as a descriptive column, :mod:`emergence.analysis.scores`).
This module operationalises a *sharp onset* and calibrates it (``bench/calibrate.py``, the
tables in BENCHMARKS.md).

The model
---------
In the metric's natural units (:func:`natural_units`: log for perplexity, oriented so that
improving is up), with ``t = log10(scale)``, a monotone logistic ::

    mu(t) = lo + (hi - lo) * sigma((t - t0) / s),   hi >= lo,  s > 0                  (L)

whose 10-90 % transition width is ``w = 2 ln(9) s`` decades (``WIDTH_PER_S``).  ``lo`` and
``hi`` are free, so the family holds lines in log N (the middle of a wide logistic), power-law
losses (the upper half of one), flat series (``hi = lo``) and steps (``s -> 0``).

Fitting
-------
By weighted least squares on a grid of (t0, w), closed form in (lo, hi) at each grid point, every
series and every bootstrap replicate at once (matrix products).  The weights are the inverse of
the point's variance ::

    v_i = mu_i (1 - mu_i) / n_i + se_i^2 + tau^2                                        (V)

- ``mu (1 - mu) / n`` where the metric is a proportion with a known number of examples (binomial
  noise; ``mu`` is clipped to [0.5/n, 1 - 0.5/n], half an example, so 0 of n carries information
  and never a zero variance or a log 0);
- ``se^2`` where the source reports a standard error (Gaussian noise);
- ``tau^2``: extra scatter between models (models differ in more than size), estimated from the
  residuals of the fits, pooled over the series of the same (source, family, metric) (see
  :func:`pool_scatter`).  A series with neither n nor a stderr is tested on ``tau`` alone, if a
  pool gives one.

The weights are computed twice (iteratively reweighted): first from the data themselves, then
from the fit under the null (width >= W).  This quasi-likelihood (Pearson) criterion approximates
the binomial likelihood; what makes the call valid is that its null distribution is simulated,
not its exact form.

The test
--------
``Q_wide`` is the best criterion among widths >= W (the null: a smooth rise, or a flat series),
``Q_all`` among all widths; ``LR = Q_wide - Q_all >= 0`` is large only when a transition
narrower than W fits much better than any smooth one.  Its p-value is a parametric bootstrap
(Davison & Hinkley 1997, Sec. 4.2) under the null fit, resampled with the series' own noise
(binomial at n with scatter tau, or Gaussian at sqrt(se^2 + tau^2)), with sequential stopping
(Besag & Clifford 1991).  Where the observed LR lies beyond every replicate, the p-value is the
tail of a scaled chi-square fitted to the replicates by their first two moments
(Satterthwaite 1946), so p-values resolve below the Benjamini-Hochberg thresholds they meet in
a store of thousands of series.  A series whose best fit is not narrower than W gets p = 1.

States (decided after the false discovery rate step, :func:`decide`)
-------------------------------------------------------------------
``insufficient``
    fewer than ``MIN_SIZES`` sizes; no noise model; no estimate of the scatter between models
    (four sizes and no other series to pool over: a four-parameter fit leaves no residual);
    bad points (NaN, infinite, scale <= 0 on a
    log axis); sizes too far apart to tell a width below W from one above (the rise lies in a
    gap wider than W); no onset observed (fewer than ``MIN_BEFORE`` sizes precede the rise) or
    no level after it (fewer than ``MIN_AFTER`` sizes follow); a fitted width below W that is not
    significant against the noise.  The reason says which.
``no signal``
    the logistic does not improve significantly on a flat line (at the series' noise): flat, or
    at chance throughout.
``emergent``
    a significant rise, q < FDR level for the sharpness test, at least ``MIN_BEFORE`` sizes before
    the fitted 10 % point and ``MIN_AFTER`` after the 90 % point: an onset, observed.
``smooth``
    a significant rise whose every narrow fit (width < W) is significantly worse than the best
    wide one.

References
----------
Schaeffer, R., Miranda, B. & Koyejo, S. (2023). Are Emergent Abilities of Large Language Models a
Mirage? NeurIPS 2023, Sec. 2-4.
Hu, S. et al. (2023). Predicting Emergent Abilities with Infinite Resolution Evaluation. ICLR 2024.
Wei, J. et al. (2022). Emergent Abilities of Large Language Models. TMLR.
Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their Application, Sec. 4.2.
Besag, J. & Clifford, P. (1991). Sequential Monte Carlo p-values. Biometrika 78(2), 301-304.
Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance components.
Biometrics Bulletin 2(6), 110-114.
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate. JRSS B 57(1).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "WIDTH_THRESHOLD", "WIDTH_PER_S", "MIN_SIZES", "MIN_BEFORE", "MIN_AFTER", "FDR_LEVEL", "RISE_LEVEL",
    "DEFAULT_N_BOOT", "P_FLOOR", "STATES", "ASSESS_COLUMNS", "Verdict", "sharp_onset", "assess", "decide",
    "pool_scatter", "sharpness_pvalues", "natural_units", "content_seed",
]

#: A transition is *sharp* when its 10-90 % width is below this many decades of scale.
WIDTH_THRESHOLD = 1.0
#: 10-90 % width of sigma(t / s) in units of s: 2 ln 9.
WIDTH_PER_S = 2.0 * math.log(9.0)
#: Fewer distinct sizes than this: insufficient (a logistic has 4 parameters).
MIN_SIZES = 4
#: Sizes required before the fitted 10 % point (an onset, not a curve that saturates after its
#: smallest model) and after the 90 % point (the level the jump reaches, observed).
MIN_BEFORE = 2
MIN_AFTER = 2
#: Benjamini-Hochberg level of the emergent call.
FDR_LEVEL = 0.05
#: Level of the rise test (logistic vs flat) that separates "no signal".
RISE_LEVEL = 0.05
#: Bootstrap replicates of the sharpness test (at most; sequential stopping spends fewer).
DEFAULT_N_BOOT = 399
SEQUENTIAL_H = 10
SEQUENTIAL_BATCHES = (39, 160)

STATES = {
    "emergent": "a sharp onset: a rise narrower than the width threshold, significant after the false discovery "
                "rate step, observed with sizes before and after it",
    "smooth": "a significant rise that no sharp transition fits as well: ordinary, predictable scaling",
    "insufficient": "the data cannot tell: too few sizes, sizes too far apart, no onset or level observed, "
                    "or a sharp-looking rise not significant against the noise",
    "no signal": "no significant rise with scale: flat, or at chance throughout",
}

#: relative widths (times the threshold) of the grid; 1.0 is the threshold itself
_W_GRID = np.array([0.005, 0.02, 0.08, 0.2, 0.35, 0.5, 0.7, 0.85, 1.0, 1.25, 1.6, 2.0, 2.6, 3.4, 4.5, 6.0, 8.0, 12.0, 20.0,
                    40.0])
#: t0 positions: inside the observed range at fractions of it, and outside it (in decades)
_T0_INSIDE = 25
#: series longer than this get one narrow position per gap (the midpoint) instead of four
_DENSE = 40
#: for dense series, transition positions closer than this (decades) are merged
_T0_RESOLUTION = 0.02
_T0_OUTSIDE = np.array([-4.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 4.0])
_CHUNK = 3_000_000        # series x replicates x grid points per block of a bootstrap


# ----------------------------------------------------------------------------- units and seeds
_LOG_METRICS = ("perplexity",)


def natural_units(metric: str, y, se=None, *, higher_is_better: bool = True):
    """The values in the metric's natural units, oriented so that improving is up.

    Perplexity-like metrics are analysed as their log (the per-token loss; Schaeffer et al. 2023
    Sec. 2: the loss, not its exponential, is the quantity that scales as a power law); the
    standard error follows by the delta method (``se / y``).  Lower-is-better metrics are negated.

    Returns
    -------
    (y, se, ok) : ndarray, ndarray, ndarray of bool
        ``ok`` is False where the value cannot be put in natural units (a perplexity <= 0).
    """
    y = np.asarray(y, dtype=float)
    se = np.full(y.shape, np.nan) if se is None else np.asarray(se, dtype=float)
    ok = np.isfinite(y)
    if metric in _LOG_METRICS:
        ok = ok & (y > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            se = np.where(ok, se / y, np.nan)
            y = np.where(ok, np.log(np.where(ok, y, 1.0)), np.nan)
    if not higher_is_better:
        y = -y
    return y, se, ok


def content_seed(*parts) -> int:
    """A seed from a series' content (its points and noise): the same content gives the same
    p-value whatever else is in the store, re-ingesting identical data changes nothing, and two
    identical series (under different names) draw identical replicates."""
    h = hashlib.sha256()
    for p in parts:
        a = np.asarray(p)
        h.update(str(a.dtype).encode() if a.dtype != object else b"o")
        h.update(a.tobytes() if a.dtype != object else "\x1f".join(map(str, a.ravel())).encode())
        h.update(b"\x1e")
    return int.from_bytes(h.digest()[:8], "little")


# ----------------------------------------------------------------------------- the fit
def _grid(t: np.ndarray, width_threshold: float):
    """Per-series grid of (t0, s): t (S, k) sorted -> t0 (S, G), s (G,), n_narrow.

    Narrow widths (w < W: a transition that may fall between two sizes) are placed where a
    narrow transition can differ: at every size and at the midpoint of every gap between sizes
    (the midpoints only, thinned to ``_T0_RESOLUTION``, for series of more than ``_DENSE``
    sizes).  Wide widths up to 2 W get the same positions (were they placed more coarsely than the
    narrow ones, a narrow fit would win by placement alone and the test would reject its own null)
    plus a uniform grid over the sizes and beyond them; wider ones the uniform grid only.  Narrow points come first, so the best fit of each class is a minimum over
    a contiguous block.
    """
    S, k = t.shape
    tmin, tmax = t[:, :1], t[:, -1:]
    span = np.maximum(tmax - tmin, 1e-9)
    fr = np.array([0.5]) if k > _DENSE else np.array([0.0, 0.5])
    gaps = t[:, :-1, None] + (t[:, 1:, None] - t[:, :-1, None]) * fr[None, None, :]
    t_n = np.concatenate([gaps.reshape(S, -1), t[:, -1:]], axis=1)                 # (S, Tn)
    if k > _DENSE:
        t_n = _thin(t_n, _T0_RESOLUTION)
    inside = tmin + span * np.linspace(0.0, 1.0, _T0_INSIDE)[None, :]
    outside = np.where(_T0_OUTSIDE[None, :] < 0, tmin + _T0_OUTSIDE[None, :], tmax + _T0_OUTSIDE[None, :])
    # the wide class gets the same positions among the sizes as the narrow one (plus a uniform grid
    # and positions beyond the sizes): were it coarser, a narrow fit would win by placement alone and
    # the test would reject its own null (seen at the boundary, width = W, before this was so)
    t_w = np.concatenate([t_n, inside, outside], axis=1)                          # (S, Tw)
    t_far = np.concatenate([inside, outside], axis=1)
    w = _W_GRID * width_threshold
    narrow = w < width_threshold * (1 - 1e-12)
    near = ~narrow & (w <= 2 * width_threshold * (1 + 1e-12))
    wn, wm, wf = w[narrow], w[near], w[~narrow & ~near]
    # widths beyond 2 W change slowly with their position: the uniform grid places them well enough
    t0g = np.concatenate([np.tile(t_n, (1, wn.size)), np.tile(t_w, (1, wm.size)), np.tile(t_far, (1, wf.size))],
                         axis=1)
    sg = np.concatenate([np.repeat(wn, t_n.shape[1]), np.repeat(wm, t_w.shape[1]),
                         np.repeat(wf, t_far.shape[1])]) / WIDTH_PER_S
    return t0g, sg, wn.size * t_n.shape[1]


def _thin(t0: np.ndarray, res: float) -> np.ndarray:
    """Positions closer than ``res`` decades to the previous kept one dropped (rows padded with their
    last kept position, a harmless duplicate): dense checkpoints need no finer placement."""
    S, T = t0.shape
    keep = np.zeros((S, T), bool)
    for i in range(S):
        last = -np.inf
        for j in range(T):
            if t0[i, j] - last >= res:
                keep[i, j] = True
                last = t0[i, j]
    n = keep.sum(1)
    m = int(n.max())
    out = np.empty((S, m))
    for i in range(S):
        v = t0[i, keep[i]]
        out[i, :v.size] = v
        out[i, v.size:] = v[-1]
    return out


def _basis(t: np.ndarray, t0g: np.ndarray, sg: np.ndarray) -> np.ndarray:
    """sigma((t - t0) / s): (S, G, k)."""
    z = (t[:, None, :] - t0g[:, :, None]) / sg[None, :, None]
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _criterion(Y, Wt, Bt):
    """Weighted residual sum of squares of Y on ``lo + d * B`` with ``d >= 0`` at every grid point.

    Y, Wt : (S, R, k); Bt : (S, k, G) (the basis, transposed).  With Y centred on its weighted
    mean, the least-squares solution is ``d = A E / det`` and the criterion
    ``F - A E^2 / det`` where ``E = sum w y B > 0`` (``A = sum w``, ``det = A sum w B^2 -
    (sum w B)^2``); where ``E <= 0`` the best rising fit is flat and the criterion is ``F``.
    Returns (crit (S, R, G), F (S, R)).
    """
    A = Wt.sum(-1)
    Yc = Y - ((Wt * Y).sum(-1) / A)[..., None]
    WY = Wt * Yc
    F = (WY * Yc).sum(-1)
    Bg = np.matmul(Wt, Bt)                                                     # (S, R, G)
    Cg = np.matmul(Wt, Bt * Bt)
    Cg *= A[..., None]
    det = Cg - Bg * Bg
    # a basis constant over the points (a transition far outside them) has det ~ 0: no rise to fit
    flat = det <= 1e-9 * Cg
    det[flat] = 1.0
    E = np.matmul(WY, Bt)
    np.maximum(E, 0.0, out=E)
    E[flat] = 0.0
    E *= E
    E *= A[..., None]
    E /= det
    crit = F[..., None] - E
    np.maximum(crit, 0.0, out=crit)
    return crit, F


def _params_at(Y, Wt, B, j):
    """(lo, d, mu) of the least-squares fit at grid index j (S, R) of every replicate."""
    Bj = np.take_along_axis(B[:, None, :, :], j[:, :, None, None], axis=2)[:, :, 0, :]     # (S, R, k)
    A = Wt.sum(-1)
    mb = (Wt * Bj).sum(-1) / A
    my = (Wt * Y).sum(-1) / A
    bc = Bj - mb[..., None]
    sbb = (Wt * bc * bc).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(sbb > 0, (Wt * bc * (Y - my[..., None])).sum(-1) / np.where(sbb > 0, sbb, 1.0), 0.0)
    d = np.maximum(d, 0.0)
    lo = my - d * mb
    return lo, d, lo[..., None] + d[..., None] * Bj


def _variance(mu, a, b, tau2):
    """Eq. (V): binomial part where ``a = 1/n`` is set, plus se^2 and tau^2."""
    if a is None:
        return b + tau2
    lo_clip = 0.5 * a
    m = np.clip(mu, lo_clip, 1.0 - lo_clip)
    return a * m * (1.0 - m) + b + tau2


@dataclass
class _Block:
    """Series of one length k, ready to fit: arrays (S, k) and per-series tau2 (S,)."""
    t: np.ndarray
    y: np.ndarray
    a: np.ndarray | None       # 1/n (binomial) or None
    b: np.ndarray              # se^2 (0 where none)
    tau2: np.ndarray


def _fit_block(blk: _Block, Y: np.ndarray, width_threshold: float, grid=None, basis=None):
    """Two-pass fit of replicates Y (S, R, k).  Returns a dict of (S, R) arrays.

    Pass 1 weighs each point by Eq. (V) at its own value; pass 2 (binomial series only: the
    other variances do not depend on the mean) at the best wide (null) fit of pass 1.
    ``basis`` is ``(B, Bt)`` for this grid when already computed.
    """
    t0g, sg, n_narrow = grid if grid is not None else _grid(blk.t, width_threshold)
    if basis is None:
        B = _basis(blk.t, t0g, sg)
        Bt = np.ascontiguousarray(np.swapaxes(B, 1, 2))
    else:
        B, Bt = basis
    a = None if blk.a is None else blk.a[:, None, :]
    b = blk.b[:, None, :]
    tau2 = blk.tau2[:, None, None]
    V = np.broadcast_to(_variance(Y, a, b, tau2), Y.shape)
    passes = 1 if blk.a is None else 2
    for p in range(passes):
        Wt = 1.0 / V
        crit, F = _criterion(Y, Wt, Bt)
        jw = n_narrow + crit[..., n_narrow:].argmin(-1)                       # best wide fit
        if p + 1 < passes:
            _, _, mu0 = _params_at(Y, Wt, B, jw)
            V = _variance(mu0, a, b, tau2)
    jn = crit[..., :n_narrow].argmin(-1) if n_narrow else jw
    q_wide = np.take_along_axis(crit, jw[..., None], -1)[..., 0]
    q_narrow = np.take_along_axis(crit, jn[..., None], -1)[..., 0] if n_narrow else np.full(q_wide.shape, np.inf)
    narrow_best = q_narrow < q_wide
    ja = np.where(narrow_best, jn, jw)
    out = dict(q_all=np.minimum(q_narrow, q_wide), q_wide=q_wide, q_narrow=q_narrow, q_flat=F, j_all=ja, j_wide=jw)
    out["lo_all"], out["d_all"], mu_all = _params_at(Y, Wt, B, ja)
    out["resid_all"] = Y - mu_all
    out["W"] = Wt
    out["grid"] = (t0g, sg, n_narrow)
    out["B"] = B
    out["Bt"] = Bt
    return out


# ----------------------------------------------------------------------------- statistics of one fit
_CHI2_RISE = float(stats.chi2.ppf(1 - RISE_LEVEL, 3))    # logistic (4 parameters) vs flat (1)
_CHI2_NARROW = float(stats.chi2.ppf(0.95, 1))            # narrow vs best: one constraint on the width


def _summaries(fit: dict, t: np.ndarray, width_threshold: float) -> dict:
    """Per (series, replicate): the test statistic and the facts the states need."""
    t0g, sg, wide = fit["grid"]
    ja = fit["j_all"]
    S = t.shape[0]
    t0 = np.take_along_axis(t0g, ja, axis=1) if ja.ndim == 2 else t0g[np.arange(S), ja]
    s = sg[ja]
    w = WIDTH_PER_S * s
    t10, t90 = t0 - 0.5 * w, t0 + 0.5 * w
    tt = t[:, None, :]
    n_before = (tt < t10[..., None]).sum(-1)
    n_after = (tt > t90[..., None]).sum(-1)
    n_inside = tt.shape[-1] - n_before - n_after
    rise = fit["q_flat"] - fit["q_all"]
    lr = fit["q_wide"] - fit["q_all"]
    ok = (rise > _CHI2_RISE) & (n_before >= MIN_BEFORE) & (n_after >= MIN_AFTER) & (w < width_threshold)
    stat = np.where(ok, lr, 0.0)
    return dict(t0=t0, width=w, t10=t10, t90=t90, n_before=n_before, n_after=n_after, n_inside=n_inside,
                rise=rise, lr=lr, narrow=fit["q_narrow"] - fit["q_all"], stat=stat,
                lo=fit["lo_all"], hi=fit["lo_all"] + fit["d_all"])


def _gap(t: np.ndarray, t10: np.ndarray, n_before: np.ndarray, n_inside: np.ndarray) -> np.ndarray:
    """Width (decades) of the gap between sizes that holds the whole fitted rise; 0 where a size
    lies inside the rise, NaN where the rise is not between two sizes."""
    k = t.shape[1]
    i = n_before - 1
    ok = (n_inside == 0) & (i >= 0) & (i + 1 < k)
    left = np.take_along_axis(t, np.clip(i, 0, k - 1)[:, None], 1)[:, 0]
    right = np.take_along_axis(t, np.clip(i + 1, 0, k - 1)[:, None], 1)[:, 0]
    return np.where(ok, right - left, np.where(n_inside > 0, 0.0, np.nan))


# ----------------------------------------------------------------------------- scatter
POOL_MIN_DF = 10
SERIES_MIN_DF = 4


def pool_scatter(num: np.ndarray, df: np.ndarray, pools) -> tuple[np.ndarray, np.ndarray]:
    """Extra scatter tau^2 per series: the method-of-moments estimate pooled over its pool.

    ``num`` is each series' sum of squared residuals in excess of the noise it reports
    (``sum (r_i^2 - v_i)``, from the best logistic fit without scatter), ``df`` its residual
    degrees of freedom (``k - 4``).  ``pools`` is a list of pool labels per series, from the
    narrowest to the widest (e.g. same source, family and metric; then same source and metric;
    then same source): scatter between models is a property of the models and of how they were
    evaluated, shared across tasks.  The first level whose pool has at least ``POOL_MIN_DF``
    degrees of freedom gives ``max(0, sum num / sum df)``; failing all, a series with at least
    ``SERIES_MIN_DF`` uses its own estimate; failing that, tau^2 is 0 and its source ``'none'``.
    A series whose own estimate (any degrees of freedom) exceeds its pool's keeps its own.

    Returns
    -------
    (tau2, how) : ndarray of float, ndarray of str ('pooled:<level>' | 'series' | 'none')
    """
    num = np.asarray(num, float)
    df = np.asarray(df, float)
    ok = np.isfinite(num) & (df > 0)
    n = num.size
    tau2 = np.zeros(n)
    how = np.full(n, "none", dtype=object)
    done = np.zeros(n, bool)
    if isinstance(pools, np.ndarray) and pools.ndim == 1:
        pools = [pools]
    for level, pool in enumerate(pools or []):
        _, inv = np.unique(np.asarray(pool), return_inverse=True)
        pn = np.bincount(inv, weights=np.where(ok, num, 0.0))
        pdf = np.bincount(inv, weights=np.where(ok, df, 0.0))
        use = ~done & (pdf[inv] >= POOL_MIN_DF)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau2[use] = np.maximum(pn / pdf, 0.0)[inv][use]
        how[use] = f"pooled:{level}"
        done |= use
    own = ~done & ok & (df >= SERIES_MIN_DF)
    tau2[own] = np.maximum(num[own] / df[own], 0.0)
    how[own] = "series"
    # a series that scatters more than its pool (a model evaluated differently, a noisy task) keeps
    # its own, larger estimate: the pool may lower nobody's noise below what its residuals show
    with np.errstate(divide="ignore", invalid="ignore"):
        mine = np.where(ok, np.maximum(num / np.where(df > 0, df, 1.0), 0.0), 0.0)
    bigger = done & ok & (mine > tau2)
    tau2[bigger] = mine[bigger]
    how[bigger] = "series"
    return tau2, how


# ----------------------------------------------------------------------------- bootstrap
def _draw(rng: np.random.Generator, kind: str, mu: np.ndarray, n: np.ndarray | None, sd: np.ndarray,
          tau: float, R: int) -> np.ndarray:
    """R replicates (R, k) of one series under its null fit ``mu`` with its own noise."""
    k = mu.size
    if kind == "binomial":
        p = np.broadcast_to(mu[None, :], (R, k))
        if tau > 0:
            p = p + tau * rng.standard_normal((R, k))
        p = np.clip(p, 0.0, 1.0)
        return rng.binomial(n.astype(np.int64)[None, :], p) / n[None, :]
    return mu[None, :] + sd[None, :] * rng.standard_normal((R, k))


def _batches(B: int) -> list[int]:
    out, total = [], 0
    for b in SEQUENTIAL_BATCHES:
        if total + b >= B:
            break
        out.append(b)
        total += b
    out.append(B - total)
    return out


#: Fitted-tail p-values are reported no smaller than this: far below any threshold they meet, and
#: beyond what an extrapolated tail can support.
P_FLOOR = 1e-12
#: A series whose statistic lies beyond every replicate and whose fitted tail gives a p-value
#: below this stops drawing (it is far below any Benjamini-Hochberg threshold of a real store).
TAIL_STOP = 1e-6


def _tail_p(stat: float, reps: np.ndarray, B: int) -> tuple[float, str]:
    """p-value when no replicate reached the observed statistic: the tail of a scaled chi-square
    c * chi2(nu) matched to the positive replicates' mean and variance (Satterthwaite 1946),
    times the share of positive replicates; never above the Monte Carlo bound 1 / (B + 1).

    ``reps`` are the replicates' plain likelihood-ratio statistics, without the onset conditions
    of the test statistic: they are never smaller than it, so their tail bounds its tail from
    above (a conservative p-value), and they are positive often enough to fit one.  With fewer
    than 10 positive replicates there is no tail to fit: the bound itself."""
    pos = reps[reps > 0]
    bound = 1.0 / (B + 1.0)
    if pos.size < 10:
        return bound, "bootstrap"
    m, v = float(pos.mean()), float(pos.var(ddof=1))
    if not (v > 0 and m > 0):
        return bound, "bootstrap"
    c, nu = v / (2 * m), 2 * m * m / v
    p = (pos.size / reps.size) * float(stats.chi2.sf(stat / c, nu))
    return min(max(p, P_FLOOR), bound), "tail"


#: a series beyond all its replicates whose replicates hold fewer than ``TAIL_MIN`` positive statistics
#: (too few to fit a tail) draws more, up to ``EXTEND`` times the replicates asked for
TAIL_MIN = 10
EXTEND = 10


def sharpness_pvalues(blk: _Block, kind: str, mu0: np.ndarray, stat: np.ndarray, seeds: np.ndarray,
                      n_boot: int, width_threshold: float, grid,
                      basis=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parametric-bootstrap p-values of the sharpness statistic for the series of one block.

    Replicates of each series come from its own generator (seeded by its content), in batches
    (:data:`SEQUENTIAL_BATCHES`); a series stops once ``SEQUENTIAL_H`` replicates reached its
    statistic (Besag & Clifford 1991, ``p = h / L``); one that never does gets
    ``(1 + e) / (B + 1)`` or, with ``e = 0``, the fitted tail (:func:`_tail_p`).  A series that no
    replicate reached and whose replicates are too rarely positive to fit a tail (fewer than
    ``TAIL_MIN``) draws further batches, up to ``EXTEND * B`` replicates: only the clearest series do,
    and that is what lets their p-values resolve below the thresholds of a large family.

    Returns
    -------
    (p, method, n_used) : arrays over the block's series
    """
    S, k = blk.y.shape
    p = np.full(S, np.nan)
    method = np.full(S, "", dtype=object)
    drawn = np.zeros(S, dtype=np.int64)
    rngs = [np.random.default_rng(int(sd)) for sd in seeds]
    tau = np.sqrt(blk.tau2)
    n = None if blk.a is None else 1.0 / blk.a
    sd = np.sqrt(blk.b + blk.tau2[:, None])
    count = np.zeros(S, dtype=np.int64)
    positive = np.zeros(S, dtype=np.int64)
    reps_all: list[list[np.ndarray]] = [[] for _ in range(S)]
    tol = 1e-9 * np.maximum(1.0, np.abs(stat))
    t0g, sg, wide = grid

    def batch(live: np.ndarray, size: int) -> np.ndarray:
        """Draw ``size`` replicates for the ``live`` series; returns which of them are done."""
        Y = np.stack([_draw(rngs[i], kind, mu0[i], None if n is None else n[i], sd[i], float(tau[i]), size)
                      for i in live])                                          # (L, size, k)
        sub = _Block(blk.t[live], blk.y[live], None if blk.a is None else blk.a[live], blk.b[live], blk.tau2[live])
        reps, lrs = _replicate_stats(sub, Y, width_threshold, (t0g[live], sg, wide),
                                     None if basis is None else (basis[0][live], basis[1][live]))
        for j, i in enumerate(live):
            reps_all[i].append(lrs[j])
        positive[live] += (lrs > 0).sum(axis=1)
        e = reps >= (stat[live] - tol[live])[:, None]
        c = count[live][:, None] + np.cumsum(e, axis=1)
        done = c[:, -1] >= SEQUENTIAL_H
        first = np.argmax(c >= SEQUENTIAL_H, axis=1)
        p[live[done]] = SEQUENTIAL_H / (drawn[live[done]] + first[done] + 1.0)
        method[live[done]] = "bootstrap"
        count[live] = c[:, -1]
        drawn[live] += np.where(done, first + 1, size)
        # beyond every replicate so far, with a fitted tail far below any threshold: stop here
        for j in np.flatnonzero(~done & (c[:, -1] == 0)):
            i = live[j]
            pt, how = _tail_p(float(stat[i]), np.concatenate(reps_all[i]), int(drawn[i]))
            if how == "tail" and pt < TAIL_STOP:
                p[i], method[i] = pt, how
                done[j] = True
        return done

    live = np.arange(S)
    for size in _batches(n_boot):
        if live.size == 0:
            break
        live = live[~batch(live, size)]
    # no replicate reached the statistic and too few are positive to fit a tail: draw more
    step = max(n_boot, 100)
    more = live[(count[live] == 0) & (positive[live] < TAIL_MIN)]
    while more.size and drawn[more].max() + step <= EXTEND * n_boot:
        more = more[~batch(more, step)]
        more = more[(count[more] == 0) & (positive[more] < TAIL_MIN)]
    for i in live:
        if method[i]:
            continue
        if count[i] > 0:
            p[i], method[i] = (1.0 + count[i]) / (drawn[i] + 1.0), "bootstrap"
        else:
            p[i], method[i] = _tail_p(float(stat[i]), np.concatenate(reps_all[i]), int(drawn[i]))
    return p, method, drawn


def _replicate_stats(blk: _Block, Y: np.ndarray, width_threshold: float, grid, basis=None):
    """The sharpness statistic and the plain likelihood-ratio statistic (its upper bound, without
    the onset conditions) of replicates Y (S, R, k), in chunks bounded by ``_CHUNK``."""
    S, R, k = Y.shape
    G = grid[1].size
    step = max(1, int(_CHUNK // max(1, R * G)))
    out = np.empty((S, R))
    lr = np.empty((S, R))
    for c0 in range(0, S, step):
        sl = slice(c0, c0 + step)
        sub = _Block(blk.t[sl], blk.y[sl], None if blk.a is None else blk.a[sl], blk.b[sl], blk.tau2[sl])
        fit = _fit_block(sub, Y[sl], width_threshold, (grid[0][sl], grid[1], grid[2]),
                         None if basis is None else (basis[0][sl], basis[1][sl]))
        sm = _summaries(fit, sub.t, width_threshold)
        out[sl] = sm["stat"]
        lr[sl] = sm["lr"]
    return out, lr


# ----------------------------------------------------------------------------- one pass over many series
#: columns :func:`assess` returns besides the keys
ASSESS_COLUMNS = ["n_sizes", "span_decades", "noise", "tau", "tau_source", "width_decades", "t_mid", "onset_x",
                  "level_lo", "level_hi", "n_before", "n_after", "gap_decades", "rise_stat", "narrow_stat", "sharp_stat", "p_value", "p_method",
                  "n_boot", "pre_state", "pre_reason"]


def _log_axis(x: np.ndarray) -> tuple[np.ndarray, bool]:
    """t = log10 x where every x > 0; log10(x + 1) where some x is 0 (a step-0 checkpoint)."""
    if np.all(x > 0):
        return np.log10(x), True
    return np.log10(x + 1.0), True


def assess(points, keys, *, x: str = "x", y: str = "y", metric: str | None = "metric",
           higher_is_better: str | bool = "higher_is_better", n_examples: str | None = "n_examples",
           stderr: str | None = "stderr", proportion: str | bool = "proportion", pools=None,
           baseline: str | None = None, width_threshold: float = WIDTH_THRESHOLD, n_boot: int = DEFAULT_N_BOOT,
           cache=None):
    """The sharp-onset test of every series of a long points frame (one row per series and scale).

    Parameters
    ----------
    points : pandas.DataFrame
        One row per (series, scale): ties already averaged (as
        :func:`emergence.analysis.series.build_series_points` makes them).
    keys : list of str
        Columns identifying a series.
    x, y : str
        Scale (> 0; a 0 is read as a step-0 checkpoint, log10(x + 1)) and value columns.
    metric, higher_is_better : str
        Columns for :func:`natural_units` (``metric`` may be None: values used as they are).
    n_examples, stderr, proportion : str
        Noise: binomial where ``proportion`` and every point has ``n_examples`` and a value in
        [0, 1]; Gaussian where every point has a stderr > 0; otherwise scatter pooled over ``pool``.
    pools : list of list of str
        Scatter pools, narrowest first: each a list of columns whose values define a pool
        (:func:`pool_scatter`); None = no pooling (each series its own estimate).
    baseline : str, optional
        Column with the metric's chance level, used only to word the ``no signal`` reason.
    width_threshold : float
        W, decades: sharp means a 10-90 % width below it.
    n_boot : int
        Bootstrap replicates at most per tested series (0: no p-values).
    cache : pandas.DataFrame, optional
        Earlier results of series whose points are unchanged (columns: the one key column, ``tau``,
        ``p_value``, ``p_method``, ``n_boot``): where the scatter is unchanged too, the p-value is
        taken from there instead of drawn again (it would come out the same: seeds come from the
        content).  Only with a single key column.

    Returns
    -------
    pandas.DataFrame
        One row per series: the keys and :data:`ASSESS_COLUMNS`.  ``pre_state`` is the state as
        far as it does not depend on the false discovery rate step: ``insufficient``, ``no signal``
        or ``tested``; :func:`decide` turns ``tested`` into a final state.
    """
    import pandas as pd

    keys = list(keys)
    df = points.reset_index(drop=True)
    cols = {c: df[c] for c in keys}
    kdf = pd.DataFrame(cols)
    gid = kdf.groupby(keys, sort=True, dropna=False, observed=True).ngroup().to_numpy() if keys else \
        np.zeros(len(df), dtype=np.int64)
    S = int(gid.max()) + 1 if len(df) else 0
    order = np.lexsort((pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=float), gid))
    df = df.iloc[order].reset_index(drop=True)
    gid = gid[order]
    xs = pd.to_numeric(df[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(df[y], errors="coerce").to_numpy(dtype=float)

    def col(name, default=np.nan, dtype=float):
        if isinstance(name, str) and name in df.columns:
            return pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=dtype) if dtype is float \
                else df[name].to_numpy()
        if isinstance(name, (bool, np.bool_)):
            return np.full(len(df), bool(name))
        return np.full(len(df), default)

    nex = col(n_examples)
    se = col(stderr)
    prop = col(proportion, False, dtype=object).astype(bool) if not isinstance(proportion, bool) \
        else np.full(len(df), proportion)
    hib = col(higher_is_better, True, dtype=object).astype(bool) if not isinstance(higher_is_better, bool) \
        else np.full(len(df), higher_is_better)
    met = df[metric].astype(str).to_numpy() if isinstance(metric, str) and metric in df.columns \
        else np.full(len(df), "")
    base = col(baseline)
    starts = np.r_[0, np.flatnonzero(np.diff(gid)) + 1] if len(df) else np.zeros(0, dtype=np.int64)
    lengths = np.diff(np.r_[starts, len(df)]).astype(np.int64)
    first = df.iloc[starts][keys].reset_index(drop=True) if keys else pd.DataFrame(index=range(S))
    heads = df.iloc[starts].reset_index(drop=True)
    def label(cols_):
        parts = [heads[c].astype(object).where(heads[c].notna(), "").map(str).to_numpy() for c in cols_]
        return np.array(["\x1f".join(t) for t in zip(*parts)], dtype=object) if parts else np.zeros(S, dtype=object)

    pool_labs = [label(list(cols_)) for cols_ in (pools or [])]

    out = {c: np.full(S, np.nan) for c in ASSESS_COLUMNS}
    for c in ("noise", "tau_source", "p_method", "pre_state", "pre_reason"):
        out[c] = np.full(S, "", dtype=object)
    out["n_sizes"] = lengths.copy()
    out["n_boot"] = np.zeros(S, dtype=np.int64)
    for c in ("n_before", "n_after"):
        out[c] = np.full(S, -1, dtype=np.int64)

    # per series: natural units, noise model, bad input
    series = []
    for i in range(S):
        sl = slice(starts[i], starts[i] + lengths[i])
        xi, yi, ni, sei = xs[sl], ys[sl], nex[sl], se[sl]
        bad_x = ~np.isfinite(xi) | (xi < 0)
        if bad_x.any():
            out["pre_state"][i] = "insufficient"
            out["pre_reason"][i] = (f"{int(bad_x.sum())} point(s) with a missing, infinite or negative scale: "
                                    "not tested")
            continue
        if not np.isfinite(yi).all():
            out["pre_state"][i] = "insufficient"
            out["pre_reason"][i] = f"{int((~np.isfinite(yi)).sum())} point(s) with a NaN or infinite value: not tested"
            continue
        if np.unique(xi).size != xi.size:
            out["pre_state"][i] = "insufficient"
            out["pre_reason"][i] = "repeated scales: average ties first (one point per scale)"
            continue
        k = xi.size
        if k < MIN_SIZES:
            out["pre_state"][i] = "insufficient"
            out["pre_reason"][i] = f"too few sizes: {k} < {MIN_SIZES}"
            continue
        is_prop = bool(prop[sl][0])
        binom = is_prop and np.all(np.isfinite(ni) & (ni > 0)) and np.all((yi >= 0) & (yi <= 1))
        if binom:
            yn = yi if bool(hib[sl][0]) else 1.0 - yi        # a proportion stays a proportion
            sen = np.zeros(k)
            ok = np.ones(k, bool)
        else:
            yn, sen, ok = natural_units(str(met[sl][0]), yi, sei, higher_is_better=bool(hib[sl][0]))
        if not ok.all():
            out["pre_state"][i] = "insufficient"
            out["pre_reason"][i] = f"{int((~ok).sum())} value(s) <= 0 cannot be put on a log scale: not tested"
            continue
        t, _ = _log_axis(xi)
        if not binom and np.all(np.isfinite(sen) & (sen >= 0)) and (sen > 0).any() and (sen == 0).any():
            # a point whose examples all scored alike reports a zero stderr: its noise is below what the
            # series resolves, not absent; floored at the series' smallest positive stderr
            sen = np.where(sen > 0, sen, sen[sen > 0].min())
        kind = "binomial" if binom else ("gaussian" if np.all(np.isfinite(sen) & (sen > 0)) else "scatter")
        series.append(dict(i=i, t=t, y=yn, a=(1.0 / ni) if binom else None,
                           b=np.where(np.isfinite(sen), sen, 0.0) ** 2 if kind == "gaussian" else np.zeros(k),
                           kind=kind, base=base[sl][0], key=first.iloc[i].tolist() if keys else [],
                           x=xi, n=ni, se=sei))
        out["noise"][i] = kind

    # first fit without scatter (unit weights for scatter-only series): residual excess -> tau^2
    num = np.full(S, np.nan)
    dfree = np.zeros(S)
    for blk, members in _blocks(series, tau2=None):
        fit = _fit_block(blk, blk.y[:, None, :], width_threshold)
        r = fit["resid_all"][:, 0, :]
        if blk.a is not None:
            mu = blk.y - r
            base_v = _variance(mu, blk.a, blk.b, 0.0)
        else:
            base_v = blk.b if members[0]["kind"] == "gaussian" else np.zeros_like(r)
        k = blk.y.shape[1]
        df_k = max(0, k - 4)
        for j, m in enumerate(members):
            # E[sum r^2] ~ (k - 4)/k * sum(v + tau^2) for a 4-parameter fit: the excess over the
            # reported noise, per residual degree of freedom, estimates tau^2
            num[m["i"]] = float((r[j] ** 2).sum() - df_k / k * base_v[j].sum())
            dfree[m["i"]] = df_k
    tau2, how = pool_scatter(num, dfree, pool_labs)
    for m in series:
        if m["kind"] == "scatter" and (how[m["i"]] == "none" or not tau2[m["i"]] > 0):
            out["pre_state"][m["i"]] = "insufficient"
            out["pre_reason"][m["i"]] = ("no noise model: neither n (for a proportion) nor a standard error, and too "
                                         "few other series to estimate the scatter from")
            m["skip"] = True
    series = [m for m in series if not m.get("skip")]
    fitted = np.zeros(S, bool)
    fitted[[m["i"] for m in series]] = True
    # a series too short to be fitted still gets its pool's scatter (the detection scale uses it)
    pooled = np.array([str(h).startswith("pooled") for h in how])
    known = fitted | pooled
    out["tau"] = np.where(known & np.isfinite(tau2), np.sqrt(tau2), np.nan)
    out["tau_source"] = np.where(known, how.astype(object), "")

    cached = {}
    if cache is not None and len(cache) and len(keys) == 1:
        for r in cache.itertuples(index=False):
            d = r._asdict()
            if pd.notna(d["p_value"]) and pd.notna(d["tau"]):
                cached[d[keys[0]]] = (float(d["tau"]), float(d["p_value"]), str(d["p_method"]), int(d["n_boot"]))
    # final fit with scatter; the bootstrap for the series whose statistic is positive
    for blk, members in _blocks(series, tau2=tau2):
        kind = members[0]["kind"]
        idx = np.array([m["i"] for m in members])
        grid = _grid(blk.t, width_threshold)
        fit = _fit_block(blk, blk.y[:, None, :], width_threshold, grid)
        sm = {k_: v[:, 0] if isinstance(v, np.ndarray) and v.ndim == 2 else v for k_, v in
              _summaries(fit, blk.t, width_threshold).items()}
        out["width_decades"][idx] = sm["width"]
        out["span_decades"][idx] = blk.t[:, -1] - blk.t[:, 0]
        out["t_mid"][idx] = sm["t0"]
        # the onset is a scale only where the fitted 10 % point lies among the sizes
        out["onset_x"][idx] = np.array([_from_t(v, m["x"]) if m["t"][0] <= v <= m["t"][-1] else np.nan
                                        for v, m in zip(sm["t10"], members)])
        out["level_lo"][idx] = sm["lo"]
        out["level_hi"][idx] = sm["hi"]
        out["n_before"][idx] = sm["n_before"]
        out["n_after"][idx] = sm["n_after"]
        out["gap_decades"][idx] = _gap(blk.t, sm["t10"], sm["n_before"], sm["n_inside"])
        out["rise_stat"][idx] = sm["rise"]
        out["narrow_stat"][idx] = sm["narrow"]
        out["sharp_stat"][idx] = sm["stat"]
        rising = sm["rise"] > _CHI2_RISE
        for j, m in enumerate(members):
            i = m["i"]
            if not rising[j]:
                out["pre_state"][i] = "no signal"
                out["pre_reason"][i] = _no_signal_reason(m, blk, j)
            else:
                out["pre_state"][i] = "tested"
        pos = sm["stat"] > 0
        # without a scatter estimate, a sharp fit cannot be told from models that differ in more
        # than size (four sizes and no family to pool over): not tested
        blind = np.array([how[m["i"]] == "none" for m in members])
        out["p_value"][idx] = np.where(pos, np.nan, 1.0)
        out["p_method"][idx] = np.where(pos, np.where(blind, "no scatter estimate", ""), "no sharp fit")
        pos &= ~blind
        if n_boot <= 0:
            out["p_value"][idx[pos]] = np.nan
            out["p_method"][idx[pos]] = "not tested"
            continue
        if pos.any() and cached:
            for j in np.flatnonzero(pos):
                hit = cached.get(members[j]["key"][0])
                if hit is not None and abs(hit[0] - math.sqrt(blk.tau2[j])) <= 1e-12 * max(1.0, hit[0]):
                    i = members[j]["i"]
                    out["p_value"][i], out["p_method"][i], out["n_boot"][i] = hit[1], hit[2], hit[3]
                    pos[j] = False
        if pos.any():
            sel = np.flatnonzero(pos)
            _, _, mu0 = _params_at(blk.y[:, None, :], fit["W"], fit["B"], fit["j_wide"])
            mu0 = mu0[sel, 0, :]                                                   # the null fit
            if kind == "binomial":
                mu0 = np.clip(mu0, 0.0, 1.0)
            sub = _Block(blk.t[sel], blk.y[sel], None if blk.a is None else blk.a[sel], blk.b[sel], blk.tau2[sel])
            # the seed is the series' points (not its name): identical series draw identical replicates
            seeds = np.array([content_seed(members[j]["x"], members[j]["y"], members[j]["n"], members[j]["se"],
                                           kind) for j in sel], dtype=np.uint64)
            p, meth, used = sharpness_pvalues(sub, kind, mu0, sm["stat"][sel], seeds, n_boot, width_threshold,
                                              (grid[0][sel], grid[1], grid[2]), (fit["B"][sel], fit["Bt"][sel]))
            out["p_value"][idx[sel]] = p
            out["p_method"][idx[sel]] = meth
            out["n_boot"][idx[sel]] = used
    res = first.copy()
    for c in ASSESS_COLUMNS:
        res[c] = out[c]
    return res


def _from_t(tv: float, x: np.ndarray) -> float:
    if np.all(x > 0):
        return float(10.0 ** tv)
    return float(10.0 ** tv - 1.0)


def _no_signal_reason(m: dict, blk: _Block, j: int) -> str:
    y, v = blk.y[j], _variance(blk.y[j], None if blk.a is None else blk.a[j], blk.b[j], blk.tau2[j])
    w = 1.0 / v
    tc = blk.t[j] - (w * blk.t[j]).sum() / w.sum()
    slope = (w * tc * y).sum() / (w * tc * tc).sum()
    z = slope * math.sqrt((w * tc * tc).sum())
    if z < -2:
        return "no rise: it declines with scale"
    b = m.get("base")
    if b is not None and np.isfinite(b):
        yy = m["y"] if m["kind"] == "binomial" else None
        if yy is not None and np.all(np.abs(yy - b) <= 2 * np.sqrt(v) + 1e-12):
            return f"at chance throughout (chance level {b:.3g})"
    return "flat: no significant rise with scale at this noise"


#: at most this many basis values (series x grid points x sizes) in one block: bounds the memory of a fit
_BASIS_CHUNK = 12_000_000


def _blocks(series: list[dict], tau2):
    """Group series by (length, noise kind) into :class:`_Block` s, each small enough that its basis
    (series x grid x sizes) stays under ``_BASIS_CHUNK`` values."""
    groups: dict = {}
    for m in series:
        groups.setdefault((m["t"].size, m["kind"]), []).append(m)
    for (k, kind), everyone in sorted(groups.items()):
        G = _grid(everyone[0]["t"][None, :], WIDTH_THRESHOLD)[0].shape[1]
        step = max(1, _BASIS_CHUNK // max(1, G * k))
        for c0 in range(0, len(everyone), step):
            members = everyone[c0:c0 + step]
            yield _make_block(members, kind, tau2), members


def _make_block(members: list[dict], kind: str, tau2) -> _Block:
    """Stack series of one length and noise kind; without ``tau2`` (the first fit) no scatter, or unit
    weights for scatter-only series."""
    t = np.stack([m["t"] for m in members])
    y = np.stack([m["y"] for m in members])
    a = np.stack([m["a"] for m in members]) if kind == "binomial" else None
    b = np.stack([m["b"] for m in members]) if kind == "gaussian" else np.zeros_like(y)
    if tau2 is None:
        tt = np.zeros(len(members)) if kind != "scatter" else np.ones(len(members))
    else:
        tt = np.array([tau2[m["i"]] for m in members])
    return _Block(t, y, a, b, tt)


# ----------------------------------------------------------------------------- the call
def decide(frame, *, family: str | None = None, fdr_level: float = FDR_LEVEL,
           width_threshold: float = WIDTH_THRESHOLD):
    """Final states from :func:`assess` rows: the Benjamini-Hochberg step, then the rules.

    Parameters
    ----------
    frame : pandas.DataFrame
        Rows of :func:`assess` (any extra columns are kept).
    family : str, optional
        Column naming each row's false-discovery family (e.g. size axis vs training steps); rows
        whose family is '' or NaN are outside every family (q NaN, never emergent).  None: one
        family.
    fdr_level : float
        Benjamini-Hochberg level.

    Returns
    -------
    pandas.DataFrame
        ``frame`` plus ``q_value``, ``verdict`` (one of :data:`STATES`), ``verdict_reason`` and
        ``emergent`` (True only in the ``emergent`` state).
    """
    import pandas as pd

    out = frame.copy()
    p = pd.to_numeric(out["p_value"], errors="coerce").to_numpy(dtype=float)
    tested = (out["pre_state"] == "tested").to_numpy() & np.isfinite(p)
    fam = out[family].astype(object).where(out[family].notna(), "").astype(str).to_numpy() if family \
        else np.full(len(out), "all", dtype=object)
    q = np.full(len(out), np.nan)
    for f in np.unique(fam[tested]):
        if f == "":
            continue
        sel = tested & (fam == f)
        q[sel] = stats.false_discovery_control(p[sel], method="bh")
    out["q_value"] = q
    state = out["pre_state"].astype(object).to_numpy().copy()
    reason = out["pre_reason"].astype(object).to_numpy().copy()
    w = pd.to_numeric(out["width_decades"], errors="coerce").to_numpy(dtype=float)
    gap = pd.to_numeric(out["gap_decades"], errors="coerce").to_numpy(dtype=float)
    nb = pd.to_numeric(out["n_before"], errors="coerce").to_numpy(dtype=float)
    na = pd.to_numeric(out["n_after"], errors="coerce").to_numpy(dtype=float)
    narrow = pd.to_numeric(out["narrow_stat"], errors="coerce").to_numpy(dtype=float)
    W = width_threshold
    method = out["p_method"].astype(object).to_numpy()
    sizes = pd.to_numeric(out["n_sizes"] if "n_sizes" in out.columns else out["n_scales"], errors="coerce") \
        .to_numpy(dtype=float)
    blind = (out["tau_source"].astype(str) == "none").to_numpy() if "tau_source" in out.columns \
        else (method == "no scatter estimate")
    for i in np.flatnonzero(state == "tested"):
        if blind[i] or method[i] == "no scatter estimate":
            # without a scatter estimate neither a sharp nor a smooth shape can be told from models that
            # differ in more than size: both calls would rest on sampling noise alone
            state[i] = "insufficient"
            reason[i] = (f"the scatter between models cannot be estimated ({int(sizes[i])} sizes, no other series to "
                         f"pool over): with sampling noise alone the best fit ({w[i]:.2g} decades wide) cannot be "
                         "told from models that differ in more than size")
        elif np.isfinite(q[i]) and q[i] < fdr_level:
            state[i] = "emergent"
            reason[i] = (f"sharp onset: 10-90% width {w[i]:.2g} decades < {W:g}, q = {q[i]:.2g}; "
                         f"{int(nb[i])} sizes before, {int(na[i])} after")
        elif np.isfinite(gap[i]) and gap[i] > W:
            state[i] = "insufficient"
            reason[i] = (f"sizes too far apart: the whole rise lies between two sizes {gap[i]:.2g} decades apart, "
                         f"so a width below {W:g} decade cannot be told from one above")
        elif w[i] < W and nb[i] < MIN_BEFORE:
            state[i] = "insufficient"
            reason[i] = (f"no onset observed: the rise starts before the {MIN_BEFORE}nd size "
                         f"({int(nb[i])} size(s) before it)")
        elif w[i] < W and na[i] < MIN_AFTER:
            state[i] = "insufficient"
            reason[i] = (f"no level after the rise observed: {int(na[i])} size(s) after it (< {MIN_AFTER}); "
                         "the rise may go on")
        elif w[i] < W:
            state[i] = "insufficient"
            qs = f"q = {q[i]:.2g}" if np.isfinite(q[i]) else "not tested"
            reason[i] = f"a sharp-looking rise (width {w[i]:.2g} decades) not significant against the noise ({qs})"
        elif narrow[i] > _CHI2_NARROW:
            state[i] = "smooth"
            span = float(out["span_decades"].iloc[i])
            if np.isfinite(span) and w[i] > 2 * span:
                reason[i] = (f"rises steadily across the sizes (best logistic {w[i]:.2g} decades wide, over twice the "
                             f"{span:.2g} decades observed); every transition narrower than {W:g} fits worse")
            else:
                reason[i] = f"rises over {w[i]:.2g} decades (10-90%); every transition narrower than {W:g} fits worse"
        else:
            state[i] = "insufficient"
            reason[i] = (f"too noisy to tell: best fit {w[i]:.2g} decades wide, but a transition narrower than "
                         f"{W:g} fits about as well")
    out["verdict"] = state
    out["verdict_reason"] = reason
    out["emergent"] = state == "emergent"
    return out


# ----------------------------------------------------------------------------- one series
@dataclass(frozen=True)
class Verdict:
    """The verdict on one series (:func:`sharp_onset`).

    Attributes
    ----------
    state : str
        One of :data:`STATES`.
    reason : str
        Why, in words, with the numbers.
    p_value : float
        Sharpness test (NaN where not tested); for one series alone the q-value equals it.
    width : float
        10-90 % width of the best logistic, decades of scale.
    onset_x : float
        Scale at the best logistic's 10 % point.
    level_lo, level_hi : float
        Its lower and upper levels, in natural units (oriented: improving is up).
    n_before, n_after : int
        Sizes before its 10 % point and after its 90 % point.
    tau : float
        Extra scatter used (the series' own estimate: one series has no pool).
    noise : str
        ``binomial``, ``gaussian`` or ``scatter``.
    """

    state: str
    reason: str
    p_value: float
    width: float
    onset_x: float
    level_lo: float
    level_hi: float
    n_before: int
    n_after: int
    tau: float
    noise: str


def sharp_onset(x, y, *, n_examples=None, stderr=None, metric: str = "", higher_is_better: bool = True,
                proportion: bool | None = None, width_threshold: float = WIDTH_THRESHOLD,
                n_boot: int = DEFAULT_N_BOOT) -> Verdict:
    """The verdict on one series: sharp onset, smooth rise, no signal or insufficient data.

    Parameters
    ----------
    x, y : array_like
        Scales (> 0) and values, one point per scale.
    n_examples : array_like or float, optional
        Test-set size per point (binomial noise for a proportion).
    stderr : array_like or float, optional
        Reported standard error per point (Gaussian noise).
    metric : str
        Canonical metric name (perplexity is analysed as its log).
    higher_is_better : bool
        Orientation.
    proportion : bool, optional
        Whether ``y`` is a proportion (default: when ``n_examples`` is given).
    width_threshold : float
        W, decades.
    n_boot : int
        Bootstrap replicates at most.

    Returns
    -------
    Verdict

    Examples
    --------
    Flat near 0 for six sizes, then a jump to 0.6, at 1,000 examples per point:

    >>> import numpy as np
    >>> v = sharp_onset(np.logspace(8, 11, 12), [0.01] * 6 + [0.6] * 6, n_examples=1000)
    >>> v.state
    'emergent'
    """
    import pandas as pd

    xv = np.asarray(x, dtype=float).ravel()
    yv = np.asarray(y, dtype=float).ravel()
    if xv.shape != yv.shape:
        raise ValueError(f"x and y must have the same length; got {xv.size} and {yv.size}")
    k = xv.size
    nv = np.broadcast_to(np.asarray(np.nan if n_examples is None else n_examples, dtype=float), (k,))
    sv = np.broadcast_to(np.asarray(np.nan if stderr is None else stderr, dtype=float), (k,))
    prop = (n_examples is not None) if proportion is None else bool(proportion)
    df = pd.DataFrame({"series": 0, "x": xv, "y": yv, "n_examples": nv, "stderr": sv, "metric": metric,
                       "higher_is_better": higher_is_better, "proportion": prop})
    a = assess(df, ["series"], n_boot=n_boot, width_threshold=width_threshold)
    r = decide(a, width_threshold=width_threshold).iloc[0]

    def num(v, kind=float):
        return kind(v) if pd.notna(v) else (float("nan") if kind is float else -1)

    return Verdict(str(r["verdict"]), str(r["verdict_reason"]), num(r["p_value"]), num(r["width_decades"]),
                   num(r["onset_x"]), num(r["level_lo"]), num(r["level_hi"]), num(r["n_before"], int),
                   num(r["n_after"], int), num(r["tau"]), str(r["noise"]))
