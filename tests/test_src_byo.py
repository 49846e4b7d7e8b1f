"""Bring your own: a CSV/Parquet table plus a column mapping (TOML file or the CLI's dict).

Every fixture is built in ``tmp_path``; the last tests run the parser on a real per-example file
(the multiplication completions) with a mapping, as a user with their own outputs would.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from emergence.ingestion.schema import EXAMPLE_COLUMNS, OBSERVATION_COLUMNS, IngestError
from emergence.ingestion.sources.byo import load_mapping, parse_with_mapping
from conftest import require_shared

AGG_CSV = """task,model_name,score,n_params
arith,m-small,0.1,0.1
arith,m-mid,0.3,1
arith,m-big,,10
arith,gpt2,0.5,
,m-none,0.2,1
"""

MAPPING_TOML = """name = "my-eval"
kind = "aggregate"
[columns]
task = "task"
model = "model_name"
value = "score"
params = "n_params"
[constants]
metric = "exact_str_match"
family = "gpt-2"
shots = 0
[scale]
params = 1e9
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def agg(tmp_path):
    data = write(tmp_path / "scores.csv", AGG_CSV)
    mapping = load_mapping(write(tmp_path / "map.toml", MAPPING_TOML))
    return parse_with_mapping(data, mapping), data, tmp_path / "map.toml"


def test_load_mapping_remembers_its_file(tmp_path):
    m = load_mapping(write(tmp_path / "map.toml", MAPPING_TOML))
    assert m["columns"]["model"] == "model_name" and m["scale"]["params"] == 1e9 and m["constants"]["shots"] == 0
    assert m["_file"] == str(tmp_path / "map.toml")


def test_aggregate_rows(agg):
    b, _, _ = agg
    assert b.source == "my-eval" and b.examples is None
    o = b.observations.set_index("model")
    assert list(b.observations.columns) == list(OBSERVATION_COLUMNS)
    assert sorted(o.index) == ["gpt2", "m-mid", "m-small"]
    r = o.loc["m-small"]
    assert r["value"] == 0.1 and r["task"] == "arith" and r["shots"] == 0
    assert r["metric"] == "exact_match" and r["source_metric"] == "exact_str_match"      # canonical + as given
    assert r["family"] == "GPT-2" and r["source_family"] == "gpt-2"
    assert r["params"] == pytest.approx(1e8) and r["params_source"] == "file column 'n_params' x 1e+09"
    assert r["params_estimate"] == False and r["higher_is_better"] == True  # noqa: E712
    assert r["source_file"] == "scores.csv" and r["row_ref"] == "2" and r["in_scoring"] == True  # noqa: E712
    assert len(r["content_hash"]) == 64


def test_aggregate_curated_size_when_params_absent(agg):
    r = agg[0].observations.set_index("model").loc["gpt2"]
    assert r["params"] == 124_439_808 and r["params_source"].startswith("data/models/openai.csv")


def test_aggregate_missing_cells_are_counted(agg):
    b, _, _ = agg
    iss = b.issues_frame()
    got = dict(zip(iss["field"], iss["detail"]))
    assert got["score"] == "1 rows without value: not stored"
    assert got["task"] == "1 rows without task: not stored"
    assert set(iss["kind"]) == {"missing_value"}
    assert b.files == {"scores.csv": b.observations["content_hash"].iloc[0]}


def test_cli_style_dict_with_text_constants(tmp_path):
    data = write(tmp_path / "s.csv", "t,m,v,ok\nx,a,1.5,true\nx,b,2.5,false\n")
    mapping = {"columns": {"task": "t", "model": "m", "value": "v"},
               "constants": {"metric": "edit_distance", "shots": "3", "in_scoring": "yes", "params": "2"},
               "scale": {"params": "1e9"}, "kind": "aggregate"}
    b = parse_with_mapping(data, mapping, source="cli-run")
    o = b.observations.set_index("model")
    assert b.source == "cli-run"
    assert o.loc["a", "shots"] == 3 and o.loc["a", "params"] == 2e9
    assert o.loc["a", "params_source"] == "mapping constant x 1e+09"
    assert o.loc["b", "higher_is_better"] == False  # noqa: E712  (edit distance: lower is better)
    # no family given and none curated for 'a': family stays NULL, a no_scale issue is not raised (params given)
    assert b.issues_frame().empty


def test_default_name_is_file_stem(tmp_path):
    data = write(tmp_path / "runs_2024.csv", "t,m,v\nx,a,1\n")
    b = parse_with_mapping(data, {"columns": {"task": "t", "model": "m", "value": "v"},
                                  "constants": {"metric": "accuracy"}})
    assert b.source == "runs_2024"
    iss = b.issues_frame()
    assert list(iss["kind"]) == ["no_scale"] and list(iss["value"]) == ["a"]


def test_duplicates_kept_out_of_scoring(tmp_path):
    data = write(tmp_path / "d.csv", "t,m,v\nx,a,1\nx,a,1\nx,b,1\nx,b,2\n")
    b = parse_with_mapping(data, {"columns": {"task": "t", "model": "m", "value": "v"},
                                  "constants": {"metric": "accuracy", "params": 1}})
    o = b.observations
    assert o["in_scoring"].tolist() == [True, False, False, False]
    assert b.issues_frame()["kind"].value_counts().to_dict() == {"conflict": 2, "duplicate": 1}


def test_parquet_aggregate(tmp_path):
    p = tmp_path / "s.parquet"
    pd.DataFrame({"task": ["x", "x"], "model": ["gpt2-xl", "gpt2"], "acc": [0.4, 0.3]}).to_parquet(p)
    b = parse_with_mapping(p, {"columns": {"task": "task", "model": "model", "value": "acc"},
                               "constants": {"metric": "acc"}})
    o = b.observations.set_index("model")
    assert o.loc["gpt2-xl", "params"] == 1_557_611_200 and o.loc["gpt2-xl", "family"] == "GPT-2"
    assert o.loc["gpt2", "metric"] == "multiple_choice_grade" and o.loc["gpt2", "row_ref"] == "1"


def test_examples_csv(tmp_path):
    rows = [{"task": "mc", "model": "gpt2", "qid": "q1", "lp": json.dumps([-0.1, -2.5]), "gold": 0, "ok": "1"},
            {"task": "mc", "model": "gpt2", "qid": "q2", "lp": json.dumps([-1.0, -0.5]), "gold": 0, "ok": "0"},
            {"task": "mc", "model": "gpt2", "qid": "q3", "lp": "", "gold": 1, "ok": ""}]
    data = tmp_path / "ex.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    m = {"kind": "examples", "columns": {"task": "task", "model": "model", "example_id": "qid",
                                         "choice_logprobs": "lp", "correct_index": "gold", "correct": "ok"},
         "constants": {"shots": 0}}
    b = parse_with_mapping(data, m)
    e = b.examples.set_index("example_id")
    assert list(b.examples.columns) == list(EXAMPLE_COLUMNS) and len(b.observations) == 0
    assert e.loc["q1", "choice_logprobs"] == [-0.1, -2.5] and e.loc["q1", "correct"] == True  # noqa: E712
    assert e.loc["q2", "correct"] == False and e.loc["q2", "correct_index"] == 0  # noqa: E712
    assert e.loc["q3", "choice_logprobs"] is None and pd.isna(e.loc["q3", "correct"])
    assert e.loc["q1", "params"] == 124_439_808 and e.loc["q1", "family"] == "GPT-2"
    assert e.loc["q1", "source_file"] == "ex.csv" and e.loc["q1", "row_ref"] == "2"


def test_examples_parquet_with_lists_and_default_ids(tmp_path):
    p = tmp_path / "gen.parquet"
    pd.DataFrame({"model": ["m", "m"], "pred": ["12", "13"], "gold": ["12", "12"], "n": [10, 10], "c": [3, 0],
                  "lp": [[-0.2, -1.0], [-0.3, -0.9]]}).to_parquet(p)
    b = parse_with_mapping(p, {"kind": "examples",
                               "columns": {"model": "model", "prediction": "pred", "target": "gold",
                                           "n_samples": "n", "n_correct": "c", "choice_logprobs": "lp"},
                               "constants": {"task": "mult"}})
    e = b.examples
    assert e["example_id"].tolist() == ["0", "1"]            # row numbers when no id column is mapped
    assert e["prediction"].tolist() == ["12", "13"] and e["n_correct"].tolist() == [3, 0]
    assert e["choice_logprobs"].iloc[1] == [-0.3, -0.9]


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("toml_text, field", [
    (MAPPING_TOML.replace('value = "score"', 'value = "score"\nscroe = "score"'), "scroe"),
    (MAPPING_TOML.replace("shots = 0", "shots = 0\ncolour = 1"), "colour"),
    (MAPPING_TOML.replace('kind = "aggregate"', 'kind = "aggregate"\nmetrics = "x"'), "metrics"),
    (MAPPING_TOML.replace('kind = "aggregate"', 'kind = "rows"'), "kind"),
    (MAPPING_TOML.replace('value = "score"\n', ""), "value"),
    (MAPPING_TOML.replace('metric = "exact_str_match"\n', ""), "metric"),
    (MAPPING_TOML.replace("shots = 0", 'shots = 0\ntask = "arith"'), "task"),           # column and constant
    (MAPPING_TOML.replace("params = 1e9", 'params = "big"'), "params"),
    (MAPPING_TOML.replace("params = 1e9", "task = 2"), "task"),                          # scale a text field
    (MAPPING_TOML.replace("shots = 0", 'shots = "few"'), "shots"),
])
def test_bad_mapping_names_the_mapping_file(tmp_path, toml_text, field):
    data = write(tmp_path / "scores.csv", AGG_CSV)
    toml = write(tmp_path / "map.toml", toml_text)
    with pytest.raises(IngestError) as e:
        parse_with_mapping(data, load_mapping(toml))
    assert e.value.file == str(toml) and e.value.field == field


def test_bad_mapping_without_file_says_column_mapping(tmp_path):
    data = write(tmp_path / "s.csv", "t,m,v\nx,a,1\n")
    with pytest.raises(IngestError) as e:
        parse_with_mapping(data, {"columns": {"task": "t", "model": "m", "value": "v", "size": "v"},
                                  "constants": {"metric": "accuracy"}})
    assert e.value.file == "column mapping" and e.value.field == "size"


def test_examples_kind_rejects_aggregate_fields(tmp_path):
    data = write(tmp_path / "s.csv", "t,m,v\nx,a,1\n")
    with pytest.raises(IngestError) as e:
        parse_with_mapping(data, {"kind": "examples", "columns": {"task": "t", "model": "m", "value": "v"}})
    assert e.value.field == "value"


def test_mapped_column_missing_from_data(tmp_path):
    data = write(tmp_path / "scores.csv", AGG_CSV.replace("n_params", "size_b"))
    toml = write(tmp_path / "map.toml", MAPPING_TOML)
    with pytest.raises(IngestError) as e:
        parse_with_mapping(data, load_mapping(toml))
    assert e.value.file == "scores.csv" and e.value.field == "n_params"
    assert str(toml) in str(e.value)


@pytest.mark.parametrize("csv, field, value, row", [
    ("task,model_name,score,n_params\narith,a,0.1,1\narith,b,high,1\n", "score", "high", "3"),
    ("task,model_name,score,n_params\narith,a,0.1,-1\n", "params", -1e9, "2"),
    ("task,model_name,score,n_params\narith,a,inf,1\n", "value", "inf", "2"),
])
def test_bad_cells_name_file_row_field(tmp_path, csv, field, value, row):
    data = write(tmp_path / "scores.csv", csv)
    with pytest.raises(IngestError) as e:
        parse_with_mapping(data, load_mapping(write(tmp_path / "map.toml", MAPPING_TOML)))
    assert e.value.file == "scores.csv" and e.value.field == field and str(e.value.row) == row
    if isinstance(value, float):
        assert float(e.value.value) == value
    else:
        assert str(e.value.value) == value


@pytest.mark.parametrize("cell, field", [("[1, 2", "lp"), ('["a"]', "lp")])
def test_bad_logprob_lists(tmp_path, cell, field):
    data = tmp_path / "ex.csv"
    pd.DataFrame({"t": ["x"], "m": ["a"], "lp": [cell]}).to_csv(data, index=False)
    with pytest.raises(IngestError) as e:
        parse_with_mapping(data, {"kind": "examples",
                                  "columns": {"task": "t", "model": "m", "choice_logprobs": "lp"}})
    assert e.value.field == field and e.value.row == "2"


def test_bad_boolean_cell(tmp_path):
    data = write(tmp_path / "ex.csv", "t,m,ok\nx,a,maybe\n")
    with pytest.raises(IngestError) as e:
        parse_with_mapping(data, {"kind": "examples", "columns": {"task": "t", "model": "m", "correct": "ok"}})
    assert e.value.field == "ok" and e.value.value == "maybe"


@pytest.mark.parametrize("name, content, match", [
    ("s.json", "{}", "expected a JSON list of records"),
    ("s.xlsx", "PK", "must be .csv"),
    ("s.parquet", "PAR1 not really", "not a readable parquet"),
    ("s.csv", "", "empty file"),
    ("s.csv", 't,m,v\nx,"a,1\n', "malformed CSV"),
])
def test_unreadable_data(tmp_path, name, content, match):
    data = write(tmp_path / name, content)
    with pytest.raises(IngestError, match=match):
        parse_with_mapping(data, {"columns": {"task": "t", "model": "m", "value": "v"},
                                  "constants": {"metric": "accuracy"}})


def test_bad_toml(tmp_path):
    toml = write(tmp_path / "map.toml", "kind = \n")
    with pytest.raises(IngestError, match="not valid TOML") as e:
        load_mapping(toml)
    assert e.value.file == str(toml)


# ------------------------------------------------------------------ real data through a mapping
def test_real_multiplication_file_as_byo(shared_data, tmp_path):
    """A user's own completions file (here the real gpt2 one) with a mapping gives the source parser's rows."""
    path = require_shared("gpt3-multiplication-tables") / "data" / "multiplication_data_HF-gpt2_0_100.csv"
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["target"] = (raw["a"].astype(int) * raw["b"].astype(int)).astype(str)
    raw["id"] = raw["a"] + "*" + raw["b"]
    mine = tmp_path / "gpt2_completions.parquet"
    raw.to_parquet(mine)
    toml = write(tmp_path / "map.toml", 'kind = "examples"\n[columns]\nexample_id = "id"\nprediction = "completion"\n'
                                        'target = "target"\n[constants]\ntask = "two_digit_multiplication"\n'
                                        'model = "gpt2"\nshots = 3\n')
    b = parse_with_mapping(mine, load_mapping(toml))
    e = b.examples
    assert len(e) == 10_000 and e["params"].iloc[0] == 124_439_808
    assert (e["prediction"] == e["target"]).mean() == pytest.approx(0.0128)
    assert b.issues_frame().empty


# ================================================================== issue 12: formats, sizes, extraction, empty answers
from emergence.analysis.rescore import aggregate_examples  # noqa: E402
from emergence.ingestion.sources.byo import FIELD_DOCS, fields_for, fields_help, parse_size  # noqa: E402

EX = {"kind": "examples", "columns": {"model": "model", "example_id": "id", "prediction": "pred", "target": "gold"},
      "constants": {"task": "qa"}}


def exact_match(batch) -> dict:
    agg = aggregate_examples(batch.examples)
    return agg[agg["metric"] == "exact_match"].set_index("model")["value"].to_dict()


def test_json_records_nested_paths_and_verbatim_text(tmp_path):
    recs = [{"id": 1, "meta": {"model": "m-a"}, "output": ["None"], "answer": "None"},
            {"id": 2, "meta": {"model": "m-a"}, "output": ["NA"], "answer": "null"},
            {"id": 3, "meta": {"model": "m-a"}, "output": ["nan"], "answer": 7},
            {"id": 4, "meta": {"model": "m-a"}, "output": [None], "answer": "x"},
            {"id": 5, "meta": {"model": "m-a"}, "output": [], "answer": "y"}]
    data = write(tmp_path / "out.json", json.dumps(recs))
    b = parse_with_mapping(data, {"kind": "examples", "columns": {"model": "meta.model", "example_id": "id",
                                                                   "prediction": "output.0", "target": "answer"},
                                  "constants": {"task": "t", "params": "1B"}})
    e = b.examples.set_index("example_id")
    assert e.loc["1", "prediction"] == "None" and e.loc["1", "target"] == "None"      # text kept as it is
    assert e.loc["2", "prediction"] == "NA" and e.loc["2", "target"] == "null"
    assert e.loc["3", "prediction"] == "nan" and e.loc["3", "target"] == "7"          # a number: its JSON text
    assert e.loc["4", "prediction"] == "" and e.loc["5", "prediction"] == ""          # null / no item: empty -> wrong
    assert e["row_ref"].tolist() == ["0", "1", "2", "3", "4"] and e["params"].iloc[0] == 1e9
    iss = b.issues_frame()
    assert iss["kind"].tolist() == ["empty_prediction"] and iss["value"].tolist() == ["2"]
    assert iss["detail"].iloc[0].startswith("model m-a: 2 of 5 rows with a target have no prediction")


def test_jsonl_line_numbers_and_a_bad_line(tmp_path):
    lines = [json.dumps({"model": "gpt2", "id": "a", "pred": "1", "gold": "1"}), "",
             json.dumps({"model": "gpt2", "id": "b", "pred": "2", "gold": "3"})]
    b = parse_with_mapping(write(tmp_path / "o.jsonl", "\n".join(lines) + "\n"), EX)
    assert b.examples["row_ref"].tolist() == ["1", "3"] and exact_match(b) == {"gpt2": 0.5}
    with pytest.raises(IngestError, match="invalid or truncated JSON") as e:
        parse_with_mapping(write(tmp_path / "bad.jsonl", lines[0] + "\n" + lines[2][:20] + "\n"), EX)
    assert e.value.file == "bad.jsonl" and e.value.row == 2


def test_zip_of_two_files_reads_both_and_lists_the_rest(tmp_path):
    import zipfile
    path = tmp_path / "runs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a/small.json", json.dumps([{"model": "gpt2", "id": "q1", "pred": "x", "gold": "x"}]))
        zf.writestr("b/large.jsonl", json.dumps({"model": "gpt2-xl", "id": "q1", "pred": "", "gold": "x"}))
        zf.writestr("README.md", "notes")
    b = parse_with_mapping(path, EX)
    assert sorted(b.examples["source_file"]) == ["runs.zip/a/small.json", "runs.zip/b/large.jsonl"]
    assert list(b.files) == ["runs.zip"] and exact_match(b) == {"gpt2": 1.0, "gpt2-xl": 0.0}
    iss = b.issues_frame().set_index("kind")
    assert iss.loc["skipped_file", "detail"].endswith("README.md")
    assert iss.loc["empty_prediction", "source_file"] == "runs.zip/b/large.jsonl"


@pytest.mark.parametrize("text, name, delimiter", [
    ("model;id;pred;gold\ngpt2;1;a,b;a,b\ngpt2;2;c;d\n", "o.csv", None),        # detected from the header
    ("model|id|pred|gold\ngpt2|1|a,b|a,b\ngpt2|2|c|d\n", "o.txt", None),
    ("model\tid\tpred\tgold\ngpt2\t1\ta,b\ta,b\ngpt2\t2\tc\td\n", "o.tsv", None),
    ("model;id;pred;gold\ngpt2;1;a,b;a,b\ngpt2;2;c;d\n", "o.csv", ";"),          # given
])
def test_delimiters(tmp_path, text, name, delimiter):
    m = {**EX, **({"delimiter": delimiter} if delimiter else {})}
    b = parse_with_mapping(write(tmp_path / name, text), m)
    assert b.examples["prediction"].tolist() == ["a,b", "c"] and exact_match(b) == {"gpt2": 0.5}


def test_a_given_delimiter_wins_over_detection(tmp_path):
    data = write(tmp_path / "o.csv", "model,id,pred,gold\ngpt2,1,a;b,a;b\n")
    assert parse_with_mapping(data, EX).examples["prediction"].tolist() == ["a;b"]
    with pytest.raises(IngestError, match="is not in the data") as e:     # one column 'model,id,pred,gold'
        parse_with_mapping(data, {**EX, "delimiter": ";"})
    assert e.value.field == "model"


def test_text_cells_keep_na_spellings_numeric_cells_read_them_as_missing(tmp_path):
    data = write(tmp_path / "o.csv", "model,id,pred,gold,loss\ngpt2,1,None,None,NA\ngpt2,2,NA,nan,0.5\n"
                                     "gpt2,3,null,null,\ngpt2,4,,x,nan\n")
    m = {**EX, "columns": {**EX["columns"], "loss": "loss"}}
    e = parse_with_mapping(data, m).examples
    assert e["prediction"].tolist() == ["None", "NA", "null", ""] and e["target"].tolist() == ["None", "nan", "null", "x"]
    assert e["loss"].isna().tolist() == [True, False, True, True]


@pytest.mark.parametrize("value, expected", [
    ("7B", 7e9), ("350M", 3.5e8), ("1.3T", 1.3e12), ("125k", 1.25e5), ("7 b", 7e9), ("7e9", 7e9), ("1,500", 1500.0),
    (2, 2.0), ("NA", None), ("", None),
])
def test_parse_size(value, expected):
    assert parse_size(value) == expected


def test_size_strings_sizes_table_and_their_precedence(tmp_path):
    data = write(tmp_path / "s.csv", "task,model,score,size\nx,a,0.1,7B\nx,b,0.2,\nx,gpt2,0.3,\nx,c,0.4,2\n")
    m = {"columns": {"task": "task", "model": "model", "value": "score", "params": "size"},
         "constants": {"metric": "accuracy"}, "scale": {"params": 1e9}, "sizes": {"b": "350M", "c": 5}}
    o = parse_with_mapping(data, m).observations.set_index("model")
    assert o.loc["a", "params"] == 7e9                       # a size string: absolute, the scale not applied
    assert o.loc["c", "params"] == 2e9                       # the column wins over [sizes]; plain numbers scaled
    assert o.loc["b", "params"] == 3.5e8 and o.loc["b", "params_source"].startswith("mapping [sizes]")
    assert o.loc["gpt2", "params"] == 124_439_808            # neither: the curated table


def test_sizes_over_a_constant_and_the_cli_style_size(tmp_path):
    data = write(tmp_path / "s.csv", "task,model,score\nx,a,0.1\nx,b,0.2\n")
    m = {"columns": {"task": "task", "model": "model", "value": "score"},
         "constants": {"metric": "accuracy", "params": "1B"}, "sizes": {"a": "3e9"}}
    o = parse_with_mapping(data, m).observations.set_index("model")
    assert o.loc["a", "params"] == 3e9 and o.loc["b", "params"] == 1e9
    assert o.loc["b", "params_source"] == "mapping constant"


@pytest.mark.parametrize("cell", ["seven billion", "7X", "7BB", "-"])
def test_a_non_numeric_size_names_file_row_and_field(tmp_path, cell):
    data = write(tmp_path / "s.csv", f"task,model,score,size\nx,a,0.1,1B\nx,b,0.2,{cell}\n")
    with pytest.raises(IngestError, match="not a number or a size") as e:
        parse_with_mapping(data, {"columns": {"task": "task", "model": "model", "value": "score", "params": "size"},
                                  "constants": {"metric": "accuracy"}})
    assert (e.value.file, e.value.row, e.value.field, e.value.value) == ("s.csv", "3", "size", cell)


@pytest.mark.parametrize("sizes, field, match", [
    ({"typo-model": "7B"}, "sizes.typo-model", "in none of the files"),
    ({"a": "big"}, "sizes.a", "not a number or a size"),
    ({"a": 0}, "sizes.a", "positive"),
])
def test_bad_sizes_entries_are_errors(tmp_path, sizes, field, match):
    data = write(tmp_path / "s.csv", "task,model,score\nx,a,0.1\n")
    with pytest.raises(IngestError, match=match) as e:
        parse_with_mapping(data, {"columns": {"task": "task", "model": "model", "value": "score"},
                                  "constants": {"metric": "accuracy"}, "sizes": sizes})
    assert e.value.field == field


def test_extract_and_normalise_from_generated_text(tmp_path):
    recs = [{"model": "gpt2", "id": i, "out": o, "gold": g} for i, (o, g) in enumerate([
        ('Thinking... ```json\n{"reasoning": "r", "answer": "$1,234"}\n```', "# 1234"),
        ('{"answer": "3/4"}', "0.75"),
        ("I cannot answer", "5"),                         # no rule matches: unparsed, counted wrong
        ('{"answer": "seven"}', "7"),                     # extracted, but no number: unparsed
        ("", "9")])]                                      # empty in the file
    m = {"kind": "examples", "columns": {"model": "model", "example_id": "id", "prediction": "out", "target": "gold"},
         "constants": {"task": "math"},
         "extract": {"prediction": ["json:answer", r'"answer"\s*:\s*"([^"]*)"']},
         "normalise": {"prediction": "first_number", "target": ["remove:#", "first_number"]}}
    b = parse_with_mapping(write(tmp_path / "gen.json", json.dumps(recs)), m)
    e = b.examples
    assert e["prediction"].tolist() == ["1234", "0.75", "", "", ""] and e["target"].tolist() == ["1234", "0.75", "5",
                                                                                                  "7", "9"]
    assert exact_match(b) == {"gpt2": 0.4}
    d = b.issues_frame().set_index("kind").loc["empty_prediction"]
    assert d["value"] == "3" and "(1 empty in the file, 2 with no answer found" in d["detail"]


def test_an_extraction_rule_that_never_matches_is_an_error(tmp_path):
    data = write(tmp_path / "o.csv", "model,id,pred,gold\ngpt2,1,The answer is 4,4\ngpt2,2,It is 5,5\n")
    m = {**EX, "extract": {"prediction": r"ANSWER: (\d+)"}}
    with pytest.raises(IngestError, match="matched none of the 2 non-empty values") as e:
        parse_with_mapping(data, m)
    assert e.value.field == "extract.prediction" and e.value.value == r"ANSWER: (\d+)"
    ok = parse_with_mapping(data, {**m, "extract": {"prediction": r"(\d+)$"}})
    assert exact_match(ok) == {"gpt2": 1.0}


def test_empty_prediction_wrong_or_skip(tmp_path):
    data = write(tmp_path / "o.csv", "model,id,pred,gold\ngpt2,1,abc,abc\ngpt2,2,,abcd\ngpt2,3,x,\n"
                                     "gpt2-xl,1,,ab\n")
    wrong = parse_with_mapping(data, EX)
    skip = parse_with_mapping(data, {**EX, "empty_prediction": "skip"})
    assert wrong.options["empty_prediction"] == "wrong" and skip.options["empty_prediction"] == "skip"
    agg = aggregate_examples(wrong.examples).set_index(["model", "metric", "variant"])
    assert agg.loc[("gpt2", "exact_match", ""), "value"] == 0.5 and agg.loc[("gpt2", "exact_match", ""), "n_examples"] == 2
    # edit distance against the empty string: the target's length (4 characters of 'abcd')
    assert agg.loc[("gpt2", "edit_distance", "tokens=characters"), "value"] == pytest.approx((0 + 4) / 2)
    assert agg.loc[("gpt2-xl", "exact_match", ""), "value"] == 0.0
    agg2 = aggregate_examples(skip.examples).set_index(["model", "metric", "variant"])
    assert agg2.loc[("gpt2", "exact_match", ""), "value"] == 1.0 and agg2.loc[("gpt2", "exact_match", ""),
                                                                             "n_examples"] == 1
    assert ("gpt2-xl", "exact_match", "") not in agg2.index
    iss = wrong.issues_frame()
    emp = iss[iss["kind"] == "empty_prediction"].set_index("value")["detail"]
    assert sorted(emp.index) == ["1", "1"] and all("counted wrong" in d for d in emp)
    assert "left out of exact match" in skip.issues_frame().set_index("kind").loc["empty_prediction", "detail"].iloc[0]
    miss = iss[iss["kind"] == "missing_value"]
    assert miss["detail"].tolist() == ["model gpt2: 1 rows have a prediction but no target: not scored on exact match "
                                       "or edit distance"]


def test_a_folder_with_a_files_pattern_and_by_task_rules(tmp_path):
    for model in ("m-1b", "m-7b"):
        for task in ("arith", "words"):
            d = tmp_path / "runs" / model
            d.mkdir(parents=True, exist_ok=True)
            write(d / f"{task}.jsonl", json.dumps({"q": 1, "out": "Result: 12.0", "gold": "12"}) + "\n")
    write(tmp_path / "runs" / "notes.txt", "not matched, not read")
    m = {"kind": "examples", "files": "runs/{model}/{task}.jsonl",
         "columns": {"example_id": "q", "prediction": "out", "target": "gold"},
         "extract": {"prediction": r"Result: (\S+)"}, "sizes": {"m-1b": "1B", "m-7b": "7B"},
         "by_task": {"arith": {"normalise": {"prediction": "first_number"}}}}
    b = parse_with_mapping(tmp_path, m, source="mine")
    e = b.examples.set_index(["model", "task"])
    assert e.loc[("m-7b", "arith"), "prediction"] == "12" and e.loc[("m-7b", "words"), "prediction"] == "12.0"
    assert e.loc[("m-1b", "arith"), "params"] == 1e9 and sorted(b.files) == [
        "runs/m-1b/arith.jsonl", "runs/m-1b/words.jsonl", "runs/m-7b/arith.jsonl", "runs/m-7b/words.jsonl"]
    with pytest.raises(IngestError, match="needs a files pattern"):
        parse_with_mapping(tmp_path, {**{k: v for k, v in m.items() if k not in ("files", "sizes")},
                                      "constants": {"task": "arith", "model": "m-1b"}})


@pytest.mark.parametrize("text, where", [
    ("kind = \n", "line 1, column 8"), ('name = "x"\n[columns\ntask = "t"\n', "line 2, column 9"),
    ('name = "x"\nname = "y"\n', "line 2, column 11"),
])
def test_a_toml_syntax_error_is_one_line_with_line_and_column(tmp_path, text, where):
    toml = write(tmp_path / "map.toml", text)
    with pytest.raises(IngestError) as e:
        load_mapping(toml)
    msg = str(e.value)
    assert msg.startswith(f"{toml}: not valid TOML at {where}") and "\n" not in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_every_field_is_documented():
    for kind in ("aggregate", "examples"):
        assert set(fields_for(kind)) <= set(FIELD_DOCS)
        assert all(f"  {f} " in fields_help(kind) for f in fields_for(kind))


# ------------------------------------------------------------------ real rows (../shared/data/mmlu-pro-outputs)
def _mmlu_pro_records(model: str) -> list[dict]:
    import zipfile
    path = require_shared("mmlu-pro-outputs") / "eval_results" / f"model_outputs_{model}_5shots.zip"
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(zf.namelist()[0]))


def test_real_mmlu_pro_zip_through_a_mapping_counts_unparsed_answers_wrong(shared_data):
    """Yi-34B on math: 0.296 with null answers counted wrong (the default), 0.362 with them left out."""
    path = shared_data / "mmlu-pro-outputs" / "eval_results" / "model_outputs_Yi-34B_5shots.zip"
    m = {"kind": "examples", "columns": {"example_id": "question_id", "subtask": "category", "prediction": "pred",
                                         "target": "answer"},
         "constants": {"task": "mmlu_pro", "model": "Yi-34B", "shots": 5}}
    raw = pd.DataFrame(_mmlu_pro_records("Yi-34B"))
    math_rows = raw[raw["category"] == "math"]
    # independent: pandas on the raw JSON
    want_wrong = (math_rows["pred"] == math_rows["answer"]).mean()
    answered = math_rows[math_rows["pred"].notna()]
    want_skip = (answered["pred"] == answered["answer"]).mean()
    assert round(want_wrong, 3) == 0.296 and round(want_skip, 3) == 0.362
    for rule, want, n in (("wrong", want_wrong, len(math_rows)), ("skip", want_skip, len(answered))):
        b = parse_with_mapping(path, {**m, "empty_prediction": rule})
        agg = aggregate_examples(b.examples)
        row = agg[(agg["metric"] == "exact_match") & (agg["subtask"] == "math")].iloc[0]
        assert row["value"] == pytest.approx(want, abs=1e-12) and row["n_examples"] == n
        iss = b.issues_frame()
        assert iss.loc[iss["kind"] == "empty_prediction", "value"].tolist() == [str(int(raw["pred"].isna().sum()))]
    assert len(b.examples) == 12_032 and b.examples["params"].iloc[0] == 34.4e9


def test_real_option_text_nan_is_a_target_not_a_missing_value(tmp_path, shared_data):
    """A user's CSV of option texts: question 9682's right option is the text 'nan' (kept, not dropped)."""
    raw = pd.DataFrame(_mmlu_pro_records("Yi-34B"))
    letters = "ABCDEFGHIJ"
    rows = pd.DataFrame({
        "question_id": raw["question_id"], "model": "Yi-34B",
        "predicted_option": [o[letters.index(p)] if isinstance(p, str) else "" for p, o in zip(raw["pred"], raw["options"])],
        "right_option": [o[int(i)] for o, i in zip(raw["options"], raw["answer_index"])]})
    data = tmp_path / "yi34b_options.csv"
    rows.to_csv(data, index=False)
    b = parse_with_mapping(data, {"kind": "examples", "columns": {"example_id": "question_id", "model": "model",
                                                                  "prediction": "predicted_option",
                                                                  "target": "right_option"},
                                  "constants": {"task": "mmlu_pro"}})
    e = b.examples.set_index("example_id")
    assert len(e) == 12_032 and e["target"].notna().all()
    assert e.loc["9682", "target"] == "nan" and (e["target"] == "nan").sum() == 1
    want = (rows["predicted_option"] == rows["right_option"]).mean()       # pandas on the same rows, as text
    assert exact_match(b)["Yi-34B"] == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("name, text", [("e.json", "[]"), ("e.jsonl", "\n\n"), ("e.csv", "model,id,pred,gold\n")])
def test_a_file_without_rows_is_an_error(tmp_path, name, text):
    with pytest.raises(IngestError, match="no rows or records|empty file") as e:
        parse_with_mapping(write(tmp_path / name, text), EX)
    assert e.value.file == name


def test_a_single_file_must_match_the_files_pattern_it_takes_fields_from(tmp_path):
    m = {"kind": "examples", "files": "outputs_{model}.jsonl", "constants": {"task": "t"},
         "columns": {"prediction": "p", "target": "g"}}
    line = json.dumps({"p": "1", "g": "1"}) + "\n"
    b = parse_with_mapping(write(tmp_path / "outputs_gpt2-xl.jsonl", line), m)
    assert b.examples["model"].tolist() == ["gpt2-xl"] and b.examples["params"].iloc[0] == 1_557_611_200
    with pytest.raises(IngestError, match="does not match the files pattern") as e:
        parse_with_mapping(write(tmp_path / "results.jsonl", line), m)
    assert e.value.field == "files"


def test_real_rows_through_jsonl_semicolons_a_zip_sizes_and_an_extraction_regex(tmp_path, shared_data):
    """Real MMLU-Pro rows written as a user might: nested JSONL and a ';' CSV, each zipped; sizes as '6B'; the answer
    extracted from the generated text with MMLU-Pro's level-1 pattern.  Reference: pandas' str.extract on the raw
    JSON with the same pattern (a text without a match counted wrong)."""
    import zipfile
    pattern = r"answer is \(?([A-J])\)?"
    raw = pd.DataFrame(_mmlu_pro_records("Yi-6B"))
    head, tail = raw.iloc[:6000], raw.iloc[6000:]
    jsonl = "\n".join(json.dumps({"q": r.question_id, "meta": {"model": "Yi-6B", "cat": r.category},
                                  "out": [r.generated_text], "gold": r.answer}) for r in head.itertuples())
    csv_text = tail[["question_id", "category", "generated_text", "answer"]].assign(model="Yi-6B") \
        .rename(columns={"question_id": "q", "generated_text": "out", "answer": "gold", "category": "cat"}) \
        .to_csv(sep=";", index=False)
    common = {"kind": "examples", "constants": {"task": "mmlu_pro"}, "sizes": {"Yi-6B": "6B"},
              "extract": {"prediction": pattern}}
    # one archive, two layouts: one mapping cannot address both (nested paths vs flat columns), so one file each
    z_json, z_csv = tmp_path / "p1.zip", tmp_path / "p2.zip"
    with zipfile.ZipFile(z_json, "w") as zf:
        zf.writestr("part1.jsonl", jsonl)
    with zipfile.ZipFile(z_csv, "w") as zf:
        zf.writestr("part2.csv", csv_text)
    b1 = parse_with_mapping(z_json, {**common, "columns": {"example_id": "q", "model": "meta.model",
                                                          "subtask": "meta.cat", "prediction": "out.0",
                                                          "target": "gold"}}, source="yi")
    b2 = parse_with_mapping(z_csv, {**common, "columns": {"example_id": "q", "model": "model", "subtask": "cat",
                                                         "prediction": "out", "target": "gold"}}, source="yi")
    assert b1.examples["row_ref"].iloc[-1] == "6000" and b2.examples["row_ref"].iloc[0] == "2"
    ex = pd.concat([b1.examples, b2.examples], ignore_index=True)
    assert len(ex) == 12_032 and (ex["params"] == 6e9).all()
    want = raw["generated_text"].str.extract(pattern)[0]
    assert (ex["prediction"].replace("", None).isna().sum()) == want.isna().sum()
    got = aggregate_examples(ex)
    got = got[got["metric"] == "exact_match"].set_index("subtask")["value"]
    ref = (want == raw["answer"]).groupby(raw["category"]).mean()
    for category, value in ref.items():
        assert got[category] == pytest.approx(value, abs=1e-12), category
    emp = pd.concat([b1.issues_frame(), b2.issues_frame()])
    assert emp.loc[emp["kind"] == "empty_prediction", "value"].astype(int).sum() == int(want.isna().sum())


def test_real_zip_twice_under_two_names_is_counted_once_then_removed(tmp_path, shared_data):
    from emergence.ingestion.ingest import ingest, remove
    from emergence.store import Store
    path = shared_data / "mmlu-pro-outputs" / "eval_results" / "model_outputs_Yi-6B_5shots.zip"
    m = {"kind": "examples", "columns": {"example_id": "question_id", "subtask": "category", "prediction": "pred",
                                         "target": "answer"}, "constants": {"task": "mmlu_pro", "model": "Yi-6B"}}
    db = tmp_path / "s.duckdb"
    ingest([str(path)], db=db, mapping={**m, "name": "first"})
    out = ingest([str(path)], db=db, mapping={**m, "name": "second"})
    assert out["warnings"] and out["warnings"][0].startswith("second: 1 file(s) have the same content as files of "
                                                             "source first")
    s = Store(db)
    assert set(s.series()["source"]) == {"first"} and len(s.examples({"source": ["second"]})) == 12_032
    remove(["first"], db=db)
    assert set(Store(db).series()["source"]) == {"second"} and Store(db).duplicate_files().empty
