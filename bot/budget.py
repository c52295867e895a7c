"""One rate budget for everything a bot sends, spent on people first.

A platform allows a bot so many calls a second in all and so many to one chat (Telegram:
30 a second in all, one a second per chat; beyond them a 429). A ``Budget`` hands out
those calls one at a time, by priority: a person's reply (``INTERACTIVE``) before an
outbox message (``OUTBOX``: broadcasts, reminders, files), before tidying up (``TIDY``:
removing an old question's buttons). The outbox thus uses what people leave and slows
down while they answer; tidying waits for a quiet moment.

The limits are kept strictly, as a platform that counts in any sliding second sees them,
however long a call takes to arrive: a call holds its place from its grant until a
``window`` (plus a small ``margin``) after its answer came back (it arrived at the
platform somewhere in between), and no more than ``rate`` places are held at once; a call
to a key may go ``per_key_interval`` (plus ``margin``) after the previous one's answer.
Among the waiters that may go now the one of the highest priority goes first, in the
order they came; a waiter whose own chat is not free yet does not hold up others.

``close`` ends it: every waiter, and whoever asks later, gets ``BudgetClosed`` (nothing
was sent; the caller leaves it for the next start).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum

from bot.errors import ParticipationBotError


class Priority(IntEnum):
    """Who goes first when calls wait (lower first)."""

    INTERACTIVE = 0
    """A reply to something a person just did."""
    OUTBOX = 1
    """A broadcast, reminder or file: uses what people leave."""
    TIDY = 2
    """Housekeeping nobody waits for (an old question's buttons removed)."""


class BudgetClosed(ParticipationBotError):
    """The budget was closed (the bot is stopping): nothing was sent."""


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    key: str = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


_prepaid: ContextVar[str | None] = ContextVar("prepaid", default=None)


class Budget:
    """Calls a second in all and per key, handed out by priority (see the module)."""

    def __init__(
        self,
        rate: float | None = 30.0,
        per_key_interval: float = 1.0,
        *,
        window: float = 1.0,
        margin: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.window = window + margin
        self.spacing = per_key_interval + margin if per_key_interval > 0 else 0.0
        self.clock = clock
        self._in_flight = 0
        self._answered: deque[float] = deque()
        """When the calls of the last window were answered, oldest first."""
        self._busy: dict[str, int] = {}
        """key -> its calls on their way."""
        self._free_at: dict[str, float] = {}
        """key -> when a call to it may go again (pruned once that has passed)."""
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self.grants: dict[Priority, int] = dict.fromkeys(Priority, 0)
        """Calls granted by priority, since the start (for the benchmark and logs)."""

    # -- asking -----------------------------------------------------------------------------

    @asynccontextmanager
    async def call(
        self, key: str, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[None]:
        """Make one call to ``key`` in the block, once the budget allows, by ``priority``.
        Raises ``BudgetClosed`` (before the block) once the budget is closed."""
        if _prepaid.get() == key:
            _prepaid.set(None)  # the caller's first call was granted already
            yield
            return
        await self._acquire(key, priority)
        try:
            yield
        finally:
            self._release(key)

    @asynccontextmanager
    async def prepaid(
        self, key: str, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[None]:
        """A call to ``key`` granted before the block; the first ``call`` for ``key`` within
        it (in this task) makes it. The outbox claims a row only once its call is granted,
        so that a claimed row never waits for the budget."""
        await self._acquire(key, priority)
        token = _prepaid.set(key)
        try:
            yield
        finally:
            _prepaid.reset(token)
            self._release(key)

    def set_rate(self, rate: float | None) -> None:
        """Hand out ``rate`` calls a window from now on (a worker's share of the platform's
        limit changes as workers come and go: ``bot.workers``)."""
        self.rate = rate
        if self._waiters:
            with contextlib.suppress(RuntimeError):  # no loop running: nobody waits
                self._pump()

    def hold(self, key: str, seconds: float) -> None:
        """The platform answered a call to ``key`` with 429 (``retry_after``): nothing more
        to ``key`` for ``seconds``. Others go on: one chat's flood is not everyone's."""
        self._free_at[key] = max(self._free_at.get(key, 0.0), self.clock() + seconds)

    def close(self) -> None:
        """Grant nothing more: waiters and later askers get ``BudgetClosed``."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(BudgetClosed())

    # -- looking ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def waiting(self, priority: Priority | None = None) -> int:
        """How many calls wait (of ``priority``, or of any)."""
        return sum(1 for w in self._waiters if priority is None or w.priority == priority)

    def backlog(self) -> float:
        """About how long people's calls waiting now take to be granted, in seconds (how
        long a new reply would wait because of others)."""
        ahead = self.waiting(Priority.INTERACTIVE)
        return ahead / self.rate * self.window if self.rate else 0.0

    # -- granting ---------------------------------------------------------------------------

    async def _acquire(self, key: str, priority: Priority) -> None:
        if self._closed:
            raise BudgetClosed
        now = self.clock()
        if not self._waiters and self._free(key, now):
            self._grant(key, priority)
            return
        future = asyncio.get_running_loop().create_future()
        waiter = _Waiter(priority, next(self._seq), key, future)
        bisect.insort(self._waiters, waiter)
        self._pump()
        try:
            await future
        except asyncio.CancelledError:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif future.done() and not future.cancelled() and future.exception() is None:
                self._release(key)  # granted, then cancelled before the call
            raise

    def _release(self, key: str) -> None:
        now = self.clock()
        self._in_flight -= 1
        if self.rate is not None:
            self._answered.append(now)
        left = self._busy.get(key, 1) - 1
        if left:
            self._busy[key] = left
        else:
            self._busy.pop(key, None)
        if self.spacing:
            self._free_at[key] = max(self._free_at.get(key, 0.0), now + self.spacing)
        if len(self._free_at) > 10_000:
            self._free_at = {k: t for k, t in self._free_at.items() if t > now}
        if self._waiters:
            self._pump()

    def _full(self, now: float) -> bool:
        """Whether ``rate`` calls hold their places already."""
        if self.rate is None:
            return False
        while self._answered and now - self._answered[0] >= self.window:
            self._answered.popleft()
        return self._in_flight + len(self._answered) >= self.rate

    def _key_free(self, key: str, now: float) -> bool:
        return key not in self._busy and self._free_at.get(key, now) <= now

    def _free(self, key: str, now: float) -> bool:
        return not self._full(now) and self._key_free(key, now)

    def _grant(self, key: str, priority: int) -> None:
        self._in_flight += 1
        self._busy[key] = self._busy.get(key, 0) + 1
        self.grants[Priority(priority)] += 1

    def _pump(self) -> None:
        """Grant what may go now, by priority; wake up when more may."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self.clock()
        for waiter in list(self._waiters):
            if waiter.future.done():  # cancelled meanwhile
                self._waiters.remove(waiter)
                continue
            if self._full(now):
                break  # nobody may go now
            if not self._key_free(waiter.key, now):
                continue  # only this chat is busy: the next may go
            self._waiters.remove(waiter)
            self._grant(waiter.key, waiter.priority)
            waiter.future.set_result(None)
        wake = self._next_change(now)
        if self._waiters and wake is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.001, wake - now), self._pump)

    def _next_change(self, now: float) -> float | None:
        """When a waiter may go next at the earliest (None: when a call is answered)."""
        if self._full(now):
            return self._answered[0] + self.window if self._answered else None
        times = [self._free_at.get(w.key, now) for w in self._waiters if w.key not in self._busy]
        return min(times) if times else None
