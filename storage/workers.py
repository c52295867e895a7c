"""Workers: the ``run`` processes sharing one database, each alive while its heartbeat is
fresh; and when the jobs they share (the daily purge, the reminders) last ran."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.protocols import Transaction
from storage.timestamps import to_db


async def register_worker(tx: Transaction, worker_id: str, name: str, now: datetime) -> int:
    """Say this worker is alive. An earlier worker of the same ``name`` (this one before a
    restart: its sends cannot still be on their way) is gone from now on. Returns how many
    such earlier workers there were."""
    gone = await tx.execute(
        "DELETE FROM workers WHERE name = ? AND id != ?",
        (name, worker_id),
    )
    await tx.execute(
        "INSERT INTO workers (id, name, started_at, seen_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        (worker_id, name, to_db(now), to_db(now)),
    )
    return gone


async def heartbeat(
    tx: Transaction, worker_id: str, name: str, now: datetime, lease: timedelta
) -> int:
    """This worker is still alive; returns how many workers are (itself included). A worker
    that was judged gone meanwhile is alive again (its claims were released; it makes new)."""
    await tx.execute(
        "INSERT INTO workers (id, name, started_at, seen_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        (worker_id, name, to_db(now), to_db(now)),
    )
    row = await tx.fetchone(
        "SELECT COUNT(*) FROM workers WHERE seen_at >= ?", (to_db(now - lease),)
    )
    return int(row[0]) if row else 1


async def forget_gone_workers(tx: Transaction, now: datetime, lease: timedelta) -> int:
    """Remove the workers whose heartbeat is older than ``lease``; returns how many."""
    return await tx.execute("DELETE FROM workers WHERE seen_at < ?", (to_db(now - lease),))


async def unregister_worker(tx: Transaction, worker_id: str) -> None:
    """The worker stopped cleanly (nothing of its own is on its way any more)."""
    await tx.execute("DELETE FROM workers WHERE id = ?", (worker_id,))


async def live_workers(tx: Transaction, now: datetime, lease: timedelta) -> list[str]:
    """The ids of the workers alive now (heartbeat within ``lease``)."""
    rows = await tx.fetchall(
        "SELECT id FROM workers WHERE seen_at >= ? ORDER BY id", (to_db(now - lease),)
    )
    return [r[0] for r in rows]


async def claim_job_run(tx: Transaction, name: str, now: datetime, every: timedelta) -> bool:
    """Whether the shared job ``name`` is due (it has not run within ``every``, on any
    worker); if so it is recorded as run now, so that no other worker runs it too."""
    await tx.serialize(f"job:{name}")
    changed = await tx.execute(
        "INSERT INTO job_runs (name, ran_at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
        "SET ran_at = excluded.ran_at WHERE job_runs.ran_at <= ?",
        (name, to_db(now), to_db(now - every)),
    )
    return changed > 0


def record_job_run(tx: Transaction, name: str, now: datetime) -> None:
    """The shared job ``name`` ran now (one that runs whenever a worker starts)."""
    tx.write(
        "INSERT INTO job_runs (name, ran_at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
        "SET ran_at = excluded.ran_at",
        (name, to_db(now)),
    )


async def expire_worker_at(tx: Transaction, worker_id: str, seen_at: datetime) -> None:
    """The worker is leaving: alive until ``seen_at`` plus the lease, then gone."""
    await tx.execute("UPDATE workers SET seen_at = ? WHERE id = ?", (to_db(seen_at), worker_id))
