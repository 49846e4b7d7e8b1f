"""The emergence score of Srivastava et al. (descriptive), and Wei et al.'s emergence threshold.

The emergence score (Srivastava et al. 2022, "Beyond the Imitation Game", BIG-bench; used by
Schaeffer, Miranda & Koyejo 2023, "Are Emergent Abilities of Large Language Models a
Mirage?", Sec. 4) of one series of points (x_i, y_i), sorted so that x_i < x_{i+1}, is

    ES = sign(argmax_i y_i - argmin_i y_i) * (max_i y_i - min_i y_i)
         / sqrt( median_{i=2..n} (y_i - y_{i-1})^2 )                            (ES)

The papers leave several choices open.  This module settles them, once, for every caller:

1. **Orientation.**  For a lower-is-better metric (Brier score, edit distance, loss) ``y`` is
   negated first, so "improves with scale" is a positive score for every metric.
2. **Ties in x** (seeds, duplicate rows of one model) are averaged before scoring; their
   spread (sample standard deviation, ddof=1, NaN for a single value) is returned.
3. **Fewer than 3 distinct scales**: not scored (score NaN, flag ``too_few_scales``; with no
   scale at all, ``no_scale``).
4. **argmax / argmin ties** (equal y at several scales): the first occurrence, i.e. the
   smallest scale, is used for both (numpy's convention).  A flat-then-jump series
   ``0, 0, 0, 1`` is therefore positive and ``1, 1, 1, 0`` negative.
5. **Median of an even number of squared differences**: the mean of the two middle ones.
6. **A range of zero** (every point equal): score 0.0, flag ``flat``.  Steps (and a range)
   no larger than ``NUMERIC_TOL`` (1e-9) times the series' largest |y| (at least 1) count
   as zero: they are rounding noise in the source's arithmetic, not a measured change.
7. **A floor on the denominator**, so the score is continuous in the data and never divides
   by zero.  The squared denominator is ``max(median, r^2, (f * range)^2)``:

   - ``r`` is the metric's resolution where it is known (``1 / n_examples`` for a proportion,
     the median reported standard error otherwise): a step smaller than one example, or than
     the noise, cannot be resolved (flag ``floored_resolution``);
   - ``f = RANGE_FLOOR`` (1 %) of the series' own range otherwise (flag ``floored_range``): the
     score is then at most ``1 / f = 100``.  The old rule (floor at the smallest nonzero step)
     jumped: ``0, 0, 0, 0.5`` scored 1 while ``0, 0.001, 0.002, 0.5`` scored 500; now both score
     100, and a series moving by 1e-5 no longer scores thousands.

What the score is, and is not (METHODS.md Sec. 8).  It is a descriptive "breakthroughness"
number: a straight trend over k equally spaced sizes scores k - 1, so it grows with the number of
sizes (a three-size family can never exceed 2), and its median-step denominator shrinks on any
geometric decay, so a smooth power-law loss scores high.  It is therefore **not** the emergence
call: :mod:`emergence.analysis.verdict` makes that call (a calibrated sharp-onset test).  Wei et al.'s
emergence threshold (:func:`emergence_threshold`) is offered beside it.

References
----------
Srivastava, A. et al. (2022). Beyond the Imitation Game: Quantifying and extrapolating the
capabilities of language models. arXiv:2206.04615.
Schaeffer, R., Miranda, B. & Koyejo, S. (2023). Are Emergent Abilities of Large Language
Models a Mirage? NeurIPS 2023, Sec. 4.
Wei, J. et al. (2022). Emergent Abilities of Large Language Models. TMLR.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "RANGE_FLOOR",
    "NUMERIC_TOL",
    "FLAGS",
    "EmergenceScore",
    "emergence_score",
    "emergence_scores",
    "emergence_scores_loop",
    "emergence_threshold",
    "Detection",
    "detection_scale",
]

#: The squared denominator is floored at (RANGE_FLOOR * range)^2: a score is at most 1 / RANGE_FLOOR.
RANGE_FLOOR = 0.01

#: Successive differences (and a range) at most this, relative to the series' largest |y|
#: (at least 1), count as zero: values equal to 9 significant digits differ only by the
#: rounding of the source's arithmetic (e.g. a Brier score of 1 - 1e-12).
NUMERIC_TOL = 1e-9

#: flag -> meaning (every scored or unscored series carries exactly one).
FLAGS = {
    "ok": "scored",
    "flat": "every point equal: score 0",
    "floored_resolution": "median squared step below the resolution^2 (1/n, or the reported stderr): the "
                          "denominator is the resolution",
    "floored_range": "median squared step below (1% of the range)^2: the denominator is 1% of the range "
                     "(score 100, the most it can be)",
    "too_few_scales": "fewer than 3 distinct scales: not scored",
    "no_scale": "no point has a scale value: not scored",
}
_FLAG_CODES = list(FLAGS)
_OK, _FLAT, _FLOOR_RES, _FLOOR_RANGE, _TOO_FEW, _NO_SCALE = range(6)


@dataclass(frozen=True)
class EmergenceScore:
    """The emergence score of one series and what went into it.

    Attributes
    ----------
    score : float
        Eq. (ES) on the oriented, tie-averaged series; NaN when not scored (see ``flag``).
    flag : str
        One of :data:`FLAGS`.
    n_scales : int
        Distinct x values after averaging ties.
    sign : int
        ``sign(argmax - argmin)`` (0 for a flat series or one not scored).
    numerator : float
        ``max y - min y`` (oriented).
    denominator : float
        The square root actually divided by (after any floor).
    median_sq_diff : float
        The raw median of squared successive differences, before any floor.
    resolution : float
        The resolution used for the floor (NaN when unknown).
    x, y, y_sd, n_at_x : numpy.ndarray
        The distinct scales, the mean oriented y at each, the spread (ddof=1) and the count.
    """

    score: float
    flag: str
    n_scales: int
    sign: int
    numerator: float
    denominator: float
    median_sq_diff: float
    resolution: float
    x: np.ndarray
    y: np.ndarray
    y_sd: np.ndarray
    n_at_x: np.ndarray

    @property
    def spread(self) -> float:
        """Largest within-scale standard deviation (NaN if no scale has repeats)."""
        finite = self.y_sd[np.isfinite(self.y_sd)]
        return float(finite.max()) if finite.size else float("nan")


# ----------------------------------------------------------------------------- the rule
def _score_last_axis(Y: np.ndarray, res: np.ndarray):
    """Eq. (ES) along the last axis of ``Y`` (already oriented, sorted by x, >= 3 points).

    ``res`` broadcasts against ``Y[..., 0]``; NaN = unknown resolution.  Returns score, flag
    code, sign, numerator, denominator and raw median, each shaped ``Y.shape[:-1]``.
    """
    m = Y.shape[-1]
    imax = Y.argmax(axis=-1)[..., None]
    imin = Y.argmin(axis=-1)[..., None]
    top = np.take_along_axis(Y, imax, axis=-1)[..., 0]
    bottom = np.take_along_axis(Y, imin, axis=-1)[..., 0]
    numerator = top - bottom
    sign = np.sign(imax[..., 0] - imin[..., 0])                      # first occurrence of each
    # steps below the numerical tolerance are rounding noise in the source's arithmetic: zero
    tol = NUMERIC_TOL * np.maximum(1.0, np.maximum(np.abs(top), np.abs(bottom)))
    d2 = np.diff(Y, axis=-1)
    d2[np.abs(d2) <= tol[..., None]] = 0.0
    numerator = np.where(numerator <= tol, 0.0, numerator)
    d2 *= d2
    d2.sort(axis=-1)                                                 # m - 1 squared steps, ascending
    k = m - 1
    median = 0.5 * (d2[..., (k - 1) // 2] + d2[..., k // 2])       # mean of the middle two if even
    res2 = np.broadcast_to(np.asarray(res, dtype=float) ** 2, median.shape)
    res2 = np.where(np.isfinite(res2), res2, 0.0)
    range2 = (RANGE_FLOOR * numerator) ** 2
    denom2 = np.maximum(median, np.maximum(res2, range2))
    flat = numerator == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(flat, 0.0, sign * numerator / np.sqrt(denom2))
    flag = np.full(median.shape, _OK, dtype=np.int8)
    by_res = (res2 > median) & (res2 >= range2)
    flag[by_res] = _FLOOR_RES
    flag[~by_res & (range2 > median)] = _FLOOR_RANGE
    flag[flat] = _FLAT
    return score, flag, np.where(flat, 0, sign).astype(np.int8), numerator, np.sqrt(denom2), median


def _check_finite(name, arr):
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0]
        raise ValueError(f"{name} must be finite; got {bad!r} at index {int(np.flatnonzero(~np.isfinite(arr))[0])}")


def emergence_score(x, y, *, higher_is_better: bool = True, resolution: float | None = None) -> EmergenceScore:
    """Emergence score of one series (Srivastava et al. 2022; Schaeffer et al. 2023 Sec. 4).

    Parameters
    ----------
    x : array_like
        Scale of each point (parameters, FLOPs, tokens or step); any order, ties allowed.
    y : array_like
        Metric value of each point, on the metric's own orientation.
    higher_is_better : bool
        False for loss-like metrics: ``y`` is negated before scoring (choice 1 of the module).
    resolution : float, optional
        The smallest step the metric can resolve (``1 / n_examples`` for a proportion).

    Returns
    -------
    EmergenceScore
        Named result; ``score`` is NaN only for a series with fewer than 3 distinct scales.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` differ in length or hold NaN / infinity.

    Examples
    --------
    Flat at 0 then a jump to 0.5 with 100 examples: the median squared step is 0, so the
    denominator is floored at 1/100 and ES = 0.5 / 0.01 = 50; without a known resolution it is
    floored at 1 % of the range, ES = 100.

    >>> r = emergence_score([1e8, 1e9, 1e10, 1e11], [0, 0, 0, 0.5], resolution=0.01)
    >>> float(r.score), r.flag
    (50.0, 'floored_resolution')
    >>> float(emergence_score([1e8, 1e9, 1e10, 1e11], [0, 0.001, 0.002, 0.5]).score)
    100.0
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length; got {x.size} and {y.size}")
    _check_finite("x", x)
    _check_finite("y", y)
    res = float("nan") if resolution is None else float(resolution)
    if not np.isnan(res) and not (np.isfinite(res) and res >= 0):
        raise ValueError(f"resolution must be a finite number >= 0 or None; got {resolution!r}")
    ux, inv = np.unique(x, return_inverse=True)
    cnt = np.bincount(inv, minlength=ux.size)
    mean = np.bincount(inv, weights=y, minlength=ux.size) / np.maximum(cnt, 1)
    dev2 = np.bincount(inv, weights=(y - mean[inv]) ** 2, minlength=ux.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.where(cnt > 1, np.sqrt(dev2 / (cnt - 1)), np.nan)
    yo = mean if higher_is_better else -mean
    n = int(ux.size)
    if n < 3:
        flag = "no_scale" if n == 0 else "too_few_scales"
        return EmergenceScore(float("nan"), flag, n, 0, float("nan"), float("nan"), float("nan"), res,
                              ux, yo, sd, cnt)
    score, flag, sign, num, den, med = _score_last_axis(yo[None, :], np.array([res]))
    return EmergenceScore(float(score[0]), _FLAG_CODES[int(flag[0])], n, int(sign[0]), float(num[0]),
                          float(den[0]), float(med[0]), res, ux, yo, sd, cnt)


# ----------------------------------------------------------------------------- many series
@dataclass
class _Prepared:
    keys: pd.DataFrame          # one row per series, in series order
    lengths: np.ndarray         # distinct scales per series
    starts: np.ndarray          # offset of each series' first point
    x: np.ndarray               # per point, sorted by series then x
    y: np.ndarray               # per point, tie-averaged, NOT oriented
    orient: np.ndarray          # per series: +1 / -1
    res: np.ndarray             # per series (NaN unknown)


def _column_or_const(df, spec, default, name):
    if spec is None:
        return np.full(len(df), default)
    if isinstance(spec, str):
        if spec not in df.columns:
            raise ValueError(f"{name}: column {spec!r} not in the frame (columns: {list(df.columns)[:20]})")
        return df[spec].to_numpy()
    return np.full(len(df), spec)


def _prepare(points: pd.DataFrame, keys, x, y, higher_is_better, resolution) -> _Prepared:
    keys = list(keys)
    missing = [c for c in keys + [x, y] if c not in points.columns]
    if missing:
        raise ValueError(f"columns {missing} not in the points frame (columns: {list(points.columns)[:20]})")
    xv = pd.to_numeric(points[x], errors="coerce").to_numpy(dtype=float)
    yv = pd.to_numeric(points[y], errors="coerce").to_numpy(dtype=float)
    if np.isinf(xv).any():
        raise ValueError(f"{x} must be finite or NaN (no scale); got inf")
    _check_finite(y, yv[np.isfinite(xv)])          # a row without a scale may lack a value too
    hib = _column_or_const(points, higher_is_better, True, "higher_is_better")
    res = pd.to_numeric(pd.Series(_column_or_const(points, resolution, np.nan, "resolution")),
                        errors="coerce").to_numpy(dtype=float)
    # every series, including those whose points all lack a scale; ngroup numbers the series in
    # sorted key order, and the first row of each series carries its key values
    sid_rows = points.groupby(keys, sort=True, dropna=False, observed=True).ngroup().to_numpy()
    S = int(sid_rows.max()) + 1 if sid_rows.size else 0
    _, first_row = np.unique(sid_rows, return_index=True)
    hib_b = pd.array(hib, dtype="boolean").fillna(True).to_numpy(dtype=bool)
    n_hib = np.bincount(sid_rows, weights=hib_b.astype(float), minlength=S)
    n_rows = np.bincount(sid_rows, minlength=S)
    if ((n_hib > 0) & (n_hib < n_rows)).any():
        bad = int(np.flatnonzero((n_hib > 0) & (n_hib < n_rows))[0])
        raise ValueError(f"series {tuple(points[keys].iloc[first_row[bad]])} mixes higher_is_better values")
    res_s = np.full(S, -np.inf)
    np.fmax.at(res_s, sid_rows, res)                       # the coarsest resolution (NaN ignored)
    res_s[~np.isfinite(res_s)] = np.nan
    keys_frame = points[keys].iloc[first_row].reset_index(drop=True)
    work = pd.DataFrame({"_sid": sid_rows, "_x": xv, "_y": yv})
    pts = work.loc[np.isfinite(xv)].groupby(["_sid", "_x"], sort=True).agg(_y=("_y", "mean")).reset_index()
    sid = pts["_sid"].to_numpy(dtype=np.int64)
    lengths = np.bincount(sid, minlength=S).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    orient = np.where(n_hib == n_rows, 1.0, -1.0)
    return _Prepared(keys_frame, lengths, starts, pts["_x"].to_numpy(dtype=float), pts["_y"].to_numpy(dtype=float),
                     orient, res_s)


def _block_index(prep: _Prepared, sel: np.ndarray, m: int) -> np.ndarray:
    return prep.starts[sel][:, None] + np.arange(m)[None, :]


def _observed(prep: _Prepared):
    S = len(prep.lengths)
    score = np.full(S, np.nan)
    flag = np.where(prep.lengths == 0, _NO_SCALE, _TOO_FEW).astype(np.int8)
    sign = np.zeros(S, dtype=np.int8)
    num = np.full(S, np.nan)
    den = np.full(S, np.nan)
    med = np.full(S, np.nan)
    for m in np.unique(prep.lengths[prep.lengths >= 3]):
        sel = np.flatnonzero(prep.lengths == m)
        Y = prep.y[_block_index(prep, sel, m)] * prep.orient[sel][:, None]
        s, f, sg, nu, de, me = _score_last_axis(Y, prep.res[sel])
        score[sel], flag[sel], sign[sel], num[sel], den[sel], med[sel] = s, f, sg, nu, de, me
    return score, flag, sign, num, den, med


def emergence_scores(points: pd.DataFrame, keys, *, x: str = "x", y: str = "y",
                     higher_is_better: bool | str = True, resolution: float | str | None = None) -> pd.DataFrame:
    """Emergence scores of many series at once, vectorised (eq. ES for every series).

    The long frame is grouped once by ``keys + [x]`` (ties averaged), sorted, and every
    series of the same length is scored as one (S, m) numpy block with the same rule as
    :func:`emergence_score` (no per-series Python code).

    Parameters
    ----------
    points : pandas.DataFrame
        Long frame, one row per observation (ties in x allowed; NaN x = no scale).
    keys : list of str
        Columns identifying a series.
    x, y : str
        Scale and value columns.
    higher_is_better : bool or str
        Orientation for all series, or a column (constant within a series).
    resolution : float, str or None
        Resolution for the floor, or a column (the largest value in a series is used: the
        coarsest resolution).

    Returns
    -------
    pandas.DataFrame
        One row per series, sorted by ``keys``: the key columns, ``n_scales``, ``x_min``,
        ``x_max``, ``emergence_score``, ``flag``, ``sign``, ``numerator``, ``denominator``,
        ``median_sq_diff``, ``resolution``.

    References
    ----------
    Srivastava et al. 2022 (BIG-bench); Schaeffer et al. 2023, Sec. 4 (eq. ES above).
    """
    prep = _prepare(points, keys, x, y, higher_is_better, resolution)
    score, flag, sign, num, den, med = _observed(prep)
    out = prep.keys.reset_index(drop=True).copy()
    out["n_scales"] = prep.lengths
    has = prep.lengths > 0
    last = prep.starts + np.maximum(prep.lengths, 1) - 1
    xs = prep.x if prep.x.size else np.zeros(1)
    out["x_min"] = np.where(has, xs[np.minimum(prep.starts, xs.size - 1)], np.nan)
    out["x_max"] = np.where(has, xs[np.minimum(last, xs.size - 1)], np.nan)
    out["emergence_score"] = score
    out["flag"] = np.asarray(_FLAG_CODES, dtype=object)[flag]
    out["sign"] = sign.astype(np.int64)
    out["numerator"] = num
    out["denominator"] = den
    out["median_sq_diff"] = med
    out["resolution"] = prep.res
    return out


def emergence_scores_loop(points: pd.DataFrame, keys, *, x: str = "x", y: str = "y",
                          higher_is_better: bool | str = True, resolution: float | str | None = None
                          ) -> pd.DataFrame:
    """Reference implementation of :func:`emergence_scores` (scores only): a plain
    ``groupby().apply`` calling :func:`emergence_score` once per series.

    Slow by design; it exists to check the vectorised path and to benchmark it.
    """
    keys = list(keys)
    cols = [x, y] + [c for c in (higher_is_better, resolution) if isinstance(c, str)]
    def one(g: pd.DataFrame) -> pd.Series:
        hib = bool(g[higher_is_better].iloc[0]) if isinstance(higher_is_better, str) else bool(higher_is_better)
        if isinstance(resolution, str):
            r = pd.to_numeric(g[resolution], errors="coerce").max()
            r = None if pd.isna(r) else float(r)
        else:
            r = resolution
        xv = pd.to_numeric(g[x], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(xv)
        res = emergence_score(xv[keep], g[y].to_numpy(dtype=float)[keep], higher_is_better=hib, resolution=r)
        return pd.Series({"n_scales": res.n_scales,
                          "x_min": res.x[0] if res.n_scales else np.nan,
                          "x_max": res.x[-1] if res.n_scales else np.nan,
                          "emergence_score": res.score, "flag": res.flag, "sign": res.sign,
                          "numerator": res.numerator, "denominator": res.denominator,
                          "median_sq_diff": res.median_sq_diff})
    out = points.groupby(keys, sort=True, dropna=False, observed=True)[list(dict.fromkeys(cols))].apply(one)
    return out.reset_index()


def emergence_threshold(x, y, *, baseline: float, stderr, k: float = 2.0, higher_is_better: bool = True):
    """Wei et al. (2022) emergence threshold: the first scale whose value clears the random
    baseline by ``k`` standard errors.

    Parameters
    ----------
    x, y : array_like
        Scales and values (ties in x averaged, stderr pooled as the stderr of a mean).
    baseline : float
        Random-chance value of the metric.
    stderr : float or array_like
        Standard error of each value (a scalar applies to all).
    k : float
        Margin in standard errors (2 by default: about a one-sided 2.3 % chance by noise).
    higher_is_better : bool
        For a lower-is-better metric the value must fall *below* the baseline by the margin.

    Returns
    -------
    float
        The smallest such x, or NaN if no scale clears the baseline.

    References
    ----------
    Wei, J. et al. (2022). Emergent Abilities of Large Language Models. TMLR.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    se = np.broadcast_to(np.asarray(stderr, dtype=float), y.shape)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length; got {x.size} and {y.size}")
    ux, inv = np.unique(x, return_inverse=True)
    cnt = np.bincount(inv, minlength=ux.size)
    mean = np.bincount(inv, weights=y, minlength=ux.size) / cnt
    pooled = np.sqrt(np.bincount(inv, weights=se ** 2, minlength=ux.size)) / cnt
    margin = (mean - baseline) if higher_is_better else (baseline - mean)
    clears = margin > k * pooled
    return float(ux[np.argmax(clears)]) if clears.any() else float("nan")


class Detection(NamedTuple):
    """The detection scale of one series (:func:`detection_scale`)."""

    x: float          # NaN: never detected (or not testable, see ``against``)
    against: str      # 'chance', 'smallest model', or why it could not be tested
    index: int        # position of x among the sorted sizes (-1 when NaN)


def detection_scale(x, y, *, n_examples=None, stderr=None, chance: float | None = None,
                    higher_is_better: bool = True, metric: str = "", proportion: bool = False,
                    paired_se=None, scatter: float | None = None, level: float = 0.05) -> Detection:
    """The smallest scale from which the metric is significantly better than chance at every
    larger scale (Wei et al. 2022's onset, "performance ... well above random", measured with
    the series' own noise; METHODS.md Sec. 8, the *detection lead*).

    With no chance level the reference is the series' smallest model (is the ability there at
    all, beyond the smallest model's level?).  Each size is tested one-sided at ``level``:

    - a proportion with known n against chance: the exact binomial test,
      ``P(Binomial(n, chance) >= k) <= level``;
    - against the smallest model: ``z = (y_i - y_1) / se_diff`` with ``se_diff`` the paired
      per-example standard error where given (``paired_se``: the same examples scored for both
      models); else, for a proportion with known n, Fisher's exact test (one-sided), and otherwise
      ``se_diff = sqrt(se_i^2 + se_1^2)`` from the reported standard errors;
    - a reported stderr against chance: ``z = (y - chance) / se``;
    - with neither n nor a stderr, the scatter between models (``scatter``, the verdict's pooled
      tau) stands for each point's noise (``against`` then ends in ``(scatter)``).

    Values are first put in natural units (:func:`emergence.analysis.verdict.natural_units`: log
    perplexity; lower-is-better negated, and the chance level with them).

    Returns
    -------
    Detection
        ``x`` NaN when the last size is not significantly better (never detected) or when the
        series has no noise to test against (``against`` says so).

    Examples
    --------
    >>> d = detection_scale([1e8, 1e9, 1e10, 1e11], [0.25, 0.26, 0.40, 0.60], n_examples=1000, chance=0.25,
    ...                     proportion=True)
    >>> float(d.x), d.against
    (10000000000.0, 'chance')
    """
    from emergence.analysis.verdict import natural_units

    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    k = x.size
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    n = np.broadcast_to(np.asarray(np.nan if n_examples is None else n_examples, dtype=float), (k,))[order]
    se = np.broadcast_to(np.asarray(np.nan if stderr is None else stderr, dtype=float), (k,))[order]
    pse = None if paired_se is None else np.broadcast_to(np.asarray(paired_se, dtype=float), (k,))[order]
    if k == 0 or not np.isfinite(y).all():
        return Detection(float("nan"), "no finite values", -1)
    has_chance = chance is not None and np.isfinite(chance)
    binom = proportion and np.all(np.isfinite(n) & (n > 0)) and np.all((y >= 0) & (y <= 1))
    z = stats.norm.isf(level)
    if binom:
        c = np.round(y * n)
        yo = y if higher_is_better else 1.0 - y
        co = c if higher_is_better else n - c
        if has_chance:
            ch = chance if higher_is_better else 1.0 - chance
            ok = stats.binom.sf(co - 1, n.astype(np.int64), ch) <= level
            return _first_all(x, ok, "chance")
        if k < 2:
            return Detection(float("nan"), "a single size", -1)
        if pse is not None and np.isfinite(pse[1:]).all():
            ok = (yo[1:] - yo[0]) / np.where(pse[1:] > 0, pse[1:], np.inf) > z
        else:
            # Fisher's exact test, one-sided: successes c_i of n_i against the smallest model's c_1 of n_1
            c0, n0 = co[0], n[0]
            ok = stats.hypergeom.sf(co[1:] - 1, (n0 + n[1:]).astype(np.int64), (c0 + co[1:]).astype(np.int64),
                                    n[1:].astype(np.int64)) <= level
        return _first_all(x, np.r_[False, ok], "smallest model")
    yn, sen, okv = natural_units(metric, y, se, higher_is_better=higher_is_better)
    if not okv.all():
        return Detection(float("nan"), "values that cannot be put in natural units", -1)
    suffix = ""
    if not np.isfinite(sen).all() and pse is None and scatter is not None and np.isfinite(scatter) and scatter > 0:
        sen = np.full(k, float(scatter))
        suffix = " (scatter)"
    if has_chance and metric in ("perplexity",):
        has_chance = False                                # a chance level is not on the log scale
    if has_chance:
        ch = chance if higher_is_better else -chance
        if not np.isfinite(sen).all():
            return Detection(float("nan"), "no n or stderr to test against", -1)
        return _first_all(x, (yn - ch) / np.where(sen > 0, sen, np.inf) > z, "chance" + suffix)
    if k < 2:
        return Detection(float("nan"), "a single size", -1)
    if pse is not None and np.isfinite(pse[1:]).all():
        d = (yn[1:] - yn[0]) / np.where(pse[1:] > 0, pse[1:], np.inf)
    elif np.isfinite(sen).all():
        sd = np.sqrt(sen[1:] ** 2 + sen[0] ** 2)
        d = (yn[1:] - yn[0]) / np.where(sd > 0, sd, np.inf)     # no noise at all: no evidence either
    else:
        return Detection(float("nan"), "no n or stderr to test against", -1)
    return _first_all(x, np.r_[False, d > z], "smallest model" + suffix)


def _first_all(x: np.ndarray, ok: np.ndarray, against: str) -> Detection:
    """The first index from which every later test passes."""
    ok = np.asarray(ok, dtype=bool)
    if not ok[-1]:
        return Detection(float("nan"), against, -1)
    fail = np.flatnonzero(~ok)
    i = int(fail[-1] + 1) if fail.size else 0
    return Detection(float(x[i]), against, i)
