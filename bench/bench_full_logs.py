"""Benchmark: streaming BIG-G full-log archives into the examples table, with bounded memory.

Usage::

    python bench/bench_full_logs.py [--logs 2 6] [--questions 6000] [--workdir /tmp] [--keep]

For each count in ``--logs``, a synthetic task with that many BIG-G full logs (one per model
size, ``ResultsFileData`` with MultipleChoiceQuery queries: 4 subtasks x ``--questions``
questions x 4 choices, prompts of a few hundred characters, as the real logs carry their
inputs) is written and packed as BIG-bench ships it (``tar`` then ``lrzip``:
``results/full-logs_BIG-G_BIG-G-sparse.tar.lrz``).  Then, each in a fresh subprocess:

- **stream** (the target): the ingest's :func:`emergence.ingestion.ingest.parse_source` --
  :func:`emergence.ingestion.sources.bigbench.parse` with ``full_logs=True`` and a spill folder
  (``lrzip -d`` to a pipe, the tar read sequentially, each log decoded one query at a time, example
  rows spilled to Parquet per log and re-scored in numpy per log but for the choice metrics), then the
  choice metrics in DuckDB over the whole spill (:meth:`emergence.store.Store.rescore_choices`);
- **in memory** (the baseline): the same parser on the same logs unpacked into the checkout
  (``full-log_*.json`` files, each read whole with ``json.loads``, every example row kept in
  memory until the end) -- how a checkout's unpacked logs are read.

Figures: wall time, peak RSS of the process (``resource.getrusage``; Python and DuckDB
imports included, measured after them too), example rows.  Target: the streaming peak stays
flat as the archive grows (bounded by one log, not by the archive) and is at most half of the
in-memory peak at the largest size.  The figures are printed last.
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ARCHIVE = "full-logs_BIG-G_BIG-G-sparse.tar.lrz"
SIZES = [("2m", 9.6e6, 1.6e6), ("16m", 3.3e7, 1.6e7), ("125m", 1.3e8, 1.0e8), ("422m", 4.5e8, 4.0e8),
         ("2b", 2.1e9, 1.7e9), ("8b", 8.6e9, 8.0e9), ("27b", 2.8e10, 2.6e10), ("128b", 1.3e11, 1.3e11)]
MiB = 2 ** 20


def log(task: str, name: str, total: float, non_emb: float, questions: int, rng) -> dict:
    subtasks = [f"{task}:part_{i}" for i in range(4)]
    queries = []
    for sub in subtasks:
        samples = []
        for q in range(questions):
            correct = int(rng.integers(4))
            logits = rng.normal(0.0, 1.0, 4)
            logits[correct] += 2.5 * (np.log10(total) - 8.0)
            lp = logits - np.log(np.exp(logits).sum())
            targets = [f"option {c}" for c in range(4)]
            samples.append({"input": f"Question {q} of {sub}: " + "context " * 40 + "\nA: ", "targets": targets,
                            "scores": lp.tolist(), "target_values": {t: int(i == correct) for i, t in enumerate(targets)},
                            "correct": float(np.argmax(lp) == correct)})
        queries.append({"function": "cond_log_prob", "shots": 0, "task": sub, "samples": samples})
    return {"scores": [{"score_dict": {"multiple_choice_grade": 0.5}, "preferred_score": "multiple_choice_grade",
                        "number_of_shots": 0, "low_score": 0.25, "high_score": 1.0, "subtask_description": task}],
            "task": {"task_name": task},
            "model": {"model_family": "BIG-G T=0", "model_name": name, "total_params": total,
                      "non_embedding_params": non_emb, "flop_matched_non_embedding_params": non_emb,
                      "training_batch_size": 262144, "training_steps": 500000, "description": "synthetic",
                      "decoding_params": {}},
            "queries": queries}


def make(workdir: Path, n_logs: int, questions: int) -> tuple[Path, Path, int]:
    """(checkout with the archive, checkout with the unpacked logs, bytes of logs)."""
    task = "synthetic_task"
    rng = np.random.default_rng(n_logs)
    packed = workdir / f"packed-{n_logs}"
    unpacked = workdir / f"unpacked-{n_logs}"
    res_p = packed / "bigbench" / "benchmark_tasks" / task / "results"
    res_u = unpacked / "bigbench" / "benchmark_tasks" / task / "results"
    res_p.mkdir(parents=True)
    res_u.mkdir(parents=True)
    tar_path = res_p / ARCHIVE[:-len(".lrz")]
    total = 0
    with tarfile.open(tar_path, "w") as tf:
        for name, tot, ne in SIZES[:n_logs]:
            raw = json.dumps(log(task, name, tot, ne, questions, rng)).encode()
            total += len(raw)
            fname = f"full-log_BIG-G_T=0_{name}.json"
            (res_u / fname).write_bytes(raw)
            info = tarfile.TarInfo(fname)
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
    subprocess.run(["lrzip", "-q", "-f", "-o", str(res_p / ARCHIVE), str(tar_path)], check=True, capture_output=True)
    tar_path.unlink()
    return packed, unpacked, total


def child(mode: str, root: str, spill: str):
    from emergence.ingestion.sources import bigbench as bb
    # the ingest's imports (the stream re-scores each log as it goes), so both modes start alike
    import duckdb  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import emergence.analysis.rescore  # noqa: F401
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    if mode == "stream":
        # the ingest's step: the parser (numpy re-scoring per log but the choice metrics), then the choice
        # metrics in DuckDB over the whole spill (Store.rescore_choices; no store file is made)
        from emergence.ingestion import catalog
        from emergence.ingestion.ingest import Planned, parse_source
        from emergence.store import Store
        b = parse_source(Planned("bigbench", Path(root), catalog.get("bigbench"), bb,
                                 options={"full_logs": True, "spill_dir": spill}),
                         store=Store(Path(spill) / "unused.duckdb"))
    else:
        b = bb.parse(Path(root))
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": dt, "peak": peak, "after_imports": base, "rows": b.n_examples}))


def run(mode: str, root: Path, workdir: Path) -> dict:
    spill = tempfile.mkdtemp(dir=workdir)
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(root), spill], capture_output=True,
                         text=True, check=True)
    shutil.rmtree(spill, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logs", type=int, nargs="+", default=[2, 8])
    ap.add_argument("--questions", type=int, default=6000)
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(*a.child)
    if shutil.which("lrzip") is None:
        sys.exit("lrzip is not installed (apt-get install lrzip)")
    work = Path(tempfile.mkdtemp(prefix="bench-full-logs-", dir=a.workdir))
    rows = []
    try:
        for n in a.logs:
            t = time.perf_counter()
            packed, unpacked, nbytes = make(work, n, a.questions)
            arch = (packed / "bigbench" / "benchmark_tasks" / "synthetic_task" / "results" / ARCHIVE).stat().st_size
            print(f"made {n} logs, {nbytes / MiB:,.0f} MiB of JSON ({arch / MiB:,.1f} MiB packed) in "
                  f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
            s = run("stream", packed, work)
            m = run("memory", unpacked, work)
            assert s["rows"] == m["rows"], (s, m)
            rows.append((n, nbytes, s, m))
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'logs':>4} {'JSON MiB':>9} {'rows':>10} | {'stream s':>8} {'peak MiB':>8} {'(+imports)':>10} | "
          f"{'memory s':>8} {'peak MiB':>8} | {'peak ratio':>10}")
    for n, nbytes, s, m in rows:
        print(f"{n:>4} {nbytes / MiB:>9,.0f} {s['rows']:>10,} | {s['seconds']:>8.2f} {s['peak'] / MiB:>8,.0f} "
              f"{(s['peak'] - s['after_imports']) / MiB:>+10,.0f} | {m['seconds']:>8.2f} {m['peak'] / MiB:>8,.0f} | "
              f"{s['peak'] / m['peak']:>10.2f}")
    growth_s = rows[-1][2]["peak"] / rows[0][2]["peak"]
    growth_m = rows[-1][3]["peak"] / rows[0][3]["peak"]
    print(f"\npeak growth from {rows[0][0]} to {rows[-1][0]} logs: stream {growth_s:.2f}x, in memory {growth_m:.2f}x; "
          f"stream / in-memory peak at {rows[-1][0]} logs: {rows[-1][2]['peak'] / rows[-1][3]['peak']:.2f} "
          f"(target <= 0.5, and stream growth near 1)")


if __name__ == "__main__":
    main()
