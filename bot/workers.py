"""Workers: several ``run`` processes on one database, each knowing how many there are.

Every ``run`` is a *worker*: it registers in the database (``storage/workers.py``) under a
fresh id and a ``name`` (``WORKER_NAME``, by default the host and port), and beats a heartbeat
every ``heartbeat`` seconds. A worker is alive while its last heartbeat is younger than
``lease``; one that stops cleanly leaves (it expires one rate window later), one that
crashes simply stops beating. A worker restarted under the same name replaces its old self at
once: nothing of the old one can still be on its way.

What depends on it:

- **Outbox leases** (``bot/outbox.py``): a row is held by the worker that reserved it
  (``outbox.claimed_by``). A crashed worker's rows are released (pending) or judged in doubt
  (being sent) only once it is no longer alive; a live worker's sends are never touched.
- **A platform's global rate limit, shared.** Each live worker takes ``rate / live`` of a
  platform's limit (Telegram's 30 a second: its replies and its outbox together, through its
  ``bot.budget.Budget``), re-read at every heartbeat. Chosen over one elected dispatcher per
  platform because every worker answers people (webhook requests come to any of them) and
  their replies count against the same limit: an elected sender would still need the
  replies' share split. It is safe while the number changes: a worker that joins sends only
  after every other worker has read the new number (``settle``: a heartbeat and a rate
  window); a worker that leaves is counted until it expires, so the others raise their
  share only afterwards. The cost: a share left unused by an idle worker is not lent to a
  busy one (the load balancer spreads people evenly, so the shares are used alike).
- **Shared jobs** (``bot/service.py``): the daily purge and the reminders run on whichever
  worker claims them first in the database (``job_runs``).
- **The campaign in use** (``bot/service.py``): every heartbeat also reads its revision, so
  a reload on any worker, or by ``participation-bot reload``, reaches every worker.
- **Telegram long polling** is one consumer: ``run`` refuses it when another worker is alive
  or ``WORKERS`` is more than 1 (``handlers/runtime.py``); with several, use the webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from bot.clock import Clock
from bot.failing import Failing
from storage.outbox import release_reserved
from storage.protocols import Database, Transaction
from storage.workers import (
    expire_worker_at,
    forget_gone_workers,
    heartbeat,
    live_workers,
    register_worker,
    unregister_worker,
)

log = logging.getLogger(__name__)

HEARTBEAT = 2.0
"""Seconds between a worker's heartbeats (and its looks at how many workers there are)."""
LEASE = timedelta(seconds=15)
"""How long a worker is alive after its last heartbeat."""
WINDOW = 1.0
"""The platforms' rate window in seconds: a worker's sends count for that long."""


class Divisible(Protocol):
    """A rate limit a worker shares with the others (``bot.budget.Budget``)."""

    def set_rate(self, rate: float | None) -> None: ...


class Worker:
    """This process as one of the workers on the database (see the module)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        name: str | None = None,
        *,
        heartbeat: float = HEARTBEAT,
        lease: timedelta = LEASE,
    ) -> None:
        self.db = db
        self.clock = clock
        self.id = uuid.uuid4().hex
        self.name = name or self.id
        self.interval = heartbeat
        self.lease = lease
        self.live = 1
        """How many workers are alive (this one included), as of the last heartbeat."""
        self.others_at_start = 0
        """How many other workers were alive when this one registered."""
        self.ready = asyncio.Event()
        """Set once this worker may send at its share (see ``settle``)."""
        self.watchers: list[Callable[[], Awaitable[object]]] = []
        """Run after each heartbeat (the campaign's revision is read so)."""
        self._shared: list[tuple[Divisible, float]] = []
        self._task: asyncio.Task[None] | None = None
        self._beaten_at = time.monotonic()

    @property
    def alive(self) -> bool:
        """Whether the others still count this worker alive for sure: its last heartbeat
        went in well within the lease. A worker cut off from the database longer claims
        nothing more (the others may release what it holds)."""
        margin = self.lease.total_seconds() - 2 * self.interval
        return time.monotonic() - self._beaten_at < max(margin, self.interval)

    @property
    def settle(self) -> float:
        """Seconds a joining worker waits before sending: every other worker has read the
        new number of workers (a heartbeat) and its sends at the old share have left the
        rate window."""
        return self.interval * 1.25 + WINDOW

    def share(self, rate: float) -> float:
        """This worker's part of a limit of ``rate`` for all workers together."""
        return rate / max(1, self.live)

    def divide(self, limit: Divisible, rate: float | None) -> None:
        """Keep ``limit`` at this worker's share of ``rate`` (None: no limit)."""
        if rate is None:
            return
        self._shared.append((limit, rate))
        limit.set_rate(self.share(rate))

    async def start(self) -> None:
        """Register, learn how many workers there are, and keep beating."""

        async def job(tx: Transaction) -> list[str]:
            now = self.clock.now()
            await forget_gone_workers(tx, now, self.lease)  # their rows are judged alike
            if await register_worker(tx, self.id, self.name, now):
                log.info("worker %s restarted: its earlier run is gone", self.name)
            return await live_workers(tx, now, self.lease)

        alive = await self.db.transact(job)
        self._beaten_at = time.monotonic()
        self.others_at_start = len([w for w in alive if w != self.id])
        self._set_live(len(alive) if self.id in alive else len(alive) + 1)
        self._task = asyncio.ensure_future(self._beat_forever())
        if self.others_at_start:
            log.info(
                "worker %s joins %d other worker(s); sending in %.1f s",
                self.name,
                self.others_at_start,
                self.settle,
            )
            asyncio.get_running_loop().call_later(self.settle, self.ready.set)
        else:
            log.info("worker %s: the only worker on this database", self.name)
            self.ready.set()

    async def stop(self) -> None:
        """Stop beating and leave. The others take this worker's share once its last sends
        are out of the rate window (its row is left to expire then)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        leave_at = self.clock.now() - self.lease + timedelta(seconds=WINDOW)
        try:
            # What it reserved and did not send is for the others now.
            await self.db.transact(lambda tx: release_reserved(tx, self.id))
            if self.live > 1:  # still counted for one rate window (its last sends)
                await self.db.transact(lambda tx: expire_worker_at(tx, self.id, leave_at))
            else:
                await self.db.transact(lambda tx: unregister_worker(tx, self.id))
        except Exception as exc:  # it expires by itself
            log.warning("worker %s did not sign off: %s", self.name, type(exc).__name__)

    async def beat(self) -> int:
        """One heartbeat: say this worker is alive, read how many are; returns that."""
        live = await self.db.transact(
            lambda tx: heartbeat(tx, self.id, self.name, self.clock.now(), self.lease)
        )
        self._beaten_at = time.monotonic()
        self._set_live(live)
        for watcher in self.watchers:
            try:
                await watcher()
            except Exception as exc:
                log.error("worker watcher failed: %s", type(exc).__name__)
        return live

    async def _beat_forever(self) -> None:
        failing = Failing("worker heartbeat")
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
                failing.worked()
            except Exception as exc:
                failing.failed(exc)

    def _set_live(self, live: int) -> None:
        live = max(1, live)
        if live != self.live:
            log.info("workers alive: %d (this one's share: 1/%d)", live, live)
        self.live = live
        for limit, rate in self._shared:
            limit.set_rate(self.share(rate))
