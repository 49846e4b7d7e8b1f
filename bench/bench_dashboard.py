"""Drive the real dashboard in Chromium on the full store: first-render time and 20 interactions.

    python bench/bench_dashboard.py [--db PATH] [--n 20]

Starts ``streamlit run app.py`` on a free port against the store (``--db``, else
``$EMERGENCE_DB``, else ``data/emergence.duckdb``; build it first with ``emergence ingest``),
opens the Explorer in Debian's Chromium (Playwright), and times

- the first render: navigation until the heatmap is drawn and no script run is in progress;
- N interactions, alternating a pivot change (rows), a cell-value change and a source filter
  change: from the click until the URL holds the new state, the run is over and the
  heatmap shows the new data.

Prints the first-render time and the median / p95 of the interactions (browser-observed:
server run + websocket + Plotly redraw).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TIMEOUT = 60_000   # ms per wait
from chromium import ARGS, CHROMIUM   # noqa: E402  Debian's Chromium: bench/chromium.py, shared with the tests
# the free port and the app's start-and-health-check, as bench_pages.py has them (this folder is on sys.path)
from bench_pages import free_port, start   # noqa: E402

HEATMAP_Y = """() => {
    const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
    return gd && gd.data && gd.data[0] ? JSON.stringify([gd.data[0].y, gd.data[0].z]) : null;
}"""
CHANGED = "(before) => (" + HEATMAP_Y + ")() !== before"


def start_app(db: Path, port: int) -> subprocess.Popen:
    """The app on ``db`` at ``port``, started and health-checked as bench_pages.py starts it."""
    return start(Path("app.py"), port, {**os.environ, "EMERGENCE_DB": str(db), "EMERGENCE_AUTOBUILD": "0"}, REPO)


def idle(page):
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=TIMEOUT)


def interact(page, kind: str, value: str, before: str) -> float:
    """One interaction, timed from the click until the new heatmap is drawn and the run is over."""
    t0 = time.perf_counter()
    if kind == "rows":
        page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("Rows", exact=True)).click()
        page.get_by_role("option", name=value, exact=True).click()
    elif kind == "cell":
        page.get_by_test_id("stRadio").get_by_text(value).click()
    elif kind == "source":
        box = page.get_by_test_id("stMultiSelect").filter(has=page.get_by_text("Source", exact=True))
        if value:
            box.click()
            page.get_by_role("option", name=value, exact=True).click()
            page.keyboard.press("Escape")
        else:
            box.get_by_role("button", name="Clear all").click()
    page.wait_for_function(CHANGED, arg=before, timeout=TIMEOUT)
    idle(page)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    from emergence.store import db_path
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="store (default $EMERGENCE_DB or data/emergence.duckdb)")
    ap.add_argument("--n", type=int, default=20, help="interactions to time (default 20)")
    args = ap.parse_args(argv)
    db = db_path(args.db)
    if not db.exists():
        print(f"no store at {db}: build it with `emergence ingest` (or pass --db)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright
    from emergence.store import Store
    port = free_port()
    proc = start_app(db, port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            t0 = time.perf_counter()
            # task x metric, the grid this bench has always timed (a bare link now opens metric x source)
            page.goto(f"http://127.0.0.1:{port}/explorer?rows=task&cols=metric")
            page.wait_for_selector('[data-testid="stPlotlyChart"] .main-svg', timeout=TIMEOUT)
            idle(page)
            first = time.perf_counter() - t0
            # sources with scored series on the default axis, most first (a filter must change the heatmap)
            ser = Store(db).series()
            ser = ser[(ser["scale_axis"] == "params") & (ser["n_scales"] >= 3)]
            sources = ser["source"].value_counts().index.tolist()[:5]
            plan = []
            rows = ["family", "metric", "source", "task"]
            for i in range(args.n):
                step = i % 4
                if step in (0, 2):
                    plan.append(("rows", rows[(i // 2) % len(rows)]))
                elif step == 1:
                    plan.append(("cell", "share emergent (of decidable series)" if (i // 4) % 2 == 0
                                 else "median emergence score"))
                else:
                    plan.append(("source", sources[(i // 4) % len(sources)] if (i // 4) % 2 == 0 else ""))
            times = []
            state = {"rows": "task"}
            for kind, value in plan:
                if kind == "rows" and value == state["rows"]:
                    value = "shots" if value != "shots" else "task"
                before = page.evaluate(HEATMAP_Y)
                try:
                    times.append(interact(page, kind, value, before))
                except Exception:
                    page.screenshot(path="/tmp/bench_dashboard_failure.png")
                    print(f"failed at {kind}={value!r}: screenshot /tmp/bench_dashboard_failure.png", file=sys.stderr)
                    raise
                print(f"  {kind}={value or '(all)'}: {times[-1]:.2f} s", file=sys.stderr)
                if kind == "rows":
                    state["rows"] = value
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    print(f"store: {db} ({Store(db).fingerprint()})")
    print(f"first render:           {first:6.2f} s")
    print(f"interactions (n={len(times)}): median {statistics.median(times):6.2f} s   p95 {p95:6.2f} s   "
          f"max {times[-1]:6.2f} s")
    print(f"p95 / median:           {p95 / statistics.median(times):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
