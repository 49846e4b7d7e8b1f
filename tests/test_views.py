"""emergence.app.views: view state <-> query params (round trip, hostile input), pivot, drill-down, CSV = CLI."""
from __future__ import annotations

import shlex
import subprocess
import sys
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergence import api
from emergence.app import views
from emergence.app.views import ViewState, from_query_params, to_query_params

# ---------------------------------------------------------------- round trip
STATES = [
    ViewState(),
    ViewState(page="explorer", rows="family", cols="task", cell="share"),
    ViewState(page="series", source=("expemergence",), task=("arithmetic",), subtask=("",), norm=True, x="tokens"),
    ViewState(page="series", task=("a b&c=d?e#f",), family=("GPT-Neo/J", "Llama-2"), shots=(0, 5)),
    ViewState(page="rescoring", pair="multiple_choice_grade|brier_score", group="src · task · fam · 0-shot"),
    ViewState(page="simulator", alpha=-0.55, log10c=9.25, length=12, choices=26, n=37, cutoff=0.35),
    ViewState(page="predictability", form="loglog", metric=("accuracy", "perplexity"), fp="cd82ecf2e1a0"),
    ViewState(page="data", source=("ünïcødé ✓",)),
]


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.page)
def test_round_trip(state):
    assert from_query_params(to_query_params(state)) == (state, [])


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.page)
def test_round_trip_through_a_url(state):
    """Encoded into a real query string and parsed back as a browser would send it."""
    from urllib.parse import parse_qs, urlencode
    q = urlencode(to_query_params(state), doseq=True)
    assert from_query_params(parse_qs(q, keep_blank_values=True)) == (state, [])


def test_defaults_are_left_out_of_the_url():
    assert to_query_params(ViewState()) == {}
    assert to_query_params(ViewState(page="explorer", rows="family")) == {"page": "explorer", "rows": "family"}


# ---------------------------------------------------------------- malformed links: ignored with a notice
MALFORMED = [
    ({"page": "admin"}, "page", "overview", "not one of"),
    ({"rows": "task; DROP TABLE observations"}, "rows", "task", "not one of"),
    ({"shots": ["0", "five", "-1"]}, "shots", (0,), "not a whole number"),
    ({"alpha": "nan"}, "alpha", -0.3, "not finite"),
    ({"alpha": "5"}, "alpha", -0.3, "outside"),
    ({"n": "2.5"}, "n", 1000, "not whole"),
    ({"n": "1e999"}, "n", 1000, "not finite"),
    ({"norm": "maybe"}, "norm", False, "expected 1 or 0"),
    ({"fp": "<script>"}, "fp", "", "not a store fingerprint"),
    ({"task": "x" * 201}, "task", (), "longer than 200"),
    ({"task": "a\x00b"}, "task", (), "control characters"),
    ({"utm_source": "mail"}, "page", "overview", "unknown parameter"),
    ({"rows": "metric"}, "cols", "task", "both 'metric'"),
    ({"cell": ["score", "share"]}, "cell", "share", "given 2 times"),
]


@pytest.mark.parametrize("params, field, expected, notice", MALFORMED, ids=[str(m[0])[:40] for m in MALFORMED])
def test_malformed_params_are_ignored_with_a_notice(params, field, expected, notice):
    state, notices = from_query_params(params)
    assert getattr(state, field) == expected
    assert notices and any(notice in n for n in notices)


def test_too_many_values_are_capped():
    state, notices = from_query_params({"task": [f"t{i}" for i in range(500)]})
    assert len(state.task) == views.MAX_VALUES and any("first 100" in n for n in notices)


TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=250)
KEYS = st.one_of(st.sampled_from([f.name for f in fields(ViewState)]), TEXT)
VALUES = st.one_of(TEXT, st.lists(TEXT, max_size=5), st.sampled_from(["", "0", "1", "-0.3", "1e308", "inf",
                                                                       "family", "series", "params"]))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_hostile_params_never_raise(params):
    state, notices = from_query_params(params)
    assert isinstance(state, ViewState) and all(isinstance(n, str) for n in notices)
    assert state.page in views.PAGES and state.rows in views.DIMENSIONS and state.cols in views.DIMENSIONS
    assert state.rows != state.cols and state.x in api.SCALE_AXES and state.cell in views.CELL_VALUES
    assert all(len(v) <= views.MAX_VALUE_LEN for k in views.FILTER_FIELDS for v in map(str, getattr(state, k)))
    # whatever was kept is a canonical state: it survives its own round trip
    assert from_query_params(to_query_params(state)) == (state, [])


def test_a_mapping_that_cannot_be_read_is_a_notice():
    class Hostile(dict):
        def items(self):
            raise RuntimeError("boom")
    assert from_query_params(Hostile(page="explorer")) == (ViewState(), ["ignored the link's parameters: they could not be read"])


# ---------------------------------------------------------------- the CLI command beside a download
CLI = [
    (ViewState(page="series", source=("expemergence",), task=("arithmetic",)),
     "emergence observations --source expemergence --task arithmetic --csv -"),
    (ViewState(page="series", task=("arithmetic",), subtask=("",), shots=(0, 3)),
     "emergence observations --task arithmetic --subtask '' --shots 0 --shots 3 --csv -"),
    (ViewState(page="explorer", metric=("exact_match",), x="flops"), "emergence series --metric exact_match --x flops --csv -"),
    (ViewState(page="rescoring", family=("GPT-Neo/J",)), "emergence pairs --family GPT-Neo/J --csv -"),
    (ViewState(page="data", source=("pythia",)), "emergence sources --csv -"),
    (ViewState(page="series", task=("it's a task",)), "emergence observations --task 'it'\"'\"'s a task' --csv -"),
    (ViewState(page="predictability", source=("pythia",), x="tokens"),
     "emergence predict --source pythia --x tokens --form linear --form loglog --form power_law --csv -"),
    (ViewState(page="simulator", log10c=9.0, n=50),
     "emergence simulate --c 1000000000.0 --alpha -0.3 --length 5 --choices 4 --n 50 --csv -"),
]


@pytest.mark.parametrize("state, command", CLI, ids=[c[1][:50] or "none" for c in CLI])
def test_cli_command(state, command):
    assert views.cli_command(state) == command


def test_cli_command_of_a_second_table():
    s = ViewState(page="predictability", source=("monkeys-powerlaws",), metric=("accuracy",), shots=(0,))
    assert views.cli_command(s, kind="passuntil") == "emergence passuntil --source monkeys-powerlaws --csv -"


# ---------------------------------------------------------------- pivot, drill-down, restrict, pairs
def _series(rows):
    cols = ["task", "metric", "family", "source", "shots", "emergence_score", "emergent", "verdict"]
    return pd.DataFrame(rows, columns=cols)


SERIES = _series([
    ("t1", "exact_match", "A", "s", 0, 12.0, True, "emergent"),
    ("t1", "exact_match", "B", "s", 0, 2.0, False, "smooth"),
    ("t1", "exact_match", "C", "s", 0, np.nan, False, "insufficient"),     # too few scales: counted, not decided
    ("t1", "exact_match", "D", "s", 0, 5.0, False, "no signal"),           # scored, not decided
    ("t1", "edit_distance", "A", "s", 0, 1.0, False, "smooth"),
    ("t2", "exact_match", "A", "s", 3, -4.0, False, "insufficient"),
])

PIVOT = [
    ("score", ("t1", "exact_match"), (5.0, 4, 3, 2, 1)),        # median of 12, 2 and 5
    ("share", ("t1", "exact_match"), (0.5, 4, 3, 2, 1)),        # 1 emergent of 2 decided
    ("score", ("t1", "edit_distance"), (1.0, 1, 1, 1, 0)),
    ("share", ("t2", "exact_match"), (np.nan, 1, 1, 0, 0)),     # nothing decided: no share
]


@pytest.mark.parametrize("cell, key, expected", PIVOT)
def test_pivot_cells(cell, key, expected):
    out = views.pivot(SERIES, "task", "metric", cell).set_index(["task", "metric"])
    got = tuple(out.loc[key, ["value", "n_series", "n_scored", "n_decidable", "n_emergent"]])
    assert got[1:] == expected[1:] and got[0] == pytest.approx(expected[0], nan_ok=True)


def test_pivot_rejects_same_rows_and_columns():
    with pytest.raises(ValueError, match="two different"):
        views.pivot(SERIES, "task", "task")


def test_drill_down_sets_the_cell_as_filters():
    s = ViewState(page="explorer", rows="family", cols="shots", source=("s",), x="tokens")
    assert views.drill_down(s, "A", 3) == replace(s, page="series", family=("A",), shots=(3,))
    # a click on a heatmap gives its category labels as text, the cell picker numpy values: the same view
    assert views.drill_down(s, "A", "3") == views.drill_down(s, "A", np.int64(3)) == views.drill_down(s, "A", 3)


def test_restrict_drops_values_the_store_lacks():
    s = ViewState(task=("t1", "nope"), metric=("exact_match",))
    out, notices = views.restrict(s, {"task": ["t1", "t2"], "metric": ["exact_match"]})
    assert out == ViewState(task=("t1",), metric=("exact_match",)) and "'nope'" in notices[0]


def test_filter_options_are_faceted_and_keep_the_selection():
    assert views.filter_options(SERIES, ViewState(shots=(3,)))["task"] == ["t2"]
    opts = views.filter_options(SERIES, ViewState(shots=(3,), family=("B",)))
    assert opts["task"] == [] and opts["shots"] == [0, 3] and opts["family"] == ["A", "B"]


def test_filter_options_equal_the_per_facet_rule_on_the_fixture_store(fixture_store):
    """Each filter's options are the values left by every *other* set filter (matched once each, not once per
    facet): the same as filtering afresh for every facet, over combinations of set filters."""
    from emergence.keys import match
    every = api.all_series(db=fixture_store)
    rng = np.random.default_rng(5)
    for _ in range(12):
        kw = {}
        for f in ("source", "task", "family", "metric", "shots"):
            vals = views.filter_options(every, ViewState(**kw))[f]
            if vals and rng.random() < 0.5:
                kw[f] = tuple(rng.choice(vals, size=min(len(vals), int(rng.integers(1, 3))), replace=False).tolist())
        state = ViewState(**kw)
        got = views.filter_options(every, state)
        # the dashboard's way, every series' filter columns factorized once: the same options
        assert views.filter_options(every, state, index=api.filter_index(every)) == got, state
        for k in views.FILTER_FIELDS:
            mask = pd.Series(True, index=every.index)
            for other in views.FILTER_FIELDS:
                if other != k and getattr(state, other) and other in every.columns:
                    mask &= match(every, other, getattr(state, other))
            want = {(int(v) if k == "shots" else str(v)) for v in every.loc[mask, k].dropna()} if k in every.columns \
                else set()
            assert got[k] == sorted(want | set(getattr(state, k))), (k, state)


# ---------------------------------------------------------------- the download is the CLI's output, byte for byte
def _cli(db, *args) -> bytes:
    out = subprocess.run([sys.executable, "-m", "emergence.cli", "--db", str(db), *args], capture_output=True,
                         check=True, timeout=120)
    return out.stdout


CSV_VIEWS = [
    (ViewState(page="series", source=("expemergence",), task=("arithmetic",)), None),
    (ViewState(page="series", source=("expemergence",), task=("arithmetic",), subtask=("",), family=("Pythia",)), None),
    (ViewState(page="explorer", source=("expemergence",), metric=("multiple_choice_grade",)), None),
    (ViewState(page="rescoring", source=("expemergence",), task=("hindu_knowledge",), x="flops"), None),
    (ViewState(page="predictability", source=("pythia",), task=("lambada_openai",)), None),
    (ViewState(page="predictability", source=("monkeys-powerlaws",), metric=("ignored",)), "passuntil"),
    (ViewState(page="simulator", alpha=-0.45, log10c=8.3, length=7, choices=3, n=250), None),
    (ViewState(page="data"), None),
]


def test_download_equals_cli_for_the_documented_command(real_store):
    db, _ = real_store
    state = CSV_VIEWS[0][0]
    data = api.to_csv(views.table_for(state, db)[1])
    assert data == _cli(db, "observations", "--source", "expemergence", "--task", "arithmetic", "--csv", "-")
    assert data.count(b"\n") > 100


@pytest.mark.parametrize("state, kind", CSV_VIEWS, ids=[views.cli_command(s, kind=k)[10:70] for s, k in CSV_VIEWS])
def test_download_equals_its_cli_command(real_store, state, kind):
    db, _ = real_store
    got_kind, df = views.table_for(state, db, kind=kind)
    args = shlex.split(views.cli_command(state, kind=kind))[1:]
    assert got_kind == args[0] and len(df) > 0
    assert api.to_csv(df) == _cli(db, *args)


#: the same checks on the small fixture store (tests/fixture_store.py), so a clone without ../shared/data checks
#: download = CLI byte for byte too: every table kind views.table_for makes, on states whose tables are non-empty there
FIXTURE_CSV_VIEWS = [
    (ViewState(page="series", source=("expemergence",), task=("arithmetic",)), None),
    (ViewState(page="series", source=("expemergence",), task=("arithmetic",), subtask=("",), family=("Pythia",)), None),
    (ViewState(page="series", source=("obsscaling",), task=("bbh",), subtask=("boolean_expressions",), shots=(0,)),
     None),
    (ViewState(page="explorer", source=("expemergence",), metric=("multiple_choice_grade",)), None),
    (ViewState(page="explorer", source=("pythia",), x="step"), None),
    (ViewState(page="overview", family=("Qwen", "Llama-2")), None),
    (ViewState(page="explorer", source=("expemergence",)), "compare"),
    (ViewState(page="rescoring", source=("expemergence",), task=("hindu_knowledge",), x="flops"), None),
    (ViewState(page="rescoring", source=("gpt3-multiplication-tables",)), None),
    (ViewState(page="predictability", source=("pythia",), task=("lambada_openai",)), None),
    (ViewState(page="predictability", source=("monkeys-powerlaws",), metric=("ignored",)), "passuntil"),
    (ViewState(page="simulator", alpha=-0.45, log10c=8.3, length=7, choices=3, n=250), None),
    (ViewState(page="data"), None),
]


def test_the_fixture_checks_cover_every_table_kind():
    """A table kind added to views without a fixture-store check here fails this."""
    kinds = {k or views.table_kind(s) for s, k in FIXTURE_CSV_VIEWS}
    assert kinds == set(views._KIND_FILTERS), set(views._KIND_FILTERS) ^ kinds


def test_download_equals_cli_for_the_documented_command_on_the_fixture_store(fixture_store):
    state = FIXTURE_CSV_VIEWS[0][0]
    data = api.to_csv(views.table_for(state, fixture_store)[1])
    assert data == _cli(fixture_store, "observations", "--source", "expemergence", "--task", "arithmetic", "--csv", "-")
    assert data.count(b"\n") > 20


@pytest.mark.parametrize("state, kind", FIXTURE_CSV_VIEWS,
                         ids=[views.cli_command(s, kind=k)[10:70] for s, k in FIXTURE_CSV_VIEWS])
def test_download_equals_its_cli_command_on_the_fixture_store(fixture_store, state, kind):
    got_kind, df = views.table_for(state, fixture_store, kind=kind)
    args = shlex.split(views.cli_command(state, kind=kind))[1:]
    assert got_kind == args[0] and len(df) > 0
    assert api.to_csv(df) == _cli(fixture_store, *args)


def test_table_key_keeps_only_what_decides_the_rows():
    a = ViewState(page="explorer", rows="family", cell="share", task=("t",), x="flops", fp="ab")
    b = ViewState(page="overview", task=("t",), x="flops", alpha=-1.0)
    assert views.table_key(a) == views.table_key(b) == ViewState(page="overview", task=("t",), x="flops")
    assert views.table_key(ViewState(page="data", source=("s",))) == ViewState(page="data")
    assert views.table_key(ViewState(page="series", x="tokens")) == ViewState(page="series")
    assert views.table_key(ViewState(page="simulator", n=7, task=("t",))) == ViewState(page="simulator", n=7)


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.page)
def test_table_key_gives_the_same_rows(state):
    """Same kind and CLI command: the cache key never changes what is downloaded."""
    key = views.table_key(state)
    assert views.table_kind(key) == views.table_kind(state) and views.cli_command(key) == views.cli_command(state)
    pu = views.table_key(state, "passuntil")
    assert views.cli_command(pu, kind="passuntil") == views.cli_command(state, kind="passuntil")
