"""The person's session: a signed cookie that carries the participant id after a confirmed code.

The check page never sees or sends a participant id: ``POST /v1/verification/confirm`` sets an
HttpOnly, SameSite=Strict cookie whose value is ``v1.<participant>.<issued unix seconds>.<mac>``
with an HMAC-SHA256 under a subkey of the campaign secret (``Key.subkey(b"bi.srv-session")``).
The server trusts the id only if the MAC holds and the session is younger than the check
policy's ``verified_for``; the campaign then decides, as always, what that participant may see.
With ``secure=True`` (the default; off only for plain-HTTP development and tests) the cookie is
``__Host-`` prefixed and Secure.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass

__all__ = ["SessionSigner", "Session"]

_VERSION = "v1"


@dataclass(frozen=True)
class Session:
    """A valid session: the participant id and when the session was issued (unix seconds)."""

    participant: str
    issued_at: int


class SessionSigner:
    """Issues and reads session cookies (see the module documentation)."""

    def __init__(self, key: bytes, *, max_age: float, secure: bool = True) -> None:
        if len(key) < 16:
            raise ValueError("a session key has at least 16 bytes")
        self._key = key
        self.max_age = int(max_age)
        self.secure = secure
        self.cookie_name = "__Host-bi_session" if secure else "bi_session"

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, participant: str, now: float | None = None) -> str:
        """The cookie value for ``participant`` (an ASCII id without dots)."""
        if not participant.isascii() or "." in participant or not participant:
            raise ValueError("a participant id is non-empty ASCII without dots")
        payload = f"{_VERSION}.{participant}.{int(time.time() if now is None else now)}"
        return f"{payload}.{self._mac(payload)}"

    def read(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None if absent, forged, malformed or too old."""
        if not value or len(value) > 512 or not value.isascii():
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != _VERSION or not parts[2].isdigit():
            return None
        payload, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        issued = int(parts[2])
        age = (time.time() if now is None else now) - issued
        if not -60 <= age < self.max_age:  # a minute of clock skew between workers at most
            return None
        return Session(parts[1], issued)

    def set_cookie_header(self, value: str) -> str:
        """The Set-Cookie header value that stores a session."""
        secure = "; Secure" if self.secure else ""
        return f"{self.cookie_name}={value}; Max-Age={self.max_age}; Path=/; HttpOnly; SameSite=Strict{secure}"

    def clear_cookie_header(self) -> str:
        """The Set-Cookie header value that removes the session."""
        secure = "; Secure" if self.secure else ""
        return f"{self.cookie_name}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict{secure}"
