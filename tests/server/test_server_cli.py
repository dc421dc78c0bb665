"""``breachindex serve`` (here ``python -m breachindex.server serve``): configuration errors exit
2 before any worker starts; a real server with two uvicorn workers answers, reports its index
generation, and stops cleanly on SIGTERM; so does one worker, on SIGTERM or SIGINT."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
import httpx
from helpers.serving import serving, start, stop, wait_ready

from breachindex import Key
from breachindex.server.cli import serve_main
from breachindex.server.testing import make_sandbox


def test_configuration_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sb = make_sandbox(tmp_path / "sandbox")
    other_key = tmp_path / "other.key"
    Key.generate().save(other_key)
    base = ["--campaign", str(tmp_path / "c.db")]
    assert serve_main([str(tmp_path / "missing"), "--key", str(sb.key_path), *base]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert serve_main([str(sb.index_path), "--key", str(other_key), *base]) == 2
    assert "not the one the index was built with" in capsys.readouterr().err
    assert serve_main([str(sb.index_path), "--key", str(sb.key_path), *base, "--sms-sender", "nomodule"]) == 2
    assert serve_main([str(sb.index_path), "--key", str(sb.key_path), *base, "--workers", "0"]) == 2
    os.chmod(sb.webhook_secret_path, 0o644)
    assert serve_main([str(sb.index_path), "--key", str(sb.key_path), *base,
                       "--webhook-secret", str(sb.webhook_secret_path)]) == 2
    assert "readable by others" in capsys.readouterr().err


def test_two_workers_serve_and_stop_on_sigterm(tmp_path: Path) -> None:
    sb = make_sandbox(tmp_path / "sandbox")
    args = [str(sb.index_path), "--key", str(sb.key_path), "--campaign", str(sb.campaign_path),
            "--api-keys", str(sb.api_keys_path), "--workers", "2", "--insecure-cookies"]
    log_path = tmp_path / "server.log"
    with serving(args, log_path, timeout=30) as served, \
            httpx.Client(base_url=served.base, headers=sb.auth("check"), timeout=5) as client:
        answers = [client.post("/v1/check", json={"phone": "+31612340001"}) for _ in range(20)]
    assert {a.status_code for a in answers} == {200} and answers[0].json()["found"] is True
    assert "server" not in {k.lower() for k in answers[0].headers}  # no server banner
    assert served.exit_code == 0, served.log()
    lines = log_path.read_text().splitlines()
    assert lines and all(line.startswith("{") for line in lines), lines[:5]
    assert sum('"event":"request"' in line for line in lines) >= 21
    # each worker's last lines too (a worker dies by the signal uvicorn raises again once it stopped)
    assert sum('"event":"Finished server process' in line for line in lines) == 2
    assert "31612340001" not in log_path.read_text()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_one_worker_stops_cleanly_and_leaves_nothing_behind(tmp_path: Path, stop_signal: int) -> None:
    """uvicorn raises the stopping signal again once it has shut down: serve must still exit 0,
    remove its metrics folder and have written every log line that waited for the loop."""
    sb = make_sandbox(tmp_path / "sandbox")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    args = [str(sb.index_path), "--key", str(sb.key_path), "--campaign", str(sb.campaign_path),
            "--api-keys", str(sb.api_keys_path), "--insecure-cookies"]
    log_path = tmp_path / "server.log"
    served = start(args, log_path, env={**os.environ, "TMPDIR": str(temporary)})
    try:
        wait_ready(served, timeout=30)
        assert [p.name.startswith("breachindex-metrics-") for p in temporary.iterdir()] == [True]
        with httpx.Client(base_url=served.base, headers=sb.auth("check"), timeout=5) as client:
            answers = [client.post("/v1/check", json={"phone": "+31612340001"}) for _ in range(15)]
        assert {a.status_code for a in answers} == {200}
        served.proc.send_signal(stop_signal)
        assert served.proc.wait(20) == 0, served.log()
    finally:
        stop(served)
    assert list(temporary.iterdir()) == []
    lines = log_path.read_text().splitlines()
    assert sum('"route":"/v1/check"' in line for line in lines) == 15
    assert '"event":"Finished server process' in lines[-1]
