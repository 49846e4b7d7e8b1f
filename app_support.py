"""The dashboard's thin layer between Streamlit and :mod:`emergence`: caching, view state, shared widgets.

- The :class:`~emergence.store.Store` is a ``st.cache_resource`` (one read connection per
  process; it follows ingest swaps by itself).
- Heavy queries are ``st.cache_data`` keyed on the store fingerprint, so a re-ingest (new
  fingerprint) invalidates them.
- The view state lives in the URL (:mod:`emergence.views`); widgets write it back from their
  ``on_change`` callbacks, so a link always reproduces what is on screen.

No SQL and no analysis here: everything goes through :mod:`emergence.api`,
:mod:`emergence.views` and :mod:`emergence.figures`.
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, replace
from typing import Callable
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from emergence import api, catalog, figures, views
from emergence.views import FILTER_FIELDS, ViewState

PAPERS = ("[Schaeffer et al. 2023, *Are Emergent Abilities of LLMs a Mirage?*](https://arxiv.org/abs/2304.15004) · "
          "[Hu et al. 2023, *Predicting Emergent Abilities with Infinite Resolution Evaluation* (PassUntil)]"
          "(https://arxiv.org/abs/2310.03262)")

FILTER_LABELS = {"source": "Source", "task": "Task", "subtask": "Subtask", "metric": "Metric", "family": "Family",
                 "shots": "Shots"}
AXIS_LABELS = {"params": "parameters", "non_embedding_params": "non-embedding parameters",
               "tokens": "training tokens", "flops": "training FLOPs", "step": "checkpoint step"}
CELL_LABELS = {"score": "median emergence score (descriptive)", "share": "share emergent (of decidable series)"}


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def autobuild() -> bool:
    """Build the store on first start unless EMERGENCE_AUTOBUILD=0."""
    return os.environ.get("EMERGENCE_AUTOBUILD", "1").strip().lower() not in ("0", "false", "no", "off")


def max_upload_mb() -> int:
    try:
        return max(1, int(os.environ.get("EMERGENCE_MAX_UPLOAD_MB", "200")))
    except ValueError:
        return 200


# ---------------------------------------------------------------- store and cached queries
def store():
    """The store at ``$EMERGENCE_DB`` (else data/emergence.duckdb): one per path per process."""
    from emergence.store import db_path
    return _store(str(db_path()))


@st.cache_resource(show_spinner=False)
def _store(path: str):
    return api.get_store(path)


def fingerprint() -> str:
    s = store()
    return s.fingerprint() if s.exists() else ""


def table(state: ViewState, fp: str, kind: str | None = None) -> tuple[str | None, pd.DataFrame]:
    """The view's rows (cached per store fingerprint and the part of the view that decides them)."""
    return _table(views.table_key(state, kind), fp, kind)


@st.cache_data(show_spinner="querying the store…", max_entries=128)
def _table(key: ViewState, fp: str, kind: str | None) -> tuple[str | None, pd.DataFrame]:
    import warnings
    with warnings.catch_warnings():     # fits that overflow on the way to a failed status are reported per row
        warnings.simplefilter("ignore", RuntimeWarning)
        return views.table_for(key, store().path, kind)


@st.cache_data(show_spinner=False, max_entries=8)
def series_all(fp: str) -> pd.DataFrame:
    """Every series row (all axes): the filter options come from it."""
    return store().series()


@st.cache_data(show_spinner=False, max_entries=8)
def known_values(fp: str) -> dict[str, list]:
    s = series_all(fp)
    out = {}
    for k in FILTER_FIELDS:
        if k in s.columns:
            vals = set(s[k].dropna().tolist())
            alt = {"metric": "source_metric", "family": "source_family"}.get(k)
            if alt and alt in s.columns:
                vals |= set(s[alt].dropna().tolist())
            out[k] = sorted(int(v) for v in vals) if k == "shots" else sorted(str(v) for v in vals)
    return out


@st.cache_data(show_spinner=False, max_entries=8)
def scale_coverage(fp: str) -> pd.DataFrame:
    """Per source and scale axis: series, and series with >= 3 scales (scorable)."""
    s = series_all(fp)
    if s.empty:
        return pd.DataFrame()
    s = s.assign(scored=pd.to_numeric(s["n_scales"], errors="coerce").fillna(0) >= 3)
    out = s.pivot_table(index="source", columns="scale_axis", values="scored", aggfunc="sum", fill_value=0)
    out.columns = [f"{c} (≥3 scales)" for c in out.columns]
    return out.astype(int).reset_index()


@st.cache_data(show_spinner=False, max_entries=8)
def sources(fp: str) -> pd.DataFrame:
    return api.sources(db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def data_issues(fp: str) -> pd.DataFrame:
    return api.data_issues(db=store().path)


@st.cache_data(show_spinner=False, max_entries=64)
def observations(fp: str, filters: tuple) -> pd.DataFrame:
    return api.observations(**dict(filters), db=store().path)


@st.cache_data(show_spinner=False, max_entries=64)
def series(fp: str, filters: tuple, x: str) -> pd.DataFrame:
    return api.series(**dict(filters), x=x, db=store().path)


@st.cache_data(show_spinner=False, max_entries=64)
def compare(fp: str, filters: tuple, x: str) -> pd.DataFrame:
    return api.compare(**dict(filters), x=x, db=store().path)


@st.cache_data(show_spinner=False, max_entries=64)
def summary(fp: str, filters: tuple, x: str) -> dict:
    return api.summary(**dict(filters), x=x, db=store().path)


def options(fp: str, state: ViewState) -> dict[str, list]:
    """Faceted filter options of a view (cached on its filters: the series table has ~10^5 rows)."""
    return _options(fp, ViewState().with_filters(**state.filters()))


@st.cache_data(show_spinner=False, max_entries=128)
def _options(fp: str, filters_only: ViewState) -> dict[str, list]:
    return views.filter_options(series_all(fp), filters_only)


@st.cache_data(show_spinner=False, max_entries=64)
def pairs(fp: str, filters: tuple, x: str):
    """(metric pairs, verdicts per pair, headline) of the filtered series (emergence.mirage)."""
    from emergence import mirage
    p = api.pairs(**dict(filters), x=x, db=store().path)
    return p, mirage.pair_verdicts(p), mirage.headline(p)


@st.cache_data(show_spinner=False, max_entries=4)
def multiplication_by_digits(fp: str):
    return api.multiplication_by_digits(db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def replications(fp: str, x: str):
    return api.replications(x=x, db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def fdr_families(fp: str) -> pd.DataFrame:
    from emergence import mirage
    return mirage.fdr_families(series_all(fp))


def show_table(df: pd.DataFrame, where=st, limit: int = 2000, **kw):
    """st.dataframe of at most ``limit`` rows (the download has them all)."""
    if len(df) > limit:
        where.caption(f"showing the first {limit:,} of {len(df):,} rows: the CSV download has them all")
        df = df.head(limit)
    where.dataframe(df, hide_index=True, width="stretch", **kw)


def frozen_filters(state: ViewState, **override) -> tuple:
    f = state.filters()
    f.update({k: v for k, v in override.items()})
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in f.items() if v is not None))


# ---------------------------------------------------------------- view state <-> URL
def _url_params() -> dict[str, list[str]]:
    qp = st.query_params
    return {k: qp.get_all(k) for k in qp.keys()}


def _write_url(state: ViewState):
    want = views.to_query_params(state)
    have = _url_params()
    norm = {k: (v if isinstance(v, list) else [v]) for k, v in want.items()}
    if norm != have:
        st.query_params.from_dict(want)


def view(page: str) -> ViewState:
    """The view state of ``page`` from the URL; shows notices; keeps the URL canonical."""
    params = _url_params()
    state, notices = views.from_query_params(params)
    last: ViewState | None = st.session_state.get("_view")
    if not params and last is not None and last.page != page:
        # moving between pages keeps the filters that have a widget everywhere (the navigation drops the query)
        state = replace(ViewState(), page=page, x=last.x,
                        **{k: getattr(last, k) for k in ("source", "task", "metric", "family", "shots")})
    state = replace(state, page=page)
    fp = fingerprint()
    known = known_values(fp) if fp else {}
    state, more = views.restrict(state, known)
    notices += more
    if not state.fp:
        state = replace(state, fp=fp)
    elif fp and state.fp != fp:
        st.warning(f"This link was made on a store with fingerprint `{state.fp}`; this store's is `{fp}` "
                   "(data were re-ingested or sources added since). The numbers may differ from what the "
                   "link's author saw.", icon="⚠️")
    if notices:
        st.session_state["_notices"] = notices
    for n in st.session_state.get("_notices", []):
        st.warning(f"Link parameter ignored: {n}", icon="⚠️")
    st.session_state["_view"] = state
    _write_url(state)
    return state


def commit(**changes):
    """Apply ``changes`` to the current view and write it to the URL (from widget callbacks)."""
    state: ViewState = st.session_state.get("_view", ViewState())
    state = replace(state, fp=fingerprint(), **changes)
    st.session_state["_view"] = state
    st.session_state["_notices"] = []
    st.query_params.from_dict(views.to_query_params(state))


def sync_widget(key: str, value):
    """Set a widget's value from the view state before the widget is drawn (never after)."""
    if st.session_state.get(key, object()) != value:
        st.session_state[key] = value


def _on_change(field: str, key: str, conv=lambda v: v, also=None):
    def cb():
        value = conv(st.session_state[key])
        commit(**{field: value}, **(also(value) if also else {}))
    return cb


def select(state: ViewState, field: str, label: str, options, *, fmt=None, where=st, help=None, key=None,
           swap=None):
    """A selectbox bound to one ViewState field (``swap(new)``: other fields to change with it)."""
    key = key or f"w_{state.page}_{field}"
    options = list(options)
    value = getattr(state, field)
    if value not in options:
        value = options[0]
    sync_widget(key, value)
    return where.selectbox(label, options, key=key, format_func=fmt or str, help=help,
                           on_change=_on_change(field, key, also=swap))


def radio(state: ViewState, field: str, label: str, options, *, fmt=None, where=st, horizontal=True, help=None):
    key = f"w_{state.page}_{field}"
    options = list(options)
    value = getattr(state, field)
    if value not in options:
        value = options[0]
    sync_widget(key, value)
    return where.radio(label, options, key=key, format_func=fmt or str, horizontal=horizontal, help=help,
                       on_change=_on_change(field, key))


def toggle(state: ViewState, field: str, label: str, *, where=st, help=None):
    key = f"w_{state.page}_{field}"
    sync_widget(key, bool(getattr(state, field)))
    return where.toggle(label, key=key, help=help, on_change=_on_change(field, key, bool))


def number(state: ViewState, field: str, label: str, widget: str = "slider", *, where=st, conv=float, **kw):
    key = f"w_{state.page}_{field}"
    sync_widget(key, conv(getattr(state, field)))
    fn = getattr(where, widget)
    return fn(label, key=key, on_change=_on_change(field, key, conv), **kw)


def multiselect(state: ViewState, field: str, label: str, options, *, where=st, help=None, placeholder="all"):
    key = f"w_{state.page}_{field}"
    options = list(options)
    sync_widget(key, [v for v in getattr(state, field) if v in options])
    conv = (lambda v: tuple(int(x) for x in v)) if field == "shots" else (lambda v: tuple(str(x) for x in v))
    return where.multiselect(label, options, key=key, help=help, placeholder=placeholder,
                             on_change=_on_change(field, key, conv))


def filter_widgets(state: ViewState, which=("source", "task", "metric", "family", "shots"), where=None,
                   show_subtask: bool = True):
    """Multiselects for the filters, options given the other filters (faceted); a subtask filter (set by a
    link or the series page) gets one too, so it is never hidden."""
    where = where or st.sidebar
    fp = fingerprint()
    opts = options(fp, state) if fp else {}
    if show_subtask and state.subtask and "subtask" not in which:      # a link's subtask filter stays visible and removable
        which = tuple(which) + ("subtask",)
    for k in which:
        multiselect(state, k, FILTER_LABELS[k], opts.get(k, []), where=where,
                    help=f"repeated values are OR-ed, as `--{k}` on the CLI")


# ---------------------------------------------------------------- page furniture
def header(title: str, what: str):
    st.title(title)
    st.markdown(what)
    st.caption(PAPERS)


def require_store() -> str:
    """The store fingerprint; stops the page with a clear message when there is no store."""
    s = store()
    if not s.exists():
        st.error(f"No store at `{s.path}` yet. Build it on the **Data** page (or `emergence ingest`).")
        st.stop()
    return fingerprint()


def share_link(state: ViewState, where=st):
    """The whole view as a URL, with a copy button (st.code's)."""
    q = urlencode(views.to_query_params(state), doseq=True)
    try:
        base = st.context.url or ""
    except Exception:
        base = ""
    base = base.split("?")[0]
    url = f"{base}?{q}" if q else base
    where.caption("Share link (the copy button is at the right of the box): opens this exact view")
    where.code(url, language=None)
    return url


def chart(fig, key: str, name: str, where=st, on_select=None, selection_mode=None):
    """A plotly chart with PNG export in its toolbar and PNG/SVG downloads (kaleido, on click)."""
    config = {"displaylogo": False,
              "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2}}
    kw = {}
    if on_select is not None:
        kw.update(on_select=on_select, selection_mode=selection_mode or ("points",))
    event = where.plotly_chart(fig, key=key, config=config, **kw)
    if _static_export():
        c1, c2, _ = where.columns([1, 1, 8])
        c1.download_button("PNG", data=lambda: figures.to_image(fig, "png"), file_name=f"{name}.png",
                           mime="image/png", key=f"{key}_png", on_click="ignore", icon=":material/download:")
        c2.download_button("SVG", data=lambda: figures.to_image(fig, "svg"), file_name=f"{name}.svg",
                           mime="image/svg+xml", key=f"{key}_svg", on_click="ignore", icon=":material/download:")
    else:
        where.caption("PNG: the camera icon in the chart's toolbar (SVG export needs kaleido and Chromium here).")
    return event


@st.cache_resource(show_spinner=False)
def _static_export() -> bool:
    return figures.static_export_available()


def download_section(state: ViewState, kind: str | None, df: pd.DataFrame, fp: str, where=st, title="Export"):
    """CSV of exactly the rows on screen, the equivalent CLI command, and the sources' citations."""
    if kind is None:
        return
    if title:
        where.subheader(title)
    name = f"emergence-{kind}.csv"
    # deferred: the CSV is built only when the button is clicked
    where.download_button(f"Download CSV ({len(df):,} {kind} rows)", data=lambda df=df: api.to_csv(df),
                          file_name=name, mime="text/csv", key=f"dl_{state.page}_{kind}", on_click="ignore")
    where.caption("The same bytes from the command line:")
    where.code(views.cli_command(state, kind=kind), language="bash")
    if "source" not in df.columns:
        return
    cites = views.citations(df, sources(fp))
    if len(cites):
        where.caption("Cite and respect the license of every source in these rows:")
        where.dataframe(cites, hide_index=True, width="stretch")


def notice_unscored(df: pd.DataFrame, where=st):
    """Say how many series the verdict could not decide, and why (grouped by the reason's first words)."""
    if df is None or df.empty or "verdict" not in df.columns:
        return
    ins = df[df["verdict"] == "insufficient"]
    if len(ins):
        why = ins["verdict_reason"].astype(str).str.replace(r"^tested on its primary axis \([a-z]+\): ", "",
                                                            regex=True).str.split(r"[:(]", n=1).str[0].str.strip()
        counts = why.value_counts()
        text = ", ".join(f"{k} ({v:,})" for k, v in counts.head(6).items())
        where.caption(f"{len(ins):,} of {len(df):,} series are **insufficient** to decide: {text}. A series needs at "
                      f"least 4 sizes (a family of three sizes can never be called), sizes close enough to resolve a "
                      f"transition, and a noise model; the Series detail page gives each one's reason.")


# ---------------------------------------------------------------- first start: build the store
_build_lock = threading.Lock()


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


def build_store(progress: Callable[[str], None], log: Callable[[str], None], *,
                only: list[str] | None = None) -> dict:
    """Build the store from the catalogue sources (or add ``only`` these to it): the local copies in
    the data directory, else the public downloads.  A source that cannot be had (unreachable, a
    server error, a malformed file) is left out and listed in ``failed`` with why and how to add it;
    the others are built (``ingest(keep_going=True)``).  Raises only when none can be had."""
    from emergence.ingest import data_dir, ingest
    names, left_out = public_sources()
    data = data_dir()
    offline = env_flag("EMERGENCE_OFFLINE")
    wanted = [n for n in (only or names) if n in names]
    local = [n for n in wanted if (data / n).is_dir()]
    # offline, the ones to download are still tried: each is then listed as offline, with how to add it
    remote = [n for n in wanted if n not in local and catalog.get(n).downloadable]
    if not local and not remote:
        raise FileNotFoundError(f"no catalogue source in {data} can be read or fetched")
    with _build_lock:
        if store().exists() and only is None:
            return {"result": {}, "notes": left_out, "failed": {}}
        out = ingest(local + remote, db=store().path, online=not offline, progress=progress, keep_going=True)
    out["notes"] = list(out.get("notes", [])) + left_out
    for name, why in out.get("failed", {}).items():
        log(f"left out {name}: {why}")
    return out


@st.cache_resource(show_spinner=False)
def build_state(db: str) -> dict:
    """The first-start build of the store at ``db``, shared by every session of this process."""
    return {"thread": None, "frac": 0.0, "text": "starting", "fetch": None, "fetch_text": "", "log": [],
            "out": None, "error": None, "failed": {}, "run": 0}


_start_lock = threading.Lock()


def start_build(retry: list[str] | None = None) -> dict:
    """Start the first-start build once per process, in a background thread; ``retry``: start another
    one for these sources (those the last build could not add) once the previous has finished.

    The build does not belong to the page that started it: closing or reloading that tab does
    not interrupt it, and every session that opens meanwhile shows the same progress.
    """
    from emergence.ingest import progress_fraction
    b = build_state(str(store().path))
    with _start_lock:
        busy = b["thread"] is not None and b["thread"].is_alive()
        if b["thread"] is None or (retry and not busy):
            b.update(frac=0.0, text="starting", fetch=None, fetch_text="", error=None, run=b["run"] + 1)

            def progress(msg: str):
                got = progress_fraction(msg)
                if got is not None and got[0] == "source":
                    b["frac"], b["text"] = got[1], msg[:120]
                    b["fetch"], b["fetch_text"] = None, ""
                elif got is not None:
                    b["fetch"], b["fetch_text"] = got[1], msg[:160]
                else:
                    b["log"].append(msg[:300])

            def run():
                try:
                    out = build_store(progress, b["log"].append, only=retry)
                    failed = {k: v for k, v in b["failed"].items() if k not in (retry or [])}
                    failed.update(out.get("failed", {}))
                    b["failed"] = failed
                    b["out"] = out
                    b["frac"], b["text"], b["fetch"] = 1.0, "done", None
                except Exception as e:  # shown on the page, never a traceback
                    b["failed"] = dict(getattr(e, "failed", {}) or b["failed"])
                    b["error"] = (f"none of the sources could be added ({len(b['failed'])} tried)" if
                                  getattr(e, "failed", None) else f"{type(e).__name__}: {e}")

            b["thread"] = threading.Thread(target=run, name="emergence-first-build", daemon=True)
            b["thread"].start()
    return b


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
    if (b["thread"] is not None and b["thread"].is_alive()) or not (failed or b["error"]):
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


def set_view(state: ViewState) -> ViewState:
    """Replace the current view (a page's own normalisation, e.g. a default task) and write the URL."""
    st.session_state["_view"] = state
    _write_url(state)
    return state


@st.cache_data(show_spinner=False, max_entries=64)
def _plot_frame(fp: str, filters: tuple, x: str):
    obs = api.observations(**dict(filters), db=store().path)
    scores = api.series(**dict(filters), x=x, db=store().path)
    return figures.series_plot_frame(obs, x, scores)


def plot_frame(fp: str, state: ViewState):
    """Points and curve labels of the series page (cached per store and view)."""
    return _plot_frame(fp, frozen_filters(state), state.x)


def _progress_cb(progress_bar, status):
    def progress(msg: str):
        m = re.match(r"\[(\d+)/(\d+)\]", msg)
        if m:
            i, n = int(m[1]), int(m[2])
            progress_bar.progress(min(1.0, (i - 1) / max(n, 1)), text=msg[:120])
        else:
            status.write(msg[:200])
    return progress


def ingest_path(path: str, progress_bar, status) -> dict:
    """Ingest one uploaded file / path into the store (atomic: a failure writes nothing)."""
    from emergence.ingest import ingest
    with _build_lock:
        return ingest([path], db=store().path, online=False, progress=_progress_cb(progress_bar, status))


def remove_source(name: str, progress_bar, status) -> dict:
    """Remove one source from the store (atomic: :func:`emergence.ingest.remove`)."""
    from emergence.ingest import remove
    with _build_lock:
        return remove([name], db=store().path, progress=_progress_cb(progress_bar, status))


# ---------------------------------------------------------------- who may write to the store from the page
#: Headers a reverse proxy adds: behind one, every visitor's connection comes from the proxy (often loopback).
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip", "via",
                      "x-client-ip", "true-client-ip", "cf-connecting-ip", "fastly-client-ip", "x-cluster-client-ip",
                      "x-original-forwarded-for")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def _host_is_loopback(value: str) -> bool:
    """``localhost:8501``, ``127.0.0.1``, ``[::1]:8501``, ``http://localhost:8501`` -> True."""
    from urllib.parse import urlsplit
    v = value.strip().lower()
    host = urlsplit(v).hostname if "://" in v else urlsplit("//" + v).hostname
    if host is None:
        return False
    return host in _LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost")


def visitor_is_local(ip: str | None, headers: dict[str, str]) -> bool:
    """True only for a browser on this machine talking to Streamlit directly.

    ``ip`` is ``st.context.ip_address``, which Streamlit gives as None for a loopback peer
    (and when it knows no peer at all); ``headers`` are the visitor's websocket handshake
    headers.  Local means: no peer address (loopback), handshake headers present (so the
    peer is a real connection, not an unknown one), no proxy forwarding header (behind a
    reverse proxy every visitor looks local), and the ``Host`` (and ``Origin``, when sent)
    name this machine.  Anything else is treated as remote: the check fails closed.
    """
    h = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    if ip is not None or not h:
        return False
    if any(k in h for k in FORWARDING_HEADERS):
        return False
    if not _host_is_loopback(h.get("host", "")):
        return False
    return "origin" not in h or _host_is_loopback(h["origin"])


def visitor() -> tuple[str | None, dict[str, str]]:
    """The visitor's address and handshake headers (Streamlit's ``st.context``)."""
    try:
        return st.context.ip_address, dict(st.context.headers.items())
    except Exception:      # no session context (e.g. a bare script run): unknown, so not local
        return "unknown", {}


@dataclass(frozen=True)
class WriteAccess:
    """What the Data page lets this visitor do to the store, and why not."""

    upload: bool
    path: bool
    remove: bool
    reason: str = ""


def write_access(public: bool, allow: bool, local: bool) -> WriteAccess:
    """The Data page's rule (README, 'Deploying and sharing').

    - a public deployment (``EMERGENCE_PUBLIC=1``): nothing, unless ``EMERGENCE_ALLOW_INGEST=1``
      turns ingest (upload and path) on; removing sources stays off;
    - otherwise uploads (capped) for every visitor; ingest from a server path and removing a
      source only for a visitor on this machine (:func:`visitor_is_local`) or with
      ``EMERGENCE_ALLOW_INGEST=1``.
    """
    if public:
        if allow:
            return WriteAccess(True, True, False, "removing sources is off on a public deployment")
        return WriteAccess(False, False, False, "ingest is disabled on this public deployment "
                                                "(set EMERGENCE_ALLOW_INGEST=1 to enable it)")
    if local or allow:
        return WriteAccess(True, True, True)
    return WriteAccess(True, False, False, "ingest from a path on the server and removing sources work only for a "
                                           "visitor on the server itself (or with EMERGENCE_ALLOW_INGEST=1)")


def page_write_access() -> WriteAccess:
    """:func:`write_access` for this session's visitor and environment."""
    ip, headers = visitor()
    return write_access(env_flag("EMERGENCE_PUBLIC"), env_flag("EMERGENCE_ALLOW_INGEST"), visitor_is_local(ip, headers))


def optional_module(name: str):
    """Import a module that may not exist in this build (None if absent)."""
    import importlib
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):
            return None
        raise


#: held-out fits per view are capped (each series costs ~10 ms with the closed forms)
MAX_PREDICTED_SERIES = 1500


def n_predictable(fp: str, state: ViewState) -> int:
    """How many series of the view have the >= 4 scales a held-out prediction needs."""
    _, s = table(replace(state, page="explorer"), fp)
    return int((pd.to_numeric(s["n_scales"], errors="coerce") >= 4).sum()) if len(s) else 0


@st.cache_data(show_spinner=False, max_entries=16)
def pass_rates(fp: str, sources: tuple) -> pd.DataFrame:
    """Task pass rate per size (mean of c/n over problems) for the PassUntil chart.

    The same records and task naming as :func:`emergence.api.passuntil` (final checkpoints;
    a subtask is its own experiment, shown as ``task/subtask``).
    """
    from emergence import passuntil
    ex = store().sampling_counts({"source": list(sources)} if sources else None)
    if ex.empty:
        return pd.DataFrame()
    ex["task"] = ex["task"].where(ex["subtask"].fillna("") == "", ex["task"] + "/" + ex["subtask"].fillna(""))
    return passuntil.task_pass_rates(ex.drop(columns=["subtask"]))


@st.cache_data(show_spinner=False, max_entries=4)
def repeated_sampling_sources(fp: str) -> list[str]:
    """Sources with repeated-sampling records (n samples and n correct per problem)."""
    ex = store().sampling_counts()
    return sorted(ex["source"].unique()) if len(ex) else []


@st.cache_data(show_spinner=False, max_entries=64)
def simulated_verdicts(sim: pd.DataFrame, n: int, choices: int) -> pd.DataFrame:
    """The verdict and detection lead of each simulated metric (emergence.simulate.simulated_verdicts)."""
    from emergence.simulate import simulated_verdicts as verdicts
    return verdicts(sim, n, choices)


@st.cache_data(show_spinner=False, max_entries=16)
def vision_summary(cutoff: float) -> pd.DataFrame | None:
    """The vision experiment's shipped results summarised at ``cutoff`` (None if unavailable)."""
    vision = optional_module("emergence.vision")
    if vision is None or not vision.SHIPPED_RESULTS.exists():
        return None
    return vision.summarise(vision.load_results(), cutoffs=[cutoff])
