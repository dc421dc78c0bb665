"""Evidence bundles: made from a real campaign, verified offline with the public key alone, by
Python and by Node's standard library (scripts/verify_bundle.mjs), and every tampering caught
by both: a flipped byte in the text, an edited log entry, a proof from another tree, a head
signed by another key, a member removed, a manifest hash changed."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from datetime import date, datetime, timezone
from functools import partial
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import REPO
from helpers import campaign as shared
from helpers.campaign import S
from helpers.mandate_texts import registry

from breachindex import Key
from breachindex.campaign import RecordingSender
from breachindex.campaign.bundles import build_batch_bundle, build_mandate_bundle, load_public_key, verify_bundle
from breachindex.campaign.treehead import AuditSigner
from breachindex.cli.main import main
from breachindex.errors import UnknownMandate

KEY = Key(b"evidence bundle tests, 32 bytes!")
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
TEXT = "Ik machtig SOMI om namens mij inzage te vragen (art. 15 AVG)."
EVIDENCE = {"ip": "192.0.2.7", "user_agent": "Firefox/134",
            "consents": ["privacy_notice_read", "authorise_access_request", "authorise_dpa_complaint"]}
NODE = shutil.which("node")

new_campaign = partial(shared.new_campaign, secret=KEY, templates=registry([TEXT], EVIDENCE["consents"]))
enrol = partial(shared.enrol, now=T0)
sign = partial(shared.sign, now=T0 + 3 * S, text=TEXT, evidence=EVIDENCE)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A campaign with two signed mandates in one batch, sent, one overdue; both bundles made."""
    tmp = tmp_path_factory.mktemp("bundles")
    sender = RecordingSender()
    c = new_campaign(tmp / "c.db", sender)
    first, second = enrol(c, sender, 1), enrol(c, sender, 2)
    mandates = [sign(c, first), sign(c, second, signer_name="Piet Jansen")]
    batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 4 * S)
    for request in c.requests(batch=batch.id):
        c.transition_request(request.id, "queued", on=date(2025, 2, 17), now=T0 + 5 * S)
        c.transition_request(request.id, "sent", on=date(2025, 2, 17), now=T0 + 6 * S)
    c.mark_overdue(date(2025, 3, 19), now=T0 + 7 * S)
    one = build_mandate_bundle(c, mandates[0].id, tmp / "mandate")
    whole = build_batch_bundle(c, batch.id, tmp / "batch")
    key = c.audit_public_key
    pem = c.audit_public_key_pem
    yield c, mandates, batch, one, whole, key, pem, tmp
    c.close()


def node_verify(folder: Path, key: str) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, str(REPO / "scripts" / "verify_bundle.mjs"), str(folder), key],
                          capture_output=True, text=True, timeout=60)


def test_a_mandate_bundle_holds_its_text_evidence_and_every_entry_about_it(made):
    c, mandates, batch, one, _, key, _, _ = made
    report = verify_bundle(one, key)
    assert report.ok and report.problem is None and report.mandates == 1
    manifest = json.loads((one / "manifest.json").read_text())
    kinds = sorted({e["kind"] for e in manifest["entries"]})
    assert {"mandate_signed", "request_created", "request_transition", "batch_prepared"} <= set(kinds)
    assert (one / f"mandates/{mandates[0].id}/text.txt").read_bytes() == TEXT.encode()
    evidence = json.loads((one / f"mandates/{mandates[0].id}/evidence.json").read_text())
    assert evidence["signer_name"] == "Jan Jansen" and evidence["ip"] == "192.0.2.7"
    assert manifest["mandates"][0]["evidence_checked"] is True
    bodies = [(one / e["file"]).read_text() for e in manifest["entries"]]
    assert all(mandates[1].id not in body for body in bodies) and any(mandates[0].id in body for body in bodies)
    assert (one / "checkpoint.note").read_text().startswith("somi.nl/breachindex/audit/")
    assert mandates[0].participant not in (one / "checkpoint.note").read_text()


def test_a_batch_bundle_covers_every_mandate_it_files(made):
    _, mandates, batch, _, whole, key, _, _ = made
    report = verify_bundle(whole, key)
    assert report.ok and report.mandates == 2
    manifest = json.loads((whole / "manifest.json").read_text())
    assert {m["id"] for m in manifest["mandates"]} == {m.id for m in mandates} and manifest["batch"] == batch.id


@pytest.mark.skipif(NODE is None, reason="node is not installed (scripts/install-test-deps.sh installs nodejs)")
def test_node_verifies_with_its_standard_library_alone(made, tmp_path):
    _, _, _, one, whole, key, pem, _ = made
    for folder in (one, whole):
        done = node_verify(folder, key.hex())
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("bundle verified:")
    pem_file = tmp_path / "audit.pem"
    pem_file.write_text(pem)
    assert node_verify(one, str(pem_file)).returncode == 0


def _copy(folder: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def _flip_text(b: Path, mandate: str) -> None:
    path = b / f"mandates/{mandate}/text.txt"
    data = bytearray(path.read_bytes())
    data[5] ^= 1
    path.write_bytes(bytes(data))
    manifest = json.loads((b / "manifest.json").read_text())  # even with the manifest made to agree
    manifest["files"][f"mandates/{mandate}/text.txt"] = hashlib.sha256(bytes(data)).hexdigest()
    (b / "manifest.json").write_text(json.dumps(manifest))


def _edit_entry(b: Path, _mandate: str) -> None:
    manifest = json.loads((b / "manifest.json").read_text())
    name = manifest["entries"][0]["file"]
    body = (b / name).read_text().replace('"kind":"', '"kind":"x')
    (b / name).write_text(body)
    manifest["files"][name] = hashlib.sha256(body.encode()).hexdigest()
    (b / "manifest.json").write_text(json.dumps(manifest))


def _proof_from_another_tree(b: Path, _mandate: str) -> None:
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["entries"][0]["proof"]["path"] = manifest["entries"][-1]["proof"]["path"]
    (b / "manifest.json").write_text(json.dumps(manifest))


def _head_by_another_key(b: Path, _mandate: str) -> None:
    manifest = json.loads((b / "manifest.json").read_text())
    head = manifest["tree_head"]
    other = AuditSigner(Ed25519PrivateKey.generate()).sign(head["tree_size"], bytes.fromhex(head["root_hash"]),
                                                           head["timestamp_us"])
    manifest["tree_head"] = {**head, "signature": other.signature.hex()}
    (b / "manifest.json").write_text(json.dumps(manifest))


def _member_removed(b: Path, mandate: str) -> None:
    (b / f"mandates/{mandate}/text.txt").unlink()


def _manifest_hash_changed(b: Path, _mandate: str) -> None:
    manifest = json.loads((b / "manifest.json").read_text())
    name = sorted(manifest["files"])[0]
    manifest["files"][name] = "0" * 64
    (b / "manifest.json").write_text(json.dumps(manifest))


def _text_swapped_for_another_mandates(b: Path, mandate: str) -> None:
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["mandates"][0]["text_sha256"] = "1" * 64
    (b / "manifest.json").write_text(json.dumps(manifest))


ATTACKS = {
    "flipped byte in the text": (_flip_text, "text is not the one"),
    "edited log entry": (_edit_entry, "inclusion proof fails"),
    "proof from another tree": (_proof_from_another_tree, "inclusion proof fails"),
    "head signed by another key": (_head_by_another_key, "signature does not hold"),
    "member removed": (_member_removed, "missing"),
    "manifest hash changed": (_manifest_hash_changed, "SHA-256 is not the manifest's"),
    "text hash claimed otherwise": (_text_swapped_for_another_mandates, "text is not the one"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_every_tampering_is_caught_by_both_verifiers(made, tmp_path, attack):
    _, mandates, _, one, _, key, _, _ = made
    change, expected = ATTACKS[attack]
    bundle = _copy(one, tmp_path, "tampered")
    change(bundle, mandates[0].id)
    report = verify_bundle(bundle, key)
    assert not report.ok and expected in (report.problem or ""), report
    if NODE is not None:
        done = node_verify(bundle, key.hex())
        assert done.returncode == 2 and expected in done.stderr, done.stderr


def test_another_foundations_key_fails_and_keys_load_from_hex_raw_and_pem(made):
    _, _, _, one, _, key, pem, _ = made
    other = AuditSigner(Ed25519PrivateKey.generate())
    assert not verify_bundle(one, load_public_key(other.public_key_pem)).ok
    assert load_public_key(key.hex()) == load_public_key(key) == load_public_key(pem) == key
    with pytest.raises(ValueError):
        load_public_key("abcd")


def test_a_bundle_goes_into_a_new_folder_and_an_unknown_mandate_writes_nothing(made, tmp_path):
    c, mandates, _, one, _, _, _, _ = made
    with pytest.raises(FileExistsError):
        build_mandate_bundle(c, mandates[0].id, one)
    with pytest.raises(UnknownMandate):
        build_mandate_bundle(c, "f" * 32, tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_the_command_line_makes_and_verifies_bundles_offline(made, tmp_path, capsys):
    c, mandates, batch, _, _, key, pem, tmp = made
    key_file = tmp_path / "secret.key"
    KEY.save(key_file)
    out = tmp_path / "cli-bundle"
    assert main(["campaign", "bundle", "mandate", mandates[1].id, "--db", str(tmp / "c.db"), "--key", str(key_file),
                 "--out", str(out), "--json"]) == 0
    made_doc = json.loads(capsys.readouterr().out)
    assert made_doc["mandates"] == [mandates[1].id] and made_doc["audit_public_key"] == key.hex()
    pem_file = tmp_path / "audit.pem"
    pem_file.write_text(pem)
    # verify needs neither the store nor the secret
    assert main(["campaign", "bundle", "verify", str(out), "--public-key", str(pem_file)]) == 0
    assert capsys.readouterr().out.startswith("bundle verified:")
    (out / f"mandates/{mandates[1].id}/evidence.json").write_text("{}")
    assert main(["campaign", "bundle", "verify", str(out), "--public-key", key.hex(), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["problem"].endswith("its SHA-256 is not the manifest's")
