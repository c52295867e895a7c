"""The web chat's outbox rows (broadcasts, reminders) wait for the person's page and go out
through the worker that holds its connection, never failing for a page that is closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import aiohttp
import pytest

from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.messages import Outgoing
from bot.outbox import OutboxDispatcher
from bot.workers import Worker
from handlers.runtime import web_dispatcher
from storage.open import open_database
from storage.outbox import enqueue_many
from storage.protocols import Database, Transaction
from tests.conftest import parametrize_backends
from tests.handlers.test_web import FAST
from tests.handlers.web_client import Page, RunningChat, running_chat


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """On SQLite and on PostgreSQL (the workers' database)."""
    parametrize_backends(metafunc)


NEWS = "The consultation closes on Friday."
SLOW = 60.0
"""The dispatchers' idle interval: a row arriving within seconds came through the nudge."""


async def broadcast(db: Database, clock: FixedClock) -> None:
    """One broadcast row to every web participant."""

    async def job(tx: Transaction) -> None:
        people = await tx.fetchall("SELECT id FROM participants WHERE platform = 'web'", ())
        text = Outgoing(text=NEWS).model_dump_json()
        rows = [(p[0], f"broadcast:news:{p[0]}", text) for p in people]
        await enqueue_many(
            tx, "broadcast", "broadcast:news", rows, clock.now(), campaign="viken-2021"
        )

    await db.transact(job)


async def row_state(db: Database) -> tuple[str, int]:
    row = await db.transact(
        lambda tx: tx.fetchone(
            "SELECT status, attempts FROM outbox WHERE batch = ?", ("broadcast:news",)
        )
    )
    assert row is not None
    return str(row[0]), int(row[1])


def news(page: Page) -> int:
    return sum(1 for m in page.messages if m["text"] == NEWS)


@asynccontextmanager
async def dispatching(dispatcher: OutboxDispatcher) -> AsyncIterator[OutboxDispatcher]:
    task = asyncio.ensure_future(dispatcher.run_forever())
    try:
        yield dispatcher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_broadcast_to_a_closed_page_waits_for_it_and_arrives_once(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    async with running_chat(engine, limits=FAST) as served, aiohttp.ClientSession() as session:
        page = Page(session, served.url, served.origin)
        await page.open()
        await page.close()
        await broadcast(db, clock)
        dispatcher = web_dispatcher(engine, served.chat, clock, interval=SLOW)
        for _round in range(8):  # past several backoffs and more than the attempts allowed
            await dispatcher.run_once()
            clock.advance(timedelta(hours=1))
        assert await row_state(db) == ("pending", 0)

        async with dispatching(dispatcher):
            await asyncio.sleep(0.2)
            again = Page(session, served.url, served.origin, token=page.token)
            await again.open(shown=True)
            await again.wait_for(lambda: news(again) > 0, timeout=5)
            await asyncio.sleep(0.3)
            assert news(again) == 1
            assert await row_state(db) == ("sent", 1)
            await again.close()


@asynccontextmanager
async def worker_chat(
    db_url: str, campaign: Campaign, clock: FixedClock, name: str
) -> AsyncIterator[tuple[RunningChat, list[str]]]:
    """One worker of its own (its pool, heartbeat, web chat and dispatcher); yields its chat
    and the user ids its dispatcher sent to."""
    async with AsyncExitStack() as stack:
        db = await open_database(db_url)
        stack.push_async_callback(db.close)
        worker = Worker(db, clock, name, heartbeat=0.1, lease=timedelta(seconds=5))
        await worker.start()
        stack.push_async_callback(worker.stop)
        engine = Engine(campaign, db, clock)
        served = await stack.enter_async_context(running_chat(engine, limits=FAST))
        sent_to: list[str] = []
        deliver = served.chat.delivery.deliver

        async def counted(ref, reply):  # type: ignore[no-untyped-def]
            result = await deliver(ref, reply)
            if reply.text == NEWS:
                sent_to.append(f"{ref.user_id}:{result.value}")
            return result

        served.chat.delivery.deliver = counted  # type: ignore[method-assign]
        dispatcher = web_dispatcher(engine, served.chat, clock, worker=worker, interval=0.05)
        dispatcher.send = counted
        await stack.enter_async_context(dispatching(dispatcher))
        yield served, sent_to


async def test_a_page_on_worker_b_gets_the_broadcast_through_b_once(
    db: Database, db_url: str, campaign: Campaign, clock: FixedClock
) -> None:
    async with (
        worker_chat(db_url, campaign, clock, "worker-a") as (a, sent_by_a),
        worker_chat(db_url, campaign, clock, "worker-b") as (b, sent_by_b),
        aiohttp.ClientSession() as session,
    ):
        page = Page(session, b.url, b.origin)
        await page.open()
        await broadcast(db, clock)
        await page.wait_for(lambda: news(page) > 0, timeout=10)
        await asyncio.sleep(0.5)  # both dispatchers go round several times more
        assert news(page) == 1
        assert sent_by_a == []
        assert [s.split(":")[1] for s in sent_by_b] == ["sent"]
        assert await row_state(db) == ("sent", 1)
        await page.close()
