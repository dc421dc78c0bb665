"""What the command line prints for scripts: one JSON document on stdout, errors as JSON on stderr.

Exit codes follow grep: 0 yes / done, 1 a clean "no" (not found, the audit log is not intact),
2 an error. An error's ``code`` is stable (``ERROR_CODES``), so a script can branch on it; the
message is for people and may change. Nothing printed here contains a phone number or a code:
the library's messages never do, and a usage error (argparse repeats what was typed) has every
run of seven or more digits blanked out, in case a number was typed in the wrong place.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any, NoReturn

from ..errors import (
    BreachIndexError,
)

__all__ = [
    "EXIT_OK",
    "EXIT_NO",
    "EXIT_ERROR",
    "ERROR_CODES",
    "JsonArgumentParser",
    "UsageError",
    "error_code",
    "error_document",
    "jsonable",
    "print_json",
    "redact_digits",
    "report_error",
]

EXIT_OK = 0
EXIT_NO = 1
EXIT_ERROR = 2


class UsageError(Exception):
    """The command line itself is wrong (unknown option, missing argument, bad value)."""


#: stable codes of errors from outside the library (its own carry theirs: ``exc.code``), most
#: specific first (the first match wins)
ERROR_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (UsageError, "usage"),
    (FileNotFoundError, "file_not_found"),
    (PermissionError, "permission_denied"),
    (OSError, "os_error"),
    (LookupError, "not_found"),
    (ValueError, "invalid_argument"),
    (TypeError, "invalid_argument"),
)

# the attributes of an error worth a script's attention (never personal data)
_DETAILS = ("reason", "retry_after", "file", "problem", "from_state", "to_state", "position")

# a run of 7+ digits, possibly split by spaces, dots, dashes, slashes or brackets, with an optional +
_DIGIT_RUN = re.compile(r"\+?\(?\d[\d\s().\-/]*\d")


def redact_digits(text: str) -> str:
    """``text`` with every run of seven or more digits (a phone number, maybe) blanked out."""
    def blank(match: re.Match[str]) -> str:
        run = match.group(0)
        return "[digits]" if sum(ch.isdigit() for ch in run) >= 7 else run

    return _DIGIT_RUN.sub(blank, text)


def error_code(exc: BaseException) -> str:
    """The stable code of an error (``error`` when none is more specific)."""
    if isinstance(exc, BreachIndexError):
        return exc.code
    for kind, code in ERROR_CODES:
        if isinstance(exc, kind):
            return code
    return "error"


def _message(exc: BaseException) -> str:
    # the library's own errors are written never to hold a number; anything else might echo input
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, BreachIndexError) else redact_digits(text)


def error_document(exc: BaseException) -> dict[str, Any]:
    """``{"error": {"code": ..., "message": ..., and reason, retry_after, ... when set}}``."""
    body: dict[str, Any] = {"code": error_code(exc), "message": _message(exc)}
    for name in _DETAILS:
        value = getattr(exc, name, None)
        if value is not None and isinstance(value, (str, int, float)):
            body[name] = value
    return {"error": body}


def report_error(exc: BaseException, *, as_json: bool, stream: IO[str] | None = None) -> int:
    """Print an error (JSON or a line of text) to stderr; returns the exit code 2."""
    out = stream if stream is not None else sys.stderr
    if as_json:
        print(json.dumps(error_document(exc), sort_keys=True), file=out)
    else:
        print(f"breachindex: error: {_message(exc)}", file=out)
    return EXIT_ERROR


def _iso(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
        return moment.isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def jsonable(value: Any) -> Any:
    """A value made of JSON types: dataclasses as objects, datetimes as ISO-8601 UTC (``Z``),
    dates as ISO dates, paths as text, bytes as hex, sets sorted, tuples as lists."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return jsonable(to_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot print a {type(value).__name__} as JSON")


def print_json(document: Any) -> None:
    """One JSON document on stdout (indented: people read it too; ``jq`` does not mind)."""
    print(json.dumps(jsonable(document), indent=1, sort_keys=True, ensure_ascii=False))


class JsonArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors raise UsageError instead of exiting, so the caller
    can answer them as JSON (with --json) and with exit code 2 either way."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")
