"""The dashboard under Streamlit's AppTest, on the fixture store built in code (tests/fixture_store.py).

Every page renders without an exception and shows content; every main control changes what is shown,
asserted on the plotted data (``json.loads(at.get("plotly_chart")[i].proto.spec)``).  Needs nothing outside the
repository; the same pages on the real store are in tests/test_app_real.py (marker ``real``).
"""
from __future__ import annotations

import json
import math
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest

import fixture_store as fx
from conftest import PAGES, app_on, arr, html_tables, open_page, parse_html_table, qp, spec, specs, text, ys
from emergence.app import views


@pytest.fixture(scope="module", autouse=True)
def app_env(fixture_store):
    """Point the app at the session's fixture store; never build one on first start."""
    with app_on(fixture_store) as db:
        yield db


def boxes(fig: dict) -> list:
    """The box statistics of a box chart drawn from precomputed quartiles (emergence.app.pivots.score_boxes)."""
    return [v for t in fig["data"] for k in ("q1", "median", "q3", "lowerfence", "upperfence")
            for v in arr(t.get(k))]


# ---------------------------------------------------------------- every page renders, says what it shows


@pytest.mark.parametrize("page, params, n_charts", PAGES, ids=[p[0] for p in PAGES])
def test_page_renders_on_the_fixture_store(page, params, n_charts):
    at = open_page(page, **params)
    assert at.title[0].value == views.PAGE_TITLES[page]
    assert "arxiv.org/abs/2304.15004" in text(at) and "arxiv.org/abs/2310.03262" in text(at)
    assert len(at.get("plotly_chart")) >= n_charts
    assert not at.warning, [w.value for w in at.warning]
    # the share link closes the page, as inline code (no code box: BENCHMARKS.md section 9), and holds the view
    link = at.markdown[-1].value
    assert link.startswith("`") and link.endswith("`"), link
    shown, _ = views.from_query_params(parse_qs(urlparse(link.strip("`")).query, keep_blank_values=True))
    assert shown.page == page and shown == at.session_state["_view"]
    assert not at.code, [c.value for c in at.code]


def test_a_link_opens_its_page_and_view():
    at = open_page("explorer", rows="family", source="expemergence")
    assert at.title[0].value == "Explorer"
    assert at.selectbox(key="w_explorer_rows").value == "family"
    assert at.multiselect(key="w_explorer_source").value == ["expemergence"]


def test_malformed_link_shows_a_notice_and_keeps_working():
    at = open_page("explorer", rows="nonsense", shots="five", utm="x")
    notes = " ".join(w.value for w in at.warning)
    assert "rows='nonsense'" in notes and "shots='five'" in notes and "'utm'" in notes
    assert at.selectbox(key="w_explorer_rows").value == "task"


def test_link_from_another_store_warns():
    at = open_page("overview", fp="0123456789ab")
    assert any("fingerprint `0123456789ab`" in w.value for w in at.warning)


def test_filter_values_the_store_lacks_are_dropped_with_a_notice():
    at = open_page("explorer", task=["arithmetic", "no-such-task"])
    assert any("no-such-task" in w.value for w in at.warning)
    assert at.multiselect(key="w_explorer_task").value == ["arithmetic"]


# ---------------------------------------------------------------- Explorer
def test_explorer_controls_change_the_heatmap():
    at = open_page("explorer", source="expemergence")
    heat = spec(at)["data"][0]
    assert "arithmetic" in heat["y"]
    at.selectbox(key="w_explorer_rows").set_value("family").run()
    heat2 = spec(at)["data"][0]
    assert "Pythia" in heat2["y"] and "arithmetic" not in heat2["y"]
    assert qp(at, "rows") == ["family"]
    at.radio(key="w_explorer_cell").set_value("share").run()
    z = [v for v in arr(spec(at)["data"][0]["z"]) if v is not None and not math.isnan(v)]
    assert z and all(0 <= v <= 1 for v in z)
    at.selectbox(key="w_explorer_cols").set_value("task").run()
    assert "arithmetic" in spec(at)["data"][0]["x"]
    at.multiselect(key="w_explorer_task").set_value(["arithmetic"]).run()
    assert spec(at)["data"][0]["x"] == ["arithmetic"]
    at.selectbox(key="w_explorer_x").set_value("flops").run()
    assert qp(at, "x") == ["flops"] and not at.exception


def test_explorer_cell_opens_its_series():
    at = open_page("explorer", source="expemergence", rows="family", cols="task")
    picker = at.selectbox(key="explorer_cell")
    choice = next(o for o in picker.options if o.startswith("Pythia × arithmetic"))
    picker.set_value(choice).run()
    link = at.get("page_link")[0].proto
    target, notices = views.from_query_params(
        {k: v for k, v in __import__("urllib.parse").parse.parse_qs(link.query_string).items()})
    assert notices == [] and target.page == "series"
    assert target.family == ("Pythia",) and target.task == ("arithmetic",) and target.source == ("expemergence",)


def test_explorer_heatmap_click_opens_the_cells_series_before_the_explorer_is_drawn():
    """A click on a cell is in the session state when the Explorer's run starts: the page opens Series detail at
    once (drawing the Explorer again only to leave it cost each drill-down a rerun in the browser)."""
    at = open_page("explorer", source="expemergence", rows="family", cols="task")
    at.session_state["explorer_heatmap"] = {"selection": {"points": [{"x": "arithmetic", "y": "Pythia"}],
                                                          "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Series detail"
    assert qp(at, "family") == ["Pythia"] and qp(at, "task") == ["arithmetic"] and qp(at, "source") == ["expemergence"]
    assert at.session_state["_view"] == views.drill_down(views.ViewState(page="explorer", source=("expemergence",),
                                                                         rows="family", cols="task",
                                                                         fp=at.session_state["_view"].fp),
                                                         "Pythia", "arithmetic")


# ---------------------------------------------------------------- Series detail
def test_series_controls_change_the_curves():
    at = open_page("series", source="expemergence", task="arithmetic")
    fig = spec(at)
    titles = {a["text"] for a in fig["layout"]["annotations"]}
    assert any(t.startswith("multiple_choice_grade") for t in titles) and any(t.startswith("brier") for t in titles)
    n_traces = len(fig["data"])
    at.multiselect(key="w_series_family").set_value(["Pythia"]).run()
    assert 0 < len(spec(at)["data"]) < n_traces
    assert all(t["name"].startswith("Pythia") for t in spec(at)["data"])
    x_params = sorted(v for t in spec(at)["data"] for v in arr(t["x"]))
    at.selectbox(key="w_series_x").set_value("tokens").run()
    x_tokens = sorted(v for t in spec(at)["data"] for v in arr(t["x"]))
    assert x_tokens and x_tokens != x_params
    at.selectbox(key="w_series_task_one").set_value("hindu_knowledge").run()
    assert qp(at, "task") == ["hindu_knowledge"]


def test_series_curves_drawn_are_chosen_in_the_sidebar_and_kept_in_the_link():
    at = open_page("series", source="expemergence", task="arithmetic")
    pick = at.multiselect(key="w_series_curve")
    every = list(pick.options)
    assert len(every) >= 2 and list(pick.value) == every[:8]          # the first 8 of curve_order by default
    assert {t["legendgroup"] for t in spec(at)["data"]} == set(every[:8])
    one = every[-1]
    pick.set_value([one]).run()
    assert qp(at, "curve") == [one] and {t["legendgroup"] for t in spec(at)["data"]} == {one}
    again = open_page("series", source="expemergence", task="arithmetic", curve=[one, "not a curve"])
    assert {t["legendgroup"] for t in spec(again)["data"]} == {one} and qp(again, "curve") == [one]
    # the default again: nothing in the link
    at.multiselect(key="w_series_curve").set_value([]).run()
    assert qp(at, "curve") == [] and {t["legendgroup"] for t in spec(at)["data"]} == set(every[:8])
    at.multiselect(key="w_series_curve").set_value([one]).run()
    at.selectbox(key="w_series_task_one").set_value("hindu_knowledge").run()
    assert qp(at, "curve") == []                                        # a new task starts from its own curves


def test_series_verdict_table_lists_each_drawn_curve_under_each_metric_as_the_chart_does():
    """The table under the chart has a row per drawn (curve, metric), the chart a trace per (curve, metric),
    and each trace's hover gives its own row's verdict (a curve's two metrics can disagree)."""
    at = open_page("series", source="expemergence", task="arithmetic")
    assert not at.dataframe                 # no data grid on the page: its tables are static HTML (small_table)
    table = html_tables(at)[0]
    traces = spec(at)["data"]
    panel = {id(t): t["hovertemplate"].split("<extra>")[1].split(":")[0] for t in traces}    # its metric
    drawn = {(t["legendgroup"], panel[id(t)]) for t in traces}
    assert set(zip(table["curve"], table["metric"])) == drawn and len(table) == len(traces)
    verdict = dict(zip(zip(table["curve"], table["metric"]), table["verdict"]))
    for t in traces:
        assert f"{panel[id(t)]}: {verdict[(t['legendgroup'], panel[id(t)])]}" in t["hovertemplate"]
    # one curve drawn: its rows only, and every series of the view on request
    one = list(at.multiselect(key="w_series_curve").options)[-1]
    at.multiselect(key="w_series_curve").set_value([one]).run()
    assert set(html_tables(at)[0]["curve"]) == {one}
    at.toggle(key="series_show_all").set_value(True).run()     # every series of the view: a grid, on request
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == len(table) > len(html_tables(at)[0])


def test_series_normalisation_changes_the_values():
    at = open_page("series", source="obsscaling", task="bbh", subtask="boolean_expressions", metric="exact_match")
    raw = ys(spec(at))
    at.toggle(key="w_series_norm").set_value(True).run()
    norm = ys(spec(at))
    assert len(raw) == len(norm) and raw != norm
    assert min(norm) < 0 < max(raw)     # chance (0.5 on boolean expressions) maps to 0
    assert qp(at, "norm") == ["1"]


def test_series_subtask_choice():
    at = open_page("series", source="obsscaling", task="bbh")
    assert at.selectbox(key="w_series_subtask_one").value == ""   # the task as a whole by default
    at.selectbox(key="w_series_subtask_one").set_value("boolean_expressions").run()
    assert qp(at, "subtask") == ["boolean_expressions"] and len(spec(at)["data"]) > 0


# ---------------------------------------------------------------- Overview
def test_overview_leads_with_the_paired_evidence_and_filters_change_it():
    at = open_page("overview")
    sentence = at.markdown[1].value
    assert sentence.startswith("Of ") and "pairs of series scored from the same outputs" in sentence
    assert len(at.get("plotly_chart")) == 3          # the leads, then the default section's two charts
    assert not any("pair" in d.value.columns and "mirage" in d.value.columns for d in at.dataframe)
    at.toggle(key="overview_show_pairs").set_value(True).run()
    assert any("pair" in d.value.columns and "mirage" in d.value.columns for d in at.dataframe)
    states = {t["name"]: arr(t["y"]) for t in spec(at, 2)["data"]}          # verdicts per metric class
    assert set(states) == {"emergent", "smooth", "insufficient", "no signal"}
    at.multiselect(key="w_overview_source").set_value(["inverse-scaling-eval-pipeline"]).run()
    assert at.markdown[1].value != sentence
    assert {t["name"]: arr(t["y"]) for t in spec(at, 2)["data"]} != states
    at.radio(key="w_overview_section").set_value("score").run()
    assert qp(at, "section") == ["score"] and len(at.get("plotly_chart")) == 2   # the leads and the scores
    scores = sorted(boxes(spec(at, 1)))
    at.selectbox(key="w_overview_x").set_value("step").run()
    assert sorted(boxes(spec(at, 1))) != scores and qp(at, "x") == ["step"]


def test_overview_shows_one_section_at_a_time_and_the_link_keeps_it():
    at = open_page("overview", section="metric")
    assert at.radio(key="w_overview_section").value == "metric"
    per_metric = spec(at, 1)
    title = per_metric["layout"]["title"]["text"].replace("<br>", " ")
    assert len(at.get("plotly_chart")) == 2 and "per metric" in title and "per metric class" not in title
    assert any("share_emergent" in d.value.columns and "metric" in d.value.columns for d in at.dataframe)
    at.radio(key="w_overview_section").set_value("class").run()
    assert qp(at, "section") == [] and len(at.get("plotly_chart")) == 3      # the default: not in the link
    # a link made before sections existed opens on the default, the per-class verdicts
    old = open_page("overview", source="inverse-scaling-eval-pipeline")
    assert old.radio(key="w_overview_section").value == "class" and len(old.get("plotly_chart")) == 3


@pytest.mark.parametrize("page, params", [("overview", {}), ("rescoring", {}),
                                          ("predictability", {"source": "pythia", "task": "lambada_openai"})])
def test_long_pages_show_one_section_and_links_name_it(page, params):
    """Each section of a long page draws something of its own; the first is the default (no 'section' in the
    link); a link naming another page's section, or none, opens on the first."""
    seen = []
    for i, sec in enumerate(views.PAGE_SECTIONS[page]):
        at = open_page(page, section=sec, **params)
        assert at.radio(key=f"w_{page}_section").value == sec and qp(at, "section") == ([] if i == 0 else [sec])
        drawn = [json.dumps(f["layout"].get("title", {})) + json.dumps(f["layout"].get("annotations", []))
                 for f in specs(at)] + [",".join(d.value.columns) for d in at.dataframe]
        assert drawn and drawn not in seen, sec
        seen.append(drawn)
    other = next(s for p, secs in views.PAGE_SECTIONS.items() if p != page for s in secs)
    at = open_page(page, section=other, **params)
    assert at.radio(key=f"w_{page}_section").value == views.PAGE_SECTIONS[page][0] and not at.warning


def test_overview_shows_one_fdr_family_per_question():
    at = open_page("overview", section="fdr")
    fams = [df for df in (d.value for d in at.dataframe) if "fdr_family" in df.columns][0]
    assert set(fams["fdr_family"]) == {"size", "step"} and (fams["n_tested"] > 0).all()


# ---------------------------------------------------------------- Re-scoring
def test_rescoring_pair_and_outputs():
    at = open_page("rescoring")
    pairs = at.selectbox(key="w_rescoring_pair").options
    assert len(pairs) >= 2
    summary = at.markdown[1].value
    at.selectbox(key="w_rescoring_pair").set_value(pairs[-1].replace("  vs  ", "|")).run()
    assert at.markdown[1].value != summary and qp(at, "pair") == [pairs[-1].replace("  vs  ", "|")]
    curves = {t["name"] for t in spec(at, 1)["data"]}
    groups = at.selectbox(key="w_rescoring_group").options
    at.selectbox(key="w_rescoring_group").set_value(groups[-1]).run()
    assert {t["name"] for t in spec(at, 1)["data"]} != curves or len(groups) == 1


def test_rescoring_replicates_schaeffer_fig3_on_completions():
    at = open_page("rescoring", section="replications")
    fig = next(f for f in specs(at) if "operand digits" in f["layout"].get("title", {}).get("text", ""))
    assert {t["name"] for t in fig["data"] if t.get("showlegend", True) is not False} == {
        "1x1 (1-2 digits)", "1x2 (2-3 digits)", "2x2 (3-4 digits)"}


# ---------------------------------------------------------------- Predictability
def test_predictability_form_changes_the_predictions():
    at = open_page("predictability", source="pythia", task="lambada_openai")
    pred = ys(spec(at))
    at.selectbox(key="w_predictability_form").set_value("linear").run()
    assert ys(spec(at)) != pred
    assert not any("metric_class" in d.value.columns for d in at.dataframe)          # the tables on request
    at.toggle(key="predictability_tables").set_value(True).run()
    tables = [d.value for d in at.dataframe if "metric_class" in d.value.columns]
    assert len(tables) == 2 and "metric" in tables[1].columns and qp(at, "form") == ["linear"]
    at.radio(key="w_predictability_section").set_value("passuntil").run()
    assert qp(at, "section") == ["passuntil"] and qp(at, "form") == ["linear"]
    passuntil = next(spec(at, i) for i in range(len(at.get("plotly_chart")))
                     if "log(-log PU)" in json.dumps(spec(at, i)["layout"].get("annotations", [])))
    laws = [t for t in passuntil["data"] if "law" in (t.get("name") or "")]
    assert laws, "the PassUntil law is drawn on monkeys-powerlaws"


# ---------------------------------------------------------------- Mirage simulator
@pytest.mark.parametrize("key, value", [("w_simulator_alpha", -0.6), ("w_simulator_log10c", 9.0),
                                        ("w_simulator_length", 20), ("w_simulator_choices", 2)])
def test_simulator_sliders_change_the_curves(key, value):
    at = open_page("simulator")
    before = ys(spec(at))
    at.slider(key=key).set_value(value).run()
    assert ys(spec(at)) != before


def test_simulator_shows_each_metrics_verdict_and_lead_as_the_sliders_move():
    """At n = 1000 the simulated exact match is smooth, never emergent; at n = 20 the continuous metric detects
    the ability decades before exact match does (Schaeffer et al. Sec. 3: resolution)."""
    at = open_page("simulator")
    verdicts = {m.label: m.value for m in at.metric}
    assert verdicts["accuracy"] != "emergent" and set(verdicts) == {"accuracy", "edit_distance",
                                                                     "multiple_choice_grade", "brier_score"}
    at.number_input(key="w_simulator_n").set_value(20).run()
    lead = next(m.delta for m in at.metric if m.label == "accuracy")
    assert lead.startswith("edit_distance detects it") and "decades earlier" in lead


def test_simulator_test_set_size_and_vision_cutoff():
    at = open_page("simulator")
    before = ys(spec(at))
    at.number_input(key="w_simulator_n").set_value(20).run()
    assert ys(spec(at)) != before and qp(at, "n") == ["20"]
    vision = ys(spec(at, 1))
    at.slider(key="w_simulator_cutoff").set_value(3.0).run()
    assert ys(spec(at, 1)) != vision


# ---------------------------------------------------------------- Data
def test_data_page_lists_sources_and_filters_issues():
    at = open_page("data")
    sources = at.dataframe[0].value
    assert set(fx.SOURCES) == set(sources["source"])
    assert (sources["observations"] > 0).all()
    n_all = len(at.dataframe[2].value)
    at.multiselect(key="w_data_source").set_value(["expemergence"]).run()
    issues = at.dataframe[2].value
    assert 0 < len(issues) < n_all and set(issues["source"]) == {"expemergence"}
    assert qp(at, "source") == ["expemergence"]


LOCAL = (None, {"Host": "localhost:8501", "Origin": "http://localhost:8501", "User-Agent": "Chromium"})
REMOTE = ("203.0.113.7", {"Host": "dashboard.example.org", "Origin": "https://dashboard.example.org"})
PROXIED = (None, {"Host": "localhost:8501", "Origin": "https://dashboard.example.org",
                  "X-Forwarded-For": "203.0.113.7"})


@pytest.fixture
def visitor(monkeypatch):
    """Who the Data page sees (AppTest has no websocket client: st.context knows no visitor)."""
    import app_support

    def set_visitor(v):
        monkeypatch.setattr(app_support, "visitor", lambda: v)
    return set_visitor


def test_data_page_ingest_error_is_clear_and_writes_nothing(tmp_path, fixture_store, visitor):
    visitor(LOCAL)
    from emergence.store import Store
    db = fixture_store
    before = Store(db).fingerprint()
    bad = tmp_path / "results.json"
    bad.write_text('{"results": {"task": {"acc": 0.5')          # truncated JSON
    at = open_page("data")
    at.text_input(key="data_path").set_value(str(bad)).run()
    at.button(key="data_ingest").click().run()
    assert at.error and "Nothing was written" in at.error[0].value
    assert Store(db).fingerprint() == before


def test_public_deployment_disables_ingest(monkeypatch):
    monkeypatch.setenv("EMERGENCE_PUBLIC", "1")
    at = open_page("data")
    assert any("disabled on this public deployment" in i.value for i in at.info)


def test_data_page_ingests_a_path_into_an_empty_store(tmp_path, monkeypatch, visitor):
    from test_reliability import exp_folder       # an expemergence-format folder written in code
    visitor(LOCAL)
    db = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("EMERGENCE_DB", str(db))
    at = open_page("data")
    assert any("No store" in w.value for w in at.warning)
    at.text_input(key="data_path").set_value(str(exp_folder(tmp_path))).run()
    at.button(key="data_ingest").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("expemergence: added") for s in at.success)
    assert at.dataframe[0].value["source"].tolist() == ["expemergence"]


@pytest.mark.parametrize("ip, headers, local", [
    (None, {"Host": "localhost:8501"}, True),
    (None, {"host": "127.0.0.1:8501", "origin": "http://127.0.0.1:8501"}, True),
    (None, {"Host": "[::1]:8501", "Origin": "http://[::1]:8501"}, True),
    (None, {}, False),                                                       # no handshake known: fail closed
    ("203.0.113.7", {"Host": "localhost:8501"}, False),                      # a remote peer
    ("192.168.1.20", {"Host": "192.168.1.5:8501"}, False),
    (None, {"Host": "localhost:8501", "X-Forwarded-For": "203.0.113.7"}, False),   # a reverse proxy on loopback
    (None, {"Host": "localhost", "Forwarded": "for=203.0.113.7"}, False),
    (None, {"Host": "localhost", "X-Real-IP": "203.0.113.7"}, False),
    (None, {"Host": "dashboard.example.org"}, False),                        # proxied without forwarding headers
    (None, {"Host": "localhost:8501", "Origin": "https://evil.example"}, False),
])
def test_visitor_is_local(ip, headers, local):
    import app_support
    assert app_support.visitor_is_local(ip, headers) is local


@pytest.mark.parametrize("public, allow, local, expected", [
    (False, False, True, (True, True, True)), (False, False, False, (True, False, False)),
    (False, True, False, (True, True, True)), (True, False, True, (False, False, False)),
    (True, True, True, (True, True, False)), (True, True, False, (True, True, False)),
])
def test_write_access(public, allow, local, expected):
    import app_support
    a = app_support.write_access(public, allow, local)
    assert (a.upload, a.path, a.remove) == expected and (a.reason == "") == all(expected)


@pytest.mark.parametrize("who", [REMOTE, PROXIED, None])
def test_a_visitor_not_on_this_machine_cannot_ingest_a_path_or_remove(visitor, who):
    if who is not None:             # None: AppTest's own context, where st.context knows no visitor at all
        visitor(who)
    at = open_page("data")
    assert not [t for t in at.text_input if t.key == "data_path"]
    assert not [b for b in at.button if b.key == "data_remove"]
    assert [b for b in at.button if b.key == "data_ingest"]               # uploads keep working (capped)
    assert any("work only for a visitor on the server itself" in c.value for c in at.caption)


def test_allow_ingest_turns_path_ingest_on_for_any_visitor(visitor, monkeypatch):
    visitor(REMOTE)
    monkeypatch.setenv("EMERGENCE_ALLOW_INGEST", "1")
    at = open_page("data")
    assert [t for t in at.text_input if t.key == "data_path"] and [b for b in at.button if b.key == "data_remove"]


def test_a_local_visitor_removes_a_source_from_the_page(tmp_path, monkeypatch, visitor):
    import fixture_store as fx
    from emergence.store import Store
    visitor(LOCAL)
    db = fx.build(tmp_path / "two.duckdb", ["gpt3-multiplication-tables", "obsscaling"])
    monkeypatch.setenv("EMERGENCE_DB", str(db))
    at = open_page("data")
    assert at.button(key="data_remove").disabled
    at.selectbox(key="data_remove_source").set_value("obsscaling").run()
    at.checkbox(key="data_remove_sure").check().run()
    at.button(key="data_remove").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("obsscaling: removed") for s in at.success)
    assert Store(db).source_rows()["name"].tolist() == ["gpt3-multiplication-tables"]
    assert set(Store(db).series()["source"]) == {"gpt3-multiplication-tables"}


def test_series_page_without_a_task_opens_on_arithmetic():
    at = open_page("series")
    assert at.selectbox(key="w_series_task_one").value == "arithmetic"
    names = {t["name"].split(" ")[0] for t in spec(at)["data"] if t.get("name")}
    assert "Pythia" in names          # expemergence's Pythia curve is among the families drawn


# ---------------------------------------------------------------- issue 11: the Explorer opens on a question
def test_a_bare_explorer_link_opens_on_metrics_by_class_against_sources():
    at = open_page("explorer")
    assert qp(at, "rows") == ["metric"] and qp(at, "cols") == ["source"]
    layout = spec(at)["layout"]
    classes = [t.split(" · ")[0] for t in layout["yaxis"]["ticktext"]]
    order = ["discontinuous", "nonlinear", "continuous", "unclassified"]
    assert classes == sorted(classes, key=order.index)            # thresholded first, grouped by class
    assert {"discontinuous", "continuous"} <= set(classes)
    # the link it writes reopens the same pivot
    again = open_page("explorer", **{k: at.query_params[k] for k in at.query_params if k != "page"})
    assert spec(again)["data"][0]["y"] == spec(at)["data"][0]["y"]


def test_an_explorer_link_with_parameters_opens_as_before():
    at = open_page("explorer", source="expemergence")
    assert qp(at, "rows") == [] and at.selectbox(key="w_explorer_rows").value == "task"
    assert "arithmetic" in spec(at)["data"][0]["y"]



def test_cached_tables_are_shared_but_a_page_cannot_change_them():
    """The table and pivot caches hold one frame per key (no unpickling on every rerun); each call gets a
    shallow copy, and pandas' copy-on-write keeps a page's change to its copy out of the cache."""
    from app_support import queries
    state, _ = views.from_query_params({"page": "explorer"})
    fp = queries.fingerprint()
    kind, a = queries.table(state, fp)
    want = a.copy()
    a["emergence_score"] = -1.0                     # a page changing its rows in every way it could
    a.loc[a.index[0], "task"] = "changed"
    del a["family"]
    _, b = queries.table(state, fp)
    assert kind == "series" and len(b) > 0
    pd.testing.assert_frame_equal(b, want)
    every = queries.series_all(fp)
    every_want = every.copy()
    every["task"] = "changed"
    pd.testing.assert_frame_equal(queries.series_all(fp), every_want)
    cells = queries.pivot(state, fp)
    pd.testing.assert_frame_equal(cells, views.pivot(want, state.rows, state.cols, state.cell))
    cells.iloc[0, cells.columns.get_loc("value")] = 1e9
    assert queries.pivot(state, fp)["value"].iloc[0] != 1e9


@pytest.mark.parametrize("norm", [False, True])
def test_series_curves_are_what_the_api_gives(norm):
    """Series detail's cached points (from the page's own cached observations and series, not a second
    query) equal emergence.api.series_points, normalised and ordered as figures would on every rerun."""
    from app_support import queries
    from emergence import api
    from emergence.app import figures
    state, _ = views.from_query_params({"page": "series", "task": "arithmetic", "norm": "1" if norm else "0"})
    assert state.norm is norm
    fp = queries.fingerprint()
    pts, labels, y_label, raw, order = queries.series_curves(fp, state)
    want, want_labels = api.series_points(**state.filters(), x=state.x, db=queries.store().path)
    assert len(want) > 0 and labels == want_labels
    if norm:
        want, want_raw = figures.normalise(want)
        assert raw == want_raw and y_label.startswith("normalised")
    else:
        assert raw == [] and y_label == "value"
    pd.testing.assert_frame_equal(pts, want)
    assert order == figures.curve_order(want) and len(order) > 1


def test_series_points_of_a_view_the_index_cannot_answer_are_the_views_own(monkeypatch):
    """Series detail reads a view's points from every series' points computed once (emergence.api.point_index);
    where a view could cut a series (emergence.app.pivots.points_within gives None) the page computes them from
    the view's own observations instead: the same frame and legends either way."""
    from app_support import queries
    from emergence import api
    state, _ = views.from_query_params({"page": "series", "task": "arithmetic"})
    fp = queries.fingerprint()
    calls = []
    real = api.points_within
    for answer in (True, False):
        queries._plot_frame.clear()
        monkeypatch.setattr(api, "points_within",
                            lambda *a, **k: calls.append(answer) or (real(*a, **k) if answer else None))
        pts, labels = queries.plot_frame(fp, state)
        want, want_labels = api.series_points(**state.filters(), x=state.x, db=queries.store().path)
        assert len(want) > 0 and labels == want_labels
        pd.testing.assert_frame_equal(pts, want, check_exact=False, rtol=1e-13, atol=0)
        scores = api.series(**state.filters(), x=state.x, db=queries.store().path)
        curves = list(dict.fromkeys(want["curve"]))
        pd.testing.assert_frame_equal(queries.curve_verdicts(fp, state, curves),
                                      api.in_curve_order(api.curve_verdicts(want, scores), curves), check_dtype=False)
    queries._plot_frame.clear()
    assert calls == [True, False]


def test_small_table_is_the_frame_escaped_with_numbers_to_four_digits_and_missing_values_empty():
    from app_support import small_table_html
    df = pd.DataFrame({"model": ["<b>x</b> & y", "plain"], "value": [0.123456, float("nan")],
                       "n": [3, 12], "x": [1.3e9, 2.0], "note": [None, "a\"b"]})
    markup = small_table_html(df)
    assert "<b>" not in markup and "&lt;b&gt;x&lt;/b&gt; &amp; y" in markup
    got = parse_html_table(markup)
    assert list(got.columns) == list(df.columns)
    assert got.to_dict("list") == {"model": ["<b>x</b> & y", "plain"], "value": ["0.1235", ""], "n": ["3", "12"],
                                   "x": ["1.3e+09", "2"], "note": ["", 'a"b']}
    assert markup.count('<td class="num">') == 6          # the numeric columns' cells, right-aligned
    assert parse_html_table(small_table_html(df.iloc[:0])).empty


@pytest.mark.parametrize("text, span", [("emergence series --csv -", "`emergence series --csv -`"),
                                        ("a `b` c", "``a `b` c``"), ("x``y", "```x``y```"), ("`q`", "`` `q` ``")])
def test_code_span_keeps_any_text_verbatim(text, span):
    """A task or value with backticks stays one code span (CommonMark: a longer fence, padded at a backtick)."""
    from app_support import code_span
    assert code_span(text) == span


def test_the_server_skips_streamlits_full_garbage_collection_after_each_run():
    """``.streamlit/config.toml`` turns off ``runner.postScriptGC``: a full collection after every run held the
    interpreter ~100 ms while the browser waited (BENCHMARKS.md section 9).  Read by Streamlit's own config loader
    from the repository, as ``streamlit run app.py`` there reads it (a renamed option would read True)."""
    import subprocess
    import sys
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", "from streamlit import config; config.get_config_options(); "
                          "print(config.get_option('runner.postScriptGC'))"], cwd=repo, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_first_complete_run_moves_the_shared_heap_out_of_full_collections(monkeypatch):
    """``app.py`` ends its first complete run with :func:`app_support.heap.freeze_shared`: the libraries' ~160,000
    container objects leave the cyclic collector's full passes, which took 70-157 ms with the interpreter held, in
    whatever run they fell (BENCHMARKS.md section 9).  Once per process: a later run freezes nothing more."""
    import gc

    from app_support import heap
    freezes = []
    real = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: (freezes.append(1), real())[1])
    monkeypatch.setattr(heap, "_frozen", False)
    gc.unfreeze()
    open_page("data")
    assert len(freezes) == 1 and heap._frozen
    frozen = gc.get_freeze_count()
    assert frozen > 50_000                                   # the imported libraries, at least
    assert len(gc.get_objects(generation=2)) < frozen / 10   # what a full pass still walks
    open_page("data")
    assert len(freezes) == 1                                 # not again
    assert heap.freeze_shared() is False
