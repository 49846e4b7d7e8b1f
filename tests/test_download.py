"""A missing catalogue source is fetched at its pinned commit (served here by a fake repository on loopback)."""
from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest

from emergence.ingestion.catalog import get
from emergence.ingestion.ingest import _glob_re, ingest

HEADER = "Model,Model Family,Model Size (B),Pretraining Data Size (T),FLOPs (1E21),0_50_brier,50_100_brier,acc,brier,san\n"
ROWS = ["EleutherAI/pythia-70m,Pythia,0.07,0.3,0.126,0.9,0.8,0.10,0.85,0.5",
        "EleutherAI/pythia-410m,Pythia,0.41,0.3,0.738,0.8,0.7,0.20,0.75,0.6",
        "EleutherAI/pythia-1.4b,Pythia,1.4,0.3,2.52,0.6,0.5,0.40,0.55,0.7"]


@pytest.fixture
def fake_github(tmp_path, monkeypatch):
    spec = get("expemergence")
    root = tmp_path / "served"
    raw = root / "raw" / spec.repo / spec.commit
    files = {"data/arithmetic/arithmetic_instance_brier_-1000_10_2_redist.csv": HEADER + "\n".join(ROWS) + "\n",
             "README.md": "not pinned: must not be fetched\n"}
    for rel, text in files.items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_text(text)
    tree = {"tree": [{"path": p, "type": "blob"} for p in files] + [{"path": "data", "type": "tree"}]}
    api = root / "api" / "repos" / spec.repo / "git" / "trees"
    api.mkdir(parents=True)
    (api / spec.commit).write_text(json.dumps(tree))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("EMERGENCE_GITHUB_API", base + "/api")
    monkeypatch.setenv("EMERGENCE_GITHUB_RAW", base + "/raw")
    yield files
    server.shutdown()


def test_missing_source_is_downloaded_at_its_commit_then_ingested(tmp_path, fake_github):
    data = tmp_path / "data"
    data.mkdir()
    out = ingest(["expemergence"], db=tmp_path / "s.duckdb", data=data)
    assert out["result"] == {"expemergence": "added"}
    got = sorted(p.relative_to(data / "expemergence").as_posix() for p in (data / "expemergence").rglob("*")
                 if p.is_file())
    assert got == ["data/arithmetic/arithmetic_instance_brier_-1000_10_2_redist.csv"]
    # the downloaded copy and a local copy give the same rows
    local = tmp_path / "local"
    (local / "expemergence").mkdir(parents=True)
    import shutil
    shutil.copytree(data / "expemergence" / "data", local / "expemergence" / "data")
    again = ingest(["expemergence"], db=tmp_path / "s.duckdb", data=local)
    assert again["result"] == {"expemergence": "unchanged"}


@pytest.mark.parametrize("pattern, path, hit", [
    ("data/*/*.csv", "data/arithmetic/x.csv", True),
    ("data/*/*.csv", "data/arithmetic/deeper/x.csv", False),
    ("evals/pythia-v1/**/*.json", "evals/pythia-v1/pythia-70m/zero-shot/70m_step0.json", True),
    ("evals/pythia-v1/**/*.json", "evals/pythia-v1/x.json", True),
    ("results/*/*.csv", "results/a/b.csv.bak", False),
])
def test_pinned_file_patterns(pattern, path, hit):
    assert bool(_glob_re(pattern).match(path)) is hit


class _RateLimited(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        type(self).seen.append(self.headers.get("Authorization"))
        body = b'{"message": "API rate limit exceeded"}'
        self.send_response(403)
        self.send_header("X-RateLimit-Remaining", "0")
        self.send_header("X-RateLimit-Reset", "1900000000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_rate_limit_is_said_clearly_and_github_token_is_sent(tmp_path, monkeypatch):
    """The GitHub API allows 60 unauthenticated requests an hour: past them, say so and how to raise it."""
    from emergence.ingestion.ingest import SourceMissing
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RateLimited)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("EMERGENCE_GITHUB_API", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.delenv("GITHUB_TOKEN", raising=False)
        with pytest.raises(SourceMissing) as e:
            ingest(["expemergence"], db=tmp_path / "s.duckdb", data=tmp_path)
        msg = str(e.value)
        assert "rate limit is used up until" in msg and "set GITHUB_TOKEN" in msg and "HTTP 403" in msg
        monkeypatch.setenv("GITHUB_TOKEN", "ghp_test")
        with pytest.raises(SourceMissing, match="GITHUB_TOKEN is set"):
            ingest(["expemergence"], db=tmp_path / "s.duckdb", data=tmp_path)
        assert _RateLimited.seen == [None, "Bearer ghp_test"]
        assert not (tmp_path / "expemergence").exists()
    finally:
        server.shutdown()
