"""The outermost layer of the app (pure ASGI, cheap): a request id, security headers, one JSON
log line per request, its count for ``/metrics`` (``ServerMetrics.observe_request``, before the
last byte of the answer goes out), and a JSON ``internal_error`` for anything that escaped a
handler.

The log line holds the method, the route *template* (``/v1/mandates/{mandate_id}/revoke``,
never the path as sent, nor its query), the status, the duration, the request id and the
error code: nothing a person typed. An unexpected exception is logged by its type only (its
message or traceback could quote input) and answered with a fixed message.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_body
from .logs import LOGGER_NAME, log_fields
from .metrics import ServerMetrics

__all__ = ["RequestMiddleware", "new_request_id"]

log = logging.getLogger(LOGGER_NAME)
# request ids without digits, so that the log guard against digit runs never touches them
_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")
_COMMON_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
]


def new_request_id() -> str:
    return secrets.token_hex(8).translate(_NO_DIGITS)


class RequestMiddleware:
    """See the module documentation."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = new_request_id()
        scope["bi.request_id"] = request_id
        status = 500
        response_started = counted = False

        def count() -> None:
            nonlocal counted
            counted = True
            if self.metrics is not None:
                self.metrics.observe_request(str(scope.get("method")), getattr(scope.get("route"), "path", None),
                                             status, time.perf_counter() - started, scope.get("bi.error_code"))

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *_COMMON_HEADERS,
                                      (b"x-request-id", request_id.encode("ascii"))]
            elif message["type"] == "http.response.body" and not message.get("more_body", False) and not counted:
                count()  # before the answer is complete: a client that got it sees it counted
            await send(message)

        error_type = None
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # an answer the handlers did not foresee: never a stack trace
            error_type = type(exc).__name__
            scope["bi.error_code"] = "internal_error"
            if not response_started:
                await _internal_error(send_with_headers, request_id)
        finally:
            if not counted:  # an answer cut off (a stream that failed) or never sent
                count()
            if log.isEnabledFor(logging.INFO):
                route = scope.get("route")
                fields: dict[str, Any] = {
                    "method": scope.get("method"), "route": getattr(route, "path", None) or "unmatched",
                    "status": status, "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "request_id": request_id}
                code = scope.get("bi.error_code")
                if code is not None:
                    fields["error_code"] = code
                if error_type is not None:
                    fields["exception"] = error_type
                log_fields(log, logging.ERROR if status >= 500 else logging.INFO, "request", fields)


async def _internal_error(send: Send, request_id: str) -> None:
    error = ApiError("internal_error", "the server failed to answer this request; it has been logged")
    body = json.dumps(error_body(error, request_id)).encode("utf-8")
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
