"""The curated model table: sizes for sources that give model names only.

``data/models/*.csv`` (one file per group of sources, identical columns) lists
``family, model, params, tokens, params_estimate, reference, note``: the canonical family,
the model name as sources spell it, the parameter count and training tokens as absolute
counts, whether the size is a public estimate (e.g. OpenAI's GPT-3 / InstructGPT sizes),
and the public source of each number.  A model that is not in the table has no size: it
is shown as such, never guessed.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = ["MODEL_TABLE_DIR", "model_table", "lookup", "canonical_family"]

MODEL_TABLE_DIR = Path(__file__).resolve().parents[2] / "data" / "models"
COLUMNS = ["family", "model", "params", "tokens", "params_estimate", "reference", "note"]


@lru_cache(maxsize=1)
def model_table() -> pd.DataFrame:
    """All curated rows, with the file each came from."""
    frames = []
    for path in sorted(MODEL_TABLE_DIR.glob("*.csv")):
        df = pd.read_csv(path, dtype={"family": str, "model": str, "reference": str, "note": str})
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path}: curated model table lacks columns {missing}")
        df["table_file"] = path.name
        frames.append(df[COLUMNS + ["table_file"]])
    if not frames:
        return pd.DataFrame(columns=COLUMNS + ["table_file"])
    out = pd.concat(frames, ignore_index=True)
    out["params_estimate"] = out["params_estimate"].astype(str).str.lower().isin(["true", "1", "yes"])
    out["key"] = out["model"].str.lower()
    return out


@lru_cache(maxsize=1)
def _index() -> dict[str, list[dict]]:
    """Lower-cased model name -> its curated rows (built once: parsers look up thousands of names)."""
    out: dict[str, list[dict]] = {}
    for r in model_table().to_dict("records"):
        out.setdefault(r["key"], []).append({
            "family": r["family"],
            "params": None if pd.isna(r["params"]) else float(r["params"]),
            "tokens": None if pd.isna(r["tokens"]) else float(r["tokens"]),
            "params_estimate": bool(r["params_estimate"]),
            "params_source": f"data/models/{r['table_file']}: {r['reference']}",
        })
    return out


def lookup(model: str, family: str | None = None) -> dict | None:
    """The curated row for ``model`` (case-insensitive), optionally within ``family``.

    Returns ``None`` when the model is not curated: callers store a NULL size and
    record a ``no_scale`` data issue.
    """
    rows = _index().get(str(model).lower(), [])
    if family is not None and len(rows) > 1:
        rows = [r for r in rows if r["family"] == family] or rows[:0]
    return dict(rows[0]) if rows else None


# Canonical family names shared across sources (lower-case source spelling -> canonical).
# Families that differ in training data stay apart (Pythia vs Pythia-deduped); a source
# whose family needs more than a name (mlfoundations: corpus and token multiplier) builds
# it in its own parser.
_FAMILY_ALIASES = {
    "pythia": "Pythia", "pythia-deduped": "Pythia-deduped",
    "opt": "OPT", "bloom": "BLOOM", "xglm": "XGLM", "mpt": "MPT",
    "llama": "LLaMA", "llama-2": "Llama-2", "llama-3": "Llama-3", "llama 2": "Llama-2", "llama 3": "Llama-3",
    "gpt-2": "GPT-2", "gpt2": "GPT-2",
    "gpt-3": "GPT-3", "gpt3": "GPT-3", "instructgpt": "InstructGPT",
    "gpt-neo/j": "GPT-Neo/J", "gpt-neo": "GPT-Neo/J", "gpt-j": "GPT-Neo/J",
    "qwen1.5": "Qwen1.5", "qwen": "Qwen", "cerebras-gpt": "Cerebras-GPT", "falcon": "Falcon",
    "stablelm": "StableLM", "rwkv": "RWKV", "t5": "T5", "flan-t5": "Flan-T5",
}


def canonical_family(name) -> str | None:
    """The curated family name for a source's spelling (unknown spellings are kept as they are)."""
    if name is None or (isinstance(name, float) and name != name):
        return None
    s = str(name).strip()
    return _FAMILY_ALIASES.get(s.lower(), s)
