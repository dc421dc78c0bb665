"""Ingest throughput and full-scale builds, measured side by side in one run.

    python bench/bench_ingest.py --rows 5000000            # text: synth, parse MB/s, build
    python bench/bench_ingest.py --synthetic 533000000     # the whole leak, no text on disk

Text: writes a synthetic leak of --rows lines (breachindex synth), then measures read + parse +
normalize + key (breachindex.builder.leakfiles, the build's first stage) with 1 and 2 threads in MB/s,
and a complete `build` from those files. Synthetic: a complete build of --synthetic rows from
the generator, in a subprocess so that its peak memory (ru_maxrss) is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from breachindex.builder.leakfiles import leak_files, read_leak_file
from breachindex.keying.secret import Key
from breachindex.synth.leak import write_leak


def parse_rate(folder: Path, key: Key, threads: int) -> tuple[float, int]:
    files = leak_files(folder)
    size = sum(f.stat().st_size for f in files)
    started = time.perf_counter()
    records = 0
    for f in files:
        for block in read_leak_file(f, siphash_key=key.siphash_key(), check_key=key.check_key(),
                                    threads=threads):
            records += len(block.keys)
    return size / (time.perf_counter() - started) / 1e6, records


def timed_build(args: list[str]) -> dict:  # type: ignore[type-arg]
    """Run `breachindex build ... --json` in a child; its report plus wall time and peak RSS."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "breachindex", "build", *args, "--json", "--quiet"],
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - started
    report = json.loads(proc.stdout)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"wall_s": round(wall, 1), "peak_rss_gib": round(peak / 2**30, 2), "rows": report["rows"],
            "records": report["records"], "lines": report["lines"],
            "spilled_gib": round(report["spilled_bytes"] / 2**30, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000, help="text leak lines (0: skip)")
    parser.add_argument("--synthetic", type=int, default=0, help="rows of a text-free build (0: skip)")
    parser.add_argument("--memory", default="4G")
    parser.add_argument("--dir", help="work folder (default: a temporary one)")
    parser.add_argument("--json", default="bench/results/ingest.json")
    args = parser.parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="breachindex-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    key_path = work / "bench.key"
    key = Key.generate()
    if not key_path.exists():
        key.save(key_path)
    key = Key.load(key_path)
    results: dict = {"cores": os.cpu_count()}  # type: ignore[type-arg]
    try:
        if args.rows:
            leak = work / "leak"
            shutil.rmtree(leak, ignore_errors=True)
            started = time.perf_counter()
            manifest = write_leak(leak, args.rows, seed=1)
            synth_s = time.perf_counter() - started
            size = sum(f.stat().st_size for f in leak_files(leak))
            results["text"] = {"lines": manifest.lines if hasattr(manifest, "lines") else args.rows,
                               "mb": round(size / 1e6, 1),
                               "synth_lines_per_s": round(args.rows / synth_s)}
            for threads in (1, 2):
                rate, records = parse_rate(leak, key, threads)
                results["text"][f"parse_mb_s_{threads}t"] = round(rate, 1)
            shutil.rmtree(work / "text.idx", ignore_errors=True)
            results["text"]["build"] = timed_build([str(work / "text.idx"), "--key", str(key_path),
                                                    str(leak), "--memory", args.memory])
            t = results["text"]
            print(f"text leak: {t['mb']} MB; parse+normalize+key {t['parse_mb_s_1t']} MB/s on 1 thread, "
                  f"{t['parse_mb_s_2t']} MB/s on 2; full build {t['build']['wall_s']} s, "
                  f"peak {t['build']['peak_rss_gib']} GiB", flush=True)
        if args.synthetic:
            shutil.rmtree(work / "synthetic.idx", ignore_errors=True)
            results["synthetic"] = timed_build([str(work / "synthetic.idx"), "--key", str(key_path),
                                                "--synthetic", str(args.synthetic), "--memory", args.memory])
            s = results["synthetic"]
            print(f"synthetic build of {args.synthetic:,} rows: {s['wall_s']} s, {s['rows']:,} distinct, "
                  f"peak {s['peak_rss_gib']} GiB with --memory {args.memory}, spilled {s['spilled_gib']} GiB")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
