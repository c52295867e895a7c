"""``participation-bot run`` in this process, on the console: what it says at start."""

from __future__ import annotations

import io
import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from bot.clock import FixedClock
from handlers import runtime
from tests.bot.test_database_clock import sign_up_someone
from tests.conftest import OSLO, oslo

WALL = datetime(2030, 3, 4, 12, 0, tzinfo=OSLO)


@pytest.fixture
def run(db_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., int]:
    """``participation-bot run <args>`` on the console, typing ``/quit``, at ``WALL``."""
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "DATABASE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WEB_CHAT", "false")

    def go(*args: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO("/quit\n"))
        return runtime.main(
            ["run", "--database", str(db_path), "--user", "kari", *args], wall=FixedClock(WALL)
        )

    return go


def signed_up(db_path: Path) -> int:
    """How many people signed up through ``sign_up_someone`` are still there."""
    with closing(sqlite3.connect(db_path)) as conn:
        query = "SELECT COUNT(*) FROM participants WHERE platform != 'console'"
        return int(conn.execute(query).fetchone()[0])


def test_run_on_a_demo_database_keeps_the_demo_though_the_real_date_is_past_retention(
    run: Callable[..., int],
    db_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run("--now", "2021-05-25T10:00") == 0
    sign_up_someone(db_path, FixedClock(WALL))

    assert run() == 0  # no --now: the database's own clock

    assert signed_up(db_path) == 1
    assert "this database keeps its own clock: it is 2021-05-25T10:00" in capsys.readouterr().err
    assert not [r for r in caplog.records if "erased" in r.getMessage()]


def test_run_on_a_real_database_after_retention_erases_and_warns_how_many_and_why(
    run: Callable[..., int], db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sign_up_someone(db_path, FixedClock(oslo(2021, 5, 25, 10, 0)))

    assert run() == 0

    assert signed_up(db_path) == 0
    [warning] = [r for r in caplog.records if "erased" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == (
        "erased the personal data of 1 person: the campaign's retention date (2022-06-30) "
        "has passed: by this database's clock it is 2030-03-04"
    )


def test_telegram_long_polling_is_refused_when_this_is_one_of_several_workers(
    run: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.delenv("TELEGRAM_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("WORKERS", "2")
    with pytest.raises(SystemExit) as stopped:
        run()
    assert "Telegram long polling has one consumer" in str(stopped.value)
    assert "WORKERS=2" in str(stopped.value)
    assert "set TELEGRAM_WEBHOOK_URL" in str(stopped.value)


def test_telegram_long_polling_is_refused_while_another_worker_is_alive(
    run: Callable[..., int], db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from bot.workers import Worker
    from storage.open import open_database

    async def another() -> None:  # a worker elsewhere, started with WORKERS unset
        async with await open_database(str(db_path)) as db:
            await Worker(db, FixedClock(WALL), "elsewhere:8080").start()

    asyncio.run(another())
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    monkeypatch.delenv("TELEGRAM_WEBHOOK_URL", raising=False)
    with pytest.raises(SystemExit) as stopped:
        run()
    assert "1 other worker(s) alive on this database" in str(stopped.value)
