"""Helpers shared by the parsers: file listing and hashing, curated sizes, duplicates."""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from emergence.analysis.metrics import canonical_metric, higher_is_better
from emergence.ingestion.models import lookup
from emergence.ingestion.schema import OBSERVATION_COLUMNS, OBSERVATION_KEY, IngestError, conform, file_sha256, issue, key_strings

__all__ = ["rel", "hash_files", "glob_files", "source_files", "read_concat", "lfs_pointer", "parse_lfs_pointer", "read_nonempty", "read_csv", "strict_numeric", "attach_curated_sizes", "mark_duplicates",
           "finish_observations", "canonical_metric", "higher_is_better", "issue", "IngestError"]


def rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def glob_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    out: set[Path] = set()
    for pat in patterns:
        out.update(p for p in root.glob(pat) if p.is_file())
    return sorted(out)


def source_files(root: Path, patterns: Iterable[str], missing: str,
                 keep: Callable[[str], object] | None = None) -> list[Path]:
    """The files under ``root`` matching ``patterns`` whose name ``keep`` accepts (e.g. a regex's
    ``match``), sorted; :class:`IngestError` with ``missing`` when there are none."""
    files = [p for p in glob_files(root, patterns) if keep is None or keep(p.name)]
    if not files:
        raise IngestError(root, missing)
    return files


def read_concat(root: Path, files: Iterable[Path], read_one: Callable[[Path, str], pd.DataFrame],
                skip_empty: bool = False) -> pd.DataFrame:
    """``read_one(path, relative path)`` for each file, in order, concatenated (index reset).

    The shared glob-read-concat of the parsers that turn each file into a frame on its own
    (:func:`source_files` lists them); ``skip_empty`` leaves out frames without rows."""
    frames = [read_one(p, rel(root, p)) for p in files]
    if skip_empty:
        frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True)


def hash_files(root: Path, paths: Iterable[Path]) -> dict[str, str]:
    return {rel(root, p): file_sha256(p) for p in paths}


#: Git LFS pointer files start with this line (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md;
#: ``hawser`` is the pre-release spelling the spec still accepts).
_LFS_VERSIONS = (b"version https://git-lfs.github.com/spec/v1", b"version https://hawser.github.com/spec/v1")


def parse_lfs_pointer(data: bytes) -> dict | None:
    """``{"oid", "size"}`` if ``data`` is a Git LFS pointer, else None.

    Per the LFS spec a pointer is under 1024 bytes, starts with the ``version`` line and has
    ``oid sha256:<64 hex>`` and ``size <bytes>`` lines.
    """
    if len(data) >= 1024 or not data.startswith(_LFS_VERSIONS):
        return None
    fields = dict(line.split(" ", 1) for line in data.decode("ascii", "replace").splitlines()[1:] if " " in line)
    oid, size = fields.get("oid", ""), fields.get("size", "").strip()
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", oid) or not size.isdigit():
        return None
    return {"oid": oid[len("sha256:"):], "size": int(size)}


def lfs_pointer(path: Path) -> dict | None:
    """The Git LFS pointer stored at ``path`` instead of the file (``{"oid", "size"}``), else None.

    A checkout without ``git lfs`` (or a sparse or partial clone) holds these small text files
    where the large file should be.
    """
    try:
        if path.stat().st_size >= 1024:
            return None
        return parse_lfs_pointer(path.read_bytes())
    except OSError:
        return None


def read_nonempty(path: Path, label=None) -> bytes:
    """A file's bytes; an unreadable or empty (or whitespace-only) file raises :class:`IngestError`
    naming ``label`` (the path relative to the source root, where the caller has one)."""
    label = path if label is None else label
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise IngestError(label, f"cannot read: {e}") from e
    if not raw.strip():
        raise IngestError(label, "empty file")
    return raw


def read_csv(path: Path, *, required: Iterable[str] = (), encoding: str = "utf-8", **kw) -> pd.DataFrame:
    """Read a CSV strictly: an empty, truncated or column-less file raises :class:`IngestError`."""
    raw = read_nonempty(path)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise IngestError(path, f"not valid {encoding} text at byte {e.start}") from e
    try:
        df = pd.read_csv(io.StringIO(text), **kw)
    except (pd.errors.ParserError, csv.Error, ValueError) as e:
        raise IngestError(path, f"malformed CSV: {e}") from e
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise IngestError(path, f"missing column(s) {missing}; found {list(df.columns)[:20]}", field=missing[0])
    return df


def strict_numeric(df: pd.DataFrame, column: str, path, *, row_refs: pd.Series | None = None) -> pd.Series:
    """``df[column]`` as floats; text or infinity raises :class:`IngestError` naming file, row, field, value.

    Empty cells stay NaN (a missing value, not an error).  Use this before scaling a column
    (e.g. billions to absolute counts), where ``pd.to_numeric(errors="coerce")`` would turn
    bad text into a silent NaN.
    """
    raw = df[column]
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    for bad, what in (((num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")), "not a number"),
                      (np.isinf(num), "infinite value")):
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            row = row_refs.iloc[i] if row_refs is not None else i
            raise IngestError(path, what, row=row, field=column, value=raw.iloc[i])
    return num


def attach_curated_sizes(obs: pd.DataFrame, issues: list[dict], source: str) -> pd.DataFrame:
    """Fill ``params`` (and tokens, family) from the curated table where the source has none.

    Rows whose model is not curated keep a NULL size, and each such model gets one
    ``no_scale`` data issue: a model without a known size is shown as such.
    """
    if obs.empty:
        return obs
    obs = obs.copy()
    if "params" not in obs.columns:
        obs["params"] = np.nan
    for col in ("tokens", "params_estimate", "params_source", "family"):
        if col not in obs.columns:
            obs[col] = None
    # positional, one pass per model (a boolean mask per model was O(models x rows): 2,000 models took seconds)
    need = np.flatnonzero((obs["params"].isna() & obs["model"].notna()).to_numpy())
    if not len(need):
        return obs
    params = pd.to_numeric(obs["params"], errors="coerce").to_numpy(dtype=float, copy=True)
    tokens = pd.to_numeric(obs["tokens"], errors="coerce").to_numpy(dtype=float, copy=True)
    est = obs["params_estimate"].astype(object).to_numpy(copy=True)
    psrc = obs["params_source"].astype(object).to_numpy(copy=True)
    fam = obs["family"].astype(object).to_numpy(copy=True)
    files = obs["source_file"].to_numpy() if "source_file" in obs.columns else None
    groups = pd.Series(need).groupby(obs["model"].to_numpy()[need], sort=True)
    for model, pos in groups:
        p = pos.to_numpy()
        hit = lookup(model)
        if hit is None or hit["params"] is None:
            issues.append(issue(source, "no_scale", files[p[0]] if files is not None else "", "", "model", model,
                                f"{len(p)} observations have no parameter count: the model is not in "
                                "data/models/*.csv; they are stored without a scale and not scored on a size axis"))
            continue
        params[p] = hit["params"]
        est[p] = hit["params_estimate"]
        psrc[p] = hit["params_source"]
        if hit["tokens"] is not None:
            t = p[np.isnan(tokens[p])]
            tokens[t] = hit["tokens"]
        f = p[[v is None or (isinstance(v, float) and v != v) or v == "" for v in fam[p]]]
        fam[f] = hit["family"]
    obs["params"] = params
    obs["tokens"] = tokens
    obs["params_estimate"] = est
    obs["params_source"] = psrc
    obs["family"] = fam
    return obs


def mark_duplicates(obs: pd.DataFrame, issues: list[dict], source: str) -> pd.DataFrame:
    """Keep duplicated keys out of scoring, by a documented rule, and record each one.

    Rule: rows sharing an observation key (:data:`emergence.ingestion.schema.OBSERVATION_KEY`) with
    the same value are duplicates: the first (in file order) stays in scoring, the others
    are kept in the table with ``in_scoring = False`` and a ``duplicate`` issue.  Rows
    sharing a key with different values are a conflict: none of them is scored, each gets
    a ``conflict`` issue naming the other values.  Nothing is dropped or overwritten.
    """
    if obs.empty:
        return obs
    obs = obs.copy()
    if "in_scoring" not in obs.columns:
        obs["in_scoring"] = True
    key = [c for c in OBSERVATION_KEY if c in obs.columns]
    k = key_strings(obs, key)
    # rows already kept out (e.g. mislabelled) are not counted twice
    scoring = obs["in_scoring"].fillna(True).astype(bool)
    dup = scoring & k.map(k[scoring].value_counts()).fillna(0).gt(1)
    if not dup.any():
        return obs
    # vectorised over every duplicated key (expemergence alone has thousands)
    d = obs.loc[dup, ["source_file", "source_metric", "model", "task", "value"]].copy()
    d["row_ref"] = obs.loc[dup, "row_ref"] if "row_ref" in obs.columns else ""
    d["row_ref"] = d["row_ref"].astype(object).where(d["row_ref"].notna(), "").astype(str)
    d["k"] = k[dup]
    g = d.groupby("k", sort=False)
    conflict = g["value"].transform(lambda v: v.round(12).nunique() > 1).astype(bool)
    first = ~d["k"].duplicated(keep="first")
    out_of_scoring = conflict | ~first
    obs.loc[out_of_scoring[out_of_scoring].index, "in_scoring"] = False
    firsts = d[first].set_index("k")
    dups = d[~conflict & ~first]
    if len(dups):
        ref = firsts.loc[dups["k"]]
        detail = ("same key and value as " + ref["source_file"].to_numpy() + " row " + ref["row_ref"].to_numpy()
                  + ": kept once in scoring")
        issues.extend(issue(source, "duplicate", f, r, m, v, t) for f, r, m, v, t in
                      zip(dups["source_file"], dups["row_ref"], dups["source_metric"], dups["value"], detail))
    conf = d[conflict]
    if len(conf):
        values = conf.groupby("k", sort=False)["value"].agg(
            lambda v: ", ".join(f"{x:g}" for x in sorted(v.unique())))
        detail = ("model " + conf["model"].astype(str) + ", task " + conf["task"].astype(str) + ": one key has values "
                  + conf["k"].map(values) + "; none is scored")
        issues.extend(issue(source, "conflict", f, r, m, v, t) for f, r, m, v, t in
                      zip(conf["source_file"], conf["row_ref"], conf["source_metric"], conf["value"], detail))
    return obs


def finish_observations(obs: pd.DataFrame, issues: list[dict], source: str) -> pd.DataFrame:
    """Fill canonical metric and orientation where missing, mark duplicates, validate."""
    obs = obs.copy()
    obs["source"] = source
    if "metric" not in obs.columns:
        obs["metric"] = obs["source_metric"].map(canonical_metric)
    if "higher_is_better" not in obs.columns:
        obs["higher_is_better"] = obs["metric"].map(higher_is_better)
    if "source_family" not in obs.columns:
        obs["source_family"] = obs.get("family")
    for col in ("subtask", "prompt_variant", "variant"):
        if col not in obs.columns:
            obs[col] = ""
        obs[col] = obs[col].fillna("")
    obs = mark_duplicates(obs, issues, source)
    return conform(obs, OBSERVATION_COLUMNS, source)
