"""gpt3-multiplication-tables: raw completions for every product a*b, a, b in 0..99 (Mukobi 2022).

Files ``data/multiplication_data_<model>_0_100.csv`` with columns ``a,b,completion``: one row
per problem, 10,000 per model, produced with a fixed 3-shot prompt (``data/prompt.csv`` holds
the three shots; it is the prompt, not data, and is not ingested as examples).

Rules:

- One example row per problem: task ``two_digit_multiplication``, ``shots = 3``,
  ``prompt_variant = ''``, ``example_id = "<a>*<b>"``, ``target = str(a*b)``,
  ``prediction`` = the completion exactly as stored (the source already ``.strip()``-ed it;
  commas, spaces and ``=`` are kept).  No aggregate observations here: exact match and token
  edit distance are computed from these rows by the analysis layer (:mod:`emergence.analysis.rescore`),
  so that both metrics come from the same outputs.
- An empty completion is an empty prediction (``''``, which never matches a target): counted
  as one ``missing_value`` issue per file.  Completions are read as text, so ``NA``-like
  strings stay strings.
- Encoding is detected per file: UTF-8, else cp1252 (the text-ada-001 file has one cp1252
  byte, a right single quote); each non-UTF-8 file gets an ``encoding`` issue.
- Model names drop the file's ``GPT3-`` / ``HF-`` prefix and ``EleutherAI-`` organisation
  (kept as ``source_family``): ``text-ada-001``, ``gpt2``, ``gpt-neo-1.3B``.
- Families: ``text-*-001`` and ``text-davinci-003`` are InstructGPT, one size series of OpenAI
  instruction-tuned API models (-003 was trained with
  RLHF/PPO rather than the -001 recipe: a ``config_mismatch`` issue says so); ``gpt2`` GPT-2; ``gpt-neo-*`` GPT-Neo/J;
  ``StubAnswerer`` (a stub that answers without a model) has family ``baseline`` and no size.
  Sizes from ``data/models/openai.csv``.
- A file must hold each (a, b) once with whole-number a, b: a repeated pair is a
  ``duplicate`` issue (first kept); pairs of the file's range ``_<lo>_<hi>`` (lo <= a, b < hi)
  that are absent are one ``missing_value`` issue; a non-numeric a or b is an :class:`IngestError`.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 10:
``data/multiplication_data_<model>_<lo>_<hi>.csv`` (names only); a foreign folder is never claimed.
Malformed input raises :class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and
value; rows not stored or kept out of scoring are counted in data issues.  ``source_file`` is the path
under the folder given, ``row_ref`` the CSV line (1 = header).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from emergence.ingestion.schema import EXAMPLE_COLUMNS, OBSERVATION_COLUMNS, Batch, IngestError, conform
from emergence.ingestion.sources._common import hash_files, issue, read_concat, read_nonempty, source_files
from emergence.ingestion.sources._curated import apply_sizes, size_table
from emergence.ingestion.sources.base import Progress

__all__ = ["NAME", "PRIORITY", "TASK", "detect", "parse", "model_name", "model_family"]

NAME = "gpt3-multiplication-tables"
PRIORITY = 10   # detection: one public repository's fixed file names (emergence.ingestion.sources.base)
TASK = "two_digit_multiplication"
SHOTS = 3
FILE_RE = re.compile(r"^multiplication_data_(?P<model>.+)_(?P<lo>\d+)_(?P<hi>\d+)\.csv$")
STUB = "StubAnswerer"


def model_name(stem: str) -> tuple[str, str | None]:
    """``GPT3-text-ada-001`` -> (``text-ada-001``, ``GPT3``); ``HF-EleutherAI-gpt-neo-1.3B`` -> (``gpt-neo-1.3B``, ``HF``)."""
    prefix = None
    m = re.match(r"^(GPT3|HF)-(.+)$", stem)
    if m:
        prefix, stem = m.group(1), m.group(2)
    stem = re.sub(r"^EleutherAI-", "", stem)
    return stem, prefix


def model_family(model: str) -> str | None:
    if re.match(r"^text-(ada|babbage|curie|davinci)-\d{3}$", model):
        return "InstructGPT"
    if re.match(r"^gpt2(-medium|-large|-xl)?$", model):
        return "GPT-2"
    if model.lower().startswith(("gpt-neo", "gpt-j")):
        return "GPT-Neo/J"
    if model == STUB:
        return "baseline"
    return None


def detect(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and any(FILE_RE.match(p.name) for p in path.glob("data/*.csv"))


def _decode(raw: bytes, path: Path, f: str, source: str, issues: list[dict]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad_at = e.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError as e:
        raise IngestError(f, f"neither UTF-8 nor cp1252 text (byte {e.start})") from e
    line = raw[:bad_at].count(b"\n") + 1
    issues.append(issue(source, "encoding", f, str(line), "completion", raw[bad_at:bad_at + 1].decode("cp1252"),
                        f"not valid UTF-8 (first bad byte {raw[bad_at]:#x} at offset {bad_at}, line {line}): "
                        "read as cp1252"))
    return text


def _read(path: Path, f: str, source: str, issues: list[dict]) -> pd.DataFrame:
    raw = read_nonempty(path, f)
    text = _decode(raw, path, f, source, issues)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, ValueError) as e:
        raise IngestError(f, f"malformed CSV: {e}") from e
    missing = [c for c in ("a", "b", "completion") if c not in df.columns]
    if missing:
        raise IngestError(f, f"missing column(s) {missing}; found {list(df.columns)}", field=missing[0])
    for col in ("a", "b"):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | (num != num.round()) | (num < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(f, "operand must be a non-negative whole number", row=i + 2, field=col,
                              value=df[col].iloc[i])
        df[col] = num.astype("int64")
    return df


def _read_file(path: Path, f: str, source: str, issues: list[dict]) -> pd.DataFrame:
    """One model's completions: one example row per (a, b) problem (rules: module docstring)."""
    stem = FILE_RE.match(path.name)["model"]
    model, prefix = model_name(stem)
    df = _read(path, f, source, issues)
    df["row_ref"] = (np.arange(len(df)) + 2).astype(str)
    dup = df.duplicated(["a", "b"], keep="first")
    if dup.any():
        issues.append(issue(source, "duplicate", f, ",".join(df.loc[dup, "row_ref"].head(5)), "a,b", "",
                            f"{int(dup.sum())} rows repeat an (a, b) pair: the first is kept"))
        df = df[~dup]
    lo, hi = int(FILE_RE.match(path.name)["lo"]), int(FILE_RE.match(path.name)["hi"])
    in_range = df["a"].between(lo, hi - 1) & df["b"].between(lo, hi - 1)
    absent = (hi - lo) ** 2 - int(in_range.sum())
    if absent > 0:
        issues.append(issue(source, "missing_value", f, "", "a,b", "",
                            f"{absent} of the {(hi - lo) ** 2} problems a, b in {lo}..{hi - 1} are absent"))
    empty = df["completion"] == ""
    if empty.any():
        issues.append(issue(source, "missing_value", f, ",".join(df.loc[empty, "row_ref"].head(5)),
                            "completion", "", f"{int(empty.sum())} empty completions: kept as an empty "
                            "prediction (never an exact match)"))
    out = pd.DataFrame({
        "model": model, "source_family": prefix, "family": model_family(model),
        "example_id": df["a"].astype(str) + "*" + df["b"].astype(str),
        "target": (df["a"] * df["b"]).astype(str), "prediction": df["completion"],
        "source_file": f, "row_ref": df["row_ref"],
    })
    if model == "text-davinci-003":
        issues.append(issue(source, "config_mismatch", f, "", "model", model,
                            "text-davinci-003 was trained with RLHF (PPO), the -001 models without; it is kept in "
                            "family InstructGPT so the four OpenAI API models form one size series; its size is an "
                            "estimate"))
    if model == STUB:
        issues.append(issue(source, "no_scale", f, "", "model", model,
                            f"{len(df)} rows from a stub answerer (no language model): family 'baseline', "
                            "no size, never on a size axis"))
    return out


def parse(root: Path, source: str = NAME, progress=None) -> Batch:
    root = Path(root)
    files = source_files(root, ["data/*.csv"],
                         "no multiplication files (data/multiplication_data_<model>_<lo>_<hi>.csv)", FILE_RE.match)
    issues: list[dict] = []
    ex = read_concat(root, files, lambda path, f: _read_file(path, f, source, issues))
    first_file = ex.groupby("model")["source_file"].first().to_dict()
    sizes = size_table(ex["model"].unique(), issues, source, where=first_file,
                       counts=ex["model"].value_counts().to_dict(), skip=[STUB])
    ex = apply_sizes(ex, sizes)
    hashes = hash_files(root, files)
    ex = ex.assign(task=TASK, subtask="", shots=SHOTS, prompt_variant="", is_final=True,
                   content_hash=ex["source_file"].map(hashes))
    if progress:
        progress(Progress(f"{source}: {len(files)} files", "parse"))
    examples = conform(ex.assign(source=source), EXAMPLE_COLUMNS, source)
    obs = conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, source)
    return Batch(source, obs, examples, issues, hashes)
