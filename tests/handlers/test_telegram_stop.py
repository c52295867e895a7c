"""The shipped bot (``python -m handlers run``) stopped with SIGTERM while many replies wait
for Telegram's limits: it stops within seconds, and the unsent replies go out at the next
start, each once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from bot.arguments import arguments
from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.registry import Campaigns
from bot.settings import Settings
from handlers import runtime
from tests.fakes.telegram import FakeTelegram
from tests.handlers.conftest import telegram_handler
from tests.handlers.test_telegram_crash import start_bot


async def test_sigterm_with_a_backlog_stops_promptly_and_the_rest_goes_out_at_the_next_start(
    tmp_path: Path,
) -> None:
    fake = FakeTelegram.limited()
    await fake.start()
    database = tmp_path / "bot.sqlite3"
    people = [5000 + i for i in range(240)]  # eight seconds of replies at Telegram's limit
    bot = await start_bot(fake, database)
    try:
        await fake.wait_until(lambda: "" in fake.commands, timeout=30, what="the bot started")
        updates = [fake.send_text(person, "/start") for person in people]
        await fake.wait_until(lambda: fake.confirmed_offset > updates[-1], timeout=30)
        await asyncio.sleep(0.5)
        answered = sum(1 for person in people if fake.sent[person])
        assert answered < len(people) // 2  # a backlog: most replies still wait

        asked = time.monotonic()
        bot.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.wait(), timeout=10)
        assert time.monotonic() - asked < 4.0
        left = [person for person in people if not fake.sent[person]]
        assert len(left) > len(people) // 3  # not drained at the capped rate first

        bot = await start_bot(fake, database)
        await fake.wait_until(
            lambda: all(fake.sent[person] for person in people), timeout=60, what="the rest"
        )
        await asyncio.sleep(1.5)
        assert all(len(fake.sent[person]) == 1 for person in people)  # each once
        assert "Hello!" in fake.last(left[0]).text
        assert fake.throttled == 0
    finally:
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
            await bot.wait()
        await fake.stop()


async def test_sigterm_with_the_web_chat_beside_lets_telegram_stop_before_the_database_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, campaign: Campaign, clock: FixedClock
) -> None:
    """``run`` (Telegram and the web chat) cancelled as SIGTERM does, in this process: the
    web chat stops at once, and Telegram's stop still runs to its end before the database
    closes. Nothing goes out after ``run`` returned, and every reply Telegram got is
    recorded sent: one sent with nobody left to record it would go again at the next start."""
    fake = FakeTelegram.limited()
    await fake.start()
    for name in ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "DATABASE_URL", "WORKER_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake.token)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.base_url)
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("WEB_CHAT", "true")
    database = str(tmp_path / "bot.sqlite3")
    args = arguments().parse_args(["run", "--database", database])
    run = runtime.serve(args, Settings(), Campaigns.single(campaign), clock, database)
    serving = asyncio.ensure_future(run)
    people = [7000 + i for i in range(120)]  # four seconds of replies at Telegram's limit
    try:
        await fake.wait_until(lambda: "" in fake.commands, timeout=30, what="the bot started")
        updates = [fake.send_text(person, "/start") for person in people]
        await fake.wait_until(lambda: fake.confirmed_offset > updates[-1], timeout=30)

        serving.cancel()  # what SIGTERM does (``bot.cli._until_stopped``)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(serving, timeout=10)
        answered = {person for person in people if fake.sent[person]}
        await asyncio.sleep(1.5)
        assert {person for person in people if fake.sent[person]} == answered  # none after
        assert len(answered) < len(people)  # a backlog was left for the next start
        with closing(sqlite3.connect(database)) as conn:
            marked = {
                int(row[0])
                for row in conn.execute(
                    "SELECT p.user_id FROM processed_events e JOIN participants p "
                    "ON p.id = e.participant_id WHERE e.replies_sent = 1"
                )
            }
        assert marked == answered  # each reply that went out is known to have gone
    finally:
        if not serving.done():
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
        await fake.stop()


async def test_a_reply_on_its_way_when_the_grace_is_over_is_not_cut_off_and_counts_as_sent(
    engine: Engine,
) -> None:
    """The stop's grace ends while a reply's request is out (Telegram answers slowly): the
    request is not cancelled on its way (it may arrive, unrecorded, and go again at the next
    start): its answer is awaited, and the reply is recorded sent."""
    fake = FakeTelegram()
    await fake.start()
    handler = telegram_handler(engine, fake)
    await handler.start()
    polling = asyncio.ensure_future(handler.poll())
    try:
        fake.latency = 1.0
        fake.send_text(8000, "/start")
        await fake.wait_until(
            lambda: any(method == "sendMessage" for method, _params in fake.calls), timeout=30
        )
        polling.cancel()  # as ``serve`` stops: no more updates, then the handler's stop
        await asyncio.gather(polling, return_exceptions=True)
        await handler.stop(grace=0.2)
        assert len(fake.sent[8000]) == 1
        assert await engine.unsent_replies("telegram") == []
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await fake.stop()
