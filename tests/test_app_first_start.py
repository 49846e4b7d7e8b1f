"""The first start of a hosted dashboard (EMERGENCE_PUBLIC=1) when some sources cannot be had, under AppTest.

One unreachable source must not sink the rest: the sources that can be had are built, each
one that cannot is listed with why and how to add it (file patterns as code), and a button
retries them.  Offline here (EMERGENCE_OFFLINE=1): every download fails the same way a
network error does, through the same ``ingest(keep_going=True)``; the browser test
(``test_hosted.py``) does it with a stand-in GitHub whose server errors for one source.
"""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from emergence.store import Store

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _env(monkeypatch, tmp_path, data):
    monkeypatch.setenv("EMERGENCE_DB", str(tmp_path / "first.duckdb"))
    monkeypatch.setenv("EMERGENCE_DATA_DIR", str(data))
    monkeypatch.setenv("EMERGENCE_AUTOBUILD", "1")
    monkeypatch.setenv("EMERGENCE_OFFLINE", "1")
    monkeypatch.setenv("EMERGENCE_PUBLIC", "1")
    monkeypatch.delenv("EMERGENCE_INCLUDE_UNLICENSED", raising=False)


def failures(at: AppTest) -> str:
    """The list in the 'Why, and how to add them' expander."""
    box = next(e for e in at.expander if e.label == "Why, and how to add them")
    return "\n".join(m.value for m in box.markdown)


def test_sources_that_cannot_be_had_are_listed_and_retried(tmp_path, monkeypatch, shared_data):
    data = tmp_path / "data"
    data.mkdir()
    (data / "gpt3-multiplication-tables").symlink_to(shared_data / "gpt3-multiplication-tables")
    _env(monkeypatch, tmp_path, data)
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Overview" and not at.error
    assert Store(tmp_path / "first.duckdb").source_rows()["name"].tolist() == ["gpt3-multiplication-tables"]
    from emergence.ingestion import catalog
    n = sum(1 for k, s in catalog.CATALOG.items() if s.redistributable and s.downloadable) - 1
    assert at.warning[0].value.startswith(f"{n} source(s) could not be added (pythia, ")
    assert "the others were built" in at.warning[0].value
    warning = failures(at)
    # every downloadable redistributable source but the local one, each with why and how to add it
    for name in ("pythia", "obsscaling", "expemergence", "bigbench", "on-emergence"):
        assert f"- **{name}**: source '{name}'" in warning
    assert "cannot be downloaded: offline. To add it:" in warning
    assert "`evals/pythia-v1/**/*.json`" in warning          # a glob as code, not eaten by Markdown
    bb = warning[warning.index("**bigbench**"):]
    assert "`git clone --filter=blob:none --sparse" in bb       # BIG-bench: the command to fetch it, as code
    assert "sparse-checkout set --no-cone 'bigbench/benchmark_tasks/*/results/scores_*.json'" in bb
    assert "inverse-scaling-eval-pipeline" not in warning     # left out by license, not failed ...
    notes = " ".join(i.value for i in at.info)
    assert "**inverse-scaling-eval-pipeline**: license 'none stated'" in notes and "`EMERGENCE_INCLUDE_UNLICENSED=1`" \
        in notes                                              # ... and said so
    assert "lm-eval-results" not in notes                     # a format for your own files: nothing left out
    retry = at.button(key="retry_build")
    assert retry.label.startswith("Retry pythia")
    # the copy appears (e.g. uploaded by the host); retry adds it to the store and leaves the rest listed
    (data / "expemergence").symlink_to(shared_data / "expemergence")
    retry.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert Store(tmp_path / "first.duckdb").source_rows()["name"].tolist() == ["expemergence",
                                                                               "gpt3-multiplication-tables"]
    warning = failures(at)
    assert "**expemergence**" not in warning and "**pythia**" in warning


def test_nothing_to_be_had_is_an_error_with_a_retry(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _env(monkeypatch, tmp_path, data)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Building the store failed: none of the sources could be added" in at.error[0].value
    assert "nothing could be built" in at.warning[0].value
    assert "- **pythia**: source 'pythia'" in failures(at)
    assert at.button(key="retry_build").label.startswith("Retry pythia")
    assert not (tmp_path / "first.duckdb").exists()
