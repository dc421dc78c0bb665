"""``breachindex campaign vault ...``: the operator's side of the vault.

    vault store PARTICIPANT --vault DIR --controller meta [--request R] [--partial] [--name N] FILE|-
    vault list PARTICIPANT --vault DIR
    vault sweep --vault DIR [--older-than SECONDS]
    vault erase PARTICIPANT --vault DIR --yes
    vault setup PARTICIPANT --vault DIR            the person's passphrase on stdin; prints the recovery code once
    vault open PARTICIPANT ITEM --vault DIR --out FILE      passphrase on stdin; all or nothing
    vault passphrase PARTICIPANT --vault DIR       old, then new passphrase on stdin (two lines)
    vault recover PARTICIPANT --vault DIR          recovery code, then new passphrase on stdin; a new code

Passphrases and codes are read from standard input (a prompt on a terminal), never from the
command line, where other users could see them.

``store`` streams FILE (or standard input) into the participant's vault in constant memory,
encrypted to their key as it is read; with ``--page-url`` and a channel (``campaign notify``'s
options) the person is told that their data arrived. Nothing prints a name, a number or content.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from .campaign_notify import channel_args, channels_from

if TYPE_CHECKING:
    from ..campaign import Campaign
    from ..vault import Vault

__all__ = ["register"]

_PIECE = 1 << 20


def _vault(c: Campaign, args: argparse.Namespace) -> Vault:
    return c.vault(args.vault)


def _pieces(f: BinaryIO) -> Iterator[bytes]:
    while piece := f.read(_PIECE):
        yield piece


def _item(item: Any) -> dict[str, Any]:
    return {"id": item.id, "participant": item.participant, "controller": item.controller, "request": item.request,
            "partial": item.partial, "received_at": item.received_at.isoformat().replace("+00:00", "Z"),
            "size": item.size, "sha256": item.sha256}


def _store(c: Campaign, args: argparse.Namespace) -> Any:
    from .campaign import Answer

    vault = _vault(c, args)
    if args.file == "-":
        item = vault.store(args.participant, args.controller, _pieces(sys.stdin.buffer), request=args.request,
                           partial=args.partial, name=args.name, now=args.now)
    else:
        with open(args.file, "rb") as f:
            item = vault.store(args.participant, args.controller, _pieces(f), request=args.request,
                               partial=args.partial, name=args.name, now=args.now)
    told = None
    if args.page_url is not None:
        from ..campaign.notifications import Notifier

        deliveries = Notifier(c, channels_from(args), page_url=args.page_url).data_arrived(item, now=args.now)
        told = [{"channel": d.channel, "outcome": d.outcome} for d in deliveries]
    doc = {**_item(item), "notified": told}
    return Answer(doc, [f"stored {item.id}: {item.size:,} bytes for participant {item.participant} "
                        f"(sha256 of the stored file {item.sha256})"])


def _list(c: Campaign, args: argparse.Namespace) -> Any:
    from .campaign import Answer

    items = [_item(i) for i in _vault(c, args).items(args.participant)]
    return Answer({"items": items}, [f"{i['id']}\t{i['controller']}\t{i['received_at']}\t{i['size']}" for i in items])


def _sweep(c: Campaign, args: argparse.Namespace) -> Any:
    from datetime import timedelta

    from .campaign import Answer

    report = _vault(c, args).sweep(older_than=timedelta(seconds=args.older_than), now=args.now)
    doc = {"temp_removed": report.temp_removed, "orphans_removed": list(report.orphans_removed),
           "missing": list(report.missing), "unknown": report.unknown}
    return Answer(doc, [f"removed {report.temp_removed} temporary and {len(report.orphans_removed)} orphan file(s); "
                        f"{len(report.missing)} item(s) missing their file; {report.unknown} other entries"])


def _erase(c: Campaign, args: argparse.Namespace) -> Any:
    from .campaign import Answer

    if not args.yes:
        raise ValueError("erasure cannot be undone: add --yes")
    erasure = _vault(c, args).erase(args.participant, now=args.now)
    doc = {"participant": erasure.participant, "key_destroyed": erasure.key_destroyed, "items": erasure.items,
           "mandates_revoked": len(erasure.mandates_revoked), "requests_cancelled": len(erasure.requests_cancelled),
           "files_left": erasure.files_left}
    return Answer(doc, [", ".join(f"{k} {v}" for k, v in doc.items())])


def _secret_lines(count: int, prompts: tuple[str, ...]) -> list[str]:
    if sys.stdin.isatty():
        import getpass

        return [getpass.getpass(prompts[i]) for i in range(count)]
    lines = [sys.stdin.readline().rstrip("\r\n") for _ in range(count)]
    if any(not line for line in lines):
        raise ValueError(f"give {count} line(s) on standard input: {', '.join(prompts)}")
    return lines


def _setup(c: Campaign, args: argparse.Namespace) -> Any:
    from .campaign import Answer

    (passphrase,) = _secret_lines(1, ("passphrase: ",))
    code = _vault(c, args).setup(args.participant, passphrase, now=args.now)
    return Answer({"recovery_code": code}, [f"recovery code (shown once, write it down): {code}"])


def _open(c: Campaign, args: argparse.Namespace) -> Any:
    from .campaign import Answer

    (passphrase,) = _secret_lines(1, ("passphrase: ",))
    path = _vault(c, args).open_to(args.participant, passphrase, args.item, args.out)
    return Answer({"file": str(path), "size": path.stat().st_size}, [f"wrote {path}"])


def _passphrase(c: Campaign, args: argparse.Namespace) -> Any:
    from .campaign import Answer

    old, new = _secret_lines(2, ("passphrase: ", "new passphrase: "))
    _vault(c, args).change_passphrase(args.participant, old, new, now=args.now)
    return Answer({"changed": True}, ["passphrase changed"])


def _recover(c: Campaign, args: argparse.Namespace) -> Any:
    from .campaign import Answer

    code, new = _secret_lines(2, ("recovery code: ", "new passphrase: "))
    fresh = _vault(c, args).recover(args.participant, code, new, now=args.now)
    return Answer({"recovery_code": fresh}, [f"new recovery code (shown once, write it down): {fresh}"])


def register(group: Callable[[str, str], Any], leaf: Callable[..., Any]) -> None:
    """Add the ``vault`` group to ``breachindex campaign``."""
    vault = group("vault", "the vault: store what a controller sent, list, sweep, erase (GDPR Art. 17)")

    def folder(p: argparse.ArgumentParser) -> None:
        p.add_argument("--vault", required=True, metavar="DIR", help="the vault folder (serve --vault)")

    p = leaf(vault, "store", _store, "stream a controller's answer into a participant's vault")
    p.add_argument("participant")
    p.add_argument("file", help="the answer's file, or - for standard input")
    p.add_argument("--controller", required=True)
    p.add_argument("--request", help="the request it answers: moves to fulfilled (partially_fulfilled with --partial)")
    p.add_argument("--partial", action="store_true")
    p.add_argument("--name", help="the original file name (kept sealed to the participant's key)")
    folder(p)
    channel_args(p, required=False)
    p = leaf(vault, "list", _list, "a participant's items")
    p.add_argument("participant")
    folder(p)
    p = leaf(vault, "sweep", _sweep, "remove what interrupted stores and erasures left")
    p.add_argument("--older-than", type=float, default=3600.0, metavar="SECONDS")
    folder(p)
    p = leaf(vault, "erase", _erase, "erase a participant: vault key and items, mandates revoked, number wiped")
    p.add_argument("participant")
    p.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    folder(p)
    p = leaf(vault, "setup", _setup, "the person: set the vault up (passphrase on stdin); prints the recovery code")
    p.add_argument("participant")
    folder(p)
    p = leaf(vault, "open", _open, "the person: write an item's plaintext to a file (passphrase on stdin)")
    p.add_argument("participant")
    p.add_argument("item")
    p.add_argument("--out", required=True, help="the file to write (must not exist)")
    folder(p)
    p = leaf(vault, "passphrase", _passphrase, "the person: change the passphrase (old and new on stdin)")
    p.add_argument("participant")
    folder(p)
    p = leaf(vault, "recover", _recover, "the person: recovery code and a new passphrase on stdin; a new code")
    p.add_argument("participant")
    folder(p)
