"""A path ingest stays inside the folder given: no scan of '/', no link followed out, a capped walk."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from emergence.ingestion import ingest as ing
from emergence.ingestion.ingest import check_user_path, ingest
from emergence.ingestion.schema import IngestError

RESULTS = {"results": {"piqa": {"acc": 0.7, "acc_stderr": 0.01}}, "versions": {"piqa": 0},
           "config": {"model": "hf-causal", "model_args": "pretrained=EleutherAI/pythia-160m", "num_fewshot": 0}}


def results_folder(root: Path, name: str = "runs") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "pythia-160m.json").write_text(json.dumps(RESULTS))
    return d


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path) -> Path:
    db = tmp_path / "store" / "s.duckdb"
    db.parent.mkdir()
    ingest([str(results_folder(tmp_path / "base"))], db=db, online=False)
    return db


def test_the_filesystem_root_is_refused_without_walking_it(store):
    digest = sha(store)
    with pytest.raises(IngestError, match="filesystem root is not a results folder"):
        ingest(["/"], db=store, online=False)
    assert sha(store) == digest


@pytest.mark.parametrize("link_to_dir", [False, True])
def test_a_link_leading_out_of_the_folder_is_an_error_and_nothing_is_read(tmp_path, store, link_to_dir):
    secret = tmp_path / "elsewhere"
    secret.mkdir()
    (secret / "samples_piqa_2024-05-01T12-00-00.jsonl").write_text('{"not": "yours"}\n')
    (secret / "passwd.json").write_text('{"results": {"x": {"acc": "root:x:0:0:root:/root:/bin/bash"}}}')
    d = results_folder(tmp_path / "user")
    if link_to_dir:
        (d / "more").symlink_to(secret, target_is_directory=True)
    else:
        (d / "passwd.json").symlink_to(secret / "passwd.json")
    digest = sha(store)
    with pytest.raises(IngestError, match="symbolic link leads outside the folder given") as e:
        ingest([str(d)], db=store, online=False)
    assert e.value.file in ("more", "passwd.json") and "root:x" not in str(e.value)
    assert sha(store) == digest


def test_a_link_inside_the_folder_is_fine(tmp_path, store):
    d = results_folder(tmp_path / "user", "mine")
    (d / "sub").mkdir()
    (d / "sub" / "latest").symlink_to(d / "pythia-160m.json")
    check_user_path(d)
    out = ingest([str(d)], db=store, online=False)
    assert out["result"] == {"lm-eval-results:mine": "added"}


def test_the_walk_is_capped(tmp_path, store, monkeypatch):
    d = results_folder(tmp_path / "user")
    for i in range(5):
        (d / f"extra{i}.txt").write_text("x")
    monkeypatch.setattr(ing, "MAX_WALK_ENTRIES", 4)
    with pytest.raises(IngestError, match="more than 4 files and folders"):
        ingest([str(d)], db=store, online=False)


def test_error_values_are_cut_short(tmp_path):
    d = tmp_path / "runs"
    d.mkdir()
    long = "root:x:0:0:root:/root:/bin/bash" * 3
    (d / "m.json").write_text(json.dumps({**RESULTS, "results": {"piqa": {"acc": long}}}))
    with pytest.raises(IngestError) as e:
        ingest([str(d)], db=tmp_path / "s.duckdb", online=False)
    assert long not in str(e.value) and long[:40] + "…" in str(e.value)
