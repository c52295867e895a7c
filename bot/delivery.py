"""The contract between the engine and a platform, and the one piece that delivers replies.

A platform (console, Telegram, Slack, the web chat) is one implementation of ``Platform``:
it turns its events into ``Incoming``, and it can send a person's replies and one outbox
message, saying what happened (``DeliveryResult``). Everything else about delivery is here,
the same for every platform, in ``Deliveries``:

- per-person order: a person's replies go out in the order of their events, and nobody
  waits for anyone else;
- the sent/failed bookkeeping: replies are kept with their event in the committing
  transaction (see ``Engine.handle``); they are marked sent once the platform sent them;
- the start-up resend of replies a previous process committed and never sent; with several
  workers on one database, only a gone worker's, taken over at once so that one worker
  sends them (at start and every ``TAKE_OVER_INTERVAL`` seconds): a live worker's replies
  are that worker's to send;
- the periodic retry of replies whose sending failed in this process (a platform that
  confirmed the event does not deliver it again: Telegram after the getUpdates offset or
  the webhook's 200, Slack after its acknowledgement);
- marking a person unreachable when the platform says they blocked the bot.

When a reply counts as sent (``DeliveryResult``):

- ``SENT``: the platform accepted it. Never again.
- ``IN_DOUBT``: it may have arrived (a timeout after the request left, a part went out):
  never sent again by itself, as sending could double it. Counted and logged.
- ``REFUSED``: the platform will never accept this message: never again.
- ``UNREACHABLE``: the person blocked the bot: never again, and the person is marked
  unreachable, so nothing more is sent to them until they write again.
- ``RETRY``: it surely did not arrive: tried again later (interactive replies every
  ``RETRY_INTERVAL`` seconds while this process runs, and at the next start; outbox rows
  with the outbox's backoff).
- ``ABSENT`` (outbox rows only): nothing went out, the person cannot be reached from this
  worker now (no web page of theirs connected here): the row is pending again, no attempt
  counted, for the worker their page connects to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from bot.failing import Failing
from bot.messages import Incoming, Outgoing, ParticipantRef
from bot.metrics import METRICS

if TYPE_CHECKING:
    from bot.engine import Engine

log = logging.getLogger(__name__)

RETRY_INTERVAL = 30.0
"""Seconds between tries of replies that could not be sent."""
TAKE_OVER_INTERVAL = 5.0
"""Seconds between looks for the unsent replies of workers that are gone (several workers)."""
FAILED_MAX = 100_000
"""Events with failed replies remembered at most (the oldest are left to the next start)."""


@dataclass(frozen=True)
class PendingReplies:
    """Replies of a committed event that have not gone out yet."""

    ref: ParticipantRef
    event_id: str
    replies: list[Outgoing]


class DeliveryResult(StrEnum):
    """What a platform says happened to a send."""

    SENT = "sent"
    UNREACHABLE = "unreachable"
    """The person blocked the bot (or left the workspace): never again."""
    REFUSED = "refused"
    """The platform will never accept this message (sending it again fails again)."""
    RETRY = "retry"
    """It surely did not arrive: try again later."""
    IN_DOUBT = "in_doubt"
    """It may have arrived (the answer was lost): never sent again by itself."""
    ABSENT = "absent"
    """Nothing went out: the person is not reachable from here now (their web page is closed,
    or connected to another worker). An outbox row waits for them, no attempt counted."""


class Platform(Protocol):
    """What a platform implements for the engine (see the module's docstring)."""

    name: str
    """The platform's name in ``ParticipantRef.platform`` ("telegram", "slack"...)."""

    async def send(
        self,
        ref: ParticipantRef,
        replies: Sequence[Outgoing],
        origin: Any | None,
        event_id: str = "",
    ) -> DeliveryResult:
        """Send a person's replies to one event, in order. ``origin`` is what the platform
        knew of the event when it came (the pressed message, a trigger id), or None for a
        resend, where nothing of it is left; ``event_id`` is the event's (a platform that
        shows a reply twice after a resend can tell it by it). ``SENT`` once all went out;
        ``IN_DOUBT`` when some did, or may have."""
        ...

    async def deliver(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """Send one outbox message (a broadcast, a reminder, a results file)."""
        ...


@runtime_checkable
class ShowsHistory(Protocol):
    """A platform that can read what the person already has (Slack's DM history): replies a
    worker posted in its last moment, before it could record them sent, are then not
    posted again by the one taking them over."""

    async def already_shown(self, ref: ParticipantRef, replies: Sequence[Outgoing]) -> int:
        """How many of ``replies``, from the first, are the app's latest messages to the
        person (0 when it cannot tell)."""
        ...


class Deliveries:
    """Delivers one platform's replies: per-person order, bookkeeping, resends, retries.

    A platform's handler calls ``handle`` for each event (it returns once the event is
    committed, with the replies, which go out after it in the person's order), ``start``
    before its first event and ``stop`` after its last. ``deliver`` is the send function
    of the platform's outbox dispatcher.
    """

    def __init__(
        self,
        engine: Engine,
        platform: Platform,
        *,
        retry_interval: float = RETRY_INTERVAL,
        resend_at_start: bool = True,
    ) -> None:
        self.engine = engine
        self.platform = platform
        self.retry_interval = retry_interval
        """Seconds between tries of failed replies (0: never; see ``resend_to``)."""
        self.resend_at_start = resend_at_start
        """False for a platform that reaches a person only while they are connected (the
        web chat): their replies wait for ``resend_to`` when they come back."""
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failed: dict[str, tuple[ParticipantRef, str]] = {}
        """Scoped event id -> (person, event id) of replies whose sending failed."""
        self._retrying: asyncio.Task[None] | None = None
        self._taking_over: asyncio.Task[None] | None = None
        self.counts: dict[DeliveryResult, int] = dict.fromkeys(DeliveryResult, 0)
        """Interactive sends by outcome, since the start (for logs and metrics)."""

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> int:
        """Queue the replies a previous process committed and never sent (it died, or it
        stopped before they could go out), each after whatever this person is sent, and
        retry failed ones periodically. Returns at once, with how many events' replies are
        queued: they go out as the platform's budget allows, with the new events' replies
        in each person's order, so a backlog does not hold up the start. (A platform that
        reaches people only while they are connected sends theirs when they come back:
        ``resend_at_start`` False.)"""
        pending = await self.take_over() if self.resend_at_start else 0
        if self._retrying is None and self.retry_interval > 0:
            self._retrying = asyncio.ensure_future(self._retry_forever())
        several = self.engine.sender is not None and self.resend_at_start
        if self._taking_over is None and several:
            self._taking_over = asyncio.ensure_future(self._take_over_forever())
        return pending

    async def take_over(self) -> int:
        """Queue the unsent replies nobody is sending (of a process that died or stopped;
        with several workers, of a worker that is gone), each after whatever this person is
        sent; returns how many events' replies."""
        pending = await self.engine.unsent_replies(self.platform.name)
        for one in pending:
            self.in_turn(one.ref, self._resend(one))
        return len(pending)

    async def _not_shown(
        self, ref: ParticipantRef, replies: Sequence[Outgoing], event_id: str
    ) -> Sequence[Outgoing]:
        """Of taken-over replies, those the person does not have yet (where the platform
        can tell: ``ShowsHistory``); the ones found are recorded as sent."""
        if not isinstance(self.platform, ShowsHistory):
            return replies
        shown = await self.platform.already_shown(ref, replies)
        for _part in range(shown if shown < len(replies) else 0):  # a crash: not them again
            self.part_sent(ref, event_id)
        if shown:
            log.info("%d of a taken-over reply's messages were out already", shown)
        return replies[shown:]

    def _resend(self, pending: PendingReplies) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            replies = await self._not_shown(pending.ref, pending.replies, pending.event_id)
            if not replies:
                await self.engine.confirm_pending(pending)
                return
            result = await self._send(pending.ref, replies, None, pending.event_id)
            if result is DeliveryResult.RETRY:
                self._remember_failed(pending.ref, pending.event_id)
            else:
                await self.engine.confirm_pending(pending)

        return run

    async def stop(self) -> None:
        """Stop retrying; wait for what is being sent now."""
        for task in (self._retrying, self._taking_over):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._retrying = self._taking_over = None
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- an event's replies ---------------------------------------------------------------

    async def handle(self, incoming: Incoming, origin: Any | None = None) -> list[Outgoing]:
        """Hand ``incoming`` to the engine; once it is committed, queue its replies for the
        person and return them (they go out after, in order)."""
        replies = await self.commit(incoming)
        self.submit(incoming, replies, origin)
        return replies

    async def commit(self, incoming: Incoming) -> list[Outgoing]:
        """Hand ``incoming`` to the engine and return its committed replies without sending
        them: the caller then ``submit``s them or says they were ``answered``."""
        started = time.perf_counter()
        replies = await self.engine.handle(incoming)
        METRICS.turn_seconds.labels(self.platform.name).observe(time.perf_counter() - started)
        METRICS.events.labels(self.platform.name).inc()
        return replies

    def submit(self, incoming: Incoming, replies: list[Outgoing], origin: Any | None) -> None:
        """Send committed replies after whatever this person is still being sent. None: a
        redelivered event whose replies went out, or are another sender's (a worker that may
        have died; they are taken over once its heartbeat expired), or an event with nothing
        to answer: nothing to send, and nothing to mark sent."""
        if not replies:
            return
        resending = self.engine.resending(incoming.scoped_event_id)

        async def deliver() -> None:
            unshown: Sequence[Outgoing] = replies
            if resending:  # a gone sender's, redelivered: perhaps posted already
                unshown = await self._not_shown(incoming.ref, replies, incoming.event_id)
            result = DeliveryResult.SENT
            if unshown:
                result = await self._send(incoming.ref, unshown, origin, incoming.event_id)
            if result is DeliveryResult.RETRY:
                self._remember_failed(incoming.ref, incoming.event_id)
                self.engine.replies_failed(incoming)
                METRICS.replies_failed.labels(self.platform.name).inc()
            else:
                self.engine.replies_sent(incoming)

        self.in_turn(incoming.ref, deliver)

    def part_sent(self, ref: ParticipantRef, event_id: str) -> None:
        """A platform sent one more of an event's replies, and more follow: whoever sends
        the rest after a crash starts after it."""
        if event_id:
            self.engine.part_sent(ref.scoped(event_id))

    def answered(self, incoming: Incoming) -> None:
        """The replies were shown with the platform's answer to the request itself (a form
        sent back with its errors): nothing more to send."""
        self.engine.replies_sent(incoming)

    def in_turn(self, ref: ParticipantRef, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` after whatever this person is still being sent; nobody else waits."""
        before = self._tails.get(ref.key)

        async def run() -> None:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)
            try:
                await job()
            finally:
                if self._tails.get(ref.key) is task:
                    del self._tails[ref.key]

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._tails[ref.key] = task

    async def idle(self) -> None:
        """Wait until nothing is being sent (tests, and a platform stopping). Cancelling
        the wait (a stop's grace is over) leaves the sends be: one cancelled while its
        request was out may have arrived, and would not be recorded sent."""
        while self._tasks:
            done, _pending = await asyncio.wait(list(self._tasks))
            for task in done:  # retrieved, as a gather would
                if not task.cancelled():
                    task.exception()

    async def settled(self, ref: ParticipantRef) -> None:
        """Wait until everything queued for this person so far was sent (or failed)."""
        tail = self._tails.get(ref.key)
        if tail is not None:
            await asyncio.gather(tail, return_exceptions=True)

    async def _send(
        self,
        ref: ParticipantRef,
        replies: Sequence[Outgoing],
        origin: Any | None,
        event_id: str,
    ) -> DeliveryResult:
        try:
            result = await self.platform.send(ref, replies, origin, event_id)
        except Exception as exc:  # a bug or an unexpected answer: try again later
            log.warning("sending replies (%s) failed: %s", self.platform.name, type(exc).__name__)
            log.debug("send failure details", exc_info=True)
            result = DeliveryResult.RETRY
        self.counts[result] += 1
        METRICS.sends.labels(self.platform.name, "reply", result.value).inc()
        if result is DeliveryResult.UNREACHABLE:
            await self.engine.mark_unreachable(ref)
        elif result is DeliveryResult.IN_DOUBT:
            log.warning("replies (%s) may have gone out in part: not sent again", ref.platform)
        return result

    # -- retrying -------------------------------------------------------------------------

    def _remember_failed(self, ref: ParticipantRef, event_id: str) -> None:
        self._failed[ref.scoped(event_id)] = (ref, event_id)
        while len(self._failed) > FAILED_MAX:
            self._failed.pop(next(iter(self._failed)))

    async def retry_failed(self) -> int:
        """Send again, in each person's order, the replies whose sending failed since;
        returns how many events' replies went out. Replies that fail again are kept for
        the next try."""
        if not self._failed:
            return 0
        chosen = list(self._failed.values())
        self._failed.clear()
        found = await self.engine.pending_replies(chosen)
        done = asyncio.Event()
        outcomes: list[bool] = []
        left = len(found)
        if not left:
            return 0

        def job(pending: PendingReplies) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                nonlocal left
                try:
                    result = await self._send(pending.ref, pending.replies, None, pending.event_id)
                    if result is DeliveryResult.RETRY:
                        self._remember_failed(pending.ref, pending.event_id)
                        outcomes.append(False)
                    else:
                        await self.engine.confirm_pending(pending)
                        outcomes.append(True)
                finally:
                    left -= 1
                    if left == 0:
                        done.set()

            return run

        for pending in found:
            self.in_turn(pending.ref, job(pending))
        await done.wait()
        return sum(outcomes)

    async def resend_to(self, ref: ParticipantRef) -> int:
        """Send, in order, this person's replies that have not gone out (they came back: a
        web page reconnected); returns how many events' replies went out."""
        done = asyncio.Event()
        sent = 0

        async def run() -> None:
            nonlocal sent
            try:
                for pending in await self.engine.unsent_replies_of(ref):
                    result = await self._send(pending.ref, pending.replies, None, pending.event_id)
                    if result is DeliveryResult.RETRY:
                        return
                    await self.engine.confirm_pending(pending)
                    sent += 1
            finally:
                done.set()

        self.in_turn(ref, run)
        await done.wait()
        return sent

    async def _retry_forever(self) -> None:
        failing = Failing(f"retrying failed replies ({self.platform.name})")
        while True:
            await asyncio.sleep(self.retry_interval)
            try:
                await self.retry_failed()
                failing.worked()
            except Exception as exc:  # noqa: BLE001 - the loop must live on
                failing.failed(exc)

    async def _take_over_forever(self) -> None:
        failing = Failing(f"taking over unsent replies ({self.platform.name})")
        while True:
            await asyncio.sleep(TAKE_OVER_INTERVAL)
            try:
                await self.take_over()
                failing.worked()
            except Exception as exc:  # noqa: BLE001 - the loop must live on
                failing.failed(exc)

    # -- the outbox -----------------------------------------------------------------------

    async def deliver(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """Send one outbox row's message (the dispatcher's send function)."""
        result = await self.platform.deliver(ref, reply)
        METRICS.sends.labels(self.platform.name, "outbox", result.value).inc()
        if result is DeliveryResult.UNREACHABLE:
            await self.engine.mark_unreachable(ref)
        return result
