"""The PostgreSQL database: a connection pool, migrations, and serialisable transactions.

``PostgresDatabase`` and ``PostgresTransaction`` implement the protocols of
``storage/protocols.py`` on asyncpg, beside SQLite's ``storage/database.py``. The storage
functions' SQL is shared: it is written in the SQL both databases speak (``?`` placeholders,
``INSERT ... ON CONFLICT``), and ``postgres_sql`` is the one place where it is adapted to
PostgreSQL. The schema has its own migrations (``storage/migrations/postgres/``), numbered as
SQLite's.

SQLite runs one transaction at a time; PostgreSQL runs many at once, one per pooled
connection. So that every rule the storage functions keep on SQLite (a meeting's capacity,
the order of a waiting list) holds here too, transactions are SERIALIZABLE: PostgreSQL
aborts one that could not have happened in some serial order, and it runs again, as a
batch's jobs run again on SQLite (jobs are written to be run again). The exception is the
hot path, a person's turn (``transact(job, key=...)``): it runs at READ COMMITTED holding the
person's advisory lock from its first statement, so two processes never handle one person at
once, and the rules across people are kept by the locks the storage functions take before
they read (``Transaction.serialize("meeting:<id>")`` in ``storage/registrations.py``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage import protocols
from storage.errors import DatabaseUnavailable, StorageError
from storage.protocols import Job

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 30
"""Runs of a job whose transaction PostgreSQL aborted as not serialisable (or deadlocked)."""

POOL_SIZE = 10
"""Connections one process keeps: transactions (and long reads) running at once."""

_MIGRATION_LOCK = 0x70627374  # any constant: processes starting together migrate one by one
_RETRY = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
_TRANSACTIONS = itertools.count(1)


@functools.lru_cache(maxsize=1024)
def postgres_sql(sql: str) -> str:
    """A storage query in PostgreSQL's dialect: ``?`` placeholders become ``$1, $2, ...``,
    and a ``/*postgres: ...*/`` comment becomes its text (a clause SQLite has no use for,
    such as ``FOR UPDATE SKIP LOCKED``: SQLite has one writer; no placeholder in it).

    The one place where the shared SQL is adapted; the queries themselves keep to what both
    databases understand. A ``?`` inside a quoted string or identifier is left alone.
    """
    out: list[str] = []
    number = 0
    quote: str | None = None
    for char in sql:
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "?":
            number += 1
            out.append(f"${number}")
            continue
        out.append(char)
    return _POSTGRES_ONLY.sub(r" \1", "".join(out))


_POSTGRES_ONLY = re.compile(r"/\*postgres:\s*(.*?)\*/", re.DOTALL)


_PLAIN_WRITE = re.compile(r"(?:INSERT INTO (\w+) \(|UPDATE (\w+) SET )")


@functools.lru_cache(maxsize=1024)
def _plain_write_table(sql: str) -> str | None:
    match = _PLAIN_WRITE.match(sql)
    if match is None or "SELECT" in sql.upper() or "RETURNING" in sql.upper():
        return None
    return match.group(1) or match.group(2)


def _writes_to(write: _Write) -> str | None:
    """The table of an ``INSERT INTO t (...) VALUES ...`` or ``UPDATE t SET ...`` that reads
    no other table; else None."""
    return _plain_write_table(write.sql)


def _together(writes: list[_Write]) -> list[list[_Write]]:
    """Queued writes in groups sent as one statement (data-modifying WITH clauses), one
    round trip instead of one each: consecutive plain INSERTs and UPDATEs of different
    tables (a turn's state, its event, an answer, the response's time). Such a group does
    what the statements one after the other do: none reads another table (so none depends
    on another's rows), no table is touched twice, nothing is deleted (no cascades), and
    foreign keys are checked at the statement's end. Anything else goes alone."""
    groups: list[list[_Write]] = []
    tables: set[str] = set()
    for write in writes:
        table = _writes_to(write)
        if groups and table is not None and tables and table not in tables:
            groups[-1].append(write)
            tables.add(table)
        else:
            groups.append([write])
            tables = {table} if table is not None else set()
    return groups


def lock_id(key: str) -> int:
    """The advisory lock of ``key``: a 64-bit hash, the same in every process and version
    (written into the statement as a number, so no text of a key reaches the SQL)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), signed=True)


class TransactionAborted(StorageError):
    """PostgreSQL rolled back at COMMIT (a statement had failed): nothing was kept."""


def _rowcount(status: str) -> int:
    """The rows a command changed, from its status tag (``UPDATE 3``, ``INSERT 0 1``)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


@dataclass
class _Write:
    sql: str
    params: Sequence[Any]
    conflict: Exception | None


class PostgresTransaction:
    """The open transaction a job runs in (``Transaction`` on PostgreSQL)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._buffer: list[_Write] = []
        self._number = next(_TRANSACTIONS)
        self.revision_checked = False
        """The ``revision`` given to ``transact`` was checked as the transaction began."""
        self.revision_stale = False
        """...and the person was found changed: the job reads them again."""

    def write(self, sql: str, params: Sequence[Any], *, conflict: Exception | None = None) -> None:
        """Queue a write, sent before the next read and at commit; ``conflict`` is raised
        instead if it breaks a uniqueness rule."""
        self._buffer.append(_Write(sql, params, conflict))

    async def flush(self) -> None:
        """Send the queued writes: in one statement where they can be (``_together``)."""
        buffer, self._buffer = self._buffer, []
        for group in _together(buffer):
            if len(group) == 1:
                sql, params = group[0].sql, group[0].params
            else:
                sql = "WITH " + ", ".join(f"w{i} AS ({w.sql})" for i, w in enumerate(group[:-1]))
                sql += " " + group[-1].sql
                params = [p for w in group for p in w.params]
            try:
                await self._conn.execute(postgres_sql(sql), *params)
            except asyncpg.UniqueViolationError as exc:
                table = getattr(exc, "table_name", None)
                for w in group:
                    if w.conflict is not None and (len(group) == 1 or _writes_to(w) == table):
                        raise w.conflict from exc
                raise

    @property
    def outside_writes(self) -> int:
        """A new number for every transaction: other processes write at any moment."""
        return self._number

    async def serialize(self, key: str) -> None:
        """Until this transaction ends, hold back any other (in any process) that serialises
        on ``key``: a transaction advisory lock on the key's hash."""
        await self._conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id(key))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement now; return the number of rows it changed."""
        await self.flush()
        return _rowcount(await self._conn.execute(postgres_sql(sql), *params))

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT now; return the new row's id."""
        await self.flush()
        return int(await self._conn.fetchval(postgres_sql(sql) + " RETURNING id", *params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows now."""
        await self.flush()
        rows = list(rows)
        if rows:
            await self._conn.executemany(postgres_sql(sql), rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> asyncpg.Record | None:
        """The first row of a query, or None."""
        await self.flush()
        row: asyncpg.Record | None = await self._conn.fetchrow(postgres_sql(sql), *params)
        return row

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        """All rows of a query."""
        await self.flush()
        return list(await self._conn.fetch(postgres_sql(sql), *params))

    def truncate_wal_after_commit(self) -> None:
        """Nothing to do: PostgreSQL's write-ahead log is not a file beside the data that
        anyone reads back (the server recycles its segments at checkpoints), and a DELETE
        removes the rows for every reader at commit. The dead row versions stay in the
        table's pages until (auto)vacuum reuses them, as SQLite's freed pages would without
        ``secure_delete``."""


class PostgresDatabase:
    """The bot's PostgreSQL database (a ``storage.protocols.Database``). Open with
    ``await PostgresDatabase.open(url)``; close when done."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.url = url
        self._closed = False
        self._deferred: dict[str, list[Sequence[Any]]] = defaultdict(list)
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, *, pool_size: int = POOL_SIZE) -> PostgresDatabase:
        """Connect (a pool), run pending migrations."""
        try:
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=pool_size, reset=_keep_session
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailable(f"cannot open {_without_password(url)}: {exc}") from exc
        db = cls(pool, url)
        try:
            await db._migrate()
        except BaseException:
            await pool.close()
            raise
        return db

    async def close(self) -> None:
        """Write what is deferred, then close the pool."""
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            await self._flusher
        if self._deferred:
            self._closed = False  # one last transaction, for what is deferred
            await self._write_deferred()
            self._closed = True
        await self._pool.close()

    async def __aenter__(self) -> PostgresDatabase:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transactions ----------------------------------------------------------------------

    async def transact(
        self, job: Job[T], *, key: str | None = None, revision: tuple[int, int] | None = None
    ) -> T:
        """Run ``job`` in a serialisable transaction; return its result once it committed.
        A transaction PostgreSQL aborts as not serialisable runs again (a new attempt).

        With ``key`` (one person's turn) it runs at READ COMMITTED instead, holding the
        advisory lock of ``key`` from its start: one person's turns are serialised by that
        lock, and the rules across people (a meeting's places) by the locks the storage
        functions take (``serialize`` on the meeting) before they read. Under SERIALIZABLE,
        turns of unrelated people aborted each other (the predicate locks of index pages
        they share): about one in four ran twice, a third of the engine's time."""
        begin = "BEGIN ISOLATION LEVEL SERIALIZABLE;"
        again = ""
        if key is not None:  # one round trip: the transaction and its key's lock
            begin = "BEGIN ISOLATION LEVEL READ COMMITTED; "
            begin += f"SELECT pg_advisory_xact_lock({lock_id(key)});"
            # A failed check: the aborted transaction ends and a new one takes the lock, in
            # one round trip (not a ROLLBACK, a return to the pool and a new transaction).
            again = "ROLLBACK; " + begin
            if revision is not None:
                # In the same round trip, after the lock (READ COMMITTED: a statement sees
                # what was committed before it began): fails with a division by zero unless
                # the person is still at the revision remembered (numbers, not text); the
                # job then runs in a new transaction told so (``revision_stale``).
                person, number = int(revision[0]), int(revision[1])
                begin += (
                    " SELECT 1 / (SELECT COUNT(*) FROM participants"
                    f" WHERE id = {person} AND revision = {number})::int;"
                )
        if self._closed:
            raise RuntimeError("database is closed")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            # Writes deferred since the last transaction go in with this one (as on SQLite);
            # if it does not commit, they wait for the next.
            deferred, self._deferred = self._deferred, defaultdict(list)
            try:
                async with self._pool.acquire() as conn:
                    tx = PostgresTransaction(conn)
                    try:
                        await conn.execute(begin)
                    except asyncpg.DivisionByZeroError:
                        await conn.execute(again)  # the person's lock, without the check
                        tx.revision_stale = True
                    tx.revision_checked = revision is not None and key is not None
                    try:
                        for sql, rows in deferred.items():
                            await tx.executemany(sql, rows)
                        result = await job(tx)
                        await tx.flush()
                        status = await conn.execute("COMMIT;")
                    except BaseException:
                        if not conn.is_closed() and conn.is_in_transaction():
                            await conn.execute("ROLLBACK;")
                        raise
                    if status != "COMMIT":  # a failed statement the job caught: nothing kept
                        raise TransactionAborted(f"the transaction ended with {status}")
                    return result
            except _RETRY:
                self._requeue(deferred)
                if attempt == MAX_ATTEMPTS:
                    raise
                # Back off, at random and longer each time, so the colliding transactions part.
                await asyncio.sleep(random.uniform(0, min(0.2, 0.001 * 2**attempt)))
            except BaseException:
                self._requeue(deferred)
                raise
        raise AssertionError("unreachable")

    async def read(self, job: Job[T]) -> T:
        """Run a job that only reads on a connection of its own, in one read-only snapshot:
        it holds up no writer and sees none of their work half done. A write in it fails."""
        if self._closed:
            raise RuntimeError("database is closed")
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await job(PostgresTransaction(conn))

    def defer(self, sql: str, params: Sequence[Any]) -> None:
        """Queue a write for a transaction soon, without waiting for it (bookkeeping whose
        loss in a crash is harmless: marking replies as sent)."""
        self._deferred[sql].append(params)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="storage-deferred")

    def _requeue(self, deferred: dict[str, list[Sequence[Any]]]) -> None:
        for sql, rows in deferred.items():
            self._deferred[sql][:0] = rows

    async def _flush_soon(self) -> None:
        await asyncio.sleep(0)  # let the writes deferred together go in one transaction
        if self._deferred:
            await self._write_deferred()

    async def _write_deferred(self) -> None:
        async def nothing_more(tx: protocols.Transaction) -> None:
            """The deferred writes alone (transact adds them)."""

        try:
            await self.transact(nothing_more)
        except Exception as exc:  # they wait for the next transaction
            log.error("deferred writes failed: %s", type(exc).__name__)

    # -- migrations ------------------------------------------------------------------------

    async def _migrate(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL "
                    "DEFAULT CURRENT_TIMESTAMP)"
                )
                done = {
                    row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")
                }
                for version, name, sql in migrations():
                    if version in done:
                        continue
                    log.info("applying migration %04d %s", version, name)
                    async with conn.transaction():
                        await conn.execute(sql)  # no arguments: a whole script
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                            version,
                            name,
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A connection going back to the pool is not reset by a query (asyncpg's default runs
    ``RESET ALL; UNLISTEN *; ...``, a round trip each time): every transaction here ends
    (commit or rollback) and takes only transaction-scoped locks, and nothing sets session
    state, so there is nothing to reset."""


def migrations() -> list[tuple[int, str, str]]:
    """The numbered PostgreSQL migrations in storage/migrations/postgres, in order."""
    found = []
    for entry in resources.files("storage.migrations.postgres").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name[5:-4], entry.read_text(encoding="utf-8")))
    return sorted(found)


if TYPE_CHECKING:  # mypy proves that the PostgreSQL classes implement the protocols

    def _implements(
        db: PostgresDatabase, tx: PostgresTransaction
    ) -> tuple[protocols.Database, protocols.Transaction]:
        return db, tx


__all__ = ["PostgresDatabase", "PostgresTransaction", "migrations", "postgres_sql"]


def _without_password(url: str) -> str:
    """The database's URL as it may be shown: any password left out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))
