"""The parser protocol (emergence.ingestion.sources.base): every catalogue module declares it, detection follows it."""
from __future__ import annotations

import types

import pytest

from emergence.ingestion import catalog, ingest
from emergence.ingestion.schema import IngestError
from emergence.ingestion.sources import base


@pytest.mark.parametrize("name", list(catalog.CATALOG))
def test_every_catalogue_module_follows_the_protocol(name):
    mod = catalog.parser(name)
    assert base.missing(mod) == [], name
    assert isinstance(mod, base.SourceModule)
    assert "PRIORITY" in getattr(mod, "__all__", ["PRIORITY"])


def test_missing_names_what_a_module_lacks():
    m = types.ModuleType("fake")
    m.NAME, m.PRIORITY, m.detect = "fake", "high", lambda p: False
    assert base.missing(m) == ["parse", "PRIORITY"]
    m.PRIORITY, m.parse = True, None       # a bool is not a priority; parse must be callable
    assert base.missing(m) == ["PRIORITY", "parse"]
    with pytest.raises(TypeError, match="parser protocol"):
        base.priority(m)


def test_detection_order_is_by_priority_then_user_data_first():
    order = base.detection_order(catalog)
    prios = [catalog.parser(n).PRIORITY for n in order]
    assert prios == sorted(prios, reverse=True)
    # one module, two entries: the user's own data is tried before the public copy
    assert order.index("lm-eval-results") < order.index("pythia") < order.index("lm-eval-harness-results-2023")
    # the order ingest used before the protocol, kept: specific layouts before the generic lm-eval reader
    known = ["bigbench", "lm-eval-samples", "expemergence", "lm-eval-results", "obsscaling", "monkeys-powerlaws"]
    assert sorted(known, key=order.index) == known


def test_detect_uses_the_declared_priority(tmp_path, monkeypatch):
    """Two modules claiming the same folder: the higher PRIORITY wins, whatever the catalogue order."""
    folder = tmp_path / "runs"
    folder.mkdir()
    low = types.ModuleType("low")
    low.NAME, low.PRIORITY, low.detect, low.parse = "low", 1, lambda p: True, lambda *a, **k: None
    high = types.ModuleType("high")
    high.NAME, high.PRIORITY, high.detect, high.parse = "high", 99, lambda p: True, lambda *a, **k: None
    mods = {"low": low, "high": high}
    monkeypatch.setattr(catalog, "CATALOG", {n: catalog.SourceSpec(n, n, n) for n in ("low", "high")})
    monkeypatch.setattr(catalog, "parser", lambda n: mods[n])
    assert ingest._detect(folder) == "high"
    high.PRIORITY = 0
    assert ingest._detect(folder) == "low"
    low.detect = high.detect = lambda p: False
    with pytest.raises(IngestError, match="format not recognised"):
        ingest._detect(folder)


@pytest.mark.parametrize("name", sorted({catalog.CATALOG[n].module for n in catalog.CATALOG}))
def test_every_module_docstring_states_its_protocol_rules(name):
    """base.py: 'its module docstring says how' it keeps the rules: detection (with its priority),
    errors, issues and provenance."""
    import importlib
    mod = importlib.import_module(f"emergence.ingestion.sources.{name}")
    doc = " ".join((mod.__doc__ or "").split())
    assert "Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY" in doc, name
    assert f"PRIORITY {mod.PRIORITY}:" in doc, f"{name}: the docstring's priority is not the module's"
    for words in ("IngestError", "data issues", "``source_file``", "``row_ref``"):
        assert words in doc, f"{name}: no {words}"
