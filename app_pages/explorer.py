"""Explorer: pivot the series table by any two of task, metric, family, source and shots."""
import streamlit as st

import app_support as sup
from emergence.app import figures, views
from emergence.app.views import CELL_VALUES, DIMENSIONS

sup.header("Explorer", "Each cell summarises the scored series in it: the **median emergence score** (large "
           "positive = a sharp rise with scale, negative = worse with scale) or the **share called emergent**; hover "
           "for how many series stand behind it. Click a cell (or pick it below) to open its curves. It opens on "
           "metrics, grouped by class (thresholded first, continuous last), against sources: pick other rows and "
           "columns in the sidebar.")
state = sup.view("explorer")
fp = sup.require_store()
# a click on a heatmap cell opens its series before this page draws anything more: drawing the whole Explorer again
# only to leave it cost the browser a rerun per drill-down (BENCHMARKS.md section 9)
clicked = sup.chart_click("explorer_heatmap")
if clicked is None:
    st.session_state.pop("_explorer_clicked", None)      # back on the page: the same cell may be clicked again
elif st.session_state.get("_explorer_clicked") != clicked:
    st.session_state["_explorer_clicked"] = clicked
    st.switch_page("app_pages/series.py", query_params=views.to_query_params(views.drill_down(state, *clicked)))

sb = st.sidebar
sb.header("Pivot")
sup.select(state, "rows", "Rows", DIMENSIONS, where=sb,
           swap=lambda new: {"cols": state.rows} if new == state.cols else {})   # keep rows != cols
sup.select(state, "cols", "Columns", [d for d in DIMENSIONS if d != state.rows], where=sb)
sup.radio(state, "cell", "Cell value", CELL_VALUES, fmt=sup.CELL_LABELS.get, where=sb, horizontal=False)
sup.select(state, "x", "Scale axis", views.api.SCALE_AXES, fmt=sup.AXIS_LABELS.get, where=sb)
sb.header("Filters")
sup.filter_widgets(state)

kind, df = sup.table(state, fp)
cells = sup.pivot(state, fp)
sup.notice_unscored(df, key=views.table_key(state))
fig = sup.figure("heatmap", fp, (views.table_key(state), state.rows, state.cols, state.cell), figures.heatmap, cells,
                 state.rows, state.cols, state.cell)
sup.chart(fig, "explorer_heatmap", "emergence-pivot", on_select="rerun", selection_mode=("points",))

# drill-down: a clicked cell (opened above, before the page is drawn), or the picker below, opens Series detail
# with the cell's values as filters; the link stays beside the picker
picked = clicked

labels = [f"{r} × {c}" for r, c in zip(cells[state.rows], cells[state.cols])] if len(cells) else []
col1, col2 = st.columns([4, 1])
choice = col1.selectbox("Open a cell in Series detail", labels, index=None, key="explorer_cell",
                        placeholder=f"choose a {state.rows} × {state.cols} cell")
if choice is not None:
    i = labels.index(choice)
    picked = (cells[state.rows].iloc[i], cells[state.cols].iloc[i])
if picked is not None:
    target = views.drill_down(state, *picked)       # its filters take shots as an int, as a click gives them or not
    col2.page_link("app_pages/series.py", label="Open its series →", query_params=views.to_query_params(target))

st.subheader("Cells")
# tables on request: a pivot change redraws the heatmap; resending up to 2,000 rows of cells with it doubled the
# bytes of every interaction (bench/bench_pages.py)
if st.toggle(f"Show the {len(cells):,} cells as a table", key="explorer_show_cells"):
    sup.show_table(cells, key="explorer_cells",
                   column_config={"value": st.column_config.NumberColumn(sup.CELL_LABELS[state.cell],
                                                                         format="%.3g")})
if st.toggle(f"Show the {len(df):,} series behind these cells", key="explorer_show_series"):
    sup.show_table(df)       # drawn only when asked for: thousands of rows are slow to send on every rerun
sup.download_section(state, kind, df, fp)
sup.share_link(state)
