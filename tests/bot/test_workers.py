"""Several workers on one database: the outbox shared with leases, the platform's rate held
across all of them, a crashed worker's rows judged and a live one's not, shared jobs done
once, a reload reaching every worker, a person's events on any worker.

Each worker here is what a ``run`` process has: its own connection pool (``open_database``),
its own ``Worker`` and dispatchers; several of them share one PostgreSQL database, as
several processes would. A crash is a worker's tasks cancelled with nothing cleaned up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import cli, service
from bot.budget import Budget, Priority
from bot.campaign import Campaign, load_campaign
from bot.clock import FixedClock, SystemClock
from bot.engine import Engine
from bot.messages import Outgoing, ParticipantRef
from bot.outbox import DeliveryResult, OutboxDispatcher
from bot.workers import Worker
from storage.campaign import campaigns_in_use
from storage.open import OpenDatabase, open_database
from storage.outbox import all_batches, batch_progress, claim_message, enqueue_many, reserve_due
from storage.participants import create_participant
from storage.protocols import Database, Transaction
from storage.workers import claim_job_run
from tests.auxil.chat import Chat
from tests.bot.test_signup import sign_up
from tests.bot.test_staff import campaign_file, edit  # noqa: F401 (a fixture)
from tests.conftest import oslo

BATCH = "broadcast:all"
FAST = {"heartbeat": 0.1, "lease": timedelta(seconds=1)}
"""A worker's heartbeat and lease in these tests: a crash is noticed within a second."""


class Platform:
    """The platform's server: who got what, and when each call came (one clock for all)."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, ref: ParticipantRef, message: Outgoing) -> DeliveryResult:
        self.calls.append((ref.user_id, time.monotonic()))
        await asyncio.sleep(self.delay)  # the call's round trip
        return DeliveryResult.SENT

    def busiest_second(self) -> int:
        """The most calls that came within any one second (a sliding window)."""
        times = sorted(t for _user, t in self.calls)
        first = best = 0
        for last, at in enumerate(times):
            while times[first] <= at - 1.0:
                first += 1
            best = max(best, last - first + 1)
        return best


async def broadcast_to(db: Database, count: int, clock: SystemClock | FixedClock) -> None:
    """``count`` people with one broadcast row each, queued at once."""
    now = clock.now()

    async def job(tx: Transaction) -> None:
        rows = []
        for i in range(count):
            person = await create_participant(tx, "test", "", f"p{i:04d}", "en", now)
            text = Outgoing(text="The consultation closes on Friday.").model_dump_json()
            rows.append((person.id, f"{BATCH}:{person.id}", text))
        await enqueue_many(tx, "broadcast", BATCH, rows, now, campaign="viken-2021")

    await db.transact(job)


class Node:
    """One worker as a process has it: a pool, a ``Worker``, an outbox dispatcher."""

    def __init__(self, db: OpenDatabase, worker: Worker, dispatcher: OutboxDispatcher) -> None:
        self.db = db
        self.worker = worker
        self.dispatcher = dispatcher
        self.task: asyncio.Task[None] | None = None
        self.crashed = False

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.dispatcher.run_forever())

    async def crash(self) -> None:
        """The process dies: its sends stop mid-way, its heartbeat stops, nothing is tidied."""
        assert self.task is not None and self.worker._task is not None
        self.task.cancel()
        self.worker._task.cancel()
        await asyncio.gather(self.task, self.worker._task, return_exceptions=True)
        self.worker._task = None
        self.crashed = True
        await self.db.close()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.worker.stop()
        await self.db.close()


@contextlib.asynccontextmanager
async def nodes(
    db_url: str, platform: Platform, count: int, rate: float, **options: object
) -> AsyncIterator[list[Node]]:
    """``count`` workers on the database, each with a dispatcher to ``platform`` for a
    rate of ``rate`` in all; registered one after the other, as processes start."""
    made: list[Node] = []
    clock = SystemClock()
    try:
        for i in range(count):
            db = await open_database(db_url)
            worker = Worker(db, clock, f"worker-{i}", **FAST)  # type: ignore[arg-type]
            await worker.start()
            dispatcher = OutboxDispatcher(
                db,
                "test",
                platform,
                clock,
                rate=rate,
                worker=worker,
                interval=0.05,
                recover_every=0.2,
                **options,  # type: ignore[arg-type]
            )
            made.append(Node(db, worker, dispatcher))
        yield made
    finally:
        for node in made:
            if not node.crashed:
                await node.stop()


async def until_done(db: Database, timeout: float = 90.0) -> dict[str, int]:
    """Wait until no row of the broadcast is pending or being sent; its counts by state."""
    deadline = time.monotonic() + timeout
    while True:
        progress = await db.transact(lambda tx: batch_progress(tx, BATCH))
        if not progress.get("pending") and not progress.get("sending"):
            return progress
        assert time.monotonic() < deadline, f"not done: {progress}"
        await asyncio.sleep(0.1)


async def in_doubt_users(db: Database) -> set[str]:
    async def job(tx: Transaction) -> set[str]:
        rows = await tx.fetchall(
            "SELECT p.user_id FROM outbox o JOIN participants p ON p.id = o.participant_id "
            "WHERE o.batch = ? AND o.status = 'in_doubt'",
            (BATCH,),
        )
        return {r[0] for r in rows}

    return await db.transact(job)


@pytest.mark.postgres_only
async def test_two_dispatchers_sharing_one_outbox_never_send_a_row_twice(
    db: Database, db_url: str
) -> None:
    await broadcast_to(db, 600, SystemClock())
    platform = Platform(delay=0.002)
    async with nodes(db_url, platform, 2, rate=2000, batch=50) as (one, two):
        two.worker.ready.set()  # no rate to share here: both at once
        one.start()
        two.start()
        progress = await until_done(db)
        sent_by = [n.worker.id for n in (one, two)]

    got = Counter(user for user, _at in platform.calls)
    assert progress == {"sent": 600}
    assert len(got) == 600 and max(got.values()) == 1  # everyone once, nobody twice
    assert sent_by[0] != sent_by[1]


async def test_recovery_judges_a_gone_workers_rows_and_never_a_live_ones(
    db: Database,
) -> None:
    clock = FixedClock(oslo(2021, 5, 25, 10, 0))
    await broadcast_to(db, 6, clock)
    live = Worker(db, clock, "live", lease=timedelta(seconds=15))
    gone = Worker(db, clock, "gone", lease=timedelta(seconds=15))
    await live.start()
    await gone.start()
    now = clock.now()
    for worker in (live, gone):  # each reserves three rows and is sending two of them
        mine = await db.transact(lambda tx, w=worker: reserve_due(tx, "test", w.id, now, 3))
        for row in mine[:2]:
            assert await db.transact(
                lambda tx, r=row.message.id, w=worker: claim_message(tx, r, now, w.id)
            )

    clock.advance(timedelta(seconds=20))  # "gone" stopped beating; "live" goes on
    await live.beat()
    newcomer = Worker(db, clock, "newcomer", lease=timedelta(seconds=15))
    await newcomer.start()
    dispatcher = OutboxDispatcher(db, "test", Platform(), clock, worker=newcomer)
    assert await dispatcher.recover() == 2  # the gone worker's two sends: in doubt

    async def states(tx: Transaction) -> dict[str, list[str | None]]:
        rows = await tx.fetchall("SELECT status, claimed_by FROM outbox ORDER BY id")
        return {s: [r[1] for r in rows if r[0] == s] for s in ("sending", "pending", "in_doubt")}

    found = await db.transact(states)
    assert found["sending"] == [live.id, live.id]  # the live worker's sends untouched
    assert sorted(found["pending"], key=str) == sorted([live.id, None], key=str)
    assert found["in_doubt"] == [None, None]  # judged, and no longer anyone's


@pytest.mark.postgres_only
async def test_the_platforms_rate_holds_across_three_dispatchers(
    db: Database, db_url: str
) -> None:
    await broadcast_to(db, 270, SystemClock())
    platform = Platform()
    async with nodes(db_url, platform, 3, rate=90) as workers:
        assert [n.worker.live for n in workers] == [1, 2, 3]
        await asyncio.sleep(0.3)  # a heartbeat or two: everyone has counted three
        assert [n.worker.live for n in workers] == [3, 3, 3]
        started = time.monotonic()
        for node in workers:
            node.start()
        progress = await until_done(db)
        elapsed = time.monotonic() - started

    got = Counter(user for user, _at in platform.calls)
    assert progress == {"sent": 270} and max(got.values()) == 1
    assert platform.busiest_second() <= 90  # the limit of all three together
    # ...and the three together use most of it (the last two joined a settle time late).
    assert elapsed < 270 / 90 + workers[2].worker.settle + 1.5


@pytest.mark.postgres_only
async def test_a_broadcast_to_2000_people_with_three_dispatchers_and_one_killed(
    db: Database, db_url: str
) -> None:
    await broadcast_to(db, 2000, SystemClock())
    platform = Platform(delay=0.05)  # a round trip: some calls are on their way at the kill
    rate = 600  # Telegram's 30 a second, twenty times over: the same rule, in seconds
    async with nodes(db_url, platform, 3, rate=rate) as (first, second, third):
        for node in (first, second, third):
            node.start()
        await third.worker.ready.wait()  # all three sending (the last two joined late)
        await asyncio.sleep(0.5)
        assert 0 < len(platform.calls) < 1500
        await second.crash()  # SIGKILL: its sends on the way, its reserved rows held
        progress = await until_done(first.db)
        doubted = await in_doubt_users(first.db)

    reached = Counter(user for user, _at in platform.calls)
    print(f"{progress}; busiest second: {platform.busiest_second()} calls")
    everyone = {f"p{i:04d}" for i in range(2000)}
    assert max(reached.values()) == 1  # no one reached twice
    assert progress["sent"] + progress.get("in_doubt", 0) == 2000
    assert progress.get("in_doubt", 0) == len(doubted) <= 64  # counted: one per slot at most
    assert everyone - set(reached) <= doubted  # no one missed but rows left in doubt
    assert platform.busiest_second() <= rate  # the global limit, across all three


async def test_reminders_are_queued_once_whichever_workers_look(
    engine: Engine, db: Database, db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    for user in ("a", "b"):
        await sign_up(Chat(engine, user))
    clock.set(oslo(2021, 6, 1, 13, 30))  # the info meeting's reminder is due
    other_db = await open_database(db_url)
    try:
        other = Engine(campaign, other_db, clock)
        queued = await asyncio.gather(
            service.remind_once(engine, clock), service.remind_once(other, clock)
        )
        clock.advance(timedelta(minutes=1))  # the next minute's look: nothing new
        queued += await asyncio.gather(
            service.remind_once(engine, clock), service.remind_once(other, clock)
        )
    finally:
        await other_db.close()
    batches = await db.transact(all_batches)
    assert batches["reminder:info-1h"] == {"pending": 2}  # a and b, once each
    rows = sum(sum(states.values()) for states in batches.values())
    assert sorted(queued) == [0, 0, 0, rows]  # one worker queued them, once


async def test_the_purge_runs_once_whichever_workers_start(
    engine: Engine,
    db: Database,
    db_url: str,
    campaign: Campaign,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for user in ("a", "b", "c"):
        await Chat(engine, user).command("start")
    clock.set(oslo(2022, 7, 1, 9, 0))  # past the retention date
    other_db = await open_database(db_url)
    try:
        other = Engine(campaign, other_db, clock)
        with caplog.at_level(logging.WARNING, logger="bot"):
            erased = await asyncio.gather(
                service.purge_now(engine, clock), service.purge_now(other, clock)
            )
    finally:
        await other_db.close()
    assert sorted(erased) == [0, 3]
    assert len([r for r in caplog.records if "erased the personal data" in r.message]) == 1

    # The daily purge: claimed by one worker a day.
    every = timedelta(days=1)
    now = clock.now()
    assert not await db.transact(lambda tx: claim_job_run(tx, "purge", now, every))
    later = now + every
    claims = [await db.transact(lambda tx: claim_job_run(tx, "purge", later, every)) for _ in "ab"]
    assert claims == [True, False]


@pytest.mark.postgres_only
async def test_a_reload_reaches_a_second_worker_without_a_pid_file(
    db: Database,
    db_url: str,
    campaign_file: Path,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    clock = FixedClock(oslo(2021, 5, 25, 10, 0))
    engines = []
    workers = []
    watches = []
    for _ in range(2):
        pool = await open_database(db_url)
        engine = Engine(load_campaign(campaign_file), pool, clock, campaign_path=campaign_file)
        worker = Worker(pool, SystemClock(), f"w{len(workers)}")  # the real time, as reload
        await worker.start()
        revision = await service.save_campaign_in_use(engine, clock)
        watches.append(service.CampaignWatch(engine, revision))
        worker.watchers.append(watches[-1].check)
        engines.append(engine)
        workers.append(worker)
    try:
        edit(campaign_file, "start = 14:00:00", "start = 13:00:00")
        # Staff reload on the first worker (its chat's "Reload the campaign file")...
        engines[0].reload_file()
        await service.save_campaign_in_use(engines[0], clock)
        await workers[1].beat()  # ...the second takes it at its next heartbeat
        assert engines[1].campaign == engines[0].campaign
        assert str(engines[1].campaign.meetings[0].start).startswith("13:00")

        # participation-bot reload, from anywhere with the database's URL: no pid file.
        edit(campaign_file, "start = 13:00:00", "start = 12:30:00")
        result = await asyncio.to_thread(
            cli.main, ["reload", "--database", db_url, "--campaign", str(campaign_file)]
        )
        assert result == 0
        for worker in workers:
            await worker.beat()
        for engine in engines:
            assert str(engine.campaign.meetings[0].start).startswith("12:30")
    finally:
        for worker, engine in zip(workers, engines, strict=True):
            await worker.stop()
            await engine.db.close()  # type: ignore[attr-defined]


async def test_two_engines_taking_one_persons_events_by_turns_lose_and_reorder_nothing(
    db: Database, db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    other_db = await open_database(db_url)
    try:
        one, two = Engine(campaign, db, clock), Engine(campaign, other_db, clock)
        chat = Chat(one, "u1")
        await chat.command("survey")
        chat.engine = two  # the load balancer sends the next update elsewhere...
        await chat.press("Resident")
        chat.engine = one  # ...and back, where an old copy of the person is in memory
        await chat.send("Asker")
        chat.engine = two
        await chat.press("Every week")
        chat.engine = one
        await chat.press("Borrow books")  # a tick: the question stays
        chat.engine = two
        await chat.press("Read or study")
        chat.engine = one
        await chat.press("Done")
        assert "What should the libraries in Viken focus on" in chat.text
    finally:
        await other_db.close()

    async def answers(tx: Transaction) -> list[str]:
        rows = await tx.fetchall(
            "SELECT question_id FROM answers ORDER BY answered_at, question_id"
        )
        return [r[0] for r in rows]

    assert await db.transact(answers) == ["category", "municipality", "use", "use_for"]

    async def ticked(tx: Transaction) -> str:
        row = await tx.fetchone("SELECT value FROM answers WHERE question_id = 'use_for'")
        return str(row[0]) if row else ""

    assert "borrow" in await db.transact(ticked) and "study" in await db.transact(ticked)


async def test_a_workers_budget_is_its_share_of_the_platforms_limit(db: Database) -> None:
    clock = FixedClock(oslo(2021, 5, 25, 10, 0))
    one, two = Worker(db, clock, "one"), Worker(db, clock, "two")
    await one.start()
    await two.start()
    await one.beat()
    budget = Budget(rate=30, per_key_interval=0, window=0.2, margin=0)
    one.divide(budget, 6)  # a platform allowing 6 calls a window to the bot
    assert budget.rate == 3

    answered: list[float] = []

    async def call(key: int) -> None:
        async with budget.call(str(key), Priority.OUTBOX):
            answered.append(time.monotonic())

    await asyncio.gather(*(call(i) for i in range(9)))
    for index in range(len(answered) - 3):  # never more than its 3 in a window
        assert answered[index + 3] - answered[index] >= 0.2

    await two.stop()  # it leaves: counted one more rate window, then gone
    await one.beat()
    assert budget.rate == 3
    clock.advance(timedelta(seconds=2))
    await one.beat()
    assert budget.rate == 6
    await one.stop()


@pytest.mark.postgres_only
async def test_a_worker_started_with_a_stale_file_serves_the_campaign_in_use_and_warns(
    db_url: str,
    campaign_file: Path,  # noqa: F811 (the fixture)
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FixedClock(oslo(2021, 5, 25, 10, 0))
    stale = tmp_path / "stale"
    stale.mkdir()
    for path in campaign_file.parent.glob("*.toml"):
        (stale / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    edit(campaign_file, "start = 14:00:00", "start = 13:00:00")  # the new file, deployed
    started: list[tuple[Worker, Engine]] = []
    try:
        for name, path in (("one", campaign_file), ("two", stale / campaign_file.name)):
            pool = await open_database(db_url)
            engine = Engine(load_campaign(path), pool, clock, campaign_path=path)
            worker = Worker(pool, SystemClock(), name)
            await worker.start()
            started.append((worker, engine))
            with caplog.at_level(logging.WARNING, logger="bot"):
                await service.campaigns_at_start(engine, clock, worker.others_at_start)
        (_one, first), (_two, second) = started
        # The second machine never got the new file: it serves the one in use, and says so.
        assert str(second.campaign.meetings[0].start).startswith("13:00")
        assert [r for r in caplog.records if "differs from the one the running" in r.message]
        stored = await first.db.read(campaigns_in_use)
        assert stored[first.campaign.id] == first.campaign.model_dump_json()
        assert str(first.campaign.meetings[0].start).startswith("13:00")

        # Alone, a worker's file is the campaign (a single bot restarted after an edit).
        for worker, engine in started:
            await worker.stop()
            await engine.db.close()  # type: ignore[attr-defined]
        started.clear()
        pool = await open_database(db_url)
        engine = Engine(load_campaign(stale / campaign_file.name), pool, clock)
        worker = Worker(pool, FixedClock(oslo(2030, 1, 1, 0, 0)), "three")  # the others gone
        await worker.start()
        started.append((worker, engine))
        with caplog.at_level(logging.WARNING, logger="bot"):
            caplog.clear()
            await service.campaigns_at_start(engine, clock, worker.others_at_start)
        assert str(engine.campaign.meetings[0].start).startswith("14:00")
        assert [r for r in caplog.records if "differs from the one in use before" in r.message]
    finally:
        for worker, engine in started:
            await worker.stop()
            await engine.db.close()  # type: ignore[attr-defined]
