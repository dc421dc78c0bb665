"""The edge between the C core and Python (issue 15): one header, one status type, one decoder.

* the compiled core, the header and the package agree on the ABI version;
* every integer constant of ``native/breachindex.h`` reaches Python as ``lib.BI_*`` with the
  header's value, and no Python file copies one by hand (nor the key width's formula);
* every entry point returns ``bi_status`` (but the four pure functions), and
  ``breachindex._core.error`` is the only place that turns a failure into an exception: each
  status into the exception (and message) the library raised before the statuses were merged.
"""
from __future__ import annotations

import ast
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO

import breachindex as bi
from breachindex import _core
from breachindex._core import error, ffi, lib
from breachindex.errors import IndexCorrupted, InvalidPhoneNumber, NativeError

ROOT = REPO
HEADER = ROOT / "native" / "breachindex.h"
#: functions of the core that cannot fail and return their value
PURE = {"bi_abi_version", "bi_status_message", "bi_siphash24", "bi_key_width"}

needs_source = pytest.mark.skipif(not HEADER.exists(), reason="needs the source tree")


def header_constants() -> dict[str, int]:
    """Every integer #define and enum member of the public header, as written there."""
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    found = {m[1]: int(m[2]) for m in re.finditer(r"^\s*#define\s+(BI_\w+)\s+\(?(-?\d+)\)?\s*$", text, re.M)}
    for body in re.findall(r"enum\s*\{(.*?)\}", text, flags=re.S):
        for m in re.finditer(r"(BI_\w+)\s*=\s*(-?\d+)", body):
            found[m[1]] = int(m[2])
    return found


# ---- versions and constants -----------------------------------------------------------------

@needs_source
def test_header_and_python_agree_on_the_abi_version():
    text = HEADER.read_text()
    assert f"#define BI_ABI_VERSION {_core.ABI_VERSION}\n" in text
    assert lib.BI_ABI_VERSION == lib.bi_abi_version() == _core.ABI_VERSION
    assert _core._FASTCALL_ABI == _core.ABI_VERSION  # compiled from the same header


@needs_source
def test_every_header_constant_reaches_python_with_its_value():
    constants = header_constants()
    assert {"BI_MAX_THREADS", "BI_MAX_ROWS", "BI_E164_MAX", "BI_ERR_CORRUPT_DIRECTORY"} <= set(constants)
    assert {name: getattr(lib, name, None) for name in constants} == constants


def test_python_reads_its_limits_from_the_core():
    from breachindex import index
    from breachindex.builder import files as indexfiles
    from breachindex.builder import writer
    from breachindex.keying import keys

    assert index.MAX_THREADS == lib.BI_MAX_THREADS
    assert keys.E164_WIDTH == lib.BI_E164_MAX
    assert writer.MAX_DATA_CLASSES == lib.BI_MAX_CLASSES
    assert [indexfiles.key_width(b) for b in (1, 8, 9, 16, 17, 24, 25, 32)] == [8, 7, 7, 6, 6, 5, 5, 4]
    assert all(indexfiles.key_width(b) == lib.bi_key_width(b) for b in range(1, 33))


def _python_files() -> list[Path]:
    return sorted(p for d in ("breachindex", "tests", "bench") for p in (ROOT / d).rglob("*.py"))


def _int_literal(node: ast.AST | None) -> bool:
    """An int written out: 64, -2, 1 << 32, 2**31 - 1 (no names in it)."""
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return type(node.value) is int
    if isinstance(node, ast.UnaryOp):
        return _int_literal(node.operand)
    if isinstance(node, ast.BinOp):
        return _int_literal(node.left) and _int_literal(node.right)
    return False


def _is_key_width_formula(node: ast.AST) -> bool:
    """(64 - bits + 7) // 8, in any spelling with 64 minus something, floor-divided by 8."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv)
            and isinstance(node.right, ast.Constant) and node.right.value == 8):
        return False
    return any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub) and isinstance(n.left, ast.Constant)
               and n.left.value == 64 for n in ast.walk(node.left))


@needs_source
def test_no_python_file_copies_a_constant_of_the_core():
    """A module-level (or any) name bound to a number, named like a header constant or with a
    comment naming one, is a hand copy that drifts: it must read ``lib.BI_*`` instead. The
    package's ABI_VERSION is the one deliberate second copy: the version this Python was written
    for, which the compiled core must match (the test above)."""
    constants = header_constants()
    names = set(constants) | {n.removeprefix("BI_") for n in constants}
    mention = re.compile(r"\b(" + "|".join(sorted(names, key=len, reverse=True)) + r")\b")
    copies = []
    for path in _python_files():
        rel = str(path.relative_to(ROOT))
        source = path.read_text(encoding="utf-8")
        comments: dict[int, str] = {}
        with path.open("rb") as f:
            for tok in tokenize.tokenize(f.readline):
                if tok.type == tokenize.COMMENT:
                    comments[tok.start[0]] = tok.string
        for node in ast.walk(ast.parse(source)):
            if _is_key_width_formula(node):
                copies.append(f"{rel}:{node.lineno}: the key width's formula (use lib.bi_key_width)")
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and _int_literal(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    name = target.id.lstrip("_") if isinstance(target, ast.Name) else ""
                    if rel == "breachindex/_core.py" and name == "ABI_VERSION":
                        continue
                    comment = comments.get(node.lineno, "")
                    if name in names or name.removeprefix("BI_") in names or mention.search(comment):
                        copies.append(f"{rel}:{node.lineno}: {ast.unparse(node)} {comment}".strip())
    assert copies == [], "\n".join(copies)


def test_the_duplicate_finder_finds_duplicates():
    assert _is_key_width_formula(ast.parse("(64 - dir_bits + 7) // 8", mode="eval").body)
    assert not _is_key_width_formula(ast.parse("(bits + 7) // 8", mode="eval").body)
    assert _int_literal(ast.parse("2**31 - 1", mode="eval").body)
    assert not _int_literal(ast.parse("lib.BI_MAX_THREADS", mode="eval").body)


# ---- one status type, one decoder -----------------------------------------------------------

def test_every_entry_point_returns_a_status():
    functions = {n: ffi.typeof(getattr(lib, n)) for n in dir(lib) if n.startswith("bi_")}
    assert set(functions) >= PURE
    returns = {n: t.result.cname for n, t in functions.items() if n not in PURE}
    assert returns == dict.fromkeys(returns, "bi_status")
    assert len(returns) > 10


def test_every_status_has_a_text_from_the_core():
    texts = [ffi.string(lib.bi_status_message(s)).decode() for s in range(lib.BI_N_STATUS)]
    assert all(texts) and len(set(texts)) == len(texts)
    assert dict(enumerate(texts)) == _core.STATUS_MESSAGES
    assert ffi.string(lib.bi_status_message(lib.BI_N_STATUS)) == b"unknown status"


@pytest.mark.parametrize(("status", "kind", "file_or_reason", "message"), [
    ("BI_ERR_CORRUPT_DIRECTORY", IndexCorrupted, "directory.u32", "a directory bucket points outside the key file"),
    ("BI_ERR_CORRUPT_KEYS", IndexCorrupted, "keys.bin", "the key file is damaged"),
    ("BI_ERR_CORRUPT_PROFILES", IndexCorrupted, "profiles.bin", "a row has a profile id out of range"),
    ("BI_ERR_PHONE_TOO_SHORT", InvalidPhoneNumber, "too_short", "too short to be a possible number for its country"),
    ("BI_ERR_PHONE_TOO_LONG", InvalidPhoneNumber, "too_long", "too long to be a possible number for its country"),
    ("BI_ERR_PHONE_INVALID_LENGTH", InvalidPhoneNumber, "invalid_length", "its length is not possible for its country"),
    ("BI_ERR_ARG", ValueError, None, "an argument is out of range"),
    ("BI_FALLBACK", NativeError, None,
     "C core failed with status 1: the fast path leaves this number to the reference"),
])
def test_the_decoder_gives_each_status_its_exception(status, kind, file_or_reason, message):
    exc = error(getattr(lib, status))
    assert type(exc) is kind
    if kind is IndexCorrupted:
        assert exc.file == file_or_reason and exc.problem == message
        assert str(exc) == f"{file_or_reason}: {message}"
    elif kind is InvalidPhoneNumber:
        assert exc.reason == file_or_reason and str(exc) == message
    else:
        assert str(exc) == message


def test_the_decoder_prefers_the_reason_the_call_wrote():
    reason = _core.new_reason()
    rows = np.empty(1, np.int64)
    status = lib.bi_lookup_many(ffi.NULL, ffi.from_buffer("uint64_t[]", np.zeros(1, np.uint64)), 1,
                                ffi.from_buffer("int64_t[]", rows), lib.BI_MAX_THREADS + 1, reason)
    assert status == lib.BI_ERR_ARG
    with pytest.raises(ValueError, match=f"^threads must be between 1 and {lib.BI_MAX_THREADS}$"):
        _core.check_status(status, reason)
    assert _core.check_status(lib.BI_OK, reason) is None
    unknown = error(250)
    assert type(unknown) is NativeError and str(unknown) == "C core failed with status 250: "


def test_only_the_core_module_decodes_failures():
    """No module but _core names a failure status or builds an exception from one."""
    offenders = []
    for path in sorted((ROOT / "breachindex").rglob("*.py")):
        if path.name == "_core.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "BI_ERR_" in line or "raise_status" in line or "CORRUPT_MESSAGES" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_failures_of_the_single_and_batch_paths_come_from_the_decoder(tmp_path):
    """The same message whichever path meets a damaged directory bucket."""
    key = bi.Key(b"native-edge-tests-secret-0123456")
    bi.build(tmp_path / "idx", [("+31612345678", "b", ["name"])], key=key)
    with bi.open(tmp_path / "idx", key=key) as index:
        mapped = index._live()
        k = int(index.phone_keys(["+31612345678"])[0])
        bits = index.manifest["dir_bits"]
        damaged = ffi.new("uint32_t[]", 2**bits + 1)
        ffi.memmove(damaged, mapped.table.dir, 4 * (2**bits + 1))
        damaged[(k >> (64 - bits)) + 1] = 0xFFFFFFF0
        mapped.table.dir = damaged  # in memory only: the file stays intact
        mapped.buffers.append(damaged)
        expected = str(error(lib.BI_ERR_CORRUPT_DIRECTORY))
        for call in (lambda: index.lookup_key(k), lambda: index.lookup("+31612345678"),
                     lambda: index.lookup_keys(np.array([k], np.uint64)),
                     lambda: index.lookup_keys(np.full(9000, k, np.uint64), threads=2)):
            with pytest.raises(IndexCorrupted) as info:
                call()
            assert str(info.value) == expected
