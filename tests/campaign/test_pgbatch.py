"""The batched transactions of the PostgreSQL store (``pgbatch``): values come back exactly as
they went in (against what psycopg itself reads), statements keep their order, an error rolls
the whole transaction back and leaves the session's prepared statements usable, and no value is
ever written into a statement's text. Runs against the session's throw-away cluster."""
from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breachindex.campaign import pgbatch
from breachindex.campaign.pgbatch import split_placeholders
from breachindex.campaign.pgstore import PgStore
from breachindex.errors import CampaignStoreError

MARK = "batched-value-7f3a"


@pytest.fixture(scope="module")
def store(pg_cluster):
    url = pg_cluster.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE scratch (id BIGSERIAL PRIMARY KEY, t TEXT, b BYTEA, i NUMERIC, f FLOAT8)")
    made = PgStore(url, pool_size=1)  # one connection: every transaction meets the statements the last prepared
    yield made
    made.close()
    pg_cluster.drop_database(url)


@pytest.fixture(autouse=True)
def empty(store):
    with store.transaction() as db:
        db.execute("DELETE FROM scratch")


@given(st.text(alphabet="ab?;$1' ", max_size=30))
def test_the_pieces_between_placeholders_give_back_the_statement(sql):
    quoted, outside = False, []
    for ch in sql:
        quoted ^= ch == "'"
        outside.append(not quoted and ch != "'")
    if any(ch == ";" and out for ch, out in zip(sql, outside, strict=True)):
        with pytest.raises(CampaignStoreError):
            split_placeholders(sql)
        return
    pieces = split_placeholders(sql)
    assert b"?".join(pieces).decode() == sql
    assert len(pieces) - 1 == sum(1 for ch, out in zip(sql, outside, strict=True) if ch == "?" and out)


texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
ints = st.one_of(st.integers(-2**15 - 2, 2**15 + 2), st.integers(-2**63 - 2, 2**63 + 2), st.integers(-10**30, 10**30))
floats = st.floats(allow_nan=False, allow_infinity=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(st.none(), texts), st.one_of(st.none(), st.binary(max_size=40)),
                          st.one_of(st.none(), ints), st.one_of(st.none(), floats)), min_size=1, max_size=8))
def test_values_come_back_as_they_went_in_and_as_psycopg_reads_them(store, rows):
    with store.transaction() as db:
        db.execute("DELETE FROM scratch")
        db.executemany("INSERT INTO scratch (t, b, i, f) VALUES (?, ?, ?, ?)", rows)
        inside = db.execute("SELECT t, b, i, f FROM scratch ORDER BY id").fetchall()
    with store.read() as db:
        read = db.execute("SELECT t, b, i, f FROM scratch ORDER BY id").fetchall()
    with store.connection() as conn:
        plain = conn.execute("SELECT t, b, i, f FROM scratch ORDER BY id").fetchall()
    assert read == inside == [tuple(r) for r in plain]
    for (t, b, i, f), got in zip(rows, read, strict=True):
        assert got[0] == t and got[1] == b
        assert got[2] == i  # NUMERIC holds every int exactly
        assert got[3] == f  # infinities too (NaN is left out: it equals nothing)


def test_a_statement_sees_what_the_ones_before_it_in_the_batch_wrote(store):
    with store.transaction() as db:
        db.executemany("INSERT INTO scratch (t) VALUES (?)", [("a",), ("b",), ("c",)])
        changed = db.execute("UPDATE scratch SET t = t || ? WHERE t <> ?", ("!", "b"))
        count = db.execute("SELECT COUNT(*) FROM scratch WHERE t LIKE '%!'")
        assert changed.rowcount == 2
        assert count.fetchone() == (2,)


def test_more_statements_than_one_batch_holds_all_commit(store):
    n = 3 * pgbatch._MAX_QUEUED + 7
    with store.transaction() as db:
        assert db.executemany("INSERT INTO scratch (i) VALUES (?)", [(k,) for k in range(n)]).rowcount == n
    with store.read() as db:
        assert db.execute("SELECT COUNT(*), SUM(i) FROM scratch").fetchone() == (n, n * (n - 1) // 2)


def test_an_error_rolls_the_whole_transaction_back_and_every_statement_works_afterwards(store):
    before = "INSERT INTO scratch (t) VALUES (?) /* before */"
    failing = "SELECT 1 / ? /* failing */"
    after = "INSERT INTO scratch (t) VALUES (?) /* after */"
    with pytest.raises(CampaignStoreError, match="division by zero"), store.transaction() as db:
        db.execute(before, ("kept?",))
        db.execute(failing, (0,))
        db.execute(after, ("never",))  # prepared in the same batch, after the error: skipped by the server
    with store.read() as db:
        assert db.execute("SELECT COUNT(*) FROM scratch").fetchone() == (0,)
    with store.transaction() as db:  # the first was prepared before the error, the last never was
        db.execute(before, ("one",))
        db.execute(failing, (1,))
        db.execute(after, ("two",))
    with store.read() as db:
        assert [r[0] for r in db.execute("SELECT t FROM scratch ORDER BY id")] == ["one", "two"]


def test_statements_queued_when_the_caller_fails_are_never_thought_prepared(store):
    statement = "INSERT INTO scratch (t) VALUES (?) /* queued, never sent */"
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute(statement, ("x",))
        raise RuntimeError("the caller's own error, before any read")
    with store.transaction() as db:
        db.execute(statement, ("y",))
    with store.read() as db:
        assert db.execute("SELECT t FROM scratch").fetchall() == [("y",)]


def test_an_interrupted_batch_closes_its_connection_and_the_store_goes_on(store, monkeypatch):
    real = pgbatch.BatchedConnection._result_or_none
    calls = {"n": 0}

    def interrupted(self):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(pgbatch.BatchedConnection, "_result_or_none", interrupted)
    with pytest.raises(KeyboardInterrupt), store.transaction() as db:
        db.execute("INSERT INTO scratch (t) VALUES (?)", ("lost",)).rowcount  # noqa: B018
    monkeypatch.setattr(pgbatch.BatchedConnection, "_result_or_none", real)
    with store.transaction() as db:
        db.execute("INSERT INTO scratch (t) VALUES (?)", ("after",))
    with store.read() as db:
        assert db.execute("SELECT t FROM scratch").fetchall() == [("after",)]


def test_no_value_is_ever_written_into_a_statements_text(store):
    with store.transaction() as db:
        db.execute("INSERT INTO scratch (t, b) VALUES (?, ?)", (MARK + "'); DROP TABLE scratch; --", MARK.encode()))
    with store.connection() as conn:  # the pool's one connection: the session that prepared them
        prepared = conn.execute("SELECT name, statement FROM pg_prepared_statements").fetchall()
        stored = conn.execute("SELECT t FROM scratch").fetchall()
    assert prepared and all(name.startswith("bi_") for name, _ in prepared)
    assert not any(MARK in text for _, text in prepared)
    assert stored == [(MARK + "'); DROP TABLE scratch; --",)]


def test_a_placeholder_count_that_does_not_match_is_refused_before_anything_is_sent(store):
    with pytest.raises(CampaignStoreError, match="2 placeholders but 1"), store.transaction() as db:
        db.execute("INSERT INTO scratch (t, b) VALUES (?, ?)", ("a",))
    with pytest.raises(CampaignStoreError, match="';'"), store.transaction() as db:
        db.execute("DELETE FROM scratch; DROP TABLE scratch")
