"""A throw-away PostgreSQL cluster for the tests: ``initdb`` in a temporary folder, a server
on a Unix socket there (no TCP port), stopped and removed at the end.

Debian's ``postgresql`` package provides the binaries (``scripts/install-test-deps.sh``
installs it). PostgreSQL refuses to run as root; under root the cluster runs as the
``postgres`` user the package creates (the folder is handed to it).

``Cluster.new_database()`` makes an empty database and returns its URL; each test that runs on
PostgreSQL gets its own. ``fsync`` is off: a crash of the test cluster loses nothing that
matters, and a test run does not wait for the disk.
"""
from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["Cluster", "find_bindir", "unavailable_reason"]


def find_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: Debian's /usr/lib/postgresql/N/bin (newest), else PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run_as() -> str | None:
    """The user to run the server as: ``postgres`` under root, else the current user (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "nobody"
    return "postgres"


def unavailable_reason() -> str | None:
    """Why no cluster can be started here (None: it can)."""
    if find_bindir() is None:
        return "PostgreSQL's server binaries (initdb, pg_ctl) are missing: apt-get install postgresql"
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "psycopg is missing: pip install 'breachindex[postgresql]'"
    return None


class Cluster:
    """A running PostgreSQL server in a temporary folder; ``stop()`` ends and removes it."""

    def __init__(self, *, durable: bool = False) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError(unavailable_reason() or "no PostgreSQL")
        self.bindir = bindir
        self.user = _run_as()
        self.folder = Path(tempfile.mkdtemp(prefix="breachindex-pg-"))
        self.data = self.folder / "data"
        self.socket_dir = self.folder / "run"
        self.socket_dir.mkdir()
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in (self.folder, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._names = itertools.count(1)
        self._run(["initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                   "--locale=C.UTF-8", "--no-sync"])
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' "
                   "-c max_connections=300 -c shared_buffers=128MB")
        if not durable:  # a test cluster: a crash loses nothing that matters (see the module documentation)
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(["pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"),
                   "-w", "-t", "60", "start"])
        self.url = self.url_of("postgres")

    def _run(self, argv: list[str]) -> None:
        argv = [str(self.bindir / argv[0]), *argv[1:]]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.folder, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def url_of(self, database: str, user: str = "postgres") -> str:
        """The URL of a database of this cluster, over its Unix socket."""
        return f"postgresql://{user}@/{database}?host={self.socket_dir}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE, roles)."""
        import psycopg

        with psycopg.connect(self.url_of(database), autocommit=True) as conn:
            conn.execute(sql.encode("utf-8"))

    def new_database(self) -> str:
        """A new, empty database; its URL."""
        name = f"t{next(self._names)}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' "
                     f"LC_CTYPE 'C.UTF-8'")
        return self.url_of(name)

    @staticmethod
    def database_of(url: str) -> str:
        """The database name of a URL of ``url_of``."""
        return urlsplit(url).path.lstrip("/")

    def drop_database(self, url: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {self.database_of(url)} WITH (FORCE)")

    def stop(self) -> None:
        if self.data.exists():
            with contextlib.suppress(RuntimeError):  # already stopped
                self._run(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)
