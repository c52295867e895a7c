"""Copying a SQLite database into an empty PostgreSQL one (``participation-bot copy-database``).

Both are opened at the latest migration, so they have the same tables and columns. The copy
reads the SQLite file in one transaction (a consistent snapshot: a bot still writing waits
for it), writes every table into PostgreSQL in one transaction (parents before the tables
that refer to them, so a failure leaves the target as empty as it was), moves each identity
column's sequence past the copied ids (so new rows get new ids), and then counts the rows
on both sides. A target that holds anything is refused: the copy never merges or overwrites.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.database import SqliteDatabase
from storage.errors import StorageError
from storage.postgres import PostgresDatabase
from storage.protocols import Transaction

_BOOKKEEPING = {"schema_migrations"}
"""Tables each database keeps of its own (which migrations ran): never copied."""


class TargetNotEmpty(StorageError):
    """The PostgreSQL database already holds rows: the copy would mix two databases."""

    def __init__(self, tables: Sequence[str]) -> None:
        super().__init__(f"the target database is not empty ({', '.join(tables)} hold rows)")
        self.tables = list(tables)


class CopyMismatch(StorageError):
    """After the copy, a table's row count differs between the two databases."""


@dataclass(frozen=True)
class TableCopy:
    """One table's rows: how many the SQLite file held and PostgreSQL holds after the copy."""

    table: str
    source_rows: int
    target_rows: int


async def _target_tables(tx: Transaction) -> list[str]:
    """PostgreSQL's tables, each after every table it refers to."""
    tables = [
        row[0]
        for row in await tx.fetchall(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' "
            "ORDER BY table_name"
        )
        if row[0] not in _BOOKKEEPING
    ]
    refers: dict[str, set[str]] = {t: set() for t in tables}
    for row in await tx.fetchall(
        "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE c.contype = 'f' AND n.nspname = current_schema()"
    ):
        if row[0] in refers and row[1] != row[0]:
            refers[row[0]].add(row[1])
    ordered: list[str] = []
    while refers:
        ready = sorted(t for t, parents in refers.items() if not parents - set(ordered))
        if not ready:  # a cycle of references: not in this schema; copy the rest as listed
            ready = sorted(refers)
        for table in ready:
            ordered.append(table)
            del refers[table]
    return ordered


async def _columns(tx: Transaction, table: str) -> list[str]:
    rows = await tx.fetchall(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return [r[0] for r in rows]


async def _identity_columns(tx: Transaction) -> list[tuple[str, str]]:
    rows = await tx.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    return [(r[0], r[1]) for r in rows]


async def _count(tx: Transaction, table: str) -> int:
    row = await tx.fetchone(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 (a schema's name)
    return int(row[0]) if row else 0


async def copy_database(source: SqliteDatabase, target: PostgresDatabase) -> list[TableCopy]:
    """Copy every row of ``source`` into the empty ``target``; return each table's counts.

    Raises ``TargetNotEmpty`` (nothing written) when the target holds rows, and
    ``CopyMismatch`` if the counts differ afterwards (which would be a bug)."""

    async def plan(tx: Transaction) -> tuple[list[str], dict[str, list[str]], list[str]]:
        tables = await _target_tables(tx)
        columns = {t: await _columns(tx, t) for t in tables}
        full = [t for t in tables if await _count(tx, t)]
        return tables, columns, full

    tables, target_columns, full = await target.read(plan)
    if full:
        raise TargetNotEmpty(full)

    async def snapshot(tx: Transaction) -> dict[str, tuple[list[str], list[Sequence[Any]]]]:
        present = {
            r[0] for r in await tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        rows: dict[str, tuple[list[str], list[Sequence[Any]]]] = {}
        for table in tables:
            if table not in present:
                continue
            have = {r[1] for r in await tx.fetchall(f'PRAGMA table_info("{table}")')}
            cols = [c for c in target_columns[table] if c in have]
            names = ", ".join(f'"{c}"' for c in cols)
            found = await tx.fetchall(f'SELECT {names} FROM "{table}"')  # noqa: S608
            rows[table] = (cols, [tuple(r) for r in found])
        return rows

    # One snapshot of the file (stop the bot first: what it writes later is not copied).
    data = await source.read(snapshot)

    async def write(tx: Transaction) -> None:
        for table in await _target_tables(tx):
            if await _count(tx, table):
                raise TargetNotEmpty([table])  # filled since the first look
        for table in tables:
            cols, rows = data.get(table, ([], []))
            if not rows:
                continue
            names = ", ".join(f'"{c}"' for c in cols)
            marks = ", ".join("?" for _ in cols)
            await tx.executemany(
                f'INSERT INTO "{table}" ({names}) VALUES ({marks})',  # noqa: S608
                rows,
            )
        for table, column in await _identity_columns(tx):
            await tx.fetchone(
                f"SELECT setval(pg_get_serial_sequence(?, ?), "  # noqa: S608
                f'COALESCE((SELECT MAX("{column}") FROM "{table}"), 0) + 1, false)',
                (table, column),
            )

    await target.transact(write)

    async def counts(tx: Transaction) -> dict[str, int]:
        return {t: await _count(tx, t) for t in tables}

    after = await target.read(counts)
    report = [TableCopy(t, len(data.get(t, ([], []))[1]), after[t]) for t in tables]
    wrong = [c for c in report if c.source_rows != c.target_rows]
    if wrong:
        raise CopyMismatch(
            "row counts differ after the copy: "
            + ", ".join(f"{c.table} {c.source_rows} -> {c.target_rows}" for c in wrong)
        )
    return report


__all__ = ["CopyMismatch", "TableCopy", "TargetNotEmpty", "copy_database"]
