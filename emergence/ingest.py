"""Ingest: find each source (catalogue name or path), parse it, write it atomically.

Resolution of ``SOURCE`` arguments (see ``emergence ingest --help``):

- a catalogue name: ``<data-dir>/<name>``; if absent and the machine is online, the pinned
  files are downloaded from the public repository at the catalogue's commit into
  ``<data-dir>/<name>``; offline, :class:`SourceMissing` says what is missing and how to get it;
- a path: a folder, a file, a ``.zip`` or ``.tar.gz`` (unpacked safely into a temporary folder:
  no entry may leave it, and the unpacked size is capped), whose format is detected
  (:func:`_detect`, by the parsers' declared priorities).  A path is never walked outside itself:
  the filesystem root is refused, links leading out of the folder are an error, and the walk
  is capped (:func:`check_user_path`);
- a data file or folder with a mapping (``mapping=``): the bring-your-own parser.

All batches of one call land in one atomic write (:meth:`emergence.store.Store.write`):
if any source fails to parse, nothing is written.  :func:`remove` takes sources out the
same way.
"""
from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from . import catalog
from .schema import OBSERVATION_COLUMNS, Batch, IngestError, conform, issue, key_strings
from .store import REPO_ROOT, Finalize, Store

__all__ = ["data_dir", "SourceMissing", "ingest", "remove", "parse_source", "check_user_path", "MAX_UNPACKED_BYTES",
           "MAX_WALK_ENTRIES", "safe_extract"]

MAX_UNPACKED_BYTES = int(os.environ.get("EMERGENCE_MAX_UNPACKED_BYTES", 4 * 1024 ** 3))
MAX_RATIO = 200   # compressed -> uncompressed ratio beyond which an archive member is a bomb


class SourceMissing(FileNotFoundError):
    pass


def data_dir(arg: str | os.PathLike | None = None) -> Path:
    """``--data-dir``, else ``$EMERGENCE_DATA_DIR``, else ``../shared/data`` beside the repository
    if it exists, else ``data/raw``."""
    if arg:
        return Path(arg).expanduser().resolve()
    env = os.environ.get("EMERGENCE_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    shared = REPO_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else REPO_ROOT / "data" / "raw"


#: A path ingest walks at most this many entries (a folder of results, not a whole disk or home folder).
MAX_WALK_ENTRIES = int(os.environ.get("EMERGENCE_MAX_WALK_ENTRIES", 200_000))
#: Ingest options that change numbers, and the flag that sets each.
OPTION_FLAGS = {"empty_prediction": "--empty-prediction", "sizes": "--size", "delimiter": "--delimiter"}


@dataclass
class Planned:
    name: str           # source name as stored
    root: Path
    spec: catalog.SourceSpec | None
    module: object
    mapping: dict | None = None
    options: dict = field(default_factory=dict)   # ingest options the parser honours (its OPTIONS)


def check_user_path(path: Path) -> None:
    """Refuse a path ingest that would reach outside the folder given, or scan a whole filesystem.

    The filesystem root is refused; the folder is walked without following links, at most
    :data:`MAX_WALK_ENTRIES` entries; a symbolic link under it that leads outside it is an error
    naming the link (links are never followed out of the folder, and a parser never sees one).
    """
    if path == Path(path.anchor):
        raise IngestError(path, "the filesystem root is not a results folder: give the folder that holds the results")
    if not path.is_dir():
        return
    root = path.resolve()
    n = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        n += len(dirnames) + len(filenames)
        if n > MAX_WALK_ENTRIES:
            raise IngestError(path, f"holds more than {MAX_WALK_ENTRIES:,} files and folders: give the folder that "
                              "holds the results, not a whole disk or home folder (EMERGENCE_MAX_WALK_ENTRIES)")
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                target = p.resolve()
                if target != root and root not in target.parents:
                    raise IngestError(p.relative_to(root), "a symbolic link leads outside the folder given; links "
                                      "are not followed out of it: remove the link, or ingest what it points to "
                                      "by its own path")


def _archive_stem(path: Path) -> str:
    name = path.name
    for ext in (".tar.gz", ".tgz", ".tar", ".zip"):
        if name.lower().endswith(ext):
            return name[:-len(ext)]
    return path.stem


# ---------------------------------------------------------------- archives
def safe_extract(archive: Path, dest: Path) -> Path:
    """Unpack a .zip / .tar.gz into ``dest``; refuse path traversal, links and bombs."""
    dest = dest.resolve()
    total = 0

    def check(name: str, size: int, packed: int | None):
        nonlocal total
        target = (dest / name).resolve()
        if not str(target).startswith(str(dest) + os.sep) and target != dest:
            raise IngestError(archive, "archive entry would be written outside the target folder",
                              field="entry", value=name)
        total += size
        if total > MAX_UNPACKED_BYTES:
            raise IngestError(archive, f"unpacks to more than {MAX_UNPACKED_BYTES} bytes (zip bomb?)",
                              field="entry", value=name)
        if packed is not None and packed > 0 and size > 1_000_000 and size / packed > MAX_RATIO:
            raise IngestError(archive, f"compression ratio {size / packed:.0f}x exceeds {MAX_RATIO}x (zip bomb?)",
                              field="entry", value=name)

    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    check(info.filename, info.file_size, info.compress_size)
                zf.extractall(dest)
        elif name.endswith((".tar.gz", ".tgz", ".tar")):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    if m.issym() or m.islnk() or m.isdev():
                        raise IngestError(archive, "archive holds a link or device entry", field="entry", value=m.name)
                    check(m.name, m.size, None)
                tf.extractall(dest, filter="data")
        else:
            raise IngestError(archive, "not a .zip, .tar.gz or .tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        raise IngestError(archive, f"corrupt archive: {e}") from e
    entries = [p for p in dest.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


# ---------------------------------------------------------------- download
def _glob_re(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + "$")


def download(spec: catalog.SourceSpec, dest: Path, progress: Callable[[str], None] | None = None,
             timeout: float = 10.0) -> Path:
    """Fetch the pinned files of ``spec`` from GitHub at its commit into ``dest`` (keeping paths)."""
    if not spec.repo or not spec.commit:
        raise SourceMissing(f"source {spec.name!r} has no public download: give a path to your own copy")
    import json
    # overridable for mirrors (and for the tests, which serve a fake repository on loopback)
    api_base = os.environ.get("EMERGENCE_GITHUB_API", "https://api.github.com").rstrip("/")
    raw_base = os.environ.get("EMERGENCE_GITHUB_RAW", "https://raw.githubusercontent.com").rstrip("/")
    api = f"{api_base}/repos/{spec.repo}/git/trees/{spec.commit}?recursive=1"
    try:
        with urllib.request.urlopen(api, timeout=timeout) as r:
            tree = json.load(r)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise SourceMissing(_missing_message(spec, dest, f"offline or unreachable ({e})")) from e
    pats = [_glob_re(p) for p in spec.files]
    paths = [t["path"] for t in tree.get("tree", []) if t.get("type") == "blob" and any(p.match(t["path"]) for p in pats)]
    if not paths:
        raise SourceMissing(_missing_message(spec, dest, f"no pinned file found at {spec.repo}@{spec.commit}"))
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=dest.parent))
    try:
        for i, path in enumerate(paths):
            if progress:
                progress(f"downloading {spec.name}: {i + 1}/{len(paths)} {path}")
            url = f"{raw_base}/{spec.repo}/{spec.commit}/{path}"
            target = tmp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(url, timeout=60) as r, open(target, "wb") as fh:
                shutil.copyfileobj(r, fh)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _missing_message(spec: catalog.SourceSpec, dest: Path, why: str) -> str:
    how = (f"download {spec.url} (files {', '.join(spec.files)}) and put them, paths kept, in {dest}"
           if spec.repo else f"give the path of your own copy: emergence ingest path/to/{spec.name}")
    return f"source {spec.name!r} is not in {dest.parent} and cannot be downloaded: {why}. To add it: {how}"


# ---------------------------------------------------------------- planning
def _detect(path: Path) -> str:
    """The catalogue entry whose parser claims a user path.

    A folder named like a catalogue entry is that entry; otherwise each parser's ``detect`` is
    tried in :func:`emergence.sources.base.detection_order` (by the ``PRIORITY`` each parser
    module declares), and the first that claims the path wins.
    """
    from .sources.base import detection_order
    if path.is_dir() and path.name in catalog.CATALOG:
        return path.name
    for name in detection_order(catalog):
        if catalog.parser(name).detect(path):
            return name
    raise IngestError(path, "format not recognised: not a BIG-bench checkout, lm-eval results or samples, a ZeroEval "
                      "or MMLU-Pro output folder, nor a catalogue source folder; for a CSV/TSV/Parquet/JSON/JSONL of "
                      "your own give a column mapping (--map or --column/--set)")


def plan(sources: list[str], data: Path, stack: ExitStack, *, mapping: dict | None = None,
         online: bool = True, progress=None, options: dict | None = None) -> tuple[list[Planned], list[str]]:
    """Resolve SOURCE arguments; returns (planned, notes about sources not found).

    ``options`` (``empty_prediction``, ``sizes``, ``delimiter``) go into the mapping of a file of
    one's own, else to every planned parser that honours them (its ``OPTIONS``); an option that no
    planned source honours is an error rather than silently ignored.
    """
    options = {k: v for k, v in (options or {}).items() if v}
    if mapping is not None and options:
        mapping = dict(mapping)
        for k, v in options.items():
            mapping[k] = {**(mapping.get(k) or {}), **v} if k == "sizes" else v
    planned, notes = [], []
    if not sources:
        for name, spec in catalog.CATALOG.items():
            root = data / name
            if root.is_dir():
                planned.append(Planned(name, root, spec, catalog.parser(name)))
            elif spec.repo and spec.commit:
                notes.append(_missing_message(spec, root, "not found locally (pass its name to download it)"))
    for arg in sources or []:
        if arg in catalog.CATALOG and not Path(arg).exists():
            spec = catalog.get(arg)
            root = data / arg
            if not root.is_dir():
                if not online:
                    raise SourceMissing(_missing_message(spec, root, "offline"))
                download(spec, root, progress)
            planned.append(Planned(arg, root, spec, catalog.parser(arg)))
            continue
        path = Path(arg).expanduser().resolve()
        if not path.exists():
            raise SourceMissing(f"{arg}: neither a catalogue source ({', '.join(catalog.CATALOG)}) nor an existing path")
        check_user_path(path)
        if mapping is not None:
            byo = catalog.parser("byo")
            name = mapping.get("name") or path.stem
            planned.append(Planned(name, path, None, byo, mapping))
            continue
        stem = path.stem
        if path.is_file() and path.name.lower().endswith((".zip", ".tar.gz", ".tgz", ".tar")):
            stem = _archive_stem(path)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="emergence-unpack-")))
            path = safe_extract(path, tmp)
        name = _detect(path)
        spec = catalog.get(name)
        # a user's own copy of a catalogue source keeps the catalogue name (same rows as the download);
        # a generic format (the user's own lm-eval runs) is named after its folder (an archive: its name), so
        # two folders are two sources rather than one replacing the other
        stored_as = name if spec.repo else f"{name}:{stem}"
        planned.append(Planned(stored_as, path, spec, catalog.parser(name)))
    if mapping is None and options:
        for k, v in options.items():
            takers = [p for p in planned if k in getattr(p.module, "OPTIONS", ())]
            if not takers:
                raise IngestError(", ".join(p.name for p in planned) or "ingest", f"{OPTION_FLAGS.get(k, k)} applies to "
                                  "a file of your own with a mapping and to the ZeroEval and MMLU-Pro readers; none "
                                  "of the sources given reads it", field=k, value=v)
            for p in takers:
                p.options[k] = v
    seen: dict[str, Path] = {}
    for p in planned:
        if p.name in seen:
            raise IngestError(p.root, f"would be stored as source {p.name!r}, like {seen[p.name]} in the same call; "
                              "the second would replace the first: ingest one of them")
        seen[p.name] = p.root
    return planned, notes


_SAME_OUTPUT_KEY = ["task", "subtask", "family", "model", "checkpoint_step", "shots", "prompt_variant", "variant",
                    "metric"]


def _defer_to_native(rescored: pd.DataFrame, native: pd.DataFrame, batch: Batch) -> pd.DataFrame:
    """Rule: where the source reports the same metric for the same outputs itself, its own value is
    scored and the re-scored twin is kept out of scoring (a ``duplicate`` issue when they agree, a
    ``rescore_mismatch`` issue when they differ), so one set of outputs is never counted twice."""
    if native is None or native.empty:
        return rescored
    nat = native[native["in_scoring"].astype(bool)]
    nat_value = pd.Series(nat["value"].to_numpy(), index=key_strings(nat, _SAME_OUTPUT_KEY)).groupby(level=0).first()
    k = key_strings(rescored, _SAME_OUTPUT_KEY)
    twin = k.isin(nat_value.index)
    if not twin.any():
        return rescored
    rescored = rescored.copy()
    rescored.loc[twin, "in_scoring"] = False
    issues = list(batch.issues) if not isinstance(batch.issues, pd.DataFrame) else batch.issues.to_dict("records")
    for i in rescored.index[twin]:
        r = rescored.loc[i]
        v = nat_value[k[i]]
        same = abs(v - r["value"]) <= 1e-9 * max(1.0, abs(v))
        issues.append(issue(batch.source, "duplicate" if same else "rescore_mismatch", r["source_file"], "",
                            r["source_metric"], r["value"],
                            f"{r['model']} {r['task']}: the source reports {r['metric']} = {v:.6g} for the same "
                            "outputs; the source's value is scored, the re-scored one kept out"))
    batch.issues = issues
    return rescored


def parse_source(p: Planned, progress=None) -> Batch:
    """Run one parser and attach content hashes and re-scored observations."""
    try:
        if p.mapping is not None:
            batch = p.module.parse_with_mapping(p.root, p.mapping, source=p.name)
        else:
            batch = p.module.parse(p.root, source=p.name, progress=progress, **p.options)
    except IngestError:
        raise
    except (ValueError, TypeError, KeyError) as e:   # a parser's own check, still named by the input
        raise IngestError(p.root, f"{type(e).__name__}: {e}") from e
    obs = batch.observations
    if batch.examples is not None and len(batch.examples):
        from .rescore import aggregate_examples
        ex = batch.examples
        if ex["content_hash"].isna().any():
            ex = ex.assign(content_hash=ex["source_file"].map(batch.files))
            batch.examples = ex
        try:
            rescored = aggregate_examples(ex)
        except ValueError as e:
            files = ", ".join(sorted(ex["source_file"].dropna().unique())[:3])
            raise IngestError(files or p.root, f"re-scoring the examples failed: {e}") from e
        if len(rescored):
            rescored = conform(rescored.assign(source=p.name), OBSERVATION_COLUMNS, p.name)
            rescored = _defer_to_native(rescored, obs, batch)
            obs = pd.concat([obs, rescored], ignore_index=True) if len(obs) else rescored
    if len(obs):
        obs = obs.assign(content_hash=obs["content_hash"].fillna(obs["source_file"].map(batch.files)))
    batch.observations = obs
    return batch


#: What the store-wide step (:func:`emergence.series.apply_fdr`: Benjamini-Hochberg per family, then the
#: verdict rules) reads and writes of the series table, so a write moves these columns through pandas rather
#: than the whole table.  tests/test_store.py checks on the real store that the step on these columns gives
#: what it gives on the whole table and adds no other column: a change to the step that reads or writes
#: another column fails there, naming it.
def fdr_step(apply_fdr) -> Finalize:
    """The store-wide step as the store runs it in place: only the columns it reads go in, only the
    ones it writes come back (:data:`emergence.series.FDR_READS`, :data:`~emergence.series.FDR_WRITES`)."""
    from .series import FDR_READS, FDR_WRITES
    return Finalize(apply_fdr, FDR_READS, FDR_WRITES)


def ingest(sources: list[str] | None = None, *, db: str | os.PathLike | None = None,
           data: str | os.PathLike | None = None, mapping: dict | None = None,
           online: bool = True, progress: Callable[[str], None] | None = None,
           empty_prediction: str | None = None, sizes: dict | None = None, delimiter: str | None = None) -> dict:
    """Parse every requested source and land them in one atomic write.

    ``empty_prediction`` (``'wrong'`` or ``'skip'``), ``sizes`` (model -> parameter count) and
    ``delimiter`` are the options of ``emergence ingest`` that change numbers (see :func:`plan`).

    Returns ``{"result": {source: added|replaced|unchanged}, "notes": [...], "warnings": [...],
    "counts": {...}, "db": path}``; ``warnings`` names every file written whose content another
    source already holds (stored, not scored again: a ``duplicate_source`` data issue).
    """
    from .series import apply_fdr, score_observations
    store = Store(db)
    data_path = data_dir(data)
    options = {"empty_prediction": empty_prediction, "sizes": sizes, "delimiter": delimiter}
    with ExitStack() as stack:
        planned, notes = plan(list(sources or []), data_path, stack, mapping=mapping, online=online,
                              progress=progress, options=options)
        if not planned:
            raise SourceMissing(f"nothing to ingest: no catalogue source found in {data_path}\n" + "\n".join(notes))
        batches = []
        for i, p in enumerate(planned):
            if progress:
                progress(f"[{i + 1}/{len(planned)}] parsing {p.name} from {p.root}")
            batch = parse_source(p, progress)
            meta = {"root": str(p.root)}
            if p.spec is not None:
                meta.update(url=p.spec.url, repo=p.spec.repo, commit=p.spec.commit, license=p.spec.license,
                            redistributable=p.spec.redistributable, citation=p.spec.citation)
            else:
                meta.update(url=str(p.root), license=(p.mapping or {}).get("license", "user data"),
                            citation=(p.mapping or {}).get("citation", ""))
            batches.append((batch, meta))
        result = store.write(batches, score=score_observations, finalize=fdr_step(apply_fdr), progress=progress)
    counts = {b.source: {"observations": len(b.observations),
                         "examples": 0 if b.examples is None else len(b.examples),
                         "issues": len(b.issues_frame())} for b, _ in batches}
    written = [n for n, v in result.items() if v != "unchanged"]
    warnings = []
    if written:
        dup = store.duplicate_files(written)
        for src, g in dup.groupby("source", sort=True):
            first = g.iloc[0]
            warnings.append(f"{src}: {len(g)} file(s) have the same content as files of source "
                            f"{', '.join(sorted(g['original_source'].unique()))} (e.g. {first['file']} = "
                            f"{first['original_file']}): stored, but not scored again (data issue duplicate_source)")
    return {"result": result, "notes": notes, "warnings": warnings, "counts": counts, "db": str(store.path)}


def remove(names: list[str], *, db: str | os.PathLike | None = None,
           progress: Callable[[str], None] | None = None) -> dict:
    """Remove sources from the store in one atomic write (:meth:`emergence.store.Store.remove`).

    Their rows leave every table, the series of sources that held copies of their files are
    scored again, and the store-wide false discovery rate is recomputed over what remains.
    Returns ``{"removed": {source: counts}, "db": path}``.

    Raises
    ------
    emergence.store.UnknownSource
        A name that is not in the store (nothing is removed).
    """
    from .series import apply_fdr, score_observations
    store = Store(db)
    if not store.exists():
        from .store import StoreMissing
        raise StoreMissing(f"no store at {store.path}: nothing to remove")
    removed = store.remove(list(names), score=score_observations, finalize=fdr_step(apply_fdr), progress=progress)
    return {"removed": removed, "db": str(store.path)}
