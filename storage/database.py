"""The SQLite database: connection, migrations, and transactions with group commit.

One aiosqlite connection does all the work. ``SqliteDatabase`` and ``SqliteTransaction``
implement the protocols of ``storage/protocols.py``, which the bot and the storage functions
type against. Transactions run *jobs*: async functions that take a ``Transaction`` and use
the storage functions on it. Jobs queued while a transaction runs
are committed together in the next one (group commit): each job's caller gets its result
only after the COMMIT that made its writes durable, so a reply never goes out before what it
answers is stored. A job that raises is rolled back alone: the batch it was in is rolled back
and its other jobs run again, untouched by it.

Long reads (the results for an export) go through ``read`` instead: a second, query-only
connection beside the writer, whose snapshot (WAL) holds up no writer and no other job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite

from storage import protocols
from storage.errors import StorageError
from storage.protocols import Job, Transaction

log = logging.getLogger(__name__)

T = TypeVar("T")

_UNIQUENESS = ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE")

MAX_BATCH = 200
"""Jobs committed together at most; bounds how long one transaction holds the writer."""


class WriteFailed(StorageError):
    """Buffered writes of a batch failed; the writer retries its jobs one by one."""


@dataclass
class _Write:
    sql: str
    params: Sequence[Any]
    conflict: Exception | None


class SqliteTransaction:
    """The open transaction a job runs in (``Transaction`` on SQLite).

    Writes whose result nobody needs (``write``) are buffered and sent to SQLite together,
    one ``executemany`` per statement, before the next read and at commit: a batch of many
    jobs then costs a few calls into SQLite's thread instead of a few per job. A buffered
    write must not depend on another buffered write of the same transaction (they may be
    reordered); it may depend on anything done through the immediate methods.
    """

    def __init__(
        self, conn: aiosqlite.Connection, *, isolated: bool = False, outside_writes: int = -1
    ) -> None:
        self._conn = conn
        self._buffer: list[_Write] = []
        self._isolated = isolated
        self._outside_writes = outside_writes
        self.truncate_wal = False

    @property
    def revision_checked(self) -> bool:
        """Never: the job reads the revision when ``outside_writes`` says it must."""
        return False

    @property
    def revision_stale(self) -> bool:
        """Never found so: nothing is checked as the transaction begins."""
        return False

    @property
    def outside_writes(self) -> int:
        """How many times another connection (another process, such as a command) was seen
        to have committed, as of this transaction's start (-1: not counted)."""
        return self._outside_writes

    def truncate_wal_after_commit(self) -> None:
        """After this transaction, empty the WAL file: erased data must not linger there."""
        self.truncate_wal = True

    def write(self, sql: str, params: Sequence[Any], *, conflict: Exception | None = None) -> None:
        """Buffer a write; ``conflict`` is raised instead if it breaks a uniqueness rule."""
        self._buffer.append(_Write(sql, params, conflict))

    async def flush(self) -> None:
        """Send buffered writes to SQLite (grouped by statement)."""
        if not self._buffer:
            return
        buffer, self._buffer = self._buffer, []
        if self._isolated:
            # One job in this transaction: run each write alone and say which one failed.
            for w in buffer:
                try:
                    await self._conn.execute(w.sql, w.params)
                except sqlite3.IntegrityError as exc:
                    unique = getattr(exc, "sqlite_errorname", "") in _UNIQUENESS
                    if w.conflict is not None and unique:
                        raise w.conflict from exc
                    raise
            return
        groups: dict[str, list[Sequence[Any]]] = {}
        for w in buffer:
            groups.setdefault(w.sql, []).append(w.params)
        try:
            for sql, rows in groups.items():
                if len(rows) == 1:
                    await self._conn.execute(sql, rows[0])
                else:
                    await self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise WriteFailed(str(exc)) from exc

    async def serialize(self, key: str) -> None:
        """Nothing to take: SQLite runs one write transaction at a time, on one connection
        (``BEGIN IMMEDIATE``), so every transaction is serialised with every other."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement now; return the number of rows it changed."""
        await self.flush()
        cursor = await self._conn.execute(sql, params)
        return int(cursor.rowcount)

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT now; return the new row's id."""
        await self.flush()
        row = await self._conn.execute_insert(sql, params)
        assert row is not None
        return int(row[0])

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        await self.flush()
        return list(await self._conn.execute_fetchall(sql, params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows now."""
        await self.flush()
        await self._conn.executemany(sql, rows)


@dataclass
class _Pending:
    job: Job[Any]
    future: asyncio.Future[Any]


@dataclass
class _Deferred:
    """Writes that may wait for the next transaction and may be lost in a crash."""

    statements: dict[str, list[Sequence[Any]]] = field(default_factory=lambda: defaultdict(list))

    def __bool__(self) -> bool:
        return bool(self.statements)


class SqliteDatabase:
    """The bot's SQLite database (a ``storage.protocols.Database``). Open with
    ``await SqliteDatabase.open(path)``; close when done."""

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.path = path
        self._queue: list[_Pending] = []
        self._deferred = _Deferred()
        self._wake = asyncio.Event()
        self._closed = False
        self._writer: asyncio.Task[None] | None = None
        self._data_version: int | None = None
        self._seen_outside = 0
        self._reader: aiosqlite.Connection | None = None
        self._read_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SqliteDatabase:
        """Connect, set WAL and foreign keys, run pending migrations, start the writer."""
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (the WAL is in the OS's hands at
        # COMMIT); only a power cut can lose the last transactions.
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        # Erased data is overwritten in the file, not just unlinked.
        await conn.execute("PRAGMA secure_delete=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        db = cls(conn, path)
        await db._migrate()
        db._writer = asyncio.create_task(db._write_loop(), name="storage-writer")
        return db

    async def close(self) -> None:
        """Commit what is queued, then close the connection."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
        async with self._read_lock:
            if self._reader is not None:
                await self._reader.close()
        await self._conn.close()

    async def __aenter__(self) -> SqliteDatabase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transactions ----------------------------------------------------------------------

    async def transact(
        self, job: Job[T], *, key: str | None = None, revision: tuple[int, int] | None = None
    ) -> T:
        """Run ``job`` in a transaction; return its result once the transaction committed.
        (``key``: nothing to do, SQLite runs one transaction at a time.)"""
        if self._closed:
            raise RuntimeError("database is closed")
        if self._writer is not None and self._writer.done():
            raise RuntimeError("the database writer has stopped")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(job, future))
        self._wake.set()
        return await future

    async def read(self, job: Job[T]) -> T:
        """Run a job that only reads, beside the writer: on a query-only connection of its own
        (its own thread), in one snapshot, so a long read holds up nobody's writes and sees
        none of them half done. A write in ``job`` fails. Reads take turns with each other."""
        if self._closed:
            raise RuntimeError("database is closed")
        if self.path == ":memory:":  # a second connection would see another, empty database
            return await self.transact(job)
        async with self._read_lock:
            if self._reader is None:
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                self._reader.row_factory = sqlite3.Row
                await self._reader.execute("PRAGMA query_only=ON")
                await self._reader.execute("PRAGMA busy_timeout=5000")
            await self._reader.execute("BEGIN")
            try:
                return await job(SqliteTransaction(self._reader))
            finally:
                await self._reader.execute("ROLLBACK")

    def defer(self, sql: str, params: Sequence[Any]) -> None:
        """Queue a write for the next transaction, without waiting for it.

        For bookkeeping whose loss in a crash is harmless (marking replies as sent: at worst a
        reply is sent again after a crash).
        """
        self._deferred.statements[sql].append(params)
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue or self._deferred:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                # A caller that gave up before its job started does not get it run.
                batch = [p for p in batch if not p.future.cancelled()]
                try:
                    await self._run_batch(batch)
                except Exception as exc:
                    # Whatever went wrong, the writer lives on: the batch fails, the next runs.
                    log.error("write batch failed: %s", type(exc).__name__)
                    await self._rollback()
                    _fail(batch, exc)
            if self._closed:
                return

    async def _rollback(self) -> None:
        with contextlib.suppress(Exception):  # SQLite may have rolled back already
            await self._conn.execute("ROLLBACK")

    async def _run_batch(self, batch: list[_Pending]) -> None:
        deferred, self._deferred = self._deferred, _Deferred()
        results: list[Any] = []
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
            tx = SqliteTransaction(self._conn, outside_writes=await self._outside_writes())
            for sql, rows in deferred.statements.items():
                await tx.executemany(sql, rows)
            for index, pending in enumerate(batch):
                try:
                    results.append(await pending.job(tx))
                except WriteFailed:
                    raise
                except Exception as exc:
                    await self._rollback()
                    _fail([pending], exc)
                    # Run the others again without the failed one; keep the deferred writes.
                    self._queue[:0] = batch[:index] + batch[index + 1 :]
                    self._requeue_deferred(deferred)
                    return
            await tx.flush()
            await self._conn.execute("COMMIT")
            await self._after_commit(tx)
        except WriteFailed:
            # Some job's buffered write broke a rule (a redelivered event id): find which.
            await self._rollback()
            self._requeue_deferred(deferred)
            for pending in batch:
                await self._run_isolated(pending)
            return
        except Exception as exc:
            log.error("transaction failed: %s", type(exc).__name__)
            await self._rollback()
            _fail(batch, exc)
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    async def _run_isolated(self, pending: _Pending) -> None:
        """Run one job in a transaction of its own."""
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
            tx = SqliteTransaction(
                self._conn, isolated=True, outside_writes=await self._outside_writes()
            )
            result = await pending.job(tx)
            await tx.flush()
            await self._conn.execute("COMMIT")
            await self._after_commit(tx)
        except Exception as exc:
            await self._rollback()
            _fail([pending], exc)
            return
        if not pending.future.done():
            pending.future.set_result(result)

    async def _outside_writes(self) -> int:
        """Counts the commits of other connections seen so far: one PRAGMA per transaction
        (a batch of many jobs), read under the write lock, so none can commit until this
        transaction ends."""
        row = await (await self._conn.execute("PRAGMA data_version")).fetchone()
        version = int(row[0]) if row else -1
        if version != self._data_version:
            self._data_version = version
            self._seen_outside += 1
        return self._seen_outside

    async def _after_commit(self, tx: SqliteTransaction) -> None:
        if tx.truncate_wal:
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _requeue_deferred(self, deferred: _Deferred) -> None:
        for sql, rows in deferred.statements.items():
            self._deferred.statements[sql][:0] = rows

    # -- migrations ------------------------------------------------------------------------

    async def _migrate(self) -> None:
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL "
            "DEFAULT CURRENT_TIMESTAMP)"
        )
        async with self._conn.execute("SELECT version FROM schema_migrations") as cursor:
            done = {row[0] for row in await cursor.fetchall()}
        for version, name, sql in migrations():
            if version in done:
                continue
            log.info("applying migration %04d %s", version, name)
            # Foreign keys off while a migration rebuilds a table (SQLite's own recipe:
            # dropping a table referenced with ON DELETE CASCADE would empty the other), and
            # checked before the commit.
            await self._conn.execute("PRAGMA foreign_keys = OFF")
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(sql):
                    await self._conn.execute(statement)
                async with self._conn.execute("PRAGMA foreign_key_check") as cursor:
                    if await cursor.fetchone() is not None:
                        raise sqlite3.IntegrityError(f"migration {version:04d} broke a reference")
                await self._conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name)
                )
                await self._conn.execute("COMMIT")
            except Exception:
                await self._conn.execute("ROLLBACK")
                raise
            finally:
                await self._conn.execute("PRAGMA foreign_keys = ON")


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(exc)


def migrations() -> list[tuple[int, str, str]]:
    """The numbered migrations shipped in storage/migrations, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name[5:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.complete_statement knows the ends)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        if not current and line.strip().startswith("--"):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements


if TYPE_CHECKING:  # mypy proves that the SQLite classes implement the protocols

    def _implements(
        db: SqliteDatabase, tx: SqliteTransaction
    ) -> tuple[protocols.Database, protocols.Transaction]:
        return db, tx


Database = SqliteDatabase
"""The name the runtime and the tests open the database by (``await Database.open(path)``).
Code that only uses a database types it with ``storage.protocols.Database``."""

__all__ = [
    "Database",
    "Job",
    "SqliteDatabase",
    "SqliteTransaction",
    "Transaction",
    "WriteFailed",
    "migrations",
]
