"""Warm page loads and interactions of the dashboard in Chromium, against a one-chart Streamlit page.

    python bench/bench_pages.py [--db PATH] [--reps 5] [--n 20] [--json out.json]

Starts two Streamlit servers in the same run: ``streamlit run app.py`` on the store (``--db``, else
``$EMERGENCE_DB``, else ``data/emergence.duckdb``: build it with ``emergence ingest --offline``) and a
baseline, a page with a title, one Plotly chart and a code box.  Drives Debian's Chromium (Playwright;
never ``playwright install``) and measures, browser-observed:

- **warm load** of every page and of the baseline: the page is opened once (caches fill), then
  ``--reps`` times more; each time from navigation until the title is drawn, every chart is drawn,
  the last element (the share link) is there, no element is still loading (a skeleton) and no script run
  is in progress.  Reported: the median,
  and its ratio to the baseline's median measured in the same run (the machine may be shared: the ratio
  is the number to compare, not the seconds); and the median of the ratios per turn, each page's load
  over the baseline's load just before it, which a slow or fast spell of the machine moves less;
- **interactions** (p95 over ``--n`` each): Explorer pivot rows, cell value and source filter (as
  ``bench/bench_dashboard.py``), a heatmap drill-down (a click on a cell until Series detail has drawn
  its chart), and a task change on Series detail; and the floor of any interaction, a selectbox change on
  the baseline page, and of a page switch (a drill-down is one), a button on the start page of a two-page
  app that switches to a page like the baseline (p95 ratios are to these: the drill-down's to the switch).
  Each kind is also reported as first visits (a view the server had not drawn before: its query, pivot and
  figure computed then) and repeats (read from the caches), since the two differ by the server's work, not
  the browser's.  Two clocks per interaction:
  - **from input**: in the page's own clock, from the pointer-down that makes the change (the option
    chosen, the cell clicked, the radio or button pressed) until the page is settled as for a load: what a
    user waits for after acting, as the browser's own interaction-latency measures count it; the target
    is read on it;
  - **harness**: Playwright's wall clock around the whole scripted action, which also holds opening the
    dropdown (a separate interaction: ~50-70 ms) and Playwright's own round trips to the browser (~30 ms);
    kept for comparison with earlier runs (BENCHMARKS.md section 9 reports it up to its sixth session).

Target (issue 11): every page's warm load <= 2x the baseline, interactions p95 < 500 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TIMEOUT = 120_000   # ms per wait
from chromium import ARGS, CHROMIUM   # noqa: E402  Debian's Chromium: bench/chromium.py, shared with the tests
PAGES = ("overview", "explorer", "series", "rescoring", "predictability", "simulator", "data")

BASELINE = '''import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="baseline", layout="wide")
st.title("Baseline")
st.markdown("One chart, as small a Streamlit page as shows something.")
k = st.selectbox("Curve", [1, 2, 3, 4])
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3, 4], y=[1, 3, 2, 4 * k], mode="lines+markers")))
st.code("http://baseline/?share=link", language=None)
'''

#: the floor of a page switch (a drill-down is one): a start page whose button switches (st.switch_page) to a page
#: like BASELINE, in a two-page app of its own (BASELINE's loads stay those of a one-page app)
SWITCH_BASELINE = '''import plotly.graph_objects as go
import streamlit as st


def start():
    st.title("Start")
    if st.button("Open the chart"):
        st.switch_page(chart)
    st.code("http://baseline/?share=start", language=None)


def show():
    st.title("Baseline")
    st.markdown("One chart, as small a Streamlit page as shows something.")
    st.selectbox("Curve", [1, 2, 3, 4])
    st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3, 4], y=[1, 3, 2, 4], mode="lines+markers")))
    st.code("http://baseline/?share=link", language=None)


chart = st.Page(show, title="Chart", url_path="chart")
st.navigation([st.Page(start, title="Start", default=True), chart]).run()
'''

#: done: a title, no run in progress, no element still loading, every chart drawn, the share link (each page's last
#: element) present
DONE = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
    if (!document.querySelector('[data-testid="stMain"] h1')) return false;
    if (document.querySelector('[data-testid="stSpinner"]')) return false;
    // an element whose component is still being fetched (charts, code boxes, grids are loaded lazily) is a skeleton:
    // without this a page could count as drawn before its charts even exist
    if (document.querySelector('[data-testid="stSkeleton"]')) return false;
    const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
    for (const c of charts) { if (!c.querySelector('.main-svg')) return false; }
    return Array.from(document.querySelectorAll('[data-testid=stMarkdown] code, [data-testid=stCode]'))
        .some(e => e.innerText.trim().startsWith('http'));
}"""
#: the time of the last pointer-down in the page's clock (installed in every document the page opens)
INPUT_CLOCK = ("document.addEventListener('pointerdown', () => { window.__emergenceInput = performance.now(); }, "
               "{capture: true});")
#: DONE, and the time it first held in the page's clock
DONE_AT = "() => { if ((" + DONE + ")()) { window.__emergenceDone = performance.now(); return true; } return false; }"
FIRST_CHART = """() => {
    const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    // y and z as sent (typed arrays arrive as {dtype, bdata} specs, which Array.from would read as empty)
    return gd && gd.data ? JSON.stringify(gd.data.map(t => [t.name, t.y, t.z])) : null;
}"""


def store_env(db_arg: str | None) -> tuple[Path, dict] | None:
    """The store (``db_arg``, else ``$EMERGENCE_DB``, else ``data/emergence.duckdb``) and the environment the app's
    servers run in (that store, no first-start build, every source); None, having said how to build it, when there
    is no store."""
    from emergence.store import db_path
    db = db_path(db_arg)
    if not db.exists():
        print(f"no store at {db}: build it with `emergence ingest --offline` (or pass --db)", file=sys.stderr)
        return None
    env = {**os.environ, "EMERGENCE_DB": str(db), "EMERGENCE_AUTOBUILD": "0"}
    env.pop("EMERGENCE_PUBLIC", None)
    return db, env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(script: Path, port: int, env: dict, cwd: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"],
                            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    stop(proc)
    raise SystemExit(f"streamlit did not start: {script}")


def stop(proc: subprocess.Popen):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def done(page, timeout=TIMEOUT):
    page.wait_for_function(DONE, timeout=timeout, polling=20)


def load(page, url: str, timeout: int = TIMEOUT) -> float:
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout)
    done(page, timeout)
    return time.perf_counter() - t0


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def settled_after(page, t0: float, *, url_has: str | None = None, chart_before: str | None = None
                  ) -> tuple[float, float]:
    """Wait until the interaction begun at ``t0`` has drawn its result; ``(harness s, from input s)``: the wall
    clock since ``t0``, and the page's own clock from the last pointer-down to the moment DONE held (the page
    must have :data:`INPUT_CLOCK` installed)."""
    if url_has is not None:
        page.wait_for_function("(s) => decodeURIComponent(location.href.replace(/\\+/g, ' ')).includes(s)",
                               arg=url_has, timeout=TIMEOUT, polling=10)
    if chart_before is not None:
        page.wait_for_function("(before) => (" + FIRST_CHART + ")() !== before", arg=chart_before, timeout=TIMEOUT,
                               polling=10)
    page.wait_for_function(DONE_AT, timeout=TIMEOUT, polling=20)
    harness = time.perf_counter() - t0
    t_in, t_done = page.evaluate("() => [window.__emergenceInput, window.__emergenceDone]")
    if t_in is None or t_done is None or t_done < t_in:
        raise RuntimeError("no pointer-down before the result was drawn (is INPUT_CLOCK installed?): the "
                           "interaction's own clock cannot be read")
    return harness, (t_done - t_in) / 1000


def choose(page, label: str, option: str):
    page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()


def explorer_interactions(page, base: str, n: int, sources: list[str]
                          ) -> tuple[list[tuple[float, float]], list[bool]]:
    """Pivot rows, cell value and a source filter, in turn (the interactions bench_dashboard.py times).
    Returns the times and, for each, whether it opened a view the server had not drawn before (its tables,
    pivot and figure computed then, not read from the cache): the two are reported apart too."""
    load(page, f"{base}/explorer?rows=task&cols=metric")
    rows, cur, times, firsts = ["family", "metric", "source", "shots"], "task", [], []
    cells = ["share emergent (of decidable series)", "median emergence score (descriptive)"]
    view = {"rows": "task", "cell": 0, "source": None}
    seen = {tuple(view.values())}
    for i in range(n):
        before = page.evaluate(FIRST_CHART)
        step = i % 3
        t0 = time.perf_counter()
        if step == 0:
            value = rows[(i // 3) % len(rows)]
            if value == cur:
                value = "task"
            choose(page, "Rows", value)
            cur = value
            view["rows"] = value
            times.append(settled_after(page, t0, url_has=f"rows={value}" if value != "task" else None,
                                       chart_before=before))
        elif step == 1:
            page.get_by_test_id("stRadio").get_by_text(cells[(i // 3) % 2]).click()
            view["cell"] = (i // 3) % 2
            times.append(settled_after(page, t0, chart_before=before))
        else:
            box = page.get_by_test_id("stMultiSelect").filter(has=page.get_by_text("Source", exact=True))
            if (i // 3) % 2 == 0:
                value = sources[(i // 6) % len(sources)]
                box.click()
                page.get_by_role("option", name=value, exact=True).click()
                page.keyboard.press("Escape")
                view["source"] = value
                times.append(settled_after(page, t0, url_has=f"source={value}", chart_before=before))
            else:
                box.get_by_role("button", name="Clear all").click()
                view["source"] = None
                times.append(settled_after(page, t0, chart_before=before))
        first = tuple(view.values()) not in seen
        seen.add(tuple(view.values()))
        firsts.append(first)
        print(f"  explorer {['rows', 'cell', 'source'][step]}: {times[-1][1]:.2f} s from input "
              f"({times[-1][0]:.2f} s harness){' (first visit)' if first else ''}", file=sys.stderr)
    return times, firsts


def cell_point(page, base: str, fam: str, task: str) -> tuple[float, float]:
    """Open the Explorer's family x task heatmap of expemergence; the page coordinates of the cell (fam, task)."""
    load(page, f"{base}/explorer?source=expemergence&rows=family&cols=task")
    page.wait_for_selector('[data-testid="stPlotlyChart"] .nsewdrag', timeout=TIMEOUT)
    return page.evaluate("""([t, f]) => {
        const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, r = gd.getBoundingClientRect();
        return [r.left + xa._offset + xa.d2p(t), r.top + ya._offset + ya.d2p(f)];
    }""", [task, fam])


def click_until_series(page, x: float, y: float) -> tuple[float, float]:
    """Click the heatmap at (x, y) and wait until Series detail is drawn: ``(harness s, from input s)``."""
    t0 = time.perf_counter()
    page.mouse.click(x, y)
    page.wait_for_url("**/series?**", timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"] h1')?.innerText"
                           " === 'Series detail'", timeout=TIMEOUT)
    return settled_after(page, t0)


def drill_downs(page, base: str, n: int, cells: list[tuple[str, str]]
                ) -> tuple[list[tuple[float, float]], list[bool]]:
    """Click a heatmap cell (family x task of expemergence) until Series detail has drawn its chart (times,
    and whether each was a first visit)."""
    times, firsts = [], []
    for i in range(n):
        fam, task = cells[i % len(cells)]
        times.append(click_until_series(page, *cell_point(page, base, fam, task)))
        firsts.append(i < len(cells))
        print(f"  drill-down {fam} x {task}: {times[-1][1]:.2f} s from input ({times[-1][0]:.2f} s harness)",
              file=sys.stderr)
    return times, firsts


def drill_cells(db) -> list[tuple[str, str]]:
    """The cells the drill-downs click: expemergence's three largest families x its two largest tasks (params)."""
    from emergence.store import Store
    ser = Store(db).series()
    exp = ser[(ser["scale_axis"] == "params") & (ser["n_scales"] >= 3) & (ser["source"] == "expemergence")]
    tasks = exp["task"].value_counts().index.tolist()[:2]
    fams = exp["family"].value_counts().index.tolist()[:3]
    return [(f, t) for f in fams for t in tasks]


def baseline_changes(page, base: str, n: int) -> list[tuple[float, float]]:
    """The baseline page: pick another value in its one selectbox until its chart is redrawn (the floor of
    any interaction: a rerun, the websocket round trip and one Plotly redraw)."""
    load(page, base)
    times = []
    for i in range(n):
        before = page.evaluate(FIRST_CHART)
        t0 = time.perf_counter()
        choose(page, "Curve", str((i + 1) % 4 + 1))
        times.append(settled_after(page, t0, chart_before=before))
    return times


def baseline_switches(page, base: str, n: int) -> list[tuple[float, float]]:
    """The switch baseline: from its start page, press the button that switches to its one-chart page, until that
    page is drawn (the floor of a drill-down: a page switch, the new page's run, its chart drawn)."""
    times = []
    for i in range(n + 1):      # the first switch, untimed, fetches the chart component (the app's pages have it)
        load(page, base)
        t0 = time.perf_counter()
        page.get_by_role("button", name="Open the chart").click()
        page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"] h1')?.innerText"
                               " === 'Baseline'", timeout=TIMEOUT)
        timed = settled_after(page, t0)
        if i:
            times.append(timed)
            print(f"  baseline switch: {timed[1]:.2f} s from input ({timed[0]:.2f} s harness)", file=sys.stderr)
    return times


def task_changes(page, base: str, n: int, tasks: list[str]) -> tuple[list[tuple[float, float]], list[bool]]:
    """Series detail: pick another task in the sidebar until its chart is drawn (times, and whether each was
    a first visit)."""
    load(page, f"{base}/series?source=expemergence&task={tasks[0]}")
    times, firsts = [], []
    for i in range(n):
        task = tasks[(i + 1) % len(tasks)]
        before = page.evaluate(FIRST_CHART)
        t0 = time.perf_counter()
        choose(page, "Task", task)
        times.append(settled_after(page, t0, url_has=f"task={task}", chart_before=before))
        firsts.append(i < len(tasks) - 1)     # tasks[0] was loaded first
        print(f"  series task {task}: {times[-1][1]:.2f} s from input ({times[-1][0]:.2f} s harness)",
              file=sys.stderr)
    return times, firsts


def main(argv=None) -> int:
    from emergence.store import Store
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="store (default $EMERGENCE_DB or data/emergence.duckdb)")
    ap.add_argument("--reps", type=int, default=5, help="warm loads per page (default 5; median reported)")
    ap.add_argument("--n", type=int, default=12, help="interactions of each kind (default 12)")
    ap.add_argument("--pages", nargs="*", default=list(PAGES), help="pages to load (default all)")
    ap.add_argument("--json", help="write the numbers here too")
    args = ap.parse_args(argv)
    if (found := store_env(args.db)) is None:
        return 2
    db, env = found
    from playwright.sync_api import sync_playwright
    ser = Store(db).series()
    ser = ser[(ser["scale_axis"] == "params") & (ser["n_scales"] >= 3)]
    sources = ser["source"].value_counts().index.tolist()[:4]
    exp = ser[ser["source"] == "expemergence"]
    tasks = exp["task"].value_counts().index.tolist()[:4]
    cells = drill_cells(db)
    out: dict = {"store": str(db), "fingerprint": Store(db).fingerprint(), "reps": args.reps, "n": args.n}
    with tempfile.TemporaryDirectory(prefix="emergence-bench-") as tmp:
        base_script, switch_script = Path(tmp) / "baseline.py", Path(tmp) / "switch" / "switch.py"
        base_script.write_text(BASELINE)
        switch_script.parent.mkdir()
        switch_script.write_text(SWITCH_BASELINE)
        app_port, base_port, switch_port = free_port(), free_port(), free_port()
        app = start(REPO / "app.py", app_port, env, REPO)
        baseline = start(base_script, base_port, env, Path(tmp))
        switch = start(switch_script, switch_port, env, switch_script.parent)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                page.add_init_script(INPUT_CLOCK)
                app_base, bl = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{base_port}"
                loads: dict[str, list[float]] = {}
                # cold loads fill the caches; then the pages and the baseline take turns, so both see the same load
                load(page, bl)
                for name in args.pages:
                    cold = load(page, f"{app_base}/{name}", timeout=900_000)   # cold: fits, first queries
                    print(f"  cold {name}: {cold:.2f} s", file=sys.stderr)
                turns: dict[str, list[float]] = {}
                for _ in range(args.reps):
                    for name in args.pages:     # the baseline just before each page: a ratio per turn
                        b = load(page, bl)
                        loads.setdefault("baseline", []).append(b)
                        loads.setdefault(name, []).append(load(page, f"{app_base}/{name}"))
                        turns.setdefault(name, []).append(loads[name][-1] / b)
                        print(f"  warm {name}: {loads[name][-1]:.2f} s (baseline {b:.2f} s)", file=sys.stderr)
                inter, first_visits = {}, {}
                if args.n:
                    inter["explorer"], first_visits["explorer"] = explorer_interactions(page, app_base, args.n,
                                                                                        sources)
                    inter["drill-down"], first_visits["drill-down"] = drill_downs(page, app_base, args.n, cells)
                    inter["series task"], first_visits["series task"] = task_changes(page, app_base, args.n, tasks)
                    inter["baseline"] = baseline_changes(page, bl, args.n)
                    inter["baseline switch"] = baseline_switches(page, f"http://127.0.0.1:{switch_port}", args.n)
                browser.close()
        finally:
            stop(app)
            stop(baseline)
            stop(switch)
    bmed = statistics.median(loads["baseline"])
    out["baseline_median_s"] = bmed
    out["pages"] = {k: {"median_s": statistics.median(v), "ratio": statistics.median(v) / bmed,
                        "ratio_per_turn": statistics.median(turns[k])}
                    for k, v in loads.items() if k != "baseline"}
    out["interactions"] = {}
    for k, v in inter.items():
        flags = first_visits.get(k, [])
        out["interactions"][k] = row = {"n": len(v)}
        for clock, i in (("from_input", 1), ("harness", 0)):
            xs = [t[i] for t in v]
            row[clock] = c = {"median_s": statistics.median(xs), "p95_s": p95(xs)}
            for part, want in (("first", True), ("repeat", False)):    # first visits (cache misses) and repeats
                ys = [x for x, f in zip(xs, flags) if f is want]
                if ys:
                    c[part] = {"median_s": statistics.median(ys), "p95_s": p95(ys), "n": len(ys)}
    # each kind against its floor: a page switch (the drill-down) against the switch baseline, the others against
    # the baseline page's selectbox
    for k, v in out["interactions"].items():
        floor = "baseline switch" if k in ("drill-down", "baseline switch") else "baseline"
        if floor in out["interactions"]:
            v["floor"] = floor
            for clock in ("from_input", "harness"):
                v[clock]["p95_ratio"] = v[clock]["p95_s"] / out["interactions"][floor][clock]["p95_s"]
    print(f"store: {db} ({out['fingerprint']}); warm loads: median of {args.reps}; same-run baseline "
          f"{bmed:.2f} s")
    print(f"{'page':<16}{'median s':>10}{'x baseline':>12}{'x per turn':>12}")
    for k, v in out["pages"].items():
        print(f"{k:<16}{v['median_s']:>10.2f}{v['ratio']:>12.2f}{v['ratio_per_turn']:>12.2f}")
    print("interactions, ms: from input (the target's clock) | harness (Playwright's wall clock)")
    for k, v in out["interactions"].items():
        f, h = v["from_input"], v["harness"]
        ratio = f"  (x {v['floor']:<15} {f['p95_ratio']:.2f})" if "p95_ratio" in f else ""
        print(f"  {k:<23} n={v['n']:<3} median {f['median_s'] * 1000:5.0f}  p95 {f['p95_s'] * 1000:5.0f}{ratio}"
              f" | median {h['median_s'] * 1000:5.0f}  p95 {h['p95_s'] * 1000:5.0f}")
        for part in ("first", "repeat"):
            if part in f:
                a, b = f[part], h[part]
                print(f"    {part + ' visits':<21} n={a['n']:<3} median {a['median_s'] * 1000:5.0f}  p95 "
                      f"{a['p95_s'] * 1000:5.0f}" + " " * len(ratio) +
                      f" | median {b['median_s'] * 1000:5.0f}  p95 {b['p95_s'] * 1000:5.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
