"""Predictability: can the largest model be predicted from the smaller ones, per metric?"""
import streamlit as st

import app_support as sup
from emergence.app import figures, views

sup.header("Predictability", "Each series fitted on all its sizes but the largest, which it then predicts: "
           "points near the diagonal, and low bars, mean a predictable metric. Below, PassUntil's task scaling law "
           "(Hu et al. 2023), PU(N) = exp(-c·N^(-α)), a straight line in (log N, log(-log PU)) whose curvature "
           "says sub-scaling (convex), ordinary (linear) or accelerated emergence (concave).")
state = sup.view("predictability")
fp = sup.require_store()
if sup.optional_module("emergence.predictability.predict") is None or sup.optional_module("emergence.predictability.passuntil") is None:
    st.info("Not available in this build: `emergence.predictability.predict` / `emergence.predictability.passuntil` are missing.")
    st.stop()
sb = st.sidebar
sup.select(state, "x", "Scale axis", views.api.SCALE_AXES, fmt=sup.AXIS_LABELS.get, where=sb)
sup.select(state, "form", "Scaling form", views.FORMS, where=sb,
           help="'preferred': each series' a-priori form (log-log for proportions, power law for losses, "
                "else linear in log N)")
sb.header("Filters")
if not state.source and not state.task:
    # fitting every series of the store takes minutes: start from one source
    srcs = sup.options(fp, state).get("source", [])
    if srcs:
        state = sup.set_view(state.with_filters(source=["pythia" if "pythia" in srcs else srcs[0]]))
sup.filter_widgets(state)

# one part at a time (the link keeps which): each chart and table drawn costs every load (BENCHMARKS.md section 9)
part = sup.section(state, {"predictions": "Held-out predictions per metric", "passuntil": "PassUntil task scaling law"})
n_series = sup.n_predictable(fp, state) if part == "predictions" else 0
if n_series > sup.MAX_PREDICTED_SERIES:
    st.warning(f"{n_series:,} series with 4 or more scales match these filters: fitting them all takes minutes. "
               f"Narrow the filters to at most {sup.MAX_PREDICTED_SERIES:,} series, or run the command below.")
    sup.code_line(views.cli_command(state))
    kind, pred = None, None
elif part == "predictions":
    kind, pred = sup.table(state, fp)
else:
    kind, pred = None, None
if pred is not None and pred.empty:
    st.info("No series with at least 4 scales on this axis matches these filters.")
elif pred is not None:
    # one id per series, the fits of the chosen form, curvature counts, median errors (emergence.api.prediction_view)
    pred, shown, counts, summ = sup.prediction_view(fp, state, pred)
    key = (views.table_key(state), state.form)
    sup.chart(sup.figure("pred_scatter", fp, key, figures.prediction_scatter, shown),
              "pred_scatter", "held-out-predictions")
    sup.chart(sup.figure("pred_errors", fp, key, figures.error_bar, summ.by_metric), "pred_errors", "held-out-errors")
    # on request: the bars above show the per-metric errors; a data grid costs every load what a chart does
    if st.toggle("Show the median errors per metric class and per metric as tables", key="predictability_tables"):
        st.dataframe(summ.by_class, hide_index=True, width="stretch")
        st.dataframe(summ.by_metric, hide_index=True, width="stretch")
    if len(counts):
        sup.chart(sup.figure("pred_curvature", fp, key, figures.curvature_bar, counts),
                  "pred_curvature", "curvature-classes")
    sup.download_section(state, kind, pred.drop(columns=["series_id"]), fp, title="Export the predictions")

if part == "passuntil":
    rs = sup.repeated_sampling_sources(fp)
    if not rs:
        st.info("No repeated-sampling records (n samples and n correct per problem) in this store: ingest "
                "monkeys-powerlaws (`emergence ingest monkeys-powerlaws`).")
    else:
        use = tuple(s for s in rs if s in state.source) or tuple(rs)
        pu_state = views.ViewState(page="predictability", source=use)
        pu_kind, laws = sup.table(pu_state, fp, kind="passuntil")
        st.caption(f"From {', '.join(use)}: each problem's pass rate c/n at each model size (final checkpoints), "
                   "averaged per task; the law is fitted on all sizes but the largest.")
        sup.chart(sup.figure("passuntil", fp, use, figures.passuntil_figure, sup.pass_rates(fp, use), laws),
                  "passuntil_chart", "passuntil-law")
        if len(laws):
            cols = [c for c in ["task", "family", "n_sizes", "params_target", "pu_actual", "pu_predicted", "pu_lower",
                                "pu_upper", "rel_error", "pu_predicted_instance", "rel_error_instance", "alpha",
                                "log_c", "curvature", "curvature_se", "curvature_class"] if c in laws.columns]
            st.dataframe(laws[cols], hide_index=True, width="stretch")
            sup.download_section(pu_state, pu_kind, laws, fp, title="")
sup.share_link(state)
