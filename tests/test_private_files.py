"""What holds secrets or personal data is private whatever the umask: the API key file and its
folders, a batch's export, the vault folder. Open ones are refused, never quietly used. (The
campaign store's own files: tests/campaign/test_campaign_store.py.)

The umask is set around the one call that creates files and restored in a ``finally``; the
library itself never changes it."""
from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers.campaign import S, enrol, new_campaign, sign
from helpers.vault import FAST

from breachindex import Key
from breachindex.campaign import Campaign, RecordingSender
from breachindex.campaign.controllers import CONTROLLERS
from breachindex.campaign.templates import CURRENT_VERSION
from breachindex.errors import VaultCorrupted
from breachindex.private_files import make_private_folders
from breachindex.server.auth import ApiKeyStore, create_api_key, list_api_keys, revoke_api_key
from breachindex.server.cli import api_key_main
from breachindex.server.templates import render

KEY = Key(b"private files tests secret, 32b!")
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
EVIDENCE = {"ip": "192.0.2.7", "user_agent": "test", "consents": ["privacy_notice_read", "authorise_access_request"]}
UMASKS = [0o000, 0o022, 0o277]  # 0o277 takes the owner's write bit too: the modes are set exactly


@contextmanager
def umask(mask: int) -> Iterator[None]:
    before = os.umask(mask)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- folders ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mask", UMASKS)
def test_missing_folders_are_made_0700_and_existing_ones_left_alone(tmp_path, mask):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    with umask(mask):
        make_private_folders(shared / "a" / "b" / "c")
        make_private_folders(shared / "a" / "b" / "c")  # exists: nothing to do
    assert [mode(shared / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
    assert mode(shared) == 0o755


# ---- the API key file -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mask", UMASKS)
def test_the_api_key_file_and_the_folders_made_for_it_are_private(tmp_path, mask):
    path = tmp_path / "etc" / "breachindex" / "api-keys.json"
    with umask(mask):
        token = create_api_key(path, name="checker", scopes=["check"])
    assert (mode(tmp_path / "etc"), mode(path.parent), mode(path)) == (0o700, 0o700, 0o600)
    assert ApiKeyStore(path).verify(token) is not None


@pytest.mark.parametrize("open_mode", [0o644, 0o640, 0o604])
def test_an_api_key_file_open_to_others_is_refused_by_the_server_and_the_cli(tmp_path, capsys, open_mode):
    path = tmp_path / "api-keys.json"
    token = create_api_key(path, name="checker", scopes=["check"])
    key_id = list_api_keys(path)[0].id
    os.chmod(path, open_mode)
    before = path.read_bytes()
    for attempt in (lambda: ApiKeyStore(path), lambda: list_api_keys(path), lambda: revoke_api_key(path, key_id),
                    lambda: create_api_key(path, name="another", scopes=["admin"])):
        with pytest.raises(ValueError, match=f"chmod 600 {path}$"):
            attempt()
    assert path.read_bytes() == before and mode(path) == open_mode  # refused, not rewritten or tightened
    assert api_key_main(["list", str(path)]) == 2
    assert f"chmod 600 {path}" in capsys.readouterr().err
    os.chmod(path, 0o600)
    assert ApiKeyStore(path).verify(token) is not None
    assert api_key_main(["list", str(path)]) == 0


def test_a_running_server_keeps_its_keys_when_the_file_turns_open(tmp_path):
    path = tmp_path / "api-keys.json"
    token = create_api_key(path, name="checker", scopes=["check"])
    keys = ApiKeyStore(path, recheck_every=0)
    create_api_key(path, name="second", scopes=["check"])
    os.chmod(path, 0o644)
    assert keys.verify(token) is not None and len(keys) == 1  # the open file is not read: the old keys stay


# ---- exports ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mask", UMASKS)
def test_an_export_is_a_0700_folder_of_0600_files(tmp_path, mask):
    sender = RecordingSender()
    with new_campaign(tmp_path / "c.db", sender, secret=KEY, checkpoint_interval=None) as c:
        pid = enrol(c, sender, 1, now=T0)
        text, _ = render(CURRENT_VERSION, "en", CONTROLLERS["meta"])  # type: ignore[misc]
        sign(c, pid, text=text, evidence=EVIDENCE, template_version=CURRENT_VERSION, now=T0 + 4 * S)
        batch = c.prepare_batch("meta", filing_date=T0.date(), now=T0 + 5 * S)
        with umask(mask):
            export = c.export_batch(batch, tmp_path / "meta-export", now=T0 + 6 * S)
    assert mode(export.path) == 0o700
    files = sorted(export.path.iterdir())
    assert [p.name for p in files] == ["manifest.json", "participants.csv"]
    assert [mode(p) for p in files] == [0o600, 0o600]


# ---- the vault folder ------------------------------------------------------------------------------------

@contextmanager
def campaign(tmp_path: Path) -> Iterator[tuple[Campaign, RecordingSender]]:
    sender = RecordingSender()
    c = new_campaign(tmp_path / "c.db", sender, secret=KEY, checkpoint_interval=None)
    try:
        yield c, sender
    finally:
        c.close()


def stored_vault(tmp_path: Path, folder: Path) -> None:
    """A vault in ``folder`` holding one item."""
    with campaign(tmp_path) as (c, sender):
        vault = c.vault(folder, kdf=FAST)
        pid = enrol(c, sender, 1, now=T0)
        vault.setup(pid, "lantern orchard quietly", now=T0 + 3 * S)
        vault.store(pid, "meta", io.BytesIO(b"the answer"), now=T0 + 4 * S)


@pytest.mark.parametrize("mask", UMASKS)
def test_a_new_vault_is_private_whatever_the_umask(tmp_path, mask):
    folder = tmp_path / "vault"
    with umask(mask):
        stored_vault(tmp_path, folder)
    folders = [folder, folder / "items", *(p for p in (folder / "items").iterdir())]
    files = [folder / "VAULT", *(p for p in (folder / "items").rglob("*") if p.is_file())]
    assert len(folders) == 3 and len(files) == 2
    assert [mode(p) for p in folders] == [0o700] * 3
    assert [mode(p) for p in files] == [0o600] * 2


def test_an_empty_folder_made_by_someone_else_becomes_private(tmp_path):
    folder = tmp_path / "vault"
    folder.mkdir()
    os.chmod(folder, 0o755)
    stored_vault(tmp_path, folder)
    assert mode(folder) == 0o700 and mode(folder / "items") == 0o700


@pytest.mark.parametrize("where", [".", "items", "bucket"])
@pytest.mark.parametrize("open_mode", [0o755, 0o750, 0o701])
def test_an_existing_vault_open_to_others_is_refused(tmp_path, where, open_mode):
    folder = tmp_path / "vault"
    stored_vault(tmp_path, folder)
    target = next((folder / "items").iterdir()) if where == "bucket" else folder / where
    os.chmod(target, open_mode)
    with campaign(tmp_path) as (c, _), pytest.raises(VaultCorrupted) as caught:
        c.vault(folder, kdf=FAST)
    assert caught.value.reason == "too_open"
    assert f"mode {open_mode:o}" in str(caught.value) and f"chmod -R go-rwx {folder}" in str(caught.value)
    assert mode(target) == open_mode  # refused, not tightened
    os.chmod(target, 0o700)
    with campaign(tmp_path) as (c, _):
        assert len(list(c.vault(folder, kdf=FAST).folder.iterdir())) == 2
