"""The dashboard's layers: pages import only the API, the figures, the views and the app's support package;
the figures run no analysis; the app's support code reads the store only through the API."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "app_pages").glob("*.py"))
#: what a page may import from this project
ALLOWED_EMERGENCE = {"emergence.api", "emergence.app.figures", "emergence.app.views"}


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every imported name of ``path`` (``from emergence import api`` -> ``emergence.api``,
    ``from emergence.app.views import DIMENSIONS`` -> ``emergence.app.views.DIMENSIONS``)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = "." * node.level + (node.module or "")
            if node.level == 0 and (node.module or "").split(".")[0] in ("emergence", "app_support"):
                out += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
            else:
                out.append((mod, node.lineno))
    return out


def _allowed(name: str) -> bool:
    if name == "streamlit" or name.startswith("streamlit."):
        return True
    if name == "app_support" or name.startswith("app_support."):
        return True
    return any(name == a or name.startswith(a + ".") for a in ALLOWED_EMERGENCE)


def test_there_are_pages():
    assert len(PAGES) >= 7, PAGES


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_import_only_the_api_figures_views_and_app_support(page):
    bad = [f"{page.name}:{line}: {name}" for name, line in _imports(page) if not _allowed(name)]
    assert not bad, "a page lays out only; move this to emergence.api / emergence.app.pivots:\n" + "\n".join(bad)


def test_the_layer_check_catches_a_direct_import(tmp_path):
    p = tmp_path / "page.py"
    p.write_text("import pandas as pd\nfrom emergence.analysis import mirage\nfrom emergence.store import Store\n"
                 "from emergence import api\nfrom emergence.app import figures\nimport app_support as sup\n")
    names = [n for n, _ in _imports(p) if not _allowed(n)]
    assert names == ["pandas", "emergence.analysis.mirage", "emergence.store.Store"]


def test_figures_run_no_analysis():
    """figures.py builds plots from frames it is given: it imports no store, series, verdict or fit module."""
    tree = ast.parse((REPO / "emergence" / "app" / "figures.py").read_text())
    mods = {("." * n.level + (n.module or "")) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in mods if m.lstrip(".").split(".")[-1] in
                ("store", "series", "verdict", "predict", "passuntil", "rescore", "mirage", "api")}, mods


def test_app_support_reads_the_store_only_through_the_api():
    """No module of the support package calls a Store method that reads rows (series, observations, ...)."""
    reads = ("series", "observations", "examples", "sampling_counts", "data_issues", "issue_counts", "sources",
             "rescore_choices")
    for path in sorted((REPO / "app_support").glob("*.py")):
        text = path.read_text()
        for r in reads:
            assert f"store().{r}(" not in text, f"{path.name} calls store().{r}(): go through emergence.api"
