"""Benchmark: ingest every source in ../shared/data into a fresh store, against the floor of reading the files;
then add one small file to that full store, against adding it to an empty store.

Usage::

    python bench/bench_ingest.py [--data ../shared/data] [--workdir /tmp] [--repeat 2] [--profile 25]
    python bench/bench_ingest.py --part add-one [--repeat 5]     # only part 3 (still builds the full store once)

1. **Ingest**: ``emergence.ingestion.ingest.ingest(None, data=DATA, online=False)`` into a fresh store
   (every catalogue source found in DATA: parse, validate, re-score examples, write atomically,
   score every series with bootstrap p-values), with a per-step breakdown from its progress
   messages (parse per source, write, series scoring).
2. **Floor**: the same files, the ones the parsers read (the store's ``sources.files``, each
   source's file list with content hashes), merely read and parsed by the plain readers and
   nothing stored: ``json.load`` (``.json``), ``json.loads`` per line (``.jsonl``),
   ``pandas.read_csv`` (``.csv``), ``pandas.read_parquet`` (``.parquet``), and for a ``.zip``
   each member unpacked and read by the reader of its kind.

Every file is read once before anything is timed (warm page cache for both).  Each step runs
in its own subprocess after its imports, so its time excludes interpreter start-up and its
peak memory (maximum RSS, ``resource.getrusage``) is its own; the floor runs ``--repeat``
times and the fastest counts.  ``--profile N`` also runs the ingest under cProfile and prints
the N functions with the most cumulative and own time.  Target: ingest <= 3x the floor.

3. **Add one file** (issue 12): a per-example file of three MMLU-Pro models (3 x 12,032 rows:
   model, question_id, category, pred, answer), written as CSV from the real zips in
   ``mmlu-pro-outputs``, ingested with a mapping (``emergence ingest three.csv --map ...``)
   (a) into an empty store and (b) into a copy of the full store built in step 1 (the copy is
   made before the clock starts).  Each run is its own subprocess, timed after its imports;
   ``--repeat`` runs of each, alternating, the median counts.  Target: (b) <= 1.3x (a): adding
   a file costs what the file costs, not what the store holds.

The figures are printed last.
"""
from __future__ import annotations

import argparse
import io
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

GiB = 2 ** 30


def max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def phase_ingest(a) -> dict:
    from emergence.ingestion.ingest import ingest
    from emergence.store import Store
    marks: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    out = ingest(None, db=a.db, data=a.data, online=False,
                 progress=lambda msg: marks.append((time.perf_counter() - t0, msg, max_rss())))
    seconds = time.perf_counter() - t0
    rss = max_rss()
    rows = Store(a.db).source_rows()
    files = {name: [str(Path(root) / f) for f in fs] for name, root, fs in zip(rows["name"], rows["root"], rows["files"])}
    counts = {k: sum(v[k] for v in out["counts"].values()) for k in ("observations", "examples", "issues")}
    return {"seconds": seconds, "max_rss": rss, "files": files, "marks": marks, "counts": counts,
            "sources": len(rows)}


def read_floor(files: list[str]) -> tuple[int, dict]:
    """Read and parse every file with the plain readers; returns (rows or records read, seconds per kind)."""
    import pandas as pd
    n, per = 0, {}
    for f in files:
        t = time.perf_counter()
        kind = Path(f).suffix.lower()
        if kind == ".json":
            with open(f, "rb") as fh:
                n += len(json.load(fh))
        elif kind == ".jsonl":
            with open(f, "rb") as fh:
                n += sum(1 for line in fh if line.strip() and json.loads(line) is not None)
        elif kind == ".csv":
            n += len(pd.read_csv(f, encoding_errors="replace", low_memory=False))
        elif kind == ".parquet":
            n += len(pd.read_parquet(f))
        elif kind == ".zip":             # each member unpacked and read by its own plain reader
            import zipfile
            with zipfile.ZipFile(f) as zf:
                for info in zf.infolist():
                    raw = zf.read(info)
                    name = info.filename.lower()
                    if name.endswith(".json"):
                        n += len(json.loads(raw))
                    elif name.endswith((".jsonl", ".ndjson")):
                        n += sum(1 for line in raw.splitlines() if line.strip() and json.loads(line) is not None)
                    elif name.endswith((".csv", ".tsv")):
                        n += len(pd.read_csv(io.BytesIO(raw), sep="\t" if name.endswith(".tsv") else ","))
        else:
            with open(f, "rb") as fh:
                n += len(fh.read())
        per[kind] = per.get(kind, 0.0) + time.perf_counter() - t
    return n, per


def phase_floor(a) -> dict:
    import pandas as pd  # noqa: F401  (imported before the clock starts, like the ingest's modules)
    import pyarrow.parquet  # noqa: F401
    by_source = json.loads(Path(a.files).read_text())
    t = time.perf_counter()
    n, per, per_source = 0, {}, {}
    for name, files in by_source.items():
        t1 = time.perf_counter()
        k, kinds = read_floor(files)
        per_source[name] = time.perf_counter() - t1
        n += k
        for kind, sec in kinds.items():
            per[kind] = per.get(kind, 0.0) + sec
    return {"seconds": time.perf_counter() - t, "max_rss": max_rss(), "records": n, "per_kind": per,
            "per_source": per_source}


def phase_profile(a) -> dict:
    import cProfile
    import io
    import pstats
    from emergence.ingestion.ingest import ingest
    prof = cProfile.Profile()
    prof.enable()
    ingest(None, db=a.db, data=a.data, online=False)
    prof.disable()
    text = {}
    for key in ("cumulative", "tottime"):
        s = io.StringIO()
        pstats.Stats(prof, stream=s).strip_dirs().sort_stats(key).print_stats(a.profile)
        text[key] = s.getvalue()
    return {"profile": text}


THREE_MODELS = ("Yi-6B", "Yi-34B", "Meta-Llama-3-8B")
THREE_MAPPING = """name = "mmlu-pro-three"
kind = "examples"
[columns]
model = "model"
example_id = "question_id"
subtask = "category"
prediction = "pred"
target = "answer"
[constants]
task = "mmlu_pro"
shots = 5
"""


def write_three_models(data: str, out: Path) -> int:
    """The issue's file: three MMLU-Pro models' per-question outputs as one CSV (a user's converter output)."""
    import zipfile
    import pandas as pd
    frames = []
    for model in THREE_MODELS:
        path = Path(data) / "mmlu-pro-outputs" / "eval_results" / f"model_outputs_{model}_5shots.zip"
        with zipfile.ZipFile(path) as zf:
            recs = json.loads(zf.read(zf.namelist()[0]))
        frames.append(pd.DataFrame({"model": model, "question_id": [r["question_id"] for r in recs],
                                    "category": [r["category"] for r in recs], "pred": [r["pred"] for r in recs],
                                    "answer": [r["answer"] for r in recs]}))
    df = pd.concat(frames, ignore_index=True)
    df.to_csv(out / "three.csv", index=False)
    (out / "three.toml").write_text(THREE_MAPPING)
    return len(df)


def phase_add_one(a) -> dict:
    from emergence.ingestion.ingest import ingest
    from emergence.ingestion.sources.byo import load_mapping
    import emergence.analysis.rescore  # noqa: F401  (imported before the clock, as the CLI's ingest would have)
    import emergence.analysis.series  # noqa: F401
    work = Path(a.files)
    mapping = load_mapping(work / "three.toml")
    marks: list = []
    t0 = time.perf_counter()
    out = ingest([str(work / "three.csv")], db=a.db, mapping=mapping, online=False,
                 progress=lambda msg: marks.append((time.perf_counter() - t0, msg, max_rss())))
    return {"seconds": time.perf_counter() - t0, "marks": marks, "result": out["result"], "max_rss": max_rss()}


def add_one_steps(marks: list, total: float) -> dict[str, float]:
    """parse / write / score / FDR + checkpoint + swap, from the progress messages."""
    bounds = [(t, m) for t, m, _ in marks] + [(total, "end")]
    out: dict[str, float] = {}
    for (t, msg), (t_next, _) in zip(bounds, bounds[1:]):
        label = ("parse and re-score examples" if " parsing " in msg else "write rows" if msg.startswith("writing ")
                 else "score the new series" if msg.startswith("scoring series") else
                 "store-wide FDR, checkpoint, swap" if msg.startswith("false discovery") else msg[:30])
        out[label] = out.get(label, 0.0) + t_next - t
    return out


PHASES = {"ingest": phase_ingest, "floor": phase_floor, "profile": phase_profile, "add-one": phase_add_one}


def run_phase(name: str, a, **extra) -> dict:
    args = [sys.executable, __file__, "--phase", name, "--data", str(a.data), "--db", str(extra.get("db", a.db)),
            "--profile", str(a.profile or 0)]
    if extra.get("files"):
        args += ["--files", str(extra["files"])]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"phase {name} failed ({out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def breakdown(marks: list, total: float, end_rss: int) -> list[tuple[str, float, int]]:
    """(step, seconds, peak RSS at its end) from the progress messages: plan, parse <source>, write, score series."""
    steps: list[list] = []
    bounds = [tuple(m) for m in marks] + [(total, "end", end_rss)]
    if marks:
        steps.append(["plan (find sources)", marks[0][0], marks[0][2]])
    for (t, msg, _), (t_next, _, rss_next) in zip(bounds, bounds[1:]):
        if msg.startswith("[") and " parsing " in msg:
            label = "parse " + msg.split(" parsing ", 1)[1].split(" from ")[0]
        elif msg.startswith("writing "):
            label = "write to the store"
        elif msg.startswith("scoring series"):
            label = "score series (+ checkpoint, swap)"
        else:                                      # a parser's own progress message: part of its parse step
            label = steps[-1][0] if steps else msg[:40]
        if steps and steps[-1][0] == label:
            steps[-1][1] += t_next - t
            steps[-1][2] = rss_next
        else:
            steps.append([label, t_next - t, rss_next])
    return [tuple(x) for x in steps]


def main(argv=None) -> int:
    from emergence.ingestion.ingest import data_dir
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None, help="the data folder (default: ../shared/data, as `emergence ingest`)")
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--repeat", type=int, default=2, help="floor runs (the fastest counts)")
    ap.add_argument("--profile", type=int, default=0, help="also profile the ingest: print the top N functions")
    ap.add_argument("--part", choices=["all", "full", "add-one"], default="all",
                    help="full: steps 1-2 (ingest vs floor); add-one: step 3 (one file, full vs empty store)")
    ap.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.data = str(data_dir(a.data))
    if a.phase:
        print(json.dumps(PHASES[a.phase](a)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir=a.workdir))
    a.db = work / "store.duckdb"
    try:
        # warm the page cache: every file under the data folder, once
        n_bytes = 0
        for p in Path(a.data).rglob("*"):
            if p.is_file():
                n_bytes += len(p.read_bytes())
        ing = run_phase("ingest", a)
        if a.part == "add-one":
            add_one(a, work, ing)
            return 0
        files_json = work / "files.json"
        files_json.write_text(json.dumps(ing["files"]))
        all_files = [f for fs in ing["files"].values() for f in fs]
        size = sum(os.path.getsize(f) for f in all_files)
        kinds: dict[str, int] = {}
        for f in all_files:
            kinds[Path(f).suffix.lower()] = kinds.get(Path(f).suffix.lower(), 0) + 1
        floors = [run_phase("floor", a, files=files_json) for _ in range(max(1, a.repeat))]
        floor = min(floors, key=lambda r: r["seconds"])
        c = ing["counts"]
        print(f"data: {a.data} ({n_bytes / 2**20:,.0f} MiB on disk); the parsers read {len(all_files):,} files "
              f"({size / 2**20:,.0f} MiB: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")")
        print(f"ingest: {ing['sources']} sources -> {c['observations']:,} observations, {c['examples']:,} examples, "
              f"{c['issues']:,} data issues")
        print(f"  {'step':<45} {'ingest':>8} {'floor':>7} {'ratio':>6}  peak RSS so far")
        for label, sec, rss in breakdown(ing["marks"], ing["seconds"], ing["max_rss"]):
            fl = floor["per_source"].get(label[6:]) if label.startswith("parse ") else None
            cmp = f"{fl:6.2f} s {sec / fl:5.0f}x" if fl else " " * 15
            print(f"  {label:<45} {sec:6.2f} s {cmp}  {rss / GiB:.2f} GiB")
        print("floor by reader: " + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(floor["per_kind"].items())) +
              "; runs: " + ", ".join(f"{r['seconds']:.2f} s" for r in floors))
        if a.profile:
            prof = run_phase("profile", a, db=work / "profiled.duckdb")
            print(f"--- cProfile of the ingest, top {a.profile} by cumulative time ---")
            print(prof["profile"]["cumulative"])
            print(f"--- top {a.profile} by own time ---")
            print(prof["profile"]["tottime"])
        ratio = ing["seconds"] / floor["seconds"]
        print(f"machine: {os.cpu_count()} CPUs")
        print(f"ingest {ing['seconds']:.2f} s (peak RSS {ing['max_rss'] / GiB:.2f} GiB)")
        print(f"floor  {floor['seconds']:.2f} s (peak RSS {floor['max_rss'] / GiB:.2f} GiB; json.load / pd.read_csv / "
              f"pd.read_parquet of the same {len(all_files):,} files, nothing stored)")
        print(f"ratio  {ratio:.2f}x the floor   target <= 3x: {'met' if ratio <= 3 else 'MISSED'}")
        if a.part == "all":
            add_one(a, work, ing)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def add_one(a, work: Path, ing: dict):
    """Step 3: the three-model file into an empty store and into a copy of the full store (module docstring)."""
    import statistics
    n = write_three_models(a.data, work)
    full = Path(a.db)
    size = full.stat().st_size
    runs: dict[str, list[dict]] = {"empty": [], "full": []}
    for i in range(max(1, a.repeat)):
        for kind in ("empty", "full"):
            db = work / f"add-{kind}-{i}.duckdb"
            if kind == "full":
                shutil.copyfile(full, db)
            runs[kind].append(run_phase("add-one", a, db=db, files=work))
            db.unlink(missing_ok=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    print(f"--- add one file: {n:,} rows of {', '.join(THREE_MODELS)} (MMLU-Pro), {a.repeat} runs each ---")
    print(f"full store: {ing['sources']} sources, {ing['counts']['observations']:,} observations, "
          f"{ing['counts']['examples']:,} examples, {size / 2**20:,.0f} MiB")
    steps = {k: add_one_steps(min(v, key=lambda r: abs(r["seconds"] - med[k]))["marks"], med[k])
             for k, v in runs.items()}
    print(f"  {'step':<36} {'empty':>8} {'full':>8}")
    for label in steps["empty"]:
        print(f"  {label:<36} {steps['empty'][label]:6.2f} s {steps['full'].get(label, float('nan')):6.2f} s")
    for k, v in runs.items():
        print(f"into the {k} store: " + ", ".join(f"{r['seconds']:.2f} s" for r in v) + f"  (median {med[k]:.2f} s)")
    ratio = med["full"] / med["empty"]
    print(f"add one file: full {med['full']:.2f} s / empty {med['empty']:.2f} s = {ratio:.2f}x   "
          f"target <= 1.3x: {'met' if ratio <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
