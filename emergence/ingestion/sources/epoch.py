"""epoch-benchmark-stitching: Epoch AI's per-benchmark score tables (no model sizes).

Files ``data/external_benchmark_<benchmark>.csv`` (UTF-8 with BOM), one row per reported result: an
identity part (``id``/``ID``/``UUID``, ``Name``, ``Model``, ``Model version``), setup columns (``Shots``,
``Agent``, ``Scaffold``, ``Tools``, ...), provenance (``Source``, ``Source link``, ``Notes``), and one or
more score columns whose names vary by file (``Score``, ``EM``, ``Accuracy``, ``Challenge score``,
``BabyAI progress``, ``Global average``, ...).  Other files in ``data/`` (Epoch's own runs, model
metadata) are not benchmark tables and are not read.

Rules (see PROVENANCE.md and the README's "data issues"):

- Score columns are found by exclusion: every column that is not an identity, setup, provenance,
  standard-error or auxiliary column (cost, dates, durations, counts of steps/votes/tasks/lines/frames,
  distances, refusal rates, the METR CI bounds: :data:`AUXILIARY_RE`) is a score column; a cell in it that
  is not a number or percent string raises :class:`IngestError` (file, row, column, value).
- Values are kept as written: ``"45.2%"`` -> 45.2 with ``value_scale = 'percent'``; a plain number is
  kept with ``'percent'`` when the column name says percent (``Percent correct``, ``(%)``), else ``'unit'``
  (raw on the source's own scale: LiveBench 0-100, ELO, METR minutes, ...).
- ``<X> Standard error`` / ``<X> SE`` columns give ``stderr`` (same scale) of the score column whose name
  starts with ``<X>``; they are not observations.
- ``task`` = the benchmark name from the file name; ``subtask`` = the score column when a file has
  several score columns with values, '' when it has one; ``source_metric`` = the score column as spelled; ``metric`` is
  ``exact_match`` for ``EM``, ``accuracy`` for ``Accuracy`` / ``Overall accuracy`` / ``Accuracy mean`` /
  ``Correct`` / ``Percent correct``, otherwise ``score`` (unclassified: definitions vary by leaderboard).
- ``model`` = ``Model version``, else ``Name``, else ``Model``, else ``Agent`` (whitespace collapsed), else
  an ``id`` that is not an Airtable record id (livebench's ids are its model names).  A row with none of
  them (e.g. aider's "model version deliberately omitted" mixes) is not stored: one ``missing_value``
  issue per row, naming how many values it had.  ``shots`` from ``Shots`` (``5``, ``25-shot``); ``few`` keeps
  ``shots`` NULL and adds ``shots=few`` to ``prompt_variant``; where ``Shots`` is empty a ``(Zero-shot)`` /
  ``(One-shot)`` / ``(50-shot)`` in ``Name`` gives the shots; ``prompt_variant`` also carries the setup
  columns (``Agent=...; Scaffold=...``), ``variant`` the ``Source`` (two reports of one model are two
  measurements, not a duplicate).
- Rows sharing model, shots, setup and source but not value are ``conflict`` issues (none scored): in
  the real files these are mostly mislabelled ``Model version`` cells (e.g. gsm8k "Llama 2 (7B)" and
  "Llama 2 (70B)" both ``Llama-2-70b-hf``).
- No sizes: ``params`` stays NULL; each model gets one ``no_scale`` issue unless the curated table
  (data/models/*.csv) knows it.  ``family`` = the curated family where known, else NULL.
- Empty score cells are missing values: one ``missing_value`` issue per file and column.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 10: ``data/external_benchmark_*.csv``
under the folder (names only); a foreign folder is never claimed.  Malformed input raises
:class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and value; rows not stored or
kept out of scoring are counted in data issues.  ``source_file`` is the path under the folder given,
``row_ref`` the CSV line (1 = header).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.schema import Batch, IngestError
from emergence.ingestion.sources._common import (attach_curated_sizes, finish_observations, hash_files, issue, read_concat, read_csv,
                      source_files)
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "detect", "parse", "classify_columns", "parse_value", "parse_shots"]

NAME = "epoch-benchmark-stitching"
PRIORITY = 10   # detection: one public repository's fixed file names (emergence.ingestion.sources.base)
FILE_RE = re.compile(r"^external_benchmark_(?P<bench>.+)\.csv$")
IDENTITY = ["Model version", "Name", "Model", "Agent"]     # model name, in order of preference
SETUP = ["Agent", "Scaffold", "Tools", "Prompt", "Edit format", "Frames", "Environment model", "Model"]
METADATA = {"id", "uuid", "name", "model", "model version", "shots", "notes", "notes (details)", "source",
            "source link", "source link (site from table)", "date added", "date", "trajectories",
            "organization", "environment model", "most complex item", "livebench version", "agent",
            "scaffold", "tools", "prompt", "edit format", "frames"}
AUXILIARY_RE = re.compile(r"(?i)(cost|date|duration|\bsteps\b|votes|lines\)|total tasks|total passes|"
                          r"success(es)?$|checks run|distance|\(mm\)|\(minutes\)|refusal|^ci_(low|high)$)")
STDERR_RE = re.compile(r"(?i)^(?P<prefix>.*?)\s*(standard error|\bSE)$")
PERCENT_NAME_RE = re.compile(r"(?i)(percent|%)")
AIRTABLE_ID_RE = re.compile(r"^rec[A-Za-z0-9]{14}$")
NUM_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
NAME_SHOTS_RE = re.compile(r"(?i)\((?P<n>\d+|zero|one|few)[- ]shot\)")
SHOTS_RE = re.compile(r"^(?P<n>\d+)(\s*-?\s*shots?)?$", re.IGNORECASE)
METRIC = {"em": "exact_match", "accuracy": "accuracy", "overall accuracy": "accuracy",
          "accuracy mean": "accuracy", "correct": "accuracy", "percent correct": "accuracy"}


def classify_columns(columns) -> dict:
    """Split a file's columns into ``scores`` (list), ``stderr`` ({score column: se column}),
    ``auxiliary`` and ``metadata`` (lists)."""
    cols = [str(c) for c in columns]
    out = {"scores": [], "stderr": {}, "auxiliary": [], "metadata": []}
    se_cols = []
    for c in cols:
        low = c.strip().lower()
        if low in METADATA:
            out["metadata"].append(c)
        elif STDERR_RE.match(c.strip()):
            se_cols.append(c)
        elif AUXILIARY_RE.search(c.strip()):
            out["auxiliary"].append(c)
        else:
            out["scores"].append(c)
    for se in se_cols:
        prefix = STDERR_RE.match(se.strip())["prefix"].strip().lower()
        target = [s for s in out["scores"] if prefix and s.strip().lower().startswith(prefix)]
        if len(target) == 1:
            out["stderr"][target[0]] = se
        else:
            out["auxiliary"].append(se)
    return out


def parse_value(cell) -> tuple[float | None, bool]:
    """``"45.2%"`` -> (45.2, True); ``"8.39"`` -> (8.39, False); empty -> (None, False);
    anything else raises ``ValueError``."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return None, False
    s = str(cell).strip().replace(",", "")
    if s == "":
        return None, False
    pct = s.endswith("%")
    if pct:
        s = s[:-1].strip()
    if not NUM_RE.match(s):
        raise ValueError(cell)
    return float(s), pct


def parse_shots(cell) -> tuple[int | None, str]:
    """``"5"`` / ``"25-shot"`` -> (n, ''); ``"few"`` -> (None, 'shots=few'); empty -> (None, '')."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return None, ""
    s = str(cell).strip()
    if s == "":
        return None, ""
    if (m := SHOTS_RE.match(s)):
        return int(m["n"]), ""
    if s.lower() == "few":
        return None, "shots=few"
    raise ValueError(cell)


def detect(path: Path) -> bool:
    return Path(path).is_dir() and any(Path(path).glob("data/external_benchmark_*.csv"))


def _text(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return " ".join(str(v).split())


def _parse_file(path: Path, f: str, bench: str, issues: list[dict], source: str) -> pd.DataFrame:
    df = read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False, na_values=[""])
    cls = classify_columns(df.columns)
    if not cls["scores"]:
        raise IngestError(f, f"no score column among {list(df.columns)}")
    ident = [c for c in IDENTITY if c in df.columns]
    if not ident:
        raise IngestError(f, f"no model column (one of {IDENTITY})", field="Model version")
    rows = []
    multi = sum(df[c].notna().any() for c in cls["scores"]) > 1
    for i, r in df.iterrows():
        line = i + 2
        model_col = next((c for c in ident if _text(r[c])), None)
        if model_col is None and "id" in df.columns and _text(r["id"]) and not AIRTABLE_ID_RE.match(_text(r["id"])):
            model_col = "id"   # livebench: the id column is the leaderboard's model name
        if model_col is None:
            n_vals = int(r[cls["scores"]].notna().sum())
            issues.append(issue(source, "missing_value", f, line, ident[0], "",
                                f"row without a model name (no {' / '.join(ident)}): its {n_vals} score values "
                                "are not stored" if n_vals else "empty row"))
            continue
        model = _text(r[model_col])
        shots, few = None, ""
        if "Shots" in df.columns:
            try:
                shots, few = parse_shots(r["Shots"])
            except ValueError:
                raise IngestError(f, "shots not a number", row=line, field="Shots", value=r["Shots"]) from None
        if shots is None and not few and "Name" in df.columns and (m := NAME_SHOTS_RE.search(_text(r["Name"]))):
            n = m["n"].lower()
            shots, few = ({"zero": 0, "one": 1, "few": None}[n] if n in ("zero", "one", "few") else int(n)), ""
            if n == "few":
                few = "shots=few"
        setup = [f"{c}={_text(r[c])}" for c in SETUP if c in df.columns and c != model_col and _text(r[c])]
        pv = "; ".join([*setup, few] if few else setup)
        src = _text(r["Source"]) if "Source" in df.columns else ""
        for col in cls["scores"]:
            try:
                value, pct = parse_value(r[col])
            except ValueError:
                raise IngestError(f, "not a number or percent", row=line, field=col, value=r[col]) from None
            if value is None:
                continue
            se = None
            if col in cls["stderr"]:
                try:
                    se, _ = parse_value(r[cls["stderr"][col]])
                except ValueError:
                    raise IngestError(f, "not a number or percent", row=line, field=cls["stderr"][col],
                                      value=r[cls["stderr"][col]]) from None
            rows.append({"task": bench, "subtask": col if multi else "", "source_metric": col,
                         "metric": METRIC.get(col.strip().lower(), "score"), "model": model, "shots": shots,
                         "prompt_variant": pv, "variant": src, "value": value, "stderr": se,
                         "value_scale": "percent" if pct or PERCENT_NAME_RE.search(col) else "unit",
                         "source_file": f, "row_ref": str(line)})
    for col in cls["scores"]:
        n_missing = int(df[col].isna().sum())
        if n_missing:
            issues.append(issue(source, "missing_value", f, "", col, "",
                                f"{n_missing} of {len(df)} rows without a value: no observation"))
    return pd.DataFrame(rows)


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    root = Path(root)
    files = source_files(root, ["data/external_benchmark_*.csv"], "no data/external_benchmark_*.csv files",
                         FILE_RE.match)
    issues: list[dict] = []
    obs = read_concat(root, files, lambda path, f: _parse_file(path, f, FILE_RE.match(path.name)["bench"], issues,
                                                               source), skip_empty=True)
    if progress:
        progress(Progress(f"{source}: {len(files)} files", "parse"))
    obs["params"] = np.nan
    obs["family"] = None
    obs["source_family"] = None
    obs["is_final"] = True
    obs["in_scoring"] = True
    obs = attach_curated_sizes(obs, issues, source)
    obs = finish_observations(obs, issues, source)
    return Batch(source, obs, None, issues, hash_files(root, files))
