"""The first-start build of the store: which catalogue sources, and a background build any caller can watch.

No Streamlit here: the dashboard keeps one :func:`new_build_state` per store path per process
(``st.cache_resource``) and draws it; everything else (which sources a build takes, building them,
reading the ingest's progress into fractions, the thread) lives here, so it can be tested and used
without a browser.  :mod:`emergence.ingestion.ingest` re-exports the public names.

Environment (README, 'Deploying and sharing'): ``EMERGENCE_PUBLIC=1`` keeps only sources whose license
allows redistribution (``EMERGENCE_INCLUDE_UNLICENSED=1`` overrides), ``EMERGENCE_OFFLINE=1`` reads the
local copies only (the others are listed as offline, with how to add them).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

from emergence.ingestion import catalog

__all__ = ["env_flag", "public_sources", "build_store", "new_build_state", "start_build", "build_running",
           "WRITE_LOCK"]

#: one writer per process: the first-start build, an upload, a removal
WRITE_LOCK = threading.Lock()
_START_LOCK = threading.Lock()


def env_flag(name: str) -> bool:
    """``1 / true / yes / on`` (any case) -> True; anything else, or unset -> False."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def public_sources() -> tuple[list[str], list[str]]:
    """Catalogue sources a first-start build includes, and notices on the ones left out (Markdown)."""
    public = env_flag("EMERGENCE_PUBLIC")
    include_unlicensed = env_flag("EMERGENCE_INCLUDE_UNLICENSED")
    names, notes = [], []
    for name, spec in catalog.CATALOG.items():
        if public and not spec.redistributable and not include_unlicensed:
            if spec.downloadable:      # the user-data formats (lm-eval-results, ...) have nothing to leave out
                notes.append(f"**{name}**: license '{spec.license}' does not allow redistribution "
                             "(set `EMERGENCE_INCLUDE_UNLICENSED=1` to include it)")
            continue
        names.append(name)
    return names, notes


def build_store(db: str | os.PathLike, progress: Callable[[str], None], log: Callable[[str], None], *,
                only: list[str] | None = None) -> dict:
    """Build the store at ``db`` from the catalogue sources (or add ``only`` these to it): the local copies
    in the data directory, else the public downloads.  A source that cannot be had (unreachable, a
    server error, a malformed file) is left out and listed in ``failed`` with why and how to add it;
    the others are built (``ingest(keep_going=True)``).  Raises only when none can be had."""
    from emergence.ingestion.ingest import data_dir, ingest
    from emergence.store import Store
    names, left_out = public_sources()
    data = data_dir()
    offline = env_flag("EMERGENCE_OFFLINE")
    wanted = [n for n in (only or names) if n in names]
    local = [n for n in wanted if (data / n).is_dir()]
    # offline, the ones to download are still tried: each is then listed as offline, with how to add it
    remote = [n for n in wanted if n not in local and catalog.get(n).downloadable]
    if not local and not remote:
        raise FileNotFoundError(f"no catalogue source in {data} can be read or fetched")
    with WRITE_LOCK:
        if Store(db).exists() and only is None:
            return {"result": {}, "notes": left_out, "failed": {}}
        out = ingest(local + remote, db=db, online=not offline, progress=progress, keep_going=True)
    out["notes"] = list(out.get("notes", [])) + left_out
    for name, why in out.get("failed", {}).items():
        log(f"left out {name}: {why}")
    return out


def new_build_state() -> dict:
    """What a build shows while it runs and after: ``frac/text`` (sources), ``fetch/fetch_text`` (the
    current download), ``log``, ``out`` (ingest's result), ``error``, ``failed`` (source -> why), ``run``."""
    return {"thread": None, "frac": 0.0, "text": "starting", "fetch": None, "fetch_text": "", "log": [],
            "out": None, "error": None, "failed": {}, "run": 0}


def build_running(b: dict) -> bool:
    return b["thread"] is not None and b["thread"].is_alive()


def _progress_into(b: dict) -> Callable[[str], None]:
    """A progress callback filling ``b``: a source's start moves the main bar, a step inside it (a
    download, a parser's files) the second bar, anything else goes to the log.  Reads the events'
    fields (:class:`emergence.ingestion.sources.base.Progress`), never their text."""
    from emergence.ingestion.ingest import as_progress

    def progress(msg: str):
        e = as_progress(msg)
        if e.stage == "source" and e.fraction is not None:
            b["frac"], b["text"] = e.fraction, e.text[:120]
            b["fetch"], b["fetch_text"] = None, ""
        elif e.stage in ("fetch", "parse") and e.fraction is not None:
            b["fetch"], b["fetch_text"] = e.fraction, e.text[:160]
        else:
            b["log"].append(e.text[:300])
    return progress


def start_build(b: dict, db: str | os.PathLike, retry: list[str] | None = None) -> dict:
    """Start the build recorded in ``b`` (a :func:`new_build_state`) once, in a background thread;
    ``retry``: start another one for these sources (those the last build could not add) once the
    previous has finished.  The thread belongs to no caller: every watcher of ``b`` sees the same
    progress, and one that goes away does not stop it."""
    db = str(Path(db))
    with _START_LOCK:
        if b["thread"] is None or (retry and not build_running(b)):
            b.update(frac=0.0, text="starting", fetch=None, fetch_text="", error=None, run=b["run"] + 1)
            progress = _progress_into(b)

            def run():
                try:
                    out = build_store(db, progress, b["log"].append, only=retry)
                    failed = {k: v for k, v in b["failed"].items() if k not in (retry or [])}
                    failed.update(out.get("failed", {}))
                    b["failed"] = failed
                    b["out"] = out
                    b["frac"], b["text"], b["fetch"] = 1.0, "done", None
                except Exception as e:  # shown by the caller, never a traceback
                    b["failed"] = dict(getattr(e, "failed", {}) or b["failed"])
                    b["error"] = (f"none of the sources could be added ({len(b['failed'])} tried)" if
                                  getattr(e, "failed", None) else f"{type(e).__name__}: {e}")

            b["thread"] = threading.Thread(target=run, name="emergence-first-build", daemon=True)
            b["thread"].start()
    return b
