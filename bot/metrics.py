"""What an operator's monitoring reads: ``GET /metrics`` (Prometheus) and ``/healthz``.

The counters are process-wide, as prometheus-client's are meant to be: each worker serves
its own, and Prometheus adds them up across workers. Only counts and durations: no person,
no text. The outbox backlog is read from the database at each scrape (it is shared by every
worker, so each reports the same figure: take the max, not the sum).
"""

from __future__ import annotations

import asyncio

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from storage.monitoring import outbox_counts, ping
from storage.protocols import Database

__all__ = ["CONTENT_TYPE", "METRICS", "Metrics", "healthy"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

OUTBOX_STATES = ("pending", "sending", "in_doubt", "sent", "failed", "unreachable")


class Metrics:
    """The bot's metrics in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "participation_events",
            "Events committed (answers, presses, commands), by platform",
            ["platform"],
            registry=self.registry,
        )
        self.turn_seconds = Histogram(
            "participation_turn_seconds",
            "Seconds from an event's arrival at the engine to its commit",
            ["platform"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.replies_failed = Counter(
            "participation_replies_failed",
            "Replies to events whose sending failed (tried again later)",
            ["platform"],
            registry=self.registry,
        )
        self.sends = Counter(
            "participation_sends",
            "Sends by platform, what was sent (reply or outbox) and outcome "
            "(sent, in_doubt, refused, unreachable, retry)",
            ["platform", "kind", "outcome"],
            registry=self.registry,
        )
        self.outbox = Gauge(
            "participation_outbox_rows",
            "Outbox rows by state, in the database all workers share",
            ["state"],
            registry=self.registry,
        )

    async def render(self, db: Database) -> bytes:
        """The metrics in Prometheus's text format, the outbox read now."""
        counts = await asyncio.wait_for(db.read(outbox_counts), timeout=10)
        for state in {*OUTBOX_STATES, *counts}:
            self.outbox.labels(state).set(counts.get(state, 0))
        return generate_latest(self.registry)


METRICS = Metrics()
"""The process's metrics."""


async def healthy(db: Database, within: float = 5.0) -> bool:
    """Whether the database answers within ``within`` seconds (``/healthz``)."""
    try:
        return await asyncio.wait_for(db.read(ping), timeout=within)
    except Exception:  # unreachable, refused, timed out: unhealthy, whatever the cause
        return False
