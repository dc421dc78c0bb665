"""The campaign store: schema and forward migrations, URLs, the secret's fingerprint, what the
database file holds (no number, no code, no IP in clear), and concurrency: two processes (and
eight threads) confirming the same code at once, exactly one wins.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import phonenumbers
import pytest
from helpers import REPO
from helpers.campaign import OPEN, S, example, wrong

from breachindex import Key
from breachindex.campaign import MIGRATIONS, Campaign, Migration, RecordingSender
from breachindex.campaign.pseudonyms import CampaignKeys
from breachindex.campaign.store import Store, sqlite_path
from breachindex.errors import CampaignStoreError, CodeInvalid, UnknownParticipant, WrongKey

KEY = Key(b"campaign store tests secret, 32b")
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


NL, DE, BE = example("NL"), example("DE"), example("BE")


# ---- schema and migrations ---------------------------------------------------------------------------

def test_a_new_store_has_the_schema_wal_and_foreign_keys(tmp_path, sender):
    with Campaign(tmp_path / "c.db", secret=KEY, sender=sender) as c:
        assert c.schema_version == len(MIGRATIONS) >= 4
        conn = c._store.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == {"schema_version", "campaign_settings", "participants", "challenges", "rate_events",
                          "rate_spans", "identity_checks", "audit_log", "audit_checkpoints", "mandate_texts",
                          "mandates", "mandate_scopes", "batches", "requests", "request_events", "request_pauses",
                          "vault_keys", "vault_wraps", "vault_items", "code_failures", "budget_buckets",
                          "budget_quotas", "budget_spent", "budget_refusals", "api_key_usage", "api_keys",
                          "contact_preferences",
                          "notifications"}
        rows = conn.execute("SELECT version, description FROM schema_version").fetchall()
        assert rows == [(m.version, m.description) for m in MIGRATIONS]
        with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
            conn.execute("INSERT INTO challenges (id, participant, code_hash, created_us, expires_us) "
                         "VALUES ('x', 'nobody', x'00', 0, 1)")
    with Campaign(tmp_path / "c.db", secret=KEY, sender=sender) as again:  # reopening migrates nothing
        assert again._store.conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def test_a_later_migration_applies_in_order_and_older_code_refuses_the_newer_schema(tmp_path):
    path = tmp_path / "c.db"
    Store(path).close()
    later = len(MIGRATIONS) + 1
    two = (*MIGRATIONS, Migration(later, "later (test)", (
        "CREATE TABLE later (participant TEXT NOT NULL REFERENCES participants (id), signed_us BIGINT)",
        "CREATE INDEX later_by_participant ON later (participant)",
    )))
    store = Store(path, migrations=two)
    assert store.schema_version == later
    assert store.conn.execute("SELECT COUNT(*) FROM later").fetchone()[0] == 0
    store.close()
    with pytest.raises(CampaignStoreError, match=f"schema version {later}"):
        Store(path)  # this code knows only the released migrations


def test_a_failing_migration_changes_nothing(tmp_path):
    path = tmp_path / "c.db"
    Store(path).close()
    broken = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "broken", ("CREATE TABLE half (x INTEGER)",
                                                                       "THIS IS NOT SQL")))
    with pytest.raises(CampaignStoreError):
        Store(path, migrations=broken)
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert store.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0
    store.close()


def test_migrations_must_be_numbered_in_order(tmp_path):
    with pytest.raises(CampaignStoreError):
        Store(tmp_path / "c.db", migrations=(Migration(2, "skips 1", ()),))


# ---- opening ------------------------------------------------------------------------------------------

def test_sqlite_urls(tmp_path, monkeypatch, sender):
    monkeypatch.chdir(tmp_path)
    with Campaign("sqlite:///relative.db", secret=KEY, sender=sender):
        pass
    assert (tmp_path / "relative.db").exists()
    absolute = tmp_path / "absolute.db"
    with Campaign(f"sqlite:///{absolute}", secret=KEY, sender=sender):
        pass
    assert absolute.exists()
    assert sqlite_path("sqlite:////var/x.db") == "/var/x.db"
    assert sqlite_path(Path("a.db")) == "a.db"


@pytest.mark.parametrize("url", ["mysql://x/y", "oracle://x/y", "file:///x.db"])
def test_other_databases_are_not_supported(tmp_path, url, sender):
    with pytest.raises(CampaignStoreError, match="unsupported store URL scheme"):
        Campaign(url, secret=KEY, sender=sender)


def test_a_postgresql_server_that_does_not_answer_is_a_store_error(tmp_path, sender):
    url = f"postgresql://somi@/campaign?host={tmp_path}&connect_timeout=2"  # no server on that socket
    with pytest.raises(CampaignStoreError, match="cannot open the campaign store") as info:
        Campaign(url, secret=KEY, busy_timeout=2, sender=sender)
    assert "somi" in str(info.value)


@pytest.mark.parametrize("url", ["sqlite://host/x.db", "sqlite:///:memory:", "sqlite://"])
def test_bad_sqlite_urls(url, sender):
    with pytest.raises(CampaignStoreError):
        Campaign(url, secret=KEY, sender=sender)


def test_missing_folder_and_foreign_file(tmp_path, sender):
    with pytest.raises(CampaignStoreError):
        Campaign(tmp_path / "no" / "such" / "c.db", secret=KEY, sender=sender)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 500)
    with pytest.raises(CampaignStoreError):
        Campaign(junk, secret=KEY, sender=sender)


# ---- the files are private -------------------------------------------------------------------------

OPENED_UNDER_UMASK = """
import json, os, stat, sys
os.umask(int(sys.argv[2], 8))
from breachindex.campaign.store import Store
path = sys.argv[1]
store = Store(path)
with store.transaction() as db:
    db.execute("INSERT INTO campaign_settings (name, value) VALUES ('x', 'y')")
modes = {suffix: oct(stat.S_IMODE(os.stat(path + suffix).st_mode)) for suffix in ("", "-wal", "-shm")}
store.close()
print(json.dumps(modes))
"""


@pytest.mark.parametrize("umask", ["000", "022", "077", "277"])
def test_the_database_and_its_wal_and_shm_are_0600_whatever_the_umask(tmp_path, umask):
    # in a child process: the umask belongs to the whole process, the tests' threads included
    path = tmp_path / "c.db"
    out = subprocess.run([sys.executable, "-c", OPENED_UNDER_UMASK, str(path), umask], check=True, text=True,
                         capture_output=True, cwd=REPO, timeout=120).stdout
    assert json.loads(out) == {"": "0o600", "-wal": "0o600", "-shm": "0o600"}


def test_opening_a_store_leaves_the_umask_alone(tmp_path):
    before = os.umask(0o022)
    try:
        Store(tmp_path / "c.db").close()
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700 | 0o001])
def test_a_store_open_to_others_is_refused(tmp_path, sender, mode):
    path = tmp_path / "c.db"
    with Campaign(path, secret=KEY, sender=sender):
        pass
    os.chmod(path, mode)
    with pytest.raises(CampaignStoreError, match=f"chmod 600 {re.escape(str(path))}$") as caught:
        Campaign(path, secret=KEY, sender=sender)
    assert f"mode {mode:o}" in str(caught.value)
    assert stat.S_IMODE(path.stat().st_mode) == mode  # refused, not changed behind the operator's back
    os.chmod(path, 0o600)
    with Campaign(path, secret=KEY, sender=sender) as c:
        assert c.schema_version == len(MIGRATIONS)


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_an_open_wal_shm_or_journal_beside_the_store_is_refused(tmp_path, sender, suffix):
    path = tmp_path / "c.db"
    with Campaign(path, secret=KEY, sender=sender):
        pass
    side = Path(str(path) + suffix)
    side.touch()  # left by an older breachindex, or copied with the store
    os.chmod(side, 0o644)
    with pytest.raises(CampaignStoreError, match=f"chmod 600 {re.escape(str(side))}$"):
        Campaign(path, secret=KEY, sender=sender)
    os.chmod(side, 0o600)
    with Campaign(path, secret=KEY, sender=sender) as c:
        assert c.schema_version == len(MIGRATIONS)


def test_the_store_refuses_another_secret(tmp_path, sender):
    with Campaign(tmp_path / "c.db", secret=KEY, sender=sender):
        pass
    with pytest.raises(WrongKey):
        Campaign(tmp_path / "c.db", secret=Key.generate(), sender=sender)


def test_secret_may_be_bytes_or_a_key_file(tmp_path, sender):
    key_file = tmp_path / "secret.key"
    KEY.save(key_file)
    with Campaign(tmp_path / "c.db", secret=key_file, sender=sender) as a:
        pid = a.participant_id(NL)
    with Campaign(tmp_path / "c.db", secret=KEY._secret, sender=sender) as b:
        assert b.participant_id(NL) == pid


def test_sender_must_have_send(tmp_path):
    with pytest.raises(TypeError):
        Campaign(tmp_path / "c.db", secret=KEY, sender=object())  # type: ignore[arg-type]


def test_a_closed_campaign_refuses_work(tmp_path, sender):
    c = Campaign(tmp_path / "c.db", secret=KEY, sender=sender)
    c.close()
    c.close()
    assert c.closed and "closed" in repr(c)
    with pytest.raises(CampaignStoreError, match="closed"):
        c.start_verification(NL, now=T0)


# ---- participants, the sealed number ---------------------------------------------------------------

def test_participant_id_is_a_stable_keyed_hash(tmp_path, sender):
    with Campaign(tmp_path / "a.db", secret=KEY, sender=sender) as a:
        pid = a.participant_id(NL)
        assert re.fullmatch(r"[0-9a-f]{32}", pid)
        assert a.participant_id("06 12345678", region="NL") == a.participant_id(NL[1:]) == pid
        assert a.participant_id(DE) != pid
    with Campaign(tmp_path / "b.db", secret=KEY, sender=sender) as b:
        assert b.participant_id(NL) == pid
    with Campaign(tmp_path / "c.db", secret=Key.generate(), sender=sender) as c:
        assert c.participant_id(NL) != pid


def test_the_number_is_stored_once_verified_and_comes_back(tmp_path, sender):
    with Campaign(tmp_path / "c.db", secret=KEY, sender=sender) as c:
        pid = c.participant_id(NL)
        with pytest.raises(UnknownParticipant):
            c.phone_of(pid)
        ch = c.start_verification(NL, now=T0)
        with pytest.raises(UnknownParticipant):  # not before verification
            c.phone_of(pid)
        assert c._store.conn.execute("SELECT phone_sealed FROM participants").fetchone()[0] is None
        c.confirm_verification(ch.id, sender.last_code(), now=T0 + S)
        assert c.phone_of(pid) == NL
        # the challenge no longer carries it
        assert c._store.conn.execute("SELECT phone_sealed FROM challenges").fetchone()[0] is None
        with pytest.raises(UnknownParticipant):
            c.phone_of("0" * 32)


def test_a_sealed_number_opens_only_for_its_participant():
    keys = CampaignKeys(KEY)
    sealed = keys.seal_phone("a" * 32, NL)
    assert keys.open_phone("a" * 32, sealed) == NL
    assert keys.seal_phone("a" * 32, NL) != sealed  # a random nonce each time
    with pytest.raises(CampaignStoreError):
        keys.open_phone("b" * 32, sealed)
    with pytest.raises(CampaignStoreError):
        CampaignKeys(Key.generate()).open_phone("a" * 32, sealed)


def test_replaced_burned_and_expired_challenges_drop_the_sealed_number(tmp_path, sender):
    with Campaign(tmp_path / "c.db", secret=KEY, sender=sender, limits=OPEN) as c:
        conn = c._store.conn
        replaced = c.start_verification(NL, now=T0)
        c.start_verification(NL, now=T0 + S)
        burned = c.start_verification(DE, now=T0)
        for _ in range(3):
            with pytest.raises(Exception):  # noqa: B017 - CodeInvalid, then TooManyAttempts
                c.confirm_verification(burned.id, wrong(sender.last_code(DE)), now=T0 + S)
        expired = c.start_verification(BE, now=T0)
        c.start_verification(example("NL", offset=1000), now=T0 + 11 * timedelta(minutes=1))  # purges
        sealed = dict(conn.execute("SELECT id, phone_sealed FROM challenges").fetchall())
        assert sealed[replaced.id] is None and sealed[burned.id] is None and sealed[expired.id] is None


def test_purge(tmp_path, sender):
    with Campaign(tmp_path / "c.db", secret=KEY, sender=sender, limits=OPEN) as c:
        conn = c._store.conn
        ch = c.start_verification(NL, now=T0)
        c.confirm_verification(ch.id, sender.last_code(), now=T0 + S)
        c.start_verification(DE, now=T0)  # never confirmed
        ch = c.start_verification(BE, now=T0)
        with pytest.raises(CodeInvalid):  # one failure: state to keep
            c.confirm_verification(ch.id, wrong(sender.last_code(BE)), now=T0 + S)
        assert c.purge(now=T0 + timedelta(hours=1)) == 0  # nothing is old yet
        assert c.purge(now=T0 + timedelta(days=3)) > 0
        assert conn.execute("SELECT COUNT(*) FROM challenges").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM rate_events").fetchone()[0] == 0
        kept = {r[0] for r in conn.execute("SELECT id FROM participants")}
        assert kept == {c.participant_id(NL), c.participant_id(BE)}
        assert c.phone_of(c.participant_id(NL)) == NL


def test_key_subkey():
    a, b = KEY.subkey(b"bi.cmp-code"), KEY.subkey(b"bi.cmp-seal")
    assert len(a) == len(b) == 32 and a != b
    assert KEY.subkey(b"bi.cmp-code") == a
    assert Key.generate().subkey(b"bi.cmp-code") != a
    assert a[:16] not in (KEY.siphash_key(), KEY.check_key()) and a != KEY.details_key()
    for bad in (b"", b"x" * 17, "bi.cmp-code"):
        with pytest.raises(ValueError):
            KEY.subkey(bad)  # type: ignore[arg-type]


# ---- what the file holds -------------------------------------------------------------------------------

_HEX = frozenset(b"0123456789abcdef")


def clear_occurrences(blob: bytes, needle: str) -> list[int]:
    """Positions of needle in blob, except inside a standalone 32-character hex digest (a keyed
    hash that happens to contain the digits: 16^-6 per position for a 6-digit code)."""
    found, n, start = [], needle.encode("ascii"), 0
    while (i := blob.find(n, start)) >= 0:
        lo, hi = i, i + len(n)
        while lo > 0 and blob[lo - 1] in _HEX:
            lo -= 1
        while hi < len(blob) and blob[hi] in _HEX:
            hi += 1
        if hi - lo != 32 or not needle.isdigit():
            found.append(i)
        start = i + 1
    return found


def _needles(e164: str) -> list[str]:
    parsed = phonenumbers.parse(e164)
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return [e164, e164[1:], str(parsed.national_number), "0" + str(parsed.national_number), national,
            phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)]


def test_the_database_holds_no_number_no_code_no_ip_in_clear(tmp_path, sender):
    path = tmp_path / "c.db"
    numbers = [NL, DE, BE, example("FR"), example("AT")]
    typed: list[str] = []
    ips = ["192.0.2.7", "2001:db8:1:2::1"]
    with Campaign(path, secret=KEY, sender=sender, limits=OPEN) as c:
        for i, number in enumerate(numbers):
            ch = c.start_verification(number, ip=ips[i % 2], now=T0 + i * S)
            bad = wrong(sender.last_code(number))
            typed.append(bad)
            with pytest.raises(CodeInvalid):
                c.confirm_verification(ch.id, bad, ip=ips[i % 2], now=T0 + i * S)
            if i % 2 == 0:  # resend, then confirm
                ch = c.start_verification(number, ip=ips[i % 2], now=T0 + i * S + S)
                v = c.confirm_verification(ch.id, sender.last_code(number), ip=ips[0], now=T0 + i * S + 2 * S)
                c.record_identity_check(v.participant, provider="idcheck", reference=f"case-{i}", status="approved",
                                        now=T0 + i * S + 3 * S)
        files = [p for p in tmp_path.iterdir() if p.name.startswith("c.db")]
        assert {p.name for p in files} >= {"c.db", "c.db-wal"}
        open_blobs = {p.name: p.read_bytes() for p in files}
    closed_blobs = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("c.db")}
    codes = sender.codes() + typed
    assert len(codes) == 5 + 3 + 5
    for name, blob in [*open_blobs.items(), *(("closed " + k, v) for k, v in closed_blobs.items())]:
        for number in numbers:
            for needle in _needles(number):
                assert not clear_occurrences(blob, needle), (name, "a number")
        for code in codes:
            assert not clear_occurrences(blob, code), (name, "a code")
        for ip in [*ips, "2001:db8:1:2::", "2001:db8:1:2::/64"]:
            assert ip.encode() not in blob, (name, "an IP")
    # the test can fail: a number stored in clear would be found
    assert clear_occurrences(b"xx" + NL[1:].encode() + b"yy", NL[1:])
    assert clear_occurrences(b"\x00\x17" + codes[0].encode() + b"\x01", codes[0])


# ---- concurrency -------------------------------------------------------------------------------------

def _race_worker(main_db: str, fresh_db: str, secret: bytes, pairs: list[tuple[str, str]],
                 barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue) -> None:
    outcomes: list[str] = []
    try:
        barrier.wait(60)
        with Campaign(fresh_db, secret=secret, sender=RecordingSender()):  # both migrate a fresh file at once
            pass
        with Campaign(main_db, secret=secret, sender=RecordingSender()) as c:
            barrier.wait(60)
            for challenge_id, code in pairs:
                try:
                    c.confirm_verification(challenge_id, code, now=T0 + 5 * S)
                    outcomes.append("won")
                except CodeInvalid:
                    outcomes.append("lost")
    except Exception as exc:  # reported to the parent
        outcomes.append(f"error {type(exc).__name__}: {exc}")
    results.put(outcomes)


def test_two_processes_confirming_the_same_codes_exactly_one_wins(tmp_path, sender):
    main_db, fresh_db = tmp_path / "main.db", tmp_path / "fresh.db"
    pairs = []
    with Campaign(main_db, secret=KEY, sender=sender, limits=OPEN) as c:
        for i in range(12):
            number = example("NL", offset=i * 1000)
            pairs.append((c.start_verification(number, now=T0).id, sender.last_code(number)))
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(str(main_db), str(fresh_db), KEY._secret, pairs, barrier, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():  # pragma: no cover
                p.kill()
    assert all(len(o) == len(pairs) for o in outcomes), outcomes
    for i in range(len(pairs)):
        assert sorted(o[i] for o in outcomes) == ["lost", "won"], (i, outcomes)
    with Campaign(fresh_db, secret=KEY, sender=sender) as fresh:
        assert fresh._store.conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    with Campaign(main_db, secret=KEY, sender=sender) as c:
        assert c._store.conn.execute("SELECT COUNT(*) FROM challenges WHERE used_us IS NOT NULL").fetchone()[0] == 12


def test_eight_threads_confirming_one_code_exactly_one_wins(tmp_path, sender):
    with Campaign(tmp_path / "c.db", secret=KEY, sender=sender) as c:
        ch = c.start_verification(NL, now=T0)
        code = sender.last_code()
        barrier = threading.Barrier(8)
        outcomes: list[str] = []

        def attempt() -> None:
            barrier.wait(10)
            try:
                c.confirm_verification(ch.id, code, now=T0 + S)
                outcomes.append("won")
            except CodeInvalid:
                outcomes.append("lost")

        threads = [threading.Thread(target=attempt) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


def test_a_writer_holding_the_lock_past_busy_timeout_gives_a_store_error(tmp_path, sender):
    path = tmp_path / "c.db"
    with Campaign(path, secret=KEY, sender=sender, busy_timeout=0.2) as c:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(CampaignStoreError, match="not writable now"):
                c.start_verification(NL, now=T0)
            assert sender.messages == []
            assert c.participant_id(NL)  # reads still work (WAL)
            assert c.verified_at(c.participant_id(NL)) is None
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        ch = c.start_verification(NL, now=T0)  # the connection is usable again
        assert c.confirm_verification(ch.id, sender.last_code(), now=T0 + S)
