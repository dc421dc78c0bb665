"""Building an index, one pipeline whatever the front end: records from Python (``writer``:
``build``, ``IndexWriter``) or from leak files and the synthetic key source (``ingest``:
``build_index``, in bounded memory through ``spill`` and the record word of ``records``), a new
breach merged into an index (``add``); every front end checks ``limits``, merges equal keys
with ``merge`` and returns the one ``report``; ``files`` writes the index folder, ``leakfiles``
and ``layouts`` read the dump."""
from __future__ import annotations

from .add import add_breach
from .ingest import DEFAULT_MEMORY, IngestReport, Source, build_index
from .limits import LIMITS, BuildLimits
from .report import BuildReport
from .writer import IndexWriter, build

__all__ = ["BuildLimits", "BuildReport", "DEFAULT_MEMORY", "IndexWriter", "IngestReport", "LIMITS", "Source",
           "add_breach", "build", "build_index"]
