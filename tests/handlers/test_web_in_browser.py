"""The web chat in a real headless Chromium against the real server: a person clicks, uses the
keyboard alone, reads Arabic right to left, zooms, embeds, comes back; axe-core checks WCAG
2.1 A and AA in every language and state. Screenshots go to the test's folder."""

from __future__ import annotations

import asyncio
import asyncio.base_events
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.campaign import Campaign, load_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from handlers.web import Limits
from storage.database import Database
from tests.auxil.browser import CHROMIUM, Browser, Tab, chromium
from tests.bot.test_survey import stored_answers
from tests.handlers.test_web import web_user
from tests.handlers.web_browser import (
    ChatTab,
    Person,
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


@pytest.mark.parametrize("way", ["mouse", "keyboard"])
async def test_a_person_signs_up_by_clicking_and_by_keyboard_alone(
    way: str, served: RunningChat, browser: Browser, tmp_path: Path, db: Database
) -> None:
    chat = await new_chat(browser, tmp_path)
    await chat.open(f"{served.url}?lang=en")
    person = Person(chat, keyboard=way == "keyboard")
    await person.press("Meetings and sign-up")
    await person.press("Sign up: Information meeting")
    await person.press(payload_is("ok"))
    await person.say("Kari Nordmann")
    await person.press("Library employee")
    await person.say("Asker bibliotek")
    await person.say("sarps")  # the municipality type-ahead: the matches as buttons
    await person.press("Sarpsborg")
    await chat.shot(f"signup-summary-{way}")
    await person.press("Confirm sign-up")

    shown = await chat.tab.evaluate("document.getElementById('log').innerText")
    assert "You are signed up! Welcome." in shown
    invite = await chat.tab.evaluate("document.querySelector('#log a.file').download")
    assert invite.endswith(".ics")
    row = await db.transact(
        lambda tx: tx.fetchone("SELECT count(*) FROM registrations WHERE status = 'confirmed'", ())
    )
    assert row[0] == 1


@pytest.mark.parametrize("way", ["mouse", "keyboard"])
async def test_a_person_takes_the_whole_survey_by_clicking_and_by_keyboard_alone(
    way: str, served: RunningChat, browser: Browser, tmp_path: Path, db: Database
) -> None:
    chat = await new_chat(browser, tmp_path)
    await chat.open(f"{served.url}?lang=en&start=survey")
    person = Person(chat, keyboard=way == "keyboard")
    await person.press(payload_is("ok"))
    await person.press("Young person (under 26)")
    await person.say("Asker")
    await person.press("16–19")
    await person.press("Every week")
    pressed = "document.activeElement.getAttribute('aria-pressed')"
    await person.press("Borrow books")  # a tick box: pressed, focus stays on it
    assert await chat.tab.evaluate(pressed) == "true"
    await person.press("E-books and audiobooks")
    await person.press("Borrow books")  # and unticked
    assert await chat.tab.evaluate(pressed) == "false"
    await person.press("Done")
    await person.press("Getting people reading")
    await person.press("Done")
    await person.press("3")
    await person.press("4 Quality education")
    await person.press("Done")
    assert chat.newest["max_length"] == 500
    assert await chat.tab.evaluate("document.getElementById('counter').textContent") == (
        "500 characters left"
    )
    await person.say("Comics and gaming")
    await person.press("Skip")
    await person.press("Yes")
    await person.press("No, thanks")
    assert "Please check your answers" in chat.newest["text"]
    await person.press("Send my answers")
    assert "Thank you for your answers!" in chat.newest["text"]

    answers = await stored_answers(db, await web_user(db), "web")
    assert answers["use_for"] == ["ebooks"] and answers["youth_offer"] == "Comics and gaming"


async def test_the_text_question_counts_down_and_says_when_it_is_too_long(
    served: RunningChat, browser: Browser, tmp_path: Path
) -> None:
    chat = await new_chat(browser, tmp_path)
    await chat.open(f"{served.url}?lang=en&start=survey")
    await chat.press(payload_is("ok"))
    for _ in range(10):
        if chat.newest.get("max_length"):
            break
        await answer_question(chat)
    assert chat.newest["max_length"] == 1000  # the survey's own limit
    counter = "document.getElementById('counter').textContent"
    alert = "document.getElementById('counter-alert').textContent"
    await chat.tab.click("#input")
    await chat.tab.type("Lesesirkel")
    assert await chat.tab.evaluate(counter) == "990 characters left"
    assert await chat.tab.evaluate(alert) == ""  # not announced at every key
    await chat.shot("text-question-counter")
    await chat.tab.type("x" * 995)
    assert await chat.tab.evaluate(counter) == "5 characters too many"
    assert await chat.tab.evaluate(alert) == "5 characters too many"  # announced once
    assert await chat.tab.evaluate("document.getElementById('input').ariaInvalid") == "true"
    sent = len(chat.frames("Sent"))
    await chat.tab.key("Enter")  # refused by the page: nothing sent
    await chat.quiet()
    assert len(chat.frames("Sent")) == sent
    await chat.shot("text-question-too-long")


async def test_the_arabic_page_is_laid_out_right_to_left(
    served: RunningChat, browser: Browser, tmp_path: Path
) -> None:
    chat = await new_chat(browser, tmp_path)
    await chat.open(f"{served.url}?lang=ar&start=survey")
    await chat.press(payload_is("ok"))
    await chat.press(payload_is("o"))
    await chat.say("Asker")
    await chat.shot("arabic")
    page = await chat.tab.evaluate("[document.documentElement.lang, document.documentElement.dir]")
    assert page == ["ar", "rtl"]
    messages = await chat.tab.evaluate(
        "[...document.querySelectorAll('#log .msg')].map(m => [m.className, m.lang, m.dir])"
    )
    assert len(messages) >= 6
    assert all(lang == "ar" and dir_ == "rtl" for _kind, lang, dir_ in messages), messages
    # The bot's messages start at the right, the person's at the left; Send is at the left.
    edges = await chat.tab.evaluate(
        "(() => { const log = document.getElementById('log').getBoundingClientRect();"
        " const bot = document.querySelector('#log .msg.bot').getBoundingClientRect();"
        " const me = document.querySelector('#log .msg.me').getBoundingClientRect();"
        " const send = document.getElementById('send').getBoundingClientRect();"
        " const box = document.getElementById('input').getBoundingClientRect();"
        " return [log.right - bot.right, me.left - log.left, box.left - send.right]; })()"
    )
    assert edges[0] < 1 and edges[1] < 1 and edges[2] > 0, edges


def with_markup(data: dict[str, Any]) -> None:
    """The campaign's texts with markup that would run if read as HTML."""
    evil = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>'
    data["campaign"]["title"]["en"] += evil
    data["campaign"]["organiser"]["en"] += evil
    data["survey"]["questions"][0]["text"]["en"] += evil


async def test_markup_in_answers_and_campaign_texts_shows_as_text_and_runs_nothing(
    make_campaign: Callable[..., Campaign],
    db: Database,
    clock: FixedClock,
    browser: Browser,
    tmp_path: Path,
) -> None:
    engine = Engine(make_campaign(with_markup), db, clock)
    async with running_chat(engine, limits=FAST) as served:
        chat = await new_chat(browser, tmp_path)
        await chat.open(f"{served.url}?lang=en&start=survey")
        await chat.press(payload_is("ok"))
        await chat.press("Young person")
        answer = "<img src=x onerror=alert(1)>"
        await chat.say(answer)  # the municipality question: no match, shown back as text
        await chat.shot("markup-as-text")
        page = await chat.tab.evaluate(
            "({title: document.title, h1: document.querySelector('h1').textContent,"
            " log: document.getElementById('log').textContent,"
            " images: document.querySelectorAll('img, script:not([src]):not([type])').length,"
            " bold: document.querySelectorAll('#log b, h1 b').length, pwned: window.pwned})"
        )
    assert "<script>window.pwned=2</script><b>bold</b>" in page["title"]
    assert '<img src=x onerror="window.pwned=1">' in page["h1"]
    assert "<b>bold</b>" in page["log"] and answer in page["log"]
    assert page["images"] == 0 and page["bold"] == 0 and page.get("pwned") is None
    assert chat.tab.seen("Page.javascriptDialogOpening") == []  # no alert(1)


EMBEDDING_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>The county library</title></head>
<body><h1>The county library</h1><p>Give your input here:</p>
<script src="{chat}embed.js" data-start="survey" data-lang="en" data-title="Chat"></script>
</body></html>"""


@asynccontextmanager
async def organiser_site(chat: dict[str, str]) -> AsyncIterator[str]:
    """The organiser's own page on another site (127.0.0.2) with the embed snippet for the
    chat at ``chat["url"]``; its origin."""
    app = web.Application()

    async def page(request: web.Request) -> web.Response:
        text = EMBEDDING_PAGE.format(chat=chat["url"])
        return web.Response(text=text, content_type="text/html")

    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.2", 0)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    try:
        yield f"http://127.0.0.2:{server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()


async def framed_chat(tab: Tab, shots: Path, wait: float = 10.0) -> ChatTab | None:
    """The chat in the page's iframe (a frame of another site, attached as its own tab)."""
    for _ in range(int(wait / 0.1)):
        for frame in tab.frames:
            with suppress(RuntimeError):
                if await frame.evaluate("document.getElementById('log') !== null"):
                    return ChatTab(frame, shots)
        await asyncio.sleep(0.1)
    return None


async def test_the_chat_embedded_on_another_site_works_with_third_party_cookies_blocked(
    shipped: Engine, tmp_path: Path
) -> None:
    chat_at: dict[str, str] = {}
    async with (
        organiser_site(chat_at) as site,
        running_chat(shipped, limits=FAST, allowed_origins=(site,)) as served,
        chromium(tmp_path, block_third_party_cookies=True) as browser,
    ):
        chat_at["url"] = served.url
        tab = await browser.tab()
        # Blocked in the settings (the profile's preferences) and by DevTools' emulation.
        await tab.send(
            "Network.setCookieControls",
            enableThirdPartyCookieRestriction=True,
            disableThirdPartyCookieMetadata=True,
            disableThirdPartyCookieHeuristics=True,
        )
        await tab.open(site + "/", 800)
        chat = await framed_chat(tab, tmp_path)
        assert chat is not None, "the chat did not load in the frame"
        await chat.tab.wait_for("document.querySelector('#log .msg.bot') !== null")
        await chat.quiet()
        assert await chat.tab.evaluate("document.cookie = 'probe=1'; document.cookie") == ""
        # The chat needs no cookie (it sets none); its token is in the frame's own storage.
        assert await chat.tab.evaluate("localStorage.getItem('pb-chat-token')")
        headers = [
            h["headers"]
            for seen in (tab, chat.tab)
            for h in seen.seen("Network.responseReceivedExtraInfo")
        ]
        assert headers and not any("set-cookie" in map(str.lower, h) for h in headers)
        assert "Before you sign up" in chat.newest["text"]
        await chat.press(payload_is("ok"))  # the conversation goes on in the frame
        assert "Question 1 of 12" in chat.newest["text"]
        await tab.screenshot(tmp_path / "embedding-page.png", whole=False)


async def test_the_chat_refuses_to_be_framed_by_a_site_not_allowed(
    shipped: Engine, tmp_path: Path
) -> None:
    chat_at: dict[str, str] = {}
    async with (
        organiser_site(chat_at) as site,
        running_chat(shipped, limits=FAST) as served,  # no WEB_ALLOWED_ORIGINS
        chromium(tmp_path) as browser,
    ):
        chat_at["url"] = served.url
        tab = await browser.tab()
        await tab.open(site + "/", 800)
        assert await framed_chat(tab, tmp_path, wait=3) is None  # frame-ancestors
        assert await tab.evaluate("document.querySelector('iframe') !== null")


NO_SIDEWAYS_SCROLL = (
    "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    " && [...document.querySelectorAll('#log .msg, #composer, .chat-footer')]"
    ".every(el => el.getBoundingClientRect().right <= document.documentElement.clientWidth"
    " && el.getBoundingClientRect().left >= 0)"
)


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_the_chat_reflows_at_320_px_and_at_200_percent_with_no_sideways_scrolling(
    lang: str, served: RunningChat, browser: Browser, tmp_path: Path
) -> None:
    chat = await new_chat(browser, tmp_path)
    await chat.tab.viewport(320, 640, mobile=True)
    await chat.open(f"{served.url}?lang={lang}&start=survey")
    await chat.press(payload_is("ok"))
    for _ in range(4):  # to the tick boxes: long labels, many buttons
        await answer_question(chat)
    await chat.tab.click("#input")
    await chat.tab.type("Ein lang tekst: " + "biblioteket" * 12)  # one long word
    await chat.shot(f"320px-{lang}")
    assert await chat.tab.evaluate(NO_SIDEWAYS_SCROLL)
    await chat.tab.evaluate("window.scrollTo(0, 0)")
    await chat.shot(f"320px-header-{lang}")

    await chat.tab.viewport(640, 450, scale=2)  # a 1280 x 900 window zoomed to 200 %
    await chat.quiet()
    await chat.shot(f"zoom-200-{lang}")
    assert await chat.tab.evaluate(NO_SIDEWAYS_SCROLL)

    # The browser's text size at 200 % (the text alone grows) on a phone 320 px wide.
    await chat.tab.viewport(320, 640, mobile=True)
    await chat.tab.send("Page.setFontSizes", fontSizes={"standard": 32, "fixed": 26})
    await chat.quiet()
    size = await chat.tab.evaluate("getComputedStyle(document.querySelector('#log p')).fontSize")
    assert size == "32px"
    await chat.shot(f"320px-text-200-{lang}")
    assert await chat.tab.evaluate(NO_SIDEWAYS_SCROLL)


async def test_a_person_comes_back_in_the_same_browser_and_goes_on_on_another_device(
    served: RunningChat, browser: Browser, tmp_path: Path
) -> None:
    context = await browser.context()
    laptop = ChatTab(await browser.tab(context), tmp_path)
    await laptop.tab.viewport(800)
    await laptop.open(f"{served.url}?lang=en&start=survey")
    await laptop.press(payload_is("ok"))
    await laptop.press("Young person (under 26)")
    before = await laptop.tab.evaluate("document.getElementById('log').innerText")

    await laptop.tab.reload()  # closed and opened again later: the conversation is there
    await laptop.tab.wait_for("document.querySelectorAll('#log .msg').length > 0")
    await laptop.quiet()
    assert await laptop.tab.evaluate("document.getElementById('log').innerText") == before
    await laptop.say("Asker")  # and goes on where it was
    assert "Question 3 of 12" in laptop.newest["text"]

    await laptop.tab.click("#device")
    await laptop.tab.wait_for("document.getElementById('device-code').textContent !== ''")
    code = next(f["code"] for f in laptop.frames() if f.get("t") == "code")
    shown = await laptop.tab.evaluate("document.getElementById('device-code').textContent")
    assert code in shown and "10 minutes" in shown

    phone = ChatTab(await browser.tab(await browser.context()), tmp_path)  # another device
    await phone.tab.viewport(360, 740, mobile=True)
    await phone.open(f"{served.url}?lang=en")
    await phone.tab.click("#have-code summary")
    await phone.tab.click("#code-input")
    await phone.tab.type(code.lower())
    await phone.tab.key("Enter")
    await phone.tab.wait_for("!document.getElementById('have-code').open")
    await phone.quiet()
    await phone.say("/survey")
    assert "Question 3 of 12" in phone.newest["text"]  # the same person, where they were
    await phone.shot("second-device")
