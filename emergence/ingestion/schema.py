"""The long shapes every parser yields, and the validation at the boundary.

Every input format is parsed into a :class:`Batch`: one long table of observations
(one row per source, task, subtask, metric, family, model, shots, prompt variant,
variant, seed and checkpoint), an optional per-example table, the data issues found
while parsing, and the files read with their content hashes.  A column a source lacks
is NULL, never invented.

:func:`conform` is the single place where a parser's output is checked before it can
reach the store: it adds missing columns, coerces types, and raises
:class:`IngestError` naming the file, the row and the field for anything malformed
(text or infinity in a numeric field, a negative size, a missing key field).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "OBSERVATION_COLUMNS",
    "EXAMPLE_COLUMNS",
    "ISSUE_COLUMNS",
    "OBSERVATION_KEY",
    "Batch",
    "IngestError",
    "conform",
    "file_sha256",
    "key_strings",
    "issue",
    "arrow_schema",
    "quote",
]

#: column -> kind ("str", "float", "int", "bool", "list") of the observation table.
OBSERVATION_COLUMNS: dict[str, str] = {
    "source": "str",            # catalogue name (or user-given name for bring-your-own)
    "task": "str",              # spelled as the source spells it
    "subtask": "str",           # '' when the source has none
    "metric": "str",            # canonical name (emergence.analysis.metrics)
    "source_metric": "str",     # spelled exactly as the source spells it
    "higher_is_better": "bool",
    "family": "str",            # canonical, curated
    "source_family": "str",     # the source's own spelling
    "model": "str",             # the source's model name
    "params": "float",          # absolute parameter count
    "params_estimate": "bool",  # True where the size is a public estimate
    "params_source": "str",     # where the size comes from (file column or curated table)
    "non_embedding_params": "float",  # parameters outside the embeddings (BIG-bench's own plot axis), where given
    "tokens": "float",          # training tokens (absolute)
    "flops": "float",           # training FLOPs (absolute)
    "checkpoint_step": "int",   # training step; NULL for a final model
    "is_final": "bool",         # the model's final checkpoint (size-axis series use these)
    "shots": "int",
    "prompt_variant": "str",    # '' when the source has one prompt
    "variant": "str",           # other source-specific key part ('' when none)
    "seed": "int",
    "value": "float",
    "value_scale": "str",       # 'unit' (0-1 or raw) or 'percent' (0-100 as the source wrote it)
    "stderr": "float",
    "n_examples": "int",
    "random_baseline": "float",
    "baseline_source": "str",
    "paired_se": "float",       # se of the per-example difference from the series' smallest model (re-scored rows)
    "source_file": "str",       # path relative to the source root
    "row_ref": "str",           # row number / key inside the file
    "content_hash": "str",      # sha256 of the source file
    "in_scoring": "bool",       # False: kept out of scoring by a documented rule (see data_issues)
}

#: What makes one observation: duplicates of this key are data issues.
OBSERVATION_KEY = [
    "source", "task", "subtask", "metric", "source_metric", "family", "model", "shots",
    "prompt_variant", "variant", "seed", "checkpoint_step",
]

#: The per-example table: the outputs behind an aggregate, for re-scoring.
EXAMPLE_COLUMNS: dict[str, str] = {
    "source": "str",
    "task": "str",
    "subtask": "str",
    "family": "str",
    "source_family": "str",
    "model": "str",
    "params": "float",
    "params_estimate": "bool",
    "non_embedding_params": "float",  # as in the observation table
    "tokens": "float",           # training tokens of the checkpoint (absolute), where known
    "checkpoint_step": "int",
    "is_final": "bool",          # the model's final checkpoint (as in the observation table)
    "shots": "int",
    "prompt_variant": "str",
    "example_id": "str",
    "choice_logprobs": "list",   # per-choice log-probabilities (unnormalised is fine)
    "correct_index": "int",      # index of the right choice
    "p_correct": "float",        # class-normalised probability of the right choice
    "n_choices": "int",
    "prediction": "str",         # generated text
    "target": "str",             # the reference text
    "loss": "float",             # e.g. NLL of the target (nats)
    "correct": "bool",
    "n_samples": "int",          # repeated sampling: samples drawn
    "n_correct": "int",          # repeated sampling: samples that passed
    "source_file": "str",
    "row_ref": "str",
    "content_hash": "str",
}

ISSUE_COLUMNS: dict[str, str] = {
    "source": "str",
    "kind": "str",        # missing_value | sentinel | duplicate | conflict | mislabelled | no_scale | config_mismatch | ...
    "source_file": "str",
    "row_ref": "str",
    "field": "str",
    "value": "str",
    "detail": "str",      # what the documented rule did with it
}

_NUMERIC_NONNEG = {"params", "non_embedding_params", "tokens", "flops", "checkpoint_step", "n_examples", "stderr",
                   "n_samples", "n_correct", "n_choices", "shots"}


class IngestError(ValueError):
    """A malformed input: names the file, the row (if any), the field and the value."""

    def __init__(self, file, message: str, *, row=None, field: str | None = None, value=None):
        self.file = str(file)
        self.row = row
        self.field = field
        self.value = value
        where = self.file
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field {field!r}"
        if value is not None:
            where += f", value {quote(value)}"
        super().__init__(f"{where}: {message}")


#: Longest value quoted in an error: a message may be shown to whoever gave the file, never a file's content.
QUOTE_CHARS = 40


def quote(value, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of ``value`` as text, cut to ``limit`` characters (an ellipsis marks the cut)."""
    s = str(value)
    return repr(s if len(s) <= limit else s[:limit] + "…")


def issue(source, kind, source_file, row_ref="", field="", value="", detail="") -> dict:
    """One data-issues row (a dict), for parsers to collect."""
    return {"source": source, "kind": kind, "source_file": str(source_file),
            "row_ref": str(row_ref), "field": str(field), "value": str(value), "detail": detail}


def key_strings(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """One string per row joining ``columns`` (NULL as ''), for grouping rows by a composite key.

    Vectorised (no row-wise join); NULLs are mapped explicitly because pandas 3 keeps NaN
    through ``astype(str)``.
    """
    parts = [df[c].astype(object).where(df[c].notna(), "").astype(str) for c in columns]
    return parts[0].str.cat(parts[1:], sep="\x1f")


def file_sha256(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def arrow_schema(columns: dict[str, str]):
    """The pyarrow schema of a table of ``columns`` (for example rows spilled to Parquet)."""
    import pyarrow as pa
    kinds = {"str": pa.string(), "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(),
             "list": pa.list_(pa.float64())}
    return pa.schema([(c, kinds[k]) for c, k in columns.items()])


@dataclass
class Batch:
    """What one parser returns for one source.

    A parser whose per-example rows would not fit in memory (BIG-bench's full-log archives)
    writes them to Parquet files (``example_files``, :data:`EXAMPLE_COLUMNS`, already conformed)
    as it goes, and returns their re-scored aggregates in ``rescored`` (observation rows made
    by :func:`emergence.analysis.rescore.aggregate_examples` with ``from_logprobs=False``, one call per
    complete group: every metric but the choice metrics, which the ingest computes over the files in
    DuckDB, :meth:`emergence.store.Store.rescore_choices`); the store streams the files in.  ``examples`` holds the rows small enough to keep in memory, which the
    ingest re-scores itself.
    """

    source: str
    observations: pd.DataFrame
    examples: pd.DataFrame | None = None
    issues: list[dict] | pd.DataFrame = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)   # relative path -> sha256
    #: ingest choices that change numbers (e.g. ``empty_prediction``), stored with the source
    options: dict = field(default_factory=dict)
    example_files: list[str] = field(default_factory=list)
    rescored: pd.DataFrame | None = None

    @property
    def n_examples(self) -> int:
        """Rows in ``examples`` plus rows in the spilled ``example_files``."""
        n = 0 if self.examples is None else len(self.examples)
        if self.example_files:
            import pyarrow.parquet as pq
            n += sum(pq.ParquetFile(f).metadata.num_rows for f in self.example_files)
        return n

    def issues_frame(self) -> pd.DataFrame:
        if isinstance(self.issues, pd.DataFrame):
            df = self.issues
        else:
            df = pd.DataFrame(self.issues, columns=list(ISSUE_COLUMNS))
        return conform(df, ISSUE_COLUMNS, self.source, validate=False)


def _file_of(df: pd.DataFrame, i: int, fallback: str) -> str:
    if "source_file" in df.columns:
        v = df["source_file"].iloc[i]
        if isinstance(v, str) and v:
            return v
    return fallback


def _row_of(df: pd.DataFrame, i: int):
    if "row_ref" in df.columns:
        v = df["row_ref"].iloc[i]
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            return v
    return i


def conform(df: pd.DataFrame, columns: dict[str, str], source: str, *, validate: bool = True) -> pd.DataFrame:
    """Return ``df`` with exactly ``columns`` in order and types, or raise :class:`IngestError`.

    Numeric fields must be finite numbers (NULL is allowed); sizes, counts and stderr
    must not be negative; ``value`` must be present on observations.
    """
    out = pd.DataFrame(index=df.index)
    n = len(df)
    for col, kind in columns.items():
        if col in df.columns:
            s = df[col]
        else:
            s = pd.Series([None] * n, index=df.index, dtype=object)
        if kind in ("float", "int"):
            num = pd.to_numeric(s, errors="coerce")
            if validate:
                bad = num.isna() & s.notna() & ~s.isin([""])
                if bad.any():
                    i = int(np.flatnonzero(bad.to_numpy())[0])
                    raise IngestError(_file_of(df, i, source), "not a number", row=_row_of(df, i),
                                      field=col, value=s.iloc[i])
                arr = num.to_numpy(dtype=float)
                inf = np.isinf(arr)
                if inf.any():
                    i = int(np.flatnonzero(inf)[0])
                    raise IngestError(_file_of(df, i, source), "infinite value", row=_row_of(df, i),
                                      field=col, value=s.iloc[i])
                if col in _NUMERIC_NONNEG:
                    neg = arr < 0
                    if neg.any():
                        i = int(np.flatnonzero(neg)[0])
                        raise IngestError(_file_of(df, i, source), "negative value where a size or count is expected",
                                          row=_row_of(df, i), field=col, value=s.iloc[i])
            if kind == "int":
                if validate:
                    arr = num.to_numpy(dtype=float)
                    frac = ~np.isnan(arr) & (arr != np.round(arr))
                    if frac.any():
                        i = int(np.flatnonzero(frac)[0])
                        raise IngestError(_file_of(df, i, source), "not a whole number", row=_row_of(df, i),
                                          field=col, value=s.iloc[i])
                out[col] = num.round().astype("Int64")
            else:
                out[col] = num.astype("float64")
        elif kind == "bool":
            out[col] = s.astype("boolean")
        elif kind == "list":
            out[col] = s.astype(object)
        else:
            obj = s.astype(object).where(s.notna(), None)
            # the per-value conversion only when something is not already text (it is slow on big tables)
            if pd.api.types.infer_dtype(obj, skipna=True) not in ("string", "empty"):
                obj = obj.map(lambda v: v if v is None or isinstance(v, str) else str(v))
            out[col] = obj
    if validate and "value" in columns and columns is OBSERVATION_COLUMNS:
        missing = out["value"].isna()
        if missing.any():
            i = int(np.flatnonzero(missing.to_numpy())[0])
            raise IngestError(_file_of(df, i, source), "observation without a value "
                              "(parsers must record missing values as data issues, not rows)",
                              row=_row_of(df, i), field="value", value=None)
        for col in ("source", "task", "metric", "model"):
            empty = out[col].isna() | (out[col] == "")
            if empty.any():
                i = int(np.flatnonzero(empty.to_numpy())[0])
                raise IngestError(_file_of(df, i, source), "missing key field", row=_row_of(df, i), field=col,
                                  value=None)
    for col in ("subtask", "prompt_variant", "variant"):
        if col in out.columns:
            out[col] = out[col].fillna("")
    if "in_scoring" in out.columns:
        out["in_scoring"] = out["in_scoring"].fillna(True)
    if "is_final" in out.columns:
        out["is_final"] = out["is_final"].fillna(True)
    if "source" in out.columns:
        out["source"] = out["source"].fillna(source)
    return out.reset_index(drop=True)
