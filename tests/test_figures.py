"""emergence.app.figures: the presentation arithmetic (intervals, normalisation) and figure structure."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emergence.app import figures, views

INTERVALS = [
    # metric, y, n_examples, stderr -> interval kind, (lo, hi)
    ("exact_match", 0.0, 10, np.nan, "wilson", (0.0, 0.2775)),        # Wilson 1927: 0 of 10
    ("multiple_choice_grade", 0.5, 100, 0.9, "wilson", (0.4038, 0.5962)),   # n known beats a stderr
    ("brier_score", 0.4, 100, 0.05, "stderr", (0.302, 0.498)),        # not a proportion: +-1.96 se
    ("exact_match", 0.3, np.nan, 0.1, "stderr", (0.104, 0.496)),      # n unknown
    ("perplexity", 12.0, np.nan, np.nan, "", (np.nan, np.nan)),       # nothing known: no bar
]


@pytest.mark.parametrize("metric, y, n, se, kind, bounds", INTERVALS, ids=[f"{r[0]}-{r[4] or 'none'}" for r in INTERVALS])
def test_add_intervals(metric, y, n, se, kind, bounds):
    out = figures.add_intervals(pd.DataFrame({"metric": [metric], "y": [y], "n_examples": [n], "stderr": [se]}))
    r = out.iloc[0]
    assert r["interval"] == kind
    for got, want in zip((r["lo"], r["hi"]), bounds):
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=1e-4)


NORMALISE = [
    # metric, y, random baseline -> normalised y, left raw
    ("exact_match", 0.5, 0.5, 0.0, False),          # chance -> 0
    ("exact_match", 1.0, 0.5, 1.0, False),          # perfect -> 1
    ("multiple_choice_grade", 0.25, 0.25, 0.0, False),
    ("exact_match", 0.6, np.nan, 0.6, True),        # no baseline: raw
    ("brier_score", 0.3, 0.5, 0.3, True),           # not a higher-is-better proportion: raw
]


@pytest.mark.parametrize("metric, y, baseline, expected, raw", NORMALISE)
def test_normalise(metric, y, baseline, expected, raw):
    out, left_raw = figures.normalise(pd.DataFrame({"metric": [metric], "y": [y], "random_baseline": [baseline]}))
    assert out["y"].iloc[0] == pytest.approx(expected)
    assert (metric in left_raw) == raw


def test_heatmap_cells_are_clickable_markers():
    s = pd.DataFrame({"task": ["t1", "t1", "t2"], "metric": ["a", "b", "a"], "family": "F", "source": "s",
                      "shots": 0, "emergence_score": [1.0, 2.0, 3.0], "emergent": [False, True, False]})
    fig = figures.heatmap(views.pivot(s, "task", "metric"), "task", "metric", "score")
    heat, cells = fig.data
    assert heat.type == "heatmap" and cells.type == "scatter"
    assert sorted(zip(cells.y, cells.x)) == [("t1", "a"), ("t1", "b"), ("t2", "a")]


def test_heatmap_margins_are_fixed_and_fit_the_labels():
    """The heatmap is drawn once per update (no automatic-margin second pass): its margins come from the
    label widths; tests/test_browser.py checks in Chromium that no label falls outside."""
    def fig_for(tasks, metrics):
        s = pd.DataFrame([(t, m) for t in tasks for m in metrics], columns=["task", "metric"]).assign(
            family="F", source="s", shots=0, emergence_score=1.0, emergent=False)
        return figures.heatmap(views.pivot(s, "task", "metric"), "task", "metric", "score")
    short, long = fig_for(["a", "b"], ["m1", "m2"]), fig_for(["a", "b" * 60], ["m1", "M" * 30])
    for f in (short, long):
        assert f.layout.margin.autoexpand is False
        assert f.layout.xaxis.automargin is False and f.layout.yaxis.automargin is False
    assert long.layout.margin.l - short.layout.margin.l >= figures.label_px("b" * 60) - figures.label_px("b") - 1
    assert short.layout.xaxis.tickangle == 0 and long.layout.xaxis.tickangle == -45
    assert long.layout.margin.b >= 0.7 * figures.label_px("M" * 30)
    # widths as drawn in Chromium on the Explorer (getBoundingClientRect of the tick label), a little above
    for label, drawn in [("continuous · normalized_true_probability", 209.15), ("expemergence", 73.39),
                         ("Yi", 9.71)]:
        assert drawn <= figures.label_px(label) <= 1.2 * drawn
    assert figures.label_px("é") == pytest.approx(1.05 * figures._WIDE_PX)


def test_static_export_gets_automatic_margins_back(monkeypatch):
    """kaleido draws in another font than the browser: a fixed-margin figure is exported with Plotly's own."""
    import plotly.io as pio
    seen = {}
    monkeypatch.setattr(pio, "to_image", lambda fig, **kw: seen.setdefault("fig", fig) and b"png")
    s = pd.DataFrame({"task": ["t1", "t2"], "metric": "a", "family": "F", "source": "s", "shots": 0,
                      "emergence_score": [1.0, 2.0], "emergent": False})
    fig = figures.heatmap(views.pivot(s, "task", "metric"), "task", "metric", "score")
    figures.to_image(fig, "png")
    out = seen["fig"]
    assert out.layout.margin.autoexpand is True and out.layout.xaxis.automargin is True
    assert out.layout.yaxis.automargin is True
    assert fig.layout.margin.autoexpand is False        # the dashboard's figure is left as it was


def test_series_panels_put_thresholded_metrics_first():
    pts = pd.DataFrame({"metric": ["brier_score", "exact_match", "edit_distance"], "curve": "F",
                        "x": [1e9, 1e9, 1e9], "y": [0.2, 0.1, 3.0]})
    fig = figures.series_figure(pts)
    titles = [a.text.split(" ")[0] for a in fig.layout.annotations]
    assert titles == ["exact_match", "brier_score", "edit_distance"]


def test_title_and_two_line_subplot_titles_get_room_above_the_panels():
    from plotly.subplots import make_subplots
    fig = make_subplots(rows=1, cols=3, subplot_titles=["multiple_choice_grade (discontinuous, ↑ better)"] * 3)
    fig.update_layout(title="8 of 75 curves drawn (emergent first, then the largest change); the others: "
                            "“Curves drawn” in the sidebar")
    figures.fit_titles(fig)
    ann_lines = max(a.text.count("<br>") + 1 for a in fig.layout.annotations)
    title_lines = fig.layout.title.text.count("<br>") + 1
    assert ann_lines == 2 and title_lines == 2
    assert fig.layout.margin.t >= 50 + 20 * (title_lines - 1) + 18 * ann_lines
    assert fig.layout.title.yref == "container" and fig.layout.title.yanchor == "top"


def test_long_curve_names_wrap_in_the_legend_and_the_chart_makes_room():
    name = ("expemergence · Pythia · subtask=questions 7021-8425 of 14042 by difficulty · shots=0 · "
            "variant=31.622776601683793_10_undist (insufficient; ES 11.03)")
    text = figures.legend_text(name)
    assert all(len(line) <= figures.LEGEND_LINE for line in text.split("<br>")) and text.count("<br>") == 3
    pts = pd.DataFrame({"metric": "exact_match", "curve": [f"c{i}" for i in range(8) for _ in (0, 1)],
                        "x": [1e8, 1e9] * 8, "y": np.linspace(0, 1, 16)})
    fig = figures.series_figure(pts, labels={f"c{i}": name for i in range(8)})
    assert {t.name for t in fig.data} == {text}
    assert fig.layout.margin.autoexpand is False
    assert fig.layout.margin.r >= figures.label_px("x" * figures.LEGEND_LINE) * 11 / 12 * 0.9
    assert fig.layout.height >= 8 * (17 * 4 + 8)          # eight four-line entries fit beside the panels


def test_series_figure_draws_the_resolution_band_in_each_panel_that_has_one():
    """The grey 1/n band the page's header promises: one rectangle per panel with a known n, on that
    panel's own axes (at 9167b2d it was added before any trace, and Plotly drops a shape on an empty subplot)."""
    pts = pd.DataFrame({"metric": ["exact_match"] * 4 + ["brier_score"] * 4 + ["edit_distance"] * 4,
                        "curve": (["a", "a", "b", "b"]) * 3, "x": [1e8, 1e9] * 6, "y": np.linspace(0.1, 0.9, 12),
                        "band_lo": [0.0] * 8 + [np.nan] * 4, "band_hi": [0.01] * 4 + [0.02] * 4 + [np.nan] * 4})
    fig = figures.series_figure(pts)
    panels = {t.yaxis: t.hovertemplate.split("<extra>")[1].split("<")[0] for t in fig.data}
    bands = {s.yref: (s.y0, s.y1) for s in fig.layout.shapes}
    assert {panels[y]: b for y, b in bands.items()} == {"exact_match": (0.0, 0.01), "brier_score": (0.0, 0.02)}
    assert all(s.xref == s.yref.replace("y", "x") + " domain" and (s.x0, s.x1) == (0, 1) for s in fig.layout.shapes)


def test_series_figure_gives_a_panel_log_y_only_for_a_positive_wide_non_proportion():
    """Losses and perplexities span orders of magnitude: log y where every value of the panel (every curve, drawn or
    not) is positive and the largest is over 20x the smallest, and the metric is not a proportion."""
    y = {"perplexity": [2, 5, 100, 3], "log_likelihood": [0.5, -1, 30, 2], "exact_match": [0.001, 0.5, 0.9, 0.01],
         "brier_score": [0.1, 0.2, 0.3, 0.25]}
    pts = pd.DataFrame([{"metric": m, "curve": c, "x": x, "y": v}
                        for m, ys in y.items() for (c, x), v in zip([("a", 1e8), ("a", 1e9), ("b", 1e8), ("b", 1e9)], ys)])
    # only curve a drawn: the panel's y range still counts b's points (100 on perplexity)
    fig = figures.series_figure(pts, draw=("a",))
    panel = {t.hovertemplate.split("<extra>")[1].split("<")[0]: t.yaxis for t in fig.data}
    kind = {m: fig.layout["yaxis" + panel[m][1:]].type for m in y}
    assert kind == {"perplexity": "log", "log_likelihood": None, "exact_match": None, "brier_score": None}


def test_tick_text_writes_numbers_as_plotly_does():
    """Widths are estimated from these texts: SI suffixes from 10^4 (Plotly's B for 10^9), integers plain."""
    assert [figures._tick_text(v) for v in (0, 1000, 12_000, 1.5e9, 2e12, -0.5, 0.05, 0.35)] == \
        ["0", "1000", "12k", "1.5B", "2T", "−0.5", "0.05", "0.35"]


def test_fit_margins_makes_room_for_what_the_figure_shows():
    """Base margins from the figure's own labels (emergence.app.figures.fit_margins): the left margin grows with the
    y tick labels and the axis title, the right one with a legend beside the plot, the bottom one with slanted
    category labels and a legend below; the automatic margins stay on (the estimate is a floor)."""
    import plotly.graph_objects as go

    def fitted(fig):
        return figures.fit_margins(fig).layout.margin

    short = fitted(go.Figure(go.Bar(x=["a"], y=[0.5])))
    titled = fitted(go.Figure(go.Bar(x=["a"], y=[0.5]), layout=dict(yaxis_title="share")))
    big = fitted(go.Figure(go.Bar(x=["a"], y=[1.5e9])))
    cats = fitted(go.Figure(go.Bar(y=["b" * 40, "c"], x=[1, 2], orientation="h")))
    assert titled.l - short.l == 34
    assert big.l >= short.l + figures.label_px("1.5B") - figures.label_px("0.5") - 1
    assert cats.l >= figures.label_px("b" * 40) + 9
    assert short.autoexpand is None          # Plotly's default: automatic margins on
    # stacked bars: the axis reaches the stack's total, not any one bar
    stacked = go.Figure([go.Bar(x=["a"], y=[600]), go.Bar(x=["a"], y=[600])], layout=dict(barmode="stack"))
    assert figures._tick_labels_px(stacked.layout.yaxis, figures._axis_values(stacked, "y", "y"))[0] == \
        figures.label_px("2000")
    # a legend beside the plot: as wide as its longest entry; one legend entry alone is no legend
    one = fitted(go.Figure(go.Scatter(x=[1], y=[1], name="n" * 30)))
    two = fitted(go.Figure([go.Scatter(x=[1], y=[1], name="n" * 30), go.Scatter(x=[1], y=[1], name="m")]))
    assert one.r < 40 and two.r >= figures.label_px("n" * 30) + 60
    # many long category labels are slanted: room below (and to the right, for the last one)
    labels = [f"metric_name_number_{i}" for i in range(40)]
    slanted = fitted(go.Figure(go.Bar(x=labels, y=np.ones(40))))
    assert slanted.b >= 0.5 * figures.label_px(labels[-1]) and slanted.r > short.r
    # a legend below the plot, in rows: more entries, more room
    def below(n):
        return fitted(go.Figure([go.Scatter(x=[1], y=[1], name=f"a long legend entry number {i}") for i in range(n)],
                                layout=dict(height=460, legend=dict(orientation="h", y=-0.25))))
    assert below(12).b > below(2).b > 60


def test_fit_margins_leaves_fixed_margins_alone():
    """The heatmap and Series detail compute fixed margins of their own (autoexpand off): fit_margins keeps them."""
    s = pd.DataFrame([(t, m) for t in ["a", "b"] for m in ["m1", "m2"]], columns=["task", "metric"]).assign(
        family="F", source="s", shots=0, emergence_score=1.0, emergent=False)
    fig = figures.heatmap(views.pivot(s, "task", "metric"), "task", "metric", "score")
    before = fig.layout.margin.to_plotly_json()
    assert figures.fit_margins(fig).layout.margin.to_plotly_json() == before


def test_curve_order_puts_emergent_curves_first_then_the_widest_change():
    """Emergent first; then by the largest share of a panel's range a curve spans (a flat panel counts a span of
    1, a missing value is skipped); ties by name."""
    rows = [("c1", "A", 0.0), ("c1", "A", 0.2), ("c1", "B", 0.5), ("c1", "B", 0.5),
            ("c2", "A", 0.1), ("c2", "A", 1.0),
            ("c3", "A", 0.3), ("c3", "A", 0.4),
            ("c4", "A", np.nan), ("c4", "A", 0.5),
            ("c5", "A", 0.0), ("c5", "A", 0.2), ("c5", "B", 0.5)]
    pts = pd.DataFrame(rows, columns=["curve", "metric", "y"]).assign(emergent=lambda d: d["curve"] == "c3")
    assert figures.curve_order(pts) == ["c3", "c2", "c1", "c5", "c4"]
    assert figures.curve_order(pts.drop(columns="emergent")) == ["c2", "c1", "c5", "c3", "c4"]


def test_a_series_trace_is_its_points_in_the_order_of_x_with_clipped_bars_and_its_first_verdict():
    """Each (curve, metric) trace: its points sorted by x whatever order they came in, y to 4 significant figures,
    error bars from lo/hi never below 0 (a missing bound stays missing), the model of each point in the hover, and the
    first verdict and first score among its rows (a row without one skipped)."""
    pts = pd.DataFrame({
        "metric": ["exact_match"] * 4 + ["exact_match"] * 2,
        "curve": ["A"] * 4 + ["B"] * 2,
        "x": [1e9, 1e7, 1e8, 1e10, 1e8, 1e7],
        "y": [0.5, 0.123456, 0.3, 0.9, 0.2, 0.1],
        "lo": [0.4, 0.1, np.nan, 0.95, np.nan, np.nan],
        "hi": [0.6, 0.2, np.nan, 0.85, np.nan, np.nan],
        "model": ["m9", "m7", "m8", "m10", "b8", "b7"],
        "verdict": [None, "smooth", "emergent", "smooth", None, None],
        "emergence_score": [np.nan, np.nan, 0.5, 0.7, np.nan, np.nan],
    })
    fig = figures.series_figure(pts, labels={"A": "A", "B": "B"})
    a, b = (next(t for t in fig.data if t.legendgroup == c) for c in ("A", "B"))
    assert list(a.x) == [1e7, 1e8, 1e9, 1e10] and list(a.y) == [0.1235, 0.3, 0.5, 0.9]
    assert [m[0] for m in a.customdata] == ["m7", "m8", "m9", "m10"]
    up, down = list(a.error_y.array), list(a.error_y.arrayminus)
    assert up[0] == 0.07654 and np.isnan(up[1]) and up[2] == pytest.approx(0.1) and up[3] == 0     # hi below y: 0
    assert down[0] == 0.02346 and np.isnan(down[1]) and down[3] == 0                                   # lo above y: 0
    assert a.hovertemplate.endswith("<extra>exact_match: smooth, ES 0.5</extra>")
    assert b.error_y.array is None and b.hovertemplate.endswith("<extra>exact_match</extra>")
