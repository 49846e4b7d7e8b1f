"""The first-start build as the app shows it: one build per store per process (``st.cache_resource``),
its progress bars, the sources it could not add with a retry, and ingest / remove from the Data page.

What a build does (which sources, the thread, reading progress) is :mod:`emergence.ingestion.build`'s.
"""
from __future__ import annotations

import streamlit as st

from emergence.ingestion import build as _build
from emergence.ingestion.build import public_sources  # noqa: F401  (the pages' name)

from .queries import store


@st.cache_resource(show_spinner=False)
def build_state(db: str) -> dict:
    """The first-start build of the store at ``db``, shared by every session of this process."""
    return _build.new_build_state()


def start_build(retry: list[str] | None = None) -> dict:
    """Start the first-start build once per process, in a background thread (:func:`emergence.ingestion.build.start_build`);
    closing or reloading the tab that started it does not interrupt it."""
    return _build.start_build(build_state(str(store().path)), store().path, retry=retry)


def build_progress(b: dict, where=st):
    """The running build: the sources bar, the current download's bar, and the log."""
    where.progress(b["frac"], text=b["text"])
    if b["fetch"] is not None:
        where.progress(b["fetch"], text=b["fetch_text"])
    with where.expander("ingest log"):
        where.text("\n".join(b["log"][-30:]) or "starting")


def show_build_failures(where=st, expanded: bool = False) -> bool:
    """The sources the last build could not add: a one-line warning, then in an expander (open with
    ``expanded``) each one's reason and how to add it, and a retry button; True if any."""
    b = build_state(str(store().path))
    failed = b.get("failed") or {}
    if _build.build_running(b) or not (failed or b["error"]):
        return False
    box = where
    if failed:
        built = "the others were built" if store().exists() else "nothing could be built"
        where.warning(f"{len(failed)} source(s) could not be added ({', '.join(failed)}); {built}.", icon="⚠️")
        box = where.expander("Why, and how to add them", expanded=expanded)
        box.markdown("\n".join(f"- **{name}**: {why}" for name, why in failed.items()))
    retry = list(failed) or public_sources()[0]
    label = f"Retry {', '.join(failed)}" if failed else "Retry building the store"
    if box.button(label, key="retry_build", icon=":material/refresh:"):
        start_build(retry=retry)
        st.rerun()
    return True


def _progress_cb(progress_bar, status):
    """A progress callback for the Data page: a source's start moves the bar, the rest is written below it
    (the events' fields, :class:`emergence.ingestion.sources.base.Progress`)."""
    from emergence.ingestion.ingest import as_progress

    def progress(msg: str):
        e = as_progress(msg)
        if e.stage == "source" and e.fraction is not None:
            progress_bar.progress(e.fraction, text=e.text[:120])
        else:
            status.write(e.text[:200])
    return progress


def ingest_path(path: str, progress_bar, status) -> dict:
    """Ingest one uploaded file / path into the store (atomic: a failure writes nothing)."""
    from emergence.ingestion.ingest import ingest
    with _build.WRITE_LOCK:
        return ingest([path], db=store().path, online=False, progress=_progress_cb(progress_bar, status))


def remove_source(name: str, progress_bar, status) -> dict:
    """Remove one source from the store (atomic: :func:`emergence.ingestion.ingest.remove`)."""
    from emergence.ingestion.ingest import remove
    with _build.WRITE_LOCK:
        return remove([name], db=store().path, progress=_progress_cb(progress_bar, status))




def ingest_upload(upload, cap_mb: int, progress_bar, status) -> dict:
    """Ingest a file uploaded on the Data page: written to a temporary directory under its own name (so
    its format is detected), ingested atomically, then removed.  Raises ValueError over ``cap_mb``."""
    import tempfile
    from pathlib import Path
    if upload.size > cap_mb * 1024 * 1024:
        raise ValueError(f"{upload.name} is {upload.size / 1024 / 1024:.0f} MB: larger than the {cap_mb} MB upload "
                         "limit (EMERGENCE_MAX_UPLOAD_MB). Ingest it from a path or with `emergence ingest` instead.")
    with tempfile.TemporaryDirectory(prefix="emergence-upload-") as tmp:
        target = Path(tmp) / Path(upload.name).name
        target.write_bytes(upload.getbuffer())
        return ingest_path(str(target), progress_bar, status)


def ingest_user_path(path: str, progress_bar, status) -> dict:
    """Ingest a path on this machine (``~`` expanded)."""
    from pathlib import Path
    return ingest_path(str(Path(path.strip()).expanduser()), progress_bar, status)
