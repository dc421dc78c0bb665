"""The vault's throughput beside the obvious baselines, in one run.

    python bench/bench_vault.py [--size-mib 1024] [--chunk-kib 256] [--dir /tmp] [--json]

One item of ``--size-mib`` MiB is generated as a stream (1 MiB pieces of random bytes, each
stamped with its index, never held whole) and goes through:

* ``write file``: the same stream written to a plain file and fsynced (the floor for ``store``);
* ``sha256``: one hashlib.sha256 pass over the stream (``store`` hashes its ciphertext too);
* ``store``: ``Vault.store``: sealed data key, secretstream chunks, SHA-256, temp file,
  fsync, rename, database row and audit-log entry;
* ``read file``: the plain file read back in chunks (from the page cache, like ``open``);
* ``open``: ``Vault.open`` and every chunk decrypted, the recorded hash checked;
* ``open_to``: the all-or-nothing helper: decrypted into a temporary file, fsynced, renamed.

Throughput is MB/s (10^6 bytes per second) of plaintext; ratios are against the baseline the
step is measured beside. The streaming steps use a fast Argon2id setting so that their figures
are the stream's alone; Argon2id at the RFC 9106 default (t=3, p=4, 64 MiB), paid once per
``open`` and per passphrase change, is timed on its own, with ``setup`` (two wraps). The
generator's own cost is in every streamed figure alike (``generate`` shows it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from breachindex import Key
from breachindex.builder.ingest import peak_rss_bytes
from breachindex.campaign import Campaign, Limits, RecordingSender
from breachindex.vault import RFC9106_LOW_MEMORY, KdfParams
from breachindex.vault.kdf import derive_key
from breachindex.vault.keys import new_key_pair, unwrap_private_key, wrap_private_key

PASSPHRASE = "correct horse battery staple"
MIB = 1 << 20
FAST = KdfParams(time_cost=1, memory_kib=8, parallelism=1)
OPEN_LIMITS = Limits.off()


def stream(mib: int, block: bytearray) -> Iterator[bytes]:
    for i in range(mib):
        block[:8] = i.to_bytes(8, "little")
        yield bytes(block)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def write_file(path: Path, pieces: Iterator[bytes]) -> None:
    with open(path, "wb", buffering=0) as f:
        for piece in pieces:
            f.write(piece)
        os.fsync(f.fileno())


def read_file(path: Path, chunk: int) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(chunk):
            pass


def hash_stream(pieces: Iterator[bytes]) -> None:
    h = hashlib.sha256()
    for piece in pieces:
        h.update(piece)


def drain(pieces: Iterator[bytes]) -> None:
    for _ in pieces:
        pass


def argon2_figures(repeat: int) -> dict[str, float]:
    params = RFC9106_LOW_MEMORY
    derive = [timed(lambda: derive_key(PASSPHRASE.encode(), os.urandom(16), params)) for _ in range(repeat)]
    private_key, public_key = new_key_pair()
    wrap = wrap_private_key(private_key, PASSPHRASE.encode(), participant="p" * 32, slot="passphrase", key_version=1,
                            public_key=public_key, params=params)
    unwrap = [timed(lambda: unwrap_private_key(wrap, PASSPHRASE.encode(), participant="p" * 32, key_version=1,
                                               public_key=public_key)) for _ in range(repeat)]
    return {"derive_ms": statistics.median(derive) * 1e3, "unwrap_ms": statistics.median(unwrap) * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="the item's size in MiB (default 1024)")
    parser.add_argument("--chunk-kib", type=int, default=256, help="the vault's chunk size in KiB (default 256)")
    parser.add_argument("--dir", default=None, help="where to write (default: the system's temp folder)")
    parser.add_argument("--argon2-repeat", type=int, default=5, help="Argon2id runs to take the median of")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    mib, chunk = args.size_mib, args.chunk_kib * 1024
    block = bytearray(os.urandom(MIB))
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-vault-") as tmp:
        root = Path(tmp)
        sender = RecordingSender()
        with Campaign(root / "c.db", secret=Key(os.urandom(32)), sender=sender, limits=OPEN_LIMITS) as campaign:
            ch = campaign.start_verification("+31612340001")
            pid = campaign.confirm_verification(ch.id, sender.last_code("+31612340001")).participant
            fast = campaign.vault(root / "vault", kdf=FAST, chunk_size=chunk)
            fast.setup(pid, PASSPHRASE)
            plain = root / "plain.bin"
            figures["generate"] = timed(lambda: drain(stream(mib, block)))
            figures["write file"] = timed(lambda: write_file(plain, stream(mib, block)))
            figures["sha256"] = timed(lambda: hash_stream(stream(mib, block)))
            items = []
            figures["store"] = timed(lambda: items.append(fast.store(pid, "meta", stream(mib, block))))
            figures["read file"] = timed(lambda: read_file(plain, chunk))

            def open_all() -> None:
                with fast.open(pid, PASSPHRASE, items[0]) as reader:
                    drain(reader.chunks())

            figures["open"] = timed(open_all)
            plain.unlink()
            out = root / "opened.bin"
            figures["open_to"] = timed(lambda: fast.open_to(pid, PASSPHRASE, items[0], out))
            out.unlink()
            peak_mb = peak_rss_bytes() / 2**20
            ch = campaign.start_verification("+31612340002")
            other = campaign.confirm_verification(ch.id, sender.last_code("+31612340002")).participant
            default = campaign.vault(root / "vault")
            setup_s = timed(lambda: default.setup(other, PASSPHRASE))
    argon2 = argon2_figures(args.argon2_repeat)
    size = mib * MIB
    rates = {name: size / seconds / 1e6 for name, seconds in figures.items()}
    ratios = {"store / write file": rates["store"] / rates["write file"],
              "open / read file": rates["open"] / rates["read file"],
              "open_to / write file": rates["open_to"] / rates["write file"],
              "store / sha256": rates["store"] / rates["sha256"]}
    report = {
        "size_mib": mib, "chunk_kib": args.chunk_kib, "mb_per_s": rates, "seconds": figures, "ratios": ratios,
        "argon2id_default": {"params": "t=3, p=4, m=64 MiB", **argon2, "setup_two_wraps_ms": setup_s * 1e3},
        "stored_size": items[0].stored_size, "peak_rss_mb": peak_mb,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"vault throughput: one {mib} MiB item, {args.chunk_kib} KiB chunks ({report['machine']['cpus']} CPUs, "
          f"Python {report['machine']['python']})\n")
    print(f"{'step':<12} {'seconds':>8} {'MB/s':>8}")
    for name in ("generate", "sha256", "write file", "store", "read file", "open", "open_to"):
        print(f"{name:<12} {figures[name]:8.2f} {rates[name]:8.0f}")
    print()
    for name, value in ratios.items():
        print(f"{name:<22} {value:5.2f}")
    print(f"\nArgon2id t=3 p=4 m=64 MiB: derive {argon2['derive_ms']:.0f} ms, unwrap {argon2['unwrap_ms']:.0f} ms "
          f"(median of {args.argon2_repeat}), setup with two wraps {setup_s * 1e3:.0f} ms")
    print(f"stored size {items[0].stored_size} bytes for {size} plaintext bytes; peak RSS {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
