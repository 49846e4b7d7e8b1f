"""emergence.app.pivots: the dashboard's pure analysis of the API's frames (and the views / figures helpers
that use it)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emergence.app import figures, pivots, views
from emergence.analysis.simulate import DEFAULTS


def _cells(rows):
    return pd.DataFrame(rows, columns=["metric", "source", "value", "n_series", "n_scored", "n_decidable",
                                       "n_emergent"])


def test_pivot_order_groups_metrics_by_class_and_sorts_by_series():
    cells = _cells([
        ("brier_score", "a", 0.1, 50, 50, 40, 0),
        ("exact_match", "a", 3.0, 10, 10, 8, 2),
        ("exact_match", "b", 1.0, 5, 5, 5, 0),
        ("multiple_choice_grade", "b", 2.0, 40, 40, 30, 3),
        ("weird", "b", 0.0, 100, 1, 0, 0),
    ])
    rows, cols, labels, n = pivots.pivot_order(cells, "metric", "source")
    # thresholded (discontinuous) first, most series first within a class; unclassified last
    assert rows == ["multiple_choice_grade", "exact_match", "brier_score", "weird"]
    assert cols == ["b", "a"]                        # 145 series in b, 60 in a
    assert labels["exact_match"] == "discontinuous · exact_match"
    assert n == 4


def test_pivot_order_keeps_the_rows_with_most_series():
    cells = _cells([(f"m{i}", "a", 0.0, i + 1, 0, 0, 0) for i in range(10)])
    rows, _, _, n = pivots.pivot_order(cells.rename(columns={"metric": "task"}), "task", "source", max_rows=3)
    assert sorted(rows) == ["m7", "m8", "m9"] and n == 10


def test_heatmap_shows_class_labels_and_keeps_raw_values_for_the_click():
    cells = views.pivot(pd.DataFrame({
        "metric": ["exact_match", "brier_score"], "source": ["s", "s"], "task": ["t", "t"], "family": ["f", "f"],
        "shots": [0, 0], "emergence_score": [1.0, 2.0], "emergent": [False, False],
        "verdict": ["smooth", "smooth"]}), "metric", "source")
    fig = figures.heatmap(cells, "metric", "source", "score")
    assert list(fig.data[0].y) == ["exact_match", "brier_score"]
    assert list(fig.layout.yaxis.ticktext) == ["discontinuous · exact_match", "continuous · brier_score"]
    assert set(fig.data[1].y) == {"exact_match", "brier_score"}       # the clickable markers: raw values


def test_filter_values_include_the_sources_spellings():
    s = pd.DataFrame({"source": ["a", "b"], "metric": ["acc", "em"], "source_metric": ["accuracy", None],
                      "family": ["F", "G"], "source_family": ["f", "g"], "shots": [0.0, 5.0]})
    out = pivots.filter_values(s, ("source", "metric", "family", "shots", "task"))
    assert out == {"source": ["a", "b"], "metric": ["acc", "accuracy", "em"], "family": ["F", "G", "f", "g"],
                   "shots": [0, 5]}


def test_scale_coverage_counts_series_with_three_scales():
    s = pd.DataFrame({"source": ["a", "a", "a", "b"], "scale_axis": ["params", "params", "tokens", "params"],
                      "n_scales": [3, 2, 5, None]})
    out = pivots.scale_coverage(s).set_index("source")
    assert out.loc["a", "params (≥3 scales)"] == 1 and out.loc["a", "tokens (≥3 scales)"] == 1
    assert out.loc["b", "params (≥3 scales)"] == 0


def test_count_predictable_needs_four_scales():
    assert pivots.count_predictable(pd.DataFrame({"n_scales": [3, 4, 9, None]})) == 2
    assert pivots.count_predictable(pd.DataFrame()) == 0


def test_insufficient_reasons_group_by_first_words():
    s = pd.DataFrame({"verdict": ["insufficient", "insufficient", "smooth", "insufficient"],
                      "verdict_reason": ["tested on its primary axis (params): 3 sizes: needs 4",
                                         "3 sizes: needs 4", "", "no noise model (no stderr)"]})
    n, reasons = pivots.insufficient_reasons(s)
    assert n == 3 and reasons == [("3 sizes", 2), ("no noise model", 1)]
    # equal counts keep the order the reasons first appear in; a reason per series of many is grouped alike
    many = pd.DataFrame({"verdict": "insufficient",
                         "verdict_reason": ["zeta (z)", "alpha: a", "zeta: again", "alpha (b)", "mid"] * 200})
    assert pivots.insufficient_reasons(many) == (1000, [("zeta", 400), ("alpha", 400), ("mid", 200)])


def test_select_rows_keeps_all_on_an_empty_choice():
    df = pd.DataFrame({"source": ["a", "b", "b"], "kind": ["x", "x", "y"]})
    assert len(pivots.select_rows(df, source=[], kind=None)) == 3
    assert pivots.select_rows(df, source=["b"], kind=["y"]).index.tolist() == [2]


def _pair_rows():
    return pd.DataFrame({
        "source": ["s", "s", "s"], "task": ["t1", "t2", "t3"], "subtask": ["", "", "x"], "family": ["F", "F", "G"],
        "shots": pd.array([0, 0, None], dtype="Int64"), "prompt_variant": ["", "", ""], "variant": ["", "", ""],
        "verdict_a": ["smooth", "emergent", "smooth"], "verdict_b": ["smooth", "smooth", "smooth"],
        "lead_decades": [2.0, 0.5, np.nan]})


def test_rank_groups_puts_differing_verdicts_first_then_the_largest_lead():
    sel, order = pivots.rank_groups(_pair_rows())
    assert order == ["s · t2 · F · 0-shot", "s · t1 · F · 0-shot", "s · t3 · x · G · shots unknown"]
    assert sel["label"].tolist() == ["s · t1 · F · 0-shot", "s · t2 · F · 0-shot", "s · t3 · x · G · shots unknown"]


def test_prediction_view_ids_shown_rows_and_curvature_counts():
    pred = pd.DataFrame({
        "source": ["s"] * 4, "task": ["t"] * 4, "subtask": [""] * 4, "metric": ["accuracy"] * 3 + ["loss"],
        "family": ["F", "F", "G", "F"], "shots": [0] * 4, "prompt_variant": [""] * 4, "variant": [""] * 4,
        "status": ["ok", "ok", "ok", "failed"], "preferred": [True, False, True, True],
        "form": ["loglog", "linear", "loglog", "power_law"], "metric_class": ["discontinuous"] * 3 + ["continuous"],
        "curvature_class": ["convex", "convex", "", None]})
    p, shown, counts = pivots.prediction_view(pred, "preferred", ["source", "task", "family", "no_such_column"])
    assert p["series_id"].tolist() == ["s | t | F", "s | t | F", "s | t | G", "s | t | F"]
    assert shown.index.tolist() == [0, 2] and shown["label"].iloc[0] == "s · t · F · 0-shot · accuracy"
    assert counts.to_dict("records") == [{"metric_class": "discontinuous", "curvature_class": "convex", "n": 1}]
    _, shown, _ = pivots.prediction_view(pred, "linear", ["source"])
    assert shown.index.tolist() == [1]


def test_pair_points_keep_the_group_variant_and_the_metric_reading():
    pts = pd.DataFrame({"variant": ["", "digits", "characters", "other"], "y": [1, 2, 3, 4]})
    out = pivots.pair_points(pts, "exact_match|edit_distance[digits]", "")
    assert out["variant"].tolist() == ["", "digits"]


# ---------------------------------------------------------------- views: state the pages used to build
def test_simulator_defaults_come_from_the_simulator():
    s = views.ViewState()
    assert (s.alpha, s.length, s.choices, s.n) == (DEFAULTS["alpha"], DEFAULTS["length"], DEFAULTS["n_choices"],
                                                    DEFAULTS["n_examples"])
    assert s.log10c == pytest.approx(math.log10(DEFAULTS["c"]), abs=0.05)
    scales = np.logspace(np.log10(views.SIM_SCALES[0]), np.log10(views.SIM_SCALES[1]), views.SIM_SCALES[2])
    assert np.allclose(scales, DEFAULTS["scales"])


def test_rescoring_default_and_the_outputs_view():
    s = views.ViewState(page="rescoring")
    assert views.rescoring_default(s, ["expemergence", "pythia"]).source == ("expemergence",)
    assert views.rescoring_default(s, ["pythia"]) == s
    assert views.rescoring_default(s.with_filters(source=["pythia"]), ["expemergence"]).source == ("pythia",)
    g = _pair_rows().iloc[2]
    t = views.outputs_view(g, "tokens")
    assert (t.page, t.source, t.task, t.subtask, t.family, t.shots, t.x) == \
        ("series", ("s",), ("t3",), ("x",), ("G",), (), "tokens")
    assert views.pair_metrics("exact_match|edit_distance[tokens=digits]") == ["exact_match", "edit_distance"]


def test_the_explorer_default_is_a_pivot_a_link_can_name():
    d = views.ViewState(page="explorer", **views.EXPLORER_DEFAULT)
    assert d.rows != d.cols and {d.rows, d.cols} <= set(views.DIMENSIONS)
    # it differs from the ViewState default, so it is written into the URL and a reload keeps it
    assert {"rows", "cols"} <= set(views.to_query_params(d))
    # an old link that names nothing but its filters still opens task x metric
    old, _ = views.from_query_params({"page": "explorer", "source": "expemergence"})
    assert (old.rows, old.cols) == ("task", "metric")


# ---------------------------------------------------------------- figures: legible with many curves
def _points(n_curves):
    rows = []
    for i in range(n_curves):
        for x, y in ((1e8, 0.1), (1e9, 0.1 + 0.02 * i), (1e10, 0.1 + 0.03 * i)):
            rows.append({"metric": "exact_match", "curve": f"fam{i:02d}", "x": x, "y": y, "emergent": i == 3})
    return pd.DataFrame(rows)


def test_series_figure_draws_the_curves_that_matter_and_sends_no_other():
    fig = figures.series_figure(_points(30), max_visible=8, more="the others: in the sidebar")
    drawn = [t.name for t in fig.data]
    assert all(t.visible is None or t.visible is True for t in fig.data)   # nothing waits in the legend
    assert len(drawn) == 8
    ranked = [t.name for t in sorted(fig.data, key=lambda t: t.legendrank)]
    assert ranked[0] == "fam03"                                              # emergent first
    assert set(drawn) - {"fam03"} == {f"fam{i:02d}" for i in range(29, 22, -1)}   # then the largest change
    assert fig.layout.legend.orientation == "v" and fig.layout.legend.x > 1      # beside the panels, not over
    assert fig.layout.title.text == ("8 of 30 curves drawn (emergent first, then the largest change); "
                                     "the others: in the sidebar")
    assert ranked == figures.curve_order(_points(30))[:8]


def test_series_figure_draws_the_curves_a_view_names():
    fig = figures.series_figure(_points(30), draw=("fam01", "fam00", "nope"))
    assert sorted(t.name for t in fig.data) == ["fam00", "fam01"]
    assert fig.layout.title.text == "2 of 30 curves drawn"
    # none of the named curves is there: the default, not an empty chart
    assert len(figures.series_figure(_points(30), draw=("nope",)).data) == 8


def test_series_figure_takes_the_curve_order_the_page_has_already():
    """Series detail passes the order it lists the curves in (curve_order of the same points): the figure is the
    one it would order itself; an order given is the one followed (its first curves drawn, colours by it)."""
    pts = _points(30)
    order = figures.curve_order(pts)
    assert figures.series_figure(pts, order=order).to_json() == figures.series_figure(pts).to_json()
    fig = figures.series_figure(pts, order=sorted(order), max_visible=3)
    assert [t.name for t in sorted(fig.data, key=lambda t: t.legendrank)] == ["fam00", "fam01", "fam02"]


def test_series_figure_with_few_curves_draws_them_all():
    fig = figures.series_figure(_points(3))
    assert len(fig.data) == 3 and fig.layout.title.text is None


def test_drawn_curves_travel_in_the_url_and_old_links_draw_the_default():
    s = views.ViewState(page="series", task=("arithmetic",), curve=("BIG-G T=0 · 2-shot", "PaLM · 0-shot"))
    assert views.to_query_params(s)["curve"] == ["BIG-G T=0 · 2-shot", "PaLM · 0-shot"]
    assert views.from_query_params(views.to_query_params(s))[0] == s
    old, notes = views.from_query_params({"page": "series", "task": "arithmetic"})
    assert old.curve == () and not notes
    # which curves are drawn never changes the rows a view downloads
    assert views.table_key(s) == views.table_key(views.ViewState(page="series", task=("arithmetic",)))
    assert views.cli_command(s) == views.cli_command(views.ViewState(page="series", task=("arithmetic",)))


def test_long_titles_wrap_instead_of_clipping():
    long = "detection lead: log10(size where the thresholded metric is first detected) minus the continuous one's"
    w = figures.wrap_title(long, 40)
    assert all(len(line) <= 40 for line in w.split("<br>")) and w.replace("<br>", " ") == long
    assert figures.wrap_title("word " * 100, 20, max_lines=2).endswith("…")
    import plotly.graph_objects as go
    fig = go.Figure()
    fig.update_layout(title=long)
    figures.fit_titles(fig, width=40)
    assert fig.layout.title.text.count("<br>") == 2 and fig.layout.margin.t >= 90


# ---------------------------------------------------------------- the first-start build (emergence.ingestion.build)
def test_public_sources_leave_out_what_may_not_be_redistributed(monkeypatch):
    from emergence.ingestion import build, catalog
    monkeypatch.delenv("EMERGENCE_PUBLIC", raising=False)
    assert build.public_sources() == (list(catalog.CATALOG), [])
    monkeypatch.setenv("EMERGENCE_PUBLIC", "1")
    monkeypatch.delenv("EMERGENCE_INCLUDE_UNLICENSED", raising=False)
    names, notes = build.public_sources()
    closed = [n for n, s in catalog.CATALOG.items() if not s.redistributable]
    assert not set(closed) & set(names)
    assert len(notes) == sum(catalog.CATALOG[n].downloadable for n in closed)
    monkeypatch.setenv("EMERGENCE_INCLUDE_UNLICENSED", "yes")
    assert build.public_sources()[0] == list(catalog.CATALOG)


def test_a_build_that_can_have_nothing_records_the_error(tmp_path, monkeypatch):
    from emergence.ingestion import build
    monkeypatch.setenv("EMERGENCE_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("EMERGENCE_OFFLINE", "1")
    monkeypatch.setattr(build.catalog, "CATALOG", {})
    b = build.start_build(build.new_build_state(), tmp_path / "x.duckdb")
    b["thread"].join(30)
    assert not build.build_running(b) and b["run"] == 1
    assert b["error"].startswith("FileNotFoundError: no catalogue source") and b["out"] is None
    assert not (tmp_path / "x.duckdb").exists()


def test_build_progress_is_read_into_fractions():
    from emergence.ingestion import build
    b = build.new_build_state()
    p = build._progress_into(b)
    from emergence.ingestion.sources.base import Progress
    p(Progress("parsing pythia from /data", "source", 3, 5))
    p("pythia: 100/400 files")
    p("a plain log line")
    assert b["frac"] == pytest.approx(0.4) and b["fetch"] == pytest.approx(0.25) and b["log"] == ["a plain log line"]


def test_score_boxes_are_tukey_boxes_in_class_order():
    s = pd.DataFrame({"metric": ["brier_score"] * 5 + ["exact_match"] * 6,
                      "emergence_score": [1, 2, 3, 4, 100, 0, 0, 1, 1, 2, np.nan]})
    b = pivots.score_boxes(s).set_index("metric")
    assert b.index.tolist() == ["exact_match", "brier_score"]          # thresholded first
    assert b.loc["brier_score", ["q1", "median", "q3"]].tolist() == [2, 3, 4]
    assert b.loc["brier_score", "upperfence"] == 4 and b.loc["brier_score", "lowerfence"] == 1   # 100: an outlier
    assert b.loc["exact_match", "n"] == 5
    fig = figures.score_distribution(s)
    assert [t.name for t in fig.data] == ["discontinuous", "continuous"] and fig.data[1].median == (3.0,)


def test_a_link_carries_a_section_only_when_it_is_not_the_pages_first():
    for page, sections in views.PAGE_SECTIONS.items():
        assert views.canonical_section(page, sections[0]) == "" and views.canonical_section(page, "") == ""
        assert all(views.canonical_section(page, s) == s for s in sections[1:])
        assert views.section_of(views.ViewState(page=page)) == sections[0]
    assert views.canonical_section("overview", "passuntil") == ""          # another page's
    assert views.canonical_section("explorer", "metric") == ""             # a page without sections



def test_a_curve_drawn_under_two_metrics_gives_each_metrics_verdict():
    """One curve spans a thresholded and a continuous panel of the same outputs: its legend must not pass
    one metric's verdict off as the curve's."""
    rows = [("brier_score", "smooth", 0.3), ("multiple_choice_grade", "emergent", 5.0)]
    # panel order: thresholded (multiple choice grade) first
    assert pivots.curve_label("F", rows) == "F (multiple_choice_grade: emergent; brier_score: smooth) ★"
    assert pivots.curve_label("F", [(m, "smooth", e) for m, _, e in rows]) == "F (smooth under both metrics)"
    assert pivots.curve_label("F", rows[:1]) == "F (smooth; ES 0.30)"
    assert pivots.curve_label("F", [("exact_match", None, float("nan"))]) == "F (?; ES –)"


def test_curve_series_maps_each_series_to_its_curve_in_the_curves_order():
    pts = pd.DataFrame({"curve": ["A", "A", "B", "B"], "source": "s", "task": "t", "subtask": "",
                        "metric": ["m1", "m2", "m1", "m2"], "family": ["fa", "fa", "fb", "fb"], "shots": [0, 0, 0, 0],
                        "variant": ""})
    scores = pd.DataFrame({"source": "s", "task": "t", "subtask": "", "metric": ["m1", "m2", "m1", "m2", "m1"],
                           "family": ["fa", "fa", "fb", "fb", "fc"], "shots": [0, 0, 0, 0, 0], "variant": "",
                           "verdict": ["smooth", "emergent", "no signal", "smooth", "smooth"]})
    out = pivots.curve_series(pts, scores)
    assert out.columns[0] == "curve" and len(out) == 4            # fc has no point: left out
    assert out.set_index(["curve", "metric"])["verdict"].to_dict() == {
        ("A", "m1"): "smooth", ("A", "m2"): "emergent", ("B", "m1"): "no signal", ("B", "m2"): "smooth"}
    assert out["shots"].dtype == scores["shots"].dtype          # the scores' own values, not the matching form
    assert pivots.curve_series(pts, scores, ["B", "nope"])["curve"].tolist() == ["B", "B"]
    assert pivots.curve_series(pts, scores, ["B", "A"])["curve"].tolist() == ["B", "B", "A", "A"]


def test_each_curve_and_metric_carries_its_own_series_verdict_on_real_data(real_store):
    """On the real arithmetic task (expemergence: accuracy and Brier scores of the same outputs), every
    plotted (curve, metric) carries the verdict of the series with that family, variant and metric, looked
    up here independently in the series table; a curve whose metrics disagree lists both in its legend."""
    from emergence import api
    db, _ = real_store
    f = dict(source=["expemergence"], task=["arithmetic"], subtask=[""])
    obs, s = api.observations(**f, db=db), api.series(**f, db=db)
    pts, labels = api.plot_points(obs, s, x="params")
    want = s.assign(variant=s["variant"].fillna("")).set_index(["family", "variant", "metric"])["verdict"]
    got = pts.drop_duplicates(["curve", "metric"])
    family = got["curve"].str.split(" · ").str[0]
    variant = got["curve"].str.extract(r"variant=(\S+)")[0].replace("(none)", "")
    assert len(got) > 50 and variant.notna().all()
    keys = list(zip(family, variant, got["metric"]))
    assert got["verdict"].fillna("?").tolist() == [want.get(k, "?") for k in keys]
    mixed = got.groupby("curve")["verdict"].nunique()
    mixed = mixed[mixed > 1].index
    assert len(mixed) >= 2, "arithmetic has curves whose two metrics' verdicts differ"
    for c in mixed:
        for m, v in got.loc[got["curve"] == c, ["metric", "verdict"]].itertuples(index=False):
            assert f"{m}: {v}" in labels[c]
    table = api.curve_verdicts(pts, s, list(mixed))
    assert set(table["curve"]) == set(mixed) and table["curve"].iloc[0] == mixed[0]
    assert (table["family"] == table["curve"].str.split(" · ").str[0]).all()


def test_a_curve_is_named_by_the_key_parts_that_vary():
    """Family and source by their values, every other part as ``part=value``; a missing or empty value reads
    ``(none)`` (a family ``?``); values as Python prints them (shots 0 as '0', a float 1.5 as '1.5')."""
    keys = pd.DataFrame({"family": pd.array(["GPT-3", None, "OPT"], dtype="str"),
                         "source": ["bb", "bb", "lm"],
                         "shots": pd.array([0, 3, None], dtype="Int64"),
                         "series_model": ["", "pythia-70m", None],
                         "prompt_variant": [1.5, float("nan"), "p2"]})
    assert pivots.curve_names(keys, ["family", "source", "shots", "series_model", "prompt_variant"]) == [
        "GPT-3 · bb · shots=0 · model=(none) · prompt=1.5",
        "? · bb · shots=3 · model=pythia-70m · prompt=(none)",
        "OPT · lm · shots=(none) · model=(none) · prompt=p2"]
    assert pivots.curve_names(keys, ["family"]) == ["GPT-3", "?", "OPT"]
    assert pivots.curve_names(keys.iloc[:0], ["family"]) == []
