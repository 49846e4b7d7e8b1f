"""The two presets for public per-example dumps: ZeroEval result_dirs and MMLU-Pro eval_results.

Real data: ``../shared/data/zeroeval-results`` (checked against ZeroEval's own summary tables,
``result_dirs/<task>.summary.json``) and ``../shared/data/mmlu-pro-outputs`` (checked against
pandas on the raw JSON in each zip).  Built fixtures: the task families without real files here
(mmlu-redux, crux, any other task), and the rules on small inputs.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from emergence.ingestion import catalog
from emergence.ingestion.ingest import ingest
from emergence.analysis.rescore import aggregate_examples
from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources import mmlu_pro, zeroeval
from emergence.store import Store
from conftest import require_shared

# ZeroEval's summary tables rename two runs (reference/eval_utils.py, model_name_replacement)
SUMMARY_NAME = {"gemma-2-27b-it@together": "gemma-2-27b-it",
                "Meta-Llama-3.1-405B-Instruct@hyperbolic": "Llama-3.1-405B-Inst@hyperbolic"}


def exact_match(examples: pd.DataFrame, by=("task", "model")) -> pd.Series:
    agg = aggregate_examples(examples)
    return agg[agg["metric"] == "exact_match"].set_index(list(by))["value"]


# ====================================================================== real data
@pytest.fixture(scope="module")
def ze_real(shared_data):
    return zeroeval.parse(require_shared("zeroeval-results"))


@pytest.fixture(scope="module")
def mp_real(shared_data):
    return mmlu_pro.parse(require_shared("mmlu-pro-outputs"))


@pytest.mark.parametrize("module, folder", [(zeroeval, "zeroeval-results"), (mmlu_pro, "mmlu-pro-outputs")])
def test_each_preset_claims_only_its_folder(shared_data, module, folder):
    claimed = {p.name for p in shared_data.iterdir() if p.is_dir() and module.detect(p)}
    assert claimed == {folder}


def test_no_other_parser_claims_the_preset_folders(shared_data):
    for name in catalog.CATALOG:
        mod = catalog.parser(name)
        if mod in (zeroeval, mmlu_pro):
            continue
        for folder in ("zeroeval-results", "mmlu-pro-outputs"):
            assert not mod.detect(shared_data / folder), (name, folder)


@pytest.mark.parametrize("task, tolerance", [("gsm", 1.0), ("math-l5", 2.0)])
def test_zeroeval_accuracy_matches_its_summary_table(ze_real, shared_data, task, tolerance):
    """Per model, exact match after extraction within 1 point (GSM8K) / 2 points (MATH level 5) of ZeroEval's Acc."""
    summary = {r["Model"]: float(r["Acc"]) for r in
               json.loads((shared_data / "zeroeval-results" / "result_dirs" / f"{task}.summary.json").read_text())}
    got = exact_match(ze_real.examples).loc[task]
    files = sorted(p.stem for p in (shared_data / "zeroeval-results" / "result_dirs" / task).glob("*.json"))
    assert sorted(got.index) == files
    for model, value in got.items():
        want = summary[SUMMARY_NAME.get(model, model)]
        assert abs(100 * value - want) <= tolerance, (model, 100 * value, want)
    # in fact the rules are ZeroEval's, so every model lands on its table to the printed precision
    assert all(round(100 * v, 2) == summary[SUMMARY_NAME.get(m, m)] for m, v in got.items())


def test_zeroeval_real_cells(ze_real, shared_data):
    e = ze_real.examples.set_index(["task", "model", "example_id"])
    first = e.loc[("gsm", "gemma-2-2b-it", "gsm8k-main-test-#0")]
    raw = json.loads((shared_data / "zeroeval-results/result_dirs/gsm/gemma-2-2b-it.json").read_text())[0]
    assert raw["answer"] == "# 18" and '"answer": "18"' in raw["output"][0]
    assert (first["prediction"], first["target"], first["shots"]) == ("18", "18", 0)
    assert first["source_file"] == "result_dirs/gsm/gemma-2-2b-it.json" and first["row_ref"] == "0"
    assert len(ze_real.examples) == 6 * 1319 + 4 * 721


def test_zeroeval_sizes_come_from_the_curated_table(ze_real):
    ex = ze_real.examples
    assert ex["params"].notna().all() and "no_scale" not in set(ze_real.issues_frame()["kind"])
    sizes = ex.groupby("model")["params"].first()
    assert sizes["Qwen2.5-3B-Instruct"] == 3.09e9 and sizes["Meta-Llama-3.1-405B-Instruct@hyperbolic"] == 405.9e9
    assert ex.groupby("model")["family"].first()["gemma-2-27b-it@together"] == "Gemma-2-it"


def test_zeroeval_unparsed_answers_are_counted_wrong_per_model(ze_real):
    iss = ze_real.issues_frame()
    emp = iss[iss["kind"] == "empty_prediction"]
    assert emp["source_file"].is_unique and (emp["value"].astype(int) > 0).all()
    assert ze_real.options["empty_prediction"] == "wrong"


def test_mmlu_pro_matches_pandas_on_the_raw_json(mp_real, shared_data):
    """Every (model, category): exact match = pandas' mean of pred == answer, a null pred counted wrong."""
    got = exact_match(mp_real.examples, by=("model", "subtask"))
    n = 0
    for path in sorted((shared_data / "mmlu-pro-outputs" / "eval_results").glob("*.zip")):
        model = mmlu_pro.FILE_RE.match(path.name)["model"]
        with zipfile.ZipFile(path) as zf:
            raw = pd.DataFrame(json.loads(zf.read(zf.namelist()[0])))
        want = (raw["pred"] == raw["answer"]).groupby(raw["category"]).mean()
        for category, value in want.items():
            assert got[(model, category)] == pytest.approx(value, abs=1e-12)
            n += 1
        iss = mp_real.issues_frame()
        emp = iss[(iss["kind"] == "empty_prediction") & iss["source_file"].str.contains(f"_{model}_5shots")]
        assert emp["value"].astype(int).sum() == int(raw["pred"].isna().sum())
    assert n == 12 * 14
    assert got[("Yi-34B", "math")] == pytest.approx(0.2961, abs=5e-5)


def test_mmlu_pro_skip_rule_and_sizes(shared_data):
    b = mmlu_pro.parse(require_shared("mmlu-pro-outputs"), empty_prediction="skip")
    got = exact_match(b.examples, by=("model", "subtask"))
    assert got[("Yi-34B", "math")] == pytest.approx(0.3617, abs=5e-5) and b.options["empty_prediction"] == "skip"
    sizes = b.examples.groupby("model")["params"].first()
    assert sizes.notna().all() and sizes["Mixtral-8x7B-v0.1"] == 46.7e9 and sizes["Meta-Llama-3_1-8B"] == 8.03e9
    assert b.examples.groupby("model")["shots"].first().eq(5).all()


def test_real_folders_ingest_under_their_catalogue_names(tmp_path, shared_data):
    db = tmp_path / "s.duckdb"
    out = ingest([str(shared_data / "mmlu-pro-outputs"), str(shared_data / "zeroeval-results")], db=db, online=False)
    assert out["result"] == {"mmlu-pro-outputs": "added", "zeroeval-results": "added"}
    rows = Store(db).source_rows().set_index("name")
    assert json.loads(rows.loc["mmlu-pro-outputs", "options"])["empty_prediction"] == "wrong"
    assert rows.loc["zeroeval-results", "license"] == "Apache-2.0"
    obs = Store(db).observations({"source": ["zeroeval-results"], "metric": ["exact_match"]})
    assert len(obs) == 10 and obs["params"].notna().all()


# ====================================================================== built fixtures
def ze_record(i: int, output: str, answer, **extra) -> dict:
    return {"session_id": str(i), "chat_history": ["q"], "model_input": "q", "output": [output],
            "generator": "x", "configs": {}, "dataset": "d", "id": str(i), "answer": answer, **extra}


def ze_folder(root: Path, files: dict[str, list[dict]]) -> Path:
    for rel, records in files.items():
        p = root / "result_dirs" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(records))
    return root


def test_zeroeval_task_families_without_real_files(tmp_path):
    choices = ["red", "green", "blue"]
    root = ze_folder(tmp_path / "ze", {
        "mmlu-redux/gpt2.json": [
            ze_record(0, '{"answer": "B"}', None, correct_answer="green", choices=choices),
            ze_record(1, '{"answer": "(C) blue"}', None, correct_answer="blue", choices=choices),
            ze_record(2, '{"answer": "A"}', None, correct_answer="blue", choices=choices),
            ze_record(3, '{"answer": ""}', None, correct_answer="red", choices=choices)],
        "crux/gpt2.json": [ze_record(0, '{"answer": "\'abc\'"}', "'abc'"), ze_record(1, '{"answer": "x"}', "y")],
        "zebra/gpt2.json": [ze_record(0, '{"answer": " Alice "}', "Alice"), ze_record(1, "no json", "Bob")],
        "gsm/Meta-Llama-3.1-8B-Instruct.json": [ze_record(0, "So the answer is $\\boxed{18}$.", "# 18")],
        "gsm/gemma-2-2b-it.json": [ze_record(0, "So the answer is $\\boxed{18}$.", "# 18"),
                                   ze_record(1, '{"answer": "$1,000"}', "# 1000")],
    })
    assert zeroeval.detect(root) and zeroeval.detect(root / "result_dirs")
    b = zeroeval.parse(root, source="zeroeval:mine", sizes={"gpt2": "124M"})
    em = exact_match(b.examples)
    assert em[("mmlu-redux", "gpt2")] == 0.5           # B right; '(C) blue' right; A wrong; '' no answer
    assert em[("crux", "gpt2")] == 0.5                 # quotes stripped from both
    assert em[("zebra", "gpt2")] == 0.5                # other tasks: exact match, surrounding space stripped
    assert em[("gsm", "Meta-Llama-3.1-8B-Instruct")] == 1.0   # the boxed answer, Llama-3.1 only
    assert em[("gsm", "gemma-2-2b-it")] == 0.5
    assert b.examples.groupby("model")["params"].first()["gpt2"] == 124e6   # --size over the curated table


def test_mmlu_pro_layouts_and_a_single_zip(tmp_path):
    recs = [{"question_id": i, "category": "math", "answer": "A", "pred": p, "options": ["x", "y"]}
            for i, p in enumerate(["A", None, "B", "A"])]

    def zipped(path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(path.name.replace(".zip", ".json"), json.dumps(recs))
        return path

    z = zipped(tmp_path / "mine" / "eval_results" / "model_outputs_Yi-6B_5shots.zip")
    db = tmp_path / "s.duckdb"
    out = ingest([str(tmp_path / "mine")], db=db, online=False)
    assert out["result"] == {"mmlu-pro:mine": "added"}
    out = ingest([str(z)], db=db, online=False, empty_prediction="skip")       # the zip alone: unpacked, detected
    assert out["result"] == {"mmlu-pro:model_outputs_Yi-6B_5shots": "added"}
    s = Store(db)
    em = s.observations({"metric": ["exact_match"]}).set_index("source")["value"]
    assert em["mmlu-pro:mine"] == 0.5 and em["mmlu-pro:model_outputs_Yi-6B_5shots"] == pytest.approx(2 / 3)
    assert json.loads(s.source_rows().set_index("name").loc["mmlu-pro:model_outputs_Yi-6B_5shots",
                                                             "options"])["empty_prediction"] == "skip"


def test_an_option_no_source_reads_is_an_error(tmp_path, shared_data):
    db = tmp_path / "s.duckdb"
    with pytest.raises(IngestError, match="--empty-prediction applies to"):
        ingest([str(require_shared("gpt3-multiplication-tables"))], db=db, online=False, empty_prediction="skip")
    assert not db.exists()


def test_a_truncated_zeroeval_file_names_the_file(tmp_path):
    root = ze_folder(tmp_path / "ze", {"gsm/m.json": [ze_record(0, '{"answer": "1"}', "# 1")]})
    p = root / "result_dirs" / "gsm" / "m.json"
    p.write_text(p.read_text()[:-30])
    with pytest.raises(IngestError, match="invalid or truncated JSON") as e:
        zeroeval.parse(root)
    assert e.value.file == "result_dirs/gsm/m.json"
