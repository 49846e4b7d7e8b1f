"""`emergence ingest bigbench` online, against a local stand-in of google/BIG-bench (no network).

The repository is built here with BIG-bench's layout (hundreds of task folders, a large task
file, a Git LFS pointer per full-log archive, score files per the ``bigbench==1.0.0`` schema)
and served over ``file://`` with ``uploadpack.allowFilter`` -- the same partial clone and
sparse checkout code path as ``https://github.com/google/BIG-bench.git`` takes, selected by
``EMERGENCE_BIGBENCH_REPO``.  The LFS media URL (``EMERGENCE_GITHUB_MEDIA``) is served on
loopback; the archive is a real ``.tar.lrz`` of spec-faithful full logs made here.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pandas as pd
import pytest

from bigbench_fixtures import (  # tests/ is on sys.path under pytest
    ARCHIVE_NAME, GEN_TASK, MC_TASK, MediaServer, gen_queries, gen_scores, git, make_archive, make_bigbench_repo,
    mc_queries, mc_scores, require_lrzip, results_file)
from emergence.ingestion import remote
from emergence.ingestion.ingest import SourceMissing, ingest
from emergence.store import Store


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, bytes]:
    """One lrzip archive of full logs per task, as BIG-bench ships them."""
    require_lrzip()
    d = tmp_path_factory.mktemp("archives")
    mc = make_archive({"full-log_BIG-G_T=0_2b.json": results_file(MC_TASK, "BIG-G T=0", "2b", mc_scores(2),
                                                                  mc_queries())}, d / "mc" / ARCHIVE_NAME)
    gen = make_archive({"full-log_BIG-G_sparse_125m.json": results_file(GEN_TASK, "BIG-G sparse", "125m",
                                                                        gen_scores(1), gen_queries())},
                       d / "gen" / ARCHIVE_NAME)
    return {MC_TASK: mc.read_bytes(), GEN_TASK: gen.read_bytes()}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory, archives) -> dict:
    return make_bigbench_repo(tmp_path_factory.mktemp("upstream") / "BIG-bench", archives=archives)


@pytest.fixture
def online(upstream, monkeypatch, tmp_path):
    monkeypatch.setenv("EMERGENCE_BIGBENCH_REPO", str(upstream["path"]))   # a local path: cloned over file://
    data = tmp_path / "data"
    data.mkdir()
    return data


def files_under(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)


def test_fetches_only_the_results_files_at_one_commit(online, upstream, tmp_path):
    msgs: list[str] = []
    out = ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, progress=msgs.append)
    assert out["result"] == {"bigbench": "added"}
    got = online / "bigbench"
    assert files_under(got) == upstream["results"]                       # no task data, no LFS pointer
    assert len(upstream["results"]) > 300
    # the large task file never crossed: git knows it (the tree is there) but does not have it
    missing = subprocess.run(["git", "rev-list", "--objects", "--missing=print", upstream["commit"]], cwd=got,
                             capture_output=True, text=True, check=True).stdout
    assert f"?{upstream['big_blob']}" in missing.split()
    for path in upstream["pointers"]:                                    # nor did the LFS pointers
        oid = git("rev-parse", f"HEAD:{path}", cwd=upstream["path"]).strip()
        assert f"?{oid}" in missing.split()
    size = sum(p.stat().st_size for p in (got / ".git").rglob("*") if p.is_file())
    assert size < 1_000_000 < 4_000_000
    # the branch was resolved once and the commit is recorded
    row = Store(tmp_path / "s.duckdb").source_rows().set_index("name").loc["bigbench"]
    assert row["commit"] == upstream["commit"]
    assert row["url"] == f"https://github.com/google/BIG-bench/tree/{upstream['commit']}"
    assert row["n_files"] == len(upstream["results"])
    from emergence import api
    assert api.sources(db=tmp_path / "s.duckdb").set_index("source").loc["bigbench", "commit"] == upstream["commit"]
    # a progress bar: file counts up to the total
    fetching = [m for m in msgs if " files" in m and "fetching" in m]
    assert fetching and fetching[-1].endswith(f"{len(upstream['results']):,}/{len(upstream['results']):,} files")


def test_same_rows_as_a_local_checkout_of_the_same_commit(online, upstream, tmp_path):
    ingest(["bigbench"], db=tmp_path / "download.duckdb", data=online)
    clone = tmp_path / "clone" / "BIG-bench"
    git("clone", "-q", str(upstream["path"]), str(clone), cwd=tmp_path)       # a full checkout, LFS pointer included
    out = ingest([str(clone)], db=tmp_path / "local.duckdb")
    assert out["result"] == {"bigbench": "added"}
    a = Store(tmp_path / "download.duckdb").observations()
    b = Store(tmp_path / "local.duckdb").observations()
    assert len(a) > 900
    pd.testing.assert_frame_equal(a, b)
    ra = Store(tmp_path / "download.duckdb").source_rows().iloc[0]
    rb = Store(tmp_path / "local.duckdb").source_rows().iloc[0]
    assert ra["commit"] == rb["commit"] == upstream["commit"]
    assert list(ra["content_hashes"]) == list(rb["content_hashes"])
    # the full checkout holds the archives as LFS pointers: reported, never parsed
    issues = Store(tmp_path / "local.duckdb").data_issues()
    assert (issues["kind"] == "lfs_pointer").sum() == 2


def test_an_interrupted_fetch_leaves_nothing_and_resumes(online, upstream, tmp_path, monkeypatch):
    monkeypatch.setattr(remote, "BLOB_BATCH", 100)
    seen: list[str] = []

    def stop_midway(msg: str):
        seen.append(msg)
        if msg.endswith(f"200/{len(upstream['results']):,} files"):
            raise KeyboardInterrupt        # Ctrl-C, or the host restarting the app

    with pytest.raises(KeyboardInterrupt):
        ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, progress=stop_midway)
    assert not (online / "bigbench").exists()                 # no half source
    assert (online / ".bigbench.partial").is_dir()            # what was fetched is kept ...
    assert not (tmp_path / "s.duckdb").exists()
    msgs: list[str] = []
    out = ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, progress=msgs.append)
    assert out["result"] == {"bigbench": "added"}
    assert any("resuming" in m for m in msgs)
    kept = [int(m[1].replace(",", "")) for m in (re.search(r"\(([\d,]+) already here\)", x) for x in msgs) if m]
    assert kept and kept[0] >= 100                            # ... and not fetched again
    assert files_under(online / "bigbench") == upstream["results"]
    assert not (online / ".bigbench.partial").exists()


def test_a_damaged_leftover_is_started_afresh(online, upstream, tmp_path):
    left = online / ".bigbench.partial"
    (left / ".git").mkdir(parents=True)
    (left / ".git" / "emergence-fetch.json").write_text("{not json")
    msgs: list[str] = []
    ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, progress=msgs.append)
    assert any("starting afresh" in m for m in msgs)
    assert files_under(online / "bigbench") == upstream["results"]


def test_offline_says_in_one_line_where_to_put_a_checkout_and_how_to_fetch_it(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    cmd = [sys.executable, "-m", "emergence.cli", "--db", str(tmp_path / "s.duckdb"), "ingest", "bigbench",
           "--data-dir", str(data), "--offline"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("(nothing was written)")
    line = err[0]
    assert f"`{data / 'bigbench'}`" in line and "git clone --filter=blob:none --sparse" in line
    assert "emergence ingest bigbench" in line and "offline" in line
    # unreachable rather than --offline: the same one line, with git's reason
    monkeypatch.setenv("EMERGENCE_BIGBENCH_REPO", "file:///nonexistent/BIG-bench")
    with pytest.raises(SourceMissing) as e:
        ingest(["bigbench"], db=tmp_path / "s.duckdb", data=data)
    assert "\n" not in str(e.value) and "put a checkout at" in str(e.value) and "unreachable" in str(e.value)
    assert not (data / "bigbench").exists() and not (data / ".bigbench.partial").exists()


# ------------------------------------------------------------------ --full-logs through the LFS media URL
@pytest.fixture
def media(upstream, monkeypatch):
    objects = {f"google/BIG-bench/{upstream['commit']}/{path}": data for path, data in upstream["pointers"].items()}
    server = MediaServer(objects)
    monkeypatch.setenv("EMERGENCE_GITHUB_MEDIA", server.base)
    yield server
    server.close()


def test_full_logs_are_fetched_verified_and_streamed_into_the_examples(online, upstream, media, tmp_path):
    out = ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, full_logs=True)
    assert out["counts"]["bigbench"]["examples"] == 7
    for path, data in upstream["pointers"].items():
        assert hashlib.sha256((online / "bigbench" / path).read_bytes()).digest() == hashlib.sha256(data).digest()
    store = Store(tmp_path / "s.duckdb")
    ex = store.examples({"source": ["bigbench"]})
    assert len(ex) == 7 and set(ex["model"]) == {"2b", "125m"}
    assert ex["source_file"].str.contains(ARCHIVE_NAME + "/full-log_").all()
    obs = store.observations({"source": ["bigbench"]})
    rescored = obs[obs["source_metric"] == "rescored:brier_score"]
    assert set(rescored["model"]) == {"2b"} and rescored["non_embedding_params"].notna().all()
    assert set(store.source_rows().iloc[0]["files"]) >= set(upstream["pointers"])
    # fetched once: a second run finds the archives in place and asks for nothing
    n = len(media.requests)
    again = ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, full_logs=True)
    assert again["result"] == {"bigbench": "unchanged"} and len(media.requests) == n


def test_full_logs_for_some_tasks_only(online, media, tmp_path):
    ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, full_logs=True, log_tasks=[GEN_TASK])
    assert [p.split("/media/", 1)[-1].split("/")[-3] for p, _ in media.requests] == [GEN_TASK]
    ex = Store(tmp_path / "s.duckdb").examples()
    assert set(ex["task"]) == {GEN_TASK}
    # the other task's archive was neither fetched nor checked out (the sparse checkout has no pointer either)
    assert not (online / "bigbench" / "bigbench" / "benchmark_tasks" / MC_TASK / "results" / ARCHIVE_NAME).exists()


def test_an_interrupted_lfs_download_resumes_with_a_range_request(online, upstream, media, tmp_path):
    ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online)        # the results first
    media.mode = "break"
    with pytest.raises(SourceMissing, match="broke off.*run again to resume"):
        ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, full_logs=True, log_tasks=[MC_TASK])
    path = next(p for p in upstream["pointers"] if MC_TASK in p)
    part = online / "bigbench" / (path + ".part")
    assert 0 < part.stat().st_size < len(upstream["pointers"][path])
    assert Store(tmp_path / "s.duckdb").examples().empty                 # nothing half-written
    kept = part.stat().st_size
    media.mode = "ok"
    ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, full_logs=True, log_tasks=[MC_TASK])
    assert media.requests[-1][1] == f"bytes={kept}-"                      # only the rest was asked for
    assert not part.exists()
    assert (online / "bigbench" / path).read_bytes() == upstream["pointers"][path]
    assert len(Store(tmp_path / "s.duckdb").examples()) == 3


def test_lfs_quota_exhausted_is_said_clearly(online, media, tmp_path):
    media.mode = "quota"
    with pytest.raises(SourceMissing) as e:
        ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, full_logs=True)
    msg = str(e.value)
    assert "HTTP 403" in msg and "over its data quota" in msg and "LFS bandwidth" in msg and "git lfs pull" in msg
    assert not (tmp_path / "s.duckdb").exists()


def test_a_corrupted_download_is_rejected(online, upstream, media, tmp_path):
    key = next(k for k in media.objects if MC_TASK in k)
    media.objects[key] = b"x" * len(media.objects[key])
    with pytest.raises(SourceMissing, match="do not match the LFS pointer"):
        ingest(["bigbench"], db=tmp_path / "s.duckdb", data=online, full_logs=True, log_tasks=[MC_TASK])
    path = next(p for p in upstream["pointers"] if MC_TASK in p)
    assert not (online / "bigbench" / (path + ".part")).exists()
    assert not (online / "bigbench" / path).exists()
