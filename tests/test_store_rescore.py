"""Store.rescore_choices (DuckDB) equals emergence.analysis.rescore's pure functions on small samples."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import assert_same_rows
from emergence.analysis.rescore import aggregate_examples, multiple_choice_grade
from emergence.ingestion.schema import EXAMPLE_COLUMNS, OBSERVATION_COLUMNS, Batch, conform
from emergence.store import Store

METRICS = ["brier_score", "brier_score_binary", "multiple_choice_grade"]
NAN, NEG = float("nan"), float("-inf")

#: (model, task, logprobs, correct index): ragged choices, a NaN hole, padding, -inf, ties, one choice,
#: rows that are not scored (no list, an empty list, no correct index), a group of one example.
ROWS = [
    ("m1", "t1", [-0.1, -2.3, -3.0, -4.0], 0),
    ("m1", "t1", [-1.0, -1.0, -5.0], 0),            # a tie with the right choice: wrong
    ("m1", "t1", [-0.5, NAN, -2.0], 0),             # a NaN hole: two real choices
    ("m1", "t1", [-0.7, -0.7], 1),
    ("m1", "t1", [NEG, -1.0, -2.0], 1),             # probability 0 for choice 0
    ("m1", "t1", [NEG, -1.0, -2.0], 0),             # the right choice has probability 0
    ("m1", "t1", [3.0, 1.0, 2.0, 0.0, NAN, NAN], 0),  # unnormalised, padded
    ("m1", "t1", None, 0),                          # not scored
    ("m1", "t1", [], 0),                            # not scored
    ("m1", "t1", [-1.0, -2.0], None),               # not scored
    ("m1", "t2", [-5.0], 0),                        # one choice: grade 1
    ("m2", "t1", [-0.2, -1.7], 1),
    ("m2", "t1", [-12.0, -11.0, -30.0, -0.01], 3),
    ("m2", "t1", [-0.5, -0.6, -0.55], 1),
]


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame({"model": [r[0] for r in rows], "task": [r[1] for r in rows],
                         "choice_logprobs": [r[2] for r in rows],
                         "correct_index": pd.array([r[3] for r in rows], dtype="Int64")})


def examples(rows) -> pd.DataFrame:
    df = frame(rows).assign(source="synthetic", family="F", source_file="f.jsonl",
                            example_id=[str(i) for i in range(len(rows))], row_ref=[str(i + 1) for i in range(len(rows))])
    return conform(df, EXAMPLE_COLUMNS, "synthetic", validate=False)


def pure(rows) -> pd.DataFrame:
    """The pure path: emergence.analysis.rescore.aggregate_examples, cut to the columns rescore_choices returns."""
    out = aggregate_examples(examples(rows))
    out = out[out["metric"].isin(METRICS)]
    out = out[["model", "task", "metric", "value", "stderr", "n_examples", "random_baseline"]]
    out = out.assign(random_baseline=out["random_baseline"].where(out["metric"] == "multiple_choice_grade"))
    return out.sort_values(["model", "task", "metric"]).reset_index(drop=True)


def check_equal(got: pd.DataFrame, want: pd.DataFrame):
    assert got[["model", "task", "metric"]].values.tolist() == want[["model", "task", "metric"]].values.tolist()
    assert got["n_examples"].tolist() == want["n_examples"].astype(int).tolist()
    for c in ("value", "stderr", "random_baseline"):
        np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=1e-9, atol=1e-12,
                                   equal_nan=True, err_msg=c)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    """A store whose examples table holds ROWS."""
    path = tmp_path_factory.mktemp("rescore") / "s.duckdb"
    obs = conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, "synthetic")
    s = Store(path)
    s.write([(Batch("synthetic", obs, examples(ROWS), [], {"f.jsonl": "0" * 64}), {})])
    return s


def test_examples_table_equals_the_pure_functions(store):
    check_equal(store.rescore_choices(), pure(ROWS))


def test_parquet_file_equals_the_pure_functions(store, tmp_path):
    path = tmp_path / "it's a \"file\".parquet"        # the path is a bound parameter: quotes are harmless
    pq.write_table(pa.Table.from_pandas(frame(ROWS), preserve_index=False), path)
    check_equal(store.rescore_choices(path), pure(ROWS))


def test_in_memory_frame_equals_the_pure_functions(store):
    check_equal(store.rescore_choices(frame(ROWS)), pure(ROWS))


def test_exact_values_of_one_group(store):
    out = store.rescore_choices(frame([("m", "t", [0.0, 0.0], 0), ("m", "t", [0.0, -math.inf], 0)]))
    v = dict(zip(out["metric"], out["value"]))
    # (0.5-1)^2 + 0.5^2 = 0.5 and 0; binary (1-0.5)^2 = 0.25 and 0; a tie is wrong, the sure answer right
    assert v == {"brier_score": 0.25, "brier_score_binary": 0.125, "multiple_choice_grade": 0.5}
    assert out["random_baseline"].tolist()[2] == 0.5


def test_all_minus_inf_question_has_no_brier_and_grade_zero(store):
    """Every choice -inf: no probability distribution (choice_probabilities gives NaN), so no Brier score;
    the grade is 0 as multiple_choice_grade says."""
    out = store.rescore_choices(frame([("m", "t", [NEG, NEG], 0), ("m", "t", [-1.0, -2.0], 0)]))
    n = dict(zip(out["metric"], out["n_examples"]))
    assert n == {"brier_score": 1, "brier_score_binary": 1, "multiple_choice_grade": 2}
    assert out.loc[out["metric"] == "multiple_choice_grade", "value"].item() == \
        multiple_choice_grade([[NEG, NEG], [-1.0, -2.0]], [0, 0]).mean() == 0.5


@pytest.mark.parametrize("ci", [3, -1, 2])
def test_a_correct_index_outside_the_choices_is_an_error(store, ci):
    digest = hashlib.sha256(store.path.read_bytes()).hexdigest()
    rows = [("m", "t", [-1.0, -2.0], 0), ("m", "t", [-1.0, NAN, -2.0], ci)]   # 2 real choices in the second
    with pytest.raises(ValueError, match=rf"correct_index {ci} is not one of its 2 choices"):
        store.rescore_choices(frame(rows))
    with pytest.raises(ValueError):
        aggregate_examples(examples(rows))
    assert hashlib.sha256(store.path.read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("by", [["model; DROP TABLE examples"], ["choice_logprobs"], []])
def test_group_columns_come_from_the_schema(store, by):
    with pytest.raises(ValueError, match="group by"):
        store.rescore_choices(frame(ROWS), by=by)


def test_group_by_the_full_example_key(store):
    from emergence.analysis.rescore import EXAMPLE_GROUP_KEY
    out = store.rescore_choices(by=EXAMPLE_GROUP_KEY)
    assert len(out) == len(pure(ROWS)) and set(EXAMPLE_GROUP_KEY) <= set(out.columns)


# ---------------------------------------------------------------- property: any sample, same numbers
LOGPROB = st.one_of(st.sampled_from([0.0, -1.0, -2.0, NEG, NAN]),          # small set: ties are frequent
                    st.floats(min_value=-50, max_value=5, allow_nan=False))
QUESTION = st.lists(LOGPROB, min_size=1, max_size=6).flatmap(
    lambda lp: st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["t", "u"]), st.just(lp),
                         st.integers(0, len(lp) - 1)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.lists(QUESTION, min_size=1, max_size=25))
def test_any_sample_equals_the_pure_functions(store, rows):
    fixed = []
    for m, t, lp, ci in rows:
        real = [i for i, x in enumerate(lp) if not math.isnan(x)]
        assume(real)
        # the right index counts positions and must fall inside the real choices (pure rule)
        fixed.append((m, t, lp, min(ci, len(real) - 1)))
    # pure brier_from_logprobs raises on a question whose choices are all -inf (see the report): skip those here
    assume(all(any(x > NEG for x in lp if not math.isnan(x)) for _, _, lp, _ in fixed))
    check_equal(store.rescore_choices(frame(fixed)), pure(fixed))


# ---------------------------------------------------------------- group_meta: the ingest's path for spilled examples
def meta_examples(seed: int = 0) -> pd.DataFrame:
    """Examples the per-group columns depend on: four sizes sharing question ids (paired standard errors), one
    model without a size, a model with two checkpoints, a group spread over two files, NULL and real subtasks,
    a question without an id, a question asked twice, text-only rows (they count for the group's files), columns that differ inside a
    group (the first example's value is the group's), an explicit is_final."""
    rng = np.random.default_rng(seed)
    rows = []
    models = [("a.json", "m1", 1e6, None), ("b.json", "m2", 1e7, None), ("c.json", "m3", 1e8, None),
              ("c2.json", "m3", 1e8, None), ("d.json", "m4", None, None), ("e.json", "m5", 2e8, 100),
              ("e.json", "m5", 2e8, 200), ("f.json", "m6", 3e8, None)]
    for n, (f, model, params, step) in enumerate(models):
        for sub in (None, "s1"):
            for i in range(6):
                k = int(rng.integers(2, 5))
                mc = i != 4                      # row 4: generated text only
                rows.append(dict(
                    source="src", task="t", subtask=sub, family="F", source_family=f"F{i % 2}", model=model,
                    params=params, params_estimate=bool(i % 2), non_embedding_params=None if params is None else
                    params / 2, checkpoint_step=step, shots=0, prompt_variant=None,
                    # the smallest model answers q0 twice: the first answer is its reference
                    example_id=("q0" if model == "m1" else None) if i == 5 else f"q{i}",
                    is_final=False if model == "m6" else None,
                    choice_logprobs=list(rng.normal(size=k)) if mc else None,
                    correct_index=int(rng.integers(k)) if mc else None, n_choices=k if mc else None,
                    source_file=f, content_hash="h" + f, row_ref=str(i), prediction="x", target="x y"))
    return conform(pd.DataFrame(rows), EXAMPLE_COLUMNS, "src")


def numpy_rows(ex: pd.DataFrame) -> pd.DataFrame:
    out = aggregate_examples(ex)
    return out[out["metric"].isin(METRICS)].sort_values(["model", "subtask", "checkpoint_step", "metric"]) \
        .reset_index(drop=True)


def sql_rows(store: Store, data) -> pd.DataFrame:
    from emergence.analysis.rescore import EXAMPLE_GROUP_KEY, observation_rows
    out = observation_rows(store.rescore_choices(data, by=EXAMPLE_GROUP_KEY, group_meta=True))
    return out.sort_values(["model", "subtask", "checkpoint_step", "metric"]).reset_index(drop=True)


def write_parquet(ex: pd.DataFrame, path) -> str:
    from emergence.ingestion.schema import arrow_schema
    pq.write_table(pa.Table.from_pandas(ex, schema=arrow_schema(EXAMPLE_COLUMNS), preserve_index=False), path)
    return str(path)


def test_group_meta_gives_the_numpy_rows_from_parquet_files(tmp_path):
    """The ingest's call: a list of spilled files (read without a store), every observation column equal."""
    ex = meta_examples()
    half = len(ex) // 2
    files = [write_parquet(ex.iloc[:half], tmp_path / "one.parquet"),
             write_parquet(ex.iloc[half:], tmp_path / "two.parquet")]
    want = numpy_rows(ex)
    assert want["paired_se"].notna().sum() >= 9 and want["paired_se"].isna().any()
    assert set(want["source_file"]) >= {"c.json; c2.json"} and not want["is_final"].all()
    got = sql_rows(Store(tmp_path / "no-store.duckdb"), files)
    assert_same_rows(got, want)
    assert not (tmp_path / "no-store.duckdb").exists() and not (tmp_path / ".duckdb-tmp").exists()
    # and a change the columns show is caught: the first example of each group decides its source_family
    flipped = ex.assign(source_family=ex["source_family"].map({"F0": "F1", "F1": "F0"}))
    with pytest.raises(AssertionError):
        assert_same_rows(sql_rows(Store(tmp_path / "x.duckdb"), write_parquet(flipped, tmp_path / "f.parquet")), want)


def test_group_meta_gives_the_numpy_rows_from_a_frame_and_the_store(tmp_path):
    ex = meta_examples(1)
    want = numpy_rows(ex)
    assert_same_rows(sql_rows(Store(tmp_path / "none.duckdb"), ex), want)
    s = Store(tmp_path / "s.duckdb")
    obs = conform(pd.DataFrame(columns=list(OBSERVATION_COLUMNS)), OBSERVATION_COLUMNS, "src")
    s.write([(Batch("src", obs, ex, [], {"a.json": "0" * 64}), {})])
    assert_same_rows(sql_rows(s, None), want)


def test_group_meta_needs_the_example_group_key(store):
    with pytest.raises(ValueError, match="example group key"):
        store.rescore_choices(frame(ROWS), by=("model", "task"), group_meta=True)


def test_group_meta_names_the_file_and_row_of_a_bad_index(tmp_path):
    ex = meta_examples()
    ex.loc[7, "correct_index"] = 9
    f = write_parquet(ex, tmp_path / "bad.parquet")
    from emergence.analysis.rescore import EXAMPLE_GROUP_KEY
    want = rf"{ex.loc[7, 'source_file']} row {ex.loc[7, 'row_ref']}: correct_index 9 is not one of its"
    with pytest.raises(ValueError, match=want):
        Store(tmp_path / "none.duckdb").rescore_choices([f], by=EXAMPLE_GROUP_KEY, group_meta=True)
    with pytest.raises(ValueError, match=want):
        aggregate_examples(ex)


SIZES = st.sampled_from([1e6, 1e7, 1e8, None])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), SIZES, st.sampled_from(["q0", "q1", "q2", None]),
                          st.lists(st.floats(-20, 5, allow_nan=False), min_size=2, max_size=4), st.integers(0, 3)),
                min_size=1, max_size=30))
def test_any_sample_gives_the_numpy_rows_with_group_meta(rows):
    """Any models, sizes and shared question ids: the SQL path's observation rows are the numpy path's."""
    sizes = {}
    recs = []
    for i, (model, size, qid, lp, ci) in enumerate(rows):
        size = sizes.setdefault(model, size)                  # one size per model
        recs.append(dict(source="s", task="t", family="F", model=model, params=size, example_id=qid,
                         choice_logprobs=lp, correct_index=min(ci, len(lp) - 1), source_file=f"{model}.json",
                         row_ref=str(i)))
    ex = conform(pd.DataFrame(recs), EXAMPLE_COLUMNS, "s", validate=False)
    # standard errors of nearly equal values: the two variance algorithms may differ in the last digits that
    # survive the cancellation (found: 5.8e-4 vs 5.8e-4 + 1.7e-15); a wrong formula is off by far more than 1e-9
    assert_same_rows(sql_rows(Store("/nonexistent/none.duckdb"), ex), numpy_rows(ex), se_atol=1e-9)
