"""Structured logs: one JSON object a line, and nothing personal in them.

Every record becomes ``{"time", "level", "logger", "event", ...fields}``. The server logs one
``request`` event per request (method, route template, status, duration, request id, error
code), never a path's query, a body, a header or a client address. As a last guard the
formatter masks any run of 6 or more digits in the message and in string fields, whatever
joins them (spaces, ``.``, ``-``, ``_``, ``/``, ``:``, brackets; a leading ``+``): a phone
number or a one-time code that some library put into a message would come out as ``[digits]``.
Only a run that is, as a whole, an ISO date, date and time, or time (``2025-04-03``,
``2025-04-03T10:00:00.123``, ``10:00:00``, with a plausible year, month, day, hour) is left
alone, so a date can never shield the digits around it. Names cannot be recognised
that way: no code path here logs anything a person typed, and the tests grep the logs of a
whole flow for the name used.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, TextIO

__all__ = ["JsonFormatter", "configure_logging", "uvicorn_log_config", "scrub", "log_event", "LOGGER_NAME"]

LOGGER_NAME = "breachindex.server"

# a run of 6+ digits joined by any number of spaces, dots, dashes, underscores, slashes, colons
# or brackets (or one T), with an optional + or ( before it: the longest such run is taken whole
_DIGIT_RUN = re.compile(r"[+(]?\d(?:(?:[\s._\-/:()]*|T)\d){5,}")
# what such a run may be and still be left alone: exactly an ISO date, date and time, or time
_DATE = r"(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?"
_DATE_OR_TIME = re.compile(rf"{_DATE}(?:[T ]{_TIME})?|{_TIME}")
# fields the server itself fills with ids, names of routes and codes: no need to scrub them
_SAFE_FIELDS = frozenset({"route", "status", "duration_ms", "request_id", "error_code", "exception"})
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message"}  # uvicorn's copy of the message with terminal colours


def _mask(match: re.Match[str]) -> str:
    run = match.group(0)
    return run if _DATE_OR_TIME.fullmatch(run.lstrip("+(")) else "[digits]"


def scrub(text: str) -> str:
    """``text`` with every run of 6 or more digits replaced by ``[digits]`` (ISO dates and times
    excepted, see the module documentation)."""
    return _DIGIT_RUN.sub(_mask, text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line; extra fields (``extra={...}``) become keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        for name, value in record.__dict__.items():
            if name in _SAFE_FIELDS and isinstance(value, (str, int, float)):
                out[name] = value
            elif name not in _STANDARD_ATTRS and not name.startswith("_"):
                out[name] = _clean(value)
        if record.exc_info and record.exc_info[0] is not None:
            # the type only: an exception's message may quote input, a traceback its values
            out["exception"] = record.exc_info[0].__name__
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def configure_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Send the server's, the library's and uvicorn's logs as JSON lines to ``stream``
    (stderr by default). Returns the handler (tests read what it wrote)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in (LOGGER_NAME, "breachindex", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    access = logging.getLogger("uvicorn.access")  # we log each request ourselves, without the path
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
    return handler


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config`` dict for uvicorn's own loggers: JSON lines, no access log."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            LOGGER_NAME: {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "breachindex": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` with ``fields`` as JSON keys (only ids, counts, states: nothing personal)."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra=fields)
