"""The outbox: messages decided in a transaction, delivered later by a platform's dispatcher."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from storage.protocols import Row, Transaction
from storage.records import Delivery, OutboxRecord
from storage.timestamps import from_db, maybe_from_db, to_db

_COLUMNS = (
    "id, participant_id, kind, dedupe_key, message, status, attempts, next_attempt_at, "
    "created_at, sent_at"
)


def _record(row: Row) -> OutboxRecord:
    return OutboxRecord(
        id=row["id"],
        participant_id=row["participant_id"],
        kind=row["kind"],
        dedupe_key=row["dedupe_key"],
        message=row["message"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=from_db(row["next_attempt_at"]),
        created_at=from_db(row["created_at"]),
        sent_at=maybe_from_db(row["sent_at"]),
    )


async def enqueue_message(
    tx: Transaction,
    participant_id: int,
    kind: str,
    dedupe_key: str,
    message: str,
    now: datetime,
    batch: str = "",
    *,
    campaign: str,
) -> bool:
    """Queue a message for one person about a campaign; False when ``dedupe_key`` was queued
    before."""
    stamp = to_db(now)
    changed = await tx.execute(
        "INSERT INTO outbox (participant_id, kind, batch, dedupe_key, message, next_attempt_at, "
        "created_at, campaign) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) "
        "DO NOTHING",
        (participant_id, kind, batch, dedupe_key, message, stamp, stamp, campaign),
    )
    return changed > 0


async def enqueue_many(
    tx: Transaction,
    kind: str,
    batch: str,
    rows: list[tuple[int, str, str]],
    now: datetime,
    *,
    campaign: str,
) -> int:
    """Queue one message per (participant id, dedupe key, message) in one statement; rows
    whose key was queued before are skipped. Returns how many rows the outbox holds for
    ``batch`` now."""
    stamp = to_db(now)
    await tx.executemany(
        "INSERT INTO outbox (participant_id, kind, batch, dedupe_key, message, next_attempt_at, "
        "created_at, campaign) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) "
        "DO NOTHING",
        [(pid, kind, batch, key, message, stamp, stamp, campaign) for pid, key, message in rows],
    )
    row = await tx.fetchone("SELECT COUNT(*) FROM outbox WHERE batch = ?", (batch,))
    return int(row[0]) if row else 0


async def outbox_for(tx: Transaction, participant_id: int) -> list[OutboxRecord]:
    """Every outbox row addressed to a participant, oldest first."""
    rows = await tx.fetchall(
        f"SELECT {_COLUMNS} FROM outbox WHERE participant_id = ? ORDER BY id", (participant_id,)
    )
    return [_record(r) for r in rows]


async def claim_message(tx: Transaction, message_id: int, now: datetime, worker: str) -> bool:
    """Mark a row ``worker`` reserved 'sending', just before its send; False if it is no
    longer the worker's (released meanwhile: the worker was judged gone). A crash after this
    leaves it 'sending', never silently pending again."""
    changed = await tx.execute(
        "UPDATE outbox SET status = 'sending', claimed_at = ? "
        "WHERE id = ? AND status = 'pending' AND claimed_by = ?",
        (to_db(now), message_id, worker),
    )
    return changed > 0


_GONE = (
    "(claimed_by IS NULL OR claimed_by NOT IN (SELECT id FROM workers WHERE seen_at >= ?)) "
    "AND (claimed_by IS NULL OR claimed_by != ?)"
)
"""A row claimed by no live worker (nor by the asking one): its worker crashed or left."""


async def recover_abandoned(
    tx: Transaction, platform: str, alive_since: datetime, worker: str
) -> int:
    """Rows of ``platform`` held by a worker that is gone (no heartbeat since
    ``alive_since``, or none at all): those it was sending may or may not have arrived, so
    they become 'in_doubt' (not sent again by themselves; staff see them); those it had
    only reserved are free again. Rows of a live worker, and ``worker``'s own, are left
    alone. Returns how many rows became 'in_doubt'."""
    of_platform = "participant_id IN (SELECT id FROM participants WHERE platform = ?)"
    since = to_db(alive_since)
    in_doubt = await tx.execute(
        f"UPDATE outbox SET status = 'in_doubt', claimed_by = NULL, last_error = 'worker gone' "
        f"WHERE status = 'sending' AND {_GONE} AND {of_platform}",
        (since, worker, platform),
    )
    await tx.execute(
        f"UPDATE outbox SET claimed_by = NULL WHERE status = 'pending' "
        f"AND claimed_by IS NOT NULL AND {_GONE} AND {of_platform}",
        (since, worker, platform),
    )
    return in_doubt


async def release_reserved(tx: Transaction, worker: str) -> None:
    """The worker stops: the rows it reserved and did not send are free for the others."""
    await tx.execute(
        "UPDATE outbox SET claimed_by = NULL WHERE status = 'pending' AND claimed_by = ?",
        (worker,),
    )


async def batch_progress(tx: Transaction, batch: str) -> dict[str, int]:
    """How many rows of a broadcast or reminder are in each state."""
    rows = await tx.fetchall(
        "SELECT status, COUNT(*) FROM outbox WHERE batch = ? GROUP BY status", (batch,)
    )
    return {r[0]: int(r[1]) for r in rows}


async def reserve_due(
    tx: Transaction,
    platform: str,
    worker: str,
    now: datetime,
    limit: int,
    users: Collection[str] | None = None,
) -> list[Delivery]:
    """Reserve for ``worker`` up to ``limit`` pending rows of ``platform`` that are due and
    held by nobody, oldest first, and return the due rows it holds (with any it reserved
    before). Other workers reserving at the same moment skip the rows being reserved here
    rather than wait for them (PostgreSQL's ``SKIP LOCKED``; SQLite has one writer).

    Given ``users``, only rows of those people (of ``platform``'s user ids): the web chat's
    people whose page is connected to this worker; the others' rows wait for them."""
    stamp = to_db(now)
    if users is None:
        chunks: list[list[str]] = [[]]
    else:
        listed = sorted(set(users))
        chunks = [listed[i : i + _USERS_AT_ONCE] for i in range(0, len(listed), _USERS_AT_ONCE)]
    found: list[Delivery] = []
    for chunk in chunks:
        of_users = f" AND p.user_id IN ({', '.join('?' * len(chunk))})" if chunk else ""
        left = limit - len(found)
        if left <= 0:
            break
        await tx.execute(
            "UPDATE outbox SET claimed_by = ? WHERE id IN (SELECT o.id FROM outbox o "
            "JOIN participants p ON p.id = o.participant_id "
            "WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND p.platform = ? "
            f"AND o.claimed_by IS NULL{of_users} ORDER BY o.id LIMIT ? "
            "/*postgres: FOR UPDATE OF o SKIP LOCKED*/)",
            (worker, stamp, platform, *chunk, left),
        )
        columns = ", ".join("o." + c.strip() for c in _COLUMNS.split(","))
        rows = await tx.fetchall(
            f"SELECT {columns}, p.platform, p.workspace, p.user_id "
            "FROM outbox o JOIN participants p ON p.id = o.participant_id "
            "WHERE o.claimed_by = ? AND o.status = 'pending' AND o.next_attempt_at <= ? "
            f"AND p.platform = ?{of_users} ORDER BY o.id LIMIT ?",
            (worker, stamp, platform, *chunk, left),
        )
        found += [Delivery(_record(r), r["platform"], r["workspace"], r["user_id"]) for r in rows]
    return found


_USERS_AT_ONCE = 500
"""User ids in one reservation query at most (the databases limit a query's parameters)."""


async def release_message(tx: Transaction, message_id: int) -> None:
    """Nothing went out and nobody is there to take it now (the person's web page closed):
    pending again, free for any worker, no attempt counted."""
    await tx.execute(
        "UPDATE outbox SET status = 'pending', claimed_by = NULL "
        "WHERE id = ? AND status IN ('pending', 'sending')",
        (message_id,),
    )


def mark_message_sent(tx: Transaction, message_id: int, now: datetime) -> None:
    """The dispatcher delivered the row."""
    tx.write(
        "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ?",
        (to_db(now), message_id),
    )


async def mark_message_in_doubt(tx: Transaction, message_id: int) -> None:
    """The send's outcome is unknown (its answer was lost): not sent again by itself."""
    await tx.execute(
        "UPDATE outbox SET status = 'in_doubt', attempts = attempts + 1, "
        "last_error = 'answer lost' WHERE id = ?",
        (message_id,),
    )


async def mark_message_unreachable(tx: Transaction, message_id: int, error: str) -> None:
    """The recipient blocked the bot or left: never try this row again."""
    await tx.execute(
        "UPDATE outbox SET status = 'unreachable', attempts = attempts + 1, last_error = ? "
        "WHERE id = ?",
        (error, message_id),
    )


async def retry_message_later(
    tx: Transaction, message_id: int, at: datetime, error: str, max_attempts: int
) -> None:
    """A send failed for a passing reason: try again at ``at``, or give up after
    ``max_attempts``."""
    await tx.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, "
        "claimed_by = NULL, status = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' "
        "END WHERE id = ?",
        (to_db(at), error, max_attempts, message_id),
    )


async def all_batches(tx: Transaction, campaign: str | None = None) -> dict[str, dict[str, int]]:
    """Every broadcast and reminder (of one campaign, or of all) with how many of its rows
    are in each state."""
    if campaign is None:
        rows = await tx.fetchall(
            "SELECT batch, status, COUNT(*) FROM outbox WHERE batch != '' "
            "GROUP BY batch, status ORDER BY batch"
        )
    else:
        rows = await tx.fetchall(
            "SELECT batch, status, COUNT(*) FROM outbox WHERE batch != '' AND campaign = ? "
            "GROUP BY batch, status ORDER BY batch",
            (campaign,),
        )
    found: dict[str, dict[str, int]] = {}
    for batch, status, count in rows:
        found.setdefault(batch, {})[status] = int(count)
    return found


async def record_broadcast_request(
    tx: Transaction, batch: str, participant_id: int, language: str, now: datetime
) -> None:
    """Remember who asked for a broadcast (and their language): they get its summary. Asked
    again (the same broadcast to a segment that has grown), they get a summary again."""
    await tx.execute(
        "INSERT INTO broadcast_requests (batch, participant_id, language, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (batch, participant_id) DO UPDATE SET "
        "summary_queued_at = NULL, language = excluded.language",
        (batch, participant_id, language, to_db(now)),
    )


async def finished_requests(tx: Transaction) -> list[tuple[str, int, str]]:
    """Requested broadcasts with no row left to send whose summary is not queued yet:
    (batch, participant id, language)."""
    rows = await tx.fetchall(
        "SELECT r.batch, r.participant_id, r.language FROM broadcast_requests r "
        "WHERE r.summary_queued_at IS NULL AND NOT EXISTS (SELECT 1 FROM outbox o "
        "WHERE o.batch = r.batch AND o.status IN ('pending', 'sending')) "
        "ORDER BY r.created_at, r.batch"
    )
    return [(r[0], int(r[1]), r[2]) for r in rows]


async def mark_summary_queued(
    tx: Transaction, batch: str, participant_id: int, now: datetime
) -> None:
    """The summary of a requested broadcast is in the outbox."""
    await tx.execute(
        "UPDATE broadcast_requests SET summary_queued_at = ? "
        "WHERE batch = ? AND participant_id = ?",
        (to_db(now), batch, participant_id),
    )
