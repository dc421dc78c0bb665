"""The vault over HTTP: the person keeps what controllers sent back, readable only by them.

The person (the page's session: a confirmed code) sets the vault up with a passphrase and gets
a recovery code once, lists their items, opens one (streamed, all or nothing), changes the
passphrase, recovers with the code (a new one is shown once) and erases everything (Art. 17).
An operator (an API key with the ``admin`` scope) streams a controller's answer into a
participant's vault (``PUT /v1/admin/vault/items``), with a body limit of its own.

Where an item is decrypted: here, on the server, for the length of the download. The
passphrase reaches the server in the request body (over TLS), unwraps the participant's
private key in memory, and the plaintext passes through the server as it streams to the
browser; neither is written anywhere or logged, and both are gone when the answer ends.
Without the passphrase (or the recovery code) the server holds only ciphertext it cannot open.

An opened item streams with its exact ``Content-Length``; each chunk is authenticated before
it is sent, and a chunk that fails (or a missing final chunk) aborts the connection instead of
ending the answer, so a client never takes a cut or altered download for a whole one.
Unwrapping a key costs the Argon2id parameters' memory (64 MiB by default): at most
``KDF_SLOTS`` run at once, the rest wait. Every try of a passphrase or recovery code takes from
the participant's own ``vault:unlock`` budget, shared by every worker (10, then one a minute).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from ..errors import BreachIndexError
from ..vault import Vault
from ..vault.records import Erasure, VaultItem
from .errors import ApiError
from .logs import LOGGER_NAME, log_event
from .routing import Call, Reply

__all__ = ["KDF_SLOTS", "item_view", "vault_status", "setup", "list_items", "open_item", "change_passphrase",
           "recover", "erase", "admin_store", "admin_items"]

log = logging.getLogger(LOGGER_NAME)

#: Argon2id unwraps running at once (each takes the KDF's memory)
KDF_SLOTS = 2
_kdf_slots: dict[int, asyncio.Semaphore] = {}


def _slots() -> asyncio.Semaphore:
    loop = id(asyncio.get_running_loop())
    slots = _kdf_slots.get(loop)
    if slots is None:
        slots = _kdf_slots[loop] = asyncio.Semaphore(KDF_SLOTS)
    return slots


def _vault(call: Call) -> Vault:
    vault = call.state.vault
    if vault is None:
        raise ApiError("not_configured", "this server has no vault folder (serve --vault DIR)")
    return vault


def _participant(call: Call) -> str:
    if call.session is None:
        raise ApiError("unauthorized", "confirm a code first: no verified session")
    return call.session.participant


def item_view(item: VaultItem, *, person: bool) -> dict[str, Any]:
    view = {"id": item.id, "controller": item.controller, "request": item.request, "partial": item.partial,
            "received_at": item.received_at.isoformat().replace("+00:00", "Z"), "size": item.size,
            "sha256": item.sha256}
    if not person:
        view["participant"] = item.participant
    return view


def _erasure_view(erasure: Erasure) -> dict[str, Any]:
    return {"erased_at": erasure.erased_at.isoformat().replace("+00:00", "Z"),
            "key_destroyed": erasure.key_destroyed, "items": erasure.items,
            "mandates_revoked": len(erasure.mandates_revoked), "requests_cancelled": len(erasure.requests_cancelled)}


def vault_status(vault: Vault | None, participant: str) -> dict[str, Any]:
    """What the page shows of a participant's vault (``GET /v1/session``)."""
    if vault is None:
        return {"available": False, "set_up": False, "items": []}
    set_up = vault.is_set_up(participant)
    items = [item_view(i, person=True) for i in vault.items(participant)] if set_up else []
    return {"available": True, "set_up": set_up, "items": items}


async def setup(call: Call) -> Reply:
    vault, participant = _vault(call), _participant(call)
    async with _slots():
        code = await run_in_threadpool(vault.setup, participant, call.body["passphrase"])
    return Reply({"recovery_code": code,
                  "notice": "Write this recovery code down now: it is shown once and SOMI cannot recover it."},
                 status=201)


async def list_items(call: Call) -> Reply:
    vault, participant = _vault(call), _participant(call)
    items = await run_in_threadpool(vault.items, participant)
    return Reply({"items": [item_view(i, person=True) for i in items]})


def _chunks(reader: Any) -> Iterator[bytes]:
    with reader:
        yield from reader.chunks()


def _unlock_try(call: Call, participant: str) -> None:
    call.state.budgets.vault_unlock(participant)


async def open_item(call: Call) -> Reply:
    vault, participant = _vault(call), _participant(call)
    await run_in_threadpool(_unlock_try, call, participant)
    async with _slots():
        reader = await run_in_threadpool(vault.open, participant, call.body["passphrase"], call.path["item_id"])
    item: VaultItem = reader.item
    headers = {"Content-Length": str(item.size),
               "Content-Disposition": f'attachment; filename="somi-{item.controller}-{item.id[:8]}.bin"',
               "X-Content-SHA256-Stored": item.sha256}
    return Reply(StreamingResponse(_chunks(reader), media_type="application/octet-stream", headers=headers))


async def change_passphrase(call: Call) -> Reply:
    vault, participant = _vault(call), _participant(call)
    await run_in_threadpool(_unlock_try, call, participant)
    async with _slots():
        await run_in_threadpool(vault.change_passphrase, participant, call.body["passphrase"],
                                call.body["new_passphrase"])
    return Reply({"changed": True})


async def recover(call: Call) -> Reply:
    vault, participant = _vault(call), _participant(call)
    await run_in_threadpool(_unlock_try, call, participant)
    async with _slots():
        code = await run_in_threadpool(vault.recover, participant, call.body["recovery_code"],
                                       call.body["new_passphrase"])
    return Reply({"recovery_code": code,
                  "notice": "Your old recovery code no longer works. Write this new one down: it is shown once."})


async def erase(call: Call) -> Reply:
    vault, participant = _vault(call), _participant(call)
    if call.body["confirm"] != "erase everything":
        raise ApiError("invalid_request", "send confirm: \"erase everything\" to erase your data")
    erasure = await run_in_threadpool(vault.erase, participant)
    return Reply(_erasure_view(erasure), headers={"Set-Cookie": call.state.sessions.clear_cookie_header()})


def _pieces(call: Call, limit: int) -> Iterator[bytes]:
    """The request body as a blocking iterator (for ``Vault.store`` in a worker thread), counted
    against ``limit``: over it, the store is aborted and nothing is kept."""
    stream: AsyncIterator[bytes] = call.request.stream().__aiter__()

    async def next_piece() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    total = 0
    while True:
        piece = anyio.from_thread.run(next_piece)
        if piece is None:
            return
        total += len(piece)
        if total > limit:
            raise ApiError("payload_too_large", f"the upload is larger than the vault's limit of {limit} bytes")
        if piece:
            yield piece


async def admin_store(call: Call) -> Reply:
    vault = _vault(call)
    q = call.query
    limit = call.state.config.vault_upload_limit
    announced = call.request.headers.get("content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise ApiError("payload_too_large", f"the upload is larger than the vault's limit of {limit} bytes")
    try:
        item = await run_in_threadpool(
            lambda: vault.store(q["participant"], q["controller"], _pieces(call, limit), request=q.get("request"),
                                partial=q.get("partial") == "true", name=q.get("name")))
    except ValueError as exc:
        if isinstance(exc, BreachIndexError):
            raise
        # a name the vault cannot keep, a request to another controller: the caller's mistake
        raise ApiError("invalid_request", str(exc)) from None
    notifier = call.state.notifier
    if notifier is not None:  # "your data has arrived": the item is stored whatever the channels answer
        try:
            await run_in_threadpool(notifier.data_arrived, item)
        except BreachIndexError as exc:
            log_event(log, logging.WARNING, "notification_failed", kind="data_arrived", error=type(exc).__name__)
    return Reply(item_view(item, person=False), status=201)


async def admin_items(call: Call) -> Reply:
    vault = _vault(call)
    items = await run_in_threadpool(vault.items, call.query["participant"])
    return Reply({"items": [item_view(i, person=False) for i in items]})

