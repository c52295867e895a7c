"""Delivering the outbox: messages decided in a transaction, sent later by a platform.

A dispatcher per platform takes due rows oldest first, hands each to the platform's send
function, and records what happened: sent, unreachable (blocked: never again), or a passing
failure (tried again later, with backoff, a few times). A row is marked sent right after its
send, so a crash in between can send it once more, never lose it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from functools import partial

from bot.clock import Clock
from bot.messages import Outgoing, ParticipantRef
from storage.database import Database, Transaction
from storage.outbox import (
    due_deliveries,
    mark_message_sent,
    mark_message_unreachable,
    retry_message_later,
)
from storage.records import OutboxRecord

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class DeliveryResult(StrEnum):
    """What a platform's send function says happened."""

    SENT = "sent"
    UNREACHABLE = "unreachable"
    RETRY = "retry"


Send = Callable[[ParticipantRef, Outgoing], Awaitable[DeliveryResult]]


class OutboxDispatcher:
    """Sends one platform's due outbox rows, forever or once."""

    def __init__(
        self,
        db: Database,
        platform: str,
        send: Send,
        clock: Clock,
        *,
        interval: float = 1.0,
        batch: int = 100,
    ) -> None:
        self.db = db
        self.platform = platform
        self.send = send
        self.clock = clock
        self.interval = interval
        self.batch = batch

    async def run_once(self) -> int:
        """Send what is due now; return how many rows were handled."""
        now = self.clock.now()
        due = await self.db.transact(lambda tx: due_deliveries(tx, self.platform, now, self.batch))
        for delivery in due:
            row = delivery.message
            ref = ParticipantRef(
                platform=delivery.platform, workspace=delivery.workspace, user_id=delivery.user_id
            )
            try:
                result = await self.send(ref, Outgoing.model_validate_json(row.message))
            except Exception as exc:  # a bug or an unexpected answer: try again later
                log.warning("outbox row %s failed: %s", row.id, type(exc).__name__)
                result = DeliveryResult.RETRY
            await self.db.transact(partial(self._record, row=row, result=result))
        return len(due)

    async def _record(self, tx: Transaction, row: OutboxRecord, result: DeliveryResult) -> None:
        if result is DeliveryResult.SENT:
            await mark_message_sent(tx, row.id, self.clock.now())
        elif result is DeliveryResult.UNREACHABLE:
            await mark_message_unreachable(tx, row.id, "unreachable")
        else:
            later = self.clock.now() + timedelta(seconds=30 * 2**row.attempts)
            await retry_message_later(tx, row.id, later, "retry", MAX_ATTEMPTS)

    async def run_forever(self) -> None:
        """Keep sending what becomes due."""
        while True:
            try:
                handled = await self.run_once()
            except Exception as exc:
                log.error("outbox dispatcher (%s): %s", self.platform, type(exc).__name__)
                handled = 0
            if handled < self.batch:
                await asyncio.sleep(self.interval)
