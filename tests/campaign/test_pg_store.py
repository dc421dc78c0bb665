"""What only the PostgreSQL store has to prove: the audit log append-only
against every role and the app role's grants, and many processes at once losing nothing and
double-spending nothing (one code, one winner; one active mandate per participant and
controller; every vault item stored). Runs against the session's throw-away cluster."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
from helpers.campaign import OPEN, S, enrol, number, sql
from helpers.campaign import sign as shared_sign
from helpers.mandate_texts import registry
from helpers.processes import at_once
from helpers.vault import FAST

from breachindex import Key
from breachindex.campaign import Campaign, RecordingSender
from breachindex.errors import CampaignStoreError, CodeInvalid, MandateRefused

pytest.importorskip("psycopg")
from breachindex.campaign.pgstore import PgStore, redacted_url

KEY = Key(bytes(range(32)))
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
PROCESSES = 6
MANDATE_RACES = 20  # participants every process tries to sign for at once
TEXT = "Ik machtig Stichting Onderzoek Marktinformatie om namens mij inzage te vragen (art. 15 AVG)."
EVIDENCE = {"ip": "203.0.113.77", "user_agent": "test", "consents": ["privacy_notice_read", "authorise_access_request"]}
TEMPLATES = registry([TEXT], EVIDENCE["consents"], "2024-02")


def campaign(url: str, sender: RecordingSender | None = None) -> Campaign:
    return Campaign(url, secret=KEY, sender=sender or RecordingSender(), limits=OPEN, templates=TEMPLATES)


def sign(c: Campaign, participant: str, now: datetime):  # type: ignore[no-untyped-def]
    return shared_sign(c, participant, now=now, text=TEXT, evidence=EVIDENCE, base="2024-02")


@pytest.fixture
def url(pg_cluster):
    made = pg_cluster.new_database()
    yield made
    pg_cluster.drop_database(made)


def test_the_password_never_reaches_a_message():
    assert redacted_url("postgresql://app:s3cret@db:5432/c?sslmode=require") == \
        "postgresql://app@db:5432/c?sslmode=require"
    with pytest.raises(CampaignStoreError) as info:
        PgStore("postgresql://app:s3cret@/c?host=/nonexistent&connect_timeout=1", busy_timeout=1)
    assert "s3cret" not in str(info.value)


def test_a_pool_with_no_free_connection_or_a_closed_store_is_a_clear_error_and_the_connection_comes_back(url):
    store = PgStore(url, busy_timeout=0.3, pool_size=1)
    try:
        busy = "no connection to the campaign store is free"
        with store.connection(), pytest.raises(CampaignStoreError, match=busy), store.transaction():
            pass  # the pool's only connection is held by the first context
        with store.transaction() as db:  # given back: the next transaction gets it
            assert db.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(CampaignStoreError, match="boom"), store.transaction() as db:
            db.execute("CREATE TABLE kept (n INTEGER)")
            raise CampaignStoreError("boom")
        with store.read() as db:  # rolled back, and the connection is back in the pool
            assert db.execute("SELECT to_regclass('kept') IS NULL").fetchone() == (True,)
    finally:
        store.close()
    with pytest.raises(CampaignStoreError, match="closed"), store.transaction():
        pass


def test_the_audit_log_is_append_only_for_everyone_and_the_app_role_may_only_insert(pg_cluster, url):
    sender = RecordingSender()
    with campaign(url, sender) as c:
        sign(c, enrol(c, sender, 1, now=T0), T0 + 3 * S)
        for statement in ("UPDATE audit_log SET kind = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                          "DELETE FROM audit_checkpoints"):
            with pytest.raises(CampaignStoreError, match="append-only"):
                sql(c, statement)  # the superuser that owns the tables is refused by the triggers
        entries = c.verify_audit_log().entries
    pg_cluster.execute("CREATE ROLE app LOGIN")
    from breachindex.cli.campaign import main as campaign_main

    assert campaign_main(["grant-app-role", "--db", url, "--role", "app"]) == 0
    app_url = url.replace("postgresql://postgres@", "postgresql://app@")
    with campaign(app_url, sender) as c:  # the server's role does its work
        enrol(c, sender, 2, now=T0 + 10 * S)
        assert c.verify_audit_log().entries == entries + 2
        for statement in ("UPDATE audit_log SET kind = 'x'", "DELETE FROM audit_checkpoints",
                          "DROP TRIGGER audit_log_no_update ON audit_log", "CREATE TABLE sneaky (x int)"):
            with pytest.raises(CampaignStoreError, match="permission denied|must be owner"):
                sql(c, statement)
    pg_cluster.execute("DROP OWNED BY app", database=pg_cluster.database_of(url))
    pg_cluster.execute("DROP ROLE app")


# ---- many processes at once ---------------------------------------------------------------------
def _confirm(url: str, challenge: str, code: str, start, out) -> None:
    with campaign(url) as c:
        start.wait(30)
        try:
            out.put(("won", c.confirm_verification(challenge, code, now=T0 + S).participant))
        except CodeInvalid:
            out.put(("lost", None))


def _sign(url: str, participants: list[str], start, out) -> None:
    outcomes = []
    with campaign(url) as c:
        start.wait(30)
        for participant in participants:  # every process races for every participant, in one order
            try:
                outcomes.append(("signed", sign(c, participant, T0 + 5 * S).id))
            except MandateRefused as exc:
                outcomes.append(("refused", exc.reason))
    out.put(outcomes)


def _store_items(url: str, folder: str, participant: str, i: int, start, out) -> None:
    with campaign(url) as c:
        vault = c.vault(folder, kdf=FAST)
        start.wait(30)
        ids = [vault.store(participant, "meta", [os.urandom(1000), f"{i}-{k}".encode()], now=T0 + 6 * S).id
               for k in range(5)]
        out.put(ids)


def test_many_processes_one_code_one_winner_one_mandate_and_every_item_stored(url, tmp_path):
    sender = RecordingSender()
    with campaign(url, sender) as c:
        challenge = c.start_verification(number(7), now=T0)
        code = sender.last_code(number(7))
    results = at_once(_confirm, [(url, challenge.id, code)] * PROCESSES)
    assert sorted(kind for kind, _ in results) == ["lost"] * (PROCESSES - 1) + ["won"]
    with campaign(url, sender) as c:
        pid = c.participant_id(number(7))
        c.record_identity_check(pid, provider="idv", reference="case-7", status="approved", now=T0 + 2 * S)
        c.vault(tmp_path / "vault", kdf=FAST).setup(pid, "correct horse battery staple", now=T0 + 3 * S)
        others = [enrol(c, sender, 100 + i, now=T0 + 2 * S) for i in range(MANDATE_RACES - 1)]
    signed = [o for outcomes in at_once(_sign, [(url, [pid, *others])] * PROCESSES) for o in outcomes]
    assert sorted(kind for kind, _ in signed) == ["refused"] * ((PROCESSES - 1) * MANDATE_RACES) + \
        ["signed"] * MANDATE_RACES
    assert {reason for kind, reason in signed if kind == "refused"} == {"already_active"}
    with campaign(url, sender) as c:
        before = c.verify_audit_log().entries
        assert sql(c, "SELECT COUNT(*) FROM mandates WHERE participant = ?", (pid,)).fetchone()[0] == 1
    stored = at_once(_store_items, [(url, str(tmp_path / "vault"), pid, i) for i in range(PROCESSES)])
    ids = [i for batch in stored for i in batch]
    with campaign(url, sender) as c:
        items = c.vault(tmp_path / "vault", kdf=FAST).items(pid)
        assert sorted(item.id for item in items) == sorted(ids) and len(set(ids)) == 5 * PROCESSES
        report = c.verify_audit_log()
        assert report.consistent and report.entries == before + 5 * PROCESSES, report
