"""Slack in: the Bolt (async) app's listeners turn Slack's requests into ``Incoming`` events.

Events API (a direct message, an app mention, the App Home opened), block actions (buttons,
tick boxes), view submissions (the sign-up modal), options requests (the municipality
type-ahead) and the slash command. Each is handed to ``bot.delivery.Deliveries``, which
commits it through the engine and has ``handlers.slack.sender`` send the replies after.

Nothing is lost, and Slack never waits: the app runs with ``process_before_response`` so a
request is answered only after the engine committed what it carries (well within Slack's 3
seconds); the replies are sent after the answer, in order per person. A redelivered event
(``X-Slack-Retry-Num``, the same ``event_id``) and a double click (the same ``trigger_id``)
are recognised by the engine and change nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.delivery import Deliveries, DeliveryResult
from bot.engine import Engine
from bot.i18n import use_language
from bot.installations import Installations
from bot.messages import Incoming, Kind, Outgoing, ParticipantRef
from bot.municipalities import municipality_options
from bot.payloads import GlobalAction, encode_global
from bot.turn import Speaker
from handlers.slack.blocks import (
    FORM_CALLBACK,
    TICK,
    _option,
    chosen_label,
    form_values,
    options_of,
)
from handlers.slack.installations import SqliteInstallationStore, SqliteOAuthStateStore
from handlers.slack.sender import (
    PEOPLE_CACHE_MAX,
    PLATFORM,
    Origin,
    PressedMessage,
    SlackSender,
    library_log,
)

log = logging.getLogger("handlers.slack")

BOT_SCOPES = [
    "chat:write",
    "commands",
    "im:history",
    "im:write",
    "users:read",
    "files:write",
    "app_mentions:read",
]
"""What the app asks for when installed (as in slack-manifest.yml)."""
DEFAULT_COMMAND = "/consultation"
LOOKUP_TIMEOUT = 1.0
"""Seconds for users.info before a request is acknowledged (Slack waits 3 at most)."""
IGNORED_SUBTYPES = {"message_changed", "message_deleted", "bot_message", "channel_join"}


class SlackHandler:
    """One Slack app: in one workspace (a bot token) or installed in many (OAuth)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        signing_secret: str,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uri: str | None = None,
        api_url: str | None = None,
        command: str = DEFAULT_COMMAND,
    ) -> None:
        if not token and not (client_id and client_secret):
            raise ValueError("Slack needs SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and _SECRET")
        self.engine = engine
        self.clock = clock
        self.token = token
        self.out = SlackSender(engine, token=token, api_url=api_url)
        self.out.language_of_home = self._language_hint
        self.delivery = Deliveries(engine, self.out)
        self._people: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self.signing_secret = signing_secret
        self.command = command
        # In Slack a message starting with / is a slash command, and the app has one: the
        # bot's texts name its commands as "/consultation mydata", not "/mydata".
        engine.command_prefixes[PLATFORM] = f"{command} "
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.app: AsyncApp | None = None

    # -- set-up --------------------------------------------------------------------------

    async def start(self) -> AsyncApp:
        """Build the Bolt app, then send the replies a previous run left unsent."""
        self.out.open_session()
        library_log.setLevel(max(log.getEffectiveLevel(), logging.DEBUG))
        base = self.out.web_client(self.token)
        if self.token:
            app = _bolt_app(
                signing_secret=self.signing_secret,
                client=base,
                process_before_response=True,
                logger=library_log,
                name="participation-bot",
            )
        else:
            assert self.client_id and self.client_secret
            kept = Installations(self.engine.db, self.clock)
            installations = SqliteInstallationStore(kept, self.clock)
            installations.changed = self.out.forget_client
            self.out.installations = installations
            settings = AsyncOAuthSettings(
                client_id=self.client_id,
                client_secret=self.client_secret,
                scopes=BOT_SCOPES,
                user_scopes=[],
                redirect_uri=self.redirect_uri,
                installation_store=installations,
                installation_store_bot_only=True,
                state_store=SqliteOAuthStateStore(kept, timedelta(minutes=10)),
            )
            app = _bolt_app(
                signing_secret=self.signing_secret,
                client=base,
                process_before_response=True,
                logger=library_log,
                name="participation-bot",
                oauth_settings=settings,
                # The bot's identity (auth.test) is asked once per token, not per request.
                authorize=AsyncInstallationStoreAuthorize(
                    installation_store=installations,
                    client_id=self.client_id,
                    client_secret=self.client_secret,
                    bot_only=True,
                    cache_enabled=True,
                    client=base,
                    logger=library_log,
                ),
            )
        self._listen(app)
        if self.token:
            await _learn_identity(app, base)
        if self.out.installations is not None:
            app.enable_token_revocation_listeners()
        else:
            # One workspace: nothing to forget on these, but Slack wants them answered.
            app.event("app_uninstalled")(self._noted)
            app.event("tokens_revoked")(self._noted)
        self.app = app
        self.engine.erased_listeners.append(self._erased)
        self.engine.forget_listeners.append(self.forget_everyone)
        await self.delivery.start()
        return app

    async def stop(self) -> None:
        """Finish sending what was committed, then close the connections."""
        await self.delivery.stop()
        await self.out.close()

    async def deliver_outbox(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """The outbox dispatcher's send function."""
        return await self.delivery.deliver(ref, reply)

    def web_app(self) -> web.Application:
        """The HTTP app: ``POST /slack/events``, the OAuth pages, ``/healthz``."""
        from handlers.slack.server import web_app  # the HTTP side serves a built handler

        return web_app(self)

    def _listen(self, app: AsyncApp) -> None:
        # Bolt tries listeners in this order, each matcher at a cost: the most frequent
        # (a press, a message) first.
        app.action(re.compile(".*"))(self._on_action)
        app.event("message")(self._on_message)
        app.view_submission(FORM_CALLBACK)(self._on_submission)
        app.options(re.compile(".*"))(self._on_options)
        app.event("app_home_opened")(self._on_home_opened)
        app.event("app_mention")(self._on_mention)
        app.command(self.command)(self._on_command)
        app.view_closed(FORM_CALLBACK)(self._ack_only)

    async def _ack_only(self, ack: AsyncAck) -> None:
        await ack()

    async def _noted(self, event: dict[str, Any]) -> None:
        log.warning("Slack says: %s", event.get("type"))

    # -- in ------------------------------------------------------------------------------

    async def _person(self, team: str, user: str) -> dict[str, Any] | None:
        """The person's Slack profile and locale (users.info), asked once per process."""
        key = (team, user)
        known = self._people.get(key)
        if known is not None:
            return known
        try:
            token = (await self.out.client_for(team)).token
            # Before the acknowledgement: no waiting out a 429, a short timeout, and any
            # failure only means no language hint and no name to offer.
            lookup = AsyncWebClient(
                token=token,
                base_url=self.out.api_url,
                session=self.out.session,
                timeout=int(LOOKUP_TIMEOUT) or 1,
                retry_handlers=[],
                logger=library_log,
            )
            answer = await asyncio.wait_for(
                lookup.users_info(user=user, include_locale=True), LOOKUP_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - a profile is a nicety, never a failure
            log.info("users.info failed: %s", type(exc).__name__)
            return None
        found: dict[str, Any] = answer.get("user") or {}
        self._people[key] = found
        while len(self._people) > PEOPLE_CACHE_MAX:
            self._people.popitem(last=False)
        return found

    async def _incoming(self, team: str, user: str, event_id: str, **fields: Any) -> Incoming:
        person = await self._person(team, user)
        return Incoming(
            ref=ParticipantRef(platform=PLATFORM, workspace=team, user_id=user),
            event_id=event_id,
            language_hint=_locale_language(person),
            profile_name=_profile_name(person),
            **fields,
        )

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("channel_type") != "im" or event.get("bot_id"):
            return
        subtype = event.get("subtype")
        if subtype in IGNORED_SUBTYPES or (subtype and subtype != "file_share"):
            return
        team = _team_of(body, event)
        user = str(event.get("user") or "")
        if not user:
            return
        self.out.remember_dm(team, user, str(event.get("channel") or ""))
        text = str(event.get("text") or "")
        if subtype == "file_share" or (not text.strip() and event.get("files")):
            incoming = await self._incoming(
                team, user, str(body.get("event_id")), kind=Kind.UNSUPPORTED
            )
        else:
            incoming = await self._incoming(
                team, user, str(body.get("event_id")), kind=Kind.TEXT, text=text
            )
        await self._handle(incoming)

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        team = _team_of(body, event)
        user = str(event.get("user") or "")
        if not user:
            return
        incoming = await self._incoming(
            team, user, str(body.get("event_id")), kind=Kind.COMMAND, command="start"
        )
        await self._handle(incoming)

    async def _on_home_opened(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return
        team = _team_of(body, event)
        user = str(event.get("user") or "")
        if user:
            self.out.looked_at_home(team, user)
            ref = ParticipantRef(platform=PLATFORM, workspace=team, user_id=user)
            self.delivery.in_turn(ref, lambda: self.out.publish_home(team, user))

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        team = str(body.get("team_id") or "")
        user = str(body.get("user_id") or "")
        words = str(body.get("text") or "").split()
        word = words[0].lower().lstrip("/") if words else "start"
        rest = words[1] if len(words) > 1 else ""
        args = " ".join(words[1:])
        trigger = str(body.get("trigger_id") or "")
        fields: dict[str, Any] = {"forms": bool(trigger)}
        if word in ("signup", "sign-up", "register", "meld", "påmelding"):
            payload = (
                encode_global(GlobalAction.SIGN_UP, rest)
                if rest
                else encode_global(GlobalAction.MEETINGS)
            )
            fields.update(kind=Kind.BUTTON, payload=payload)
        else:
            fields.update(kind=Kind.COMMAND, command=word, args=args)
        incoming = await self._incoming(team, user, f"cmd:{trigger}", **fields)
        await self.delivery.handle(incoming, Origin(trigger=trigger, payload=incoming.payload))
        await ack()

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        team = _team_of(body, {})
        user = str((body.get("user") or {}).get("id") or "")
        actions = body.get("actions") or []
        trigger = str(body.get("trigger_id") or "")
        if not user or not actions:
            await ack()
            return
        action = actions[0]
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        if channel and container.get("type") == "message":
            self.out.remember_dm(team, user, channel)
        base = f"act:{trigger or action.get('action_ts')}"
        fields: dict[str, Any] = {"kind": Kind.BUTTON, "forms": bool(trigger)}
        chosen: str | None = None
        if action.get("type") == "checkboxes":
            # The whole selection as the person sees it, not a difference against the
            # message (which may be stale): the engine takes it as it is.
            group = options_of(message, str(action.get("action_id") or TICK))
            fields["payload"] = group[0] if group else ""
            fields["ticked"] = [str(o["value"]) for o in action.get("selected_options") or []]
        elif action.get("type") == "button":
            fields["payload"] = str(action.get("value") or "")
            fields["fresh"] = (
                container.get("type") == "view" and (body.get("view") or {}).get("type") == "home"
            )
            chosen = chosen_label(body, action)
        if not fields.get("payload"):
            await ack()
            return
        incoming = await self._incoming(team, user, base, **fields)
        pressed = None
        if container.get("type") == "message" and message.get("ts"):
            pressed = PressedMessage(
                channel, str(message["ts"]), str(message.get("text") or ""), chosen
            )
            if incoming.ticked is not None:
                pressed.ticked = frozenset(incoming.ticked)
        view = body.get("view") or {}
        origin = Origin(
            message=pressed,
            trigger=trigger,
            payload=incoming.payload,
            in_view=container.get("type") == "view" and view.get("type") in ("home", "modal"),
            modal_id=str(view.get("id") or "") if view.get("type") == "modal" else None,
        )
        await self.delivery.handle(incoming, origin)
        await ack()

    async def _on_submission(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        team = _team_of(body, {})
        user = str((body.get("user") or {}).get("id") or "")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        # Each submission is a new event (a form sent back with errors is sent again from
        # the same view); a double click is the same trigger.
        values = form_values(view)
        trigger = (
            body.get("trigger_id")
            or hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
        )
        event_id = f"view:{view.get('id')}:{trigger}"
        incoming = await self._incoming(
            team,
            user,
            event_id,
            kind=Kind.FORM,
            payload=str(meta.get("p") or ""),
            fields=values,
        )
        replies = await self.delivery.commit(incoming)
        errors = next((r.field_errors for r in replies if r.field_errors), None)
        if errors:
            await ack(response_action="errors", errors=errors)
            self.delivery.answered(incoming)  # shown in the form itself
            return
        await ack()
        self.delivery.submit(incoming, replies, None)

    async def _on_options(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """The municipality type-ahead: matches for what has been typed so far."""
        view = body.get("view") or {}
        try:
            language = str(json.loads(view.get("private_metadata") or "{}").get("l") or "")
        except ValueError:
            language = ""
        language = language or self.engine.campaign.default_language
        with use_language(language):
            speaker = Speaker(self.engine.campaign, language)
            options = municipality_options(speaker, str(body.get("value") or ""))
        await ack(options=[_option(o.label, o.value) for o in options[:100]])

    async def _handle(self, incoming: Incoming) -> None:
        await self.delivery.handle(incoming)

    async def _language_hint(self, team: str, user: str) -> str | None:
        return _locale_language(await self._person(team, user))

    def _erased(self, ref: ParticipantRef) -> None:
        if ref.platform == PLATFORM:
            self._people.pop((ref.workspace, ref.user_id), None)
            self.out.forget(ref)

    def forget_everyone(self) -> None:
        """Drop what this process keeps about people (after a purge)."""
        self._people.clear()
        self.out.forget_everyone()

    # -- out -----------------------------------------------------------------------------


def _locale_language(user: dict[str, Any] | None) -> str | None:
    if not user:
        return None
    locale = user.get("locale")
    return str(locale) if locale else None


def _profile_name(user: dict[str, Any] | None) -> str | None:
    if not user:
        return None
    profile = user.get("profile") or {}
    name = profile.get("real_name") or user.get("real_name") or profile.get("display_name")
    return str(name) if name else None


async def _learn_identity(app: AsyncApp, client: AsyncWebClient) -> None:
    """Ask auth.test once at start for Bolt's single-workspace authorization. Bolt asks
    it lazily, on the first request, and every request that comes before the answer asks
    again: after a restart, with Slack retrying what it could not deliver, that is
    hundreds of calls, enough to be rate limited and turn people away. A failure here
    leaves Bolt to ask as it would."""
    for middleware in getattr(app, "_async_middleware_list", ()):
        if isinstance(middleware, AsyncSingleTeamAuthorization):
            try:
                middleware.auth_test_result = await client.auth_test()
            except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("auth.test at start failed: %s", type(exc).__name__)
            return
    log.warning("Bolt's single-workspace authorization was not found: auth.test is left to it")


def _team_of(body: dict[str, Any], event: dict[str, Any]) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id")
    team = team or (body.get("user") or {}).get("team_id") or event.get("team")
    return str(team or "")


def _bolt_app(**options: Any) -> AsyncApp:
    """The Bolt app, made with our client (which holds the bot token from ``Settings``).

    Given no ``token``, Bolt reads ``SLACK_BOT_TOKEN`` from the environment by itself and,
    as the client's token wins, warns "As you gave `client` as well, `token` will be
    unused": Bolt is made while that variable is out of its sight."""
    hidden = os.environ.pop("SLACK_BOT_TOKEN", None)
    try:
        return AsyncApp(**options)
    finally:
        if hidden is not None:
            os.environ["SLACK_BOT_TOKEN"] = hidden
