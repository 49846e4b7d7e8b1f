"""ZeroEval per-example generations (WildEval/ZeroEval), catalogue sources ``zeroeval-results`` and ``zeroeval``.

Layout: ``result_dirs/<task>/<model>.json`` (or the ``result_dirs`` folder itself), each a JSON list
of records with the chat prompt, ``output`` (a list holding the zero-shot chain-of-thought
generation, which should contain a ```json {"reasoning": ..., "answer": ...}``` block) and the
target ``answer``.  ZeroEval stores no per-item correctness and no log-probabilities.

This module is a preset: the mapping and the extraction rules are the data file
``presets/zeroeval.toml``, read by the bring-your-own parser (:mod:`emergence.ingestion.sources.byo`);
this module only registers it through the parser protocol (:mod:`emergence.ingestion.sources.base`).

Rules (in the preset; each tested on the real files in ``../shared/data/zeroeval-results``):

- task = the folder name, model = the file name (``@together`` / ``@hyperbolic``: the same open
  weights served by that provider, kept in the name); shots 0; example_id = the record's ``id``.
- The prediction is extracted as ZeroEval's scripts do (``reference/eval_utils.py``): the
  ``answer`` of the first complete JSON object, else its regular expressions, else (Llama-3.1
  models) a ``\\boxed{...}`` answer at the end.  Compared as the task family's script compares:
  gsm and math-l5 by their first numbers after sanitising (``math_eval.py``; the fraction
  ``eval`` there is replaced by :func:`emergence.ingestion.sources._extract.safe_arithmetic`, which runs no
  code); mmlu-redux by choice letter (``mcqa_eval.py``); crux by the quote-stripped text
  (``crux_eval.py``); any other task by exact match of the extracted answer against ``answer``.
- An answer no rule finds counts as wrong (ZeroEval's "no answer"), with one
  ``empty_prediction`` issue per (file, model); ``--empty-prediction skip`` leaves them out.
- Sizes: ``data/models/zeroeval.csv`` (model-card figures); other models: ``--size`` or ``no_scale``.

The re-scored exact match of each (task, model) equals ZeroEval's own accuracy in
``result_dirs/<task>.summary.json`` on every model of the real copy (tests/test_src_presets.py).

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 90:
``result_dirs/<task>/<model>.json`` (or ``<task>/<model>.json``) whose first records (at most 3
files) have ZeroEval's keys; a foreign folder is never claimed.  Malformed input raises
:class:`~emergence.ingestion.schema.IngestError` naming the file, row or field and value; rows not stored or
kept out of scoring are counted in data issues.  ``source_file`` is the path under the folder given,
``row_ref`` the record's index in the JSON list (by the bring-your-own parser).
"""
from __future__ import annotations

from pathlib import Path

from emergence.ingestion.schema import Batch
from emergence.ingestion.sources.byo import parse_with_mapping, preset_mapping

__all__ = ["NAME", "PRIORITY", "OPTIONS", "PRESET", "detect", "parse", "mapping"]

NAME = "zeroeval-results"
PRIORITY = 90   # detection: a preset's exact layout and record keys (emergence.ingestion.sources.base)
OPTIONS = ("empty_prediction", "sizes")
PRESET = Path(__file__).resolve().parent / "presets" / "zeroeval.toml"


def mapping(**options) -> dict:
    """The preset mapping, with ingest options (``empty_prediction``, ``sizes``) laid over it."""
    return preset_mapping(PRESET, **options)


def _looks_like_zeroeval(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192).decode("utf-8", errors="replace")
    except OSError:
        return False
    return head.lstrip().startswith("[") and '"session_id"' in head and '"chat_history"' in head


def detect(path: Path) -> bool:
    """A folder holding ``result_dirs/<task>/<model>.json`` (or ``<task>/<model>.json``) in ZeroEval's record format."""
    path = Path(path)
    if not path.is_dir():
        return False
    for pattern in ("result_dirs/*/*.json", "*/*.json"):
        for p in sorted(path.glob(pattern))[:3]:
            if p.is_file() and not p.is_symlink() and _looks_like_zeroeval(p):
                return True
    return False


def parse(root: Path, source: str = NAME, progress=None, **options) -> Batch:
    """Every ZeroEval result file under ``root`` through the preset (module docstring)."""
    return parse_with_mapping(Path(root), mapping(**options), source=source)
