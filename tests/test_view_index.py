"""A view's pairs and points read from whole-axis indexes equal the view's own computation.

Series detail used to pair and plot each new view's series on their own (~100 ms of pandas per view);
it now reads them from :func:`emergence.api.pair_index` and :func:`emergence.api.point_index`, computed
once per store and axis.  These tests hold the two paths to the same answer: the filter rule
(:func:`emergence.keys.select` against the store's SQL), the pairs (same rows, values and order), and
the points (the same frame and legends; ``y`` within a few units in the last place, see
:func:`emergence.app.pivots.points_within`), on the fixture store and on the real one over many views.
"""
from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from emergence import api
from emergence.app import pivots
from emergence.analysis.mirage import PAIR_COLUMNS, pair_index, pairs_within
from emergence.keys import select


def _views(db, n: int, seed: int, x: str = "params") -> list[dict]:
    """``n`` filter sets drawn from the store's own series (one to three filters, values that exist), and the
    kinds a researcher sets by hand: a metric filter, the task as a whole, a value that is not there."""
    whole = api.series(x=x, db=db)
    cmb = whole[["source", "task", "family", "subtask", "shots", "metric"]].drop_duplicates()
    rng = random.Random(seed)
    out: list[dict] = [{}]
    for _ in range(n):
        r = cmb.iloc[rng.randrange(len(cmb))]
        keys = rng.sample(["source", "task", "family", "subtask", "shots", "metric"], rng.randint(1, 3))
        out.append({k: [int(r[k]) if k == "shots" else r[k]] for k in keys if pd.notna(r[k])})
    task = str(cmb["task"].iloc[0])
    out += [{"task": [task]}, {"task": [task], "subtask": [""]}, {"metric": [str(cmb["metric"].iloc[0])]},
            {"family": ["no such family"]}, {"task": [task], "metric": []}]
    return out


def _series_tasks(db, n: int, seed: int, x: str) -> list[dict]:
    """Series detail's views: one task, and up to two of its other filters."""
    return [dict(v, task=[t]) for v in _views(db, n, seed, x)
            for t in ([v["task"][0]] if "task" in v else api.series(**v, x=x, db=db)["task"].head(1).tolist())]


def _same_pairs(db, x: str, views: list[dict]) -> int:
    idx = pair_index(api.series(x=x, db=db))
    nonempty = 0
    for f in views:
        rest = {k: v for k, v in f.items() if k != "metric"}
        want = api.series_pairs(api.series(**rest, x=x, db=db), f.get("metric"))
        got = pairs_within(idx, f)
        assert list(got.columns) == PAIR_COLUMNS
        # values and order exact; a column's dtype is the whole table's (shots an integer column throughout)
        pd.testing.assert_frame_equal(got, want, check_exact=True, check_dtype=False, obj=f"pairs of {f}")
        nonempty += len(want) > 0
    return nonempty


def _same_points(db, x: str, views: list[dict]) -> tuple[int, int]:
    idx = api.point_index(x=x, db=db)
    checked = fell_back = 0
    for f in views:
        scores = api.series(**f, x=x, db=db)
        want = api.plot_points(api.observations(**f, db=db), scores, x=x)
        got = api.points_within(idx, f, scores, with_series=True)
        if got is None:
            fell_back += 1
            continue
        assert got[1] == want[1], f"legends of {f}"
        pd.testing.assert_frame_equal(got[0], want[0], check_exact=False, rtol=1e-13, atol=0, obj=f"points of {f}")
        # the series behind the curves, matched once with the legends: as matched again on the finished points
        pd.testing.assert_frame_equal(got[2], api.curve_verdicts(want[0], scores), obj=f"curve series of {f}")
        checked += len(want[0]) > 0
    return checked, fell_back


# ---------------------------------------------------------------- the filter rule
@pytest.mark.parametrize("seed", [0, 1])
def test_select_keeps_the_rows_the_stores_query_keeps(fixture_store, seed):
    whole = api.series(x="params", db=fixture_store)
    for f in _views(fixture_store, 40, seed):
        want = api.series(**f, x="params", db=fixture_store)["series_id"].tolist()
        assert whole.loc[select(whole, f), "series_id"].tolist() == want, f


def test_select_rules_none_blank_and_shots():
    df = pd.DataFrame({"family": ["A", "B", None], "source_family": ["a", "A", "B"], "subtask": ["", "x", None],
                       "shots": pd.array([0, 5, None], dtype="Int64")})
    assert select(df, {"family": ["A"]}).tolist() == [True, True, False]      # family or source_family
    assert select(df, {"family": [""], "shots": None}).all()                     # '' is no filter but for subtask
    assert select(df, {"subtask": [""]}).tolist() == [True, False, False]        # a missing subtask is not ''
    assert select(df, {"shots": ["5"]}).tolist() == [False, True, False]         # shots as integers
    assert select(df, {"nothing": ["x"], "model": ["m"]}).all()                  # no such column: no filter


def test_series_within_are_the_views_series_on_the_real_store(real_store):
    """The dashboard takes a view's series from the whole axis' table in memory: the store's rows for the view."""
    db, _ = real_store
    whole = api.series(x="params", db=db)
    for f in _views(db, 60, 13):
        pd.testing.assert_frame_equal(api.series_within(whole, f), api.series(**f, x="params", db=db),
                                      check_exact=True, check_dtype=False, obj=f"series of {f}")


# ---------------------------------------------------------------- pairs
def test_pairs_within_equal_the_views_own_pairing_on_the_fixture_store(fixture_store):
    assert _same_pairs(fixture_store, "params", _views(fixture_store, 60, 3)) > 5


def test_pairs_within_a_view_that_cuts_a_group_pair_on_their_own():
    """A family filter matching ``source_family`` in part of a group: the group is paired as the view has it."""
    rows = []
    for metric, cls, fam in (("multiple_choice_grade", "discontinuous", "x"), ("brier_score", "continuous", "y")):
        rows.append(dict(source="s", task="t", subtask="", family="F", source_family=fam, shots=0, prompt_variant="",
                         scale_axis="params", model="", variant="", metric=metric, source_metric=metric,
                         metric_class=cls, series_id=metric, verdict="smooth", n_scales=5))
    s = pd.DataFrame(rows)
    idx = pair_index(s)
    assert len(idx.pairs) == 1
    assert len(pairs_within(idx, {"family": ["y"]})) == 0          # one metric left: no pair, as on its own
    assert len(pairs_within(idx, {"family": ["F"]})) == 1


# ---------------------------------------------------------------- points
def test_points_within_equal_the_views_own_points_on_the_fixture_store(fixture_store):
    checked, fell_back = _same_points(fixture_store, "params", _series_tasks(fixture_store, 30, 4, "params"))
    assert checked > 5 and fell_back == 0


def test_series_plot_frame_is_its_two_steps(fixture_store):
    obs = api.observations(db=fixture_store)
    scores = api.series(x="params", db=fixture_store)
    pts, labels = pivots.series_plot_frame(obs, "params", scores)
    two = pivots.plot_frame_of(pivots.series_plot_base(obs, "params"), scores)
    pd.testing.assert_frame_equal(pts, two[0], check_exact=True)
    assert labels == two[1] and len(labels)


def _obs(**kw) -> dict:
    row = dict(source="s", task="t", subtask="", metric="exact_match", source_metric="exact_match", family="F",
               source_family="F", shots=0, prompt_variant="", variant="", model="m", params=1e8, value=0.5,
               n_examples=100, in_scoring=True, is_final=True)
    row.update(kw)
    return row


def test_points_within_falls_back_where_a_view_could_cut_a_series():
    obs = pd.DataFrame([_obs(model=f"m{i}", params=10.0 ** (8 + i), source_family="F" if i % 2 else "G")
                        for i in range(4)])
    idx = pivots.point_index([obs], "params")
    assert len(idx.mixed) == 4 and idx.base["source_family"].iloc[0] == "F | G"
    assert pivots.points_within(idx, {"family": ["G"]}) is None        # matches half the series' rows
    assert pivots.points_within(idx, {"family": ["F"]}) is not None     # its family: every row
    assert len(pivots.points_within(idx, {"family": ["H"]})[0]) == 0
    nulls = pd.DataFrame([_obs(model=f"m{i}", params=10.0 ** (8 + i), subtask=None) for i in range(4)])
    idx = pivots.point_index([nulls], "params")
    assert idx.null_subtask
    assert pivots.points_within(idx, {"subtask": [""]}) is None         # the store's '' does not match NULL
    assert len(pivots.points_within(idx, {"task": ["t"]})[0]) == 4


# ---------------------------------------------------------------- the real store
@pytest.mark.parametrize("x", ["params", "step"])
def test_pairs_within_equal_the_views_own_pairing_on_the_real_store(real_store, x):
    db, _ = real_store
    assert _same_pairs(db, x, _views(db, 80, 11)) >= 8


@pytest.mark.parametrize("x", ["params", "step"])
def test_points_within_equal_the_views_own_points_on_the_real_store(real_store, x):
    db, _ = real_store
    views = _series_tasks(db, 60, 12, x)
    views += [dict(source=["expemergence"], family=[f], task=[t]) for f in ("OPT", "BLOOM") for t in ("arithmetic",
                                                                                                     "mmlu")]
    checked, fell_back = _same_points(db, x, views)
    assert checked > 20 and fell_back <= 2


def test_a_points_y_is_the_same_in_every_view_from_the_index(real_store):
    """The reason y is only equal within a few ulp above: each view's own grouped mean can differ in the last bit
    (pandas' compensated sums see the other groups); read from the index a point is one number everywhere."""
    db, _ = real_store
    idx = api.point_index(x="params", db=db)
    f = dict(source=["expemergence"], task=["arithmetic"])
    wide = api.points_within(idx, f, api.series(**f, x="params", db=db))[0]
    fam = str(wide["family"].iloc[0])
    narrow = api.points_within(idx, dict(f, family=[fam]), api.series(**f, family=[fam], x="params", db=db))[0]
    key = ["metric", "source_metric", "subtask", "variant", "x"]
    both = wide[wide["family"] == fam][key + ["y"]].merge(narrow[key + ["y"]], on=key, suffixes=("_w", "_n"))
    assert len(both) == len(narrow) > 0
    assert np.array_equal(both["y_w"].to_numpy(), both["y_n"].to_numpy())


def test_filter_options_from_the_index_equal_the_row_by_row_ones_on_the_real_store(real_store):
    """Series detail and every page's filters read their options through a FilterIndex of every series: the same
    lists as matching every row, for the store's own values, source spellings of families and metrics included."""
    from emergence.app import views
    from emergence.app.views import ViewState
    from emergence.keys import FilterIndex
    db, _ = real_store
    every = api.all_series(db=db)
    idx = FilterIndex(every)
    cmb = every[["source", "task", "family", "subtask", "shots", "metric", "source_family", "source_metric"]]
    cmb = cmb.drop_duplicates()
    rng = random.Random(7)
    for _ in range(60):
        r = cmb.iloc[rng.randrange(len(cmb))]
        f = {}
        for k in rng.sample(["source", "task", "family", "subtask", "shots", "metric"], rng.randint(1, 4)):
            alt = {"family": "source_family", "metric": "source_metric"}.get(k)
            v = r[alt] if alt and rng.random() < 0.3 else r[k]
            if pd.notna(v):
                f[k] = [int(v) if k == "shots" else str(v)]
        state = ViewState().with_filters(**f)
        assert views.filter_options(every, state, index=idx) == views.filter_options(every, state), f
