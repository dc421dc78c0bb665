"""The OpenAPI 3.1 document, generated from the operation table (``app.OPERATIONS``) and the
schemas the server validates with, so what it publishes is what it checks. Every operation
lists each status it can answer, with the error body (``schemas.ERROR``) for the 4xx and 5xx.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import __version__
from .errors import ERROR_CODES
from .routing import Operation
from .schemas import ERROR

__all__ = ["openapi_document"]

# what every operation can answer whatever it does
_ALWAYS = ("internal_error",)
_WITH_BODY = ("malformed_json", "payload_too_large", "unsupported_media_type", "invalid_request")
_REASONS = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
            409: "Conflict", 413: "Payload too large", 415: "Unsupported media type", 422: "Unprocessable",
            428: "Precondition required", 429: "Too many requests", 500: "Internal error", 502: "Bad gateway",
            503: "Unavailable"}


#: what a call with an API key is answered with (budgets.ratelimit_headers)
_RATELIMIT_HEADERS: dict[str, Any] = {
    "RateLimit-Limit": {"schema": {"type": "string"}, "description": "the key's quota a UTC day (key calls)"},
    "RateLimit-Remaining": {"schema": {"type": "string"}, "description": "what is left of it today"},
    "RateLimit-Reset": {"schema": {"type": "string"}, "description": "seconds until the next UTC day"},
    "RateLimit-Policy": {"schema": {"type": "string"}, "description": "the key's quotas: `<day>;w=86400, <s>;w=1`"},
}


def _codes(operation: Operation) -> list[str]:
    codes = set(_ALWAYS) | set(operation.errors)
    if operation.body is not None or operation.raw_body:
        codes |= set(_WITH_BODY)
    if operation.streamed_body:
        codes.add("payload_too_large")
    if operation.query or operation.path_params:
        codes.add("invalid_request")
    if operation.path_params:
        codes.add("not_found")
    if operation.scope is not None:
        codes |= {"unauthorized", "forbidden", "throttled"}
    if operation.person:
        codes |= {"throttled", "forbidden"}
    return sorted(codes)


def _error_responses(codes: Iterable[str]) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ERROR_CODES[code], []).append(code)
    out: dict[str, Any] = {}
    for status, names in sorted(by_status.items()):
        response: dict[str, Any] = {
            "description": f"{_REASONS.get(status, 'Error')}: {', '.join(sorted(names))}",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "string"}, "description": "seconds to wait"}}
        out[str(status)] = response
    return out


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name, schema in operation.path_params.items():
        params.append({"name": name, "in": "path", "required": True, "schema": dict(schema)})
    for name, schema in operation.query.items():
        params.append({"name": name, "in": "query", "required": name in operation.required_query,
                       "schema": dict(schema)})
    for name, schema in operation.header_params.items():
        params.append({"name": name, "in": "header", "required": True, "schema": dict(schema)})
    return params


def _security(operation: Operation) -> list[dict[str, list[str]]]:
    if operation.scope is None:
        return [{"sessionCookie": []}, {}] if operation.person else [{}]
    options: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    if operation.person:
        options += [{"sessionCookie": []}, {}]
    return options


def _operation(operation: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": operation.operation_id, "summary": operation.summary, "tags": [operation.tag],
        "security": _security(operation),
    }
    if operation.description:
        doc["description"] = operation.description
    if operation.scope is not None:
        doc["x-scope"] = operation.scope
    params = _parameters(operation)
    if params:
        doc["parameters"] = params
    if operation.body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": dict(operation.body)}}}
    elif operation.streamed_body:
        doc["requestBody"] = {"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}
    success: dict[str, Any] = {"description": "OK" if operation.status == 200 else "Created",
                               "content": {operation.media_type: {"schema": dict(operation.response)}}}
    headers = {k: dict(v) for k, v in operation.response_headers.items()}
    if operation.scope is not None:
        headers.update(_RATELIMIT_HEADERS)
    if headers:
        success["headers"] = headers
    doc["responses"] = {str(operation.status): success, **_error_responses(_codes(operation))}
    return doc


def openapi_document(operations: Iterable[Operation]) -> dict[str, Any]:
    """The document served at ``/openapi.json``."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {"title": "breachindex", "version": __version__,
                 "description": ("Is a phone number in the 2021 Facebook leak, and the workflow of SOMI's collective "
                                 "GDPR action: one-time codes, ID checks, mandates, batches and requests. Service "
                                 "calls send `Authorization: Bearer <API key>` (scopes: check, workflow, admin). The "
                                 "check page calls the person-facing operations without a key, rate-limited, with a "
                                 "session cookie after a confirmed code. Errors are JSON with a stable `code`.")},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an API key: bik_<id>_<secret>"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "__Host-bi_session",
                                  "description": "set by POST /v1/verification/confirm on the page"},
            },
        },
    }
