"""The one report of every build: ``build()``, ``build_index`` and ``add_breach`` all return a
``BuildReport``."""
from __future__ import annotations

import json
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import format as fmt
from ..index.memory import proc_bytes

__all__ = ["BuildReport", "peak_rss_bytes"]


@dataclass
class BuildReport:
    """What a build did. ``lines == records + sum(rejected) + blank``: ``lines`` counts what came
    in (a leak file's lines without its header, or the records given to ``build()``), ``records``
    the ones accepted, ``rejected`` the others by reason. ``fits`` counts records among ``records``
    whose line had fewer fields than its layout (``short_line``: kept with what it has) or more
    (``extra_fields``: a ``:`` inside a name). ``duplicates == records - rows`` for a build; for
    ``add``, ``rows`` is the new index's and ``added_rows`` the numbers new to it."""

    path: Path
    lines: int = 0
    records: int = 0
    blank: int = 0
    rows: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    fits: dict[str, int] = field(default_factory=dict)
    breaches: dict[str, int] = field(default_factory=dict)
    countries: dict[str, int] = field(default_factory=dict)
    data_classes: dict[str, int] = field(default_factory=dict)
    #: per input file: its layout and counts (leak files only)
    files: list[dict[str, Any]] = field(default_factory=list)
    key_tweak: int = 0
    spilled_bytes: int = 0
    added_rows: int = 0  # add: numbers new to the index
    updated_rows: int = 0  # add: numbers already in it, now also in the new breach
    #: bytes of the index folder (its files and manifest)
    bytes: int = 0
    seconds: float = 0.0
    peak_memory_bytes: int = 0
    rejects_report: str | None = None
    #: the manifest's entry per index file (name -> bytes, checksum)
    index_files: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, default=str)

    def __str__(self) -> str:
        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejected.items())) or "none"
        top = ", ".join(f"{c} {n:,}" for c, n in sorted(self.countries.items(), key=lambda x: -x[1])[:8])
        return "\n".join([
            f"built {self.path} in {self.seconds:.1f} s ({self.bytes / 1e6:.1f} MB), peak memory "
            f"{self.peak_memory_bytes / 2**30:.2f} GiB",
            f"  lines {self.lines:,} = records {self.records:,} + rejected {sum(self.rejected.values()):,}"
            f" + blank {self.blank:,}",
            f"  distinct numbers {self.rows:,} ({self.duplicates:,} duplicate records merged)",
            f"  rejected: {rejected}",
            *(["  records whose fields did not fit their layout: "
               + ", ".join(f"{k} {v:,}" for k, v in sorted(self.fits.items()))] if self.fits else []),
            "  breaches: " + ", ".join(f"{b} {n:,}" for b, n in self.breaches.items()),
            f"  countries: {top}" + (" ..." if len(self.countries) > 8 else ""),
            f"  spilled {self.spilled_bytes / 2**30:.2f} GiB; key tweak {self.key_tweak}"
            + (f"; rejects listed in {self.rejects_report}" if self.rejects_report else ""),
        ])

    def summary(self) -> str:
        """The report in one line (the demo's)."""
        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejected.items()))
        return (f"{self.lines:,} records -> {self.rows:,} distinct numbers ({self.duplicates:,} duplicates merged"
                + (f"; rejected: {rejected}" if rejected else "")
                + f") in {self.seconds:.2f} s, {self.bytes / 1e6:.1f} MB at {self.path}")

    def finish(self, manifest: dict[str, Any], started: float) -> BuildReport:
        """Fill in what the manifest knows, the time and the peak memory."""
        self.breaches = {b["name"]: b["rows"] for b in manifest["breaches"]}
        self.countries = {c["name"]: c["rows"] for c in manifest["countries"]}
        self.data_classes = {c["name"]: c["rows"] for c in manifest["data_classes"]}
        self.index_files = manifest["files"]
        self.bytes = (sum(e["bytes"] for e in self.index_files.values())
                      + (self.path / fmt.MANIFEST_FILE).stat().st_size)
        self.seconds = time.perf_counter() - started
        self.peak_memory_bytes = peak_rss_bytes()
        return self


def peak_rss_bytes() -> int:
    """This process's peak resident memory. Linux's VmHWM first: ru_maxrss carries a parent's
    peak over fork and exec, so a build run from a large process would report that."""
    peak = proc_bytes("/proc/self/status", "VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
