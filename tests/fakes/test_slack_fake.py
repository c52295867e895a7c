"""Self-tests of the Slack fake: the real slack_sdk client and a small slack_bolt app."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store import FileInstallationStore
from slack_sdk.oauth.state_store import FileOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import FakeSlack, SlackDriver

TEAM = "T0VIKEN001"
KARI = "U0KARI0001"
SECRET = "test-signing-secret"

BUTTONS: list[dict[str, Any]] = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Hei! Hva vil du gjøre?"}},
    {
        "type": "actions",
        "block_id": "menu",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Vis møter"},
                "action_id": "meetings",
                "value": "m1",
            },
            {
                "type": "checkboxes",
                "action_id": "topics",
                "options": [
                    {"text": {"type": "plain_text", "text": "Bibliotek"}, "value": "lib"},
                    {"text": {"type": "plain_text", "text": "Skole"}, "value": "school"},
                ],
            },
        ],
    },
]

SIGNUP_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "signup",
    "private_metadata": "meeting-1",
    "title": {"type": "plain_text", "text": "Påmelding"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "name_block",
            "label": {"type": "plain_text", "text": "Navn"},
            "element": {"type": "plain_text_input", "action_id": "name", "max_length": 50},
        },
        {
            "type": "input",
            "block_id": "meeting_block",
            "optional": True,
            "label": {"type": "plain_text", "text": "Møte"},
            "element": {
                "type": "static_select",
                "action_id": "meeting",
                "options": [
                    {"text": {"type": "plain_text", "text": "Drammen"}, "value": "m1"},
                    {"text": {"type": "plain_text", "text": "Moss"}, "value": "m2"},
                ],
            },
        },
    ],
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    fake.add_team(TEAM, "Viken")
    fake.add_user(TEAM, KARI, "Kari Nordmann", "nb-NO")
    yield fake
    await fake.stop()


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=fake.teams[TEAM].bot_token, base_url=fake.api_url)


async def serve(app: AsyncApp) -> tuple[str, web.AppRunner]:
    """Serve a bolt app with its own aiohttp server on a free port; return its base URL."""
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return f"http://127.0.0.1:{port}", runner


# -- the Web API through slack_sdk ------------------------------------------------------------


async def test_messages_users_and_auth(fake: FakeSlack, client: AsyncWebClient) -> None:
    auth = await client.auth_test()
    assert auth["team_id"] == TEAM
    assert auth["user_id"] == fake.teams[TEAM].bot_user_id
    assert auth["bot_id"] == fake.teams[TEAM].bot_id
    assert auth.headers.get("x-oauth-scopes")

    posted = await client.chat_postMessage(channel=KARI, text="Hei!", blocks=BUTTONS)
    assert posted["channel"] == "D" + KARI
    assert posted["message"]["blocks"][1]["elements"][0]["action_id"] == "meetings"
    assert fake.last_dm(TEAM, KARI).labels == ["Vis møter"]

    await client.chat_update(channel=posted["channel"], ts=posted["ts"], text="Oppdatert")
    message = fake.last_dm(TEAM, KARI)
    assert (message.text, message.updates, message.labels) == ("Oppdatert", 1, ["Vis møter"])
    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel=KARI, ts=posted["ts"], text="x")
    assert raised.value.response["error"] == "channel_not_found"
    second = await client.chat_postMessage(channel=posted["channel"], text="Mer")
    assert float(second["ts"]) > float(posted["ts"])

    info = await client.users_info(user=KARI, include_locale=True)
    assert info["user"]["locale"] == "nb-NO"
    assert info["user"]["profile"]["real_name"] == "Kari Nordmann"
    assert "locale" not in (await client.users_info(user=KARI))["user"]

    assert [c.params["channel"] for c in fake.called("chat.postMessage")] == [KARI, "D" + KARI]
    assert fake.called("users.info")[0].params["include_locale"] == "1"


async def test_errors_as_slack_answers_them(fake: FakeSlack, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        await AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test()
    assert raised.value.response["error"] == "invalid_auth"

    long_button = [
        {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}],
        }
    ]
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=KARI, text="t", blocks=long_button)
    assert raised.value.response["error"] == "invalid_blocks"

    fake.fail("chat.postMessage", "account_inactive")
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=KARI, text="t")
    assert raised.value.response["error"] == "account_inactive"
    await client.chat_postMessage(channel=KARI, text="t")


async def test_rate_limit_is_retried_by_slack_sdk(fake: FakeSlack) -> None:
    client = AsyncWebClient(
        token=fake.teams[TEAM].bot_token,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    fake.rate_limit("chat.postMessage", times=1, retry_after=0)
    await client.chat_postMessage(channel=KARI, text="Hei")
    assert [c.status for c in fake.called("chat.postMessage")] == [429, 200]
    assert len(fake.dm(TEAM, KARI)) == 1


async def test_views(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger = fake.new_trigger(TEAM, KARI)
    opened = await client.views_open(trigger_id=trigger, view=SIGNUP_MODAL)
    modal = fake.modal(TEAM, KARI)
    assert modal is not None and modal.id == opened["view"]["id"]
    assert modal.callback_id == "signup" and modal.private_metadata == "meeting-1"
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=trigger, view=SIGNUP_MODAL)
    assert raised.value.response["error"] == "exchanged_trigger_id"

    changed = {**SIGNUP_MODAL, "title": {"type": "plain_text", "text": "Endret"}}
    await client.views_update(view_id=modal.id, hash=modal.hash, view=changed)
    assert modal.title == "Endret" and modal.updates == 1
    with pytest.raises(SlackApiError) as raised:
        await client.views_update(view_id=modal.id, hash="stale", view=changed)
    assert raised.value.response["error"] == "hash_conflict"
    too_long = {**SIGNUP_MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=fake.new_trigger(TEAM, KARI), view=too_long)
    assert raised.value.response["error"] == "invalid_arguments"

    await client.views_publish(user_id=KARI, view={"type": "home", "blocks": BUTTONS})
    home = fake.home(TEAM, KARI)
    assert home is not None and home.labels == ["Vis møter"]


async def test_files_upload_v2(fake: FakeSlack, client: AsyncWebClient) -> None:
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
    dm = (await client.conversations_open(users=KARI))["channel"]["id"]
    result = await client.files_upload_v2(
        content=ics,
        filename="invite.ics",
        title="Invitasjon",
        channel=dm,
        initial_comment="Her er invitasjonen",
    )
    assert result["file"]["title"] == "Invitasjon"
    [shared] = fake.files(TEAM, KARI)
    assert (shared.filename, shared.content) == ("invite.ics", ics)
    assert shared.mimetype == "text/calendar"
    assert shared.initial_comment == "Her er invitasjonen"
    assert fake.last_dm(TEAM, KARI).files == [shared]
    assert [c.method for c in fake.calls][-3:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    # As in Slack, files.completeUploadExternal wants the DM's id, not the user's.
    with pytest.raises(SlackApiError) as raised:
        await client.files_upload_v2(content=ics, filename="invite.ics", channel=KARI)
    assert raised.value.response["error"] == "invalid_arguments"


# -- a bolt app driven as Slack drives it ------------------------------------------------------


@pytest.fixture
async def bolt(fake: FakeSlack) -> AsyncIterator[tuple[SlackDriver, dict[str, Any]]]:
    seen: dict[str, Any] = {}
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token=fake.teams[TEAM].bot_token, base_url=fake.api_url),
        process_before_response=True,
    )

    @app.message()
    async def on_message(message: dict[str, Any], say: AsyncSay) -> None:
        seen["message"] = message
        await say(text="Hei!", blocks=BUTTONS)

    @app.action("meetings")
    async def on_meetings(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        seen["action"] = body
        await client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text="Møter", blocks=[]
        )

    @app.action("topics")
    async def on_topics(ack: AsyncAck, action: dict[str, Any]) -> None:
        await ack()
        seen["topics"] = [o["value"] for o in action["selected_options"]]

    @app.command("/consultation")
    async def on_command(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=SIGNUP_MODAL)

    @app.view("signup")
    async def on_signup(ack: AsyncAck, view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        name = values["name_block"]["name"]["value"]
        if len(name) < 2:
            await ack(response_action="errors", errors={"name_block": "For kort"})
            return
        await ack()
        seen["signup"] = (name, values["meeting_block"]["meeting"]["selected_option"])

    url, runner = await serve(app)
    driver = SlackDriver(f"{url}/slack/events", SECRET, fake)
    yield driver, seen
    await driver.close()
    await runner.cleanup()


async def test_bolt_message_press_and_check(
    fake: FakeSlack, bolt: tuple[SlackDriver, dict[str, Any]]
) -> None:
    driver, seen = bolt
    response = await driver.message(TEAM, KARI, "hei")
    assert response.status == 200
    assert seen["message"]["channel_type"] == "im"
    assert fake.last_dm(TEAM, KARI).text == "Hei!"

    await driver.check(TEAM, KARI, ["Skole"])
    assert seen["topics"] == ["school"]
    response = await driver.press(TEAM, KARI, "Vis møter")
    assert response.status == 200
    assert seen["action"]["actions"][0]["value"] == "m1"
    assert seen["action"]["state"]["values"]["menu"]["topics"]["selected_options"][0]["value"] == (
        "school"
    )
    message = fake.last_dm(TEAM, KARI)
    assert (message.text, message.updates, message.labels) == ("Møter", 1, [])


async def test_bolt_refuses_forged_and_stale_requests(
    fake: FakeSlack, bolt: tuple[SlackDriver, dict[str, Any]]
) -> None:
    driver, _ = bolt
    assert (await driver.message(TEAM, KARI, "hei", signature="v0=forged")).status == 401
    stale = int(time.time()) - 600
    assert (await driver.message(TEAM, KARI, "hei", timestamp=stale)).status == 401
    assert fake.dm(TEAM, KARI) == []
    assert (await driver.url_verification("abc")).json == {"challenge": "abc"}


async def test_bolt_command_modal_and_submission(
    fake: FakeSlack, bolt: tuple[SlackDriver, dict[str, Any]]
) -> None:
    driver, seen = bolt
    assert (await driver.command(TEAM, KARI, "/consultation")).status == 200
    assert fake.modal(TEAM, KARI) is not None
    with pytest.raises(AssertionError, match="required input"):
        await driver.submit(TEAM, KARI, {})
    refused = await driver.submit(TEAM, KARI, {"name_block": "K"})
    assert refused.json == {"response_action": "errors", "errors": {"name_block": "For kort"}}
    assert fake.modal(TEAM, KARI) is not None
    await driver.submit(TEAM, KARI, {"name": "Kari", "meeting_block": "m2"})
    moss = {"text": {"type": "plain_text", "text": "Moss"}, "value": "m2"}
    assert seen["signup"] == ("Kari", moss)
    assert fake.modal(TEAM, KARI) is None


async def test_oauth_install_then_events(fake: FakeSlack, tmp_path: Path) -> None:
    fake.add_team("T0OTHER001", "Other")  # the bot token is only known after installing
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(base_url=fake.api_url),
        process_before_response=True,
        oauth_settings=AsyncOAuthSettings(
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            scopes=["chat:write", "im:history", "users:read"],
            installation_store=FileInstallationStore(base_dir=str(tmp_path / "inst")),
            state_store=FileOAuthStateStore(expiration_seconds=60, base_dir=str(tmp_path / "st")),
        ),
    )

    @app.message()
    async def on_message(say: AsyncSay) -> None:
        await say("Installert og klar")

    url, runner = await serve(app)
    driver = SlackDriver(f"{url}/slack/events", SECRET, fake)
    try:
        done = await driver.install(
            "T0OTHER001", "U0ADMIN001", f"{url}/slack/install", f"{url}/slack/oauth_redirect"
        )
        assert done.status == 200, done.text
        assert "chat:write" in (driver.last_authorize_url or "")
        [exchange] = fake.called("oauth.v2.access")
        assert exchange.params["_basic_auth"] == (fake.client_id, fake.client_secret)
        assert exchange.params["code"]

        before = len(fake.called("auth.test"))
        await driver.message("T0OTHER001", KARI, "hei")
        await driver.message("T0OTHER001", KARI, "igjen")
        assert fake.dm_texts("T0OTHER001", KARI) == ["Installert og klar"] * 2
        # Without an authorize cache, bolt calls auth.test for every request.
        assert len(fake.called("auth.test")) - before == 2
        replay = await driver.install(
            "T0OTHER001", "U0ADMIN001", f"{url}/slack/install", f"{url}/slack/oauth_redirect"
        )
        assert replay.status == 200
    finally:
        await driver.close()
        await runner.cleanup()
