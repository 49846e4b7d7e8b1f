"""Benchmark: per-example multiple-choice re-scoring at scale, through the store (DuckDB).

Usage::

    python bench/bench_examples.py [--rows 10000000] [--parquet-rows 100000000]
                                   [--models 100] [--tasks 20] [--choices 4] [--workdir /tmp] [--keep]

A synthetic per-example table of ``--rows`` multiple-choice questions (``--models`` x
``--tasks`` x questions, ``--choices`` per question; per-choice log-probabilities with a
model-dependent advantage for the right choice) is

1. written into a fresh store's ``examples`` table through :meth:`emergence.store.Store.write`
   (in batches of 1,000,000 rows; setup, timed but not the target), then re-scored to
   Brier score (multi-class and binary) and multiple choice grade per (model, task) with
   :meth:`emergence.store.Store.rescore_choices` in a fresh process: time and peak memory
   (the process's maximum RSS, ``resource.getrusage``);
2. ``--parquet-rows`` rows are generated in chunks with pyarrow into one Parquet file under
   ``--workdir`` (deleted afterwards unless ``--keep``), then re-scored by the same method
   straight from the file (DuckDB streams it), again in a fresh process.

Each measured step runs in its own subprocess, so a step's peak memory is its own.  One
(model, task) group is re-scored by :mod:`emergence.analysis.rescore`'s pure functions as a check.
Targets: the store step < 15 s and < 3 GiB; the Parquet step within the same memory bound.
The figures are printed last.
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHUNK = 1_000_000
SEED = 20240601
GiB = 2 ** 30


def max_rss() -> int:
    """Peak resident memory of this process so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------- synthetic data
def chunk_arrays(start: int, n: int, tasks: int, questions: int, choices: int):
    """Rows start..start+n of the synthetic table: model, task, question ids, logprobs (n, choices), right index."""
    r = np.arange(start, start + n, dtype=np.int64)
    model = r // (tasks * questions)
    task = (r // questions) % tasks
    question = r % questions
    rng = np.random.default_rng([SEED, start])
    lp = rng.standard_normal((n, choices))
    right = rng.integers(0, choices, n)
    skill = 0.04 * model + 0.1 * task - 1.0          # larger models and easier tasks favour the right choice
    lp[np.arange(n), right] += skill
    lp -= 1.5
    return model, task, question, lp, right


def arrow_chunk(start: int, n: int, models: int, tasks: int, questions: int, choices: int, full: bool):
    """A pyarrow Table of one chunk: the examples schema (``full``) or just the columns re-scoring needs."""
    import pyarrow as pa
    from emergence.ingestion.schema import EXAMPLE_COLUMNS
    model, task, question, lp, right = chunk_arrays(start, n, tasks, questions, choices)

    def labels(codes, names):
        return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names))

    cols = {
        "model": labels(model, [f"model-{i:03d}" for i in range(models)]),
        "task": labels(task, [f"task-{i:02d}" for i in range(tasks)]),
        "example_id": pa.array(question).cast(pa.string()),
        "choice_logprobs": pa.FixedSizeListArray.from_arrays(pa.array(lp.ravel()), choices)
        .cast(pa.list_(pa.float64())),
        "correct_index": pa.array(right),
    }
    if not full:
        return pa.table(cols)
    kinds = {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(),
             "list": pa.list_(pa.float64())}
    out = {c: cols.get(c, pa.nulls(n, kinds[k])) for c, k in EXAMPLE_COLUMNS.items()}
    out["source"] = labels(np.zeros(n), ["synthetic"])
    out["family"] = out["model"]
    out["n_choices"] = pa.array(np.full(n, choices))
    return pa.table(out)


# ---------------------------------------------------------------- phases (each in its own process)
def phase_build_store(a) -> dict:
    import pandas as pd
    from emergence.ingestion.schema import OBSERVATION_COLUMNS, Batch, conform
    from emergence.store import Store
    questions = a.rows // (a.models * a.tasks)
    obs = conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, "synthetic")

    def batches():
        # one source per chunk: Store.write replaces a source wholesale, so chunks need their own names
        for i, start in enumerate(range(0, a.rows, CHUNK)):
            n = min(CHUNK, a.rows - start)
            ex = arrow_chunk(start, n, a.models, a.tasks, questions, a.choices, full=True) \
                .to_pandas(types_mapper=pd.ArrowDtype)
            ex["source"] = f"synthetic-{i:03d}"
            yield Batch(f"synthetic-{i:03d}", obs, ex, [], {f"chunk-{i:03d}": f"{start:064d}"}), {}

    t = time.perf_counter()
    Store(a.db).write(batches())
    return {"seconds": time.perf_counter() - t, "max_rss": max_rss(), "bytes": os.path.getsize(a.db)}


def phase_write_parquet(a) -> dict:
    import pyarrow.parquet as pq
    questions = a.parquet_rows // (a.models * a.tasks)
    t = time.perf_counter()
    writer = None
    try:
        for start in range(0, a.parquet_rows, CHUNK):
            tbl = arrow_chunk(start, min(CHUNK, a.parquet_rows - start), a.models, a.tasks, questions, a.choices,
                              full=False)
            if writer is None:
                writer = pq.ParquetWriter(a.parquet, tbl.schema, compression="snappy")
            writer.write_table(tbl, row_group_size=CHUNK)
    finally:
        if writer is not None:
            writer.close()
    return {"seconds": time.perf_counter() - t, "max_rss": max_rss(), "bytes": os.path.getsize(a.parquet)}


def phase_rescore(a) -> dict:
    import pandas as pd  # noqa: F401  (imported before the clock starts, as the app has it)
    from emergence.store import Store
    store = Store(a.db)
    store.cursor().close()                            # open the file before the clock starts
    rss0 = max_rss()
    t = time.perf_counter()
    out = store.rescore_choices(a.parquet if a.parquet else None, by=("model", "task"))
    seconds = time.perf_counter() - t
    n = int(out.loc[out["metric"] == "multiple_choice_grade", "n_examples"].sum())
    g0 = out[(out["model"] == "model-000") & (out["task"] == "task-00")].set_index("metric")["value"].to_dict()
    return {"seconds": seconds, "max_rss": max_rss(), "rss_before": rss0, "rows": n,
            "groups": int(out[["model", "task"]].drop_duplicates().shape[0]), "group0": g0}


def pure_group0(rows: int, models: int, tasks: int, choices: int) -> dict:
    """(model-000, task-00) re-scored by emergence.analysis.rescore's pure functions (the check)."""
    from emergence.analysis.rescore import brier_from_logprobs, choice_probabilities, multiple_choice_grade
    questions = rows // (models * tasks)
    _, _, _, lp, right = chunk_arrays(0, min(CHUNK, rows), tasks, questions, choices)
    lp, right = lp[:questions], right[:questions]
    p = choice_probabilities(lp)[np.arange(questions), right]
    return {"brier_score": float(brier_from_logprobs(lp, right).mean()),
            "brier_score_binary": float(((1 - p) ** 2).mean()),
            "multiple_choice_grade": float(multiple_choice_grade(lp, right).mean())}


PHASES = {"build-store": phase_build_store, "write-parquet": phase_write_parquet, "rescore": phase_rescore}


def run_phase(name: str, a, **extra) -> dict:
    args = [sys.executable, __file__, "--phase", name, "--rows", str(a.rows), "--parquet-rows", str(a.parquet_rows),
            "--models", str(a.models), "--tasks", str(a.tasks), "--choices", str(a.choices), "--db", str(a.db)]
    if extra.get("parquet"):
        args += ["--parquet", str(extra["parquet"])]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"phase {name} failed ({out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="questions in the store step (0: skip)")
    ap.add_argument("--parquet-rows", type=int, default=100_000_000, help="questions in the Parquet step (0: skip)")
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--choices", type=int, default=4)
    ap.add_argument("--workdir", default=tempfile.gettempdir(), help="where the store and the Parquet file go")
    ap.add_argument("--keep", action="store_true", help="keep the generated store and Parquet file")
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--parquet", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.phase:
        print(json.dumps(PHASES[a.phase](a)))
        return 0
    for n in (a.rows, a.parquet_rows):
        if n and n % (a.models * a.tasks):
            ap.error(f"row counts must be multiples of models x tasks = {a.models * a.tasks}")

    work = Path(tempfile.mkdtemp(prefix="bench-examples-", dir=a.workdir))
    a.db = work / "examples.duckdb"
    figures = []
    try:
        if a.rows:
            b = run_phase("build-store", a)
            print(f"[store] {a.rows:,} questions x {a.choices} choices written through Store.write in "
                  f"{b['seconds']:.1f} s (setup; store {b['bytes'] / 2**20:,.0f} MiB, peak RSS {b['max_rss'] / GiB:.2f} GiB)")
            r = run_phase("rescore", a)
            check = pure_group0(a.rows, a.models, a.tasks, a.choices)
            diff = max(abs(r["group0"][k] - v) for k, v in check.items())
            print(f"[store] re-scored {r['rows']:,} rows into {r['groups']:,} (model, task) groups x 3 metrics; "
                  f"check against emergence.analysis.rescore on (model-000, task-00): max |diff| = {diff:.1e}")
            ok = r["seconds"] < 15 and r["max_rss"] < 3 * GiB
            figures.append(f"store   {a.rows:>12,} rows: {r['seconds']:6.2f} s, peak RSS {r['max_rss'] / GiB:.2f} GiB "
                           f"({r['rows'] / r['seconds'] / 1e6:.2f} M rows/s)   target < 15 s and < 3 GiB: "
                           f"{'met' if ok else 'MISSED'}")
        if a.parquet_rows:
            if not a.db.exists():                  # the method runs on a store's connection: an empty store will do
                run_phase("build-store", argparse.Namespace(**{**vars(a), "rows": 0}))
            pq_path = work / f"examples_{a.parquet_rows}.parquet"
            w = run_phase("write-parquet", a, parquet=pq_path)
            print(f"[parquet] {a.parquet_rows:,} questions written in chunks of {CHUNK:,} in {w['seconds']:.1f} s "
                  f"(setup; {w['bytes'] / GiB:.2f} GiB file, peak RSS {w['max_rss'] / GiB:.2f} GiB)")
            r = run_phase("rescore", a, parquet=pq_path)
            print(f"[parquet] re-scored {r['rows']:,} rows into {r['groups']:,} groups")
            ok = r["max_rss"] < 3 * GiB
            figures.append(f"parquet {a.parquet_rows:>12,} rows: {r['seconds']:6.2f} s, peak RSS "
                           f"{r['max_rss'] / GiB:.2f} GiB ({r['rows'] / r['seconds'] / 1e6:.2f} M rows/s)   "
                           f"target < 3 GiB: {'met' if ok else 'MISSED'}")
    finally:
        if a.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"machine: {os.cpu_count()} CPUs")
    print("\n".join(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
