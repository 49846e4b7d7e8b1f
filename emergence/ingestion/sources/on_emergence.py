"""on-emergence: generation-based scores of 24 models on 23 tasks (Lu et al. 2024, ACL).

One file, ``evaluation_scores.csv``: one row per run (``run_id``) with its configuration
(``filename`` = ``<task>/task.json``, ``number_of_data``, ``model``, ``prompt_type`` closed | closed-adv |
open, ``number_of_shots``, ``temperature``, ``seed``, ...) and its scores (``exact_match_accuracy``,
``exact_match_f1``, ``exact_match_loss``, ``exact_match_gain``, ``bert_score_accuracy``, ``bert_score_f1``,
``bert_score_loss``, ``bert_score_gain``, ``edit_distance``, ``single_bert_score``).  What each score is
comes from the authors' ``evaluation.ipynb`` (UKPLab/on-emergence).

Rules (see PROVENANCE.md and the README's "data issues"):

- Each run is one observation per score column: ``task`` from ``filename`` (``tracking_shuffled_objects``),
  ``prompt_variant`` = ``prompt_type``, ``shots`` = ``number_of_shots``, ``seed`` = ``seed`` (written
  ``None`` for the 375 API runs: NULL), ``n_examples`` = ``number_of_data``, ``row_ref`` = line number and run_id.
- Metrics (``source_metric`` keeps the column name):
  ``exact_match_accuracy`` -> ``exact_match`` (the generated answer matches the right option string);
  ``exact_match_f1`` -> ``exact_match_f1`` (sklearn macro F1 over the options of those exact-match
  predictions); ``bert_score_accuracy`` -> ``bertscore_accuracy`` (the option with the highest BERTScore
  to the output is the right one); ``bert_score_f1`` -> ``bertscore_f1`` (macro F1 of those predictions:
  NOT a BERTScore similarity); ``single_bert_score`` -> ``bertscore`` (mean BERTScore F1, roberta-large,
  between output and target: the continuous metric); ``edit_distance`` -> ``edit_distance`` (mean
  character Levenshtein distance between target and output; lower is better).
- ``*_loss`` / ``*_gain`` count the examples this model got wrong / right where its paired reference
  model got them right / wrong (``loss_and_gain`` in evaluation.ipynb): a comparison of two models, not a
  per-model score.  Kept as observations (metric = column name, unclassified; loss lower-is-better) with
  ``in_scoring = False`` and one ``not_a_score`` issue per column.
- ``-100`` means "not computed" (the notebook's placeholder, e.g. no BERTScore for closed-adv prompts):
  a sentinel, no observation, one ``sentinel`` issue per column with the count.
- Three rows are exact copies of other rows (same run_id): they yield duplicate observation keys and are
  kept out of scoring as ``duplicate`` issues by :func:`~emergence.ingestion.sources._common.mark_duplicates`.
- Sizes and families from the curated table (data/models/on-emergence.csv and the shared OpenAI / GPT-2
  rows); ``gpt-4`` and the unidentified ``code`` model have no size: ``no_scale`` issues.  A model the
  table does not know keeps its own name as family.
- Temperature (0.01 for local models, 0 for API models) is not part of the key: one setting per model.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 10: the results CSV whose header line
names ``run_id`` and ``exact_match_accuracy``; a foreign folder is never claimed.  Malformed input
raises :class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and value; rows not
stored or kept out of scoring are counted in data issues.  ``source_file`` is the path under the folder
given, ``row_ref`` the CSV line and the run id, ``<line> (run_id <id>)``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.models import lookup
from emergence.ingestion.schema import Batch, IngestError
from emergence.ingestion.sources._common import attach_curated_sizes, finish_observations, hash_files, issue, read_csv, strict_numeric
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "FILE", "METRIC_MAP", "SENTINEL", "detect", "parse", "task_of"]

NAME = "on-emergence"
PRIORITY = 10   # detection: one public repository's fixed file names (emergence.ingestion.sources.base)
FILE = "evaluation_scores.csv"
SENTINEL = -100
#: source column -> (canonical metric, higher is better, scored?)
METRIC_MAP = {
    "exact_match_accuracy": ("exact_match", True, True),
    "exact_match_f1": ("exact_match_f1", True, True),
    "bert_score_accuracy": ("bertscore_accuracy", True, True),
    "bert_score_f1": ("bertscore_f1", True, True),
    "single_bert_score": ("bertscore", True, True),
    "edit_distance": ("edit_distance", False, True),
    "exact_match_loss": ("exact_match_loss", False, False),
    "exact_match_gain": ("exact_match_gain", True, False),
    "bert_score_loss": ("bert_score_loss", False, False),
    "bert_score_gain": ("bert_score_gain", True, False),
}
REQUIRED = ["run_id", "filename", "number_of_data", "model", "prompt_type", "number_of_shots", "seed"]
TASK_RE = re.compile(r"^(?P<task>[^/]+)/task\.json$")


def task_of(filename: str) -> str | None:
    """``tracking_shuffled_objects/task.json`` -> ``tracking_shuffled_objects`` (None if not that shape)."""
    m = TASK_RE.match(str(filename).strip())
    return m["task"] if m else None


def detect(path: Path) -> bool:
    p = Path(path) / FILE
    if not p.is_file():
        return False
    with open(p, encoding="utf-8", errors="replace") as fh:
        head = fh.readline()
    return "run_id" in head and "exact_match_accuracy" in head


def _numeric(df: pd.DataFrame, col: str, f: str) -> pd.Series:
    """A numeric column, or IngestError naming the first text or infinite cell."""
    return strict_numeric(df, col, f, row_refs=df["row_ref"])


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    root = Path(root)
    path = root / FILE
    if not path.is_file():
        raise IngestError(root, f"no {FILE}")
    f = FILE
    df = read_csv(path, required=REQUIRED, dtype=str, keep_default_na=False, na_values=[""])
    metric_cols = [c for c in METRIC_MAP if c in df.columns]
    if not metric_cols:
        raise IngestError(f, f"no score column (expected some of {list(METRIC_MAP)})", field="exact_match_accuracy")
    df["row_ref"] = [f"{i + 2} (run_id {r})" for i, r in zip(df.index, df["run_id"])]
    for col in ("model", "filename", "run_id"):
        empty = df[col].isna()
        if empty.any():
            i = empty.to_numpy().nonzero()[0][0]
            raise IngestError(f, "empty key field", row=df["row_ref"].iloc[i], field=col)
    tasks = df["filename"].map(task_of)
    if tasks.isna().any():
        i = tasks.isna().to_numpy().nonzero()[0][0]
        raise IngestError(f, "filename is not <task>/task.json", row=df["row_ref"].iloc[i], field="filename",
                          value=df["filename"].iloc[i])
    shots = _numeric(df, "number_of_shots", f)
    # API runs (davinci, text-davinci-00x, gpt-4, code) have no seed: the file says 'None' (Python's repr)
    seed = _numeric(df.assign(seed=df["seed"].mask(df["seed"] == "None")), "seed", f)
    n = _numeric(df, "number_of_data", f)

    issues: list[dict] = []
    frames = []
    for col in metric_cols:
        metric, hib, scored = METRIC_MAP[col]
        vals = _numeric(df, col, f)
        sentinel = vals == SENTINEL
        if sentinel.any():
            issues.append(issue(source, "sentinel", f, "", col, str(SENTINEL),
                                f"{int(sentinel.sum())} rows: -100 = not computed (evaluation.ipynb placeholder): "
                                "no observation"))
        missing = vals.isna()
        if missing.any():
            issues.append(issue(source, "missing_value", f, "", col, "",
                                f"{int(missing.sum())} rows without a value: no observation"))
        keep = ~sentinel & ~missing
        if not scored and keep.any():
            issues.append(issue(source, "not_a_score", f, "", col, "",
                                f"{int(keep.sum())} values: count of examples this model got "
                                f"{'wrong' if col.endswith('loss') else 'right'} where its paired reference model "
                                f"got them {'right' if col.endswith('loss') else 'wrong'} (evaluation.ipynb "
                                "loss_and_gain): a two-model comparison, stored but kept out of scoring"))
        frames.append(pd.DataFrame({
            "task": tasks[keep], "source_metric": col, "metric": metric, "higher_is_better": hib,
            "model": df.loc[keep, "model"], "shots": shots[keep], "prompt_variant": df.loc[keep, "prompt_type"],
            "seed": seed[keep], "n_examples": n[keep], "value": vals[keep], "row_ref": df.loc[keep, "row_ref"],
            "in_scoring": scored,
        }))
    obs = pd.concat(frames, ignore_index=True)
    obs["source_file"] = f
    obs["value_scale"] = "unit"
    obs["is_final"] = True
    fam = {}
    for m in obs["model"].unique():
        hit = lookup(m)
        fam[m] = hit["family"] if hit is not None and isinstance(hit["family"], str) and hit["family"] else m
    obs["family"] = obs["model"].map(fam)
    obs["source_family"] = None
    obs["params"] = np.nan
    obs = attach_curated_sizes(obs, issues, source)
    if progress:
        progress(Progress(f"{source}: {len(df)} runs", "parse"))
    obs = finish_observations(obs, issues, source)
    return Batch(source, obs, None, issues, hash_files(root, [path]))
