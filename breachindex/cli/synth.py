"""``breachindex synth``: write a synthetic leak in the facebook-2021 shapes (the one command line
of the synthetic data; ``python -m breachindex synth`` is the same)."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["DEFAULT_SEED", "add_arguments", "main", "run", "synth_command"]

#: the seed when none is given (the demo's)
DEFAULT_SEED = 2021


def synth_command(out: str | os.PathLike[str], rows: int, seed: int = DEFAULT_SEED, quiet: bool = False, *,
                  quirk_rate: float = 0.002, duplicate_rate: float = 0.01,
                  regions: Sequence[str] | None = None,
                  truth_path: str | os.PathLike[str] | None = None, fill: float = 1.0) -> int:
    """Write the leak; print one summary line (files, lines, MB, seconds, lines/s; never a number)
    unless ``quiet``. Returns 0."""
    from ..synth.leak import write_leak

    m = write_leak(out, rows, seed=seed, quirk_rate=quirk_rate, duplicate_rate=duplicate_rate,
                   regions=regions, truth_path=truth_path, fill=fill)
    if not quiet:
        rate = m.lines / m.seconds if m.seconds > 0 else float("inf")
        print(f"synth: {len(m.files)} files, {m.lines:,} lines ({m.records:,} records, "
              f"{sum(m.rejects.values()):,} rejects, {m.blank_lines:,} blank), "
              f"{m.bytes / 1e6:,.1f} MB in {m.seconds:.2f} s ({rate:,.0f} lines/s) -> {m.out_dir}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="folder to create (must not exist or be empty)")
    p.add_argument("--rows", type=int, required=True, help="data lines in total")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"({DEFAULT_SEED})")
    p.add_argument("--quirk-rate", type=float, default=0.002, help="share of damaged lines per kind (0.002)")
    p.add_argument("--duplicate-rate", type=float, default=0.01, help="share of repeated numbers (0.01)")
    p.add_argument("--regions", help="comma-separated region codes (default: the leak's 16)")
    p.add_argument("--truth", help="write the ground truth as JSON here (outside OUT)")
    p.add_argument("--fill", type=float, default=1.0,
                   help="scale every optional field's chance (1: about 95 bytes a line; 0.06: about 31, the "
                        "real dump's 16.5 GB for 533M lines)")
    p.add_argument("-q", "--quiet", action="store_true")


def run(a: argparse.Namespace) -> int:
    try:
        return synth_command(a.out, a.rows, a.seed, a.quiet, quirk_rate=a.quirk_rate,
                             duplicate_rate=a.duplicate_rate,
                             regions=a.regions.split(",") if a.regions else None,
                             truth_path=a.truth, fill=a.fill)
    except (ValueError, TypeError) as exc:
        print(f"breachindex synth: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="breachindex synth",
                                description="write a synthetic leak in the facebook-2021 shapes")
    add_arguments(p)
    return run(p.parse_args(argv))
