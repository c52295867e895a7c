"""Fixtures: the shipped campaign (or a variant of it), a real database, a fixed clock.

The database is a SQLite file; the storage and bot tests run on PostgreSQL as well
(``parametrize_backends``, called from their conftest), on a throwaway server started once
for the run (``tests/auxil/postgres.py``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import tomllib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.campaign import Campaign, default_campaign_path, parse_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from storage.database import Database
from storage.open import OpenDatabase, open_database
from tests.auxil.chat import Chat
from tests.auxil.postgres import REQUIRED, PostgresServer, ServerUnavailable

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
    """Where the test's SQLite file lives (a test naming it runs on SQLite only)."""
    return tmp_path / "bot.sqlite3"


BACKENDS = ("sqlite", "postgres")


def parametrize_backends(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses the database once per backend, as aiogram runs one storage
    suite over every storage; except tests about SQLite itself (``db_path``, its file, or
    marked ``sqlite_only``) and tests of several processes' pools on one server (marked
    ``postgres_only``: SQLite has one writer)."""
    if "backend" not in metafunc.fixturenames:
        return
    sqlite_only = "db_path" in metafunc.fixturenames or metafunc.definition.get_closest_marker(
        "sqlite_only"
    )
    postgres_only = metafunc.definition.get_closest_marker("postgres_only")
    backends = ["sqlite"] if sqlite_only else ["postgres"] if postgres_only else BACKENDS
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database the test runs on: SQLite unless parametrised."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole run; the tests that need one skip (and say why)
    where none can be started, except under CI (``CI_REQUIRE_POSTGRES=1``): then they fail."""
    server: PostgresServer | None = None
    try:
        server = PostgresServer()
        server.start()
        # The template is made on a loop of its own: the tests' loops come and go.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, server.create_template()).result()
    except ServerUnavailable as exc:
        if server is not None:
            server.stop()
        if REQUIRED:
            pytest.fail(f"CI_REQUIRE_POSTGRES=1 but no PostgreSQL server could start: {exc}")
        pytest.skip(f"no PostgreSQL server could be started here: {exc}")
    yield server
    server.stop()


@pytest.fixture
def postgres(backend: str, request: pytest.FixtureRequest) -> PostgresServer | None:
    """The PostgreSQL server when the test runs on PostgreSQL."""
    if backend != "postgres":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server


@pytest.fixture
async def db_url(tmp_path: Path, postgres: PostgresServer | None) -> AsyncIterator[str]:
    """Where the test's database is: a SQLite file, or a fresh PostgreSQL database."""
    if postgres is None:
        yield str(tmp_path / "bot.sqlite3")
        return
    url = await postgres.fresh_database()
    yield url
    await postgres.drop_database(url)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[OpenDatabase]:
    """A real database with the schema applied: a SQLite file, or PostgreSQL."""
    database = await open_database(db_url)
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
