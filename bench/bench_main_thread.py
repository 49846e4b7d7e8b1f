"""The browser's main-thread time of warm page loads, per page, against the one-chart baseline page.

    python bench/bench_main_thread.py [--db PATH] [--reps 6] [--pages overview ...] [--tree DIR ...] [--profile]
                                      [--drill-downs N]

Where ``bench/bench_pages.py`` times a warm load from navigation to drawn (wall clock: the server, the
websocket and the browser, and whatever else the machine is doing), this script reads what the browser's
main thread spent on the load, from Chromium's own counters (CDP ``Performance.getMetrics``, read when the
load is done, in the same tab: they count from the navigation): ``TaskDuration`` (all its tasks),
``ScriptDuration`` (JavaScript), ``LayoutDuration`` and ``RecalcStyleDuration``.  On these pages the main
thread is what a load waits for, and its time moves less with the machine's other load than wall time does.

``--drill-downs N`` adds N heatmap drill-downs per tree (as ``bench_pages.py``'s, each cell once first so that
every timed one is a repeat: the server's caches warm, what is left the browser's), the trees taking turns: for
each, the wall time from input and the main thread's time over the drill-down (the counters' difference from the
click to settled), and with ``--profile`` the self time per script file and function over all of them.  It is how
a drill-down was found to pay ~50 ms for any data grid on Series detail (BENCHMARKS.md section 9, tenth session).

``--tree`` names one or more checkouts of this repository (default: this one), each served by its own
Streamlit server on the same store; their loads take turns with the baseline's, so a slow spell hits all
alike: use it to compare a change with the code before it.  ``--profile`` adds a CPU profile
(CDP ``Profiler``) of each page's loads: self time per script file (Streamlit's lazily loaded chunks, Plotly)
and the top functions, which is how the syntax highlighter behind ``st.code`` was found (BENCHMARKS.md
section 9).  The done condition is ``bench_pages.DONE``.
"""
from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_pages as bp  # noqa: E402  the servers, the baseline page and the done condition
from chromium import ARGS, CHROMIUM  # noqa: E402

DRILL = "drill-down"
METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


def read_metrics(cdp) -> dict[str, float]:
    """The main thread's counters now (CDP ``Performance.getMetrics``), in seconds."""
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def start_profiler(cdp):
    """Start CDP's sampling profiler (200 us); ``Profiler.stop`` hands over the profile."""
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    cdp.send("Profiler.start")


def profile_load(cdp, page, url: str) -> collections.Counter:
    """Self time (ms) per script file and per function of one load."""
    start_profiler(cdp)
    bp.load(page, url)
    return self_times(cdp.send("Profiler.stop")["profile"])


def self_times(prof: dict) -> collections.Counter:
    """Self time (ms) per script file and per function of a CDP profile."""
    nodes = {n["id"]: n["callFrame"] for n in prof["nodes"]}
    out: collections.Counter = collections.Counter()
    deltas = prof["timeDeltas"][1:] + [0]
    for sample, dt in zip(prof["samples"], deltas):
        frame = nodes[sample]
        where = frame["url"].rsplit("/", 1)[-1] or frame["functionName"] or "(native)"
        out[("file", where)] += dt / 1000
        out[("function", f"{frame['functionName'] or '(anonymous)'} @ {where}")] += dt / 1000
    return out


def drill_downs(page, cdp, bases: dict[str, str], cells: list[tuple[str, str]], n: int, profile: bool
                ) -> tuple[dict[str, list[dict]], dict[str, collections.Counter]]:
    """``n`` repeat drill-downs per tree (``bases``: tree name -> app URL), the trees taking turns on each cell; per
    drill-down the wall time from input and the main-thread counters' growth over it (ms), and with ``profile`` the
    self times per drill-down, averaged."""
    for base in bases.values():              # each cell once first: the timed ones are repeats
        for cell in cells:
            bp.click_until_series(page, *bp.cell_point(page, base, *cell))
    out: dict[str, list[dict]] = {name: [] for name in bases}
    prof: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for i in range(n):
        for name, base in bases.items():
            x, y = bp.cell_point(page, base, *cells[i % len(cells)])
            before = read_metrics(cdp)
            if profile:
                start_profiler(cdp)
            _, from_input = bp.click_until_series(page, x, y)
            after = read_metrics(cdp)
            if profile:
                for k, ms in self_times(cdp.send("Profiler.stop")["profile"]).items():
                    prof[name][k] += ms / n
            out[name].append({"wall": from_input * 1000, **{m: (after[m] - before[m]) * 1000 for m in METRICS}})
        print(f"  drill-down {i + 1} of {n} done", file=sys.stderr)
    return out, prof


def print_loads(res: dict, db, reps: int):
    """The warm loads' table: medians per tree and page, main-thread time against the baseline page's."""
    base = statistics.median(x["TaskDuration"] for x in res[("baseline", "baseline")])
    print(f"store: {db}; medians of {reps} warm loads (ms); x baseline = main-thread time over the "
          f"baseline page's ({base:.0f} ms)")
    print(f"{'tree':<20}{'page':<16}{'wall':>7}{'main':>7}{'script':>8}{'layout':>8}{'style':>7}{'x baseline':>12}")
    for (tree, page_), v in res.items():
        med = {k: statistics.median(x[k] for x in v) for k in ("wall",) + METRICS}
        print(f"{tree[-20:]:<20}{page_:<16}{med['wall']:>7.0f}{med['TaskDuration']:>7.0f}{med['ScriptDuration']:>8.0f}"
              f"{med['LayoutDuration']:>8.0f}{med['RecalcStyleDuration']:>7.0f}{med['TaskDuration'] / base:>12.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="store (default $EMERGENCE_DB or data/emergence.duckdb)")
    ap.add_argument("--reps", type=int, default=6, help="warm loads per page and tree (default 6; medians)")
    ap.add_argument("--pages", nargs="*", default=list(bp.PAGES), help="pages to load (default all)")
    ap.add_argument("--tree", nargs="*", default=[str(REPO)], help="checkouts to compare (default this one)")
    ap.add_argument("--profile", action="store_true", help="also a CPU profile of each page's loads (and of the "
                    "drill-downs)")
    ap.add_argument("--drill-downs", type=int, default=0, metavar="N",
                    help="also N repeat heatmap drill-downs per tree, the trees taking turns (default 0)")
    args = ap.parse_args(argv)
    if (found := bp.store_env(args.db)) is None:
        return 2
    db, env = found
    from playwright.sync_api import sync_playwright
    trees = [Path(t).resolve() for t in args.tree]
    names = [t.name if len({x.name for x in trees}) == len(trees) else str(t) for t in trees]
    res: dict[tuple[str, str], list[dict]] = {}
    prof: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    procs = []
    with tempfile.TemporaryDirectory(prefix="emergence-bench-") as tmp:
        script = Path(tmp) / "baseline.py"
        script.write_text(bp.BASELINE)
        try:
            port = bp.free_port()
            procs.append(bp.start(script, port, env, Path(tmp)))
            urls = {("baseline", "baseline"): f"http://127.0.0.1:{port}"}
            bases = {}                             # tree name -> its app's URL
            for tree, name in zip(trees, names):
                port = bp.free_port()
                procs.append(bp.start(tree / "app.py", port, env, tree))
                bases[name] = f"http://127.0.0.1:{port}"
                urls.update({(name, p): f"{bases[name]}/{p}" for p in args.pages})
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                page.add_init_script(bp.INPUT_CLOCK)      # a drill-down's clock starts at its pointer-down
                cdp = page.context.new_cdp_session(page)
                cdp.send("Performance.enable")
                for url in urls.values():          # cold: the caches fill
                    bp.load(page, url, timeout=900_000)
                for r in range(args.reps):
                    for p_ in args.pages:          # the baseline, then this page in every tree, in turn
                        for key in [("baseline", "baseline")] + [(n, p_) for n in names]:
                            wall = bp.load(page, urls[key])
                            got = read_metrics(cdp)
                            res.setdefault(key, []).append({"wall": wall * 1000,
                                                            **{m: got[m] * 1000 for m in METRICS}})
                            if args.profile and r == 0:
                                prof[key] += profile_load(cdp, page, urls[key])
                    print(f"  turn {r + 1} of {args.reps} done", file=sys.stderr)
                if args.drill_downs:
                    drills, dprof = drill_downs(page, cdp, bases, bp.drill_cells(db), args.drill_downs, args.profile)
                browser.close()
        finally:
            for proc in procs:
                bp.stop(proc)
    if res:
        print_loads(res, db, args.reps)
    if args.drill_downs:
        print(f"\n{args.drill_downs} repeat drill-downs per tree, medians (ms): wall from input; the main thread's "
              "time from the click to settled")
        print(f"{'tree':<20}{'wall':>7}{'p95':>7}{'main':>7}{'script':>8}{'layout':>8}{'style':>7}")
        for name, v in drills.items():
            med = {k: statistics.median(x[k] for x in v) for k in ("wall",) + METRICS}
            print(f"{name[-20:]:<20}{med['wall']:>7.0f}{bp.p95([x['wall'] for x in v]):>7.0f}"
                  f"{med['TaskDuration']:>7.0f}{med['ScriptDuration']:>8.0f}{med['LayoutDuration']:>8.0f}"
                  f"{med['RecalcStyleDuration']:>7.0f}")
        prof.update({(name, DRILL): c for name, c in dprof.items()})
    for key, c in prof.items():
        of = "a drill-down (mean)" if key[1] == DRILL else f"one load, {key[1]}"
        print(f"\nprofile of {of}, {key[0]}: self time, ms")
        for kind in ("file", "function"):
            for (k, what), ms in sorted(((k, v) for k, v in c.items() if k[0] == kind), key=lambda kv: -kv[1])[:8]:
                print(f"  {kind:<9}{ms:7.0f}  {what[:90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
