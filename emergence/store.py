"""The store: one embedded DuckDB file, and every SQL string of the project.

Layout: ``observations`` (the long table), ``examples`` (per-example outputs),
``data_issues``, ``sources`` (name, public URL, license, files, content hashes, row counts,
the ingest options that change numbers, added and ingested at), ``duplicate_files`` (files of a
source whose content another source already holds: see :meth:`Store.write`) and ``series`` (one
row per scored series, computed once after each ingest by :mod:`emergence.analysis.series`).

Writes are atomic and never block readers: a writer takes a lock file, copies the current
database beside itself, writes the whole batch there, checkpoints, and swaps it in with
``os.replace``.  A failing batch deletes its copy, so the store is byte-for-byte what it was.
Readers open the file read-only; :meth:`Store.cursor` notices a swap (the file's inode
changes) and reopens, so a running dashboard sees new data without a restart.

Every value reaches SQL as a bound parameter; identifiers come only from the fixed column
lists in :mod:`emergence.ingestion.schema`.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import duckdb
import pandas as pd

from emergence.keys import EXAMPLE_GROUP_KEY as _EXAMPLE_GROUP_KEY, FILTER_COLUMNS as _FILTER_COLUMNS
from emergence.keys import filter_wanted as _filter_wanted
from emergence.ingestion.sources.base import Progress
from emergence.ingestion.schema import EXAMPLE_COLUMNS, ISSUE_COLUMNS, OBSERVATION_COLUMNS, Batch

__all__ = ["REPO_ROOT", "DEFAULT_DB", "db_path", "Store", "StoreMissing", "UnknownSource", "Finalize",
           "FILTER_COLUMNS"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = REPO_ROOT / "data" / "emergence.duckdb"

_DUCK_TYPES = {"str": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN", "list": "DOUBLE[]"}

#: filter name -> the column(s) it matches (the rule lives in emergence.keys: metric or source_metric,
#: family or source_family).
FILTER_COLUMNS = _FILTER_COLUMNS


class StoreMissing(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Finalize:
    """The store-wide step of a write, with the series columns it reads and the ones it writes.

    Given as ``finalize=`` to :meth:`Store.write` / :meth:`Store.remove`, the store hands ``fn``
    only the ``reads`` columns of every series row and updates only the ``writes`` columns in
    place, instead of moving the whole series table through pandas and writing it back (which
    made adding one small source cost what the store holds).  ``fn`` must treat rows
    independently of the columns it does not read (e.g. Benjamini-Hochberg over ``p_value``).
    A plain callable is also accepted: it gets and returns the whole table.
    """

    fn: Callable[[pd.DataFrame], pd.DataFrame]
    reads: tuple[str, ...]
    writes: tuple[str, ...]


class UnknownSource(LookupError):
    """A source name that is not in the store."""

    def __str__(self):
        return str(self.args[0]) if self.args else "unknown source"


def db_path(arg: str | os.PathLike | None = None) -> Path:
    """``--db`` if given, else ``$EMERGENCE_DB``, else ``data/emergence.duckdb`` in the repository."""
    if arg:
        return Path(arg).expanduser().resolve()
    env = os.environ.get("EMERGENCE_DB")
    if env:
        return Path(env).expanduser().resolve()
    return DEFAULT_DB


def _ddl(table: str, columns: dict[str, str]) -> str:
    cols = ", ".join(f'"{c}" {_DUCK_TYPES[k]}' for c, k in columns.items())
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols})"


_SCHEMA = [
    _ddl("observations", OBSERVATION_COLUMNS),
    _ddl("examples", EXAMPLE_COLUMNS),
    _ddl("data_issues", ISSUE_COLUMNS),
    """CREATE TABLE IF NOT EXISTS sources (
        name VARCHAR PRIMARY KEY, url VARCHAR, repo VARCHAR, commit VARCHAR, license VARCHAR,
        redistributable BOOLEAN, citation VARCHAR, root VARCHAR, files VARCHAR[], content_hashes VARCHAR[],
        n_files BIGINT, n_observations BIGINT, n_examples BIGINT, n_issues BIGINT, ingested_at TIMESTAMP)""",
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS duplicate_files (
        source VARCHAR, file VARCHAR, hash VARCHAR, original_source VARCHAR, original_file VARCHAR)""",
    # stores written before these columns existed gain them on their next write
    "ALTER TABLE sources ADD COLUMN IF NOT EXISTS options VARCHAR",
    "ALTER TABLE sources ADD COLUMN IF NOT EXISTS added_at TIMESTAMP",
]

#: The rows that are scored: in scoring by their parser's rule, and not from a file whose content another
#: source already holds (matched by content hash, or by file name where a row has no hash; a re-scored
#: aggregate spanning several files is left out when every one of them is such a copy).
_SCORED = """in_scoring AND NOT EXISTS (
    SELECT 1 FROM (SELECT list(hash) AS hashes, list(file) AS files FROM duplicate_files d
                   WHERE d.source = observations.source) dup
    WHERE dup.hashes IS NOT NULL AND CASE
        WHEN observations.content_hash IS NOT NULL
            THEN list_has_all(dup.hashes, string_split(observations.content_hash, '; '))
        ELSE coalesce(list_has_all(dup.files, string_split(observations.source_file, '; ')), false) END)"""


def _where(filters: dict | None, allowed: Iterable[str]) -> tuple[str, list]:
    """A WHERE clause with bound parameters; repeated values of one filter are OR-ed."""
    clauses, params = [], []
    allowed = set(allowed)
    for name, values in (filters or {}).items():
        # '' is a real subtask (the task as a whole); for other filters it means "no filter"
        values = _filter_wanted(name, values)
        if values is None:
            continue
        cols = [c for c in FILTER_COLUMNS[name] if c in allowed]
        if not cols:
            continue
        marks = ", ".join("?" for _ in values)
        if name == "shots":
            clauses.append(f"shots IN ({marks})")
            params.extend(int(v) for v in values)
            continue
        ors = []
        for c in cols:
            ors.append(f'"{c}" IN ({marks})')
            params.extend(str(v) for v in values)
        clauses.append("(" + " OR ".join(ors) + ")")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class Store:
    """The DuckDB store at ``path`` (see the module docstring for the write protocol)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = db_path(path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._identity = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading
    def exists(self) -> bool:
        return self.path.exists()

    def _file_identity(self):
        st = self.path.stat()
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A read-only cursor on the current file; reopens after an ingest swapped it.

        The file is ATTACHed READ_ONLY to a fresh in-memory connection rather than opened by
        path: DuckDB caches database instances by path, so reopening the path while another
        thread's cursor still holds the old (swapped-out, unlinked) file would hand back the
        old database for good.  The previous connection is not closed here: cursors taken
        from it finish their reads on the old data and it goes when they do.
        """
        if not self.path.exists():
            raise StoreMissing(f"no store at {self.path}: run `emergence ingest` first")
        with self._lock:
            ident = self._file_identity()
            if self._con is None or ident != self._identity:
                con = duckdb.connect(":memory:")
                # ATTACH takes no bound parameter for its path; the path is ours, quoted as a literal
                con.execute("ATTACH '" + str(self.path).replace("'", "''") + "' AS store (READ_ONLY)")
                self._con = con
                self._identity = ident
            cur = self._con.cursor()
        cur.execute("USE store")
        return cur

    def close(self):
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def _df(self, sql: str, params: list | None = None) -> pd.DataFrame:
        cur = self.cursor()
        try:
            return cur.execute(sql, params or []).df()
        finally:
            cur.close()

    def tables(self) -> list[str]:
        return list(self._df("SELECT table_name FROM information_schema.tables WHERE table_catalog = 'store' "
                             "ORDER BY 1")["table_name"])

    def observations(self, filters: dict | None = None, *, scoring_only: bool = False,
                     columns: Iterable[str] | None = None) -> pd.DataFrame:
        """The filtered long table, in a stable order; ``columns``: only these (of the table's), in this order."""
        if columns is not None:
            columns = list(columns)
            unknown = [c for c in columns if c not in OBSERVATION_COLUMNS]
            if unknown:
                raise ValueError(f"observations has no column {', '.join(map(repr, unknown))}")
        where, params = _where(filters, OBSERVATION_COLUMNS)
        if scoring_only:
            cond = _SCORED if "duplicate_files" in self.tables() else "in_scoring"
            where = (where + f" AND {cond}") if where else f" WHERE {cond}"
        cols = self._columns("observations", OBSERVATION_COLUMNS if columns is None else columns)
        sql = (f"SELECT {cols} FROM observations{where} ORDER BY source, task, subtask, metric, source_metric, "
               "family, prompt_variant, variant, shots, params NULLS LAST, model, checkpoint_step NULLS LAST, "
               "seed NULLS LAST, source_file, row_ref")
        return self._df(sql, params)

    def examples(self, filters: dict | None = None) -> pd.DataFrame:
        where, params = _where(filters, EXAMPLE_COLUMNS)
        cols = self._columns("examples", EXAMPLE_COLUMNS)
        return self._df(f"SELECT {cols} FROM examples{where} ORDER BY source, task, subtask, family, "
                        "params NULLS LAST, model, checkpoint_step NULLS LAST, example_id", params)

    def sampling_counts(self, filters: dict | None = None) -> pd.DataFrame:
        """Per-instance repeated-sampling records (``n_samples``, ``n_correct``), final checkpoints only."""
        where, params = _where(filters, EXAMPLE_COLUMNS)
        cond = "n_samples IS NOT NULL AND n_correct IS NOT NULL AND coalesce(is_final, true)"
        where = f"{where} AND {cond}" if where else f" WHERE {cond}"
        return self._df("SELECT source, task, subtask, family, model, params, example_id, n_samples, n_correct "
                        f"FROM examples{where} ORDER BY source, task, subtask, family, params, model, example_id",
                        params)

    def data_issues(self, source: list[str] | None = None) -> pd.DataFrame:
        where, params = _where({"source": source}, ISSUE_COLUMNS)
        return self._df(f"SELECT * FROM data_issues{where} ORDER BY source, kind, source_file, row_ref", params)

    def issue_counts(self) -> pd.DataFrame:
        return self._df("SELECT source, kind, count(*) AS n FROM data_issues GROUP BY ALL ORDER BY ALL")

    def sources(self) -> pd.DataFrame:
        """Per source: files, families, models, tasks, metrics, observations, license, issues, the commit, ingest options."""
        has_options = bool(len(self._df("SELECT 1 FROM information_schema.columns WHERE table_catalog = 'store' "
                                        "AND table_name = 'sources' AND column_name = 'options'")))
        options = "coalesce(s.options, '{}')" if has_options else "'{}'"
        return self._df(f"""
            SELECT s.name AS source, s.n_files AS files,
                   coalesce(o.families, 0) AS families, coalesce(o.models, 0) AS models,
                   coalesce(o.tasks, 0) AS tasks, coalesce(o.metrics, 0) AS metrics,
                   s.n_observations AS observations, coalesce(o.without_scale, 0) AS without_scale,
                   s.n_examples AS examples, s.n_issues AS issues, s.license, s.redistributable,
                   s.url, s.commit, s.citation, s.ingested_at, {options} AS options
            FROM sources s LEFT JOIN (
                SELECT source, count(DISTINCT family) AS families, count(DISTINCT model) AS models,
                       count(DISTINCT task) AS tasks, count(DISTINCT metric) AS metrics,
                       count(*) FILTER (WHERE params IS NULL AND tokens IS NULL AND flops IS NULL
                                        AND checkpoint_step IS NULL) AS without_scale
                FROM observations GROUP BY source) o ON o.source = s.name
            ORDER BY s.name""")

    def source_rows(self) -> pd.DataFrame:
        return self._df("SELECT * FROM sources ORDER BY name")

    def duplicate_files(self, source: list[str] | None = None) -> pd.DataFrame:
        """Files of a source whose content another (earlier) source holds: source, file, hash, original source, file."""
        if "duplicate_files" not in self.tables():
            return pd.DataFrame(columns=["source", "file", "hash", "original_source", "original_file"])
        where, params = _where({"source": source}, {"source": "str"})
        return self._df(f"SELECT * FROM duplicate_files{where} ORDER BY source, file", params)

    def series(self, filters: dict | None = None, scale_axis: str | None = None) -> pd.DataFrame:
        """The filtered series table; ``scale_axis``: only that axis's rows (read in SQL: a source's table over
        all axes is ~3x as many rows to turn into a DataFrame).  Rows in the series key's order, then the axis
        and the model (a step-axis series per model)."""
        if "series" not in self.tables():
            return pd.DataFrame()
        cols = self._df("SELECT * FROM series LIMIT 0").columns
        where, params = _where(filters, cols)
        if scale_axis is not None and "scale_axis" in cols:
            where = f"{where} AND scale_axis = ?" if where else " WHERE scale_axis = ?"
            params = params + [scale_axis]
        return self._df(f"SELECT * FROM series{where} ORDER BY source, task, subtask, metric, source_metric, "
                        "family, prompt_variant, variant, shots, scale_axis, model", params)

    def meta(self) -> dict:
        if "meta" not in self.tables():
            return {}
        df = self._df("SELECT key, value FROM meta")
        return dict(zip(df["key"], df["value"]))

    def fingerprint(self) -> str:
        """A short hash of what the store holds (sources and their content hashes)."""
        return self.meta().get("fingerprint", "")

    # ------------------------------------------------------------------ writing
    @contextmanager
    def _writer(self):
        """Lock, copy the store beside itself, yield a read-write connection on the copy, swap on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
            # under the lock no other writer is alive: every temporary copy is a killed writer's leftover
            for leftover in self.path.parent.glob(f".{self.path.name}.tmp-*"):
                leftover.unlink(missing_ok=True)
            if self.path.exists():
                shutil.copyfile(self.path, tmp)
            # one thread: an insert split over threads leaves partly filled row groups, and every later
            # checkpoint that appends to such a table rewrites them, so adding a small source would cost
            # what the store holds (bench/bench_ingest.py, "add one file")
            con = duckdb.connect(str(tmp), config={"threads": 1})
            try:
                for stmt in _SCHEMA:
                    con.execute(stmt)
                self._migrate(con)
                con.execute("BEGIN TRANSACTION")
                yield con
                con.execute("COMMIT")
                con.execute("CHECKPOINT")
                con.close()
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    con.close()
                except duckdb.Error:
                    pass
                tmp.unlink(missing_ok=True)
                tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
                raise

    @staticmethod
    def _migrate(con):
        """Columns added to the schema since a store was built are added to it, NULL until its
        sources are ingested again (a store built by an earlier version keeps working)."""
        for table, columns in (("observations", OBSERVATION_COLUMNS), ("examples", EXAMPLE_COLUMNS),
                               ("data_issues", ISSUE_COLUMNS)):
            have = {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
            for c, kind in columns.items():
                if c not in have:
                    con.execute(f'ALTER TABLE {table} ADD COLUMN "{c}" {_DUCK_TYPES[kind]}')

    def _columns(self, table: str, wanted) -> str:
        """The SELECT list of ``wanted`` columns, NULL for any a store from an earlier version lacks."""
        have = set(self._df("SELECT column_name FROM information_schema.columns WHERE table_catalog = 'store' "
                            "AND table_name = ?", [table])["column_name"])
        return ", ".join(f'"{c}"' if c in have else f'NULL AS "{c}"' for c in wanted)

    def write(self, batches: list[tuple[Batch, dict]], *,
              score: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
              finalize: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
              progress: Callable[[Progress], None] | None = None) -> dict[str, str]:
        """Replace each batch's source in one atomic swap; returns ``{source: 'added'|'replaced'|'unchanged'}``.

        ``batches`` pairs each :class:`Batch` with its catalogue metadata (url, repo, commit, license,
        redistributable, citation, root).  A batch whose files, hashes and options (``Batch.options``)
        equal what is stored is skipped: ingesting the same content twice adds nothing.

        **Same content under two names.**  A file whose sha256 and file name equal those of a file
        of a source added earlier (``added_at``, then name) is a duplicate: it is listed in ``duplicate_files`` with one
        ``duplicate_source`` data issue, its rows stay in the tables but are not scored (the scored
        rows are those of :data:`_SCORED`), so nothing is counted twice.  The table is rebuilt on every
        write and removal, so removing the original makes the copy count again.

        Scoring is incremental: every series belongs to one source (``source`` is part of its key),
        so ``score`` (one source's scoring observations and, keyword ``previous``, its series rows
        as stored before -> its new series rows) runs only for the sources this write added or
        replaced, and those whose duplicate files changed (for all of them when the store has no
        ``series`` table yet); ``finalize`` (the whole series table -> the whole series table: the
        store-wide false discovery rate and the calls that depend on it) then runs once over every
        source's rows.
        """
        result: dict[str, str] = {}
        with self._writer() as con:
            before = self._duplicate_sets(con)
            for batch, meta in batches:
                name = batch.source
                options = json.dumps(batch.options or {}, sort_keys=True)
                old = con.execute("SELECT files, content_hashes, coalesce(options, '{}'), coalesce(added_at, "
                                  "ingested_at) FROM sources WHERE name = ?", [name]).fetchall()
                if old and dict(zip(old[0][0], old[0][1])) == batch.files and old[0][2] == options:
                    result[name] = "unchanged"
                    continue
                result[name] = "replaced" if old else "added"
                if progress:
                    progress(Progress(f"writing {name}", "write"))
                self._delete_source(con, name, series=False)
                self._insert(con, "observations", batch.observations, OBSERVATION_COLUMNS)
                n_examples = 0
                if batch.examples is not None and len(batch.examples):
                    self._insert(con, "examples", batch.examples, EXAMPLE_COLUMNS)
                    n_examples = len(batch.examples)
                for path in batch.example_files:     # spilled by the parser: streamed in, never in memory
                    n_examples += self._insert_parquet(con, "examples", path, EXAMPLE_COLUMNS)
                issues = batch.issues_frame()
                self._insert(con, "data_issues", issues, ISSUE_COLUMNS)
                files = sorted(batch.files)
                now = datetime.now(timezone.utc).replace(tzinfo=None)
                con.execute(
                    "INSERT INTO sources (name, url, repo, commit, license, redistributable, citation, root, files, "
                    "content_hashes, n_files, n_observations, n_examples, n_issues, ingested_at, options, added_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, meta.get("url", ""), meta.get("repo", ""), meta.get("commit", ""),
                     meta.get("license", "unknown"), bool(meta.get("redistributable", False)),
                     meta.get("citation", ""), str(meta.get("root", "")), files,
                     [batch.files[f] for f in files], len(files), len(batch.observations), n_examples,
                     len(issues), now, options, old[0][3] if old else now])
            after = self._refresh_duplicates(con)
            changed = [n for n, v in result.items() if v != "unchanged"]
            changed += [n for n in self._copies_changed(con, before, after) if n not in changed]
            if score is not None:
                self._rescore(con, changed, score, finalize, progress)
            self._stamp(con)
        return result

    def remove(self, names: list[str], *, score: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
               finalize: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
               progress: Callable[[Progress], None] | None = None) -> dict[str, dict[str, int]]:
        """Delete sources from every table, in one atomic swap like :meth:`write`.

        Their rows leave ``observations``, ``examples``, ``data_issues``, ``sources``,
        ``duplicate_files`` and ``series``; sources that held copies of their files are scored
        again (``score``), and ``finalize`` re-runs the store-wide step over the remaining series.
        Returns, per source, the counts removed.

        Raises
        ------
        UnknownSource
            A name that is not a source of the store (nothing is removed).
        """
        names = list(dict.fromkeys(names))
        out: dict[str, dict[str, int]] = {}
        with self._writer() as con:
            known = {r[0]: r[1:] for r in con.execute(
                "SELECT name, n_observations, n_examples, n_issues FROM sources").fetchall()}
            unknown = [n for n in names if n not in known]
            if unknown:
                raise UnknownSource(f"no source {unknown[0]!r} in {self.path}; its sources: "
                                    f"{', '.join(sorted(known)) or 'none'}")
            before = self._duplicate_sets(con)
            for name in names:
                if progress:
                    progress(Progress(f"removing {name}", "write"))
                self._delete_source(con, name, series=True)
                out[name] = dict(zip(("observations", "examples", "issues"), (int(v or 0) for v in known[name])))
            after = self._refresh_duplicates(con)
            changed = self._copies_changed(con, before, after)
            if score is not None and self._has_series(con):
                self._rescore(con, changed, score, finalize, progress, always_finalize=True)
            self._stamp(con)
        return out

    @staticmethod
    def _delete_source(con, name: str, *, series: bool):
        for table in ("observations", "examples", "data_issues", "sources", "duplicate_files"):
            col = "name" if table == "sources" else "source"
            con.execute(f"DELETE FROM {table} WHERE {col} = ?", [name])
        if series and Store._has_series(con):
            con.execute("DELETE FROM series WHERE source = ?", [name])

    @staticmethod
    def _stamp(con):
        rows = con.execute("SELECT name, content_hashes FROM sources ORDER BY name").fetchall()
        fp = hashlib.sha256(json.dumps([[n, list(h)] for n, h in rows]).encode()).hexdigest()[:12]
        con.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", [fp])

    @staticmethod
    def _duplicate_sets(con) -> dict[str, tuple]:
        rows = con.execute("SELECT source, list(hash ORDER BY hash) FROM duplicate_files GROUP BY source").fetchall()
        return {s: tuple(h) for s, h in rows}

    @staticmethod
    def _copies_changed(con, before: dict, after: dict) -> list[str]:
        """Sources still in the store whose duplicate files changed (they are scored again)."""
        names = {r[0] for r in con.execute("SELECT name FROM sources").fetchall()}
        return sorted(n for n in (set(before) | set(after)) & names if before.get(n) != after.get(n))

    @staticmethod
    def _refresh_duplicates(con) -> dict[str, tuple]:
        """Rebuild ``duplicate_files`` and its ``duplicate_source`` issues from every source's hashes (see write)."""
        con.execute("DELETE FROM duplicate_files")
        con.execute("DELETE FROM data_issues WHERE kind = 'duplicate_source'")
        con.execute("""
            INSERT INTO duplicate_files
            WITH f AS (
                SELECT name, coalesce(added_at, ingested_at) AS t, unnest(files) AS file,
                       unnest(content_hashes) AS hash
                FROM sources)
            SELECT b.name, b.file, b.hash, arg_min(a.name, (a.t, a.name)), arg_min(a.file, (a.t, a.name, a.file))
            FROM f b JOIN f a ON a.hash = b.hash AND a.name <> b.name AND (a.t, a.name) < (b.t, b.name)
                 -- the same name too: formats that keep the task in the path (expemergence's
                 -- data/<task>/...) can hold equal bytes that mean different things
                 AND regexp_extract(a.file, '[^/]*$') = regexp_extract(b.file, '[^/]*$')
            GROUP BY b.name, b.file, b.hash""")
        con.execute("""
            INSERT INTO data_issues (source, kind, source_file, row_ref, field, value, detail)
            SELECT source, 'duplicate_source', file, '', 'content_hash', original_source,
                   'same content (sha256 ' || left(hash, 12) || ') as ' || original_file || ' of source '
                   || original_source || ', added earlier: its rows are stored but not scored again'
            FROM duplicate_files""")
        con.execute("""
            UPDATE sources SET n_issues = (SELECT count(*) FROM data_issues i WHERE i.source = sources.name)""")
        return Store._duplicate_sets(con)

    def _rescore(self, con, changed: list[str], score, finalize, progress=None, always_finalize: bool = False):
        """Re-score the series of the ``changed`` sources (all sources without a series table), then
        ``finalize`` the whole table.  See :meth:`write`.

        The other sources' series rows stay in the database: the changed sources' rows are deleted
        and their new rows inserted by column name; a :class:`Finalize` step then reads and updates
        only its own columns.  Only when the new rows' columns differ from the table's (or
        ``finalize`` is a plain callable) is the whole table read, finalized and written anew.
        """
        fresh = not self._has_series(con)
        if fresh:
            changed = [r[0] for r in con.execute("SELECT name FROM sources ORDER BY name").fetchall()]
        if not changed and not fresh and not always_finalize:
            return
        parts = []
        for i, name in enumerate(changed):
            if progress:
                progress(Progress(f"scoring series of {name} ({i + 1}/{len(changed)})", "score", i + 1, len(changed)))
            obs = con.execute(
                f"SELECT * FROM observations WHERE {_SCORED} AND source = ? ORDER BY source, task, subtask, metric, "
                "source_metric, family, prompt_variant, variant, shots, model, checkpoint_step NULLS LAST, "
                "seed NULLS LAST", [name]).df()
            previous = None if fresh else con.execute("SELECT * FROM series WHERE source = ?", [name]).df()
            part = score(obs, previous=previous)
            if len(part):
                parts.append(part)
        table_cols = [] if fresh else [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'series' ORDER BY ordinal_position"
        ).fetchall()]
        in_place = (not fresh and isinstance(finalize, Finalize)
                    and all(list(p.columns) == table_cols or set(p.columns) == set(table_cols) for p in parts))
        if in_place:
            if changed:
                marks = ", ".join("?" for _ in changed)
                con.execute(f"DELETE FROM series WHERE source IN ({marks})", changed)
            for part in parts:
                con.register("series_part", part)
                con.execute("INSERT INTO series BY NAME SELECT * FROM series_part")
                con.unregister("series_part")
            if progress:
                progress(Progress("false discovery rate over every series", "score"))
            cols = ", ".join(f'"{c}"' for c in finalize.reads)
            narrow = con.execute(f"SELECT rowid AS _row, {cols} FROM series").df()
            out = finalize.fn(narrow)
            con.register("series_update", out[["_row", *finalize.writes]])
            sets = ", ".join(f'"{c}" = u."{c}"' for c in finalize.writes)
            con.execute(f"UPDATE series SET {sets} FROM series_update u WHERE series.rowid = u._row")
            con.unregister("series_update")
            return
        if fresh:
            kept = None
        else:
            if changed:
                marks = ", ".join("?" for _ in changed)
                con.execute(f"DELETE FROM series WHERE source IN ({marks})", changed)
            kept = con.execute("SELECT * FROM series").df()
        frames = ([kept] if kept is not None and len(kept) else []) + parts
        if not frames:
            series = score(con.execute("SELECT * FROM observations LIMIT 0").df())
        else:
            series = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if finalize is not None:
            if progress:
                progress(Progress("false discovery rate over every series", "score"))
            series = finalize.fn(series) if isinstance(finalize, Finalize) else finalize(series)
        con.register("series_df", series)
        con.execute("CREATE OR REPLACE TABLE series AS SELECT * FROM series_df")
        con.unregister("series_df")

    @staticmethod
    def _has_series(con) -> bool:
        return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'series'")
                    .fetchall()[0][0])

    @staticmethod
    def _insert(con, table: str, df: pd.DataFrame, columns: dict[str, str]):
        if df is None or len(df) == 0:
            return
        cols = ", ".join(f'"{c}"' for c in columns)
        con.register("batch_df", df[list(columns)])
        try:
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM batch_df")
        finally:
            con.unregister("batch_df")

    @staticmethod
    def _insert_parquet(con, table: str, path: str, columns: dict[str, str]) -> int:
        cols = ", ".join(f'"{c}"' for c in columns)
        before = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM read_parquet(?)", [str(path)])
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] - before

    def rescore_choices(self, data=None, by: Iterable[str] = ("model", "task"),
                        filters: dict | None = None, *, group_meta: bool = False) -> pd.DataFrame:
        """Multiple-choice examples re-scored to Brier score and grade per group, in DuckDB.

        The same rules as :func:`emergence.analysis.rescore.aggregate_examples` (softmax over each
        question's own choices, NaN = no choice, ``-inf`` = probability 0; multi-class Brier
        ``sum_k (p_k - 1[k = correct])^2`` (Brier 1950, eq. 1); binary Brier ``(1 - p_correct)^2``;
        grade 1 only if the right choice is *strictly* the highest; mean, ``sd(ddof=1)/sqrt(n)`` and
        ``n`` over the examples each metric is defined on; ``random_baseline`` = mean ``1/choices``
        for the grade; a NULL ``subtask`` / ``prompt_variant`` key is ``''``), computed without
        leaving the database, so a table larger than memory streams through.

        The SQL twin of the numpy path (its test oracle, ``tests/test_store_rescore.py``), used by the
        ingest for large per-example tables: examples spilled to Parquet (BIG-G full logs) get their
        choice metrics here (``group_meta=True``, then :func:`emergence.analysis.rescore.observation_rows`),
        and by :func:`emergence.api.grade_vs_brier`; BENCHMARKS.md 3a/3b: 10 M rows in the store, 100 M
        streamed from Parquet in bounded memory.

        Parameters
        ----------
        data : None, str / path, list of paths, or a DataFrame / pyarrow Table / RecordBatchReader
            ``None``: the store's ``examples`` table; a path: Parquet file(s) (a glob or a list; the
            store need not exist); otherwise an in-memory relation.  It needs ``choice_logprobs`` (a
            list of doubles), ``correct_index`` (0-based) and the ``by`` columns; rows without a list
            or a correct index are not scored (only ``p_correct``: the numpy path's).
        by : column names of :data:`emergence.ingestion.schema.EXAMPLE_COLUMNS` to group by.
        filters : dict, optional
            Only the rows these filters match (as :meth:`examples`: source, task, subtask,
            family, model, shots).
        group_meta : bool
            Also what an observation row needs (``by`` must be
            :data:`emergence.keys.EXAMPLE_GROUP_KEY`; ``data`` every example column): per group, the
            first example's ``source_family``, ``params``, ``params_estimate``,
            ``non_embedding_params``, ``tokens`` and ``is_final`` (its own flag, else no checkpoint
            or the largest step of its source and model), the distinct ``source_file`` /
            ``content_hash`` joined with ``'; '``, and per metric ``paired_se`` (the standard error
            of the per-example difference from the series' smallest model, as
            :func:`~emergence.analysis.rescore.aggregate_examples`).  "First" is in table order: row
            id, or a list's file order then row order.  A bad correct index names its file and row.

        Returns
        -------
        pandas.DataFrame
            One row per group and metric (``brier_score``, ``brier_score_binary``,
            ``multiple_choice_grade``): the ``by`` columns, ``metric``, ``value``, ``stderr``,
            ``n_examples``, ``random_baseline`` (grade rows only), sorted by group and metric; with
            ``group_meta`` the columns above too.

        Raises
        ------
        ValueError
            A ``by`` column outside the example schema, or a correct index outside its choices.
        """
        by = _choice_keys(by, group_meta)
        where, fparams = _where(filters, EXAMPLE_COLUMNS)
        with self._choice_input(data, group_meta) as (cur, relation, order, params):
            sql = _choice_sql(by, relation, where, order, group_meta)
            try:
                wide = cur.execute(sql, params + fparams).df()
            except duckdb.InvalidInputException as e:
                raise ValueError(str(e).split("Error: ", 1)[-1]) from e
        return _choices_long(wide, by, group_meta)

    @contextmanager
    def _choice_input(self, data, group_meta: bool):
        """(cursor, relation, row-order expression, bound parameters) for :meth:`rescore_choices`: the store's
        examples table, Parquet read by a connection of its own (spilling beside the files), or a registered
        in-memory relation."""
        import numpy as np
        files = [str(f) for f in data] if isinstance(data, (list, tuple)) else None
        if files == []:
            raise ValueError("no Parquet files to re-score")
        if data is None:
            cur, order, relation, params = self.cursor(), "rowid", "examples", []
        elif files is not None or isinstance(data, (str, os.PathLike)):
            folder = Path(files[0] if files else str(data)).parent
            # the ingest's call (group_meta) on one thread: its peak stays near one log's (bench_full_logs.py)
            cur = duckdb.connect(":memory:", config={"temp_directory": str(folder / ".duckdb-tmp"),
                                                     **({"threads": 1} if group_meta else {})})
            relation = "read_parquet(?, filename = true, file_row_number = true)" if group_meta else "read_parquet(?)"
            order = "(list_position(?, filename), file_row_number)" if files else "(filename, file_row_number)"
            params = ([files] if files and group_meta else []) + [files if files else str(data)]
        else:
            if group_meta:
                if isinstance(data, pd.DataFrame):
                    data = data.assign(_rn=np.arange(len(data)))
                elif hasattr(data, "append_column"):
                    import pyarrow as pa
                    data = data.append_column("_rn", pa.array(np.arange(data.num_rows)))
                else:
                    raise ValueError("group_meta needs the rows in order: give a DataFrame, a pyarrow Table or Parquet")
            cur, order, relation, params = duckdb.connect(":memory:"), "_rn", "rescore_input", []
            cur.register("rescore_input", data)
        try:
            yield cur, relation, order, params
        finally:
            if relation == "rescore_input":
                cur.unregister("rescore_input")
            cur.close()


def _choice_keys(by: Iterable[str], group_meta: bool) -> list[str]:
    by = list(by)
    bad = [c for c in by if c not in EXAMPLE_COLUMNS or c in ("choice_logprobs", "correct_index")]
    if bad or not by:
        raise ValueError(f"group by columns of the examples table (except the choices); got {bad or by}")
    if group_meta and sorted(by) != sorted(_EXAMPLE_GROUP_KEY):
        raise ValueError(f"group_meta groups by the example group key {list(_EXAMPLE_GROUP_KEY)}; got {by}")
    return by


def _same(a: str, b: str, cols: Iterable[str]) -> str:
    """NULL-safe equality of ``cols`` between two relations (a NULL key is a key like any other)."""
    return " AND ".join(f'{a}."{c}" IS NOT DISTINCT FROM {b}."{c}"' for c in cols)


def _choice_sql(by: list[str], relation: str, where: str, order: str, group_meta: bool) -> str:
    """The SQL of :meth:`Store.rescore_choices`: per-example Brier, binary Brier and grade (``e``), their
    mean / sd / n per group (``agg``), and with ``group_meta`` the group's columns (``gm``) and paired
    standard errors (``pse``).  Parameters: the row order's (if any), the relation's, then ``where``'s."""
    keys = ", ".join(f'"{c}"' for c in by)
    key_exprs = ", ".join(f"""coalesce("{c}", '') AS "{c}\"""" if c in ("subtask", "prompt_variant") else f'"{c}"'
                          for c in by)
    carry = ", params, example_id, _rn" if group_meta else ""
    meta = (", source_family, params, params_estimate, non_embedding_params, tokens, is_final, source_file, "
            f"content_hash, example_id, row_ref, {order} AS _rn") if group_meta else ""
    where_row = ("printf('%s row %s: ', coalesce(source_file, ''), coalesce(row_ref, '')) || "
                 if group_meta else "")
    sql = f"""
        WITH src AS NOT MATERIALIZED (
            SELECT {key_exprs}{meta}, choice_logprobs, correct_index FROM {relation}{where}),
        q AS (
            SELECT {keys}{carry}{", source_file, row_ref" if group_meta else ""},
                   list_transform(choice_logprobs, lambda x: CASE WHEN isnan(x) THEN NULL ELSE x END) AS lp,
                   CAST(correct_index AS BIGINT) AS ci
            FROM src WHERE choice_logprobs IS NOT NULL AND len(choice_logprobs) > 0 AND correct_index IS NOT NULL),
        s AS (
            SELECT *, list_max(lp) AS m, list_count(lp) AS k, lp[ci + 1] AS r,
                   CASE WHEN ci < 0 OR ci >= list_count(lp)
                        THEN error({where_row}printf('correct_index %d is not one of its %d choices', ci, list_count(lp)))
                   END AS bad_index
            FROM q),
        t AS (
            SELECT *, CASE WHEN isfinite(m) THEN m + ln(list_sum(list_transform(lp, lambda x: exp(x - m)))) END AS lse
            FROM s),
        e AS NOT MATERIALIZED (
            SELECT {keys}{carry}, k,
                   coalesce(bad_index, 0.0) + list_sum(list_transform(lp, lambda x, i:
                       (exp(x - lse) - CAST(i = ci + 1 AS DOUBLE)) * (exp(x - lse) - CAST(i = ci + 1 AS DOUBLE))))
                       AS brier,
                   (1.0 - exp(r - lse)) * (1.0 - exp(r - lse)) AS brier_binary,
                   CASE WHEN r > CAST('-inf' AS DOUBLE) AND len(list_filter(lp, lambda x: x >= r)) = 1
                        THEN 1.0 ELSE 0.0 END AS grade
            FROM t),
        agg AS (
            SELECT {keys},
                   avg(brier) AS b_value, stddev_samp(brier) / sqrt(count(brier)) AS b_stderr, count(brier) AS b_n,
                   avg(brier_binary) AS bb_value, stddev_samp(brier_binary) / sqrt(count(brier_binary)) AS bb_stderr,
                   count(brier_binary) AS bb_n,
                   avg(grade) AS g_value, stddev_samp(grade) / sqrt(count(grade)) AS g_stderr, count(grade) AS g_n,
                   avg(1.0 / k) AS g_base
            FROM e GROUP BY {keys})"""
    if not group_meta:
        return sql + f"\n        SELECT * FROM agg ORDER BY {keys} NULLS LAST"
    return sql + _group_meta_sql(by) + f"""
        SELECT agg.*, {", ".join(f'gm."{c}"' for c in _GROUP_META)}, pse.b_pse, pse.bb_pse, pse.g_pse
        FROM agg JOIN gm ON {_same("agg", "gm", by)} LEFT JOIN pse ON {_same("agg", "pse", by)}
        ORDER BY {", ".join(f'agg."{c}"' for c in by)} NULLS LAST"""


#: The group columns :meth:`Store.rescore_choices` adds with ``group_meta`` (see there).
_GROUP_META = ("source_family", "params", "params_estimate", "non_embedding_params", "tokens", "is_final",
               "source_file", "content_hash")


def _group_meta_sql(by: list[str]) -> str:
    """CTEs ``gm`` (each group's first example's columns, its final flag, its files and hashes) and ``pse``
    (per group, the standard error of the per-example difference from the smallest model of its series, final
    rows with a size and an example id only: :func:`emergence.analysis.rescore._paired_se`)."""
    keys = ", ".join(f'"{c}"' for c in by)
    sk = [c for c in by if c not in ("model", "checkpoint_step")]       # the series: the group but the model
    firsts = ", ".join(f'arg_min_null(src."{c}", src._rn) AS "{c}"' for c in _GROUP_META[:5])
    # distinct values first (a GROUP BY, which spills), then the ordered join over those few per group: an
    # ordered aggregate over every row would hold a whole group in memory
    joined = "".join(f"""
        {c} AS (
            SELECT {keys}, string_agg(v, '; ' ORDER BY v) AS "{c}"
            FROM (SELECT DISTINCT {keys}, "{c}" AS v FROM src WHERE "{c}" <> '') GROUP BY {keys}),"""
                     for c in ("source_file", "content_hash"))
    diffs = (("b", "brier"), ("bb", "brier_binary"), ("g", "grade"))
    return f""",
        fin AS (SELECT source, model, max(checkpoint_step) AS ms FROM src GROUP BY source, model),{joined}
        g1 AS (
            SELECT {", ".join(f'src."{c}"' for c in by)}, {firsts},
                   arg_min_null(coalesce(src.is_final, src.checkpoint_step IS NULL OR src.checkpoint_step = fin.ms),
                                src._rn) AS is_final
            FROM src LEFT JOIN fin ON {_same("src", "fin", ("source", "model"))}
            GROUP BY {", ".join(f'src."{c}"' for c in by)}),
        gm AS (
            SELECT g1.*, source_file.source_file, content_hash.content_hash
            FROM g1 LEFT JOIN source_file ON {_same("g1", "source_file", by)}
                    LEFT JOIN content_hash ON {_same("g1", "content_hash", by)}),
        pe AS NOT MATERIALIZED (
            SELECT {keys}, params AS p, example_id AS eid, _rn, brier, brier_binary, grade FROM e
            WHERE isfinite(params) AND checkpoint_step IS NULL AND example_id IS NOT NULL),
        p0 AS (SELECT {", ".join(f'"{c}"' for c in sk)}, min(p) AS p0 FROM pe GROUP BY ALL),
        ref AS (
            SELECT {", ".join(f'pe."{c}"' for c in sk)}, pe.eid, p0.p0,
                   {", ".join(f"arg_min(pe.{v}, pe._rn) AS {n}0" for n, v in diffs)}
            FROM pe JOIN p0 ON {_same("pe", "p0", sk)} AND pe.p = p0.p0
            GROUP BY {", ".join(f'pe."{c}"' for c in sk)}, pe.eid, p0.p0),
        -- one join, with the smallest model's answers (ref) as its build side: the other models' rows stream
        pairs AS (
            SELECT {", ".join(f'pe."{c}"' for c in by)}, {", ".join(f"pe.{v} - ref.{n}0 AS d{n}" for n, v in diffs)}
            FROM pe JOIN ref ON {_same("pe", "ref", sk)} AND pe.eid = ref.eid AND pe.p > ref.p0),
        pse AS (
            SELECT {keys}, {", ".join(f"CASE WHEN count(d{n}) >= 2 THEN stddev_samp(d{n}) / sqrt(count(d{n})) END AS {n}_pse"
                                      for n, _ in diffs)}
            FROM pairs GROUP BY {keys})"""


def _choices_long(wide: pd.DataFrame, by: list[str], group_meta: bool) -> pd.DataFrame:
    """One row per group and metric from :func:`_choice_sql`'s one row per group."""
    parts = []
    for metric, p in (("brier_score", "b"), ("brier_score_binary", "bb"), ("multiple_choice_grade", "g")):
        part = wide[by].copy()
        part["metric"] = metric
        part["value"] = wide[f"{p}_value"].astype(float)
        part["stderr"] = wide[f"{p}_stderr"].astype(float)
        part["n_examples"] = wide[f"{p}_n"].astype("int64")
        part["random_baseline"] = wide["g_base"].astype(float) if p == "g" else float("nan")
        if group_meta:
            for c in _GROUP_META:
                part[c] = wide[c].to_numpy()
            part["paired_se"] = wide[f"{p}_pse"].astype(float)
        part["_group"] = range(len(wide))
        parts.append(part[part["n_examples"] > 0])
    out = pd.concat(parts, ignore_index=True).sort_values(["_group", "metric"], kind="stable")
    return out.drop(columns="_group").reset_index(drop=True)
