"""Synthetic, leak-shaped data: phone numbers from numbering-plan ranges and records
(``synthetic``), and a whole leak in the dump's file shapes with exact ground truth (``leak``).
breachindex never touches real leak data; tests, the demo and the benchmarks use this."""
from __future__ import annotations

from .leak import LeakFile, LeakManifest, leak_plan, synthetic_key_source, write_leak
from .synthetic import synthetic_numbers, synthetic_records

__all__ = ["LeakFile", "LeakManifest", "leak_plan", "synthetic_key_source", "synthetic_numbers",
           "synthetic_records", "write_leak"]
