"""The database's own clock (``--now`` kept per database), and the latest time it recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.protocols import Transaction
from storage.timestamps import from_db, to_db


@dataclass(frozen=True)
class StoredClock:
    """The database's time was ``clock_at`` when the real time was ``wall_at``."""

    clock_at: datetime
    wall_at: datetime


async def stored_clock(tx: Transaction) -> StoredClock | None:
    """The database's clock, or None when it runs on the real time."""
    row = await tx.fetchone("SELECT clock_at, wall_at FROM database_clock WHERE id = 1")
    if row is None:
        return None
    return StoredClock(clock_at=from_db(row["clock_at"]), wall_at=from_db(row["wall_at"]))


async def store_clock(tx: Transaction, clock: StoredClock) -> None:
    """Set the database's clock (a first ``--now``, or one that moves it forward)."""
    await tx.execute(
        "INSERT INTO database_clock (id, clock_at, wall_at) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET clock_at = excluded.clock_at, wall_at = excluded.wall_at",
        (to_db(clock.clock_at), to_db(clock.wall_at)),
    )


_RECORDED = (
    ("conversation_state", "updated_at"),
    ("processed_events", "received_at"),
    ("answers", "answered_at"),
    ("registrations", "updated_at"),
    ("outbox", "created_at"),
    ("campaign_in_use", "loaded_at"),
)
"""Where the bot records the time things happened: the latest of these is the latest time
the database has seen."""


async def latest_recorded_time(tx: Transaction) -> datetime | None:
    """The latest time anything in the database was recorded at, or None when empty."""
    latest: datetime | None = None
    for table, column in _RECORDED:
        row = await tx.fetchone(f"SELECT MAX({column}) AS latest FROM {table}")  # noqa: S608
        if row is not None and row["latest"] is not None:
            value = from_db(row["latest"])
            latest = value if latest is None else max(latest, value)
    return latest
