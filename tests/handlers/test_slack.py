"""The Slack app through the real slack-bolt and slack_sdk stacks, against the fake Slack
Web API (tests/fakes/slack.py) and a driver that POSTs signed requests as Slack does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from icalendar import Calendar

from bot.campaign import Campaign, load_campaign
from bot.clock import FixedClock
from bot.engine import COMMANDS, Engine
from bot.i18n import name_commands, use_commands
from handlers.slack import SlackHandler
from storage.database import Database
from tests.conftest import OSLO
from tests.fakes.slack import AppResponse, FakeSlack, SlackDriver

SECRET = "test-signing-secret"
ZOOM = "https://zoom.us/j/123456789"


@dataclass
class World:
    fake: FakeSlack
    driver: SlackDriver
    handler: SlackHandler
    engine: Engine
    base_url: str

    async def settle(self) -> None:
        """Wait until the app has sent everything it was going to send."""
        await asyncio.sleep(0.01)
        await self.handler.delivery.idle()


class Person:
    """Someone in a Slack workspace using the app in their DM."""

    def __init__(self, world: World, team: str, user: str) -> None:
        self.world = world
        self.team = team
        self.user = user

    @property
    def fake(self) -> FakeSlack:
        return self.world.fake

    async def say(self, text: str) -> AppResponse:
        response = await self.world.driver.message(self.team, self.user, text)
        await self.world.settle()
        return response

    async def press(self, label: str, **kw: Any) -> AppResponse:
        response = await self.world.driver.press(self.team, self.user, label, **kw)
        await self.world.settle()
        await self._past_notice()
        return response

    async def _past_notice(self) -> None:
        """Go on past the privacy notice when it is shown (tests are about other things)."""
        dm = self.fake.dm(self.team, self.user)
        modal = self.fake.modal(self.team, self.user)
        if modal is not None and "OK, go on" in modal.labels:  # a press on the App Home
            await self.world.driver.press(self.team, self.user, "OK, go on", where="modal")
            await self.world.settle()
        elif dm and "OK, go on" in dm[-1].labels:
            await self.world.driver.press(self.team, self.user, "OK, go on")
            await self.world.settle()

    async def tick(self, labels: list[str]) -> None:
        await self.world.driver.check(self.team, self.user, labels)
        await self.world.settle()

    async def submit(self, values: dict[str, Any]) -> AppResponse:
        response = await self.world.driver.submit(self.team, self.user, values)
        await self.world.settle()
        return response

    @property
    def text(self) -> str:
        return self.fake.last_dm(self.team, self.user).all_text

    @property
    def texts(self) -> list[str]:
        return self.fake.dm_texts(self.team, self.user)

    async def start(self) -> None:
        """Write to the app: the main menu."""
        await self.say("hei")


async def _world(
    tmp_path: Any, campaign: Campaign, clock: FixedClock, *, oauth: bool = False
) -> tuple[World, Callable[[], Any]]:
    fake = FakeSlack()
    await fake.start()
    db = await Database.open(tmp_path / "slack.sqlite3")
    engine = Engine(campaign, db, clock)
    if oauth:
        handler = SlackHandler(
            engine,
            clock,
            signing_secret=SECRET,
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            api_url=fake.api_url,
        )
    else:
        token = fake.add_team("T1", "Asker bibliotek")
        handler = SlackHandler(
            engine, clock, signing_secret=SECRET, token=token, api_url=fake.api_url
        )
    await handler.start()
    runner = web.AppRunner(handler.web_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    driver = SlackDriver(f"{base}/slack/events", SECRET, fake)
    world = World(fake, driver, handler, engine, base)

    async def close() -> None:
        await driver.close()
        await runner.cleanup()
        await handler.stop()
        await db.close()
        await fake.stop()

    return world, close


@pytest.fixture
def with_link(make_campaign: Callable[..., Campaign]) -> Campaign:
    def edit(data: dict[str, Any]) -> None:
        data["meetings"][0]["link"] = ZOOM

    return make_campaign(edit)


@pytest.fixture
async def world(tmp_path: Any, with_link: Campaign, clock: FixedClock) -> AsyncIterator[World]:
    made, close = await _world(tmp_path, with_link, clock)
    yield made
    await close()


@pytest.fixture
def kari(world: World) -> Person:
    world.fake.add_user("T1", "U100", "Kari Nordmann", "en-US")
    return Person(world, "T1", "U100")


async def test_a_direct_message_gets_the_menu_and_the_privacy_notice_comes_first(
    kari: Person,
) -> None:
    response = await kari.say("hello")
    assert response.status == 200
    assert "Hello! This is the chat about" in kari.text
    assert "Meetings and sign-up" in kari.fake.last_dm("T1", "U100").labels
    await kari.world.driver.press("T1", "U100", "Take the survey")
    await kari.world.settle()
    assert "OK, go on" in kari.fake.last_dm("T1", "U100").labels  # nothing stored before it


async def test_sign_up_in_a_modal_with_municipality_type_ahead_and_calendar_invite(
    world: World, kari: Person
) -> None:
    await kari.start()
    await kari.press("Meetings and sign-up")
    await kari.press("Sign up: Information meeting")
    modal = world.fake.modal("T1", "U100")
    assert modal is not None, "the sign-up form opens as a modal"
    name = next(e for e in modal.inputs if e.action_id == "name")
    assert name.raw.get("initial_value") == "Kari Nordmann"  # from the Slack profile

    options = await world.driver.options("T1", "U100", "municipality", "sarps")
    labels = [o["text"]["text"] for o in options]
    assert labels[0] == "Sarpsborg"
    assert labels[-1] == "Other / outside Viken"
    sarpsborg = options[0]["value"]

    answer = await kari.submit(
        {
            "name": "Kari Nordmann",
            "role": "library",
            "organisation": "Asker bibliotek",
            "municipality": sarpsborg,
        }
    )
    assert answer.status == 200 and not answer.text.strip(), "an empty answer closes the modal"
    assert world.fake.modal("T1", "U100") is None
    confirmation = "\n".join(kari.texts[-2:])
    assert "You are signed up! Welcome." in confirmation
    assert ZOOM in confirmation

    files = world.fake.files("T1", "U100")
    assert [f.filename for f in files] == ["info.ics"]
    event = next(iter(Calendar.from_ical(files[0].content).walk("VEVENT")))
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert start == datetime(2021, 6, 1, 14, 0, tzinfo=OSLO)
    assert end == datetime(2021, 6, 1, 15, 0, tzinfo=OSLO)
    assert str(event["dtstart"].params["TZID"]) == "Europe/Oslo"
    assert "Information meeting" in str(event["summary"])
    assert ZOOM in str(event["description"]) and str(event["url"]) == ZOOM
    assert Calendar.from_ical(files[0].content).walk("VTIMEZONE"), "Outlook needs VTIMEZONE"


async def test_a_form_with_mistakes_is_refused_field_by_field_and_stores_nothing(
    world: World, kari: Person
) -> None:
    await kari.start()
    await kari.press("Meetings and sign-up")
    await kari.press("Sign up: Information meeting")
    before = kari.texts
    answer = await kari.submit(
        {"name": "   ", "role": "library", "organisation": "", "municipality": "other"}
    )
    assert answer.status == 200
    assert answer.json["response_action"] == "errors"
    assert answer.json["errors"] == {"name": "Please type your name."}
    assert world.fake.modal("T1", "U100") is not None, "the modal stays open to be mended"
    assert kari.texts == before and not world.fake.files("T1", "U100")

    answer = await kari.submit({"name": "Kari N."})
    assert answer.status == 200 and not answer.text.strip()
    assert "You are signed up! Welcome." in "\n".join(kari.texts[len(before) :])


async def stored_answers(engine: Engine, team: str, user: str) -> dict[str, object]:
    """The person's stored survey answers, decoded."""
    import json

    from storage.participants import find_participant
    from storage.responses import load_response

    async def job(tx: Any) -> dict[str, object]:
        p = await find_participant(tx, "slack", team, user)
        assert p is not None
        response = await load_response(tx, p.id, "viken-2021", "strategy")
        assert response is not None
        return {
            qid: (None if a.value is None else json.loads(a.value))
            for qid, a in response.answers.items()
        }

    return await engine.db.transact(job)


async def test_the_survey_in_a_dm_to_the_end_with_tick_boxes_back_and_skip(
    world: World, kari: Person
) -> None:
    await kari.start()
    await kari.press("Take the survey")
    assert "Question 1 of 12" in kari.text
    first = world.fake.last_dm("T1", "U100")
    await kari.press("Young person (under 26)")
    # The answered question loses its buttons and shows the choice.
    closed = next(m for m in world.fake.dm("T1", "U100") if m.ts == first.ts)
    assert closed.buttons == [] and "\u2713 Young person (under 26)" in closed.all_text
    await kari.say("Asker")
    await kari.press("16–19")
    await kari.press("Back")
    assert "How old are you?" in kari.text
    await kari.press("16–19")
    await kari.press("Every week")
    multi = world.fake.last_dm("T1", "U100")
    assert multi.checkboxes, "a multi-select is shown as tick boxes"
    await kari.tick(["Borrow books", "E-books and audiobooks"])
    await kari.tick(["E-books and audiobooks"])  # untick one
    await kari.press("Done")
    await kari.tick(["Getting people reading"])
    await kari.press("Done")
    await kari.press("3")
    await kari.tick(["4 Quality education"])
    await kari.press("Done")
    await kari.say("Comics & <gaming>")
    await kari.press("Skip")
    await kari.press("Yes")
    await kari.press("No, thanks")
    assert "Please check your answers" in kari.text
    await kari.press("Send my answers")
    assert "Thank you for your answers!" in kari.text

    answers = await stored_answers(world.engine, "T1", "U100")
    assert answers["age"] == "16-19"
    assert answers["use_for"] == ["ebooks"]
    assert answers["sdgs"] == ["sdg4"]
    assert answers["youth_offer"] == "Comics & <gaming>"
    assert answers["ideas"] is None


async def _events_recorded(engine: Engine) -> int:
    async def job(tx: Any) -> int:
        row = await tx.fetchone("SELECT count(*) FROM processed_events")
        return int(row[0])

    return await engine.db.transact(job)


async def test_a_forged_or_stale_signature_gets_401_and_changes_nothing(
    world: World, kari: Person
) -> None:
    forged = await world.driver.message("T1", "U100", "hello", signature="v0=" + "0" * 64)
    assert forged.status == 401
    import time

    stale = await world.driver.message("T1", "U100", "hello", timestamp=int(time.time()) - 360)
    assert stale.status == 401
    await world.settle()
    assert world.fake.dm("T1", "U100") == []
    assert await _events_recorded(world.engine) == 0

    # A press (a form body, decoded by us, not Bolt) is checked just the same.
    await kari.say("hello")
    events_before = await _events_recorded(world.engine)
    forged_press = await world.driver.press(
        "T1", "U100", "Take the survey", signature="v0=" + "1" * 64
    )
    assert forged_press.status == 401
    command = await world.driver.command(
        "T1", "U100", "/consultation", "survey", timestamp=int(time.time()) - 600
    )
    assert command.status == 401
    await world.settle()
    assert await _events_recorded(world.engine) == events_before


async def test_an_event_is_acknowledged_only_after_it_is_committed(
    world: World, kari: Person
) -> None:
    response = await world.driver.message("T1", "U100", "hello")
    assert response.status == 200
    # No waiting for the replies: what the event carried is in the database already.
    assert await _events_recorded(world.engine) == 1
    assert response.elapsed < 3.0


async def test_a_retried_or_redelivered_event_changes_nothing(world: World, kari: Person) -> None:
    await kari.start()
    await kari.press("Take the survey")
    await kari.press("Young person (under 26)")
    first = await world.driver.message("T1", "U100", "Asker")
    await world.settle()
    sent = len(world.fake.dm("T1", "U100"))
    again = await world.driver.message(
        "T1", "U100", "Asker", event_id=first.event_id, retry_num=1, retry_reason="http_timeout"
    )
    assert again.status == 200
    await world.settle()
    assert len(world.fake.dm("T1", "U100")) == sent, "no second reply"
    assert "How old are you?" in kari.text
    answers = await stored_answers(world.engine, "T1", "U100")
    assert answers["municipality"] == "Asker"


async def test_app_home_shows_meetings_then_my_registration_with_the_link(
    world: World, kari: Person
) -> None:
    await world.driver.home_opened("T1", "U100")
    await world.settle()
    home = world.fake.home("T1", "U100")
    assert home is not None
    assert "Information meeting on the three strategies" in home.all_text
    assert "Survey: answer by Monday, 14 June 2021 at 12:00" in home.all_text
    assert ZOOM not in home.all_text, "the link is only for those who signed up"
    assert await _events_recorded(world.engine) == 0, "looking stores nothing"

    await world.driver.press("T1", "U100", "Sign up: Information meeting", where="home")
    await world.settle()
    notice = world.fake.modal("T1", "U100")  # answered where she is looking, not in the DM
    assert notice is not None and "OK, go on" in notice.labels
    assert world.fake.dm("T1", "U100") == []
    await kari.press("OK, go on", where="modal")  # the same modal becomes the form
    form = world.fake.modal("T1", "U100")
    assert form is not None and form.id == notice.id and form.inputs
    await kari.submit(
        {"name": "Kari", "role": "library", "organisation": "Asker bibliotek", "municipality": "0"}
    )
    home = world.fake.home("T1", "U100")
    assert home is not None
    assert "You have a place." in home.all_text and ZOOM in home.all_text
    assert "Cancel: Information meeting" in home.labels
    assert "Sign up: Information meeting" not in home.labels  # signed up already

    await kari.press("Cancel: Information meeting", where="home")
    await kari.press("Yes, cancel", where="modal")
    home = world.fake.home("T1", "U100")
    assert home is not None and "You have a place." not in home.all_text


async def test_a_sticker_or_file_gets_a_hint(world: World, kari: Person) -> None:
    await kari.start()
    await world.driver.message_with_file("T1", "U100")
    await world.settle()
    assert "I can only read text and button presses" in kari.text


async def test_installed_through_oauth_in_two_workspaces_each_uses_its_own_token(
    tmp_path: Any, with_link: Campaign, clock: FixedClock
) -> None:
    world, close = await _world(tmp_path, with_link, clock, oauth=True)
    try:
        fake, driver = world.fake, world.driver
        for team, name in (("T1", "Asker bibliotek"), ("T2", "Moss kommune")):
            fake.add_team(team, name)
            fake.add_user(team, "U1", f"Librarian of {name}", "en-US")
            answer = await driver.install(
                team,
                "U1",
                f"{world.base_url}/slack/install",
                f"{world.base_url}/slack/oauth_redirect",
            )
            assert answer.status == 200, answer.text[:300]
        for team in ("T1", "T2"):
            person = Person(world, team, "U1")
            await person.start()
            await person.press("Meetings and sign-up")
            await person.press("Sign up: Information meeting")
            await person.submit(
                {"name": "Ola", "role": "library", "organisation": "", "municipality": "0"}
            )
            assert "You are signed up! Welcome." in "\n".join(person.texts[-2:])
        posted = fake.called("chat.postMessage")
        assert {c.team for c in posted} == {"T1", "T2"}
        assert all(c.params["channel"].startswith("D") for c in posted)

        from storage.slack import count_installations

        assert await world.engine.db.transact(count_installations) == 2
        # A forged state is refused.
        async with driver.session.get(
            f"{world.base_url}/slack/oauth_redirect?code=x&state=forged"
        ) as resp:
            assert resp.status >= 400
    finally:
        await close()


async def test_a_broadcast_reaches_slack_people_once_in_their_language(
    world: World, clock: FixedClock
) -> None:
    from bot.broadcast import Segment, send
    from bot.outbox import OutboxDispatcher
    from storage.outbox import batch_progress

    people = []
    for number, locale in enumerate(["nb-NO", "en-US", "nb-NO", "en-GB", "en-US"]):
        world.fake.add_user("T1", f"U{number}", f"Person {number}", locale)
        person = Person(world, "T1", f"U{number}")
        await person.start()
        people.append(person)
    messages = {"nb": "Hei fra fylkesbiblioteket", "en": "Hello from the county library"}
    await send(
        world.engine.db,
        world.engine.campaign,
        Segment("everyone", platform="slack"),
        messages,
        "broadcast:hello",
        clock.now(),
    )
    world.fake.rate_limit("chat.postMessage", times=1, retry_after=1)  # waited out
    world.fake.fail("chat.postMessage", "channel_not_found", times=1)  # out of reach
    dispatcher = OutboxDispatcher(
        world.engine.db, "slack", world.handler.deliver_outbox, clock, rate=50
    )
    await dispatcher.run_once()
    progress = await world.engine.db.transact(lambda tx: batch_progress(tx, "broadcast:hello"))
    assert progress == {"sent": 4, "unreachable": 1}
    reached = 0
    for person in people:
        expected = messages["nb" if person.user in ("U0", "U2") else "en"]
        got = [t for t in person.texts if t == expected]
        assert len(got) <= 1, "nobody twice"
        reached += len(got)
    assert reached == 4
    await dispatcher.run_once()  # again: nothing more goes out
    assert sum(len([t for t in p.texts if t in messages.values()]) for p in people) == 4


async def test_the_slash_command_opens_the_sign_up_form(world: World, kari: Person) -> None:
    await kari.start()
    await kari.press("Privacy and my data")  # (any step: the command works from anywhere)
    answer = await world.driver.command("T1", "U100", "/consultation", "signup info")
    await world.settle()
    assert answer.status == 200
    await kari._past_notice()
    modal = world.fake.modal("T1", "U100")
    assert modal is not None and "Information meeting" in modal.all_text


async def test_erasing_a_slack_person_forgets_that_they_installed_the_app(
    tmp_path: Any, with_link: Campaign, clock: FixedClock
) -> None:
    world, close = await _world(tmp_path, with_link, clock, oauth=True)
    try:
        world.fake.add_team("T9", "Drammen bibliotek")
        world.fake.add_user("T9", "U9", "Installer Person", "en-US")
        answer = await world.driver.install(
            "T9", "U9", f"{world.base_url}/slack/install", f"{world.base_url}/slack/oauth_redirect"
        )
        assert answer.status == 200
        person = Person(world, "T9", "U9")
        await person.start()
        await person.press("Privacy and my data")
        await person.press("Delete my data")
        await person.press("Yes, delete my data")

        async def installer(tx: Any) -> str:
            row = await tx.fetchone(
                "SELECT installer_user_id FROM slack_installations WHERE team_id = 'T9'"
            )
            return str(row[0])

        assert await world.engine.db.transact(installer) == ""
        assert ("T9", "U9") not in world.handler._people, "their Slack profile is forgotten"
        await person.say("hello")  # the app still works in that workspace
        assert "What would you like to do?" in person.text
    finally:
        await close()


async def test_a_mention_gets_the_menu_in_the_dm_and_an_old_button_moves_on(
    world: World, kari: Person
) -> None:
    await world.driver.app_mention("T1", "U100", "<@U0BOT1> hi")
    await world.settle()
    assert "What would you like to do?" in kari.text
    await kari.press("Take the survey")
    import copy

    question = copy.deepcopy(world.fake.last_dm("T1", "U100"))  # as a slow phone shows it
    await kari.press("Resident")
    await kari.press("Resident", message=question)  # the old question again
    assert "That button is from an earlier step" in "\n".join(kari.texts[-2:])
    answers = await stored_answers(world.engine, "T1", "U100")
    assert answers == {"category": "resident"}


async def test_staff_in_slack_broadcast_from_the_chat_and_everyone_else_is_refused(
    world: World, kari: Person, clock: FixedClock
) -> None:
    from bot.outbox import OutboxDispatcher
    from bot.staff import ResultsFiles
    from storage.staff import grant_staff

    world.fake.add_user("T1", "U200", "Per Hansen", "en-US")
    per = Person(world, "T1", "U200")
    await per.start()
    await kari.start()
    refused = await world.driver.command("T1", "U200", "/consultation", "staff")
    await world.settle()
    assert refused.status == 200 and "only for the consultation's staff" in per.text

    await world.engine.db.transact(
        lambda tx: grant_staff(tx, "slack", "T1", "U100", "", clock.now())
    )
    await world.driver.command("T1", "U100", "/consultation", "staff")
    await world.settle()
    await kari.press("New broadcast")
    await kari.press("Everyone")
    await kari.press("Slack")
    await kari.press("All languages")
    await kari.say("The Zoom link is ready")
    assert "The Zoom link is ready" in kari.texts[-2] and "2 recipients" in kari.text
    await kari.press("Send it to 2 people")
    files = ResultsFiles(world.engine.db, lambda _c: world.engine.campaign, clock)
    dispatcher = OutboxDispatcher(
        world.engine.db,
        "slack",
        world.handler.deliver_outbox,
        clock,
        rate=50,
        prepare=files.preparers(),
    )
    await dispatcher.run_once()
    await dispatcher.run_once()  # the summary to the staff member who sent it
    await world.settle()
    assert per.texts.count("The Zoom link is ready") == 1
    assert kari.texts.count("The Zoom link is ready") == 2  # the preview, then her own copy
    assert "Your broadcast has gone out: sent 2, failed 0" in kari.text

    await kari.press("Staff")
    await kari.press("Results as a spreadsheet")
    assert "Preparing the results" in kari.text
    await dispatcher.run_once()
    await world.settle()
    sent = world.fake.files("T1", "U100")
    assert [f.filename for f in sent] == ["results.xlsx"]
    import io

    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(sent[0].content))
    assert len(workbook.sheetnames) >= 3


async def test_info_logs_of_a_slack_session_hold_no_personal_data(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    world.fake.add_user("T1", "U424242", "Ingrid Infolog", "en-US")
    person = Person(world, "T1", "U424242")
    await person.say("Secret words")
    await person.press("Meetings and sign-up")
    await person.press("Sign up: Information meeting")
    await person.submit(
        {
            "name": "Ingrid Infolog",
            "role": "library",
            "organisation": "Hidden Org",
            "municipality": "0",
        }
    )
    await person.press("Main menu")
    await person.press("Take the survey")
    await person.press("Resident")
    await person.say("Asker")
    await world.driver.message_with_file("T1", "U424242")
    await world.driver.event("T1", {"type": "member_joined_channel", "user": "U424242"})
    await world.settle()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for trace in ("U424242", "Ingrid", "Infolog", "Hidden Org", "Asker", "Secret words"):
        assert trace not in logged


async def test_ticks_follow_what_the_person_sees_even_when_an_update_failed(
    world: World, kari: Person
) -> None:
    await kari.start()
    await kari.press("Take the survey")
    await kari.press("Resident")
    await kari.say("Asker")
    await kari.press("Every week")
    world.fake.fail("chat.update", "internal_error", times=1)  # the message stays stale
    await kari.tick(["Borrow books"])
    await kari.tick([])  # untick it again
    await kari.tick(["Meet people, go to events", "E-books and audiobooks"])
    await kari.press("Done")
    answers = await stored_answers(world.engine, "T1", "U100")
    assert answers["use_for"] == ["events", "ebooks"]


async def test_reinstalled_with_a_new_token_the_app_goes_on_answering(
    tmp_path: Any, with_link: Campaign, clock: FixedClock
) -> None:
    from storage.participants import find_participant

    world, close = await _world(tmp_path, with_link, clock, oauth=True)
    install = (f"{world.base_url}/slack/install", f"{world.base_url}/slack/oauth_redirect")
    try:
        fake, driver = world.fake, world.driver
        fake.add_team("T1", "Asker")
        fake.add_user("T1", "U1", "Kari", "en-US")
        assert (await driver.install("T1", "U1", *install)).status == 200
        person = Person(world, "T1", "U1")
        await person.start()
        await driver.app_uninstalled("T1")
        await world.settle()
        fake.teams.pop("T1")
        fake.add_team("T1", "Asker")  # installed again: Slack gives a new bot token
        assert (await driver.install("T1", "U1", *install)).status == 200
        before = len(person.texts)
        await person.say("hei")
        assert len(person.texts) == before + 1, "answered with the new token"
        found = await world.engine.db.transact(
            lambda tx: find_participant(tx, "slack", "T1", "U1")
        )
        assert found is not None and not found.unreachable
    finally:
        await close()


async def test_a_slow_profile_lookup_does_not_keep_slack_waiting(
    world: World, kari: Person
) -> None:
    world.fake.rate_limit("users.info", times=3, retry_after=4)
    answer = await world.driver.message("T1", "U100", "hello")
    assert answer.status == 200 and answer.elapsed < 2.5
    await world.settle()
    # Answered all the same, in the campaign's default language (no locale to go by).
    assert "Møter og påmelding" in world.fake.last_dm("T1", "U100").labels


def test_form_bodies_decode_as_urllib_decodes_them() -> None:
    import json
    from urllib.parse import parse_qsl, urlencode

    from handlers.slack import parse_form

    for text in ["signup info æ+ %41 ", "plain", "a&b=c;d", "emoji 😀 «»", "", "ø" * 500]:
        body = urlencode({"text": text, "team_id": "T1", "empty": ""})
        assert parse_form(body) == dict(parse_qsl(body, keep_blank_values=True))
    payload = {"type": "block_actions", "text": 'æøå \\n " <>&+% 😀', "n": [1, 2]}
    assert parse_form(urlencode({"payload": json.dumps(payload, ensure_ascii=False)})) == payload


async def test_a_fourth_tick_of_three_is_refused_and_the_boxes_are_put_right(
    world: World, kari: Person
) -> None:
    await kari.start()
    await kari.press("Take the survey")
    await kari.press("Resident")
    await kari.say("Asker")
    await kari.press("Never")
    first_three = ["Getting people reading", "Learning and education", "Digital inclusion"]
    await kari.tick(first_three)
    updates = len(world.fake.called("chat.update"))
    await kari.tick([*first_three, "Art, culture and events"])
    assert len(world.fake.called("chat.update")) == updates + 1, "the boxes are redrawn"
    question = world.fake.last_dm("T1", "U100")
    assert "at most 3" in question.all_text
    boxes = question.checkboxes[0].raw
    assert [o["text"]["text"] for o in boxes["initial_options"]] == first_three
    await kari.press("Done")
    answers = await stored_answers(world.engine, "T1", "U100")
    assert answers["priorities"] == ["reading", "learning", "digital"]


async def test_a_reply_that_could_not_be_sent_is_sent_again_once(
    world: World, kari: Person
) -> None:
    world.fake.fail("chat.postMessage", "internal_error", times=1)
    answer = await kari.say("hello")
    assert answer.status == 200  # stored and acknowledged: Slack will not send it again
    assert world.fake.dm("T1", "U100") == []
    assert await world.handler.delivery.retry_failed() == 1
    assert "What would you like to do?" in kari.text
    assert await world.handler.delivery.retry_failed() == 0
    assert len(world.fake.dm("T1", "U100")) == 1


async def test_a_confirmed_multi_select_shows_the_ticks_the_person_chose(
    world: World, kari: Person
) -> None:
    await kari.start()
    await kari.press("Take the survey")
    await kari.press("Resident")
    await kari.say("Asker")
    await kari.press("Every week")
    question = world.fake.last_dm("T1", "U100")
    await kari.tick(["Borrow books", "E-books and audiobooks"])
    await kari.press("Done")
    closed = next(m for m in world.fake.dm("T1", "U100") if m.ts == question.ts)
    assert closed.buttons == [] and closed.checkboxes == []
    assert "\u2713 Borrow books, E-books and audiobooks" in closed.all_text


async def test_after_a_start_a_burst_of_people_asks_slack_who_the_bot_is_only_once(
    world: World,
) -> None:
    """Bolt asks auth.test on the first request, and again on each request that comes
    before the answer: after a restart with Slack's retries queued, hundreds of calls.
    The app asked once as it started."""
    people = [f"U{200 + n}" for n in range(20)]
    for user in people:
        world.fake.add_user("T1", user, f"Person {user}", "en-US")
    world.fake.latency = 0.05  # each call takes a while, as over the internet
    responses = await asyncio.gather(*(world.driver.message("T1", u, "hi") for u in people))
    await world.settle()

    assert [r.status for r in responses] == [200] * len(people)
    assert all("Take the survey" in world.fake.last_dm("T1", u).labels for u in people)
    assert len(world.fake.called("auth.test")) == 1


async def test_commands_are_named_as_they_are_typed_in_slack(world: World, kari: Person) -> None:
    """In Slack a message starting with / is a slash command, and the app has one:
    "/mydata" must read "/consultation mydata" (in help, the privacy notice, any text)."""
    await kari.start()
    await world.driver.command("T1", "U100", "/consultation", "help")
    await world.settle()
    help_text = kari.text
    assert "/consultation survey" in help_text and "/consultation mydata" in help_text
    assert " /survey" not in help_text and "(/mydata)" not in help_text

    await kari.press("Privacy and my data")
    assert "/consultation mydata" in kari.text and "/consultation delete" in kari.text

    await world.driver.command("T1", "U100", "/consultation", "nonsense")
    await world.settle()
    assert "/consultation nonsense" in kari.text

    # Other slashes stay as they are.
    with use_commands("/c ", COMMANDS):
        assert name_commands("and/or https://x.no/help 1/2 /helpful") == (
            "and/or https://x.no/help 1/2 /helpful"
        )


@pytest.mark.parametrize("language", ["nb", "nn", "en", "se", "pl", "uk", "ar", "so"])
async def test_the_whole_survey_in_a_slack_dm_in_every_shipped_language(
    tmp_path: Any, clock: FixedClock, language: str
) -> None:
    """Every message in every language within Slack's limits (the fake checks each block
    as Slack does), from the language menu to the thanks, the answers stored."""
    world, close = await _world(tmp_path, load_campaign(None), clock)
    try:
        await _whole_survey_in(world, language)
    finally:
        await close()


async def _whole_survey_in(world: World, language: str) -> None:
    fake, driver, user = world.fake, world.driver, "U300"
    fake.add_user("T1", user, "Aino Aikio", "en-US")

    async def press(value: str) -> None:
        await driver.press("T1", user, value=value)
        await world.settle()

    def values() -> list[str]:
        return [b.value or "" for b in fake.last_dm("T1", user).buttons]

    await driver.message("T1", user, "hi")
    await world.settle()
    await press("g:lang")
    await press(f"g:lang:{language}")
    await press("g:survey")
    await press(next(v for v in values() if v.endswith(":ok")))  # the privacy notice

    for _step in range(40):
        shown = values()
        if any(v.endswith(":s") for v in shown):  # the review: send
            await press(next(v for v in shown if v.endswith(":s")))
            break
        boxes = fake.last_dm("T1", user).checkboxes
        if boxes:
            await driver.check("T1", user, [boxes[0].raw["options"][0]["text"]["text"]])
            await press(next(v for v in shown if v.endswith(":d")))
        elif any(":o:" in v for v in shown):
            await press(next(v for v in shown if ":o:" in v))
        else:  # a municipality or an idea to type
            await driver.message("T1", user, "Asker")
            await world.settle()

    assert not [c for c in fake.calls if c.error], "Slack refused a call"

    async def sent(tx: Any) -> Any:
        return await tx.fetchone("SELECT count(*) FROM responses WHERE status = 'submitted'")

    assert (await world.engine.db.transact(sent))[0] == 1


async def test_app_home_and_the_dm_offer_every_open_consultation(
    tmp_path: Any, clock: FixedClock
) -> None:
    from bot.registry import load_campaigns

    world, close = await _world(tmp_path, load_campaigns(), clock)  # type: ignore[arg-type]
    try:
        world.fake.add_user("T1", "U300", "Lise", "en-US")
        lise = Person(world, "T1", "U300")
        await world.driver.home_opened("T1", "U300")
        await world.settle()
        home = world.fake.home("T1", "U300")
        assert home is not None
        assert "Viken's strategy for library development" in home.all_text
        assert "Open consultations." in home.all_text
        assert {"Art and culture", "Volunteering"} <= set(home.labels)

        await lise.say("hei")
        await lise.press("Other consultations")
        assert "Open consultations." in lise.text
        await lise.press("Art and culture")
        assert "Consultation: Viken's strategy for art and culture" in lise.text
        await world.driver.home_opened("T1", "U300")
        await world.settle()
        home = world.fake.home("T1", "U300")
        assert home is not None and "Viken's strategy for art and culture" in home.all_text
    finally:
        await close()
