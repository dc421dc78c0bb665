"""How a code reaches a phone: the ``SmsSender`` protocol and two senders that ship with it.

A real SMS gateway plugs in behind the same one-method protocol: ``send(e164, text)``, raising
any exception when the gateway refuses (the campaign withdraws the code and raises
``SmsSendFailed``). The gateway sees the number and the code; nothing else does.

* ``ConsoleSender`` prints the message to stderr, for development: the one place where a code
  is shown (the number is masked). Never use it in production.
* ``RecordingSender`` keeps the messages in memory, for tests.
"""
from __future__ import annotations

import re
import sys
import threading
from dataclasses import dataclass
from typing import Protocol, TextIO, runtime_checkable

__all__ = [
    "SmsSender",
    "ConsoleSender",
    "RecordingSender",
    "SentMessage",
    "DEFAULT_MESSAGE",
    "render_message",
    "mask_number",
]

#: the default text, Dutch then English; ``{code}`` and ``{minutes}`` are filled in
DEFAULT_MESSAGE = ("SOMI: je code is {code} (geldig {minutes} min, deel hem met niemand). "
                   "Your code is {code} (valid {minutes} min, share it with no one).")


@runtime_checkable
class SmsSender(Protocol):
    """Sends one text message to a number in E.164 form."""

    def send(self, e164: str, text: str) -> None: ...


def render_message(template: str, code: str, minutes: int) -> str:
    """The message text; the template must contain ``{code}``."""
    if "{code}" not in template:
        raise ValueError("the message template must contain {code}")
    return template.format(code=code, minutes=minutes)


def mask_number(e164: str) -> str:
    """The number with all but its calling-code digits and last two digits hidden."""
    if len(e164) <= 6:
        return "+" + "*" * (len(e164) - 1)
    return e164[:3] + "*" * (len(e164) - 5) + e164[-2:]


class ConsoleSender:
    """Development only: prints each message (with its code) to stderr, the number masked."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, e164: str, text: str) -> None:
        stream = self._stream if self._stream is not None else sys.stderr
        print(f"[breachindex SMS to {mask_number(e164)}] {text}", file=stream, flush=True)

    def __repr__(self) -> str:
        return "ConsoleSender()"


@dataclass(frozen=True)
class SentMessage:
    """A message a RecordingSender received. ``repr`` hides both number and text."""

    to: str
    text: str

    def __repr__(self) -> str:
        return "SentMessage(to=..., text=...)"


_CODE = re.compile(r"(?<!\d)\d{6,10}(?!\d)")


class RecordingSender:
    """For tests: keeps every message; ``fail_with`` makes the next sends raise it."""

    def __init__(self) -> None:
        self.messages: list[SentMessage] = []
        self.fail_with: BaseException | None = None
        self._lock = threading.Lock()

    def send(self, e164: str, text: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.messages.append(SentMessage(e164, text))

    def codes(self, to: str | None = None) -> list[str]:
        """The codes sent (to one number, or to all), oldest first."""
        return [m[0] for m in (_CODE.findall(msg.text) for msg in self.messages if to is None or msg.to == to)
                if m]

    def last_code(self, to: str | None = None) -> str:
        """The code of the latest message (to one number, or to any); LookupError if none."""
        for msg in reversed(self.messages):  # newest first: a long run's sender holds many
            if to is None or msg.to == to:
                found = _CODE.findall(msg.text)
                if found:
                    return str(found[0])
        raise LookupError("no code was sent")

    def __repr__(self) -> str:
        return f"RecordingSender({len(self.messages)} messages)"
