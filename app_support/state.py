"""The view state in the URL, and the widgets bound to it (:mod:`emergence.app.views` does the parsing).

Widgets write the state back from their ``on_change`` callbacks, so a link always reproduces
what is on screen.
"""
from __future__ import annotations

from dataclasses import replace

import streamlit as st

from emergence.app import views
from emergence.app.views import ViewState

from .queries import fingerprint, known_values, options

FILTER_LABELS = {"source": "Source", "task": "Task", "subtask": "Subtask", "metric": "Metric", "family": "Family",
                 "shots": "Shots"}


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
    if page == "explorer" and not (set(params) - {"page"}):
        # a bare Explorer link opens on the pivot that answers the question (README, 'Explorer')
        state = replace(state, **views.EXPLORER_DEFAULT)
    state = replace(state, page=page)
    # a long page's first section is its default, and another page's section means nothing here: neither in the link
    state = replace(state, section=views.canonical_section(page, state.section))
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


def section(state: ViewState, labels: dict[str, str], *, where=st) -> str:
    """The page's part to show (:data:`emergence.app.views.PAGE_SECTIONS`): a horizontal radio bound to the view's
    ``section``; the page's first part is the default and leaves the link without one."""
    options = list(views.PAGE_SECTIONS[state.page])
    key = f"w_{state.page}_section"
    sync_widget(key, views.section_of(state))
    where.radio("Show", options, key=key, format_func=labels.get, horizontal=True, label_visibility="collapsed",
                on_change=_on_change("section", key, lambda v: views.canonical_section(state.page, v)))
    return views.section_of(state)


def curves(state: ViewState, order: list[str], default_n: int, *, where=None) -> tuple[ViewState, list[str]]:
    """The Series page's drawn curves: a multiselect over every curve of the view (``order``:
    :func:`emergence.app.figures.curve_order`), bound to the view's ``curve``.  Its first ``default_n`` are
    drawn when the view names none; choosing exactly those, or none, stores nothing in the URL (the
    default), and a link's curves the view no longer has are dropped from it.  Returns the view (so
    corrected) and the curves to draw."""
    where = where or st.sidebar
    default = list(order[:default_n])
    chosen = [c for c in order if c in set(state.curve)]
    if tuple(chosen) != state.curve:
        state = set_view(replace(state, curve=tuple(chosen)))
    chosen = chosen or default
    key = "w_series_curve"
    sync_widget(key, chosen)

    def cb():
        sel = set(map(str, st.session_state[key]))
        commit(curve=() if not sel or sel == set(default) else tuple(c for c in order if c in sel))

    where.multiselect("Curves drawn", order, key=key, on_change=cb, placeholder=f"the first {default_n}",
                      help=f"Every curve of this view, emergent first, then by how much of its panel's range it "
                           f"spans; the first {default_n} are drawn unless you choose others (the link keeps them)")
    return state, chosen


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


def set_view(state: ViewState) -> ViewState:
    """Replace the current view (a page's own normalisation, e.g. a default task) and write the URL."""
    st.session_state["_view"] = state
    _write_url(state)
    return state
