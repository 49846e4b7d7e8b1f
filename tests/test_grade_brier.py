"""Schaeffer et al. 2023, Fig. 6 end to end: BIG-G full logs (a real .tar.lrz made here) -> streamed
into the store -> multiple choice grade and Brier score per task and size -> CLI, figure, Re-scoring page.

Reference: the definitions, computed here with numpy straight from the logs' per-choice
log-probabilities: p = softmax(scores) over a question's own choices; grade = 1 when the right
choice is the strict argmax; multi-class Brier score sum_k (p_k - 1[k = correct])^2 (Brier 1950,
eq. 1), averaged over every multiple-choice example of the task (subtasks pooled).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bigbench_fixtures import BIGG_SIZES, bigg_mc_log, make_bigg_checkout, require_lrzip
from emergence import api
from emergence.app import figures
from emergence.ingestion.ingest import ingest

TASKS = {"logical_deduction": ["logical_deduction:three_objects", "logical_deduction:five_objects"],
         "hyperbaton": ["hyperbaton"]}
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    require_lrzip()
    root = make_bigg_checkout(tmp_path_factory.mktemp("bigg") / "BIG-bench", TASKS)
    db = tmp_path_factory.mktemp("store") / "s.duckdb"
    out = ingest([str(root)], db=db, full_logs=True)
    assert out["counts"]["bigbench"]["examples"] == len(BIGG_SIZES) * 3 * 40
    return db


def reference(task: str) -> pd.DataFrame:
    rows = []
    for name, (total, non_emb) in BIGG_SIZES.items():
        log = bigg_mc_log(task, TASKS[task], "BIG-G T=0", name)
        brier, grade = [], []
        for q in log["queries"]:
            for s in q["samples"]:
                lp = np.asarray(s["scores"])
                p = np.exp(lp - lp.max())
                p /= p.sum()
                y = np.array([s["target_values"][t] for t in s["targets"]], dtype=float)
                brier.append(((p - y) ** 2).sum())
                k = int(np.argmax(y))
                grade.append(float((lp[k] > np.delete(lp, k)).all()))
        rows.append({"model": name, "params": float(total), "non_embedding_params": float(non_emb),
                     "brier_score": np.mean(brier), "brier_score_stderr": np.std(brier, ddof=1) / np.sqrt(len(brier)),
                     "multiple_choice_grade": np.mean(grade), "n_examples": len(brier)})
    return pd.DataFrame(rows).sort_values("params").reset_index(drop=True)


@pytest.mark.parametrize("task", list(TASKS))
def test_grade_and_brier_equal_the_definitions(store, task):
    got = api.grade_vs_brier(task=task, db=store)
    want = reference(task)
    assert got["model"].tolist() == want["model"].tolist()
    assert set(got["family"]) == {"BIG-G T=0"} and set(got["shots"]) == {0}
    for col in ("params", "non_embedding_params", "n_examples"):
        assert got[col].astype(float).tolist() == want[col].astype(float).tolist()
    for col in ("brier_score", "brier_score_stderr", "multiple_choice_grade"):
        np.testing.assert_allclose(got[col].astype(float), want[col], rtol=1e-12, atol=1e-15)
    assert np.allclose(got["random_baseline"], 0.25)
    # the logs are drawn so that the outputs improve with size: Brier falls, the grade rises overall
    assert got["brier_score"].iloc[-1] < got["brier_score"].iloc[0]
    assert got["multiple_choice_grade"].iloc[-1] > got["multiple_choice_grade"].iloc[0]


def test_cli_prints_the_same_bytes(store):
    cmd = [sys.executable, "-m", "emergence.cli", "--db", str(store), "grade-brier", "--task", "hyperbaton",
           "--csv", "-"]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=120).stdout
    assert out == api.to_csv(api.grade_vs_brier(task="hyperbaton", db=store))
    assert out.count(b"\n") == len(BIGG_SIZES) + 1


@pytest.mark.parametrize("x", ["params", "non_embedding_params"])
def test_figure_plots_both_metrics_on_the_chosen_size_axis(store, x):
    rows = api.grade_vs_brier(db=store)
    fig = figures.grade_brier_figure(rows, x=x)
    assert len(fig.data) == 2 * len(TASKS)
    by_name = {}
    for tr in fig.data:
        by_name.setdefault(tr.name, []).append(tr)
    ld = next(v for k, v in by_name.items() if k.startswith("logical_deduction"))
    sub = rows[rows["task"] == "logical_deduction"].sort_values(x)
    assert list(ld[0].x) == sub[x].tolist() and list(ld[0].y) == sub["multiple_choice_grade"].tolist()
    assert list(ld[1].y) == sub["brier_score"].tolist()
    assert fig.layout.xaxis.type == "log"


def plotted(v) -> list:
    """A plotted array (plotly sends numpy arrays base64-encoded: {'dtype', 'bdata'})."""
    import base64
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def test_rescoring_page_shows_fig6(store, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("EMERGENCE_DB", str(store))
    monkeypatch.setenv("EMERGENCE_AUTOBUILD", "0")
    monkeypatch.delenv("EMERGENCE_PUBLIC", raising=False)
    for x in ("params", "non_embedding_params"):
        at = AppTest.from_file(APP, default_timeout=120)
        at.query_params["page"] = "rescoring"
        at.query_params["section"] = "replications"
        at.query_params["x"] = x
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        fig6 = [s for s in specs if any("Brier score (continuous" in a.get("text", "")
                                        for a in s["layout"].get("annotations", []))]
        assert len(fig6) == 1
        traces = fig6[0]["data"]
        rows = api.grade_vs_brier(db=store)
        hb = rows[rows["task"] == "hyperbaton"].sort_values(x)
        grade, brier = [t for t in traces if t["name"].startswith("hyperbaton")]
        assert plotted(grade["x"]) == hb[x].tolist() and plotted(brier["x"]) == hb[x].tolist()
        np.testing.assert_allclose(plotted(grade["y"]), hb["multiple_choice_grade"], rtol=1e-12)
        np.testing.assert_allclose(plotted(brier["y"]), hb["brier_score"], rtol=1e-12)
        assert [m.value for m in at.markdown if "grade-brier" in m.value] == ["`emergence grade-brier --csv -`"]
    assert os.environ["EMERGENCE_DB"] == str(store)
