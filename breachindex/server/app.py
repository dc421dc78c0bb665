"""The ASGI app: ``create_app(config)`` (one process) or ``app_from_environment`` (uvicorn's
workers, configured through ``BREACHINDEX_SERVER_CONFIG``).

``OPERATIONS`` is the API: each entry is a route, who may call it and its schemas; the
OpenAPI document at ``/openapi.json`` is generated from it. The lifespan opens the index
generations and the campaign store (``ServerState``) and runs the generation watcher.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..campaign import SmsSender
from ..campaign.requests import REQUEST_STATES
from . import (
    api_check,
    api_documents,
    api_health,
    api_mandates,
    api_metrics,
    api_notifications,
    api_puzzles,
    api_requests,
    api_vault,
    api_verification,
)
from . import schemas as s
from .config import ServerConfig
from .errors import ApiError
from .logs import configure_logging
from .metrics import ServerMetrics
from .middleware import RequestMiddleware
from .openapi import openapi_document
from .routing import Operation, endpoint, error_response
from .state import ServerState
from .templates import LANGUAGES

__all__ = ["OPERATIONS", "create_app", "app_from_environment"]

_ID_PATH = {**s.ID, "maxLength": 64}
_STATE_QUERY = {"type": "string", "enum": list(REQUEST_STATES)}

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/healthz", "healthz", "Liveness: the process answers", api_health.healthz, "health",
              s.HEALTH_RESPONSE),
    Operation("GET", "/metrics", "metrics", "Requests, errors, SMS, budgets, campaign and index in Prometheus' text",
              api_metrics.metrics, "health", {"type": "string"}, scope="admin", media_type=api_metrics.CONTENT_TYPE,
              errors=("unavailable",),
              description=("Summed over every worker: requests by route template and status, their latency, error "
                           "codes, SMS sent and refused by reason, refusals by budget rule; read when scraped: the "
                           "global check budget's level, the puzzle difficulty, campaign requests by state and past "
                           "due, the index generation and its rows. Labels are route templates, codes, rules and "
                           "states: never a path as sent, an address, a number, a name or an id.")),
    Operation("GET", "/readyz", "readyz", "Readiness: an index is open and the campaign store answers",
              api_health.readyz, "health", s.READY_RESPONSE, errors=("unavailable",),
              description=("Anyone gets `{\"status\": \"ready\"}` (or 503). With `Authorization: Bearer <API key>` "
                           "(a valid key of any scope) the answer adds the index generation (rows, breaches, build "
                           "time) and the campaign store's schema version; an invalid key gets the short answer.")),
    Operation("POST", "/v1/puzzles", "newPuzzle", "A puzzle to solve before a page check or code request",
              api_puzzles.new_puzzle, "check", s.PUZZLE_RESPONSE, person=True, body=s.PUZZLE_REQUEST,
              errors=("throttled", "unavailable"),
              description=("Find a decimal `solution` such that SHA-256(challenge + \".\" + solution) starts with "
                           "`bits` zero bits; send it with the next check or code request as `puzzle`. Single "
                           "use; it expires at `expires_at`. The difficulty rises as the global budget of "
                           "unauthenticated checks empties.")),
    Operation("POST", "/v1/check", "check", "Is a number in the leak, and in which breaches?", api_check.check,
              "check", s.CHECK_RESPONSE, scope="check", person=True, person_limit=False, body=s.CHECK_REQUEST,
              errors=("invalid_phone_number", "puzzle_required", "throttled", "unavailable"),
              description=("The public view tells whether the number is in the index and in which breaches. The "
                           "verified view (the number's own verified participant: the page's session, or the "
                           "`participant` a service verified) adds the data classes and, when the index has them "
                           "and the participant's ID check is approved, the leaked values. The page's calls need a "
                           "solved `puzzle` and are limited per network, per number and in total.")),
    Operation("POST", "/v1/verification/start", "startVerification", "Send a one-time code by SMS",
              api_verification.start_verification, "verification", s.START_RESPONSE, scope="workflow", person=True,
              person_limit=False, body=s.START_REQUEST,
              errors=("invalid_phone_number", "sms_not_allowed", "puzzle_required", "throttled", "sms_send_failed",
                      "not_configured", "unavailable"),
              description=("The answer is the same whether or not a code was sent: a refusal because of the number "
                           "itself (its limits, a wait or lock after failed codes) is never told. The page's calls "
                           "need a solved `puzzle`.")),
    Operation("POST", "/v1/verification/confirm", "confirmVerification", "Confirm the code: opens the session",
              api_verification.confirm_verification, "verification", s.CONFIRM_RESPONSE, scope="workflow",
              person=True, body=s.CONFIRM_REQUEST, errors=("code_invalid", "too_many_attempts", "unavailable"),
              response_headers={"Set-Cookie": {"schema": {"type": "string"},
                                               "description": "the session cookie (page calls only)"}}),
    Operation("GET", "/v1/session", "getSession", "The page's session: verified, ID check, mandates",
              api_verification.session_info, "verification", s.SESSION_RESPONSE, person=True,
              errors=("unavailable",)),
    Operation("POST", "/v1/session/end", "endSession", "End the page's session (clears the cookie)",
              api_verification.end_session, "verification", s.ENDED_RESPONSE, person=True, body=s.END_REQUEST,
              description="The body is `{}` sent as application/json, like every person-facing write, so that a "
                          "cross-site form cannot send it."),
    Operation("POST", "/v1/identity/webhook", "identityWebhook", "The ID provider's signed outcome of an ID check",
              api_verification.identity_webhook, "verification", s.WEBHOOK_RESPONSE, raw_body=True,
              body=s.WEBHOOK_BODY,
              header_params={"Signature": {"type": "string", "maxLength": 2048,
                                           "description": "t=<unix seconds>,v1=<hex HMAC-SHA256>"}},
              errors=("unauthorized", "webhook_rejected", "not_configured", "unavailable"),
              description="The body is read only once the signature over its raw bytes holds (so it is not "
                          "checked against the schema before: an unsigned body is never looked at)."),
    Operation("GET", "/v1/mandate-template", "getMandateTemplate", "The mandate text to show, with its version",
              api_mandates.mandate_template, "mandates", s.TEMPLATE_RESPONSE, person=True,
              query={"controller": s.CONTROLLER, "lang": {"type": "string", "enum": list(LANGUAGES)},
                     "version": {"type": "string", "minLength": 1, "maxLength": 64}},
              errors=("unknown_controller",)),
    Operation("POST", "/v1/mandates", "signMandate", "Sign a mandate (the text is the server's copy)",
              api_mandates.sign_mandate, "mandates", s.MANDATE, status=201, scope="workflow", person=True,
              body=s.SIGN_REQUEST,
              errors=("unauthorized", "unknown_controller", "invalid_mandate", "mandate_refused",
                      "unknown_participant", "unavailable")),
    Operation("GET", "/v1/mandates", "listMandates", "A participant's mandates", api_mandates.list_mandates,
              "mandates", s.MANDATES_RESPONSE, scope="workflow", query={"participant": s.ID},
              required_query=("participant",), errors=("unavailable",)),
    Operation("POST", "/v1/mandates/{mandate_id}/revoke", "revokeMandate", "Revoke a mandate",
              api_mandates.revoke_mandate, "mandates", s.MANDATE, scope="workflow", person=True,
              body=s.REVOKE_REQUEST, path_params={"mandate_id": _ID_PATH},
              errors=("unauthorized", "unknown_mandate", "invalid_mandate", "unavailable")),
    Operation("POST", "/v1/batches", "prepareBatch", "Prepare a batch: one draft request per active mandate",
              api_requests.prepare_batch, "requests", s.BATCH, status=201, scope="admin", body=s.BATCH_REQUEST,
              errors=("unknown_controller", "invalid_mandate", "batch_error", "unavailable")),
    Operation("POST", "/v1/batches/{batch_id}/export", "exportBatch", "Export a batch for the lawyer",
              api_requests.export_batch, "requests", s.EXPORT, status=201, scope="admin",
              path_params={"batch_id": _ID_PATH}, errors=("unknown_batch", "batch_error", "unavailable")),
    Operation("GET", "/v1/requests", "listRequests", "Requests with their state and due dates",
              api_requests.list_requests, "requests", s.REQUESTS_RESPONSE, scope="workflow",
              query={"state": _STATE_QUERY, "controller": s.CONTROLLER, "batch": s.ID, "participant": s.ID},
              errors=("unavailable",)),
    Operation("GET", "/v1/requests/overdue", "overdueRequests", "Requests past their due date",
              api_requests.overdue_requests, "requests", s.OVERDUE_RESPONSE, scope="workflow",
              query={"today": s.DATE}, errors=("unavailable",)),
    Operation("POST", "/v1/requests/{request_id}/transition", "transitionRequest", "Move a request to a new state",
              api_requests.transition_request, "requests", s.REQUEST_RECORD, scope="admin",
              body=s.TRANSITION_REQUEST, path_params={"request_id": _ID_PATH},
              errors=("unknown_request", "illegal_transition", "extension_too_late", "unavailable")),
    Operation("POST", "/v1/vault/setup", "setUpVault", "Set up the person's vault: a passphrase, a recovery code",
              api_vault.setup, "vault", s.RECOVERY_RESPONSE, status=201, person=True, body=s.VAULT_SETUP_REQUEST,
              errors=("unauthorized", "weak_passphrase", "vault_refused", "not_configured", "unavailable"),
              description=("The recovery code is in this answer only: the page shows it once and asks the person to "
                           "confirm they wrote it down. It opens the vault when the passphrase is lost, once.")),
    Operation("GET", "/v1/vault/items", "listVaultItems", "The person's vault items", api_vault.list_items, "vault",
              s.VAULT_ITEMS_RESPONSE, person=True, errors=("unauthorized", "not_configured", "unavailable")),
    Operation("POST", "/v1/vault/items/{item_id}/open", "openVaultItem", "Download an item, decrypted (streamed)",
              api_vault.open_item, "vault", {"type": "string", "format": "binary"}, person=True,
              body=s.VAULT_OPEN_REQUEST, path_params={"item_id": _ID_PATH}, media_type="application/octet-stream",
              errors=("unauthorized", "wrong_passphrase", "unknown_item", "vault_not_set_up", "item_tampered",
                      "not_configured", "unavailable"),
              description=("Decrypted on the server for the length of the download: the passphrase unwraps the key "
                           "in memory and the plaintext streams through; neither is stored or logged. Each chunk "
                           "is authenticated before it is sent; a chunk that fails aborts the connection, so a "
                           "cut download never looks whole (Content-Length is exact).")),
    Operation("POST", "/v1/vault/passphrase", "changeVaultPassphrase", "Change the vault passphrase",
              api_vault.change_passphrase, "vault", s.CHANGED_RESPONSE, person=True,
              body=s.VAULT_PASSPHRASE_REQUEST,
              errors=("unauthorized", "wrong_passphrase", "weak_passphrase", "vault_not_set_up", "vault_conflict",
                      "not_configured", "unavailable")),
    Operation("POST", "/v1/vault/recover", "recoverVault", "Open the vault with the recovery code: a new passphrase",
              api_vault.recover, "vault", s.RECOVERY_RESPONSE, person=True, body=s.VAULT_RECOVER_REQUEST,
              errors=("unauthorized", "wrong_recovery_code", "weak_passphrase", "vault_not_set_up", "vault_conflict",
                      "not_configured", "unavailable"),
              description="A code works once: the answer holds a new one, shown once."),
    Operation("POST", "/v1/vault/erase", "eraseVault", "Erase everything (GDPR Art. 17)", api_vault.erase, "vault",
              s.ERASED_RESPONSE, person=True, body=s.ERASE_REQUEST,
              errors=("unauthorized", "unknown_participant", "not_configured", "unavailable"),
              description=("Destroys the vault key and items, revokes the mandates, cancels open requests and wipes "
                           "the sealed number; the audit log keeps that it happened. Ends the session.")),
    Operation("GET", "/v1/batches/{batch_id}/letter", "batchLetter", "The Art. 15 request of a batch as PDF",
              api_documents.request_letter, "documents", {"type": "string", "format": "binary"}, scope="admin",
              path_params={"batch_id": _ID_PATH}, query={"lang": {"type": "string", "enum": ["nl", "en"]},
                                                          "date": s.DATE},
              media_type="application/pdf", errors=("letter_refused", "not_configured", "unavailable"),
              description="One collective letter with an annex of the data subjects (name, phone number, mandate "
                          "id, signing date, text hash); the same bytes for the same facts."),
    Operation("POST", "/v1/letters/admonition", "admonitionLetter", "The admonition for overdue requests as PDF",
              api_documents.reminder_letter, "documents", {"type": "string", "format": "binary"}, scope="admin",
              body=s.REMINDER_REQUEST, media_type="application/pdf",
              errors=("letter_refused", "unknown_request", "not_configured", "unavailable")),
    Operation("POST", "/v1/letters/complaint", "complaintLetter", "A draft complaint to the Dutch DPA as PDF",
              api_documents.complaint_letter, "documents", {"type": "string", "format": "binary"}, scope="admin",
              body=s.COMPLAINT_REQUEST, media_type="application/pdf",
              errors=("letter_refused", "unknown_request", "not_configured", "unavailable")),
    Operation("GET", "/v1/mandates/{mandate_id}/bundle", "mandateBundle", "The evidence bundle of a mandate (zip)",
              api_documents.mandate_bundle, "documents", {"type": "string", "format": "binary"}, scope="admin",
              path_params={"mandate_id": _ID_PATH}, media_type="application/zip",
              errors=("unknown_mandate", "unavailable"),
              description="Verify it offline with `breachindex campaign bundle verify` or "
                          "`node scripts/verify_bundle.mjs` and the foundation's public key (docs/audit.md)."),
    Operation("GET", "/v1/batches/{batch_id}/bundle", "batchBundle", "The evidence bundle of a batch (zip)",
              api_documents.batch_bundle, "documents", {"type": "string", "format": "binary"}, scope="admin",
              path_params={"batch_id": _ID_PATH}, media_type="application/zip",
              errors=("unknown_mandate", "unavailable")),
    Operation("GET", "/v1/notifications", "getNotificationPreferences", "How the person wants to be told",
              api_notifications.get_preferences, "notifications", s.NOTIFICATION_PREFERENCES, person=True,
              errors=("unauthorized", "not_configured", "unavailable")),
    Operation("POST", "/v1/notifications", "setNotificationPreferences",
              "Change the e-mail address, SMS or e-mail on or off, the language", api_notifications.set_preferences,
              "notifications", s.NOTIFICATION_PREFERENCES, person=True, body=s.NOTIFICATION_CHANGE,
              errors=("unauthorized", "not_configured", "unavailable"),
              description=("Messages say only that something happened (your data arrived, your request is overdue "
                           "and SOMI escalates, a new breach holds your number) and link to the page: never the "
                           "data. Turning a channel off is honoured for every later message.")),
    Operation("PUT", "/v1/admin/vault/items", "storeVaultItem", "Stream a controller's answer into a vault",
              api_vault.admin_store, "vault", s.VAULT_ITEM, status=201, scope="admin", streamed_body=True,
              query={"participant": s.ID, "controller": s.CONTROLLER, "request": s.ID,
                     "partial": {"type": "string", "enum": ["true", "false"]},
                     "name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": s.TEXT_PATTERN}},
              required_query=("participant", "controller"),
              errors=("unauthorized", "forbidden", "payload_too_large", "unknown_controller", "vault_not_set_up",
                      "unknown_request", "illegal_transition", "vault_conflict", "not_configured", "unavailable"),
              description=("The body is the answer's bytes (any type), encrypted to the participant's key as it "
                           "streams in, in constant memory, up to the server's vault upload limit (its own, not the "
                           "JSON body limit). Over the limit, or cut off, nothing is stored. With `request`, the "
                           "request moves to fulfilled (partially_fulfilled with partial=true).")),
    Operation("GET", "/v1/admin/vault/items", "listParticipantVaultItems", "A participant's vault items",
              api_vault.admin_items, "vault", s.VAULT_ITEMS_RESPONSE, scope="admin", query={"participant": s.ID},
              required_query=("participant",), errors=("unauthorized", "forbidden", "not_configured",
                                                       "unavailable")),
)


def _http_exception_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route matched) as JSON errors."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(request, ApiError("method_not_allowed", "this path does not take that method",
                                                headers=dict(exc.headers or {})))
    if exc.status_code == 404:
        return error_response(request, ApiError("not_found", "no such path"))
    return error_response(request, ApiError("invalid_request", "the request is not valid"))


class _ServerApp(Starlette):
    """Starlette, with the API's fixed paths (``POST /v1/check``, ...) answered without its
    router: a request whose method and path name an operation goes straight to the operation's
    endpoint, inside the same ``RequestMiddleware`` (request id, headers, log line, metrics,
    ``internal_error``). Starlette's layers (its error and exception middleware, the router's
    match over every route, two wrappers of each ``send``) cost a check a fifth of its time and
    do nothing there: the endpoints answer every error themselves. Everything else (paths with
    parameters, the page, HEAD, a method a path does not take) goes through Starlette as before.
    """

    def __init__(self, direct: dict[tuple[str, str], Route], metrics: ServerMetrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._direct = direct
        self._direct_stack = RequestMiddleware(self._answer_direct, metrics=metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._direct.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if route is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"], scope["route"], scope["endpoint"], scope["path_params"] = self, route, route.endpoint, {}
        await self._direct_stack(scope, receive, send)  # the route names the log line and the metrics

    async def _answer_direct(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await scope["endpoint"](Request(scope, receive, send))
        await response(scope, receive, send)


def create_app(config: ServerConfig, *, sender: SmsSender | None = None, log_stream: Any = None,
               configure_logs: bool = True) -> Starlette:
    """The app for ``config``. ``sender`` overrides ``config.sms_sender`` (tests pass a
    ``RecordingSender``); ``log_stream`` receives the JSON log lines (default stderr)."""
    if configure_logs:
        configure_logging(config.log_level, log_stream)
    holder: dict[str, ServerState] = {}
    files = api_health.page_files()
    document = json.dumps(openapi_document(OPERATIONS)).encode("utf-8")

    def state() -> ServerState:
        return holder["state"]

    def path_endpoint(operations: list[Operation]) -> Callable[[Request], Awaitable[Response]]:
        """One endpoint for every method of a path (so a 405 lists them all in Allow), its
        handlers bound to the state the (latest) lifespan opened."""
        bound: dict[int, dict[str, Callable[[Request], Awaitable[Response]]]] = {}

        async def call(request: Request) -> Response:
            current = state()
            handlers = bound.get(id(current))
            if handlers is None:
                bound.clear()
                handlers = bound[id(current)] = {op.method: endpoint(op, current) for op in operations}
            method = "GET" if request.method == "HEAD" else request.method
            return await handlers[method](request)

        return call

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    by_path: dict[str, list[Operation]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, []).append(op)
    routes = [Route(path, path_endpoint(ops), methods=[op.method for op in ops]) for path, ops in by_path.items()]
    # the operations on fixed paths, by method and path: answered without Starlette's router
    direct = {(method, route.path): route for route in routes if "{" not in route.path
              for method in route.methods or () if method != "HEAD"}
    page = api_health.page_endpoint(files)
    routes += [Route("/openapi.json", openapi, methods=["GET"]), Route("/", page, methods=["GET"]),
               Route("/static/{name}", page, methods=["GET"])]

    metrics = ServerMetrics(route.path for route in routes)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = ServerState.open(config, sender=sender, metrics=metrics)
        holder["state"] = opened
        app.state.server = opened
        watcher = asyncio.create_task(opened.generations.watch())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            opened.close()
            metrics.close()

    app = _ServerApp(direct, metrics, routes=routes, middleware=[Middleware(RequestMiddleware, metrics=metrics)],
                     lifespan=lifespan, exception_handlers={HTTPException: _http_exception_handler})
    app.router.redirect_slashes = False
    return app


def app_from_environment() -> Starlette:
    """uvicorn's factory for worker processes (``breachindex serve`` sets the environment)."""
    config = ServerConfig.from_environment()
    return create_app(config)
