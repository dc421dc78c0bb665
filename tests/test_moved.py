"""The flat layout's module names still import (issue 15): each warns once and is the very module
at its new place, so old code keeps working and monkeypatching either name patches the same thing."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from breachindex._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_name_is_the_new_module_and_warns(old, new):
    code = (f"import warnings, importlib, sys\n"
            f"warnings.simplefilter('always')\n"
            f"with warnings.catch_warnings(record=True) as seen:\n"
            f"    old = importlib.import_module({old!r})\n"
            f"new = importlib.import_module({new!r})\n"
            f"assert old is new, (old, new)\n"
            f"assert sys.modules[{old!r}] is new\n"
            f"print([str(w.message) for w in seen if w.category is DeprecationWarning])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{old} moved to {new}" in result.stdout


def test_every_new_place_exists_and_no_old_file_is_left():
    import breachindex

    root = __import__("pathlib").Path(breachindex.__file__).parent
    for old, new in MOVED.items():
        assert importlib.util.find_spec(new) is not None, new
        assert not (root / (old.split(".", 1)[1] + ".py")).exists(), old


def test_a_name_never_in_the_package_is_still_an_error():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("breachindex.no_such_module")
