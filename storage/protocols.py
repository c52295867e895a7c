"""The storage seam: what the bot and the storage functions need of a database.

``bot/`` and the storage functions type against these protocols; ``storage/database.py``
(SQLite on aiosqlite, ``SqliteDatabase``) is one implementation, and a PostgreSQL one can
sit beside it. What is particular to one database (its SQL dialect, pragmas, connections,
how writes are grouped into a commit) stays in its implementation.

A *job* is an async function that takes a ``Transaction`` and calls storage functions on
it; ``Database.transact`` runs it in one transaction and returns its result only once that
transaction committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Row(Protocol):
    """A row of a query's result: its columns by position or by name."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Transaction(Protocol):
    """The open transaction a job runs in. Storage functions take it as their first argument."""

    def write(self, sql: str, params: Sequence[Any], *, conflict: Exception | None = None) -> None:
        """Queue a write whose result nobody needs, sent before the next read and at commit;
        ``conflict`` is raised instead if it breaks a uniqueness rule. It must not depend on
        another queued write of the same transaction (they may be reordered)."""
        ...

    @property
    def revision_checked(self) -> bool:
        """True when the database checked the ``revision`` given to ``transact`` as the
        transaction began (PostgreSQL); else the job checks what it relies on itself."""
        ...

    @property
    def revision_stale(self) -> bool:
        """True when that check found the person changed (another process moved them on):
        what the job keeps in memory of them is not to be used; it reads them again."""
        ...

    @property
    def outside_writes(self) -> int:
        """A number that changes whenever another connection (another process) may have
        committed: what a process kept in memory from a transaction with the same number
        is still what is stored. SQLite counts the moves of its ``data_version`` (read once
        per group commit); PostgreSQL, with many writers, numbers every transaction anew."""
        ...

    async def serialize(self, key: str) -> None:
        """Until this transaction ends, hold back any other transaction, in any process,
        that serialises on ``key`` (one person's events, handled one at a time)."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement now; return the number of rows it changed."""
        ...

    async def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT now; return the new row's id."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows now."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of a query, or None."""
        ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]:
        """All rows of a query."""
        ...

    def truncate_wal_after_commit(self) -> None:
        """Erased data must not linger on disk after this transaction commits (SQLite
        empties its write-ahead log; a database without such a log may do nothing)."""
        ...


Job = Callable[[Transaction], Awaitable[T]]
"""Work done in one transaction."""


class Database(Protocol):
    """A database the bot can run jobs on."""

    async def transact(
        self, job: Job[T], *, key: str | None = None, revision: tuple[int, int] | None = None
    ) -> T:
        """Run ``job`` in a transaction; return its result once the transaction committed.

        ``key`` (one person's turn): the transaction is serialised on ``key`` from its start
        (as ``Transaction.serialize(key)``), and every rule it keeps across other rows is
        kept by the locks the storage functions take (``serialize`` on a meeting); so it
        needs no stronger isolation (PostgreSQL: READ COMMITTED instead of SERIALIZABLE,
        without the aborts and runs again that unrelated people's turns cause there).

        ``revision`` (participant id, revision): the job relies on what the process keeps in
        memory of that person, true only at that stored revision. A database that can check
        it as the transaction begins, in the same round trip (PostgreSQL), does, and says so
        to the job (``Transaction.revision_checked``), and whether the person changed
        (``Transaction.revision_stale``: the job, still holding the key, reads them again)."""
        ...

    async def read(self, job: Job[T]) -> T:
        """Run a job that only reads (a long one, such as the results), holding up no
        writer; a write in it fails."""
        ...

    def defer(self, sql: str, params: Sequence[Any]) -> None:
        """Queue a write for the next transaction without waiting for it: bookkeeping whose
        loss in a crash is harmless (marking replies as sent)."""
        ...
