"""lm-evaluation-harness per-example logs (``--log_samples``), catalogue source ``lm-eval-samples``.

Format: ``samples_<task>_<timestamp>.jsonl`` (timestamp ``YYYY-MM-DDTHH-MM-SS[.ffffff]``), one JSON
object per document and filter::

    {"doc_id": 0, "doc": {...}, "target": 2,
     "arguments": [[context, " continuation"], ...]            # or {"gen_args_0": {"arg_0": .., "arg_1": ..}}
     "resps": [[[-7.1, false]], ...], "filtered_resps": [[-7.1, false], [-3.2, true], ...],
     "filter": "none", "metrics": ["acc", "acc_norm"], "doc_hash": .., "prompt_hash": .., "target_hash": ..,
     "acc": 1.0, "acc_norm": 1.0}

Beside them the harness writes ``results_<timestamp>.json`` (new key style, see
:mod:`emergence.ingestion.sources.lm_eval_results`), which names the model (``model_name``, or
``config.model_args`` ``pretrained=...[,revision=stepN]``) and the shots (``n-shot`` /
``configs.<task>.num_fewshot`` / ``config.num_fewshot``).

Rules:

- Model and shots come from the sibling results file with the same timestamp, else the only
  results file in the folder, else the one whose results name the task; without one the model
  is the folder name (the harness writes ``<org>__<name>``, read as ``<org>/<name>``) and shots
  are NULL with one ``missing_value`` issue per file.  The model is the name after the last
  ``/``; size and family from the curated table (``no_scale`` issue when unknown).
  ``revision=step<N>`` gives ``checkpoint_step`` (Pythia: tokens = N x 2,097,152, final = 143000).
- Example rows, one per (document, filter); ``example_id`` = ``doc_id`` (``<doc_id>:<filter>`` for
  a filter other than ``none``):

  * multiple choice (``filtered_resps`` = two or more ``[log-likelihood, is_greedy]`` pairs; numbers
    may be written as strings): ``choice_logprobs`` (floats, as logged, unnormalised),
    ``n_choices``, ``correct_index`` = ``target`` when it is an index (an int or a digit string),
    else the index of the continuation equal to the target text; ``p_correct`` = softmax of the
    choice log-likelihoods at the right choice (class-normalised); ``loss`` = -log-likelihood of
    the right choice; ``correct`` from the per-document ``acc``.
  * one continuation (LAMBADA-style, a single pair): ``loss`` = -log-likelihood, ``target`` text,
    ``correct`` = the per-document ``acc`` (else ``is_greedy``).
  * generative (``filtered_resps`` a string, or a list holding one): ``prediction`` and ``target``
    strings; ``correct`` from the per-document ``exact_match`` / ``acc`` / ``em``.
  * a rolling log-likelihood (one number): ``loss`` = its negative.
  * anything else: no example row, one ``unrecognised_response`` issue per file.
- Aggregate observations, one per (task, filter, per-document metric): the mean over documents
  (booleans as 0/1), ``n_examples`` = documents, ``stderr`` = sample standard deviation / sqrt(n)
  (ddof 1).  Exception, as the harness aggregates it: a per-document ``perplexity`` is the
  document's log-likelihood and its aggregate is ``exp(-mean)`` (stderr NULL); a metric whose
  task config (``configs.<task>.metric_list``) names another aggregation is not aggregated
  (one ``not_aggregated`` issue).  Metric names through :func:`emergence.ingestion.sources.lm_eval_results.metric_for`
  (``acc`` -> ``multiple_choice_grade``, or ``accuracy`` for greedy-match tasks).  A
  per-document metric that is not a number (e.g. ``[loglik, n_words]`` pairs of perplexity
  metrics, whose aggregate is not a mean) is not aggregated: one ``not_aggregated`` issue.
  Where the results file reports the same metric and it differs from the mean by more than
  1e-6, one ``suspect_value`` issue.
- A repeated ``(doc_id, filter)`` in one file is a ``duplicate`` issue; the first is kept.
- A malformed JSON line, a record that is not an object, or one without ``doc_id`` ->
  :class:`IngestError` naming the file and the line number.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 70:
``samples_<task>[_<timestamp>].jsonl`` anywhere under the folder (names only); a foreign folder is
never claimed.  Malformed input raises :class:`~emergence.ingestion.schema.IngestError` naming the file, row
or field and value; rows not stored or kept out of scoring are counted in data issues.  ``source_file``
is the path under the folder given, ``row_ref`` the JSONL line for an example; ``mean of n documents
(filter f)`` for an observation.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.models import lookup
from emergence.ingestion.schema import EXAMPLE_COLUMNS, Batch, IngestError, conform
from emergence.ingestion.sources._common import attach_curated_sizes, finish_observations, glob_files, hash_files, issue, rel
from emergence.ingestion.sources.lm_eval_results import (checkpoint_info, harness_model_name, metric_for, model_identity, parse_model_args,
                              read_results_json, shots_of)
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "detect", "parse", "parse_samples_name", "classify_response", "read_samples_file"]

NAME = "lm-eval-samples"
PRIORITY = 70   # detection: samples_*.jsonl anywhere in the folder (emergence.ingestion.sources.base)

_TS = r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?"
_SAMPLES_RE = re.compile(rf"^samples_(?P<task>.+?)(?:_(?P<ts>{_TS}))?\.jsonl$")
_RESULTS_RE = re.compile(rf"^results_(?P<ts>{_TS})\.json$")
#: keys of a sample record that are not per-document metrics
_NOT_METRICS = {"doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics",
                "doc_hash", "prompt_hash", "target_hash", "task_name", "alias"}
_CORRECT_KEYS = ("acc", "exact_match", "em")


def parse_samples_name(name: str) -> dict:
    """``samples_arc_easy_2024-05-01T12-00-00.123456.jsonl`` -> {task, timestamp}; {} if not a samples file."""
    m = _SAMPLES_RE.match(name)
    if not m:
        return {}
    return {"task": m.group("task"), "timestamp": m.group("ts") or ""}


def detect(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(parse_samples_name(p.name) for p in path.glob("**/samples_*.jsonl"))


# --------------------------------------------------------------------------- responses

def _as_float(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _as_bool(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v in ("True", "False", "true", "false"):
        return v.lower() == "true"
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    return None


def _loglik_pair(x):
    """``[-1.5, false]`` / ``["-1.5", "False"]`` / ``[[-1.5, false]]`` -> (loglik, is_greedy) or None."""
    if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], (list, tuple)):
        x = x[0]
    if isinstance(x, (list, tuple)) and len(x) == 2:
        ll, g = _as_float(x[0]), _as_bool(x[1])
        if ll is not None and g is not None:
            return ll, g
    return None


def classify_response(filtered_resps) -> tuple[str, object]:
    """Kind of a record's ``filtered_resps``: ``("choices", [(ll, greedy), ...])``,
    ``("continuation", (ll, greedy))``, ``("generation", text)``, ``("rolling", ll)`` or ``("unknown", None)``.
    """
    fr = filtered_resps
    if isinstance(fr, str):
        return "generation", fr
    if isinstance(fr, (int, float)) and not isinstance(fr, bool):
        return "rolling", float(fr)
    if isinstance(fr, (list, tuple)) and fr:
        pairs = [_loglik_pair(x) for x in fr]
        if all(p is not None for p in pairs):
            return ("choices", pairs) if len(pairs) >= 2 else ("continuation", pairs[0])
        if len(fr) == 1:
            x = fr[0]
            while isinstance(x, (list, tuple)) and len(x) == 1:
                x = x[0]
            if isinstance(x, str):
                return "generation", x
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                return "rolling", float(x)
    return "unknown", None


def _continuations(arguments) -> list[str]:
    """The continuation text of each request (``[ctx, cont]`` lists or ``gen_args_i`` dicts)."""
    out = []
    if isinstance(arguments, dict):
        items = [arguments[k] for k in sorted(arguments, key=lambda k: int(re.sub(r"\D", "", k) or 0))]
        for a in items:
            out.append(a.get("arg_1") if isinstance(a, dict) else None)
    elif isinstance(arguments, list):
        for a in arguments:
            out.append(a[1] if isinstance(a, (list, tuple)) and len(a) >= 2 and isinstance(a[1], str) else None)
    return out


def _correct_index(target, arguments, n_choices: int):
    if isinstance(target, bool):
        return None
    if isinstance(target, int):
        return target if 0 <= target < n_choices else None
    if isinstance(target, str):
        if target.strip().isdigit():
            t = int(target.strip())
            return t if 0 <= t < n_choices else None
        conts = _continuations(arguments)
        for i, c in enumerate(conts):
            if isinstance(c, str) and c.strip() == target.strip():
                return i
    if isinstance(target, list) and len(target) == 1:
        return _correct_index(target[0], arguments, n_choices)
    return None


def _softmax_at(logprobs: list[float], i: int) -> float:
    a = np.asarray(logprobs, dtype=float)
    a = a - a.max()
    e = np.exp(a)
    return float(e[i] / e.sum())


def _metric_value(v):
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def _aggregations(res: dict | None, task: str) -> dict[str, str]:
    """metric -> aggregation name from the results file's task config (``configs.<task>.metric_list``)."""
    cfg = ((res or {}).get("configs") or {}).get(task) or {}
    out = {}
    for m in cfg.get("metric_list") or []:
        if isinstance(m, dict) and isinstance(m.get("metric"), str) and isinstance(m.get("aggregation"), str):
            out[m["metric"]] = m["aggregation"]
    return out


# --------------------------------------------------------------------------- files

def read_samples_file(path: Path, relpath: str) -> list[tuple[int, dict]]:
    """(line number, record) for every non-empty line; a malformed line raises :class:`IngestError`."""
    out = []
    try:
        fh = open(path, encoding="utf-8")
    except OSError as e:
        raise IngestError(relpath, f"cannot read: {e}") from e
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise IngestError(relpath, f"invalid JSON: {e.msg} (column {e.colno})", row=lineno) from e
            if not isinstance(rec, dict):
                raise IngestError(relpath, "sample line is not a JSON object", row=lineno, value=line.strip()[:80])
            if "doc_id" not in rec:
                raise IngestError(relpath, "sample without doc_id", row=lineno, field="doc_id")
            out.append((lineno, rec))
    if not out:
        raise IngestError(relpath, "empty samples file")
    return out


class _ResultsIndex:
    """The ``results_*.json`` files of a folder, read once."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[Path, list[tuple[str, Path, dict]]] = {}

    def _folder(self, folder: Path):
        if folder not in self._cache:
            found = []
            for p in sorted(folder.glob("results_*.json")):
                m = _RESULTS_RE.match(p.name)
                found.append((m.group("ts") if m else "", p, read_results_json(p, rel(self.root, p))))
            self._cache[folder] = found
        return self._cache[folder]

    def find(self, samples_path: Path, task: str, ts: str) -> tuple[Path | None, dict | None]:
        found = self._folder(samples_path.parent)
        for t, p, d in found:
            if ts and t == ts:
                return p, d
        if len(found) == 1:
            return found[0][1], found[0][2]
        naming = [(p, d) for _, p, d in found if task in d.get("results", {}) or task in (d.get("configs") or {})]
        if naming:
            return naming[-1]
        return None, None


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    """Parse every ``samples_*.jsonl`` under ``root`` (rules: module docstring).

    Per file: who and how (:func:`_identity`, from the matching ``results_*.json``), one example
    row per document (:func:`_read_documents`), one observation per metric and filter
    (:func:`_file_observations`); then sizes for both tables."""
    root = Path(root)
    files = [p for p in glob_files(root, ["**/samples_*.jsonl"]) if parse_samples_name(p.name)]
    if not files:
        raise IngestError(root, "no lm-eval --log_samples files (samples_<task>_<timestamp>.jsonl)")
    index = _ResultsIndex(root)
    issues: list[dict] = []
    obs_rows: list[dict] = []
    ex_rows: list[dict] = []
    read_files = list(files)
    for fi, path in enumerate(files):
        relpath = rel(root, path)
        info = parse_samples_name(path.name)
        task = info["task"]
        res_path, res = index.find(path, task, info["timestamp"])
        if res_path is not None and res_path not in read_files:
            read_files.append(res_path)
        ident = _identity(root, path, relpath, task, res_path, res, source, issues)
        per_metric = _read_documents(path, relpath, ident, ex_rows, source, issues)
        obs_rows += _file_observations(root, relpath, task, res_path, res, ident, per_metric, source, issues)
        if progress:
            progress(Progress(f"{source}: {fi + 1}/{len(files)} files", "parse", fi + 1, len(files)))
    obs = _observations_frame(root, obs_rows, source, issues)
    ex = _examples_frame(ex_rows, source)
    return Batch(source, obs, ex, issues, hash_files(root, read_files))


def _identity(root: Path, path: Path, relpath: str, task: str, res_path: Path | None, res: dict | None,
              source: str, issues: list[dict]) -> dict:
    """The columns every row of one samples file shares: model, family, shots, checkpoint, file."""
    fallback = path.parent.name.replace("__", "/")
    if res is None:
        full, shots, args = fallback, None, {}
        issues.append(issue(source, "missing_value", relpath, "", "shots", "",
                            "no results_*.json beside the samples: model from the folder name, shots NULL"))
    else:
        full = harness_model_name(res, fallback)
        shots = shots_of(res, task)
        cfg = res.get("config") if isinstance(res.get("config"), dict) else {}
        args = parse_model_args(cfg.get("model_args"))
        if shots is None:
            issues.append(issue(source, "missing_value", relpath, "", "shots", "",
                                f"{rel(root, res_path)} gives no num_fewshot for {task}: shots NULL"))
    model, family = model_identity(full)
    ck = checkpoint_info(family, args.get("revision"))
    return {"task": task, "family": family, "source_family": family, "model": model, "shots": shots,
            "checkpoint_step": ck["step"], "is_final": ck["is_final"], "tokens": ck["tokens"],
            "source_file": relpath}


def _read_documents(path: Path, relpath: str, ident: dict, ex_rows: list[dict], source: str,
                    issues: list[dict]) -> dict[tuple[str, str], list[float]]:
    """Append one example row per document of one file to ``ex_rows``; return the per-document
    values of each (metric, filter).  A repeated (doc_id, filter) keeps its first line."""
    per_metric: dict[tuple[str, str], list[float]] = {}
    seen: set[tuple[str, str]] = set()
    unknown = 0
    not_agg: dict[str, object] = {}
    for lineno, rec in read_samples_file(path, relpath):
        filt = str(rec.get("filter") or "none")
        key = (str(rec["doc_id"]), filt)
        if key in seen:
            issues.append(issue(source, "duplicate", relpath, lineno, "doc_id", rec["doc_id"],
                                f"doc_id repeated for filter {filt}: the first line is kept"))
            continue
        seen.add(key)
        # per-document metrics
        names = rec.get("metrics") if isinstance(rec.get("metrics"), list) else \
            [k for k in rec if k not in _NOT_METRICS]
        doc_metrics = {}
        for name in names:
            if name not in rec:
                continue
            v = _metric_value(rec[name])
            if v is None:
                not_agg.setdefault(name, rec[name])
                continue
            doc_metrics[name] = v
            per_metric.setdefault((name, filt), []).append(v)
        ex = _example_row(rec, key, filt, lineno, ident, doc_metrics, relpath, source, issues)
        if ex is None:
            unknown += 1
        else:
            ex_rows.append(ex)
    if unknown:
        issues.append(issue(source, "unrecognised_response", relpath, "", "filtered_resps", "",
                            f"{unknown} records whose filtered_resps is neither choices, a continuation, "
                            "a generation nor a rolling log-likelihood: no example row"))
    for name, v in not_agg.items():
        issues.append(issue(source, "not_aggregated", relpath, "", name, str(v)[:60],
                            "per-document value is not a number (its aggregate is not a mean): not aggregated"))
    return per_metric


def _example_row(rec: dict, key: tuple[str, str], filt: str, lineno: int, ident: dict, doc_metrics: dict,
                 relpath: str, source: str, issues: list[dict]) -> dict | None:
    """One document's example row by the kind of its ``filtered_resps`` (:func:`classify_response`);
    None when the kind is not recognised."""
    kind, payload = classify_response(rec.get("filtered_resps"))
    ex = dict(ident)
    ex["example_id"] = key[0] if filt == "none" else f"{key[0]}:{filt}"
    ex["row_ref"] = str(lineno)
    target = rec.get("target")
    correct = next((doc_metrics[k] for k in _CORRECT_KEYS if k in doc_metrics), None)
    if kind == "choices":
        lps = [p[0] for p in payload]
        ci = _correct_index(target, rec.get("arguments"), len(lps))
        ex.update(choice_logprobs=lps, n_choices=len(lps), correct_index=ci,
                  p_correct=_softmax_at(lps, ci) if ci is not None else None,
                  loss=-lps[ci] if ci is not None else None)
        if ci is None:
            issues.append(issue(source, "missing_value", relpath, lineno, "target", str(target)[:60],
                                "target is neither a choice index nor a choice's text: no correct_index"))
    elif kind == "continuation":
        ex.update(loss=-payload[0], target=None if target is None else str(target))
        if correct is None:
            correct = float(payload[1])
    elif kind == "generation":
        ex.update(prediction=payload, target=None if target is None else str(target))
    elif kind == "rolling":
        ex.update(loss=-payload)
    else:
        return None
    ex["correct"] = None if correct is None else bool(correct == 1.0)
    return ex


def _file_observations(root: Path, relpath: str, task: str, res_path: Path | None, res: dict | None, ident: dict,
                       per_metric: dict[tuple[str, str], list[float]], source: str,
                       issues: list[dict]) -> list[dict]:
    """One observation per (metric, filter) of one file, aggregated as the task's config says
    (mean, or lm-eval's ``perplexity`` = exp(-mean log-likelihood)); checked against the results JSON."""
    rows = []
    reported = (res or {}).get("results", {}).get(task, {}) if res else {}
    aggregations = _aggregations(res, task)
    for (name, filt), vals in per_metric.items():
        a = np.asarray(vals, dtype=float)
        n = len(a)
        how = aggregations.get(name, "perplexity" if name == "perplexity" else "mean")
        if how == "perplexity":      # lm_eval.api.metrics.perplexity: exp(-mean per-document log-likelihood)
            mean, se = float(math.exp(-a.mean())), None
        elif how == "mean":
            mean = float(a.mean())
            se = float(a.std(ddof=1) / math.sqrt(n)) if n > 1 else None
        else:
            issues.append(issue(source, "not_aggregated", relpath, "", name, how,
                                f"the task aggregates {name} by {how!r}, not a mean: not aggregated"))
            continue
        metric, subtask, variant = metric_for(task, name)
        if filt != "none":
            variant = (variant + ";" if variant else "") + filt
        rep = reported.get(f"{name},{filt}", reported.get(name)) if isinstance(reported, dict) else None
        if isinstance(rep, (int, float)) and not isinstance(rep, bool) and abs(rep - mean) > 1e-6:
            issues.append(issue(source, "suspect_value", relpath, "", f"{name},{filt}", f"{mean:.6g}",
                                f"mean over {n} documents differs from {rel(root, res_path)} ({rep:.6g}); "
                                "the samples' mean is stored"))
        rows.append(dict(ident, subtask=subtask, source_metric=name, metric=metric, variant=variant,
                         value=mean, stderr=se, n_examples=n, value_scale="unit",
                         row_ref=f"mean of {n} documents (filter {filt})"))
    return rows


def _observations_frame(root: Path, obs_rows: list[dict], source: str, issues: list[dict]) -> pd.DataFrame:
    """The observations with curated sizes (an intermediate checkpoint whose tokens per step are
    unknown keeps NULL tokens: the curated tokens are the fully trained model's)."""
    obs = pd.DataFrame.from_records(obs_rows)
    if obs.empty:
        raise IngestError(root, "no per-document metrics in any samples file")
    obs["params"] = np.nan
    obs["in_scoring"] = True
    ck_unknown = obs["checkpoint_step"].notna() & pd.to_numeric(obs["tokens"], errors="coerce").isna()
    obs = attach_curated_sizes(obs, issues, source)
    obs.loc[ck_unknown, "tokens"] = np.nan
    return finish_observations(obs, issues, source)


def _examples_frame(ex_rows: list[dict], source: str) -> pd.DataFrame:
    """The example rows with curated sizes (tokens: the checkpoint's, else the final model's curated)."""
    ex = pd.DataFrame.from_records(ex_rows)
    if not ex.empty:
        sizes = {m: lookup(m) for m in ex["model"].unique()}
        ex["params"] = ex["model"].map(lambda m: sizes[m]["params"] if sizes[m] else None)
        ex["params_estimate"] = ex["model"].map(lambda m: sizes[m]["params_estimate"] if sizes[m] else None)
        curated_tokens = ex["model"].map(lambda m: sizes[m]["tokens"] if sizes[m] else None)
        ex["tokens"] = pd.to_numeric(ex["tokens"], errors="coerce").fillna(
            pd.to_numeric(curated_tokens, errors="coerce").where(ex["checkpoint_step"].isna()))
        ex["source"] = source
    return conform(ex, EXAMPLE_COLUMNS, source)
