"""Reading an index folder: opening and looking up (``reader``), the leaked values sealed per
record (``details``), and bringing the files into memory (``memory``), and the rows
as a build writes them (``rows``). The on-disk format itself
is ``breachindex.format``, shared with the writer in ``breachindex.build``."""
from __future__ import annotations

from .reader import MAX_THREADS, Index, Match, VerifyReport, open_index
from .rows import RowBlock

__all__ = ["Index", "MAX_THREADS", "Match", "RowBlock", "VerifyReport", "open_index"]
