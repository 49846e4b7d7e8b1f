"""Data: every source with its provenance, license, counts; data issues; ingest; what is missing."""
import streamlit as st

import app_support as sup
from emergence import api

sup.header("Data", "Every source in the store with its public origin, license, counts and scale coverage "
           "(`without_scale`: observations with no size, tokens, FLOPs or step, which no series can use), the "
           "data issues found while parsing (each says what the documented rule did with the row), how to add "
           "what is missing, and ingest by upload or path.")
state = sup.view("data")
for msg in st.session_state.pop("_ingested", []):
    if msg.startswith("warning: "):
        st.warning(msg[len("warning: "):])
    else:
        (st.info if msg.startswith("note: ") else st.success)(msg)
s = sup.store()
fp = sup.fingerprint() if s.exists() else ""
if fp:
    kind, src = sup.table(state, fp)
    st.subheader("Sources")
    st.dataframe(src, hide_index=True, width="stretch",
                 column_config={"url": st.column_config.LinkColumn("url")})
    st.caption(f"Store `{s.path}` · fingerprint `{fp}`")
    st.markdown("**Scale coverage**: per source, the series on each scale axis with at least 3 distinct scales "
                "(the ones that get an emergence score).")
    st.dataframe(sup.scale_coverage(fp), hide_index=True, width="stretch")
    issues = sup.data_issues(fp)
    st.subheader(f"Data issues ({len(issues):,})")
    if len(issues):
        c1, c2 = st.columns(2)
        sup.multiselect(state, "source", "Source", sorted(issues["source"].unique()), where=c1)
        pick_src = list(state.source)
        pick_kind = c2.multiselect("Kind", sorted(issues["kind"].unique()), key="data_issue_kind", placeholder="all")
        shown = api.select_rows(issues, source=pick_src, kind=pick_kind)
        st.dataframe(shown.head(5000), hide_index=True, width="stretch")
        if len(shown) > 5000:
            st.caption(f"showing 5,000 of {len(shown):,}: `emergence issues --csv -` lists them all")
    present = set(src["source"])
else:
    st.warning(f"No store at `{s.path}` yet: ingest below, or run `emergence ingest`.")
    kind, src, present = None, None, set()

st.subheader("What is missing and how to add it")
sup.show_build_failures(expanded=True)
if sup.env_flag("EMERGENCE_PUBLIC"):
    _, left_out = sup.public_sources()
    served = [n for n in left_out if n.split(":")[0].strip("*") in present]
    if len(served) < len(left_out):
        st.info("This is a public deployment: sources whose license does not allow redistribution are left out.\n\n"
                + "\n".join(f"- {n}" for n in left_out if n not in served))
    if served:
        st.warning("This public deployment's store holds sources whose license does not allow redistribution "
                   "(it was built elsewhere): " + "; ".join(n.split(":")[0].strip("*") for n in served))
missing = api.missing_sources(present)
if not missing:
    st.success("Every catalogue source is in the store.")
for m in missing:
    st.markdown(f"- **{m['name']}** — {m['description']}. License: {m['license']}. Add it: {m['how']}.")
st.markdown("- **Your own results**: a CSV, TSV, Parquet, JSON or JSONL file (or a zip of them) with a mapping: "
            "`emergence ingest FILE --map mapping.toml` (or `--column FIELD=COLUMN`, `--set FIELD=VALUE`, "
            "`--size MODEL=7B`); `emergence ingest --help` lists every field. ZeroEval `result_dirs` and MMLU-Pro "
            "`eval_results` folders are read as they are.")

st.subheader("Ingest")
access = sup.page_write_access()
if not access.upload:
    st.info(f"{access.reason[0].upper()}{access.reason[1:]}.")
    st.stop()
cap = sup.max_upload_mb()
st.markdown(f"Upload a results folder as `.zip` / `.tar.gz`, or a single file (at most **{cap} MB**; "
            "set `EMERGENCE_MAX_UPLOAD_MB` and `server.maxUploadSize` to change it)"
            + (", or give a path on this machine" if access.path else "")
            + ". The format is detected; a bad file is rejected with the file, row and field named, and "
            "nothing is written.")
up = st.file_uploader(f"Upload (at most {cap} MB)", type=["zip", "gz", "tgz", "tar", "csv", "json", "jsonl", "parquet"],
                      key="data_upload", max_upload_size=cap)
path = ""
if access.path:
    path = st.text_input("…or a path on this machine", key="data_path", placeholder="/path/to/results")
else:
    st.caption(f"{access.reason[0].upper()}{access.reason[1:]}.")
go = st.button("Ingest", key="data_ingest", type="primary", disabled=up is None and not path.strip())
if go:
    bar, log = st.progress(0.0, text="starting"), st.empty()
    try:
        out = (sup.ingest_upload(up, cap, bar, log) if up is not None else sup.ingest_user_path(path, bar, log))
    except Exception as e:
        st.error(f"Nothing was written. {e}")
    else:
        bar.progress(1.0, text="done")
        done = []
        for name, status in out["result"].items():
            c = out["counts"].get(name, {})
            done.append(f"{name}: {status} — {c.get('observations', 0):,} observations, "
                        f"{c.get('examples', 0):,} examples, {c.get('issues', 0):,} data issues")
        st.session_state["_ingested"] = (done + [f"warning: {w}" for w in out.get("warnings", [])]
                                         + [f"note: {n}" for n in out.get("notes", [])])
        st.rerun()   # the new store has a new fingerprint: every cached view refreshes

if access.remove and present:
    st.subheader("Remove a source")
    st.markdown("Takes the source out of every table in one atomic write (as `emergence remove SOURCE`); the "
                "false discovery rate over the remaining series is recomputed.")
    c1, c2 = st.columns([3, 1])
    gone = c1.selectbox("Source", sorted(present), index=None, key="data_remove_source",
                        placeholder="choose a source")
    sure = c2.checkbox("Yes, remove it", key="data_remove_sure", disabled=gone is None)
    if st.button("Remove", key="data_remove", disabled=gone is None or not sure):
        bar, log = st.progress(0.0, text="removing"), st.empty()
        try:
            out = sup.remove_source(gone, bar, log)
        except Exception as e:
            st.error(f"Nothing was removed. {e}")
        else:
            c = out["removed"][gone]
            st.session_state["_ingested"] = [f"{gone}: removed — {c['observations']:,} observations, "
                                             f"{c['examples']:,} examples, {c['issues']:,} data issues"]
            st.rerun()
if kind:
    sup.download_section(state, kind, src, fp)
sup.share_link(state)
