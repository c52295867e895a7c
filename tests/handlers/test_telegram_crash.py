"""The bot process killed (SIGKILL) mid-survey and started again: nothing confirmed is lost."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path

from tests.fakes.telegram import FakeTelegram
from tests.handlers.conftest import TelegramUser


async def start_bot(fake: FakeTelegram, database: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_PATH=str(database),
        LOG_LEVEL="WARNING",
        PORT="0",  # the web chat on a free port
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handlers",
        "run",
        "--now",
        "2021-05-25T10:00",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
    )


def stored_answers(database: Path) -> dict[str, object]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT a.question_id, a.value FROM answers a JOIN responses r ON r.id = a.response_id"
        ).fetchall()
    return {q: (None if v is None else json.loads(v)) for q, v in rows}


async def test_killed_mid_survey_the_person_continues_and_no_confirmed_answer_is_missing(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    database = tmp_path / "bot.sqlite3"
    fake = fake_telegram
    fake.settle_quiet = 1.2  # the shipped bot paces each chat at one call a second
    user = TelegramUser(fake, 7)
    bot = await start_bot(fake, database)
    try:
        await user.say("/start survey")
        await user.press("Resident")
        await user.say("Moss")
        confirmed_before_kill = {"category": "resident", "municipality": "Moss"}

        # Press, then kill the process a moment later: perhaps before the update was
        # fetched, perhaps between its commit and its reply.
        update_id = fake.press(user.id, fake.last_with_buttons(user.id), "Every week")
        await asyncio.sleep(0.03)
        bot.kill()
        await bot.wait()
        answers = stored_answers(database)
        for question, value in confirmed_before_kill.items():
            assert answers[question] == value
        if fake.confirmed_offset > update_id:  # Telegram was told it arrived: it is stored
            assert answers["use"] == "weekly"

        bot = await start_bot(fake, database)
        await fake.settle(update_id, user.id, timeout=30)
        assert "What do you use the library for?" in user.text
        await user.press("Borrow books")
        await user.press("Done")
        assert "What should the libraries in Viken focus on" in user.text
        answers = stored_answers(database)
        assert answers["use"] == "weekly" and answers["use_for"] == ["borrow"]
        assert {k: answers[k] for k in confirmed_before_kill} == confirmed_before_kill
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
