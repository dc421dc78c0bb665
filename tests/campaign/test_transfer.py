"""Moving a running campaign between stores (``campaign.transfer``, ``breachindex campaign
migrate``): every row, the same audit log on both sides, ids that continue, and refusals."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest
from helpers.campaign import OPEN, S, enrol, number, sql
from helpers.campaign import sign as shared_sign
from helpers.mandate_texts import registry
from helpers.vault import FAST

from breachindex import Key
from breachindex.campaign import Campaign, RecordingSender
from breachindex.campaign.transfer import TABLES, transfer
from breachindex.cli.campaign import main as campaign_main
from breachindex.errors import CampaignStoreError, WrongKey

pytest.importorskip("psycopg")

KEY = Key(bytes(range(32)))
T0 = datetime(2025, 2, 3, 9, tzinfo=timezone.utc)
TEXT = "Ik machtig Stichting Onderzoek Marktinformatie om namens mij inzage te vragen (art. 15 AVG)."
EVIDENCE = {"ip": "203.0.113.77", "user_agent": "test", "consents": ["privacy_notice_read", "authorise_access_request"]}
TEMPLATES = registry([TEXT], EVIDENCE["consents"], "2024-02")


def campaign(where, sender=None) -> Campaign:  # type: ignore[no-untyped-def]
    return Campaign(where, secret=KEY, sender=sender or RecordingSender(), limits=OPEN, templates=TEMPLATES)


def running_campaign(where, vault_folder) -> None:  # type: ignore[no-untyped-def]
    """A campaign with something in every part: participants, checks, mandates (one revoked),
    a batch sent, a vault item, budgets, notifications' preferences and checkpoints."""
    sender = RecordingSender()
    with campaign(where, sender) as c:
        pids = [enrol(c, sender, i, now=T0 + 10 * i * S) for i in range(4)]
        mandates = [shared_sign(c, pid, now=T0 + 60 * S, text=TEXT, evidence=EVIDENCE, base="2024-02")
                    for pid in pids]
        c.revoke_mandate(mandates[3].id, reason="the person withdrew", now=T0 + 70 * S)
        c.checkpoint_audit_log(now=T0 + 80 * S)
        batch = c.prepare_batch("meta", filing_date=date(2025, 2, 10), now=T0 + 90 * S)
        assert batch is not None
        c.start_verification(number(9), now=T0 + 100 * S)  # a challenge still open
        vault = c.vault(vault_folder, kdf=FAST)
        vault.setup(pids[0], "correct horse battery staple", now=T0 + 110 * S)
        vault.store(pids[0], "meta", [b"the answer"], now=T0 + 120 * S)
        budgets = c.open_budgets()
        from breachindex.campaign.budgets import Bucket, Charge

        budgets.charge(Charge(buckets=[(Bucket("x", 1.0, 5), "a")], touch_key="key1"), 10**15)
        budgets.close()


def test_sqlite_to_postgresql_and_back_moves_every_row_with_the_same_audit_log(tmp_path, pg_cluster):
    source = tmp_path / "campaign.db"
    running_campaign(source, tmp_path / "vault")
    url = pg_cluster.new_database()
    try:
        moved = transfer(source, url, secret=KEY)
        assert set(moved.rows) == set(TABLES) and moved.audit_entries >= 14
        assert all(moved.rows[t] > 0 for t in ("participants", "mandates", "requests", "vault_items",
                                               "audit_checkpoints", "budget_buckets", "challenges"))
        with campaign(url) as c:  # analyzed: what the servers prepare is planned for these tables' sizes
            sizes = dict(sql(c, "SELECT relname, reltuples::bigint FROM pg_class WHERE relkind = 'r'").fetchall())
            assert {t: sizes[t] for t in TABLES} == moved.rows  # -1 for a table never analyzed
        with campaign(url) as c:  # the moved campaign works on: ids continue after the copied ones
            pid = c.participant_id(number(0))
            assert c.is_verified(pid, now=T0 + 200 * S)
            vault = c.vault(tmp_path / "vault", kdf=FAST)
            with vault.open(pid, "correct horse battery staple", vault.items(pid)[0]) as reader:
                assert reader.read() == b"the answer"
            before = sql(c, "SELECT MAX(id) FROM identity_checks").fetchone()[0]
            sender = RecordingSender()
            c2 = campaign(url, sender)
            enrol(c2, sender, 50, now=T0 + 300 * S)
            c2.close()
            assert sql(c, "SELECT MAX(id) FROM identity_checks").fetchone()[0] == before + 1
            assert c.verify_audit_log().consistent
        back = tmp_path / "back.db"
        again = transfer(url, back, secret=KEY)
        assert again.audit_entries == moved.audit_entries + 2 and again.rows["participants"] == \
            moved.rows["participants"] + 1
    finally:
        pg_cluster.drop_database(url)


def test_a_destination_that_is_not_empty_or_a_wrong_key_is_refused(tmp_path, pg_cluster):
    source = tmp_path / "campaign.db"
    running_campaign(source, tmp_path / "vault")
    url = pg_cluster.new_database()
    try:
        with campaign(url):  # a store with its settings row: not empty
            pass
        with pytest.raises(CampaignStoreError, match="not empty"):
            transfer(source, url, secret=KEY)
        with pytest.raises(CampaignStoreError, match="exists already"):
            transfer(url, source, secret=KEY)
        with pytest.raises(WrongKey):
            transfer(source, tmp_path / "other.db", secret=Key(bytes(32 * [7])))
    finally:
        pg_cluster.drop_database(url)


def test_a_source_whose_audit_log_does_not_hold_is_refused(tmp_path, pg_cluster):
    source = tmp_path / "campaign.db"
    running_campaign(source, tmp_path / "vault")
    with campaign(source) as c:
        sql(c, "DROP TRIGGER audit_log_no_update")
        sql(c, "UPDATE audit_log SET payload = '{}' WHERE seq = 2")
    url = pg_cluster.new_database()
    try:
        with pytest.raises(CampaignStoreError, match="audit log does not hold"):
            transfer(source, url, secret=KEY)
    finally:
        pg_cluster.drop_database(url)


def test_the_cli_moves_a_campaign(tmp_path, pg_cluster, capsys):
    source = tmp_path / "campaign.db"
    running_campaign(source, tmp_path / "vault")
    key_file = tmp_path / "secret.key"
    KEY.save(key_file)
    url = pg_cluster.new_database()
    try:
        assert campaign_main(["migrate", "--from", f"sqlite:///{source}", "--to", url, "--key", str(key_file),
                              "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["rows"]["mandates"] == 4 and document["total"] == sum(document["rows"].values())
        assert campaign_main(["audit", "verify", "--db", url, "--key", str(key_file), "--json"]) == 1  # no head
        assert json.loads(capsys.readouterr().out)["consistent"] is True
        assert campaign_main(["migrate", "--from", str(source), "--to", url, "--key", str(key_file)]) == 2
        assert "not empty" in capsys.readouterr().err
    finally:
        pg_cluster.drop_database(url)


