"""The ``breachindex`` command line: the index commands and their dispatch table (``main``),
the workflow (``campaign``), the demo (``demo``), the benchmark harness (``bench``), and what
scripts read (``output``: JSON and exit codes)."""
from __future__ import annotations

from .main import main

__all__ = ["main"]
