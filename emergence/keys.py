"""What identifies a series, what a filter matches, and the scale axes: each written once.

Pure (pandas only); the store (:mod:`emergence.store`) turns :data:`FILTER_COLUMNS` into SQL,
:func:`match` and :func:`filter_values` apply the same rule to a frame already in memory (the
dashboard's filter options and cascades).

Series key
    :data:`SERIES_KEY`: the columns that, with a scale axis (and on the training axis the
    model), make one series of :func:`emergence.analysis.series.score_observations`.
    :data:`SERIES_ORDER` is the order the series table is sorted in; :data:`GROUP_KEY` is a
    series key without its metric (plus axis and model): the outputs two metrics of one
    pair share (:func:`emergence.analysis.series.compare`, :mod:`emergence.analysis.mirage`).
    :data:`EXAMPLE_GROUP_KEY`: the per-example rows one re-scored observation pools
    (:func:`emergence.analysis.rescore.aggregate_examples`).
Filters
    :data:`FILTERS`: the filters a listing takes.  :data:`FILTER_COLUMNS`: a filter name -> the columns it matches.  ``metric`` matches the
    canonical metric or the source's own spelling (``source_metric``), ``family`` the curated
    family or the source's (``source_family``); values of one filter are OR-ed.
Scale axes
    :data:`SCALE_AXES`, in the order the series table prefers a primary size axis (params,
    then flops, tokens, non-embedding params), then the training axis ``step``.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

__all__ = ["SERIES_KEY", "SERIES_TEXT_KEY", "SERIES_ORDER", "GROUP_KEY", "EXAMPLE_GROUP_KEY", "FILTERS", "FILTER_COLUMNS",
           "match", "filter_wanted", "select", "FilterIndex", "filter_values", "SIZE_AXES", "TRAINING_AXES", "SCALE_AXES", "AXIS_COLUMN"]

#: What makes a series, besides its scale axis (and, on the training axis, the model).
SERIES_KEY = ("source", "task", "subtask", "metric", "source_metric", "family", "shots", "prompt_variant", "variant")
#: The text columns of the key (all but ``shots``).
SERIES_TEXT_KEY = tuple(k for k in SERIES_KEY if k != "shots")
#: The series table's sort order.
SERIES_ORDER = SERIES_TEXT_KEY + ("shots", "scale_axis", "model")
#: The outputs a metric was computed on: a series key without the metric, with axis and model.
GROUP_KEY = ("source", "task", "subtask", "family", "shots", "prompt_variant", "scale_axis", "model")
#: Per-example rows pooled into one re-scored observation.
EXAMPLE_GROUP_KEY = ("source", "task", "subtask", "family", "model", "checkpoint_step", "shots", "prompt_variant")

#: The filters every listing takes (CLI flags, API keywords, dashboard widgets and URL), in this order.
FILTERS = ("source", "task", "subtask", "metric", "family", "shots")

#: filter name -> the column(s) it matches; a metric filter matches metric or source_metric, a
#: family filter family or source_family.
FILTER_COLUMNS: dict[str, tuple[str, ...]] = {
    "source": ("source",),
    "task": ("task",),
    "subtask": ("subtask",),
    "metric": ("metric", "source_metric"),
    "family": ("family", "source_family"),
    "model": ("model",),
    "shots": ("shots",),
    "metric_class": ("metric_class",),
}

#: Size axes, in the order the series table prefers a primary axis; then the training axis.
SIZE_AXES = ("params", "flops", "tokens", "non_embedding_params")
TRAINING_AXES = ("step",)
SCALE_AXES = SIZE_AXES + TRAINING_AXES
#: scale axis -> the observation column holding x.
AXIS_COLUMN = {"params": "params", "flops": "flops", "tokens": "tokens", "non_embedding_params": "non_embedding_params",
               "step": "checkpoint_step"}


def _columns(name: str) -> tuple[str, ...]:
    return FILTER_COLUMNS.get(name, (name,))


def match(df: pd.DataFrame, name: str, values: Iterable) -> pd.Series:
    """Rows of ``df`` that filter ``name`` keeps for ``values`` (OR-ed), by :data:`FILTER_COLUMNS`.

    ``shots`` compares as integers, every other filter as text; a column ``df`` lacks matches nothing.
    """
    values = list(values)
    if name == "shots":
        return pd.to_numeric(df["shots"], errors="coerce").isin([int(v) for v in values])
    want = [str(v) for v in values]
    m = pd.Series(False, index=df.index)
    for c in _columns(name):
        if c in df.columns:
            m |= df[c].astype(str).isin(want)
    return m


def filter_wanted(name: str, values) -> list | None:
    """A filter's values as the store applies them (its SQL, :func:`select`): None when the filter keeps every row
    (no value, or a name that is no filter); else the list of values, where ``''`` is a value only for
    ``subtask`` (the task as a whole) and means no filter elsewhere."""
    if values is None or name not in FILTER_COLUMNS:
        return None
    if not isinstance(values, (list, tuple, set)):
        values = [values]
    values = [v for v in values if v is not None and (v != "" or name == "subtask")]
    return values or None


def select(df: pd.DataFrame, filters: dict | None) -> np.ndarray:
    """The rows of ``df`` the store's query keeps for ``filters`` (a boolean mask): the pandas twin of
    :func:`emergence.store._where`, for a frame already read whole.

    Its rules, as the SQL's: a filter whose value is None, or that names no :data:`FILTER_COLUMNS` entry
    ``df`` has, keeps every row; its values are OR-ed across its columns; ``''`` is a value only for
    ``subtask`` (the task as a whole), elsewhere it means no filter; ``shots`` compares as integers.
    """
    keep = np.ones(len(df), dtype=bool)
    for name, values in (filters or {}).items():
        values = filter_wanted(name, values)
        if values is None or not any(c in df.columns for c in _columns(name)):
            continue
        keep &= match(df, name, values).to_numpy(dtype=bool)
    return keep


class FilterIndex:
    """The filter columns of one frame, each factorized once (a missing value its own code): :meth:`match` is
    :func:`match` and :meth:`values` a column's distinct values under a mask, worked on the distinct values
    rather than every row (the dashboard's filter options on the ~65,000 rows of every series)."""

    def __init__(self, df: pd.DataFrame):
        self.n = len(df)
        self.codes: dict[str, np.ndarray] = {}
        self.uniques: dict[str, pd.Series] = {}
        for name in FILTER_COLUMNS:
            for c in _columns(name):
                if c in df.columns and c not in self.codes:
                    codes, uniq = pd.factorize(df[c], use_na_sentinel=False)
                    self.codes[c] = np.asarray(codes, dtype=np.int64)
                    self.uniques[c] = pd.Series(uniq, dtype=df[c].dtype)

    def match(self, name: str, values: Iterable) -> np.ndarray:
        """:func:`match` of the frame (a boolean array): :func:`match` itself on each column's distinct values."""
        values = list(values)
        m = np.zeros(self.n, dtype=bool)
        for c in _columns(name):
            if c in self.codes:
                m |= match(self.uniques[c].to_frame(c), name, values).to_numpy(dtype=bool)[self.codes[c]]
        return m

    def values(self, column: str, mask: np.ndarray) -> list:
        """The distinct non-missing values of ``column`` in the rows ``mask`` keeps (in no particular order)."""
        seen = np.bincount(self.codes[column][mask], minlength=len(self.uniques[column]))
        u = self.uniques[column].iloc[np.flatnonzero(seen)]
        return u[u.notna()].tolist()


def filter_values(df: pd.DataFrame, name: str) -> list:
    """Every value filter ``name`` can take in ``df`` (each of its :data:`FILTER_COLUMNS`), sorted;
    ints for ``shots``, text otherwise."""
    vals: set = set()
    for c in _columns(name):
        if c in df.columns:
            vals |= set(df[c].dropna().tolist())
    return sorted(int(v) for v in vals) if name == "shots" else sorted(str(v) for v in vals)
