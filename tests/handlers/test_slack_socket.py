"""The Slack app in Socket Mode: ``handlers.slack.serve`` with an app-level token connects to
the fake over a WebSocket (slack_bolt's ``AsyncSocketModeHandler`` on slack_sdk's aiohttp
``SocketModeClient``) and gets events, presses, submissions and commands as envelopes, which
it acknowledges on the socket. The driver is the HTTP tests' one with ``socket=True``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from handlers.slack import SlackHandler, serve
from storage.database import Database
from tests.fakes.slack import FakeSlack, SlackDriver

SECRET = "test-signing-secret"
TEAM = "T1"
KARI = "U100"
SIGN_UP: dict[str, str | list[str]] = {
    "name": "Kari",
    "role": "library",
    "organisation": "",
    "municipality": "0",
}


@dataclass
class SocketWorld:
    fake: FakeSlack
    driver: SlackDriver
    handler: SlackHandler
    engine: Engine
    app_token: str
    serving: asyncio.Task[None]

    async def settle(self) -> None:
        """Wait until the app has sent everything it was going to send."""
        await asyncio.sleep(0.01)
        await self.handler.delivery.idle()

    def labels(self) -> list[str]:
        """The buttons of the bot's last message to Kari."""
        dm = self.fake.dm(TEAM, KARI)
        return dm[-1].labels if dm else []

    async def until(self, condition: Any, what: str) -> None:
        """Wait for ``condition()``; fail early (with its error) if ``serve`` stopped."""
        try:
            await self.fake.wait_for(lambda: self.serving.done() or condition(), timeout=3.0)
        except AssertionError:
            raise AssertionError(f"{what}: not in time; the DM: {self.texts()}") from None
        if self.serving.done():
            self.serving.result()
            raise AssertionError("serve() returned")

    def texts(self) -> list[str]:
        return self.fake.dm_texts(TEAM, KARI)


@pytest.fixture
async def world(
    tmp_path: Any, campaign: Campaign, clock: FixedClock
) -> AsyncIterator[SocketWorld]:
    fake = FakeSlack()
    await fake.start()
    bot_token = fake.add_team(TEAM, "Asker bibliotek")
    app_token = fake.add_app_token()
    fake.add_user(TEAM, KARI, "Kari Nordmann", "en-US")
    db = await Database.open(tmp_path / "slack.sqlite3")
    engine = Engine(campaign, db, clock)
    handler = SlackHandler(
        engine, clock, signing_secret=SECRET, token=bot_token, api_url=fake.api_url
    )
    serving = asyncio.ensure_future(serve(handler, app_token=app_token, port=0))
    driver = SlackDriver("", SECRET, fake, socket=True)
    made = SocketWorld(fake, driver, handler, engine, app_token, serving)
    try:
        await made.until(lambda: bool(fake.open_sockets), "the app connects over Socket Mode")
        yield made
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await driver.close()
        await db.close()
        await fake.stop()


async def _menu(world: SocketWorld) -> None:
    answer = await world.driver.message(TEAM, KARI, "hello")
    assert answer.status == 200 and answer.json is None, "an event is acked without a payload"
    await world.until(lambda: "Meetings and sign-up" in world.labels(), "the menu")


async def test_the_app_connects_with_its_app_token_and_uses_the_bot_token_for_the_rest(
    world: SocketWorld,
) -> None:
    opened = world.fake.called("apps.connections.open")
    assert len(opened) == 1 and opened[0].error is None
    connection = world.fake.socket_connection()
    assert connection.query.get("app_id") == world.fake.app_id
    await _menu(world)
    others = [c for c in world.fake.calls if c.method != "apps.connections.open"]
    assert others and all(c.team == TEAM and c.error is None for c in others), [
        (c.method, c.error) for c in others
    ]
    envelope = world.fake.socket_envelopes[-1]
    assert envelope["type"] == "events_api" and envelope["retry_attempt"] == 0
    assert [a.envelope_id for a in world.fake.socket_acks] == [envelope["envelope_id"]]


async def test_over_socket_mode_a_message_gets_the_menu_and_the_sign_up_modal_works(
    world: SocketWorld,
) -> None:
    fake, driver = world.fake, world.driver
    await _menu(world)
    assert "Hello! This is the chat about" in fake.last_dm(TEAM, KARI).all_text

    await driver.press(TEAM, KARI, "Meetings and sign-up")
    await world.until(lambda: "Sign up: Information meeting" in world.labels(), "the meetings")
    await driver.press(TEAM, KARI, "Sign up: Information meeting")
    await world.until(lambda: "OK, go on" in world.labels(), "the privacy notice")
    assert fake.modal(TEAM, KARI) is None, "nothing before the notice is accepted"
    pressed = await driver.press(TEAM, KARI, "OK, go on")
    assert pressed.status == 200
    await world.until(lambda: fake.modal(TEAM, KARI) is not None, "the sign-up modal")
    modal = fake.modal(TEAM, KARI)
    assert modal is not None
    name = next(e for e in modal.inputs if e.action_id == "name")
    assert name.raw.get("initial_value") == "Kari Nordmann", "from the Slack profile"

    # The municipality type-ahead: an options request over the socket, answered in the ack.
    options = await driver.options(TEAM, KARI, "municipality", "sarps")
    assert options[0]["text"]["text"] == "Sarpsborg"

    answer = await driver.submit(TEAM, KARI, SIGN_UP)
    assert answer.status == 200 and answer.json is None, "an empty ack closes the modal"
    assert fake.modal(TEAM, KARI) is None
    await world.until(
        lambda: "You are signed up! Welcome." in "\n".join(world.texts()), "the confirmation"
    )
    await world.until(lambda: bool(fake.files(TEAM, KARI)), "the calendar invite")
    assert [f.filename for f in fake.files(TEAM, KARI)] == ["info.ics"]
    kinds = [e["type"] for e in fake.socket_envelopes]
    assert set(kinds) == {"events_api", "interactive"}
    assert len(fake.socket_acks) == len(fake.socket_envelopes), "every envelope acked"


async def test_a_form_with_mistakes_is_refused_in_the_ack(world: SocketWorld) -> None:
    fake, driver = world.fake, world.driver
    await _menu(world)
    await driver.press(TEAM, KARI, "Meetings and sign-up")
    await world.until(lambda: "Sign up: Information meeting" in world.labels(), "the meetings")
    await driver.press(TEAM, KARI, "Sign up: Information meeting")
    await world.until(lambda: "OK, go on" in world.labels(), "the privacy notice")
    await driver.press(TEAM, KARI, "OK, go on")
    await world.until(lambda: fake.modal(TEAM, KARI) is not None, "the sign-up modal")
    answer = await driver.submit(TEAM, KARI, {**SIGN_UP, "name": "   "})
    assert answer.status == 200
    errors = {"name": "Please type your name."}
    assert answer.json == {"response_action": "errors", "errors": errors}
    envelope = fake.socket_envelopes[-1]
    assert envelope["payload"]["type"] == "view_submission"
    assert envelope["accepts_response_payload"] is True
    assert fake.modal(TEAM, KARI) is not None, "the modal stays open to be mended"


async def test_a_redelivered_envelope_sends_no_second_reply(world: SocketWorld) -> None:
    fake = world.fake
    await _menu(world)
    await world.settle()
    sent = len(fake.dm(TEAM, KARI))
    first = fake.socket_envelopes[-1]
    assert first["type"] == "events_api"
    # Slack did not see the ack in time: the same envelope again, retry_attempt 1.
    again = await fake.socket_send(
        "events_api",
        first["payload"],
        envelope_id=first["envelope_id"],
        retry_attempt=1,
        retry_reason="timeout",
    )
    assert again is None
    retried = fake.socket_envelopes[-1]
    assert retried["retry_attempt"] == 1
    assert retried["payload"]["event_id"] == first["payload"]["event_id"]
    await world.settle()
    assert len(fake.dm(TEAM, KARI)) == sent, "no second reply"
    assert [a.envelope_id for a in fake.socket_acks[-2:]] == [first["envelope_id"]] * 2


async def test_the_slash_command_over_the_socket_opens_the_sign_up_form(
    world: SocketWorld,
) -> None:
    fake = world.fake
    await _menu(world)
    answer = await world.driver.command(TEAM, KARI, "/consultation", "signup info")
    assert answer.status == 200
    envelope = fake.socket_envelopes[-1]
    assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"]
    await world.until(lambda: "OK, go on" in world.labels(), "the privacy notice")
    await world.driver.press(TEAM, KARI, "OK, go on")
    await world.until(lambda: fake.modal(TEAM, KARI) is not None, "the sign-up modal")
    modal = fake.modal(TEAM, KARI)
    assert modal is not None and "Information meeting" in modal.all_text


async def test_the_app_reconnects_when_slack_asks_or_drops_the_connection(
    world: SocketWorld,
) -> None:
    fake = world.fake
    old = await fake.socket_disconnect("refresh_requested")
    await world.until(lambda: len(fake.sockets) == 2 and old.closed, "a refreshed connection")
    assert len(fake.called("apps.connections.open")) == 2, "a new URL for each connection"
    await _menu(world)

    await fake.socket_drop()
    await world.until(lambda: len(fake.open_sockets) == 1, "a new connection after a drop")
    assert len(fake.sockets) == 3
    answer = await world.driver.press(TEAM, KARI, "Meetings and sign-up")
    assert answer.status == 200
    await world.until(lambda: "Sign up: Information meeting" in world.labels(), "the meetings")


async def test_a_refused_app_token_fails_at_once_instead_of_retrying_forever(
    tmp_path: Any, campaign: Campaign, clock: FixedClock
) -> None:
    from slack_sdk.errors import SlackApiError

    async with FakeSlack() as fake:
        bot_token = fake.add_team(TEAM, "Asker bibliotek")
        db = await Database.open(tmp_path / "slack.sqlite3")
        try:
            handler = SlackHandler(
                Engine(campaign, db, clock),
                clock,
                signing_secret=SECRET,
                token=bot_token,
                api_url=fake.api_url,
            )
            with pytest.raises(SlackApiError):
                await asyncio.wait_for(serve(handler, app_token="xapp-1-wrong", port=0), timeout=5)
        finally:
            await db.close()
