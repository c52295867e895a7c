"""Delivering the outbox: messages decided in a transaction, sent later by a platform.

A dispatcher per platform takes due rows oldest first, hands each to the platform's send
function, and records what happened: sent, unreachable (blocked: never again), or a passing
failure (tried again later, with backoff, a few times, then failed). Every row ends sent,
failed, unreachable, or in doubt (a crash while it was on its way): never sent twice.

Any number of dispatchers, in any number of workers (``bot/workers.py``), share one outbox
through leases: a dispatcher reserves a few due rows for its worker (``claimed_by``; on
PostgreSQL ``FOR UPDATE SKIP LOCKED``, so dispatchers reserving at once take different rows
without waiting for each other), claims each ('sending') just before its send, and marks it
after. Recovery, at start and every ``recover_every`` seconds, touches only rows whose
worker is gone (its heartbeat expired, or a dispatcher with no registered worker): their
'sending' rows become 'in doubt', their reserved rows free again. A live worker's sends are
never judged. The platform's rate is this worker's share (``Worker.share``); a worker that
lost touch with the database (``Worker.alive`` false) claims nothing more.

A dispatcher given ``recipients`` (the web chat's: the people whose page is connected to its
worker) reserves only those people's rows; the others' wait, pending and without using up
attempts, for the worker their page connects to, whose dispatcher is then nudged (``nudge``).

Some kinds of row hold a request rather than the message (a results file staff asked for):
the dispatcher's ``prepare`` for that kind makes the message, before the row is claimed, so a
crash while a file is being made leaves the row pending, to be made and sent once later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import timedelta
from functools import partial

from aiolimiter import AsyncLimiter

from bot.broadcast import queue_summaries
from bot.budget import Budget, BudgetClosed, Priority
from bot.clock import Clock
from bot.delivery import DeliveryResult
from bot.failing import Failing
from bot.messages import Outgoing, ParticipantRef
from bot.workers import LEASE, Worker
from storage.outbox import (
    claim_message,
    mark_message_in_doubt,
    mark_message_sent,
    mark_message_unreachable,
    recover_abandoned,
    release_message,
    reserve_due,
    retry_message_later,
)
from storage.protocols import Database, Transaction
from storage.records import Delivery, OutboxRecord

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


Send = Callable[[ParticipantRef, Outgoing], Awaitable[DeliveryResult]]
Prepare = Callable[[str], Awaitable[Outgoing]]
"""Makes the message of a row of some kind from what the row holds (a request)."""


class OutboxDispatcher:
    """Sends one platform's due outbox rows at the platform's rate, forever or once.

    Every row is claimed ('sending') in a committed transaction before its send and marked
    after it, so a row is never sent twice by itself: rows a crash left 'sending' become
    'in doubt' at the next start (``recover``) for staff to judge. Sends keep to ``rate`` a
    second in all (never more in any second, paced by aiolimiter and held strictly by a
    window ``Budget`` whatever the claim's round trip) and ``per_chat`` a second to each
    person, with up to ``concurrency`` on the way at once, so a round trip of tens of
    milliseconds does not slow the rate.

    Given a ``budget`` (``bot.budget.Budget``, shared with the platform's replies), it
    spends that instead, at the outbox's priority: it uses what people leave, and slows
    down while they answer. A row is claimed only once its call is granted (never waiting
    for the budget while claimed), and the send takes that call (``Budget.prepaid``).
    """

    def __init__(
        self,
        db: Database,
        platform: str,
        send: Send,
        clock: Clock,
        *,
        rate: float = 30.0,
        per_chat: float = 1.0,
        concurrency: int = 64,
        interval: float = 1.0,
        batch: int = 500,
        prepare: Mapping[str, Prepare] | None = None,
        budget: Budget | None = None,
        worker: Worker | None = None,
        recover_every: float = 10.0,
        recipients: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self.db = db
        self.platform = platform
        self.send = send
        self.prepare = dict(prepare or {})
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.budget = budget
        self.worker = worker
        self.worker_id = worker.id if worker is not None else uuid.uuid4().hex
        """Whose rows this dispatcher's are (a dispatcher with no worker: its own, never
        counted alive by another's recovery, as one process alone)."""
        self.rate = rate
        self.recover_every = recover_every
        self._live = 1
        self._limiter = self._make_limiter(rate)
        # The limiter paces the grants; the claim's round trip to the database between a
        # grant and its send varies, and could bunch sends up beyond the rate in some
        # second. A window budget holds each grant's place until a second after its send's
        # answer: however the sends shift, no second holds more than the rate.
        self._window = Budget(rate, per_key_interval=0)
        self._per_chat = per_chat
        self._chat_limiters: OrderedDict[str, AsyncLimiter] = OrderedDict()
        self._slots = asyncio.Semaphore(concurrency)
        self._reserved = batch
        self.recipients = recipients
        """Only these people's rows (their user ids), asked before each round; None: all."""
        self._nudged = asyncio.Event()

    def nudge(self) -> None:
        """Look for due rows now rather than after the interval (a person's page connected)."""
        self._nudged.set()

    @staticmethod
    def _make_limiter(rate: float) -> AsyncLimiter:
        # Paced just under the limit, so that no second, however it is cut, holds more than
        # the limit, also on a platform that counts strictly: a bucket of one at low rates
        # (1 + 0.99 * 30 < 31), of two from 100/s (2 + 0.98 * rate <= rate), where timers
        # lag enough to cost a bucket of one some 10% of the rate.
        burst = 2 if rate >= 100 else 1
        return AsyncLimiter(burst, burst / (rate * (0.98 if burst == 2 else 0.99)))

    def _limits(self) -> int:
        """Follow this worker's share of the rate; return how many rows to reserve at once
        (what the share sends in a couple of seconds: the rest stays for the others)."""
        if self.worker is None:
            return self.batch
        live = self.worker.live
        if live != self._live:
            self._live = live
            self._limiter = self._make_limiter(self.worker.share(self.rate))
            self._window.set_rate(self.worker.share(self.rate))
        return min(self.batch, max(10, math.ceil(self.worker.share(self.rate) * 2)))

    async def recover(self) -> int:
        """Rows held by a worker that is gone (a crash): those being sent become 'in doubt',
        those reserved free again; returns how many became 'in doubt'. At start and every
        ``recover_every`` seconds; never a live worker's rows, nor this one's."""
        lease = self.worker.lease if self.worker is not None else LEASE
        alive_since = self.clock.now() - lease
        count = await self.db.transact(
            lambda tx: recover_abandoned(tx, self.platform, alive_since, self.worker_id)
        )
        if count:
            log.warning("%d outbox rows were being sent by a worker that stopped: in doubt", count)
        await self._summarise()
        return count

    def _chat_limiter(self, user_id: str) -> AsyncLimiter:
        limiter = self._chat_limiters.pop(user_id, None) or AsyncLimiter(1, 1 / self._per_chat)
        self._chat_limiters[user_id] = limiter
        if len(self._chat_limiters) > 10_000:
            self._chat_limiters.popitem(last=False)
        return limiter

    async def run_once(self) -> int:
        """Send what is due now; return how many rows were handled."""
        if self.worker is not None and not self.worker.alive:
            return 0  # out of touch with the database: others may hold our rows by now
        limit = self._limits()
        now = self.clock.now()
        users = None if self.recipients is None else list(self.recipients())
        due = (
            await self.db.transact(
                lambda tx: reserve_due(tx, self.platform, self.worker_id, now, limit, users)
            )
            if users != []  # nobody to send to from here: the rows wait for their people
            else []
        )
        await asyncio.gather(*(self._deliver(d) for d in due))
        await self._summarise()
        self._reserved = limit
        return len(due)

    async def _summarise(self) -> None:
        """Queue the summary of every broadcast that has nothing left to send. Checked after
        each round rather than when a row is marked, so a broadcast finished by a crash
        (its last rows in doubt) gets its summary too; the summary's key makes it once."""
        now = self.clock.now()
        await self.db.transact(lambda tx: queue_summaries(tx, now))

    async def _deliver(self, delivery: Delivery) -> None:
        row = delivery.message
        ref = ParticipantRef(
            platform=delivery.platform, workspace=delivery.workspace, user_id=delivery.user_id
        )
        prepare = self.prepare.get(row.kind)
        try:
            # Before the claim and outside the limits: making a file takes a while, and a
            # crash meanwhile must leave the row pending, not in doubt.
            message = await (prepare or _stored)(row.message)
        except Exception as exc:
            log.warning("outbox row %s not prepared: %s", row.id, type(exc).__name__)
            await self.db.transact(partial(self._record, row=row, result=DeliveryResult.RETRY))
            return
        async with self._slots:
            if self.budget is not None:
                try:
                    async with self.budget.prepaid(delivery.user_id, Priority.OUTBOX):
                        result = await self._claim_and_send(row, ref, message)
                except BudgetClosed:
                    return  # stopping: the row stays pending
            else:
                async with (
                    self._chat_limiter(delivery.user_id),
                    self._limiter,
                    self._window.call(delivery.user_id, Priority.OUTBOX),
                ):
                    result = await self._claim_and_send(row, ref, message)
            # Within the slot: no more rows are 'sending' at once than there are slots.
            if result is not None:
                await self.db.transact(partial(self._record, row=row, result=result))

    async def _claim_and_send(
        self, row: OutboxRecord, ref: ParticipantRef, message: Outgoing
    ) -> DeliveryResult | None:
        """Claim the row and send it; None when it was claimed by another meanwhile."""
        claimed_at = self.clock.now()
        if self.worker is not None and not self.worker.alive:
            return None  # cut off: the row may be released to another worker meanwhile
        if not await self.db.transact(
            lambda tx: claim_message(tx, row.id, claimed_at, self.worker_id)
        ):
            return None
        try:
            return await self.send(ref, message)
        except Exception as exc:  # a bug or an unexpected answer: try again later
            log.warning("outbox row %s failed: %s", row.id, type(exc).__name__)
            return DeliveryResult.RETRY

    async def _record(self, tx: Transaction, row: OutboxRecord, result: DeliveryResult) -> None:
        if result is DeliveryResult.SENT:
            mark_message_sent(tx, row.id, self.clock.now())
        elif result is DeliveryResult.UNREACHABLE:
            await mark_message_unreachable(tx, row.id, "unreachable")
        elif result is DeliveryResult.REFUSED:  # never accepted: as final as unreachable
            await mark_message_unreachable(tx, row.id, "refused")
        elif result is DeliveryResult.IN_DOUBT:
            await mark_message_in_doubt(tx, row.id)
        elif result is DeliveryResult.ABSENT:  # nothing went out; waits for the person
            await release_message(tx, row.id)
        else:
            later = self.clock.now() + timedelta(seconds=30 * 2**row.attempts)
            await retry_message_later(tx, row.id, later, "retry", MAX_ATTEMPTS)

    async def run_forever(self) -> None:
        """Recover, then keep sending what becomes due (a joining worker first waits until
        the others have made room for its share), recovering now and then."""
        await self.recover()
        if self.worker is not None:
            await self.worker.ready.wait()
        loop = asyncio.get_running_loop()
        recovered_at = loop.time()
        failing = Failing(f"outbox dispatcher ({self.platform})")
        while True:
            try:
                if loop.time() - recovered_at >= self.recover_every:
                    recovered_at = loop.time()
                    await self.recover()
                handled = await self.run_once()
                failing.worked()
            except Exception as exc:
                failing.failed(exc)
                handled = 0
            if handled < self._reserved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudged.wait(), self.interval)
            self._nudged.clear()


async def _stored(message: str) -> Outgoing:
    """The message as the row holds it (most kinds)."""
    return Outgoing.model_validate_json(message)
