"""A throwaway PostgreSQL server for the test run, from the Debian binaries.

``PostgresServer.start()`` runs ``initdb`` and ``pg_ctl`` in a temporary directory on a free
port (as ``nobody`` when the tests run as root: the server refuses root), with durability
off (a test server need not survive a power cut). Each test gets a database of its own,
copied from a migrated template (``CREATE DATABASE ... TEMPLATE``), dropped after it.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import asyncpg

REQUIRED = os.environ.get("CI_REQUIRE_POSTGRES") == "1"
"""Under CI a PostgreSQL test may not skip: the run fails instead."""

TEMPLATE = "bot_template"


class ServerUnavailable(Exception):
    """No PostgreSQL server could be started here (binaries missing, or they failed)."""


def _binaries() -> Path:
    for name in ("pg_ctl", "initdb"):
        found = shutil.which(name)
        if found and Path(found).resolve().parent.joinpath("initdb").exists():
            return Path(found).resolve().parent
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(bindir, "pg_ctl").exists():
            return Path(bindir)
    raise ServerUnavailable("initdb and pg_ctl not found (apt-get install postgresql)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A PostgreSQL server in a temporary directory, stopped and removed by ``stop``."""

    def __init__(self) -> None:
        self.bindir = _binaries()
        self.root = Path(tempfile.mkdtemp(prefix="participation-bot-pg-"))
        self.port = _free_port()
        self._names = itertools.count(1)
        self._as: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL will not run as root: the server's files belong to nobody.
            shutil.chown(self.root, "nobody")
            self._as = ["runuser", "-u", "nobody", "--"]

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        """The URL of one database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*self._as, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if result.returncode != 0:
            raise ServerUnavailable(f"{Path(args[0]).name} failed: {result.stderr.strip()}")

    def start(self) -> None:
        """initdb, then start the server and wait until it accepts connections."""
        data = self.root / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        self.resume()

    def resume(self) -> None:
        """Start the server on its files (again, after ``pause``)."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def pause(self) -> None:
        """Stop the server at once, as a crash or a failover does, keeping its files."""
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"
        )

    def stop(self) -> None:
        """Stop the server and remove its files."""
        with contextlib.suppress(ServerUnavailable, subprocess.TimeoutExpired):
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "stop",
            )
        shutil.rmtree(self.root, ignore_errors=True)

    async def create_template(self) -> None:
        """A database with every migration applied, which each test's database copies."""
        from storage.postgres import PostgresDatabase

        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()
        db = await PostgresDatabase.open(self.url(TEMPLATE))
        await db.close()

    async def fresh_database(self) -> str:
        """A new database, migrated, for one test; its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        finally:
            await conn.close()
        return self.url(name)

    async def drop_database(self, url: str) -> None:
        """Drop a test's database (its connections closed or not)."""
        name = url.rsplit("/", 1)[-1]
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()
