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
import shlex
import tarfile
import tempfile
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from emergence.ingestion import catalog, remote
from emergence.ingestion.schema import OBSERVATION_COLUMNS, Batch, IngestError, conform, issue, key_strings
from emergence.ingestion.sources.base import Progress
from emergence.store import REPO_ROOT, Finalize, Store

__all__ = ["data_dir", "SourceMissing", "ingest", "remove", "parse_source", "check_user_path", "MAX_UNPACKED_BYTES",
           "MAX_WALK_ENTRIES", "safe_extract", "download", "fetch_lfs_files", "as_progress",
           "progress_events", "Progress"]

MAX_UNPACKED_BYTES = int(os.environ.get("EMERGENCE_MAX_UNPACKED_BYTES", 4 * 1024 ** 3))
MAX_RATIO = 200   # compressed -> uncompressed ratio beyond which an archive member is a bomb


class SourceMissing(FileNotFoundError):
    """A source that is not here and cannot be fetched; the message says why and how to add it.
    ``failed``: per source, when several were tried (``ingest(keep_going=True)``)."""

    failed: dict = {}


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
    options: dict = field(default_factory=dict)   # ingest options the parser honours (its OPTIONS; bigbench: full_logs)


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


def as_progress(msg: str) -> Progress:
    """A progress event from a message: an event as it is; a plain string (what :mod:`emergence.ingestion.remote`
    says while downloading) becomes a ``fetch`` event when it ends in ``(pct%)`` or counts
    ``done/total files``, else a ``note``.  The one place progress text is read back."""
    if isinstance(msg, Progress):
        return msg
    msg = str(msg)
    m = re.search(r"\((\d+)%\)\s*$", msg)
    if m:
        return Progress(msg, "fetch", int(m[1]), 100)
    m = re.search(r"(\d[\d,]*)/(\d[\d,]*) files\b", msg)
    if m:
        return Progress(msg, "fetch", *(int(x.replace(",", "")) for x in m.groups()))
    return Progress(msg, "note")


def progress_events(progress: Callable[[Progress], None] | None) -> Callable[[str], None] | None:
    """Wrap a progress consumer so it gets only :class:`~emergence.ingestion.sources.base.Progress` events,
    whatever a lower layer passes (:func:`as_progress`)."""
    if progress is None or getattr(progress, "_events", False):
        return progress

    def emit(msg):
        progress(as_progress(msg))
    emit._events = True
    return emit


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
_glob_re = remote.glob_re      # the catalogue's file patterns (kept under this name for callers and tests)


def download(spec: catalog.SourceSpec, dest: Path, progress: Callable[[str], None] | None = None) -> Path:
    """Fetch a catalogue source into ``dest`` (paths kept), the way its entry says
    (:attr:`~emergence.ingestion.catalog.SourceSpec.fetch`): the pinned files at ``spec.commit``, or a sparse
    partial clone of ``spec.ref`` resolved to a commit once.

    Raises
    ------
    SourceMissing
        The source has no public download, or the remote cannot be reached or refuses; the message
        says in one line what is missing, why, and how to add it.
    """
    if not spec.downloadable:
        raise SourceMissing(_missing_message(spec, dest, "it has no public download"))
    try:
        if spec.fetch == "git":
            url = remote.git_url(spec.git_location())
            if progress:
                progress(f"{spec.name}: resolving {spec.ref} of {url}")
            commit = remote.resolve_ref(url, spec.ref)
            return remote.fetch_sparse(url, commit, spec.files, dest, progress, name=spec.name)
        return remote.fetch_raw(spec.repo, spec.commit, spec.files, dest, progress, name=spec.name)
    except remote.FetchError as e:
        raise SourceMissing(_missing_message(spec, dest, str(e))) from e


def fetch_lfs_files(spec: catalog.SourceSpec, root: Path, progress: Callable[[str], None] | None = None,
                    tasks: list[str] | None = None) -> list[str]:
    """Fetch the Git LFS files of ``spec`` (``spec.lfs_files``; BIG-bench: each task's full-log
    archive) that the git checkout at ``root`` holds only as pointers, through GitHub's LFS media
    URL at the checked-out commit.  ``tasks``: only the archives under these task folders.

    Returns the repository paths fetched (already-present files are kept, not fetched again).
    """
    if not spec.lfs_files:
        return []
    commit = remote.git_head(root)
    if not commit:
        raise SourceMissing(f"source {spec.name!r} at {root} is not a git checkout, so the commit of its Git LFS "
                            f"files is unknown: fetch it with `emergence ingest {spec.name}` (move this copy away "
                            "first), or put the files in place yourself (`git lfs pull` in a clone)")
    try:
        pointers = remote.read_blobs(root, commit, spec.lfs_files, progress, name=spec.name)
    except remote.FetchError as e:
        raise SourceMissing(f"source {spec.name!r}: cannot list its Git LFS files at {commit[:12]}: {e}") from e
    if tasks:
        pointers = {p: b for p, b in pointers.items() if any(f"/{t}/" in f"/{p}" for t in tasks)}
        unknown = [t for t in tasks if not any(f"/{t}/" in f"/{p}" for p in pointers)]
        if unknown:
            raise SourceMissing(f"source {spec.name!r} has no Git LFS file under task folder(s) {', '.join(unknown)} "
                                f"at {commit[:12]}")
    fetched = []
    todo = []
    for path, blob in sorted(pointers.items()):
        ptr = remote.read_lfs_pointer(blob)
        target = root / path
        if ptr is None or (target.is_file() and target.stat().st_size == ptr["size"]
                           and not remote.read_lfs_pointer(target.read_bytes()[:1024])):
            continue                       # not an LFS file, or already here
        todo.append((path, ptr))
    for i, (path, ptr) in enumerate(todo, 1):
        url = remote.lfs_media_url(spec.repo, commit, path)
        label = f"{spec.name}: full logs {i}/{len(todo)} {path}"
        try:
            remote.fetch_lfs_object(url, ptr, root / path, progress, label=label)
        except remote.FetchError as e:
            raise SourceMissing(f"source {spec.name!r}: {e}") from e
        fetched.append(path)
    return fetched


def _missing_message(spec: catalog.SourceSpec, dest: Path, why: str) -> str:
    """One line: what is missing, why, and how to add it (paths and patterns in backticks: the app shows
    the line as Markdown, where a bare ``**`` or ``*`` of a pattern would turn into emphasis)."""
    files = ", ".join(f"`{f}`" for f in spec.files)
    if spec.fetch == "git" and spec.repo:
        url = f"https://github.com/{spec.repo}.git"
        how = (f"run `emergence ingest {spec.name}` when online (a sparse clone of {spec.repo} with only its "
               f"results files), or put a checkout at `{dest}` (`git clone --filter=blob:none --sparse {url} {dest} "
               f"&& git -C {dest} sparse-checkout set --no-cone {' '.join(shlex.quote(f) for f in spec.files)}`), "
               f"or ingest your own copy: `emergence ingest path/to/{spec.repo.split('/')[-1]}`")
    elif spec.repo:
        how = (f"download {spec.url} (files {files}) and put them, paths kept, in `{dest}`, or run "
               f"`emergence ingest {spec.name}` online")
    else:
        how = f"give the path of your own copy: `emergence ingest path/to/{spec.name}`"
    return f"source {spec.name!r} is not in `{dest.parent}` and cannot be downloaded: {why}. To add it: {how}"


# ---------------------------------------------------------------- planning
def _detect(path: Path) -> str:
    """The catalogue entry whose parser claims a user path.

    A folder named like a catalogue entry is that entry; otherwise each parser's ``detect`` is
    tried in :func:`emergence.ingestion.sources.base.detection_order` (by the ``PRIORITY`` each parser
    module declares), and the first that claims the path wins.
    """
    from emergence.ingestion.sources.base import detection_order
    if path.is_dir() and path.name in catalog.CATALOG:
        return path.name
    for name in detection_order(catalog):
        if catalog.parser(name).detect(path):
            return name
    raise IngestError(path, "format not recognised: not a BIG-bench checkout, lm-eval results or samples, a ZeroEval "
                      "or MMLU-Pro output folder, nor a catalogue source folder; for a CSV/TSV/Parquet/JSON/JSONL of "
                      "your own give a column mapping (--map or --column/--set)")


def plan(sources: list[str], data: Path, stack: ExitStack, *, mapping: dict | None = None,
         online: bool = True, progress=None, options: dict | None = None, full_logs: bool = False,
         log_tasks: list[str] | None = None, failed: dict | None = None) -> tuple[list[Planned], list[str]]:
    """Resolve SOURCE arguments; returns (planned, notes about sources not found).

    ``options`` (``empty_prediction``, ``sizes``, ``delimiter``) go into the mapping of a file of
    one's own, else to every planned parser that honours them (its ``OPTIONS``); an option that no
    planned source honours is an error rather than silently ignored.
    ``full_logs``: a source with Git LFS files (BIG-bench) also gets them (fetched into its copy in
    the data directory when online; ``log_tasks`` limits which), and its parser reads them.
    ``failed``: a dict to collect ``{name: why and how to add it}`` for catalogue sources that cannot
    be had, instead of raising on the first (the others are still planned).
    """
    progress = progress_events(progress)
    options = {k: v for k, v in (options or {}).items() if v}
    if mapping is not None and options:
        mapping = _mapping_with_options(mapping, options)
    to_fetch = [a for a in sources or [] if a in catalog.CATALOG and not Path(a).exists() and not (data / a).is_dir()]

    def log_options(spec):
        # a fresh dict per source: the parser options below are added to it
        return {"full_logs": True} if full_logs and spec is not None and spec.lfs_files else {}

    if not sources:
        planned, notes = _plan_local_catalogue(data, log_options)
    else:
        planned, notes = [], []
    for arg in sources or []:
        if arg in catalog.CATALOG and not Path(arg).exists():
            got = _plan_catalogue_name(arg, data, to_fetch, online=online, progress=progress, full_logs=full_logs,
                                       log_tasks=log_tasks, failed=failed, log_options=log_options)
            if got is not None:
                planned.append(got)
        else:
            planned.append(_plan_path(arg, stack, mapping, log_options))
    if mapping is None and options:
        _give_options(planned, options)
    _check_distinct_names(planned)
    return planned, notes


def _mapping_with_options(mapping: dict, options: dict) -> dict:
    """A bring-your-own mapping with the ingest options merged in (``sizes`` per model, the others replaced)."""
    mapping = dict(mapping)
    for k, v in options.items():
        mapping[k] = {**(mapping.get(k) or {}), **v} if k == "sizes" else v
    return mapping


def _plan_local_catalogue(data: Path, log_options) -> tuple[list[Planned], list[str]]:
    """No SOURCE given: every catalogue source present in ``data``; a note for each downloadable one missing."""
    planned, notes = [], []
    for name, spec in catalog.CATALOG.items():
        root = data / name
        if root.is_dir():
            planned.append(Planned(name, root, spec, catalog.parser(name), options=log_options(spec)))
        elif spec.downloadable:
            notes.append(_missing_message(spec, root, "not found locally (pass its name to download it)"))
    return planned, notes


def _plan_catalogue_name(arg: str, data: Path, to_fetch: list[str], *, online: bool, progress, full_logs: bool,
                         log_tasks, failed: dict | None, log_options) -> Planned | None:
    """A catalogue name: its copy in ``data``, downloaded first when absent and online (and its Git LFS files
    with ``full_logs``).  With ``failed``, a source that cannot be had is recorded there (None when it has no
    copy at all) instead of raised."""
    spec = catalog.get(arg)
    root = data / arg
    try:
        if not root.is_dir():
            if not online:
                raise SourceMissing(_missing_message(spec, root, "offline"))
            if progress:
                progress(Progress(f"fetching {arg}", "source", to_fetch.index(arg) + 1, len(to_fetch)))
            download(spec, root, progress)
        if full_logs and spec.lfs_files and online:
            fetch_lfs_files(spec, root, progress, log_tasks)
    except SourceMissing as e:
        if failed is None:
            raise
        failed[arg] = str(e)
        if not root.is_dir():
            return None
    return Planned(arg, root, spec, catalog.parser(arg), options=log_options(spec))


def _plan_path(arg: str, stack: ExitStack, mapping: dict | None, log_options) -> Planned:
    """A path: checked (:func:`check_user_path`), unpacked if an archive, its format detected (or the
    bring-your-own parser with a mapping)."""
    path = Path(arg).expanduser().resolve()
    if not path.exists():
        raise SourceMissing(f"{arg}: neither a catalogue source ({', '.join(catalog.CATALOG)}) nor an existing path")
    check_user_path(path)
    if mapping is not None:
        return Planned(mapping.get("name") or path.stem, path, None, catalog.parser("byo"), mapping)
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
    return Planned(stored_as, path, spec, catalog.parser(name), options=log_options(spec))


def _give_options(planned: list[Planned], options: dict):
    """Each ingest option to every planned parser that reads it (its ``OPTIONS``); one that none reads is an error."""
    for k, v in options.items():
        takers = [p for p in planned if k in getattr(p.module, "OPTIONS", ())]
        if not takers:
            raise IngestError(", ".join(p.name for p in planned) or "ingest", f"{OPTION_FLAGS.get(k, k)} applies to "
                              "a file of your own with a mapping and to the ZeroEval and MMLU-Pro readers; none "
                              "of the sources given reads it", field=k, value=v)
        for p in takers:
            p.options[k] = v


def _check_distinct_names(planned: list[Planned]):
    seen: dict[str, Path] = {}
    for p in planned:
        if p.name in seen:
            raise IngestError(p.root, f"would be stored as source {p.name!r}, like {seen[p.name]} in the same call; "
                              "the second would replace the first: ingest one of them")
        seen[p.name] = p.root


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


def _rescore_spilled(batch: Batch, root: Path, store: Store) -> pd.DataFrame:
    """Observation rows of the choice metrics of the examples ``batch`` spilled to Parquet:
    :meth:`emergence.store.Store.rescore_choices` over all its files at once, grouped by the example group
    key with the group's columns (``group_meta``), through the numpy path's own
    :func:`~emergence.analysis.rescore.observation_rows`.  A bad correct index is an IngestError naming
    the log and row."""
    from emergence.analysis.rescore import EXAMPLE_GROUP_KEY, observation_rows
    try:
        groups = store.rescore_choices(list(batch.example_files), by=EXAMPLE_GROUP_KEY, group_meta=True)
    except ValueError as e:
        raise IngestError(root, f"re-scoring the examples failed: {e}") from e
    return observation_rows(groups)


def parse_source(p: Planned, progress=None, store: Store | None = None) -> Batch:
    """Run one parser and attach content hashes and re-scored observations.

    Re-scoring (:mod:`emergence.analysis.rescore`) takes two paths by one rule, *spilled = large*:
    examples the parser kept in memory are re-scored here in numpy
    (:func:`~emergence.analysis.rescore.aggregate_examples`); examples it spilled to Parquet (BIG-G
    full logs) come with the aggregates it made one log at a time (``batch.rescored``: every metric
    but the choice metrics), and their choice metrics (Brier, binary Brier, grade) are computed in
    DuckDB over the whole spilled table in bounded memory (:func:`_rescore_spilled`).  Both paths
    end in :func:`~emergence.analysis.rescore.observation_rows`.  ``store``: whose SQL reads the
    spilled files (it need not exist yet; the default store otherwise).
    """
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
    parts = [batch.rescored] if batch.rescored is not None and len(batch.rescored) else []
    if batch.example_files:
        parts.append(_rescore_spilled(batch, p.root, store or Store()))
    if batch.examples is not None and len(batch.examples):
        from emergence.analysis.rescore import aggregate_examples
        ex = batch.examples
        if ex["content_hash"].isna().any():
            ex = ex.assign(content_hash=ex["source_file"].map(batch.files))
            batch.examples = ex
        try:
            parts.append(aggregate_examples(ex))
        except ValueError as e:
            files = ", ".join(sorted(ex["source_file"].dropna().unique())[:3])
            raise IngestError(files or p.root, f"re-scoring the examples failed: {e}") from e
    if parts:
        # examples the parser spilled to disk come with their aggregates (``batch.rescored``)
        rescored = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        if len(rescored):
            rescored = conform(rescored.assign(source=p.name), OBSERVATION_COLUMNS, p.name)
            rescored = _defer_to_native(rescored, obs, batch)
            obs = pd.concat([obs, rescored], ignore_index=True) if len(obs) else rescored
    if len(obs):
        obs = obs.assign(content_hash=obs["content_hash"].fillna(obs["source_file"].map(batch.files)))
    batch.observations = obs
    return batch


#: What the store-wide step (:func:`emergence.analysis.series.apply_fdr`: Benjamini-Hochberg per family, then the
#: verdict rules) reads and writes of the series table, so a write moves these columns through pandas rather
#: than the whole table.  tests/test_store.py checks on the real store that the step on these columns gives
#: what it gives on the whole table and adds no other column: a change to the step that reads or writes
#: another column fails there, naming it.
def fdr_step(apply_fdr) -> Finalize:
    """The store-wide step as the store runs it in place: only the columns it reads go in, only the
    ones it writes come back (:data:`emergence.analysis.series.FDR_READS`, :data:`~emergence.analysis.series.FDR_WRITES`)."""
    from emergence.analysis.series import FDR_READS, FDR_WRITES
    return Finalize(apply_fdr, FDR_READS, FDR_WRITES)


def ingest(sources: list[str] | None = None, *, db: str | os.PathLike | None = None,
           data: str | os.PathLike | None = None, mapping: dict | None = None,
           online: bool = True, progress: Callable[[Progress], None] | None = None,
           empty_prediction: str | None = None, sizes: dict | None = None, delimiter: str | None = None,
           full_logs: bool = False, log_tasks: list[str] | None = None, keep_going: bool = False) -> dict:
    """Parse every requested source and land them in one atomic write.

    ``empty_prediction`` (``'wrong'`` or ``'skip'``), ``sizes`` (model -> parameter count) and
    ``delimiter`` are the options of ``emergence ingest`` that change numbers (see :func:`plan`).
    ``full_logs``: BIG-bench's per-query full logs too (Git LFS archives, fetched when missing and
    online, streamed into the examples table; ``log_tasks`` limits the fetch to these tasks).
    ``keep_going``: a catalogue source that cannot be fetched or parsed is left out and reported in
    ``failed`` (why, and how to add it) while the others are written; without it, the first such
    source stops the call and nothing is written.
    ``progress``: called with one :class:`~emergence.ingestion.sources.base.Progress` event per step (stage
    ``source``: source i of n is fetched or parsed; ``fetch``, ``parse``: inside it; ``write``,
    ``score``: the store's write).

    Returns ``{"result": {source: added|replaced|unchanged}, "notes": [...], "warnings": [...],
    "counts": {...}, "db": path, "failed": {source: message}}``; ``warnings`` names every file written
    whose content another source already holds (stored, not scored again: a ``duplicate_source``
    data issue).
    """
    from emergence.analysis.series import apply_fdr, score_observations
    progress = progress_events(progress)
    store = Store(db)
    data_path = data_dir(data)
    options = {"empty_prediction": empty_prediction, "sizes": sizes, "delimiter": delimiter}
    failed: dict[str, str] = {}
    with ExitStack() as stack:
        planned, notes = plan(list(sources or []), data_path, stack, mapping=mapping, online=online,
                              progress=progress, options=options, full_logs=full_logs, log_tasks=log_tasks,
                              failed=failed if keep_going else None)
        if not planned:
            why = "\n".join(list(failed.values()) + notes)
            _raise_missing(f"nothing to ingest: no catalogue source found in {data_path}" +
                           (f" or fetched\n{why}" if why else ""), failed)
        _give_spill_folder(planned, store, stack)
        batches = _parse_all(planned, progress, store, failed if keep_going else None)
        if not batches:
            _raise_missing("nothing could be ingested:\n" + "\n".join(failed.values()), failed)
        result = store.write(batches, score=score_observations, finalize=fdr_step(apply_fdr), progress=progress)
        counts = {b.source: {"observations": len(b.observations),
                             "examples": b.n_examples,         # spilled examples: counted before the spill goes
                             "issues": len(b.issues_frame())} for b, _ in batches}
    return {"result": result, "notes": notes, "warnings": _duplicate_warnings(store, result), "counts": counts,
            "db": str(store.path), "failed": failed}


def _raise_missing(message: str, failed: dict):
    err = SourceMissing(message)
    err.failed = failed
    raise err


def _give_spill_folder(planned: list[Planned], store: Store, stack: ExitStack):
    """Full-log examples go to disk while they are read: a temporary folder beside the store, which has the
    room for them (removed when ``stack`` closes), given to every parser that reads full logs."""
    if not any(p.options.get("full_logs") for p in planned):
        return
    store.path.parent.mkdir(parents=True, exist_ok=True)
    spill = stack.enter_context(tempfile.TemporaryDirectory(prefix=".emergence-spill-", dir=store.path.parent))
    for p in planned:
        if p.options.get("full_logs"):
            p.options["spill_dir"] = spill


def _parse_all(planned: list[Planned], progress, store: Store, failed: dict | None) -> list[tuple[Batch, dict]]:
    """(batch, catalogue metadata) of every planned source; with ``failed``, a source that cannot be parsed
    is recorded there (why, and how to add it) and left out instead of raised."""
    batches = []
    for i, p in enumerate(planned):
        if progress:
            progress(Progress(f"parsing {p.name} from {p.root}", "source", i + 1, len(planned)))
        try:
            batch = parse_source(p, progress, store)
        except IngestError as e:
            if failed is None:
                raise
            failed[p.name] = (f"source {p.name!r} could not be parsed, so it was left out: {e}. To add it: "
                              f"fix or remove the copy in `{p.root}` and ingest it again")
            continue
        batches.append((batch, _source_meta(p)))
    return batches


def _source_meta(p: Planned) -> dict:
    """What the ``sources`` table records of a planned source: root, URL, repository and commit, license, citation."""
    meta = {"root": str(p.root)}
    if p.spec is not None:
        # a git-fetched source (or a user's git checkout of it) records the commit it holds
        commit = p.spec.commit or (remote.git_head(p.root) if p.spec.repo else "")
        url = f"https://github.com/{p.spec.repo}/tree/{commit}" if p.spec.repo and commit else p.spec.url
        meta.update(url=url, repo=p.spec.repo, commit=commit, license=p.spec.license,
                    redistributable=p.spec.redistributable, citation=p.spec.citation)
    else:
        meta.update(url=str(p.root), license=(p.mapping or {}).get("license", "user data"),
                    citation=(p.mapping or {}).get("citation", ""))
    return meta


def _duplicate_warnings(store: Store, result: dict) -> list[str]:
    """One line per source written whose files another source already holds (stored, not scored again)."""
    written = [n for n, v in result.items() if v != "unchanged"]
    warnings = []
    if written:
        dup = store.duplicate_files(written)
        for src, g in dup.groupby("source", sort=True):
            first = g.iloc[0]
            warnings.append(f"{src}: {len(g)} file(s) have the same content as files of source "
                            f"{', '.join(sorted(g['original_source'].unique()))} (e.g. {first['file']} = "
                            f"{first['original_file']}): stored, but not scored again (data issue duplicate_source)")
    return warnings


def remove(names: list[str], *, db: str | os.PathLike | None = None,
           progress: Callable[[Progress], None] | None = None) -> dict:
    """Remove sources from the store in one atomic write (:meth:`emergence.store.Store.remove`).

    Their rows leave every table, the series of sources that held copies of their files are
    scored again, and the store-wide false discovery rate is recomputed over what remains.
    Returns ``{"removed": {source: counts}, "db": path}``.

    Raises
    ------
    emergence.store.UnknownSource
        A name that is not in the store (nothing is removed).
    """
    from emergence.analysis.series import apply_fdr, score_observations
    store = Store(db)
    if not store.exists():
        from emergence.store import StoreMissing
        raise StoreMissing(f"no store at {store.path}: nothing to remove")
    removed = store.remove(list(names), score=score_observations, finalize=fdr_step(apply_fdr),
                           progress=progress_events(progress))
    return {"removed": removed, "db": str(store.path)}


# the first-start build (which catalogue sources, a background build any caller can watch): emergence.ingestion.build
from emergence.ingestion.build import build_store, new_build_state, public_sources, start_build  # noqa: E402,F401
