"""Interleaved A/B of the C batch-lookup kernel: variants of native/table.c, same process.

    python bench/kernel_ab.py INDEX_FOLDER VARIANT [VARIANT ...]

A VARIANT is a path to a copy of ``native/table.c`` (compiled with the tree's other units) or
``git:REV`` (that revision's whole core, e.g. ``git:HEAD~1``; before the split, its one
``native/breachindex.c``). Each is compiled as written in ``native/build_native.py`` (-O3) into a
shared library; ``bench/kernel_ab.c`` maps the index once, as ``Index.prefault()`` does, and
runs every variant over the same 2M queries (half present, random order), alternating, for 12
rounds (``KERNEL_AB_ROUNDS=N`` for more), checking that all give the same rows
(``KERNEL_AB_THREADS=2``: two threads a batch). It ends with each variant's best and median round
and the median of its per-round ratios to the first variant.
Why interleaved: this machine's speed drifts by 10-20 % between stretches of minutes, so only
runs side by side in one process compare.

``--parts`` instead times the current kernel cut into its parts (``bench/kernel_parts.c``: a
plain random read a query, the same prefetched early, the directory stage alone, with the key lines,
and the whole lookup), in turns: where a batch lookup's time goes.

Needs ``cc`` and the index's folder (``breachindex bench --dir D`` leaves tables in
``D/table-N/index``). Use a machine that is otherwise idle.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "native"
CFLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"]


def _core_units(folder: Path) -> list[Path]:
    """The C units of a core in folder (the cffi glue left out)."""
    return sorted(p for p in folder.glob("*.c") if p.name != "fastcall.c")


def _sources(variant: str, into: Path, i: int) -> list[Path]:
    """The variant's core: a copy of native/ (the tree's, or REV's) with its C units."""
    target = into / f"variant{i}"
    if variant.startswith("git:"):
        target.mkdir()
        archive = subprocess.run(["git", "archive", variant[4:], "native"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        target = target / "native"
    else:
        shutil.copytree(NATIVE, target, ignore=shutil.ignore_patterns("fuzz"))
        shutil.copyfile(variant, target / "table.c")
    return _core_units(target)


def _parts(index: Path, dir_bits: int) -> int:
    """bench/kernel_parts.c linked with the tree's core, run on the index."""
    with tempfile.TemporaryDirectory() as tmp:
        driver = Path(tmp) / "kernel_parts"
        subprocess.run(["cc", *CFLAGS, "-D_GNU_SOURCE", "-I", str(NATIVE), str(ROOT / "bench" / "kernel_parts.c"),
                        *map(str, _core_units(NATIVE)), "-o", str(driver), "-pthread"], check=True)
        sys.stdout.flush()
        return subprocess.run([str(driver), str(index), str(dir_bits)]).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path, help="an index folder (keys.bin, directory.u32, ...)")
    parser.add_argument("variants", nargs="*", help="paths to table.c variants, or git:REV")
    parser.add_argument("--parts", action="store_true",
                        help="time the tree's kernel cut into its parts (bench/kernel_parts.c)")
    args = parser.parse_args(argv)
    if shutil.which("cc") is None:
        parser.error("needs a C compiler (cc)")
    if args.parts == bool(args.variants):
        parser.error("give variants to compare, or --parts")
    manifest = json.loads((args.index / "manifest.json").read_text())
    if args.parts:
        return _parts(args.index, manifest["dir_bits"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        libs = []
        for i, variant in enumerate(args.variants):
            sources = _sources(variant, work, i)
            lib = work / f"{i}-{variant.replace('/', '_').replace(':', '_')}.so"
            # each variant with its own headers
            subprocess.run(["cc", *CFLAGS, "-shared", "-fPIC", "-I", str(sources[0].parent),
                            *map(str, sources), "-o", str(lib), "-pthread"], check=True)
            libs.append(str(lib))
        driver = work / "kernel_ab"
        subprocess.run(["cc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-I", str(NATIVE),
                        str(ROOT / "bench" / "kernel_ab.c"), "-o", str(driver), "-ldl"], check=True)
        for i, variant in enumerate(args.variants):
            print(f"variant {i}: {variant}")
        sys.stdout.flush()
        return subprocess.run([str(driver), str(args.index), str(manifest["dir_bits"]), *libs]).returncode


if __name__ == "__main__":
    sys.exit(main())
