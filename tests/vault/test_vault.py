"""The vault over a campaign store: set-up, passphrase change and one-time recovery codes; items
stored and opened (round trips, bounded memory for large ones); every kind of tampering of a
stored item refused; no plaintext, passphrase or recovery code anywhere on disk; requests moved
to fulfilled / partially_fulfilled in the same transaction; erasure; crashes and the sweep."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import pytest
from helpers import REPO
from helpers import campaign as shared
from helpers.campaign import S, enrol, number, sign
from helpers.vault import FAST

from breachindex import Key
from breachindex.campaign import Campaign, RecordingSender
from breachindex.campaign.clock import to_us
from breachindex.campaign.controllers import CONTROLLERS
from breachindex.campaign.templates import CURRENT_VERSION
from breachindex.errors import (
    IllegalTransition,
    ItemTampered,
    UnknownController,
    UnknownItem,
    UnknownParticipant,
    UnknownRequest,
    VaultConflict,
    VaultCorrupted,
    VaultNotSetUp,
    VaultRefused,
    WeakPassphrase,
    WrongPassphrase,
    WrongRecoveryCode,
)
from breachindex.server.templates import render
from breachindex.vault import HEADER_SIZE, KdfParams, Vault
from breachindex.vault.stream import encrypt, item_context

ROOT = REPO
SECRET = b"vault tests secret, 32 bytes!!!!"
KEY = Key(SECRET)
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
CHUNK = 1024
PASS = "correct horse battery staple"
OTHER_PASS = "tr0ub4dor & three more words"
EVIDENCE = {"ip": "192.0.2.7", "user_agent": "test", "consents": ["privacy_notice_read", "authorise_access_request"]}
REQUEST_PATHS = {
    "draft": [], "queued": ["queued"], "sent": ["queued", "sent"], "fulfilled": ["queued", "sent", "fulfilled"],
    "partially_fulfilled": ["queued", "sent", "partially_fulfilled"], "refused": ["queued", "sent", "refused"],
    "closed": ["queued", "sent", "fulfilled", "closed"], "cancelled": ["cancelled"],
    "extended": ["queued", "sent", "extended"], "admonished": ["queued", "sent", "refused", "admonished"],
}


new_campaign = partial(shared.new_campaign, secret=KEY, checkpoint_interval=None)


class Env:
    """A campaign store, its vault (fast Argon2id, 1 KiB chunks) and helpers to enrol people."""

    def __init__(self, tmp: Path, **vault_options: object) -> None:
        self.tmp = tmp
        self.db = tmp / "c.db"
        self.folder = tmp / "vault"
        self.sender = RecordingSender()
        self.c = new_campaign(self.db, self.sender)
        options = {"kdf": FAST, "chunk_size": CHUNK, **vault_options}
        self.v = self.c.vault(self.folder, **options)  # type: ignore[arg-type]
        self.people = 0

    def enrol(self, now: datetime = T0) -> str:
        self.people += 1
        return enrol(self.c, self.sender, self.people, now=now)

    def person(self, passphrase: str = PASS) -> tuple[str, str]:
        pid = self.enrol()
        return pid, self.v.setup(pid, passphrase, now=T0 + 3 * S)

    def request_in(self, pid: str, state: str, controller: str = "meta") -> str:
        text, _ = render(CURRENT_VERSION, "en", CONTROLLERS[controller])  # type: ignore[misc]
        sign(self.c, pid, controller=controller, text=text, evidence=EVIDENCE, template_version=CURRENT_VERSION,
             now=T0 + 4 * S)
        batch = self.c.prepare_batch(controller, filing_date=T0.date(), now=T0 + 5 * S)
        (request,) = [r for r in self.c.requests(batch=batch.id) if r.participant == pid]
        for step in REQUEST_PATHS[state]:
            self.c.transition_request(request.id, step, on=date(2025, 3, 4), now=T0 + DAY)
        assert self.c.request(request.id).state == state
        return request.id

    def sql(self, query: str, *args: object) -> list[tuple[object, ...]]:
        with self.c._store.read() as db:
            return db.execute(query, args).fetchall()

    def write_sql(self, query: str, *args: object) -> None:
        with self.c._store.transaction() as db:
            db.execute(query, args)

    def files(self) -> list[Path]:
        return sorted(p for p in (self.folder / "items").rglob("*") if p.is_file())


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.c.close()


def read_all(env: Env, pid: str, item: object, passphrase: str = PASS) -> bytes:
    with env.v.open(pid, passphrase, item) as plain:  # type: ignore[arg-type]
        return plain.read()


def stored(env: Env, pid: str, data: bytes, **kw: object):  # type: ignore[no-untyped-def]
    return env.v.store(pid, kw.pop("source", "meta"), io.BytesIO(data), now=kw.pop("now", T0 + DAY), **kw)  # type: ignore[arg-type]


# ---- set-up, passphrases, recovery ---------------------------------------------------------------------

def test_setup_gives_a_recovery_code_and_stores_only_wraps(env):
    pid, code = env.person()
    key = env.v.key(pid)
    assert len(key.public_key) == 32 and key.key_version == 1
    assert key.kdf == {"passphrase": ("argon2id-v19", FAST), "recovery": ("argon2id-v19", FAST)}
    rows = env.sql("SELECT slot, length(salt), length(nonce), length(wrapped) FROM vault_wraps WHERE participant = ?",
                   pid)
    assert sorted(rows) == [("passphrase", 16, 24, 48), ("recovery", 16, 24, 48)]
    assert env.v.is_set_up(pid)
    entry = env.c.audit_entries(participant=pid)[-1]
    payload = json.dumps(entry.payload)
    assert entry.kind == "vault_set_up" and code not in payload and PASS not in payload
    assert (env.folder / "VAULT").is_file() and stat.S_IMODE(env.folder.stat().st_mode) == 0o700


def test_setup_is_refused_when_not_allowed(env):
    pid, _ = env.person()
    with pytest.raises(VaultRefused) as again:
        env.v.setup(pid, PASS, now=T0 + 4 * S)
    assert again.value.reason == "already_set_up"
    late = env.enrol()
    with pytest.raises(VaultRefused) as stale:
        env.v.setup(late, PASS, now=T0 + 2 * DAY)  # the code was confirmed two days ago
    assert stale.value.reason == "not_verified" and not env.v.is_set_up(late)
    with pytest.raises(UnknownParticipant):
        env.v.setup("f" * 32, PASS, now=T0)
    with pytest.raises(WeakPassphrase) as weak:
        env.v.setup(late, "too short", now=T0 + 3 * S)
    assert weak.value.reason == "too_short" and "too short" not in str(weak.value)
    with pytest.raises(VaultNotSetUp):
        env.v.key(late)


def test_rfc_9106_defaults_are_stored_and_used(tmp_path):
    e = Env(tmp_path, kdf=KdfParams())
    try:
        pid, code = e.person()
        assert e.v.kdf == KdfParams(time_cost=3, memory_kib=65536, parallelism=4, salt_bytes=16)
        rows = e.sql("SELECT slot, kdf, time_cost, memory_kib, parallelism, length(salt) FROM vault_wraps "
                     "WHERE participant = ? ORDER BY slot", pid)
        assert rows == [("passphrase", "argon2id-v19", 3, 65536, 4, 16), ("recovery", "argon2id-v19", 3, 65536, 4, 16)]
        item = stored(e, pid, b"hello")
        assert read_all(e, pid, item) == b"hello"
        # wraps keep their own parameters: a vault set to other ones still opens them, and rewraps under its own
        fast = e.c.vault(e.folder, kdf=FAST, chunk_size=CHUNK)
        with fast.open(pid, PASS, item) as plain:
            assert plain.read() == b"hello"
        fast.change_passphrase(pid, PASS, OTHER_PASS, now=T0 + DAY)
        assert fast.key(pid).kdf["passphrase"] == ("argon2id-v19", FAST)
        assert fast.key(pid).kdf["recovery"][1] == KdfParams()
        assert fast.recover(pid, code, PASS, now=T0 + 2 * DAY)
    finally:
        e.c.close()


def test_the_old_passphrase_fails_after_a_change_and_items_are_untouched(env):
    pid, _ = env.person()
    item = stored(env, pid, b"the archive" * 1000)
    before = [p.read_bytes() for p in env.files()]
    with pytest.raises(WrongPassphrase):
        env.v.change_passphrase(pid, "not the passphrase", OTHER_PASS, now=T0 + DAY)
    with pytest.raises(WeakPassphrase) as same:
        env.v.change_passphrase(pid, PASS, PASS, now=T0 + DAY)
    assert same.value.reason == "same_as_old"
    with pytest.raises(WeakPassphrase):
        env.v.change_passphrase(pid, PASS, "short", now=T0 + DAY)
    env.v.change_passphrase(pid, PASS, OTHER_PASS, now=T0 + DAY)
    with pytest.raises(WrongPassphrase):
        read_all(env, pid, item)
    assert read_all(env, pid, item, OTHER_PASS) == b"the archive" * 1000
    assert [p.read_bytes() for p in env.files()] == before
    assert [e.kind for e in env.c.audit_entries(participant=pid)][-1] == "vault_passphrase_changed"


def test_a_wrong_passphrase_is_refused_clearly(env):
    pid, code = env.person()
    item = stored(env, pid, b"data")
    for wrong in ["correct horse battery stapl", "Correct horse battery staple", "", "x" * 10_000, code]:
        with pytest.raises(WrongPassphrase) as caught:
            env.v.open(pid, wrong, item)
        assert "passphrase" in str(caught.value) and wrong not in str(caught.value) or wrong == ""


def test_a_recovery_code_works_once(env):
    pid, code = env.person()
    item = stored(env, pid, b"mine")
    new_code = env.v.recover(pid, code.lower().replace("-", " "), OTHER_PASS, now=T0 + DAY)
    assert new_code != code
    with pytest.raises(WrongPassphrase):
        read_all(env, pid, item)  # the forgotten passphrase no longer opens it
    assert read_all(env, pid, item, OTHER_PASS) == b"mine"
    with pytest.raises(WrongRecoveryCode):
        env.v.recover(pid, code, "yet another passphrase", now=T0 + DAY)  # spent
    with pytest.raises(WrongRecoveryCode):
        env.v.recover(pid, "not-a-code", "yet another passphrase", now=T0 + DAY)
    third = env.v.recover(pid, new_code, PASS, now=T0 + 2 * DAY)
    assert read_all(env, pid, item) == b"mine"
    replaced = env.v.new_recovery_code(pid, PASS, now=T0 + 3 * DAY)
    with pytest.raises(WrongRecoveryCode):
        env.v.recover(pid, third, OTHER_PASS, now=T0 + 3 * DAY)
    env.v.recover(pid, replaced, OTHER_PASS, now=T0 + 3 * DAY)
    kinds = [e.kind for e in env.c.audit_entries(participant=pid)]
    assert kinds.count("vault_recovered") == 3 and "vault_recovery_replaced" in kinds
    assert env.c.verify_audit_log().consistent


def test_a_recovery_code_spent_by_a_concurrent_recovery_is_refused(env, monkeypatch):
    pid, code = env.person()
    from breachindex.vault import vault as vault_module

    real = vault_module.new_recovery_code
    raced = []

    def racing() -> str:  # another session recovers with the same code between our check and our write
        if not raced:
            raced.append(True)
            other = env.c.vault(env.folder, kdf=FAST)
            monkeypatch.setattr(vault_module, "new_recovery_code", real)
            other.recover(pid, code, OTHER_PASS, now=T0 + DAY)
        return real()

    monkeypatch.setattr(vault_module, "new_recovery_code", racing)
    with pytest.raises(WrongRecoveryCode):
        env.v.recover(pid, code, "the attacker's passphrase", now=T0 + DAY)
    assert read_all(env, pid, stored(env, pid, b"x"), OTHER_PASS) == b"x"


def test_a_passphrase_changed_concurrently_is_a_conflict(env, monkeypatch):
    pid, _ = env.person()
    from breachindex.vault import vault as vault_module

    real = vault_module.wrap_private_key

    def racing(*args, **kw):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(vault_module, "wrap_private_key", real)
        env.c.vault(env.folder, kdf=FAST).change_passphrase(pid, PASS, "someone else's passphrase", now=T0 + DAY)
        return real(*args, **kw)

    monkeypatch.setattr(vault_module, "wrap_private_key", racing)
    with pytest.raises(VaultConflict):
        env.v.change_passphrase(pid, PASS, OTHER_PASS, now=T0 + DAY)
    assert read_all(env, pid, stored(env, pid, b"x"), "someone else's passphrase") == b"x"


# ---- round trips ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 1, 100_000])
def test_round_trips(env, size):
    pid, _ = env.person()
    data = os.urandom(size)
    item = stored(env, pid, data, name="facebook-archive.zip")
    assert item.size == size and item.stored_size == len(env.files()[0].read_bytes())
    assert item.sha256 == hashlib.sha256(env.files()[0].read_bytes()).hexdigest()
    with env.v.open(pid, PASS, item.id) as plain:
        assert plain.original_name == "facebook-archive.zip" and plain.item == item
        head = plain.read(7)
        assert head + b"".join(plain.chunks()) == data
    out = env.v.open_to(pid, PASS, item, env.tmp / "out.bin")
    assert out.read_bytes() == data and stat.S_IMODE(out.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        env.v.open_to(pid, PASS, item, out)
    assert env.v.open_to(pid, PASS, item, out, overwrite=True) == out


def test_items_record_controller_request_and_received_time(env):
    pid, _ = env.person()
    rid = env.request_in(pid, "sent")
    pieces = [b"a" * 700, b"", bytearray(b"b" * 2000), memoryview(b"c" * 5)]
    item = env.v.store(pid, "meta", iter(pieces), request=rid, now=T0 + 2 * DAY)
    assert (item.controller, item.request, item.received_at, item.partial) == ("meta", rid, T0 + 2 * DAY, False)
    assert env.v.items(pid) == [item] and env.v.item(item.id) == item
    assert read_all(env, pid, item) == b"a" * 700 + b"b" * 2000 + b"c" * 5
    file_mode = stat.S_IMODE(env.files()[0].stat().st_mode)
    assert file_mode == 0o600
    with pytest.raises(UnknownItem):
        env.v.item("0" * 32)
    other, _ = env.person()
    with pytest.raises(UnknownItem):
        env.v.open(other, PASS, item)  # not theirs
    with pytest.raises(UnknownController):
        env.v.store(pid, "myspace", io.BytesIO(b""), now=T0 + DAY)
    with pytest.raises(VaultNotSetUp):
        env.v.store(env.enrol(), "meta", io.BytesIO(b""), now=T0 + DAY)


def test_a_failing_source_leaves_nothing_behind(env):
    pid, _ = env.person()

    def broken():  # type: ignore[no-untyped-def]
        yield b"x" * 5000
        raise ConnectionError("the download broke off")

    with pytest.raises(ConnectionError):
        env.v.store(pid, "meta", broken(), now=T0 + DAY)
    assert env.files() == [] and env.v.items(pid) == []


# ---- bounded memory ------------------------------------------------------------------------------------

MEMORY_CHILD = textwrap.dedent("""
    import hashlib, json, os, resource, sys, time
    from datetime import timedelta
    from breachindex import Key
    from breachindex.campaign import Campaign, Limits, RecordingSender
    from breachindex.vault import KdfParams

    tmp, total_mib = sys.argv[1], int(sys.argv[2])
    def peak_mb():
        # VmHWM: this process's own peak. ru_maxrss would carry the parent's peak over fork
        # and exec on Linux (a pytest run that has grown to 650 MB would hide everything).
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sender = RecordingSender()
    limits = Limits.off()
    c = Campaign(os.path.join(tmp, "c.db"), secret=Key(b"memory test secret, 32 bytes!!!!"), sender=sender,
                 limits=limits)
    ch = c.start_verification("+31612340001")
    pid = c.confirm_verification(ch.id, sender.last_code("+31612340001")).participant
    vault = c.vault(os.path.join(tmp, "vault"), kdf=KdfParams(1, 8, 1))
    vault.setup(pid, "correct horse battery staple")
    block = bytearray(os.urandom(1 << 20))
    sent = hashlib.sha256()
    def generate():
        for i in range(total_mib):
            block[:8] = i.to_bytes(8, "little")
            piece = bytes(block)
            sent.update(piece)
            yield piece
    baseline = peak_mb()
    t = time.perf_counter()
    item = vault.store(pid, "meta", generate())
    store_s, after_store = time.perf_counter() - t, peak_mb()
    got, t = hashlib.sha256(), time.perf_counter()
    with vault.open(pid, "correct horse battery staple", item) as plain:
        for chunk in plain.chunks():
            got.update(chunk)
    open_s, after_open = time.perf_counter() - t, peak_mb()
    print(json.dumps({"baseline_mb": baseline, "after_store_mb": after_store, "after_open_mb": after_open,
                      "size": item.size, "same": got.digest() == sent.digest(), "store_s": store_s,
                      "open_s": open_s}))
""")


def run_memory_child(tmp: Path, mib: int) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(tmp), str(mib)], capture_output=True, text=True,
                            timeout=900, cwd=ROOT)
    shutil.rmtree(tmp / "vault", ignore_errors=True)  # gigabytes: not left for pytest's kept temp folders
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def check_memory(report: dict[str, float], mib: int) -> None:
    assert report["same"] and report["size"] == mib << 20
    assert report["after_open_mb"] < 200, report
    # the whole item would add `mib` MB at least: what store and open added stays at a few chunks
    assert report["after_store_mb"] - report["baseline_mb"] < 40, report
    assert report["after_open_mb"] - report["baseline_mb"] < 40, report


def test_a_2_gib_item_goes_through_in_bounded_memory(tmp_path):
    """Multi-GB, generated as it streams: about 25 s in the default run."""
    check_memory(run_memory_child(tmp_path, 2 * 1024), 2 * 1024)


@pytest.mark.slow
def test_an_8_gib_item_goes_through_in_bounded_memory(tmp_path):
    check_memory(run_memory_child(tmp_path, 8 * 1024), 8 * 1024)


# ---- tampering -----------------------------------------------------------------------------------------

DATA = os.urandom(5 * CHUNK + 100)
FULL = CHUNK + 17


def tampered(env: Env, pid: str, item: object, reason: str) -> None:
    with pytest.raises(ItemTampered) as caught:
        read_all(env, pid, item)
    assert caught.value.reason == reason, caught.value
    assert isinstance(caught.value, VaultCorrupted)
    out = env.tmp / "must-not-exist.bin"
    with pytest.raises(ItemTampered):
        env.v.open_to(pid, PASS, item, out)
    assert not out.exists() and not [p for p in env.tmp.iterdir() if p.name.endswith(".tmp")]


def edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(path.read_bytes())
    change(data)
    path.write_bytes(bytes(data))


@pytest.fixture
def one(env):
    pid, _ = env.person()
    item = stored(env, pid, DATA)
    return env, pid, item, env.v.folder / "items" / item.file_name


def test_an_untouched_item_opens(one):
    env, pid, item, _ = one
    assert read_all(env, pid, item) == DATA


def test_a_truncated_file_is_refused(one):
    env, pid, item, path = one
    edit(path, lambda b: b.__delitem__(slice(-10, None)))
    tampered(env, pid, item, "size_mismatch")


def test_a_file_with_trailing_bytes_is_refused(one):
    env, pid, item, path = one
    edit(path, lambda b: b.extend(b"\x00"))
    tampered(env, pid, item, "size_mismatch")


def test_a_dropped_chunk_is_refused(one):
    env, pid, item, path = one
    edit(path, lambda b: b.__delitem__(slice(HEADER_SIZE + FULL, HEADER_SIZE + 2 * FULL)))
    tampered(env, pid, item, "size_mismatch")


def test_reordered_chunks_are_refused(one):
    env, pid, item, path = one

    def swap(b: bytearray) -> None:
        one_, two = slice(HEADER_SIZE, HEADER_SIZE + FULL), slice(HEADER_SIZE + FULL, HEADER_SIZE + 2 * FULL)
        b[one_], b[two] = bytes(b[two]), bytes(b[one_])

    edit(path, swap)
    tampered(env, pid, item, "bad_chunk")


def test_a_duplicated_chunk_is_refused(one):
    env, pid, item, path = one
    edit(path, lambda b: b.__setitem__(slice(HEADER_SIZE + 2 * FULL, HEADER_SIZE + 3 * FULL),
                                       bytes(b[HEADER_SIZE + FULL:HEADER_SIZE + 2 * FULL])))
    tampered(env, pid, item, "bad_chunk")


@pytest.mark.parametrize(("offset", "reason"), [(0, "bad_magic"), (8, "unsupported_version"), (10, "bad_header"),
                                                (16, "wrong_key"), (20, "wrong_item"), (50, "wrong_key"),
                                                (120, "bad_chunk"), (HEADER_SIZE + 1, "bad_chunk"),
                                                (HEADER_SIZE + 3 * FULL + 5, "bad_chunk"), (-1, "bad_chunk")])
def test_a_flipped_bit_is_refused(one, offset, reason):
    env, pid, item, path = one
    edit(path, lambda b: b.__setitem__(offset, b[offset] ^ 0x04))
    tampered(env, pid, item, reason)


def test_a_missing_file_is_refused(one):
    env, pid, item, path = one
    path.unlink()
    tampered(env, pid, item, "missing_file")


def test_a_file_swapped_between_items_is_refused(one):
    env, pid, item, path = one
    second = stored(env, pid, os.urandom(len(DATA)))  # same size: only the header and the crypto tell them apart
    path.write_bytes((env.v.folder / "items" / second.file_name).read_bytes())
    tampered(env, pid, item, "wrong_item")


def test_a_file_swapped_between_participants_is_refused(one):
    env, pid, item, path = one
    other, _ = env.person()
    theirs = stored(env, other, os.urandom(len(DATA)))
    path.write_bytes((env.v.folder / "items" / theirs.file_name).read_bytes())
    tampered(env, pid, item, "wrong_item")


def test_a_forged_file_sealed_to_the_right_key_is_refused_by_its_recorded_hash(one):
    """Anyone with the public key can write a valid file for an item: the recorded hash refuses it."""
    env, pid, item, path = one
    forged = io.BytesIO()
    encrypt(io.BytesIO(b"\x00" * len(DATA)), forged, public_key=env.v.key(pid).public_key,
            item_id=bytes.fromhex(item.id), key_version=1,
            context=item_context(pid, item.controller, item.request, to_us(item.received_at)),
            chunk_size=CHUNK)
    assert len(forged.getvalue()) == item.stored_size
    path.write_bytes(forged.getvalue())
    tampered(env, pid, item, "hash_mismatch")


@pytest.mark.parametrize(("column", "value"), [("controller", "zoom"), ("sha256", "0" * 64), ("stored_size", 1),
                                               ("received_us", 1), ("log_seq", 1)])
def test_an_edited_row_is_refused(one, column, value):
    env, pid, item, _ = one
    env.write_sql(f"UPDATE vault_items SET {column} = ? WHERE id = ?", value, item.id)
    tampered(env, pid, item, "log_mismatch")


def test_an_edited_row_and_log_entry_are_still_refused_by_the_ciphertext(one):
    """An administrator who rewrites row and log entry alike (and drops the append-only trigger):
    the metadata is bound to every chunk, so the file no longer opens (and the log no longer verifies)."""
    env, pid, item, _ = one
    env.write_sql("DROP TRIGGER audit_log_no_update")
    env.write_sql("UPDATE vault_items SET controller = 'zoom' WHERE id = ?", item.id)
    entry = env.c.audit_entry(item.log_seq)
    payload = dict(entry.payload, controller="zoom")
    from breachindex.campaign.audit import canonical_json
    env.write_sql("UPDATE audit_log SET payload = ? WHERE seq = ?", canonical_json(payload), item.log_seq)
    tampered(env, pid, item, "bad_chunk")
    assert not env.c.verify_audit_log().consistent


def test_a_stream_hands_out_plaintext_before_a_later_failure_but_open_to_writes_nothing(one):
    env, pid, item, path = one
    edit(path, lambda b: b.__setitem__(HEADER_SIZE + 4 * FULL + 3, b[HEADER_SIZE + 4 * FULL + 3] ^ 1))
    got = []
    with pytest.raises(ItemTampered), env.v.open(pid, PASS, item) as plain:
        for chunk in plain.chunks():
            got.append(chunk)
    assert b"".join(got) == DATA[:4 * CHUNK]  # the documented hazard
    with pytest.raises(ItemTampered):
        env.v.open_to(pid, PASS, item, env.tmp / "download.zip")
    assert not (env.tmp / "download.zip").exists()


# ---- no plaintext anywhere -----------------------------------------------------------------------------

def encodings(text: str) -> list[bytes]:
    raw = text.encode("utf-8")
    return [raw, text.encode("utf-16-le"), text.encode("utf-16-be"), raw.hex().encode()]


def test_no_plaintext_passphrase_or_recovery_code_on_disk(env):
    passphrase = "marker passphrase " + os.urandom(8).hex()
    pid = env.enrol()
    code = env.v.setup(pid, passphrase, now=T0 + 3 * S)
    rid = env.request_in(pid, "sent")
    marker = os.urandom(24)
    name = "archive-" + os.urandom(6).hex() + ".zip"
    item = env.v.store(pid, "meta", io.BytesIO(marker * 5000 + b"tail"), request=rid, name=name, now=T0 + 2 * DAY)
    assert read_all(env, pid, item, passphrase) == marker * 5000 + b"tail"
    needles = [marker, marker.hex().encode(), *encodings(passphrase), *encodings(name), *encodings(code),
               *encodings(code.replace("-", ""))]
    entries = json.dumps([e.payload for e in env.c.audit_entries()])
    for text in (marker.hex(), passphrase, name, code, code.replace("-", "")):
        assert text not in entries

    def scan() -> list[Path]:
        paths = [p for p in env.folder.rglob("*") if p.is_file()]
        paths += [p for p in env.tmp.iterdir() if p.name.startswith("c.db")]
        assert any(p.name == "c.db-wal" for p in paths) and len(paths) >= 4
        for path in paths:
            blob = path.read_bytes()
            for needle in needles:
                assert needle not in blob, (path.name, needle[:8])
        return paths

    scan()  # with the write-ahead log holding the latest pages
    env.c.close()
    with sqlite3.connect(env.db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    scan()


# ---- requests ------------------------------------------------------------------------------------------

def test_storing_an_answer_fulfils_the_request_in_the_same_transaction(env):
    pid, _ = env.person()
    rid = env.request_in(pid, "sent")
    item = stored(env, pid, b"the answer", request=rid, now=T0 + 10 * DAY)
    record = env.c.request(rid)
    assert record.state == "fulfilled"
    last = env.c.request_history(rid)[-1]
    assert (last.from_state, last.to_state, last.on) == ("sent", "fulfilled", (T0 + 10 * DAY).date())
    stored_entry = env.c.audit_entry(item.log_seq)
    assert stored_entry.kind == "vault_item_stored" and stored_entry.ref == item.id
    assert stored_entry.payload == {"item": item.id, "controller": "meta", "request": rid, "partial": False,
                                    "received_at": "2025-03-13T09:00:00Z", "key_version": 1,
                                    "stored_size": item.stored_size, "sha256": item.sha256}
    assert env.c.audit_entry(item.log_seq - 1).payload["to"] == "fulfilled"
    # a second file of the same answer joins it without another transition
    events = len(env.c.request_history(rid))
    second = stored(env, pid, b"part two", request=rid, now=T0 + 11 * DAY)
    assert env.c.request(rid).state == "fulfilled" and len(env.c.request_history(rid)) == events
    assert [i.id for i in env.v.items(pid)] == [item.id, second.id]
    assert env.c.verify_audit_log().consistent


def test_a_partial_answer_then_the_rest(env):
    pid, _ = env.person()
    rid = env.request_in(pid, "sent")
    first = stored(env, pid, b"some", request=rid, partial=True)
    assert env.c.request(rid).state == "partially_fulfilled" and first.partial
    stored(env, pid, b"more", request=rid, partial=True, now=T0 + 2 * DAY)
    assert env.c.request(rid).state == "partially_fulfilled"
    stored(env, pid, b"the rest", request=rid, now=T0 + 3 * DAY)
    assert env.c.request(rid).state == "fulfilled"
    with pytest.raises(IllegalTransition):
        stored(env, pid, b"partial after complete", request=rid, partial=True, now=T0 + 4 * DAY)
    assert env.c.verify_audit_log().consistent


@pytest.mark.parametrize("state", ["draft", "queued", "refused", "closed", "cancelled"])
def test_a_request_that_cannot_be_fulfilled_is_refused_before_reading(env, state):
    pid, _ = env.person()
    rid = env.request_in(pid, state)
    read = []

    def source():  # type: ignore[no-untyped-def]
        read.append(True)
        yield b"x"

    before = env.c.verify_audit_log().entries
    with pytest.raises(IllegalTransition):
        env.v.store(pid, "meta", source(), request=rid, now=T0 + 2 * DAY)
    assert not read and env.files() == [] and env.v.items(pid) == []
    assert env.c.request(rid).state == state and env.c.verify_audit_log().entries == before


@pytest.mark.parametrize("state", ["extended", "admonished", "partially_fulfilled"])
def test_requests_waiting_for_an_answer_are_fulfilled(env, state):
    pid, _ = env.person()
    rid = env.request_in(pid, state)
    stored(env, pid, b"answer", request=rid, now=T0 + 2 * DAY)
    assert env.c.request(rid).state == "fulfilled"


def test_a_request_of_someone_else_or_another_controller_is_refused(env):
    pid, _ = env.person()
    other, _ = env.person()
    rid = env.request_in(other, "sent")
    with pytest.raises(UnknownRequest):
        stored(env, pid, b"x", request=rid)
    with pytest.raises(UnknownRequest):
        stored(env, pid, b"x", request="0" * 32)
    with pytest.raises(ValueError):
        stored(env, other, b"x", request=rid, source="zoom")
    assert env.files() == [] and env.c.request(rid).state == "sent"


def test_a_request_cancelled_while_the_item_streams_in_is_rolled_back(env):
    pid, _ = env.person()
    rid = env.request_in(pid, "sent")

    def source():  # type: ignore[no-untyped-def]
        yield b"x" * 5000
        env.c.transition_request(rid, "cancelled", now=T0 + 2 * DAY)  # meanwhile, elsewhere
        yield b"y" * 5000

    with pytest.raises(IllegalTransition):
        env.v.store(pid, "meta", source(), request=rid, now=T0 + 2 * DAY)
    assert env.files() == [] and env.v.items(pid) == [] and env.c.request(rid).state == "cancelled"
    assert env.c.verify_audit_log().consistent


# ---- erasure -------------------------------------------------------------------------------------------

def test_erasure_destroys_the_key_and_items_and_keeps_the_evidence(env):
    pid, code = env.person()
    rid = env.request_in(pid, "sent")
    first = stored(env, pid, b"answer", request=rid, partial=True)
    second = stored(env, pid, b"more", now=T0 + 2 * DAY)
    bystander, _ = env.person()
    kept = stored(env, bystander, b"not erased")
    wrapped = [bytes(r[0]) for r in env.sql("SELECT wrapped FROM vault_wraps WHERE participant = ?", pid)]
    erasure = env.v.erase(pid, now=T0 + 3 * DAY)
    assert (erasure.key_destroyed, erasure.items, erasure.files_left, erasure.participant_row) == (True, 2, (), "kept")
    assert len(erasure.mandates_revoked) == 1 and erasure.requests_cancelled == (rid,) and erasure.wal_checkpointed
    for table in ("vault_keys", "vault_wraps", "vault_items"):
        assert env.sql(f"SELECT COUNT(*) FROM {table} WHERE participant = ?", pid) == [(0,)]
    assert [p.name for p in env.files()] == [Path(kept.file_name).name]
    for item in (first, second):
        with pytest.raises((VaultNotSetUp, UnknownItem)):
            env.v.open(pid, PASS, item)
    with pytest.raises(VaultNotSetUp):
        env.v.recover(pid, code, OTHER_PASS, now=T0 + 3 * DAY)
    assert read_all(env, bystander, kept) == b"not erased"
    # what stays: the mandate (revoked), the request (cancelled, the controller to be told), the log
    assert env.c.mandates(pid)[0].revoked_at == T0 + 3 * DAY
    assert env.c.request(rid).state == "cancelled" and env.c.request(rid).notice == "notify_controller"
    assert env.sql("SELECT phone_sealed, verified_us FROM participants WHERE id = ?", pid) == [(None, None)]
    with pytest.raises(UnknownParticipant):
        env.c.phone_of(pid)
    entry = env.c.audit_entry(erasure.log_seq)
    assert entry.kind == "participant_erased" and entry.payload["vault_items"] == 2
    assert number(1) not in json.dumps(entry.payload) and "Jan" not in json.dumps(entry.payload)
    assert env.c.verify_audit_log().consistent
    for path in [env.db, env.db.with_name("c.db-wal")]:
        if path.exists():
            blob = path.read_bytes()
            assert not any(w in blob for w in wrapped), path.name
    with pytest.raises(VaultRefused):  # back only after confirming a code again
        env.v.setup(pid, PASS, now=T0 + 3 * DAY)


def test_erasure_of_someone_without_mandates_deletes_the_row(env):
    pid, _ = env.person()
    stored(env, pid, b"x")
    erasure = env.c.erase_participant(pid, vault_folder=env.folder, now=T0 + DAY)
    assert erasure.participant_row == "deleted" and env.files() == []
    assert env.sql("SELECT COUNT(*) FROM participants WHERE id = ?", pid) == [(0,)]
    assert env.sql("SELECT COUNT(*) FROM identity_checks WHERE participant = ?", pid) == [(0,)]
    with pytest.raises(UnknownParticipant):
        env.v.erase(pid)
    assert env.c.verify_audit_log().consistent


def test_erasure_without_the_folder_leaves_noise_that_the_sweep_removes(env):
    pid, _ = env.person()
    item = stored(env, pid, b"x" * 3000)
    erasure = env.c.erase_participant(pid, now=T0 + DAY)
    assert erasure.files_left == (item.file_name,) and len(env.files()) == 1
    report = env.v.sweep(older_than=timedelta(0))
    assert report.orphans_removed == (item.id,) and env.files() == []


# ---- crashes and the sweep -----------------------------------------------------------------------------

CRASH_CHILD = textwrap.dedent("""
    import os, signal, sys
    from datetime import timedelta
    from breachindex import Key
    from breachindex.campaign import Campaign, Limits, RecordingSender
    from breachindex.vault import KdfParams
    from breachindex.vault.files import VaultFolder

    db, folder, pid, mode = sys.argv[1:5]
    limits = Limits.off()
    c = Campaign(db, secret=Key(sys.argv[5].encode()), sender=RecordingSender(), limits=limits,
                 checkpoint_interval=None)
    vault = c.vault(folder, kdf=KdfParams(1, 8, 1), chunk_size=1024)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if mode == "after_rename":  # the file is in place, the row not yet committed
        place = VaultFolder.place
        def place_then_die(self, temp, item_id):
            place(self, temp, item_id)
            die()
        VaultFolder.place = place_then_die

    def source():
        for i in range(1 << 20):
            if mode == "while_writing" and i == 40:
                die()
            yield os.urandom(1000) if mode != "slow" else os.urandom(100_000)
            if mode == "after_rename" and i == 20:
                return
            if mode == "slow":
                sys.stdout.write("."); sys.stdout.flush()

    vault.store(pid, "meta", source(), request=sys.argv[6] if len(sys.argv) > 6 else None)
""")


@pytest.mark.parametrize("mode", ["while_writing", "after_rename", "external_kill"])
def test_a_crash_during_store_leaves_at_most_an_orphan_that_the_sweep_removes(env, mode):
    pid, _ = env.person()
    rid = env.request_in(pid, "sent")
    before = stored(env, pid, b"stored before the crash")
    args = [sys.executable, "-c", CRASH_CHILD, str(env.db), str(env.folder), pid,
            "slow" if mode == "external_kill" else mode, SECRET.decode(), rid]
    if mode == "external_kill":
        child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None
        child.stdout.read(30)  # 30 pieces in: the temporary file is being written
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        returncode = child.returncode
    else:
        result = subprocess.run(args, cwd=ROOT, capture_output=True, timeout=120)
        returncode = result.returncode
    assert returncode == -signal.SIGKILL
    env.c.close()
    env.c = new_campaign(env.db, env.sender)
    env.v = env.c.vault(env.folder, kdf=FAST, chunk_size=CHUNK)
    # no row without its whole file: every recorded item opens
    assert [i.id for i in env.v.items(pid)] == [before.id]
    assert read_all(env, pid, before) == b"stored before the crash"
    assert env.c.request(rid).state == "sent" and env.c.verify_audit_log().consistent
    leftovers = [p for p in env.files() if p.name != Path(before.file_name).name]
    assert len(leftovers) == 1
    assert leftovers[0].name.endswith(".tmp" if mode != "after_rename" else ".item")
    # an orphan goes at once; a temporary file is given an hour (it may be a store in progress)
    first = env.v.sweep()
    assert (first.temp_removed, len(first.orphans_removed)) == ((0, 0) if mode != "after_rename" else (0, 1))
    report = env.v.sweep(older_than=timedelta(0))
    assert (report.temp_removed, report.orphans_removed) == ((1 if mode != "after_rename" else 0), ())
    assert report.missing == () and [p.name for p in env.files()] == [Path(before.file_name).name]
    stored(env, pid, b"and after", request=rid, now=T0 + 3 * DAY)  # the store works on
    assert env.c.request(rid).state == "fulfilled"


def test_the_sweep_reports_missing_files_and_leaves_unknown_ones(env):
    pid, _ = env.person()
    item = stored(env, pid, b"x")
    (env.folder / "items" / item.file_name).unlink()
    (env.folder / "items" / "zz").mkdir()
    (env.folder / "items" / item.file_name[:2] / "notes.txt").write_text("someone's file")
    report = env.v.sweep(older_than=timedelta(0))
    assert report.missing == (item.id,) and report.unknown == 2 and report.orphans_removed == ()
    assert (env.folder / "items" / item.file_name[:2] / "notes.txt").exists()


def test_the_sweep_waits_for_a_store_that_is_committing(env, monkeypatch):
    """The sweep takes the write lock before deleting a file without a row, so a file renamed into
    place by a store that has not committed yet is never taken."""
    pid, _ = env.person()
    from breachindex.vault.files import VaultFolder

    other = new_campaign(env.db, env.sender)
    sweeper = other.vault(env.folder, kdf=FAST)
    place = VaultFolder.place
    outcome = {}

    def place_then_sweep(self, temp, item_id):  # type: ignore[no-untyped-def]
        final = place(self, temp, item_id)
        import threading
        worker = threading.Thread(target=lambda: outcome.setdefault("report", sweeper.sweep(older_than=timedelta(0))))
        worker.start()
        time.sleep(0.3)  # the sweep is now waiting for our write lock
        outcome["alive_while_locked"] = worker.is_alive()
        outcome["worker"] = worker
        return final

    monkeypatch.setattr(VaultFolder, "place", place_then_sweep)
    item = stored(env, pid, b"committed")
    outcome["worker"].join(timeout=30)
    other.close()
    assert outcome["alive_while_locked"] and outcome["report"].orphans_removed == ()
    assert read_all(env, pid, item) == b"committed"


# ---- the folder --------------------------------------------------------------------------------------------

def test_the_folder_is_bound_to_its_store(env, tmp_path):
    pid, _ = env.person()
    stored(env, pid, b"x")
    other_tmp = tmp_path / "other"
    other_tmp.mkdir()
    with Campaign(other_tmp / "c.db", secret=KEY, sender=RecordingSender()) as stranger:
        with pytest.raises(VaultCorrupted) as foreign:
            stranger.vault(env.folder)
        assert foreign.value.reason == "foreign_folder"
    with pytest.raises(VaultCorrupted):  # the store has items: a new, empty folder is not its vault
        env.c.vault(tmp_path / "somewhere-else")
    (tmp_path / "not-empty").mkdir()
    (tmp_path / "not-empty" / "x").write_text("x")
    with Campaign(other_tmp / "c.db", secret=KEY, sender=RecordingSender()) as stranger:
        with pytest.raises(VaultCorrupted):
            stranger.vault(tmp_path / "not-empty")
        assert isinstance(stranger.vault(tmp_path / "fresh"), Vault)
