"""The tamper-evident log: RFC 6962 Merkle trees (known vectors and a brute-force model),
signed tree heads, the hash chain in the store (edit, delete, reorder, truncate, rewrite any
entry directly in SQLite and verification names it), what a report may claim without and with
heads kept elsewhere (deleted checkpoints and tail: issue 14), checkpoint notes of the
campaign, inclusion and consistency proofs, and every change of state reaching the log.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import sqlite3
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from helpers import campaign as shared
from helpers.campaign import S, number

from breachindex import Key
from breachindex.campaign import (
    AUDIT_KINDS,
    Campaign,
    RecordingSender,
    TreeHead,
    sign_webhook,
    verify_entry,
)
from breachindex.campaign.audit import GENESIS_HASH, UNPROVED, InclusionProof, canonical_json, entry_body
from breachindex.campaign.checkpoints import (
    SignedCheckpoint,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verifier_key,
)
from breachindex.campaign.controllers import CONTROLLERS
from breachindex.campaign.merkle import (
    EMPTY_ROOT,
    RootBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from breachindex.campaign.templates import CURRENT_VERSION
from breachindex.campaign.treehead import AuditSigner
from breachindex.errors import CodeInvalid, MandateRefused
from breachindex.server.templates import render

KEY = Key(b"audit log tests secret, 32 bytes")
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
EVIDENCE = {"ip": "192.0.2.7", "user_agent": "Mozilla/5.0 (test)",
            "consents": ["privacy_notice_read", "authorise_access_request"]}
HOOK_SECRET = b"webhook secret for the audit tests"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ---- RFC 6962 known vectors (the Certificate Transparency test data) --------------------------------

CT_LEAVES = [h(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                            "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [h(x) for x in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
CT_INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CT_HASHES = [leaf_hash(x) for x in CT_LEAVES]


def test_rfc6962_roots():
    assert EMPTY_ROOT == CT_ROOTS[0] == root_of([])
    for n in range(1, 9):
        assert root_of(CT_HASHES[:n]) == CT_ROOTS[n], n


def test_rfc6962_inclusion_vectors():
    for index, size, path in CT_INCLUSION:
        assert inclusion_proof(index, CT_HASHES[:size]) == [h(p) for p in path]
        assert verify_inclusion(CT_HASHES[index], index, size, [h(p) for p in path], CT_ROOTS[size])
        assert not verify_inclusion(CT_HASHES[index], index, size, [h(p) for p in path], CT_ROOTS[size - 1])


def test_rfc6962_consistency_vectors():
    for old, new, path in CT_CONSISTENCY:
        assert consistency_proof(old, CT_HASHES[:new]) == [h(p) for p in path]
        assert verify_consistency(old, new, [h(p) for p in path], CT_ROOTS[old], CT_ROOTS[new])


# ---- a brute-force model: RFC 6962 section 2.1 written out literally ---------------------------------

def mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def model_leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + bytes([i, i * 7 % 256, 42])).digest() for i in range(n)]


def flip(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_roots_match_the_model_for_every_size_to_64():
    leaves = model_leaves(64)
    builder = RootBuilder()
    assert builder.root() == mth([])
    for n in range(1, 65):
        builder.add(leaves[n - 1])
        assert builder.root() == root_of(leaves[:n]) == mth(leaves[:n]), n
    assert node_hash(leaves[0], leaves[1]) == mth(leaves[:2])


def test_every_inclusion_proof_of_every_size_to_33_verifies_and_forgeries_fail():
    leaves = model_leaves(33)
    for n in range(1, 34):
        root = mth(leaves[:n])
        for i in range(n):
            path = inclusion_proof(i, leaves[:n])
            assert verify_inclusion(leaves[i], i, n, path, root), (i, n)
            assert not verify_inclusion(flip(leaves[i]), i, n, path, root)
            assert not verify_inclusion(leaves[i], i, n, path, flip(root))
            if n > 1:
                assert not verify_inclusion(leaves[i], (i + 1) % n, n, path, root)
                assert not verify_inclusion(leaves[i], i, n, path[:-1], root)
                assert not verify_inclusion(leaves[i], i, n, [*path, leaves[0]], root)
                assert not verify_inclusion(leaves[i], i, n, [flip(path[0]), *path[1:]], root)
            assert not verify_inclusion(leaves[i], n, n, path, root)  # (the size itself is bound by the signed head)


def test_every_consistency_proof_to_20_verifies_and_forgeries_fail():
    leaves = model_leaves(20)
    for n in range(1, 21):
        for m in range(1, n + 1):
            proof = consistency_proof(m, leaves[:n])
            old, new = mth(leaves[:m]), mth(leaves[:n])
            assert verify_consistency(m, n, proof, old, new), (m, n)
            assert not verify_consistency(m, n, proof, flip(old), new)
            assert not verify_consistency(m, n, proof, old, flip(new))
            if proof:
                assert not verify_consistency(m, n, [flip(proof[0]), *proof[1:]], old, new)
    with pytest.raises(ValueError):
        consistency_proof(0, leaves)
    with pytest.raises(ValueError):
        inclusion_proof(5, leaves[:5])


# ---- signed tree heads ------------------------------------------------------------------------------

def test_a_tree_head_verifies_and_any_change_breaks_it():
    signer = AuditSigner.from_secret(KEY)
    head = signer.sign(8, CT_ROOTS[8], 1_740_992_400_000_000)
    assert head.verify(signer.public_key)
    assert TreeHead.from_json(json.loads(json.dumps(head.to_json()))) == head
    for changed in (TreeHead(7, head.root_hash, head.timestamp_us, head.signature, head.key_id),
                    TreeHead(8, flip(head.root_hash), head.timestamp_us, head.signature, head.key_id),
                    TreeHead(8, head.root_hash, head.timestamp_us + 1, head.signature, head.key_id),
                    TreeHead(8, head.root_hash, head.timestamp_us, flip(head.signature), head.key_id)):
        assert not changed.verify(signer.public_key)
    other = AuditSigner(Ed25519PrivateKey.generate())
    assert not head.verify(other.public_key)
    assert "signature" not in repr(head) and KEY.fingerprint not in repr(signer)
    # third parties can use the PEM with any Ed25519 implementation
    public = serialization.load_pem_public_key(signer.public_key_pem.encode())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(head.signature, head.message())
    with pytest.raises(ValueError):
        TreeHead.from_json({"tree_size": 1})


def test_the_audit_key_derives_from_the_secret_and_can_be_separate(tmp_path):
    sender = RecordingSender()
    with Campaign(tmp_path / "a.db", secret=KEY, sender=sender) as a, \
            Campaign(tmp_path / "b.db", secret=KEY, sender=sender) as b, \
            Campaign(tmp_path / "c.db", secret=Key.generate(), sender=sender) as c:
        assert a.audit_public_key == b.audit_public_key != c.audit_public_key
        assert a.audit_public_key == AuditSigner.from_secret(KEY).public_key
        assert "BEGIN PUBLIC KEY" in a.audit_public_key_pem
    own = Ed25519PrivateKey.generate()
    with Campaign(tmp_path / "d.db", secret=KEY, sender=sender, audit_key=own) as d:
        assert d.audit_public_key == AuditSigner(own).public_key


def test_canonical_json():
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"\\u00e9"],"b":1}'
    for bad in ({"x": 1.5}, {1: "x"}, {"x": b"bytes"}, {"x": float("nan")}):
        with pytest.raises(ValueError):
            canonical_json(bad)


# ---- the log in the store ---------------------------------------------------------------------------

TEXT, _ = render(CURRENT_VERSION, "nl", CONTROLLERS["meta"])  # type: ignore[misc]
new_campaign = partial(shared.new_campaign, secret=KEY, checkpoint_interval=None)
enrol = partial(shared.enrol, now=T0)
sign = partial(shared.sign, text=TEXT, evidence=EVIDENCE, template_version=CURRENT_VERSION)


N = 12  # entries in the reference log: 4 participants x (verification, identity check, mandate)


@pytest.fixture(scope="module")
def reference_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "ref.db"
    sender = RecordingSender()
    with new_campaign(path, sender) as c:
        for i in range(4):
            sign(c, enrol(c, sender, i, now=T0 + 10 * i * S), now=T0 + (10 * i + 3) * S)
            if i == 1:
                assert c.checkpoint_audit_log(now=T0 + 20 * S).tree_size == 6
        assert c.checkpoint_audit_log(now=T0 + 50 * S).tree_size == N
        assert c.verify_audit_log() == c.verify_audit_log()
        report = c.verify_audit_log()
        assert report.consistent and report.entries == N and report.checkpoints == 2 and report.first_bad is None
        assert not report.ok and report.anchored_size == 0 and report.unanchored == N  # nothing kept elsewhere
    return path


def copy_of(reference: Path, tmp_path: Path) -> Path:
    target = tmp_path / "t.db"
    shutil.copyfile(reference, target)
    target.chmod(0o600)  # a copy gets the umask's mode (0644): a store open to others is refused
    return target


def tamper(path: Path, *statements: str, params: tuple[object, ...] = ()) -> None:
    raw = sqlite3.connect(path)
    for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_checkpoints_no_update",
                    "audit_checkpoints_no_delete"):
        raw.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in statements:
        raw.execute(statement, params if "?" in statement else ())
    raw.commit()
    raw.close()


def verify(path: Path, **kw: object):
    with new_campaign(path) as c:
        return c.verify_audit_log(**kw)


def test_the_log_is_append_only_for_the_application(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    with new_campaign(path) as c:
        conn = c._store.conn
        for statement in ("UPDATE audit_log SET kind = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 12",
                          "DELETE FROM audit_checkpoints", "UPDATE audit_checkpoints SET tree_size = 1"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(statement)
        assert c.verify_audit_log().consistent


@pytest.mark.parametrize("seq", range(1, N + 1))
def test_an_edited_payload_is_named(reference_db, tmp_path, seq):
    path = copy_of(reference_db, tmp_path)
    tamper(path, "UPDATE audit_log SET payload = ? WHERE seq = ?", params=('{"forged":true}', seq))
    report = verify(path)
    assert not report.consistent and report.first_bad == seq and "edited" in report.problem


EDITS = {"kind": "'mandate_revoked'", "participant": "'0123456789abcdef0123456789abcdef'", "ref": "'someone else'",
         "at_us": "at_us + 1", "entry_hash": "zeroblob(32)", "prev_hash": "zeroblob(32)",
         "payload": "'not json'", "entry_hash ": "'text, not bytes'", "at_us ": "'noon'"}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_any_edited_column_is_named(reference_db, tmp_path, edit):
    path = copy_of(reference_db, tmp_path)
    tamper(path, f"UPDATE audit_log SET {edit.strip()} = {EDITS[edit]} WHERE seq = 7")
    report = verify(path)
    assert not report.consistent and report.first_bad == 7


def test_a_payload_edited_only_in_its_spacing_is_named(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    with new_campaign(path) as c:
        payload = json.dumps(c.audit_entry(5).payload, indent=1)
    tamper(path, "UPDATE audit_log SET payload = ? WHERE seq = 5", params=(payload,))
    assert verify(path).first_bad == 5


@pytest.mark.parametrize("seq", range(1, N + 1))
def test_a_deleted_entry_is_named(reference_db, tmp_path, seq):
    path = copy_of(reference_db, tmp_path)
    tamper(path, f"DELETE FROM audit_log WHERE seq = {seq}")
    report = verify(path)
    assert not report.consistent and report.first_bad == seq


@pytest.mark.parametrize("seq", range(1, N))
def test_reordered_entries_are_named(reference_db, tmp_path, seq):
    path = copy_of(reference_db, tmp_path)
    # swap the seq numbers of two neighbours: each row keeps its content, the order changes
    tamper(path, f"UPDATE audit_log SET seq = -1 WHERE seq = {seq}",
           f"UPDATE audit_log SET seq = {seq} WHERE seq = {seq + 1}",
           f"UPDATE audit_log SET seq = {seq + 1} WHERE seq = -1")
    report = verify(path)
    assert not report.consistent and report.first_bad == seq


def test_swapped_contents_are_named(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    columns = "at_us, kind, participant, ref, payload, prev_hash, entry_hash"
    raw = sqlite3.connect(path)
    a, b = (raw.execute(f"SELECT {columns} FROM audit_log WHERE seq = ?", (s,)).fetchone() for s in (4, 9))
    raw.close()
    sets = ", ".join(f"{c.strip()} = ?" for c in columns.split(","))
    tamper(path, f"UPDATE audit_log SET {sets} WHERE seq = 4", params=tuple(b))
    tamper(path, f"UPDATE audit_log SET {sets} WHERE seq = 9", params=tuple(a))
    assert verify(path).first_bad == 4


@pytest.mark.parametrize("keep", [0, 1, 6, N - 1])
def test_a_truncated_log_is_named_up_to_the_latest_checkpoint(reference_db, tmp_path, keep):
    path = copy_of(reference_db, tmp_path)
    tamper(path, f"DELETE FROM audit_log WHERE seq > {keep}")
    report = verify(path)
    assert not report.consistent and report.first_bad == keep + 1 and "removed" in report.problem
    assert report.entries == keep


def rehash_from(path: Path, seq: int, payload: dict[str, object]) -> None:
    """What an attacker with write access does: edit an entry and recompute every hash after it."""
    raw = sqlite3.connect(path)
    for trigger in ("audit_log_no_update", "audit_log_no_delete"):
        raw.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    raw.execute("UPDATE audit_log SET payload = ? WHERE seq = ?", (canonical_json(payload), seq))
    prev = GENESIS_HASH if seq == 1 else raw.execute("SELECT entry_hash FROM audit_log WHERE seq = ?",
                                                     (seq - 1,)).fetchone()[0]
    for row in raw.execute("SELECT seq, at_us, kind, participant, ref, payload FROM audit_log WHERE seq >= ? "
                           "ORDER BY seq", (seq,)).fetchall():
        digest = hashlib.sha256(prev + entry_body(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))).digest()
        raw.execute("UPDATE audit_log SET prev_hash = ?, entry_hash = ? WHERE seq = ?", (prev, digest, row[0]))
        prev = digest
    raw.commit()
    raw.close()


@pytest.mark.parametrize(("seq", "first_bad"), [(1, 1), (3, 1), (6, 1), (7, 7), (12, 7)])
def test_a_consistently_rewritten_range_is_caught_by_the_signed_checkpoints(reference_db, tmp_path, seq, first_bad):
    path = copy_of(reference_db, tmp_path)
    rehash_from(path, seq, {"forged": True})
    report = verify(path)  # the chain holds, the signed roots do not
    assert not report.consistent and report.first_bad == first_bad and "rewritten" in report.problem


def test_a_forged_or_foreign_checkpoint_is_named(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    tamper(path, "UPDATE audit_checkpoints SET signature = zeroblob(64) WHERE id = 2")
    report = verify(path)
    assert not report.consistent and report.bad_checkpoint == 2 and report.first_bad is None
    tamper(path, "UPDATE audit_checkpoints SET root_hash = 'text' WHERE id = 1")
    assert verify(path).bad_checkpoint == 1
    # an attacker who rewrites the log and signs the new root with a key of their own
    (tmp_path / "second").mkdir()
    path = copy_of(reference_db, tmp_path / "second")
    rehash_from(path, 10, {"forged": True})
    attacker = AuditSigner(Ed25519PrivateKey.generate())
    with new_campaign(path) as c:
        leaves = [leaf_hash(e.body) for e in c.audit_entries()]
    head = attacker.sign(N, root_of(leaves), 1)
    tamper(path, "DELETE FROM audit_checkpoints WHERE id = 2",
           "INSERT INTO audit_checkpoints (tree_size, root_hash, signed_us, key_id, signature) VALUES (?, ?, ?, ?, ?)",
           params=(head.tree_size, head.root_hash, head.timestamp_us, bytes.fromhex(head.key_id), head.signature))
    report = verify(path)
    assert not report.consistent and report.bad_checkpoint == 2  # the id the attacker's row got
    # trusting that key (as after a rotation) accepts its head; the honest checkpoint of 6 still holds
    with new_campaign(path, trusted_audit_keys=[attacker.public_key]) as c:
        assert c.verify_audit_log().consistent


def test_entries_after_the_latest_checkpoint_need_a_head_kept_elsewhere(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    sender = RecordingSender()
    with new_campaign(path, sender) as c:
        enrol(c, sender, 9, now=T0 + 100 * S)  # entries 13 and 14, after the latest checkpoint
        off_site = c.checkpoint_audit_log(now=T0 + 110 * S)  # e.g. the head in an export's manifest
    assert off_site.tree_size == N + 2
    tamper(path, f"DELETE FROM audit_log WHERE seq > {N}", "DELETE FROM audit_checkpoints WHERE id = 3")
    report = verify(path)  # the documented limit: nothing in the store remembers entries 13 and 14
    assert report.consistent and not report.ok and report.problem == UNPROVED
    report = verify(path, heads=[off_site])
    assert not report.ok and not report.consistent and report.first_bad == N + 1
    assert verify(path, heads=[TreeHead.from_json(off_site.to_json())]).first_bad == N + 1


# ---- what a report may claim: only what a head kept elsewhere pins down (issue 14, part 5) -----------

def kept_note(path: Path, **kw: object) -> SignedCheckpoint:
    """The latest checkpoint as a signed note, read back as a file kept elsewhere would be."""
    with new_campaign(path, **kw) as c:
        return parse_checkpoint(c.audit_checkpoint_note().encode("utf-8"))


def test_deleted_checkpoints_and_tail_are_no_longer_called_ok(reference_db, tmp_path):
    """The attack of issue 14: drop the triggers, delete every checkpoint and the last entries.
    The code before this change answered ``ok=True`` (what ``consistent`` says now)."""
    path = copy_of(reference_db, tmp_path)
    note, head = kept_note(path), TreeHead.from_json(verify_head(path).to_json())  # kept before the attack
    assert note.tree_size == head.tree_size == N
    tamper(path, "DELETE FROM audit_checkpoints", "DELETE FROM audit_log WHERE seq > 9")
    report = verify(path)
    assert report.consistent and report.first_bad is None and report.entries == 9  # the store alone looks fine
    assert not report.ok and report.problem == UNPROVED and report.checkpoints == 0
    assert (report.anchored_size, report.unanchored, report.kept_heads) == (0, 9, 0)
    assert "cannot be ruled out" in report.claim and "kept elsewhere" in report.claim
    for kept in (note, head):  # a head kept elsewhere from before the deletion names the cut
        report = verify(path, heads=[kept])
        assert not report.ok and not report.consistent and report.first_bad == 10 and report.bad_head is None
        assert report.problem == ("the log ends at entry 9 but a head kept elsewhere covers 12 entries: the last "
                                  "ones were removed")


def verify_head(path: Path) -> TreeHead:
    with new_campaign(path) as c:
        head = c.audit_tree_head()
    assert head is not None
    return head


@pytest.mark.parametrize("seq", [1, 7, 12])
def test_a_rewrite_with_deleted_checkpoints_needs_a_head_kept_elsewhere(reference_db, tmp_path, seq):
    path = copy_of(reference_db, tmp_path)
    note = kept_note(path)
    rehash_from(path, seq, {"forged": True})
    tamper(path, "DELETE FROM audit_checkpoints")
    report = verify(path)
    assert report.consistent and not report.ok and report.problem == UNPROVED  # the chain was recomputed
    report = verify(path, heads=[note])
    assert not report.consistent and not report.ok and report.first_bad == 1 and "rewritten" in report.problem
    assert "head kept elsewhere of 12 entries" in report.problem


def test_a_head_kept_elsewhere_anchors_a_prefix_and_names_the_rest(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    note = kept_note(path)
    report = verify(path, heads=[note])
    assert report.ok and report.consistent and report.problem is None and report.first_bad is None
    assert (report.anchored_size, report.unanchored, report.kept_heads) == (N, 0, 1)
    assert "every entry is covered" in report.claim
    sender = RecordingSender()
    with new_campaign(path, sender) as c:
        enrol(c, sender, 9, now=T0 + 100 * S)  # entries 13 and 14: no head kept elsewhere covers them
    report = verify(path, heads=[note])
    assert report.ok and (report.anchored_size, report.unanchored) == (N, 2)
    assert f"entries {N + 1} to {N + 2} are not covered" in report.claim and "cut off or rewritten" in report.claim
    # these two entries can go unnoticed: that is what `unanchored` warns of
    tamper(path, f"DELETE FROM audit_log WHERE seq > {N}")
    assert verify(path, heads=[note]).ok
    # several heads: the largest that matches anchors; an older one does not lower it
    (tmp_path / "older").mkdir()
    with new_campaign(copy_of(reference_db, tmp_path / "older")) as c, c._store.read() as db:
        older = c._audit.heads(db)[0][1]  # the reference log's checkpoint of 6 entries
    assert older.tree_size == 6
    report = verify(path, heads=[older, note])
    assert report.ok and report.anchored_size == N and report.kept_heads == 2


def test_a_head_kept_elsewhere_that_does_not_verify_is_named(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    note, head = kept_note(path), verify_head(path)
    forged_head = TreeHead(head.tree_size, head.root_hash, head.timestamp_us, flip(head.signature), head.key_id)
    text = note.encode()
    at = text.rindex(" ") + 20  # past the key hash (the first 5 1/3 characters): the signature itself
    flipped = parse_checkpoint(text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:])
    other_log = kept_note(path, audit_origin="example.org/another-log")
    attacker = AuditSigner(Ed25519PrivateKey.generate())
    foreign = parse_checkpoint(sign_checkpoint(attacker, note.origin, note.tree_size, note.root_hash))
    negative = TreeHead(-1, head.root_hash, head.timestamp_us, head.signature, head.key_id)
    for bad in (forged_head, flipped, other_log, foreign, negative):
        report = verify(path, heads=[note, bad])
        assert report.consistent and not report.ok and report.bad_head == 1, bad
        assert report.anchored_size == N and "does not verify" in report.problem
    with pytest.raises(TypeError):
        verify(path, heads=[note.encode()])  # text: parse it first (checkpoints.parse_checkpoint)


def test_a_checkpoint_note_of_the_campaign(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    with new_campaign(path) as c:
        text, vkey, origin = c.audit_checkpoint_note(), c.audit_verifier_key, c.audit_origin
        head = c.audit_tree_head()
        public_key = c.audit_public_key
    assert head is not None
    assert origin == "somi.nl/breachindex/audit/" + hashlib.sha256(public_key).hexdigest()[:16]
    assert vkey.startswith(origin + "+") and open_checkpoint(text, [vkey], origin=origin).tree_size == N
    lines = text.split("\n")
    assert lines[:3] == [origin, str(N), base64.b64encode(head.root_hash).decode()] and lines[3] == ""
    assert lines[4].startswith(f"\u2014 {origin} ") and lines[5:] == [""]
    # Ed25519 is deterministic: the same checkpoint, the same note
    with new_campaign(path) as c:
        assert c.audit_checkpoint_note() == text
    # an origin of the foundation's choosing: the first line and the key name
    with new_campaign(path, audit_origin="somi.nl/meta-2025") as c:
        own = c.audit_checkpoint_note()
        assert own.startswith("somi.nl/meta-2025\n") and c.audit_verifier_key.startswith("somi.nl/meta-2025+")
        assert c.verify_audit_log(heads=[parse_checkpoint(own)]).ok
        assert c.verify_audit_log(heads=[parse_checkpoint(text)]).bad_head == 0  # another log's name
    for bad in ("", "has space", "a+b", "tab\there", "x" * 256):
        with pytest.raises(ValueError):
            new_campaign(path, audit_origin=bad)


def test_no_note_is_signed_over_a_tampered_log(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    note = kept_note(path)
    rehash_from(path, 12, {"forged": True})
    with new_campaign(path) as c, pytest.raises(ValueError, match="not intact"):
        c.audit_checkpoint_note()  # the stored checkpoint of 12 no longer matches
    tamper(path, "DELETE FROM audit_checkpoints WHERE tree_size = 12")
    with new_campaign(path) as c:
        assert parse_checkpoint(c.audit_checkpoint_note()).tree_size == 6  # what still holds
        with pytest.raises(ValueError, match="not intact"):
            c.audit_checkpoint_note(heads=[note])  # the head kept elsewhere disagrees
    with new_campaign(tmp_path / "empty.db") as c, pytest.raises(ValueError, match="no checkpoint"):
        c.audit_checkpoint_note()


def test_an_earlier_trusted_key_still_anchors_after_a_rotation(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    note = kept_note(path, audit_origin="somi.nl/audit")  # signed with the key derived from the secret
    new_key = Ed25519PrivateKey.generate()
    old_public = AuditSigner.from_secret(KEY).public_key
    with new_campaign(path, audit_key=new_key, audit_origin="somi.nl/audit") as c:
        assert c.verify_audit_log(heads=[note]).bad_head == 0  # the old key is no longer trusted
    with new_campaign(path, audit_key=new_key, audit_origin="somi.nl/audit", trusted_audit_keys=[old_public]) as c:
        report = c.verify_audit_log(heads=[note])
        assert report.ok and report.anchored_size == N
        fresh = parse_checkpoint(c.audit_checkpoint_note())  # now signed with the new key
    assert fresh.note.signatures[0].key_hash != note.note.signatures[0].key_hash
    assert open_checkpoint(fresh, [verifier_key("somi.nl/audit", AuditSigner(new_key).public_key)],
                           origin="somi.nl/audit") == fresh


# ---- proofs a third party can check -------------------------------------------------------------------

def test_every_entry_has_an_inclusion_proof_against_the_signed_head(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    with new_campaign(path) as c:
        head = c.audit_tree_head()
        assert head is not None and head.tree_size == N
        public_key = c.audit_public_key
        for seq in range(1, N + 1):
            body = c.audit_entry(seq).body
            proof = c.audit_inclusion_proof(seq)
            assert verify_entry(body, proof, head, public_key), seq
            json.dumps(proof.to_json())
        body, proof = c.audit_entry(5).body, c.audit_inclusion_proof(5)
        forged = [
            (flip(body, 10), proof, head, public_key),
            (body, InclusionProof(proof.leaf_index, proof.tree_size, (flip(proof.path[0]), *proof.path[1:])),
             head, public_key),
            (body, InclusionProof(proof.leaf_index, proof.tree_size, tuple(reversed(proof.path))), head, public_key),
            (body, InclusionProof(proof.leaf_index + 1, proof.tree_size, proof.path), head, public_key),
            (c.audit_entry(6).body, proof, head, public_key),
            (body, c.audit_inclusion_proof(5, tree_size=6), head, public_key),
            (body, proof, TreeHead(head.tree_size, flip(head.root_hash), head.timestamp_us, head.signature,
                                   head.key_id), public_key),
            (body, proof, head, AuditSigner(Ed25519PrivateKey.generate()).public_key),
            (b"not json", proof, head, public_key),
        ]
        for case in forged:
            assert not verify_entry(*case)
        with pytest.raises(ValueError):
            c.audit_inclusion_proof(N + 1)


def test_consistency_between_two_checkpoints(reference_db, tmp_path):
    path = copy_of(reference_db, tmp_path)
    with new_campaign(path) as c:
        with c._store.read() as db:
            (_, old), (_, new) = c._audit.heads(db)
        proof = c.audit_consistency_proof(old.tree_size)
        assert proof.verify(old, new)
        assert not proof.verify(new, old)
        forged = type(proof)(proof.old_size, proof.new_size, (flip(proof.path[0]), *proof.path[1:]))
        assert not forged.verify(old, new)


# ---- every change of state is logged, in its own transaction ------------------------------------------

def test_the_workflow_logs_every_change_of_state(tmp_path):
    sender = RecordingSender()
    with shared.new_campaign(tmp_path / "c.db", sender, secret=KEY) as c:  # the default checkpoint interval
        pid = enrol(c, sender, 1)
        raw = json.dumps({"participant": pid, "provider": "idv", "reference": "case-2", "status": "approved"}).encode()
        header = sign_webhook(raw, HOOK_SECRET, int(T0.timestamp()))
        c.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0 + 3 * S)
        c.handle_identity_webhook(raw, header, secret=HOOK_SECRET, now=T0 + 4 * S)  # a replay: stored and logged once
        c.record_identity_check(pid, provider="idv", reference="case-1", status="approved", now=T0 + 5 * S)
        mandate = sign(c, pid, now=T0 + 6 * S).id
        c.start_verification(number(2), now=T0)  # sending a code changes nothing worth logging
        c._store.conn.execute("UPDATE participants SET locked_us = 1 WHERE id = ?", (c.participant_id(number(2)),))
        assert c.unlock(number(2), now=T0 + 7 * S)
        batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 8 * S)
        export = c.export_batch(batch, tmp_path / "out", now=T0 + 9 * S)
        request = c.requests(batch=batch.id)[0]
        c.transition_request(request.id, "sent", now=T0 + 10 * S)
        c.revoke_mandate(mandate, reason="no longer wanted", now=T0 + 11 * S)
        c.mark_notice_sent(request.id, now=T0 + 12 * S)
        kinds = [e.kind for e in c.audit_entries()]
        assert kinds == ["verification_confirmed", "identity_check_recorded", "identity_check_recorded",
                         "mandate_signed", "participant_unlocked", "batch_prepared", "request_created",
                         "request_transition", "batch_exported", "request_transition", "request_transition",
                         "mandate_revoked", "notice_sent"]
        assert set(kinds) <= AUDIT_KINDS
        assert [e.seq for e in c.audit_entries(ref=mandate)] == [4, 12]
        assert all(e.participant == pid for e in c.audit_entries(participant=pid))
        assert export.tree_head.tree_size == 9
        report = c.verify_audit_log()
        assert report.consistent and report.entries == 13 and report.checkpoints >= 2
        assert c.verify_audit_log(heads=[export.tree_head]).anchored_size == 9
        with pytest.raises(LookupError):
            c.audit_entry(99)


def test_a_refused_change_logs_nothing(tmp_path):
    sender = RecordingSender()
    with new_campaign(tmp_path / "c.db", sender) as c:
        with pytest.raises(ValueError):
            c.checkpoint_audit_log(now=T0)  # nothing to sign yet
        with pytest.raises(ValueError):
            c.audit_inclusion_proof(1)
        ch = c.start_verification(number(1), now=T0)
        with pytest.raises(CodeInvalid):
            c.confirm_verification(ch.id, "not the code", now=T0 + S)
        assert c.verify_audit_log().entries == 0
        pid = c.confirm_verification(ch.id, sender.last_code(), now=T0 + S).participant
        assert [e.kind for e in c.audit_entries()] == ["verification_confirmed"]
        with pytest.raises(MandateRefused):  # no ID check yet: nothing is stored, nothing logged
            sign(c, pid, now=T0 + 2 * S)
        assert c.verify_audit_log().entries == 1 and c.mandates(pid) == []
