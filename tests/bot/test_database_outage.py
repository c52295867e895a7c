"""The database away for a while (a restart, a failover): the worker's loops live through it,
say so once each, say once that they work again, and the bot goes on (a broadcast queued
before the outage goes out after it). A PostgreSQL server of the test's own, stopped at once
as a crash would and started again on its files."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.clock import SystemClock
from bot.messages import Outgoing, ParticipantRef
from bot.outbox import DeliveryResult, OutboxDispatcher
from bot.workers import Worker
from storage.open import open_database
from tests.auxil.postgres import REQUIRED, PostgresServer, ServerUnavailable
from tests.bot.test_workers import broadcast_to

pytestmark = pytest.mark.postgres_only


async def test_the_database_away_for_a_while_is_said_once_and_its_return_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = PostgresServer()
    try:
        server.start()
    except ServerUnavailable as exc:
        if REQUIRED:
            pytest.fail(f"CI_REQUIRE_POSTGRES=1 but no PostgreSQL server could start: {exc}")
        pytest.skip(f"no PostgreSQL server could be started here: {exc}")
    clock = SystemClock()
    sent: list[ParticipantRef] = []

    async def send(ref: ParticipantRef, _reply: Outgoing) -> DeliveryResult:
        sent.append(ref)
        return DeliveryResult.SENT

    try:
        await server.create_template()
        db = await open_database(await server.fresh_database())
        worker = Worker(db, clock, "one", heartbeat=0.1)
        await worker.start()
        dispatcher = OutboxDispatcher(db, "test", send, clock, interval=0.1, worker=worker)
        running = asyncio.ensure_future(dispatcher.run_forever())
        try:
            await asyncio.sleep(0.3)
            with caplog.at_level(logging.DEBUG, logger="bot"):
                await asyncio.to_thread(server.pause)
                await asyncio.sleep(2.0)  # about twenty tries of each loop
                await asyncio.to_thread(server.resume)
                for _ in range(100):
                    back = [r for r in caplog.records if "works again" in r.message]
                    if len(back) >= 2:
                        break
                    await asyncio.sleep(0.1)
            await broadcast_to(db, 3, clock)
            dispatcher.nudge()
            for _ in range(100):
                if len(sent) == 3:
                    break
                await asyncio.sleep(0.1)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await worker.stop()
            await db.close()
    finally:
        server.stop()
    for loop in ("outbox dispatcher (test)", "worker heartbeat"):
        said = [r for r in caplog.records if r.message.startswith(loop)]
        errors = [r for r in said if r.levelno == logging.ERROR]
        again = [r for r in said if r.levelno == logging.DEBUG]
        back = [r for r in said if r.levelno == logging.WARNING]
        assert 1 <= len(errors) <= 3, [r.message for r in errors]  # one per kind of error
        assert len(again) >= 5, f"{loop}: tried {len(again)} times more"
        assert len(back) == 1 and "works again" in back[0].message, [r.message for r in said]
    assert len(sent) == 3, "the bot goes on after the database came back"
