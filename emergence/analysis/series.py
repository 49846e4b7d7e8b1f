"""Series: the observation table cut into scale series, scored, given their verdict, and paired.

A **series** (METHODS.md Sec. 1) is one (source, task, subtask, metric, source_metric, family,
shots, prompt_variant, variant) on one **scale axis**:

- size axes ``params``, ``flops``, ``tokens``, ``non_embedding_params`` (BIG-bench's own axis):
  each model's *final* checkpoint only
  (``is_final``), one point per distinct scale; the column ``model`` is ``''``;
- the training axis ``step``: the checkpoints (``checkpoint_step`` set) of *one* model, so
  ``model`` is part of the key.  A series never mixes checkpoints with sizes.

Rules decided here (each tested in ``tests/test_series.py``):

- Only rows with ``in_scoring`` (NULL = True) enter.  Rows whose x is NULL on the axis are
  left out of the points but counted (``n_unscaled``); a series with no scaled row is still
  listed, flag ``no_scale``.
- Values stored on the ``percent`` scale are divided by 100 (value and stderr), so every
  point is on the unit scale (the emergence score itself is scale-free; the binomial null
  and the 1/n resolution are not).
- Points of equal x (seeds, several models of one size, duplicate rows) are averaged; their
  spread is ``y_sd`` (ddof=1), their count ``n_rows``, the number of distinct models
  ``n_models``; ``n_examples`` is the smallest of the rows' (NULL if any is NULL); the
  stderr is pooled as the standard error of the mean, ``sqrt(sum se_i^2) / k``.
- Resolution: ``1 / min(n_examples)`` over the series' points for a proportion metric
  (:attr:`emergence.analysis.metrics.MetricInfo.proportion`), unknown otherwise.
- Every axis the data have is scored: ``params`` lists every series (so one without sizes
  shows as ``no_scale`` rather than vanishing); ``flops``, ``tokens`` and ``non_embedding_params`` list a series only
  where at least one of its rows has that value; ``step`` lists each model with
  checkpoints.  METHODS prefers parameters ("FLOPs/tokens where the source has no parameter
  count"): the column ``primary`` marks, per series key, the first of params, flops, tokens
  on which the series has at least 3 distinct scales (params if none has), and every
  ``step`` series.
- Significance and FDR: :func:`emergence.analysis.scores.emergence_scores` (parametric bootstrap
  under the log-linear null), then Benjamini-Hochberg over **every** series of the table
  that has a p-value (all axes together), so no filter on screen changes a verdict.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from emergence import keys as K
from emergence.analysis import verdict as V
from emergence.analysis.metrics import metric_info
from emergence.analysis.scores import emergence_scores

__all__ = [
    "SERIES_KEY",
    "SIZE_AXES",
    "TRAINING_AXES",
    "AXES",
    "SERIES_COLUMNS",
    "COMPARE_COLUMNS",
    "build_series_points",
    "POINT_INPUTS",
    "score_observations",
    "apply_fdr",
    "FDR_READS",
    "FDR_WRITES",
    "compare",
]

#: What makes a series, besides its scale axis (and, on the training axis, the model).
#: (The key, the scale axes and their order are emergence.keys'; these are the names callers know.)
SERIES_KEY = list(K.SERIES_KEY)
SIZE_AXES = K.SIZE_AXES
TRAINING_AXES = K.TRAINING_AXES
AXES = K.SCALE_AXES
_AXIS_COLUMN = K.AXIS_COLUMN
_STR_KEYS = list(K.SERIES_TEXT_KEY)

#: Columns of the series table :func:`score_observations` returns, in order.
#:
#: Identity: ``series_id`` (a stable hash of the key and axis), the key, ``model`` ('' on a size
#: axis), ``scale_axis``, ``primary`` (the axis the series is tested on), ``fdr_family``
#: (``size`` or ``step`` on the primary row, '' elsewhere).  Points: ``n_scales``, ``n_unscaled``
#: (rows without x on the axis), ``n_rows``, ``x_min``/``x_max``/``y_min``/``y_max`` (y on the
#: unit scale, not oriented), ``chance`` (the median random baseline, NaN if unknown).
#: Descriptive: ``emergence_score`` (Srivastava et al.; **grows with the number of sizes**: a
#: straight line over k sizes scores k - 1) with ``flag``, ``sign``, ``numerator``,
#: ``denominator``, ``resolution`` (:mod:`emergence.analysis.scores`).
#: The verdict (:mod:`emergence.analysis.verdict`): ``verdict`` (emergent / smooth / insufficient / no
#: signal), ``verdict_reason``, ``emergent`` (True only in the emergent state), ``p_value`` and
#: ``q_value`` of the sharp-onset test, ``p_method``, ``n_boot``, the fit (``width_decades``,
#: ``onset_x``, ``level_lo``, ``level_hi``, ``n_before``, ``n_after``, ``gap_decades``,
#: ``span_decades``), the noise (``noise``, ``tau``, ``tau_source``), the statistics
#: (``rise_stat``, ``narrow_stat``, ``sharp_stat``) and ``pre_state``/``pre_reason`` (the
#: state before the false discovery rate step).  ``detect_x``: the smallest size from which
#: every larger size is significantly better than chance (or than the smallest model), with
#: ``detect_against``.  ``points_hash``: a hash of the points (reused verdicts are keyed on it).
SERIES_COLUMNS = [
    "series_id", "source", "task", "subtask", "metric", "source_metric", "metric_class", "higher_is_better",
    "family", "source_family", "shots", "prompt_variant", "variant", "model", "scale_axis", "primary", "fdr_family",
    "n_scales", "n_unscaled", "n_rows", "x_min", "x_max", "y_min", "y_max", "chance",
    "verdict", "verdict_reason", "emergent", "p_value", "q_value", "p_method", "n_boot",
    "width_decades", "onset_x", "level_lo", "level_hi", "n_before", "n_after", "gap_decades", "span_decades",
    "noise", "tau", "tau_source", "rise_stat", "narrow_stat", "sharp_stat", "pre_state", "pre_reason",
    "detect_x", "detect_against",
    "emergence_score", "flag", "sign", "numerator", "denominator", "resolution", "points_hash",
]

#: Scatter pools of the verdict, narrowest first (:func:`emergence.analysis.verdict.pool_scatter`): the
#: series of one source, model family and metric; then of one source and metric; then of one source.
SCATTER_POOLS = [["source", "family", "metric", "source_metric", "scale_axis"],
                 ["source", "metric", "source_metric", "scale_axis"],
                 ["source", "scale_axis"]]
_VERDICT_COLUMNS = [c for c in V.ASSESS_COLUMNS if c not in ("n_sizes", "t_mid")]

#: Columns of the paired table :func:`compare` returns.
COMPARE_COLUMNS = [
    "group_id", "source", "task", "subtask", "family", "shots", "prompt_variant", "scale_axis", "model",
    "variant", "n_metrics", "metric", "source_metric", "metric_variant", "metric_class", "higher_is_better",
    "n_scales", "x_min", "x_max", "verdict", "verdict_reason", "emergent", "p_value", "q_value", "width_decades",
    "detect_x", "detect_against", "emergence_score", "flag", "series_id",
]


def _text(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "").astype(str)


_CODED = _STR_KEYS + ["model", "source_family"]
_NUMERIC = ("params", "flops", "tokens", "non_embedding_params", "checkpoint_step", "value", "stderr", "n_examples",
            "random_baseline", "paired_se")
#: the observation columns :func:`build_series_points` reads (a frame of just these gives the same points)
POINT_INPUTS = tuple(_CODED) + ("shots",) + _NUMERIC + ("value_scale", "is_final", "in_scoring", "higher_is_better")


def _clean(obs: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Scoring rows only, values on the unit scale, string columns as sorted integer codes.

    Returns the frame and ``{column: labels}``; ``labels[code]`` is the string (codes follow
    the strings' sort order, so sorting by code sorts by text).
    """
    df = obs
    if "in_scoring" in df.columns:
        df = df[df["in_scoring"].astype("boolean").fillna(True).to_numpy(dtype=bool)]
    n = len(df)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    labels = {}
    for c in _CODED:
        if c in df.columns:
            col = df[c]
            if col.isna().any():
                col = col.astype(object).where(col.notna(), "")
            codes, uniq = pd.factorize(col, sort=True)
            uniq = np.asarray(uniq, dtype=object)
            if col.dtype == object and any(not isinstance(u, str) for u in uniq):
                codes, uniq = pd.factorize(col.astype(str), sort=True)   # e.g. numbers in a text column
        else:
            codes, uniq = np.zeros(n, dtype=np.int64), np.array([""], dtype=object)
        out[c] = codes.astype(np.int64)
        labels[c] = np.asarray(uniq, dtype=object)
    shots = pd.to_numeric(df["shots"], errors="coerce").to_numpy(dtype=float) if "shots" in df.columns \
        else np.full(n, np.nan)
    out["shots"] = np.where(np.isfinite(shots), shots, -1.0)        # -1 codes NULL shots for grouping
    for c in _NUMERIC:
        out[c] = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float) if c in df.columns else np.nan
    pct = (_text(df["value_scale"]).to_numpy() == "percent") if "value_scale" in df.columns else np.zeros(n, bool)
    out.loc[pct, "value"] = out.loc[pct, "value"] / 100.0
    out.loc[pct, "stderr"] = out.loc[pct, "stderr"] / 100.0
    out.loc[pct, "random_baseline"] = out.loc[pct, "random_baseline"] / 100.0
    out["is_final"] = df["is_final"].astype("boolean").fillna(True).to_numpy(dtype=bool) if "is_final" in df.columns \
        else np.ones(n, bool)
    metric_hib = {m: metric_info(m).higher_is_better for m in labels["metric"]}
    fallback = np.asarray([metric_hib[m] for m in labels["metric"]], dtype=bool)[out["metric"].to_numpy()] \
        if n else np.zeros(0, bool)
    if "higher_is_better" in df.columns:
        hib = df["higher_is_better"].astype("boolean").to_numpy(dtype=object)
        known = ~pd.isna(hib)
        out["higher_is_better"] = np.where(known, hib, fallback).astype(bool)
    else:
        out["higher_is_better"] = fallback
    if not np.isfinite(out["value"].to_numpy()).all():
        i = int(np.flatnonzero(~np.isfinite(out["value"].to_numpy()))[0])
        raise ValueError(f"observation without a finite value: {dict(df.iloc[i][SERIES_KEY + ['model']])}")
    return out, labels


def _points(df: pd.DataFrame, labels: dict, axis: str) -> pd.DataFrame:
    """One row per (series, x) point of one axis, from cleaned (coded) rows."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {AXES}, got {axis!r}")
    if axis in SIZE_AXES:
        rows = df[df["is_final"].to_numpy()]
        model_key = np.full(len(rows), -1, dtype=np.int64)
    else:
        rows = df[np.isfinite(df["checkpoint_step"].to_numpy())]
        model_key = rows["model"].to_numpy()
    x = rows[_AXIS_COLUMN[axis]].to_numpy(dtype=float)
    unscaled = ~np.isfinite(x)
    key = SERIES_KEY + ["series_model"]
    work = pd.DataFrame({k: rows[k].to_numpy() for k in SERIES_KEY})
    work["series_model"] = model_key
    if axis in ("flops", "tokens", "non_embedding_params"):
        # listed only where the series has a value on the axis at all (params lists every series)
        has = pd.Series(~unscaled).groupby([work[k] for k in key], sort=False).transform("any").to_numpy()
        rows, work, model_key, x, unscaled = rows[has], work[has], model_key[has], x[has], unscaled[has]
    if work.empty:
        return pd.DataFrame(columns=key + ["x"])
    se = rows["stderr"].to_numpy(dtype=float)
    nex = rows["n_examples"].to_numpy(dtype=float)
    base = rows["random_baseline"].to_numpy(dtype=float)
    pse = rows["paired_se"].to_numpy(dtype=float)
    g_series = work.groupby(key, sort=True)
    sid = g_series.ngroup().to_numpy()
    series = g_series.size().reset_index(name="_size")
    S = len(series)
    series["n_unscaled"] = np.bincount(sid, weights=unscaled.astype(float), minlength=S).astype(np.int64)
    fam = rows["source_family"].to_numpy()
    hib = rows["higher_is_better"].to_numpy()
    order = np.argsort(sid, kind="stable")
    first_pos = order[np.searchsorted(sid[order], np.arange(S))]
    series["source_family"] = fam[first_pos]
    series["higher_is_better"] = hib[first_pos]
    # several spellings of one family in one series: list them all
    fam_pairs = pd.DataFrame({"sid": sid, "fam": fam}).drop_duplicates()
    n_fam = np.bincount(fam_pairs["sid"].to_numpy(), minlength=S)
    fam_text = labels["source_family"][series["source_family"].to_numpy()].copy()
    for i in np.flatnonzero(n_fam > 1):
        fams = sorted(labels["source_family"][fam_pairs.loc[fam_pairs["sid"] == i, "fam"].to_numpy()])
        fam_text[i] = " | ".join(fams)
    keep = ~unscaled
    pts = pd.DataFrame({"_sid": sid[keep], "x": x[keep], "value": rows["value"].to_numpy()[keep],
                        "model": rows["model"].to_numpy()[keep], "n_examples": nex[keep],
                        "_nk": np.isfinite(nex[keep]), "_se2": se[keep] ** 2, "_sek": np.isfinite(se[keep]),
                        "random_baseline": base[keep], "paired_se": pse[keep]})
    pts = pts.groupby(["_sid", "x"], sort=True).agg(
        y=("value", "mean"), y_sd=("value", "std"), n_rows=("value", "size"), model=("model", "first"),
        n_models=("model", "nunique"), n_examples=("n_examples", "min"), _nk=("_nk", "sum"),
        _se2=("_se2", "sum"), _sek=("_sek", "sum"), random_baseline=("random_baseline", "median"),
        paired_se=("paired_se", "max")).reset_index()
    k = pts["n_rows"].to_numpy()
    pts["n_examples"] = np.where(pts["_nk"].to_numpy() == k, pts["n_examples"].to_numpy(dtype=float), np.nan)
    pts["stderr"] = np.where(pts["_sek"].to_numpy() == k, np.sqrt(pts["_se2"].to_numpy(dtype=float)) / k, np.nan)
    # series with no scaled row keep one placeholder row (x NaN) so they are listed as no_scale
    empty = np.setdiff1d(np.arange(S), pts["_sid"].to_numpy())
    if empty.size:
        ph = pd.DataFrame({"_sid": empty, "x": np.nan, "y": np.nan, "y_sd": np.nan, "n_rows": 0, "model": -1,
                           "n_models": 0, "n_examples": np.nan, "stderr": np.nan, "random_baseline": np.nan,
                           "paired_se": np.nan})
        pts = pd.concat([pts, ph], ignore_index=True).sort_values(["_sid", "x"], kind="stable")
    psid = pts["_sid"].to_numpy()
    out = series.drop(columns=["_size", "source_family"]).iloc[psid].reset_index(drop=True)
    out["source_family"] = fam_text[psid]
    for c in ("x", "y", "y_sd", "n_rows", "n_models", "n_examples", "stderr", "random_baseline", "paired_se"):
        out[c] = pts[c].to_numpy()
    out["point_model"] = pts["model"].to_numpy()
    out["scale_axis"] = axis
    metric_text = labels["metric"][out["metric"].to_numpy()]
    info = {m: metric_info(m) for m in labels["metric"]}
    out["metric_class"] = [info[m].metric_class for m in metric_text]
    out["proportion"] = np.fromiter((info[m].proportion for m in metric_text), dtype=bool, count=len(out))
    nmin = pd.Series(out["n_examples"].to_numpy()).groupby(psid).transform("min").to_numpy()
    se_med = pd.Series(out["stderr"].to_numpy()).groupby(psid).transform("median").to_numpy()
    with np.errstate(divide="ignore"):
        out["resolution"] = np.where(out["proportion"].to_numpy() & (nmin > 0), 1.0 / nmin,
                                     np.where(se_med > 0, se_med, np.nan))
    return out


def _decode(df: pd.DataFrame, labels: dict) -> pd.DataFrame:
    """Codes back to text: key columns, ``series_model``/``point_model`` ('' for -1), shots (NULL for -1)."""
    df = df.copy()
    for c in _STR_KEYS:
        df[c] = labels[c][df[c].to_numpy(dtype=np.int64)]
    for c in ("series_model", "point_model"):
        if c in df.columns:
            codes = df[c].to_numpy(dtype=np.int64)
            lab = np.append(labels["model"], "")          # index -1 -> ''
            df[c] = lab[codes]
    shots = df["shots"].to_numpy(dtype=float)
    df["shots"] = pd.array(np.where(shots >= 0, shots, np.nan), dtype="Float64").astype("Int64")
    return df


def build_series_points(obs: pd.DataFrame, axis: str = "params") -> pd.DataFrame:
    """The long points frame of every series on one scale axis (METHODS.md Sec. 1).

    Parameters
    ----------
    obs : pandas.DataFrame
        Observation rows (columns of :data:`emergence.ingestion.schema.OBSERVATION_COLUMNS`; missing
        optional columns are treated as NULL).  Rows with ``in_scoring`` False are ignored.
    axis : {'params', 'flops', 'tokens', 'non_embedding_params', 'step'}
        Size axes take each model's final checkpoint; ``step`` takes the checkpoints of one
        model per series.

    Returns
    -------
    pandas.DataFrame
        One row per point, sorted by series then x: :data:`SERIES_KEY`, ``series_model``
        (``''`` on a size axis, the model on ``step``), ``scale_axis``, ``x``, ``y`` (mean,
        unit scale, not oriented), ``y_sd`` (ddof=1), ``n_rows``, ``point_model`` (first
        model at that x), ``n_models``, ``n_examples`` (min), ``stderr`` (pooled),
        ``n_unscaled`` (the series' rows without x), ``source_family``,
        ``higher_is_better``, ``metric_class``, ``proportion``, ``resolution``.  A series
        without any scaled row has one row with ``x`` NaN.
    """
    df, labels = _clean(obs)
    pts = _points(df, labels, axis)
    if pts.empty:
        return pts
    return _decode(pts, labels)


def _primary(series: pd.DataFrame) -> np.ndarray:
    """Per series key: the first of params, flops, tokens with at least ``MIN_SIZES`` scales (else
    the first with 3, else params); every ``step`` series is primary on its own axis."""
    key = SERIES_KEY
    size = series[series["scale_axis"].isin(SIZE_AXES)]
    prim = (series["scale_axis"] == "step").to_numpy(dtype=bool).copy()
    if size.empty:
        return prim
    order = {a: i for i, a in enumerate(SIZE_AXES)}
    n = size["n_scales"].to_numpy()
    rank = size["scale_axis"].map(order).to_numpy() + np.where(n >= V.MIN_SIZES, 0, np.where(n >= 3, 10, 20))
    tmp = size[key].copy()
    tmp["_rank"] = rank
    best = tmp.groupby(key, sort=False, dropna=False, observed=True)["_rank"].transform("min").to_numpy()
    prim[size.index.to_numpy()] = rank == best
    return prim


def _series_ids(frame: pd.DataFrame) -> np.ndarray:
    ids = pd.util.hash_pandas_object(frame[["scale_axis", "model"] + SERIES_KEY].astype(str), index=False).to_numpy()
    return np.array([f"{v:016x}" for v in ids], dtype=object)


def _points_hash(pts: pd.DataFrame, sid: np.ndarray) -> pd.Series:
    """Per series id: a hash of its points (x, y, n, stderr) and of the verdict's settings."""
    import hashlib
    vals = pts[["x", "y", "n_examples", "stderr"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    rows = pd.util.hash_pandas_object(pd.DataFrame(vals), index=False).to_numpy(dtype=np.uint64)
    salt = f"W={V.WIDTH_THRESHOLD};B={V.DEFAULT_N_BOOT};v1".encode()
    out = {}
    order = np.argsort(sid, kind="stable")
    sids, starts = np.unique(sid[order], return_index=True)
    ends = np.r_[starts[1:], len(order)]
    for s_, a, b in zip(sids, starts, ends):
        out[s_] = hashlib.sha256(salt + np.asarray(rows[order[a:b]], dtype=np.uint64).tobytes()).hexdigest()[:16]
    return pd.Series(out, dtype=object)


def score_observations(obs: pd.DataFrame, *, axes=AXES, n_boot: int = V.DEFAULT_N_BOOT,
                       width_threshold: float = V.WIDTH_THRESHOLD, fdr_level: float = V.FDR_LEVEL,
                       previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score every series of the observation table: the ``series`` table of the store.

    Every series gets its descriptive emergence score on every axis it has.  The verdict
    (:mod:`emergence.analysis.verdict`) is computed once per series, on its primary axis (one test per
    series, METHODS.md Sec. 6), and on every training-step series; the other axes of a series
    show the primary axis' verdict.  Then :func:`apply_fdr`.

    Parameters
    ----------
    obs : pandas.DataFrame
        Observation rows (the store passes one source's ``in_scoring`` rows).
    axes : sequence of str
        Scale axes to score (default all of :data:`AXES`).
    n_boot : int
        Bootstrap replicates at most per tested series (0: no p-values, nothing emergent).
    width_threshold, fdr_level : float
        The emergent call's width threshold (decades) and Benjamini-Hochberg level.
    previous : pandas.DataFrame, optional
        Earlier rows of the series table: a series whose points and scatter are unchanged keeps
        its p-value instead of drawing its bootstrap again (the same seed would give the same
        value: seeds come from the series' content).

    Returns
    -------
    pandas.DataFrame
        One row per series and axis, columns :data:`SERIES_COLUMNS`.

    References
    ----------
    Schaeffer et al. 2023, Sec. 4 (emergence score per series); METHODS.md Sec. 1, 6 and 8.
    """
    df, labels = _clean(obs)
    frames = [_points(df, labels, a) for a in axes]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SERIES_COLUMNS})
    pts = pd.concat(frames, ignore_index=True)
    out = _score_rows(pts, labels)
    dp = _tested_points(pts, labels, out)
    out = _with_verdicts(out, dp, previous, n_boot=n_boot, width_threshold=width_threshold)
    out = _with_detections(out, dp)
    out = apply_fdr(out, fdr_level=fdr_level, width_threshold=width_threshold)
    return out[SERIES_COLUMNS].sort_values(list(K.SERIES_ORDER), kind="stable").reset_index(drop=True)


def _score_rows(pts: pd.DataFrame, labels) -> pd.DataFrame:
    """One row per series and axis: the descriptive emergence score (Schaeffer et al. 2023, Sec. 4) and the
    facts carried from the points (family, direction, class, counts, range, chance), decoded, with the
    primary flag, the series id and the FDR family (``size`` or ``step`` on primary rows, METHODS.md Sec. 6)."""
    keys = ["scale_axis", "series_model"] + SERIES_KEY
    res = emergence_scores(pts, keys, x="x", y="y", higher_is_better="higher_is_better", resolution="resolution")
    # per-series facts carried from the points (same sorted key order as res)
    g = pts.groupby(keys, sort=True, dropna=False, observed=True)
    extra = g.agg(source_family=("source_family", "first"), higher_is_better=("higher_is_better", "first"),
                  metric_class=("metric_class", "first"), n_unscaled=("n_unscaled", "first"),
                  n_rows=("n_rows", "sum"), y_min=("y", "min"), y_max=("y", "max"),
                  chance=("random_baseline", "median")).reset_index(drop=True)
    out = pd.concat([res.reset_index(drop=True), extra], axis=1)
    out = _decode(out, labels).rename(columns={"series_model": "model"})
    out["primary"] = _primary(out)
    out["shots"] = out["shots"].astype("Int64")
    out["n_rows"] = out["n_rows"].astype(np.int64)
    out["n_unscaled"] = out["n_unscaled"].astype(np.int64)
    out["higher_is_better"] = out["higher_is_better"].astype(bool)
    out["series_id"] = _series_ids(out)
    out["fdr_family"] = np.where(out["primary"], np.where(out["scale_axis"] == "step", "step", "size"), "")
    return out


def _tested_points(pts: pd.DataFrame, labels, out: pd.DataFrame) -> pd.DataFrame:
    """The decoded points, with a scale, of the series the verdict tests (the primary rows of ``out``)."""
    dp = _decode(pts, labels).rename(columns={"series_model": "model"})
    dp["series_id"] = _series_ids(dp)
    dp = dp[dp["x"].notna()]
    tested_ids = set(out.loc[out["primary"], "series_id"])
    return dp[dp["series_id"].isin(tested_ids)]


def _with_verdicts(out: pd.DataFrame, dp: pd.DataFrame, previous: pd.DataFrame | None, *, n_boot: int,
                   width_threshold: float) -> pd.DataFrame:
    """``out`` with the verdict's columns (:func:`emergence.analysis.verdict.assess` on the tested points
    ``dp``, METHODS.md Sec. 6) and each series' ``points_hash``.  A series of ``previous`` whose points
    hash is unchanged keeps its p-value; a primary row without one scaled point is ``insufficient``."""
    hashes = _points_hash(dp, dp["series_id"].to_numpy()) if len(dp) else pd.Series(dtype=object)
    cache = None
    if previous is not None and len(previous) and "points_hash" in previous.columns:
        cache = previous[previous["primary"].astype(bool)][["series_id", "points_hash", "tau", "p_value", "p_method",
                                                            "n_boot"]]
    if len(dp):
        a = V.assess(dp, ["series_id"], pools=SCATTER_POOLS, baseline="random_baseline", n_boot=n_boot,
                     width_threshold=width_threshold,
                     cache=None if cache is None else _cache_frame(cache, hashes))
        a = a.drop(columns=["n_sizes", "t_mid"])
    else:
        a = pd.DataFrame(columns=["series_id"] + _VERDICT_COLUMNS)
    out = out.merge(a, on="series_id", how="left")
    # primary rows without a single scaled point never reached the test
    none = out["primary"].to_numpy(dtype=bool) & out["pre_state"].isna().to_numpy()
    out.loc[none, "pre_state"] = "insufficient"
    out.loc[none, "pre_reason"] = np.where(out.loc[none, "n_scales"].to_numpy() == 0,
                                           "no point has a scale on this axis (no known model size)",
                                           "too few sizes")
    out["points_hash"] = out["series_id"].map(hashes)
    return out


def _with_detections(out: pd.DataFrame, dp: pd.DataFrame) -> pd.DataFrame:
    """``out`` with ``detect_x`` and ``detect_against``: where each tested series is first detected above
    its baseline (:func:`_detections`, METHODS.md Sec. 8); NaN and '' where it is not."""
    out["detect_x"] = np.nan
    out["detect_against"] = ""
    det = _detections(dp, out.set_index("series_id")["tau"])
    if len(det):
        m = out["series_id"].map(det.set_index("series_id")["detect_x"])
        out["detect_x"] = m.to_numpy(dtype=float)
        out["detect_against"] = out["series_id"].map(det.set_index("series_id")["detect_against"]).fillna("")
    return out


def _cache_frame(cache: pd.DataFrame, hashes: pd.Series) -> pd.DataFrame:
    """Previous p-values whose series' points are unchanged, keyed by series id."""
    c = cache.copy()
    c["now"] = c["series_id"].map(hashes)
    return c[c["now"] == c["points_hash"]].drop(columns=["now"])


#: The columns :func:`apply_fdr` reads and the ones it writes: the store runs the step in place on just
#: these (a test on the real store fails if it reads or writes anything else).
FDR_READS = K.SERIES_KEY + ("scale_axis", "primary", "fdr_family", "n_scales", "p_value", "p_method", "width_decades",
                            "n_before", "n_after", "gap_decades", "span_decades", "tau_source", "narrow_stat",
                            "pre_state", "pre_reason")
FDR_WRITES = ("q_value", "verdict", "verdict_reason", "emergent")


def apply_fdr(series: pd.DataFrame, *, fdr_level: float = V.FDR_LEVEL,
              width_threshold: float = V.WIDTH_THRESHOLD) -> pd.DataFrame:
    """The store-wide step: Benjamini-Hochberg within each question's family (size-axis series on
    their primary axis; training-step series), then the verdict states
    (:func:`emergence.analysis.verdict.decide`); a series' other axes show its primary axis' verdict.

    :func:`score_observations` applies it to its own rows; the store scores one source at a time
    (a series belongs to one source) and applies it once more over every source's rows, so a
    verdict never depends on which sources were ingested together.
    """
    out = series.copy()
    prim = out["primary"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    decided = V.decide(out[prim], family="fdr_family", fdr_level=fdr_level, width_threshold=width_threshold)
    for c in ("q_value", "verdict", "verdict_reason", "emergent"):
        out[c] = pd.Series([np.nan if c == "q_value" else ("" if c != "emergent" else False)] * len(out),
                           index=out.index, dtype=object if c != "q_value" else float)
        out.loc[prim, c] = decided[c].to_numpy()
    # other axes: the primary row's verdict, said so
    if (~prim).any():
        key = SERIES_KEY
        src = out.loc[prim & out["scale_axis"].isin(SIZE_AXES).to_numpy(), key + ["scale_axis", "verdict",
                                                                                  "verdict_reason", "q_value",
                                                                                  "emergent"]]
        src = src.rename(columns={"scale_axis": "_axis", "verdict": "_v", "verdict_reason": "_r", "q_value": "_q",
                                  "emergent": "_e"})
        other = _keyed(out.loc[~prim, key], key).reset_index().merge(_keyed(src, key), on=key, how="left") \
            .set_index("index")
        out.loc[other.index, "verdict"] = other["_v"].fillna("insufficient").to_numpy()
        out.loc[other.index, "verdict_reason"] = np.where(
            other["_v"].notna(), "tested on its primary axis (" + other["_axis"].fillna("") + "): "
            + other["_r"].fillna(""), "not tested")
        out.loc[other.index, "q_value"] = other["_q"].to_numpy(dtype=float)
        out.loc[other.index, "emergent"] = other["_e"].fillna(False).to_numpy(dtype=bool)
    out["emergent"] = out["emergent"].astype(bool)
    out["q_value"] = pd.to_numeric(out["q_value"], errors="coerce")
    return out


def _keyed(frame: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Key columns as text (NULL shots and '' alike), so merges match NULLs."""
    f = frame.copy()
    for c in key:
        f[c] = f[c].astype(str)
    return f


# ----------------------------------------------------------------------------- detection
#: one-sided level of each "significantly better" test of the detection scale
DETECT_LEVEL = 0.05


def _detections(dp: pd.DataFrame, tau: pd.Series) -> pd.DataFrame:
    """Per series id: the detection scale (Wei et al. 2022's onset, measured per metric); ``tau``
    (per series id) stands in for the noise of series that report neither n nor a stderr."""
    from emergence.analysis.scores import detection_scale
    rows = []
    for sid, g in dp.groupby("series_id", sort=False):
        t = tau.get(sid, np.nan)
        d = detection_scale(g["x"].to_numpy(float), g["y"].to_numpy(float), n_examples=g["n_examples"].to_numpy(float),
                            stderr=g["stderr"].to_numpy(float), chance=float(np.nanmedian(g["random_baseline"]))
                            if np.isfinite(g["random_baseline"].to_numpy(float)).any() else None,
                            higher_is_better=bool(g["higher_is_better"].iloc[0]), metric=str(g["metric"].iloc[0]),
                            proportion=bool(g["proportion"].iloc[0]), level=DETECT_LEVEL,
                            paired_se=g["paired_se"].to_numpy(float) if g["paired_se"].notna().any() else None,
                            scatter=float(t) if pd.notna(t) else None)
        rows.append((sid, d.x, d.against))
    return pd.DataFrame(rows, columns=["series_id", "detect_x", "detect_against"])


# ----------------------------------------------------------------------------- same outputs, different metric
def _split_variant(v: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``'tokens=digits'`` parts describe how a metric reads the outputs, not which outputs:
    they move to ``metric_variant``; the rest identifies the outputs."""
    parts = v.fillna("").astype(str).str.split(";")
    metric_v = parts.map(lambda ps: ";".join(p for p in ps if p.strip().startswith("tokens=")))
    output_v = parts.map(lambda ps: ";".join(p for p in ps if p and not p.strip().startswith("tokens=")))
    return output_v, metric_v


def compare(series: pd.DataFrame) -> pd.DataFrame:
    """Same outputs, different metric: the paired table (Schaeffer et al. 2023, Sec. 3-4).

    Pairing rule.  Within one source, every metric a source reports for one (task, subtask,
    family, shots, prompt variant) on one scale axis (and, on ``step``, one model) was
    computed from the same model outputs: expemergence's ``acc`` and ``brier`` (one
    lm-eval run per model), on-emergence's exact match, BERTScore and edit distance columns
    (one row per run), obsscaling's IPA transliterate exact match and BLEU, Pythia's acc,
    acc_norm and perplexity (one lm-eval JSON per model), and the ``rescored:*`` metrics
    (re-scored from the examples, :func:`emergence.analysis.rescore.aggregate_examples`).  Variants:
    a ``tokens=...`` part is how a metric reads the outputs (moved to ``metric_variant``);
    the rest of the variant identifies the outputs, and a series with an empty variant (e.g.
    expemergence's overall ``acc``, which does not depend on the file's grouping variant) is
    paired with every variant of its group.

    Parameters
    ----------
    series : pandas.DataFrame
        Rows of the series table (:func:`score_observations`), possibly filtered.

    Returns
    -------
    pandas.DataFrame
        One row per (group, metric, source_metric, metric_variant) for every group holding
        at least 2 distinct canonical metrics; columns :data:`COMPARE_COLUMNS`.  ``group_id``
        numbers the groups (stable for a given input).
    """
    if series is None or len(series) == 0:
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    s = series.copy().reset_index(drop=True)
    for c in ("subtask", "prompt_variant", "variant", "model"):
        s[c] = _text(s[c]) if c in s.columns else ""
    out_v, met_v = _split_variant(s["variant"])
    s["_ov"] = out_v.to_numpy()
    s["metric_variant"] = met_v.to_numpy()
    base = list(K.GROUP_KEY)
    for c in base:
        if c not in s.columns:
            s[c] = ""
    s["_shots"] = s["shots"].astype(str)
    bkey = [c if c != "shots" else "_shots" for c in base]
    # each series joins its own output variant; an empty one joins every variant of its base group
    variants = s[["_ov"] + bkey].drop_duplicates()
    named = variants[variants["_ov"] != ""]
    blank = s[s["_ov"] == ""]
    has_named = blank.merge(named, on=bkey, how="inner", suffixes=("", "_g"))
    has_named["variant_g"] = has_named["_ov_g"]
    nonblank = s[s["_ov"] != ""].assign(variant_g=lambda d: d["_ov"])
    base_named = set(map(tuple, named[bkey].to_numpy().tolist()))
    blank_alone = blank[[tuple(r) not in base_named for r in blank[bkey].to_numpy().tolist()]].assign(variant_g="")
    rows = pd.concat([nonblank, has_named.drop(columns=["_ov_g"]), blank_alone], ignore_index=True)
    gkey = bkey + ["variant_g"]
    rows["n_metrics"] = rows.groupby(gkey, sort=False, dropna=False)["metric"].transform("nunique")
    rows = rows[rows["n_metrics"] >= 2].copy()
    if rows.empty:
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    rows = rows.sort_values(gkey + ["metric", "source_metric", "metric_variant"], kind="stable")
    rows["group_id"] = rows.groupby(gkey, sort=False, dropna=False).ngroup().to_numpy() + 1
    rows["variant"] = rows["variant_g"]
    for c in COMPARE_COLUMNS:
        if c not in rows.columns:
            rows[c] = np.nan
    return rows[COMPARE_COLUMNS].reset_index(drop=True)
