"""Timings the tests used to assert (a test never asserts wall-clock time): printed against their budgets.

- the mirage simulator at the size its sliders redraw (20 scales x 10,000 examples): budget 100 ms median;
- parsing the real pythia folder (889 files): budget 10 s;
- parsing the real inverse-scaling-eval-pipeline folder (312,478 examples): budget 20 s.

    python bench/bench_timings.py [DATA_DIR]      # default ../shared/data; the parses are skipped without it
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(data: Path) -> int:
    from emergence.analysis.simulate import simulate
    rows = []
    scales = np.logspace(7, 12, 20)
    simulate(n_examples=10_000, scales=scales, seed=0)          # warm
    rows.append(("simulate 20 scales x 10,000 examples (median of 5)",
                 timed(lambda: simulate(n_examples=10_000, scales=scales, seed=1), 5), 0.1))
    if (data / "pythia").is_dir():
        from emergence.ingestion.sources.lm_eval_results import parse
        rows.append(("parse pythia (889 files)", timed(lambda: parse(data / "pythia", source="pythia")), 10.0))
    if (data / "inverse-scaling-eval-pipeline").is_dir():
        from emergence.ingestion.sources import inverse_scaling
        rows.append(("parse inverse-scaling-eval-pipeline",
                     timed(lambda: inverse_scaling.parse(data / "inverse-scaling-eval-pipeline")), 20.0))
    over = 0
    for name, seconds, budget in rows:
        ok = seconds <= budget
        over += not ok
        print(f"{name:55s} {seconds:8.3f} s   budget {budget:g} s   {'met' if ok else 'OVER'}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data"))
