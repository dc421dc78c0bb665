"""The deployment files: the systemd unit passes `systemd-analyze verify` and the sample
settings file is one `serve --config` accepts."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

from breachindex.server.config_file import read_config_file


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (REPO / "deploy" / "breachindex.service").read_text()
    exe = Path(sys.executable).parent / "breachindex"
    assert "/opt/breachindex/venv/bin/breachindex" in unit and "LimitMEMLOCK=infinity" in unit
    local = tmp_path / "breachindex.service"
    local.write_text(unit.replace("/opt/breachindex/venv/bin/breachindex", str(exe if exe.exists() else
                                                                            shutil.which("breachindex"))))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(local)], capture_output=True, text=True,
                          timeout=60)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "breachindex.service" in line or any(w in line for w in ("Unknown", "Failed", "Invalid"))]
    assert done.returncode == 0 and problems == [], done.stdout + done.stderr


def test_the_sample_settings_file_is_valid() -> None:
    values = read_config_file(str(REPO / "deploy" / "serve.toml"))
    assert values["workers"] == 2 and values["vault"].startswith("/var/lib/breachindex")
