"""Page furniture: the header, the store check, charts with exports, tables, downloads, the share link."""
from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from emergence import api
from emergence.app import figures, views
from emergence.app.views import ViewState

from .queries import fingerprint, sources, store

PAPERS = ("[Schaeffer et al. 2023, *Are Emergent Abilities of LLMs a Mirage?*](https://arxiv.org/abs/2304.15004) · "
          "[Hu et al. 2023, *Predicting Emergent Abilities with Infinite Resolution Evaluation* (PassUntil)]"
          "(https://arxiv.org/abs/2310.03262)")

AXIS_LABELS = {"params": "parameters", "non_embedding_params": "non-embedding parameters",
               "tokens": "training tokens", "flops": "training FLOPs", "step": "checkpoint step"}
CELL_LABELS = {"score": "median emergence score (descriptive)", "share": "share emergent (of decidable series)"}


def show_table(df: pd.DataFrame, where=st, limit: int = 2000, **kw):
    """st.dataframe of at most ``limit`` rows (the download has them all)."""
    if len(df) > limit:
        where.caption(f"showing the first {limit:,} of {len(df):,} rows: the CSV download has them all")
        df = df.head(limit)
    where.dataframe(df, hide_index=True, width="stretch", **kw)


#: a small table's look: Streamlit's own grid's font size, row lines and padding; numbers right-aligned; a long
#: table scrolls in its box under a header that stays put
_SMALL_TABLE_CSS = """<style>
.emergence-table {overflow: auto; max-height: 26rem; border: 1px solid rgba(49, 51, 63, 0.1); border-radius: 0.5rem;}
.emergence-table table {border-collapse: collapse; width: 100%; font-size: 0.875rem;}
.emergence-table th {position: sticky; top: 0; background: rgb(248, 249, 251); font-weight: 400;
  color: rgba(49, 51, 63, 0.6); text-align: left;}
.emergence-table th, .emergence-table td {padding: 0.25rem 0.5rem; border-bottom: 1px solid rgba(49, 51, 63, 0.1);
  white-space: nowrap;}
.emergence-table td.num {text-align: right; font-variant-numeric: tabular-nums;}
</style>"""


def small_table_html(df: pd.DataFrame) -> str:
    """``df`` as a static HTML table: every value escaped, no index, floats to 4 significant digits, a missing
    value as an empty cell, numbers right-aligned."""
    def cell(v, numeric: bool) -> str:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            text = ""
        elif isinstance(v, float):
            text = f"{v:.4g}"
        else:
            text = str(v)
        return f'<td class="num">{html.escape(text)}</td>' if numeric else f"<td>{html.escape(text)}</td>"

    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(cell(v, n) for v, n in zip(row, numeric)) + "</tr>"
                   for row in df.itertuples(index=False, name=None))
    return f'<div class="emergence-table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def small_table(df: pd.DataFrame, where=st):
    """A table of tens of rows as static HTML (:func:`small_table_html`), not a data grid.  A page with no grid on it
    mounts faster: the grid component costs the browser ~50 ms of main-thread time once a page holds one, whatever
    its size (a Series detail drill-down, repeats: 380-407 -> 334-358 ms median with its three grids made HTML,
    none gained while one grid stayed; BENCHMARKS.md section 9, tenth session).  For tables a user sorts or
    searches, and for long ones, :func:`show_table`."""
    where.html(_SMALL_TABLE_CSS + small_table_html(df))


def header(title: str, what: str):
    st.title(title)
    st.markdown(what)
    st.caption(PAPERS)


def require_store() -> str:
    """The store fingerprint; stops the page with a clear message when there is no store."""
    s = store()
    if not s.exists():
        st.error(f"No store at `{s.path}` yet. Build it on the **Data** page (or `emergence ingest`).")
        st.stop()
    return fingerprint()


def code_span(text: str) -> str:
    """``text`` as one Markdown code span, verbatim whatever backticks it holds (CommonMark: a fence longer than
    any run of backticks inside, padded when the text starts or ends with one)."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_line(text: str, where=st):
    """A link or a command to copy, as inline code (select it to copy).  Not ``st.code``: the first code box on a
    page fetches and starts Streamlit's syntax highlighter, ~0.25-0.4 s of the browser's main thread on every
    load (a CPU profile of warm loads: BENCHMARKS.md section 9), for one line that needs no highlighting."""
    where.markdown(code_span(text))


def share_link(state: ViewState, where=st):
    """The whole view as a URL (the address bar holds the same one: :func:`app_support.state.view` keeps it so)."""
    q = urlencode(views.to_query_params(state), doseq=True)
    try:
        base = st.context.url or ""
    except Exception:
        base = ""
    base = base.split("?")[0]
    url = f"{base}?{q}" if q else base
    where.caption("Share link (the same as in the address bar): opens this exact view")
    code_line(url, where)
    return url


def chart(fig, key: str, name: str, where=st, on_select=None, selection_mode=None):
    """A plotly chart with PNG export in its toolbar and PNG/SVG downloads (kaleido, on click)."""
    config = {"displaylogo": False,
              "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2}}
    kw = {}
    if on_select is not None:
        kw.update(on_select=on_select, selection_mode=selection_mode or ("points",))
    if not getattr(fig, "_emergence_fitted", False):
        # long titles wrap instead of clipping, and margins that hold the labels spare the browser a second
        # drawing (a cached figure has both: app_support.queries.figure)
        figures.fit_layout(fig)
    event = where.plotly_chart(fig, key=key, config=config, **kw)
    if _static_export():
        c1, c2, _ = where.columns([1, 1, 8])
        c1.download_button("PNG", data=lambda: figures.to_image(fig, "png"), file_name=f"{name}.png",
                           mime="image/png", key=f"{key}_png", on_click="ignore", icon=":material/download:")
        c2.download_button("SVG", data=lambda: figures.to_image(fig, "svg"), file_name=f"{name}.svg",
                           mime="image/svg+xml", key=f"{key}_svg", on_click="ignore", icon=":material/download:")
    else:
        where.caption("PNG: the camera icon in the chart's toolbar (SVG export needs kaleido and Chromium here).")
    return event


def chart_click(key: str):
    """The first point of the selection on the chart ``key`` (``on_select="rerun"``), as ``(y, x)``, or None.  Read
    from the session state, where the click is before the page has drawn anything: a page can act on it first."""
    event = st.session_state.get(key)
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    return (points[0].get("y"), points[0].get("x")) if points else None


@st.cache_resource(show_spinner=False)
def _static_export() -> bool:
    return figures.static_export_available()


def download_section(state: ViewState, kind: str | None, df: pd.DataFrame, fp: str, where=st, title="Export"):
    """CSV of exactly the rows on screen, the equivalent CLI command, and the sources' citations."""
    if kind is None:
        return
    if title:
        where.subheader(title)
    name = f"emergence-{kind}.csv"
    # deferred: the CSV is built only when the button is clicked
    where.download_button(f"Download CSV ({len(df):,} {kind} rows)", data=lambda df=df: api.to_csv(df),
                          file_name=name, mime="text/csv", key=f"dl_{state.page}_{kind}", on_click="ignore")
    where.caption("The same bytes from the command line:")
    code_line(views.cli_command(state, kind=kind), where)
    if "source" not in df.columns:
        return
    cites = views.citations(df, sources(fp))
    if len(cites):
        where.caption("Cite and respect the license of every source in these rows:")
        # static HTML, not a grid: a page without a grid mounts faster (small_table; BENCHMARKS.md 9)
        small_table(cites, where)


@st.cache_resource(show_spinner=False, max_entries=64)
def _reasons(fp: str, key, _df: pd.DataFrame):
    return api.insufficient_reasons(_df)


def notice_unscored(df: pd.DataFrame, where=st, key=None):
    """Say how many series the verdict could not decide, and why (grouped by the reason's first words);
    ``key``: what decides ``df`` (e.g. :func:`emergence.app.views.table_key`), to count once per store and view."""
    n, reasons = api.insufficient_reasons(df) if key is None else _reasons(fingerprint(), key, df)
    if n:
        text = ", ".join(f"{k} ({v:,})" for k, v in reasons)
        where.caption(f"{n:,} of {len(df):,} series are **insufficient** to decide: {text}. A series needs at "
                      f"least 4 sizes (a family of three sizes can never be called), sizes close enough to resolve a "
                      f"transition, and a noise model; the Series detail page gives each one's reason.")
