"""The web chat through the real aiohttp server: pages over WebSockets, as a browser's."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.campaign import load_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from handlers.web import Limits
from storage.database import Database
from tests.bot.test_survey import stored_answers
from tests.handlers.web_client import Page, RunningChat, running_chat

FAST = Limits(messages_per_second=100, message_burst=100)
"""The tests press faster than any person: the per-page limit has a test of its own."""


@pytest.fixture
async def served(engine: Engine) -> AsyncIterator[RunningChat]:
    async with running_chat(engine, limits=FAST) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def page_of(served: RunningChat, session: aiohttp.ClientSession, **kwargs: Any) -> Page:
    return Page(session, served.url, served.origin, **kwargs)


async def past_notice(page: Page) -> dict[str, Any]:
    """Accept the privacy notice when it is shown (the tests are about other things)."""
    buttons = [b for row in page.last.get("buttons", []) for b in row]
    ok = [b for b in buttons if b["payload"].endswith(":ok")]
    if ok:
        await page.act({"t": "press", "payload": ok[0]["payload"]})
    return page.last


async def web_user(db: Database) -> str:
    row = await db.transact(lambda tx: tx.fetchone("SELECT user_id FROM participants", ()))
    return str(row[0])


async def test_a_whole_sign_up_over_the_websocket(
    served: RunningChat, session: aiohttp.ClientSession, db: Database
) -> None:
    page = page_of(served, session)
    await page.open()
    assert "Hello!" in page.messages[0]["text"]
    assert page.messages[0]["lang"] == "en" and page.messages[0]["dir"] == "ltr"
    await page.press("Meetings and sign-up")
    await page.press("Sign up: Information meeting")
    await past_notice(page)
    assert "What name should we register?" in page.text
    assert page.last["expects_text"] is True and page.last["max_length"] == 100
    await page.say("Kari Nordmann")
    await page.press("Library employee")
    await page.say("Asker bibliotek")
    await page.say("sarps")  # the municipality type-ahead: matches as buttons
    assert "Sarpsborg" in page.labels
    await page.press("Sarpsborg")
    assert "Name: Kari Nordmann" in page.text
    await page.press("Confirm sign-up")
    assert any("You are signed up! Welcome." in m["text"] for m in page.messages[-3:])

    invite = next(m for m in page.messages if m.get("file"))
    assert invite["file"]["name"].endswith(".ics")
    assert b"BEGIN:VCALENDAR" in base64.b64decode(invite["file"]["data"])
    await page.say("/mine")
    assert "Information meeting" in page.text
    registered = await db.transact(
        lambda tx: tx.fetchone("SELECT count(*) FROM registrations WHERE status = 'confirmed'", ())
    )
    assert registered[0] == 1
    await page.close()


async def test_the_whole_survey_over_the_websocket(
    served: RunningChat, session: aiohttp.ClientSession, db: Database
) -> None:
    page = page_of(served, session)
    await page.open(start="survey")
    await past_notice(page)
    assert "Question 1 of 12" in page.text
    await page.press("Young person (under 26)")
    await page.say("Asker")
    await page.press("16–19")
    await page.press("Every week")
    await page.press("Borrow books")  # a tick: the same question again, in place
    assert page.last["replaces"] is True
    pressed = {b["label"]: b.get("selected") for row in page.last["buttons"] for b in row}
    assert pressed["Borrow books"] is True
    await page.press("E-books and audiobooks")
    await page.press("Borrow books")  # untick
    await page.press("Done")
    await page.press("Getting people reading")
    await page.press("Done")
    await page.press("3")
    await page.press("4 Quality education")
    await page.press("Done")
    assert page.last["expects_text"] is True
    assert page.last["max_length"] == 500  # the survey's own limit, for the page's counter
    await page.say("Comics and gaming")
    await page.press("Skip")
    await page.press("Yes")
    await page.press("No, thanks")
    assert "Please check your answers" in page.text
    await page.press("Send my answers")
    assert "Thank you for your answers!" in page.text

    answers = await stored_answers(db, await web_user(db), "web")
    assert answers["use_for"] == ["ebooks"]
    assert answers["youth_offer"] == "Comics and gaming"
    await page.close()


async def test_a_message_sent_again_after_a_reconnect_is_stored_and_answered_once(
    served: RunningChat, session: aiohttp.ClientSession, db: Database
) -> None:
    page = page_of(served, session)
    await page.open(start="survey")
    await past_notice(page)
    await page.press("Young person (under 26)")
    answer = {"t": "say", "id": "same-id", "text": "Asker"}
    await page.act(dict(answer))
    shown = len(page.messages)
    await page.close()

    again = page_of(served, session, token=page.token)
    await again.open(shown=True)
    await again.send(dict(answer))  # the page did not hear "stored": it sends it again
    await again.wait_for(lambda: "same-id" in again.stored)
    assert again.messages == []  # answered once: nothing new
    answers = await stored_answers(db, await web_user(db), "web")
    assert answers["municipality"] == "Asker"
    assert shown == len(page.messages)
    await again.close()


async def test_replies_to_a_closed_page_arrive_when_it_connects_again(
    served: RunningChat, session: aiohttp.ClientSession
) -> None:
    page = page_of(served, session)
    await page.open()
    page.acknowledge = False  # the tab is closing: what it is sent now it never shows
    await page.send({"t": "press", "id": "p1", "payload": page.payload("About the consultation")})
    await page.wait_for(lambda: "p1" in page.stored)
    await page.close()

    again = page_of(served, session, token=page.token)
    await again.open(shown=True)
    await again.wait_for(lambda: bool(again.messages))
    assert "Temastrategi" in again.text or "strategy" in again.text
    assert again.last["id"] == page.messages[-1]["id"]  # the same message, by its id
    await again.close()


async def test_a_page_from_an_origin_not_allowed_is_refused(
    served: RunningChat, session: aiohttp.ClientSession, engine: Engine
) -> None:
    stranger = page_of(served, session)
    stranger.origin = "https://evil.example"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await stranger.connect()
    assert refused.value.status == 403
    async with running_chat(engine, allowed_origins=("https://bibliotek.example",)) as other:
        embedded = Page(session, other.url, "https://bibliotek.example")
        await embedded.open()
        assert "Hello!" in embedded.text
        await embedded.close()


async def test_an_over_long_message_is_refused_clearly_and_changes_nothing(
    served: RunningChat, session: aiohttp.ClientSession, db: Database
) -> None:
    page = page_of(served, session)
    await page.open(start="survey")
    await past_notice(page)
    question = page.text
    await page.send({"t": "say", "id": "long", "text": "x" * 2001})
    await page.wait_for(lambda: bool(page.errors))
    assert page.errors[0]["code"] == "long" and "at most 2000 characters" in page.errors[0]["text"]
    assert page.text == question  # still at the same question
    await page.press("Young person (under 26)")  # and the survey goes on
    assert "Question 2" in page.text
    await page.close()


async def test_messages_too_fast_are_answered_clearly(
    engine: Engine, session: aiohttp.ClientSession
) -> None:
    async with running_chat(engine, limits=Limits(messages_per_second=0.01, message_burst=2)) as s:
        page = Page(session, s.url, s.origin)
        await page.open()
        await page.say("/help")
        await page.say("/help")
        await page.send({"t": "say", "id": "third", "text": "/help"})
        await page.wait_for(lambda: bool(page.errors))
        assert page.errors[0]["code"] == "rate" and page.errors[0]["id"] == "third"
        assert "very fast" in page.errors[0]["text"]
        await page.close()


async def test_new_chats_from_one_address_are_limited(
    engine: Engine, session: aiohttp.ClientSession
) -> None:
    limits = Limits(sessions_per_hour=0.01, session_burst=2)
    async with running_chat(engine, limits=limits) as s:
        for _ in range(2):
            page = Page(session, s.url, s.origin)
            await page.open()
            await page.close()
        refused = Page(session, s.url, s.origin)
        await refused.connect()
        await refused.send({"t": "hello", "lang": "nb"})
        await refused.wait_for(lambda: bool(refused.errors))
        assert refused.errors[0]["code"] == "sessions"
        assert (
            "Prøv igjen senere" in refused.errors[0]["text"] or refused.errors[0]["lang"] == "nb"
        )


async def test_a_code_joins_another_device_once_and_not_after_it_expires(
    served: RunningChat, session: aiohttp.ClientSession, clock: FixedClock, db: Database
) -> None:
    phone = page_of(served, session)
    await phone.open(start="survey")
    await past_notice(phone)
    await phone.press("Young person (under 26)")
    await phone.send({"t": "code"})
    await phone.wait_for(lambda: bool(phone.codes))
    code = phone.codes[0]

    laptop = page_of(served, session)
    await laptop.redeem(code.lower())  # as typed: case does not matter
    await laptop.wait_for(lambda: laptop.token is not None and bool(laptop.messages))
    assert laptop.token != phone.token
    await laptop.say("/survey")
    assert "Question 2 of 12" in laptop.text  # the same person: where the phone left off
    await laptop.close()

    third = page_of(served, session)
    await third.redeem(code)  # a code works once
    await third.wait_for(lambda: bool(third.errors))
    assert third.errors[0]["code"] == "code"
    await third.close()

    await phone.send({"t": "code"})
    await phone.wait_for(lambda: len(phone.codes) == 2)
    clock.advance(timedelta(minutes=11))
    late = page_of(served, session)
    await late.redeem(phone.codes[1])
    await late.wait_for(lambda: bool(late.errors))
    assert late.errors[0]["code"] == "code"
    await late.close()
    await phone.close()
    rows = await db.transact(lambda tx: tx.fetchall("SELECT code_hash FROM web_codes", ()))
    assert all(code not in str(row[0]) for row in rows)  # kept only as a hash


async def test_mydata_is_a_download_and_delete_erases_the_person_and_their_session(
    served: RunningChat, session: aiohttp.ClientSession, db: Database
) -> None:
    page = page_of(served, session)
    await page.open(start="signup-info")
    await past_notice(page)
    await page.say("Kari Nordmann")
    await page.press("Resident")
    await page.say("Moss")
    await page.press("Confirm sign-up")

    await page.say("/mydata")
    file = next(m["file"] for m in reversed(page.messages) if m.get("file"))
    assert file["name"] == "my-data.json" and file["type"] == "application/json"
    data = json.loads(base64.b64decode(file["data"]))
    assert data["you"]["name"] == "Kari Nordmann"

    await page.say("/delete")
    await page.press("Yes, delete my data")
    assert "Everything we kept about you is deleted" in page.text
    await page.close()
    for table in ("participants", "registrations", "web_sessions"):
        left = await db.transact(lambda tx, t=table: tx.fetchone(f"SELECT count(*) FROM {t}", ()))
        assert left[0] == 0, table


async def test_the_page_is_served_with_a_strict_policy_and_campaign_texts_as_text(
    session: aiohttp.ClientSession, db: Database, clock: FixedClock
) -> None:
    shipped = Engine(load_campaign(None), db, clock)  # all eight languages
    async with running_chat(shipped) as served:
        query = {"lang": "ar", "start": '"><script>x</script>'}
        async with session.get(served.url, params=query) as r:
            assert r.status == 200
            body = await r.text()
            policy = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'self'" in policy
        assert '<html lang="ar" dir="rtl">' in body
        assert "<script>x</script>" not in body and "&lt;script&gt;" in body
        async with session.get(served.url + "static/chat.js") as r:
            assert r.status == 200 and r.content_type == "text/javascript"
        async with session.get(served.url + "static/..%2Fchat.py") as r:
            assert r.status == 404


async def test_a_qr_code_carries_the_deep_link(
    served: RunningChat, session: aiohttp.ClientSession
) -> None:
    async with session.get(served.url + "qr.svg", params={"start": "survey"}) as r:
        assert r.status == 200 and r.content_type == "image/svg+xml"
        assert (await r.text()).lstrip().startswith("<svg")
    async with session.get(served.url + "poster", params={"start": "survey"}) as r:
        poster = await r.text()
    assert f"{served.url}?start=survey" in poster


async def test_a_token_the_server_never_gave_is_not_taken_as_a_person(
    served: RunningChat, session: aiohttp.ClientSession, db: Database
) -> None:
    made_up = "A" * 43
    page = page_of(served, session, token=made_up)
    await page.open()
    assert page.token is not None and page.token != made_up  # a new person, a new token
    stored = await db.transact(lambda tx: tx.fetchall("SELECT token_hash FROM web_sessions", ()))
    assert len(stored) == 1 and all(page.token not in str(row[0]) for row in stored)
    await page.close()


async def test_the_web_chat_never_offers_staff_tools(
    served: RunningChat, session: aiohttp.ClientSession
) -> None:
    page = page_of(served, session)
    await page.open()
    assert not any("Staff" in label for label in page.labels)
    await page.say("/staff")
    assert "only for the consultation's staff" in page.text
    await page.close()


@contextlib.asynccontextmanager
async def _run(
    tmp_path: Path, *, stdin: int, address_on: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``python -m handlers run --now ...`` with no platform token on a free port, until
    the block ends; the process and the web chat's address it printed (``address_on``:
    "stderr" beside the console, "stdout" without one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(PORT="0", DATABASE_PATH=str(tmp_path / "run.sqlite3"))
    pipe = asyncio.subprocess.PIPE
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handlers", "run", "--now", "2021-05-25T10:00",
        env=env, stdin=stdin, stdout=pipe, stderr=pipe,
    )  # fmt: skip
    try:
        stream = bot.stderr if address_on == "stderr" else bot.stdout
        assert stream is not None
        line = b""
        while not line.startswith(b"Web chat: "):  # after what run says of its clock
            line = await asyncio.wait_for(stream.readline(), 60)
            assert line, "run ended without printing the web chat's address"
        yield bot, line.decode().strip().removeprefix("Web chat: ")
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()


async def test_run_serves_the_web_chat_beside_the_console_and_prints_its_address(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with _run(tmp_path, stdin=asyncio.subprocess.PIPE, address_on="stderr") as (
        bot,
        address,
    ):
        assert address.startswith("http://localhost:") and address.endswith("/")
        async with session.get(address.replace("localhost", "127.0.0.1")) as page:
            assert page.status == 200 and "Temastrategi" in await page.text()
        assert bot.stdin is not None
        bot.stdin.write(b"/quit\n")
        await bot.stdin.drain()
        assert await asyncio.wait_for(bot.wait(), 30) == 0


async def test_run_started_by_a_service_manager_serves_the_web_chat_until_stopped(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """No platform token and no terminal (systemd gives /dev/null): the web chat only, not a
    console that ends at once on the empty input; SIGTERM stops it cleanly."""
    async with _run(tmp_path, stdin=asyncio.subprocess.DEVNULL, address_on="stdout") as (
        bot,
        address,
    ):
        await asyncio.sleep(1.0)  # a console would have read its empty input and ended by now
        assert bot.returncode is None, "run ended on its own"
        async with session.get(address.replace("localhost", "127.0.0.1")) as page:
            assert page.status == 200 and "Temastrategi" in await page.text()
        bot.terminate()
        assert await asyncio.wait_for(bot.wait(), 30) == 0


async def test_run_with_its_console_waiting_for_input_stops_at_once_on_sigterm(
    tmp_path: Path,
) -> None:
    """The console waits for a line that never comes (the input stays open): SIGTERM, as a
    service manager stops it, ends run within seconds, not when the input ends."""
    async with _run(tmp_path, stdin=asyncio.subprocess.PIPE, address_on="stderr") as (bot, _):
        await asyncio.sleep(0.5)  # the console is waiting for its first line
        bot.terminate()
        assert await asyncio.wait_for(bot.wait(), 10) == 0


async def test_the_web_chat_shows_every_open_consultation_and_opens_one_by_link(
    db: Database, clock: FixedClock, session: aiohttp.ClientSession
) -> None:
    from bot.registry import load_campaigns

    engine = Engine(load_campaigns(), db, clock)
    async with running_chat(engine, limits=FAST) as served:
        page = page_of(served, session)
        await page.open()
        assert "Consultation: Viken's strategy for library development" in page.text
        await page.press("Other consultations")
        assert "Open consultations." in page.text
        assert {"Art and culture", "Volunteering"} <= set(page.labels)
        await page.close()

        linked = page_of(served, session)
        await linked.open(start="survey-culture")  # a poster's QR code for one consultation
        await past_notice(linked)
        assert "Question 1 of 4" in linked.text
        await linked.press("Young person (under 26)")
        assert "Choose up to three" in linked.text
        await linked.close()

        # The poster of one consultation: its title, its link.
        params = {"start": "survey-culture", "lang": "en"}
        async with session.get(served.url + "poster", params=params) as r:
            poster = await r.text()
        assert "Viken&#x27;s strategy for art and culture" in poster
        assert f"{served.url}?start=survey-culture" in poster
        async with session.get(served.url, params=params) as r:
            page_html = await r.text()
        assert "<title>Viken&#x27;s strategy for art and culture" in page_html
