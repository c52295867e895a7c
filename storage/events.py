"""Processed events: dedupe of platform event ids, and replies kept until they went out."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from storage.errors import StorageError
from storage.protocols import Database, Transaction
from storage.records import StoredReplies
from storage.timestamps import to_db


class EventAlreadyRecorded(StorageError):
    """The event id is stored already: the platform delivered the event again."""

    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(f"event {event_id} was recorded before")


@dataclass(frozen=True)
class Sender:
    """A worker (``bot/workers.py``) that sends the replies of the events it commits; another
    worker's unsent replies are its to send only once that worker is gone: no heartbeat
    within ``lease``."""

    worker: str
    lease: timedelta


def record_event(
    tx: Transaction,
    event_id: str,
    participant_id: int | None,
    replies: str,
    now: datetime,
    sender: Sender | None = None,
) -> None:
    """Record an event with its replies, which ``sender`` sends (None: a process that is no
    worker); the transaction fails with ``EventAlreadyRecorded`` if the event id was
    recorded before."""
    tx.write(
        "INSERT INTO processed_events "
        "(event_id, participant_id, received_at, replies, sender, replies_sent) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            event_id,
            participant_id,
            to_db(now),
            replies,
            sender.worker if sender else None,
            int(replies == "[]"),  # nothing to send: done (Deliveries sends no empty list)
        ),
        conflict=EventAlreadyRecorded(event_id),
    )


_NOT_SENDING = (
    "(sender IS NULL OR (sender != ? AND sender NOT IN (SELECT id FROM workers "
    "WHERE seen_at >= ?)))"
)
"""Unsent replies that no live worker is sending (nor the asking one): the worker that
committed them is gone (crashed, stopped, or restarted under its name), or there was none."""


async def redelivered(
    tx: Transaction, event_id: str, sender: Sender | None, now: datetime
) -> StoredReplies | None:
    """What a recorded event replied, for its redelivery: its unsent replies are handed out
    again only to a process that may send them (``sender`` takes them over when the worker
    that was sending them is gone); those another live worker is sending come back as sent
    here (not this worker's to send). The asking worker's own are handed back: the engine
    knows whether they are on their way in this process."""
    stored = await stored_replies(tx, event_id)
    if stored is None or stored.sent or sender is None:
        return stored
    mine = await tx.fetchone(
        "SELECT 1 FROM processed_events WHERE event_id = ? AND sender = ?",
        (event_id, sender.worker),
    )
    if mine is not None:
        return stored  # the engine knows whether they are on their way in this process
    taken = await tx.execute(
        f"UPDATE processed_events SET sender = ? WHERE event_id = ? AND replies_sent = 0 "
        f"AND {_NOT_SENDING}",
        (sender.worker, event_id, sender.worker, to_db(now - sender.lease)),
    )
    return stored if taken else replace(stored, sent=True)


async def stored_replies(tx: Transaction, event_id: str) -> StoredReplies | None:
    """What a recorded event replied, and whether that went out."""
    row = await tx.fetchone(
        "SELECT event_id, participant_id, replies, replies_sent, parts_sent FROM processed_events "
        "WHERE event_id = ?",
        (event_id,),
    )
    if row is None:
        return None
    return StoredReplies(row[0], row[1], row[2], bool(row[3]), int(row[4]))


# Once sent, the replies are not kept: they may echo what a person said.
_SENT = "UPDATE processed_events SET replies_sent = 1, replies = '[]' WHERE event_id = ?"

EVENT_MEMORY = timedelta(days=7)
"""How long event ids are remembered: platforms redeliver within hours (Telegram keeps
updates 24 hours)."""


def mark_replies_sent(db: Database, event_id: str) -> None:
    """Note that an event's replies went out (written with the next transaction)."""
    db.defer(_SENT, (event_id,))


def mark_part_sent(db: Database, event_id: str) -> None:
    """One more of an event's replies went out, and more follow (written with the next
    transaction: a crash can lose it only within that moment)."""
    db.defer(
        "UPDATE processed_events SET parts_sent = parts_sent + 1 WHERE event_id = ?", (event_id,)
    )


async def mark_replies_sent_now(tx: Transaction, event_id: str) -> None:
    """Note at once that an event's replies went out."""
    await tx.execute(_SENT, (event_id,))


async def prune_events(tx: Transaction, before: datetime) -> int:
    """Forget events older than ``before`` whose replies went out."""
    return await tx.execute(
        "DELETE FROM processed_events WHERE received_at < ? AND replies_sent = 1",
        (to_db(before),),
    )


async def unsent_replies(
    tx: Transaction, platform: str, sender: Sender | None = None, now: datetime | None = None
) -> list[StoredReplies]:
    """Replies of committed events on ``platform`` that never went out (after a crash),
    oldest first. With a ``sender``: only those no live worker is sending, which it takes
    over at once (so that no other worker takes them too)."""
    if sender is not None:
        assert now is not None
        rows = await tx.fetchall(
            f"UPDATE processed_events SET sender = ? WHERE replies_sent = 0 AND {_NOT_SENDING} "
            "AND participant_id IN (SELECT id FROM participants WHERE platform = ?) "
            "RETURNING event_id, participant_id, replies, replies_sent, parts_sent, received_at",
            (sender.worker, sender.worker, to_db(now - sender.lease), platform),
        )
        rows = sorted(rows, key=lambda r: (r[5], r[0]))
        return [StoredReplies(r[0], r[1], r[2], bool(r[3]), int(r[4])) for r in rows]
    rows = await tx.fetchall(
        "SELECT e.event_id, e.participant_id, e.replies, e.replies_sent, e.parts_sent "
        "FROM processed_events e JOIN participants p ON p.id = e.participant_id "
        "WHERE e.replies_sent = 0 AND p.platform = ? ORDER BY e.received_at",
        (platform,),
    )
    return [StoredReplies(r[0], r[1], r[2], bool(r[3]), int(r[4])) for r in rows]


async def unsent_replies_for(tx: Transaction, participant_id: int) -> list[StoredReplies]:
    """One person's replies of committed events that have not gone out, oldest first."""
    rows = await tx.fetchall(
        "SELECT event_id, participant_id, replies, replies_sent, parts_sent FROM processed_events "
        "WHERE participant_id = ? AND replies_sent = 0 ORDER BY received_at",
        (participant_id,),
    )
    return [StoredReplies(r[0], r[1], r[2], bool(r[3]), int(r[4])) for r in rows]


async def forget_all_events(tx: Transaction) -> None:
    """Forget every event (a purge: nobody is left whose events could come again)."""
    await tx.execute("DELETE FROM processed_events")
