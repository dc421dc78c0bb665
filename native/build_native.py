"""cffi API-mode build script for the C core (``setup.py`` names it in ``cffi_modules``).

The cdef is read from ``breachindex.h`` itself so that the header stays the single source of
truth; only preprocessor lines are dropped, because cffi's parser does not take them, except
integer ``#define``s, which become ``lib.BI_*`` constants. The core is the units in
``CORE_SOURCES``, compiled together into ``breachindex._native`` (``fastcall.c`` is the separate
CPython module); ``python native/build_native.py --sources`` prints their paths for the scripts
that compile them on their own (fuzz/run.sh, .ci/run).
"""
import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))

#: the units of the C core, behind native/internal.h
CORE_SOURCES = ["status.c", "siphash.c", "parallel.c", "phone.c", "table.c", "lines.c", "records.c"]


def _cdef_from_header(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines, numbers = [], {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            m = re.match(r"\s*#define\s+(BI_\w+)\s+\(?(-?\d+)\)?\s*$", line)
            if m:  # integer constants become visible to Python
                numbers[m.group(1)] = m.group(2)
                lines.append(f"#define {m.group(1)} {m.group(2)}")
            continue
        lines.append(line)
    cdef = "\n".join(lines)
    for name, value in numbers.items():  # array sizes must be literal numbers for cffi
        cdef = cdef.replace(f"[{name}]", f"[{value}]")
    return cdef


_sanitize = bool(os.environ.get("BREACHINDEX_SANITIZE"))
_extra = ["-O3", "-std=c11", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter"]
if _sanitize:  # an ASan/UBSan build the tests can run under
    _extra += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-O1"]
if os.environ.get("BREACHINDEX_WERROR"):
    _extra.append("-Werror")

ffibuilder = FFI()
ffibuilder.cdef(_cdef_from_header(os.path.join(HERE, "breachindex.h")))
ffibuilder.set_source(
    "breachindex._native",
    '#include "breachindex.h"',
    sources=[os.path.join("native", name) for name in CORE_SOURCES],
    depends=[os.path.join("native", name) for name in ("breachindex.h", "internal.h")],
    include_dirs=["native"],
    extra_compile_args=_extra,
    extra_link_args=["-pthread"] + (["-fsanitize=address,undefined"] if _sanitize else []),
)

if __name__ == "__main__":
    if sys.argv[1:] == ["--sources"]:
        print(" ".join(os.path.join(HERE, name) for name in CORE_SOURCES))
    else:
        ffibuilder.compile(tmpdir=os.path.join(HERE, "..", "build", "cffi"), verbose=True)
