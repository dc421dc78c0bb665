"""The same-origin check of the page's writes: a person-facing POST (one that rides on the
session cookie, without an API key) is refused with 403 ``forbidden`` when the browser says it
comes from another site.

Two headers tell: ``Origin`` (sent by browsers with every POST ``fetch``) must be the request's
own ``scheme://host[:port]`` (default ports count as given, names compare without case), and
``Sec-Fetch-Site`` must not be ``cross-site``. A request with neither header (a command-line
client, a test) passes: the check is one defence among others (the SameSite=Strict cookie, a
JSON body that a cross-site form cannot send), not an authentication.

The request's own origin is its scheme (``X-Forwarded-Proto`` is believed only from
``--forwarded-allow-ips``) and its ``Host`` header: a reverse proxy must pass the ``Host`` the
browser sent (nginx: ``proxy_set_header Host $host``) and the scheme, or every page write is
refused.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from .errors import ApiError

__all__ = ["check_same_origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin or URL, or None if it is not one (``null``, garbage)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if not host or scheme not in _DEFAULT_PORTS or parts.username is not None or parts.password is not None:
        return None
    if parts.path or parts.query or parts.fragment:  # an origin is scheme://host[:port], nothing more
        return None
    return scheme, host.lower(), _DEFAULT_PORTS[scheme] if port is None else port


def _own_origin(request: Request) -> tuple[str, str, int] | None:
    scheme = request.url.scheme
    host = request.headers.get("host")
    if host is None:  # HTTP/1.0 without Host: the address the server listens on
        server = request.scope.get("server")
        if not server:
            return None
        name, port = server
        host = f"[{name}]:{port}" if ":" in str(name) else f"{name}:{port}"
    return _origin_of(f"{scheme}://{host}")


def check_same_origin(request: Request) -> None:
    """403 ``forbidden`` if ``Origin`` is present and not the request's own origin, or
    ``Sec-Fetch-Site`` is present and ``cross-site``; nothing otherwise."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() == "cross-site":
        raise ApiError("forbidden", "the page's calls are accepted from this site only")
    origin = request.headers.get("origin")
    if origin is None:
        return
    own = _own_origin(request)
    if own is None or _origin_of(origin.strip()) != own:
        raise ApiError("forbidden", "the page's calls are accepted from this site only")
