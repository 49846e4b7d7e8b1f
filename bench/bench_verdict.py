"""Benchmark: what the verdicts of the full real store add to a full ingest (target: at most 2 minutes on 2 cores).

    python bench/bench_verdict.py [--data ../shared/data] [--workdir /tmp]

Three phases, each in its own subprocess (its own imports, its own peak memory), into fresh stores:

1. **without verdicts**: a full ingest of every source in DATA with the verdict replaced by a stub that tests
   nothing (the same points, emergence scores, detection scales and FDR step; no fits, no bootstrap);
2. **with verdicts**: the same ingest as a user runs it;
3. **re-ingest one changed source**: into the store of phase 2, one source's files with one byte of
   whitespace added to one of them (new content hash, same rows): its series are scored again, and the
   cache (points unchanged -> p-value kept) spares the bootstrap.

Prints each phase's wall time and the difference of phases 2 and 1 (the verdicts' cost), the share of phase 2
spent in scoring (from the ingest's progress messages) and phase 3's time.  The three run in one invocation on
the same machine, so the difference is measured against a baseline of the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _child(phase: str, db: str, data: str, extra: str) -> dict:
    from emergence.ingestion.ingest import ingest
    if phase == "stub":
        import numpy as np
        from emergence.analysis import verdict

        def assess(points, keys, **kw):          # the same shape, nothing tested
            first = points.drop_duplicates(keys)[keys].reset_index(drop=True)
            for c in verdict.ASSESS_COLUMNS:
                first[c] = np.nan
            first["n_sizes"] = 0
            first["pre_state"] = "insufficient"
            first["pre_reason"] = "stub"
            for c in ("noise", "tau_source", "p_method"):
                first[c] = ""
            first["n_boot"] = 0
            first["n_before"] = -1
            first["n_after"] = -1
            return first
        verdict.assess = assess
    marks = []
    t0 = time.perf_counter()
    sources = [extra] if phase == "reingest" else None
    ingest(sources, db=db, data=data if phase != "reingest" else str(Path(extra).parent), online=False,
           progress=lambda m: marks.append((time.perf_counter() - t0, m)))
    seconds = time.perf_counter() - t0
    scoring = 0.0
    for (t, m), nxt in zip(marks, marks[1:] + [(seconds, "end")]):
        if m.startswith("scoring series") or m.startswith("false discovery"):
            scoring += nxt[0] - t
    return {"seconds": seconds, "scoring": scoring,
            "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def run_phase(phase: str, db: Path, data: Path, extra: str = "") -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(REPO)!r}); sys.path.insert(0, {str(REPO / 'bench')!r});"
            f"import bench_verdict as b; print(json.dumps(b._child({phase!r}, {str(db)!r}, {str(data)!r}, {extra!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--source", default="mlfoundations-scaling", help="the source phase 3 re-ingests")
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-verdict-", dir=a.workdir))
    try:
        t = time.time()
        stub = run_phase("stub", work / "stub.duckdb", Path(a.data))
        full = run_phase("full", work / "full.duckdb", Path(a.data))
        # phase 3: a copy of one source with one file changed by a trailing newline
        copy = work / "data" / a.source
        shutil.copytree(Path(a.data) / a.source, copy)
        f = next(p for p in sorted(copy.rglob("*")) if p.is_file() and p.suffix in (".csv", ".json", ".jsonl"))
        with open(f, "ab") as fh:
            fh.write(b"\n")
        again = run_phase("reingest", work / "full.duckdb", work / "data", str(copy))
        load = os.getloadavg()[0]
        print(f"without verdicts (stub): {stub['seconds']:7.1f} s  (scoring {stub['scoring']:.1f} s)")
        print(f"with verdicts:           {full['seconds']:7.1f} s  (scoring {full['scoring']:.1f} s), peak RSS "
              f"{full['max_rss'] / 2 ** 30:.2f} GiB")
        print(f"verdicts add:            {full['seconds'] - stub['seconds']:7.1f} s  (target <= 120 s)")
        print(f"re-ingest {a.source} with one file changed (same rows): {again['seconds']:.1f} s "
              f"(scoring {again['scoring']:.1f} s)")
        print(f"load average (1 min) at the end: {load:.2f}; whole benchmark {time.time() - t:.0f} s")
        return 0 if full["seconds"] - stub["seconds"] <= 120 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
