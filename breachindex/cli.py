"""The ``breachindex`` command line."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import BreachIndexError
from .index import open_index
from .secret import Key

__all__ = ["main"]


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.size, seed=args.seed, out=args.out, queries=args.queries)


def _cmd_keygen(args: argparse.Namespace) -> int:
    Key.generate().save(args.path, overwrite=args.force)
    print(f"wrote a new secret key to {args.path} (mode 0600); keep it out of index folders")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    numbers = args.numbers or [line.strip() for line in sys.stdin if line.strip()]
    with open_index(args.index, key=args.key) as index:
        for i, raw in enumerate(numbers, 1):
            try:
                match = index.lookup(raw, region=args.region)
            except BreachIndexError as exc:
                print(f"{i}: invalid: {exc}")
                continue
            if match is None:
                print(f"{i}: not in the index")
            else:
                print(f"{i}: IN {', '.join(match.breaches)} ({match.country}); "
                      f"data: {', '.join(sorted(match.data_classes))}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    with open_index(args.index, key=args.key) as index:
        report = index.verify()
    print(f"ok: {report.files} files, {report.bytes:,} bytes, {report.rows:,} rows "
          f"checked in {report.seconds:.2f} s")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .format import read_manifest

    m = read_manifest(Path(args.index))
    print(f"format {m['format']} v{m['format_version']}, created {m.get('created_at')}")
    print(f"rows {m['rows']:,}; directory bits {m.get('dir_bits')}; key tweak {m['key_tweak']}")
    for field in ("breaches", "data_classes"):
        print(f"{field}: " + ", ".join(f"{e['name']} ({e['rows']:,})" for e in m[field]))
    print(f"files: {sum(e['bytes'] for e in m['files'].values()):,} bytes in {len(m['files'])} files")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breachindex", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="build and query a seeded synthetic leak")
    p.add_argument("--size", type=int, default=1_000_000, help="numbers in the leak (1,000,000)")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--queries", type=int, default=200_000, help="batch size for the batch timings")
    p.add_argument("--out", help="build the index here (and its key beside it) instead of a temp folder")
    p.set_defaults(fn=_cmd_demo)

    p = sub.add_parser("keygen", help="write a new secret key file (mode 0600)")
    p.add_argument("path")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(fn=_cmd_keygen)

    p = sub.add_parser("check", help="look numbers up (arguments, or one per line on stdin)")
    p.add_argument("index")
    p.add_argument("numbers", nargs="*")
    p.add_argument("--key", required=True, help="the key file the index was built with")
    p.add_argument("--region", help="default region for national formats, e.g. NL")
    p.set_defaults(fn=_cmd_check)

    p = sub.add_parser("verify", help="check every checksum and the whole structure")
    p.add_argument("index")
    p.add_argument("--key", required=True)
    p.set_defaults(fn=_cmd_verify)

    p = sub.add_parser("info", help="print an index's manifest summary (no key needed)")
    p.add_argument("index")
    p.set_defaults(fn=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except BreachIndexError as exc:
        print(f"breachindex: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
