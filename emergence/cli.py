"""The ``emergence`` command: thin; every subcommand calls :mod:`emergence.api`.

Listing commands print an aligned table, or with ``--csv PATH`` (``-`` = standard output)
the full table as CSV, byte-identical to the dashboard's download for the same filters.
Repeated filter values are OR-ed.  Default paths resolve against the repository root:
store ``data/emergence.duckdb`` (``--db`` / ``$EMERGENCE_DB``), data ``../shared/data``
if present, else ``data/raw`` (``--data-dir`` / ``$EMERGENCE_DATA_DIR``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from emergence import api
from emergence.keys import FILTERS
from emergence.ingestion.schema import IngestError

__all__ = ["main"]

DISPLAY = {
    "observations": ["source", "task", "subtask", "metric", "source_metric", "family", "model", "params",
                     "checkpoint_step", "shots", "prompt_variant", "variant", "seed", "value", "stderr",
                     "n_examples", "in_scoring"],
    "series": ["source", "task", "subtask", "metric", "metric_class", "family", "shots", "model", "n_scales",
               "verdict", "width_decades", "q_value", "detect_x", "emergence_score", "verdict_reason"],
    "compare": ["group_id", "source", "task", "subtask", "family", "metric", "metric_variant", "metric_class",
                "n_scales", "verdict", "q_value", "detect_x", "emergence_score"],
    "pairs": ["source", "task", "subtask", "family", "pair", "verdict_a", "verdict_b", "detect_x_a", "detect_x_b",
              "lead_text"],
    "calibrate": None,
    "predict": ["task", "subtask", "metric", "family", "shots", "variant", "form", "status", "x_target", "y_actual",
                "y_predicted", "abs_error", "rel_error", "curvature_class"],
    "passuntil": None,
    "rescore": ["task", "subtask", "family", "model", "params", "metric", "variant", "value", "ci_low", "ci_high",
                "n_examples"],
    "simulate": None,
    "grade-brier": ["task", "family", "model", "shots", "params", "non_embedding_params", "multiple_choice_grade",
                    "brier_score", "n_examples"],
    "sources": ["source", "files", "families", "models", "tasks", "metrics", "observations", "without_scale",
                "examples", "license", "commit", "data_issues"],
    "issues": ["source", "kind", "source_file", "row_ref", "field", "value", "detail"],
}


class Progress:
    """A one-line progress display on stderr with a bar, driven by the ingest's
    :class:`~emergence.ingestion.sources.base.Progress` events: the bar follows sources (stage ``source``)
    and, inside one, a download's or a parser's ``i`` of ``n``."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.time()
        self.last = ""

    def __call__(self, event):
        from emergence.ingestion.ingest import as_progress
        event = as_progress(event)
        frac = event.fraction if event.stage in ("source", "fetch", "parse") else None
        bar = ""
        if frac is not None:
            done = int(20 * frac)
            bar = "[" + "#" * done + "-" * (20 - done) + "] "
        line = f"{bar}{time.time() - self.t0:6.1f}s {event.text}"
        if self.tty:
            self.stream.write("\r\033[K" + line[:150])
        elif frac is None or event.stage == "source" or bar != self.last:
            # without a terminal: every message, but a download's bar only when it moves a step
            self.stream.write(line + "\n")
        self.last = bar
        self.stream.flush()

    def done(self):
        if self.tty:
            self.stream.write("\n")


_FILTER_HELP = {
    "source": "catalogue name (repeatable)",
    "task": "task as the source spells it (repeatable)",
    "subtask": "subtask as the source spells it ('' = none; repeatable)",
    "metric": "canonical or source metric name (repeatable)",
    "family": "curated or source family name (repeatable)",
    "model": "model as the source spells it (repeatable)",
    "shots": "number of shots (repeatable)",
}


def _add_filters(p: argparse.ArgumentParser, which=FILTERS):
    for name in which:
        p.add_argument(f"--{name}", action="append", type=int if name == "shots" else str,
                       help=_FILTER_HELP[name])


def _add_out(p: argparse.ArgumentParser):
    p.add_argument("--csv", metavar="PATH", help="write the full table as CSV to PATH ('-' = stdout)")


def _emit(df: pd.DataFrame, args, kind: str):
    if args.csv:
        data = api.to_csv(df)
        if args.csv == "-":
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            Path(args.csv).write_bytes(data)
            print(f"wrote {len(df)} rows to {args.csv}", file=sys.stderr)
        return
    if df.empty:
        print("(no rows)")
        return
    cols = [c for c in (DISPLAY.get(kind) or df.columns) if c in df.columns]
    with pd.option_context("display.max_rows", 200, "display.width", 250, "display.max_colwidth", 60):
        shown = df[cols]
        print(shown.head(200).to_string(index=False))
    if len(df) > 200 or len(cols) < len(df.columns):
        print(f"\n{len(df)} rows; showing {min(len(df), 200)} rows and {len(cols)} of {len(df.columns)} columns "
              "(--csv PATH for everything)", file=sys.stderr)


def _filters(args) -> dict:
    return dict(source=args.source, task=args.task, metric=args.metric, family=args.family, shots=args.shots,
                subtask=args.subtask)


def _pairs(items, flag: str) -> dict[str, str]:
    """``--flag KEY=VALUE`` arguments as a dict; a missing '=' is an error naming the flag."""
    out = {}
    for item in items or []:
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            raise IngestError(flag, f"expected {flag} KEY=VALUE", value=item)
        out[k.strip()] = v.strip()
    return out


def cmd_ingest(args) -> int:
    from emergence.ingestion.ingest import SourceMissing, ingest
    progress = Progress()
    try:
        mapping = None
        if args.map or args.column or args.set:
            from emergence.ingestion.sources.byo import load_mapping
            mapping = load_mapping(Path(args.map)) if args.map else {}
            for k, v in _pairs(args.column, "--column").items():
                mapping.setdefault("columns", {})[k] = v
            for k, v in _pairs(args.set, "--set").items():
                mapping.setdefault("constants", {})[k] = v
            if args.name:
                mapping["name"] = args.name
            if args.kind:
                mapping["kind"] = args.kind
        out = ingest(args.sources, db=args.db, data=args.data_dir, mapping=mapping, online=not args.offline,
                     progress=progress, empty_prediction=args.empty_prediction,
                     sizes=_pairs(args.size, "--size") or None, delimiter=args.delimiter,
                     full_logs=args.full_logs, log_tasks=args.logs_task, keep_going=args.keep_going)
    except (IngestError, SourceMissing) as e:
        progress.done()
        # one line (a multi-line message keeps its lines), no traceback
        print(f"error: {e} (nothing was written)", file=sys.stderr)
        return 2
    progress.done()
    for name, status in out["result"].items():
        c = out["counts"][name]
        print(f"{name:32s} {status:9s} {c['observations']:>9,} observations {c['examples']:>9,} examples "
              f"{c['issues']:>7,} data issues")
    for note in out["notes"]:
        print(f"note: {note}", file=sys.stderr)
    for warning in out.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    for name, why in out.get("failed", {}).items():
        print(f"left out: {why}", file=sys.stderr)
    print(f"store: {out['db']}")
    return 1 if out.get("failed") else 0


def cmd_remove(args) -> int:
    from emergence.ingestion.ingest import remove
    from emergence.store import UnknownSource
    progress = Progress()
    try:
        out = remove(args.sources, db=args.db, progress=progress)
    except UnknownSource as e:
        progress.done()
        print(f"error: {e} (nothing was removed)", file=sys.stderr)
        return 2
    progress.done()
    for name, c in out["removed"].items():
        print(f"{name:32s} removed   {c['observations']:>9,} observations {c['examples']:>9,} examples "
              f"{c['issues']:>7,} data issues")
    print(f"store: {out['db']}")
    return 0


def cmd_sources(args) -> int:
    _emit(api.sources(db=args.db), args, "sources")
    return 0


def cmd_observations(args) -> int:
    _emit(api.observations(**_filters(args), db=args.db), args, "observations")
    return 0


def cmd_issues(args) -> int:
    _emit(api.data_issues(args.source, db=args.db), args, "issues")
    return 0


def cmd_series(args) -> int:
    _emit(api.series(**_filters(args), x=args.x, db=args.db), args, "series")
    return 0


def cmd_compare(args) -> int:
    _emit(api.compare(**_filters(args), x=args.x, db=args.db), args, "compare")
    return 0


def cmd_pairs(args) -> int:
    df = api.pairs(**_filters(args), x=args.x, db=args.db)
    if args.csv is None:
        print(api.headline(**_filters(args), x=args.x, db=args.db).sentence + "\n")
    _emit(df, args, "pairs")
    return 0


def cmd_calibrate(args) -> int:
    """Simulate smooth and sharp series, run the store's verdict, print the false-call and power tables."""
    from emergence.analysis import calibrate
    t0 = time.time()
    pts = calibrate.simulate_store(per_cell=args.per_cell, seed=args.seed)
    res = calibrate.run(pts, n_boot=args.n_boot)
    tb = calibrate.tables(res)
    if args.csv is not None:
        _emit(tb["by_kind"], args, "calibrate")
        return 0
    print(f"{res['series'].nunique():,} simulated series, {time.time() - t0:.0f} s "
          f"(per cell {args.per_cell}, seed {args.seed}, B <= {args.n_boot})\n")
    for name in ("targets", "by_kind", "by_size", "by_n"):
        print(f"== {name}")
        print(tb[name].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print()
    return 0 if tb["targets"]["holds"].all() else 1


def cmd_predict(args) -> int:
    _emit(api.predict(**_filters(args), x=args.x, forms=args.form, db=args.db), args, "predict")
    return 0


def cmd_passuntil(args) -> int:
    _emit(api.passuntil(args.source, args.task, args.family, subtask=args.subtask, level=args.level,
                        design=args.design, db=args.db), args, "passuntil")
    return 0


def cmd_rescore(args) -> int:
    _emit(api.rescore(args.source, args.task, args.family, subtask=args.subtask, model=args.model,
                      n_boot=args.n_boot, db=args.db), args, "rescore")
    return 0


def cmd_grade_brier(args) -> int:
    _emit(api.grade_vs_brier(args.task, args.family, args.shots, source=args.source or "bigbench", db=args.db), args,
          "grade-brier")
    return 0


def cmd_simulate(args) -> int:
    from emergence.analysis.simulate import log_scales
    scales = log_scales(args.min_scale, args.max_scale, args.n_scales)
    _emit(api.simulate(c=args.c, alpha=args.alpha, length=args.length, n_choices=args.choices, n_examples=args.n,
                       scales=scales, seed=args.seed), args, "simulate")
    return 0


_DB_HELP = "store path (default data/emergence.duckdb, or $EMERGENCE_DB)"


def build_parser() -> argparse.ArgumentParser:
    """The ``emergence`` parser: the global ``--db``, then one sub-parser per command, added group by group."""
    p = argparse.ArgumentParser(
        prog="emergence",
        description="Is a sharp jump in capability a property of the models, or of the metric? "
                    "Ingest real evaluation results into a DuckDB store and query them.")
    p.add_argument("--db", help=_DB_HELP)
    sub = p.add_subparsers(dest="command", required=True)
    # --db is accepted before or after the subcommand (`emergence ingest --db PATH` as in the docs)
    db_after = argparse.ArgumentParser(add_help=False)
    db_after.add_argument("--db", default=argparse.SUPPRESS, help=_DB_HELP)

    def add(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[db_after], **kw)

    # the order here is the order `emergence --help` lists the commands in
    _add_ingest(add)
    _add_store_commands(add)
    _add_verdict_commands(add)
    _add_analysis_commands(add)
    _add_simulate(add)
    return p


def _add_ingest(add) -> None:
    """``ingest``: sources, the data directory and download switches, and a mapping for a file of your own."""
    from emergence.ingestion.sources.byo import fields_help
    s = add("ingest", help="parse sources into the store (atomic, idempotent)",
            formatter_class=argparse.RawDescriptionHelpFormatter,
            description="SOURCE is a catalogue name or a path (file, folder, .zip, .tar.gz); none = every catalogue "
                        "source found in the data directory. A catalogue source missing from the data directory is "
                        "downloaded when online (bigbench: a sparse git clone of google/BIG-bench with only its "
                        "results files; $EMERGENCE_BIGBENCH_REPO replaces the repository). A folder's format is detected (BIG-bench, lm-eval "
                        "results or samples, ZeroEval result_dirs, MMLU-Pro eval_results, the catalogue folders). "
                        "A file of your own (CSV, TSV, Parquet, JSON, JSONL, or a zip of them) needs a mapping: "
                        "--map mapping.toml, or --column FIELD=COLUMN / --set FIELD=VALUE (README, 'Bring your own').",
            epilog="fields a mapping can give (--column FIELD=COLUMN or a dotted path such as output.0; "
                   "--set FIELD=VALUE):\n\nkind = aggregate (one row per score):\n" + fields_help("aggregate")
                   + "\n\nkind = examples (one row per model output; re-scored to exact match, edit distance, Brier "
                   "score, grade, pass rate):\n" + fields_help("examples")
                   + "\n\nexample: emergence ingest outputs.jsonl --kind examples --column model=model --column "
                   "prediction=output.0 --column target=answer --set task=gsm8k --size my-7b=7B")
    s.add_argument("sources", nargs="*", metavar="SOURCE")
    s.add_argument("--data-dir", help="where catalogue sources live (default ../shared/data if present, else data/raw; "
                                      "$EMERGENCE_DATA_DIR)")
    s.add_argument("--offline", action="store_true", help="never try to download a missing source")
    s.add_argument("--full-logs", action="store_true",
                   help="BIG-bench: also the BIG-G per-query full logs (Git LFS archives, fetched through GitHub's "
                        "LFS media URL when missing; large) streamed into the per-example table for Brier "
                        "re-scoring; with a path, the archives found there are read")
    s.add_argument("--keep-going", action="store_true",
                   help="write the sources that can be had and list the others (why, how to add them) instead of "
                        "writing nothing when one cannot be fetched or parsed; exit status 1 if any was left out")
    s.add_argument("--logs-task", action="append", metavar="TASK",
                   help="with --full-logs: fetch only this task's archive (repeatable; default every task)")
    _add_mapping_options(s)
    s.set_defaults(func=cmd_ingest)


def _add_mapping_options(s: argparse.ArgumentParser) -> None:
    """``ingest``'s options for a file of your own (README, 'Bring your own') and for model sizes."""
    s.add_argument("--map", metavar="TOML", help="mapping for a file of your own (README, 'Bring your own')")
    s.add_argument("--column", action="append", metavar="FIELD=COLUMN",
                   help="map a field to a column, key or dotted path such as output.0 (repeatable)")
    s.add_argument("--set", action="append", metavar="FIELD=VALUE", help="a constant field value (repeatable)")
    s.add_argument("--name", help="source name for a file of your own (default: the file name)")
    s.add_argument("--kind", choices=["aggregate", "examples"], help="aggregate scores or per-example outputs")
    s.add_argument("--size", action="append", metavar="MODEL=COUNT",
                   help="parameter count of a model: 7e9, 7B, 350M, 1.3T (repeatable; a file of your own, ZeroEval, "
                        "MMLU-Pro)")
    s.add_argument("--delimiter", metavar="CHAR", help="CSV delimiter, e.g. ';' or tab (default: detected from the "
                                                        "header line)")
    s.add_argument("--empty-prediction", choices=["wrong", "skip"], default=None,
                   help="an example with a target but an empty or unparsed prediction: counted wrong (default: exact "
                        "match 0, edit distance against the empty string) or left out of the text metrics; stored "
                        "with the source")


def _add_store_commands(add) -> None:
    """``remove`` and the listings of what the store holds: ``sources``, ``observations``, ``issues``."""
    s = add("remove", help="remove sources from the store (atomic; their series leave the store-wide FDR)",
            description="Remove SOURCE (a name as `emergence sources` lists it) from every table of the store in "
                        "one atomic write: the store is what it was, minus that source; the false discovery rate "
                        "over the remaining series is recomputed.")
    s.add_argument("sources", nargs="+", metavar="SOURCE")
    s.set_defaults(func=cmd_remove)

    s = add("sources", help="per source: files, families, models, tasks, metrics, observations, license, "
            "data issues")
    _add_out(s)
    s.set_defaults(func=cmd_sources)

    s = add("observations", help="the filtered long table")
    _add_filters(s)
    _add_out(s)
    s.set_defaults(func=cmd_observations)

    s = add("issues", help="recorded data issues (duplicates, conflicts, sentinels, missing sizes, ...)")
    _add_filters(s, ("source",))
    _add_out(s)
    s.set_defaults(func=cmd_issues)


def _add_verdict_commands(add) -> None:
    """``series``, ``compare``, ``pairs``: the verdict tables, each with the filters and a scale axis."""
    for name, func, helptext in [
        ("series", cmd_series, "one row per series: the verdict (emergent / smooth / insufficient / no signal) and "
                               "its reason, the sharp-onset test's p and q values, the detection scale, the "
                               "(descriptive) emergence score"),
        ("compare", cmd_compare, "same outputs, different metric: the series of each set of outputs side by side"),
        ("pairs", cmd_pairs, "same outputs, a thresholded and a continuous metric: both verdicts and the detection "
                             "lead (decades by which the continuous metric detects the ability earlier)"),
    ]:
        s = add(name, help=helptext)
        _add_filters(s)
        s.add_argument("--x", choices=list(api.SCALE_AXES), default="params", help="scale axis (default params)")
        _add_out(s)
        s.set_defaults(func=func)


def _add_analysis_commands(add) -> None:
    """``calibrate``, ``predict``, ``passuntil``, ``rescore``, ``grade-brier``: the analyses beyond the verdict."""
    from emergence.analysis.verdict import DEFAULT_N_BOOT
    s = add("calibrate", help="simulate smooth and sharp series at the sizes and noise of real ones, run the "
            "verdict, print the false-call and power tables (exit 1 if a target fails)")
    s.add_argument("--per-cell", type=int, default=20, help="series per (kind, sizes, n, scatter) cell (default 20)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT, help="bootstrap replicates at most per series")
    _add_out(s)
    s.set_defaults(func=cmd_calibrate)

    s = add("predict", help="held-out prediction of each series' largest scale: form, parameters, "
            "predicted vs actual, error, curvature class")
    _add_filters(s)
    s.add_argument("--x", choices=list(api.SCALE_AXES), default="params", help="scale axis (default params)")
    s.add_argument("--form", action="append", help="restrict to these fit forms (repeatable; default: all that fit)")
    _add_out(s)
    s.set_defaults(func=cmd_predict)

    s = add("passuntil", help="PassUntil estimates from repeated-sampling records: per instance, or per "
            "task the law log(-log PU) = log c - alpha log N and its prediction")
    _add_filters(s, ("source", "task", "subtask", "family"))
    s.add_argument("--level", choices=["task", "instance"], default="task")
    s.add_argument("--design", choices=["fixed_n", "until_pass"], default="fixed_n",
                   help="fixed_n: n samples, c passed (binomial interval); until_pass: sampled until r passes in K "
                        "draws, ingested as n_samples=K, n_correct=r (negative-binomial interval)")
    _add_out(s)
    s.set_defaults(func=cmd_passuntil)

    s = add("rescore", help="re-score stored per-example outputs (Brier, grade, exact match, edit "
            "distance, pass rate) with bootstrap intervals over examples")
    _add_filters(s, ("source", "task", "subtask", "family", "model"))
    s.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (default 1000)")
    _add_out(s)
    s.set_defaults(func=cmd_rescore)

    s = add("grade-brier", help="BIG-G on BIG-bench (Schaeffer et al. Fig. 6): multiple choice grade and Brier "
            "score re-computed from the full logs' per-choice log-probabilities, per task, family, model and shots",
            description="Needs the BIG-G full logs: emergence ingest bigbench --full-logs. Subtasks are pooled: every "
                        "multiple-choice example of a task counts once.")
    _add_filters(s, ("source", "task", "family", "shots"))
    _add_out(s)
    s.set_defaults(func=cmd_grade_brier)


def _add_simulate(add) -> None:
    """``simulate``: the mirage simulator's parameters, defaults from :data:`emergence.analysis.simulate.DEFAULTS`."""
    from emergence.analysis.simulate import DEFAULTS
    s = add("simulate", help="the mirage simulator: per-token loss power law -> accuracy, edit distance, "
            "multiple choice grade, Brier score, expected and at finite n")
    s.add_argument("--c", type=float, default=DEFAULTS["c"], help="power-law scale c in L_CE = (N/c)^alpha")
    s.add_argument("--alpha", type=float, default=DEFAULTS["alpha"], help="power-law exponent (< 0)")
    s.add_argument("--length", type=int, default=DEFAULTS["length"], help="target length L in tokens")
    s.add_argument("--choices", type=int, default=DEFAULTS["n_choices"], help="number of choices")
    s.add_argument("--n", type=int, default=DEFAULTS["n_examples"], help="test-set size")
    s.add_argument("--min-scale", type=float, default=DEFAULTS["min_scale"], help="smallest model size N")
    s.add_argument("--max-scale", type=float, default=DEFAULTS["max_scale"], help="largest model size N")
    s.add_argument("--n-scales", type=int, default=DEFAULTS["n_scales"], help="sizes, evenly spaced in log10 N")
    s.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed of the finite-n samples")
    _add_out(s)
    s.set_defaults(func=cmd_simulate)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from emergence.store import StoreMissing
    try:
        return args.func(args)
    except StoreMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
