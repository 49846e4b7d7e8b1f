"""Re-scoring: the same outputs under a thresholded and a continuous metric, and the replications on real outputs."""
import streamlit as st

import app_support as sup
from app_support import bigbench
from emergence import api
from emergence.app import figures, views

sup.header("Re-scoring", "The same model outputs scored two ways (Schaeffer et al. 2023, Sec. 3-4): a thresholded "
           "metric beside a continuous one. For each pair: both verdicts, and the **detection lead**, the decades of "
           "model size by which the continuous metric detects the ability (significantly above chance, or above the "
           "smallest model, at every larger size) before the thresholded one does; '>' when the thresholded metric "
           "never gets there. By default: the sources re-scored per example (inverse-scaling GPT-3, InstructGPT "
           "multiplication, BIG-bench logs, lm-eval samples) and expemergence's accuracy and Brier score.")
state = sup.view("rescoring")
fp = sup.require_store()
sb = st.sidebar
if not state.source:
    default = views.rescoring_default(state, sup.options(fp, state).get("source", []))
    if default != state:
        state = sup.set_view(default)
sup.select(state, "x", "Scale axis", views.api.SCALE_AXES, fmt=sup.AXIS_LABELS.get, where=sb)
sb.header("Filters")
sup.filter_widgets(state)

kind, pairs = sup.table(state, fp)
# one part at a time (the link keeps which): each chart and table drawn costs every load (BENCHMARKS.md section 9)
part = sup.section(state, {"pairs": "Metric pairs in these filters", "replications": "Replications on real outputs"})
verdicts = views.pair_verdicts(pairs) if part == "pairs" else None      # the replications part has no use for it
if part == "pairs" and pairs.empty:
    st.info("No series in these filters has the same outputs under a thresholded and a continuous metric.")
elif part == "pairs":
    names = verdicts["pair"].tolist()
    sup.select(state, "pair", "Metric pair (thresholded | continuous)", names, fmt=lambda p: p.replace("|", "  vs  "))
    pair = state.pair if state.pair in names else names[0]
    # the outputs whose verdicts or detection differ most come first
    sel, groups = api.rank_groups(pairs[pairs["pair"] == pair])
    v = verdicts.set_index("pair").loc[pair]
    a, b = pair.split("|", 1)
    st.markdown(f"**{a}** vs **{b}** on {int(v['n_pairs']):,} sets of outputs: {int(v['decidable']):,} decided on "
                f"both sides ({int(v['mirage']):,} with {a} emergent and {b} smooth, {int(v['both_smooth']):,} both "
                f"smooth, {int(v['both_emergent']):,} both emergent); {int(v['with_lead']):,} with a detection lead, "
                f"{int(v['b_first']):,} of them with {b} first.")
    sup.chart(sup.figure("leads", fp, (views.table_key(state), pair), figures.lead_figure, sel), "rescoring_leads",
              "rescoring-leads")

    st.subheader("One set of outputs under both metrics")
    sup.select(state, "group", "Outputs", groups)
    group = state.group if state.group in groups else groups[0]
    g = sel[sel["label"] == group].iloc[0]
    st.markdown(f"{a}: **{g['verdict_a']}** ({g['verdict_reason_a']}). {b}: **{g['verdict_b']}** "
                f"({g['verdict_reason_b']}). Detection lead: **{g['lead_text'] or 'none'}** decades.")
    target = views.outputs_view(g, state.x)
    pts, labels = sup.plot_frame(fp, target.with_filters(metric=views.pair_metrics(pair)))
    pts = api.pair_points(pts, pair, g["variant"])
    sup.chart(sup.figure("pair_curves", fp, (target, pair, str(g["variant"])), figures.series_figure, pts,
                         x_label=sup.AXIS_LABELS[state.x], labels=labels), "rescoring_curves",
              "rescoring-curves")
    st.page_link("app_pages/series.py", label="Open these outputs in Series detail →",
                 query_params=views.to_query_params(target))
    with st.expander(f"Verdicts per pair of metrics ({len(verdicts):,}) and all {len(sel):,} pairs of {a} vs {b}"):
        st.dataframe(verdicts, hide_index=True, width="stretch")
        st.dataframe(sel.drop(columns=["label"]), hide_index=True, width="stretch")

if part == "replications":
    by_digits, mult = sup.multiplication_by_digits(fp)
    st.markdown("**InstructGPT multiplication, split by operand digits** (Schaeffer et al. Fig. 3 with real "
                "completions: the target grows from 1 to 4 digits). Exact match and character edit distance are "
                "computed from the same completions of every product a×b.")
    if by_digits.empty:
        st.info("gpt3-multiplication-tables is not in this store.")
    else:
        sup.chart(sup.figure("multiplication", fp, None, figures.multiplication_figure, by_digits),
                  "rescoring_multiplication", "multiplication-by-digits")
        st.dataframe(mult, hide_index=True, width="stretch")
    for title, table in sup.replications(fp, state.x):
        st.markdown(f"**{title}**")
        if table.empty:
            st.caption("not in this store, or no pair of these metrics")
        else:
            st.dataframe(table, hide_index=True, width="stretch")
    bigbench.fig6_section(state, fp)       # BIG-G's full logs: grade vs Brier (Schaeffer et al. Fig. 6)
sup.download_section(state, kind, pairs, fp)
sup.share_link(state)
