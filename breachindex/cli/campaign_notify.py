"""``breachindex campaign notify ...``: tell participants what happened, from a shell.

    notify new-breach --index DIR --breach NAME --page-url URL [channels]   after ``breachindex add``
    notify overdue --page-url URL [channels]         requests in ``overdue`` not yet told (SOMI escalates)
    notify preferences PARTICIPANT [--email ADDR | --no-email] [--sms on|off] [--email-messages on|off]
                       [--lang nl|en]                   what the person asked for (e.g. by phone)

Channels: ``--sms-sender module:callable`` (an ``SmsSender``; ``console`` prints, for
development) and ``--smtp-host HOST --smtp-sender ADDR [--smtp-port 587] [--smtp-username U
--smtp-password-file F] [--smtp-no-starttls]``. The index is opened with the campaign's key.
Output names participants by id and says how each channel went; never a number or an address.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..campaign.channels import Channel, SmsChannel, SmtpChannel
from ..campaign.notifications import LANGUAGES, Delivery, Notifier

if TYPE_CHECKING:
    from ..campaign import Campaign

__all__ = ["channel_args", "channels_from", "register"]


def channels_from(args: argparse.Namespace) -> list[Channel]:
    channels: list[Channel] = []
    if args.sms_sender is not None:
        from ..server.state import load_sender  # the server's loader: one way to name a gateway

        sender = load_sender(args.sms_sender)
        if sender is not None:
            channels.append(SmsChannel(sender))
    if args.smtp_host is not None:
        if args.smtp_sender is None:
            raise ValueError("--smtp-host needs --smtp-sender")
        password = None
        if args.smtp_password_file is not None:
            password = Path(args.smtp_password_file).read_text(encoding="utf-8").strip()
        channels.append(SmtpChannel(args.smtp_host, args.smtp_port, sender=args.smtp_sender,
                                    username=args.smtp_username, password=password,
                                    starttls=not args.smtp_no_starttls))
    if not channels:
        raise ValueError("give a channel: --sms-sender and/or --smtp-host")
    return channels


def _answer(deliveries: list[Delivery]) -> Any:
    from .campaign import Answer

    rows = [{"participant": d.participant, "kind": d.kind, "ref": d.ref, "channel": d.channel, "outcome": d.outcome}
            for d in deliveries]
    lines = [f"{d.participant}\t{d.kind}\t{d.channel}\t{d.outcome}" for d in deliveries]
    told = len({d.participant for d in deliveries if d.outcome == "sent"})
    lines.append(f"{told} participant(s) told")
    return Answer({"deliveries": rows, "told": told}, lines)


def _new_breach(c: Campaign, args: argparse.Namespace) -> Any:
    from ..index.reader import open_index

    notifier = Notifier(c, channels_from(args), page_url=args.page_url)
    with open_index(args.index, key=args.key) as index:
        return _answer(notifier.new_breach(index, args.breach, now=args.now))


def _overdue(c: Campaign, args: argparse.Namespace) -> Any:
    notifier = Notifier(c, channels_from(args), page_url=args.page_url)
    return _answer(notifier.request_overdue(c.requests(state="overdue"), now=args.now))


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError("on or off")
    return text == "on"


def _preferences(c: Campaign, args: argparse.Namespace) -> Any:
    from .campaign import Answer

    notifier = Notifier(c, [], page_url="https://example.invalid/")  # preferences only: no message goes out
    changes: dict[str, Any] = {}
    if args.email is not None or args.no_email:
        changes["email"] = None if args.no_email else args.email
    for name, value in (("sms", args.sms), ("email_allowed", args.email_messages), ("lang", args.lang)):
        if value is not None:
            changes[name] = value
    prefs = notifier.set_preferences(args.participant, now=args.now, **changes) if changes \
        else notifier.preferences(args.participant)
    document = {"email_given": prefs.email is not None, "sms": prefs.sms, "email_allowed": prefs.email_allowed,
                "lang": prefs.lang}
    return Answer(document, [f"{k}: {v}" for k, v in document.items()])


def channel_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--page-url", required=required, help="the check page: every message links to it")
    p.add_argument("--sms-sender", help="'module:callable' returning an SmsSender ('console': development only)")
    p.add_argument("--smtp-host")
    p.add_argument("--smtp-port", type=int, default=587)
    p.add_argument("--smtp-sender", help="the From address")
    p.add_argument("--smtp-username")
    p.add_argument("--smtp-password-file", help="a file holding the SMTP password (mode 0600)")
    p.add_argument("--smtp-no-starttls", action="store_true", help="plain SMTP (a local relay only)")


def register(group: Callable[[str, str], Any], leaf: Callable[..., Any]) -> None:
    """Add the ``notify`` group to ``breachindex campaign`` (``group``/``leaf``: its builders)."""
    notify = group("notify", "tell participants what happened (SMS, e-mail; never the data)")
    p = leaf(notify, "new-breach", _new_breach, "tell every participant whose number a breach holds (once)")
    p.add_argument("--index", required=True, help="the index folder, after breachindex add")
    p.add_argument("--breach", required=True, help="the breach's name in the index")
    channel_args(p)
    p = leaf(notify, "overdue", _overdue, "tell the participants of overdue requests that SOMI escalates (once)")
    channel_args(p)
    p = leaf(notify, "preferences", _preferences, "show or change how a participant wants to be told")
    p.add_argument("participant")
    email = p.add_mutually_exclusive_group()
    email.add_argument("--email", help="the address e-mail notifications go to")
    email.add_argument("--no-email", action="store_true", help="remove the address")
    p.add_argument("--sms", type=_on_off, metavar="on|off")
    p.add_argument("--email-messages", type=_on_off, metavar="on|off")
    p.add_argument("--lang", choices=LANGUAGES)
