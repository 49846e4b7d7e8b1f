"""Overview: the answer at a glance: the same outputs under two metrics, then the verdicts per metric."""
import streamlit as st

import app_support as sup
from emergence.app import figures, views
from emergence.api import FDR_LEVEL, WIDTH_THRESHOLD

sup.header("Overview", "Is a sharp jump a property of the models or of the metric? The direct test is the **same "
           "outputs scored two ways**: a thresholded metric (multiple choice grade, exact match) beside a continuous "
           "one (Brier score, edit distance, log-likelihood). A series is called **emergent** only for a *sharp "
           f"onset*: a rise narrower than {WIDTH_THRESHOLD:g} decade of scale (10–90 %), significant after the "
           f"Benjamini–Hochberg step (q < {FDR_LEVEL:g}), with sizes before and after it; **smooth** when every "
           "narrower transition fits worse; otherwise **insufficient** (the reason says why) or **no signal**. "
           "The calibration of this call is in BENCHMARKS.md.")
state = sup.view("overview")
fp = sup.require_store()
st.sidebar.header("Filters")
sup.select(state, "x", "Scale axis", views.api.SCALE_AXES, fmt=sup.AXIS_LABELS.get, where=st.sidebar)
sup.filter_widgets(state)

kind, df = sup.table(state, fp)
filters = sup.frozen_filters(state)
pairs, verdicts, head = sup.pair_summary(fp, filters, state.x)

st.subheader("Same outputs, two metrics")
st.markdown(head.sentence)
c = st.columns(5)
c[0].metric("pairs of series", f"{head.n_pairs:,}", help="a thresholded and a continuous metric on the same outputs")
c[1].metric("decidable on both sides", f"{head.n_decidable:,}")
c[2].metric("thresholded emergent, continuous smooth", "–" if head.n_decidable == 0 else
            f"{100 * head.mirage_share:.0f}%", help=f"{head.n_mirage} pairs; 95 % interval over tasks "
            f"{100 * head.mirage_low:.0f}–{100 * head.mirage_high:.0f}%" if head.n_decidable else None)
c[3].metric("pairs with a detection lead", f"{head.n_lead:,}", help=f"{head.n_lead_censored} of them censored")
c[4].metric("median detection lead", "–" if head.n_lead == 0 else f"{head.lead_median:+.2g} decades",
            help="log10 of the size where the thresholded metric is first detected minus the continuous metric's: "
                 "positive means the continuous metric sees the ability at smaller models")
key = (filters, state.x)
sup.chart(sup.figure("leads", fp, key, figures.lead_figure, pairs), "overview_leads", "detection-leads")
st.caption("Detection scale: the smallest size from which the metric is significantly better than chance (or than "
           "the smallest model, paired per example where examples exist) at every larger size. Pairs from one task "
           "share questions and models: intervals resample whole tasks.")
# on request: a data grid drawn on every load costs the page as much as a chart (BENCHMARKS.md section 9)
if st.toggle(f"Show the verdicts per metric pair ({len(verdicts):,} pairs of metrics)", key="overview_show_pairs"):
    st.dataframe(verdicts, hide_index=True, width="stretch")

st.subheader("Verdicts")
c = st.columns(6)
c[0].metric("sources", df["source"].nunique() if len(df) else 0)
c[1].metric("tasks", df["task"].nunique() if len(df) else 0)
c[2].metric("series", f"{len(df):,}")
for i, name in enumerate(("emergent", "smooth", "insufficient", "no signal")):
    if i + 3 < len(c):
        c[i + 3].metric(name, f"{int((df['verdict'] == name).sum()) if len(df) else 0:,}")
sup.notice_unscored(df, key=views.table_key(state))

# one part at a time below the headline (the link keeps which): every chart and table drawn on each load cost the
# page more than a one-chart page's whole load (bench/bench_pages.py, BENCHMARKS.md section 9)
SECTIONS = {"class": "Verdicts per metric class", "metric": "Verdicts per metric", "fdr": "False discovery rate",
            "score": "Emergence score (descriptive)"}
part = sup.section(state, SECTIONS)
if part in ("class", "metric"):
    summ = sup.summary(fp, filters, state.x)
if part == "class":
    left, right = st.columns(2)
    with left:
        sup.chart(sup.figure("share_class", fp, key, figures.share_bar, summ["metric_class"], "metric_class"),
                  "overview_class", "share-by-class")
    with right:
        sup.chart(sup.figure("verdict_class", fp, key, figures.verdict_bar, summ["metric_class"], "metric_class"),
                  "overview_class_states", "verdicts-by-class")
elif part == "metric":
    sup.chart(sup.figure("share_metric", fp, key, figures.share_bar, summ["metric"], "metric"),
              "overview_metric", "share-by-metric")
    st.dataframe(summ["metric"], hide_index=True, width="stretch")
elif part == "fdr":
    st.markdown("Benjamini–Hochberg runs over **every series of the store** that asks the same question, whatever "
                "the filters on screen: one test per series on its primary size axis (parameters, else FLOPs, else "
                "tokens), and, apart, one per training-step series. Series shown on another axis carry their primary "
                "axis' verdict.")
    st.dataframe(sup.fdr_families(fp), hide_index=True, width="stretch")
else:
    st.markdown("The emergence score (Srivastava et al.) grows with the number of sizes (a straight line over k sizes "
                "scores k − 1; a three-size family can never exceed 2) and its median-step denominator shrinks on any "
                "geometric decay, so smooth power-law losses score high. It is kept as a description of how abrupt a "
                "curve is, not as the verdict.")
    sup.chart(sup.figure("scores", fp, key, figures.score_distribution, df), "overview_scores", "scores-by-metric")
sup.download_section(state, kind, df, fp)
sup.share_link(state)
