"""A view's pairs read from a whole-axis index equal the view's own computation.

Series detail used to pair each new view's series on their own (~35-70 ms of pandas per view); it now
reads them from :func:`emergence.api.pair_index`, computed once per store and axis.  These tests hold
the two paths to the same answer: the filter rule (:func:`emergence.keys.select` against the store's
SQL) and the pairs (same rows, values and order), on the fixture store and on the real one over many
views.
"""
from __future__ import annotations

import random

import pandas as pd
import pytest

from emergence import api
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


# ---------------------------------------------------------------- the real store
@pytest.mark.parametrize("x", ["params", "step"])
def test_pairs_within_equal_the_views_own_pairing_on_the_real_store(real_store, x):
    db, _ = real_store
    assert _same_pairs(db, x, _views(db, 80, 11)) >= 8
