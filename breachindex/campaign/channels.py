"""The ways a participant is told something: by SMS (the campaign's ``SmsSender``) or by e-mail
(SMTP). A channel gets the address and the text; what is said, to whom and whether at all is
``notifications``' business. A channel raises ``NotificationFailed`` when the message did not go.

Every message is short and says only that something happened and where to look: never the
data itself, never the number (``notifications`` builds the texts).
"""
from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from ..errors import NotificationFailed, SmsSendFailed
from .sms import SmsSender

__all__ = ["Channel", "SmsChannel", "SmtpChannel", "RecordingChannel", "Message"]


@dataclass(frozen=True)
class Message:
    """What a channel sends: ``subject`` (e-mail only) and ``body``."""

    subject: str
    body: str = field(repr=False)


class Channel(Protocol):
    """Sends one message to one address (a number in E.164 for SMS, an e-mail address)."""

    name: str

    def send(self, address: str, message: Message) -> None: ...


class SmsChannel:
    """Messages by SMS through the campaign's sender (the body only)."""

    name = "sms"

    def __init__(self, sender: SmsSender) -> None:
        self._sender = sender

    def send(self, address: str, message: Message) -> None:
        try:
            self._sender.send(address, message.body)
        except SmsSendFailed as exc:
            raise NotificationFailed("sms", str(exc)) from None


class SmtpChannel:
    """Messages by e-mail through an SMTP server. ``starttls``: upgrade the connection before
    logging in (required whenever ``username`` is given, unless ``ssl_on_connect``)."""

    name = "email"

    def __init__(self, host: str, port: int = 587, *, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = True, ssl_on_connect: bool = False,
                 timeout: float = 20.0, context: ssl.SSLContext | None = None) -> None:
        if username is not None and not (starttls or ssl_on_connect):
            raise ValueError("an SMTP login needs an encrypted connection (starttls or ssl_on_connect)")
        if "@" not in sender:
            raise ValueError("the sender must be an e-mail address")
        self.host, self.port, self.sender = host, port, sender
        self._username, self._password = username, password
        self._starttls, self._ssl = starttls, ssl_on_connect
        self._timeout = timeout
        self._context = context

    def __repr__(self) -> str:  # never the password
        return f"SmtpChannel({self.host!r}, {self.port}, sender={self.sender!r})"

    def send(self, address: str, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=self.sender.rsplit("@", 1)[1])
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies back
        mail.set_content(message.body)
        try:
            if self._ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self._timeout,
                                                        context=self._context or ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self._timeout)
            with client:
                if self._starttls and not self._ssl:
                    client.starttls(context=self._context or ssl.create_default_context())
                if self._username is not None:
                    client.login(self._username, self._password or "")
                client.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            # the server's answer can quote the address: only the error's type goes on
            raise NotificationFailed("email", f"the SMTP server did not take the message ({type(exc).__name__})") \
                from None


class RecordingChannel:
    """Keeps what it is given (tests and demos); ``fail`` makes every send fail."""

    def __init__(self, name: str = "sms", *, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.sent: list[tuple[str, Message]] = []

    def send(self, address: str, message: Message) -> None:
        if self.fail:
            raise NotificationFailed(self.name, "the recording channel was told to fail")
        self.sent.append((address, message))
