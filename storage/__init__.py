"""The bot's storage: the protocols the bot types against, the SQLite and PostgreSQL
implementations (``open_database`` picks one from a path or a URL), and
storage functions named for what they do (``storage/registrations.py``: ``register``,
``cancel_registration``). Storage imports nothing from ``bot``.
"""

from __future__ import annotations

from storage.database import SqliteDatabase, SqliteTransaction
from storage.errors import ParticipationBotError, StorageError
from storage.open import OpenDatabase, open_database
from storage.postgres import PostgresDatabase, PostgresTransaction
from storage.protocols import Database, Job, Row, Transaction

__all__ = [
    "Database",
    "Job",
    "OpenDatabase",
    "ParticipationBotError",
    "PostgresDatabase",
    "PostgresTransaction",
    "Row",
    "SqliteDatabase",
    "SqliteTransaction",
    "StorageError",
    "Transaction",
    "open_database",
]
