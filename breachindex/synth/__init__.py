"""Synthetic, leak-shaped data. One numbering model (``numbering``: which mobile numbers each
region has, built on ``keying.patterns``) under two front ends: numbers and records in memory
(``synthetic``), and a whole leak in the dump's file shapes with exact ground truth (``leak``,
made of ``shape``, ``rows`` and ``text``). breachindex never touches real leak data; tests, the
demo and the benchmarks use this. The command line is ``breachindex synth`` (``cli.synth``)."""
from __future__ import annotations

from .leak import LeakFile, LeakManifest, leak_plan, synthetic_key_source, write_leak
from .synthetic import synthetic_numbers, synthetic_records

__all__ = ["LeakFile", "LeakManifest", "leak_plan", "synthetic_key_source", "synthetic_numbers",
           "synthetic_records", "write_leak"]
