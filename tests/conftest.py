"""Fixtures: the shipped campaign (or a variant of it), a real SQLite file, a fixed clock."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.campaign import Campaign, default_campaign_path, parse_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from storage.database import Database
from tests.auxil.chat import Chat

OSLO = ZoneInfo("Europe/Oslo")


def oslo(*args: int) -> datetime:
    """A time in Oslo."""
    return datetime(*args, tzinfo=OSLO)  # type: ignore[misc]


@pytest.fixture(scope="session")
def campaign_data() -> dict[str, Any]:
    """The shipped campaign file as a TOML table."""
    return tomllib.loads(default_campaign_path().read_text(encoding="utf-8"))


@pytest.fixture
def make_campaign(campaign_data: dict[str, Any]) -> Callable[..., Campaign]:
    """A variant of the shipped campaign: ``make_campaign(lambda data: ...)`` edits a copy."""

    def make(edit: Callable[[dict[str, Any]], None] | None = None) -> Campaign:
        data = copy.deepcopy(campaign_data)
        if edit is not None:
            edit(data)
        return parse_campaign(data, "test-campaign.toml")

    return make


@pytest.fixture
def campaign(make_campaign: Callable[..., Campaign]) -> Campaign:
    """The shipped Viken 2021 campaign."""
    return make_campaign()


@pytest.fixture
def clock() -> FixedClock:
    """25 May 2021, 10:00 in Oslo: sign-up and the survey are open."""
    return FixedClock(oslo(2021, 5, 25, 10, 0))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test's database file lives."""
    return tmp_path / "bot.sqlite3"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    """A real SQLite database file with the schema applied."""
    database = await Database.open(db_path)
    yield database
    await database.close()


@pytest.fixture
def engine(campaign: Campaign, db: Database, clock: FixedClock) -> Engine:
    """The engine on the shipped campaign."""
    return Engine(campaign, db, clock)


@pytest.fixture
def chat(engine: Engine) -> Chat:
    """One English-speaking person."""
    return Chat(engine, "u1")
