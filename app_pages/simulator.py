"""Mirage simulator: a smooth per-token loss, read through thresholded and continuous metrics."""
import streamlit as st

import app_support as sup
from emergence import api
from emergence.app import figures, views

sup.header("Mirage simulator", "Schaeffer et al.'s mathematical model (Sec. 2-3): per-token cross-entropy falls "
           "as a power law in parameters, L(N) = (N/c)^α, so the per-token probability p = exp(-L) rises "
           "smoothly. Exact match of an L-token target (≈ p^L) and multiple choice grade look *emergent*; token "
           "edit distance (≈ L(1-p)) and the Brier score of the same outputs do not. Dots: one finite test set "
           "of n examples (resolution 1/n).")
state = sup.view("simulator")
sb = st.sidebar
sb.header("Model")
sup.number(state, "alpha", "α (loss exponent)", min_value=-2.0, max_value=-0.01, step=0.01, where=sb)
sup.number(state, "log10c", "log10 c (loss scale)", min_value=0.0, max_value=14.0, step=0.1, where=sb)
sup.number(state, "length", "target length L (tokens)", conv=int, min_value=1, max_value=100, step=1, where=sb)
sup.number(state, "choices", "choices per question k", conv=int, min_value=2, max_value=26, step=1, where=sb)
sup.number(state, "n", "test-set size n", conv=int, min_value=1, max_value=100_000, step=1, where=sb,
           widget="number_input")

kind, sim = sup.table(state, "")
long = api.simulated_long(sim)
sup.chart(sup.figure("simulator", "", views.table_key(state), figures.simulator_figure, long),
          "simulator_chart", "mirage-simulator")
verdicts = sup.simulated_verdicts(sim, state.n, state.choices)
st.markdown("The store's own verdict on each sampled curve, and the **detection lead**: decades of model size by "
            "which the continuous metric read from the same outputs detects the ability first. The exact match of "
            "this smooth per-token loss is a Gompertz curve 1.34/|α| decades wide: the verdict should never call it "
            "emergent, however sharp it looks.")
cols = st.columns(len(verdicts))
for c, (_, r) in zip(cols, verdicts.iterrows()):
    c.metric(f"{r['metric']}", r["verdict"],
             delta=(f"{r['lead_over']} detects it {r['lead_text']} decades earlier" if r["lead_text"] else None),
             delta_color="off", help=f"{r['metric_class']} metric: {r['reason']}")
with st.expander("Simulated values"):
    st.dataframe(sim, hide_index=True, width="stretch")
sup.download_section(state, kind, sim, "", title="")

st.subheader("Vision: the same mirage in shallow autoencoders (Sec. 5)")
st.markdown("Autoencoders of growing hidden width reconstruct 8×8 digit images. The mean squared error falls "
            "smoothly with width; the share of images reconstructed *within a cutoff c* (a thresholded metric) "
            "jumps. Move c to move the jump.")
sup.number(state, "cutoff", "cutoff c (squared error per image)", min_value=0.05, max_value=20.0, step=0.05)
vision = sup.vision_summary(state.cutoff)
if vision is None:
    st.info("The vision experiment's results are not available in this build (`emergence.analysis.vision` or its "
            "shipped results `data/vision_digits.csv` are missing).")
else:
    sup.chart(sup.figure("vision", "", state.cutoff, figures.vision_figure, vision, state.cutoff),
              "vision_chart", "mirage-vision")
    with st.expander("Vision results (mean over images, per seed and width)"):
        st.dataframe(vision, hide_index=True, width="stretch")
sup.share_link(state)
