"""Building an index: records from Python (``writer``) or from leak files and the synthetic key
source (``ingest``, in bounded memory), the leak readers (``leakfiles``, ``layouts``), adding a
breach to an index (``ingest.add_breach``), and writing the files (``files``)."""
from __future__ import annotations

from .ingest import DEFAULT_MEMORY, IngestReport, Source, add_breach, build_index
from .writer import BuildReport, IndexWriter, build

__all__ = ["BuildReport", "DEFAULT_MEMORY", "IndexWriter", "IngestReport", "Source", "add_breach", "build",
           "build_index"]
