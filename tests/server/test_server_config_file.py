"""``breachindex serve --config FILE``: settings from TOML, flags on the command line win, an
unknown or misspelt key is an error, and what is missing is named."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("starlette")

from breachindex.server import cli
from breachindex.server.config_file import read_config_file


def _settings(tmp_path: Path, argv: list[str], monkeypatch) -> tuple[object, object]:
    """What serve_main would run with: the config and the process options (uvicorn is not started)."""
    seen: dict[str, object] = {}
    monkeypatch.setattr(cli, "_check_config", lambda config: seen.setdefault("config", config))

    class Stop(Exception):
        pass

    def fake_run(*args, **kwargs):
        seen["process"] = kwargs
        raise Stop

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    with pytest.raises(Stop):
        cli.serve_main(argv)
    return seen["config"], seen["process"]


def test_settings_come_from_the_file_and_flags_win(tmp_path, monkeypatch):
    file = tmp_path / "serve.toml"
    file.write_text('index = "/srv/idx"\nkey = "/etc/leak.key"\ncampaign = "/var/c.db"\nvault = "/var/vault"\n'
                    'check_ip_rate = 0.2\nport = 8123\nworkers = 3\nsecure_cookies = false\n'
                    'page_url = "https://check.example/"\n')
    config, process = _settings(tmp_path, ["--config", str(file), "--port", "9000", "--check-ip-rate", "0.5"],
                                monkeypatch)
    assert (config.index, config.key, config.campaign, config.vault) == ("/srv/idx", "/etc/leak.key", "/var/c.db",
                                                                         "/var/vault")
    assert config.check_ip_rate == 0.5 and config.secure_cookies is False  # the flag won; the file's bool kept
    assert config.page_url == "https://check.example/"
    assert process["port"] == 9000 and process["workers"] == 3
    config, _ = _settings(tmp_path, ["other.idx", "--config", str(file), "--insecure-cookies"], monkeypatch)
    assert config.index == "other.idx" and config.secure_cookies is False


def test_unknown_keys_bad_toml_and_missing_settings_are_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('index = "/srv/idx"\ncheck_ip_rat = 0.2\n')
    with pytest.raises(ValueError, match="check_ip_rat"):
        read_config_file(str(bad))
    assert cli.serve_main(["--config", str(bad)]) == 2
    assert "unknown setting(s) check_ip_rat" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("index = \n")
    assert cli.serve_main(["--config", str(broken)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    partial = tmp_path / "partial.toml"
    partial.write_text('index = "/srv/idx"\n')
    assert cli.serve_main(["--config", str(partial)]) == 2
    assert "give key, campaign" in capsys.readouterr().err
    assert cli.serve_main(["idx"]) == 2
    assert "give key, campaign" in capsys.readouterr().err
