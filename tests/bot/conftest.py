"""Fixtures for the bot's tests: the ``participation-bot`` command run in this process.

These tests run on SQLite and on PostgreSQL alike (``pytest_generate_tests``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from bot import cli
from bot.clock import FixedClock
from tests.conftest import OSLO, parametrize_backends

WALL = datetime(2030, 3, 4, 12, 0, tzinfo=OSLO)
"""The real time of ``wall``: long after the campaign's retention date (30 June 2022)."""


@pytest.fixture
def wall() -> FixedClock:
    return FixedClock(WALL)


@pytest.fixture
def command(
    db_path: Path, wall: FixedClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., int]:
    """``participation-bot <args> --database <db_path>`` in this process, at ``wall``."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "DATABASE_PATH"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> int:
        return cli.main([*args, "--database", str(db_path)], wall=wall)

    return run


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_backends(metafunc)
