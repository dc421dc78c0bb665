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

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["JsonFormatter", "JsonLinesHandler", "configure_logging", "uvicorn_log_config", "scrub", "log_event",
           "log_fields", "LOGGER_NAME"]

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
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_encode_str = json.encoder.encode_basestring  # what _encode does to a str (in C), without the rest
_OWN_KEYS = frozenset({"time", "level", "logger", "event", "exception"})  # keys format() sets itself
_encoded_keys: dict[str, str] = {}
_heads: dict[tuple[str, str, str], str] = {}
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))
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


def _shown(fields: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The fields a line shows, as it shows them: the server's own ids and codes as they are,
    the rest scrubbed; a record's standard attributes and private names left out."""
    for name, value in fields.items():
        if name in _SAFE_FIELDS and isinstance(value, (str, int, float)):
            yield name, value
        elif name not in _STANDARD_ATTRS and not name.startswith("_"):
            yield name, _clean(value)


def _json_value(value: Any) -> str:
    """``value`` as _encode writes it (its own types exactly; anything else through _encode)."""
    kind = type(value)
    if kind is str:
        return _encode_str(value)  # type: ignore[no-any-return]
    if kind is int:
        return int.__repr__(value)
    if kind is float and value - value == 0:  # finite: NaN and infinities as _encode spells them
        return float.__repr__(value)
    return _encode(value)


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line; extra fields (``extra={...}``) become keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._second: tuple[int, str] = (-1, "")  # the last second formatted, and its text

    def _time(self, created: float, msecs: float) -> str:
        second, text = self._second
        if int(created) != second:  # one strftime a second, not one a line
            second, text = int(created), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            self._second = (second, text)
        return text + _MILLISECONDS[int(msecs)]

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__.get("_fields")
        if fields is None or record.exc_info or not _OWN_KEYS.isdisjoint(fields):
            return self._format_dict(record)
        # a line of log_fields (a request's): written as _encode would write the dict, a piece at
        # a time, which takes a third of the time (the request line is a few % of a request)
        message = record.getMessage()
        head = _heads.get((record.levelname, record.name, message))
        if head is None:  # the level, logger and event: a few of each, so written once
            head = (f'","level":"{record.levelname.lower()}","logger":{_encode_str(record.name)}'
                    f',"event":{_encode_str(scrub(message))}')
            if len(_heads) < 1024:
                _heads[(record.levelname, record.name, message)] = head
        parts = ['{"time":"', self._time(record.created, record.msecs), head]
        for name, value in _shown(fields):
            key = _encoded_keys.get(name)
            if key is None:
                key = f",{_encode_str(name)}:"
                if len(_encoded_keys) < 1024:  # the server's own few names; bounded all the same
                    _encoded_keys[name] = key
            parts += (key, _json_value(value))
        parts.append("}")
        return "".join(parts)

    def _format_dict(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self._time(record.created, record.msecs),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": scrub(record.getMessage()),
        }
        fields = record.__dict__.get("_fields")  # set by log_fields: only those, not every attribute
        out.update(_shown(record.__dict__ if fields is None else fields))
        if record.exc_info and record.exc_info[0] is not None:
            # the type only: an exception's message may quote input, a traceback its values
            out["exception"] = record.exc_info[0].__name__
        return _encode(out)


class JsonLinesHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A ``StreamHandler`` whose lines of the server's own events (``log_fields``, ``log_event``:
    a ``request`` line per request) logged on an event loop's thread are written together at the
    loop's next turn (``call_soon``): one write for all the requests a turn answered, not one
    system call a line. Any other line (uvicorn's, a library's, one logged off the loop) is
    written at once, after those that wait, so the order holds and uvicorn's last lines as a
    worker stops take the waiting ones with them; ``flush`` and ``close`` write what waits."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._waiting: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or loop.is_closed() or "_fields" not in record.__dict__:
            self._waiting.append(line)
            self.flush()
            return
        if not self._waiting:
            loop.call_soon(self.flush)
        self._waiting.append(line)

    def flush(self) -> None:
        with self.lock if self.lock is not None else contextlib.nullcontext():
            if self._waiting:
                text = "".join(self._waiting)
                self._waiting.clear()
                try:
                    self.stream.write(text)
                except Exception:
                    self.handleError(logging.makeLogRecord({"msg": "log lines lost"}))
            super().flush()

    def close(self) -> None:
        self.flush()
        super().close()


def configure_logging(level: str = "info", stream: TextIO | None = None) -> logging.Handler:
    """Send the server's, the library's and uvicorn's logs as JSON lines to ``stream``
    (stderr by default). Returns the handler (tests read what it wrote)."""
    handler = JsonLinesHandler(stream if stream is not None else sys.stderr)
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
        "handlers": {"stderr": {"class": f"{__name__}.JsonLinesHandler", "formatter": "json",
                               "stream": "ext://sys.stderr"}},
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
    log_fields(logger, level, event, fields)


def log_fields(logger: logging.Logger, level: int, event: str, fields: dict[str, Any]) -> None:
    """``log_event`` with the fields as a dict. The record is made without looking up the
    caller's file and line (``Logger.log`` walks the stack for them on every call, and the
    JSON lines never show them): the server logs a line per request."""
    if logger.isEnabledFor(level):
        logger.handle(_record(logger, level, event, fields))


_made = threading.local()  # this thread's prototype record of each (logger, level)
os.register_at_fork(after_in_child=lambda: _made.__dict__.clear())  # a child is another process


def _record(logger: logging.Logger, level: int, event: str, fields: dict[str, Any]) -> logging.LogRecord:
    """A record of ``event`` with ``fields`` as attributes (as ``extra=`` gives them). Made as
    ``makeRecord`` would, but by copying a prototype it made once on this thread (the thread and
    process attributes stay right) with this moment's time: half the cost of a request's line."""
    made: dict[tuple[str, int], logging.LogRecord] | None = getattr(_made, "records", None)
    if made is None:
        made = _made.records = {}
    proto = made.get((logger.name, level))
    if proto is None:
        proto = made[(logger.name, level)] = logger.makeRecord(logger.name, level, "", 0, "", (), None)
    record: logging.LogRecord = object.__new__(type(proto))
    now = time.time()
    record.__dict__.update(proto.__dict__)
    record.msg, record.created = event, now
    record.msecs = float(int((now - int(now)) * 1000))
    record.relativeCreated = proto.relativeCreated + (now - proto.created) * 1000
    if not _STANDARD_ATTRS.isdisjoint(fields):  # as makeRecord refuses them in ``extra``
        raise KeyError(f"Attempt to overwrite {sorted(_STANDARD_ATTRS & fields.keys())} in LogRecord")
    record.__dict__.update(fields)
    record._fields = fields  # type: ignore[attr-defined]  # JsonFormatter walks these, not every attribute
    return record
