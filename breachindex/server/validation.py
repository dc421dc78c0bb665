"""Reading a request: body size, content type, JSON syntax, then the operation's JSON schema.

Every failure is a 4xx ``ApiError``, never a 500: a body over the limit is 413 (checked from
Content-Length before reading, and again while reading a chunked body), a content type other
than ``application/json`` 415, bytes that are not UTF-8 JSON (or hold NaN, Infinity, lone
surrogates, integers past Python's digit limit, or arrays and objects nested more than
``MAX_JSON_DEPTH`` = 32 levels deep) 400, and a document that does not match the schema (wrong
types, missing or unknown fields, lengths, patterns) 422.

The depth is bounded once, in ``parse_json``, by a walk with its own stack (no recursion), so
that no later recursive walk of a document (the schema check, the handlers) can run out of
stack: the deepest request schema needs 2 levels; 32 leaves room and stays far below Python's
recursion limit.

The schemas are the ones the OpenAPI document publishes (``schemas``), checked by the small
validator below: it knows exactly the keywords those schemas use, so the document and the
checks cannot drift apart.
"""
from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from starlette.requests import Request

from .errors import ApiError

__all__ = ["DEFAULT_BODY_LIMIT", "MAX_JSON_DEPTH", "read_json", "read_limited", "validate", "check_content_type",
           "parse_json"]

DEFAULT_BODY_LIMIT = 16 * 1024
#: the most levels of arrays and objects a body may nest (a bare value is 0, ``{}`` is 1)
MAX_JSON_DEPTH = 32

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,), "null": (type(None),),
}
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _pattern(text: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(text)
    if compiled is None:
        compiled = _PATTERNS[text] = re.compile(text)
    return compiled


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False  # JSON true is not 1
    return isinstance(value, _TYPES[name])


def _is_ip(text: str, version: str) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return version == "ipv6" and "%" not in text  # no zone index in JSON Schema's ipv6
    return version == "ipv4"


def validate(value: Any, schema: Mapping[str, Any], where: str = "body") -> str | None:
    """The first way ``value`` breaks ``schema`` (a message naming the field), or None."""
    kinds = schema.get("type")
    if kinds is not None:
        names = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is_type(value, n) for n in names):
            return f"{where} must be of type {' or '.join(names)}"
    if "anyOf" in schema and all(validate(value, option, where) is not None for option in schema["anyOf"]):
        return f"{where} does not have the expected form"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of: {', '.join(map(str, schema['enum']))}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{where} must have at least {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{where} must have at most {schema['maxLength']} characters"
        if "pattern" in schema and _pattern(schema["pattern"]).search(value) is None:
            return f"{where} does not have the expected form"
        if schema.get("format") in ("ipv4", "ipv6") and not _is_ip(value, schema["format"]):
            return f"{where} must be an {schema['format'].upper()} address"
        if schema.get("format") == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                return f"{where} must be a date (YYYY-MM-DD)"
            if len(value) != 10:
                return f"{where} must be a date (YYYY-MM-DD)"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where} must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{where} must be at most {schema['maximum']}"
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{where} must have at least {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{where} must have at most {schema['maxItems']} items"
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            return f"{where} must not repeat items"
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(value):
                problem = validate(item, items, f"{where}[{i}]")
                if problem:
                    return problem
    elif isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                return f"{where}.{name} is required"
        if len(value) < schema.get("minProperties", 0):
            return f"{where} must have at least {schema['minProperties']} field(s)"
        if schema.get("additionalProperties", True) is False and any(name not in properties for name in value):
            return f"{where} has a field the schema does not define (allowed: {', '.join(properties) or 'none'})"
        for name, sub in properties.items():
            if name in value:
                problem = validate(value[name], sub, f"{where}.{name}")
                if problem:
                    return problem
    return None


def check_content_type(request: Request) -> None:
    """415 unless the body is declared as JSON (``application/json``, any parameters)."""
    declared = request.headers.get("content-type", "")
    if declared.split(";", 1)[0].strip().lower() != "application/json":
        raise ApiError("unsupported_media_type", "the body must be JSON, sent as application/json")


async def read_limited(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ApiError("malformed_json", "the Content-Length header is not a number")
        if int(length) > limit:
            raise ApiError("payload_too_large", f"the body may have at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError("payload_too_large", f"the body may have at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)  # one for every body: loads() makes one a call


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_document(document: Any) -> str | None:
    """What is wrong with a parsed document (nesting past ``MAX_JSON_DEPTH``, a string that does
    not encode as UTF-8: a lone surrogate), or None. Iterative: its own stack, never recursion."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _is_text(value):
                return "the body holds text that is not valid Unicode"
        elif isinstance(value, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                return f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"
            if isinstance(value, dict):
                for key, item in value.items():
                    if not _is_text(key):
                        return "the body holds text that is not valid Unicode"
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
    return None


def parse_json(raw: bytes) -> Any:
    """The JSON document in ``raw``; 400 ``malformed_json`` for anything that is not strict JSON
    or nests deeper than ``MAX_JSON_DEPTH``."""
    try:
        text = raw.decode("utf-8")
        document = _DECODER.decode(text)
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        raise ApiError("malformed_json", "the body is not valid JSON") from None
    # a lone surrogate can only come from a \u escape, and depth needs as many brackets: a body
    # with neither (every check) needs no walk
    if b"\\u" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_JSON_DEPTH:
        return document
    problem = _check_document(document)
    if problem is not None:
        raise ApiError("malformed_json", problem)
    return document


async def read_json(request: Request, schema: Mapping[str, Any], *, limit: int = DEFAULT_BODY_LIMIT) -> Any:
    """The request's JSON body, checked against ``schema`` (see the module documentation)."""
    check_content_type(request)
    raw = await read_limited(request, limit)
    document = parse_json(raw)
    problem = validate(document, schema)
    if problem is not None:
        raise ApiError("invalid_request", problem)
    return document
