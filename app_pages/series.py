"""Series detail: every metric of one task on a shared log scale axis."""
import streamlit as st

import app_support as sup
from emergence.app import figures, views

sup.header("Series detail", "One task, one panel per metric (thresholded first, continuous after, so the same "
           "outputs under both stand side by side), one curve per family on a shared log scale axis. A curve's "
           "outputs are scored by each metric: the legend gives each metric's verdict (★ = emergent under one), "
           "the hover and the table below the chart each series' verdict and (descriptive) emergence score. Bars: "
           "95 % Wilson intervals where the test-set size n is known, else ±1.96 stderr; grey band: the 1/n "
           "resolution.")
state = sup.view("series")
fp = sup.require_store()
sb = st.sidebar
opts = sup.options(fp, state)
tasks = opts.get("task", [])
if not tasks:
    st.info("No task matches these filters.")
    st.stop()
# with no task chosen, open on the paper's own example where it is in the store: arithmetic, whose same
# outputs are scored by a thresholded and a continuous metric (expemergence accuracy vs Brier score)
task = state.task[0] if state.task and state.task[0] in tasks else \
    (views.DEFAULT_TASK if views.DEFAULT_TASK in tasks else tasks[0])
if state.task != (task,):
    state = sup.set_view(state.with_filters(task=[task]))
key = "w_series_task_one"
sup.sync_widget(key, task)
# a new task starts from its own default subtask
sb.selectbox("Task", tasks, key=key,
             on_change=lambda: sup.commit(task=(st.session_state[key],), subtask=(), curve=()))

subtasks = sup.options(fp, state).get("subtask", [])
ALL = "(all subtasks)"
if not state.subtask and len(subtasks) > 1 and "" in subtasks:
    state = sup.set_view(state.with_filters(subtask=[""]))   # the task as a whole by default
if len(subtasks) > 1 or state.subtask:
    sub_opts = [ALL] + subtasks
    skey = "w_series_subtask_one"
    sup.sync_widget(skey, state.subtask[0] if len(state.subtask) == 1 else ALL)
    sb.selectbox("Subtask", sub_opts, key=skey, format_func=lambda v: "(the task as a whole)" if v == "" else v,
                 on_change=lambda: sup.commit(subtask=() if st.session_state[skey] == ALL
                                              else (st.session_state[skey],)))
sup.filter_widgets(state, which=("source", "family", "metric", "shots"), show_subtask=False)
sup.select(state, "x", "Scale axis", views.api.SCALE_AXES, fmt=sup.AXIS_LABELS.get, where=sb)
sup.toggle(state, "norm", "Baseline-normalised", where=sb,
           help="(y - chance) / (1 - chance) where the random baseline is known: 0 = chance, 1 = perfect")

kind, obs = sup.table(state, fp)
scores = sup.series(fp, sup.frozen_filters(state), state.x)
pts, labels, y_label, raw, order = sup.series_curves(fp, state)
if raw:
    st.caption("No random baseline known, shown raw: " + ", ".join(raw))
# the curves that matter are drawn, the others chosen in the sidebar (curves waiting in the legend cost the browser)
state, drawn = sup.curves(state, order, figures.MAX_DRAWN, where=sb)
if pts.empty:
    st.info(f"None of the {len(obs):,} observations of this view has a {sup.AXIS_LABELS[state.x]} value. "
            "Try another scale axis.")
fig = sup.figure("series", fp, (sup.frozen_filters(state), state.x, state.norm, tuple(drawn)),
                 figures.series_figure, pts, x_label=sup.AXIS_LABELS[state.x], labels=labels, y_label=y_label,
                 draw=state.curve or None, more="the others: “Curves drawn” in the sidebar", order=order)
sup.chart(fig, "series_chart", f"series-{task}")

st.subheader("Verdicts of the curves drawn")
st.caption("A row per curve and metric: the same outputs scored by two metrics get a verdict each.")
VERDICT_COLS = ["metric", "metric_class", "verdict", "verdict_reason", "width_decades", "q_value", "detect_x",
                "emergence_score", "n_scales", "model"]
shown = sup.curve_verdicts(fp, state, drawn)
sup.small_table(shown[["curve"] + [c for c in VERDICT_COLS if c in shown.columns]])
# every series of the view on request: up to hundreds of rows, re-sent on every rerun (~120 ms of a repeat task
# change in the browser, in a scratch experiment: BENCHMARKS.md section 9)
if len(scores) > len(shown) and st.toggle(f"Show all {len(scores):,} series of this view", key="series_show_all"):
    sup.show_table(scores[[c for c in ["source", "subtask", "family", "shots", "prompt_variant", "variant"] +
                           VERDICT_COLS if c in scores.columns]])
sup.notice_unscored(scores, key=("series", sup.frozen_filters(state), state.x))
pairs = sup.pairs(fp, sup.frozen_filters(state), state.x)
if len(pairs):
    st.subheader("Same outputs: thresholded vs continuous metric")
    sup.small_table(pairs[["source", "subtask", "family", "shots", "pair", "verdict_a", "verdict_b", "detect_x_a",
                           "detect_x_b", "lead_text"]])
sup.download_section(state, kind, obs, fp)
sup.share_link(state)
