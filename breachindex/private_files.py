"""Files and folders only their owner may use, and folders whose entries survive a crash: the
rules the index writer, the campaign store, the API key file, exports and the vault folder share.

Private means mode 0600 for a file and 0700 for a folder, set exactly with ``chmod``/``fchmod``
after creating it, whatever the umask (the umask itself is never changed: it belongs to the
whole process, and other threads create files meanwhile). A file or folder that grants the
group or others anything is "open", and the parts that hold secrets refuse to use it, as
``Key.load`` refuses an open key file. On systems other than POSIX nothing is checked.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["OPEN_BITS", "is_open", "open_mode", "make_private_folders", "fsync_dir"]

#: the permission bits that make a file or folder open to other users
OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO


def is_open(mode: int) -> bool:
    """True if ``mode`` (an ``st_mode``) grants the group or others anything (always False off POSIX)."""
    return os.name == "posix" and bool(mode & OPEN_BITS)


def open_mode(path: str | os.PathLike[str]) -> int | None:
    """The permission bits of ``path`` if it is open to other users, None if it is private or missing."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    return stat.S_IMODE(mode) if is_open(mode) else None


def make_private_folders(path: str | os.PathLike[str]) -> None:
    """Create the folder ``path`` and its missing parents, each exactly mode 0700.

    Folders that exist are left as they are (the caller decides whether an open one is
    acceptable); one that another process creates meanwhile is that process's.
    """
    missing: list[Path] = []
    folder = Path(path)
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        if os.name == "posix":
            os.chmod(folder, 0o700)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
