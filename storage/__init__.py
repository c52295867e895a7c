"""The bot's storage: the protocols the bot types against, the SQLite implementation, and
storage functions named for what they do (``storage/registrations.py``: ``register``,
``cancel_registration``). Storage imports nothing from ``bot``.
"""

from __future__ import annotations

from storage.database import SqliteDatabase, SqliteTransaction
from storage.errors import ParticipationBotError, StorageError
from storage.protocols import Database, Job, Row, Transaction

__all__ = [
    "Database",
    "Job",
    "ParticipationBotError",
    "Row",
    "SqliteDatabase",
    "SqliteTransaction",
    "StorageError",
    "Transaction",
]
