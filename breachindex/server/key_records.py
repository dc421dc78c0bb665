"""Where the API keys are kept: a key file (JSON, one host) or the campaign store (one table,
every host that shares the store sees the same keys at once).

``--api-keys`` (and the ``api-key`` CLI's FILE) is a path for a key file, or the campaign
store's URL (``sqlite:///campaign.db``, ``postgresql://...``) for keys in the store. Either way
an entry is the same JSON object (see ``auth``): the SHA-256 of the key, never the key. A
change in the store is one transaction that reads and rewrites the set (one writer at a time,
as every write to the store), so two operators adding keys at once lose nothing.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from ..campaign.clock import now_us
from ..campaign.db import CampaignDb, Db
from ..campaign.store import is_postgresql_url, open_store

__all__ = ["in_store", "KeyTable"]

T = TypeVar("T")
_VERSION = 1


def in_store(location: str | os.PathLike[str]) -> bool:
    """True if ``location`` names a campaign store (a URL) rather than a key file."""
    text = os.fspath(location)
    return is_postgresql_url(text) or text.startswith("sqlite://")


class KeyTable:
    """The ``api_keys`` table of a campaign store, as the key file's document."""

    def __init__(self, url: str) -> None:
        self._store: CampaignDb = open_store(url)

    def close(self) -> None:
        self._store.close()

    @staticmethod
    def _document(db: Db) -> dict[str, Any]:
        rows = db.execute("SELECT record FROM api_keys ORDER BY id").fetchall()
        return {"version": _VERSION, "keys": [json.loads(str(r[0])) for r in rows]}

    def read(self) -> dict[str, Any]:
        with self._store.read() as db:
            return self._document(db)

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """``change`` the document in one write transaction; what it returns."""
        with self._store.transaction() as db:
            data = self._document(db)
            before = {k["id"]: k for k in data["keys"]}
            answer = change(data)
            after = {k["id"]: k for k in data["keys"]}
            t = now_us(None)
            for key_id in before.keys() - after.keys():
                db.execute("DELETE FROM api_keys WHERE id = ?", (key_id,))
            for key_id, entry in after.items():
                if before.get(key_id) != entry:
                    db.execute("INSERT INTO api_keys (id, record, updated_us) VALUES (?, ?, ?) ON CONFLICT (id) "
                               "DO UPDATE SET record = excluded.record, updated_us = excluded.updated_us",
                               (key_id, json.dumps(entry, sort_keys=True), t))
            return answer
