"""bigbench: BIG-bench native results from a checkout of google/BIG-bench (yours, or the sparse one `emergence ingest bigbench` fetches).

The format is defined by the BIG-bench package itself (``bigbench==1.0.0`` on PyPI, read
for this parser, never a dependency): ``bigbench/api/results.py`` (``ResultsFileData``,
the query dataclasses, ``score_result_filename`` / ``query_result_filename``),
``bigbench/api/task.py`` (``ScoreData``), ``bigbench/api/model.py`` (``ModelData``) and
``bigbench/evaluate_task.py`` (which writes the files with ``json.dump(asdict(...))``).
The PyPI package ships no results: they live in the GitHub checkout.

Files (found anywhere under the given folder; a single file may also be given)
-------------------------------------------------------------------------------
- ``<task dir>/results/scores_<family>_<model>.json``: ``{"scores": [ScoreData...],
  "task": {"task_name"}, "model": ModelData}``; the name is
  ``re.sub(r"[^\\w\\-\\=]+", "_", f"scores_{model_family}_{model_name}") + ".json"``
  (so ``BIG-G T=0`` becomes ``BIG-G_T=0``).
- ``<task dir>/results/full-log_<family>_<model>.json``: the same three keys plus
  ``queries`` (written with ``--log_queries``).
- ``<task dir>/results/full-logs_BIG-G_BIG-G-sparse.tar.lrz``: how BIG-bench publishes the BIG-G
  and BIG-G sparse full logs, one Git LFS archive per task (``tar`` packed with ``lrzip``).
  With ``full_logs=True`` each is streamed (``lrzip -d`` to a pipe, the tar read member by member,
  each JSON member decoded one query at a time by :mod:`._jsonstream`) and read like the files
  above, its rows spilled to Parquet when a ``spill_dir`` is given; the archive's inner layout
  is not documented, so any ``.json`` member holding a results file with queries is a log, named
  ``<archive path>/<member>``.  Without ``full_logs`` an archive is a ``not_read`` issue.
- A Git LFS pointer (a checkout without git-lfs) where any of these should be: an ``lfs_pointer``
  issue saying how to get the file; never parsed.
- ``*.json.backup_NNNNNN`` files are ``evaluate_task.py``'s backups of an earlier run:
  not read, one ``superseded`` issue each.

Observations (one per ScoreData entry x ``score_dict`` metric)
--------------------------------------------------------------
- ``task`` = ``task.task_name`` (a differing folder name is a ``config_mismatch`` issue;
  so is a file name that is not the one BIG-bench derives from the model block).
- ``subtask`` = ``subtask_description`` as written (JSON subtasks read
  ``<task>:<subtask>``); the task-level aggregate entry, whose description equals the task
  name (or is empty, the ScoreData default), gets ``''``.
- ``shots`` = ``number_of_shots``; ``-1`` ("does not apply", per ScoreData) is a sentinel:
  ``shots`` NULL, one ``sentinel`` issue per file.
- ``family`` = ``source_family`` = ``model.model_family`` kept as written ("BIG-G T=0",
  "BIG-G T=1", "BIG-G sparse", "GPT", "PaLM"): temperature and sparsity are part of the
  family, so the series stay apart.  ``model`` = ``model.model_name``.
- ``params`` = ``model.total_params`` (the scale axis used across all sources);
  ``non_embedding_params`` = ``model.non_embedding_params`` (BIG-bench's own plot axis, an
  extra size axis here; much smaller than the total for sparse models and for the small
  dense ones, whose embeddings dominate); both, and ``flop_matched_non_embedding_params``,
  are also written out in ``params_source``.
  A NULL total is stored as NULL with one ``no_scale`` issue per model.  ``tokens`` and
  ``flops`` are NULL: ModelData has ``training_steps`` and ``training_batch_size`` but
  no sequence length, so tokens are not derivable.
- ``random_baseline`` = ``low_score`` (``baseline_source`` "BIG-bench low_score") on the
  ``preferred_score`` metric only: ScoreData defines low/high for that metric alone
  (for multiple_choice_grade it is the chance level computed from ``target_scores``).
  ``high_score`` has no column.
- ``value_scale``: the files hold the values as the tasks computed them;
  ``results.py``'s loader (``ResultsFileData.fromdict(normalize=True)``) multiplies
  ``RENORMALIZED_METRICS`` (bleurt, calibration_multiple_choice_brier_score,
  expected_calibration_error, exact_str_match, case_insensitive_str_match,
  multiple_choice_grade, numeric_match_with_0_1_relative_error, macro_f1) and their
  low/high by 100 only when loading.  So these are ``unit`` (0-1) as stored; bleu,
  rouge1/rouge2/rougeLsum and sequence_f1 are computed on 0-100 (json_task SCORE_RANGES)
  and ``normalized_aggregate_score`` is written x100: ``percent``.  A file whose bounded
  0-1 metrics (exact/case-insensitive match, Brier, ECE, numeric match) exceed 1 was saved
  after the loader's rescaling: its renormalized metrics are recorded as ``percent``,
  with one ``suspect_value`` issue for the file.  Values are never rescaled here.
- Metrics: explicit map :data:`METRIC_MAP` (multiple_choice_grade; exact_str_match and
  case_insensitive_str_match -> exact_match; calibration_multiple_choice_brier_score ->
  brier_score_bigbench, positive, lower is better; bleu; rouge*; bleurt; log_likelihood
  (+ per word / per char); macro_f1 -> f1; expected_calibration_error); anything else falls
  back to :func:`emergence.analysis.metrics.canonical_metric` (unknown names stay, lower-cased,
  unclassified).  ``source_metric`` keeps the file's spelling.
- A NaN or null metric value is a missing value: no observation, one ``missing_value``
  issue per (file, metric).  Text, booleans or infinities are malformed input.
- A full log repeats its run's ``scores``: when the sibling ``scores_`` file holds the same
  values, the full log's copy is not ingested again (one ``duplicate`` issue for the file);
  otherwise its rows are kept and row-level duplicates/conflicts are marked as usual.

Examples (full logs only; one row per sample; ``example_id`` = ``<kind>:<n>``, the
sample's position among the file's samples of that kind, subtask and shots)
-------------------------------------------------------------------------------------
- ``cond_log_prob`` queries whose samples have ``target_values`` (MultipleChoiceQuery):
  kind ``multiple_choice``; ``choice_logprobs`` = ``scores`` (per ``targets``),
  ``n_choices``; ``correct_index`` = the first target with the highest ``target_values``
  value (a sample with several such targets gets one ``multiple_correct`` issue per file);
  ``p_correct`` = softmax(scores)[correct_index]; ``prediction`` = argmax target;
  ``target`` = correct target; ``correct`` = the file's per-sample ``correct`` (the
  chosen target's value) equals that highest value.
- other ``cond_log_prob`` queries (ScoringQuery, log_likelihood): kind ``scoring``;
  ``target`` = first target, ``loss`` = -log p(target) (-logsumexp over several targets,
  as ``task_metrics.log_likelihood_fn`` does).
- ``generate_text`` queries (GenerativeQuery): kind ``generative``; ``prediction`` =
  ``output``; ``target`` = the first key of ``targets`` (JSON tasks map each target to its
  per-sample metrics); ``correct`` = any target's ``exact_str_match`` is 1 (NULL when not
  logged).
- ``subtask`` = the query's ``task`` (``''`` for the task itself; programmatic tasks log
  ``"programmatic"``); ``shots`` = the query's ``shots`` (default 0).

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 80: a checkout, its
``benchmark_tasks`` folder, a task or results folder, or one ``scores_*.json`` / ``full-log_*.json``
file (names only, no file is opened); a foreign folder is never claimed.  Malformed input raises
:class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and value; rows not stored or
kept out of scoring are counted in data issues.  ``source_file`` is the path under the folder given,
``row_ref`` ``scores[i].score_dict.<metric>`` for an observation, ``queries[q].samples[s]`` for an
example.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.analysis.metrics import canonical_metric, higher_is_better
from emergence.ingestion.schema import EXAMPLE_COLUMNS, Batch, IngestError, arrow_schema, conform, file_sha256
from emergence.ingestion.sources._common import finish_observations, issue, lfs_pointer, read_nonempty, rel
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "METRIC_MAP", "detect", "parse", "expected_filename", "find_result_files"]

NAME = "bigbench"
PRIORITY = 80   # detection: a BIG-bench checkout's layout: tried before the generic JSON readers (emergence.ingestion.sources.base)
SCORES_RE = re.compile(r"^scores_.+\.json$")
FULL_LOG_RE = re.compile(r"^full-log_.+\.json$")
BACKUP_RE = re.compile(r"^(?:scores|full-log)_.+\.json\.backup_\d+$")
ARCHIVE_RE = re.compile(r"^full-logs_.+\.tar(?:\.\w+)?$")
BASELINE_SOURCE = "BIG-bench low_score"

#: BIG-bench metric spelling -> canonical metric (see emergence.analysis.metrics).
METRIC_MAP = {
    "multiple_choice_grade": "multiple_choice_grade",
    "exact_str_match": "exact_match",
    "case_insensitive_str_match": "exact_match",
    "calibration_multiple_choice_brier_score": "brier_score_bigbench",
    "expected_calibration_error": "expected_calibration_error",
    "bleu": "bleu",
    "rouge1": "rouge",
    "rouge2": "rouge",
    "rougeLsum": "rouge",
    "bleurt": "bleurt",
    "log_likelihood": "log_likelihood",
    "log_likelihood_per_word": "log_likelihood",
    "log_likelihood_per_char": "log_likelihood",
    "macro_f1": "f1",
}
#: rescaled x100 by BIG-bench's loader (results.RENORMALIZED_METRICS), stored 0-1.
RENORMALIZED = {"bleurt", "calibration_multiple_choice_brier_score", "expected_calibration_error",
                "exact_str_match", "case_insensitive_str_match", "multiple_choice_grade",
                "numeric_match_with_0_1_relative_error", "macro_f1"}
#: stored on 0-100 by the task code itself (json_task.SCORE_RANGES, add_aggregate_scores).
PERCENT_METRICS = {"bleu", "rouge1", "rouge2", "rougeLsum", "sequence_f1", "normalized_aggregate_score"}
#: mathematically bounded by 1 when stored raw: a larger value means the file was rescaled.
BOUNDED_UNIT = {"exact_str_match", "case_insensitive_str_match", "calibration_multiple_choice_brier_score",
                "expected_calibration_error", "numeric_match_with_0_1_relative_error"}
#: ModelData's fields without defaults (bigbench/api/model.py).
MODEL_FIELDS = ("model_family", "model_name", "total_params", "non_embedding_params",
                "flop_matched_non_embedding_params", "training_batch_size", "training_steps",
                "description", "decoding_params")
SCORE_FIELDS = ("score_dict", "preferred_score", "number_of_shots", "low_score", "high_score")


# ------------------------------------------------------------------ files
def expected_filename(prefix: str, model_family: str, model_name: str) -> str:
    """The file name BIG-bench writes for a model (results.score_result_filename)."""
    return re.sub(r"[^\w\-\=]+", "_", f"{prefix}_{model_family}_{model_name}") + ".json"


def find_result_files(root: Path) -> dict[str, list[Path]]:
    """Scores files, full logs, backups and unpacked-archive reminders under ``root``."""
    found: dict[str, list[Path]] = {"scores": [], "full_log": [], "backup": [], "archive": []}

    def classify(p: Path):
        n = p.name
        if SCORES_RE.match(n):
            found["scores"].append(p)
        elif FULL_LOG_RE.match(n):
            found["full_log"].append(p)
        elif BACKUP_RE.match(n):
            found["backup"].append(p)
        elif ARCHIVE_RE.match(n):
            found["archive"].append(p)

    root = Path(root)
    if root.is_file():
        classify(root)
    else:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for n in filenames:
                classify(Path(dirpath) / n)
    return {k: sorted(v) for k, v in found.items()}


def detect(path: Path) -> bool:
    """A BIG-bench checkout, its ``benchmark_tasks`` folder, a task or results folder, or one results file."""
    path = Path(path)
    if path.is_file():
        return bool(SCORES_RE.match(path.name) or FULL_LOG_RE.match(path.name))
    if not path.is_dir():
        return False
    if (path / "bigbench" / "benchmark_tasks").is_dir() or (path / "benchmark_tasks").is_dir():
        return True
    for pat in ("scores_*.json", "full-log_*.json", "results/scores_*.json", "results/full-log_*.json",
                "*/results/scores_*.json", "*/results/full-log_*.json"):
        if next(path.glob(pat), None) is not None:
            return True
    return False


# ------------------------------------------------------------------ validation
def _load(path: Path, f: str) -> dict:
    raw = read_nonempty(path, f)
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as e:
        raise IngestError(f, f"not UTF-8 text at byte {e.start}") from e
    except json.JSONDecodeError as e:
        raise IngestError(f, f"invalid or truncated JSON: {e.msg} at line {e.lineno}, column {e.colno}") from e
    if not isinstance(data, dict):
        raise IngestError(f, f"top level is a {type(data).__name__}, expected an object with scores/task/model")
    _check_top(data, f)
    return data


def _check_top(data: dict, f: str, keys=("scores", "task", "model")):
    """ResultsFileData's top-level keys: present and of the right shape."""
    for key in keys:
        if key not in data:
            raise IngestError(f, "missing top-level key (ResultsFileData: scores, task, model)", field=key)
    if "scores" in keys and not isinstance(data["scores"], list):
        raise IngestError(f, f"scores is a {type(data['scores']).__name__}, expected a list of ScoreData",
                          field="scores", value=_short(data["scores"]))
    if not isinstance(data["task"], dict) or not isinstance(data["task"].get("task_name"), str) \
            or not data["task"]["task_name"]:
        raise IngestError(f, "task must be an object with a non-empty task_name (TaskData)", field="task.task_name",
                          value=_short(data["task"]))
    if not isinstance(data["model"], dict):
        raise IngestError(f, "model must be an object (ModelData)", field="model", value=_short(data["model"]))


def _short(v) -> str:
    return json.dumps(v)[:80] if not isinstance(v, str) else v


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(v, f, row, field, *, allow_null=False, nonneg=False) -> float | None:
    """A finite JSON number, or raise naming file/row/field/value."""
    if v is None and allow_null:
        return None
    if not _is_num(v):
        raise IngestError(f, f"not a number ({type(v).__name__})", row=row, field=field, value=_short(v))
    x = float(v)
    if math.isinf(x):
        raise IngestError(f, "infinite value", row=row, field=field, value=v)
    if nonneg and x < 0:
        raise IngestError(f, "negative value where a count is expected", row=row, field=field, value=v)
    return x


def _model(data: dict, f: str) -> dict:
    m = data["model"]
    for key in MODEL_FIELDS:
        if key not in m:
            raise IngestError(f, "missing ModelData field", field=f"model.{key}")
    for key in ("model_family", "model_name"):
        if not isinstance(m[key], str) or not m[key].strip():
            raise IngestError(f, "must be a non-empty string", field=f"model.{key}", value=_short(m[key]))
    sizes = {}
    for key in ("total_params", "non_embedding_params", "flop_matched_non_embedding_params",
                "training_batch_size", "training_steps"):
        v = _number(m[key], f, None, f"model.{key}", allow_null=True, nonneg=True)
        if v is not None and math.isnan(v):
            v = None
        sizes[key] = v

    def fmt(v):
        return "NULL" if v is None else f"{v:.0f}"

    return {
        "family": m["model_family"], "model": m["model_name"], "params": sizes["total_params"],
        "non_embedding_params": sizes["non_embedding_params"],
        "params_source": (f"file field model.total_params (non_embedding_params={fmt(sizes['non_embedding_params'])}, "
                          f"flop_matched_non_embedding_params={fmt(sizes['flop_matched_non_embedding_params'])})"),
    }


def _subtask(desc: str, task_name: str) -> str:
    return "" if desc in ("", task_name) else desc


# ------------------------------------------------------------------ observations
def _observations(data: dict, f: str, model: dict, issues: list[dict], source: str) -> list[dict]:
    task_name = data["task"]["task_name"]
    entries = data["scores"]
    # first pass: validate, and find whether the file was saved after the loader's x100 rescaling
    rescaled = None
    for i, s in enumerate(entries):
        row = f"scores[{i}]"
        if not isinstance(s, dict):
            raise IngestError(f, f"ScoreData entry is a {type(s).__name__}, expected an object", row=row,
                              value=_short(s))
        for key in SCORE_FIELDS:
            if key not in s:
                raise IngestError(f, "missing ScoreData field", row=row, field=key)
        if not isinstance(s["score_dict"], dict):
            raise IngestError(f, f"score_dict is a {type(s['score_dict']).__name__}, expected an object",
                              row=row, field="score_dict", value=_short(s["score_dict"]))
        if not isinstance(s["preferred_score"], str):
            raise IngestError(f, "preferred_score must be a string", row=row, field="preferred_score",
                              value=_short(s["preferred_score"]))
        shots = s["number_of_shots"]
        if not _is_num(shots) or float(shots) != int(shots) or shots < -1:
            raise IngestError(f, "number_of_shots must be a whole number >= -1", row=row, field="number_of_shots",
                              value=_short(shots))
        desc = s.get("subtask_description", "")
        if not isinstance(desc, str):
            raise IngestError(f, "subtask_description must be a string", row=row, field="subtask_description",
                              value=_short(desc))
        _number(s["low_score"], f, row, "low_score", allow_null=True)
        _number(s["high_score"], f, row, "high_score", allow_null=True)
        for metric, v in s["score_dict"].items():
            if v is None:
                continue
            x = _number(v, f, row, f"score_dict.{metric}")
            if metric in BOUNDED_UNIT and x > 1 + 1e-9 and rescaled is None:
                rescaled = (row, metric, v)
    if rescaled is not None:
        issues.append(issue(source, "suspect_value", f, rescaled[0], f"score_dict.{rescaled[1]}", rescaled[2],
                            "a 0-1 metric above 1: the file was saved after BIG-bench's 0-100 rescaling; its "
                            "renormalized metrics are recorded with value_scale 'percent' (not rescaled)"))

    rows: list[dict] = []
    missing: dict[str, int] = {}
    n_sentinel = 0
    for i, s in enumerate(entries):
        shots = int(s["number_of_shots"])
        if shots == -1:
            n_sentinel += 1
        subtask = _subtask(s.get("subtask_description", ""), task_name)
        low = s["low_score"]
        for metric, v in s["score_dict"].items():
            if v is None or math.isnan(float(v)):
                missing[metric] = missing.get(metric, 0) + 1
                continue
            canon = METRIC_MAP.get(metric) or canonical_metric(metric)
            if metric in PERCENT_METRICS or (rescaled is not None and metric in RENORMALIZED):
                scale = "percent"
            else:
                scale = "unit"
            preferred = metric == s["preferred_score"] and low is not None and not math.isnan(float(low))
            rows.append({
                "task": task_name, "subtask": subtask, "source_metric": metric, "metric": canon,
                "higher_is_better": higher_is_better(canon), "family": model["family"],
                "source_family": model["family"], "model": model["model"], "params": model["params"],
                "params_estimate": False if model["params"] is not None else None,
                "params_source": model["params_source"] if model["params"] is not None else None,
                "non_embedding_params": model["non_embedding_params"],
                "checkpoint_step": None, "is_final": True, "shots": None if shots == -1 else shots,
                "value": float(v), "value_scale": scale,
                "random_baseline": float(low) if preferred else None,
                "baseline_source": BASELINE_SOURCE if preferred else None,
                "source_file": f, "row_ref": f"scores[{i}].score_dict.{metric}", "in_scoring": True,
            })
    for metric, n in missing.items():
        issues.append(issue(source, "missing_value", f, "", f"score_dict.{metric}", "NaN/null",
                            f"{n} ScoreData entries without a value: no observation"))
    if n_sentinel:
        issues.append(issue(source, "sentinel", f, "", "number_of_shots", -1,
                            f"{n_sentinel} ScoreData entries with number_of_shots -1 ('does not apply'): "
                            "stored with shots NULL"))
    return rows


def _check_names(path: Path, f: str, data: dict, model: dict, prefix: str, issues: list[dict], source: str):
    want = expected_filename(prefix, model["family"], model["model"])
    if path.name != want:
        issues.append(issue(source, "config_mismatch", f, "", "model", f"{model['family']} / {model['model']}",
                            f"file name differs from BIG-bench's name for this model ({want}): "
                            "the model block is used"))
    task_name = data["task"]["task_name"]
    if path.parent.name == "results" and path.parent.parent.name != task_name:
        issues.append(issue(source, "config_mismatch", f, "", "task.task_name", task_name,
                            f"task folder is {path.parent.parent.name!r}: the file's task_name is used"))


# ------------------------------------------------------------------ examples
def _softmax_at(logprobs: np.ndarray, k: int) -> float:
    z = logprobs - logprobs.max()
    p = np.exp(z)
    return float(p[k] / p.sum())


def _base_row(task_name: str, model: dict, f: str, sha: str | None) -> dict:
    """The columns every example of one results file shares."""
    return {"task": task_name, "family": model["family"], "source_family": model["family"],
            "model": model["model"], "params": model["params"],
            "params_estimate": False if model["params"] is not None else None,
            "non_embedding_params": model["non_embedding_params"],
            "checkpoint_step": None, "prompt_variant": "", "source_file": f, "content_hash": sha}


def _query_examples(q, qi: int, f: str, task_name: str, base: dict, counters: dict, stats: dict) -> list[dict]:
    """The example rows of one query (``queries[qi]``) of a full log; see the module docstring."""
    rows: list[dict] = []
    qrow = f"queries[{qi}]"
    if not isinstance(q, dict):
        raise IngestError(f, "query is not an object", row=qrow, value=_short(q))
    fn = q.get("function")
    samples = q.get("samples")
    if not isinstance(samples, list):
        raise IngestError(f, "samples must be a list", row=qrow, field="samples", value=_short(samples))
    shots = q.get("shots", 0)
    if shots is None:
        shots = 0
    if not _is_num(shots) or float(shots) != int(shots) or shots < 0:
        raise IngestError(f, "shots must be a whole number >= 0", row=qrow, field="shots", value=_short(shots))
    qtask = q.get("task", "programmatic")
    if not isinstance(qtask, str):
        raise IngestError(f, "task must be a string", row=qrow, field="task", value=_short(qtask))
    subtask = _subtask(qtask, task_name)
    if fn == "generate_text":
        kind = "generative"
    elif fn == "cond_log_prob":
        kind = "multiple_choice" if samples and isinstance(samples[0], dict) and "target_values" in samples[0] \
            else "scoring"
    else:
        raise IngestError(f, "function must be generate_text or cond_log_prob", row=qrow, field="function",
                          value=_short(fn))
    for si, smp in enumerate(samples):
        row = f"{qrow}.samples[{si}]"
        if not isinstance(smp, dict):
            raise IngestError(f, "sample is not an object", row=row, value=_short(smp))
        key = (kind, subtask, int(shots))
        n = counters.get(key, 0)
        counters[key] = n + 1
        ex = dict(base, subtask=subtask, shots=int(shots), example_id=f"{kind}:{n}", row_ref=row)
        if kind == "generative":
            out = smp.get("output")
            if not isinstance(out, str):
                raise IngestError(f, "output must be a string", row=row, field="output", value=_short(out))
            targets = smp.get("targets") or {}
            if not isinstance(targets, dict):
                raise IngestError(f, "targets must be an object (target -> metrics)", row=row, field="targets",
                                  value=_short(targets))
            ems = [m.get("exact_str_match") for m in targets.values() if isinstance(m, dict)]
            ems = [_number(v, f, row, "targets.exact_str_match") for v in ems if v is not None]
            ex.update(prediction=out, target=next(iter(targets), None),
                      correct=(max(ems) >= 1.0) if ems else None)
        else:
            targets = smp.get("targets")
            scores = smp.get("scores")
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise IngestError(f, "targets must be a list of strings", row=row, field="targets",
                                  value=_short(targets))
            if not isinstance(scores, list) or len(scores) != len(targets) or not targets:
                raise IngestError(f, f"scores must be a list of {len(targets)} log-probabilities (one per "
                                  "target)", row=row, field="scores", value=_short(scores))
            lp = np.array([_number(v, f, row, "scores") for v in scores], dtype=float)
            if kind == "scoring":
                ll = lp[0] if len(lp) == 1 else float(lp.max() + np.log(np.exp(lp - lp.max()).sum()))
                ex.update(target=targets[0], loss=-float(ll))
            else:
                tv = smp.get("target_values")
                if not isinstance(tv, dict):
                    raise IngestError(f, "target_values must be an object (target -> value)", row=row,
                                      field="target_values", value=_short(tv))
                vals = []
                for t in targets:
                    if t not in tv:
                        raise IngestError(f, "target missing from target_values", row=row,
                                          field="target_values", value=t)
                    vals.append(_number(tv[t], f, row, f"target_values[{t!r}]"))
                vals = np.array(vals)
                k = int(np.argmax(vals))
                if (vals == vals[k]).sum() > 1:
                    stats["multiple_correct"] = stats.get("multiple_correct", 0) + 1
                got = _number(smp.get("correct"), f, row, "correct")
                ex.update(choice_logprobs=[float(x) for x in lp], correct_index=k, n_choices=len(targets),
                          p_correct=_softmax_at(lp, k), prediction=targets[int(np.argmax(lp))],
                          target=targets[k], correct=bool(got >= vals[k] - 1e-12))
        rows.append(ex)
    return rows


def _examples(data: dict, f: str, model: dict, sha: str, issues: list[dict], source: str) -> list[dict]:
    queries = data.get("queries")
    if queries is None:
        issues.append(issue(source, "missing_value", f, "", "queries", "", "full log without queries: no examples"))
        return []
    if not isinstance(queries, list):
        raise IngestError(f, f"queries is a {type(queries).__name__}, expected a list", field="queries",
                          value=_short(queries))
    task_name = data["task"]["task_name"]
    base = _base_row(task_name, model, f, sha)
    counters: dict[tuple, int] = {}
    stats: dict[str, int] = {}
    rows: list[dict] = []
    for qi, q in enumerate(queries):
        rows.extend(_query_examples(q, qi, f, task_name, base, counters, stats))
    _example_issues(stats, f, issues, source)
    return rows


def _example_issues(stats: dict, f: str, issues: list[dict], source: str):
    if stats.get("multiple_correct"):
        issues.append(issue(source, "multiple_correct", f, "", "target_values", "",
                            f"{stats['multiple_correct']} multiple-choice samples have several targets with the top "
                            "value: correct_index is the first of them"))


# ------------------------------------------------------------------ parse
def parse(root: Path, source: str = NAME, progress=None, *, full_logs: bool = False,
          spill_dir: str | os.PathLike | None = None) -> Batch:
    """Parse a BIG-bench checkout (or part of one) into a :class:`~emergence.ingestion.schema.Batch`.

    Parameters
    ----------
    root : path
        A checkout, its ``benchmark_tasks`` folder, a task or results folder, or one file.
    full_logs : bool
        Also stream the ``full-logs_*.tar.lrz`` archives found (BIG-G / BIG-G sparse full logs,
        per task) into the per-example rows; without it an archive is only reported
        (``not_read``), as are the Git LFS pointers that stand in for archives never fetched.
    spill_dir : path, optional
        Where the archives' example rows are written as Parquet while reading (bounded
        memory: one query of one log at a time in memory); without it they are kept in memory.
        Spilled rows come with ``Batch.rescored``: their aggregates except the choice metrics
        (Brier, binary Brier, grade from ``choice_logprobs``), which the ingest takes from
        :meth:`emergence.store.Store.rescore_choices` over the spilled files (spilled = large).
    """
    root = Path(root)
    issues: list[dict] = []
    base, files, archives = _plan_files(root, full_logs, source, issues)
    hashes: dict[str, str] = {}
    obs_rows, ex_rows, runs = _read_result_files(base, files, hashes, source, issues, progress)
    example_files: list[str] = []
    rescored: list[pd.DataFrame] = []
    if full_logs and archives:
        spill = _Spill(spill_dir, source) if spill_dir is not None else None
        try:
            for i, path in enumerate(archives, 1):
                f = rel(base, path)
                if progress:
                    progress(Progress(f"{source}: full logs {i}/{len(archives)}: {f}", "parse", i, len(archives)))
                hashes[f] = file_sha256(path)
                got = _read_archive(path, f, source, issues, runs, spill, progress)
                obs_rows.extend(got["observations"])
                if spill is None:
                    ex_rows.extend(got["examples"])
                rescored.extend(got["rescored"])
        finally:
            if spill is not None:
                example_files = spill.close()

    obs = pd.DataFrame(obs_rows)
    if obs.empty:
        obs = pd.DataFrame(columns=["task", "metric", "source_metric", "model", "value", "source_file"])
    else:
        for (model, fam), grp in obs[obs["params"].isna()].groupby(["model", "family"]):
            issues.append(issue(source, "no_scale", grp["source_file"].iloc[0], "", "model.total_params", "null",
                                f"{fam} {model}: {len(grp)} observations without total_params: stored without a "
                                "scale"))
    obs = finish_observations(obs, issues, source)
    examples = None
    if ex_rows:
        examples = conform(pd.DataFrame(ex_rows).assign(source=source), EXAMPLE_COLUMNS, source)
    return Batch(source, obs, examples, issues, hashes, example_files=example_files,
                 rescored=pd.concat(rescored, ignore_index=True) if rescored else None)


def _plan_files(root: Path, full_logs: bool, source: str, issues: list[dict]) -> tuple[Path, list[Path], list[Path]]:
    """The result files and full-log archives to read under ``root`` (and the folder their names are
    relative to); one issue per backup, Git LFS pointer and (without ``full_logs``) archive not read.
    IngestError when there is nothing to read, with the hint that fits."""
    found = find_result_files(root)
    base = root.parent if root.is_file() else root
    pointers = {p: ptr for p in found["scores"] + found["full_log"] + found["archive"]
                if (ptr := lfs_pointer(p)) is not None}
    files = [p for p in found["scores"] + found["full_log"] if p not in pointers]
    archives = [p for p in found["archive"] if p not in pointers]
    if not files and not (full_logs and archives):
        hint = ""
        if pointers:
            hint = (f"; {len(pointers)} of its files are Git LFS pointers, not results (e.g. "
                    f"{rel(base, next(iter(pointers)))}): run `git lfs pull`")
        elif archives:
            hint = f"; to read the packed full logs ({archives[0].name}) give --full-logs"
        raise IngestError(root, "no BIG-bench results files (scores_*.json or full-log_*.json under "
                          "<task>/results/); the PyPI package ships none: use a git checkout of google/BIG-bench"
                          + hint)
    for p in found["backup"]:
        issues.append(issue(source, "superseded", rel(base, p), "", "file", p.name,
                            "evaluate_task.py's backup of an earlier run: not read"))
    for p, ptr in pointers.items():
        f = rel(base, p)
        what = ("the archive of BIG-G full logs: `emergence ingest bigbench --full-logs` fetches it through "
                f"GitHub's LFS media URL (or run `git lfs pull --include '{f}'` in the checkout)"
                if p in found["archive"] else "a results file: run `git lfs pull` in the checkout")
        issues.append(issue(source, "lfs_pointer", f, "", "file", f"sha256:{ptr['oid']} ({ptr['size']:,} bytes)",
                            f"a Git LFS pointer stands where there should be {what}; not parsed"))
    if not full_logs:
        for p in archives:
            issues.append(issue(source, "not_read", rel(base, p), "", "file", p.name,
                                "packed full logs: `emergence ingest PATH --full-logs` streams them into the "
                                "per-example rows (or unpack them: lrzip -d, then tar -x)"))
    return base, files, archives


def _read_result_files(base: Path, files: list[Path], hashes: dict[str, str], source: str, issues: list[dict],
                       progress) -> tuple[list[dict], list[dict], dict[tuple, tuple[str, set]]]:
    """``scores_*.json`` and ``full-log_*.json``: observation rows, example rows (full logs), and per
    (task, family, model) the scores file and its values (a full log or archive repeating them is a
    duplicate).  Fills ``hashes``."""
    obs_rows: list[dict] = []
    ex_rows: list[dict] = []
    scores_values: dict[Path, set] = {}
    runs: dict[tuple, tuple[str, set]] = {}     # (task, family, model) -> (scores file, its values)
    for n, path in enumerate(files, 1):
        f = rel(base, path)
        hashes[f] = file_sha256(path)
        data = _load(path, f)
        model = _model(data, f)
        is_log = bool(FULL_LOG_RE.match(path.name))
        _check_names(path, f, data, model, "full-log" if is_log else "scores", issues, source)
        file_issues: list[dict] = []
        rows = _observations(data, f, model, file_issues, source)
        if is_log:
            ex_rows.extend(_examples(data, f, model, hashes[f], issues, source))
            twin = path.with_name("scores_" + path.name[len("full-log_"):])
            if twin in scores_values and scores_values[twin] == _value_set(rows):
                issues.append(issue(source, "duplicate", f, "", "scores", len(rows),
                                    f"the full log's scores repeat {rel(base, twin)} value for value: "
                                    "not ingested twice"))
                rows = []
                file_issues = []
        else:
            scores_values[path] = _value_set(rows)
            runs[(data["task"]["task_name"], model["family"], model["model"])] = (f, scores_values[path])
        issues.extend(file_issues)
        obs_rows.extend(rows)
        if progress and (n % 200 == 0 or n == len(files)):
            progress(Progress(f"{source}: {n}/{len(files)} files", "parse", n, len(files)))
    return obs_rows, ex_rows, runs


# ------------------------------------------------------------------ full-log archives
class _Spill:
    """Example rows appended to one Parquet file as the archives are read."""

    def __init__(self, folder, source: str):
        import pyarrow.parquet as pq
        self.schema = arrow_schema(EXAMPLE_COLUMNS)
        safe = re.sub(r"[^\w.-]+", "_", source)
        self.path = Path(folder) / f"{safe}-examples.parquet"
        self.writer = pq.ParquetWriter(self.path, self.schema)
        self.rows = 0

    def write(self, frame: pd.DataFrame):
        import pyarrow as pa
        if len(frame):
            self.writer.write_table(pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False))
            self.rows += len(frame)

    def close(self) -> list[str]:
        self.writer.close()
        return [str(self.path)] if self.rows else []


class _Member:
    """A tar member's stream, hashed (SHA-256) as it is read."""

    def __init__(self, fh):
        self.fh, self.sha = fh, hashlib.sha256()

    def read(self, n=-1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        return data


def _lrzip(f: str) -> str:
    exe = shutil.which("lrzip")
    if exe is None:
        raise IngestError(f, "lrzip is not installed, and the BIG-G full logs are lrzip archives "
                          "(Debian/Ubuntu: apt-get install lrzip)")
    return exe


def _read_archive(path: Path, f: str, source: str, issues: list[dict], runs: dict, spill, progress) -> dict:
    """Stream one ``full-logs_*.tar.lrz``: ``lrzip -d`` to a pipe, the tar read sequentially, each
    JSON member decoded one query at a time (:func:`._jsonstream.iter_object`).

    Every member that is a results file (``ResultsFileData`` with ``queries``) gives example rows
    (spilled: re-scored per member in numpy -- a member is one task and model, so its groups are
    complete -- but for the choice metrics, which the ingest computes in DuckDB over the whole spilled
    table, :func:`emergence.ingestion.ingest.parse_source`) and, where
    no scores file of the same task, family and model holds the same values, its own scores.
    """
    import subprocess
    import tarfile
    import tempfile
    from emergence.analysis.rescore import aggregate_examples
    out = {"observations": [], "examples": [], "rescored": []}
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([_lrzip(f), "-d", "-q", "-f", "-o", "-", str(path)], stdout=subprocess.PIPE,
                                stderr=err, stdin=subprocess.DEVNULL)
        n_logs = n_rows = 0
        try:
            try:
                with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
                    for m in tf:
                        if not m.isfile() or not m.name.endswith(".json"):
                            continue
                        label = f"{f}/{m.name}"
                        got = _read_member(_Member(tf.extractfile(m)), label, m, path, source, issues, runs)
                        if got is None:
                            continue
                        n_logs += 1
                        obs, rows = got
                        out["observations"].extend(obs)
                        n_rows += len(rows)
                        if rows and spill is not None:
                            ex = conform(pd.DataFrame(rows).assign(source=source), EXAMPLE_COLUMNS, source)
                            del rows
                            spill.write(ex)
                            # every metric but the choice metrics, which the ingest computes in SQL over
                            # the whole spilled table (ingest._rescore_spilled; spilled = large)
                            out["rescored"].append(aggregate_examples(ex, from_logprobs=False))
                        elif rows:
                            out["examples"].extend(rows)
                        if progress:
                            progress(Progress(f"{source}: {label}: {n_rows:,} examples so far", "parse"))
            except (tarfile.TarError, EOFError) as e:
                tar_error = e
            else:
                tar_error = None
            proc.stdout.close()
            rc = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if rc != 0:          # lrzip's own reason first: a broken archive also breaks the tar stream
            err.seek(0)
            msg = err.read().decode("utf-8", "replace").strip().splitlines()
            raise IngestError(f, f"lrzip could not unpack it (exit {rc}): {msg[-1] if msg else 'no message'}")
        if tar_error is not None:
            raise IngestError(f, f"not a readable tar archive after lrzip -d: {tar_error}") from tar_error
    if not n_logs:
        issues.append(issue(source, "missing_value", f, "", "file", path.name,
                            "the archive holds no BIG-bench full log (JSON results file with queries)"))
    return out


def _read_member(fh: _Member, label: str, m, path: Path, source: str, issues: list[dict], runs: dict):
    """(observation rows, example rows) of one archive member, or None when it is not a log."""
    from emergence.ingestion.sources._jsonstream import iter_object
    head: dict = {}
    pending: list[tuple[int, object]] = []
    rows: list[dict] = []
    counters: dict[tuple, int] = {}
    stats: dict[str, int] = {}
    state: dict = {}

    def start():
        _check_top(head, label, keys=("task", "model"))
        state["model"] = _model(head, label)
        state["task"] = head["task"]["task_name"]
        state["base"] = _base_row(state["task"], state["model"], label, None)

    first = fh.fh.peek(1024)[:1024] if hasattr(fh.fh, "peek") else b""
    if first.startswith(b"version https://git-lfs.github.com/spec/"):
        issues.append(issue(source, "lfs_pointer", label, "", "file", m.name,
                            "a Git LFS pointer stands where a full log should be; not parsed"))
        return None
    n_items = 0
    for kind, key, value in iter_object(fh, label, "queries"):
        if kind == "key":
            head[key] = value
            continue
        n_items += 1
        if "base" not in state:
            if "task" in head and "model" in head:
                start()
            else:                        # queries before the model block (not how BIG-bench writes them)
                pending.append((key, value))
                continue
        rows.extend(_query_examples(value, key, label, state["task"], state["base"], counters, stats))
    if not isinstance(head.get("model"), dict) and "queries" not in head and not n_items:
        return None                      # some other JSON file
    _check_top(head, label)
    if "base" not in state:
        start()
    for key, value in pending:
        rows.extend(_query_examples(value, key, label, state["task"], state["base"], counters, stats))
    if not n_items:
        q = head.get("queries")
        if q is None:
            issues.append(issue(source, "missing_value", label, "", "queries", "",
                                "full log without queries: no examples"))
        elif q != []:
            raise IngestError(label, f"queries is a {type(q).__name__}, expected a list", field="queries",
                              value=_short(q))
    sha = fh.sha.hexdigest()
    model = state["model"]
    _example_issues(stats, label, issues, source)
    name = Path(m.name).name
    if FULL_LOG_RE.match(name):
        want = expected_filename("full-log", model["family"], model["model"])
        if name != want:
            issues.append(issue(source, "config_mismatch", label, "", "model", f"{model['family']} / {model['model']}",
                                f"file name differs from BIG-bench's name for this model ({want}): "
                                "the model block is used"))
    folder = path.parent.parent.name if path.parent.name == "results" else None
    if folder is not None and folder != state["task"]:
        issues.append(issue(source, "config_mismatch", label, "", "task.task_name", state["task"],
                            f"the archive is in task folder {folder!r}: the log's task_name is used"))
    file_issues: list[dict] = []
    obs = _observations(head, label, model, file_issues, source)
    for r in obs:
        r["content_hash"] = sha
    twin = runs.get((state["task"], model["family"], model["model"]))
    if twin is not None and twin[1] == _value_set(obs):
        issues.append(issue(source, "duplicate", label, "", "scores", len(obs),
                            f"the full log's scores repeat {twin[0]} value for value: not ingested twice"))
        obs, file_issues = [], []
    issues.extend(file_issues)
    for r in rows:
        r["content_hash"] = sha
    return obs, rows


def _value_set(rows: list[dict]) -> set:
    return {(r["subtask"], r["shots"], r["source_metric"], round(r["value"], 12)) for r in rows}
