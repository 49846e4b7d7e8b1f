"""The store: atomic, idempotent writes; readers that follow swaps; bound filters."""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pandas as pd
import pytest

from emergence.ingestion.schema import OBSERVATION_COLUMNS, Batch, IngestError, conform
from emergence.store import Store, _where

HEADER = "Model,Model Family,Model Size (B),Pretraining Data Size (T),FLOPs (1E21),0_50_brier,50_100_brier,acc,brier,san\n"


def write_expemergence(root: Path, rows: list[str], task="arithmetic", name=None) -> Path:
    d = root / "data" / task
    d.mkdir(parents=True, exist_ok=True)
    path = d / (name or f"{task}_instance_brier_-1000_10_2_redist.csv")
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


GOOD = [
    "EleutherAI/pythia-70m,Pythia,0.07,0.3,0.126,0.9,0.8,0.10,0.85,0.5",
    "EleutherAI/pythia-410m,Pythia,0.41,0.3,0.738,0.8,0.7,0.20,0.75,0.6",
    "EleutherAI/pythia-1.4b,Pythia,1.4,0.3,2.52,0.6,0.5,0.40,0.55,0.7",
    "EleutherAI/pythia-12b,Pythia,12,0.3,21.6,0.2,0.1,0.90,0.15,0.9",
]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def batch_from(root: Path) -> tuple[Batch, dict]:
    from emergence.ingestion.sources import expemergence
    return expemergence.parse(root), {"root": str(root), "license": "MIT"}


def tables(store: Store) -> dict[str, pd.DataFrame]:
    return {t: store._df(f"SELECT * FROM {t} ORDER BY ALL") for t in ("observations", "data_issues", "sources")}


def test_write_then_same_content_adds_nothing(tmp_path):
    write_expemergence(tmp_path / "src", GOOD)
    store = Store(tmp_path / "s.duckdb")
    assert store.write([batch_from(tmp_path / "src")]) == {"expemergence": "added"}
    before = tables(store)
    assert store.write([batch_from(tmp_path / "src")]) == {"expemergence": "unchanged"}
    after = tables(store)
    for t in before:
        pd.testing.assert_frame_equal(before[t], after[t])


def test_changed_content_replaces_the_source(tmp_path):
    path = write_expemergence(tmp_path / "src", GOOD)
    store = Store(tmp_path / "s.duckdb")
    store.write([batch_from(tmp_path / "src")])
    n = len(store.observations())
    path.write_text(path.read_text().replace("0.90,0.15,0.9", "0.95,0.15,0.9"))
    assert store.write([batch_from(tmp_path / "src")]) == {"expemergence": "replaced"}
    obs = store.observations({"metric": ["multiple_choice_grade"]})
    assert len(store.observations()) == n
    assert obs.loc[obs["model"] == "EleutherAI/pythia-12b", "value"].tolist() == [0.95]


def test_failing_batch_leaves_store_byte_for_byte(tmp_path):
    write_expemergence(tmp_path / "src", GOOD)
    store = Store(tmp_path / "s.duckdb")
    store.write([batch_from(tmp_path / "src")])
    digest = sha(store.path)
    write_expemergence(tmp_path / "src2", GOOD[:2], task="hindu_knowledge")

    def boom(_obs, previous=None):
        raise RuntimeError("scoring failed")

    with pytest.raises(RuntimeError):
        store.write([batch_from(tmp_path / "src2")], score=boom)
    assert sha(store.path) == digest
    assert not list(tmp_path.glob(".s.duckdb.tmp-*"))


@pytest.mark.parametrize("bad_row, field, value", [
    ("EleutherAI/pythia-70m,Pythia,seventy,0.3,0.126,0.9,0.8,0.10,0.85,0.5", "Model Size (B)", "seventy"),
    ("EleutherAI/pythia-70m,Pythia,-0.07,0.3,0.126,0.9,0.8,0.10,0.85,0.5", "params", "-70000000"),
    ("EleutherAI/pythia-70m,Pythia,0.07,0.3,0.126,0.9,0.8,inf,0.85,0.5", "value", "inf"),
    ("EleutherAI/pythia-70m,Pythia,0.07,0.3,0.126,0.9,0.8,zero,0.85,0.5", "value", "zero"),
])
def test_malformed_row_names_file_row_field_value_and_writes_nothing(tmp_path, bad_row, field, value):
    from emergence.ingestion.ingest import ingest
    write_expemergence(tmp_path / "expemergence", GOOD)
    db = tmp_path / "s.duckdb"
    ingest(["expemergence"], db=db, data=tmp_path, online=False)
    digest = sha(db)
    write_expemergence(tmp_path / "expemergence", [bad_row] + GOOD[1:], task="mmlu")
    with pytest.raises(IngestError) as e:
        ingest(["expemergence"], db=db, data=tmp_path, online=False)
    msg = str(e.value)
    assert "data/mmlu/mmlu_instance_brier" in msg and "row 2" in msg and repr(field) in msg and value in msg
    assert sha(db) == digest


def test_reader_keeps_working_and_sees_new_data_after_a_swap(tmp_path):
    write_expemergence(tmp_path / "src", GOOD)
    store = Store(tmp_path / "s.duckdb")
    store.write([batch_from(tmp_path / "src")])
    reader = Store(tmp_path / "s.duckdb")
    n_before = len(reader.observations())
    held = reader.cursor()          # an open read-only handle, as the dashboard keeps one
    write_expemergence(tmp_path / "src", GOOD, task="hindu_knowledge")
    store.write([batch_from(tmp_path / "src")])
    assert held.execute("SELECT count(*) FROM observations").fetchall()[0][0] == n_before
    assert len(reader.observations()) == 2 * n_before


def test_concurrent_readers_see_old_or_new_never_a_mix(tmp_path):
    write_expemergence(tmp_path / "src", GOOD)
    store = Store(tmp_path / "s.duckdb")
    store.write([batch_from(tmp_path / "src")])
    n_old = len(store.observations())
    write_expemergence(tmp_path / "src", GOOD, task="hindu_knowledge")
    seen, errors = set(), []
    stop = threading.Event()
    reader = Store(tmp_path / "s.duckdb")

    def read():
        while not stop.is_set():
            try:
                seen.add(len(reader.observations()))
            except Exception as e:  # noqa: BLE001 - any reader error fails the test
                errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    store.write([batch_from(tmp_path / "src")])
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert seen <= {n_old, 2 * n_old}


@pytest.mark.parametrize("filters, sql, params", [
    ({"source": ["a", "b"]}, ' WHERE ("source" IN (?, ?))', ["a", "b"]),
    ({"family": ["Pythia"]}, ' WHERE ("family" IN (?) OR "source_family" IN (?))', ["Pythia", "Pythia"]),
    ({"shots": [0, 5]}, " WHERE shots IN (?, ?)", [0, 5]),
    ({"task": ["x'; DROP TABLE observations; --"]}, ' WHERE ("task" IN (?))', ["x'; DROP TABLE observations; --"]),
    ({"nonsense": ["x"]}, "", []),
])
def test_filters_are_bound_parameters(filters, sql, params):
    assert _where(filters, OBSERVATION_COLUMNS) == (sql, params)


def test_conform_rejects_a_missing_value_naming_the_file():
    df = pd.DataFrame({"task": ["t"], "metric": ["accuracy"], "model": ["m"], "value": [None],
                       "source_file": ["f.csv"], "row_ref": ["7"]})
    with pytest.raises(IngestError, match=r"f\.csv, row 7, field 'value'"):
        conform(df, OBSERVATION_COLUMNS, "src")


def _renamed(batch_meta, name):
    batch, meta = batch_meta
    batch.source = name
    for frame in (batch.observations, batch.examples):
        if frame is not None and len(frame):
            frame["source"] = name
    return batch, meta


def test_scoring_one_source_at_a_time_equals_scoring_all_at_once(tmp_path):
    """Incremental scoring (only the written sources are re-scored, then the store-wide FDR) gives the
    same series table as scoring every source in one write."""
    from emergence.analysis.series import apply_fdr, score_observations
    write_expemergence(tmp_path / "a", GOOD)
    write_expemergence(tmp_path / "b", GOOD[:3] + ["EleutherAI/pythia-12b,Pythia,12,0.3,21.6,0.2,0.1,0.95,0.1,0.9"],
                       task="hindu_knowledge")
    together, apart = Store(tmp_path / "t.duckdb"), Store(tmp_path / "p.duckdb")
    kw = dict(score=score_observations, finalize=apply_fdr)
    together.write([_renamed(batch_from(tmp_path / "a"), "one"), _renamed(batch_from(tmp_path / "b"), "two")], **kw)
    apart.write([_renamed(batch_from(tmp_path / "a"), "one")], **kw)
    apart.write([_renamed(batch_from(tmp_path / "b"), "two")], **kw)
    a = together.series().sort_values("series_id").reset_index(drop=True)
    b = apart.series().sort_values("series_id").reset_index(drop=True)
    assert len(a) and set(a["source"]) == {"one", "two"}
    pd.testing.assert_frame_equal(a, b)
    # re-writing one source leaves the other's rows as they were
    calls = []
    def counting(obs, previous=None):
        calls.append(sorted(obs["source"].unique()))
        return score_observations(obs, previous=previous)
    write_expemergence(tmp_path / "b", GOOD, task="hindu_knowledge")
    apart.write([_renamed(batch_from(tmp_path / "b"), "two")], score=counting, finalize=apply_fdr)
    assert calls == [["two"]]
    one_before = a[a["source"] == "one"].drop(columns=["q_value", "emergent"]).reset_index(drop=True)
    after = apart.series().sort_values("series_id")
    one_after = after[after["source"] == "one"].drop(columns=["q_value", "emergent"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(one_before, one_after)


def test_a_store_from_before_a_new_column_stays_readable_and_is_migrated_on_write(tmp_path):
    """A column added to the schema (here non_embedding_params) reads as NULL from an older file;
    the next write adds it."""
    import duckdb
    from emergence.store import _DUCK_TYPES
    write_expemergence(tmp_path / "src", GOOD)
    store = Store(tmp_path / "s.duckdb")
    store.write([batch_from(tmp_path / "src")])
    store.close()
    con = duckdb.connect(str(store.path))
    for t in ("observations", "examples"):
        con.execute(f'ALTER TABLE {t} DROP COLUMN "non_embedding_params"')
    con.close()
    old = Store(store.path)
    obs = old.observations()
    assert len(obs) and obs["non_embedding_params"].isna().all()
    assert list(obs.columns) == list(OBSERVATION_COLUMNS)
    write_expemergence(tmp_path / "src2", GOOD, task="hellaswag")
    from emergence.ingestion.sources import expemergence
    b = expemergence.parse(tmp_path / "src2", source="other")
    assert old.write([(b, {"root": "x"})]) == {"other": "added"}
    cols = set(old._df("SELECT column_name FROM information_schema.columns WHERE table_name = 'observations'")
               ["column_name"])
    assert "non_embedding_params" in cols
    assert _DUCK_TYPES["float"] == "DOUBLE"


# ---------------------------------------------------------------- remove, and the same content under two names
def _write(store: Store, root: Path, name: str, **kw):
    from emergence.analysis.series import apply_fdr, score_observations
    return store.write([_renamed(batch_from(root), name)], score=score_observations, finalize=apply_fdr, **kw)


def test_remove_takes_a_source_out_of_every_table_as_if_never_written(tmp_path):
    """Removing B from {A, B} leaves the store A alone would be: same rows, same series, same q-values."""
    from emergence.analysis.series import apply_fdr, score_observations
    write_expemergence(tmp_path / "a", GOOD)
    write_expemergence(tmp_path / "b", GOOD[:3] + ["EleutherAI/pythia-12b,Pythia,12,0.3,21.6,0.2,0.1,0.95,0.1,0.9"],
                       task="hindu_knowledge")
    both, alone = Store(tmp_path / "both.duckdb"), Store(tmp_path / "alone.duckdb")
    _write(both, tmp_path / "a", "one")
    _write(both, tmp_path / "b", "two")
    _write(alone, tmp_path / "a", "one")
    assert both.remove(["two"], score=score_observations, finalize=apply_fdr) == {
        "two": {"observations": len(batch_from(tmp_path / "b")[0].observations), "examples": 0,
                "issues": len(batch_from(tmp_path / "b")[0].issues_frame())}}
    for t in ("observations", "examples", "data_issues", "series", "duplicate_files"):
        assert both._df(f"SELECT count(*) AS n FROM {t} WHERE source = 'two'")["n"][0] == 0, t
    pd.testing.assert_frame_equal(both.series().sort_values("series_id").reset_index(drop=True),
                                  alone.series().sort_values("series_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(both.observations(), alone.observations())
    assert both.fingerprint() == alone.fingerprint()


def test_removing_an_unknown_source_changes_nothing(tmp_path):
    from emergence.store import UnknownSource
    write_expemergence(tmp_path / "a", GOOD)
    store = Store(tmp_path / "s.duckdb")
    _write(store, tmp_path / "a", "one")
    digest = sha(store.path)
    with pytest.raises(UnknownSource, match="no source 'nope'.*its sources: one"):
        store.remove(["one", "nope"])
    assert sha(store.path) == digest and {p.name for p in tmp_path.iterdir()} == {"a", "s.duckdb", "s.duckdb.lock"}


def test_same_files_under_a_second_name_are_stored_but_not_counted_twice(tmp_path):
    write_expemergence(tmp_path / "a", GOOD)
    store = Store(tmp_path / "s.duckdb")
    _write(store, tmp_path / "a", "first")
    one = store.series()
    _write(store, tmp_path / "a", "copy")
    dup = store.duplicate_files()
    assert dup[["source", "original_source"]].values.tolist() == [["copy", "first"]]
    assert dup["file"].tolist() == dup["original_file"].tolist()
    iss = store.data_issues(["copy"])
    d = iss[iss["kind"] == "duplicate_source"]
    assert len(d) == 1 and d["value"].iloc[0] == "first" and "not scored again" in d["detail"].iloc[0]
    # the copy's rows are there, its series are not: every share counts the outputs once
    assert len(store.observations({"source": ["copy"]})) == len(store.observations({"source": ["first"]}))
    assert set(store.series()["source"]) == {"first"} and len(store.series()) == len(one)
    assert store.observations({"source": ["copy"]}, scoring_only=True).empty
    assert store.source_rows().set_index("name").loc["copy", "n_issues"] == len(iss)
    # removing the original makes the copy count
    from emergence.analysis.series import apply_fdr, score_observations
    store.remove(["first"], score=score_observations, finalize=apply_fdr)
    assert store.duplicate_files().empty and "duplicate_source" not in set(store.data_issues()["kind"])
    after = store.series()
    assert set(after["source"]) == {"copy"} and len(after) == len(one)
    pd.testing.assert_series_equal(after["emergence_score"].reset_index(drop=True),
                                   one["emergence_score"].reset_index(drop=True))


def test_new_options_on_the_same_content_replace_the_source(tmp_path):
    write_expemergence(tmp_path / "a", GOOD)
    store = Store(tmp_path / "s.duckdb")
    b, meta = batch_from(tmp_path / "a")
    assert store.write([(b, meta)]) == {"expemergence": "added"}
    added = store.source_rows()["added_at"].iloc[0]
    assert store.write([(b, meta)]) == {"expemergence": "unchanged"}
    b.options = {"empty_prediction": "skip"}
    assert store.write([(b, meta)]) == {"expemergence": "replaced"}
    row = store.source_rows().iloc[0]
    assert row["options"] == '{"empty_prediction": "skip"}' and row["added_at"] == added


def test_the_in_place_fdr_step_gives_the_whole_table_step(tmp_path):
    """Finalize(reads, writes) updates two columns in place; the plain callable rewrites the table: same series."""
    from emergence.ingestion.ingest import fdr_step
    from emergence.analysis.series import apply_fdr, score_observations
    write_expemergence(tmp_path / "a", GOOD)
    write_expemergence(tmp_path / "b", GOOD[:3] + ["EleutherAI/pythia-12b,Pythia,12,0.3,21.6,0.2,0.1,0.95,0.1,0.9"],
                       task="hindu_knowledge")
    whole, narrow = Store(tmp_path / "w.duckdb"), Store(tmp_path / "n.duckdb")
    for store, fin in ((whole, apply_fdr), (narrow, fdr_step(apply_fdr))):
        for root, name in ((tmp_path / "a", "one"), (tmp_path / "b", "two"), (tmp_path / "a", "three")):
            store.write([_renamed(batch_from(root), name)], score=score_observations, finalize=fin)
        store.remove(["one"], score=score_observations, finalize=fin)
    a = whole.series().sort_values("series_id").reset_index(drop=True)
    b = narrow.series().sort_values("series_id").reset_index(drop=True)
    assert set(a["source"]) == {"two", "three"} and a["q_value"].notna().any()
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_the_fdr_step_reads_only_what_it_declares(real_store):
    """On the real series table: apply_fdr over the declared columns = apply_fdr over every column, and it adds
    only the declared columns (so the store's in-place update misses nothing)."""
    from emergence.analysis.series import FDR_READS, FDR_WRITES
    from emergence.analysis.series import apply_fdr
    db, _ = real_store
    series = Store(db).series()
    missing = [c for c in FDR_READS if c not in series.columns]
    assert not missing, f"FDR_READS names columns the series table lacks: {missing}"
    full = apply_fdr(series)
    narrow = apply_fdr(series[list(FDR_READS)].copy())
    added = sorted(set(narrow.columns) - set(FDR_READS))
    assert added == sorted(FDR_WRITES), f"apply_fdr now writes {added}: update emergence.analysis.series.FDR_WRITES"
    for col in FDR_WRITES:
        a, b = (x[col].astype(object).where(x[col].notna(), None).tolist() for x in (full, narrow))
        assert a == b, f"apply_fdr reads more than FDR_READS: {col} differs"


def test_the_same_content_gives_the_same_verdicts_in_two_stores(tmp_path, shared_data):
    """Deterministic: two stores built from the same real files hold the same p-values, q-values and verdicts,
    and ingesting the same content again changes nothing (a share link's numbers do not move)."""
    from emergence.ingestion.ingest import ingest
    from conftest import require_shared
    data = require_shared()
    names = ["mlfoundations-scaling", "lm-eval-harness-results-2023"]
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    ingest(names, db=a, data=data, online=False)
    ingest(names[::-1], db=b, data=data, online=False)
    sa = Store(a).series().sort_values("series_id").reset_index(drop=True)
    sb = Store(b).series().sort_values("series_id").reset_index(drop=True)
    assert (sa["pre_state"] == "tested").sum() > 100
    pd.testing.assert_frame_equal(sa, sb)
    again = ingest(names, db=a, data=data, online=False)
    assert again["result"] == {n: "unchanged" for n in names} and Store(a).fingerprint() == Store(b).fingerprint()
    pd.testing.assert_frame_equal(Store(a).series().sort_values("series_id").reset_index(drop=True), sa)


def test_series_of_one_scale_axis_are_read_in_sql_in_the_series_keys_order(fixture_store):
    """``Store.series(filters, scale_axis)``: the rows of that axis only, as pandas picks them from the whole table,
    ordered by the series key, then the model (a training-axis series per model: their order was undefined)."""
    store = Store(fixture_store)
    everything = store.series()
    key = ["source", "task", "subtask", "metric", "source_metric", "family", "prompt_variant", "variant", "shots",
           "model"]
    for axis in sorted(everything["scale_axis"].unique()):
        on_axis = everything[everything["scale_axis"] == axis]
        sources = sorted(on_axis["source"].unique())[:2]
        got = store.series({"source": sources}, scale_axis=axis)
        want = on_axis[on_axis["source"].isin(sources)].sort_values(key, kind="stable", na_position="last")
        assert len(got) and set(got["scale_axis"]) == {axis}
        assert got["series_id"].tolist() == want["series_id"].tolist()
    assert store.series(scale_axis="no such axis").empty
    assert len(store.series(scale_axis=None)) == len(everything)


def test_observations_of_some_columns_are_those_columns_of_the_whole_rows(fixture_store):
    """``Store.observations(columns=...)``: the same rows in the same order, only those columns (the dashboard reads
    the ones a series' points are made of: half the time of every column); a name the table lacks is an error
    naming it, not a column of NULLs."""
    from emergence.analysis.series import POINT_INPUTS
    store = Store(fixture_store)
    whole = store.observations({"task": ["arithmetic"]})
    some = store.observations({"task": ["arithmetic"]}, columns=POINT_INPUTS)
    assert len(whole) > 0 and list(some.columns) == list(POINT_INPUTS)
    pd.testing.assert_frame_equal(some, whole[list(POINT_INPUTS)])
    with pytest.raises(ValueError, match="'no_such_column'"):
        store.observations(columns=["value", "no_such_column"])
