"""The shipped bot (``python -m handlers run``) stopped with SIGTERM while many replies wait
for Telegram's limits: it stops within seconds, and the unsent replies go out at the next
start, each once."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from tests.fakes.telegram import FakeTelegram
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
