"""The vault folder: where item files live, how they get there, and what is left behind.

Layout::

    <folder>/VAULT                      marker: binds the folder to one campaign store
    <folder>/items/<ab>/<ab...>.item    one file per item (32 hex characters, fanned out by
                                        the first two), mode 0600; folders mode 0700
    <folder>/items/<ab>/.<id>.<r>.tmp   an item being written

An item is written to a temporary file beside its final place, fsynced, and renamed into place
(then the folder is fsynced) inside the database transaction that records it, just before
the commit: a crash leaves at most an orphan, a temporary file or a file without a row, never
a row without its file. ``sweep`` removes orphans; it runs under the store's write lock, so it
never takes a file whose row is being committed.

The marker holds the store's vault id (a random setting of the campaign store): a folder of
another campaign is refused rather than swept.

The folder is private: folders are made mode 0700 and files 0600, exactly (``chmod``/``fchmod``,
whatever the umask; the umask is never changed). A new or empty folder that becomes a vault is
set to 0700. An existing vault whose folder, ``items/`` or a bucket folder grants the group or
others anything is refused (``VaultCorrupted``, reason ``too_open``) rather than tightened
quietly: its files may have been read already, which the operator should know and look into
before fixing the modes (``chmod -R go-rwx FOLDER``). Item files themselves are not checked on
open (there may be many); the vault writes them 0600.
"""
from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

from ..errors import VaultCorrupted
from ..private_files import fsync_dir, make_private_folders, open_mode

__all__ = ["MARKER", "VaultFolder"]

MARKER = "VAULT"
_MARKER_TEXT = "breachindex vault 1\n{vault_id}\n"
_ITEMS = "items"
_ITEM_ID = re.compile(r"[0-9a-f]{32}")
_FILE_NAME = re.compile(r"([0-9a-f]{2})/([0-9a-f]{32})\.item")
_ITEM_FILE = re.compile(r"([0-9a-f]{32})\.item")
_TEMP_FILE = re.compile(r"\.([0-9a-f]{32})\.[0-9a-f]{16}\.tmp")


class VaultFolder:
    """A vault folder bound to ``vault_id``: created (mode 0700) if it does not exist.

    VaultCorrupted (``foreign_folder``) if it holds another store's marker, is a non-empty
    folder without one, or is new while the store already records ``stored_items`` items;
    VaultCorrupted (``too_open``) if it is a vault whose folders other users may enter.
    """

    def __init__(self, path: str | os.PathLike[str], vault_id: str, *, stored_items: int) -> None:
        self.path = Path(path)
        self._vault_id = vault_id
        marker = self.path / MARKER
        expected = _MARKER_TEXT.format(vault_id=vault_id)
        if marker.is_file():
            if marker.read_text(encoding="ascii", errors="replace") != expected:
                raise VaultCorrupted("foreign_folder", "this vault folder belongs to another campaign store")
            self._refuse_open()
            return
        if self.path.exists():
            if not self.path.is_dir() or any(self.path.iterdir()):
                raise VaultCorrupted("foreign_folder", "the vault folder is not empty and is not a vault")
        elif not self.path.parent.is_dir():
            raise VaultCorrupted("foreign_folder", "the parent of the vault folder does not exist")
        if stored_items:
            raise VaultCorrupted("foreign_folder", f"the campaign store records {stored_items} vault item(s) but "
                                                   "this folder is new: point the vault at its folder")
        make_private_folders(self.path)
        if os.name == "posix":
            os.chmod(self.path, 0o700)  # an empty folder made by someone else becomes private too
        make_private_folders(self.path / _ITEMS)
        temp = self.path / f".{MARKER}.{secrets.token_hex(8)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if os.name == "posix":
                os.fchmod(fd, 0o600)
            os.write(fd, expected.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, marker)
        fsync_dir(self.path)
        fsync_dir(self.path.parent)

    def _refuse_open(self) -> None:
        """VaultCorrupted (``too_open``) if the folder, ``items/`` or a bucket folder is open to others."""
        items = self.path / _ITEMS
        buckets = sorted(p for p in items.iterdir() if p.is_dir()) if items.is_dir() else []
        for folder in (self.path, items, *buckets):
            mode = open_mode(folder)
            if mode is not None:
                where = "the vault folder" if folder == self.path else f"the vault's {folder.relative_to(self.path)}"
                raise VaultCorrupted("too_open", f"{where} is open to other users (mode {mode:o}): its files may "
                                                 f"have been read; make it private first: chmod -R go-rwx {self.path}")

    def __repr__(self) -> str:
        return f"VaultFolder({str(self.path)!r})"

    # ---- names ---------------------------------------------------------------------------
    @staticmethod
    def file_name(item_id: str) -> str:
        """The file name recorded for an item: ``<ab>/<id>.item``, relative to ``items/``."""
        if not _ITEM_ID.fullmatch(item_id):
            raise ValueError("an item id is 32 lowercase hex characters")
        return f"{item_id[:2]}/{item_id}.item"

    def path_of(self, file_name: str) -> Path | None:
        """The path of a recorded file name, None if the name is not one the vault writes."""
        match = _FILE_NAME.fullmatch(file_name) if isinstance(file_name, str) else None
        if match is None or not match.group(2).startswith(match.group(1)):
            return None
        return self.path / _ITEMS / file_name

    # ---- writing -------------------------------------------------------------------------
    def create_temp(self, item_id: str) -> tuple[Path, int]:
        """A new temporary file (mode 0600, opened for writing) beside the item's final place."""
        final = self.path / _ITEMS / self.file_name(item_id)
        bucket = final.parent
        if not bucket.is_dir():
            make_private_folders(bucket)
            fsync_dir(bucket.parent)
        temp = bucket / f".{item_id}.{secrets.token_hex(8)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        if os.name == "posix":
            os.fchmod(fd, 0o600)
        return temp, fd

    def place(self, temp: Path, item_id: str) -> Path:
        """Rename a written, fsynced temporary file into the item's place and make it durable."""
        final = self.path / _ITEMS / self.file_name(item_id)
        os.replace(temp, final)
        fsync_dir(final.parent)
        return final

    def remove(self, file_names: list[str]) -> list[str]:
        """Delete item files (missing ones are fine); the names that could not be deleted."""
        left, buckets = [], set()
        for name in file_names:
            path = self.path_of(name)
            if path is None:
                continue
            try:
                path.unlink(missing_ok=True)
                buckets.add(path.parent)
            except OSError:
                left.append(name)
        for bucket in buckets:
            if bucket.is_dir():
                fsync_dir(bucket)
        return left

    # ---- what is there -------------------------------------------------------------------
    def scan(self) -> Iterator[tuple[str, str | None, Path]]:
        """Every entry under ``items/``: (``item`` | ``temp`` | ``unknown``, its item id or None, path)."""
        root = self.path / _ITEMS
        if not root.is_dir():
            return
        for bucket in sorted(root.iterdir()):
            if not bucket.is_dir() or not re.fullmatch(r"[0-9a-f]{2}", bucket.name):
                yield "unknown", None, bucket
                continue
            for entry in sorted(bucket.iterdir()):
                item = _ITEM_FILE.fullmatch(entry.name)
                if item is not None and item.group(1).startswith(bucket.name):
                    yield "item", item.group(1), entry
                    continue
                temp = _TEMP_FILE.fullmatch(entry.name)
                if temp is not None:
                    yield "temp", temp.group(1), entry
                else:
                    yield "unknown", None, entry
