"""Re-scoring: the same outputs under a thresholded and a continuous metric."""
import streamlit as st

import app_bigbench
import app_support as sup
from emergence import figures, views

sup.header("Re-scoring", "The same model outputs scored two ways (Schaeffer et al. 2023, Sec. 3-4): each point is "
           "one set of outputs, its emergence score under the thresholded metric (x) and the continuous one (y); "
           "points far right of the diagonal look emergent only because of the metric. By default: the sources "
           "re-scored per example (inverse-scaling GPT-3, InstructGPT multiplication, BIG-bench logs, lm-eval "
           "samples) and expemergence's accuracy and Brier score.")
state = sup.view("rescoring")
fp = sup.require_store()
sb = st.sidebar
if not state.source:
    present = sup.options(fp, state).get("source", [])
    default = [s for s in views.RESCORING_SOURCES if s in present]
    if default:
        state = sup.set_view(state.with_filters(source=default))
sup.select(state, "x", "Scale axis", views.api.SCALE_AXES, fmt=sup.AXIS_LABELS.get, where=sb)
sb.header("Filters")
sup.filter_widgets(state)

kind, cmp = sup.table(state, fp)
pairs = views.metric_pairs(cmp)
if pairs.empty:
    st.info("No series in these filters has the same outputs under a thresholded and a continuous metric.")
    app_bigbench.fig6_section(state, fp)   # BIG-G's full logs: grade vs Brier (Schaeffer et al. Fig. 6)
    sup.download_section(state, kind, cmp, fp)
    sup.share_link(state)
    st.stop()
verdicts = views.pair_verdicts(pairs)
names = verdicts["pair"].tolist()
sup.select(state, "pair", "Metric pair (thresholded | continuous)", names, fmt=lambda p: p.replace("|", "  vs  "))
pair = state.pair if state.pair in names else names[0]
sel = pairs[pairs["pair"] == pair].copy()
sel["label"] = [views.group_label(r) for _, r in sel.iterrows()]
a, b = pair.split("|", 1)
both = sel[sel["score_a"].notna() & sel["score_b"].notna()]
fig = figures.compare_scatter(both.rename(columns={"score_a": f"ES {a}", "score_b": f"ES {b}"}),
                              x=f"ES {a}", y=f"ES {b}", title=f"emergence score: {a} (x) vs {b} (y), same outputs")
sup.chart(fig, "rescoring_scatter", "rescoring")
st.caption(f"{len(both):,} of {len(sel):,} sets of outputs have both scores (a series needs ≥ 3 scales).")

st.subheader("One set of outputs under both metrics")
groups = (both if len(both) else sel).assign(_gap=lambda d: (d["score_a"] - d["score_b"]).abs())
groups = groups.sort_values("_gap", ascending=False, na_position="last")["label"].drop_duplicates().tolist()
sup.select(state, "group", "Outputs", groups)
group = state.group if state.group in groups else groups[0]
g = sel[sel["label"] == group].iloc[0]
target = views.ViewState(page="series", source=(g["source"],), task=(g["task"],), subtask=(str(g["subtask"] or ""),),
                         family=(g["family"],), shots=() if g["shots"] is None or str(g["shots"]) == "<NA>"
                         else (int(g["shots"]),), x=state.x)
metrics = [m.split("[")[0] for m in (a, b)]
pts, labels = sup.plot_frame(fp, target.with_filters(metric=metrics))
if len(pts) and "variant" in pts.columns:
    keep = {str(g["variant"] or "")}
    for m in (a, b):   # a metric read with a variant (e.g. digit tokens) keeps only that reading
        if "[" in m:
            keep.add(m.split("[", 1)[1].rstrip("]"))
    pts = pts[pts["variant"].astype(str).isin(keep | {""}) | (pts["variant"].astype(str) == "")]
sup.chart(figures.series_figure(pts, x_label=sup.AXIS_LABELS[state.x], labels=labels), "rescoring_curves",
          "rescoring-curves")
st.page_link("app_pages/series.py", label="Open these outputs in Series detail →",
             query_params=views.to_query_params(target))

st.subheader("Verdicts per pair of metrics")
st.dataframe(verdicts, hide_index=True, width="stretch")
with st.expander(f"All {len(sel):,} pairs for {a} vs {b}"):
    st.dataframe(sel.drop(columns=["label"]), hide_index=True, width="stretch")
app_bigbench.fig6_section(state, fp)       # BIG-G's full logs: grade vs Brier (Schaeffer et al. Fig. 6)
sup.download_section(state, kind, cmp, fp)
sup.share_link(state)
