"""MMLU-Pro per-question outputs (TIGER-AI-Lab/MMLU-Pro), catalogue sources ``mmlu-pro-outputs`` and ``mmlu-pro``.

Layout: ``eval_results/model_outputs_<model>_<k>shots.zip`` (or those zips, or their unpacked
``.json``, in the folder itself), each a zip of one JSON list of 12,032 records: ``question_id``,
``question``, ``options``, ``answer`` (the right letter), ``category`` (14 subjects), ``pred``
(the letter the repository parsed from the generation, or null) and ``generated_text``.

This module is a preset: the mapping is the data file ``presets/mmlu_pro.toml``, read by the
bring-your-own parser (:mod:`emergence.ingestion.sources.byo`); this module only registers it through the
parser protocol (:mod:`emergence.ingestion.sources.base`).

Rules (in the preset; tested on the real zips in ``../shared/data/mmlu-pro-outputs``):

- task ``mmlu_pro``, subtask = ``category``, model and shots from the file name, example_id =
  ``question_id``; exact match of the stored ``pred`` letter against ``answer``.
- A null ``pred`` (no letter found in the generation) counts as **wrong** by default, with one
  ``empty_prediction`` issue per model giving the count; ``--empty-prediction skip`` leaves those
  questions out instead.  MMLU-Pro's own ``compute_accuracy.py`` draws a random letter for them
  (seeded), which adds about one tenth of the null share to the accuracy: the README gives the
  three numbers for one model.
- Sizes: ``data/models/mmlu-pro.csv`` (model-card figures); other models: ``--size`` or ``no_scale``.

Protocol (:mod:`emergence.ingestion.sources.base`): detected at PRIORITY 90:
``model_outputs_<model>_<k>shots.zip|json`` in the folder or its ``eval_results/`` (names only); a
foreign folder is never claimed.  Malformed input raises :class:`~emergence.ingestion.schema.IngestError`
naming the file, row or field and value; rows not stored or kept out of scoring are counted in
data issues.  ``source_file`` is the path under the folder given, ``row_ref`` the record's index in the
JSON list (by the bring-your-own parser).
"""
from __future__ import annotations

import re
from pathlib import Path

from emergence.ingestion.schema import Batch
from emergence.ingestion.sources.byo import parse_with_mapping, preset_mapping

__all__ = ["NAME", "PRIORITY", "OPTIONS", "PRESET", "FILE_RE", "detect", "parse", "mapping"]

NAME = "mmlu-pro-outputs"
PRIORITY = 90   # detection: a preset's exact layout (emergence.ingestion.sources.base)
OPTIONS = ("empty_prediction", "sizes")
PRESET = Path(__file__).resolve().parent / "presets" / "mmlu_pro.toml"
FILE_RE = re.compile(r"^model_outputs_(?P<model>.+)_(?P<shots>\d+)shots\.(zip|json)$")


def mapping(**options) -> dict:
    """The preset mapping, with ingest options (``empty_prediction``, ``sizes``) laid over it."""
    return preset_mapping(PRESET, **options)


def detect(path: Path) -> bool:
    """A folder holding ``model_outputs_<model>_<k>shots.zip|json`` (directly or under ``eval_results/``)."""
    path = Path(path)
    if path.is_file():
        return bool(FILE_RE.match(path.name))
    if not path.is_dir():
        return False
    for folder in (path / "eval_results", path):
        if folder.is_dir() and any(FILE_RE.match(p.name) and p.is_file() for p in folder.iterdir()):
            return True
    return False


def parse(root: Path, source: str = NAME, progress=None, **options) -> Batch:
    """Every MMLU-Pro output file under ``root`` through the preset (module docstring)."""
    return parse_with_mapping(Path(root), mapping(**options), source=source)
