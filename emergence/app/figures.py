"""Plotly figures of the dashboard, built from the API's DataFrames (pure: no Streamlit, no store).

Each builder takes the rows a page shows and returns a ``plotly.graph_objects.Figure``, so
the same figure can be tested, exported (:func:`to_image`) and shown.  The only
arithmetic here is layout: no analysis runs here; the points of a curve, their intervals and
their normalisation come ready from :mod:`emergence.api` / :mod:`emergence.app.pivots`.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from emergence.analysis.metrics import metric_info
from emergence.app.pivots import add_intervals, normalise, pivot_order, score_boxes  # noqa: F401  (add_intervals, normalise: old imports)

__all__ = ["add_intervals", "normalise", "heatmap", "series_figure", "score_distribution",
           "share_bar", "verdict_bar", "lead_figure", "multiplication_figure", "VERDICT_ORDER", "VERDICT_COLOURS", "compare_scatter", "simulator_figure", "to_image", "static_export_available", "prediction_scatter",
           "error_bar", "curvature_bar", "passuntil_figure", "vision_figure", "grade_brier_figure", "CLASS_COLOURS",
           "CLASS_ORDER", "wrap_title", "fit_titles", "fit_margins", "fit_layout", "curve_order", "MAX_DRAWN"]

CLASS_ORDER = ("discontinuous", "nonlinear", "continuous", "unclassified")
CLASS_COLOURS = {"discontinuous": "#d62728", "nonlinear": "#ff7f0e", "continuous": "#1f77b4",
                 "unclassified": "#7f7f7f"}
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
            "#756bb1", "#636363"]


def wrap_title(text: str, width: int = 90, max_lines: int = 3) -> str:
    """A chart title broken into lines of at most ``width`` characters at spaces (Plotly does not wrap, and
    clips a long title at the chart's edge); past ``max_lines`` it ends in '…' (the full text goes in the
    caller's caption or hover)."""
    words, lines, cur = str(text).replace("<br>", " <br> ").split(" "), [], ""
    for w in words:
        if w == "<br>":
            lines.append(cur)
            cur = ""
            continue
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: max(0, width - 1)].rstrip() + "…"
    return "<br>".join(lines)


def fit_titles(fig: go.Figure, width: int = 80, subplot_width: int | None = None) -> go.Figure:
    """Wrap the figure's title (and its subplot titles) so none clips at the chart's edge, and make room
    for the extra lines above the plot.  The full title stays in the figure (only line breaks are added,
    up to three lines; see :func:`wrap_title`)."""
    title = fig.layout.title.text if fig.layout.title is not None else None
    lines = 1
    if title:
        wrapped = wrap_title(title, width)
        lines = wrapped.count("<br>") + 1
        # at the top of the chart, not centred in the margin, where a second line would run into the panels
        fig.update_layout(title=dict(text=wrapped, font=dict(size=15), yref="container", y=1, yanchor="top",
                                     pad=dict(t=20)))
    ann = list(fig.layout.annotations or [])
    if ann:
        ncols = max(1, len({round(a.x, 3) for a in ann if a.x is not None}))
        sw = subplot_width or max(30, width // ncols)
        for a in ann:
            if a.text and "<br>" not in a.text and len(a.text) > sw:
                a.text = wrap_title(a.text, sw, max_lines=2)
    # subplot titles stand above their panels, the top row's in this margin: room for their lines too
    ann_lines = max((str(a.text).count("<br>") + 1 for a in ann if a.text), default=0)
    top = 50 + 20 * (lines - 1) + 18 * ann_lines
    margin_t = fig.layout.margin.t if fig.layout.margin is not None and fig.layout.margin.t is not None else 0
    fig.update_layout(margin=dict(t=max(top, margin_t)))
    return fig


def _round_sig(a: np.ndarray, digits: int = 4) -> np.ndarray:
    """``a`` to ``digits`` significant figures (NaN kept): what the browser is sent, not what it shows (<= 3)."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(np.isfinite(a) & (a != 0), np.floor(np.log10(np.abs(a))), 0)
    scale = 10.0 ** (digits - 1 - mag)
    return np.where(np.isfinite(a), np.round(a * scale) / scale, a)


def heatmap(cells: pd.DataFrame, rows: str, cols: str, cell: str, *, max_rows: int = 150) -> go.Figure:
    """The explorer's pivot as a heatmap; ``cells`` from :func:`emergence.app.views.pivot`.

    Score cells use a diverging scale centred at 0 (negative: worsens with scale); share
    cells a 0..1 sequential scale.  Rows beyond ``max_rows`` (those with the fewest series)
    are left out, and the title says so.
    """
    if cells is None or cells.empty:
        fig = go.Figure()
        fig.update_layout(title="no series match these filters")
        return fig
    ylabels, xlabels, ytext, n_rows = pivot_order(cells, rows, cols, max_rows=max_rows)
    c = cells[cells[rows].isin(ylabels)]
    z = c.pivot_table(index=rows, columns=cols, values="value", aggfunc="first", dropna=False)
    z = z.reindex(index=ylabels, columns=xlabels)
    dec = "n_decidable" if "n_decidable" in c.columns else "n_scored"
    if cell == "score":
        finite = np.abs(z.to_numpy(dtype=float))
        finite = finite[np.isfinite(finite)]
        # a few huge scores (near-flat series) would wash out every other cell: saturate at the 95th percentile
        zmax = float(max(np.percentile(finite, 95), 1.0)) if finite.size else 1.0
        scale = dict(colorscale="RdBu", zmid=0, zmin=-zmax, zmax=zmax)
        title = "median emergence score (descriptive)"
    else:
        scale = dict(colorscale="Viridis", zmin=0, zmax=1)
        title = "share of decided series called emergent"
    # plain dicts, validated once by go.Figure (as series_figure): add_trace and update_layout cost ~2x as long
    heat = dict(type="heatmap", z=_round_sig(z.to_numpy(dtype=float)), x=[str(v) for v in xlabels],
                y=[str(v) for v in ylabels], hoverinfo="skip",
                colorbar=dict(title=dict(text="score" if cell == "score" else "share")), **scale)
    height = min(4000, max(380, 22 * len(ylabels) + 200))
    # heatmaps emit no selection events: a nearly invisible marker on each cell makes cells clickable
    cx = c[cols].astype(str).tolist()
    cy = c[rows].astype(str).tolist()
    size = max(8.0, min(40.0, (height - 200) / max(len(ylabels), 1) - 2))
    marks = dict(
        type="scatter", x=cx, y=cy, mode="markers", showlegend=False, name="cells",
        marker=dict(symbol="square", size=size, color="rgba(0,0,0,0.01)"),
        customdata=np.column_stack([_round_sig(c["value"].to_numpy(dtype=float)), c["n_series"], c[dec],
                                    c["n_emergent"]]),
        hovertemplate=f"{rows}=%{{y}}<br>{cols}=%{{x}}<br>{title}=%{{customdata[0]:.3g}}<br>series=%{{customdata[1]}}, "
                      "decided=%{customdata[2]}, emergent=%{customdata[3]}<extra>click to open</extra>")
    more = f" (the {max_rows} {rows} values with most series of {n_rows})" if n_rows > max_rows else ""
    ycats = [str(v) for v in ylabels]
    yticks = [ytext[v] for v in ycats]
    xcats = [str(v) for v in xlabels]
    margin, angle = heatmap_margins(yticks, xcats)
    layout = dict(title=dict(text=wrap_title(f"{title} by {rows} × {cols}{more}")), height=height,
                  yaxis=dict(title=dict(text="metric class · metric" if rows == "metric" else rows), type="category",
                             categoryorder="array", categoryarray=ycats, tickmode="array", tickvals=ycats,
                             ticktext=yticks, autorange="reversed", automargin=False),
                  xaxis=dict(title=dict(text=cols), type="category", categoryorder="array", categoryarray=xcats,
                             tickangle=angle, automargin=False),
                  margin=margin, clickmode="event+select", dragmode=False)
    return go.Figure(data=[heat, marks], layout=layout)


#: the width in px of each character of a tick label in the 12 px Source Sans of Streamlit's Plotly theme,
#: measured in Chromium (canvas ``measureText`` with a tick label's computed font) and rounded up to a few
#: classes; a character not listed (accents, CJK) counts as :data:`_WIDE_PX`
_CHAR_PX = {**dict.fromkeys(" '|,.:;ijlI·", 3.2), **dict.fromkeys("!f()[]{}-t/\\r", 4.2),
            **dict.fromkeys('*s"?zxcvyJYLFk#$+<=>^_aeg~×VX0123456789', 6.2),
            **dict.fromkeys("ESTAZ`houbndpqPRCKB", 7.1), **dict.fromkeys("&DGUHNOQ", 8.0),
            **dict.fromkeys("wMW%m@", 10.2)}
_WIDE_PX = 12.0


def label_px(text: str) -> float:
    """A tick label's width in px as drawn by the dashboard (see :data:`_CHAR_PX`), 5% on the high side."""
    return 1.05 * sum(_CHAR_PX.get(ch, _WIDE_PX) for ch in str(text))


def heatmap_margins(yticks: list[str], xticks: list[str]) -> tuple[dict, int]:
    """Fixed margins (and the x tick angle) that fit the heatmap's tick labels and colour bar.

    With Plotly's automatic margins every redraw whose labels or colour bar changed width is drawn twice
    (the first pass measures, the second fits): on the Explorer's 150 x 20 pivot that second pass was
    ~150 ms of the browser's main thread per interaction (CDP profile, bench/bench_pages.py).  These
    margins are computed from the label widths instead (:func:`label_px`), with ``autoexpand`` off;
    tests/test_browser.py checks in Chromium that no tick label falls outside the chart, and
    :func:`to_image` turns the automatic margins back on for a static export, whose font differs.
    Returns ``(margin, tickangle)``: x labels are slanted 45 degrees when they would not fit side by side
    in the plot area of a 1,000 px chart (the wide layout on a laptop screen).
    """
    yw = max((label_px(t) for t in yticks), default=0.0)
    xw = max((label_px(t) for t in xticks), default=0.0)
    left, right = 50 + int(np.ceil(yw)), 110
    slant = len(xticks) * (xw + 12) > 1000 - left - right
    below = int(np.ceil(0.71 * xw)) + 18 if slant else 22      # a slanted label's drop: its width x sin 45
    return dict(l=left, r=right, b=45 + below, autoexpand=False), (-45 if slant else 0)


def _tick_text(v: float) -> str:
    """How Plotly writes a tick at ``v`` on a numeric axis, near enough for its width: SI suffixes from 10^4
    (``10k``, ``100M``, ``1B``; Plotly's ``B`` for 10^9), decimals below 1."""
    a = abs(v)
    sign = "−" if v < 0 else ""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e4, "k")):
        if a >= div:
            return f"{sign}{a / (div if suffix != 'k' else 1e3):.3g}{suffix}"
    if a >= 1 or a == 0:
        return f"{sign}{int(a)}" if a == int(a) else f"{sign}{a:.3g}"
    return f"{sign}{a:.2g}" if a >= 1e-4 else f"{sign}{a:.1e}"


def _axis_values(fig: go.Figure, letter: str, ref: str) -> list:
    """Every value the traces put on axis ``ref`` (``"x"``, ``"y2"``…): ``letter``'s data, the totals of
    stacked bars, and a box's summary statistics (drawn on the value axis)."""
    out, stacks = [], {}
    stacked = fig.layout.barmode in ("stack", "relative")
    for t in fig.data:
        if (getattr(t, f"{letter}axis", None) or letter) != ref:
            continue
        vals = getattr(t, letter, None)
        if vals is not None:
            out.extend(np.asarray(vals, dtype=object).ravel().tolist())
            other = getattr(t, "y" if letter == "x" else "x", None)
            if t.type == "bar" and letter == ("x" if t.orientation == "h" else "y"):
                out.append(0.0)             # a bar stands on zero: its axis reaches it
            if stacked and t.type == "bar" and other is not None:
                for k, v in zip(np.asarray(other, dtype=object).ravel().tolist(),
                                pd.to_numeric(pd.Series(np.asarray(vals, dtype=object).ravel()), errors="coerce")):
                    stacks[k] = stacks.get(k, 0.0) + (0.0 if pd.isna(v) else float(v))
        if t.type == "box" and letter == ("x" if getattr(t, "orientation", None) == "h" else "y"):
            for k in ("lowerfence", "upperfence", "q1", "q3"):
                v = getattr(t, k, None)
                if v is not None:
                    out.extend(np.asarray(v, dtype=object).ravel().tolist())
    return out + list(stacks.values())


def _tick_labels_px(axis, values: list) -> tuple[float, bool]:
    """(the widest tick label of ``axis`` in px, whether the axis is categorical) from what it will show."""
    if axis.ticktext is not None and axis.tickmode == "array":
        return max((label_px(t) for t in axis.ticktext), default=0.0), True
    nums = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    if axis.type == "category" or (len(values) and nums.isna().mean() > 0.5):
        return max((label_px(v) for v in dict.fromkeys(map(str, values))), default=0.0), True
    lo, hi = (axis.range if axis.range is not None and axis.type != "log" else (nums.min(), nums.max()))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return label_px("0.0"), False
    if axis.type == "log":
        pos = nums[nums > 0]
        cands = [10.0 ** np.floor(np.log10(pos.min())), 10.0 ** np.ceil(np.log10(pos.max()))] if len(pos) else [1.0]
    else:
        if not hi - lo > 1e-9 * max(1.0, abs(hi)):       # one value: a unit either side, for the labels' width
            lo, hi = lo - 1, hi + 1
        step = 10.0 ** np.floor(np.log10((hi - lo) / 5))
        cands = [np.floor(lo / step) * step, np.ceil(hi / step) * step, step]
    return max(label_px(_tick_text(float(c))) for c in cands), False


def _edge_axes(fig: go.Figure, letter: str):
    """The ``letter`` axes (``"y"``: those on the chart's left edge, ``"x"``: its bottom edge) with the values their
    traces put on them: the axes whose labels and titles push a margin (an inner panel's sit between panels)."""
    other, far = ("x", "right") if letter == "y" else ("y", "top")
    for ax in getattr(fig, f"select_{letter}axes")():
        anchor = ax.anchor or other
        across = fig.layout[f"{other}axis{anchor[1:]}"] if anchor != "free" else None
        if across is not None and across.domain is not None and across.domain[0] > 0.01 or ax.side == far \
                or ax.visible is False:
            continue
        yield ax, _axis_values(fig, letter, letter + ax.plotly_name[len(f"{letter}axis"):])


def fit_margins(fig: go.Figure, *, width: int = 1000) -> go.Figure:
    """Give the figure base margins that already hold what Plotly's automatic margins would make room for,
    so the browser draws it once.

    With automatic margins (Streamlit's chart theme turns them on, from margins of 0 at the left and right)
    Plotly draws a figure, measures its tick labels, axis titles and legend, and when they stick out of
    the margins draws the whole figure again: on the Predictability page that second pass was ~40 % of
    ``Plotly.newPlot``'s time for its scatter (BENCHMARKS.md section 9).  The margins here are estimated
    from what the figure shows (:func:`label_px` of the tick labels and legend entries, a 12 px font; the
    axis titles; a legend below the plot at its place), for a chart ``width`` px wide.  They are a floor,
    not a cap: the automatic margins stay on, so an estimate that falls short costs the second pass, never
    a clipped label (tests/test_browser.py checks that the dashboard's charts are not drawn twice).
    Figures with fixed margins of their own (``margin.autoexpand`` off: :func:`heatmap`,
    :func:`series_figure`) are left as they are.  Returns ``fig``.
    """
    margin = fig.layout.margin
    if margin is not None and margin.autoexpand is False:
        return fig
    lay = fig.layout
    height = lay.height or 450
    top = margin.t if margin is not None and margin.t is not None else 80
    left, bottom, right_labels = 10.0, 30.0, 0.0
    # the axes on the chart's left and bottom edges push those margins: their tick labels, then their title
    for ya, values in _edge_axes(fig, "y"):
        w, _ = _tick_labels_px(ya, values)
        has_title = ya.title is not None and bool(ya.title.text)
        left = max(left, w + 22 + (34 if has_title else 0))   # as drawn: labels 9 px off the plot, the title 34 px off them
    for xa, values in _edge_axes(fig, "x"):
        w, category = _tick_labels_px(xa, values)
        n = len(dict.fromkeys(map(str, values))) if category else 6
        span = width * ((xa.domain[1] - xa.domain[0]) if xa.domain is not None else 1.0)
        # Plotly slants category labels that would not fit side by side: 30 degrees, then upright
        slant = category and n * (w + 10) > span
        drop = 28.0 if not slant else (0.5 * w + 20 if n * 28 <= span else w + 14)
        has_title = xa.title is not None and bool(xa.title.text)
        bottom = max(bottom, drop + 10 + (24 if has_title else 0))
        # the last label reaches past the plot's right edge: half of it, or most of it when slanted down-right
        if xa.domain is None or xa.domain[1] > 0.99:
            right_labels = max(right_labels, 0.9 * w - span / max(n, 1) / 2 + 10 if slant else w / 2 + 6)
    # the legend: outside on the right (Plotly's default), or in rows below the plot
    right = max(10.0, right_labels)
    entries = [t for t in fig.data if t.showlegend is not False]
    shown = lay.showlegend if lay.showlegend is not None else len(entries) >= 2 or any(t.showlegend for t in entries)
    if shown and entries:
        leg = lay.legend
        scale = (leg.font.size or 12) / 12 if leg is not None and leg.font is not None else 1.0
        items = [label_px(t.name or "trace") * scale for t in entries]
        title = label_px(leg.title.text) * scale if leg is not None and leg.title is not None \
            and leg.title.text else 0.0
        if leg is not None and leg.orientation == "h":
            y = leg.y if leg.y is not None else -0.1
            if y < 0:
                rows, room, used = 1, width - left - right, title + 10
                for i in items:                 # entries fill a row of the plot's width, then wrap
                    if used + i + 44 > room and used > 0:
                        rows, used = rows + 1, 0.0
                    used += i + 44
                legend_h = 24 * rows + 10
                # the legend's top sits y plot heights below the plot: b >= -y (height - t - b) + its height
                bottom = max(bottom, (-y * (height - top) + legend_h + 20) / (1 - y))
        elif leg is None or leg.x is None or leg.x >= 1:
            right = max(right, max(items + [title]) + 80)    # as drawn: the symbol, paddings and a 2 % gap
    fig.update_layout(margin=dict(l=int(np.ceil(left)), r=int(np.ceil(right)), b=int(np.ceil(bottom))))
    return fig


def fit_layout(fig: go.Figure) -> go.Figure:
    """What the app does to every figure before it is drawn: long titles wrapped (:func:`fit_titles`), then base
    margins that hold its labels (:func:`fit_margins`).  Returns ``fig``."""
    return fit_margins(fit_titles(fig))


def curve_order(points: pd.DataFrame) -> list[str]:
    """Curves in the order a reader needs them: emergent first, then by how much of its panel's range the
    curve spans (its largest rise or fall over any metric), then by name."""
    if points is None or points.empty:
        return []
    y = pd.to_numeric(points["y"], errors="coerce")
    p = points.assign(_y=y)
    # grouped max and min, not a Python function per group (~100 ms a call on 4,000 points; a first visit of Series
    # detail orders its curves twice)
    by_metric = p.groupby("metric")["_y"]
    span = (by_metric.max() - by_metric.min()).replace(0.0, 1.0)        # a flat panel: spans of 1
    per = p.groupby(["curve", "metric"])["_y"].agg(["max", "min"])
    rel = ((per["max"] - per["min"]) / span.reindex(per.index.get_level_values("metric")).to_numpy()) \
        .groupby(level="curve").max()
    em = (p.groupby("curve")["emergent"].any() if "emergent" in p.columns
          else pd.Series(False, index=rel.index))
    return sorted(rel.index.astype(str), key=lambda c: (not bool(em.get(c, False)), -float(rel.get(c, 0) or 0), c))


#: how many curves Series detail draws when the view names none (:func:`curve_order`'s first)
MAX_DRAWN = 8


def series_figure(points: pd.DataFrame, *, x_label: str = "parameters", labels: dict | None = None,
                  y_label: str = "value", resolution_band: bool = True, ncols: int = 3,
                  draw: list[str] | tuple[str, ...] | None = None, max_visible: int = MAX_DRAWN,
                  more: str = "", order: list[str] | None = None) -> go.Figure:
    """Every metric of one task on a shared log scale axis: one panel per metric, one colour per curve.

    ``points``: one row per plotted point with ``metric, curve, x, y`` and optional ``lo, hi``
    (interval), ``band_lo, band_hi`` (the 1/n resolution band).  Panels are ordered
    discontinuous -> nonlinear -> continuous, so the same outputs under a thresholded and a
    smooth metric stand side by side.  ``labels`` maps a curve to its legend text (its score).
    ``draw``: the curves to draw (those in ``points``; None or none of them = the first ``max_visible`` of
    :func:`curve_order`, emergent first).  Only drawn curves are sent: with 30 families of a task, curves
    waiting in the legend (``visible='legendonly'``) cost the browser as much as half the page's drawing,
    so the others are chosen outside the chart (the page's "Curves drawn"; ``more`` ends the title with
    where).  The legend stands at the right of the panels, never over them.  ``order``: :func:`curve_order` of
    ``points`` where the caller has it already (Series detail lists the curves in it).
    """
    labels = labels or {}
    if points is None or points.empty:
        fig = go.Figure()
        fig.update_layout(title="no points on this axis for these filters")
        return fig
    metrics = sorted(points["metric"].astype(str).unique(),
                     key=lambda m: (CLASS_ORDER.index(metric_info(m).metric_class), m))
    ncols = max(1, min(ncols, len(metrics)))
    nrows = math.ceil(len(metrics) / ncols)
    titles = [f"{m} ({metric_info(m).metric_class}, {'↑' if metric_info(m).higher_is_better else '↓'} better)"
              for m in metrics]
    # the figure is put together as plain dicts and validated once (go.Figure(data, layout)): adding traces,
    # shapes and axis settings to a subplot figure one call at a time cost Plotly ~3x as long
    layout, axes = _grid(nrows, ncols, len(metrics))
    for ann, t in zip(layout["annotations"], titles):
        ann["text"] = t
    curves = list(order) if order is not None else curve_order(points)
    named = set(map(str, draw or ()))
    drawn = [c for c in curves if c in named] or curves[:max_visible]
    rank = {c: i + 1 for i, c in enumerate(drawn)}
    colour = {c: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(curves)}
    metric = points["metric"].astype(str)
    # what a panel needs of every curve (its band, whether its y axis is logarithmic), grouped once; the traces
    # only from the drawn curves' rows (a few hundred of a task's thousands of points)
    y_all = pd.to_numeric(points["y"], errors="coerce").groupby(metric.to_numpy()).agg(["count", "min", "max"])
    band = None
    if resolution_band and "band_hi" in points.columns:
        hi_all = pd.to_numeric(points["band_hi"], errors="coerce")
        lo_all = pd.to_numeric(points["band_lo"], errors="coerce").fillna(0) if "band_lo" in points.columns \
            else pd.Series(0.0, index=points.index)
        band = pd.DataFrame({"any": hi_all.notna(), "hi": hi_all, "lo": lo_all}).groupby(metric.to_numpy()) \
            .agg({"any": "any", "hi": "median", "lo": "median"})
    is_drawn = points["curve"].astype(str).isin(drawn).to_numpy()
    sel_metric = metric.to_numpy()[is_drawn]
    # the drawn rows' columns as arrays, read once: a trace is index arithmetic on them (pandas per curve and
    # panel, a group, a sort and a dozen column operations each, was half of a figure's ~60 ms)
    cols = _TraceColumns(points[is_drawn])
    traces, shapes, shown = [], [], set()
    for i, m in enumerate(metrics):
        xa, ya = axes[divmod(i, ncols)]
        if band is not None and bool(band.at[m, "any"]):
            shapes.append(dict(type="rect", xref=f"{xa} domain", yref=ya, x0=0, x1=1, y0=float(band.at[m, "lo"]),
                               y1=float(band.at[m, "hi"]), fillcolor="grey", opacity=0.15, line=dict(width=0)))
        in_panel = np.flatnonzero(sel_metric == m)
        curve_of = cols.curve[in_panel]
        for curve in sorted(set(curve_of.tolist())):        # the curves in name order, each its rows as they came
            rows = in_panel[curve_of == curve]
            t = _curve_trace(cols, rows, str(curve), m, legend_text(labels.get(curve, curve)), colour[str(curve)],
                             rank=rank[str(curve)], legend=curve not in shown)
            traces.append({**t, "xaxis": xa, "yaxis": ya})
            shown.add(curve)
        # losses and perplexities span orders of magnitude: log y where every value is positive and spread wide
        n, lo, hi = y_all.loc[m, ["count", "min", "max"]]
        if n and lo > 0 and hi / lo > 20 and not metric_info(m).proportion:
            layout[_axis_key(ya)]["type"] = "log"
    for (r, c), (xa, ya) in axes.items():
        layout[_axis_key(xa)].update(type="log", automargin=False)
        if r == nrows - 1:
            layout[_axis_key(xa)]["title"] = dict(text=x_label)
        layout[_axis_key(ya)]["automargin"] = False
        if c == 0:
            layout[_axis_key(ya)]["title"] = dict(text=y_label)
    title = None
    if len(drawn) < len(curves):
        title = f"{len(drawn)} of {len(curves)} curves drawn" + \
            (" (emergent first, then the largest change)" if draw is None or set(drawn) == set(curves[:max_visible])
             else "") + (f"; {more}" if more else "")
    # fixed margins (see heatmap_margins): the legend's width from its (wrapped) names, numbers on the y axes;
    # the chart is tall enough for the legend (11 px text: ~17 px a line as drawn, 8 between entries)
    entries = [legend_text(labels.get(c, c)).split("<br>") for c in drawn]
    legend_px = max((label_px(line) * 11 / 12 for lines in entries for line in lines), default=0.0) + 50
    legend_h = sum(max(22, 17 * len(lines) + 8) for lines in entries)
    if shapes:
        layout["shapes"] = shapes
    layout.update(height=max(420, 330 * nrows, legend_h + 220),
                  legend=dict(orientation="v", x=1.01, xanchor="left", y=1, yanchor="top", font=dict(size=11),
                              groupclick="togglegroup"),
                  margin=dict(t=80 if title else 60, r=int(np.ceil(legend_px)), l=80, b=70, autoexpand=False))
    if title:
        layout["title"] = dict(text=title)
    return go.Figure(data=traces, layout=layout)


def _axis_key(ref: str) -> str:
    """``x2`` -> ``xaxis2`` (a trace's axis reference -> the layout's key)."""
    return f"{ref[0]}axis{ref[1:]}"


_GRIDS: dict[tuple[int, int, int], tuple[dict, dict]] = {}


def _grid(nrows: int, ncols: int, n_panels: int) -> tuple[dict, dict]:
    """A fresh copy of :func:`series_figure`'s subplot grid: ``(layout, {(row, col): (xref, yref)})``, rows and
    columns from 0 at the top left; the layout (axes and their domains, one title annotation per panel, to be
    given its text) is :func:`plotly.subplots.make_subplots`', made once per shape."""
    key = (nrows, ncols, n_panels)
    if key not in _GRIDS:
        fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=[" "] * n_panels, shared_xaxes="all",
                            horizontal_spacing=0.07, vertical_spacing=min(0.12, 0.3 / max(nrows, 1)))
        layout = fig.to_dict()["layout"]
        layout.pop("template", None)        # go.Figure applies the default template itself
        ref = fig._grid_ref       # make_subplots' own record of each cell's axes (what add_trace(row, col) uses)
        axes = {(r, c): (ref[r][c][0].trace_kwargs["xaxis"], ref[r][c][0].trace_kwargs["yaxis"])
                for r in range(nrows) for c in range(ncols)}
        _GRIDS[key] = (layout, axes)
    layout, axes = _GRIDS[key]
    return copy.deepcopy(layout), dict(axes)


#: a legend entry's longest line, in characters: a curve named by every part of its key that varies (source,
#: family, subtask, shots, prompt variant...) can run to 150 characters, which would leave no room for the panels
LEGEND_LINE = 42


def legend_text(name: str) -> str:
    """A curve's legend entry, wrapped at spaces into lines of at most :data:`LEGEND_LINE` characters (up
    to four; the hover names the curve in full)."""
    return wrap_title(name, LEGEND_LINE, max_lines=4)


class _TraceColumns:
    """The columns :func:`_curve_trace` reads, as arrays, of the drawn points (``x``, ``y``; ``lo``, ``hi`` where
    present; ``model`` as text; ``verdict`` and its missing flags; ``emergence_score`` as numbers)."""

    def __init__(self, pts: pd.DataFrame):
        self.curve = pts["curve"].to_numpy(dtype=object)
        self.x = pts["x"].to_numpy(dtype=float)
        self.y = pts["y"].to_numpy(dtype=float)
        self.lo = pts["lo"].to_numpy(dtype=float) if "lo" in pts.columns else None
        self.hi = pts["hi"].to_numpy(dtype=float) if "hi" in pts.columns else None
        self.model = pts["model"].astype(str).to_numpy(dtype=object) if "model" in pts.columns else None
        self.verdict = pts["verdict"].to_numpy(dtype=object) if "verdict" in pts.columns else None
        self.no_verdict = pts["verdict"].isna().to_numpy() if "verdict" in pts.columns else None
        self.score = pd.to_numeric(pts["emergence_score"], errors="coerce").to_numpy(dtype=float) \
            if "emergence_score" in pts.columns else None


def _verdict_text(cols: _TraceColumns, rows: np.ndarray) -> str:
    """The verdict and score of one curve's series under one metric (the first of its ``rows`` with a ``verdict``,
    and with an ``emergence_score``), for the hover: ``": smooth, ES 0.41"``; empty when the points carry none."""
    if cols.verdict is None:
        return ""
    has = rows[~cols.no_verdict[rows]]
    if not len(has):
        return ""
    v = str(cols.verdict[has[0]])
    es = cols.score[rows] if cols.score is not None else np.zeros(0)
    es = es[~np.isnan(es)]
    return f": {v}" + (f", ES {float(es[0]):.3g}" if len(es) else "")


def _nonneg(a: np.ndarray) -> np.ndarray:
    """``a`` with negatives as 0 and NaN kept (pandas' ``clip(lower=0)``)."""
    return np.where(np.isnan(a) | (a >= 0), a, 0.0)


def _curve_trace(cols: _TraceColumns, rows: np.ndarray, curve: str, metric: str, name: str, colour: str, *,
                 rank: int, legend: bool) -> dict:
    """One curve in one panel (its ``rows`` of ``cols``, drawn in the order of x): points at 6 significant figures
    in x, 4 in y, its interval as error bars; the hover names the curve, the model and the verdict of this metric's
    series."""
    verdict = _verdict_text(cols, rows)
    o = rows[np.argsort(cols.x[rows], kind="quicksort")]         # as DataFrame.sort_values("x") orders them
    y = cols.y[o]
    err = None
    if cols.lo is not None and (~np.isnan(cols.lo[rows])).any():
        err = dict(type="data", symmetric=False, array=_round_sig(_nonneg(cols.hi[o] - y)).tolist(),
                   arrayminus=_round_sig(_nonneg(y - cols.lo[o])).tolist(), thickness=1, width=2)
    has_model = cols.model is not None
    trace = dict(type="scatter", x=_round_sig(cols.x[o], 6).tolist(), y=_round_sig(y).tolist(), mode="lines+markers",
                 name=name, legendgroup=curve, showlegend=legend, line=dict(color=colour), legendrank=rank,
                 hovertemplate=(f"{curve}<br>%{{customdata[0]}}<br>x=%{{x:.3s}}<br>y=%{{y:.4g}}"
                                if has_model else f"{curve}<br>x=%{{x:.3s}}<br>y=%{{y:.4g}}")
                 + f"<extra>{metric}{verdict}</extra>")
    if err is not None:
        trace["error_y"] = err
    if has_model:
        trace["customdata"] = [[m] for m in cols.model[o]]
    return trace


def score_distribution(series: pd.DataFrame, *, max_metrics: int = 40) -> go.Figure:
    """Emergence scores per metric (one box each, from :func:`emergence.app.pivots.score_boxes`), coloured by
    metric class.  Descriptive only: the score grows with the number of sizes (a line over k sizes scores
    k - 1), so it is not the verdict."""
    fig = go.Figure()
    boxes = score_boxes(series, max_metrics)
    if boxes.empty:
        fig.update_layout(title="no scored series match these filters")
        return fig
    for cls in CLASS_ORDER:
        b = boxes[boxes["metric_class"] == cls]
        if b.empty:
            continue
        fig.add_trace(go.Box(x=b["metric"].tolist(), q1=b["q1"].tolist(), median=b["median"].tolist(),
                             q3=b["q3"].tolist(), lowerfence=b["lowerfence"].tolist(),
                             upperfence=b["upperfence"].tolist(), name=cls, marker_color=CLASS_COLOURS[cls],
                             boxpoints=False, customdata=b[["n"]].to_numpy(),
                             hovertemplate="%{x}<br>median %{median:.3g}, quartiles %{q1:.3g}–%{q3:.3g}"
                                           "<br>series: %{customdata[0]}<extra></extra>"))
    lo, hi = float(boxes["lowerfence"].min()), float(boxes["upperfence"].max())
    pad = 0.05 * (hi - lo) + 0.5
    fig.update_layout(title="emergence score per metric (Srivastava et al.; descriptive: a line over k sizes scores "
                            "k - 1)<br><sup>one box per metric: quartiles, whiskers to the most extreme score within "
                            "1.5 IQR</sup>",
                      yaxis=dict(title="emergence score", range=[lo - pad, hi + pad]),
                      xaxis=dict(type="category", categoryorder="array", categoryarray=boxes["metric"].tolist()),
                      legend_title="metric class", height=480)
    return fig


def share_bar(table: pd.DataFrame, by: str, *, share: str = "share_emergent", n: str = "n_decidable") -> go.Figure:
    """Share of the decidable series called emergent per ``by`` (metric or metric class), with the
    task-bootstrap interval (``ci_low``/``ci_high``) as error bars and ``n`` as the bar label."""
    fig = go.Figure()
    t = table if table is not None else pd.DataFrame()
    if t.empty or share not in t.columns or not t[share].notna().any():
        fig.update_layout(title=f"no decidable series (emergent or smooth) per {by} in these filters")
        return fig
    t = t[t[share].notna()].sort_values([share, n], ascending=False)
    colours = [CLASS_COLOURS.get(metric_info(str(v)).metric_class if by == "metric" else str(v), "#7f7f7f")
               for v in t[by]]
    err = dict(type="data", symmetric=False, array=(t["ci_high"] - t[share]).clip(lower=0).tolist(),
               arrayminus=(t[share] - t["ci_low"]).clip(lower=0).tolist(), thickness=1) \
        if {"ci_low", "ci_high"} <= set(t.columns) else None
    text = [f"{int(k)}" if pd.notna(k) else "" for k in t.get(n, pd.Series([None] * len(t)))]
    fig.add_trace(go.Bar(x=t[by].astype(str), y=t[share], marker_color=colours, text=text, error_y=err,
                         hovertemplate=f"{by}=%{{x}}<br>share emergent=%{{y:.3f}}<br>{n}=%{{text}}<extra></extra>"))
    fig.update_layout(title=f"share of decidable series called emergent, per {by.replace('_', ' ')}<br>"
                            f"<sup>bar label: series decided (emergent or smooth); bars: 95 % interval over tasks</sup>",
                      yaxis=dict(title="share emergent", rangemode="tozero"), xaxis=dict(type="category"),
                      height=420, margin=dict(t=80))
    return fig


VERDICT_ORDER = ("emergent", "smooth", "insufficient", "no signal")
VERDICT_COLOURS = {"emergent": "#d62728", "smooth": "#1f77b4", "insufficient": "#bdbdbd", "no signal": "#e7e7e7"}


def verdict_bar(table: pd.DataFrame, by: str) -> go.Figure:
    """How many series are in each verdict state, per ``by`` (stacked bars, one per state)."""
    fig = go.Figure()
    cols = {"emergent": "n_emergent", "smooth": "n_smooth", "insufficient": "n_insufficient",
            "no signal": "n_no_signal"}
    if table is None or table.empty or not set(cols.values()) <= set(table.columns):
        fig.update_layout(title="no series in these filters")
        return fig
    t = table.sort_values("n_series", ascending=False)
    for st_ in VERDICT_ORDER:
        fig.add_trace(go.Bar(x=t[by].astype(str), y=t[cols[st_]], name=st_, marker_color=VERDICT_COLOURS[st_],
                             hovertemplate=f"{by}=%{{x}}<br>{st_}: %{{y}}<extra></extra>"))
    fig.update_layout(barmode="stack", title=f"verdicts per {by.replace('_', ' ')} (series tested on their own axis)",
                      yaxis=dict(title="series", type="log"), xaxis=dict(type="category"), height=420,
                      legend_title="verdict")
    return fig


def lead_figure(pairs: pd.DataFrame, *, max_pairs: int = 12) -> go.Figure:
    """Detection leads (decades) per metric pair: one point per pair of series on the same outputs;
    open markers are censored leads (the thresholded metric never gets there: at least this)."""
    fig = go.Figure()
    p = pairs if pairs is not None else pd.DataFrame()
    if p.empty or "lead_decades" not in p.columns or not p["lead_decades"].notna().any():
        fig.update_layout(title="no pair of metrics on the same outputs has a detection lead in these filters")
        return fig
    p = p[p["lead_decades"].notna()]
    top = p["pair"].value_counts().index[:max_pairs].tolist()
    p = p[p["pair"].isin(top)]
    # a strip of plain markers, one row per pair: the same points a box with boxpoints="all" draws, without the
    # box statistics and per-point jitter the browser computed on every load (half the Overview's chart bytes)
    row = {pair: i for i, pair in enumerate(top)}
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(p))
    for cens, sym, name in ((False, "circle", "lead"), (True, "triangle-right-open", "censored: at least")):
        m = (p["lead_censored"].astype(bool) == cens).to_numpy()
        d = p[m]
        if d.empty:
            continue
        label = d["source"].astype(str) + " · " + d["task"].astype(str) + " · " + d["family"].astype(str)
        fig.add_trace(go.Scatter(x=d["lead_decades"].astype(float).round(3).tolist(),
                                 y=(d["pair"].map(row).to_numpy() + jitter[m]).round(3).tolist(), name=name,
                                 mode="markers", marker=dict(symbol=sym, size=7, color="#1f77b4" if not cens
                                                             else "#ff7f0e"),
                                 text=label.tolist(), hovertemplate="%{text}<br>lead %{x:.2f} decades<extra></extra>"))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(top))),
                     ticktext=[str(t).replace("|", " vs ") for t in top], range=[-0.6, len(top) - 0.4],
                     zeroline=False, showgrid=False)
    fig.add_vline(x=0, line=dict(color="grey", dash="dot"))
    fig.update_layout(title="detection lead: log10(size where the thresholded metric is first detected) minus the "
                            "continuous metric's<br><sup>positive = the continuous metric sees the ability at smaller "
                            "models (Schaeffer et al.'s mirage)</sup>",
                      xaxis_title="lead (decades of scale)", height=max(320, 60 + 45 * len(top)),
                      margin=dict(t=80, l=10), legend=dict(orientation="h", y=-0.2))
    return fig


def compare_scatter(pairs: pd.DataFrame, *, x: str, y: str, colour: str = "source", title: str = "") -> go.Figure:
    """Paired emergence scores of the same outputs under two metrics (one point per pair)."""
    fig = go.Figure()
    if pairs is None or pairs.empty:
        fig.update_layout(title="no pairs match these filters")
        return fig
    for i, (k, g) in enumerate(pairs.groupby(colour, sort=True)):
        hover = g["label"] if "label" in g.columns else None
        fig.add_trace(go.Scatter(x=g[x], y=g[y], mode="markers", name=str(k), text=hover,
                                 marker=dict(color=_PALETTE[i % len(_PALETTE)], size=8, opacity=0.75),
                                 hovertemplate="%{text}<br>x=%{x:.3g}<br>y=%{y:.3g}<extra></extra>"))
    lim = pd.concat([pairs[x], pairs[y]]).astype(float)
    lo, hi = float(np.nanmin(lim)), float(np.nanmax(lim))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="equal scores",
                             line=dict(color="grey", dash="dot")))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=500)
    return fig


def grade_brier_figure(rows: pd.DataFrame, *, x: str = "params", x_label: str = "parameters",
                       max_curves: int = 12) -> go.Figure:
    """Schaeffer et al. 2023, Fig. 6: one set of outputs per task and size, under the multiple choice
    grade (left, discontinuous) and the Brier score (right, continuous; lower is better), against
    model size on a log axis.  One colour per (task, family, shots) curve, the same in both panels.

    ``rows``: :func:`emergence.api.grade_vs_brier`'s table; ``x``: its size column (``params`` or
    ``non_embedding_params``); at most ``max_curves`` curves: those whose grade rises most from the
    smallest to the largest size (where a jump, real or not, is to be judged), ties in table order.
    """
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("multiple choice grade (discontinuous)",
                                        "Brier score (continuous; lower is better)"))
    if rows is None or rows.empty:
        fig.update_layout(title="no BIG-G full logs match these filters", height=460)
        return fig
    d = rows[np.isfinite(pd.to_numeric(rows[x], errors="coerce").astype(float))]
    keys = ["task", "family", "shots"]
    curves = list(d.groupby(keys, sort=False, dropna=False))
    rise = [g.sort_values(x)["multiple_choice_grade"].iloc[-1] - g.sort_values(x)["multiple_choice_grade"].iloc[0]
            for _, g in curves]
    order = sorted(range(len(curves)), key=lambda i: (-(rise[i] if np.isfinite(rise[i]) else -np.inf), i))
    curves = [curves[i] for i in order[:max_curves]]
    for i, (k, g) in enumerate(curves):
        g = g.sort_values(x)
        name = f"{k[0]} · {k[1]} · {'' if pd.isna(k[2]) else int(k[2])}-shot"
        colour = _PALETTE[i % len(_PALETTE)]
        hover = [f"{m}<br>n={int(n)}" for m, n in zip(g["model"], g["n_examples"])]
        for col, y in ((1, "multiple_choice_grade"), (2, "brier_score")):
            fig.add_trace(go.Scatter(x=g[x], y=g[y], mode="lines+markers", name=name, legendgroup=name,
                                     showlegend=col == 1, line=dict(color=colour), marker=dict(size=7),
                                     text=hover, hovertemplate=f"{name}<br>%{{text}}<br>{x_label}=%{{x:.3g}}<br>"
                                     f"{y}=%{{y:.3f}}<extra></extra>"), row=1, col=col)
    fig.update_xaxes(type="log", title_text=x_label)
    fig.update_yaxes(title_text="multiple choice grade", range=[0, 1], row=1, col=1)
    fig.update_yaxes(title_text="Brier score", rangemode="tozero", row=1, col=2)
    fig.update_layout(height=480, legend=dict(orientation="h", y=-0.25))
    return fig


def multiplication_figure(by_digits: pd.DataFrame) -> go.Figure:
    """Schaeffer et al. Fig. 3 on real completions: exact match (left) and character edit distance
    (right) of the same outputs against model size, one curve per operand-digit split (longer targets
    to the right in the legend), with 95 % intervals."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["exact match (discontinuous)",
                                                        "character edit distance (continuous)"])
    if by_digits is None or by_digits.empty:
        fig.update_layout(title="the multiplication completions are not in this store")
        return fig
    for i, (split, g) in enumerate(by_digits.groupby("split", sort=True)):
        g = g.sort_values("params")
        colour = _PALETTE[i % len(_PALETTE)]
        name = f"{split} ({g['target_digits'].iloc[0]})"
        fig.add_trace(go.Scatter(x=g["params"], y=g["exact_match"], mode="lines+markers", name=name, legendgroup=split,
                                 line=dict(color=colour), text=g["model"],
                                 error_y=dict(type="data", symmetric=False, array=(g["em_high"] - g["exact_match"]),
                                              arrayminus=(g["exact_match"] - g["em_low"]), thickness=1),
                                 hovertemplate="%{text}<br>exact match %{y:.3f}<extra>" + name + "</extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=g["params"], y=g["edit_distance"], mode="lines+markers", name=name,
                                 legendgroup=split, showlegend=False, line=dict(color=colour), text=g["model"],
                                 error_y=dict(type="data", array=1.96 * g["ed_se"], thickness=1),
                                 hovertemplate="%{text}<br>edit distance %{y:.3f}<extra>" + name + "</extra>"),
                      row=1, col=2)
    fig.update_xaxes(type="log", title_text="parameters")
    fig.update_yaxes(title_text="share exactly right", row=1, col=1)
    fig.update_yaxes(title_text="characters to edit (lower is better)", row=1, col=2)
    fig.update_layout(title="InstructGPT multiplication completions by operand digits: the same outputs, two metrics",
                      height=440, legend=dict(orientation="h", y=-0.2), margin=dict(t=80))
    return fig


def simulator_figure(long: pd.DataFrame, *, show_sampled: bool = True) -> go.Figure:
    """The mirage: expected and sampled metrics of one simulated family against log N.

    ``long`` from :func:`emergence.analysis.simulate.long_form`: one panel per metric, discontinuous
    panels first, so accuracy's sharp jump sits beside edit distance's smooth fall.
    """
    metrics = sorted(long["metric"].unique(),
                     key=lambda m: (CLASS_ORDER.index(str(long.loc[long["metric"] == m, "metric_class"].iloc[0])), m))
    fig = make_subplots(rows=1, cols=len(metrics), shared_xaxes=True,
                        subplot_titles=[f"{m} ({long.loc[long['metric'] == m, 'metric_class'].iloc[0]})"
                                        for m in metrics])
    for i, m in enumerate(metrics):
        d = long[long["metric"] == m]
        cls = str(d["metric_class"].iloc[0])
        e = d[d["kind"] == "expected"].sort_values("params")
        fig.add_trace(go.Scatter(x=e["params"], y=e["value"], mode="lines", name="expected",
                                 line=dict(color=CLASS_COLOURS.get(cls)), showlegend=i == 0, legendgroup="expected"),
                      row=1, col=i + 1)
        if show_sampled:
            s = d[d["kind"] == "sampled"].sort_values("params")
            fig.add_trace(go.Scatter(x=s["params"], y=s["value"], mode="markers", name="sampled (n examples)",
                                     marker=dict(color="black", size=6), showlegend=i == 0, legendgroup="sampled",
                                     error_y=dict(type="data", array=(1.96 * s["se"]).tolist(), thickness=1)),
                          row=1, col=i + 1)
    fig.update_xaxes(type="log", title_text="parameters N")
    fig.update_layout(height=420, legend=dict(orientation="h", y=-0.25))
    return fig


def static_export_available() -> bool:
    """Whether :func:`to_image` can run here: kaleido installed and a Chrome/Chromium it can drive."""
    import importlib.util
    import os
    import shutil
    if importlib.util.find_spec("kaleido") is None:
        return False
    return bool(os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
                or shutil.which("google-chrome") or shutil.which("chrome"))


def to_image(fig: go.Figure, fmt: str = "png") -> bytes:
    """PNG or SVG bytes of a figure (kaleido; it finds Debian's /usr/bin/chromium).

    A figure drawn with fixed margins for the dashboard's font (:func:`heatmap_margins`) gets Plotly's
    automatic margins back here: kaleido draws in another font, whose labels could otherwise clip."""
    import plotly.io as pio
    if fmt not in ("png", "svg"):
        raise ValueError(f"format must be png or svg, got {fmt!r}")
    if fig.layout.margin is not None and fig.layout.margin.autoexpand is False:
        fig = go.Figure(fig)
        fig.update_layout(margin_autoexpand=True)
        fig.update_xaxes(automargin=True)
        fig.update_yaxes(automargin=True)
    return pio.to_image(fig, format=fmt, width=1200, height=int(fig.layout.height or 600), scale=2 if fmt == "png" else 1)


def prediction_scatter(pred: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Held-out predictions (``emergence.predictability.predict.held_out_predictions``, status ok), two panels.

    Left: proportion metrics (one unit, 0..1): predicted vs actual value of the largest model,
    with the prediction interval (clipped to 0..1), the diagonal being a perfect prediction.
    Right: every metric, the signed error scaled by the series' training range
    (``sign(error) * scaled_error``: unit-free, 0 = perfect), one column per metric, coloured by
    metric class; the axis shows the 2nd-98th percentile.
    """
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55],
                        subplot_titles=["proportions: predicted vs actual (largest model)",
                                        "signed error / training range, per metric"])
    if pred is None or pred.empty:
        fig.update_layout(title="no held-out predictions for these filters")
        return fig
    pred = pred.copy()
    pred["signed_scaled_error"] = np.sign(pred["error"].astype(float)) * pred["scaled_error"].astype(float)
    text = pred["label"] if "label" in pred.columns else pred["metric"]
    pred["_text"] = text
    for cls in CLASS_ORDER:
        d = pred[pred["metric_class"] == cls]
        if d.empty:
            continue
        prop = d[d["proportion"].astype(bool)]
        if len(prop):
            lo = prop["lower"].astype(float).clip(0, 1)
            hi = prop["upper"].astype(float).clip(0, 1)
            yp = prop["y_predicted"].astype(float)
            fig.add_trace(go.Scatter(
                x=prop["y_actual"], y=yp.clip(-0.05, 1.05), mode="markers", name=cls, legendgroup=cls,
                marker=dict(color=CLASS_COLOURS[cls], size=7, opacity=0.7), text=prop["_text"],
                error_y=dict(type="data", symmetric=False, array=(hi - yp).clip(lower=0).tolist(),
                             arrayminus=(yp - lo).clip(lower=0).tolist(), thickness=0.8, width=0),
                hovertemplate="%{text}<br>actual=%{x:.4g}<br>predicted=%{y:.4g}<extra></extra>"), row=1, col=1)
        fig.add_trace(go.Box(
            x=d["metric"], y=d["signed_scaled_error"], name=cls, legendgroup=cls, showlegend=prop.empty,
            marker_color=CLASS_COLOURS[cls], boxpoints="all", jitter=0.4, pointpos=0, text=d["_text"],
            hovertemplate="%{text}<br>error / range=%{y:.3g}<extra></extra>"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect prediction",
                             line=dict(color="grey", dash="dot")), row=1, col=1)
    v = pred["signed_scaled_error"].replace([np.inf, -np.inf], np.nan).dropna()
    if len(v):
        lo, hi = np.percentile(v, [2, 98])
        pad = 0.1 * (hi - lo) + 0.1
        fig.update_yaxes(range=[min(lo, 0) - pad, max(hi, 0) + pad], row=1, col=2)
    fig.update_xaxes(title_text="actual", range=[-0.05, 1.05], row=1, col=1)
    fig.update_yaxes(title_text="predicted", range=[-0.05, 1.05], row=1, col=1)
    fig.update_xaxes(type="category", row=1, col=2)
    fig.update_layout(title=title or "largest model predicted from the smaller ones", height=480,
                      boxmode="group")
    return fig


def error_bar(by_metric: pd.DataFrame, *, value: str = "median_scaled_error") -> go.Figure:
    """Median held-out error per metric (``emergence.predictability.predict.predictability(...).by_metric``)."""
    fig = go.Figure()
    if by_metric is None or by_metric.empty:
        fig.update_layout(title="nothing to show")
        return fig
    t = by_metric.sort_values(value)
    fig.add_trace(go.Bar(x=t["metric"].astype(str), y=t[value],
                         marker_color=[CLASS_COLOURS.get(str(c), "#7f7f7f") for c in t["metric_class"]],
                         text=[f"n={int(n)}" for n in t["n_series"]],
                         hovertemplate="%{x}<br>" + value + "=%{y:.3g}<br>%{text}<extra></extra>"))
    fig.update_layout(title=f"{value.replace('_', ' ')} per metric (lower = more predictable; colour = class)",
                      yaxis_title=value, xaxis=dict(type="category"), height=420)
    return fig


def curvature_bar(counts: pd.DataFrame) -> go.Figure:
    """Curvature classes of log(-log PU) against log N (Hu et al. 2023): counts per metric class."""
    fig = go.Figure()
    if counts is None or counts.empty:
        fig.update_layout(title="no series with a curvature class")
        return fig
    for label, g in counts.groupby("curvature_class", sort=True):
        fig.add_trace(go.Bar(x=g["metric_class"], y=g["n"], name=str(label)))
    fig.update_layout(barmode="stack", title="curvature of log(-log value) vs log N, per metric class",
                      yaxis_title="series", height=380)
    return fig


def passuntil_figure(rates: pd.DataFrame, preds: pd.DataFrame) -> go.Figure:
    """PassUntil task scaling law (Hu et al. 2023, Eq. 4): PU(N) = exp(-c N^-alpha).

    Left: task pass rate PU against N (log-log), ±1.96 se, the law fitted on all sizes but the
    largest (line) and its prediction at the largest size (diamond with interval).
    Right: the same as log(-log PU) against log N, where the law is a straight line.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=["task pass rate PU (log scale)",
                                                        "log(-log PU): the law is a straight line"])
    if rates is None or rates.empty:
        fig.update_layout(title="no repeated-sampling examples for these filters")
        return fig
    keys = [c for c in ("task", "family") if c in rates.columns]
    for i, (k, g) in enumerate(rates.groupby(keys, sort=True) if keys else [("", rates)]):
        k = k if isinstance(k, tuple) else (k,)
        name = " · ".join(map(str, k))
        colour = _PALETTE[i % len(_PALETTE)]
        g = g.sort_values("params")
        pos = g[g["pu"] > 0]
        fig.add_trace(go.Scatter(x=pos["params"], y=pos["pu"], mode="markers", name=name, legendgroup=name,
                                 marker=dict(color=colour, size=8),
                                 error_y=dict(type="data", array=(1.96 * pos["se"]).tolist(), thickness=1)),
                      row=1, col=1)
        inside = g[(g["pu"] > 0) & (g["pu"] < 1)]
        fig.add_trace(go.Scatter(x=inside["params"], y=np.log(-np.log(inside["pu"])), mode="markers", name=name,
                                 legendgroup=name, showlegend=False, marker=dict(color=colour, size=8)), row=1, col=2)
        p = preds
        for kk, vv in zip(keys, k):
            p = p[p[kk] == vv] if p is not None and len(p) and kk in p.columns else p
        if p is None or p.empty or not np.isfinite(p["log_c"].iloc[0]):
            continue
        r = p.iloc[0]
        N = np.logspace(np.log10(g["params"].min()), np.log10(r["params_target"]), 60)
        law = np.exp(-np.exp(r["log_c"] - r["alpha"] * np.log(N)))
        fig.add_trace(go.Scatter(x=N, y=law, mode="lines", name=f"{name}: law fitted without the largest",
                                 legendgroup=name, line=dict(color=colour, dash="dash")), row=1, col=1)
        fig.add_trace(go.Scatter(x=N, y=r["log_c"] - r["alpha"] * np.log(N), mode="lines", legendgroup=name,
                                 showlegend=False, line=dict(color=colour, dash="dash")), row=1, col=2)
        fig.add_trace(go.Scatter(
            x=[r["params_target"]], y=[r["pu_predicted"]], mode="markers", name=f"{name}: predicted largest",
            legendgroup=name, marker=dict(color=colour, symbol="diamond-open", size=13, line=dict(width=2)),
            error_y=dict(type="data", symmetric=False, array=[max(0.0, r["pu_upper"] - r["pu_predicted"])],
                         arrayminus=[max(0.0, r["pu_predicted"] - r["pu_lower"])])), row=1, col=1)
    fig.update_xaxes(type="log", title_text="parameters N")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(height=460, legend=dict(orientation="h", y=-0.25))
    return fig


def vision_figure(summary: pd.DataFrame, cutoff: float) -> go.Figure:
    """The vision mirage (Schaeffer et al. 2023, Sec. 5): smooth MSE vs sharp reconstruction_c.

    ``summary`` from :func:`emergence.analysis.vision.summarise`; mean over seeds with their range.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=["mean squared error per pixel (continuous)",
                                                        f"reconstruction_c, c = {cutoff:g} (discontinuous)"])
    for i, (metric, colour) in enumerate([("mse", CLASS_COLOURS["continuous"]),
                                          ("reconstruction_c", CLASS_COLOURS["discontinuous"])]):
        d = summary[summary["metric"] == metric]
        if d.empty:
            continue
        g = d.groupby("width")["value"].agg(["mean", "min", "max"]).reset_index()
        fig.add_trace(go.Scatter(x=g["width"], y=g["mean"], mode="lines+markers", name=metric,
                                 line=dict(color=colour),
                                 error_y=dict(type="data", symmetric=False, array=(g["max"] - g["mean"]).tolist(),
                                              arrayminus=(g["mean"] - g["min"]).tolist(), thickness=1)),
                      row=1, col=i + 1)
    fig.update_xaxes(type="log", title_text="hidden width (autoencoder size)")
    fig.update_layout(height=400, legend=dict(orientation="h", y=-0.3))
    return fig
