"""openllm-leaderboard-benchbench: Open LLM Leaderboard snapshots (2024-08-29) kept by IBM BenchBench.

Files ``src/bat/assets/benchmarks_old/hf_open_llm_v1_240829_frozen.csv`` (1,804 models) and
``hf_open_llm_v2_240829.csv`` (348): ``model`` (Hugging Face id) + the leaderboard average
(``hf_open_llm_v1`` / ``hf_open_llm_v2``) + one column per benchmark (``HFV1_ARC``, ..., ``HFV2_BBH Raw``).

Rules (see PROVENANCE.md and the README's "data issues"):

- Percent values as written (``value_scale = 'percent'``), except ``HFV2_BBH Raw`` which is on 0-1
  (``'unit'``).  ``task`` = the column without its ``HFV1_`` / ``HFV2_`` prefix (the average keeps its
  column name), ``variant`` = ``v1`` / ``v2`` (the leaderboard version, part of the key: the two
  leaderboards score differently), ``source_metric`` = the column name.
- Shots and metrics are the leaderboards' documented protocol (huggingface.co/docs/leaderboards,
  "About"): v1 ARC 25-shot acc_norm, HellaSwag 10-shot acc_norm, MMLU 5-shot acc, TruthfulQA 0-shot mc2,
  Winogrande 5-shot acc, GSM8K 5-shot exact match; v2 scores are normalised so that the random baseline
  is 0 (canonical ``centered_accuracy``, ``random_baseline`` 0): IFEval 0-shot, BBH 3-shot, MATH Lvl 5
  4-shot, GPQA 0-shot, MuSR 0-shot, MMLU-PRO 5-shot.  The averages mix metrics: ``score`` (unclassified).
- No sizes or families in the files: ``params`` stays NULL and each model gets one ``no_scale`` issue
  unless the curated table (data/models/*.csv) knows it (about 2,000 issues: one per model, by design).
- A model listed twice in one snapshot (48 ids in v1, 8 in v2: leaderboard submissions at another
  precision or revision, a column the snapshot dropped): equal values are ``duplicate`` issues,
  different values ``conflict`` issues (none scored), by :func:`~emergence.ingestion.sources._common.mark_duplicates`.
- Empty cells are missing values (one ``missing_value`` issue per file and column); text in a value
  column raises :class:`IngestError`.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 10: ``hf_open_llm_v*.csv`` snapshots
at the repository's path or in the folder (names only); a foreign folder is never claimed.
Malformed input raises :class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and
value; rows not stored or kept out of scoring are counted in data issues.  ``source_file`` is the path
under the folder given, ``row_ref`` the CSV line (1 = header).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.schema import Batch, IngestError
from emergence.ingestion.sources._common import (attach_curated_sizes, finish_observations, glob_files, hash_files, issue, read_concat, read_csv,
                      source_files, strict_numeric)
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "detect", "parse", "column_info"]

NAME = "openllm-leaderboard-benchbench"
PRIORITY = 10   # detection: one public repository's fixed file names (emergence.ingestion.sources.base)
FILE_RE = re.compile(r"^hf_open_llm_(?P<v>v\d+)_.*\.csv$")
PATTERNS = ["src/bat/assets/benchmarks_old/hf_open_llm_v*.csv", "hf_open_llm_v*.csv"]
#: column -> (canonical metric, shots, value_scale)
COLUMNS = {
    "hf_open_llm_v1": ("score", None, "percent"),
    "HFV1_ARC": ("accuracy_norm", 25, "percent"),
    "HFV1_HellaSwag": ("accuracy_norm", 10, "percent"),
    "HFV1_MMLU": ("multiple_choice_grade", 5, "percent"),
    "HFV1_TruthfulQA": ("normalized_true_probability", 0, "percent"),
    "HFV1_Winogrande": ("multiple_choice_grade", 5, "percent"),
    "HFV1_GSM8K": ("exact_match", 5, "percent"),
    "hf_open_llm_v2": ("score", None, "percent"),
    "HFV2_IFEval": ("centered_accuracy", 0, "percent"),
    "HFV2_BBH": ("centered_accuracy", 3, "percent"),
    "HFV2_BBH Raw": ("accuracy_norm", 3, "unit"),
    "HFV2_MATH_Lvl_5": ("centered_accuracy", 4, "percent"),
    "HFV2_GPQA": ("centered_accuracy", 0, "percent"),
    "HFV2_MUSR": ("centered_accuracy", 0, "percent"),
    "HFV2_MMLU-PRO": ("centered_accuracy", 5, "percent"),
}
DOC = "https://huggingface.co/docs/leaderboards/open_llm_leaderboard/about"


def column_info(col: str) -> dict:
    """Task, metric, shots and scale of a snapshot column (unknown columns: unclassified ``score``)."""
    metric, shots, scale = COLUMNS.get(col, ("score", None, "percent"))
    task = re.sub(r"^HFV\d+_", "", col)
    rb = 0.0 if metric == "centered_accuracy" else None
    return {"task": task, "metric": metric, "shots": shots, "value_scale": scale, "source_metric": col,
            "random_baseline": rb, "baseline_source": f"normalised by the leaderboard ({DOC})" if rb == 0.0 else None}


def detect(path: Path) -> bool:
    return Path(path).is_dir() and bool(glob_files(Path(path), PATTERNS))


def _read_snapshot(path: Path, f: str, source: str, issues: list[dict]) -> pd.DataFrame:
    """One leaderboard snapshot: one row per (model, value column) with a value."""
    frames = []
    version = FILE_RE.match(path.name)["v"]
    df = read_csv(path, required=["model"], dtype={"model": str}, keep_default_na=False, na_values=[""])
    df["row_ref"] = (df.index + 2).astype(str)
    empty = df["model"].isna()
    if empty.any():
        i = empty.to_numpy().nonzero()[0][0]
        raise IngestError(f, "row without a model name", row=df["row_ref"].iloc[i], field="model")
    value_cols = [c for c in df.columns if c not in ("model", "row_ref")]
    if not value_cols:
        raise IngestError(f, "no value column besides 'model'")
    for col in value_cols:
        num = strict_numeric(df, col, f, row_refs=df["row_ref"])
        if num.isna().any():
            issues.append(issue(source, "missing_value", f, "", col, "",
                                f"{int(num.isna().sum())} models without a value: no observation"))
        keep = num.notna()
        part = pd.DataFrame({"model": df.loc[keep, "model"].str.strip(), "value": num[keep],
                             "row_ref": df.loc[keep, "row_ref"], "source_file": f, "variant": version})
        for k, v in column_info(col).items():
            part[k] = v
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    root = Path(root)
    files = source_files(root, PATTERNS, "no hf_open_llm_v*.csv snapshot", FILE_RE.match)
    issues: list[dict] = []
    obs = read_concat(root, files, lambda path, f: _read_snapshot(path, f, source, issues))
    obs["params"] = np.nan
    obs["family"] = None
    obs["source_family"] = None
    obs["is_final"] = True
    obs["in_scoring"] = True
    if progress:
        progress(Progress(f"{source}: {len(files)} snapshots", "parse"))
    obs = attach_curated_sizes(obs, issues, source)
    obs = finish_observations(obs, issues, source)
    return Batch(source, obs, None, issues, hash_files(root, files))
