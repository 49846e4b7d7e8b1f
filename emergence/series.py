"""Series: the observation table cut into scale series, scored, tested, paired and summarised.

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
  (:attr:`emergence.metrics.MetricInfo.proportion`), unknown otherwise.
- Every axis the data have is scored: ``params`` lists every series (so one without sizes
  shows as ``no_scale`` rather than vanishing); ``flops``, ``tokens`` and ``non_embedding_params`` list a series only
  where at least one of its rows has that value; ``step`` lists each model with
  checkpoints.  METHODS prefers parameters ("FLOPs/tokens where the source has no parameter
  count"): the column ``primary`` marks, per series key, the first of params, flops, tokens
  on which the series has at least 3 distinct scales (params if none has), and every
  ``step`` series.
- Significance and FDR: :func:`emergence.scores.emergence_scores` (parametric bootstrap
  under the log-linear null), then Benjamini-Hochberg over **every** series of the table
  that has a p-value (all axes together), so no filter on screen changes a verdict.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import metric_info
from .scores import (DEFAULT_N_BOOT, DEFAULT_SEED, EMERGENCE_SCORE_THRESHOLD, FDR_LEVEL, call_emergent,
                     emergence_scores, fdr_qvalues)

__all__ = [
    "SERIES_KEY",
    "SIZE_AXES",
    "TRAINING_AXES",
    "AXES",
    "SERIES_COLUMNS",
    "COMPARE_COLUMNS",
    "build_series_points",
    "score_observations",
    "apply_fdr",
    "compare",
    "summarise",
]

#: What makes a series, besides its scale axis (and, on the training axis, the model).
SERIES_KEY = ["source", "task", "subtask", "metric", "source_metric", "family", "shots", "prompt_variant", "variant"]
SIZE_AXES = ("params", "flops", "tokens", "non_embedding_params")
TRAINING_AXES = ("step",)
AXES = SIZE_AXES + TRAINING_AXES
_AXIS_COLUMN = {"params": "params", "flops": "flops", "tokens": "tokens", "non_embedding_params": "non_embedding_params",
                "step": "checkpoint_step"}
_STR_KEYS = ["source", "task", "subtask", "metric", "source_metric", "family", "prompt_variant", "variant"]

#: Columns of the series table :func:`score_observations` returns, in order.  ``n_rows``:
#: scaled observation rows behind the points; ``n_unscaled``: rows without x on the axis;
#: ``x_min``/``x_max``/``y_min``/``y_max``: over the points (y on the unit scale, not
#: oriented); ``sign``/``numerator``/``denominator``/``resolution``: the parts of the score
#: (:class:`emergence.scores.EmergenceScore`); ``noise``: ``binomial``/``gaussian``/``''``;
#: ``n_boot``: replicates the p-value allowed (0 without one); ``series_id``: a stable
#: hash of the series key and axis.
SERIES_COLUMNS = [
    "series_id", "source", "task", "subtask", "metric", "source_metric", "metric_class", "higher_is_better",
    "family", "source_family", "shots", "prompt_variant", "variant", "model", "scale_axis", "primary",
    "n_scales", "n_unscaled", "n_rows", "x_min", "x_max", "y_min", "y_max", "emergence_score", "flag", "sign",
    "numerator", "denominator", "resolution", "noise", "n_boot", "p_value", "p_reason", "q_value", "emergent",
]

#: Columns of the paired table :func:`compare` returns.
COMPARE_COLUMNS = [
    "group_id", "source", "task", "subtask", "family", "shots", "prompt_variant", "scale_axis", "model",
    "variant", "n_metrics", "metric", "source_metric", "metric_variant", "metric_class", "higher_is_better",
    "n_scales", "emergence_score", "flag", "p_value", "q_value", "emergent", "series_id",
]


def _text(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "").astype(str)


_CODED = _STR_KEYS + ["model", "source_family"]


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
    for c in ("params", "flops", "tokens", "non_embedding_params", "checkpoint_step", "value", "stderr", "n_examples"):
        out[c] = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float) if c in df.columns else np.nan
    pct = (_text(df["value_scale"]).to_numpy() == "percent") if "value_scale" in df.columns else np.zeros(n, bool)
    out.loc[pct, "value"] = out.loc[pct, "value"] / 100.0
    out.loc[pct, "stderr"] = out.loc[pct, "stderr"] / 100.0
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
                        "_nk": np.isfinite(nex[keep]), "_se2": se[keep] ** 2, "_sek": np.isfinite(se[keep])})
    pts = pts.groupby(["_sid", "x"], sort=True).agg(
        y=("value", "mean"), y_sd=("value", "std"), n_rows=("value", "size"), model=("model", "first"),
        n_models=("model", "nunique"), n_examples=("n_examples", "min"), _nk=("_nk", "sum"),
        _se2=("_se2", "sum"), _sek=("_sek", "sum")).reset_index()
    k = pts["n_rows"].to_numpy()
    pts["n_examples"] = np.where(pts["_nk"].to_numpy() == k, pts["n_examples"].to_numpy(dtype=float), np.nan)
    pts["stderr"] = np.where(pts["_sek"].to_numpy() == k, np.sqrt(pts["_se2"].to_numpy(dtype=float)) / k, np.nan)
    # series with no scaled row keep one placeholder row (x NaN) so they are listed as no_scale
    empty = np.setdiff1d(np.arange(S), pts["_sid"].to_numpy())
    if empty.size:
        ph = pd.DataFrame({"_sid": empty, "x": np.nan, "y": np.nan, "y_sd": np.nan, "n_rows": 0, "model": -1,
                           "n_models": 0, "n_examples": np.nan, "stderr": np.nan})
        pts = pd.concat([pts, ph], ignore_index=True).sort_values(["_sid", "x"], kind="stable")
    psid = pts["_sid"].to_numpy()
    out = series.drop(columns=["_size", "source_family"]).iloc[psid].reset_index(drop=True)
    out["source_family"] = fam_text[psid]
    for c in ("x", "y", "y_sd", "n_rows", "n_models", "n_examples", "stderr"):
        out[c] = pts[c].to_numpy()
    out["point_model"] = pts["model"].to_numpy()
    out["scale_axis"] = axis
    metric_text = labels["metric"][out["metric"].to_numpy()]
    info = {m: metric_info(m) for m in labels["metric"]}
    out["metric_class"] = [info[m].metric_class for m in metric_text]
    out["proportion"] = np.fromiter((info[m].proportion for m in metric_text), dtype=bool, count=len(out))
    nmin = pd.Series(out["n_examples"].to_numpy()).groupby(psid).transform("min").to_numpy()
    with np.errstate(divide="ignore"):
        out["resolution"] = np.where(out["proportion"].to_numpy() & (nmin > 0), 1.0 / nmin, np.nan)
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
        Observation rows (columns of :data:`emergence.schema.OBSERVATION_COLUMNS`; missing
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
    """Per series key: the first of params, flops, tokens with >= 3 scales (params if none)."""
    key = SERIES_KEY
    size = series[series["scale_axis"].isin(SIZE_AXES)]
    prim = (series["scale_axis"] == "step").to_numpy(dtype=bool).copy()
    if size.empty:
        return prim
    order = {a: i for i, a in enumerate(SIZE_AXES)}
    rank = size["scale_axis"].map(order).to_numpy() + np.where(size["n_scales"].to_numpy() >= 3, 0, 10)
    tmp = size[key].copy()
    tmp["_rank"] = rank
    best = tmp.groupby(key, sort=False, dropna=False, observed=True)["_rank"].transform("min").to_numpy()
    prim[size.index.to_numpy()] = rank == best
    return prim


def score_observations(obs: pd.DataFrame, *, axes=AXES, n_boot: int = DEFAULT_N_BOOT, seed: int = DEFAULT_SEED,
                       threshold: float = EMERGENCE_SCORE_THRESHOLD, fdr_level: float = FDR_LEVEL) -> pd.DataFrame:
    """Score every series of the observation table: the ``series`` table of the store.

    Parameters
    ----------
    obs : pandas.DataFrame
        Observation rows (the store passes its ``in_scoring`` rows).
    axes : sequence of str
        Scale axes to score (default all of :data:`AXES`).
    n_boot : int
        Bootstrap replicates per series for the p-value (0: no p-values, nothing emergent).
    seed : int
        Seed of the bootstrap generator (results are deterministic for a given table).
    threshold, fdr_level : float
        The emergent call: ``emergence_score >= threshold`` and ``q_value < fdr_level``.

    Returns
    -------
    pandas.DataFrame
        One row per series and axis, columns :data:`SERIES_COLUMNS`.  ``q_value`` is the
        Benjamini-Hochberg adjustment over every row of this table with a p-value.

    References
    ----------
    Schaeffer et al. 2023, Sec. 4 (emergence score per series); METHODS.md Sec. 1 and 6.
    """
    df, labels = _clean(obs)
    frames = [_points(df, labels, a) for a in axes]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    pts = pd.concat(frames, ignore_index=True)
    keys = ["scale_axis", "series_model"] + SERIES_KEY
    res = emergence_scores(pts, keys, x="x", y="y", higher_is_better="higher_is_better", resolution="resolution",
                           n_examples="n_examples", stderr="stderr", proportion="proportion", n_boot=n_boot,
                           seed=seed)
    # per-series facts carried from the points (same sorted key order as res)
    g = pts.groupby(keys, sort=True, dropna=False, observed=True)
    extra = g.agg(source_family=("source_family", "first"), higher_is_better=("higher_is_better", "first"),
                  metric_class=("metric_class", "first"), n_unscaled=("n_unscaled", "first"),
                  n_rows=("n_rows", "sum"), y_min=("y", "min"), y_max=("y", "max")).reset_index(drop=True)
    out = pd.concat([res.reset_index(drop=True), extra], axis=1)
    out = _decode(out, labels).rename(columns={"series_model": "model"})
    if "p_value" not in out.columns:
        out["p_value"] = np.nan
        out["p_reason"] = np.where(out["emergence_score"].notna(), "not tested", "not scored")
        out["noise"] = ""
        out["n_boot"] = 0
    out["primary"] = _primary(out)
    out["shots"] = out["shots"].astype("Int64")
    out["n_rows"] = out["n_rows"].astype(np.int64)
    out["n_unscaled"] = out["n_unscaled"].astype(np.int64)
    out["higher_is_better"] = out["higher_is_better"].astype(bool)
    ids = pd.util.hash_pandas_object(out[["scale_axis", "model"] + SERIES_KEY].astype(str), index=False).to_numpy()
    out["series_id"] = [f"{v:016x}" for v in ids]
    out = apply_fdr(out, threshold=threshold, fdr_level=fdr_level)
    return out[SERIES_COLUMNS].sort_values(
        ["source", "task", "subtask", "metric", "source_metric", "family", "prompt_variant", "variant", "shots",
         "scale_axis", "model"], kind="stable").reset_index(drop=True)


def apply_fdr(series: pd.DataFrame, *, threshold: float = EMERGENCE_SCORE_THRESHOLD,
              fdr_level: float = FDR_LEVEL) -> pd.DataFrame:
    """The store-wide step: Benjamini-Hochberg q-values over every series of the table that has a
    p-value, and the emergent call that depends on them.

    :func:`score_observations` applies it to its own rows; the store scores one source at a time
    (a series belongs to one source) and applies it once more over every source's rows, so a
    verdict never depends on which sources were ingested together.
    """
    out = series.copy()
    out["q_value"] = fdr_qvalues(pd.to_numeric(out["p_value"], errors="coerce").to_numpy(dtype=float))
    out["emergent"] = call_emergent(out["emergence_score"], out["q_value"], threshold=threshold, level=fdr_level)
    return out


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
    (re-scored from the examples, :func:`emergence.rescore.aggregate_examples`).  Variants:
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
    base = ["source", "task", "subtask", "family", "shots", "prompt_variant", "scale_axis", "model"]
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


# ----------------------------------------------------------------------------- Fig. 5 analogue
def summarise(series: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per metric and per metric class: how many series, their emergence scores, share emergent.

    The analogue of Schaeffer et al. 2023, Fig. 5 (emergence scores by metric).  ``n_series``
    counts every series, ``n_scored`` those with a score (>= 3 scales), ``n_tested`` those
    with a p-value; ``share_emergent = n_emergent / n_scored`` (a scored series without a
    p-value is never emergent, so it counts against the share: the share is what the data
    can support, not what they might); ``median``, ``q25``, ``q75`` of the scores.

    Returns
    -------
    dict
        ``{'metric': DataFrame, 'metric_class': DataFrame}``.
    """
    cols = ["n_series", "n_scored", "n_tested", "n_emergent", "share_emergent", "median_score", "q25_score",
            "q75_score", "max_score"]
    if series is None or len(series) == 0:
        return {"metric": pd.DataFrame(columns=["metric", "metric_class"] + cols),
                "metric_class": pd.DataFrame(columns=["metric_class"] + cols)}
    df = pd.DataFrame({
        "metric": _text(series["metric"]),
        "metric_class": _text(series["metric_class"]) if "metric_class" in series.columns
        else series["metric"].map(lambda m: metric_info(m).metric_class),
        "score": pd.to_numeric(series["emergence_score"], errors="coerce"),
        "p": pd.to_numeric(series.get("p_value", pd.Series(np.nan, index=series.index)), errors="coerce"),
        "emergent": series.get("emergent", pd.Series(False, index=series.index)).astype("boolean").fillna(False)
        .astype(bool),
    })
    df["scored"] = df["score"].notna()
    df["tested"] = df["p"].notna()

    def agg(keys):
        g = df.groupby(keys, sort=True, dropna=False)
        out = g.agg(n_series=("score", "size"), n_scored=("scored", "sum"), n_tested=("tested", "sum"),
                    n_emergent=("emergent", "sum"), median_score=("score", "median"),
                    q25_score=("score", lambda s: s.quantile(0.25)), q75_score=("score", lambda s: s.quantile(0.75)),
                    max_score=("score", "max")).reset_index()
        out["share_emergent"] = np.where(out["n_scored"] > 0, out["n_emergent"] / out["n_scored"].clip(lower=1),
                                         np.nan)
        for c in ("n_series", "n_scored", "n_tested", "n_emergent"):
            out[c] = out[c].astype(np.int64)
        return out[keys + cols]

    return {"metric": agg(["metric", "metric_class"]), "metric_class": agg(["metric_class"])}
