"""Liveness, readiness, the OpenAPI document and the check page's files.

``/healthz`` answers as long as the process serves. ``/readyz`` answers 200 only when an index
generation is open and the campaign store answers a query, else 503: a load balancer sends no
traffic to a worker that could not serve it. Anyone gets only ``{"status": "ready"}``; the
details (the generation, its rows, breaches and build time, the store's schema version) need a
valid API key of any scope. The page (``/``, ``/static/...``) is served from
the package's ``static`` folder with a strict Content-Security-Policy: its own scripts and
styles only, no third-party script, style, font or frame.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError
from .routing import Call, Reply, error_response

__all__ = ["healthz", "readyz", "page_files", "page_endpoint", "PAGE_HEADERS"]

PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}
_FILES = ("index.html", "app.js", "mine.js", "style.css", "i18n.js")


async def healthz(call: Call) -> Reply:
    return Reply({"status": "ok"})


def _has_valid_key(call: Call) -> bool:
    """True if the request carries ``Authorization: Bearer <a valid API key>`` (any scope)."""
    scheme, _, token = call.request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and call.state.api_keys.verify(token.strip()) is not None


async def readyz(call: Call) -> Reply:
    """503 unless ready; the details only for a caller with a valid API key."""
    state = call.state
    try:
        schema_version = await run_in_threadpool(lambda: state.campaign.schema_version)
        await run_in_threadpool(state.campaign.is_verified, "readiness-probe")  # one real query
    except Exception as exc:
        raise ApiError("unavailable", "the campaign store does not answer") from exc
    try:
        with state.generations.lease() as index:
            index.lookup_key(0)  # one real lookup: a closed or damaged index raises
            info = dict(state.generations.current.info)
    except Exception as exc:
        raise ApiError("unavailable", "no index answers") from exc
    if not _has_valid_key(call):
        return Reply({"status": "ready"})
    return Reply({"status": "ready", "index": info, "campaign": {"schema_version": schema_version}})


def page_files() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once: name -> (content, media type)."""
    folder = resources.files(__package__).joinpath("static")
    return {name: (folder.joinpath(name).read_bytes(), _TYPES[name.rsplit(".", 1)[1]]) for name in _FILES}


def page_endpoint(files: dict[str, tuple[bytes, str]]) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint serving ``/`` and ``/static/{name}``."""

    async def serve(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        found = files.get(name)
        if found is None:
            return error_response(request, ApiError("not_found", "no such file"))
        content, media_type = found
        return Response(content, media_type=media_type, headers=PAGE_HEADERS)

    return serve
