"""Opening the database a setting names: a PostgreSQL URL or a SQLite file."""

from __future__ import annotations

from pathlib import Path

from storage.database import SqliteDatabase
from storage.postgres import PostgresDatabase

OpenDatabase = SqliteDatabase | PostgresDatabase
"""A database opened by ``open_database``: a ``storage.protocols.Database`` to close."""

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(where: str | Path) -> bool:
    """Whether ``where`` names a PostgreSQL database rather than a SQLite file."""
    return str(where).startswith(_POSTGRES_SCHEMES)


async def open_database(where: str | Path) -> OpenDatabase:
    """Open ``postgresql://...`` on PostgreSQL, anything else as a SQLite file; run pending
    migrations on either. Close it when done (or use it as an async context manager)."""
    if is_postgres_url(where):
        return await PostgresDatabase.open(str(where))
    return await SqliteDatabase.open(where)


__all__ = ["OpenDatabase", "is_postgres_url", "open_database"]
