"""expemergence: accuracy and Brier score from the same outputs (Wu & Lo 2025).

Files ``data/<task>/[acc_]<task>_instance_brier_-1000_<x>_<G>_<redist|undist>.csv``: one row per
model (ObsScaling's model table: size in billions, tokens in trillions, FLOPs in 1e21), then
per-difficulty-group columns ``<lo>_<hi>_<brier|acc|san>`` (questions sorted by difficulty,
indices lo..hi) and overall ``acc``, ``brier``, ``san``.

Rules (see PROVENANCE.md and the README's "data issues"):

- The file's grouping variant ``<x>_<G>_<redist|undist>`` is part of the key of every
  per-group value; the overall ``brier`` / ``san`` depend only on redist/undist, the overall
  ``acc`` on nothing, so repeats across files collapse as duplicates and real differences
  surface as conflicts.
- ``openai-community/gpt2`` and ``gpt2-large`` appear twice each with identical metrics and
  two sizes (0.124 / 0.355 B; 0.774 / 1.5 B): the row whose size matches the model name is
  scored, the other is kept out as ``mislabelled``.
- A ``san`` column whose value is the same for every model (233.97 in one mmlu file) is not
  a per-model score: kept out as ``suspect_value``.
- Empty metric cells (models not evaluated) are missing values: no observation, counted.
- Overall ``acc`` is lm-eval multiple-choice accuracy: canonical ``multiple_choice_grade``.
  ``brier`` is the authors' target-conditioned Brier score: ``brier_score_target``.
  ``san`` is undocumented: kept under its own name, unclassified.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 60: ``data/<task>/*.csv`` whose names
carry variant and metric (names only); a foreign folder is never claimed.  Malformed input raises
:class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and value; rows not stored or
kept out of scoring are counted in data issues.  ``source_file`` is the path under the folder given,
``row_ref`` the CSV line (1 = header).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.models import canonical_family
from emergence.ingestion.schema import Batch
from emergence.ingestion.sources._common import (finish_observations, hash_files, issue, read_concat, read_csv, source_files,
                      strict_numeric)
from emergence.ingestion.sources.base import Progress

NAME = "expemergence"
PRIORITY = 60   # detection: its file names carry variant and metric (emergence.ingestion.sources.base)
FILE_RE = re.compile(r"^(?P<acc>acc_)?(?P<task>.+)_instance_brier_(?P<lo>-?\d+)_(?P<x>[\d.]+)_(?P<g>\d+)_"
                     r"(?P<dist>redist|undist)\.csv$")
GROUP_RE = re.compile(r"^(?P<lo>\d+)_(?P<hi>\d+)_(?P<m>acc|brier|san)$")
METRIC = {"acc": "multiple_choice_grade", "brier": "brier_score_target", "san": "san"}
MISLABELLED = {"openai-community/gpt2": 0.124, "openai-community/gpt2-large": 0.774}
REQUIRED = ["Model", "Model Family", "Model Size (B)"]


def parse_name(name: str) -> dict:
    """``arithmetic_instance_brier_-1000_63.09_10_undist.csv`` -> task, x, groups, dist, per-group metric."""
    m = FILE_RE.match(name)
    if not m:
        return {}
    return {"task": m["task"], "x": m["x"], "groups": int(m["g"]), "dist": m["dist"],
            "group_metric": "acc" if m["acc"] else "brier", "variant": f"{m['x']}_{m['g']}_{m['dist']}"}


def detect(path: Path) -> bool:
    return path.is_dir() and any(parse_name(p.name) for p in path.glob("data/*/*.csv"))


def _read_file(path: Path, f: str, source: str, issues: list[dict]) -> pd.DataFrame:
    """One task file, long: one row per (model, column) with a value; subtask, variant and metric from the
    column and the file name (module docstring)."""
    info = parse_name(path.name)
    df = read_csv(path, required=REQUIRED)
    df = df[df["Model"].notna()].copy()
    df["row_ref"] = (df.index + 2).astype(str)  # 1-based, after the header
    for col in ("Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)"):
        if col in df.columns:
            df[col] = strict_numeric(df, col, f, row_refs=df["row_ref"])
    group_cols = [c for c in df.columns if GROUP_RE.match(c)]
    n_total = max((int(GROUP_RE.match(c)["hi"]) for c in group_cols), default=None)
    overall = [c for c in ("acc", "brier", "san") if c in df.columns]
    id_cols = ["Model", "Model Family", "Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)", "row_ref"]
    id_cols = [c for c in id_cols if c in df.columns]
    long = df.melt(id_vars=id_cols, value_vars=group_cols + overall, var_name="column", value_name="value")
    long["source_file"] = f
    # a constant column across many models is not a per-model score
    for col in group_cols + overall:
        vals = df[col].dropna()
        if len(vals) >= 5 and vals.nunique() == 1:
            issues.append(issue(source, "suspect_value", f, "", col, vals.iloc[0],
                                f"same value for all {len(vals)} models: not a per-model score; kept out of scoring"))
            long.loc[long["column"] == col, "suspect"] = True
    missing = long["value"].isna()
    if missing.any():
        for col, n in long[missing].groupby("column").size().items():
            issues.append(issue(source, "missing_value", f, "", col, "",
                                f"{n} models without a value (not evaluated): no observation"))
    long = long[~missing].copy()
    g = long["column"].str.extract(GROUP_RE)
    is_group = g["m"].notna()
    long["source_metric"] = np.where(is_group, g["m"], long["column"])
    long["metric"] = long["source_metric"].map(METRIC)
    long["subtask"] = np.where(is_group, "questions " + g["lo"].fillna("") + "-" + g["hi"].fillna("")
                               + " of " + str(n_total) + " by difficulty", "")
    long["variant"] = np.where(is_group, info["variant"],
                               np.where(long["column"] == "acc", "", info["dist"]))
    long["n_examples"] = np.where(is_group, pd.to_numeric(g["hi"]) - pd.to_numeric(g["lo"]), n_total)
    long["task"] = info["task"]
    return long


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    root = Path(root)
    files = source_files(root, ["data/*/*.csv"], "no expemergence files (data/<task>/*_instance_brier_*.csv)",
                         parse_name)
    issues: list[dict] = []
    long = read_concat(root, files, lambda path, f: _read_file(path, f, source, issues))
    out = pd.DataFrame({
        "task": long["task"], "subtask": long["subtask"], "metric": long["metric"],
        "source_metric": long["source_metric"], "source_family": long["Model Family"],
        "family": long["Model Family"].map(canonical_family), "model": long["Model"],
        "params": pd.to_numeric(long["Model Size (B)"], errors="coerce") * 1e9,
        "tokens": pd.to_numeric(long.get("Pretraining Data Size (T)"), errors="coerce") * 1e12,
        "flops": pd.to_numeric(long.get("FLOPs (1E21)"), errors="coerce") * 1e21,
        "params_source": "file column 'Model Size (B)'", "params_estimate": False,
        "shots": 0, "variant": long["variant"], "value": long["value"], "value_scale": "unit",
        "n_examples": long["n_examples"], "source_file": long["source_file"], "row_ref": long["row_ref"],
        "in_scoring": True, "is_final": True,
    })
    out.loc[long.get("suspect", pd.Series(False, index=long.index)).fillna(False).astype(bool), "in_scoring"] = False
    out.loc[out["params"].isna(), "params_source"] = None
    # mislabelled duplicates: the row whose size does not match the model name
    for model, size_b in MISLABELLED.items():
        bad = (out["model"] == model) & ((out["params"] / 1e9 - size_b).abs() > 1e-6)
        for (sf, rr), _ in out[bad].groupby(["source_file", "row_ref"]):
            issues.append(issue(source, "mislabelled", sf, rr, "Model Size (B)",
                                f"{out.loc[bad, 'params'].iloc[0] / 1e9:g}",
                                f"{model} is listed twice with identical metrics; the row at {size_b} B "
                                "(the name's size) is scored, this one is kept out"))
        out.loc[bad, "in_scoring"] = False
    n_files = len(files)
    if progress:
        progress(Progress(f"{source}: {n_files} files", "parse"))
    obs = finish_observations(out, issues, source)
    return Batch(source, obs, None, issues, hash_files(root, files))
