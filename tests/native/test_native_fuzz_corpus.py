"""The fuzz harnesses' seed corpora, replayed in every test run (issue 15).

``native/fuzz/run.sh`` fuzzes the C core with libFuzzer (clang) in CI; here each harness is
built with whatever C compiler there is, with AddressSanitizer and UndefinedBehaviorSanitizer
where it links them, around ``native/fuzz/replay.c`` instead of libFuzzer, and run once on every
file of its corpus. A crash the fuzzer once found stays found: its input goes into the corpus.
"""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from helpers import REPO

ROOT = REPO
FUZZ = ROOT / "native" / "fuzz"
HARNESSES = ["lines", "phone", "table"]
CC = shutil.which("cc") or shutil.which("clang") or shutil.which("gcc")

pytestmark = [
    pytest.mark.skipif(not FUZZ.is_dir(), reason="needs the source tree"),
    pytest.mark.skipif(CC is None, reason="no C compiler"),
]


def _core_sources() -> list[str]:
    out = subprocess.run([sys.executable, str(ROOT / "native" / "build_native.py"), "--sources"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.fixture(scope="module")
def sanitize(tmp_path_factory) -> list[str]:
    """-fsanitize=address,undefined if this compiler builds and runs a program with them."""
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    tmp = tmp_path_factory.mktemp("sanitize")
    (tmp / "t.c").write_text("int main(void) { return 0; }\n")
    built = subprocess.run([CC, *flags, str(tmp / "t.c"), "-o", str(tmp / "t")], capture_output=True)
    if built.returncode == 0 and subprocess.run([str(tmp / "t")], capture_output=True).returncode == 0:
        return flags
    return []


@pytest.mark.parametrize("name", HARNESSES)
def test_corpus_replays_clean(tmp_path, sanitize, name):
    corpus = sorted(p for p in (FUZZ / "corpus" / name).iterdir() if p.is_file())
    assert corpus, f"native/fuzz/corpus/{name} is empty"
    binary = tmp_path / f"replay_{name}"
    subprocess.run([CC, "-std=c11", "-g", "-O1", *sanitize, "-I", str(ROOT / "native"),
                    str(FUZZ / f"fuzz_{name}.c"), str(FUZZ / "replay.c"), *_core_sources(),
                    "-pthread", "-o", str(binary)], check=True, capture_output=True)
    result = subprocess.run([str(binary), *map(str, corpus)], capture_output=True, text=True, timeout=300,
                            env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
                                 "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"replayed {len(corpus)} inputs" in result.stdout
