"""The operation table's building blocks: ``Operation`` (one route: method, path, who may call
it, its schemas), ``Call`` (what a handler gets) and ``Reply``, and ``endpoint``, which turns an
operation into a Starlette endpoint that authenticates, rate-limits, reads and validates the
request, calls the handler, and answers library errors as JSON (``errors``).

Who may call: an operation with a ``scope`` accepts ``Authorization: Bearer <API key>`` with
that scope; ``person=True`` also lets the check page call it without a key (then the page's
budgets per network apply, shared by every worker, and the participant comes from the session
cookie, never from the body). A call with a key is charged to the key's own budgets and
answered with its RateLimit headers (``budgets``).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .auth import ApiKey
from .errors import ApiError, api_error_for, error_body
from .logs import LOGGER_NAME, log_event
from .origin import check_same_origin
from .sessions import Session
from .state import ServerState
from .validation import check_content_type, parse_json, read_json, read_limited, validate

__all__ = ["Operation", "Call", "Reply", "endpoint", "json_response", "error_response", "request_id_of"]

log = logging.getLogger(LOGGER_NAME)

Handler = Callable[["Call"], Awaitable["Reply"]]


@dataclass(frozen=True)
class Operation:
    """One route of the API, as the OpenAPI document describes it."""

    method: str
    path: str
    operation_id: str
    summary: str
    handler: Handler
    tag: str
    response: Mapping[str, Any]
    status: int = 200
    scope: str | None = None
    person: bool = False
    body: Mapping[str, Any] | None = None
    query: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    required_query: tuple[str, ...] = ()
    path_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    header_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    raw_body: bool = False
    person_limit: bool = True  # False: the handler applies its own buckets
    description: str = ""
    response_headers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    media_type: str = "application/json"  # anything else: the handler's Reply.body is the bytes to send
    streamed_body: bool = False  # the handler reads the body itself, as a stream (``Call.request.stream()``)


@dataclass
class Call:
    """A validated request: who calls (``api_key`` or ``session``), the body, query and path."""

    request: Request
    state: ServerState
    operation: Operation
    api_key: ApiKey | None
    session: Session | None
    body: Any
    query: dict[str, str]
    path: dict[str, str]
    raw: bytes = b""

    @property
    def person(self) -> bool:
        """True when the page calls (no API key)."""
        return self.api_key is None

    @property
    def client_host(self) -> str | None:
        client = self.request.client
        return None if client is None else client.host


@dataclass
class Reply:
    """A handler's answer: a JSON ``body``, its ``status`` (default: the operation's), headers."""

    body: Any
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def request_id_of(request: Request) -> str:
    return str(request.scope.get("bi.request_id", "-"))


class JsonResponse(Response):
    """A JSON answer with its headers made at once: Starlette's ``Response.__init__`` infers the
    length and type and copies the headers through a generic path, a tenth of a check's own time."""

    media_type = "application/json"

    def __init__(self, content: bytes, status_code: int, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
        self.background = None
        self.body = content
        self.raw_headers = [(b"content-length", str(len(content)).encode("latin-1")), _JSON_TYPE,
                            *[(name.lower().encode("latin-1"), value.encode("latin-1"))
                              for name, value in headers.items()]]


_JSON_TYPE = (b"content-type", b"application/json")
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return JsonResponse(_encode_json(body).encode("utf-8"), status, headers or {})


def error_response(request: Request, error: ApiError) -> Response:
    request.scope["bi.error_code"] = error.code
    return json_response(error_body(error, request_id_of(request)), error.status, error.response_headers())


def _authenticate(request: Request, state: ServerState, operation: Operation) -> ApiKey | None:
    if operation.scope is None:  # public or page-only operations: a key changes nothing
        return None
    header = request.headers.get("authorization")
    if header is None:
        if operation.scope is not None and not operation.person:
            raise ApiError("unauthorized", "this operation needs an API key (Authorization: Bearer ...)",
                           headers={"WWW-Authenticate": "Bearer"})
        return None
    scheme, _, token = header.partition(" ")
    key = state.api_keys.verify(token.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise ApiError("unauthorized", "the API key is missing, malformed or not valid",
                       headers={"WWW-Authenticate": "Bearer"})
    if not key.allows(operation.scope):
        raise ApiError("forbidden", f"this API key lacks the scope {operation.scope}")
    return key


def _query(request: Request, operation: Operation) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        schema = operation.query.get(name)
        if schema is None:
            raise ApiError("invalid_request", "the query has a parameter this operation does not define")
        if name in values:
            raise ApiError("invalid_request", f"the query parameter {name} is given twice")
        problem = validate(value, schema, name)
        if problem is not None:
            raise ApiError("invalid_request", problem)
        values[name] = value
    for name in operation.required_query:
        if name not in values:
            raise ApiError("invalid_request", f"the query parameter {name} is required")
    return values


def _path(request: Request, operation: Operation) -> dict[str, str]:
    values = {name: str(value) for name, value in request.path_params.items()}
    for name, schema in operation.path_params.items():
        problem = validate(values.get(name, ""), schema, name)
        if problem is not None:
            # an id that cannot exist is the same as an unknown one
            raise ApiError("not_found", f"no such {name.removesuffix('_id')}")
    return values


async def _body(request: Request, state: ServerState, operation: Operation) -> tuple[Any, bytes]:
    limit = state.config.body_limit
    if operation.streamed_body:
        return None, b""
    if operation.raw_body:
        check_content_type(request)
        raw = await read_limited(request, limit)
        parse_json(raw)  # malformed JSON is a 400 before the signature is even looked at
        return None, raw
    if operation.body is not None:
        return await read_json(request, operation.body, limit=limit), b""
    announced = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if announced and await read_limited(request, limit):
        raise ApiError("invalid_request", "this operation takes no body")
    return None, b""


def endpoint(operation: Operation, state: ServerState) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of ``operation``."""

    async def handle(request: Request) -> Response:
        limits: dict[str, str] = {}  # a key's RateLimit headers, on every answer once it was charged
        try:
            api_key = _authenticate(request, state, operation)
            if api_key is not None:
                limits = state.budgets.key_call(api_key)
            if api_key is None and operation.person and operation.method == "POST":
                check_same_origin(request)  # the page's writes: from its own site only
            session = None
            if api_key is None and operation.person:
                session = state.sessions.read(request.cookies.get(state.sessions.cookie_name))
            if api_key is None and operation.person and operation.person_limit:
                state.budgets.page_call(state.origin(request))
            query = _query(request, operation) if request.scope.get("query_string") or operation.required_query else {}
            path = _path(request, operation)
            body, raw = await _body(request, state, operation)
            reply = await operation.handler(Call(request, state, operation, api_key, session, body, query, path, raw))
        except ApiError as exc:
            exc.headers = {**limits, **exc.headers}
            return error_response(request, exc)
        except Exception as exc:
            mapped = api_error_for(exc)
            if mapped is None:
                raise  # the middleware answers internal_error and logs the type
            if mapped.status >= 500:
                log_event(log, logging.ERROR, "dependency_error", route=operation.path, error=type(exc).__name__)
            mapped.headers = {**limits, **mapped.headers}
            return error_response(request, mapped)
        status, headers = reply.status or operation.status, {**limits, **reply.headers}
        if isinstance(reply.body, Response):  # a streamed answer: the handler built it
            reply.body.headers.update(headers)
            return reply.body
        if operation.media_type != "application/json":
            return Response(reply.body, status_code=status, headers=headers, media_type=operation.media_type)
        return json_response(reply.body, status, headers)

    handle.__name__ = operation.operation_id
    return handle
