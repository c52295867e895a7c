"""What ``/metrics`` and ``/healthz`` ask the database: the outbox by state, and a ping."""

from __future__ import annotations

from storage.protocols import Transaction


async def outbox_counts(tx: Transaction) -> dict[str, int]:
    """How many outbox rows are in each state (pending, sending, sent, in_doubt...)."""
    rows = await tx.fetchall("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    return {r[0]: int(r[1]) for r in rows}


async def ping(tx: Transaction) -> bool:
    """Whether the database answers a query."""
    row = await tx.fetchone("SELECT 1")
    return row is not None
