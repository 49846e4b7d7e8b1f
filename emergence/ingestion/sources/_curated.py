"""Curated sizes for parsers that emit per-example rows as well as observations.

:func:`emergence.ingestion.sources._common.attach_curated_sizes` fills one frame; the per-example parsers
need the same size on two frames (observations and examples) and one ``no_scale`` issue per
model, not one per frame.  :func:`size_table` looks every model up once.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from emergence.ingestion.models import lookup
from emergence.ingestion.schema import issue

__all__ = ["size_table", "apply_sizes"]

SIZE_COLUMNS = ["params", "params_estimate", "params_source", "tokens", "curated_family"]


def size_table(models: Iterable[str], issues: list[dict], source: str, *,
               where: Mapping[str, str] | None = None, counts: Mapping[str, int] | None = None,
               skip: Iterable[str] = ()) -> pd.DataFrame:
    """One row per model with its curated size, or NULLs and a ``no_scale`` issue.

    Parameters
    ----------
    models : model names as the source spells them.
    issues : the batch's issue list (appended to).
    where : model -> a file to name in the issue.
    counts : model -> number of rows concerned (for the issue text).
    skip : models that get no ``no_scale`` issue here (the caller records a more specific one).
    """
    where = where or {}
    counts = counts or {}
    skip = set(skip)
    rows = []
    for model in sorted(set(models)):
        hit = lookup(model)
        if hit is None or hit["params"] is None:
            if model not in skip:
                n = counts.get(model)
                what = f"{n} rows have" if n is not None else "its rows have"
                issues.append(issue(source, "no_scale", where.get(model, ""), "", "model", model,
                                    f"{what} no parameter count: the model is not in data/models/*.csv; "
                                    "stored without a scale and not scored on a size axis"))
            rows.append({"model": model, "params": None, "params_estimate": None, "params_source": None,
                         "tokens": None, "curated_family": None})
            continue
        rows.append({"model": model, "params": hit["params"], "params_estimate": hit["params_estimate"],
                     "params_source": hit["params_source"], "tokens": hit["tokens"],
                     "curated_family": hit["family"]})
    return pd.DataFrame(rows, columns=["model"] + SIZE_COLUMNS)


def apply_sizes(df: pd.DataFrame, sizes: pd.DataFrame, *, overwrite_tokens: bool = False) -> pd.DataFrame:
    """Fill ``params``, ``params_estimate``, ``params_source`` (and ``tokens`` where empty) from ``sizes``."""
    if df.empty:
        return df
    t = sizes.set_index("model")
    out = df.copy()
    for col in ("params", "params_estimate", "params_source"):
        mapped = out["model"].map(t[col])
        if col in out.columns:
            out[col] = out[col].where(out[col].notna(), mapped)
        else:
            out[col] = mapped
    tok = out["model"].map(t["tokens"])
    if "tokens" not in out.columns or overwrite_tokens:
        out["tokens"] = tok
    else:
        out["tokens"] = out["tokens"].where(out["tokens"].notna(), tok)
    return out
