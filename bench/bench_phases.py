"""Where an interaction's time goes, in Chromium: the dropdown opening, the click to the script run's start,
the run (as the browser sees it: the server's script and the browser applying what it sends), and the run's
end to the page drawn.

    python bench/bench_phases.py [--db PATH] [--n 10] [--kinds baseline series-task explorer-cell]

Starts the dashboard on the store (as ``bench/bench_pages.py``, whose baseline page, waits and clicks it uses)
and the one-chart baseline page, and times ``--n`` repeats of each kind after one warm-up pass, so every view
is already in the server's caches:

- ``baseline``: the baseline page's selectbox (the floor of any interaction);
- ``series-task``: Series detail, another expemergence task in the sidebar;
- ``explorer-cell``: the Explorer's cell value (a radio: no dropdown to open) on the task x metric pivot.

The phases come from a ``MutationObserver`` on the app's ``data-test-script-state`` and a click listener, in the
page's own clock (``performance.now()``); the server's own time for the run is in ``run``, with the browser's.
Reported: the median and the largest of each phase, in ms.  Read them against one another, in one run: the
machine may be shared.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_pages as bp   # noqa: E402  (this folder)

HOOK = """() => {
  window.__phases = [];
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => window.__phases.push([app.getAttribute('data-test-script-state'), performance.now()]))
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  document.addEventListener('click', () => window.__phases.push(['click', performance.now()]), true);
}"""
RAN = "() => window.__phases.some(p => p[0] === 'notRunning')"
TASKS = ["mmlu", "arithmetic", "parsinlu_qa_mc", "abstract_narrative_understanding"]
CELLS = ["share emergent (of decidable series)", "median emergence score (descriptive)"]


def kinds(page, app: str, base: str) -> dict:
    """Per kind: (the URL to open, the i-th action)."""
    return {
        "baseline": (base, lambda i: bp.choose(page, "Curve", str((i + 1) % 4 + 1))),
        "series-task": (f"{app}/series?source=expemergence&task=arithmetic",
                        lambda i: bp.choose(page, "Task", TASKS[i % len(TASKS)])),
        "explorer-cell": (f"{app}/explorer?rows=task&cols=metric",
                          lambda i: page.get_by_test_id("stRadio").get_by_text(CELLS[i % 2]).click()),
    }


def phases(page, act, i: int) -> dict[str, float] | None:
    """One interaction's phases in ms; None when its click started no run (it landed while the page was still
    being redrawn, and the choice was lost): the caller takes another sample."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    bp.done(page)
    page.evaluate(HOOK)
    before = page.evaluate(bp.FIRST_CHART)
    t0 = time.perf_counter()
    p0 = page.evaluate("performance.now()")
    act(i)
    try:
        page.wait_for_function(RAN, polling=10, timeout=10_000)
    except PlaywrightTimeout:
        page.keyboard.press("Escape")
        return None
    total = bp.settled_after(page, t0, chart_before=before)[0]
    p1 = page.evaluate("performance.now()")
    ph = page.evaluate("window.__phases")
    click = [t for k, t in ph if k == "click"][-1]
    start = next(t for k, t in ph if k == "running" and t >= click)
    end = [t for k, t in ph if k == "notRunning"][-1]
    return {"total": total * 1000, "open": click - p0, "to run": start - click, "run": end - start,
            "drawn after": p1 - end}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="store (default $EMERGENCE_DB or data/emergence.duckdb)")
    ap.add_argument("--n", type=int, default=10, help="timed interactions of each kind (default 10)")
    ap.add_argument("--kinds", nargs="*", default=["baseline", "series-task", "explorer-cell"])
    args = ap.parse_args(argv)
    if (found := bp.store_env(args.db)) is None:
        return 2
    db, env = found
    from playwright.sync_api import sync_playwright
    out = {}
    with tempfile.TemporaryDirectory(prefix="emergence-phases-") as tmp:
        script = Path(tmp) / "baseline.py"
        script.write_text(bp.BASELINE)
        app_port, base_port = bp.free_port(), bp.free_port()
        app = bp.start(bp.REPO / "app.py", app_port, env, bp.REPO)
        base = bp.start(script, base_port, env, Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=bp.CHROMIUM, args=bp.ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                page.add_init_script(bp.INPUT_CLOCK)      # bp.settled_after reads it
                todo = kinds(page, f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{base_port}")
                for kind in args.kinds:
                    url, act = todo[kind]
                    bp.load(page, url, timeout=900_000)
                    for i in range(4):          # the warm-up pass: every view of the cycle into the caches
                        phases(page, act, i)
                    out[kind], lost, i = [], 0, 0
                    while len(out[kind]) < args.n and lost < args.n:
                        r = phases(page, act, i)
                        if r is None:
                            lost += 1
                            continue            # the same choice again
                        out[kind].append(r)
                        i += 1
                    if lost:
                        print(f"  {kind}: {lost} click(s) started no run and were taken again", file=sys.stderr)
                browser.close()
        finally:
            bp.stop(app)
            bp.stop(base)
    cols = ["total", "open", "to run", "run", "drawn after"]
    print(f"store: {db}; {args.n} repeats each, ms, median (max)")
    print(f"{'kind':<16}" + "".join(f"{c:>16}" for c in cols))
    for kind, rows in out.items():
        print(f"{kind:<16}" + "".join(f"{statistics.median(r[c] for r in rows):>9.0f} ({max(r[c] for r in rows):>4.0f})"
                                      for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
