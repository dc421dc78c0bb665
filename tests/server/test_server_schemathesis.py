"""schemathesis against the app's own OpenAPI document, over real HTTP (uvicorn on 127.0.0.1):
every operation, positive and negative data, its coverage, fuzzing and stateful phases, a
bounded number of examples with a fixed seed. It must find no 5xx, no answer outside the
document (status, content type, headers, body schema) and no invalid request accepted.

One setting differs from schemathesis's defaults: a request that matches the schema may still
be answered 400 or 422 (a random string is rarely a possible phone number, a random code is
wrong), so ``positive_data_acceptance`` also expects those. 413, 415 or a 5xx for schema-valid
data would still fail it.
"""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
SCHEMATHESIS = shutil.which("schemathesis") or shutil.which("st")
pytestmark = pytest.mark.skipif(SCHEMATHESIS is None, reason="needs schemathesis (pip install schemathesis)")

from breachindex.campaign import RecordingSender  # noqa: E402
from breachindex.server import create_app  # noqa: E402
from breachindex.server.app import OPERATIONS  # noqa: E402
from breachindex.server.testing import make_sandbox, serve_in_thread  # noqa: E402

CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429"]
"""


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path) -> None:
    sb = make_sandbox(tmp_path / "sandbox")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    logs = io.StringIO()
    # generous page limits: the fuzzer calls the page's operations thousands of times from one address
    app = create_app(sb.config(check_ip_burst=1_000_000, check_number_burst=1_000_000, person_ip_burst=1_000_000),
                     sender=RecordingSender(), log_stream=logs)
    with serve_in_thread(app) as base:
        assert SCHEMATHESIS is not None
        result = subprocess.run(
            [SCHEMATHESIS, "--config-file", str(config), "run", f"{base}/openapi.json",
             "-H", f"Authorization: Bearer {sb.tokens['admin']}", "--max-examples", "25", "--seed", "2021",
             "--workers", "1", "--request-timeout", "10"],
            capture_output=True, text=True, timeout=240, cwd=tmp_path)
    output = result.stdout + result.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    assert result.returncode == 0, output[-8000:]
    assert f"Tested: {len(OPERATIONS)}" in output and " passed" in output  # every operation
    assert '"status":5' not in logs.getvalue()  # the server logged no 5xx either
