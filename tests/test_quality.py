"""The project's own static checks run with the tests: mypy on the package, ruff on the tree,
and the C core compiled with warnings as errors."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree")
def test_mypy_is_clean():
    pytest.importorskip("mypy")
    result = _run(sys.executable, "-m", "mypy", "breachindex")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_is_clean():
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_core_compiles_without_warnings(tmp_path):
    result = _run("cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
                  "-Wshadow", "-Wconversion", "-Wno-sign-conversion", "-c", "native/breachindex.c",
                  "-o", str(tmp_path / "breachindex.o"))
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_fastcall_module_compiles_without_warnings_under_the_stable_abi(tmp_path):
    import sysconfig

    result = _run("cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
                  "-Wno-missing-field-initializers", "-Wno-cast-function-type",
                  "-DPy_LIMITED_API=0x030A0000", "-I", sysconfig.get_paths()["include"],
                  "-I", "native", "-c", "native/fastcall.c", "-o", str(tmp_path / "fastcall.o"))
    assert result.returncode == 0, result.stderr


def test_header_and_python_agree_on_the_abi_version():
    from breachindex import _core

    text = (ROOT / "native" / "breachindex.h").read_text()
    assert f"#define BI_ABI_VERSION {_core.ABI_VERSION}" in text
    assert _core.lib.bi_abi_version() == _core.ABI_VERSION
    assert _core._FASTCALL_ABI == _core.ABI_VERSION  # compiled from the same header
