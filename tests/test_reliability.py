"""Reliability: bad inputs, ingest killed mid-way, readers during an ingest, properties of pure functions.

(a) A corpus of bad inputs, every one generated here: each is rejected by ``ingest([path])``
    with an :class:`IngestError` naming the file (and the field where there is one), and
    the store is byte-for-byte what it was (sha256 of the file, no temporary file left).
(b) ``emergence ingest`` in a subprocess, sent SIGKILL at seeded random points: the store
    always opens and its tables equal the state before or the state after, never a mix;
    the next ingest works.
(c) 8 reader threads on the app's query path (``emergence.api``) while an ingest lands:
    no reader error; every read is the old or the new data; no reader goes back in time.
(d) Property tests (hypothesis) on pure analysis functions not covered elsewhere.

The counts (inputs tried, faults injected, readers) are in BENCHMARKS.md.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emergence import api
from emergence.ingestion.ingest import ingest, safe_extract
from emergence.ingestion.schema import IngestError
from emergence.store import Store

from conftest import require_shared

# ============================================================================ fixtures built in code
EXP_HEADER = ("Model,Model Family,Model Size (B),Pretraining Data Size (T),FLOPs (1E21),"
              "0_50_brier,50_100_brier,acc,brier,san\n")
EXP_ROWS = [
    "EleutherAI/pythia-70m,Pythia,0.07,0.3,0.126,0.9,0.8,0.10,0.85,0.5",
    "EleutherAI/pythia-410m,Pythia,0.41,0.3,0.738,0.8,0.7,0.20,0.75,0.6",
    "EleutherAI/pythia-1.4b,Pythia,1.4,0.3,2.52,0.6,0.5,0.40,0.55,0.7",
    "EleutherAI/pythia-12b,Pythia,12,0.3,21.6,0.2,0.1,0.90,0.15,0.9",
]
EXP_FILE = "data/arithmetic/arithmetic_instance_brier_-1000_10_2_redist.csv"
TS = "2024-05-01T12-00-00.123456"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def put(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def exp_folder(root: Path, header: str = EXP_HEADER, rows=EXP_ROWS, raw: bytes | None = None) -> Path:
    """An expemergence-format folder (one CSV)."""
    folder = root / "exp"
    put(folder / EXP_FILE, raw if raw is not None else header + "".join(r + "\n" for r in rows))
    return folder


def lm_results(acc="0.7", shots=0, extra="") -> str:
    """An old-style lm-eval-harness results file as text (values spliced in verbatim)."""
    return ('{"results": {"piqa": {"acc": %s%s}}, "versions": {"piqa": 0}, '
            '"config": {"model": "hf-causal", "model_args": "pretrained=EleutherAI/pythia-70m", '
            '"num_fewshot": %s}}' % (acc, extra, shots))


def lm_folder(root: Path, bad: str | bytes, name: str = "bad.json") -> Path:
    """A user's lm-eval results folder: one good file (so the format is detected) and one bad one."""
    folder = root / "runs"
    put(folder / "good.json", lm_results())
    put(folder / name, bad)
    return folder


def bb_model(**over) -> dict:
    m = {"model_family": "BIG-G T=0", "model_name": "2m", "total_params": 9_637_376,
         "non_embedding_params": 1_578_752, "flop_matched_non_embedding_params": 1_578_752,
         "training_batch_size": 262144, "training_steps": 500000, "description": "fixture",
         "decoding_params": {"temperature": 0.0}, "additional_details": ""}
    m.update(over)
    return m


def bb_scores() -> list[dict]:
    return [{"score_dict": {"multiple_choice_grade": 0.4, "bleu": 12.0}, "preferred_score": "multiple_choice_grade",
             "number_of_shots": 0, "low_score": 0.25, "high_score": 1.0, "subtask_description": "mytask"}]


def bb_file(mutate: Callable[[dict], object] | None = None) -> str:
    d = {"scores": bb_scores(), "task": {"task_name": "mytask"}, "model": bb_model()}
    if mutate:
        mutate(d)
    return json.dumps(d)


BB_NAME = "mytask/results/scores_BIG-G_T=0_2m.json"


def bb_folder(root: Path, text: str | bytes) -> Path:
    folder = root / "bb"
    put(folder / BB_NAME, text)
    return folder


def samples_folder(root: Path, lines: list[str]) -> Path:
    folder = root / "samples"
    put(folder / "EleutherAI__pythia-70m" / f"samples_piqa_{TS}.jsonl", "".join(l + "\n" for l in lines))
    return folder


def mc_record(doc_id: int) -> str:
    pairs = [[-1.0, False], [-2.0, False]]
    return json.dumps({"doc_id": doc_id, "doc": {"question": "q"}, "target": 0,
                       "arguments": [["Q", " a"], ["Q", " b"]], "resps": [[p] for p in pairs],
                       "filtered_resps": pairs, "filter": "none", "metrics": ["acc"], "acc": 1.0})


BYO_MAP = {"name": "mine", "kind": "aggregate",
           "columns": {"task": "task", "model": "model_name", "value": "score", "params": "n_params"},
           "constants": {"metric": "exact_str_match", "family": "gpt-2", "shots": 0}}
BYO_CSV = "task,model_name,score,n_params\narith,m-small,0.1,100000000\narith,m-big,0.5,1000000000\n"


BYO_RECORDS = [{"task": "arith", "model_name": "m-small", "score": 0.1, "n_params": 1e8},
               {"task": "arith", "model_name": "m-big", "score": 0.5, "n_params": 1e9}]


def byo_file(root: Path, text: str | bytes, name: str = "scores.csv") -> Path:
    return put(root / name, text)


def zeroeval_folder(root: Path, truncate: int = 0) -> Path:
    rec = {"session_id": "0", "chat_history": ["q"], "model_input": "q", "output": ['{"answer": "18"}'],
           "id": "gsm8k-main-test-#0", "answer": "# 18"}
    text = json.dumps([rec])
    put(root / "ze" / "result_dirs" / "gsm" / "gemma-2-2b-it.json", text[:len(text) - truncate])
    return root / "ze"


def link_out(root: Path) -> Path:
    """A results folder with a link to a file outside it (the ingest must not follow it)."""
    outside = put(root / "elsewhere" / "passwd.json", '{"results": {"x": {"acc": "root:x:0:0:root"}}, "config": {}}')
    folder = root / "runs"
    put(folder / "good.json", lm_results())
    (folder / "passwd.json").symlink_to(outside)
    return folder


# ---------------------------------------------------------------- archives
def zip_of(root: Path, entries: dict[str, bytes], name: str = "upload.zip") -> Path:
    path = root / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in entries.items():
            zf.writestr(zipfile.ZipInfo(arcname), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def tar_of(root: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], name: str = "upload.tar.gz") -> Path:
    path = root / name
    with tarfile.open(path, "w:gz") as tf:
        for e in entries:
            if isinstance(e, tarfile.TarInfo):
                tf.addfile(e)
            else:
                info = tarfile.TarInfo(e[0])
                info.size = len(e[1])
                tf.addfile(info, io.BytesIO(e[1]))
    return path


def good_lm_entries(prefix: str = "runs/") -> dict[str, bytes]:
    return {f"{prefix}good.json": lm_results().encode()}


def zip_bomb(root: Path) -> Path:
    # 64 MB of zeros deflate to ~64 KB: a ratio of ~1000x, beyond the 200x a results file can have
    return zip_of(root, {**good_lm_entries(), "runs/zeros.json": b"0" * (64 * 2 ** 20)})


def symlink_tar(root: Path) -> Path:
    link = tarfile.TarInfo("runs/passwd.json")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    return tar_of(root, [("runs/good.json", lm_results().encode()), link])


# ============================================================================ (a) the corpus
@dataclass
class Bad:
    id: str
    build: Callable[[Path], Path]        # writes the input under the given folder, returns what to ingest
    file: str                            # the file the error must name (a path fragment)
    field: str | None                    # IngestError.field expected (None: the error is about the file itself)
    message: str                         # a fragment of the message
    mapping: dict | None = None
    archive: bool = False                # also rejected by safe_extract
    small_cap: bool = False              # run with a small unpacked-size cap


CORPUS: list[Bad] = [
    # ---- lm-eval-harness results JSON
    Bad("lm-truncated", lambda d: lm_folder(d, lm_results()[:40]), "bad.json", None, "invalid JSON"),
    Bad("lm-single-quotes", lambda d: lm_folder(d, "{'results': {}}"), "bad.json", None, "invalid JSON"),
    Bad("lm-empty-file", lambda d: lm_folder(d, ""), "bad.json", None, "invalid JSON"),
    Bad("lm-not-utf8", lambda d: lm_folder(d, b'{"results": {"pi\xffqa": {"acc": 0.5}}}'), "bad.json", None,
        "cannot read"),
    Bad("lm-top-level-list", lambda d: lm_folder(d, "[1, 2]"), "bad.json", "results", "no 'results' object"),
    Bad("lm-results-is-list", lambda d: lm_folder(d, '{"results": [0.7], "config": {}}'), "bad.json", "results",
        "no 'results' object"),
    Bad("lm-text-score", lambda d: lm_folder(d, lm_results(acc='"high"')), "bad.json", "acc", "high"),
    Bad("lm-infinite-score", lambda d: lm_folder(d, lm_results(acc="Infinity")), "bad.json", "value",
        "row results.piqa.acc"),
    Bad("lm-negative-shots", lambda d: lm_folder(d, lm_results(shots=-1)), "bad.json", "shots", "-1"),
    Bad("lm-fractional-shots", lambda d: lm_folder(d, lm_results(shots=1.5)), "bad.json", "shots", "1.5"),
    Bad("lm-negative-stderr", lambda d: lm_folder(d, lm_results(extra=', "acc_stderr": -0.01')), "bad.json",
        "stderr", "negative"),
    Bad("lm-wrong-format-bigbench-file", lambda d: lm_folder(d, bb_file()), "bad.json", "results",
        "not an lm-eval-harness results file"),
    # ---- BIG-bench scores JSON
    Bad("bb-truncated", lambda d: bb_folder(d, bb_file()[:100]), BB_NAME, None, "invalid or truncated JSON"),
    Bad("bb-empty-file", lambda d: bb_folder(d, ""), BB_NAME, None, "empty file"),
    Bad("bb-top-level-list", lambda d: bb_folder(d, "[]"), BB_NAME, None, "expected an object"),
    Bad("bb-missing-task", lambda d: bb_folder(d, bb_file(lambda x: x.pop("task"))), BB_NAME, "task",
        "missing top-level key"),
    Bad("bb-scores-not-list", lambda d: bb_folder(d, bb_file(lambda x: x.update(scores={"a": 1}))), BB_NAME,
        "scores", "expected a list"),
    Bad("bb-text-score", lambda d: bb_folder(d, bb_file(lambda x: x["scores"][0]["score_dict"].update(
        multiple_choice_grade="0.5"))), BB_NAME, "score_dict.multiple_choice_grade", "not a number"),
    Bad("bb-bool-score", lambda d: bb_folder(d, bb_file(lambda x: x["scores"][0]["score_dict"].update(bleu=True))),
        BB_NAME, "score_dict.bleu", "not a number"),
    Bad("bb-infinite-score", lambda d: bb_folder(d, bb_file(lambda x: x["scores"][0]["score_dict"].update(
        bleu=float("inf")))), BB_NAME, "score_dict.bleu", "infinite"),
    Bad("bb-missing-shots", lambda d: bb_folder(d, bb_file(lambda x: x["scores"][0].pop("number_of_shots"))),
        BB_NAME, "number_of_shots", "missing ScoreData field"),
    Bad("bb-fractional-shots", lambda d: bb_folder(d, bb_file(lambda x: x["scores"][0].update(number_of_shots=1.5))),
        BB_NAME, "number_of_shots", "whole number"),
    Bad("bb-negative-size", lambda d: bb_folder(d, bb_file(lambda x: x["model"].update(total_params=-5))),
        BB_NAME, "model.total_params", "negative"),
    Bad("bb-text-size", lambda d: bb_folder(d, bb_file(lambda x: x["model"].update(total_params="2B"))),
        BB_NAME, "model.total_params", "not a number"),
    Bad("bb-missing-size", lambda d: bb_folder(d, bb_file(lambda x: x["model"].pop("total_params"))),
        BB_NAME, "model.total_params", "missing ModelData field"),
    # ---- lm-eval --log_samples JSONL
    Bad("samples-truncated-line", lambda d: samples_folder(d, [mc_record(0), mc_record(1)[:30]]),
        f"samples_piqa_{TS}.jsonl", None, "invalid JSON"),
    Bad("samples-line-not-object", lambda d: samples_folder(d, [mc_record(0), "[1, 2]"]),
        f"samples_piqa_{TS}.jsonl", None, "not a JSON object"),
    Bad("samples-no-doc-id", lambda d: samples_folder(d, [json.dumps({k: v for k, v in json.loads(mc_record(0)).items()
                                                                      if k != "doc_id"})]),
        f"samples_piqa_{TS}.jsonl", "doc_id", "without doc_id"),
    # ---- a CSV table (expemergence format)
    Bad("csv-missing-column", lambda d: exp_folder(d, header=EXP_HEADER.replace("Model Size (B),", ""),
                                                   rows=[",".join(r.split(",")[:2] + r.split(",")[3:]) for r in EXP_ROWS]),
        EXP_FILE, "Model Size (B)", "missing column"),
    Bad("csv-extra-field-in-a-row", lambda d: exp_folder(d, rows=EXP_ROWS[:2] + [EXP_ROWS[2] + ",0.1"]), EXP_FILE,
        None, "malformed CSV"),
    Bad("csv-text-in-size", lambda d: exp_folder(d, rows=[EXP_ROWS[0].replace(",0.07,", ",seventy,")] + EXP_ROWS[1:]),
        EXP_FILE, "Model Size (B)", "seventy"),
    Bad("csv-negative-size", lambda d: exp_folder(d, rows=[EXP_ROWS[0].replace(",0.07,", ",-0.07,")] + EXP_ROWS[1:]),
        EXP_FILE, "params", "negative"),
    Bad("csv-infinite-value", lambda d: exp_folder(d, rows=[EXP_ROWS[0].replace(",0.10,", ",inf,")] + EXP_ROWS[1:]),
        EXP_FILE, "value", "inf"),
    Bad("csv-text-value", lambda d: exp_folder(d, rows=[EXP_ROWS[0].replace(",0.10,", ",zero,")] + EXP_ROWS[1:]),
        EXP_FILE, "value", "zero"),
    Bad("csv-infinite-size", lambda d: exp_folder(d, rows=[EXP_ROWS[0].replace(",0.07,", ",inf,")] + EXP_ROWS[1:]),
        EXP_FILE, "Model Size (B)", "inf"),
    Bad("csv-empty-file", lambda d: exp_folder(d, raw=b""), EXP_FILE, None, "empty file"),
    Bad("csv-not-utf8", lambda d: exp_folder(d, raw=(EXP_HEADER + EXP_ROWS[0]).encode().replace(b"Pythia", b"Pyth\xefa")),
        EXP_FILE, None, "not valid utf-8"),
    Bad("csv-unclosed-quote", lambda d: exp_folder(d, rows=['"EleutherAI/pythia-70m,Pythia,0.07'] + EXP_ROWS[1:]),
        EXP_FILE, None, "malformed CSV"),
    # ---- your own CSV / Parquet with a column mapping
    Bad("byo-mapped-column-missing", lambda d: byo_file(d, BYO_CSV.replace("n_params", "size")), "scores.csv",
        "n_params", "", mapping=BYO_MAP),
    Bad("byo-text-value", lambda d: byo_file(d, BYO_CSV.replace("0.5,", "high,")), "scores.csv", "score", "high",
        mapping=BYO_MAP),
    Bad("byo-negative-size", lambda d: byo_file(d, BYO_CSV.replace("1000000000", "-1000000000")), "scores.csv",
        "params", "negative", mapping=BYO_MAP),
    Bad("byo-infinite-value", lambda d: byo_file(d, BYO_CSV.replace("0.5,", "inf,")), "scores.csv", "value", "inf",
        mapping=BYO_MAP),
    Bad("byo-empty-file", lambda d: byo_file(d, ""), "scores.csv", None, "empty file", mapping=BYO_MAP),
    Bad("byo-parquet-not-parquet", lambda d: byo_file(d, b"PAR1 not really", "scores.parquet"), "scores.parquet",
        None, "not a readable parquet", mapping=BYO_MAP),
    Bad("byo-json-not-a-list-of-records", lambda d: byo_file(d, lm_results(), "scores.json"), "scores.json", None,
        "expected a JSON list of records", mapping=BYO_MAP),
    Bad("byo-spreadsheet-is-wrong-format", lambda d: byo_file(d, b"PK\x03\x04", "scores.xlsx"), "scores.xlsx", "file",
        "must be .csv", mapping=BYO_MAP),
    Bad("byo-mapping-unknown-field", lambda d: byo_file(d, BYO_CSV), "column mapping", "size", "",
        mapping={**BYO_MAP, "columns": {**BYO_MAP["columns"], "size": "n_params"}}),
    # ---- issue 12: JSON / JSONL / zip inputs, extraction, sizes, the presets, links
    Bad("byo-truncated-json", lambda d: byo_file(d, json.dumps(BYO_RECORDS)[:-25], "scores.json"), "scores.json", None,
        "invalid or truncated JSON", mapping=BYO_MAP),
    Bad("byo-truncated-jsonl-line", lambda d: byo_file(d, "\n".join(json.dumps(r) for r in BYO_RECORDS)[:-10],
                                                        "scores.jsonl"), "scores.jsonl", None,
        "invalid or truncated JSON", mapping=BYO_MAP),
    Bad("byo-json-record-not-object", lambda d: byo_file(d, json.dumps(BYO_RECORDS + [[1, 2]]), "scores.json"),
        "scores.json", None, "not an object", mapping=BYO_MAP),
    Bad("byo-zip-with-a-truncated-member", lambda d: zip_of(d, {"a.json": json.dumps(BYO_RECORDS).encode(),
                                                                 "b.json": json.dumps(BYO_RECORDS).encode()[:-9]},
                                                         "scores.zip"),
        "scores.zip/b.json", None, "invalid or truncated JSON", mapping=BYO_MAP),
    Bad("byo-extraction-never-matches", lambda d: byo_file(d, BYO_CSV), "column mapping", "extract.model",
        "matched none", mapping={**BYO_MAP, "extract": {"model": r"^checkpoint-(\d+)$"}}),
    Bad("byo-extraction-bad-regex", lambda d: byo_file(d, BYO_CSV), "column mapping", "extract.model",
        "not a valid regular expression", mapping={**BYO_MAP, "extract": {"model": "m-(small"}}),
    Bad("byo-sizes-unknown-model", lambda d: byo_file(d, BYO_CSV.replace(",100000000", ",").replace(",1000000000", ",")),
        "column mapping", "sizes.m-smal", "in none of the files", mapping={**BYO_MAP, "sizes": {"m-smal": "1B"}}),
    Bad("byo-non-numeric-size", lambda d: byo_file(d, BYO_CSV.replace("1000000000", "one billion")), "scores.csv",
        "n_params", "not a number or a size", mapping=BYO_MAP),
    Bad("byo-non-numeric-sizes-entry", lambda d: byo_file(d, BYO_CSV), "column mapping", "sizes.m-big",
        "not a number or a size", mapping={**BYO_MAP, "sizes": {"m-big": "huge"}}),
    Bad("zeroeval-truncated-json", lambda d: zeroeval_folder(d, truncate=40), "result_dirs/gsm/gemma-2-2b-it.json", None,
        "invalid or truncated JSON"),
    Bad("mmlu-pro-corrupt-zip", lambda d: put(d / "mp" / "eval_results" / "model_outputs_Yi-6B_5shots.zip",
                                              b"PK\x03\x04 no").parent.parent,
        "eval_results/model_outputs_Yi-6B_5shots.zip", None, "corrupt zip archive"),
    Bad("path-link-out-of-the-folder", link_out, "passwd.json", None, "leads outside the folder given"),
    # ---- a file of no known format
    Bad("unknown-json", lambda d: put(d / "scores.json", '{"hello": "world"}'), "scores.json", None,
        "format not recognised"),
    Bad("csv-without-mapping", lambda d: byo_file(d, BYO_CSV), "scores.csv", None, "format not recognised"),
    # ---- archives: bombs, traversal, links, corrupt
    Bad("zip-bomb-ratio", zip_bomb, "upload.zip", "entry", "zip bomb", archive=True),
    Bad("zip-over-size-cap", lambda d: zip_of(d, {**good_lm_entries(), "runs/big.json": os.urandom(300_000)}),
        "upload.zip", "entry", "unpacks to more than", archive=True, small_cap=True),
    Bad("zip-path-traversal", lambda d: zip_of(d, {**good_lm_entries(), "../../evil.json": b"{}"}), "upload.zip",
        "entry", "outside the target folder", archive=True),
    Bad("zip-absolute-path", lambda d: zip_of(d, {**good_lm_entries(), "/tmp/evil-absolute.json": b"{}"}),
        "upload.zip", "entry", "outside the target folder", archive=True),
    Bad("zip-corrupt", lambda d: put(d / "upload.zip", b"PK\x03\x04 this is not a zip"), "upload.zip", None,
        "corrupt archive", archive=True),
    Bad("tar-path-traversal", lambda d: tar_of(d, [("runs/good.json", lm_results().encode()),
                                                  ("../../evil.json", b"{}")]),
        "upload.tar.gz", "entry", "outside the target folder", archive=True),
    Bad("tar-symlink", symlink_tar, "upload.tar.gz", "entry", "link or device", archive=True),
    Bad("tar-over-size-cap", lambda d: tar_of(d, [("runs/good.json", lm_results().encode()),
                                                 ("runs/big.json", os.urandom(300_000))]),
        "upload.tar.gz", "entry", "unpacks to more than", archive=True, small_cap=True),
    Bad("tar-corrupt", lambda d: put(d / "upload.tar.gz", b"\x1f\x8b\x08\x00 truncated gzip"), "upload.tar.gz", None,
        "corrupt archive", archive=True),
]


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> Path:
    """A small store holding one good source (the state every bad input must leave untouched)."""
    root = tmp_path_factory.mktemp("base")
    db = root / "base.duckdb"
    ingest([str(exp_folder(root))], db=db, online=False)
    return db


@pytest.fixture
def store_copy(base_store, tmp_path) -> Path:
    db = tmp_path / "store" / "s.duckdb"
    db.parent.mkdir()
    shutil.copyfile(base_store, db)
    return db


def test_the_corpus_has_at_least_30_bad_inputs():
    assert len(CORPUS) >= 30 and len({c.id for c in CORPUS}) == len(CORPUS)
    assert len(CORPUS) == 70          # BENCHMARKS.md, "Reliability suite", gives this count


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.id)
def test_bad_input_is_rejected_naming_file_and_field_and_the_store_is_unchanged(case, store_copy, tmp_path,
                                                                                  monkeypatch):
    if case.small_cap:
        monkeypatch.setattr("emergence.ingestion.ingest.MAX_UNPACKED_BYTES", 200_000)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    path = case.build(inputs)
    digest = sha(store_copy)
    with pytest.raises(IngestError) as e:
        ingest([str(path)], db=store_copy, online=False, mapping=case.mapping)
    err = e.value
    msg = str(err)
    assert case.file in msg, msg
    assert case.message.lower() in msg.lower(), msg
    assert err.field == case.field, msg
    if case.field is not None:
        assert repr(case.field) in msg
    # the store: byte for byte what it was, no temporary copy left beside it
    assert sha(store_copy) == digest
    assert {p.name for p in store_copy.parent.iterdir()} <= {"s.duckdb", "s.duckdb.lock"}
    assert not (tmp_path / "evil.json").exists() and not Path("/tmp/evil-absolute.json").exists()
    if case.archive:       # the unpacker on its own refuses it too, writing nothing outside its folder
        dest = tmp_path / "unpack" / "here"
        dest.mkdir(parents=True)
        with pytest.raises(IngestError) as e2:
            safe_extract(path, dest)
        assert e2.value.field == case.field and case.message.lower() in str(e2.value).lower()
        assert not (tmp_path / "unpack" / "evil.json").exists() and not (tmp_path / "evil.json").exists()


# ---------------------------------------------------------------- inputs that are not errors, by documented rules
def test_conflicting_duplicates_are_recorded_and_kept_out_of_scoring(tmp_path):
    """Two rows for one model with different values: both stored, neither scored, each a ``conflict`` issue
    naming the file and row (the documented rule; nothing dropped or overwritten)."""
    rows = EXP_ROWS + [EXP_ROWS[3].replace(",0.90,", ",0.95,")]
    db = tmp_path / "s.duckdb"
    ingest([str(exp_folder(tmp_path, rows=rows))], db=db, online=False)
    s = Store(db)
    issues = s.data_issues()
    conflicts = issues[(issues["kind"] == "conflict") & (issues["field"] == "acc")]
    assert sorted(conflicts["row_ref"]) == ["5", "6"] and set(conflicts["source_file"]) == {EXP_FILE}
    obs = s.observations({"metric": ["multiple_choice_grade"]})
    big = obs[obs["model"] == "EleutherAI/pythia-12b"]
    assert sorted(big["value"]) == [0.9, 0.95] and not big["in_scoring"].any()


def test_a_zip_of_two_files_is_read_whole_by_the_documented_rule(tmp_path):
    """Each data member of a zip is read as its own file (named archive/member); other members are listed."""
    path = zip_of(tmp_path, {"a.json": json.dumps(BYO_RECORDS[:1]).encode(),
                             "b.jsonl": json.dumps(BYO_RECORDS[1]).encode(), "notes.txt.bak": b"x"}, "scores.zip")
    db = tmp_path / "s.duckdb"
    out = ingest([str(path)], db=db, online=False, mapping=BYO_MAP)
    assert out["result"] == {BYO_MAP["name"]: "added"}
    obs = Store(db).observations().set_index("model")
    assert obs.loc["m-small", "source_file"] == "scores.zip/a.json" and obs.loc["m-big", "source_file"] == \
        "scores.zip/b.jsonl"
    iss = Store(db).data_issues()
    assert iss.loc[iss["kind"] == "skipped_file", "detail"].str.endswith("notes.txt.bak").all()


def test_nan_score_is_a_missing_value_not_an_observation(tmp_path):
    db = tmp_path / "s.duckdb"
    folder = lm_folder(tmp_path, lm_results(acc="NaN").replace("pythia-70m", "pythia-160m"))
    ingest([str(folder)], db=db, online=False)
    s = Store(db)
    assert len(s.observations()) == 1
    miss = s.data_issues()
    miss = miss[(miss["kind"] == "missing_value") & (miss["source_file"] == "bad.json")]
    assert len(miss) == 2 and miss["detail"].str.contains("NaN").sum() == 1   # the NaN; a file left with no metric


def test_two_inputs_of_one_format_in_one_call_are_both_kept_or_refused(tmp_path):
    """Two folders that both land under one source name in one call must not lose one silently."""
    a = lm_folder(tmp_path / "a", lm_results(acc="0.3").replace("pythia-70m", "pythia-160m"))
    b = lm_folder(tmp_path / "b", lm_results(acc="0.4").replace("pythia-70m", "pythia-410m"))
    db = tmp_path / "s.duckdb"
    try:
        ingest([str(a), str(b)], db=db, online=False)
    except IngestError as e:          # refusing, naming the clash, would be fine
        assert "lm-eval-results" in str(e)
        return
    models = set(Store(db).observations()["model"])
    assert models == {"pythia-70m", "pythia-160m", "pythia-410m"}


# ============================================================================ (b) ingest killed mid-way
SMALL_SOURCE = "lm-eval-harness-results-2023"
N_KILLS = 20
KILL_SEED = 20240601
TABLES = ("observations", "examples", "data_issues", "sources", "series", "meta")


def writable_copy(src: Path, dst: Path, ignore=None) -> Path:
    shutil.copytree(src, dst, ignore=ignore, copy_function=shutil.copyfile)
    for d, _, _ in os.walk(dst):
        os.chmod(d, 0o755)
    return dst


def state(db: Path) -> dict[str, str]:
    """A digest of every table's rows (ingested_at left out: it is the wall clock)."""
    s = Store(db)
    try:
        out = {}
        for t in TABLES:
            if t not in s.tables():
                out[t] = "absent"
                continue
            cols = [c for c in s._df(f"SELECT * FROM {t} LIMIT 0").columns if c != "ingested_at"]
            sel = ", ".join(f'"{c}"' for c in cols)
            df = s._df(f"SELECT {sel} FROM {t} ORDER BY ALL")
            out[t] = hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()
        return out
    finally:
        s.close()


@pytest.fixture(scope="module")
def versions(tmp_path_factory, shared_data):
    """The small real source twice: v1 without the LLaMA results, v2 complete; a store holding v1
    ('before') and the state after ingesting v2 into it ('after')."""
    src = require_shared(SMALL_SOURCE)
    root = tmp_path_factory.mktemp("versions")
    v1 = writable_copy(src, root / "v1" / SMALL_SOURCE, ignore=lambda d, names: ["llama"] if d.endswith("results") else [])
    v2 = writable_copy(src, root / "v2" / SMALL_SOURCE)
    before = root / "before.duckdb"
    ingest([str(v1)], db=before, online=False)
    after_db = root / "after" / "after.duckdb"
    after_db.parent.mkdir()
    shutil.copyfile(before, after_db)
    ingest([str(v2)], db=after_db, online=False)
    s0, s1 = state(before), state(after_db)
    assert s0["observations"] != s1["observations"] and s0["series"] != s1["series"]
    return {"v1": v1, "v2": v2, "before": before, "after_db": after_db, "s_before": s0, "s_after": s1}


def ingest_cmd(db: Path, source: Path) -> list[str]:
    """``emergence --db DB ingest SOURCE --offline`` (the console script's module, this interpreter)."""
    return [sys.executable, "-m", "emergence.cli", "--db", str(db), "ingest", str(source), "--offline"]


def phase_of(stderr: str) -> str:
    for marker, phase in (("scoring series", "scoring"), ("writing ", "writing"), ("parsing ", "parsing")):
        if marker in stderr:
            return phase
    return "starting"


#: runs at once: the machine's two cores each take one (the calibration runs as many at once, so the kill times
#: land in the same phases); sequential runs spent most of this test's time asleep waiting to send the signal
KILL_STREAMS = 2


def _calibrate(v2: Path, before: Path, root: Path) -> tuple[float, float, dict]:
    """KILL_STREAMS uninterrupted runs at once: when the write starts and when the run ends (the slowest)."""
    procs = []
    for k in range(KILL_STREAMS):
        cal = root / f"cal{k}" / "s.duckdb"
        cal.parent.mkdir()
        shutil.copyfile(before, cal)
        procs.append((cal, subprocess.Popen(ingest_cmd(cal, v2), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                            text=True)))
    t0 = time.perf_counter()
    t_write, t_total = [None] * KILL_STREAMS, [None] * KILL_STREAMS

    def watch(k, p):
        for line in p.stderr:
            if "writing " in line and t_write[k] is None:
                t_write[k] = time.perf_counter() - t0
        assert p.wait() == 0
        t_total[k] = time.perf_counter() - t0

    threads = [threading.Thread(target=watch, args=(k, p)) for k, (_, p) in enumerate(procs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert None not in t_write and None not in t_total
    return min(t_write), max(t_total), state(procs[0][0])


def _kill_run(i: int, at: float, db: Path, v2: Path, before: Path) -> tuple:
    """Start ``emergence ingest`` on a fresh copy of ``before`` at ``db``, SIGKILL it ``at`` seconds in.

    A run that ends before its kill (the machine got faster than the calibration) is tried again
    from the same copy with the kill at half the time, up to three times, so the kills land mid-way
    however the load changes; the last attempt's outcome is returned (``at``: its kill time)."""
    for _ in range(4):
        for x in db.parent.iterdir():          # a finished attempt's store (and any file it left) goes
            x.unlink()
        shutil.copyfile(before, db)
        p = subprocess.Popen(ingest_cmd(db, v2), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(at)
        killed = p.poll() is None
        if killed:
            p.send_signal(signal.SIGKILL)
        _, err = p.communicate()
        if killed:
            break
        at /= 2
    stale = sorted(x.name for x in db.parent.iterdir() if ".tmp-" in x.name)
    return i, at, killed, phase_of(err), len(stale)


def test_ingest_killed_at_random_points_leaves_before_or_after(versions, tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    v2, before = versions["v2"], versions["before"]
    # calibrate: uninterrupted runs (as many at once as the kills below), and when their write starts
    t_write, t_total, cal_state = _calibrate(v2, before, tmp_path)
    assert cal_state == versions["s_after"]

    rng = random.Random(KILL_SEED)
    runs = []
    for i in range(N_KILLS):
        db = tmp_path / f"t{i:02d}" / "s.duckdb"
        db.parent.mkdir()
        # half anywhere in the run, half inside the write (copy, insert, score, checkpoint, swap)
        at = rng.uniform(0, t_total) if i % 2 == 0 else rng.uniform(t_write, t_total)
        runs.append((i, at, db))
    with ThreadPoolExecutor(KILL_STREAMS) as pool:
        killed_runs = list(pool.map(lambda r: _kill_run(*r, v2, before), runs))
    outcomes = []
    for (i, at, killed, phase, stale), (_, _, db) in zip(killed_runs, runs):
        st_ = state(db)                                   # the store opens ...
        which = "before" if st_ == versions["s_before"] else "after" if st_ == versions["s_after"] else "MIXED"
        outcomes.append((round(at, 2), killed, phase, which, stale))
        assert which != "MIXED", (i, at, phase, st_)      # ... and equals before or after, never in between
        # the next ingest works and lands the new state
        ingest([str(v2)], db=db, online=False)
        assert state(db) == versions["s_after"]
    faults = [o for o in outcomes if o[1]]
    print(f"\n{len(faults)} of {N_KILLS} runs killed mid-way ({KILL_STREAMS} at a time; calibrated run "
          f"{t_total:.2f} s, write from {t_write:.2f} s); phase at the kill / state found / stale temporary files:")
    for o in outcomes:
        print(f"  at {o[0]:5.2f} s killed={o[1]!s:5} phase={o[2]:9} state={o[3]:6} stale={o[4]}")
    assert len(faults) >= N_KILLS // 2
    assert any(o[2] in ("writing", "scoring") for o in faults), "no kill landed inside the write"


def test_the_next_ingest_removes_stale_temporary_copies(versions, tmp_path):
    """A writer killed mid-write leaves its copy (``.s.duckdb.tmp-<pid>``) beside the store; the writer
    holds the lock while its copy exists, so under the lock every such file is stale."""
    db = tmp_path / "s.duckdb"
    shutil.copyfile(versions["before"], db)
    stale = tmp_path / ".s.duckdb.tmp-999999999"
    shutil.copyfile(versions["before"], stale)             # as a killed writer leaves it
    ingest([str(versions["v2"])], db=db, online=False)
    assert state(db) == versions["s_after"]                # the stale copy does not get in the way
    assert not stale.exists()


# ============================================================================ (c) readers while an ingest lands
N_READERS = 8


def rows_digest(df: pd.DataFrame) -> int:
    """Order-free digest of a frame's rows."""
    return int(pd.util.hash_pandas_object(df, index=False).sum()) if len(df) else 0


@pytest.fixture(scope="module")
def concurrent_reads(versions, tmp_path_factory):
    """8 threads read observations and series through emergence.api while an ingest replaces the source."""
    db = tmp_path_factory.mktemp("live") / "live.duckdb"
    shutil.copyfile(versions["before"], db)
    expect = {}
    for label, path in (("old", versions["before"]), ("new", versions["after_db"])):
        expect[label] = (rows_digest(api.observations(db=path)), rows_digest(api.series(db=path)))
    assert expect["old"][0] != expect["new"][0] and expect["old"][1] != expect["new"][1]
    kinds = {v: k for k, vs in expect.items() for v in vs}

    errors: list[BaseException] = []
    seen: list[list[str]] = [[] for _ in range(N_READERS)]
    stop = threading.Event()

    def reader(i: int):
        while not stop.is_set():
            try:
                o = kinds.get(rows_digest(api.observations(db=db)), "MIX")
                s = kinds.get(rows_digest(api.series(db=db)), "MIX")
            except BaseException as e:  # noqa: BLE001 - any reader error fails the test
                errors.append(e)
                return
            seen[i].append((o, s))

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(N_READERS)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while not all(seen) and time.time() < deadline:
        time.sleep(0.01)
    ingest([str(versions["v2"])], db=db, online=False)     # the ingest lands while they read
    landed = [len(s) for s in seen]                         # reads begun after this index began after the swap
    while any(len(s) < n + 2 for s, n in zip(seen, landed)) and time.time() < deadline:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return {"errors": errors, "seen": seen, "landed": landed}


def test_readers_see_old_or_new_never_a_mix(concurrent_reads):
    seen = concurrent_reads["seen"]
    assert not concurrent_reads["errors"], concurrent_reads["errors"][:3]
    flat = [k for s in seen for pair in s for k in pair]
    assert "MIX" not in flat
    for s in seen:                                          # each reader: old ... old new ... new, never back
        ks = [k for pair in s for k in pair]
        assert ks == sorted(ks, key=lambda k: k == "new")
    print(f"\n{N_READERS} readers, {len(flat)} reads during and after the ingest: {flat.count('old')} old, "
          f"{flat.count('new')} new, 0 mixed, 0 errors")


def test_readers_see_the_new_data_once_it_landed(concurrent_reads):
    """A read that starts after the swap returns the new data (the dashboard follows an ingest)."""
    late = [pair for s, n in zip(concurrent_reads["seen"], concurrent_reads["landed"]) for pair in s[n + 1:]]
    assert late
    assert all(k == "new" for pair in late for k in pair)


# ============================================================================ (d) properties of pure functions
from emergence.predictability.passuntil import binomial_estimate, passuntil_estimate  # noqa: E402
from emergence.analysis.rescore import (bootstrap_interval, brier_from_logprobs, choice_probabilities,  # noqa: E402
                               edit_distance, exact_match, multiple_choice_grade, wilson_interval)
from emergence.analysis.scores import emergence_score  # noqa: E402
from emergence.analysis.verdict import decide  # noqa: E402
from emergence.analysis.simulate import expected_metrics  # noqa: E402

PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(-30, 5, allow_nan=False)
question = st.lists(finite, min_size=2, max_size=6).flatmap(lambda lp: st.tuples(st.just(lp),
                                                                                   st.integers(0, len(lp) - 1)))


def _tested(p, width=0.1):
    return pd.DataFrame({"pre_state": "tested", "pre_reason": "", "p_value": p, "p_method": "", "width_decades": width,
                         "gap_decades": 0.0, "n_before": 3, "n_after": 3, "narrow_stat": 0.0, "n_sizes": 8,
                         "span_decades": 3.0})


@PROPS
@given(st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=1, max_size=40))
def test_verdict_qvalues_are_benjamini_hochberg(p):
    p = np.array(p)
    q = decide(_tested(p))["q_value"].to_numpy(dtype=float)
    ok = np.isfinite(p)
    assert np.array_equal(np.isnan(q), ~ok)
    pp, qq = p[ok], q[ok]
    m = pp.size
    if m:
        order = np.argsort(pp)
        ranked = pp[order] * m / np.arange(1, m + 1)
        ref = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)   # textbook BH step-up
        np.testing.assert_allclose(qq[order], ref, rtol=1e-12, atol=1e-15)
        assert np.all(qq >= pp - 1e-15) and np.all(qq <= 1)
        assert np.all(np.diff(qq[order]) >= -1e-15)                   # order preserving


@PROPS
@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.floats(0.5, 0.999))
def test_wilson_interval_brackets_the_proportion_and_mirrors(kn, conf):
    k, n = kn
    lo, hi = wilson_interval(k, n, conf)
    assert 0 <= lo <= k / n + 1e-12 and k / n - 1e-12 <= hi <= 1
    lo2, hi2 = wilson_interval(n - k, n, conf)
    assert math.isclose(lo, 1 - hi2, abs_tol=1e-12) and math.isclose(hi, 1 - lo2, abs_tol=1e-12)


@PROPS
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(-10, 10)), min_size=1, max_size=60))
def test_bootstrap_interval_lies_within_each_groups_values(pairs):
    g = np.array([a for a, _ in pairs])
    v = np.array([b for _, b in pairs])
    out = bootstrap_interval(v, g, n_boot=200, seed=1)
    for _, r in out.iterrows():
        vals = v[g == r["group"]]
        assert r["n"] == vals.size and math.isclose(r["mean"], vals.mean(), rel_tol=1e-9, abs_tol=1e-12)
        assert vals.min() - 1e-9 <= r["low"] <= r["high"] <= vals.max() + 1e-9


@PROPS
@given(question, st.floats(-20, 20), st.randoms(use_true_random=False))
def test_brier_is_shift_and_order_free_and_bounded_by_the_binary_form(q, shift, rnd):
    lp, ci = q
    b = brier_from_logprobs([lp], [ci])[0]
    assert math.isclose(brier_from_logprobs([[x + shift for x in lp]], [ci])[0], b, rel_tol=1e-9, abs_tol=1e-12)
    perm = list(range(len(lp)))
    rnd.shuffle(perm)
    assert math.isclose(brier_from_logprobs([[lp[j] for j in perm]], [perm.index(ci)])[0], b,
                        rel_tol=1e-9, abs_tol=1e-12)
    pc = choice_probabilities([lp])[0][ci]
    assert (1 - pc) ** 2 - 1e-12 <= b <= 2 * (1 - pc) ** 2 + 1e-12      # sum_{k!=c} p_k^2 lies in [0, (1-p_c)^2]
    assert math.isclose(np.nansum(choice_probabilities([lp])[0]), 1.0, rel_tol=1e-12)


@PROPS
@given(question, st.randoms(use_true_random=False))
def test_grade_depends_only_on_the_order_of_the_scores(q, rnd):
    lp, ci = q
    g = multiple_choice_grade([lp], [ci])[0]
    assert g == (1.0 if all(lp[ci] > x for j, x in enumerate(lp) if j != ci) else 0.0)
    for scale in (2.0, 0.25):                                    # increasing transforms of floats ...
        scaled = [scale * x for x in lp]
        if all(y / scale == x for x, y in zip(lp, scaled)):     # ... where exact (0.25 * 5e-324 underflows to 0)
            assert multiple_choice_grade([scaled], [ci])[0] == g
    perm = list(range(len(lp)))
    rnd.shuffle(perm)
    assert multiple_choice_grade([[lp[j] for j in perm]], [perm.index(ci)])[0] == g


text = st.text(alphabet=st.sampled_from(list("ab1 2,\n")), max_size=12)


@PROPS
@given(text, text, text)
def test_edit_distance_is_a_metric_and_zero_exactly_on_an_exact_match(a, b, c):
    d = lambda x, y: edit_distance([x], [y])[0]  # noqa: E731
    assert d(a, a) == 0 and d(a, b) == d(b, a)
    assert d(a, c) <= d(a, b) + d(b, c)
    sa, sb = a.strip(), b.strip()
    assert abs(len(sa) - len(sb)) <= d(a, b) <= max(len(sa), len(sb))
    assert (exact_match([a], [b])[0] == 1.0) == (d(a, b) == 0)
    assert edit_distance([a], [b], "digits")[0] <= max(sum(ch.isdigit() for ch in a), sum(ch.isdigit() for ch in b))


@PROPS
@given(st.lists(st.integers(60, 130), min_size=3, max_size=10, unique=True),
       st.lists(st.integers(0, 100), min_size=10, max_size=10), st.floats(1e-3, 1e3), st.booleans())
def test_emergence_score_depends_on_the_order_of_x_only(e, ys, k, hib):
    x = [10 ** (i / 10) for i in e]                 # 1e6 .. 1e13, well apart: any monotone map keeps them apart
    y = [v / 100 for v in ys[:len(x)]]
    r = emergence_score(x, y, higher_is_better=hib, resolution=0.01)
    perm = np.random.default_rng(len(x)).permutation(len(x))
    for x2, y2 in (([k * v for v in x], y), (np.log10(x).tolist(), y), ([x[j] for j in perm], [y[j] for j in perm])):
        r2 = emergence_score(x2, y2, higher_is_better=hib, resolution=0.01)
        assert (r2.flag, r2.sign) == (r.flag, r.sign)
        assert math.isclose(r2.score, r.score, rel_tol=1e-12, abs_tol=1e-12) or (np.isnan(r.score) and np.isnan(r2.score))


@PROPS
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20), st.floats(0.001, 0.2))
def test_emergent_call_is_monotone_in_its_level_and_needs_q_below_it(p, level):
    f = _tested(np.array(p))
    hi = decide(f, fdr_level=level)
    lo = decide(f, fdr_level=level / 2)
    assert np.all(lo["emergent"].to_numpy() <= hi["emergent"].to_numpy())
    assert np.all(hi.loc[hi["emergent"], "q_value"] < level)
    assert not decide(f.assign(pre_state="no signal"), fdr_level=level)["emergent"].any()


@PROPS
@given(st.lists(st.floats(0, 1), min_size=2, max_size=30), st.integers(1, 20), st.integers(2, 10))
def test_expected_metrics_are_monotone_in_per_token_probability(p, length, k):
    p = np.sort(np.array(p))
    m = expected_metrics(p, length, k)
    assert np.all(np.diff(m["accuracy"]) >= -1e-12) and np.all(np.diff(m["multiple_choice_grade"]) >= -1e-9)
    assert np.all(np.diff(m["edit_distance"]) <= 1e-12) and np.all(np.diff(m["brier_score"]) <= 1e-12)
    assert np.all((m["multiple_choice_grade"] >= 1 / k - 1e-9) & (m["multiple_choice_grade"] <= 1))


@PROPS
@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from(["clopper-pearson", "wilson"]), st.integers(1, 5), st.integers(0, 500))
def test_pass_rate_intervals_bracket_their_estimates(cn, method, r, extra):
    c, n = cn
    e = binomial_estimate(c, n, method=method)
    assert 0 <= float(e.lower) <= c / n + 1e-12 and c / n - 1e-12 <= float(e.upper) <= 1
    pu = passuntil_estimate(r + extra, r)
    assert float(pu.lower) <= r / (r + extra) <= float(pu.upper) <= 1


def test_a_question_whose_choices_are_all_minus_inf_is_an_error_naming_the_file(tmp_path):
    """A question with no finite choice log-probability has no distribution: the pure function refuses it,
    and ingest turns that into an error naming the file, with the store untouched."""
    assert np.isnan(choice_probabilities([[-np.inf, -np.inf]])).all()
    with pytest.raises(ValueError, match="question 0"):
        brier_from_logprobs([[-np.inf, -np.inf], [0.0, -1.0]], [0, 0])
    data = put(tmp_path / "ex.csv", 't,m,lp,ci\nx,a,"[-Infinity, -Infinity]",0\nx,a,"[0.0, -1.0]",0\n')
    mapping = {"kind": "examples", "columns": {"task": "t", "model": "m", "choice_logprobs": "lp", "correct_index": "ci"}}
    db = tmp_path / "s.duckdb"
    with pytest.raises(IngestError, match="ex.csv"):
        ingest([str(data)], db=db, online=False, mapping=mapping)
    assert not db.exists()
