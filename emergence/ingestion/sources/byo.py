"""Bring your own: a data file (or a folder of them) plus a mapping of fields to columns.

Two kinds:

- ``kind = "aggregate"``: one row per score (task, model, metric, value, ...) -> observations;
- ``kind = "examples"``: one row per model output (task, model, example_id, prediction + target /
  choice log-probabilities / p_correct / loss / n_samples + n_correct, ...) -> the per-example
  table, from which the analysis layer re-scores aggregates (:func:`emergence.analysis.rescore.aggregate_examples`).

Inputs (:mod:`emergence.ingestion.sources._records`): CSV / TSV / TXT (delimiter given or detected),
Parquet, JSON (a list of records), JSONL, and zip archives of them; a folder with a ``files``
pattern.  The mapping is a TOML file (:func:`load_mapping`) or the same dict (the CLI builds it
from ``--column``, ``--set``, ``--size``, ``--name``, ``--kind``, ``--delimiter``,
``--empty-prediction``)::

    name = "my-eval"              # source name in the store (default: the data file's stem)
    kind = "examples"             # or "aggregate"
    files = "runs/{model}/{task}.jsonl"   # a folder: which files, and fields taken from their paths
    delimiter = ";"               # CSV only (default: detected from the header line)
    empty_prediction = "wrong"    # or "skip" (examples with a prediction and a target)
    [columns]                     # field = column, key or dotted path ("output.0", "meta.model")
    model = "model"
    prediction = "output.0"
    target = "answer"
    [constants]                   # field = one value for every row
    task = "gsm8k"
    shots = 0
    [scale]                       # field = factor for a numeric column (e.g. sizes in billions)
    params = 1e9
    [sizes]                       # model = parameter count (a number or "7B", "350M", "1.3T")
    "my-model-small" = "350M"
    [extract]                     # text field = rule or [rules] (emergence.ingestion.sources._extract)
    prediction = ['json:answer', '"answer"\\s*:\\s*"([^"]*)"']
    [normalise]                   # text field = normaliser or [normalisers]
    prediction = "first_number"
    [by_task.math]                # overrides of columns / constants / extract / normalise for one task
    normalise = { target = "first_number" }

Rules:

- Fields are :func:`fields_for` each kind (:data:`FIELD_DOCS` says what each means).  An unknown
  top-level key, field, kind, normaliser or a bad regular expression -> :class:`IngestError`
  naming the mapping (its file when loaded from TOML) and the field.  A mapped column or path
  found in no row of a file -> :class:`IngestError` naming the file and the column.  A field
  given twice (column, constant, path capture) -> error.  Required: ``task`` and ``model``;
  aggregate also ``value`` and ``metric`` (or ``source_metric``).
- ``files``: a pattern (or a list; the first that matches any file is used) of paths under the
  folder: ``*`` any text within one folder name, ``**/`` any folders, ``{field}`` any text within
  one folder name that becomes that field's value (digits only for a whole-number field).  A file
  given directly is matched against the pattern's last path parts.  Files that do not match are
  not part of the source.  ``by_task.<task>`` tables apply to the files whose task (a constant or
  a ``{task}`` capture) is that task.
- Text is kept verbatim: ``None``, ``NA``, ``null``, ``nan`` are text; only an empty cell (or a JSON
  ``null``, or a key a record lacks) is empty.  A non-text JSON value in a text field is its JSON
  text.  Numeric fields read ``NA``, ``N/A``, ``nan``, ``null``, ``None`` and an empty cell as
  missing; other text there is an error naming file, row, field and value.
- Sizes (``params``, ``tokens``, ``flops``) may be written ``7B``, ``350M``, ``1.3T``, ``125k``
  (absolute; ``[scale]`` multiplies plain numbers only).  A model's size: its ``params`` cell,
  else its ``[sizes]`` entry (or ``--size``), else a ``params`` constant, else the curated table
  (``data/models/*.csv``), else none and one ``no_scale`` issue per model.  A ``[sizes]`` entry for
  a model that is in none of the files is an error (a misspelt name would otherwise leave the
  real model without its size).
- ``metric`` is canonicalised with :func:`emergence.analysis.metrics.canonical_metric` (the spelling as
  given is kept in ``source_metric``); ``family`` with :func:`emergence.ingestion.models.canonical_family`
  (the spelling kept in ``source_family``).
- Rows without ``task`` or ``model`` (or, aggregate, without ``value``) are not stored: one
  ``missing_value`` issue per column with the count.
- **Empty predictions** (examples whose ``prediction`` is mapped and which have a target): an
  empty cell, or a text the ``[extract]`` / ``[normalise]`` rules find no answer in, counts as
  wrong by default (stored as ``''``: exact match 0, edit distance = the target's length), with
  one ``empty_prediction`` issue per (file, model) giving the count.  ``empty_prediction = "skip"``
  leaves them out of the text metrics instead (their n_examples drop).  The choice is stored with
  the source (``sources.options``).  A row with a prediction but no target is not scored on text
  metrics: one ``missing_value`` issue per (file, model).
- An ``[extract]`` rule that matches none of the non-empty texts of its field in the whole source
  is an error (a wrong pattern, not data).
- ``choice_logprobs`` cells may be JSON lists (``[-0.1, -2.3]``) in a CSV, or lists in Parquet / JSON.
- Duplicated keys among aggregate rows are kept out of scoring as in every parser
  (:func:`emergence.ingestion.sources._common.mark_duplicates`).
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.analysis.metrics import canonical_metric, higher_is_better
from emergence.ingestion.models import canonical_family
from emergence.ingestion.schema import EXAMPLE_COLUMNS, OBSERVATION_COLUMNS, Batch, IngestError, conform, file_sha256, quote
from emergence.ingestion.sources._common import finish_observations, issue
from emergence.ingestion.sources._curated import apply_sizes, size_table
from emergence.ingestion.sources._extract import apply_rules, compile_normalisers, compile_rules, normalise
from emergence.ingestion.sources._records import MISSING, NA_TEXT, Table, is_data_file, read_tables

__all__ = ["KINDS", "TOP_LEVEL", "FIELD_DOCS", "EMPTY_PREDICTION", "load_mapping", "parse_with_mapping",
           "fields_for", "fields_help", "parse_size", "match_files"]

KINDS = ("aggregate", "examples")
EMPTY_PREDICTION = ("wrong", "skip")
PARTS = ("columns", "constants", "scale", "extract", "normalise")
TOP_LEVEL = {"name", "kind", "description", "license", "citation", "files", "delimiter", "empty_prediction",
             "sizes", "by_task", "_file", *PARTS}
_BOOKKEEPING = {"source", "source_file", "row_ref", "content_hash"}
SIZE_FIELDS = ("params", "tokens", "flops")
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_SIZE_RE = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([kKmMbBgGtT])?\s*$")

#: What every mappable field means (``emergence ingest --help`` and the README list them).
FIELD_DOCS: dict[str, str] = {
    "task": "task name as your evaluation spells it (required)",
    "subtask": "subtask or category ('' = none)",
    "metric": "metric; stored canonical (exact_str_match -> exact_match), your spelling in source_metric "
              "(aggregate: required, or source_metric)",
    "source_metric": "the metric as you spell it (default: metric)",
    "higher_is_better": "true/false (default: the metric's known orientation)",
    "family": "model family (default: the curated table's)",
    "source_family": "the family as you spell it (default: family)",
    "model": "model name (required; its size is looked up in data/models/*.csv unless given)",
    "params": "parameter count: absolute, or 7B / 350M / 1.3T ([scale] multiplies plain numbers)",
    "params_estimate": "true when the size is an estimate",
    "params_source": "where the size comes from (default: filled in)",
    "non_embedding_params": "parameters outside the embeddings, absolute (BIG-bench's own size axis; optional)",
    "tokens": "training tokens (absolute, or 300B)",
    "flops": "training FLOPs (absolute, or e.g. 2.5e21)",
    "checkpoint_step": "training step of a checkpoint (empty = a final model)",
    "is_final": "true for a model's final checkpoint (default true)",
    "shots": "number of in-context examples",
    "prompt_variant": "prompt template ('' = one prompt)",
    "variant": "any other part of the key ('' = none)",
    "seed": "random seed of the run",
    "value": "the score (aggregate: required)",
    "value_scale": "'unit' (0-1 or raw) or 'percent' (0-100 as written)",
    "stderr": "standard error of value",
    "n_examples": "examples behind value",
    "random_baseline": "score of random guessing",
    "baseline_source": "where the random baseline comes from",
    "paired_se": "standard error of the per-example difference from the series' smallest model (re-scored rows "
                 "get it; give it if your scores are paired over the same examples)",
    "in_scoring": "false keeps a row out of scoring",
    "example_id": "the example's id (default: its row reference)",
    "choice_logprobs": "per-choice log-probabilities (a list; JSON text in a CSV)",
    "correct_index": "0-based index of the right choice",
    "p_correct": "class-normalised probability of the right choice",
    "n_choices": "number of choices",
    "prediction": "the model's answer text ([extract] / [normalise] apply; empty or unparsed = wrong, "
                  "or left out with empty_prediction = skip)",
    "target": "the reference answer text",
    "loss": "per-example loss, e.g. the target's negative log-likelihood in nats",
    "correct": "true/false as your harness judged it (stored; re-scoring recomputes from the outputs)",
    "n_samples": "repeated sampling: samples drawn",
    "n_correct": "repeated sampling: samples that passed",
}


def fields_for(kind: str) -> dict[str, str]:
    """Mappable fields (name -> type) of a kind."""
    cols = OBSERVATION_COLUMNS if kind == "aggregate" else EXAMPLE_COLUMNS
    return {k: v for k, v in cols.items() if k not in _BOOKKEEPING}


def fields_help(kind: str, width: int = 16) -> str:
    """One line per mappable field of ``kind``: name and meaning."""
    return "\n".join(f"  {k:<{width}} {FIELD_DOCS[k]}" for k in fields_for(kind))


def load_mapping(toml_path) -> dict:
    """Read a TOML mapping; the returned dict remembers its file (``_file``) for error messages.

    A syntax error is one :class:`IngestError` naming the file, the line and the column.
    """
    path = Path(toml_path)
    try:
        with open(path, "rb") as fh:
            mapping = tomllib.load(fh)
    except OSError as e:
        raise IngestError(path, f"cannot read the mapping: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        what = re.sub(r"\s*\(at .*\)$", "", msg)
        where = f"line {m[1]}, column {m[2]}" if m else ("the end of the file" if "end of document" in msg else "?")
        raise IngestError(path, f"not valid TOML at {where}: {what}") from None
    mapping["_file"] = str(path)
    return mapping


@lru_cache(maxsize=None)
def _preset_file(path: str) -> dict:
    return load_mapping(path)


def preset_mapping(preset, **options) -> dict:
    """A preset's mapping (a TOML file under ``presets/``, read once), with the ingest options
    ``empty_prediction`` and ``sizes`` laid over it; the cached preset itself is never changed."""
    m = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
         for k, v in _preset_file(str(preset)).items()}
    if options.get("empty_prediction"):
        m["empty_prediction"] = options["empty_prediction"]
    if options.get("sizes"):
        m["sizes"] = {**m.get("sizes", {}), **options["sizes"]}
    return m


def parse_size(value, scale: float = 1.0) -> float | None:
    """A size as an absolute count: a number (times ``scale``), or ``7B`` / ``350M`` / ``1.3T`` / ``125k``.

    Missing spellings (:data:`emergence.ingestion.sources._records.NA_TEXT`) give None; anything else raises ValueError.

    >>> parse_size("7B"), parse_size("350M"), parse_size(1.5, 1e9), parse_size("NA")
    (7000000000.0, 350000000.0, 1500000000.0, None)
    """
    if value is None or value is MISSING or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        raise ValueError("not a size")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value) * scale
    s = str(value).strip().replace(",", "").replace("_", "")
    if s.lower() in NA_TEXT:
        return None
    m = _SIZE_RE.match(s)
    if not m:
        raise ValueError("not a number or a size like 7B, 350M, 1.3T")
    number = float(m[1])
    return number * _SUFFIX[m[2].lower()] if m[2] else number * scale


# ------------------------------------------------------------------------------ the mapping
@dataclass
class Spec:
    """A validated mapping."""

    where: str
    kind: str
    columns: dict
    constants: dict
    scale: dict
    extract: dict                  # field -> [Rule]
    normalise: dict                # field -> [(name, arg)]
    sizes: dict                    # model -> absolute count
    files: list[str]
    delimiter: str | None
    empty_prediction: str
    by_task: dict = field(default_factory=dict)   # task -> Spec parts overriding these

    def for_task(self, task) -> "Spec":
        over = self.by_task.get(task)
        if not over:
            return self
        merged = {p: {**getattr(self, p), **over.get(p, {})} for p in PARTS if p != "scale"}
        return Spec(self.where, self.kind, merged["columns"], merged["constants"], self.scale, merged["extract"],
                    merged["normalise"], self.sizes, self.files, self.delimiter, self.empty_prediction)


def _where(mapping: dict) -> str:
    return mapping.get("_file") or "column mapping"


def _table(mapping: dict, part: str, where: str) -> dict:
    d = mapping.get(part) or {}
    if not isinstance(d, dict):
        raise IngestError(where, f"[{part}] must be a table of field = value", field=part, value=d)
    return dict(d)


def _check_parts(parts: dict, allowed: dict, kind: str, where: str, prefix: str = ""):
    for part in PARTS:
        bad = sorted(set(parts.get(part, {})) - set(allowed))
        if bad:
            raise IngestError(where, f"unknown field(s) {bad} in [{prefix}{part}] for kind {kind!r}; allowed: "
                              f"{', '.join(allowed)}", field=bad[0])
    for fld, col in parts.get("columns", {}).items():
        if not isinstance(col, str) or not col:
            raise IngestError(where, "a column mapping needs a column name or path", field=fld, value=col)
    for part in ("extract", "normalise"):
        for fld in parts.get(part, {}):
            if allowed[fld] != "str":
                raise IngestError(where, f"[{part}] applies to text fields only", field=fld)


def _validate(mapping: dict) -> Spec:
    """A mapping (TOML table or the CLI's --column/--set) checked and compiled into a :class:`Spec`.

    Every problem is an :class:`IngestError` naming the mapping (its file, or "column mapping"), the field and
    the value; the checks run in the order a reader meets the keys (top level, parts, scale, files, format,
    sizes, per-task overrides, required fields), so the first problem is the one reported.
    """
    where = _where(mapping)
    kind = _validate_top(mapping, where)
    allowed = fields_for(kind)
    parts = {p: _table(mapping, p, where) for p in PARTS}
    _check_parts(parts, allowed, kind, where)
    both = sorted(set(parts["columns"]) & set(parts["constants"]))
    if both:
        raise IngestError(where, "a field is given both as a column and as a constant", field=both[0])
    scale = _validate_scale(parts["scale"], allowed, where)
    files, captured = _validate_files(mapping, allowed, parts, where)
    delimiter, empty = _validate_format(mapping, where)
    sizes = _validate_sizes(mapping, where)
    by_task = _validate_by_task(mapping, allowed, kind, where)
    _check_required(kind, set(parts["columns"]) | set(parts["constants"]) | captured, where)
    extract = {f: compile_rules(r, where, f) for f, r in parts["extract"].items()}
    norm = {f: compile_normalisers(n, where, f) for f, n in parts["normalise"].items()}
    for o in by_task.values():
        o["extract"] = {f: compile_rules(r, where, f) for f, r in o["extract"].items()}
        o["normalise"] = {f: compile_normalisers(n, where, f) for f, n in o["normalise"].items()}
    return Spec(where, kind, parts["columns"], parts["constants"], scale, extract, norm, sizes, files, delimiter,
                empty, by_task)


def _validate_top(mapping: dict, where: str) -> str:
    """The mapping is a table of known top-level keys; its ``kind`` (default aggregate)."""
    if not isinstance(mapping, dict):
        raise IngestError(where, "the mapping must be a table/dict")
    unknown = sorted(set(mapping) - TOP_LEVEL)
    if unknown:
        raise IngestError(where, f"unknown mapping key(s) {unknown}; allowed: {sorted(TOP_LEVEL - {'_file'})}",
                          field=unknown[0])
    kind = mapping.get("kind", "aggregate")
    if kind not in KINDS:
        raise IngestError(where, f"kind must be one of {KINDS}", field="kind", value=kind)
    return kind


def _validate_scale(table: dict, allowed: dict, where: str) -> dict[str, float]:
    """``[scale]``: a positive finite factor per numeric field."""
    scale = {}
    for fld, factor in table.items():
        if allowed[fld] not in ("float", "int"):
            raise IngestError(where, "only numeric fields can be scaled", field=fld, value=factor)
        try:
            factor = float(factor)
        except (TypeError, ValueError):
            raise IngestError(where, "a scale factor must be a number", field=fld, value=factor) from None
        if not math.isfinite(factor) or factor <= 0:
            raise IngestError(where, "a scale factor must be a positive finite number", field=fld, value=factor)
        scale[fld] = factor
    return scale


def _validate_files(mapping: dict, allowed: dict, parts: dict, where: str) -> tuple[list[str], set[str]]:
    """``files``: the path patterns, and the fields their ``{field}`` placeholders capture (which no column
    or constant may also give)."""
    files = mapping.get("files") or []
    files = [files] if isinstance(files, str) else files
    if not isinstance(files, list) or not all(isinstance(p, str) and p for p in files):
        raise IngestError(where, "files is a path pattern or a list of them", field="files", value=files)
    captured = set()
    for pat in files:
        for fld in re.findall(r"\{([^}]*)\}", pat):
            if fld not in allowed:
                raise IngestError(where, f"unknown field {{{fld}}} in the files pattern; allowed: "
                                  f"{', '.join(allowed)}", field="files", value=pat)
            captured.add(fld)
    clash = sorted(captured & (set(parts["columns"]) | set(parts["constants"])))
    if clash:
        raise IngestError(where, "a field is taken from the file path and also given as a column or constant",
                          field=clash[0])
    return files, captured


def _validate_format(mapping: dict, where: str) -> tuple[str | None, str]:
    """``delimiter`` (one character, or 'tab') and ``empty_prediction`` (default wrong)."""
    delimiter = mapping.get("delimiter")
    if delimiter is not None:
        delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter)
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\n\r":
            raise IngestError(where, "delimiter is one character (or 'tab')", field="delimiter", value=delimiter)
    empty = mapping.get("empty_prediction", "wrong")
    if empty not in EMPTY_PREDICTION:
        raise IngestError(where, f"empty_prediction must be one of {EMPTY_PREDICTION}", field="empty_prediction",
                          value=empty)
    return delimiter, empty


def _validate_sizes(mapping: dict, where: str) -> dict[str, float]:
    """``[sizes]``: model -> parameter count (7e9, 7B, 350M, ...), positive and finite."""
    sizes = {}
    for model, v in _table(mapping, "sizes", where).items():
        try:
            size = parse_size(v)
        except ValueError as e:
            raise IngestError(where, f"{e} (the size of model {quote(model)})", field=f"sizes.{model}",
                              value=v) from None
        if size is None or not math.isfinite(size) or size <= 0:
            raise IngestError(where, "a size must be a positive number", field=f"sizes.{model}", value=v)
        sizes[str(model)] = size
    return sizes


def _validate_by_task(mapping: dict, allowed: dict, kind: str, where: str) -> dict[str, dict]:
    """``[by_task.<task>]``: per-task columns, constants, extract and normalise tables (not yet compiled)."""
    by_task = {}
    for task, over in _table(mapping, "by_task", where).items():
        if not isinstance(over, dict) or set(over) - {"columns", "constants", "extract", "normalise"}:
            raise IngestError(where, "a [by_task.<task>] table holds columns, constants, extract and normalise "
                              "tables only", field=f"by_task.{task}", value=over)
        o = {p: _table(over, p, where) for p in ("columns", "constants", "extract", "normalise")}
        _check_parts(o, allowed, kind, where, prefix=f"by_task.{task}.")
        by_task[task] = o
    return by_task


def _check_required(kind: str, given: set[str], where: str) -> None:
    """task and model, and for aggregate rows value and metric (or source_metric), each a column, a constant
    or captured from the file path."""
    required = ["task", "model"] + (["value", "metric"] if kind == "aggregate" else [])
    for fld in required:
        if fld not in given and not (fld == "metric" and "source_metric" in given):
            raise IngestError(where, f"required field {fld!r} is neither a column nor a constant", field=fld)


# ------------------------------------------------------------------------------ files and paths
def _pattern_re(pattern: str, fields: dict) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:[^/]+/)*", i + 3
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "{":
            j = pattern.index("}", i)
            name = pattern[i + 1:j]
            body = r"\d+" if fields.get(name) == "int" else "[^/]+?"
            out, i = out + f"(?P<{name}>{body})", j + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def match_files(root: Path, patterns: list[str], fields: dict) -> list[tuple[Path, str, dict]]:
    """(path, name relative to ``root``, captured fields) of the files matching the first pattern that matches any.

    The walk never follows a symbolic link: links inside the folder are not read (the ingest
    refuses a folder with a link that leaves it).
    """
    import os
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if not p.is_symlink():
                found.append((p, p.relative_to(root).as_posix()))
    for pat in patterns:
        rx = _pattern_re(pat, fields)
        hits = [(p, rel, m.groupdict()) for p, rel in found if (m := rx.match(rel))]
        if hits:
            return hits
    return []


def _file_match(path: Path, patterns: list[str], fields: dict) -> dict:
    """Captures of a single file given directly: the pattern is matched against the path's last parts."""
    for pat in patterns:
        depth = pat.count("/") + 1
        tail = "/".join(path.resolve().parts[-depth:])
        m = _pattern_re(pat, fields).match(tail)
        if m:
            return m.groupdict()
    return {}


# ------------------------------------------------------------------------------ cells
def _text_cell(v):
    t = type(v)
    if t is str:
        return v if v != "" else None
    if v is None or v is MISSING or v is pd.NA:
        return None
    # the JSON text of a number, without json.dumps per cell (ids are often ints: 144k cells in MMLU-Pro)
    if t is int:
        return str(v)
    if t is float:
        return None if math.isnan(v) else repr(v) if math.isfinite(v) else json.dumps(v)
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, np.ndarray):
        v = v.tolist()
    return json.dumps(v, ensure_ascii=False, default=str)


def _number_cell(v, f: str, col: str, row, fld: str, scale: float):
    if v is None or v is MISSING or v is pd.NA:
        return np.nan
    try:
        if fld in SIZE_FIELDS:
            out = parse_size(v, scale)
            return np.nan if out is None else out
        if isinstance(v, bool):
            raise ValueError
        if isinstance(v, (int, float, np.integer, np.floating)):
            return float(v) * scale
        s = str(v).strip()
        if s.lower() in NA_TEXT:
            return np.nan
        return float(s) * scale
    except (ValueError, TypeError):
        what = "not a number or a size like 7B, 350M, 1.3T" if fld in SIZE_FIELDS else "not a number"
        raise IngestError(f, what, row=row, field=col, value=v) from None


def _bool_cell(v, f: str, col: str, row):
    if v is None or v is MISSING or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    s = str(v).strip().lower()
    if s in ("true", "1", "1.0", "yes"):
        return True
    if s in ("false", "0", "0.0", "no"):
        return False
    if s == "":
        return None
    raise IngestError(f, "not a boolean (true/false/1/0)", row=row, field=col, value=v)


def _as_list(v, file: str, fld: str, row):
    if v is None or v is MISSING or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            raise IngestError(file, "not a JSON list of numbers", row=row, field=fld, value=v) from None
    try:
        out = [float(x) for x in v]
    except (TypeError, ValueError):
        raise IngestError(file, "not a list of numbers", row=row, field=fld, value=v) from None
    return out


def _constant(value, kind: str, fld: str, where: str):
    """A constant from TOML (typed), the CLI or a path capture (text), as the field's type."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("true", "1", "yes"):
            return True
        if s in ("false", "0", "no"):
            return False
        raise IngestError(where, "not a boolean (true/false)", field=fld, value=value)
    if kind in ("float", "int"):
        try:
            v = parse_size(value) if fld in SIZE_FIELDS else float(value)
        except (TypeError, ValueError):
            raise IngestError(where, "not a number", field=fld, value=value) from None
        if v is None:
            raise IngestError(where, "not a number", field=fld, value=value)
        if kind == "int" and v != round(v):
            raise IngestError(where, "not a whole number", field=fld, value=value)
        return int(v) if kind == "int" else v
    if kind == "list":
        return _as_list(value, where, fld, None)
    return str(value)


# ------------------------------------------------------------------------------ one file
@dataclass
class _Stats:
    """Per field with [extract] rules: non-empty texts seen and how many a rule matched (whole source)."""

    seen: dict = field(default_factory=dict)
    matched: dict = field(default_factory=dict)
    unparsed: list = field(default_factory=list)      # one boolean array per file (prediction)


def _file_rows(table: Table, spec: Spec, captures: dict, fields: dict, stats: _Stats) -> pd.DataFrame:
    f = table.file
    n = len(table)
    df = pd.DataFrame({"row_ref": table.row_refs, "source_file": f})
    values = {}
    for fld, col in spec.columns.items():
        vals = table.values(col)
        if vals is None:
            raise IngestError(f, f"column {col!r} (mapped to field {fld!r} in {spec.where}) is not in the data; "
                              f"found {quote(table.names()[:30], 200)}", field=col)
        values[fld] = vals
    for fld, value in {**spec.constants, **captures}.items():
        v = _constant(value, fields[fld], fld, spec.where if fld in spec.constants else f)
        suffixed = fld in SIZE_FIELDS and isinstance(value, str) and re.search("[a-zA-Z]", value)
        if fields[fld] in ("float", "int") and fld in spec.scale and not suffixed:
            v = v * spec.scale[fld]
        df[fld] = [v] * n if isinstance(v, list) else v
    # text fields: model first (extraction rules may be limited to some models)
    order = sorted((k for k in values if fields[k] == "str"), key=lambda k: k != "model")
    models = df["model"].tolist() if "model" in df.columns else [None] * n
    for fld in order:
        col = spec.columns[fld]
        texts = [_text_cell(v) for v in values[fld]]
        rules = spec.extract.get(fld)
        unparsed = np.zeros(n, dtype=bool)
        if rules:
            seen = matched = 0
            for i, t in enumerate(texts):
                if t is None:
                    continue
                seen += 1
                v = apply_rules(rules, t, models[i])
                if v is None:
                    unparsed[i] = True
                else:
                    matched += 1
                texts[i] = v
            stats.seen[fld] = stats.seen.get(fld, 0) + seen
            stats.matched[fld] = stats.matched.get(fld, 0) + matched
        # an extracted empty answer is no answer (ZeroEval counts an empty "answer" as none)
        for i, t in enumerate(texts):
            if t == "":
                texts[i] = None
                unparsed[i] = True
        steps = spec.normalise.get(fld)
        if steps:
            extra = {}
            for name, arg in steps:
                if name == "choice_label":
                    got = table.values(arg)
                    if got is None:
                        raise IngestError(f, f"choice_label:{arg} names a column or path that is not in the data",
                                          field=arg)
                    extra[arg] = got
            for i, t in enumerate(texts):
                if t is None:
                    continue
                v = normalise(t, steps, {k: vv[i] for k, vv in extra.items()})
                if v is None or v == "":
                    unparsed[i] = True
                    v = None
                texts[i] = v
        if fld == "prediction":
            stats.unparsed.append(unparsed)
        df[fld] = pd.Series(texts, dtype=object)
        if fld == "model":
            models = texts
    for fld, vals in values.items():
        kind, col = fields[fld], spec.columns[fld]
        if kind in ("float", "int"):
            df[fld] = [_number_cell(v, f, col, table.row_refs[i], fld, spec.scale.get(fld, 1.0))
                       for i, v in enumerate(vals)]
        elif kind == "bool":
            df[fld] = pd.Series([_bool_cell(v, f, col, table.row_refs[i]) for i, v in enumerate(vals)], dtype=object)
        elif kind == "list":
            df[fld] = pd.Series([_as_list(v, f, col, table.row_refs[i]) for i, v in enumerate(vals)], dtype=object)
    if "prediction" not in spec.columns:
        stats.unparsed.append(np.zeros(n, dtype=bool))
    return df


# ------------------------------------------------------------------------------ the whole source
def _inputs(path: Path, spec: Spec, fields: dict) -> list[tuple[Path, str, dict]]:
    if path.is_dir():
        if not spec.files:
            raise IngestError(path, f"a folder needs a files pattern in the mapping ({spec.where}), e.g. "
                              "files = \"runs/{model}/*.jsonl\"", field="files")
        hits = match_files(path, spec.files, fields)
        if not hits:
            raise IngestError(path, f"no file matches the files pattern(s) {spec.files} of {spec.where}",
                              field="files")
        bad = [rel for p, rel, _ in hits if not is_data_file(p.name)]
        if bad:
            raise IngestError(bad[0], "not a data file (.csv, .tsv, .txt, .parquet, .json, .jsonl, .zip)",
                              field="files")
        return hits
    captures = {}
    if spec.files:
        captures = _file_match(path, spec.files, fields)
        if not captures and any("{" in p for p in spec.files):
            raise IngestError(path.name, f"the file's path does not match the files pattern(s) {spec.files} of "
                              f"{spec.where}, which give {', '.join(sorted(set(re.findall(r'{([^}]*)}', ' '.join(spec.files)))))}",
                              field="files")
    return [(path, path.name, captures)]


def parse_with_mapping(path: Path, mapping: dict, source: str | None = None) -> Batch:
    """Parse a data file, or a folder of them, with a mapping (see the module docstring).

    Parameters
    ----------
    path : a data file, or a folder whose files the mapping's ``files`` pattern selects.
    mapping : a dict as returned by :func:`load_mapping` (or built by the CLI).
    source : the source name to store; default ``mapping["name"]``, else the file's stem.

    Returns
    -------
    Batch
        observations (aggregate) or examples (examples), issues, the files' hashes, and the
        options that change numbers (``empty_prediction``) in ``Batch.options``.
    """
    path = Path(path)
    mapping = dict(mapping or {})
    spec = _validate(mapping)
    kind = spec.kind
    source = source or mapping.get("name") or path.stem
    if not path.exists():
        raise IngestError(path, "no such data file")
    issues: list[dict] = []
    df, unparsed, hashes = _read_inputs(path, spec, source, issues)
    df, unparsed = _drop_keyless(df, unparsed, spec, source, issues)
    if kind == "examples":
        _empty_predictions(df, unparsed, spec, source, issues)
    _canonical_names(df, kind)
    _sizes(df, spec, source, issues)
    options = _options(spec)
    if kind == "aggregate":
        obs = finish_observations(df, issues, source)
        return Batch(source, obs, None, issues, hashes, options)
    if "example_id" not in df.columns:
        df["example_id"] = df["row_ref"]
    examples = conform(df.assign(source=source), EXAMPLE_COLUMNS, source)
    obs = conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, source)
    return Batch(source, obs, examples, issues, hashes, options)


def _read_inputs(path: Path, spec: Spec, source: str,
                 issues: list[dict]) -> tuple[pd.DataFrame, np.ndarray, dict[str, str]]:
    """Every data file (or archive member) the mapping selects, as rows of the schema's fields;
    which rows' extraction found nothing; the files' hashes.  An ``[extract]`` rule that matches
    none of its values is an error (a wrong pattern, not bad data)."""
    fields = fields_for(spec.kind)
    stats = _Stats()
    parts, hashes = [], {}
    for p, rel, captures in _inputs(path, spec, fields):
        task = captures.get("task", spec.constants.get("task"))
        fspec = spec.for_task(task)
        sha = file_sha256(p)
        hashes[rel] = sha
        for table in read_tables(p, rel, delimiter=spec.delimiter):
            if table.skipped:
                issues.append(issue(source, "skipped_file", rel, "", "entry", len(table.skipped),
                                    f"{len(table.skipped)} archive member(s) that are not data files were not read: "
                                    + ", ".join(table.skipped[:5])))
            part = _file_rows(table, fspec, captures, fields, stats)
            part["content_hash"] = sha
            parts.append(part)
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    unparsed = np.concatenate(stats.unparsed) if stats.unparsed else np.zeros(len(df), dtype=bool)
    for fld, seen in stats.seen.items():
        if seen and not stats.matched.get(fld):
            rules = spec.extract.get(fld) or next(o["extract"][fld] for o in spec.by_task.values()
                                                  if fld in o["extract"])
            raise IngestError(spec.where, f"the [extract] rule(s) for {fld!r} matched none of the {seen} non-empty "
                              f"values in {', '.join(sorted(hashes))[:200]}: check the pattern",
                              field=f"extract.{fld}", value=rules[0].text)
    return df, unparsed, hashes


def _drop_keyless(df: pd.DataFrame, unparsed: np.ndarray, spec: Spec, source: str,
                  issues: list[dict]) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows missing a key field (task, model) or, for aggregates, the value: counted in a
    ``missing_value`` issue per field, not stored."""
    need = ["task", "model"] + (["value"] if spec.kind == "aggregate" else [])
    drop = pd.Series(False, index=df.index)
    for fld in need:
        empty = df[fld].isna() | df[fld].astype(str).str.strip().eq("")
        if empty.any():
            col = spec.columns.get(fld, fld)
            issues.append(issue(source, "missing_value", ",".join(sorted(df.loc[empty, "source_file"].unique()))[:200],
                                ",".join(df.loc[empty, "row_ref"].head(5)), col, "",
                                f"{int(empty.sum())} rows without {fld}: not stored"))
            drop |= empty
    keep = ~drop.to_numpy()
    return df[keep].reset_index(drop=True), unparsed[keep]


def _canonical_names(df: pd.DataFrame, kind: str) -> None:
    """Families and metrics: canonical, with the given spelling kept (``source_family``, ``source_metric``)."""
    if "family" in df.columns:
        if "source_family" not in df.columns:
            df["source_family"] = df["family"]
        df["family"] = df["family"].map(canonical_family)
    if kind == "aggregate":
        if "metric" not in df.columns:
            df["metric"] = df["source_metric"]
        if "source_metric" not in df.columns:
            df["source_metric"] = df["metric"]
        df["metric"] = df["metric"].map(canonical_metric)
        if "higher_is_better" not in df.columns:
            df["higher_is_better"] = df["metric"].map(higher_is_better)
        if "value_scale" not in df.columns:
            df["value_scale"] = "unit"


def _options(spec: Spec) -> dict:
    """The ingest choices stored with the source (``Batch.options``): kind, mapping file, and those
    that change numbers (``empty_prediction``, ``delimiter``, ``sizes``)."""
    options = {"kind": spec.kind, "mapping": Path(spec.where).name}
    if spec.kind == "examples" and ("prediction" in spec.columns
                                    or any("prediction" in o["columns"] for o in spec.by_task.values())):
        options["empty_prediction"] = spec.empty_prediction
    if spec.delimiter:
        options["delimiter"] = spec.delimiter
    if spec.sizes:
        options["sizes"] = {m: spec.sizes[m] for m in sorted(spec.sizes)}
    return options


def _empty_predictions(df: pd.DataFrame, unparsed: np.ndarray, spec: Spec, source: str, issues: list[dict]):
    """The empty-prediction rule (module docstring), in place."""
    if "prediction" not in df.columns or "target" not in df.columns:
        return
    pred, targ = df["prediction"], df["target"]
    has_target = targ.notna().to_numpy()
    empty = pred.isna().to_numpy() & has_target
    no_target = pred.notna().to_numpy() & ~has_target
    col = spec.columns.get("prediction", "prediction")
    tcol = spec.columns.get("target", "target")
    if empty.any():
        g = df.loc[empty, ["source_file", "model", "row_ref"]].assign(unparsed=unparsed[empty])
        total = df.loc[has_target].groupby(["source_file", "model"], sort=True).size()
        for (f, model), rows in g.groupby(["source_file", "model"], sort=True):
            k, u = len(rows), int(rows["unparsed"].sum())
            how = (f"{k - u} empty in the file, {u} with no answer found by the [extract] / [normalise] rules"
                   if u else "empty in the file")
            rule = ("counted wrong (stored as '': exact match 0, edit distance = the target's length)"
                    if spec.empty_prediction == "wrong" else
                    "left out of exact match and edit distance (empty_prediction = skip): n_examples counts the "
                    "answered rows only")
            issues.append(issue(source, "empty_prediction", f, ",".join(rows["row_ref"].head(5)), col, k,
                                f"model {model}: {k} of {int(total[(f, model)])} rows with a target have no "
                                f"prediction ({how}): {rule}"))
        if spec.empty_prediction == "wrong":
            df.loc[empty, "prediction"] = ""
    if no_target.any():
        for (f, model), rows in df.loc[no_target, ["source_file", "model", "row_ref"]].groupby(
                ["source_file", "model"], sort=True):
            issues.append(issue(source, "missing_value", f, ",".join(rows["row_ref"].head(5)), tcol, "",
                                f"model {model}: {len(rows)} rows have a prediction but no target: not scored on "
                                "exact match or edit distance"))


def _sizes(df: pd.DataFrame, spec: Spec, source: str, issues: list[dict]):
    """Fill ``params`` by the documented precedence (column, [sizes], constant, curated table), in place."""
    nan = pd.Series(np.nan, index=df.index)
    given = pd.to_numeric(df["params"], errors="coerce") if "params" in df.columns else nan
    column = given if "params" in spec.columns else nan
    constant = given if "params" in spec.constants else nan
    models = df["model"].astype(str)
    if spec.sizes:
        unknown = sorted(set(spec.sizes) - set(models))
        if unknown:
            raise IngestError(spec.where, f"[sizes] (or --size) names model {quote(unknown[0])}, which is in none of "
                              f"the files; models found: {quote(', '.join(sorted(set(models))), 200)}",
                              field=f"sizes.{unknown[0]}", value=unknown[0])
    sized = models.map(spec.sizes).astype(float) if spec.sizes else nan
    params = column.copy()
    psrc = pd.Series(np.where(params.notna(), _params_source("column", spec), None), index=df.index, dtype=object)
    for values, label in ((sized, f"mapping [sizes] / --size ({spec.where})"),
                          (constant, _params_source("constant", spec))):
        use = params.isna() & values.notna()
        params[use] = values[use]
        psrc[use] = label
    df["params"] = params
    if "params_source" in df.columns:
        psrc = df["params_source"].where(df["params_source"].notna(), psrc)
    df["params_source"] = psrc
    if "params_estimate" not in df.columns:
        df["params_estimate"] = pd.Series(np.where(params.notna(), False, None), index=df.index, dtype=object)
    need = df["params"].isna()
    if need.any():
        m = df.loc[need, "model"]
        first_file = df.loc[need].groupby("model", sort=False)["source_file"].first().to_dict()
        sizes = size_table(m.unique(), issues, source, where=first_file, counts=m.value_counts().to_dict())
        filled = apply_sizes(df.loc[need], sizes)
        for col in ("params", "params_estimate", "params_source", "tokens"):
            if col not in df.columns:
                df[col] = None
            df[col] = df[col].astype(object)
            df.loc[need, col] = filled[col].astype(object)
        fam = sizes.set_index("model")["curated_family"]
        if "family" not in df.columns:
            df["family"] = None
        no_fam = df["family"].isna()
        df.loc[no_fam, "family"] = df.loc[no_fam, "model"].map(fam)


def _params_source(how: str, spec: Spec) -> str | None:
    if how == "column":
        if "params" not in spec.columns:
            return None
        s = f"file column {spec.columns['params']!r}"
    else:
        s = "mapping constant"
    if spec.scale.get("params", 1.0) != 1.0:
        s += f" x {spec.scale['params']:g}"
    return s
