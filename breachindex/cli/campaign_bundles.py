"""``breachindex campaign bundle ...``: evidence bundles for the lawyer, a court or the DPA.

    bundle mandate MANDATE_ID --out DIR    one mandate, its requests and batches, under one signed head
    bundle batch BATCH_ID --out DIR        every mandate a batch files
    bundle verify DIR --public-key KEY     offline: no store, no secret; KEY is hex or a PEM file
                                           (``campaign audit verifier-key`` prints the key)

``verify`` exits 0 when the bundle holds and 2 when it does not, naming the first failure.
``node scripts/verify_bundle.mjs DIR KEY`` makes the same checks without breachindex.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..campaign.bundles import build_batch_bundle, build_mandate_bundle, load_public_key, verify_bundle
from .output import EXIT_ERROR, EXIT_OK, print_json

if TYPE_CHECKING:
    from ..campaign import Campaign

__all__ = ["register", "verify_main"]


def _made(folder: Path) -> Any:
    from .campaign import Answer

    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    document = {"folder": str(folder), "files": len(data["files"]), "entries": len(data["entries"]),
                "mandates": [m["id"] for m in data["mandates"]], "tree_size": data["tree_head"]["tree_size"],
                "audit_public_key": data["audit_public_key"]}
    return Answer(document, [f"wrote {folder}: {document['files']} files, {document['entries']} log entries, "
                             f"{len(document['mandates'])} mandate(s), tree size {document['tree_size']}",
                             f"verify with: breachindex campaign bundle verify {folder} --public-key "
                             f"{data['audit_public_key']}"])


def _mandate(c: Campaign, args: argparse.Namespace) -> Any:
    return _made(build_mandate_bundle(c, args.mandate, args.out))


def _batch(c: Campaign, args: argparse.Namespace) -> Any:
    return _made(build_batch_bundle(c, args.batch, args.out))


def register(group: Callable[[str, str], Any], leaf: Callable[..., Any]) -> None:
    """Add the ``bundle`` group (``verify`` runs without a store: see ``verify_main``)."""
    bundle = group("bundle", "evidence bundles a court or the DPA checks offline with the public key")
    p = leaf(bundle, "mandate", _mandate, "write the evidence bundle of one mandate into a new folder")
    p.add_argument("mandate")
    p.add_argument("--out", required=True, help="the new folder")
    p = leaf(bundle, "batch", _batch, "write the evidence bundle of every mandate a batch files")
    p.add_argument("batch")
    p.add_argument("--out", required=True, help="the new folder")
    bundle.add_parser("verify", help="check a bundle offline (no --db, no --key): see --help")


def verify_main(argv: Sequence[str]) -> int:
    """``breachindex campaign bundle verify DIR --public-key KEY [--json]``."""
    p = argparse.ArgumentParser(prog="breachindex campaign bundle verify",
                                description="Check an evidence bundle with the foundation's public key alone.")
    p.add_argument("folder")
    p.add_argument("--public-key", required=True, help="hex, or a file holding hex or a PEM public key")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(list(argv))
    key_text = args.public_key
    if Path(key_text).is_file():
        key_text = Path(key_text).read_text(encoding="ascii")
    try:
        key = load_public_key(key_text)
    except ValueError as exc:
        print(f"breachindex campaign bundle verify: {exc}", file=sys.stderr)
        return EXIT_ERROR
    report = verify_bundle(args.folder, key)
    if args.json:
        print_json({"ok": report.ok, "problem": report.problem, "files": report.files, "entries": report.entries,
                    "mandates": report.mandates, "tree_size": report.tree_size})
    elif report.ok:
        print(f"bundle verified: {report.files} files, {report.entries} entries, {report.mandates} mandate(s), "
              f"tree size {report.tree_size}")
    else:
        print(f"bundle NOT verified: {report.problem}")
    return EXIT_OK if report.ok else EXIT_ERROR
