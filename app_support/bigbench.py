"""The Re-scoring page's BIG-G section: Schaeffer et al. 2023, Fig. 6, on BIG-bench's own full logs.

Layout only: the rows come from :func:`emergence.api.grade_vs_brier` (the same call as
``emergence grade-brier``), the figure from :func:`emergence.app.figures.grade_brier_figure`.
"""
from __future__ import annotations

import shlex

import streamlit as st

from emergence import api
from emergence.app import figures
from emergence.app.views import ViewState

from .furniture import AXIS_LABELS, chart, code_line, show_table
from .queries import figure, store

__all__ = ["fig6_section"]

MAX_CURVES = 8


@st.cache_data(show_spinner="re-scoring the BIG-G full logs…", max_entries=32)
def _rows(fp: str, task: tuple, family: tuple, shots: tuple):
    return api.grade_vs_brier(task=list(task) or None, family=list(family) or None, shots=list(shots) or None,
                              db=store().path)


def cli_command(state: ViewState) -> str:
    parts = ["emergence", "grade-brier"]
    for flag, values in (("--task", state.task), ("--family", state.family), ("--shots", state.shots)):
        for v in values:
            parts += [flag, str(v)]
    return shlex.join(parts + ["--csv", "-"])


def fig6_section(state: ViewState, fp: str, where=st):
    """Multiple choice grade and Brier score of the same BIG-G outputs per task and size (the page's
    task, family and shots filters apply; its scale axis picks total or non-embedding parameters)."""
    where.subheader("BIG-G on BIG-bench: multiple choice grade vs Brier score (Schaeffer et al. Fig. 6)")
    rows = _rows(fp, tuple(state.task), tuple(state.family), tuple(state.shots))
    if rows.empty:
        if _rows(fp, (), (), ()).empty:
            where.caption("No BIG-bench full logs in this store. `emergence ingest bigbench --full-logs` fetches the "
                          "BIG-G per-query logs (Git LFS archives, large; `--logs-task TASK` for some tasks only) "
                          "and this section re-scores them.")
        else:
            where.caption("No BIG-G full log matches the task, family and shots filters in the sidebar.")
        return
    x = "non_embedding_params" if state.x == "non_embedding_params" else "params"
    fig = figure("grade_brier", fp, (tuple(state.task), tuple(state.family), tuple(state.shots), x),
                 figures.grade_brier_figure, rows, x=x, x_label=AXIS_LABELS[x], max_curves=MAX_CURVES)
    chart(fig, "bigbench_fig6", "grade-vs-brier", where=where)
    n_curves = rows.groupby(["task", "family", "shots"], dropna=False).ngroups
    where.caption(
        f"The same outputs under both metrics, re-computed from the per-choice log-probabilities of the full logs "
        f"(every multiple-choice example of a task, its subtasks pooled). {min(n_curves, MAX_CURVES)} of {n_curves:,} "
        "task · family · shots curves: those whose grade rises most with size; choose tasks, family and shots in the "
        f"sidebar. Size axis: {AXIS_LABELS[x]} (pick *non-embedding parameters*, BIG-bench's own axis, as the "
        "scale axis to switch).")
    with where.expander(f"All {len(rows):,} rows"):
        show_table(rows, where=where)
        where.download_button(f"Download CSV ({len(rows):,} rows)", data=lambda r=rows: api.to_csv(r),
                              file_name="emergence-grade-brier.csv", mime="text/csv", key="dl_grade_brier",
                              on_click="ignore")
        where.caption("The same bytes from the command line:")
        code_line(cli_command(state), where)
