"""The web chat in a real headless Chromium against the real server: a person clicks, uses the
keyboard alone, reads Arabic right to left, zooms, embeds, comes back; axe-core checks WCAG
2.1 A and AA in every language and state. Screenshots go to the test's folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.campaign import load_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from handlers.web import Limits
from storage.database import Database
from tests.auxil.browser import CHROMIUM, Browser, chromium
from tests.handlers.web_browser import (
    ChatTab,
    answer_question,
    at_review,
    axe_source,
    axe_violations,
    payload_is,
)
from tests.handlers.web_client import RunningChat, running_chat

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

LANGUAGES = ["nb", "nn", "en", "se", "pl", "uk", "ar", "so"]
FAST = Limits(messages_per_second=100, message_burst=100)


@pytest.fixture
def shipped(db: Database, clock: FixedClock) -> Engine:
    """The engine on the shipped campaign, in all eight languages."""
    return Engine(load_campaign(None), db, clock)


@pytest.fixture
async def served(shipped: Engine) -> AsyncIterator[RunningChat]:
    async with running_chat(shipped, limits=FAST) as running:
        yield running


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async with chromium(tmp_path) as running:
        yield running


async def new_chat(browser: Browser, shots: Path) -> ChatTab:
    """A tab in a browser context of its own (a new visitor), 800 px wide."""
    tab = await browser.tab(await browser.context())
    await tab.viewport(800)
    return ChatTab(tab, shots)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_axe_finds_no_wcag_21_aa_violation_in_any_state(
    lang: str, served: RunningChat, browser: Browser, tmp_path: Path
) -> None:
    axe = axe_source()
    found: dict[str, list[object]] = {}

    async def check(chat: ChatTab, state: str) -> None:
        await chat.shot(f"{lang}-{state}")
        violations = await axe_violations(chat.tab, axe)
        if violations:
            found[state] = violations

    menu = await new_chat(browser, tmp_path)
    await menu.open(f"{served.url}?lang={lang}")
    assert menu.newest["lang"] == lang
    await check(menu, "menu")

    chat = await new_chat(browser, tmp_path)
    await chat.open(f"{served.url}?lang={lang}&start=survey")
    await chat.press(payload_is("ok"))  # the privacy notice
    await check(chat, "question")
    seen = set()
    for _question in range(20):
        if at_review(chat):
            break
        buttons = chat.buttons
        if "ticks" not in seen and any(b.get("selected") is not None for b in buttons):
            await chat.press(payload_is("t"))
            await check(chat, "ticks")
            seen.add("ticks")
        if "text" not in seen and chat.newest.get("max_length"):
            await chat.tab.click("#input")
            await chat.tab.type("Lesesirkel")
            await check(chat, "text")
            await chat.tab.type("x" * chat.newest["max_length"])
            await chat.tab.key("Enter")  # refused by the page: too long
            await check(chat, "too-long")
            await chat.tab.evaluate("document.getElementById('input').value = ''")
            seen.add("text")
        seen.add(await answer_question(chat))
    await check(chat, "review")
    assert {"buttons", "ticks", "text"} <= seen

    await chat.tab.click("#have-code summary")
    await chat.tab.click("#code-input")
    await chat.tab.type("WRONG1")
    await chat.tab.key("Enter")
    await chat.tab.wait_for("document.querySelector('#log .msg.error') !== null")
    await chat.quiet()
    await check(chat, "error")

    assert not found, found
