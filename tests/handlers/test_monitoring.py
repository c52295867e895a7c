"""What an operator's monitoring sees: ``/metrics`` counts what people did and what was
sent, and shows the outbox; ``/healthz`` says 503 when the database does not answer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.broadcast import Segment, send
from bot.engine import Engine
from tests.handlers.test_web import FAST, past_notice
from tests.handlers.web_client import Page, RunningChat, running_chat


@pytest.fixture
async def served(engine: Engine) -> AsyncIterator[RunningChat]:
    async with running_chat(engine, limits=FAST) as running:
        yield running


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus's text format (0 when absent)."""
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


async def test_metrics_count_events_sends_and_the_outbox(served: RunningChat) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(served.url + "metrics") as response:
            before = await response.text()
        page = Page(session, served.url, served.origin)
        await page.open(start="survey")
        await past_notice(page)
        await page.press("Young person (under 26)")
        await page.say("Asker")
        await page.close()
        async with session.get(served.url + "metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            after = await response.text()

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    # hello, the notice's OK, two answers: each an event committed, its replies sent
    assert grew("participation_events_total", platform="web") == 4
    assert grew("participation_turn_seconds_count", platform="web") == 4
    assert grew("participation_sends_total", platform="web", kind="reply", outcome="sent") == 4
    assert sample(after, "participation_outbox_rows", state="pending") == 0
    assert "Asker" not in after and "Young" not in after  # counts only, never what was said


async def test_metrics_show_a_queued_broadcast(served: RunningChat, engine: Engine) -> None:
    async with aiohttp.ClientSession() as session:
        page = Page(session, served.url, served.origin)
        await page.open()
        await page.close()
        texts = {engine.campaign.default_language: "Hei"}
        queued = await send(
            engine.db, engine.campaign, Segment("everyone"), texts, "b1", engine.clock.now()
        )
        async with session.get(served.url + "metrics") as response:
            text = await response.text()
    assert sample(text, "participation_outbox_rows", state="pending") == queued >= 1


async def test_healthz_says_when_the_database_is_gone(served: RunningChat, engine: Engine) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(served.url + "healthz") as response:
            assert (response.status, await response.text()) == (200, "ok")
        await engine.db.close()
        async with session.get(served.url + "healthz") as response:
            assert response.status == 503
        async with session.get(served.url + "metrics") as response:
            assert response.status == 503
