"""The server's small parts on their own: API key files, session cookies, token buckets, the
error mapping, the configuration's round trip."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

pytest.importorskip("starlette")

from breachindex.errors import (
    CodeExpired,
    CodeInvalid,
    InvalidPhoneNumber,
    Throttled,
    TooManyAttempts,
    WrongKey,
)
from breachindex.server.auth import ApiKeyStore, create_api_key, list_api_keys, revoke_api_key
from breachindex.server.cli import api_key_main
from breachindex.server.config import ServerConfig
from breachindex.server.errors import ERROR_CODES, ApiError, api_error_for
from breachindex.server.sessions import SessionSigner


def test_api_keys_are_stored_hashed_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    token = create_api_key(path, name="web app", scopes=["check", "workflow"])
    assert token.startswith("bik_") and len(token) > 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_text()
    assert token not in raw and token.split("_", 2)[2] not in raw
    store = ApiKeyStore(path)
    key = store.verify(token)
    assert key is not None and key.scopes == {"check", "workflow"} and key.name == "web app"
    assert key.allows("check") and not key.allows("admin")
    assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    for junk in ("", "bik_", "bik_short_x", "Bearer " + token, token + "\u00e9", "x" * 500):
        assert store.verify(junk) is None
    with pytest.raises(ValueError):
        create_api_key(path, name="x", scopes=["root"])
    with pytest.raises(ValueError):
        create_api_key(path, name="", scopes=["check"])


def test_admin_keys_may_call_everything_and_keys_can_be_revoked(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    admin = create_api_key(path, name="ops", scopes=["admin"])
    store = ApiKeyStore(path, recheck_every=0.0)
    key = store.verify(admin)
    assert key is not None and all(key.allows(s) for s in ("check", "workflow", "admin"))
    assert revoke_api_key(path, key.id) is True and revoke_api_key(path, key.id) is False
    assert store.verify(admin) is None and list_api_keys(path) == []


def test_the_api_key_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "keys.json")
    assert api_key_main(["create", path, "--name", "lawyer tool", "--scope", "admin", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["scopes"] == ["admin"] and ApiKeyStore(path).verify(created["key"]) is not None
    assert api_key_main(["list", path, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["name"] for k in listed] == ["lawyer tool"] and "key" not in listed[0] and "sha256" not in listed[0]
    assert api_key_main(["revoke", path, listed[0]["id"]]) == 0
    assert api_key_main(["revoke", path, listed[0]["id"]]) == 1
    (tmp_path / "bad.json").write_text("[]")
    assert api_key_main(["list", str(tmp_path / "bad.json")]) == 2


def test_session_cookies_are_signed_and_expire() -> None:
    signer = SessionSigner(b"k" * 32, max_age=100, secure=True)
    value = signer.issue("abc123", now=1000)
    session = signer.read(value, now=1050)
    assert session is not None and session.participant == "abc123"
    assert signer.read(value, now=1100) is None  # too old
    assert signer.read(value.replace("abc123", "abc124"), now=1050) is None  # another participant
    assert signer.read(value[:-2] + "xx", now=1050) is None
    assert SessionSigner(b"j" * 32, max_age=100).read(value, now=1050) is None  # another key
    for junk in (None, "", "v1", "v1.a.b.c", "v2.abc123.1000." + value.rsplit(".", 1)[1], "é" * 10):
        assert signer.read(junk, now=1050) is None
    header = signer.set_cookie_header(value)
    assert header.startswith("__Host-bi_session=") and "Secure" in header and "HttpOnly" in header
    assert "SameSite=Strict" in header and "Path=/" in header and "Domain" not in header
    assert "Max-Age=0" in signer.clear_cookie_header()
    with pytest.raises(ValueError):
        signer.issue("a.b")


def test_library_errors_map_to_stable_codes() -> None:
    def mapped(exc: BaseException) -> ApiError:
        error = api_error_for(exc)
        assert error is not None
        return error

    assert (mapped(CodeInvalid()).code, mapped(CodeExpired()).code) == ("code_invalid", "code_invalid")
    assert mapped(CodeInvalid()).message == mapped(CodeExpired()).message
    throttled = mapped(Throttled(12.2, "resend_interval"))
    assert (throttled.status, throttled.reason, throttled.response_headers()["Retry-After"]) == \
        (429, "resend_interval", "13")
    locked = mapped(TooManyAttempts("number_locked"))
    assert locked.code == "too_many_attempts" and "Retry-After" not in locked.response_headers()
    assert mapped(InvalidPhoneNumber("too_short", "too short")).status == 422
    assert api_error_for(WrongKey("x")) is None and api_error_for(ValueError("x")) is None
    assert all(400 <= status < 600 for status in ERROR_CODES.values())
    with pytest.raises(ValueError):
        ApiError("no_such_code", "x")


def test_the_configuration_travels_as_json_without_secrets(tmp_path: Path) -> None:
    config = ServerConfig(index="/i", key="/k", campaign=str(tmp_path / "c.db"), api_keys="/a")
    again = ServerConfig.from_json(config.to_json())
    assert "secret" not in config.to_json().lower() or "webhook_secret" in config.to_json()
    assert again == config and again.exports == tmp_path / "exports"
    with pytest.raises(ValueError):
        ServerConfig(index="/i", key="/k", campaign="/c", reload_interval=0)
    os.environ.pop("BREACHINDEX_SERVER_CONFIG", None)
    with pytest.raises(RuntimeError):
        ServerConfig.from_environment()
