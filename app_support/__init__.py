"""The dashboard's thin layer between Streamlit and :mod:`emergence`, one module per concern.

- :mod:`.queries`: the store (``st.cache_resource``) and the cached reads, ``st.cache_data`` over
  :mod:`emergence.api` keyed on the store fingerprint (a re-ingest refreshes them);
- :mod:`.state`: the view state in the URL (:mod:`emergence.app.views`) and the widgets bound to it;
- :mod:`.furniture`: header, charts with exports, tables, downloads, notices, the share link;
- :mod:`.access`: who may write to the store from the Data page;
- :mod:`.first_start`: the first-start build as the app shows it (the build itself is :mod:`emergence.ingestion.build`);
- :mod:`.bigbench`: the Re-scoring page's BIG-G section;
- :mod:`.env`: environment flags;
- :mod:`.heap`: the server process's heap (the imported libraries kept out of the collector's full passes).

No SQL and no analysis here: pages call ``app_support`` (imported as ``sup``), :mod:`emergence.api`,
:mod:`emergence.app.views` and :mod:`emergence.app.figures`, nothing else (``tests/test_app.py`` checks).
"""
from __future__ import annotations

from .access import (FORWARDING_HEADERS, WriteAccess, page_write_access, visitor, visitor_is_local,  # noqa: F401
                     write_access)
from .env import autobuild, env_flag, max_upload_mb, optional_module  # noqa: F401
from .heap import freeze_shared  # noqa: F401
from .first_start import (build_progress, build_state, ingest_path, ingest_upload, ingest_user_path,  # noqa: F401
                          public_sources, remove_source, show_build_failures, start_build)
from .furniture import (AXIS_LABELS, CELL_LABELS, PAPERS, chart, chart_click, code_line, code_span, download_section,  # noqa: F401
                        header, notice_unscored, require_store, share_link, show_table, small_table,
                        small_table_html)
from .queries import (MAX_PREDICTED_SERIES, curve_verdicts, data_issues, fdr_families, figure, fingerprint,  # noqa: F401
                      frozen_filters, known_values, multiplication_by_digits, n_predictable, options, pair_summary,
                      pairs, pass_rates, pivot, plot_frame, prediction_view, replications, repeated_sampling_sources,
                      scale_coverage, series, series_all, series_curves, simulated_verdicts, sources, store, summary,
                      table, vision_summary)
from .state import (FILTER_LABELS, commit, curves, filter_widgets, multiselect, number, radio, section, select,  # noqa: F401
                    set_view, sync_widget, toggle, view)
