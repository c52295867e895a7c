"""Several workers on one database send each event's replies once: a worker's unsent replies
are its own to send while it is alive (a starting worker, or one the platform redelivers the
event to, leaves them alone); once it is gone, one other worker takes them over and sends
them. The single-process default still resends its own earlier replies at start.

Each worker is what a ``run`` process has: its own connection (``open_database``), its own
``Worker`` and ``Engine`` with ``Engine.sender`` set, as ``handlers/runtime.py`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.delivery import Deliveries, DeliveryResult
from bot.engine import Engine
from bot.messages import Incoming, Kind, Outgoing, ParticipantRef
from bot.workers import Worker
from handlers.slack.sender import SlackSender
from storage.events import Sender
from storage.open import open_database
from storage.protocols import Database, Transaction
from tests.auxil.chat import Chat
from tests.fakes.slack import FakeSlack

LEASE = timedelta(seconds=15)


@asynccontextmanager
async def worker(
    name: str, db_url: str, campaign: Campaign, clock: FixedClock
) -> AsyncIterator[tuple[Worker, Engine]]:
    """One ``run`` process: its own connection, worker and engine (left without signing
    off, as after a crash, unless the test stops it)."""
    db = await open_database(db_url)
    try:
        one = Worker(db, clock, name, lease=LEASE)
        await one.start()
        engine = Engine(campaign, db, clock)
        engine.sender = Sender(one.id, one.lease)
        yield one, engine
    finally:
        await db.close()


async def senders(db: Database) -> dict[str, str | None]:
    async def job(tx: Transaction) -> dict[str, str | None]:
        rows = await tx.fetchall("SELECT event_id, sender FROM processed_events")
        return {r[0]: r[1] for r in rows}

    return await db.transact(job)


async def test_a_live_workers_unsent_replies_are_left_to_it_and_a_gone_ones_taken_once(
    db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    async with (
        worker("one", db_url, campaign, clock) as (one, first),
        worker("two", db_url, campaign, clock) as (two, second),
        worker("three", db_url, campaign, clock) as (three, third),
    ):
        chat = Chat(first, "u1")
        await chat.command("survey")
        event = chat.incoming(Kind.BUTTON, payload=chat.button("Resident").payload)
        replies = await first.handle(event)  # committed by "one", on their way from it
        assert replies
        assert (await senders(first.db))[event.scoped_event_id] == one.id

        # "one" is alive: a worker starting now, or one the event is redelivered to, leaves
        # its replies alone (sending them too would show them twice).
        assert await second.unsent_replies("test") == []
        assert await second.handle(event) == []
        assert (await senders(first.db))[event.scoped_event_id] == one.id

        clock.advance(LEASE + timedelta(seconds=5))  # "one" died without sending them
        await two.beat()
        await three.beat()
        taken = await second.unsent_replies("test")
        assert [p.event_id for p in taken] == [event.event_id]
        assert [r.text for r in taken[0].replies] == [r.text for r in replies]
        assert await third.unsent_replies("test") == []  # "two" has them now
        assert await third.handle(event) == []
        assert await second.unsent_replies("test") == []  # and takes them once
        assert (await senders(first.db))[event.scoped_event_id] == two.id


async def test_a_redelivered_event_of_a_gone_worker_is_answered_by_one_worker(
    db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    async with (
        worker("one", db_url, campaign, clock) as (_one, first),
        worker("two", db_url, campaign, clock) as (two, second),
        worker("three", db_url, campaign, clock) as (three, third),
    ):
        chat = Chat(first, "u1")
        await chat.command("survey")
        event = chat.incoming(Kind.BUTTON, payload=chat.button("Resident").payload)
        replies = await first.handle(event)
        clock.advance(LEASE + timedelta(seconds=5))
        await two.beat()
        await three.beat()
        resent = await second.handle(event)  # the platform delivers it again, to "two"
        assert [r.text for r in resent] == [r.text for r in replies]
        assert await third.handle(event) == []  # and once more, to "three"
        assert await third.unsent_replies("test") == []


async def test_a_stopped_workers_backlog_of_many_people_is_taken_over_whole(
    db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    """A worker leaving while Telegram's rate holds back thousands of replies: the one that
    takes them over finds every person of them (more than one read's worth of people)."""
    people = 620
    async with (
        worker("one", db_url, campaign, clock) as (_one, first),
        worker("two", db_url, campaign, clock) as (two, second),
    ):
        events = await asyncio.gather(
            *(first.handle(Chat(first, f"p{i}").incoming(Kind.COMMAND, command="start"))
              for i in range(people))
        )  # fmt: skip
        assert all(events)  # committed by "one", none sent yet
        clock.advance(LEASE + timedelta(seconds=5))  # "one" is gone
        await two.beat()
        taken = await second.unsent_replies("test")
        assert sorted(p.ref.user_id for p in taken) == sorted(f"p{i}" for i in range(people))
        assert all(p.replies for p in taken)
        assert await second.unsent_replies("test") == []  # taken once


class Recorder:
    """A platform that records what it was asked to send."""

    name = "test"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(
        self,
        ref: ParticipantRef,
        replies: Sequence[Outgoing],
        origin: Any | None,
        event_id: str = "",
    ) -> DeliveryResult:
        self.sent.extend((ref.user_id, r.text) for r in replies)
        return DeliveryResult.SENT

    async def deliver(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        return DeliveryResult.SENT


async def test_an_event_redelivered_while_its_killed_sender_still_seems_alive_is_answered_later(
    db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    """The worker that committed the event is killed before it sends; the platform delivers
    the event again at once, to another worker, which leaves the replies to their sender (its
    heartbeat has not expired yet) and answers the platform. That must not count them as
    sent: once the killed worker's heartbeat has expired, they are taken over and go out.
    (The several-workers test lost a person's reply so: the redelivery "sent" nothing and
    marked the event's replies sent.)"""
    async with (
        worker("one", db_url, campaign, clock) as (_one, first),
        worker("two", db_url, campaign, clock) as (two, second),
    ):
        chat = Chat(first, "u1")
        await chat.command("survey")
        event = chat.incoming(Kind.BUTTON, payload=chat.button("Resident").payload)
        replies = await first.handle(event)  # committed by "one", which is killed now
        platform = Recorder()
        deliveries = Deliveries(second, platform, retry_interval=0)
        assert await deliveries.handle(event) == []  # "one" still seems alive
        await asyncio.wait_for(deliveries.idle(), 5)
        assert platform.sent == []
        clock.advance(LEASE + timedelta(seconds=5))
        await two.beat()
        assert await deliveries.take_over() == 1
        await asyncio.wait_for(deliveries.idle(), 5)
        assert platform.sent == [("u1", r.text) for r in replies]


async def test_a_starting_worker_sends_only_the_replies_of_workers_that_are_gone(
    db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    async with (
        worker("one", db_url, campaign, clock) as (one, first),
        worker("two", db_url, campaign, clock) as (_two, second),
    ):
        live = Chat(first, "live")
        await live.command("survey")
        on_its_way = await first.handle(live.incoming(Kind.BUTTON, payload="x"))
        dead = Chat(second, "dead")
        await dead.command("survey")
        left = await second.handle(dead.incoming(Kind.BUTTON, payload="x"))
        assert on_its_way and left

        clock.advance(LEASE + timedelta(seconds=5))  # "two" died; "one" lives on
        await one.beat()
        async with worker("three", db_url, campaign, clock) as (_three, third):
            platform = Recorder()
            deliveries = Deliveries(third, platform, retry_interval=0)
            assert await deliveries.start() == 1
            await deliveries.idle()
            await deliveries.stop()
            assert platform.sent == [("dead", r.text) for r in left]
            assert await deliveries.take_over() == 0  # sent, and marked so


async def test_a_single_worker_restarted_resends_its_own_earlier_replies(
    db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    async with worker("host:8080", db_url, campaign, clock) as (_old, before):
        chat = Chat(before, "u1")
        await chat.command("survey")
        replies = await before.handle(chat.incoming(Kind.BUTTON, payload="x"))
        # the process is killed here, before sending
    async with worker("host:8080", db_url, campaign, clock) as (_new, after):
        platform = Recorder()
        deliveries = Deliveries(after, platform, retry_interval=0)
        assert await deliveries.start() == 1  # at once: the same name is this worker again
        await asyncio.wait_for(deliveries.idle(), 5)
        await deliveries.stop()
        assert platform.sent == [("u1", r.text) for r in replies]


async def test_replies_cut_off_in_the_middle_go_on_after_the_part_that_went_out(
    db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    async with worker("one", db_url, campaign, clock) as (_one, first):
        chat = Chat(first, "u1")
        chat.accept_privacy = False
        notice = await chat.command("survey")
        ok = [b.payload for row in notice[0].buttons for b in row if b.payload.endswith(":ok")]
        event = chat.incoming(Kind.BUTTON, payload=ok[0])
        replies = await first.handle(event)
        assert len(replies) >= 2  # the survey's introduction, then its first question
        # The platform sent the first and says so (more follow); the worker is killed.
        Deliveries(first, Recorder()).part_sent(chat.ref, event.event_id)
        await first.db.transact(lambda tx: tx.fetchall("SELECT 1"))  # written with the next
    clock.advance(LEASE + timedelta(seconds=5))
    async with worker("two", db_url, campaign, clock) as (_two, second):
        platform = Recorder()
        deliveries = Deliveries(second, platform, retry_interval=0)
        assert await deliveries.start() == 1
        await asyncio.wait_for(deliveries.idle(), 5)
        await deliveries.stop()
        assert platform.sent == [("u1", r.text) for r in replies[1:]]  # nothing twice
        assert await second.handle(event) == []  # a redelivery: all went out


async def test_slack_replies_cut_off_by_a_kill_go_on_after_the_part_that_went_out(
    db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    """The same through the real Slack sender against the fake Slack: the survey's
    introduction is posted, the worker is killed while its first question is on the way,
    and the worker taking over posts the question, not the introduction again."""
    async with FakeSlack() as fake:
        token = fake.add_team("T1", "Asker bibliotek")
        fake.add_user("T1", "U7", "Ola Nordmann", "en-US")
        ref = ParticipantRef(platform="slack", workspace="T1", user_id="U7")
        arrived, release = fake.hold("chat.postMessage", after=1)
        try:
            async with worker("one", db_url, campaign, clock) as (_one, first):
                event, replies = await _past_the_notice(first, ref)
                assert len(replies) >= 2  # the introduction, then the first question
                out = SlackSender(first, token=token, api_url=fake.api_url)
                out.open_session()
                sending = asyncio.ensure_future(out.send(ref, replies, None, event.event_id))
                await asyncio.wait_for(arrived.wait(), 10)  # the question is on its way
                await first.db.transact(lambda tx: tx.fetchall("SELECT 1"))  # with the next
                sending.cancel()  # killed: the question never arrives, nothing more is written
                await asyncio.gather(sending, return_exceptions=True)
                await out.close()
            assert [m.all_text for m in fake.dm("T1", "U7")] == [replies[0].text]
            clock.advance(LEASE + timedelta(seconds=5))
            async with worker("two", db_url, campaign, clock) as (_two, second):
                out = SlackSender(second, token=token, api_url=fake.api_url)
                out.open_session()
                deliveries = Deliveries(second, out, retry_interval=0)
                assert await deliveries.start() == 1
                await asyncio.wait_for(deliveries.idle(), 10)
                await deliveries.stop()
                await out.close()
            posted = [m.all_text for m in fake.dm("T1", "U7")]
            assert len(posted) == len(replies), f"posted: {posted}"  # nothing twice
            assert posted[0] == replies[0].text
            assert all(r.text.splitlines()[0] in p for r, p in zip(replies, posted, strict=True))
        finally:
            release.set()


@pytest.mark.parametrize("redelivered", [False, True], ids=["taken-over", "redelivered"])
async def test_slack_replies_posted_before_the_kill_are_not_posted_again(
    db_url: str, campaign: Campaign, clock: FixedClock, redelivered: bool
) -> None:
    """The killed worker posted every message of the reply and died before recording it:
    the worker taking over (by itself, or given the event again by Slack) reads the person's
    DM, finds them there, and posts nothing."""
    async with FakeSlack() as fake:
        token = fake.add_team("T1", "Asker bibliotek")
        fake.add_user("T1", "U7", "Ola Nordmann", "en-US")
        ref = ParticipantRef(platform="slack", workspace="T1", user_id="U7")
        async with worker("one", db_url, campaign, clock) as (_one, first):
            event, replies = await _past_the_notice(first, ref)
            out = SlackSender(first, token=token, api_url=fake.api_url)
            out.open_session()
            # Posted, every part; killed before the record of it (nothing written after).
            assert await out.send(ref, replies, None, event.event_id) == DeliveryResult.SENT
            await out.close()
        posted = fake.dm_texts("T1", "U7")
        assert len(posted) == len(replies) >= 2
        clock.advance(LEASE + timedelta(seconds=5))
        async with worker("two", db_url, campaign, clock) as (_two, second):
            out = SlackSender(second, token=token, api_url=fake.api_url)
            out.open_session()
            deliveries = Deliveries(second, out, retry_interval=0)
            if redelivered:  # Slack sends the event again, to this worker
                # (the introduction was recorded as posted, the question was not)
                assert await deliveries.handle(event) == replies[1:]
            else:  # this worker takes the gone one's replies over by itself
                assert await deliveries.start() == 1
            await asyncio.wait_for(deliveries.idle(), 10)
            await deliveries.stop()
            await out.close()
            assert await second.unsent_replies("slack") == []  # done
        assert fake.dm_texts("T1", "U7") == posted, "nothing posted twice"


async def _past_the_notice(engine: Engine, ref: ParticipantRef) -> tuple[Incoming, list[Outgoing]]:
    """A person asks for the survey and presses the privacy notice's OK: that event, and
    its committed replies (the survey's introduction, then its first question)."""
    chat = Chat(engine, ref.user_id)
    chat.ref = ref
    chat.accept_privacy = False
    notice = await chat.command("survey")
    ok = [b.payload for row in notice[0].buttons for b in row]
    event = chat.incoming(Kind.BUTTON, payload=next(p for p in ok if p.endswith(":ok")))
    return event, await engine.handle(event)
