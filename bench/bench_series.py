"""Benchmark: vectorised emergence scores against a plain per-series ``groupby().apply`` loop.

Usage::

    python bench/bench_series.py [STORE.duckdb] [--synthetic 1000000] [--loop-sample 20000] [--full-loop]

(a) Real series: every series of the store's scoring observations (read through
    ``emergence.store.Store(path).observations()``) on every scale axis, scored by
    :func:`emergence.analysis.scores.emergence_scores` and by :func:`emergence.analysis.scores.emergence_scores_loop`
    in the same run (results compared), plus the whole ``score_observations`` with the verdicts and its
    bootstrap p-values.  Without a path the default store (``$EMERGENCE_DB`` or
    ``data/emergence.duckdb``) is used if it exists.
(b) Synthetic: N series of 3-12 points; the vectorised path's time and peak memory
    (tracemalloc) on all of them, the loop on a random sample of ``--loop-sample`` series
    (its per-series time extrapolated to N, and said so) unless ``--full-loop``.

The ratios are printed last.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emergence.analysis.scores import emergence_scores, emergence_scores_loop  # noqa: E402
from emergence.analysis.series import AXES, SERIES_KEY, build_series_points, score_observations  # noqa: E402

KEYS = ["scale_axis", "series_model"] + SERIES_KEY


def _timed(fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    return out, time.perf_counter() - t


def _same(fast: pd.DataFrame, slow: pd.DataFrame) -> bool:
    if len(fast) != len(slow) or fast["flag"].tolist() != slow["flag"].tolist():
        return False
    a = fast["emergence_score"].to_numpy(float)
    b = slow["emergence_score"].to_numpy(float)
    return bool(np.allclose(a, b, rtol=1e-10, equal_nan=True))


def real(path: Path) -> list[str]:
    from emergence.store import Store
    obs, t_read = _timed(lambda: Store(path).observations(scoring_only=True))
    print(f"[real] {path}: {len(obs):,} scoring observations (read in {t_read:.2f} s)")
    pts = pd.concat([p for p in (build_series_points(obs, a) for a in AXES) if len(p)], ignore_index=True)
    kw = dict(x="x", y="y", higher_is_better="higher_is_better", resolution="resolution")
    emergence_scores(pts.head(1000), KEYS, **kw)          # warm-up: first-call imports and caches
    fast, t_fast = _timed(emergence_scores, pts, KEYS, **kw)
    slow, t_slow = _timed(emergence_scores_loop, pts, KEYS, **kw)
    n = len(fast)
    print(f"[real] {n:,} series ({int(fast['emergence_score'].notna().sum()):,} scored) on {len(pts):,} points")
    print(f"[real] vectorised {t_fast:.3f} s   loop {t_slow:.3f} s   identical: {_same(fast, slow)}")
    series, t_all = _timed(score_observations, obs)
    print(f"[real] score_observations incl. the verdicts (fits, bootstrap, FDR) in one process: {t_all:.2f} s "
          f"({int((series['pre_state'] == 'tested').sum()):,} tested, {int(series['emergent'].sum()):,} emergent rows)")
    return [f"real: loop / vectorised = {t_slow / t_fast:.1f}x  (vectorised {t_fast:.3f} s for all {n:,} series)"]


def synthetic_points(n_series: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 13, n_series)
    sid = np.repeat(np.arange(n_series), lengths)
    pos = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    n = rng.choice([50, 200, 1000], n_series)[sid]
    y = rng.binomial(n, np.clip(0.05 + 0.08 * pos * rng.random(sid.size), 0, 1)) / n
    return pd.DataFrame({"s": sid, "x": 10.0 ** (8 + 0.5 * pos), "y": y, "res": 1.0 / n,
                         "hib": True})


def synthetic(n_series: int, loop_sample: int, full_loop: bool) -> list[str]:
    pts = synthetic_points(n_series)
    print(f"[synthetic] {n_series:,} series, {len(pts):,} points")
    kw = dict(x="x", y="y", higher_is_better="hib", resolution="res")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fast, t_fast = _timed(emergence_scores, pts, ["s"], **kw)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    emergence_scores(pts, ["s"], **kw)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"[synthetic] vectorised {t_fast:.2f} s, peak traced memory {peak / 2**20:,.0f} MiB "
          f"(process max RSS grew {max(rss1 - rss0, 0) / 1024:,.0f} MiB)")
    if full_loop or loop_sample >= n_series:
        slow, t_slow = _timed(emergence_scores_loop, pts, ["s"], **kw)
        print(f"[synthetic] loop over all {n_series:,} series {t_slow:.1f} s   identical: {_same(fast, slow)}")
        label = "measured"
    else:
        rng = np.random.default_rng(1)
        pick = np.sort(rng.choice(n_series, loop_sample, replace=False))
        sub = pts[pts["s"].isin(pick)]
        slow, t_sub = _timed(emergence_scores_loop, sub, ["s"], **kw)
        same = _same(fast[fast["s"].isin(pick)].reset_index(drop=True), slow)
        t_slow = t_sub / loop_sample * n_series
        print(f"[synthetic] loop over a sample of {loop_sample:,} series {t_sub:.1f} s "
              f"-> {t_slow:.0f} s extrapolated to {n_series:,}   identical on the sample: {same}")
        label = f"loop extrapolated from {loop_sample:,} series"
    return [f"synthetic: loop / vectorised = {t_slow / t_fast:.1f}x  ({label}; vectorised {t_fast:.2f} s, "
            f"peak {peak / 2**20:,.0f} MiB for {n_series:,} series)"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("db", nargs="?", help="a store (DuckDB file); default: the project's store if it exists")
    ap.add_argument("--synthetic", type=int, default=1_000_000, help="synthetic series (0: skip)")
    ap.add_argument("--loop-sample", type=int, default=20_000, help="series the synthetic loop runs on")
    ap.add_argument("--full-loop", action="store_true", help="run the loop on every synthetic series")
    args = ap.parse_args(argv)
    ratios: list[str] = []
    from emergence.store import db_path
    path = db_path(args.db)
    if path.exists():
        ratios += real(path)
    else:
        print(f"[real] no store at {path}: skipped (give a DuckDB path, or ingest first)")
    if args.synthetic > 0:
        ratios += synthetic(args.synthetic, args.loop_sample, args.full_loop)
    print("\n".join(ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
