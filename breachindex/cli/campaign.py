"""``breachindex campaign ...``: every step of the campaign workflow from a shell.

::

    breachindex campaign verification start|confirm|unlock
    breachindex campaign identity record|status
    breachindex campaign mandate sign|revoke|list|show
    breachindex campaign batch prepare|export|show
    breachindex campaign requests list|due|overdue|transition|summary
    breachindex campaign notices list|sent
    breachindex campaign audit verify|checkpoint|verifier-key
    breachindex campaign migrate --from STORE --to STORE --key KEYFILE   (SQLite <-> PostgreSQL)
    breachindex campaign grant-app-role --db postgresql://OWNER@... --role ROLE

Every command takes ``--db STORE`` (the campaign SQLite file, a ``sqlite:///`` or a
``postgresql://`` URL), ``--key
KEYFILE`` (the secret), ``--now ISO8601`` (a timezone-aware time, for scripts and tests;
default: the clock) and ``--json`` (one JSON document on stdout, errors as JSON on stderr with a
stable ``code``). Exit codes: 0 done, 1 a clean "no" (``audit verify``: the log is not proved
intact, because it was tampered with or because no head kept elsewhere vouches for it;
``audit checkpoint``: the log is not intact, so nothing was signed), 2 an error (its ``code`` is
stable: see ``breachindex.cli.output.ERROR_CODES``).

The audit commands take ``--origin`` (the log's name in its checkpoint notes, when the
application sets ``Campaign(audit_origin=...)``). ``audit checkpoint --out DIR`` keeps the signed
checkpoint note in DIR (``checkpoint-<size>.note``, never overwritten); ``audit verify --heads
DIR`` checks the log against every head kept there (``*.note`` checkpoint notes, ``*.json`` tree
heads and batch manifests).

Nothing is printed with a phone number, a one-time code or a name. The one exception is
``verification start --sender console``: for development, the console sender prints the SMS
(the code, the number masked) to stderr. Numbers and codes can be given as ``-`` to read them
from stdin, which keeps them out of the process list and the shell history.
"""
from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..campaign import (
    CONSENTS,
    IDENTITY_STATUSES,
    REQUEST_STATES,
    SCOPES,
    AuditReport,
    Campaign,
    ConsoleSender,
    Mandate,
    RequestRecord,
    TreeHead,
)
from ..campaign.audit import Head as KeptHead
from ..campaign.checkpoints import NoteError, parse_checkpoint
from ..campaign.clock import utc_now
from ..campaign.controllers import lookup_controller
from ..campaign.store import is_postgresql_url, sqlite_path
from ..campaign.templates import CURRENT_VERSION
from ..errors import BreachIndexError, CampaignStoreError
from .campaign_bundles import register as register_bundles
from .campaign_bundles import verify_main as verify_bundle_main
from .campaign_letters import register as register_letters
from .campaign_migrate import grant_main
from .campaign_migrate import main as migrate_main
from .campaign_notify import register as register_notify
from .campaign_vault import register as register_vault
from .output import (
    EXIT_ERROR,
    EXIT_NO,
    EXIT_OK,
    JsonArgumentParser,
    UsageError,
    jsonable,
    print_json,
    report_error,
)

__all__ = ["Answer", "build_parser", "main"]

#: states in which a request waits on the controller (``due`` lists them with their deadlines)
AWAITING_ANSWER = ("sent", "extended", "needs_input")


@dataclass(frozen=True)
class Answer:
    """What a command found: the JSON ``document``, the ``lines`` people read, its exit code."""

    document: Any
    lines: list[str] = field(default_factory=list)
    status: int = EXIT_OK


class DiscardingSender:
    """``--sender none``: the code goes nowhere (a dry run of the limits; nothing to confirm)."""

    def send(self, e164: str, text: str) -> None:
        return None


Handler = Callable[[Campaign, argparse.Namespace], Answer]


# ---- argument types ---------------------------------------------------------------------------

def aware_datetime(text: str) -> datetime:
    """``--now``: ISO 8601 with a time zone (``Z`` or ``+01:00``); naive times are refused."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 time (e.g. 2025-03-03T09:00:00Z)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError("give a time zone (Z or +01:00): naive times are refused")
    return moment


def calendar_date(text: str) -> date:
    """``--on``, ``--filing-date``: an ISO date (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO date (YYYY-MM-DD)") from None


def _days(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError("a number of days (0 or more)")
    return int(text)


def _secret_input(value: str | None, what: str) -> str:
    """A value typed on the command line, or (``-`` / missing) read from stdin: a prompt
    without echo on a terminal, else the first line."""
    if value not in (None, "-"):
        return str(value)
    if sys.stdin.isatty():
        return getpass.getpass(f"{what}: ")
    line = sys.stdin.readline().strip()
    if not line:
        raise UsageError(f"no {what} given (as an argument, or a line on stdin)")
    return line


# ---- small views (never a number or a name) -----------------------------------------------------

def _today(args: argparse.Namespace) -> date:
    now: datetime = args.now if args.now is not None else utc_now()
    return now.astimezone(timezone.utc).date()


def _mandate_view(mandate: Mandate, args: argparse.Namespace) -> dict[str, Any]:
    view: dict[str, Any] = jsonable(mandate)
    view["status"] = mandate.status(args.now if args.now is not None else utc_now())
    return view


def _request_line(r: RequestRecord) -> str:
    return "\t".join((r.id, r.controller, r.scope, r.state, str(r.received_on or "-"), str(r.due_on or "-")))


def _requests_answer(records: Sequence[RequestRecord], **extra: Any) -> Answer:
    return Answer({"requests": jsonable(list(records)), "count": len(records), **extra},
                  [_request_line(r) for r in records])


# ---- verification and identity ------------------------------------------------------------------

def _verification_start(c: Campaign, args: argparse.Namespace) -> Answer:
    number = _secret_input(args.number, "phone number")
    challenge = c.start_verification(number, args.region, ip=args.ip, now=args.now)
    return Answer({"challenge": challenge.id, "expires_at": jsonable(challenge.expires_at),
                   "sender": args.sender}, [challenge.id])


def _verification_confirm(c: Campaign, args: argparse.Namespace) -> Answer:
    code = _secret_input(args.code, "code")
    verification = c.confirm_verification(args.challenge, code, ip=args.ip, now=args.now)
    return Answer({"participant": verification.participant, "verified_at": jsonable(verification.verified_at)},
                  [verification.participant])


def _verification_unlock(c: Campaign, args: argparse.Namespace) -> Answer:
    number = _secret_input(args.number, "phone number")
    unlocked = c.unlock(number, args.region, now=args.now)
    return Answer({"unlocked": unlocked}, ["unlocked" if unlocked else "nothing to unlock"])


def _identity_record(c: Campaign, args: argparse.Namespace) -> Answer:
    check = c.record_identity_check(args.participant, provider=args.provider, reference=args.reference,
                                    status=args.status, confirmed_name=args.confirmed_name, now=args.now)
    return Answer(jsonable(check), [f"{check.status} ({check.provider} {check.reference})"])


def _identity_status(c: Campaign, args: argparse.Namespace) -> Answer:
    check = c.identity_status(args.participant)
    if check is None:
        return Answer({"identity_check": None}, ["no ID check recorded"])
    return Answer({"identity_check": jsonable(check)}, [f"{check.status} ({check.provider} {check.reference})"])


# ---- mandates -----------------------------------------------------------------------------------

def _mandate_sign(c: Campaign, args: argparse.Namespace) -> Answer:
    # the exact bytes of the file: the stored SHA-256 is then the file's own
    text = Path(args.text_file).read_bytes().decode("utf-8")
    mandate = c.sign_mandate(args.participant, controller=args.controller, scopes=args.scope,
                             template_version=args.template_version, text=text,
                             evidence={"ip": args.ip, "user_agent": args.user_agent, "consents": args.consent},
                             signer_name=args.signer_name, now=args.now)
    return Answer(_mandate_view(mandate, args), [mandate.id])


def _mandate_revoke(c: Campaign, args: argparse.Namespace) -> Answer:
    mandate = c.revoke_mandate(args.mandate, reason=args.reason, now=args.now)
    cancelled = [r for r in c.requests(participant=mandate.participant, now=args.now)
                 if r.mandate == mandate.id and r.state == "cancelled"]
    view = _mandate_view(mandate, args)
    view["cancelled_requests"] = jsonable(cancelled)
    return Answer(view, [f"{mandate.id} revoked; {len(cancelled)} request(s) cancelled"])


def _mandate_clear_review(c: Campaign, args: argparse.Namespace) -> Answer:
    mandate = c.clear_mandate_review(args.mandate, note=args.note, now=args.now)
    return Answer(_mandate_view(mandate, args), [f"{mandate.id} cleared: it may be filed"])


def _mandate_list(c: Campaign, args: argparse.Namespace) -> Answer:
    if args.participant is None:
        participant = c.participant_id(_secret_input(args.number, "phone number"), args.region)
    else:
        participant = args.participant
    mandates = [_mandate_view(m, args) for m in c.mandates(participant)]
    return Answer({"participant": participant, "mandates": mandates},
                  ["\t".join((m["id"], m["controller"], m["status"], m["signed_at"], m["ends_at"])) for m in mandates])


def _mandate_text(c: Campaign, args: argparse.Namespace) -> Answer:
    # the exact bytes a mandate is signed on, for `mandate sign --text-file`; never over a file
    template = c.templates.get(args.template_version)
    if template is None:
        raise ValueError("no published mandate text has that template version")
    text = template.render(args.lang, lookup_controller(c.controllers, args.controller))
    if text is None:
        raise ValueError("that template has no text in that language")
    with open(args.out, "xb") as f:
        f.write(text.encode("utf-8"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Answer({"template_version": template.version, "lang": args.lang, "controller": args.controller,
                   "scopes": list(template.scopes), "consents": list(template.consents), "text_sha256": digest,
                   "file": args.out}, [f"{digest}  {args.out}"])


def _mandate_show(c: Campaign, args: argparse.Namespace) -> Answer:
    view = _mandate_view(c.mandate(args.mandate), args)
    return Answer(view, [f"{k}: {v}" for k, v in sorted(view.items())])


# ---- batches ------------------------------------------------------------------------------------

def _batch_prepare(c: Campaign, args: argparse.Namespace) -> Answer:
    batch = c.prepare_batch(args.controller, filing_date=args.filing_date, scope=args.scope, now=args.now)
    return Answer(jsonable(batch), [batch.id])


def _batch_export(c: Campaign, args: argparse.Namespace) -> Answer:
    export = c.export_batch(args.batch, args.out, now=args.now)
    manifest = export.path / "manifest.json"
    return Answer({"batch": export.batch, "path": str(export.path), "manifest": str(manifest),
                   "requests": export.requests, "files": dict(export.files),
                   "tree_head": jsonable(export.tree_head)}, [str(manifest)])


def _batch_show(c: Campaign, args: argparse.Namespace) -> Answer:
    batch = c.batch(args.batch)
    view = jsonable(batch)
    return Answer(view, [f"{k}: {v}" for k, v in sorted(view.items())])


# ---- requests and notices -----------------------------------------------------------------------

def _requests_list(c: Campaign, args: argparse.Namespace) -> Answer:
    return _requests_answer(c.requests(batch=args.batch, participant=args.participant, controller=args.controller,
                                       state=args.state, now=args.now))


def _requests_due(c: Campaign, args: argparse.Namespace) -> Answer:
    today = _today(args)
    horizon = None if args.within is None else today + timedelta(days=args.within)
    waiting = [r for r in c.requests(controller=args.controller, now=args.now)
               if r.state in AWAITING_ANSWER and r.due_on is not None and (horizon is None or r.due_on <= horizon)]
    waiting.sort(key=lambda r: (r.due_on or today, r.id))
    views = [{**jsonable(r), "days_left": ((r.due_on or today) - today).days} for r in waiting]
    return Answer({"requests": views, "count": len(views), "today": today.isoformat()},
                  [f"{_request_line(r)}\t{v['days_left']}" for r, v in zip(waiting, views, strict=True)])


def _requests_overdue(c: Campaign, args: argparse.Namespace) -> Answer:
    today = _today(args)
    records = c.mark_overdue(today, now=args.now) if args.mark else c.overdue(today)
    records = [r for r in records if args.controller is None or r.controller == args.controller]
    return _requests_answer(records, today=today.isoformat(), marked=args.mark)


def _requests_transition(c: Campaign, args: argparse.Namespace) -> Answer:
    record = c.transition_request(args.request, args.state, now=args.now, on=args.on, note=args.note)
    return Answer(jsonable(record), [_request_line(record)])


def _requests_summary(c: Campaign, args: argparse.Namespace) -> Answer:
    counts = c.request_summary(args.controller)
    return Answer({"controller": args.controller, "states": counts},
                  [f"{state}\t{n}" for state, n in counts.items()])


def _notices_list(c: Campaign, args: argparse.Namespace) -> Answer:
    records = c.pending_notices(args.controller, now=args.now)
    return Answer({"requests": jsonable(records), "count": len(records)},
                  ["\t".join((r.id, r.controller, str(r.notice))) for r in records])


def _notices_sent(c: Campaign, args: argparse.Namespace) -> Answer:
    record = c.mark_notice_sent(args.request, now=args.now)
    return Answer(jsonable(record), [_request_line(record)])


# ---- the audit log ------------------------------------------------------------------------------

#: the files ``--heads DIR`` reads: checkpoint notes, and tree heads or batch manifests as JSON
NOTE_SUFFIX, JSON_SUFFIX = ".note", ".json"


def _load_head(path: str | Path) -> KeptHead:
    """A head kept elsewhere: a checkpoint note, a batch manifest (its ``audit_log`` section) or
    a tree head's own JSON. ValueError (naming the file, never its content) if it is none."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix != JSON_SUFFIX and not data.lstrip().startswith(b"{"):
        try:
            return parse_checkpoint(data)
        except NoteError as exc:
            raise NoteError(exc.reason, f"{path}: {exc}", file=str(path)) from None
    try:
        document = json.loads(data)
        if isinstance(document, dict) and isinstance(document.get("audit_log"), dict):
            document = document["audit_log"]
        if not isinstance(document, dict):
            raise ValueError("not an object")
        return TreeHead.from_json(document)
    except ValueError:
        raise ValueError(f"{path}: not a checkpoint note, a batch manifest or a tree head as JSON") from None


def _kept_heads(folder: str | Path) -> tuple[list[tuple[Path, KeptHead]], list[Path]]:
    """Every head kept in ``folder`` (``*.note``, ``*.json``; not its subfolders, not hidden
    files), by name, and the other files, which are listed so that none is skipped unseen."""
    found: list[tuple[Path, KeptHead]] = []
    skipped: list[Path] = []
    for path in sorted(Path(folder).iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix in (NOTE_SUFFIX, JSON_SUFFIX):
            found.append((path, _load_head(path)))
        else:
            skipped.append(path)
    return found, skipped


def _heads_of(args: argparse.Namespace) -> tuple[list[tuple[Path, KeptHead]], list[Path]]:
    heads = [(Path(p), _load_head(p)) for p in args.head]
    skipped: list[Path] = []
    for folder in args.heads:
        found, other = _kept_heads(folder)
        heads += found
        skipped += other
    return heads, skipped


def _report_lines(report: AuditReport, files: Sequence[Path]) -> list[str]:
    if report.ok:
        return [f"ok: {report.claim}"]
    if not report.consistent:
        where = "" if report.first_bad is None else f"entry {report.first_bad}: "
        return [f"NOT INTACT: {where}{report.problem}"]
    if report.bad_head is not None and report.bad_head < len(files):
        return [f"NOT PROVED: {files[report.bad_head]}: {report.problem}"]
    return [f"NOT PROVED: {report.problem}"]


def _audit_verify(c: Campaign, args: argparse.Namespace) -> Answer:
    heads, skipped = _heads_of(args)
    report = c.verify_audit_log(heads=[head for _, head in heads])
    document = {**jsonable(report), "origin": c.audit_origin, "head_files": [str(p) for p, _ in heads],
                "skipped_files": [str(p) for p in skipped]}
    return Answer(document, _report_lines(report, [p for p, _ in heads]), EXIT_OK if report.ok else EXIT_NO)


def _keep_note(folder: Path, tree_size: int, note: str) -> tuple[Path, bool]:
    """Write ``note`` into ``folder`` as ``checkpoint-<size>.note`` and return (path, written)
    (the size unpadded: error messages blank out runs of seven digits, a phone number maybe).

    Never overwrites: the same note already there is left as it is (written False); another
    one of that size (another key, after a rotation) goes to ``checkpoint-<size>-2.note``, and
    so on. The file appears whole or not at all (a hidden temporary file, fsynced, then linked
    to its name, which fails if the name was taken meanwhile)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = note.encode("utf-8")
    stem = f"checkpoint-{tree_size}"
    for n in range(1, 1000):
        target = folder / (f"{stem}{NOTE_SUFFIX}" if n == 1 else f"{stem}-{n}{NOTE_SUFFIX}")
        if target.exists():
            if target.read_bytes() == data:
                return target, False
            continue
        temporary = folder / f".{target.name}.{secrets.token_hex(8)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temporary, target)
            except FileExistsError:
                if target.read_bytes() == data:
                    return target, False
                continue
        finally:
            temporary.unlink(missing_ok=True)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return target, True
    raise OSError(f"{folder}: too many different checkpoint notes of {tree_size} entries")


def _audit_checkpoint(c: Campaign, args: argparse.Namespace) -> Answer:
    # check first: a log must never sign a head that contradicts one it signed before
    kept = [] if args.out is None or not Path(args.out).is_dir() else _kept_heads(args.out)[0]
    heads = [head for _, head in kept]
    report = c.verify_audit_log(heads=heads)
    if not report.consistent:
        return Answer({**jsonable(report), "signed": False}, _report_lines(report, [p for p, _ in kept]), EXIT_NO)
    head = c.checkpoint_audit_log(now=args.now)
    note = c.audit_checkpoint_note(heads=heads)
    view = {**head.to_json(), "public_key_pem": c.audit_public_key_pem, "origin": c.audit_origin,
            "verifier_key": c.audit_verifier_key, "note": note, "signed": True}
    lines = [f"{head.tree_size} entries, root {head.root_hash.hex()}"]
    if args.out is not None:
        path, written = _keep_note(Path(args.out), parse_checkpoint(note).tree_size, note)
        view.update(note_file=str(path), note_written=written)
        lines.append(str(path))
    return Answer(view, lines)


def _audit_verifier_key(c: Campaign, args: argparse.Namespace) -> Answer:
    return Answer({"verifier_key": c.audit_verifier_key, "origin": c.audit_origin,
                   "public_key": c.audit_public_key.hex()}, [c.audit_verifier_key])


# ---- the parser ---------------------------------------------------------------------------------

def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", required=True,
                        help="the campaign store: a SQLite file, sqlite:///path or postgresql://... URL")
    common.add_argument("--key", required=True, help="the secret key file (breachindex keygen)")
    common.add_argument("--now", type=aware_datetime, help="the time to act at, ISO 8601 with a zone (scripts, tests)")
    common.add_argument("--json", action="store_true", help="one JSON document on stdout; errors as JSON on stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = JsonArgumentParser(prog="breachindex campaign", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    common = _common()

    def group(name: str, text: str) -> Any:
        return groups.add_parser(name, help=text, description=text).add_subparsers(
            dest="action", required=True, metavar="ACTION")

    def leaf(actions: Any, name: str, handler: Handler, text: str, *, creates: bool = False) -> Any:
        p = actions.add_parser(name, help=text, description=text, parents=[common])
        p.set_defaults(handler=handler, creates=creates)
        return p

    def number_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("number", help="the phone number, or - to read it from stdin (keeps it out of the process list)")
        p.add_argument("--region", help="default region for national formats, e.g. NL")

    verification = group("verification", "send and confirm one-time codes")
    p = leaf(verification, "start", _verification_start, "send a code to a number; prints the challenge id",
             creates=True)
    number_args(p)
    p.add_argument("--sender", required=True, choices=["console", "none"],
                   help="console: print the SMS (with the code) to stderr, for development only; none: send nothing")
    p.add_argument("--ip", help="the client's IP address (per-IP limits)")
    p = leaf(verification, "confirm", _verification_confirm, "confirm a challenge; prints the participant id")
    p.add_argument("challenge")
    p.add_argument("code", nargs="?", help="the code; omitted or - reads it from stdin (a prompt on a terminal)")
    p.add_argument("--ip", help="the client's IP address (per-IP failure limits)")
    p = leaf(verification, "unlock", _verification_unlock, "operator: clear a number's failures and lock")
    number_args(p)

    identity = group("identity", "the ID-document check")
    p = leaf(identity, "record", _identity_record, "record an ID check's outcome by hand (operator)")
    p.add_argument("participant")
    p.add_argument("--provider", required=True)
    p.add_argument("--reference", required=True, help="the provider's case reference")
    p.add_argument("--status", required=True, choices=sorted(IDENTITY_STATUSES))
    p.add_argument("--confirmed-name", help="the name the provider read from the document (stored sealed)")
    p = leaf(identity, "status", _identity_status, "the latest ID check of a participant")
    p.add_argument("participant")

    mandate = group("mandate", "sign, revoke and list mandates")
    p = leaf(mandate, "sign", _mandate_sign, "record a signed mandate; prints its id")
    p.add_argument("participant")
    p.add_argument("--controller", required=True, help="a key of the controller registry, e.g. meta")
    p.add_argument("--scope", required=True, action="append", choices=sorted(SCOPES), metavar="SCOPE",
                   help=f"repeatable: {', '.join(SCOPES)}")
    p.add_argument("--consent", required=True, action="append", choices=sorted(CONSENTS), metavar="CONSENT",
                   help=f"repeatable: {', '.join(CONSENTS)}")
    p.add_argument("--template-version", required=True)
    p.add_argument("--text-file", required=True, help="the exact text shown (UTF-8); its SHA-256 is stored")
    p.add_argument("--ip", required=True, help="the signer's IP address")
    p.add_argument("--user-agent", required=True)
    p.add_argument("--signer-name", help="the name as typed (default: the name the ID check confirmed)")
    p = leaf(mandate, "revoke", _mandate_revoke, "revoke a mandate; its open requests are cancelled")
    p.add_argument("mandate")
    p.add_argument("--reason", required=True, help="free text, stored sealed")
    p = leaf(mandate, "clear-review", _mandate_clear_review,
             "let a mandate held for signer_name_mismatch be filed, after looking at it (logged)")
    p.add_argument("mandate")
    p.add_argument("--note", required=True, help="why it is fine (free text, stored sealed)")
    p = leaf(mandate, "list", _mandate_list, "a participant's mandates, oldest first")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--participant")
    who.add_argument("--number", help="the phone number instead of the participant id (- reads stdin)")
    p.add_argument("--region", help="default region for a national --number")
    p = leaf(mandate, "text", _mandate_text, "write a published mandate text, exactly as it is signed, to a new file")
    p.add_argument("--controller", required=True)
    p.add_argument("--lang", required=True, help="a language of the template, e.g. nl or en")
    p.add_argument("--template-version", default=CURRENT_VERSION, help=f"default {CURRENT_VERSION}")
    p.add_argument("--out", required=True, help="the new file (never overwritten)")
    p = leaf(mandate, "show", _mandate_show, "one mandate (no personal data)")
    p.add_argument("mandate")

    batch = group("batch", "the collective request: prepare and export batches")
    p = leaf(batch, "prepare", _batch_prepare, "one draft request per active mandate; prints the batch id")
    p.add_argument("controller")
    p.add_argument("--filing-date", required=True, type=calendar_date)
    p.add_argument("--scope", default="gdpr_access_art15", choices=sorted(SCOPES), metavar="SCOPE",
                   help=f"one of {', '.join(SCOPES)} (default: gdpr_access_art15)")
    p = leaf(batch, "export", _batch_export, "write the batch into a new folder; prints the manifest path")
    p.add_argument("batch")
    p.add_argument("out", help="a new folder (never overwritten)")
    p = leaf(batch, "show", _batch_show, "one batch")
    p.add_argument("batch")

    requests = group("requests", "requests to controllers: states and deadlines")
    p = leaf(requests, "list", _requests_list, "requests matching every filter given")
    for name in ("--batch", "--participant", "--controller"):
        p.add_argument(name)
    p.add_argument("--state", choices=REQUEST_STATES)
    p = leaf(requests, "due", _requests_due, "requests awaiting an answer, soonest deadline first")
    p.add_argument("--within", type=_days, metavar="DAYS", help="only those due within DAYS days")
    p.add_argument("--controller")
    p = leaf(requests, "overdue", _requests_overdue, "requests whose deadline has passed")
    p.add_argument("--mark", action="store_true", help="also move them to the overdue state (logged)")
    p.add_argument("--controller")
    p = leaf(requests, "transition", _requests_transition, "move a request to another state")
    p.add_argument("request")
    p.add_argument("state", choices=REQUEST_STATES)
    p.add_argument("--on", type=calendar_date, help="the day it happened (default: the UTC date of --now)")
    p.add_argument("--note", help="free text, stored sealed")
    p = leaf(requests, "summary", _requests_summary, "how many requests are in each state")
    p.add_argument("--controller")

    notices = group("notices", "revocations SOMI must still pass on")
    p = leaf(notices, "list", _notices_list, "cancelled requests whose notice is not yet sent")
    p.add_argument("--controller")
    p = leaf(notices, "sent", _notices_sent, "record that a request's notice was passed on")
    p.add_argument("request")

    audit = group("audit", "the tamper-evident audit log")

    def origin_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--origin", help="the log's name in its checkpoint notes, if the application sets one "
                                        "(default: somi.nl/breachindex/audit/<key id prefix>)")

    p = leaf(audit, "verify", _audit_verify, "check the log against heads kept elsewhere: exit 0 proved intact, "
                                             "1 tampered with (naming the entry) or not provable without such a head")
    p.add_argument("--head", action="append", default=[], metavar="FILE",
                   help="a head kept elsewhere: a checkpoint note, a batch manifest.json or a head's JSON "
                        "(repeatable)")
    p.add_argument("--heads", action="append", default=[], metavar="DIR",
                   help="a folder of heads kept elsewhere: every *.note and *.json in it (repeatable)")
    origin_arg(p)
    p = leaf(audit, "checkpoint", _audit_checkpoint, "sign the log's current root (unless the log is not intact: "
                                                     "exit 1); prints the tree head")
    p.add_argument("--out", metavar="DIR", help="also keep the signed checkpoint note in DIR (created if needed; "
                                                "checked against the heads already there first)")
    origin_arg(p)
    p = leaf(audit, "verifier-key", _audit_verifier_key, "print the verifier key (vkey) of the checkpoint notes")
    origin_arg(p)
    register_notify(group, leaf)
    register_bundles(group, leaf)
    register_letters(group, leaf)
    register_vault(group, leaf)
    return parser


# ---- running ------------------------------------------------------------------------------------

def _open_campaign(args: argparse.Namespace) -> Campaign:
    sender = ConsoleSender() if getattr(args, "sender", None) == "console" else DiscardingSender()
    if not args.creates and not is_postgresql_url(args.db) and not Path(sqlite_path(args.db)).exists():
        # opening creates the file: only the first step of the workflow may do that
        raise CampaignStoreError("there is no campaign store at that path (verification start creates it)")
    return Campaign(args.db, secret=args.key, sender=sender, audit_origin=getattr(args, "origin", None))


def main(argv: Sequence[str]) -> int:
    """Run ``breachindex campaign ARGV...``; returns the exit code (0, 1 or 2)."""
    as_json = "--json" in argv
    if list(argv[:2]) == ["bundle", "verify"] and "-h" not in argv[2:3]:
        return verify_bundle_main(argv[2:])  # offline: no store, no secret
    if list(argv[:1]) == ["migrate"]:
        return migrate_main(argv[1:])  # two stores, not one
    if list(argv[:1]) == ["grant-app-role"]:
        return grant_main(argv[1:])  # the owner's work: no secret
    try:
        args = build_parser().parse_args(list(argv))
        as_json = bool(args.json)
        with _open_campaign(args) as campaign:
            answer: Answer = args.handler(campaign, args)
    except (BreachIndexError, UsageError, OSError, LookupError, ValueError) as exc:
        return report_error(exc, as_json=as_json)
    if as_json:
        print_json(answer.document)
    else:
        for line in answer.lines:
            print(line)
    return answer.status if answer.status in (EXIT_OK, EXIT_NO) else EXIT_ERROR
