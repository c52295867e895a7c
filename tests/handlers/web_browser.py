"""The web chat in a real headless Chromium: a person who clicks or uses the keyboard, what
the page received over its WebSocket, and axe-core's verdict on the page.

A button is found by what the server sent (its payload, language-independent) and pressed
where the page shows it: the n-th enabled button of the newest message, in the same order.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.auxil.browser import Tab

ROOT = Path(__file__).resolve().parents[2]
AXE_VERSION = "4.14.1"
AXE_PATHS = [
    Path(os.environ.get("AXE_CORE_JS", "/nonexistent")),
    ROOT / ".ci" / "cache" / "node_modules" / "axe-core" / "axe.min.js",
]
"""Where axe-core is looked for: ``$AXE_CORE_JS``, else where ``.ci/run`` installs it."""
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BUTTONS = "#log .msg.bot .buttons button:not([disabled])"
"""The newest message's buttons (the page disables those of older messages)."""


def axe_source() -> str:
    """axe-core's script; skips (or in CI fails) when it is not installed."""
    for path in AXE_PATHS:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    install = f"npm install --prefix .ci/cache axe-core@{AXE_VERSION} (as .ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(f"axe-core is not installed: {install}")
    pytest.skip(f"axe-core is not installed: {install}")


async def axe_violations(tab: Tab, source: str) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the page as it is now.

    The script goes in through DevTools (``Runtime.evaluate``): the page's CSP, which stays
    in force, would refuse it as an inline or foreign script."""
    if not await tab.evaluate("typeof window.axe === 'object'"):
        await tab.evaluate(source + "\n;true")
    found = await tab.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        + json.dumps(WCAG_21_AA)
        + "}, resultTypes: ['violations']}).then(r => r.violations.map(v => ({"
        "id: v.id, impact: v.impact, help: v.help,"
        "nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)})))"
    )
    return list(found)


@dataclass
class ChatTab:
    """The chat open in a tab, as a person uses it."""

    tab: Tab
    shots: Path

    # -- what the page was sent and sent ------------------------------------------------

    def frames(self, direction: str = "Received") -> list[dict[str, Any]]:
        """The chat's WebSocket frames the page received (or ``"Sent"``), oldest first."""
        found = []
        for params in self.tab.seen(f"Network.webSocketFrame{direction}"):
            try:
                found.append(json.loads(params["response"]["payloadData"]))
            except ValueError:
                continue
        return found

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The bot's messages the page received, oldest first."""
        return [f for f in self.frames() if f.get("t") == "msg"]

    @property
    def newest(self) -> dict[str, Any]:
        return self.messages[-1]

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The newest message's buttons, in the page's order."""
        return [b for row in self.newest.get("buttons", []) for b in row]

    def index(self, wanted: str | Callable[[dict[str, Any]], bool]) -> int:
        """Where the button is among the newest buttons: a label's beginning, or a test."""

        def test(b: dict[str, Any]) -> bool:
            return wanted(b) if callable(wanted) else str(b["label"]).startswith(wanted)

        for number, button in enumerate(self.buttons):
            if test(button):
                return number
        raise AssertionError(f"no such button in {[b['label'] for b in self.buttons]}")

    # -- a person ---------------------------------------------------------------------

    async def open(self, url: str) -> None:
        """Open the chat and wait for the bot's first words."""
        await self.tab.open(url)
        await self.tab.wait_for("document.querySelector('#log .msg.bot') !== null")
        await self.quiet()

    async def quiet(self, still: float = 0.25) -> None:
        """Wait until the page has been sent nothing for ``still`` seconds (and has moved
        the focus, which it does a moment after a message)."""
        seen = -1
        while seen != len(self.tab.events):
            seen = len(self.tab.events)
            await asyncio.sleep(still)

    async def answered(self, sent_before: int) -> None:
        """Wait until what the person did after ``sent_before`` frames is stored and the
        bot's answer arrived."""
        for _ in range(200):
            acts = [f for f in self.frames("Sent")[sent_before:] if f.get("t") in ("say", "press")]
            done = {f.get("id") for f in self.frames() if f.get("t") in ("stored", "error")}
            if acts and all(a["id"] in done for a in acts):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the page's message was not stored")
        await self.quiet()

    async def press(self, wanted: str | Callable[[dict[str, Any]], bool]) -> None:
        """Click a button of the newest message with the mouse."""
        sent = len(self.frames("Sent"))
        await self.tab.click(BUTTONS, self.index(wanted))
        await self.answered(sent)

    async def say(self, text: str) -> None:
        """Click the text box, type, press Enter."""
        sent = len(self.frames("Sent"))
        await self.tab.click("#input")
        await self.tab.type(text)
        await self.tab.key("Enter")
        await self.answered(sent)

    async def focused(self) -> str:
        """What has focus, as a person hears it: an id, or a button's label."""
        value = await self.tab.evaluate(
            "(() => { const el = document.activeElement;"
            " return el.id ? '#' + el.id : el.tagName + ':' + el.textContent; })()"
        )
        return str(value)

    async def shot(self, name: str) -> Path:
        """A screenshot of the window, as the person sees it, under the test's folder."""
        self.shots.mkdir(parents=True, exist_ok=True)
        return await self.tab.screenshot(self.shots / f"{name}.png", whole=False)


def payload_is(kind: str) -> Callable[[dict[str, Any]], bool]:
    """A button of a survey step's action ``kind`` (``o``, ``t``, ``d``, ``ok``...)."""
    return lambda b: str(b["payload"]).split(":")[1:2] == [kind]


def at_review(chat: ChatTab) -> bool:
    """The survey's review is shown (its Send button), newest or just above an offer to
    sign up for a meeting the last answer chose."""
    recent = [b for m in chat.messages[-2:] for row in m.get("buttons", []) for b in row]
    return any(str(b["payload"]).endswith(":s") for b in recent)


async def answer_question(chat: ChatTab, text: str = "Lesesirkel") -> str:
    """Answer the question shown, in any language, as a person could: a tick (then Done),
    a typed answer (``text``, or a municipality's name where no length is given), or the
    first option. Its kind."""
    buttons = chat.buttons
    if any(b.get("selected") is not None for b in buttons):
        if not any(b.get("selected") for b in buttons):
            await chat.press(payload_is("t"))
        await chat.press(payload_is("d"))
        return "ticks"
    if chat.newest.get("expects_text"):
        limit = chat.newest.get("max_length")
        await chat.say(text if limit else "Asker")
        return "text" if limit else "municipality"
    await chat.press(payload_is("o"))
    return "buttons"


@dataclass
class Person:
    """Someone using the chat with the mouse, or with the keyboard alone (Tab, Shift+Tab,
    Enter, Space), who checks after each answer that focus went where the next answer is
    given and can be seen."""

    chat: ChatTab
    keyboard: bool = False
    presses: int = 0

    async def press(self, wanted: str | Callable[[dict[str, Any]], bool]) -> None:
        if not self.keyboard:
            await self.chat.press(wanted)
            return
        tab, target = self.chat.tab, self.chat.index(wanted)
        sent = len(self.chat.frames("Sent"))
        buttons = f"[...document.querySelectorAll({json.dumps(BUTTONS)})]"
        current = await tab.evaluate(f"{buttons}.indexOf(document.activeElement)")
        if current < 0 and await tab.evaluate("document.activeElement.id === 'input'"):
            current = len(self.chat.buttons)  # the text box comes right after the buttons
        if current < 0:  # nothing of the chat has focus yet (the page was just opened)
            current = -1
        for _ in range(abs(target - current)):
            await tab.key("Tab", shift=target < current)
        label = self.chat.buttons[target]["label"]
        assert await tab.evaluate("document.activeElement.textContent") == label
        await self.assert_focus_visible()
        self.presses += 1
        await tab.key(" " if self.presses % 2 else "Enter")  # a button takes either
        await self.chat.answered(sent)
        await self.assert_focus_moved()

    async def say(self, text: str) -> None:
        if not self.keyboard:
            await self.chat.say(text)
            return
        tab = self.chat.tab
        assert await self.chat.focused() == "#input"
        sent = len(self.chat.frames("Sent"))
        await tab.type(text)
        await tab.key("Enter")
        await self.chat.answered(sent)
        await self.assert_focus_moved()

    async def assert_focus_visible(self) -> None:
        """What has focus shows it: ``:focus-visible`` and a real outline."""
        shown = await self.chat.tab.evaluate(
            "(() => { const el = document.activeElement, css = getComputedStyle(el);"
            " return el.matches(':focus-visible') && css.outlineStyle !== 'none'"
            " && parseFloat(css.outlineWidth) >= 2; })()"
        )
        assert shown, await self.chat.focused()

    async def assert_focus_moved(self) -> None:
        """Focus is on the newest question's first button, or in the text box when it asks
        for text (or stayed on the tick box just pressed)."""
        newest = self.chat.newest
        focused = await self.chat.focused()
        if newest.get("replaces"):
            assert focused.startswith("BUTTON:"), focused
        elif newest.get("expects_text") or not self.chat.buttons:
            assert focused == "#input", focused
        else:
            assert focused == "BUTTON:" + self.chat.buttons[0]["label"], focused
        await self.assert_focus_visible()
