"""emergence.keys: the series key, the filter rule and the scale axes, each written once and used by all."""
import importlib

import pandas as pd

from emergence import api, keys
from emergence.analysis import mirage, rescore

series = importlib.import_module("emergence.analysis.series")   # the package exports functions of these names
store = importlib.import_module("emergence.store")


def test_one_spelling_everywhere():
    assert store.FILTER_COLUMNS is keys.FILTER_COLUMNS
    assert api.SCALE_AXES == series.AXES == keys.SCALE_AXES
    assert tuple(series.SERIES_KEY) == keys.SERIES_KEY
    assert tuple(rescore.EXAMPLE_GROUP_KEY) == keys.EXAMPLE_GROUP_KEY
    assert mirage._PAIR_KEYS == ["group_id", *keys.GROUP_KEY, "variant"]
    assert set(series.FDR_READS) >= set(keys.SERIES_KEY)
    # the primary axis preference: params, then flops, tokens, non-embedding params; the training axis last
    assert keys.SCALE_AXES == ("params", "flops", "tokens", "non_embedding_params", "step")


FRAME = pd.DataFrame({"metric": ["exact_match", "exact_match", "acc"], "source_metric": ["em", "acc", None],
                      "family": ["Pythia", "OPT", "GPT-3"], "source_family": ["pythia", None, "gpt3"],
                      "shots": [0, 5, None], "task": ["a", "b", "c"]})


def test_match_reads_the_alternate_column():
    assert keys.match(FRAME, "metric", ["acc"]).tolist() == [False, True, True]
    assert keys.match(FRAME, "metric", ["em", "nope"]).tolist() == [True, False, False]
    assert keys.match(FRAME, "family", ["gpt3", "OPT"]).tolist() == [False, True, True]
    assert keys.match(FRAME, "shots", ["5"]).tolist() == [False, True, False]
    assert keys.match(FRAME, "task", ["c"]).tolist() == [False, False, True]
    assert not keys.match(FRAME, "subtask", ["x"]).any()     # a column the frame lacks matches nothing


def test_filter_values_offers_both_spellings():
    assert keys.filter_values(FRAME, "metric") == ["acc", "em", "exact_match"]
    assert keys.filter_values(FRAME, "family") == ["GPT-3", "OPT", "Pythia", "gpt3", "pythia"]
    assert keys.filter_values(FRAME, "shots") == [0, 5]


def test_the_filters_are_one_list():
    from emergence import cli
    assert keys.FILTERS == ("source", "task", "subtask", "metric", "family", "shots")
    assert cli._add_filters.__defaults__[0] is keys.FILTERS
    assert set(keys.FILTERS) <= set(keys.FILTER_COLUMNS)


def test_filter_wanted_is_the_one_rule_of_which_filter_values_count():
    """The store's SQL (``_where``) and the in-memory twin (``select``) read a filter's values through this one rule."""
    from emergence.keys import filter_wanted
    assert filter_wanted("task", None) is None and filter_wanted("nothing", ["x"]) is None
    assert filter_wanted("task", ["", None]) is None                  # '' is no filter, but for subtask
    assert filter_wanted("subtask", "") == [""] and filter_wanted("task", "t") == ["t"]
    assert filter_wanted("shots", (0, None, 3)) == [0, 3]
