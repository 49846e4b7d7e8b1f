"""The Python API: the functions the CLI and the dashboard call, returning DataFrames.

Every listing takes the same filters (repeated values are OR-ed; ``family`` matches the
curated family or the source's spelling, ``metric`` the canonical name or the source's)::

    import emergence
    emergence.observations(source="expemergence", task="arithmetic")
    emergence.analysis.series(source="expemergence", x="params")
    emergence.compare(task="arithmetic")

:func:`to_csv` is the one serialiser behind ``--csv`` and the dashboard's download
button, so an export is byte-identical to the CLI's output for the same filters.
"""
from __future__ import annotations

import os
from typing import Iterable

import pandas as pd

from emergence.app.pivots import (count_predictable, group_label, insufficient_reasons, pair_points, pivot,  # noqa: F401
                     pivot_order, rank_groups, select_rows)
from emergence.keys import SCALE_AXES as _SCALE_AXES
from emergence.keys import SERIES_KEY
from emergence.store import Store
from emergence.analysis.verdict import FDR_LEVEL, WIDTH_THRESHOLD  # noqa: F401  (the verdict's thresholds, for the pages' text)

__all__ = ["FILTERS", "SCALE_AXES", "observations", "sources", "data_issues", "series", "compare",
           "compare_series", "summary", "pairs", "series_pairs", "headline", "pair_summary",
           "multiplication_by_digits", "replications", "predict", "passuntil", "rescore",
           "grade_vs_brier", "simulate", "to_csv", "get_store",
           # the dashboard's reads (each a DataFrame or a named result; the pages call nothing else)
           "all_series", "filter_values", "filter_index", "scale_coverage", "fdr_families", "series_points",
           "plot_points", "point_index", "points_within", "series_within", "pair_index", "pairs_within",
           "curve_verdicts", "in_curve_order", "sampling_sources", "pass_rates", "simulated_verdicts",
           "simulated_long", "vision_summary", "missing_sources",
           "prediction_view", "predictability", "PREDICT_KEY", "FDR_LEVEL", "WIDTH_THRESHOLD",
           # pure helpers over those frames (emergence.app.pivots)
           "pivot", "pivot_order", "count_predictable", "rank_groups", "select_rows", "insufficient_reasons",
           "group_label", "pair_points"]

FILTERS = ("source", "task", "metric", "family", "shots", "subtask")
#: emergence.keys.SCALE_AXES (``non_embedding_params``: BIG-bench's own size axis, ModelData.non_embedding_params;
#: only BIG-bench has it).
SCALE_AXES = _SCALE_AXES

_stores: dict[str, Store] = {}


def get_store(db: str | os.PathLike | None = None) -> Store:
    """One :class:`Store` per path per process (its read connection follows ingest swaps)."""
    s = Store(db)
    key = str(s.path)
    if key not in _stores:
        _stores[key] = s
    return _stores[key]


def _as_list(v) -> list | None:
    if v is None:
        return None
    if isinstance(v, (str, int)):
        return [v]
    return list(v)


def _filters(source=None, task=None, metric=None, family=None, shots=None, subtask=None) -> dict:
    return {k: _as_list(v) for k, v in
            dict(source=source, task=task, metric=metric, family=family, shots=shots, subtask=subtask).items()
            if v is not None}


def observations(source: str | Iterable[str] | None = None, task=None, metric=None, family=None, shots=None, *,
                 subtask=None, columns=None, db=None) -> pd.DataFrame:
    """The filtered long observation table (every column of :data:`emergence.ingestion.schema.OBSERVATION_COLUMNS`,
    or only ``columns``)."""
    return get_store(db).observations(_filters(source, task, metric, family, shots, subtask), columns=columns)


def sources(*, db=None) -> pd.DataFrame:
    """Per source: files, families, models, tasks, metrics, observations, license, issue counts by kind."""
    store = get_store(db)
    df = store.sources()
    counts = store.issue_counts()
    if len(counts):
        wide = counts.pivot_table(index="source", columns="kind", values="n", aggfunc="sum", fill_value=0)
        summary = wide.apply(lambda r: ", ".join(f"{k}={int(v)}" for k, v in r.items() if v), axis=1)
        df["data_issues"] = df["source"].map(summary).fillna("")
    else:
        df["data_issues"] = ""
    return df


def data_issues(source=None, *, db=None) -> pd.DataFrame:
    """Every recorded data issue (file, row, field, value, what the documented rule did)."""
    return get_store(db).data_issues(_as_list(source))


def series(source=None, task=None, metric=None, family=None, shots=None, *, x: str = "params",
           subtask=None, db=None) -> pd.DataFrame:
    """One row per scored series on scale axis ``x`` (computed once after ingest; see :mod:`emergence.analysis.series`)."""
    if x not in SCALE_AXES:
        raise ValueError(f"x must be one of {SCALE_AXES}, got {x!r}")
    return get_store(db).series(_filters(source, task, metric, family, shots, subtask), scale_axis=x)


def compare(source=None, task=None, metric=None, family=None, shots=None, *, x: str = "params",
            subtask=None, db=None) -> pd.DataFrame:
    """The paired 'same outputs, different metric' table over the filtered series."""
    return compare_series(series(source, task, None, family, shots, x=x, subtask=subtask, db=db), metric)


def compare_series(scores: pd.DataFrame, metric=None) -> pd.DataFrame:
    """:func:`compare` of series already read (:func:`series` with the same filters but none on the metric:
    a pair is kept when either of its metrics is one of ``metric``)."""
    from emergence.analysis.mirage import with_metric
    from emergence.analysis.series import compare as _compare
    out = _compare(scores)
    if metric is not None and len(out):
        out = out[with_metric(out, _as_list(metric))].reset_index(drop=True)
    return out


def summary(source=None, task=None, metric=None, family=None, shots=None, *, x: str = "params",
            subtask=None, db=None) -> dict[str, pd.DataFrame]:
    """Per metric and per metric class: the share called emergent over the decidable series, with
    task-bootstrap intervals, and how many series are in each state (:func:`emergence.analysis.mirage.shares`)."""
    from emergence.analysis.mirage import shares
    s = series(source, task, metric, family, shots, x=x, subtask=subtask, db=db)
    return {"metric": shares(s, "metric"), "metric_class": shares(s, "metric_class")}


def pairs(source=None, task=None, metric=None, family=None, shots=None, *, x: str = "params",
          subtask=None, db=None) -> pd.DataFrame:
    """Same outputs, a thresholded and a continuous metric: one row per pair with both verdicts and the
    detection lead (:func:`emergence.analysis.mirage.metric_pairs`)."""
    return series_pairs(series(source, task, None, family, shots, x=x, subtask=subtask, db=db), metric)


def series_pairs(scores: pd.DataFrame, metric=None) -> pd.DataFrame:
    """:func:`pairs` of series already read (:func:`series` with the same filters but none on the metric)."""
    from emergence.analysis.mirage import metric_pairs
    return metric_pairs(compare_series(scores, metric))


def pair_index(scores: pd.DataFrame):
    """The paired tables of a whole series table of one axis (:func:`series` with no filter), computed once
    (:func:`emergence.analysis.mirage.pair_index`): :func:`pairs_within` reads any view's pairs from it."""
    from emergence.analysis.mirage import pair_index as _index
    return _index(scores)


def pairs_within(index, filters: dict | None) -> pd.DataFrame:
    """:func:`pairs` of a view (``filters``: as :func:`pairs` takes them), read from a :func:`pair_index`: the
    same rows and values in the same order (:func:`emergence.analysis.mirage.pairs_within`)."""
    from emergence.analysis.mirage import pairs_within as _within
    return _within(index, filters)


def headline(source=None, task=None, metric=None, family=None, shots=None, *, x: str = "params",
             subtask=None, db=None):
    """What the paired outputs say, in numbers and one sentence (:func:`emergence.analysis.mirage.headline`)."""
    from emergence.analysis.mirage import headline as _headline
    return _headline(pairs(source, task, metric, family, shots, x=x, subtask=subtask, db=db))


def pair_summary(pairs: pd.DataFrame):
    """``(verdicts per metric pair, headline)`` of :func:`pairs`' rows (:func:`emergence.analysis.mirage.pair_verdicts`,
    :func:`emergence.analysis.mirage.headline`)."""
    from emergence.analysis.mirage import headline as _headline, pair_verdicts
    return pair_verdicts(pairs), _headline(pairs)


def multiplication_by_digits(*, family: str = "InstructGPT", db=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Schaeffer et al. Fig. 3 on real completions: exact match and character edit distance of the same
    InstructGPT multiplication outputs per operand-digit split, and per split the verdicts and the
    detection lead (:mod:`emergence.analysis.replications`).  Empty frames when the source is not in the store."""
    from emergence.analysis.replications import multiplication_by_digits as by_digits, multiplication_verdicts
    ex = get_store(db).examples({"source": ["gpt3-multiplication-tables"]})
    b = by_digits(ex, family=family)
    return b, (multiplication_verdicts(b) if len(b) else pd.DataFrame())


def replications(*, x: str = "params", db=None) -> list[tuple[str, pd.DataFrame]]:
    """The same-output comparisons the README reports (:data:`emergence.analysis.replications.PAIR_REPLICATIONS`):
    per comparison, how the verdicts of its pairs combine and their detection leads."""
    from emergence.analysis.replications import PAIR_REPLICATIONS, pair_replication
    p = pairs(x=x, db=db)
    return [(title, pair_replication(p, source, names)) for title, source, names in PAIR_REPLICATIONS]


def predict(source=None, task=None, metric=None, family=None, shots=None, *, x: str = "params",
            subtask=None, forms: list[str] | None = None, db=None) -> pd.DataFrame:
    """Held-out prediction of the largest scale of every filtered series with >= 4 scales.

    One row per (series, applicable form): parameters, predicted and actual value at the held-out
    scale, error, curvature class (see :func:`emergence.predictability.predict.held_out_predictions`).
    """
    from emergence.predictability.predict import held_out_predictions
    from emergence.analysis.series import build_series_points
    if x not in SCALE_AXES:
        raise ValueError(f"x must be one of {SCALE_AXES}, got {x!r}")
    obs = get_store(db).observations(_filters(source, task, metric, family, shots, subtask), scoring_only=True)
    points = build_series_points(obs, axis=x)
    if points.empty:
        return pd.DataFrame()
    return held_out_predictions(points, forms=forms, key=PREDICT_KEY)


def passuntil(source=None, task=None, family=None, *, level: str = "task", subtask=None,
              design: str = "fixed_n", confidence: float = 0.95, db=None) -> pd.DataFrame:
    """PassUntil-style estimates from repeated-sampling records (Hu et al. 2023).

    ``level='instance'``: per instance and model, samples K (n), passes r (c), PU and its interval;
    ``level='task'``: per task and family, the law log(-log PU) = log c - alpha log N fitted on all
    sizes but the largest, and its prediction of the largest.  A task is shown as ``task/subtask``
    where the source splits it (monkeys-powerlaws: one subtask per file, different problem sets).
    ``design``: ``fixed_n`` (n samples drawn, c passed: binomial interval, as monkeys-powerlaws) or
    ``until_pass`` (records of sampling until r passes in K draws, ingested as ``n_samples`` = K and
    ``n_correct`` = r: negative-binomial interval).  The task law is the same for both: the binomial and
    negative-binomial likelihoods of PU are proportional, so the maximum-likelihood fit does not change.
    """
    from emergence.predictability import passuntil as pu
    ex = _sampling(_filters(source, task, None, family, None, subtask), db)
    if ex.empty:
        return pd.DataFrame()
    if level == "instance":
        return pu.instance_estimates(ex, design=design, confidence=confidence)
    if level == "task":
        return pu.passuntil_predictions(ex, confidence=confidence, design=design)
    raise ValueError(f"level must be 'instance' or 'task', got {level!r}")


def _sampling(filters: dict | None, db) -> pd.DataFrame:
    """Repeated-sampling records (final checkpoints) with a subtask folded into its task as ``task/subtask``
    (a subtask is its own experiment: monkeys-powerlaws has one problem set per file)."""
    ex = get_store(db).sampling_counts(filters or None)
    if ex.empty:
        return ex
    ex["task"] = ex["task"].where(ex["subtask"].fillna("") == "", ex["task"] + "/" + ex["subtask"].fillna(""))
    return ex.drop(columns=["subtask"])


def rescore(source=None, task=None, family=None, *, subtask=None, model=None, n_boot: int = 1000,
            confidence: float = 0.95, db=None) -> pd.DataFrame:
    """Re-score the stored per-example outputs, with bootstrap intervals over examples.

    The same rows the ingest stores as ``rescored:<metric>`` observations (Brier score and grade from
    choice probabilities, exact match and edit distance from strings, pass rate, mean NLL), plus
    ``ci_low`` / ``ci_high``: a percentile bootstrap over each group's examples (``n_boot`` replicates).
    """
    from emergence.analysis.rescore import aggregate_examples
    filters = _filters(source, task, None, family, None, subtask)
    if model is not None:
        filters["model"] = _as_list(model)
    ex = get_store(db).examples(filters)
    if ex.empty:
        return pd.DataFrame()
    return aggregate_examples(ex, n_boot=n_boot, confidence=confidence)


#: Columns of :func:`grade_vs_brier`, in order.
GRADE_BRIER_COLUMNS = ["source", "task", "family", "model", "shots", "params", "non_embedding_params",
                       "multiple_choice_grade", "multiple_choice_grade_stderr", "random_baseline", "brier_score",
                       "brier_score_stderr", "n_examples"]


def grade_vs_brier(task=None, family=None, shots=None, *, source="bigbench", db=None) -> pd.DataFrame:
    """Multiple choice grade and Brier score of the same outputs, per task, family, model and shots
    (Schaeffer et al. 2023, Fig. 6: BIG-G, the LaMDA family, on BIG-bench).

    Both are re-computed here from the per-choice log-probabilities of the stored examples (for
    BIG-bench: the BIG-G full logs, ``emergence ingest bigbench --full-logs``), pooled over the
    task's subtasks (every multiple-choice example of the task counts once), by
    :meth:`emergence.store.Store.rescore_choices`: softmax over each question's choices, grade 1
    only for a strict argmax on the right choice, multi-class Brier ``sum_k (p_k - y_k)^2`` in
    [0, 2]; ``stderr`` = sd / sqrt(n) over examples; ``random_baseline`` = mean of 1 / choices.

    Returns
    -------
    pandas.DataFrame
        One row per (source, task, family, model, shots), columns :data:`GRADE_BRIER_COLUMNS`,
        sorted by task, family, shots and size.
    """
    filters = _filters(source, task, None, family, shots, None)
    by = ["source", "task", "family", "model", "shots", "params", "non_embedding_params"]
    long = get_store(db).rescore_choices(by=by, filters=filters)
    if long.empty:
        return pd.DataFrame(columns=GRADE_BRIER_COLUMNS)
    grade = long[long["metric"] == "multiple_choice_grade"].rename(columns={
        "value": "multiple_choice_grade", "stderr": "multiple_choice_grade_stderr"})
    brier = long[long["metric"] == "brier_score"].rename(columns={"value": "brier_score",
                                                                 "stderr": "brier_score_stderr"})
    # one group, one row of each (the grade and the multi-class Brier need the same inputs)
    out = grade[by + ["multiple_choice_grade", "multiple_choice_grade_stderr", "random_baseline", "n_examples"]] \
        .merge(brier[by + ["brier_score", "brier_score_stderr"]], on=by, how="outer")
    out = out.sort_values(["task", "family", "shots", "params", "model"], na_position="last", kind="stable")
    return out[GRADE_BRIER_COLUMNS].reset_index(drop=True)


def simulate(**params) -> pd.DataFrame:
    """The mirage simulator (Schaeffer et al. 2023 Sec. 2): see :func:`emergence.analysis.simulate.simulate`."""
    from emergence.analysis.simulate import simulate as _simulate
    return _simulate(**params)


def to_csv(df: pd.DataFrame) -> bytes:
    """The one CSV serialiser (UTF-8, ``\\n`` line ends, no index)."""
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


# ---------------------------------------------------------------- the dashboard's reads
#: the columns that name one series of held-out predictions (:func:`predict`'s rows)
PREDICT_KEY = [*SERIES_KEY, "series_model", "scale_axis"]


def all_series(*, db=None) -> pd.DataFrame:
    """Every series row on every scale axis (the filter options and the coverage tables come from it)."""
    return get_store(db).series()


def filter_values(*, db=None) -> dict[str, list]:
    """Every value of each filter the store holds (metric and family with the sources' own spellings)."""
    return _pivots().filter_values(all_series(db=db), FILTERS)


def filter_index(series: pd.DataFrame):
    """The filter columns of ``series`` (e.g. :func:`all_series`) factorized once, for
    :func:`emergence.app.views.filter_options` (:class:`emergence.keys.FilterIndex`)."""
    from emergence.keys import FilterIndex
    return FilterIndex(series)


def scale_coverage(*, db=None) -> pd.DataFrame:
    """Per source and scale axis: how many series have >= 3 distinct scales (:func:`emergence.app.pivots.scale_coverage`)."""
    return _pivots().scale_coverage(all_series(db=db))


def fdr_families(*, db=None) -> pd.DataFrame:
    """The store's false-discovery families (:func:`emergence.analysis.mirage.fdr_families`)."""
    from emergence.analysis.mirage import fdr_families as _fdr
    return _fdr(all_series(db=db))


def series_points(source=None, task=None, metric=None, family=None, shots=None, *, x: str = "params",
                  subtask=None, db=None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The points of every filtered series on axis ``x`` and a legend per curve (its verdict and score):
    :func:`emergence.app.pivots.series_plot_frame` over :func:`observations` and :func:`series`."""
    obs = observations(source, task, metric, family, shots, subtask=subtask, db=db)
    scores = series(source, task, metric, family, shots, x=x, subtask=subtask, db=db)
    return plot_points(obs, scores, x=x)


def plot_points(obs: pd.DataFrame, scores: pd.DataFrame, *, x: str = "params") -> tuple[pd.DataFrame, dict[str, str]]:
    """:func:`series_points` of frames already read: ``obs`` from :func:`observations` and ``scores`` from
    :func:`series` with the same filters (the dashboard has both cached)."""
    if x not in SCALE_AXES:
        raise ValueError(f"x must be one of {SCALE_AXES}, got {x!r}")
    return _pivots().series_plot_frame(obs, x, scores)


def point_index(*, x: str = "params", db=None):
    """Each series' points on axis ``x``, for the whole store, computed once (read source by source, so the
    largest source's observations are the most held at a time): :func:`points_within` reads any view's
    :func:`plot_points` from it (:func:`emergence.app.pivots.point_index`)."""
    if x not in SCALE_AXES:
        raise ValueError(f"x must be one of {SCALE_AXES}, got {x!r}")
    from emergence.analysis.series import POINT_INPUTS
    rows = get_store(db).source_rows()
    sources = sorted(str(s) for s in rows["name"]) if "name" in rows.columns else []
    # the columns the points are made of: half the time of reading every column
    return _pivots().point_index((observations(source=[s], columns=POINT_INPUTS, db=db) for s in sources), x)


def points_within(index, filters: dict | None, scores: pd.DataFrame, *, with_series: bool = False):
    """:func:`plot_points` of a view (``filters`` as :func:`series_points` takes them; ``scores``: the view's
    :func:`series`), read from a :func:`point_index`; None where the view could cut a series (the caller then
    computes :func:`plot_points`; :func:`emergence.app.pivots.points_within`).  ``with_series``: third, its
    :func:`curve_verdicts` (all curves), from the same match the legends come from."""
    return _pivots().points_within(index, filters, scores, with_series=with_series)


def series_within(scores: pd.DataFrame, filters: dict | None) -> pd.DataFrame:
    """:func:`series` of a view (``filters`` as :func:`series` takes them) from the whole axis' series table
    already read (:func:`series` with no filter): the same rows in the same order, by the store's filter rule
    (:func:`emergence.keys.select`); column types the whole table's."""
    from emergence.keys import select
    return scores[select(scores, filters)].reset_index(drop=True)


def curve_verdicts(points: pd.DataFrame, scores: pd.DataFrame, curves=None) -> pd.DataFrame:
    """The series (``scores``' rows) behind the curves of :func:`plot_points`' ``points``, each with the ``curve``
    it is drawn as: a row per curve and metric, so each metric's verdict of the same outputs is its own
    (``curves``: only these, in this order; :func:`emergence.app.pivots.curve_series`)."""
    return _pivots().curve_series(points, scores, curves)


def in_curve_order(table: pd.DataFrame, curves) -> pd.DataFrame:
    """The rows of :func:`curve_verdicts`' ``table`` of these ``curves``, in their order."""
    return _pivots().in_curve_order(table, curves)


def sampling_sources(*, db=None) -> list[str]:
    """Sources with repeated-sampling records (n samples and n correct per problem)."""
    ex = get_store(db).sampling_counts()
    return sorted(ex["source"].unique()) if len(ex) else []


def pass_rates(source=None, *, db=None) -> pd.DataFrame:
    """Task pass rate per size (mean of c/n over problems) for the PassUntil chart: the same records and
    task naming as :func:`passuntil` (:func:`emergence.predictability.passuntil.task_pass_rates`)."""
    from emergence.predictability.passuntil import task_pass_rates
    ex = _sampling(_filters(source), db)
    return pd.DataFrame() if ex.empty else task_pass_rates(ex)


def simulated_verdicts(sim: pd.DataFrame, n_examples: int, n_choices: int) -> pd.DataFrame:
    """The verdict and detection lead of each simulated metric (:func:`emergence.analysis.simulate.simulated_verdicts`)."""
    from emergence.analysis.simulate import simulated_verdicts as _verdicts
    return _verdicts(sim, n_examples, n_choices)


def simulated_long(sim: pd.DataFrame) -> pd.DataFrame:
    """The simulator's table, one row per (scale, metric) (:func:`emergence.analysis.simulate.long_form`)."""
    from emergence.analysis.simulate import long_form
    return long_form(sim)


def vision_summary(cutoff: float) -> pd.DataFrame | None:
    """The vision experiment's shipped results summarised at ``cutoff`` (Schaeffer et al. Sec. 5); None
    when :mod:`emergence.analysis.vision` or its shipped results are not in this build."""
    import importlib
    try:
        vision = importlib.import_module("emergence.analysis.vision")
    except ModuleNotFoundError as e:
        if e.name and "emergence.analysis.vision".startswith(e.name):
            return None
        raise
    if not vision.SHIPPED_RESULTS.exists():
        return None
    return vision.summarise(vision.load_results(), cutoffs=[cutoff])


def missing_sources(present) -> list[dict]:
    """The catalogue sources not in ``present``: name, description, license and how to add each (Markdown)."""
    from emergence.ingestion import catalog
    out = []
    for name, spec in catalog.CATALOG.items():
        if name in set(present):
            continue
        files = ", ".join(f"`{f}`" for f in spec.files) or "see the docs"  # code: Markdown would eat a glob's *
        if spec.downloadable and spec.fetch == "git":
            how = (f"`emergence ingest {spec.name}` (a sparse clone of {spec.repo}'s `{spec.ref}`, resolved to one "
                   f"commit: only {files})" + (" — add `--full-logs` for the per-query logs (large)"
                                               if spec.lfs_files else ""))
        elif spec.downloadable:
            how = f"`emergence ingest {spec.name}` (downloads {files} from {spec.repo} at `{spec.commit[:8]}`)"
        else:
            how = f"`emergence ingest PATH` with your own copy ({files})"
        out.append({"name": spec.name, "description": spec.description, "license": spec.license, "how": how})
    return out


def prediction_view(pred: pd.DataFrame, form: str = "preferred"):
    """:func:`predict`'s rows as the Predictability page shows them (:func:`emergence.app.pivots.prediction_view`):
    ``(rows with a series_id, the shown fits of ``form``, counts per metric and curvature class)``."""
    return _pivots().prediction_view(pred, form, PREDICT_KEY)


def predictability(pred: pd.DataFrame, form: str = "preferred"):
    """Median held-out errors per metric and class (:func:`emergence.predictability.predict.predictability`; ``pred``
    with a ``series_id``, as :func:`prediction_view` gives it)."""
    from emergence.predictability.predict import predictability as _predictability
    return _predictability(pred, form=form)


def _pivots():
    from emergence.app import pivots
    return pivots
