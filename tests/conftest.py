"""Fixtures every test shares."""
from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _library_logs_reach_caplog(monkeypatch):
    """A server built in a test (even in an earlier module) sends the library's logs to its own
    JSON handler and stops them propagating, as a real server should; every test starts with
    them propagating again, so that caplog sees the library's records."""
    for name in ("breachindex", "breachindex.server"):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "propagate", True)
        monkeypatch.setattr(logger, "disabled", False)


#: the campaign stores the tests of the campaign, vault, mandates and server run against
STORES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_cluster():
    """One throw-away PostgreSQL cluster for the session (``helpers.postgres``), on a Unix
    socket in a temporary folder; skipped, with the reason, where none can be started."""
    from helpers.postgres import Cluster, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=STORES)
def store_kind(request) -> str:
    """Each store in turn (``sqlite``, ``postgresql``)."""
    return request.param


@pytest.fixture
def tmp_store(request, store_kind, tmp_path):
    """``tmp_store(name)``: a campaign store for this test, named ``name`` (the same name
    gives the same store): a file in ``tmp_path`` on SQLite, a new database on PostgreSQL
    (dropped at the end)."""
    made: dict[str, object] = {}
    cluster = request.getfixturevalue("pg_cluster") if store_kind == "postgresql" else None

    def make(name: str = "campaign"):
        if name not in made:
            made[name] = tmp_path / f"{name}.db" if cluster is None else cluster.new_database()
        return made[name]

    yield make
    if cluster is not None:
        for url in made.values():
            cluster.drop_database(str(url))
