"""The dashboard in a real browser (Playwright + Debian's Chromium), on the real store.

What only a browser shows: the app loads with real data, a pivot change, a drill-down by
clicking a heatmap cell, a share link reopened in a fresh browser context reproduces the
view, the downloaded CSV equals the CLI's output byte for byte, a malformed link shows a
notice.  Run with ``pytest -m browser``; needs ``/usr/bin/chromium`` (``.ci/run`` installs it).
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

pytestmark = pytest.mark.browser

from conftest import free_port as _free_port   # Chromium's launch arguments: conftest.browser_type_launch_args

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def app_url(real_store):
    """`streamlit run app.py` on the real store, for the whole session; stopped by its own PID."""
    db, _ = real_store
    port = _free_port()
    env = {**os.environ, "EMERGENCE_DB": str(db), "EMERGENCE_AUTOBUILD": "0"}
    env.pop("EMERGENCE_PUBLIC", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"streamlit did not start on port {port}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def settle(page, timeout=60_000):
    """Wait until the page has rendered its title, the share link, and no script run is in progress."""
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=stMarkdown] code'))"
                           ".some(e => e.innerText.trim().startsWith('http'))", timeout=timeout)


def code_lines(page) -> list[str]:
    """The texts shown as inline code (the share link and the CLI command: ``app_support.code_line``)."""
    return [t.strip() for t in page.locator('[data-testid="stMarkdown"] code').all_inner_texts()]


def params(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query, keep_blank_values=True)


def choose(page, label: str, option: str):
    """Pick ``option`` in the selectbox labelled ``label``."""
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True))
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def heatmap(page) -> dict:
    """The heatmap's rows, columns and values as plotted (Plotly's own figure data)."""
    page.wait_for_function("""() => {
        const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        return gd && gd.data && gd.data.length > 0;
    }""", timeout=60_000)
    return page.evaluate("""() => {
        const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        const t = gd.data[0];
        return {x: Array.from(t.x), y: Array.from(t.y), z: Array.from(t.z, r => Array.from(r))};
    }""")


def test_app_loads_with_real_data(page, app_url, real_store):
    _, out = real_store
    page.goto(app_url)
    settle(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg')
    assert page.locator("h1").first.inner_text() == "Overview"
    metric = page.get_by_test_id("stMetric").filter(has_text="sources").get_by_test_id("stMetricValue")
    assert int(metric.inner_text()) == len(out["result"])
    assert "arxiv.org/abs/2304.15004" in page.content()


def test_pivot_change(page, app_url):
    page.goto(f"{app_url}/explorer?source=expemergence")
    settle(page)
    assert "arithmetic" in heatmap(page)["y"]
    choose(page, "Rows", "family")
    page.wait_for_function("() => location.search.includes('rows=family')")
    settle(page)
    page.wait_for_function("""() => {
        const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        return gd && Array.from(gd.data[0].y).includes('Pythia');
    }""")
    assert "arithmetic" not in heatmap(page)["y"]


def test_drill_down_by_clicking_a_cell(page, app_url):
    page.goto(f"{app_url}/explorer?source=expemergence&rows=family&cols=task")
    settle(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .nsewdrag')
    # the cell may lie below the fold (the first rows are drawn at the top): wheel it to mid-screen first
    below = page.evaluate("""() => {
        const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        const ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
        return r.top + ya._offset + ya.d2p('Pythia') - window.innerHeight / 2;
    }""")
    if abs(below) > 100:
        vp = page.viewport_size
        page.mouse.move(vp["width"] * 0.6, vp["height"] / 2)
        page.mouse.wheel(0, below)
        page.wait_for_timeout(500)
    x, y = page.evaluate("""() => {
        const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.d2p('arithmetic'), r.top + ya._offset + ya.d2p('Pythia')];
    }""")
    page.mouse.click(x, y)
    page.wait_for_url("**/series?**", timeout=30_000)
    settle(page)
    assert page.locator("h1").first.inner_text() == "Series detail"
    q = params(page)
    assert q["family"] == ["Pythia"] and q["task"] == ["arithmetic"] and q["source"] == ["expemergence"]
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg')


def test_share_link_reopens_the_same_view(page, app_url, browser):
    page.goto(f"{app_url}/explorer?source=expemergence")
    settle(page)
    choose(page, "Rows", "family")
    page.wait_for_function("() => location.search.includes('rows=family')")
    settle(page)
    page.get_by_test_id("stRadio").get_by_text("share emergent (of decidable series)").click()
    page.wait_for_function("() => location.search.includes('cell=share')")
    settle(page)
    link = next(t for t in code_lines(page) if t.startswith("http"))
    # the address bar holds the same view
    assert urlparse(link).path == urlparse(page.url).path
    assert parse_qs(urlparse(link).query, keep_blank_values=True) == params(page)
    assert "rows=family" in link and "cell=share" in link and "fp=" in link
    shown = heatmap(page)
    fresh = browser.new_context().new_page()           # a new browser: no session, no cookies
    try:
        fresh.goto(link)
        settle(fresh)
        fresh.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg')
        assert fresh.locator("h1").first.inner_text() == "Explorer"
        assert heatmap(fresh) == shown
        assert params(fresh) == parse_qs(urlparse(link).query, keep_blank_values=True)
        assert not fresh.get_by_test_id("stAlert").count()
    finally:
        fresh.context.close()


def test_downloaded_csv_equals_the_cli(page, app_url, real_store):
    db, _ = real_store
    page.goto(f"{app_url}/series?source=expemergence&task=arithmetic")
    settle(page)
    page.wait_for_selector('[data-testid="stDownloadButton"]')
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=stMarkdown] code'))"
                           ".some(e => e.innerText.trim().startsWith('emergence'))")
    command = next(t for t in code_lines(page) if t.startswith("emergence"))
    assert command == "emergence observations --source expemergence --task arithmetic --subtask '' --csv -"
    with page.expect_download() as d:
        page.get_by_test_id("stDownloadButton").filter(has_text="Download CSV").click()
    downloaded = Path(d.value.path()).read_bytes()
    args = shlex.split(command.strip())[1:]
    cli = subprocess.run([sys.executable, "-m", "emergence.cli", "--db", str(db), *args], capture_output=True,
                         check=True, timeout=120).stdout
    assert downloaded == cli and downloaded.count(b"\n") > 100


def test_malformed_link_shows_a_notice(page, app_url):
    page.goto(f"{app_url}/explorer?rows=bogus&shots=two&tracking=1")
    settle(page)
    alerts = " ".join(page.get_by_test_id("stAlert").all_inner_texts())
    assert "rows='bogus'" in alerts and "shots='two'" in alerts and "'tracking'" in alerts
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg')
    assert "bogus" not in page.url


def test_chart_downloads_as_svg(page, app_url):
    page.goto(f"{app_url}/simulator")
    settle(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg')
    with page.expect_download(timeout=60_000) as d:
        page.get_by_test_id("stDownloadButton").filter(has_text="SVG").first.click()
    svg = Path(d.value.path()).read_bytes()
    assert svg.startswith(b"<svg") and b"accuracy" in svg


#: the first chart's drawn text (every panel's tick labels, axis titles, legend, titles) with its box, the chart's
#: own box and its plot area
CHART_TEXT = """() => {
    const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    const svg = gd.querySelector('.main-svg').getBoundingClientRect(), m = gd._fullLayout.margin;
    const plot = {left: svg.left + m.l, right: svg.left + gd._fullLayout.width - m.r,
                  bottom: svg.top + gd._fullLayout.height - m.b};
    const boxes = (sel) => Array.from(gd.querySelectorAll(sel)).map(t => {
        const r = t.getBoundingClientRect();
        return {text: t.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width};
    }).filter(b => b.width > 0);
    return {svg: {left: svg.left, right: svg.right, top: svg.top, bottom: svg.bottom}, plot,
            x: boxes('.xaxislayer-above text'), y: boxes('.yaxislayer-above text'), legend: boxes('.legendtext'),
            titles: boxes('.g-xtitle text, .g-ytitle text, .annotation-text, .gtitle')};
}"""


def chart_text(page) -> dict:
    """:data:`CHART_TEXT` of the page's first chart, and ``outside``: the texts not wholly inside the chart."""
    b = page.evaluate(CHART_TEXT)
    s = b["svg"]
    b["outside"] = [t["text"] for t in b["x"] + b["y"] + b["legend"] + b["titles"]
                    if t["left"] < s["left"] - 0.5 or t["right"] > s["right"] + 0.5
                    or t["top"] < s["top"] - 0.5 or t["bottom"] > s["bottom"] + 0.5]
    return b


@pytest.mark.parametrize("width", [1500, 1100])
@pytest.mark.parametrize("query", ["", "rows=task&cols=metric", "rows=family&cols=task", "rows=source&cols=task"])
def test_heatmap_labels_are_not_clipped(page, app_url, query, width):
    """The heatmap's margins are computed from its labels (emergence.app.figures.heatmap_margins), not by
    Plotly: every tick label lies inside the chart, y labels left of the plot, x labels below it."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(f"{app_url}/explorer?{query}")
    settle(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg')
    b = chart_text(page)
    p = b["plot"]
    assert len(b["y"]) >= 10 and len(b["x"]) >= 5
    assert b["outside"] == []
    assert all(t["right"] <= p["left"] + 0.5 for t in b["y"]), "a y label runs into the plot"
    assert all(t["top"] >= p["bottom"] - 0.5 for t in b["x"]), "an x label runs into the plot"


@pytest.mark.parametrize("width", [1500, 1100])
@pytest.mark.parametrize("query", ["source=expemergence&task=arithmetic", "task=mmlu"])
def test_series_labels_and_legend_are_not_clipped(page, app_url, query, width):
    """Series detail's margins are fixed too (emergence.app.figures.series_figure): tick labels, axis
    titles and the legend lie inside the chart."""
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(f"{app_url}/series?{query}")
    settle(page)
    page.wait_for_selector('[data-testid="stPlotlyChart"] .legendtext')
    b = chart_text(page)
    assert min(len(b["x"]), len(b["y"]), len(b["legend"])) >= 1 and b["outside"] == []


#: each chart's margins as given and as drawn: Plotly widens a margin its labels or legend stick out of, by drawing
#: the whole chart again
MARGINS = """() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')).map(gd => {
    const m = gd._fullLayout.margin, s = gd._fullLayout._size;
    return {title: String((gd.layout.title && gd.layout.title.text) || '').slice(0, 60),
            given: [m.l, m.r, m.t, m.b], drawn: [s.l, s.r, s.t, s.b].map(Math.round)};
})"""


def test_charts_are_drawn_once_with_margins_that_hold_their_labels(page, app_url):
    """Every chart of every page with charts of its own margins (emergence.app.figures.fit_margins) comes with base
    margins that already hold its tick labels, axis titles and legend: Plotly's automatic margins (on, as a floor)
    widen none of them, so none is drawn twice; and every label lies inside its chart."""
    page.set_viewport_size({"width": 1500, "height": 1000})
    views = ["overview", "overview?section=metric", "overview?section=score", "rescoring",
             "rescoring?section=replications", "predictability", "predictability?section=passuntil", "simulator"]
    seen = 0
    for view in views:
        page.goto(f"{app_url}/{view}")
        settle(page, timeout=120_000)
        page.wait_for_function("() => { const c = document.querySelectorAll('[data-testid=stPlotlyChart]');"
                               " return c.length > 0 && Array.from(c).every(e => e.querySelector('.main-svg')); }",
                               timeout=60_000)
        page.wait_for_timeout(300)      # a second drawing, if any, is scheduled after the first
        for chart in page.evaluate(MARGINS):
            seen += 1
            assert all(d <= g for d, g in zip(chart["drawn"], chart["given"])), (view, chart)
        assert chart_text(page)["outside"] == [], view
    assert seen >= 12
