"""``import breachindex`` is the engine alone: the campaign workflow, the vault, the deadlines
and the server load on first use, and their packages are extras (issue 15)."""
from __future__ import annotations

import subprocess
import sys

import pytest

import breachindex

OPTIONAL = ("nacl", "argon2", "holidays", "starlette", "uvicorn", "prometheus_client", "reportlab", "psycopg",
            "psycopg_pool")


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_importing_the_engine_loads_no_optional_package():
    result = _run("import sys, breachindex\n"
                  "k = breachindex.Key.generate()\n"
                  f"print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))\n"
                  "print(sorted(m for m in sys.modules if m.startswith(('breachindex.campaign', "
                  "'breachindex.vault', 'breachindex.server', 'breachindex.cli'))))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "[]"]


@pytest.mark.parametrize("name", ["Campaign", "Vault", "VaultItem", "Mandate", "TreeHead", "response_due"])
def test_the_workflows_names_still_come_from_the_package(name):
    value = getattr(breachindex, name)
    assert name in dir(breachindex) and name in breachindex.__all__
    assert value is getattr(breachindex, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError):
        breachindex.NoSuchThing  # noqa: B018


@pytest.mark.parametrize(("command", "missing", "extra"), [
    (["serve", "idx", "--key", "KEY", "--campaign", "c.db"], "starlette", "server"),
    (["api-key", "list", "keys.json"], "starlette", "server"),
    (["campaign", "verification", "start", "+31612345678", "--sender", "none", "--db", "DB", "--key", "KEY"],
     "holidays", "campaign"),
])
def test_a_command_without_its_extra_says_what_to_install(tmp_path, command, missing, extra):
    key = tmp_path / "k.key"
    breachindex.Key.generate().save(key)
    command = [str(key) if a == "KEY" else str(tmp_path / "c.db") if a == "DB" else a for a in command]
    result = _run(f"import sys; sys.modules[{missing!r}] = None\n"
                  "from breachindex.cli import main\n"
                  f"sys.exit(main({command!r}))")
    assert result.returncode == 2, result.stderr
    assert f"breachindex[{extra}]" in result.stderr and "Traceback" not in result.stderr
