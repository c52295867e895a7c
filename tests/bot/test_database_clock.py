"""One clock per database: a database started with ``--now`` keeps its own time for every
command run on it later, its time never goes back, and its retention date follows it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.campaign import load_campaign
from bot.clock import FixedClock
from bot.database_clock import database_time
from bot.engine import Engine
from storage.database import Database
from tests.auxil.chat import Chat
from tests.bot.conftest import WALL
from tests.conftest import OSLO, oslo


def stored(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql).fetchall()


def local(value: object) -> datetime:
    return datetime.fromisoformat(str(value)).astimezone(OSLO)


def sign_up_someone(db_path: Path, wall: FixedClock) -> None:
    """A person signs up through the engine, on the database's own clock."""

    async def go() -> None:
        campaign = load_campaign(None)
        async with await Database.open(db_path) as db:
            time = await database_time(db, campaign, None, wall)
            chat = Chat(Engine(campaign, db, time.clock), "kari")
            await chat.command("start", "signup-info")
            await chat.send("Kari Nordmann")
            await chat.press("Resident")
            await chat.send("Asker")
            await chat.press("Confirm sign-up")

    asyncio.run(go())


def test_commands_without_now_use_the_clock_the_database_was_started_with(
    command: Callable[..., int], db_path: Path, wall: FixedClock
) -> None:
    assert command("staff", "add", "console:ingrid", "--now", "2021-05-25T10:00") == 0
    wall.advance(timedelta(hours=1, minutes=30))

    assert command("staff", "add", "console:ola") == 0
    sign_up_someone(db_path, wall)
    assert (
        command("broadcast", "--segment", "registrants:info", "--message", "nb=Hei", "--yes") == 0
    )

    granted = dict(stored(db_path, "SELECT user_id, granted_at FROM staff"))
    assert local(granted["ingrid"]) == oslo(2021, 5, 25, 10, 0)
    assert local(granted["ola"]) == oslo(2021, 5, 25, 11, 30)
    [(queued,)] = stored(db_path, "SELECT created_at FROM outbox")
    assert local(queued) == oslo(2021, 5, 25, 11, 30)


def test_the_first_command_run_again_goes_on_from_where_the_clock_is(
    command: Callable[..., int],
    db_path: Path,
    wall: FixedClock,
) -> None:
    assert command("staff", "add", "console:ingrid", "--now", "2021-05-25T10:00") == 0
    wall.advance(timedelta(minutes=45))

    assert command("staff", "add", "console:ola", "--now", "2021-05-25T10:00") == 0

    granted = dict(stored(db_path, "SELECT user_id, granted_at FROM staff"))
    assert local(granted["ola"]) == oslo(2021, 5, 25, 10, 45)  # not back at 10:00


def test_an_earlier_now_is_refused_and_says_where_the_clock_is(
    command: Callable[..., int], wall: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    command("staff", "add", "console:ingrid", "--now", "2021-05-25T10:00")
    wall.advance(timedelta(minutes=45))
    capsys.readouterr()

    assert command("staff", "add", "console:ola", "--now", "2021-05-20T09:00") == 2

    said = capsys.readouterr().err
    assert "--now 2021-05-20T09:00: this database's clock is at 2021-05-25T10:45" in said
    assert "Leave out --now to go on from there" in said


def test_a_later_now_moves_the_clock_forward_for_every_command_after_it(
    command: Callable[..., int],
    db_path: Path,
    wall: FixedClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    command("staff", "add", "console:ingrid", "--now", "2021-05-25T10:00")

    assert command("staff", "add", "console:ola", "--now", "2021-06-10T18:00") == 0
    assert "moves forward from 2021-05-25T10:00 to 2021-06-10T18:00" in capsys.readouterr().err
    wall.advance(timedelta(minutes=5))
    command("staff", "add", "console:per")

    granted = dict(stored(db_path, "SELECT user_id, granted_at FROM staff"))
    assert local(granted["per"]) == oslo(2021, 6, 10, 18, 5)


def test_a_first_now_before_what_the_database_recorded_is_refused(
    command: Callable[..., int], db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up_someone(db_path, FixedClock(oslo(2021, 5, 26, 9, 0, 30)))  # no clock of its own

    assert command("staff", "list", "--now", "2021-05-25T10:00") == 2
    said = capsys.readouterr().err
    assert "this database has records up to 2021-05-26T09:01" in said
    assert "Give --now 2021-05-26T09:01 or later" in said


def test_a_demo_database_is_not_purged_because_the_real_date_is_past_retention(
    command: Callable[..., int], db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command("staff", "add", "console:ingrid", "--now", "2021-05-25T10:00")
    sign_up_someone(db_path, FixedClock(WALL))
    capsys.readouterr()

    assert command("purge") == 0

    said = capsys.readouterr().out
    assert "not yet: personal data is kept until 2022-06-30" in said
    assert "by this database's clock it is 2021-05-25" in said
    assert stored(db_path, "SELECT COUNT(*) FROM participants") == [(1,)]


def test_a_real_database_is_purged_after_retention_and_the_command_says_why(
    command: Callable[..., int], db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_up_someone(db_path, FixedClock(oslo(2021, 5, 25, 10, 0)))

    assert command("purge") == 0

    said = capsys.readouterr().out
    assert "erased the personal data of 1 person" in said
    assert "retention date (2022-06-30) has passed" in said
    assert "it is 2030-03-04" in said
    assert stored(db_path, "SELECT COUNT(*) FROM participants") == [(0,)]
