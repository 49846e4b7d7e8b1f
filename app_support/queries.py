"""Cached reads for the pages: ``st.cache_data`` over :mod:`emergence.api` (never the store's methods);
the large frames (the view tables, every series, the Explorer's pivot, Series detail's points) and the
figures are ``st.cache_resource``: one object shared by every rerun and session, handed out as a shallow
copy where a page gets a frame (:func:`table`).

Each is keyed on the store fingerprint, so a re-ingest (a new fingerprint) refreshes them; the
first argument of every function is that fingerprint.
"""
from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from emergence import api
from emergence.app import views
from emergence.app.views import ViewState

#: held-out fits per view are capped (each series costs ~10 ms with the closed forms)
MAX_PREDICTED_SERIES = 1500


def store():
    """The store at ``$EMERGENCE_DB`` (else data/emergence.duckdb): one per path per process."""
    from emergence.store import db_path
    return _store(str(db_path()))


@st.cache_resource(show_spinner=False)
def _store(path: str):
    return api.get_store(path)


def fingerprint() -> str:
    """The store's fingerprint, read once per version of its file (an ingest swaps in a new file)."""
    import os
    s = store()
    try:
        f = os.stat(s.path)
    except FileNotFoundError:
        return ""
    return _fingerprint(str(s.path), (f.st_ino, f.st_mtime_ns, f.st_size))


@st.cache_resource(show_spinner=False, max_entries=16)
def _fingerprint(path: str, identity: tuple) -> str:
    return api.get_store(path).fingerprint()


def table(state: ViewState, fp: str, kind: str | None = None) -> tuple[str | None, pd.DataFrame]:
    """The view's rows (cached per store fingerprint and the part of the view that decides them).

    The cache holds one frame per key, shared by every rerun and session, and each call gets a shallow
    copy of it: with pandas' copy-on-write (always on from pandas 3) a page that changes its copy changes
    nothing else.  ``st.cache_data`` would unpickle the whole frame on every rerun instead (~40 ms for the
    Explorer's 26,000 series, of a ~150 ms rerun: bench/bench_pages.py)."""
    kind, df = _table(views.table_key(state, kind), fp, kind)
    return kind, df.copy(deep=False)


@st.cache_resource(show_spinner="querying the store…", max_entries=128)
def _table(key: ViewState, fp: str, kind: str | None) -> tuple[str | None, pd.DataFrame]:
    import warnings
    with warnings.catch_warnings():     # fits that overflow on the way to a failed status are reported per row
        warnings.simplefilter("ignore", RuntimeWarning)
        return views.table_for(key, store().path, kind)


def pivot(state: ViewState, fp: str) -> pd.DataFrame:
    """The Explorer's cells (:func:`emergence.app.views.pivot` of the view's table), computed once per
    table and pivot, not on every rerun (~50 ms of the Explorer's rerun on the full store)."""
    return _pivot(views.table_key(state), fp, state.rows, state.cols, state.cell).copy(deep=False)


@st.cache_resource(show_spinner=False, max_entries=128)
def _pivot(key: ViewState, fp: str, rows: str, cols: str, cell: str) -> pd.DataFrame:
    return views.pivot(_table(key, fp, None)[1], rows, cols, cell)


def series_all(fp: str) -> pd.DataFrame:
    """Every series row (all axes): the filter options come from it.  Shared like :func:`table`'s frames
    (``st.cache_data`` unpickled all ~65,000 rows for every new set of filters: ~0.1 s of a first visit)."""
    return _series_all(fp).copy(deep=False)


@st.cache_resource(show_spinner=False, max_entries=8)
def _series_all(fp: str) -> pd.DataFrame:
    return api.all_series(db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def known_values(fp: str) -> dict[str, list]:
    return api.filter_values(db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def scale_coverage(fp: str) -> pd.DataFrame:
    """Per source and scale axis: series with >= 3 scales (scorable)."""
    return api.scale_coverage(db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def sources(fp: str) -> pd.DataFrame:
    return api.sources(db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def data_issues(fp: str) -> pd.DataFrame:
    return api.data_issues(db=store().path)


@st.cache_data(show_spinner=False, max_entries=64)
def series(fp: str, filters: tuple, x: str) -> pd.DataFrame:
    """The view's series (:func:`emergence.api.series`' rows), taken from the whole axis' table (the Overview's
    default table, in memory once read) rather than queried: ~4 ms instead of ~15 ms a new view."""
    return api.series_within(_axis_series(fp, x), dict(filters))


def _axis_series(fp: str, x: str) -> pd.DataFrame:
    """Every series on axis ``x``: the Overview's default table (cached once for every page that needs it)."""
    return _table(views.table_key(ViewState(page="overview", x=x)), fp, None)[1]


@st.cache_data(show_spinner=False, max_entries=64)
def summary(fp: str, filters: tuple, x: str) -> dict:
    return api.summary(**dict(filters), x=x, db=store().path)


def options(fp: str, state: ViewState) -> dict[str, list]:
    """Faceted filter options of a view (cached on its filters: the series table has ~10^5 rows)."""
    return _options(fp, ViewState().with_filters(**state.filters()))


@st.cache_data(show_spinner=False, max_entries=128)
def _options(fp: str, filters_only: ViewState) -> dict[str, list]:
    return views.filter_options(series_all(fp), filters_only, index=_filter_index(fp))


@st.cache_resource(show_spinner=False, max_entries=8)
def _filter_index(fp: str):
    # every series' filter columns factorized once: a new view's options in ~3-4 ms instead of ~6
    return api.filter_index(_series_all(fp))


@st.cache_data(show_spinner=False, max_entries=64)
def pairs(fp: str, filters: tuple, x: str) -> pd.DataFrame:
    """The metric pairs of the filtered series (:func:`emergence.api.pairs`' rows), read from the whole axis'
    pairs (:func:`emergence.api.pairs_within`): ~5 ms for a Series detail view where pairing its series took
    ~35-70 ms, every new view (BENCHMARKS.md section 9)."""
    return api.pairs_within(_pair_index(fp, x), dict(filters))


@st.cache_resource(show_spinner=False, max_entries=8)
def _pair_index(fp: str, x: str):
    return api.pair_index(_axis_series(fp, x))


@st.cache_data(show_spinner=False, max_entries=64)
def pair_summary(fp: str, filters: tuple, x: str):
    """(metric pairs, verdicts per pair, headline) of the filtered series (:func:`emergence.api.pair_summary`;
    Series detail shows the pairs alone and does not wait for the rest)."""
    p = pairs(fp, filters, x)
    return (p, *api.pair_summary(p))


@st.cache_data(show_spinner=False, max_entries=4)
def multiplication_by_digits(fp: str):
    return api.multiplication_by_digits(db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def replications(fp: str, x: str):
    return api.replications(x=x, db=store().path)


@st.cache_data(show_spinner=False, max_entries=8)
def fdr_families(fp: str) -> pd.DataFrame:
    return api.fdr_families(db=store().path)


def frozen_filters(state: ViewState, **override) -> tuple:
    f = state.filters()
    f.update({k: v for k, v in override.items()})
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in f.items() if v is not None))


@st.cache_resource(show_spinner=False, max_entries=64)
def _plot_frame(fp: str, filters: tuple, x: str):
    """(points, curve labels, the series behind the curves) of a view."""
    scores = series(fp, filters, x)
    # from every series' points, computed once per store and axis (~30 ms a new view, ~80 ms on its own)
    got = api.points_within(_point_index(fp, x), dict(filters), scores, with_series=True)
    if got is not None:
        return got
    # a view that could cut a series: its own points, from the observations the page has already read (cached)
    obs = _table(views.table_key(ViewState(page="series").with_filters(**dict(filters))), fp, None)[1]
    pts, labels = api.plot_points(obs, scores, x=x)
    return pts, labels, api.curve_verdicts(pts, scores)


@st.cache_resource(show_spinner="computing every series' points on this axis (once)…", max_entries=4)
def _point_index(fp: str, x: str):
    return api.point_index(x=x, db=store().path)


def plot_frame(fp: str, state: ViewState) -> tuple[pd.DataFrame, dict[str, str]]:
    """Points and curve labels of the view's series (:func:`emergence.api.plot_points`; cached per store and
    view, handed out as a copy)."""
    pts, labels, _ = _plot_frame(fp, frozen_filters(state), state.x)
    return pts.copy(deep=False), dict(labels)


def series_curves(fp: str, state: ViewState) -> tuple[pd.DataFrame, dict[str, str], str, list[str], list[str]]:
    """What Series detail draws, once per view rather than on every rerun (~50 ms of it on the full store):
    ``(points, curve labels, y label, metrics left raw, curve order)``.  Points are baseline-normalised
    when the view says so (:func:`emergence.app.figures.normalise`; ``raw``: the metrics with no known
    chance level, left as they are); the order is :func:`emergence.app.figures.curve_order`'s."""
    pts, labels, y_label, raw, order = _series_curves(fp, frozen_filters(state), state.x, state.norm)
    return pts.copy(deep=False), dict(labels), y_label, list(raw), list(order)


@st.cache_resource(show_spinner=False, max_entries=64)
def _series_curves(fp: str, filters: tuple, x: str, norm: bool):
    from emergence.app import figures
    pts, labels, _ = _plot_frame(fp, filters, x)
    y_label, raw = "value", []
    if norm and len(pts):
        pts, raw = figures.normalise(pts)
        y_label = "normalised (0 = chance, 1 = perfect)"
    return pts, labels, y_label, raw, figures.curve_order(pts)


def curve_verdicts(fp: str, state: ViewState, curves: list[str]) -> pd.DataFrame:
    """The series behind Series detail's drawn ``curves``, a row per curve and metric in the curves' order
    (:func:`emergence.api.curve_verdicts`, matched once with the view's points and legends; a new choice of curves
    only selects)."""
    return api.in_curve_order(_plot_frame(fp, frozen_filters(state), state.x)[2], curves)


def n_predictable(fp: str, state: ViewState) -> int:
    """How many series of the view have the >= 4 scales a held-out prediction needs."""
    _, s = table(replace(state, page="explorer"), fp)
    return api.count_predictable(s)


@st.cache_data(show_spinner=False, max_entries=16)
def pass_rates(fp: str, sources: tuple) -> pd.DataFrame:
    """Task pass rate per size for the PassUntil chart (:func:`emergence.api.pass_rates`)."""
    return api.pass_rates(list(sources) or None, db=store().path)


@st.cache_data(show_spinner=False, max_entries=4)
def repeated_sampling_sources(fp: str) -> list[str]:
    """Sources with repeated-sampling records (n samples and n correct per problem)."""
    return api.sampling_sources(db=store().path)


@st.cache_data(show_spinner=False, max_entries=64)
def simulated_verdicts(sim: pd.DataFrame, n: int, choices: int) -> pd.DataFrame:
    """The verdict and detection lead of each simulated metric (emergence.api.simulated_verdicts)."""
    return api.simulated_verdicts(sim, n, choices)


@st.cache_data(show_spinner=False, max_entries=16)
def vision_summary(cutoff: float) -> pd.DataFrame | None:
    """The vision experiment's shipped results summarised at ``cutoff`` (None if unavailable)."""
    return api.vision_summary(cutoff)


def prediction_view(fp: str, state: ViewState, pred: pd.DataFrame):
    """(rows with series ids, shown fits, curvature counts, predictability summary) of the view's predictions
    (``pred`` = its :func:`table`), cached on the view's table key and form."""
    return _prediction_view(fp, views.table_key(state), state.form, pred)


@st.cache_data(show_spinner=False, max_entries=16)
def _prediction_view(fp: str, key: ViewState, form: str, _pred: pd.DataFrame):
    p, shown, curv = api.prediction_view(_pred, form)
    return p, shown, curv, api.predictability(p, form=form)


def figure(name: str, fp: str, key, build, *args, **kw):
    """``build(*args, **kw)`` (a :mod:`emergence.app.figures` builder), built once per ``(name, fp, key)``
    and shared by every rerun and session: ``key`` must decide the figure (the part of the view its
    frames come from).  Plotly spends far longer building a figure than Streamlit spends sending it."""
    return _figure(name, fp, key, build, args, kw)


@st.cache_resource(show_spinner=False, max_entries=256)
def _figure(name: str, fp: str, key, _build, _args, _kw):
    from emergence.app.figures import fit_layout
    fig = fit_layout(_build(*_args, **_kw))
    fig._emergence_fitted = True
    return fig
