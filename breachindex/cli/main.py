"""breachindex: build, check and serve a keyed index of breached phone numbers."""
# The one dispatch table (COMMANDS) and the index commands live here; ``campaign ...`` (the
# workflow) in cli.campaign, ``synth`` in cli.synth, ``bench`` in cli.bench; JSON output and the
# exit codes scripts rely on in cli.output
from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..builder.ingest import Source
from ..errors import BreachIndexError
from ..index.reader import open_index
from ..keying.secret import Key
from . import synth as synth_cli
from .output import EXIT_NO, EXIT_OK, JsonArgumentParser, UsageError, print_json, report_error

__all__ = ["COMMANDS", "Command", "main"]


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
        report = index.verify()  # IndexCorrupted (exit 2) names the file and the problem
    if args.json:
        print_json({"ok": True, "files": report.files, "bytes": report.bytes, "rows": report.rows,
                    "seconds": round(report.seconds, 3)})
        return EXIT_OK
    print(f"ok: {report.files} files, {report.bytes:,} bytes, {report.rows:,} rows "
          f"checked in {report.seconds:.2f} s")
    return EXIT_OK


def _lookup_parser() -> argparse.ArgumentParser:
    p = JsonArgumentParser(prog="breachindex lookup",
                           description="Is one number in the index? Exit 0 found, 1 not found, 2 error (like grep).")
    p.add_argument("index")
    p.add_argument("number", help="the phone number, or - to read it from stdin (keeps it out of the process list)")
    p.add_argument("--key", required=True, help="the key file the index was built with")
    p.add_argument("--region", help="default region for national formats, e.g. NL")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout; errors as JSON on stderr")
    return p


def _cmd_lookup(argv: Sequence[str]) -> int:
    """The answer never repeats the number: it may end up in a log or a terminal's scrollback."""
    as_json = "--json" in argv
    try:
        args = _lookup_parser().parse_intermixed_args(argv)
        as_json = args.json
        raw = sys.stdin.readline().strip() if args.number == "-" else args.number
        with open_index(args.index, key=args.key) as index:
            match = index.lookup(raw, region=args.region)
            country = None if match is None else match.country
    except (BreachIndexError, UsageError, OSError) as exc:
        return report_error(exc, as_json=as_json)
    if as_json:
        print_json({"found": match is not None, "breaches": [] if match is None else list(match.breaches),
                    "data_classes": [] if match is None else sorted(match.data_classes), "country": country})
    elif match is None:
        print("not found")
    else:
        print(f"found: {', '.join(match.breaches)} ({country}); data: {', '.join(sorted(match.data_classes))}")
    return EXIT_NO if match is None else EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..format import read_manifest

    m = read_manifest(Path(args.index))
    print(f"format {m['format']} v{m['format_version']}, created {m.get('created_at')}")
    print(f"rows {m['rows']:,}; directory bits {m.get('dir_bits')}; key tweak {m['key_tweak']}")
    for field in ("breaches", "data_classes"):
        print(f"{field}: " + ", ".join(f"{e['name']} ({e['rows']:,})" for e in m[field]))
    print(f"files: {sum(e['bytes'] for e in m['files'].values()):,} bytes in {len(m['files'])} files")
    return 0


_SIZE_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str) -> int:
    """'4G', '512M', '1048576' -> bytes (binary multiples; a trailing 'iB'/'B' is allowed)."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1] if t and t[-1] in _SIZE_SUFFIX else ""
    try:
        return int(float(t[: len(t) - len(unit)]) * _SIZE_SUFFIX[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 4G or 512M)") from None


BUILD_USAGE = """breachindex build OUT --key KEYFILE [--breach NAME] [--layout L] SOURCE...
                 [--breach NAME SOURCE...]... [--synthetic ROWS] [--seed S]
                 [--memory BYTES] [--threads N] [--rejects FILE] [--details]
                 [--overwrite] [--quiet] [--json]

Build an index from leak files. A SOURCE is a file or a folder of files; sources after
--breach NAME belong to that breach (before any --breach: facebook-2021). --synthetic ROWS adds
that many generated rows to the current breach instead of files. Rejected lines are listed
(file, line, reason; never their content) in --rejects (default: OUT.rejects.tsv beside OUT).
--details keeps each record's field values, sealed per number (off by default: without it the
index holds only which data classes each number has)."""


@dataclass
class _BuildOptions:
    out: str | None = None
    key: str | None = None
    layout: str | None = None
    memory: int = 4 << 30
    threads: int = 2
    seed: int = 2021
    rejects: str | None = None
    quiet: bool = False
    json: bool = False
    overwrite: bool = False
    details: bool = False


def _parse_build(argv: Sequence[str]) -> tuple[_BuildOptions, list[Source]]:
    """Options anywhere; SOURCEs belong to the --breach before them."""
    opts = _BuildOptions()
    groups: list[Source] = [Source("facebook-2021", [])]
    it = iter(argv)

    def value(option: str) -> str:
        v = next(it, None)
        if v is None:
            raise SystemExit(f"breachindex build: {option} needs a value")
        return v

    for token in it:
        if token in ("-h", "--help"):
            print(BUILD_USAGE)
            raise SystemExit(0)
        if token == "--breach":
            name = value(token)
            if len(groups) == 1 and not groups[0].paths and not groups[0].synthetic_rows:
                groups = []  # the default breach was never used
            groups.append(Source(name, []))
        elif token == "--synthetic":
            rows = value(token)
            if not rows.isdigit():
                raise SystemExit("breachindex build: --synthetic needs a number of rows")
            groups[-1].synthetic_rows += int(rows)
        elif token in ("--key", "--layout", "--rejects"):
            setattr(opts, token[2:], value(token))
        elif token == "--memory":
            opts.memory = parse_bytes(value(token))
        elif token in ("--threads", "--seed"):
            setattr(opts, token[2:], int(value(token)))
        elif token in ("--quiet", "--json", "--overwrite", "--details"):
            setattr(opts, token[2:], True)
        elif token.startswith("-"):
            raise SystemExit(f"breachindex build: unknown option {token}\n\n{BUILD_USAGE}")
        elif opts.out is None:
            opts.out = token
        else:
            groups[-1].paths = [*groups[-1].paths, token]
    if opts.out is None or opts.key is None:
        raise SystemExit(f"breachindex build: OUT and --key are required\n\n{BUILD_USAGE}")
    for g in groups:
        g.synthetic_seed = opts.seed
    return opts, [g for g in groups if g.paths or g.synthetic_rows]


def _cmd_build(argv: Sequence[str]) -> int:
    from ..builder.ingest import build_index

    opts, groups = _parse_build(argv)
    assert opts.out is not None and opts.key is not None
    rejects = opts.rejects or f"{opts.out.rstrip('/')}.rejects.tsv"
    report = build_index(opts.out, groups, key=opts.key, memory=opts.memory, layout=opts.layout,
                         threads=opts.threads, overwrite=opts.overwrite,
                         quiet=opts.quiet or opts.json, rejects_path=rejects, details=opts.details)
    print(report.to_json() if opts.json else report)
    return 0


def _add_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="breachindex add",
        description="Merge a new breach into an existing index, without its original sources.")
    p.add_argument("index")
    p.add_argument("sources", nargs="*", metavar="SOURCE")
    p.add_argument("--key", required=True)
    p.add_argument("--breach", required=True, help="name of the new breach")
    p.add_argument("--layout", choices=["fb12", "fb17", "csv"])
    p.add_argument("--synthetic", type=int, default=0, metavar="ROWS")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--memory", type=parse_bytes, default=4 << 30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rejects")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    return p


def _cmd_add(argv: Sequence[str]) -> int:
    from ..builder.add import add_breach

    args = _add_parser().parse_intermixed_args(argv)
    if not args.sources and not args.synthetic:
        raise SystemExit("breachindex add: give at least one SOURCE (or --synthetic ROWS)")
    rejects = args.rejects or f"{args.index.rstrip('/')}.{args.breach}.rejects.tsv"
    report = add_breach(args.index, Source(args.breach, args.sources, args.synthetic, args.seed),
                        key=args.key, memory=args.memory, layout=args.layout, threads=args.threads,
                        quiet=args.quiet or args.json, rejects_path=rejects)
    if args.json:
        print(report.to_json())
    else:
        print(report)
        print(f"  {report.added_rows:,} numbers new to the index, {report.updated_rows:,} already in it")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    import json

    from ..index.reader import open_index as _open

    with _open(args.index, key=args.key) as index:
        breaches = {b: index.rows_in(breach=b) for b in index.breaches}
        stats = {
            "rows": len(index),
            "breaches": {b: len(bm) for b, bm in breaches.items()},
            "countries": {c: len(index.rows_in(country=c)) for c in index.countries},
            "data_classes": {c: len(index.rows_in(data_class=c)) for c in index.data_classes},
            "in_both": {f"{a} & {b}": len(breaches[a] & breaches[b])
                        for i, a in enumerate(index.breaches) for b in index.breaches[i + 1:]},
        }
    if args.json:
        print(json.dumps(stats, indent=1))
        return 0
    print(f"{stats['rows']:,} distinct numbers")
    for section in ("breaches", "in_both", "data_classes", "countries"):
        values: dict[str, int] = stats[section]  # type: ignore[assignment]
        if values:
            print(f"{section.replace('_', ' ')}:")
            width = max(map(len, values))
            for name, n in sorted(values.items(), key=lambda x: -x[1]):
                print(f"  {name:<{width}} {n:>14,}")
    return 0


def _index_command(prog: str, description: str, configure: Callable[[argparse.ArgumentParser], None],
                   fn: Callable[[argparse.Namespace], int], *, intermixed: bool = False) -> Callable[[list[str]], int]:
    """A command whose arguments one argparse parser reads (``intermixed``: options and
    positionals in any order)."""

    def run(argv: list[str]) -> int:
        p = argparse.ArgumentParser(prog=f"breachindex {prog}", description=description)
        configure(p)
        args = p.parse_intermixed_args(argv) if intermixed else p.parse_args(argv)
        return int(fn(args))

    return run


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=1_000_000, help="numbers in the leak (1,000,000)")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--queries", type=int, default=200_000, help="batch size for the batch timings")
    p.add_argument("--out", help="build the index here (and its key beside it) instead of a temp folder")


def _keygen_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("index")
    p.add_argument("numbers", nargs="*")
    p.add_argument("--key", required=True, help="the key file the index was built with")
    p.add_argument("--region", help="default region for national formats, e.g. NL")


def _index_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("index")
    p.add_argument("--key", required=True, help="the key file the index was built with")
    p.add_argument("--json", action="store_true")


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("index")


def _campaign(argv: list[str]) -> int:
    from .campaign import main as campaign_main

    return campaign_main(argv)


def _serve(argv: list[str]) -> int:
    from ..server.cli import serve_main

    return serve_main(argv)


def _api_key(argv: list[str]) -> int:
    from ..server.cli import api_key_main

    return api_key_main(argv)


def _bench(argv: list[str]) -> int:
    from .bench import main as bench_main

    return bench_main(argv)


@dataclass(frozen=True)
class Command:
    """One ``breachindex`` command: its one-line help, what runs it (given the arguments after
    its name), and the optional extra whose packages it needs."""

    help: str
    run: Callable[[list[str]], int]
    extra: str | None = None


#: every command, in the order ``breachindex --help`` lists them: the one dispatch table
COMMANDS: dict[str, Command] = {
    "demo": Command("build and query a seeded synthetic leak", _index_command(
        "demo", "Build a synthetic leak's index and time lookups against it.", _demo_args, _cmd_demo)),
    "keygen": Command("write a new secret key file (mode 0600)", _index_command(
        "keygen", "Write a new secret key file (mode 0600).", _keygen_args, _cmd_keygen)),
    "check": Command("look numbers up (arguments, or one per line on stdin)", _index_command(
        "check", "Look numbers up (arguments, or one per line on stdin).", _check_args, _cmd_check,
        intermixed=True)),
    "lookup": Command("one number: exit 0 found, 1 not found, 2 error", _cmd_lookup),
    "verify": Command("check every checksum and the whole structure (exit 0 ok, 2 corrupted)", _index_command(
        "verify", "Check every checksum and the whole structure (exit 0 ok, 2 corrupted).", _index_args,
        _cmd_verify)),
    "synth": Command("write a synthetic leak in the facebook-2021 shapes", synth_cli.main),
    "stats": Command("counts per breach, country and data class (Roaring bitmaps)", _index_command(
        "stats", "Counts per breach, country and data class (Roaring bitmaps).", _index_args, _cmd_stats)),
    "build": Command("build an index from leak files", _cmd_build),
    "add": Command("merge a new breach into an index", _cmd_add),
    "info": Command("print an index's manifest summary (no key needed)", _index_command(
        "info", "Print an index's manifest summary (no key needed).", _info_args, _cmd_info)),
    "bench": Command("lookups beside numpy, SQLite, set and the floor", _bench),
    "serve": Command("serve the HTTP API and the check page", _serve, extra="server"),
    "api-key": Command("create, list or revoke API keys", _api_key, extra="server"),
    "campaign": Command("the campaign workflow: codes, ID checks, mandates, batches, requests, audit",
                        _campaign, extra="campaign"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: breachindex {{{','.join(COMMANDS)}}} ...", "", (__doc__ or "").strip(), "",
             "commands (breachindex COMMAND --help for each):"]
    lines += [f"  {name:<{width}}  {c.help}" for name, c in COMMANDS.items()]
    return "\n".join(lines)


#: the packages of the optional parts (pyproject's extras: [campaign], and [server] with them)
_OPTIONAL = frozenset({"nacl", "argon2", "holidays", "starlette", "uvicorn", "prometheus_client", "reportlab",
                       "psycopg", "psycopg_pool"})


class _MissingExtra(Exception):
    def __init__(self, extra: str, module: str) -> None:
        super().__init__(f"breachindex {extra} needs the optional package {module!r}: "
                         f"pip install 'breachindex[{extra}]' (or [all])")


@contextlib.contextmanager
def _extra(extra: str) -> Iterator[None]:
    """Import the part of an optional extra; a missing package is a clear message, not a traceback."""
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top not in _OPTIONAL:
            raise
        raise _MissingExtra(extra, top) from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"{_usage()}\n\nbreachindex: error: unknown command {argv[0]!r}", file=sys.stderr)
        return 2
    try:
        if command.extra is None:
            return command.run(argv[1:])
        with _extra(command.extra):  # its packages load when the command runs
            return command.run(argv[1:])
    except BreachIndexError as exc:
        return report_error(exc, as_json="--json" in argv)
    except _MissingExtra as exc:
        print(f"breachindex: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
