"""The parser protocol: what a source module in :mod:`emergence.ingestion.sources` provides.

A *source module* reads one input format into a :class:`~emergence.ingestion.schema.Batch`.  The
catalogue (:mod:`emergence.ingestion.catalog`) names it; :func:`emergence.ingestion.ingest.ingest` finds it for a
path by detection.  It declares, at module level:

``NAME``
    Its default source name (a catalogue name).
``PRIORITY``
    An int: where it stands in format detection.  :func:`detection_order` tries modules with
    a higher priority first; among entries of equal priority, catalogue entries for a user's
    own data (no public repository) before public copies of the same format, then catalogue
    order.  The levels in use:

    ====  ==========================================================================
    90    presets of the bring-your-own parser for public per-example dumps
          (:mod:`~emergence.ingestion.sources.zeroeval`, :mod:`~emergence.ingestion.sources.mmlu_pro`): an
          exact file layout and record keys
    80    BIG-bench checkouts (``scores_*.json`` / ``full-log_*.json`` under a task tree)
    70    lm-eval-harness ``samples_*.jsonl`` anywhere in the folder
    60    expemergence's task files (their names carry variant and metric)
    50    lm-eval-harness results JSON of any layout (generic: after the specific ones)
    10    a single public repository's fixed file names (obsscaling, on-emergence, ...)
    ====  ==========================================================================

``detect(path) -> bool``
    True when ``path`` (a folder, or one file) holds this format.
``parse(root, source=NAME, progress=None, **options) -> Batch``
    Every row of the format under ``root``, stored as source ``source``; ``progress`` (a
    callable taking one :class:`Progress` event) may be called with ``Progress(message,
    "parse", i, n)``: file ``i`` of ``n`` read (``i``, ``n`` None when the parser only counts).
``OPTIONS`` (optional)
    The ingest options the module honours, passed to ``parse`` as keywords when given
    (``empty_prediction``, ``sizes``: the presets); ingest refuses an option that no planned
    module honours rather than ignoring it.  A module without ``OPTIONS`` takes none.

Rules every source module keeps (its module docstring says how, its tests show it):

1. **Detection is cheap and stays inside the path.**  ``detect`` looks only under ``path``,
   reads at most the first few kilobytes of a few files, never raises for a foreign folder
   (it returns False) and claims no other catalogue folder (tested on ``../shared/data``).
2. **Strict at the boundary.**  A malformed input raises :class:`~emergence.ingestion.schema.IngestError`
   naming the file, the row or field and the value (cut short); nothing is half-returned.
3. **Nothing dropped silently.**  A row that is not stored, or is stored but kept out of
   scoring, is counted in a data issue (:func:`~emergence.ingestion.schema.issue`) that says which rule
   did what.
4. **Nothing invented.**  A column the format lacks is NULL; sizes come from the file, else
   from the curated table (``data/models/*.csv``), else stay NULL with a ``no_scale`` issue.
5. **Provenance.**  Every row names its ``source_file`` (relative to ``root``) and ``row_ref``;
   ``Batch.files`` maps every file read to its sha256.
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Callable, Protocol, runtime_checkable

from emergence.ingestion.schema import Batch

__all__ = ["SourceModule", "REQUIRED", "missing", "priority", "detection_order", "Progress", "STAGES"]

#: Progress stages: a source of the ingest starts (fetched or parsed: ``i`` of ``n`` sources), a
#: download moves (``i`` of ``n`` files, or percent of 100), a parser reads its files, the store
#: writes or scores, anything else.
STAGES = ("source", "fetch", "parse", "write", "score", "note")


class Progress(str):
    """One progress event of an ingest: ``stage`` (:data:`STAGES`), ``message``, and ``i`` of ``n`` when known.

    Consumers read the fields (and :attr:`fraction`); nobody parses text.  The event is also a
    ``str``, its :attr:`text`: the message, prefixed ``"[i/n] "`` for the ``source`` stage, which
    is what progress callbacks received before events existed, so a consumer written for those
    strings keeps working (:func:`emergence.ingestion.ingest.as_progress` reads either).  Immutable.

    >>> e = Progress("parsing pythia from data/pythia", "source", 2, 4)
    >>> e, e.stage, e.fraction
    ('[2/4] parsing pythia from data/pythia', 'source', 0.25)
    """

    stage: str
    message: str
    i: int | None
    n: int | None

    def __new__(cls, message: str, stage: str = "note", i: int | None = None, n: int | None = None):
        if stage not in STAGES:
            raise ValueError(f"progress stage must be one of {STAGES}; got {stage!r}")
        self = super().__new__(cls, f"[{i}/{n}] {message}" if stage == "source" and i is not None else message)
        for k, v in (("stage", stage), ("message", str(message)), ("i", i), ("n", n)):
            object.__setattr__(self, k, v)
        return self

    def __setattr__(self, name, value):
        raise AttributeError("a Progress event is immutable")

    def __reduce__(self):
        return (Progress, (self.message, self.stage, self.i, self.n))

    @property
    def text(self) -> str:
        """The event as one line of text (what a log or a status line shows)."""
        return str.__str__(self)

    @property
    def fraction(self) -> float | None:
        """Share done: ``(i - 1) / n`` for a source (source ``i`` starts), ``i / n`` otherwise; None unknown."""
        if self.i is None or not self.n:
            return None
        return min(1.0, max(0.0, (self.i - 1 if self.stage == "source" else self.i) / self.n))

#: What a source module must define.
REQUIRED = ("NAME", "PRIORITY", "detect", "parse")


@runtime_checkable
class SourceModule(Protocol):
    """The protocol as a type (a module satisfies it structurally)."""

    NAME: str
    PRIORITY: int

    def detect(self, path: Path) -> bool: ...

    def parse(self, root: Path, source: str = ..., progress: Callable[[Progress], None] | None = None) -> Batch: ...


def missing(module: ModuleType) -> list[str]:
    """The names of :data:`REQUIRED` a module lacks or gets wrong (empty when it follows the protocol)."""
    out = [k for k in REQUIRED if not hasattr(module, k)]
    if "PRIORITY" not in out and (isinstance(module.PRIORITY, bool) or not isinstance(module.PRIORITY, int)):
        out.append("PRIORITY")
    out += [k for k in ("detect", "parse") if k not in out and not callable(getattr(module, k))]
    return out


def priority(module: ModuleType) -> int:
    """A module's detection priority; a module that does not follow the protocol is an error."""
    bad = missing(module)
    if bad:
        raise TypeError(f"{module.__name__} does not follow the parser protocol "
                        f"(emergence.ingestion.sources.base): missing or wrong {bad}")
    return module.PRIORITY


def detection_order(catalog) -> list[str]:
    """Catalogue names in the order :func:`emergence.ingestion.ingest` tries their ``detect``.

    Higher :data:`PRIORITY` first; at equal priority an entry for a user's own data (no public
    repository) before a public copy of the same format, so a user's lm-eval folder is named
    ``lm-eval-results:<folder>`` and does not replace ``pythia``; then catalogue order.
    """
    names = list(catalog.CATALOG)
    pos = {n: i for i, n in enumerate(names)}
    return sorted(names, key=lambda n: (-priority(catalog.parser(n)), bool(catalog.CATALOG[n].repo), pos[n]))
