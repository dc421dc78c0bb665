"""Reading an index folder: opening and looking up (``reader``), the leaked values sealed per
record (``details``), and bringing the files into memory (``memory``). The on-disk format itself
is ``breachindex.format``, shared with the writer in ``breachindex.build``."""
from __future__ import annotations

from .reader import MAX_THREADS, Index, Match, VerifyReport, open_index

__all__ = ["Index", "MAX_THREADS", "Match", "VerifyReport", "open_index"]
