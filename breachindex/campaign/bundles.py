"""Evidence bundles: what a court or the Dutch DPA can check offline about a mandate (or a batch).

A bundle is a folder (zip it to hand it over)::

    manifest.json            format, what it covers, the signed tree head, every file's SHA-256,
                             and per audit entry its file and RFC 6962 inclusion proof
    checkpoint.note          the same head as a C2SP signed note (any standard verifier)
    mandates/<id>/text.txt   the mandate text exactly as signed (its SHA-256 is in the log)
    mandates/<id>/evidence.json   the opened evidence: signer's name, address, user agent,
                             consents, the ID check, revocation (personal data of the signer)
    entries/<seq>.json       each audit-log entry about it, as its canonical bytes (the leaf data)

``verify_bundle(folder, public_key)`` needs nothing but the folder and the foundation's public
key (raw Ed25519, or the PEM ``campaign audit verifier-key`` / ``Campaign.audit_public_key_pem``
gives): each file against the manifest, the head's signature, each entry's inclusion in the tree
the head signs, and that each mandate's text hashes to the ``text_sha256`` its ``mandate_signed``
entry recorded. ``scripts/verify_bundle.mjs`` does the same with Node's standard library alone.

What a bundle cannot prove offline: that the opened evidence (name, address) is what was sealed
at signing. The log holds a keyed MAC of it (``evidence_mac``), which only the foundation's
secret checks; ``Campaign.mandate_evidence(...).intact`` did that check when the bundle was
made, and the manifest says so (``evidence_checked``).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import UnknownMandate
from ..private_files import make_private_folders
from .audit import AuditEntry, canonical_json
from .merkle import leaf_hash, verify_inclusion
from .treehead import TreeHead

if TYPE_CHECKING:
    from .campaign import Campaign

__all__ = ["BUNDLE_FORMAT", "BundleReport", "build_mandate_bundle", "build_batch_bundle", "load_public_key",
           "verify_bundle"]

BUNDLE_FORMAT = "breachindex-evidence/1"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BundleReport:
    """The outcome of ``verify_bundle``: ``ok``, or the first ``problem`` in words; what was
    checked (``files``, ``entries``, ``mandates``) and the head's ``tree_size``."""

    ok: bool
    problem: str | None
    files: int
    entries: int
    mandates: int
    tree_size: int


def _write(folder: Path, name: str, data: bytes, files: dict[str, str]) -> None:
    path = folder / name
    make_private_folders(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as f:
        f.write(data)
    files[name] = hashlib.sha256(data).hexdigest()


def _relevant(entry: AuditEntry, mandates: set[str], requests: set[str], batches: set[str]) -> bool:
    p = entry.payload
    return (entry.ref in mandates or entry.ref in requests or entry.ref in batches or p.get("mandate") in mandates
            or p.get("request") in requests or p.get("batch") in batches)


def _build(campaign: Campaign, mandate_ids: list[str], out: str | os.PathLike[str], *, kind: str,
           batch: str | None) -> Path:
    folder = Path(out)
    if folder.exists():
        raise FileExistsError(f"{folder} exists: a bundle goes into a new folder")
    evidences = [campaign.mandate_evidence(m) for m in mandate_ids]  # UnknownMandate first, before any file
    records = [r for ev in evidences for r in campaign.requests(participant=ev.mandate.participant)
               if r.mandate == ev.mandate.id]
    requests, batches = {r.id for r in records}, {r.batch for r in records}
    if batch is not None:
        batches.add(batch)
    head = campaign.checkpoint_audit_log()  # covers every entry so far, so every entry below
    participants = {e.mandate.participant for e in evidences}
    entries: dict[int, AuditEntry] = {}
    for participant in sorted(participants):
        for entry in campaign.audit_entries(participant=participant):
            if entry.seq <= head.tree_size and _relevant(entry, set(mandate_ids), requests, batches):
                entries[entry.seq] = entry
    for batch_id in sorted(batches):
        for entry in campaign.audit_entries(ref=batch_id):
            if entry.seq <= head.tree_size:
                entries[entry.seq] = entry
    make_private_folders(folder)
    files: dict[str, str] = {}
    listed = []
    for seq in sorted(entries):
        name = f"entries/{seq:08d}.json"
        _write(folder, name, entries[seq].body, files)
        proof = campaign.audit_inclusion_proof(seq, tree_size=head.tree_size)
        listed.append({"file": name, "seq": seq, "kind": entries[seq].kind, "proof": proof.to_json()})
    mandates = []
    for ev in evidences:
        m = ev.mandate
        _write(folder, f"mandates/{m.id}/text.txt", ev.text.encode("utf-8"), files)
        evidence = {"mandate": m.id, "participant": m.participant, "controller": m.controller,
                    "scopes": list(m.scopes), "template_version": m.template_version, "text_sha256": m.text_sha256,
                    "signed_at": m.signed_at.isoformat(), "ends_at": m.ends_at.isoformat(),
                    "signer_name": ev.signer_name, "name_source": m.name_source, "ip": ev.ip,
                    "user_agent": ev.user_agent, "consents": list(m.consents),
                    "identity_check": {"provider": m.identity_provider, "reference": m.identity_reference,
                                       "checked_at": m.identity_checked_at.isoformat()},
                    "revoked_at": None if m.revoked_at is None else m.revoked_at.isoformat(),
                    "revocation_reason": ev.revocation_reason, "log_seq": m.log_seq}
        _write(folder, f"mandates/{m.id}/evidence.json", canonical_json(evidence).encode("utf-8"), files)
        mandates.append({"id": m.id, "text_sha256": m.text_sha256, "log_seq": m.log_seq,
                         "evidence_checked": ev.intact})
    with contextlib.suppress(ValueError):  # a log that is not consistent signs no note: the head alone
        _write(folder, "checkpoint.note", campaign.audit_checkpoint_note().encode("utf-8"), files)
    manifest = {"format": BUNDLE_FORMAT, "kind": kind, "batch": batch, "mandates": mandates,
                "tree_head": head.to_json(), "audit_public_key": campaign.audit_public_key.hex(),
                "entries": listed, "files": dict(sorted(files.items()))}
    _write(folder, MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8"), {})
    return folder


def build_mandate_bundle(campaign: Campaign, mandate_id: str, out: str | os.PathLike[str]) -> Path:
    """The evidence bundle of one mandate, its requests and their batches, into the new folder ``out``."""
    return _build(campaign, [mandate_id], out, kind="mandate", batch=None)


def build_batch_bundle(campaign: Campaign, batch_id: str, out: str | os.PathLike[str]) -> Path:
    """The evidence bundle of a batch: every mandate it files, under one tree head."""
    mandates = sorted({r.mandate for r in campaign.requests(batch=batch_id)})
    if not mandates:
        raise UnknownMandate("no request of that batch: unknown batch, or nothing in it")
    return _build(campaign, mandates, out, kind="batch", batch=batch_id)


def load_public_key(text: str | bytes) -> bytes:
    """A raw Ed25519 public key from hex, raw 32 bytes, or PEM (SubjectPublicKeyInfo)."""
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if data.strip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if len(data) == 32:
        return data
    raw = bytes.fromhex(data.decode("ascii").strip())
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return raw


def _fail(problem: str, checked: dict[str, int]) -> BundleReport:
    return BundleReport(False, problem, checked["files"], checked["entries"], checked["mandates"], checked["size"])


def verify_bundle(folder: str | os.PathLike[str], public_key: bytes | Iterable[int]) -> BundleReport:
    """Check a bundle with the foundation's public key alone (see the module documentation)."""
    root, key = Path(folder), bytes(public_key)
    checked = {"files": 0, "entries": 0, "mandates": 0, "size": 0}
    try:
        manifest = json.loads((root / MANIFEST).read_bytes())
        if manifest.get("format") != BUNDLE_FORMAT:
            return _fail("not a breachindex evidence bundle (format)", checked)
        head = TreeHead.from_json(manifest["tree_head"])
    except (OSError, ValueError, KeyError, TypeError):
        return _fail("manifest.json is missing or malformed", checked)
    checked["size"] = head.tree_size
    if not head.verify(key):
        return _fail("the tree head's signature does not hold under this public key", checked)
    for name, digest in manifest["files"].items():
        path = root / name
        if ".." in Path(name).parts or not path.is_file():
            return _fail(f"{name}: missing", checked)
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return _fail(f"{name}: its SHA-256 is not the manifest's", checked)
        checked["files"] += 1
    signed: dict[str, dict[str, Any]] = {}
    for item in manifest["entries"]:
        name = item["file"]
        if name not in manifest["files"]:
            return _fail(f"{name}: not listed among the files", checked)
        body = (root / name).read_bytes()
        proof = item["proof"]
        try:
            entry = json.loads(body)
            path = [bytes.fromhex(p) for p in proof["path"]]
        except ValueError:
            return _fail(f"{name}: not an audit entry", checked)
        if entry.get("seq") != proof["leaf_index"] + 1 or proof["tree_size"] != head.tree_size or not \
                verify_inclusion(leaf_hash(body), proof["leaf_index"], proof["tree_size"], path, head.root_hash):
            return _fail(f"{name}: not in the log the tree head signs (inclusion proof fails)", checked)
        if entry.get("kind") == "mandate_signed":
            signed[str(entry.get("payload", {}).get("mandate"))] = entry["payload"]
        checked["entries"] += 1
    for m in manifest["mandates"]:
        text_name = f"mandates/{m['id']}/text.txt"
        if text_name not in manifest["files"]:
            return _fail(f"{text_name}: missing from the manifest", checked)
        payload = signed.get(m["id"])
        if payload is None:
            return _fail(f"mandate {m['id']}: no mandate_signed entry proved in the bundle", checked)
        digest = hashlib.sha256((root / text_name).read_bytes()).hexdigest()
        if digest != payload.get("text_sha256") or digest != m["text_sha256"]:
            return _fail(f"mandate {m['id']}: the text is not the one whose hash the log recorded", checked)
        checked["mandates"] += 1
    return BundleReport(True, None, checked["files"], checked["entries"], checked["mandates"], head.tree_size)
