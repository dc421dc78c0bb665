"""API keys kept in the campaign store (``server.key_records``) on both stores: the same
entries as a key file, read by every server, and no key lost when several processes add keys
at once."""
from __future__ import annotations

import multiprocessing

import pytest

from breachindex.campaign.store import open_store
from breachindex.server.auth import ApiKeyStore, create_api_key, list_api_keys, revoke_api_key


def _url(where: object) -> str:
    return where if isinstance(where, str) else f"sqlite:///{where}"


def _add_keys(url: str, n: int, out) -> None:  # type: ignore[no-untyped-def]
    out.put([create_api_key(url, name=f"k{i}", scopes=["check"]) for i in range(n)])


def test_keys_in_the_store_are_made_listed_checked_and_revoked(tmp_store) -> None:
    url = _url(tmp_store("c"))
    open_store(url).close()
    token = create_api_key(url, name="partner", scopes=["check", "workflow"], per_day=5)
    keys = ApiKeyStore(url, recheck_every=0.0)
    try:
        key = keys.verify(token)
        assert key is not None and key.scopes == {"check", "workflow"} and key.per_day == 5
        assert keys.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert [k.name for k in list_api_keys(url)] == ["partner"]
        with open_store(url).read() as db:  # never the key itself, only its hash
            records = [str(r[0]) for r in db.execute("SELECT record FROM api_keys").fetchall()]
        assert records and token not in "".join(records) and token.split("_", 2)[2] not in "".join(records)
        assert revoke_api_key(url, key.id) and not revoke_api_key(url, key.id)
        assert keys.verify(token) is None and list_api_keys(url) == []
    finally:
        keys.close()


def test_several_processes_adding_keys_at_once_lose_none(tmp_store) -> None:
    url = _url(tmp_store("c"))
    open_store(url).close()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_add_keys, args=(url, 5, out)) for _ in range(4)]
    for p in procs:
        p.start()
    tokens = [t for _ in procs for t in out.get(timeout=120)]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    keys = ApiKeyStore(url)
    try:
        assert len(list_api_keys(url)) == 20 and all(keys.verify(t) is not None for t in tokens)
    finally:
        keys.close()


def test_a_key_file_path_still_means_a_file(tmp_path) -> None:
    path = tmp_path / "keys.json"
    token = create_api_key(path, name="file", scopes=["admin"])
    assert path.exists() and ApiKeyStore(path).verify(token) is not None
    with pytest.raises(ValueError):
        create_api_key(path, name="", scopes=["admin"])
