"""A dashboard view: its state <-> URL query parameters <-> API calls <-> CSV.

One :class:`ViewState` describes everything a dashboard view shows: the page, the filters
(source, task, subtask, metric, family, shots), the pivot (rows, columns, cell value), the
scale axis, options, and the fingerprint of the store the view was made on.  It travels
in the URL's query parameters, so a link reproduces the view:

    >>> s = ViewState(page="explorer", task=("arithmetic",), rows="family")
    >>> to_query_params(s)
    {'page': 'explorer', 'task': ['arithmetic'], 'rows': 'family'}
    >>> from_query_params(to_query_params(s))[0] == s
    True

Anything a link may carry is untrusted: :func:`from_query_params` never raises; an
unknown key, a malformed value or an over-long one is dropped with a human-readable
notice, and filter values only ever reach the store as bound parameters.

:func:`table_for` returns exactly the rows a view shows, through the same
:mod:`emergence.api` call the CLI makes, so ``api.to_csv(table_for(state)[1])`` is
byte-identical to the output of :func:`cli_command` (``emergence observations|series|compare|
predict|passuntil|simulate|sources ... --csv -``) for the same filters.  :func:`drill_down` turns an
Explorer cell into a Series view; the analysis of tables (the pivot, the pairs, the plot points) is
:mod:`emergence.app.pivots`' and :mod:`emergence.analysis.mirage`'s, re-exported here for old imports.
"""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, fields, replace
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from emergence import api
from emergence.app.pivots import ALT_COLUMNS, CELL_VALUES, DIMENSIONS, group_label, pivot  # noqa: F401  (the pages' names)
from emergence.keys import FILTERS, match
from emergence.analysis.simulate import DEFAULTS as _SIM

#: a bare Explorer link (no parameter but ``page``) opens on this pivot: metrics, grouped by class,
#: against sources; a link that names its rows or columns opens exactly those (README, 'Explorer').
EXPLORER_DEFAULT = {"rows": "metric", "cols": "source"}

__all__ = ["PAGES", "PAGE_TITLES", "PAGE_TABLE", "DIMENSIONS", "FORMS", "PREDICT_FORMS", "SIM_SCALES", "FILTER_FIELDS", "CELL_VALUES", "MAX_VALUE_LEN", "PAGE_SECTIONS", "section_of", "canonical_section",
           "MAX_VALUES", "ViewState", "from_query_params", "to_query_params", "table_kind", "table_for",
           "table_key", "cli_command", "citations", "pivot", "drill_down", "restrict", "filter_options", "metric_pairs",
           "pair_verdicts", "group_label", "RESCORING_SOURCES"]

#: the Series page's task when a view names none (Schaeffer et al.'s running example)
DEFAULT_TASK = "arithmetic"

#: page url path -> title, in navigation order.
PAGE_TITLES: dict[str, str] = {
    "overview": "Overview",
    "explorer": "Explorer",
    "series": "Series detail",
    "rescoring": "Re-scoring",
    "predictability": "Predictability",
    "simulator": "Mirage simulator",
    "data": "Data",
}
PAGES = tuple(PAGE_TITLES)

#: which table a page shows (and downloads); None: the page shows no store rows.
PAGE_TABLE: dict[str, str | None] = {
    "overview": "series",
    "explorer": "series",
    "series": "observations",
    "rescoring": "pairs",
    "predictability": "predict",
    "simulator": "simulate",
    "data": "sources",
}

#: the filters a view carries (all lists; repeated values are OR-ed, as on the CLI).
FILTER_FIELDS = FILTERS

MAX_VALUE_LEN = 200
#: sources whose outputs are re-scored per example, or that report two metrics of the same outputs
RESCORING_SOURCES = ("inverse-scaling-eval-pipeline", "gpt3-multiplication-tables", "expemergence", "bigbench",
                     "lm-eval-samples")
MAX_VALUES = 100


@dataclass(frozen=True)
class ViewState:
    """Everything one dashboard view shows; hashable, so it can key a cache.

    Filters are tuples (empty = no filter); ``shots`` holds ints.  ``pair`` is the
    re-scoring page's metric pair (``'metric_a|metric_b'``, '' = the first available) and
    ``group`` its selected outputs (a :func:`group_label`);
    ``alpha, log10c, length, choices, n`` are the mirage simulator's sliders and ``cutoff``
    its vision experiment's threshold c; ``form`` the predictability page's scaling form; ``section`` the part of
    a long page that is shown ('' = the page's first, :data:`PAGE_SECTIONS`, :func:`section_of`); ``curve`` the Series
    page's drawn curves (empty = the ones that matter, :data:`emergence.app.figures.MAX_DRAWN` of
    :func:`emergence.app.figures.curve_order`).  ``fp`` is the store fingerprint the view was made on ('' = unknown).
    """

    page: str = "overview"
    source: tuple[str, ...] = ()
    task: tuple[str, ...] = ()
    subtask: tuple[str, ...] = ()
    metric: tuple[str, ...] = ()
    family: tuple[str, ...] = ()
    shots: tuple[int, ...] = ()
    rows: str = "task"
    cols: str = "metric"
    cell: str = "score"
    x: str = "params"
    norm: bool = False
    pair: str = ""
    group: str = ""
    alpha: float = float(_SIM["alpha"])
    log10c: float = float(_SIM["log10c"])
    length: int = int(_SIM["length"])
    choices: int = int(_SIM["n_choices"])
    n: int = int(_SIM["n_examples"])
    cutoff: float = 1.0
    form: str = "preferred"
    section: str = ""
    curve: tuple[str, ...] = ()
    fp: str = ""

    def filters(self) -> dict:
        """The filters as :mod:`emergence.api` keyword arguments (only those set)."""
        return {k: list(getattr(self, k)) for k in FILTER_FIELDS if getattr(self, k)}

    def with_filters(self, **kw) -> "ViewState":
        """A copy with some filters replaced (values coerced to tuples)."""
        clean = {}
        for k, v in kw.items():
            if k not in FILTER_FIELDS:
                raise ValueError(f"not a filter: {k!r}")
            vals = [] if v is None else ([v] if isinstance(v, (str, int, np.integer)) else list(v))
            clean[k] = tuple(int(x) for x in vals) if k == "shots" else tuple(str(x) for x in vals)
        return replace(self, **clean)


_DEFAULT = ViewState()
#: fields that hold lists (repeated keys in the URL): the filters and the Series page's drawn curves
_LIST_FIELDS = FILTER_FIELDS + ("curve",)
#: the forms the dashboard fits for held-out prediction: emergence.predictability.predict's closed forms (fast; the
#: nonlinear sigmoid and offset power law take ~5x longer and stay on the CLI)
PREDICT_FORMS = ("linear", "loglog", "power_law")
#: the predictability page's summary: each series' preferred form, or one form for all
FORMS = ("preferred",) + PREDICT_FORMS
#: the parts of the long pages, one shown at a time (a link names it as ``section``; none = the first): the
#: Overview's verdicts per metric class, per metric, its false-discovery families, the descriptive emergence
#: scores; Re-scoring's metric pairs and its replications; Predictability's held-out predictions and PassUntil law
PAGE_SECTIONS = {"overview": ("class", "metric", "fdr", "score"), "rescoring": ("pairs", "replications"),
                 "predictability": ("predictions", "passuntil")}
#: the simulator's scales, as `emergence simulate` makes them by default: logspace(min, max, n)
SIM_SCALES = (float(_SIM["min_scale"]), float(_SIM["max_scale"]), int(_SIM["n_scales"]))
_CHOICES = {"page": PAGES, "rows": DIMENSIONS, "cols": DIMENSIONS, "cell": CELL_VALUES, "x": api.SCALE_AXES,
            "form": FORMS, "section": tuple(dict.fromkeys(v for t in PAGE_SECTIONS.values() for v in t))}
#: numeric options: field -> (type, min, max)
_NUMBERS = {"alpha": (float, -2.0, -0.01), "log10c": (float, 0.0, 14.0), "length": (int, 1, 100),
            "choices": (int, 2, 26), "n": (int, 1, 100_000), "cutoff": (float, 0.01, 50.0)}
_BOOL_TRUE, _BOOL_FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
KNOWN_KEYS = tuple(f.name for f in fields(ViewState))


def section_of(state: ViewState) -> str:
    """The part of its page a view shows: its ``section`` where the page has it, else the page's first
    (a link made before sections existed, or naming another page's, opens on the first)."""
    sections = PAGE_SECTIONS.get(state.page, ())
    return state.section if state.section in sections else (sections[0] if sections else "")


def canonical_section(page: str, section: str) -> str:
    """The ``section`` a link carries: '' for the page's first (its default) and for one the page lacks."""
    return section if section in PAGE_SECTIONS.get(page, ())[1:] else ""


def _printable(s: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in s)


def _short(v: str, n: int = 40) -> str:
    v = "".join(c if c.isprintable() else "?" for c in v)
    return repr(v if len(v) <= n else v[:n] + "...")


def _number(key: str, v: str):
    kind, lo, hi = _NUMBERS[key]
    x = float(v)                       # ValueError on text
    if not math.isfinite(x):
        raise ValueError("not finite")
    if kind is int:
        if x != int(x):
            raise ValueError("not whole")
        x = int(x)
    if not lo <= x <= hi:
        raise ValueError(f"outside {lo}..{hi}")
    return x


def from_query_params(params: Mapping[str, str | list[str] | tuple[str, ...]] | None
                      ) -> tuple[ViewState, list[str]]:
    """Parse URL query parameters into a :class:`ViewState`; never raises.

    Parameters
    ----------
    params
        key -> value or list of values (repeated keys), e.g. ``st.query_params`` read with
        ``get_all`` or :func:`urllib.parse.parse_qs` output.

    Returns
    -------
    (state, notices)
        ``notices`` says, in words, every key or value that was ignored and why.
    """
    notices: list[str] = []
    kw: dict = {}
    try:
        items = list((params or {}).items())
    except Exception:  # a hostile mapping: treat as empty
        return _DEFAULT, ["ignored the link's parameters: they could not be read"]
    for key, raw in items:
        try:
            key = str(key)
            if isinstance(raw, (list, tuple)):
                values = [str(v) for v in raw]
            else:
                values = [str(raw)]
        except Exception:
            notices.append("ignored a parameter that could not be read")
            continue
        if key not in KNOWN_KEYS:
            notices.append(f"ignored unknown parameter {_short(key)}")
            continue
        good = []
        for v in values:
            if len(v) > MAX_VALUE_LEN:
                notices.append(f"ignored a value of {key!r} longer than {MAX_VALUE_LEN} characters")
            elif not _printable(v):
                notices.append(f"ignored a value of {key!r} with control characters: {_short(v)}")
            else:
                good.append(v)
        if key in _LIST_FIELDS:
            if len(good) > MAX_VALUES:
                notices.append(f"kept the first {MAX_VALUES} of {len(good)} values of {key!r}")
                good = good[:MAX_VALUES]
            out = []
            for v in good:
                if key == "shots":
                    try:
                        k = int(v.strip())
                        if not 0 <= k <= 10_000:
                            raise ValueError
                    except ValueError:
                        notices.append(f"ignored shots={_short(v)}: not a whole number of shots")
                        continue
                    v = k
                elif v == "" and key != "subtask":
                    continue
                if v not in out:
                    out.append(v)
            kw[key] = tuple(out)
            continue
        if not good:
            continue
        if len(good) > 1:
            notices.append(f"{key!r} was given {len(good)} times: used the last value")
        v = good[-1].strip()
        if key in _CHOICES:
            if v not in _CHOICES[key]:
                notices.append(f"ignored {key}={_short(v)}: not one of {', '.join(_CHOICES[key])}")
                continue
            kw[key] = v
        elif key in _NUMBERS:
            try:
                kw[key] = _number(key, v)
            except (ValueError, OverflowError) as e:
                notices.append(f"ignored {key}={_short(v)}: {e}" if str(e) else f"ignored {key}={_short(v)}")
        elif key == "norm":
            if v.lower() in _BOOL_TRUE:
                kw[key] = True
            elif v.lower() in _BOOL_FALSE:
                kw[key] = False
            else:
                notices.append(f"ignored norm={_short(v)}: expected 1 or 0")
        elif key == "fp":
            if v and all(c in "0123456789abcdef" for c in v.lower()) and len(v) <= 64:
                kw[key] = v.lower()
            else:
                notices.append(f"ignored fp={_short(v)}: not a store fingerprint")
        else:  # free text (pair): bounded and printable above; only ever compared, never executed
            kw[key] = v
    state = replace(_DEFAULT, **kw)
    if state.rows == state.cols:
        other = next(d for d in DIMENSIONS if d != state.rows)
        notices.append(f"rows and columns were both {state.rows!r}: columns set to {other!r}")
        state = replace(state, cols=other)
    return state, notices


def to_query_params(state: ViewState) -> dict[str, str | list[str]]:
    """The query parameters of a view: only what differs from the defaults; lists as repeated keys."""
    out: dict[str, str | list[str]] = {}
    for f in fields(ViewState):
        v = getattr(state, f.name)
        if v == getattr(_DEFAULT, f.name):
            continue
        if f.name in _LIST_FIELDS:
            out[f.name] = [str(x) for x in v]
        elif isinstance(v, bool):
            out[f.name] = "1" if v else "0"
        else:
            out[f.name] = str(v)
    return out


#: table kind -> the filters its CLI command takes (passuntil has no metric or shots filter).
_KIND_FILTERS = {"observations": FILTER_FIELDS, "series": FILTER_FIELDS, "compare": FILTER_FIELDS,
                 "pairs": FILTER_FIELDS,
                 "predict": FILTER_FIELDS, "passuntil": ("source", "task", "subtask", "family"),
                 "sources": (), "simulate": ()}
_AXIS_KINDS = ("series", "compare", "pairs", "predict")


def table_kind(state: ViewState) -> str | None:
    """``observations``, ``series``, ``compare``, ``pairs``, ``predict``, ``simulate``, ``sources`` or None."""
    return PAGE_TABLE.get(state.page)


def _simulate_args(state: ViewState) -> dict:
    """The simulator call of a view, exactly as ``emergence simulate`` makes it (its default scales)."""
    return dict(c=float(10 ** state.log10c), alpha=state.alpha, length=state.length, n_choices=state.choices,
                n_examples=state.n, scales=_SIM["scales"], seed=int(_SIM["seed"]))


def table_for(state: ViewState, db=None, kind: str | None = None) -> tuple[str | None, pd.DataFrame]:
    """The rows the view shows, from the same :mod:`emergence.api` call the CLI makes.

    Returns ``(kind, frame)``; ``api.to_csv(frame)`` is what :func:`cli_command` prints.
    ``kind`` overrides the page's table (e.g. ``'passuntil'`` for the predictability page's
    second table).
    """
    kind = kind or table_kind(state)
    f = {k: v for k, v in state.filters().items() if k in _KIND_FILTERS.get(kind, ())}
    if kind == "observations":
        return kind, api.observations(**f, db=db)
    if kind == "series":
        return kind, api.series(**f, x=state.x, db=db)
    if kind == "compare":
        return kind, api.compare(**f, x=state.x, db=db)
    if kind == "pairs":
        return kind, api.pairs(**f, x=state.x, db=db)
    if kind == "predict":
        return kind, api.predict(**f, x=state.x, forms=list(PREDICT_FORMS), db=db)
    if kind == "passuntil":
        return kind, api.passuntil(f.get("source"), f.get("task"), f.get("family"), subtask=f.get("subtask"),
                                   db=db)
    if kind == "sources":
        return kind, api.sources(db=db)
    if kind == "simulate":
        return kind, api.simulate(**_simulate_args(state))
    return kind, pd.DataFrame()


def table_key(state: ViewState, kind: str | None = None) -> ViewState:
    """The part of a view that decides its rows (kind, filters, axis, simulator settings): a cache
    key shared by views that differ only in layout (pivot, cell value, options)."""
    kind = kind or table_kind(state)
    page = next((p for p, k in PAGE_TABLE.items() if k == kind), state.page)
    keep = {k: getattr(state, k) for k in _KIND_FILTERS.get(kind, ())}
    if kind in _AXIS_KINDS:
        keep["x"] = state.x
    if kind == "simulate":
        keep.update({k: getattr(state, k) for k in ("alpha", "log10c", "length", "choices", "n")})
    return replace(_DEFAULT, page=page, **keep)


_CLI_FLAG = {"source": "--source", "task": "--task", "subtask": "--subtask", "metric": "--metric",
             "family": "--family", "shots": "--shots"}


def cli_command(state: ViewState, db=None, kind: str | None = None) -> str:
    """The ``emergence`` command whose ``--csv -`` output equals this view's download."""
    kind = kind or table_kind(state)
    if kind is None:
        return ""
    parts = ["emergence"]
    if db is not None:
        parts += ["--db", str(db)]
    parts.append(kind)
    for k, v in state.filters().items():
        if k in _KIND_FILTERS.get(kind, ()):
            for x in v:
                parts += [_CLI_FLAG[k], str(x)]
    if kind in _AXIS_KINDS and state.x != "params":
        parts += ["--x", state.x]
    if kind == "predict":
        for form in PREDICT_FORMS:
            parts += ["--form", form]
    if kind == "simulate":
        a = _simulate_args(state)
        parts += ["--c", repr(a["c"]), "--alpha", repr(a["alpha"]), "--length", str(a["length"]),
                  "--choices", str(a["n_choices"]), "--n", str(a["n_examples"])]
    parts += ["--csv", "-"]
    return shlex.join(parts)


def citations(frame: pd.DataFrame, sources: pd.DataFrame) -> pd.DataFrame:
    """Citation, license and URL of every source that has rows in ``frame`` (``sources`` = api.sources())."""
    cols = ["source", "citation", "license", "url"]
    if frame is None or "source" not in getattr(frame, "columns", []) or sources is None or sources.empty:
        return pd.DataFrame(columns=cols)
    names = {str(v) for v in frame["source"].dropna().unique()}
    out = sources[sources["source"].isin(names)]
    return out[[c for c in cols if c in out.columns]].reset_index(drop=True)


def drill_down(state: ViewState, row_value, col_value) -> ViewState:
    """The series-detail view of one explorer cell: the cell's two values become filters."""
    kw = {state.rows: [row_value], state.cols: [col_value]}
    return replace(state, page="series").with_filters(**kw)


def filter_options(series_keys: pd.DataFrame, state: ViewState, index=None) -> dict[str, list]:
    """Per filter: the values present given the *other* filters, plus the ones already selected.

    ``series_keys`` is any frame with the filter columns (e.g. the series table); ``index``: its
    :class:`emergence.keys.FilterIndex`, where the caller keeps one (the same options, ~1.5-2x quicker).
    """
    out: dict[str, list] = {}
    if series_keys is None or series_keys.empty:
        return {k: list(getattr(state, k)) for k in FILTER_FIELDS}
    # each set filter's rows, matched once (not once per other filter: this runs on every new view)
    matched = {f: (index.match(f, getattr(state, f)) if index is not None
                   else _match(series_keys, f, getattr(state, f)).to_numpy(dtype=bool))
               for f in FILTER_FIELDS if getattr(state, f) and f in series_keys.columns}
    for k in FILTER_FIELDS:
        if k not in series_keys.columns:
            out[k] = list(getattr(state, k))
            continue
        mask = np.ones(len(series_keys), dtype=bool)
        for other, rows in matched.items():
            if other != k:
                mask &= rows
        vals = index.values(k, mask) if index is not None else series_keys.loc[mask, k].dropna().unique().tolist()
        vals = sorted({(int(v) if k == "shots" else str(v)) for v in vals} | set(getattr(state, k)))
        out[k] = vals
    return out


_match = match    # emergence.keys: the one metric/family alternate-column rule


def restrict(state: ViewState, known: Mapping[str, Iterable]) -> tuple[ViewState, list[str]]:
    """Drop filter values the store does not hold (``known``: filter -> every value in the store)."""
    notices, kw = [], {}
    for k in FILTER_FIELDS:
        sel = getattr(state, k)
        if not sel or k not in known:
            continue
        allowed = set(known[k])
        keep = tuple(v for v in sel if v in allowed)
        dropped = [v for v in sel if v not in allowed]
        if dropped:
            notices.append(f"this store has no {k} " + ", ".join(_short(str(v)) for v in dropped[:5])
                           + (f" (and {len(dropped) - 5} more)" if len(dropped) > 5 else "") + ": ignored")
            kw[k] = keep
    return (replace(state, **kw) if kw else state), notices


def rescoring_default(state: ViewState, present: Iterable[str]) -> ViewState:
    """The Re-scoring page with no source filter: the sources re-scored per example that the store holds
    (:data:`RESCORING_SOURCES`); unchanged when it has a filter or none of them is present."""
    if state.source:
        return state
    default = [s for s in RESCORING_SOURCES if s in set(present)]
    return state.with_filters(source=default) if default else state


def pair_metrics(pair: str) -> list[str]:
    """The two metric names of a pair ``'a|b'`` as filters (a reading such as ``edit_distance[tokens=digits]``
    filters by its metric, ``edit_distance``)."""
    return [m.split("[")[0] for m in pair.split("|", 1)]


def outputs_view(group, x: str) -> ViewState:
    """The Series detail view of one set of outputs (a compare group row: source, task, subtask, family, shots)."""
    shots = group.get("shots")
    return ViewState(page="series", source=(str(group["source"]),), task=(str(group["task"]),),
                     subtask=(str(group.get("subtask") or ""),), family=(str(group["family"]),),
                     shots=() if shots is None or str(shots) in ("<NA>", "nan", "None") else (int(shots),), x=x)


# the pairs live in the pure analysis layer; kept importable from here for the pages
from emergence.analysis.mirage import metric_pairs, pair_verdicts  # noqa: E402
