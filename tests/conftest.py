"""Shared fixtures and helpers, and the two layers of the suite.

- **The clean-clone layer** (``pytest -m "not real"``): unit tests, and every page's AppTest on
  ``fixture_store``, a small store built in code (tests/fixture_store.py) through the real ingest
  and store; it needs nothing outside the repository.
- **The real-data layer** (marker ``real``): whatever uses ``../shared/data``, through the fixtures
  ``shared_data`` or ``real_store`` (the store built once per session from every source there).
  The marker is applied here, by :func:`pytest_collection_modifyitems`, to every test that depends
  on either fixture, directly or through another fixture: no test marks itself.  Locally a missing
  ``../shared/data`` skips them; with ``CI=true`` it fails them.

:func:`require_shared` (a sub-folder of the real data) may be called only from a test that uses one of
those fixtures, so that it carries the marker; a call from any other test fails, naming it.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
APP = str(REPO / "app.py")
#: the fixtures that read ../shared/data: a test depending on any of them is marked ``real``
REAL_FIXTURES = ("shared_data", "real_store")

if str(Path(__file__).parent) not in sys.path:      # tests import the helpers below as `conftest`
    sys.path.insert(0, str(Path(__file__).parent))


# ---------------------------------------------------------------- the layers
def pytest_collection_modifyitems(config, items):
    """Mark ``real`` every test whose fixture closure includes a real-data fixture."""
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in REAL_FIXTURES):
            item.add_marker(pytest.mark.real)


_current = {"item": None}


def pytest_runtest_setup(item):
    """Which test is being set up or run (for :func:`require_shared`'s check; before its fixtures)."""
    _current["item"] = item


def pytest_runtest_teardown(item):
    _current["item"] = None


def require_shared(sub: str = "") -> Path:
    """The real data folder (or a sub-folder); skipped locally when absent, a failure when CI=true.

    Only from a test marked ``real`` (one that uses ``shared_data`` or ``real_store``): anything
    else would run in the clean-clone layer and read data a clean clone does not have.
    """
    item = _current["item"]
    if item is not None and item.get_closest_marker("real") is None:
        pytest.fail(f"{item.nodeid} reads ../shared/data without the shared_data or real_store fixture: "
                    "add one to its arguments so it is marked `real`")
    path = SHARED_DATA / sub if sub else SHARED_DATA
    if not path.exists():
        msg = f"real data not found at {path}"
        if IN_CI:
            pytest.fail(msg + " (required when CI=true)")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def real_store(tmp_path_factory, shared_data):
    """A store built once per session from every source in ../shared/data (the real DuckDB file);
    every file that needs it shares this one (never copy it into a module fixture and rebuild)."""
    from emergence.ingestion.ingest import ingest
    db = tmp_path_factory.mktemp("store") / "emergence.duckdb"
    out = ingest(None, db=db, data=shared_data, online=False)
    return db, out


@pytest.fixture(scope="session")
def fixture_store(tmp_path_factory) -> Path:
    """The small store built in code (tests/fixture_store.py), once per session.  Tests must not write
    to it: copy it (``tmp_path``) to change it."""
    import fixture_store as fx
    return fx.build(tmp_path_factory.mktemp("fixture-store") / "emergence.duckdb")


# ---------------------------------------------------------------- small helpers many files use
def assert_same_rows(got, want, *, se_atol: float = 1e-15):
    """Two frames of rows (e.g. re-scored observations from the SQL and the numpy path) are the same: same
    columns in order, same number of rows, numbers within 1e-12 relative (1e-15 absolute near 0, where both
    compute (1 - p)^2 with p ~ 1, rounding ~1e-16), everything else identical, NULLs alike.

    ``se_atol``: the absolute tolerance of the standard errors (``stderr``, ``paired_se``).  DuckDB's
    ``stddev_samp`` (streaming) and numpy's two-pass ``std`` lose different digits when the values nearly
    agree (relative error ~ eps * mean^2 / variance), so a sampler that draws such groups needs more than
    1e-15; fixed data keep the tight default."""
    import numpy as np
    import pandas as pd
    assert list(got.columns) == list(want.columns) and len(got) == len(want)
    for c in want.columns:
        a, b = got[c], want[c]
        if pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(b):
            atol = se_atol if c in ("stderr", "paired_se") else 1e-15
            np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, atol=atol, equal_nan=True,
                                       err_msg=c)
        else:
            assert a.astype(object).where(a.notna(), None).tolist() == \
                b.astype(object).where(b.notna(), None).tolist(), c


def sha(path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the browser (Playwright + Debian's Chromium)
# one home for the executable and its launch arguments, shared with the bench scripts: bench/chromium.py
if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))
from chromium import ARGS as CHROMIUM_ARGS, CHROMIUM  # noqa: E402


@pytest.fixture(scope="session")
def browser_type_launch_args():
    """pytest-playwright launches Debian's Chromium (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


# ---------------------------------------------------------------- the app under AppTest
APP_ENV = ("EMERGENCE_DB", "EMERGENCE_AUTOBUILD", "EMERGENCE_PUBLIC", "EMERGENCE_MAX_UPLOAD_MB",
           "EMERGENCE_ALLOW_INGEST")


@contextmanager
def app_on(db):
    """The app pointed at the store ``db`` (never built on first start, not public); the environment restored."""
    saved = {k: os.environ.get(k) for k in APP_ENV}
    os.environ.update(EMERGENCE_DB=str(db), EMERGENCE_AUTOBUILD="0")
    for k in ("EMERGENCE_PUBLIC", "EMERGENCE_MAX_UPLOAD_MB", "EMERGENCE_ALLOW_INGEST"):
        os.environ.pop(k, None)
    try:
        yield Path(db)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def open_page(page: str | None, **params):
    """Run the app on ``page`` with these link parameters; fails on any exception the app raised."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(APP, default_timeout=120)
    if page is not None:
        at.query_params["page"] = page
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def spec(at, i: int = 0) -> dict:
    """The i-th plotly chart's figure as plotted."""
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def arr(v) -> list:
    """A plotted array: plotly encodes numpy arrays as base64 typed arrays ({'dtype', 'bdata', 'shape'})."""
    import numpy as np
    if v is None:
        return []
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return a.tolist()
    if v and isinstance(v[0], (list, dict)):
        return [x for row in v for x in arr(row)]
    return list(v)


def ys(fig: dict) -> list:
    return [v for t in fig["data"] for v in arr(t.get("y"))]


def qp(at, key: str) -> list[str]:
    """A query parameter of the app's URL as a list (repeated keys)."""
    v = at.query_params.get(key)
    return [] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]


def html_tables(at) -> list:
    """The tables a page shows as static HTML (``app_support.small_table``), each as a DataFrame of the cells' text
    (header row as columns), read with the standard library's parser."""
    return [parse_html_table(h.value) for h in at.html if "<table" in h.value]


def parse_html_table(markup: str):
    """The first ``<table>`` of ``markup`` as a DataFrame of strings (entities decoded)."""
    from html.parser import HTMLParser

    import pandas as pd

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(self.cell)
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    p = Cells()
    p.feed(markup)
    return pd.DataFrame(p.rows[1:], columns=p.rows[0])


def text(at) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


#: every page, the link parameters it opens with in the page-render tests, and the charts it draws at least
#: (tests/test_app.py on the fixture store, tests/test_app_real.py on the real one)
PAGES = [("overview", {}, 3), ("explorer", {}, 1), ("series", {"source": "expemergence"}, 1),
         ("rescoring", {}, 2), ("predictability", {"source": "pythia", "task": "lambada_openai"}, 2),
         ("simulator", {}, 2), ("data", {}, 0)]
