"""Plotly's own drawing time of each page's charts, alone in Chromium: what a chart costs the browser, without
Streamlit, the server or the rest of the page.

    python bench/bench_plotly.py [--db PATH] [--reps 10] [--pages overview predictability] [--tree DIR ...]

For each checkout (``--tree``, default this one) the pages are run under Streamlit's AppTest on the store, and
each chart's figure is taken as the page sends it to the browser.  Each figure then goes through
``Plotly.newPlot`` (Plotly's bundled ``plotly.min.js``) in Debian's Chromium, at the width the page gives it,
under a template with what Streamlit's chart theme sets for the layout (margins of 0 at the left and right,
automatic margins on: the first is the cause of a second drawing, the second is how it happens).  Reported per
chart: the median over ``--reps`` of the main thread's time (CDP ``Performance.getMetrics`` ``TaskDuration``)
from ``newPlot`` until the next frame, the trees' figures taking turns.  This is how ``fit_margins``' effect was
measured (BENCHMARKS.md section 9): the whole-page benches (``bench_pages.py``, ``bench_main_thread.py``) move
with the machine's other load by more than one chart's drawing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pages as bp  # noqa: E402  the store and the app's environment
from chromium import ARGS, CHROMIUM  # noqa: E402

#: what Streamlit's Plotly theme sets that decides a second drawing (read from a drawn chart's ``layout.template``)
THEME = {"layout": {"margin": {"l": 0, "r": 0, "t": 50, "b": 80, "pad": 8},
                    "xaxis": {"automargin": True}, "yaxis": {"automargin": True}}}
#: the width a chart is drawn at in a 1500 px window: the main column, or half of it for two charts side by side
WIDTH, HALF = 1040, 512

DUMP = r'''
import json, sys
from streamlit.testing.v1 import AppTest
tree, pages = sys.argv[1], sys.argv[2:]
out = {}
for pg in pages:
    at = AppTest.from_file(f"{tree}/app.py", default_timeout=900)
    at.query_params["page"] = pg
    at.run()
    if at.exception:
        raise SystemExit(f"{pg}: {[e.value for e in at.exception]}")
    out[pg] = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
print(json.dumps(out))
'''

DRAW = """async (s) => { const f = JSON.parse(s); const d = document.createElement('div');
    document.getElementById('c').appendChild(d);
    await Plotly.newPlot(d, f.data, f.layout, {displaylogo: false});
    await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0))); }"""


def figures_of(tree: Path, pages: list[str], env: dict) -> dict[str, list[dict]]:
    """Each page's figures as sent, from AppTest run in ``tree`` (its own code: a subprocess there)."""
    out = subprocess.run([sys.executable, "-c", DUMP, str(tree), *pages], cwd=tree, env={**env, "PYTHONPATH": str(tree)},
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--pages", nargs="+", default=["overview", "predictability"])
    ap.add_argument("--tree", nargs="+", type=Path, default=[REPO])
    args = ap.parse_args(argv)
    got = bp.store_env(args.db)
    if got is None:
        return 2
    db, env = got
    import plotly
    from playwright.sync_api import sync_playwright
    charts = []      # (tree, page, i, figure JSON)
    for tree in args.tree:
        for pg, figs in figures_of(tree.resolve(), args.pages, env).items():
            for i, f in enumerate(figs):
                f["layout"]["template"] = THEME
                f["layout"]["width"] = HALF if pg == "overview" and i > 0 else WIDTH
                charts.append((tree, pg, i, json.dumps(f)))
    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    times: dict[tuple, list[float]] = {}
    with sync_playwright() as p:
        br = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = br.new_page(viewport={"width": 1500, "height": 1100})
        page.set_content("<html><body><div id=c></div></body></html>")
        page.add_script_tag(path=str(js))
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")

        def busy() -> float:
            return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}["TaskDuration"]
        for r in range(args.reps + 1):          # the first round warms Plotly up and is not counted
            for pg_i in sorted({(pg, i) for _, pg, i, _ in charts}):
                for tree, pg, i, spec in charts:  # the trees' versions of a chart in turns
                    if (pg, i) != pg_i:
                        continue
                    page.evaluate("() => { document.getElementById('c').innerHTML = ''; }")
                    page.wait_for_timeout(30)
                    a = busy()
                    page.evaluate(DRAW, spec)
                    b = busy()
                    if r:
                        times.setdefault((pg, i, str(tree)), []).append((b - a) * 1000)
        br.close()
    print(f"store: {db}; Plotly.newPlot until the next frame, main-thread ms, median of {args.reps}")
    print(f"{'page':<16}{'chart':>6}  " + "  ".join(f"{t.name or str(t):>14}" for t in args.tree) + "  title")
    for pg, i in sorted({(pg, i) for _, pg, i, _ in charts}, key=lambda k: (args.pages.index(k[0]), k[1])):
        spec = next(json.loads(s) for _, p_, j, s in charts if (p_, j) == (pg, i))
        title = str((spec["layout"].get("title") or {}).get("text", ""))[:50]
        cells = [statistics.median(times[(pg, i, str(t))]) if (pg, i, str(t)) in times else float("nan")
                 for t in args.tree]
        print(f"{pg:<16}{i:>6}  " + "  ".join(f"{c:14.0f}" for c in cells) + f"  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
