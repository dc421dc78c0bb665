"""The parts of a request's path made cheap, held to what they did before: the JSON log lines
written once a loop turn (``logs``), the direct dispatch of the fixed paths (``app``), the JSON
response (``routing``), the JSON parser's shortcut (``validation``) and an API key's expiry
(``auth``)."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

pytest.importorskip("starlette")
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from breachindex.server import api_check, create_app
from breachindex.server import schemas as s
from breachindex.server.auth import ApiKey
from breachindex.server.errors import ApiError
from breachindex.server.logs import JsonFormatter, JsonLinesHandler, _record, log_fields, uvicorn_log_config
from breachindex.server.routing import JsonResponse, json_response
from breachindex.server.testing import Sandbox, make_sandbox
from breachindex.server.validation import MAX_JSON_DEPTH, parse_json, validate

ANNEKE = "+31612340001"
PUBLIC_FOUND = {"found": True, "breaches": ["facebook-2021", "other-2019"], "disclosure": "public",
                "data_classes": None, "details": None, "details_withheld": False}


# ---- logs: one write a loop turn -------------------------------------------------------------------

class RecordingStream:
    """A text stream that keeps each ``write`` call apart."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        pass


@pytest.fixture
def logged(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, JsonLinesHandler, RecordingStream]]:
    """A logger of its own, with a ``JsonLinesHandler`` on a ``RecordingStream``."""
    stream = RecordingStream()
    handler = JsonLinesHandler(stream)  # type: ignore[arg-type]
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"tests.request_path.{request.node.name}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler, stream
    logger.handlers[:] = []
    handler.close()


def events(text: str) -> list[str]:
    return [json.loads(line)["event"] for line in text.splitlines()]


def test_lines_logged_on_a_loop_are_written_together_at_its_next_turn(logged: Any) -> None:
    logger, _, stream = logged

    async def main() -> None:
        for n in ("one", "two", "three"):
            log_fields(logger, logging.INFO, n, {"route": "/v1/check"})
        assert stream.writes == []  # nothing while the turn lasts
        await asyncio.sleep(0)
        assert len(stream.writes) == 1
        assert events(stream.writes[0]) == ["one", "two", "three"]
        log_fields(logger, logging.INFO, "four", {})
        await asyncio.sleep(0)

    asyncio.run(main())
    assert len(stream.writes) == 2 and events(stream.writes[1]) == ["four"]


def test_lines_logged_without_a_loop_are_written_at_once(logged: Any) -> None:
    logger, _, stream = logged
    log_fields(logger, logging.INFO, "one", {})
    assert [events(w) for w in stream.writes] == [["one"]]
    log_fields(logger, logging.WARNING, "two", {})
    assert [events(w) for w in stream.writes] == [["one"], ["two"]]


def test_a_line_logged_off_the_loop_is_written_after_those_that_wait(logged: Any) -> None:
    logger, _, stream = logged

    async def main() -> None:
        log_fields(logger, logging.INFO, "first", {})
        log_fields(logger, logging.INFO, "second", {})
        worker = threading.Thread(target=log_fields, args=(logger, logging.INFO, "from a thread", {}))
        worker.start()
        worker.join()
        assert [events(w) for w in stream.writes] == [["first", "second", "from a thread"]]
        await asyncio.sleep(0)
        assert len(stream.writes) == 1  # the loop's flush finds nothing left

    asyncio.run(main())


def test_any_other_line_on_the_loop_is_written_at_once_after_those_that_wait(logged: Any) -> None:
    """uvicorn's own lines (``Finished server process`` as a worker stops) take the waiting
    request lines with them: a worker that dies by the signal uvicorn raises again loses none."""
    logger, _, stream = logged

    async def main() -> None:
        log_fields(logger, logging.INFO, "request", {"route": "/v1/check"})
        assert stream.writes == []
        logger.info("Finished server process")
        assert [events(w) for w in stream.writes] == [["request", "Finished server process"]]
        await asyncio.sleep(0)
        assert len(stream.writes) == 1

    asyncio.run(main())


@pytest.mark.parametrize("write", ["flush", "close"])
def test_flush_and_close_write_what_waits(logged: Any, write: str) -> None:
    logger, handler, stream = logged

    async def main() -> None:
        log_fields(logger, logging.INFO, "a", {})
        log_fields(logger, logging.INFO, "b", {})
        getattr(handler, write)()
        assert [events(w) for w in stream.writes] == [["a", "b"]]
        await asyncio.sleep(0)
        assert len(stream.writes) == 1  # the loop's turn finds nothing left

    asyncio.run(main())


# ---- logs: the records ------------------------------------------------------------------------------

def test_a_record_has_this_moments_time_the_callers_thread_level_and_fields() -> None:
    logger = logging.getLogger("tests.request_path.records")
    before = time.time()
    first = _record(logger, logging.WARNING, "first", {"route": "/v1/check", "status": 200})
    time.sleep(0.02)
    second = _record(logger, logging.WARNING, "second", {"status": 503})  # from the same prototype
    after = time.time()
    made: dict[str, Any] = {}

    def elsewhere() -> None:
        made["record"] = _record(logger, logging.WARNING, "third", {})
        made["ident"], made["name"] = threading.get_ident(), threading.current_thread().name

    worker = threading.Thread(target=elsewhere, name="another-thread")
    worker.start()
    worker.join()
    third = made["record"]

    assert before <= first.created <= second.created - 0.015 and second.created <= after
    for record in (first, second):
        assert record.msecs == int((record.created - int(record.created)) * 1000)
        assert record.levelname == "WARNING" and record.levelno == logging.WARNING
        assert record.name == logger.name
        assert record.thread == threading.get_ident() and record.threadName == threading.current_thread().name
        assert record.process == os.getpid()
    assert abs(second.relativeCreated - first.relativeCreated - (second.created - first.created) * 1000) < 1
    assert (first.getMessage(), first.route, first.status) == ("first", "/v1/check", 200)
    assert (second.getMessage(), second.status) == ("second", 503)
    assert not hasattr(second, "route")  # nothing left over from the first record's fields
    assert third.thread == made["ident"] != threading.get_ident()
    assert third.threadName == "another-thread"
    assert abs(third.created - time.time()) < 5


@pytest.mark.parametrize("name", ["lineno", "message", "msg", "asctime"])
def test_a_field_named_like_a_record_attribute_is_refused_as_make_record_refuses_it(name: str) -> None:
    logger = logging.getLogger("tests.request_path.refused")
    logger.setLevel(logging.INFO)
    with pytest.raises(KeyError):
        logger.makeRecord(logger.name, logging.INFO, "", 0, "x", (), None, extra={name: 1})
    with pytest.raises(KeyError):
        log_fields(logger, logging.INFO, "x", {name: 1})


def test_the_json_line_has_the_fields_and_masks_digit_runs() -> None:
    stream = io.StringIO()
    handler = JsonLinesHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.request_path.json")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        log_fields(logger, logging.ERROR, "request", {"route": "/v1/check", "status": 500, "request_id": "abcdef",
                                                      "note": "called +31 6 1234 0001 about it", "count": 3})
    finally:
        logger.handlers[:] = []
    line = json.loads(stream.getvalue())
    assert line["level"] == "error" and line["logger"] == logger.name and line["event"] == "request"
    assert (line["route"], line["status"], line["request_id"], line["count"]) == ("/v1/check", 500, "abcdef", 3)
    assert line["note"] == "called [digits] about it"
    assert "1234" not in stream.getvalue()
    assert not {"lineno", "pathname", "thread", "process", "msg", "args"} & set(line)


def test_uvicorns_log_config_names_the_handler_and_dict_config_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # dictConfig closes every handler the process has: keep those of pytest and of other tests open
    monkeypatch.setattr(logging.config, "_clearExistingHandlers", lambda: None, raising=False)
    config = uvicorn_log_config("warning")
    assert config["handlers"]["stderr"]["class"] == "breachindex.server.logs.JsonLinesHandler"
    names = list(config["loggers"])
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level,
                    logging.getLogger(name).propagate, logging.getLogger(name).disabled) for name in names}
    try:
        logging.config.dictConfig(config)
        handler = logging.getLogger("uvicorn").handlers[0]
        assert type(handler) is JsonLinesHandler
        assert isinstance(handler.formatter, JsonFormatter)
        assert handler.stream is sys.stderr
        assert logging.getLogger("uvicorn.error").level == logging.WARNING
        assert logging.getLogger("uvicorn.access").handlers == []
    finally:
        for name, (handlers, level, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.handlers[:], logger.level, logger.propagate, logger.disabled = handlers, level, propagate, disabled


# ---- the direct dispatch of the fixed paths ------------------------------------------------------------

class Served:
    def __init__(self, folder: Path) -> None:
        self.sandbox = make_sandbox(folder / "sandbox")
        self.logs = io.StringIO()
        self.app = create_app(self.sandbox.config(), log_stream=self.logs)

    def lines(self, **match: Any) -> list[dict[str, Any]]:
        """The request log lines with ``match``'s values."""
        lines = [json.loads(line) for line in self.logs.getvalue().splitlines()]
        return [line for line in lines if line["event"] == "request"
                and all(line.get(k) == v for k, v in match.items())]


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return Served(tmp_path)


def check(client: TestClient, sandbox: Sandbox, phone: str = ANNEKE) -> Any:
    return client.post("/v1/check", json={"phone": phone}, headers=sandbox.auth("check"))


def requests_counted(client: TestClient, sandbox: Sandbox, route: str, method: str, status: str) -> float:
    answer = client.get("/metrics", headers=sandbox.auth("admin"))
    assert answer.status_code == 200, answer.text
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == "breachindex_http_requests_total" and sample.labels == {
                    "method": method, "route": route, "status": status}:
                return float(sample.value)
    return 0.0


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["request_id"] == response.headers["x-request-id"]
    return error  # type: ignore[no-any-return]


COMMON = {"x-content-type-options": "nosniff", "cache-control": "no-store", "referrer-policy": "no-referrer"}
RATE_LIMITS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy")


def test_a_keyed_check_is_answered_logged_and_counted_as_before(served: Served) -> None:
    with TestClient(served.app) as c:
        assert requests_counted(c, served.sandbox, "/v1/check", "POST", "200") == 0
        answer = check(c, served.sandbox)
        counted = requests_counted(c, served.sandbox, "/v1/check", "POST", "200")
    assert answer.status_code == 200, answer.text
    assert answer.json() == PUBLIC_FOUND
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers.get_list("content-length") == [str(len(answer.content))]
    for name, value in COMMON.items():
        assert answer.headers.get_list(name) == [value], name  # once: one RequestMiddleware, not two
    request_id = answer.headers["x-request-id"]
    assert answer.headers.get_list("x-request-id") == [request_id] and len(request_id) == 16
    assert all(len(answer.headers.get_list(name)) == 1 for name in RATE_LIMITS)
    assert int(answer.headers["ratelimit-remaining"]) < int(answer.headers["ratelimit-limit"])
    assert counted == 1
    (line,) = served.lines(request_id=request_id)
    assert (line["method"], line["route"], line["status"], line["level"]) == ("POST", "/v1/check", 200, "info")
    assert "error_code" not in line and "exception" not in line


def test_the_direct_answer_is_the_routers_answer(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(served.app) as c:
        direct = [check(c, served.sandbox, phone) for phone in (ANNEKE, "+31612349999", "12")]
        monkeypatch.setattr(served.app, "_direct", {})  # every request through Starlette's router
        routed = [check(c, served.sandbox, phone) for phone in (ANNEKE, "+31612349999", "12")]
    def without_request_id(answer: Any) -> Any:
        body = answer.json()
        if "error" in body:
            assert body["error"].pop("request_id") == answer.headers["x-request-id"]
        return body

    for a, b in zip(direct, routed, strict=True):
        assert a.status_code == b.status_code
        assert without_request_id(a) == without_request_id(b)
        assert sorted(a.headers) == sorted(b.headers)  # the same header names, each as often
        assert a.headers["x-request-id"] != b.headers["x-request-id"]
    assert [a.status_code for a in direct] == [200, 200, 422]
    routes = [line["route"] for line in served.lines()]
    assert routes == ["/v1/check"] * 6


def test_a_direct_request_never_enters_starlette(served: Served) -> None:
    async def starlette_entered(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("the request went through Starlette's stack")

    with TestClient(served.app) as c:
        assert check(c, served.sandbox).status_code == 200
        saved = served.app.middleware_stack
        assert saved is not None  # built when the lifespan started
        served.app.middleware_stack = starlette_entered
        try:
            assert check(c, served.sandbox).json() == PUBLIC_FOUND
            assert c.get("/healthz").status_code == 200
            assert c.get("/metrics", headers=served.sandbox.auth("admin")).status_code == 200
            # the rest still goes through it
            for method, path in (("GET", "/openapi.json"), ("HEAD", "/healthz"), ("GET", "/v1/check"),
                                 ("POST", "/v1/mandates/0123abcd/revoke")):
                with pytest.raises(RuntimeError, match="Starlette's stack"):
                    c.request(method, path, headers=served.sandbox.auth("workflow"))
        finally:
            served.app.middleware_stack = saved
        assert c.get("/openapi.json").status_code == 200


def test_a_method_the_path_does_not_take_is_a_405_through_starlette(served: Served) -> None:
    with TestClient(served.app) as c:
        got = c.get("/v1/check", headers=served.sandbox.auth("check"))
        head = c.head("/v1/check")
        deleted = c.delete("/v1/check")
    assert error_of(got, 405, "method_not_allowed")["message"] == "this path does not take that method"
    assert got.headers["allow"] == "POST"
    assert head.status_code == 405 and head.headers["allow"] == "POST"
    assert head.headers["x-content-type-options"] == "nosniff"
    error_of(deleted, 405, "method_not_allowed")
    assert [(line["method"], line["status"], line["error_code"]) for line in served.lines(route="/v1/check")] == [
        ("GET", 405, "method_not_allowed"), ("HEAD", 405, "method_not_allowed"), ("DELETE", 405, "method_not_allowed")]


def test_a_path_with_a_parameter_still_goes_through_starlette(served: Served) -> None:
    workflow = served.sandbox.auth("workflow")
    with TestClient(served.app) as c:
        bad_id = c.post("/v1/mandates/not..an..id/revoke", json={"reason": "x"}, headers=workflow)
        unknown = c.post("/v1/mandates/0123abcd/revoke", json={"reason": "x"}, headers=workflow)
        no_key = c.post("/v1/mandates/0123abcd/revoke", json={"reason": "x"})
    error_of(bad_id, 404, "not_found")
    error_of(unknown, 404, "unknown_mandate")
    assert no_key.status_code == 401
    assert bad_id.headers["cache-control"] == "no-store"
    routes = {line["route"] for line in served.lines()}
    assert routes == {"/v1/mandates/{mandate_id}/revoke"}


def test_an_exception_in_a_direct_handler_is_a_500_logged_by_its_type(served: Served,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(result: Any) -> Any:
        raise RuntimeError("secret detail 0612340001")

    monkeypatch.setattr(api_check, "check_body", broken)
    with TestClient(served.app) as c:
        answer = check(c, served.sandbox)
        counted = requests_counted(c, served.sandbox, "/v1/check", "POST", "500")
    error = error_of(answer, 500, "internal_error")
    assert error["message"] == "the server failed to answer this request; it has been logged"
    assert answer.headers["cache-control"] == "no-store"
    assert counted == 1
    (line,) = served.lines(route="/v1/check")
    assert (line["status"], line["level"], line["error_code"], line["exception"]) == (500, "error", "internal_error",
                                                                                     "RuntimeError")
    assert line["request_id"] == error["request_id"]
    assert "secret detail" not in served.logs.getvalue() and "0612340001" not in served.logs.getvalue()


# ---- JsonResponse ----------------------------------------------------------------------------------------

def sent(response: Any) -> tuple[list[tuple[bytes, bytes]], bytes, int]:
    """What ``response`` sends over ASGI: its headers, body and status."""
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(response({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send))
    start, *bodies = messages
    return list(start["headers"]), b"".join(m.get("body", b"") for m in bodies), start["status"]


def test_a_json_response_has_its_length_type_and_lower_case_headers() -> None:
    body = {"naam": "Zoë", "stad": "Ĳsselstein", "日本": [1, 2, {"a": None}], "ok": True}
    response = json_response(body, 201, {"RateLimit-Limit": "10", "X-Extra": "Yes"})
    assert isinstance(response, JsonResponse)
    headers, content, status = sent(response)
    assert status == 201
    assert content == '{"naam":"Zoë","stad":"Ĳsselstein","日本":[1,2,{"a":null}],"ok":true}'.encode()
    assert json.loads(content) == body
    assert all(name == name.lower() for name, _ in headers)
    assert [v for n, v in headers if n == b"content-length"] == [str(len(content)).encode()]
    assert [v for n, v in headers if n == b"content-type"] == [b"application/json"]
    assert (b"ratelimit-limit", b"10") in headers and (b"x-extra", b"Yes") in headers
    assert response.headers["content-length"] == str(len(content))  # Starlette's view of the same headers
    plain, _, _ = sent(json_response([]))
    assert plain == [(b"content-length", b"2"), (b"content-type", b"application/json")]


# ---- parse_json's shortcut ---------------------------------------------------------------------------------

def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("raw", [rb'{"phone": "\ud800"}', rb'{"phone": "+316\udfff12340001"}', rb'{"\udc00": 1}',
                                 rb'["\ud83d"]'])
def test_a_lone_surrogate_escape_is_refused(raw: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        parse_json(raw)
    assert refused.value.code == "malformed_json"
    assert refused.value.message == "the body holds text that is not valid Unicode"


def test_escapes_that_are_text_are_accepted() -> None:
    assert parse_json(rb'{"phone": "\u0041\ud83d\ude00"}') == {"phone": "A\U0001f600"}


def test_nesting_is_bounded_at_max_json_depth() -> None:
    assert MAX_JSON_DEPTH == 32
    assert parse_json(nested(MAX_JSON_DEPTH)) is not None
    for raw in (nested(MAX_JSON_DEPTH + 1), b'{"a":' * 33 + b"1" + b"}" * 33, b"[" * 20 + b'{"a":' * 13 + b"1"
                + b"}" * 13 + b"]" * 20):
        with pytest.raises(ApiError) as refused:
            parse_json(raw)
        assert refused.value.code == "malformed_json"
        assert "32 levels" in refused.value.message


def test_brackets_inside_a_string_are_not_nesting() -> None:
    text = "[{" * (MAX_JSON_DEPTH * 3)
    raw = json.dumps({"phone": text, "note": "{[" * 40}).encode()
    assert raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
    assert parse_json(raw) == {"phone": text, "note": "{[" * 40}


def test_an_unknown_field_is_refused_naming_the_allowed_ones() -> None:
    schema = {"type": "object", "properties": {"phone": {"type": "string"}, "region": {"type": "string"}},
              "required": ["phone"], "additionalProperties": False}
    assert validate({"phone": "x", "region": "NL"}, schema) is None
    assert validate({"phone": "x", "colour": "red"}, schema) == (
        "body has a field the schema does not define (allowed: phone, region)")
    assert validate({}, {"type": "object", "additionalProperties": False}) is None
    assert validate({"a": 1}, {"type": "object", "additionalProperties": False}) == (
        "body has a field the schema does not define (allowed: none)")
    assert validate({"phone": ANNEKE, "extra": 1}, s.CHECK_REQUEST) == (
        "body has a field the schema does not define (allowed: phone, region, participant, puzzle)")


# ---- an API key's expiry ---------------------------------------------------------------------------------

def key_expiring(at: datetime | None) -> ApiKey:
    return ApiKey("0123456789ab", "test", frozenset({"check"}), "2024-01-01T00:00:00Z",
                  expires_at=None if at is None else at.strftime("%Y-%m-%dT%H:%M:%SZ"))


@pytest.fixture(params=["UTC0", "AHEAD-14", "BEHIND+12"])
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """The process's local time zone (an expiry is UTC, whatever the zone)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_a_key_expires_once_its_time_has_passed(local_zone: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    past, future = key_expiring(now - timedelta(minutes=30)), key_expiring(now + timedelta(minutes=30))
    assert past.expired() is True
    assert future.expired() is False
    assert key_expiring(None).expired() is False
    assert key_expiring(now - timedelta(days=400)).expired() is True
    assert key_expiring(now + timedelta(days=400)).expired() is False
    # with now= as before: at the expiry and after it, expired
    at = now - timedelta(minutes=30)
    assert past.expired(now=at - timedelta(seconds=1)) is False
    assert past.expired(now=at) is True
    assert past.expired(now=at + timedelta(seconds=1)) is True
    assert future.expired(now=now) is False
    assert future.expired(now=now + timedelta(hours=1)) is True
    assert key_expiring(None).expired(now=now + timedelta(days=10_000)) is False


_field_values = st.one_of(
    st.text(), st.integers(), st.integers(min_value=2**64), st.floats(), st.booleans(), st.none(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda k: k not in logging.LogRecord(
    "", 0, "", 0, "", None, None).__dict__ and k not in ("message", "asctime", "color_message")),
    _field_values, max_size=6), st.sampled_from(["request", "start 0612345678 at", "réponse"]),
    st.sampled_from([logging.INFO, logging.ERROR]))
@example({"nan": float("nan"), "inf": float("inf"), "-inf": -float("inf"), "big": 2**70, "yes": True, "none": None,
          "method": "POST 0612345678", "status": 200, "route": "/v1/check", "é\n": "\u2028\x00"},
         "request", logging.INFO)
def test_a_request_line_is_the_json_the_dict_would_give(fields: dict[str, Any], event: str, level: int) -> None:
    """The formatter writes log_fields' lines piece by piece: the same text as encoding the dict
    (which it still does for records with their own keys among the fields, or an exception)."""
    formatter = JsonFormatter()
    record = _record(logging.getLogger("breachindex.server"), level, event, fields)
    line = formatter.format(record)
    assert line == formatter._format_dict(record)
    assert json.loads(line)["event"] == ("start [digits] at" if "06" in event else event)
