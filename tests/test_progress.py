"""Progress as structured events: the ingest, its parsers and the store say stage, i and n; nobody parses text."""
from __future__ import annotations

import io
import pickle

import pytest

from emergence.cli import Progress as Bar
from emergence.ingestion.ingest import as_progress, ingest
from emergence.ingestion.sources.base import STAGES, Progress

CSV = "model,HFV1_ARC,HFV1_MMLU\nEleutherAI/pythia-160m,25.0,26.5\nEleutherAI/pythia-1.4b,31.0,27.0\n" \
      "EleutherAI/pythia-12b,40.0,28.0\n"


def test_event_fields_text_and_fraction():
    e = Progress("parsing pythia from /d", "source", 2, 4)
    assert (e.stage, e.message, e.i, e.n, e.fraction) == ("source", "parsing pythia from /d", 2, 4, 0.25)
    assert e.text == e == "[2/4] parsing pythia from /d"       # what text consumers received before events
    f = Progress("pythia: 3/10 files", "parse", 3, 10)
    assert f.text == "pythia: 3/10 files" and f.fraction == 0.3
    assert Progress("writing x", "write").fraction is None
    assert pickle.loads(pickle.dumps(e)).i == 2
    with pytest.raises(AttributeError):
        e.i = 3
    with pytest.raises(ValueError, match="stage"):
        Progress("x", "parsing")


def test_plain_download_text_becomes_a_fetch_event():
    """emergence.ingestion.remote still speaks text; as_progress is the one place that reads it."""
    assert as_progress("x: downloading 1,000/2,000 files (a.json)")[:] == "x: downloading 1,000/2,000 files (a.json)"
    e = as_progress("x: downloading 1,000/2,000 files (a.json)")
    assert (e.stage, e.i, e.n) == ("fetch", 1000, 2000)
    assert as_progress("x: log.tar.lrz (40%)").fraction == 0.4
    assert as_progress("hello").stage == "note"


def test_the_first_start_page_routes_events_by_their_fields():
    """A source's start moves the main bar, a step inside it the second bar, the rest goes to the log."""
    from emergence.ingestion.build import _progress_into, new_build_state
    b = new_build_state()
    cb = _progress_into(b)
    cb(Progress("parsing pythia", "source", 2, 4))
    assert (b["frac"], b["text"], b["fetch"]) == (0.25, "[2/4] parsing pythia", None)
    cb(Progress("files", "parse", 1, 2))
    cb("x: log.tar.lrz (40%)")
    assert b["fetch"] == 0.4 and b["fetch_text"] == "x: log.tar.lrz (40%)" and b["frac"] == 0.25
    cb(Progress("scored 10 series", "score", 1, 2))
    cb("a note")
    assert b["log"] == ["scored 10 series", "a note"]


def test_ingest_emits_only_events(tmp_path):
    folder = tmp_path / "board"
    folder.mkdir()
    (folder / "hf_open_llm_v1_240101.csv").write_text(CSV)
    events = []
    out = ingest([str(folder)], db=tmp_path / "s.duckdb", online=False, progress=events.append)
    assert out["counts"], out
    assert events and all(isinstance(e, Progress) and e.stage in STAGES for e in events)
    source = [e for e in events if e.stage == "source"]
    assert [(e.i, e.n) for e in source] == [(1, 1)] and source[0].message.startswith("parsing ")
    stages = [e.stage for e in events]
    assert "parse" in stages and "write" in stages and "score" in stages
    assert stages.index("source") < stages.index("parse") < stages.index("write")
    bar = io.StringIO()
    p = Bar(bar)
    for e in events:
        p(e)
    assert "[1/1] parsing" in bar.getvalue()
