"""The dashboard's entry point: `streamlit run app.py`.

Builds the store on first start (from the catalogue sources: the local copies in the data
directory, else the public downloads; EMERGENCE_PUBLIC=1 keeps only redistributable sources;
a source that cannot be had is listed with why and how to add it, with a retry button, and
the others are built), then hands over to one page module per view (app_pages/; not `pages/`, which Streamlit would
also serve as a legacy multipage app and so break deep links).  A link's ``page``
parameter opens that page.
"""
from __future__ import annotations

import time

import streamlit as st

st.set_page_config(page_title="emergence: mirage or not?", page_icon=":material/show_chart:", layout="wide")

import app_support as sup  # noqa: E402  (after set_page_config)
from emergence.app.views import PAGE_TITLES  # noqa: E402

ICONS = {"overview": ":material/dashboard:", "explorer": ":material/grid_on:", "series": ":material/show_chart:",
         "rescoring": ":material/compare_arrows:", "predictability": ":material/trending_up:",
         "simulator": ":material/science:", "data": ":material/database:"}

build = sup.build_state(str(sup.store().path))
if not sup.store().exists() and sup.autobuild() and build["error"] is None:
    build = sup.start_build()      # a background thread: a closed or reloaded tab does not stop it
if build["thread"] is not None and build["thread"].is_alive():
    first = not sup.store().exists()
    st.title("Building the store" if first else "Adding sources to the store")
    st.markdown("First start: fetching and parsing the catalogue sources into the DuckDB store. This happens once; "
                "you can close this tab and come back." if first else
                "Retrying the sources the last build could not add; the store stays readable meanwhile.")
    _, left_out = sup.public_sources()
    for note in left_out:
        st.info(f"Left out: {note}")
    sup.build_progress(build)
    time.sleep(1.0)
    st.rerun()
if build["out"] is not None and st.session_state.get("_build_notes_run") != build["run"]:
    st.session_state["_build_notes_run"] = build["run"]
    st.session_state["_build_notes"] = build["out"].get("notes", [])
pages = {key: st.Page(f"app_pages/{key}.py", title=title, icon=ICONS[key], url_path=key, default=key == "overview")
         for key, title in PAGE_TITLES.items()}
current = st.navigation(list(pages.values()))

if build["error"] is not None and not sup.store().exists():
    st.error(f"Building the store failed: {build['error']}. Retry below, or see the Data page to ingest by hand.")
if current.url_path != "data":      # the Data page lists them itself
    sup.show_build_failures()
for note in st.session_state.pop("_build_notes", []):
    st.info(note)

# a shared link names its page: open it (once per session; later the navigation decides)
if not st.session_state.get("_opened"):
    st.session_state["_opened"] = True
    want = st.query_params.get("page")
    if want in pages and pages[want] is not current and pages[want].url_path != current.url_path:
        st.switch_page(pages[want], query_params={k: st.query_params.get_all(k) for k in st.query_params.keys()})

current.run()
# after the first complete run: the imported libraries out of the cyclic collector's full passes (app_support.heap)
sup.freeze_shared()
