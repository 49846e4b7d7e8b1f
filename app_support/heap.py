"""The server process's Python heap: what every run shares is kept out of the cyclic collector's way."""
from __future__ import annotations

import gc

_frozen = False


def freeze_shared() -> bool:
    """Once per server process, at the end of its first complete run: collect the garbage, then move every object the
    process holds to the collector's permanent generation (:func:`gc.freeze`).  True the time it does so.

    Why.  Python's cyclic collector makes a full (generation 2) pass on its own whenever enough objects have
    survived the younger ones, and a pass walks every container object the process holds, with the interpreter held.
    Streamlit, pandas, plotly, scipy and duckdb alone make ~160,000 (their modules, functions, classes): a pass took
    70-157 ms here, landing inside whichever script run happened to trigger it (a drill-down's Series detail run:
    398 ms with a 157 ms pass, 200-290 ms without; BENCHMARKS.md section 9).  Frozen objects are never walked
    again; what later runs make (new cache entries, sessions) is collected as before.

    The cost.  A reference cycle among frozen objects that later becomes garbage is never freed.  By then they are
    the imported code and what the first run built (its page's cache entries and its session), which live about as
    long as the process: the few entries a re-ingest or the caches' size limits later drop are all that can stay.
    """
    global _frozen
    if _frozen:
        return False
    _frozen = True
    gc.collect()
    gc.freeze()
    return True
