"""breachindex over HTTP: an ASGI app (Starlette, served by uvicorn) with the check page.

``breachindex serve INDEX --key KEYFILE --campaign DB [--api-keys FILE] [--workers 2]`` (see
``cli``). Modules, one job each: ``app`` (the operation table and the app factory),
``routing`` (authentication, validation, error answers per operation), ``api_*`` (the
handlers), ``schemas`` and ``validation`` (the JSON schemas, published and enforced),
``openapi`` (the document), ``errors`` (stable error codes), ``auth`` (hashed, scoped API
keys with quotas), ``sessions`` (the page's signed cookie), ``budgets`` (what each call costs,
in budgets every worker shares), ``puzzles`` (the page's proof of work), ``origin`` (same-site
writes), ``generations`` (new index builds picked up without downtime), ``logs`` (JSON lines without
personal data), ``metrics`` (counters for ``/metrics``, summed over the workers), ``middleware``
(request ids, headers, the log line, the count, the last-resort 500),
``templates`` (mandate texts), ``views`` (records as JSON), ``state``, ``config``.
"""
from __future__ import annotations

from .app import OPERATIONS, app_from_environment, create_app
from .auth import SCOPES, create_api_key
from .config import ServerConfig
from .generations import IndexGenerations

__all__ = ["OPERATIONS", "SCOPES", "ServerConfig", "IndexGenerations", "app_from_environment", "create_api_key",
           "create_app"]
