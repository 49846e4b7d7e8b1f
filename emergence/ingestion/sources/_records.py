"""Reading a user's data file into rows, for the bring-your-own parser (:mod:`emergence.ingestion.sources.byo`).

Formats, chosen by the file name's ending:

- ``.csv`` / ``.txt`` (delimiter given, else detected from the header line: the most frequent of
  ``,`` ``;`` tab ``|``, else ``,``) and ``.tsv`` (tab unless given).  Every cell is read as text:
  only an empty cell is empty, so ``None``, ``NA``, ``null`` and ``nan`` stay the text they are;
  numeric fields read those spellings as missing (:data:`NA_TEXT`).  A UTF-8 byte-order mark is
  dropped.  Row reference: the line number (header = line 1).
- ``.parquet`` / ``.pq``.  Row reference: the row index from 0.
- ``.json``: a list of records (objects).  Row reference: the record's index from 0.
- ``.jsonl`` / ``.ndjson``: one object per line, blank lines skipped.  Row reference: the line number.
- ``.zip``: every member with one of the endings above is read as its own file, in name order,
  named ``<archive>/<member>``; other members (folders aside) are listed in one ``skipped_file``
  issue.  Members are read in memory, each at most :data:`MAX_MEMBER_BYTES` and, above 1 MB, at
  most :data:`MAX_RATIO` times its compressed size (a zip bomb is an error).

A field is addressed by a *path*: a column or key name, or dotted steps into nested values
(``output.0``: the first item of the list under ``output``; ``meta.model``: key ``model`` of the
object under ``meta``).  A name that exists as it is (a column called ``a.b``) wins over the
dotted reading.  In a CSV, a cell holding JSON (``[...]`` / ``{...}``) is stepped into as well.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources._common import read_nonempty

__all__ = ["MISSING", "NA_TEXT", "DATA_SUFFIXES", "Table", "read_tables", "detect_delimiter", "is_data_file"]

#: Stands for "this row has no value at that path" (a JSON null is ``None``, a value).
MISSING = object()
#: Spellings a *numeric* field reads as a missing value (case-insensitive); text fields keep them.
NA_TEXT = frozenset({"", "na", "n/a", "nan", "null", "none", "<na>"})
TABULAR = (".csv", ".tsv", ".txt", ".parquet", ".pq")
RECORDS = (".json", ".jsonl", ".ndjson")
DATA_SUFFIXES = TABULAR + RECORDS
MAX_MEMBER_BYTES = int(os.environ.get("EMERGENCE_MAX_UNPACKED_BYTES", 4 * 1024 ** 3))
MAX_RATIO = 200
_DELIMITERS = (",", ";", "\t", "|")


def is_data_file(name: str) -> bool:
    return name.lower().endswith(DATA_SUFFIXES + (".zip",))


@dataclass
class Table:
    """One file's rows: a frame (CSV, Parquet) or a list of records (JSON, JSONL)."""

    file: str                                  # as named in errors and in ``source_file``
    row_refs: np.ndarray                       # one text reference per row
    frame: pd.DataFrame | None = None
    records: list | None = None
    skipped: list[str] = field(default_factory=list)   # zip members not read

    def __len__(self) -> int:
        return len(self.row_refs)

    def names(self) -> list[str]:
        """Top-level column or key names (for error messages)."""
        if self.frame is not None:
            return [str(c) for c in self.frame.columns]
        keys: dict[str, None] = {}
        for r in self.records[:200]:
            keys.update(dict.fromkeys(r))
        return list(keys)

    def values(self, path: str) -> list | None:
        """The value at ``path`` in every row (:data:`MISSING` where a row lacks it); None when no row has it."""
        if self.frame is not None:
            if path in self.frame.columns:
                return self.frame[path].tolist()
            head, _, rest = path.partition(".")
            if not rest or head not in self.frame.columns:
                return None
            out = [_step(_json_cell(v), rest) for v in self.frame[head].tolist()]
        else:
            out = [_step(r, path) for r in self.records]
        return None if all(v is MISSING for v in out) else out


def _json_cell(v):
    """A CSV cell holding JSON is stepped into; anything else as it is."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _step(value, path: str):
    """Follow a dotted ``path`` into dicts and lists (a key spelled with dots, as it is, wins)."""
    while True:
        if isinstance(value, dict):
            if path in value:
                return value[path]
            head, _, rest = path.partition(".")
            if head not in value or not rest:
                return MISSING
            value, path = value[head], rest
            continue
        if isinstance(value, (list, tuple, np.ndarray)):
            head, _, rest = path.partition(".")
            try:
                i = int(head)
            except ValueError:
                return MISSING
            if not -len(value) <= i < len(value):
                return MISSING
            if not rest:
                return value[i]
            value, path = value[i], rest
            continue
        return MISSING


def detect_delimiter(header: str) -> str:
    """The most frequent of ``, ; tab |`` in the header line (``,`` when none occurs; ties in that order)."""
    counts = [(header.count(d), -i, d) for i, d in enumerate(_DELIMITERS)]
    n, _, d = max(counts)
    return d if n else ","


# ------------------------------------------------------------------------------ one file
def _csv(raw: bytes, label: str, name: str, delimiter: str | None) -> Table:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise IngestError(label, f"not valid utf-8 text at byte {e.start}") from e
    if text.startswith("\ufeff"):
        text = text[1:]
    if delimiter is None:
        delimiter = "\t" if name.endswith(".tsv") else detect_delimiter(text.split("\n", 1)[0])
    df = _read_csv_text(text, label, delimiter)
    return Table(label, (np.arange(len(df)) + 2).astype(str), frame=df)


def _read_csv_text(text: str, label: str, delimiter: str) -> pd.DataFrame:
    import csv
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_values=[],
                           quoting=csv.QUOTE_MINIMAL)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as e:
        raise IngestError(label, f"malformed CSV (delimiter {delimiter!r}): {e}") from e


def _parquet(raw: bytes, label: str) -> Table:
    try:
        df = pd.read_parquet(io.BytesIO(raw))
    except Exception as e:   # pyarrow raises several types for a corrupt file
        raise IngestError(label, f"not a readable parquet file: {str(e)[:120]}") from e
    return Table(label, np.arange(len(df)).astype(str), frame=df)


def _json(raw: bytes, label: str) -> Table:
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as e:
        raise IngestError(label, f"not valid utf-8 text at byte {e.start}") from e
    except json.JSONDecodeError as e:
        raise IngestError(label, f"invalid or truncated JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    if not isinstance(data, list):
        raise IngestError(label, f"expected a JSON list of records (objects), found a {type(data).__name__}")
    for i, r in enumerate(data):
        if not isinstance(r, dict):
            raise IngestError(label, f"record is a {type(r).__name__}, not an object", row=i)
    return Table(label, np.arange(len(data)).astype(str), records=data)


def _jsonl(raw: bytes, label: str) -> Table:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise IngestError(label, f"not valid utf-8 text at byte {e.start}") from e
    records, refs = [], []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise IngestError(label, f"invalid or truncated JSON on this line (column {e.colno}): {e.msg}", row=n) from e
        if not isinstance(r, dict):
            raise IngestError(label, f"line holds a {type(r).__name__}, not a JSON object", row=n)
        records.append(r)
        refs.append(str(n))
    return Table(label, np.array(refs, dtype=object).astype(str), records=records)


def _one(raw: bytes, label: str, name: str, delimiter: str | None) -> Table:
    name = name.lower()
    if not raw.strip():
        raise IngestError(label, "empty file")
    if name.endswith((".parquet", ".pq")):
        table = _parquet(raw, label)
    elif name.endswith(".json"):
        table = _json(raw, label)
    elif name.endswith((".jsonl", ".ndjson")):
        table = _jsonl(raw, label)
    else:
        table = _csv(raw, label, name, delimiter)
    if not len(table):
        raise IngestError(label, "no rows or records in the file")
    return table


def _zip(path: Path, label: str, delimiter: str | None) -> list[Table]:
    tables, skipped = [], []
    try:
        with zipfile.ZipFile(path) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if info.is_dir():
                    continue
                if not info.filename.lower().endswith(DATA_SUFFIXES):
                    skipped.append(info.filename)
                    continue
                member = f"{label}/{info.filename}"
                if info.file_size > MAX_MEMBER_BYTES:
                    raise IngestError(label, f"member unpacks to {info.file_size} bytes, more than the "
                                      f"{MAX_MEMBER_BYTES} allowed (EMERGENCE_MAX_UNPACKED_BYTES)",
                                      field="entry", value=info.filename)
                if info.file_size > 1_000_000 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                    raise IngestError(label, f"compression ratio {info.file_size / max(info.compress_size, 1):.0f}x "
                                      f"exceeds {MAX_RATIO}x (zip bomb?)", field="entry", value=info.filename)
                with zf.open(info) as fh:
                    raw = fh.read(MAX_MEMBER_BYTES + 1)
                tables.append(_one(raw, member, info.filename, delimiter))
    except (zipfile.BadZipFile, EOFError) as e:
        raise IngestError(label, f"corrupt zip archive: {e}") from e
    if not tables:
        raise IngestError(label, f"the archive holds no data file (one of {', '.join(DATA_SUFFIXES)}); "
                          f"found {', '.join(skipped[:5]) or 'nothing'}")
    if skipped:
        tables[0].skipped = skipped
    return tables


def read_tables(path: Path, label: str, *, delimiter: str | None = None) -> list[Table]:
    """The rows of one data file (a zip gives one table per data member).

    Raises
    ------
    IngestError
        An unreadable, empty, truncated or malformed file, naming ``label`` (and the line or
        record where there is one).
    """
    name = path.name.lower()
    if name.endswith(".zip"):
        return _zip(path, label, delimiter)
    if not name.endswith(DATA_SUFFIXES):
        raise IngestError(label, "bring-your-own data must be .csv, .tsv, .txt, .parquet, .json, .jsonl or a .zip "
                          "of them", field="file", value=path.name)
    return [_one(read_nonempty(path, label), label, name, delimiter)]

