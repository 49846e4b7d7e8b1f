"""The dashboard's analysis of tables it already has: pure pandas, no Streamlit, no store.

Each function takes the frames :mod:`emergence.api` returns and gives what one page shows, so the
pages only lay out and every rule here is unit-tested:

- :func:`pivot`: the Explorer's cells (median emergence score or share called emergent);
  :func:`pivot_order`: its rows and columns, sorted so the cells answer a question;
- :func:`series_plot_frame`: the Series detail points, curves and legends (from
  :func:`emergence.analysis.series.build_series_points`); :func:`point_index` and :func:`points_within`: the
  same for any view, read from each series' points computed once;
- :func:`filter_values`, :func:`scale_coverage`, :func:`count_predictable`: facts about the series table;
- :func:`prediction_view`: the Predictability page's series ids, shown rows and curvature counts;
- :func:`rank_groups`: the Re-scoring page's sets of outputs, those whose verdicts differ most first;
- :func:`select_rows`: a table filtered by column values (the Data page's issues);
- :func:`insufficient_reasons`: why series could not be decided, grouped.

The metric pairs (same outputs, two metrics) are :mod:`emergence.analysis.mirage`'s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from emergence.analysis.intervals import wilson_interval, z_two_sided
from emergence.keys import FILTER_COLUMNS, filter_wanted, select
from emergence.keys import filter_values as keys_filter_values
from emergence.analysis.metrics import metric_info

__all__ = ["DIMENSIONS", "CELL_VALUES", "ALT_COLUMNS", "pivot", "pivot_order", "series_plot_frame",
           "series_plot_base", "plot_frame_of", "PointIndex", "point_index", "points_within", "filter_values",
           "scale_coverage", "count_predictable", "prediction_view", "rank_groups", "select_rows",
           "insufficient_reasons", "group_label", "pair_points", "score_boxes", "CLASS_ORDER", "add_intervals", "normalise"]

#: what a pivot can put on rows or columns.
DIMENSIONS = ("task", "metric", "family", "source", "shots")
#: cell value of the pivot: median (descriptive) emergence score, or share of decided series called emergent.
CELL_VALUES = ("score", "share")
#: a filter on ``metric`` / ``family`` also matches the source's own spelling in these columns
#: filter -> the source's own spelling it also matches (emergence.keys.FILTER_COLUMNS, the one rule)
ALT_COLUMNS = {k: cols[1] for k, cols in FILTER_COLUMNS.items() if len(cols) > 1}
#: metric classes in the order a reader compares them: thresholded first, smooth last
CLASS_ORDER = ("discontinuous", "nonlinear", "continuous", "unclassified")
MAX_LABEL_LEN = 200


def pivot(series: pd.DataFrame, rows: str, cols: str, cell: str = "score") -> pd.DataFrame:
    """The explorer's cells: one row per (rows value, cols value) with the cell value and its counts.

    ``cell='score'``: the median (descriptive) emergence score of the scored series in the cell
    (Srivastava et al. 2022, the BIG-bench emergence score); ``cell='share'``: the share called emergent
    of the series the verdict could decide (emergent or smooth).  ``n_series`` counts every series,
    ``n_scored`` those with a score (>= 3 scales), ``n_decidable`` the decided ones, ``n_emergent`` the
    emergent ones, so a cell says how much stands behind it.
    """
    if rows not in DIMENSIONS or cols not in DIMENSIONS or rows == cols:
        raise ValueError(f"rows and cols must be two different ones of {DIMENSIONS}, got {rows!r}, {cols!r}")
    if cell not in CELL_VALUES:
        raise ValueError(f"cell must be one of {CELL_VALUES}, got {cell!r}")
    out_cols = [rows, cols, "value", "n_series", "n_scored", "n_decidable", "n_emergent"]
    if series is None or series.empty:
        return pd.DataFrame(columns=out_cols)
    df = series[[rows, cols]].copy()
    score = pd.to_numeric(series["emergence_score"], errors="coerce")
    df["_scored"] = score.notna()
    df["_score"] = score
    df["_emergent"] = series["emergent"].astype("boolean").fillna(False).astype(bool)
    df["_decided"] = series["verdict"].isin(["emergent", "smooth"]) if "verdict" in series.columns else df["_scored"]
    g = df.groupby([rows, cols], dropna=False, sort=True)
    out = g.agg(n_series=("_scored", "size"), n_scored=("_scored", "sum"), n_decidable=("_decided", "sum"),
                n_emergent=("_emergent", "sum"), median_score=("_score", "median")).reset_index()
    if cell == "score":
        out["value"] = out["median_score"]
    else:
        out["value"] = np.where(out["n_decidable"] > 0,
                                out["n_emergent"] / out["n_decidable"].where(out["n_decidable"] > 0), np.nan)
    for c in ("n_series", "n_scored", "n_decidable", "n_emergent"):
        out[c] = out[c].astype(int)
    return out[out_cols]


def _metric_class(m) -> str:
    return metric_info(str(m)).metric_class


def pivot_order(cells: pd.DataFrame, rows: str, cols: str, *, max_rows: int = 150
                ) -> tuple[list, list, dict[str, str], int]:
    """Rows and columns of a pivot in reading order, and a row label per row value.

    Columns: most series first.  Rows: the ``max_rows`` with most series; metrics grouped by class
    (discontinuous, nonlinear, continuous: thresholded beside smooth), within a group most series
    first, labelled ``class · metric``; any other dimension by name.  Returns ``(row values, column
    values, row labels, rows in all)``.
    """
    if cells is None or cells.empty:
        return [], [], {}, 0
    per_row = cells.groupby(rows)["n_series"].sum().sort_values(ascending=False, kind="stable")
    kept = list(per_row.index[:max_rows])
    if rows == "metric":
        ylab = sorted(kept, key=lambda m: (CLASS_ORDER.index(_metric_class(m)) if _metric_class(m) in CLASS_ORDER
                                           else len(CLASS_ORDER), -int(per_row[m]), str(m)))
        labels = {str(m): f"{_metric_class(m)} · {m}" for m in ylab}
    else:
        ylab = sorted(kept, key=str)
        labels = {str(v): str(v) for v in ylab}
    c = cells[cells[rows].isin(kept)]
    per_col = c.groupby(cols)["n_series"].sum()
    xlab = sorted(per_col.index.tolist(), key=lambda v: (-int(per_col[v]), str(v)))
    return ylab, xlab, labels, len(per_row)


def group_label(row) -> str:
    """A readable name of one set of outputs (a compare group): source · task · subtask · family · shots."""
    parts = [str(row["source"]), str(row["task"])]
    if str(row.get("subtask") or ""):
        parts.append(str(row["subtask"]))
    parts.append(str(row["family"]))
    parts.append(f"{row['shots']}-shot" if pd.notna(row.get("shots")) else "shots unknown")
    if str(row.get("prompt_variant") or ""):
        parts.append(str(row["prompt_variant"]))
    if str(row.get("variant") or ""):
        parts.append(str(row["variant"]))
    return " · ".join(parts)[:MAX_LABEL_LEN]


# ---------------------------------------------------------------- facts about the series table
def filter_values(series: pd.DataFrame, fields: Iterable[str]) -> dict[str, list]:
    """Every value of each filter field in ``series`` (with the source's own spellings of metric and
    family, which a filter also matches); shots as ints."""
    if series is None or series.empty:
        return {}
    return {k: keys_filter_values(series, k) for k in fields if k in series.columns}


def scale_coverage(series: pd.DataFrame) -> pd.DataFrame:
    """Per source and scale axis: the series with >= 3 distinct scales (the ones that get a score)."""
    if series is None or series.empty:
        return pd.DataFrame()
    s = series.assign(scored=pd.to_numeric(series["n_scales"], errors="coerce").fillna(0) >= 3)
    out = s.pivot_table(index="source", columns="scale_axis", values="scored", aggfunc="sum", fill_value=0)
    out.columns = [f"{c} (≥3 scales)" for c in out.columns]
    return out.astype(int).reset_index()


def count_predictable(series: pd.DataFrame, min_scales: int = 4) -> int:
    """How many series have the ``min_scales`` scales a held-out prediction needs (fit on all but one)."""
    if series is None or series.empty or "n_scales" not in series.columns:
        return 0
    return int((pd.to_numeric(series["n_scales"], errors="coerce") >= min_scales).sum())


def insufficient_reasons(series: pd.DataFrame, top: int = 6) -> tuple[int, list[tuple[str, int]]]:
    """How many series the verdict called insufficient, and their reasons' first words with counts (most first)."""
    if series is None or series.empty or "verdict" not in series.columns:
        return 0, []
    ins = series[series["verdict"] == "insufficient"]
    if ins.empty:
        return 0, []
    # the string work on each distinct reason (a few dozen), not on every series (thousands: ~20 ms of an Explorer
    # first visit on one source)
    codes, distinct = pd.factorize(ins["verdict_reason"].astype(str))
    short = pd.Series(distinct, dtype=object).str.replace(r"^tested on its primary axis \([a-z]+\): ", "",
                                                         regex=True).str.split(r"[:(]", n=1).str[0].str.strip()
    counts = pd.Series(short.to_numpy(dtype=object)[codes], index=ins.index).value_counts()
    return len(ins), [(str(k), int(v)) for k, v in counts.head(top).items()]


def select_rows(df: pd.DataFrame, **wanted: Iterable) -> pd.DataFrame:
    """The rows of ``df`` whose column values are among ``wanted[column]`` (an empty choice keeps all)."""
    out = df
    for col, values in wanted.items():
        values = list(values or [])
        if values and col in out.columns:
            out = out[out[col].isin(values)]
    return out


def score_boxes(series: pd.DataFrame, max_metrics: int = 40) -> pd.DataFrame:
    """Tukey box statistics of the (descriptive) emergence score per metric, for the ``max_metrics`` metrics
    with most scored series, ordered by class then name: ``metric, metric_class, n, q1, median, q3,
    lowerfence, upperfence`` (fences: the most extreme scores within 1.5 IQR of the quartiles; Tukey 1977).
    Sending five numbers per metric instead of every score keeps the chart light in the browser."""
    cols = ["metric", "metric_class", "n", "q1", "median", "q3", "lowerfence", "upperfence"]
    if series is None or series.empty or "emergence_score" not in series.columns:
        return pd.DataFrame(columns=cols)
    s = series.assign(_v=pd.to_numeric(series["emergence_score"], errors="coerce"))
    s = s[s["_v"].notna()]
    if s.empty:
        return pd.DataFrame(columns=cols)
    counts = s.groupby("metric").size().sort_values(ascending=False, kind="stable")
    rows = []
    for m in counts.index[:max_metrics]:
        v = s.loc[s["metric"] == m, "_v"].to_numpy(dtype=float)
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        iqr = q3 - q1
        inside = v[(v >= q1 - 1.5 * iqr) & (v <= q3 + 1.5 * iqr)]
        rows.append({"metric": str(m), "metric_class": _metric_class(m), "n": int(len(v)), "q1": q1, "median": med,
                     "q3": q3, "lowerfence": float(inside.min()), "upperfence": float(inside.max())})
    out = pd.DataFrame(rows, columns=cols)
    rank = {c: i for i, c in enumerate(CLASS_ORDER)}
    return out.sort_values(["metric_class", "metric"], key=lambda c: c.map(rank) if c.name == "metric_class" else c,
                           kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- predictability
def prediction_view(pred: pd.DataFrame, form: str, key: list[str]) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                             pd.DataFrame]:
    """The Predictability page's three frames from :func:`emergence.api.predict`'s rows.

    Returns ``(pred, shown, curvature)``: every row with a ``series_id`` (the key columns joined, one id
    per series, as :func:`emergence.predictability.predict.predictability` counts them); the fitted rows of ``form``
    ('preferred': each series' a-priori form) with a ``label``; and how many of those fall in each
    (metric class, curvature class).
    """
    key = [c for c in key if c in pred.columns]
    pred = pred.assign(series_id=pred[key].astype(str).agg(" | ".join, axis=1))
    ok = pred[pred["status"] == "ok"]
    shown = ok[ok["preferred"].astype(bool)] if form == "preferred" else ok[ok["form"] == form]
    shown = shown.assign(label=[group_label(r) + f" · {r['metric']}" for _, r in shown.iterrows()])
    curv = shown[shown["curvature_class"].notna() & (shown["curvature_class"].astype(str) != "")]
    counts = (curv.groupby(["metric_class", "curvature_class"]).size().rename("n").reset_index() if len(curv)
              else pd.DataFrame(columns=["metric_class", "curvature_class", "n"]))
    return pred, shown, counts


# ---------------------------------------------------------------- re-scoring
def rank_groups(pairs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The sets of outputs of one metric pair, labelled (:func:`group_label`), and their labels in order:
    those whose two verdicts differ first, then by the size of the detection lead."""
    sel = pairs.copy()
    sel["label"] = [group_label(r) for _, r in sel.iterrows()]
    k = (sel["verdict_a"] != sel["verdict_b"]).astype(int) * 10 + sel["lead_decades"].abs().fillna(-1)
    order = sel.assign(_k=k).sort_values("_k", ascending=False, kind="stable")["label"].drop_duplicates().tolist()
    return sel, order


def pair_points(points: pd.DataFrame, pair: str, variant) -> pd.DataFrame:
    """The plot points of one set of outputs under the two metrics of ``pair`` (``'a|b'``): the group's own
    ``variant``, and for a metric read with a variant (``edit_distance[tokens=digits]``) only that reading."""
    if points is None or points.empty or "variant" not in points.columns:
        return points
    keep = {str(variant or ""), ""}
    for m in pair.split("|", 1):
        if "[" in m:
            keep.add(m.split("[", 1)[1].rstrip("]"))
    return points[points["variant"].astype(str).isin(keep)]


# ---------------------------------------------------------------- series detail
def add_intervals(points: pd.DataFrame) -> pd.DataFrame:
    """Add ``lo, hi, interval`` to points (``metric, y`` and optional ``n_examples, stderr``).

    Proportion metrics with a known test-set size get a 95 % Wilson interval ('wilson');
    otherwise a reported standard error gives y +- 1.96 stderr ('stderr'); else none.
    """
    out = points.copy()
    out["lo"], out["hi"], out["interval"] = np.nan, np.nan, ""
    if out.empty:
        return out
    codes, metrics = pd.factorize(out["metric"].astype(str))      # looked up once per metric, not per point
    prop = pd.Series(np.array([metric_info(m).proportion for m in metrics], dtype=bool)[codes], index=out.index)
    nan = pd.Series(np.nan, index=out.index)
    n = pd.to_numeric(out["n_examples"], errors="coerce").astype(float) if "n_examples" in out else nan
    se = pd.to_numeric(out["stderr"], errors="coerce").astype(float) if "stderr" in out else nan
    y = pd.to_numeric(out["y"], errors="coerce").astype(float)
    use_w = prop & n.gt(0) & y.between(0, 1)
    if use_w.any():
        nn = n[use_w].to_numpy()
        lo, hi = wilson_interval(y[use_w].to_numpy() * nn, nn)
        out.loc[use_w, "lo"], out.loc[use_w, "hi"], out.loc[use_w, "interval"] = lo, hi, "wilson"
    use_s = ~use_w & se.notna()
    z = z_two_sided(0.95)
    out.loc[use_s, "lo"] = y[use_s] - z * se[use_s]
    out.loc[use_s, "hi"] = y[use_s] + z * se[use_s]
    out.loc[use_s, "interval"] = "stderr"
    return out


def normalise(points: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Baseline-normalise ``y`` (and ``lo, hi``) where a random baseline is known.

    BIG-bench's normalised preferred score without the factor 100 (Srivastava et al. 2022):
    ``(y - baseline) / (1 - baseline)`` for higher-is-better proportion metrics whose
    ``random_baseline`` is known: 0 = chance, 1 = perfect.  Other curves stay raw; their
    metric names are returned so the page can say so.
    """
    out = points.copy()
    if out.empty or "random_baseline" not in out.columns:
        return out, sorted(out["metric"].astype(str).unique()) if len(out) else []
    info = out["metric"].map(lambda m: metric_info(str(m)))
    b = pd.to_numeric(out["random_baseline"], errors="coerce")
    ok = info.map(lambda i: i.proportion and i.higher_is_better).astype(bool) & b.notna() & (b < 1)
    for c in ("y", "lo", "hi", "band_hi"):
        if c in out.columns:
            v = pd.to_numeric(out[c], errors="coerce")
            out.loc[ok, c] = (v[ok] - b[ok]) / (1 - b[ok])
    if "band_hi" in out.columns:
        out.loc[ok, "band_lo"] = (0 - b[ok]) / (1 - b[ok])
    raw = sorted(out.loc[~ok, "metric"].astype(str).unique())
    return out, raw


_CURVE_PARTS = ["source", "family", "subtask", "shots", "prompt_variant", "variant", "series_model"]
_PART_LABEL = {"series_model": "model", "prompt_variant": "prompt"}


def _fmt(v, digits=2):
    try:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        return f"{float(v):.{digits}g}" if abs(float(v)) < 0.01 else f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def _as_key(df: pd.DataFrame, col: str) -> None:
    """``df[col]`` in the form two frames are matched on: shots as Int64, anything else as text with a
    missing value as ''."""
    v = df[col]
    if col == "shots":
        df[col] = pd.to_numeric(v, errors="coerce").astype("Int64")
    elif pd.api.types.is_string_dtype(v) and v.dtype != object:
        if v.isna().any():                 # already text (the store's columns): only the gaps to fill
            df[col] = v.fillna("")
    else:
        df[col] = v.astype(object).where(v.notna(), "").astype(str)


def series_plot_frame(obs: pd.DataFrame, axis: str, scores: pd.DataFrame | None = None
                      ) -> tuple[pd.DataFrame, dict[str, str]]:
    """Points of every series in ``obs`` on ``axis``, ready for :func:`emergence.app.figures.series_figure`.

    Points come from :func:`emergence.analysis.series.build_series_points` (final checkpoints on a
    size axis, ties averaged); this adds the random baseline (median of the rows'), the 1/n
    resolution band (``band_hi`` = resolution), intervals (:func:`add_intervals`:
    Wilson 1927 for proportions) and a ``curve`` name built from the key parts that vary.
    ``scores`` (series table rows) give each curve's legend (:func:`curve_label`: the verdict of each
    metric it is drawn under) and each point the ``verdict``, ``emergence_score`` and ``emergent`` of
    its own (curve, metric) series (:func:`curve_series`).

    In two steps: :func:`series_plot_base` (each series' points on its own) and :func:`plot_frame_of` (the
    curves of the series together), so a base computed once for many views serves each (:func:`points_within`).
    """
    return plot_frame_of(series_plot_base(obs, axis), scores)


def series_plot_base(obs: pd.DataFrame, axis: str) -> pd.DataFrame:
    """The part of :func:`series_plot_frame` each series has on its own: its points with the random baseline
    (the median of its rows'), the resolution band and the intervals; the key columns in the form frames are
    matched on.  None of it depends on the other series of ``obs``."""
    from emergence.analysis.series import SERIES_KEY, build_series_points
    if obs is None or obs.empty:
        return pd.DataFrame(columns=["metric", "x", "y"])
    pts = build_series_points(obs, axis)
    pts = pts[pts["x"].notna()].copy()
    if pts.empty:
        return pd.DataFrame(columns=["metric", "x", "y"])
    if "random_baseline" in obs.columns:
        pts = pts.drop(columns=["random_baseline"], errors="ignore")     # per point; the curve's median follows
        rb = obs.assign(_b=pd.to_numeric(obs["random_baseline"], errors="coerce"))
        key = [k for k in SERIES_KEY if k in rb.columns]
        for k in key:
            _as_key(rb, k)
            if k != "shots":
                _as_key(pts, k)
        pts["shots"] = pd.to_numeric(pts["shots"], errors="coerce").astype("Int64")
        base = rb.groupby(key, dropna=False)["_b"].median().rename("random_baseline").reset_index()
        pts = pts.merge(base, on=key, how="left")
    pts["band_hi"] = pts["resolution"]
    pts["band_lo"] = np.where(pts["resolution"].notna(), 0.0, np.nan)
    pts["model"] = pts["point_model"]
    return add_intervals(pts)


_INTERVAL_COLUMNS = ["lo", "hi", "interval"]


def plot_frame_of(base: pd.DataFrame, scores: pd.DataFrame | None = None, *, with_series: bool = False) -> tuple:
    """The part of :func:`series_plot_frame` that takes the series together: the ``curve`` names (from the key
    parts that vary among them), each point's verdict and each curve's legend from ``scores``; ``base``:
    :func:`series_plot_base`'s rows of these series.  ``(points, labels)``; with ``with_series``, third, the
    series behind the curves (:func:`curve_series` of the points, which the legends are made from: Series
    detail's verdict table, not matched a second time)."""
    empty = pd.DataFrame(columns=["metric", "curve", "x", "y"])
    if base is None or base.empty:
        return (empty, {}, curve_series(empty, scores)) if with_series else (empty, {})
    pts = base
    vary = [c for c in _CURVE_PARTS if c in pts.columns and pts[c].astype(str).nunique() > 1]
    if "family" not in vary:
        vary = ["family"] + vary

    keys = pts[vary].drop_duplicates()
    keys["curve"] = curve_names(keys, vary)
    pts = pts.merge(keys, on=vary, how="left")
    # the intervals after the curve, where series_plot_frame has always put them
    pts = pts[[c for c in pts.columns if c not in _INTERVAL_COLUMNS] + _INTERVAL_COLUMNS]
    labels: dict[str, str] = {}
    pts["emergent"] = False
    behind = None
    if scores is not None and len(scores):
        per = behind = curve_series(pts, scores)
        cols = ["curve", "metric"] + [c for c in ("verdict", "emergence_score") if c in per.columns]
        per = per.drop_duplicates(["curve", "metric"])
        # the verdict of each (curve, metric) on its own points: a curve spans every metric panel of its
        # outputs, and each metric's series has its own verdict
        pts = pts.drop(columns=[c for c in cols[2:] if c in pts.columns]).merge(per[cols], on=["curve", "metric"],
                                                                                  how="left")
        if "verdict" in pts.columns:
            pts["emergent"] = (pts["verdict"] == "emergent").fillna(False).astype(bool)
        none = [None] * len(per)
        groups: dict[str, list] = {}
        for c, m, v, es in zip(per["curve"], per["metric"], per.get("verdict", none), per.get("emergence_score", none)):
            groups.setdefault(c, []).append((str(m), v, es))
        labels = {c: curve_label(c, g) for c, g in groups.items()}
    if with_series:
        return pts, labels, behind if behind is not None else curve_series(pts, scores)
    return pts, labels


@dataclass(frozen=True)
class PointIndex:
    """:func:`series_plot_base` of every series of a store on one scale axis, computed once for
    :func:`points_within`: ``base``; ``by_task`` each task's rows of it (a Series detail view has one task, and
    matching the other filters on its rows alone is ~20x quicker than on the whole base); ``mixed`` per row of a
    series whose rows spell their family in several ways (its ``source_family`` lists them, `` | ``-joined), its
    family and the set of those spellings;
    ``null_subtask``: some observation has no subtask at all, which the base writes as ``''``."""
    axis: str
    base: pd.DataFrame
    by_task: dict
    mixed: tuple
    null_subtask: bool


def point_index(frames: Iterable[pd.DataFrame], axis: str) -> PointIndex:
    """:class:`PointIndex` of the observations in ``frames`` (the store's, one source per frame, in the order of
    the sources' names: the order :func:`series_plot_base` sorts series in)."""
    parts, null_subtask = [], False
    for obs in frames:
        null_subtask |= bool("subtask" in obs.columns and obs["subtask"].isna().any())
        b = series_plot_base(obs, axis)
        if len(b):
            parts.append(b)
    base = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] if parts else \
        pd.DataFrame(columns=["metric", "x", "y"])
    by_task = {str(k): v for k, v in base.groupby(base["task"].astype(str)).indices.items()} \
        if "task" in base.columns and len(base) else {}
    mixed = ()
    if "source_family" in base.columns and len(base):
        spelt = base["source_family"].astype(str)
        rows = spelt.str.contains(" | ", regex=False).to_numpy()
        mixed = tuple((family, frozenset(s.split(" | ")))
                      for family, s in zip(base["family"].astype(str).to_numpy()[rows], spelt.to_numpy()[rows]))
    return PointIndex(axis, base, by_task, mixed, null_subtask)


def points_within(index: PointIndex, filters: dict | None, scores: pd.DataFrame | None = None, *,
                  with_series: bool = False) -> tuple | None:
    """:func:`series_plot_frame` of the observations a view's ``filters`` select (the store's rule,
    :func:`emergence.keys.select`), from the index: the same points, curves and legends.

    The filters take whole series (each filter's columns are part of the series key) but two: a family filter
    also matches ``source_family``, which can differ between the rows of one series (its base lists the
    spellings, `` | ``-joined), and a subtask filter on ``''`` does not match a missing subtask.  Where the view
    could cut a series so, this returns None: the caller computes the view's own points.  ``with_series``: as
    :func:`plot_frame_of`'s.

    A point's ``y`` (a mean over the rows at one size) is its whole source's: pandas' grouped mean, compensated,
    can differ in the last bit with the other groups summed alongside it, so the view's own computation could
    give a value one unit in the last place away (7 points of 109 views in a check on the real store).  From the
    index a point has one value in every view.
    """
    f = dict(filters or {})
    if index.null_subtask and "" in (filter_wanted("subtask", f.get("subtask")) or ()):
        return None
    want = {str(v) for v in filter_wanted("family", f.get("family")) or ()}
    if want and any(family not in want and want & spellings for family, spellings in index.mixed):
        return None
    base = index.base
    task = filter_wanted("task", f.get("task"))
    if task:            # only the tasks' rows, then the filters on them (the task's again, harmlessly)
        rows = np.sort(np.concatenate([index.by_task.get(str(v), np.zeros(0, dtype=np.int64)) for v in task]))
        base = base.iloc[rows]
    return plot_frame_of(base[select(base, f)].reset_index(drop=True), scores, with_series=with_series)


def curve_names(keys: pd.DataFrame, parts: list[str]) -> list[str]:
    """A curve's name per row of ``keys``: its ``parts`` joined by `` · ``, family and source as their values, the
    others as ``part=value`` (``model=`` for ``series_model``, ``prompt=`` for ``prompt_variant``); a missing or
    empty value reads ``(none)``, a missing family ``?``.  Column by column, not a Python call per row (~45 ms for
    the 768 curves of expemergence's mmlu)."""
    out = None
    for c in parts:
        v = keys[c].astype(object)
        text = v.astype(str)
        missing = v.isna().to_numpy() | text.isin(["", "<NA>"]).to_numpy()
        text = text.where(~missing, "(none)" if c != "family" else "?")
        if c not in ("family", "source"):
            text = f"{_PART_LABEL.get(c, c)}=" + text
        out = text if out is None else out + " · " + text
    return out.tolist() if out is not None else [""] * len(keys)


def curve_label(curve: str, rows: Iterable[tuple]) -> str:
    """A curve's legend entry: its name and the verdict of each metric it is drawn under (``rows``: a
    ``(metric, verdict, emergence_score)`` per metric).

    One metric: ``name (verdict; ES score)``.  Several (the same outputs under a thresholded and a
    continuous metric share a curve, a panel each): ``name (metric: verdict; metric: verdict)``, metrics in
    panel order (thresholded first), or ``name (verdict under both metrics)`` when they agree; the scores
    are left to the hover and the verdict table, so that no one metric's verdict stands for the curve's.
    ★ when any of them is called emergent; ``?`` for a series with no verdict."""
    order = {c: i for i, c in enumerate(CLASS_ORDER)}
    rows = sorted(rows, key=lambda r: (order.get(_metric_class(r[0]), len(order)), str(r[0])))
    verdicts = ["?" if v is None or pd.isna(v) else str(v) for _, v, _ in rows]
    mark = " ★" if "emergent" in verdicts else ""
    if len(rows) == 1:
        return f"{curve} ({verdicts[0]}; ES {_fmt(rows[0][2])}){mark}"
    if len(set(verdicts)) == 1:
        return f"{curve} ({verdicts[0]} under {'both' if len(rows) == 2 else f'all {len(rows)}'} metrics){mark}"
    return f"{curve} (" + "; ".join(f"{m}: {v}" for (m, _, _), v in zip(rows, verdicts)) + f"){mark}"


def curve_series(points: pd.DataFrame, scores: pd.DataFrame, curves: Iterable[str] | None = None) -> pd.DataFrame:
    """``scores`` (series table rows) of the curves in ``points`` (:func:`series_plot_frame`'s), with the
    ``curve`` each is drawn as, first: a row per (curve, metric) series, matched on every series key part
    both frames have (``model`` for a checkpoint curve).  Series with no point on the axis are left out.
    ``curves``: only these, in this order (each one's series in the scores' order)."""
    from emergence.analysis.series import SERIES_KEY
    if points is None or points.empty or scores is None or scores.empty:
        return pd.DataFrame(columns=["curve"] + (list(scores.columns) if scores is not None else []))
    sc = scores.reset_index(drop=True)
    sc = sc.assign(_row=np.arange(len(sc)))
    if "model" in sc.columns:
        sc["series_model"] = sc["model"].fillna("").astype(str)
    pts = points.copy()
    join = [c for c in SERIES_KEY + ["series_model"] if c in sc.columns and c in pts.columns]
    for c in join:
        _as_key(sc, c)
        _as_key(pts, c)
    keys = pts[join + ["curve"]].drop_duplicates(join)
    hit = sc[["_row"] + join].merge(keys, on=join, how="inner").sort_values("_row")
    # the scores' own values (the key parts were matched in a string form)
    out = scores.reset_index(drop=True).iloc[hit["_row"].to_numpy()].reset_index(drop=True)
    out = out.drop(columns=["curve"], errors="ignore")
    out.insert(0, "curve", hit["curve"].to_numpy())
    return out if curves is None else in_curve_order(out, curves)


def in_curve_order(table: pd.DataFrame, curves: Iterable[str]) -> pd.DataFrame:
    """The rows of ``table`` (with a ``curve`` column) whose curve is one of ``curves``, in their order (each
    curve's rows as they were)."""
    rank = {c: i for i, c in enumerate(curves)}
    out = table[table["curve"].isin(rank)]
    return out.iloc[np.argsort(out["curve"].map(rank).to_numpy(), kind="stable")].reset_index(drop=True)

