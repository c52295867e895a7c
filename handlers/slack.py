"""Slack: a slack-bolt (async) app. Translates, nothing more.

In: Events API (a direct message, an app mention, the App Home opened), block actions
(buttons, tick boxes), view submissions (the sign-up modal), options requests (the
municipality type-ahead) and the slash command become ``Incoming`` events. Out: each
``Outgoing`` becomes Block Kit (a message in the person's DM, a modal for a form, the App
Home view), files are uploaded with ``files_upload_v2``.

Nothing is lost, and Slack never waits: the app runs with ``process_before_response`` so a
request is answered only after the engine committed what it carries (well within Slack's 3
seconds); the replies are sent after the answer, in order per person. Replies that could not
be sent (the process died, Slack was unreachable) stay unsent in the database and go out at
the next start. A redelivered event (``X-Slack-Retry-Num``, the same ``event_id``) and a
double click (the same ``trigger_id``) are recognised by the engine and change nothing.

The Web API client retries a 429 after its ``Retry-After`` and nothing else: slack_sdk's
default retry of a reset connection could post a message twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.middleware.authorization.async_single_team_authorization import (
    AsyncSingleTeamAuthorization,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.engine import Engine
from bot.i18n import use_language
from bot.messages import (
    FieldKind,
    Form,
    Incoming,
    Kind,
    Outgoing,
    ParticipantRef,
)
from bot.outbox import DeliveryResult
from bot.signup import municipality_options
from bot.turn import Speaker
from storage import slack as store

log = logging.getLogger(__name__)
library_log = logging.getLogger(f"{__name__}.library")
"""For Bolt and slack_sdk. They build their debug messages (whole request bodies) whenever
their logger's own level is at most DEBUG, and an unset level is 0: so this one always has
a level, that of the logging configuration when the app starts."""

PLATFORM = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
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

TICK = "tick"
"""action_id of the tick boxes of a multi-select question."""
FORM_CALLBACK = "form"
MESSAGE_CALLBACK = "message"
SEARCH_ACTION = "search"
TEXT_LIMIT = 3000
"""Slack's limit for a section's text."""
BUTTON_TEXT_LIMIT = 75
CHECKBOXES_MAX = 10
BLOCKS_MAX = 50
ACTIONS_MAX = 25
"""Elements in one actions block (Slack's limit)."""
CHOSEN_MARK = "\u2713 "
SEND_ATTEMPTS = 3
PEOPLE_CACHE_MAX = 10_000
UNREACHABLE_ERRORS = {
    "cannot_dm_bot",
    "channel_not_found",
    "is_archived",
    "not_in_channel",
    "user_not_found",
    "user_disabled",
}
"""Errors that sending again will not mend: the person is out of reach."""
WORKSPACE_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "account_inactive"}
"""The workspace's token no longer works (uninstalled, revoked, or being reinstalled): the
person is not to blame; the token is looked up again next time."""
RESEND_INTERVAL = 30.0
"""Seconds between tries of replies that could not be sent."""
LOOKUP_TIMEOUT = 1.0
"""Seconds for users.info before a request is acknowledged (Slack waits 3 at most)."""


class PartlySent(Exception):
    """A reply failed after part of it went out: sending it again could double that part."""


IGNORED_SUBTYPES = {"message_changed", "message_deleted", "bot_message", "channel_join"}


# -- Block Kit ----------------------------------------------------------------------------


def escape(text: str) -> str:
    """Text for a ``mrkdwn`` field: Slack reads &, < and > as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int = BUTTON_TEXT_LIMIT) -> dict[str, Any]:
    text = text or "\u2026"
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return {"type": "plain_text", "text": text}


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Text in pieces Slack takes, cut at paragraph or line ends where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def _sections(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(piece), "verbatim": True}}
        for piece in split_text(text)
        if piece.strip()
    ]


def blocks_for(reply: Outgoing) -> list[dict[str, Any]]:
    """A reply as Block Kit: its text, tick boxes for a multi-select, and its buttons."""
    blocks = _sections(reply.text)
    toggles = [b for row in reply.buttons for b in row if b.selected is not None]
    as_boxes = 0 < len(toggles) <= CHECKBOXES_MAX
    if as_boxes:
        options = [_option(b.label, b.payload) for b in toggles]
        element: dict[str, Any] = {"type": "checkboxes", "action_id": TICK, "options": options}
        initial = [o for o, b in zip(options, toggles, strict=True) if b.selected]
        if initial:
            element["initial_options"] = initial
        blocks.append({"type": "actions", "block_id": TICK, "elements": [element]})
    # Slack lays buttons out side by side and wraps them: rows of one button each (one
    # answer per row, as a phone shows them in Telegram) become one block here; a row of
    # several (Back, Skip) stays a row of its own.
    number = 0
    rows: list[list[dict[str, Any]]] = []
    gathering = False
    for row in reply.buttons:
        elements = []
        for button in row:
            if button.selected is not None and as_boxes:
                continue
            label = button.label
            if button.selected:
                label = CHOSEN_MARK + label
            elements.append(
                {
                    "type": "button",
                    "text": _plain(label),
                    "value": button.payload,
                    "action_id": f"b{number}",
                }
            )
            number += 1
        if not elements:
            continue
        if len(elements) == 1 and gathering and len(rows[-1]) < ACTIONS_MAX:
            rows[-1].extend(elements)
            continue
        gathering = len(elements) == 1
        rows.extend(
            elements[start : start + ACTIONS_MAX] for start in range(0, len(elements), ACTIONS_MAX)
        )
    blocks.extend({"type": "actions", "elements": elements} for elements in rows)
    return blocks[:BLOCKS_MAX]


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label, 75), "value": value}


def closed_blocks(text: str, chosen: str | None) -> list[dict[str, Any]]:
    """An answered question: its text and what was chosen, without buttons."""
    blocks = _sections(text)
    if chosen:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": escape(CHOSEN_MARK + chosen)}],
            }
        )
    return blocks[:BLOCKS_MAX]


def modal_for(form: Form, language: str) -> dict[str, Any]:
    """A form as a modal; the submission names the form's payload and language."""
    blocks: list[dict[str, Any]] = _sections(form.intro)
    for field in form.fields:
        element: dict[str, Any]
        if field.kind is FieldKind.SELECT:
            options = [_option(o.label, o.value) for o in field.options]
            element = {"type": "static_select", "action_id": field.id, "options": options}
            initial = next((o for o in options if o["value"] == field.initial), None)
            if initial is not None:
                element["initial_option"] = initial
        elif field.kind is FieldKind.SEARCH:
            element = {"type": "external_select", "action_id": field.id, "min_query_length": 0}
            if field.initial is not None and field.initial_label:
                element["initial_option"] = _option(field.initial_label, field.initial)
        else:
            element = {"type": "plain_text_input", "action_id": field.id}
            if field.max_length:
                element["max_length"] = field.max_length
            if field.initial:
                element["initial_value"] = field.initial
        block: dict[str, Any] = {
            "type": "input",
            "block_id": field.id,
            "label": _plain(field.label, 2000),
            "element": element,
            "optional": field.optional,
        }
        if field.hint:
            block["hint"] = _plain(field.hint, 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": _plain(form.title, 24),
        "submit": _plain(form.submit, 24),
        "private_metadata": json.dumps({"p": form.payload, "l": language}),
        "blocks": blocks,
    }


def _combined_blocks(replies: list[Outgoing], limit: int) -> list[dict[str, Any]]:
    """Several replies as one view's blocks, divided, with action ids unique in the view."""
    blocks: list[dict[str, Any]] = []
    for reply in replies:
        part = blocks_for(reply)
        if blocks and part:
            blocks.append({"type": "divider"})
        blocks.extend(part)
    number = 0
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                element["action_id"] = f"b{number}"
                number += 1
    return blocks[:limit]


def home_view(replies: list[Outgoing]) -> dict[str, Any]:
    """The App Home: each part of the overview, divided."""
    return {"type": "home", "blocks": _combined_blocks(replies, 100)}


def message_view(replies: list[Outgoing]) -> dict[str, Any]:
    """Messages as a modal, with their buttons (for a press on the App Home: the answer
    shows where the person is looking). Slack adds a close button in the person's
    language; the title is an emoji, the same in every language."""
    return {
        "type": "modal",
        "callback_id": MESSAGE_CALLBACK,
        "title": {"type": "plain_text", "text": ":speech_balloon:", "emoji": True},
        "blocks": _combined_blocks(replies, 100) or _sections("\u2026"),
    }


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """A submitted modal's values: block id -> the text typed or the option chosen."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for value in actions.values():
            kind = value.get("type")
            if kind in ("static_select", "external_select"):
                option = value.get("selected_option") or {}
                values[block_id] = str(option.get("value") or "")
            else:
                values[block_id] = str(value.get("value") or "")
    return values


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


# -- installations (OAuth) in our database ----------------------------------------------


class SqliteInstallationStore(AsyncInstallationStore):
    """slack_sdk's installation store on storage/slack.py: one bot per workspace."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._bots: dict[str, Bot] = {}
        self.changed: Callable[[str], None] = lambda _team: None
        """Told of a workspace whose installation changed (its old token is gone)."""

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        if not installation.team_id or not installation.bot_token:
            raise ValueError("only workspace installations with a bot token are kept")
        item = store.SlackInstallation(
            team_id=installation.team_id,
            enterprise_id=installation.enterprise_id or "",
            team_name=installation.team_name or "",
            app_id=installation.app_id or "",
            bot_token=installation.bot_token,
            bot_id=installation.bot_id or "",
            bot_user_id=installation.bot_user_id or "",
            bot_scopes=",".join(installation.bot_scopes or []),
            installer_user_id=installation.user_id or "",
            installed_at=self.clock.now(),
        )
        await self.engine.db.transact(lambda tx: store.save_installation(tx, item))
        self._bots.pop(item.team_id, None)
        self.changed(item.team_id)
        log.info("Slack app installed in a workspace")

    async def async_save_bot(self, bot: Bot) -> None:
        raise NotImplementedError("installations are saved whole")

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        if not team_id:
            return None
        cached = self._bots.get(team_id)
        if cached is not None:
            return cached
        item = await self.engine.db.transact(lambda tx: store.find_installation(tx, team_id))
        if item is None:
            return None
        bot = Bot(
            app_id=item.app_id or None,
            enterprise_id=item.enterprise_id or None,
            team_id=item.team_id,
            team_name=item.team_name or None,
            bot_token=item.bot_token,
            bot_id=item.bot_id,
            bot_user_id=item.bot_user_id,
            bot_scopes=item.bot_scopes,
            installed_at=item.installed_at.timestamp(),
        )
        self._bots[team_id] = bot
        return bot

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        bot = await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id=user_id or "",
            installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        if team_id:
            self._bots.pop(team_id, None)
            self.changed(team_id)
            await self.engine.db.transact(lambda tx: store.delete_installation(tx, team_id))

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        if user_id is None:
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)


class SqliteOAuthStateStore(AsyncOAuthStateStore):
    """One-time OAuth state values in our database (10 minutes)."""

    def __init__(self, engine: Engine, clock: Clock, expiration: timedelta) -> None:
        self.engine = engine
        self.clock = clock
        self.expiration = expiration

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        import secrets

        state = secrets.token_urlsafe(24)
        now = self.clock.now()
        expires = now + self.expiration
        await self.engine.db.transact(lambda tx: store.issue_oauth_state(tx, state, now, expires))
        return state

    async def async_consume(self, state: str) -> bool:
        now = self.clock.now()
        return await self.engine.db.transact(lambda tx: store.consume_oauth_state(tx, state, now))


# -- the app -------------------------------------------------------------------------------


@dataclass
class Origin:
    """The message a press came from, to be closed or changed after the press."""

    channel: str
    ts: str
    text: str
    chosen: str | None
    ticked: frozenset[str] | None = None
    """For tick boxes: what the person sees ticked (Slack shows it without our help)."""


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
        self.api_url = api_url or DEFAULT_API_URL
        self.token = token
        self.session: aiohttp.ClientSession | None = None
        self._clients: dict[str, AsyncWebClient] = {}
        self._people: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._dm_channels: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._home_open: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.installations: SqliteInstallationStore | None = None
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

    def _web_client(self, token: str | None) -> AsyncWebClient:
        return AsyncWebClient(
            token=token,
            base_url=self.api_url,
            session=self.session,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=5)],
            logger=library_log,
        )

    async def start(self) -> AsyncApp:
        """Build the Bolt app, then send the replies a previous run left unsent."""
        # Web API bodies (a message's blocks) encoded by orjson: a tenth of json's time.
        self.session = aiohttp.ClientSession(json_serialize=_json_text)
        library_log.setLevel(max(log.getEffectiveLevel(), logging.DEBUG))
        base = self._web_client(self.token)
        if self.token:
            app = AsyncApp(
                signing_secret=self.signing_secret,
                client=base,
                process_before_response=True,
                logger=library_log,
                name="participation-bot",
            )
        else:
            assert self.client_id and self.client_secret
            self.installations = SqliteInstallationStore(self.engine, self.clock)
            self.installations.changed = self._forget_client
            settings = AsyncOAuthSettings(
                client_id=self.client_id,
                client_secret=self.client_secret,
                scopes=BOT_SCOPES,
                user_scopes=[],
                redirect_uri=self.redirect_uri,
                installation_store=self.installations,
                installation_store_bot_only=True,
                state_store=SqliteOAuthStateStore(self.engine, self.clock, timedelta(minutes=10)),
            )
            app = AsyncApp(
                signing_secret=self.signing_secret,
                client=base,
                process_before_response=True,
                logger=library_log,
                name="participation-bot",
                oauth_settings=settings,
                # The bot's identity (auth.test) is asked once per token, not per request.
                authorize=AsyncInstallationStoreAuthorize(  # type: ignore[arg-type]
                    installation_store=self.installations,
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
        if self.installations is not None:
            app.enable_token_revocation_listeners()
        else:
            # One workspace: nothing to forget on these, but Slack wants them answered.
            app.event("app_uninstalled")(self._noted)
            app.event("tokens_revoked")(self._noted)
        self.app = app
        self.engine.erased_listeners.append(self._erased)
        self.engine.forget_listeners.append(self.forget_everyone)
        for pending in await self.engine.unsent_replies(PLATFORM):
            if await self._send_replies(pending.ref, pending.replies, None, None):
                await self.engine.confirm_pending(pending)
        return app

    async def stop(self) -> None:
        """Finish sending what was committed, then close the connections."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

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
            token = (await self.client_for(team)).token
            # Before the acknowledgement: no waiting out a 429, a short timeout, and any
            # failure only means no language hint and no name to offer.
            lookup = AsyncWebClient(
                token=token,
                base_url=self.api_url,
                session=self.session,
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
        self._remember_dm(team, user, str(event.get("channel") or ""))
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
            self._home_open[(team, user)] = None
            while len(self._home_open) > PEOPLE_CACHE_MAX:
                self._home_open.popitem(last=False)
            ref = ParticipantRef(platform=PLATFORM, workspace=team, user_id=user)
            self._in_turn(ref, lambda: self.publish_home(team, user))

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
            payload = f"g:su:{rest}" if rest else "g:meetings"
            fields.update(kind=Kind.BUTTON, payload=payload)
        else:
            fields.update(kind=Kind.COMMAND, command=word, args=args)
        incoming = await self._incoming(team, user, f"cmd:{trigger}", **fields)
        replies = await self.engine.handle(incoming)
        await ack()
        self._after(incoming, replies, None, trigger)

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
            self._remember_dm(team, user, channel)
        base = f"act:{trigger or action.get('action_ts')}"
        fields: dict[str, Any] = {"kind": Kind.BUTTON, "forms": bool(trigger)}
        chosen: str | None = None
        if action.get("type") == "checkboxes":
            # The whole selection as the person sees it, not a difference against the
            # message (which may be stale): the engine takes it as it is.
            group = _options_of(message, str(action.get("action_id") or TICK))
            fields["payload"] = group[0] if group else ""
            fields["ticked"] = [str(o["value"]) for o in action.get("selected_options") or []]
        elif action.get("type") == "button":
            fields["payload"] = str(action.get("value") or "")
            fields["fresh"] = (
                container.get("type") == "view" and (body.get("view") or {}).get("type") == "home"
            )
            chosen = _chosen_label(body, action)
        if not fields.get("payload"):
            await ack()
            return
        incoming = await self._incoming(team, user, base, **fields)
        replies = await self.engine.handle(incoming)
        await ack()
        origin = None
        if container.get("type") == "message" and message.get("ts"):
            origin = Origin(channel, str(message["ts"]), str(message.get("text") or ""), chosen)
            if incoming.ticked is not None:
                origin.ticked = frozenset(incoming.ticked)
        view = body.get("view") or {}
        in_view = container.get("type") == "view" and view.get("type") in ("home", "modal")
        modal_id = str(view.get("id") or "") if view.get("type") == "modal" else None
        self._after(incoming, replies, origin, trigger, in_view=in_view, modal_id=modal_id)

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
        replies = await self.engine.handle(incoming)
        errors = next((r.field_errors for r in replies if r.field_errors), None)
        if errors:
            await ack(response_action="errors", errors=errors)
            self.engine.replies_sent(incoming)
            return
        await ack()
        self._after(incoming, replies, None, "")

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
        replies = await self.engine.handle(incoming)
        self._after(incoming, replies, None, "")

    # -- out -----------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _forget_client(self, team: str) -> None:
        self._clients.pop(team, None)

    def _in_turn(self, ref: ParticipantRef, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` after whatever this person is still being sent; nobody else waits."""
        before = self._tails.get(ref.key)

        async def run() -> None:
            if before is not None:
                await asyncio.gather(before, return_exceptions=True)
            try:
                await job()
            finally:
                if self._tails.get(ref.key) is task:
                    del self._tails[ref.key]

        task = self._spawn(run())
        self._tails[ref.key] = task

    def _after(
        self,
        incoming: Incoming,
        replies: list[Outgoing],
        origin: Origin | None,
        trigger: str,
        *,
        in_view: bool = False,
        modal_id: str | None = None,
    ) -> None:
        """Send the replies in order for this person; then refresh their App Home if they
        have looked at it. A press on the App Home or in a modal is answered where the
        person is looking: in a modal (a new one, or the same one changed)."""
        ref = incoming.ref

        async def deliver() -> None:
            shown = (
                in_view and trigger and await self._answer_in_view(ref, replies, trigger, modal_id)
            )
            if shown:
                sent = True
            else:
                sent = await self._send_replies(ref, replies, origin, trigger, incoming.payload)
            if sent:
                self.engine.replies_sent(incoming)
            else:
                self.engine.replies_failed(incoming)
            if (ref.workspace, ref.user_id) in self._home_open:
                await self.publish_home(ref.workspace, ref.user_id)

        self._in_turn(ref, deliver)

    def forget(self, ref: ParticipantRef) -> None:
        """Drop what this process keeps about a person (their data was erased)."""
        key = (ref.workspace, ref.user_id)
        self._people.pop(key, None)
        self._dm_channels.pop(key, None)
        self._home_open.pop(key, None)

    def _erased(self, ref: ParticipantRef) -> None:
        if ref.platform == PLATFORM:
            self.forget(ref)

    def forget_everyone(self) -> None:
        """Drop what this process keeps about people (after a purge)."""
        self._people.clear()
        self._dm_channels.clear()
        self._home_open.clear()

    async def client_for(self, team: str) -> AsyncWebClient:
        """The Web API client with the workspace's bot token."""
        if self.token:
            client = self._clients.get("")
            if client is None:
                client = self._clients[""] = self._web_client(self.token)
            return client
        client = self._clients.get(team)
        if client is None:
            assert self.installations is not None
            bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team)
            if bot is None:
                raise LookupError("the app is not installed in that workspace")
            client = self._clients[team] = self._web_client(bot.bot_token)
        return client

    def _remember_dm(self, team: str, user: str, channel: str) -> None:
        if channel.startswith("D"):
            self._dm_channels[(team, user)] = channel
            while len(self._dm_channels) > PEOPLE_CACHE_MAX:
                self._dm_channels.popitem(last=False)

    async def _dm(self, client: AsyncWebClient, team: str, user: str) -> str:
        channel = self._dm_channels.get((team, user))
        if channel is None:
            opened = await client.conversations_open(users=user)
            channel = str((opened.get("channel") or {}).get("id"))
            self._remember_dm(team, user, channel)
        return channel

    async def _send_replies(
        self,
        ref: ParticipantRef,
        replies: list[Outgoing],
        origin: Origin | None,
        trigger: str | None,
        payload: str = "",
    ) -> bool:
        """Send the replies; True when they went out (or never can, or partly did: sending
        them again would double what went). A send that never reached Slack is tried again
        at once, twice; other failures leave the replies for the next start."""
        sent = 0
        for attempt in range(SEND_ATTEMPTS):
            try:
                client = await self.client_for(ref.workspace)
                closing = None
                if origin is not None and sent == 0:
                    # The pressed message is closed while the next one is sent: one round
                    # trip instead of two before the person sees the next question.
                    closing = asyncio.ensure_future(
                        self._close_origin(client, origin, replies, payload)
                    )
                try:
                    for reply in replies[sent:]:
                        if origin is not None and reply is replies[0] and reply.replaces_origin:
                            sent += 1  # shown in place of the pressed message
                            continue
                        await self.send(client, ref, reply, trigger)
                        sent += 1
                finally:
                    if closing is not None:
                        for failed in await asyncio.gather(closing, return_exceptions=True):
                            if failed is not None:
                                log.debug("closing a question failed: %r", failed)
                return True
            except LookupError:
                log.warning("a Slack reply for a workspace without the app was dropped")
                return True
            except PartlySent as exc:
                log.warning("a Slack reply went out in part: %s", exc)
                return True
            except SlackApiError as exc:
                error = str(exc.response.get("error"))
                if error in UNREACHABLE_ERRORS:
                    await self.engine.mark_unreachable(ref)
                    return True
                if error in WORKSPACE_ERRORS:
                    self._clients.pop(ref.workspace, None)
                log.warning("sending to Slack failed: %s", error)
                return sent > 0
            except aiohttp.ClientConnectorError:
                if sent > 0:
                    return True
                await asyncio.sleep(0.5 * 2**attempt)  # never reached Slack: try again
            except (TimeoutError, aiohttp.ClientError, SlackClientError) as exc:
                log.warning("sending to Slack failed: %s", type(exc).__name__)
                return sent > 0
        return False

    async def _close_origin(
        self, client: AsyncWebClient, origin: Origin, replies: list[Outgoing], payload: str
    ) -> None:
        """The pressed message: changed in place (ticks), or closed showing the choice."""
        if replies and replies[0].replaces_origin:
            reply = replies[0]
            if origin.ticked is not None and reply.text[:TEXT_LIMIT] == origin.text:
                shown = {b.payload for row in reply.buttons for b in row if b.selected}
                if shown == origin.ticked:
                    return  # Slack already shows exactly these ticks
            await self._update(client, origin, blocks_for(reply), reply.text)
            return
        navigation = payload.startswith("g:") or (bool(replies) and replies[0].origin_stale)
        chosen = None if navigation else origin.chosen
        await self._update(client, origin, closed_blocks(origin.text, chosen), origin.text)

    async def _answer_in_view(
        self, ref: ParticipantRef, replies: list[Outgoing], trigger: str, modal_id: str | None
    ) -> bool:
        """Show the replies in a modal (the form, or the messages with their buttons):
        True when shown. Files and failures go to the DM instead."""
        if not trigger or not replies or any(r.attachment is not None for r in replies):
            return False
        form = next((r.form for r in replies if r.form is not None), None)
        view = modal_for(form, form.language) if form is not None else message_view(replies)
        try:
            client = await self.client_for(ref.workspace)
            if modal_id:
                await client.views_update(view_id=modal_id, view=view)
            else:
                await client.views_open(trigger_id=trigger, view=view)
        except (SlackApiError, LookupError) as exc:
            log.info("answering in a modal failed: %s", type(exc).__name__)
            return False
        return True

    async def resend_failed(self) -> int:
        """Send again the replies whose sending failed since (Slack does not deliver an
        acknowledged request again); returns how many events' replies went out."""
        sent = 0
        for pending in await self.engine.failed_replies(PLATFORM):
            if await self._send_replies(pending.ref, pending.replies, None, None):
                await self.engine.confirm_pending(pending)
                sent += 1
            else:
                self.engine.pending_failed(pending)
        return sent

    async def resend_failed_forever(self, interval: float = RESEND_INTERVAL) -> None:
        """``resend_failed`` every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.resend_failed()
            except Exception as exc:  # noqa: BLE001 - the loop must live on
                log.warning("resending failed replies failed: %s", type(exc).__name__)

    async def _update(
        self, client: AsyncWebClient, origin: Origin, blocks: list[dict[str, Any]], text: str
    ) -> None:
        try:
            await client.chat_update(
                channel=origin.channel, ts=origin.ts, text=text, blocks=blocks
            )
        except SlackApiError as exc:  # deleted or too old: nothing to close
            log.debug("chat.update failed: %s", exc.response.get("error"))

    async def send(
        self,
        client: AsyncWebClient,
        ref: ParticipantRef,
        reply: Outgoing,
        trigger: str | None = None,
    ) -> None:
        """One ``Outgoing``: a modal for a form (when the trigger is fresh), else a message
        in the person's DM, and its file uploaded there."""
        if reply.field_errors:
            return
        if reply.form is not None and trigger:
            try:
                await client.views_open(
                    trigger_id=trigger, view=modal_for(reply.form, _form_language(reply))
                )
                return
            except SlackApiError as exc:  # too late for the trigger: offer the button
                log.info("views.open failed: %s", exc.response.get("error"))
        channel = await self._dm(client, ref.workspace, ref.user_id)
        posted = False
        if reply.text.strip() or reply.buttons:
            await client.chat_postMessage(
                channel=channel, text=reply.text[:TEXT_LIMIT], blocks=blocks_for(reply)
            )
            posted = True
        if reply.attachment is not None:
            try:
                await client.files_upload_v2(
                    channel=channel,
                    content=reply.attachment.data,
                    filename=reply.attachment.filename,
                    title=reply.attachment.filename,
                )
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                if posted:
                    raise PartlySent(type(exc).__name__) from exc
                raise

    async def publish_home(self, team: str, user: str) -> None:
        """Show the person's App Home as it stands now."""
        try:
            person = await self._person(team, user)
            ref = ParticipantRef(platform=PLATFORM, workspace=team, user_id=user)
            parts = await self.engine.home(ref, _locale_language(person))
            client = await self.client_for(team)
            await client.views_publish(user_id=user, view=home_view(parts))
        except (TimeoutError, SlackApiError, LookupError, aiohttp.ClientError) as exc:
            log.warning("the App Home could not be published: %s", type(exc).__name__)

    async def deliver_outbox(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """Send one outbox message (for the dispatcher). A 429 is waited out by the client;
        a lost answer makes the row 'in doubt' rather than risk sending it twice."""
        try:
            client = await self.client_for(ref.workspace)
            await self.send(client, ref, reply)
        except LookupError:
            return DeliveryResult.UNREACHABLE
        except PartlySent:
            return DeliveryResult.IN_DOUBT
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if error in UNREACHABLE_ERRORS:
                await self.engine.mark_unreachable(ref)
                return DeliveryResult.UNREACHABLE
            if error in WORKSPACE_ERRORS:
                self._clients.pop(ref.workspace, None)
            return DeliveryResult.RETRY
        except aiohttp.ClientConnectorError:
            return DeliveryResult.RETRY  # never reached Slack
        except (TimeoutError, aiohttp.ClientError, SlackClientError):
            return DeliveryResult.IN_DOUBT
        return DeliveryResult.SENT

    # -- HTTP ----------------------------------------------------------------------------

    def web_app(self) -> web.Application:
        """``POST /slack/events`` (events, interactivity, options, commands: point all of
        them here), and with OAuth ``GET /slack/install`` and ``/slack/oauth_redirect``."""
        assert self.app is not None, "start() first"
        app = self.app

        async def events(request: web.Request) -> web.Response:
            bolt_request = await bolt_request_of(request)
            return await to_aiohttp_response(await app.async_dispatch(bolt_request))

        web_app = web.Application()
        web_app.router.add_post("/slack/events", events)
        flow = app.oauth_flow
        if flow is not None:

            async def install(request: web.Request) -> web.Response:
                response = await flow.handle_installation(await to_bolt_request(request))
                return await to_aiohttp_response(response)

            async def redirect(request: web.Request) -> web.Response:
                response = await flow.handle_callback(await to_bolt_request(request))
                return await to_aiohttp_response(response)

            web_app.router.add_get(flow.install_path, install)
            web_app.router.add_get(flow.redirect_uri_path, redirect)

        async def health(_request: web.Request) -> web.Response:
            return web.Response(text="ok")

        web_app.router.add_get("/healthz", health)
        return web_app


def form_decode(text: str) -> str:
    """One application/x-www-form-urlencoded value decoded, as urllib's ``unquote_plus``
    does, but in C: each ``%XX`` becomes a ``\\xXX`` escape for the ``unicode_escape``
    codec (a form body holds no backslash of its own: it is sent as ``%5C``)."""
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    escaped = text.replace("%", "\\x").encode("ascii")
    return escaped.decode("unicode_escape").encode("latin-1").decode("utf-8")


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses and json takes (a lone surrogate in a text)
        return json.dumps(value)


def parse_form(body: str) -> dict[str, Any]:
    """A form body as Bolt reads it: an interaction's ``payload`` JSON, else the fields."""
    fields = {}
    for pair in body.split("&"):
        if pair:
            key, _sep, value = pair.partition("=")
            fields[form_decode(key)] = form_decode(value)
    payload = fields.get("payload")
    return orjson.loads(payload) if payload is not None else fields


async def bolt_request_of(request: web.Request) -> AsyncBoltRequest:
    """Bolt's request for an HTTP request from Slack, with a form body decoded faster than
    Bolt's urllib does (0.2 ms for a 4 KB interaction; Slack posts one with every press).
    Bolt still checks the signature, over the raw body."""
    raw = await request.text()
    form = request.content_type == "application/x-www-form-urlencoded"
    if not form or raw.startswith("{") or "\\" in raw:
        return await to_bolt_request_from(raw, request)
    try:
        body = parse_form(raw)
    except (UnicodeError, ValueError):
        return await to_bolt_request_from(raw, request)
    bolt_request = AsyncBoltRequest(
        body="",
        query=request.query_string,
        headers=request.headers,  # type: ignore[arg-type]
    )
    bolt_request.raw_body = raw
    bolt_request.body = body
    bolt_request.context = build_async_context(AsyncBoltContext({}), body)
    return bolt_request


async def to_bolt_request_from(raw: str, request: web.Request) -> AsyncBoltRequest:
    return AsyncBoltRequest(
        body=raw,
        query=request.query_string,
        headers=request.headers,  # type: ignore[arg-type]
    )


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


def _options_of(message: dict[str, Any], action_id: str) -> list[str]:
    """The values of a tick box group's options, as the message shows them."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return [str(o["value"]) for o in element.get("options") or []]
    return []


def _chosen_label(body: dict[str, Any], action: dict[str, Any]) -> str | None:
    """What a press chose, as the person read it: the ticked options when a multi-select is
    confirmed (as Slack shows them: the payload's state, since ticks are not redrawn), else
    the pressed button's text."""
    label = str((action.get("text") or {}).get("text") or "") or None
    ticked = [
        str(o["text"]["text"])
        for actions in ((body.get("state") or {}).get("values") or {}).values()
        for value in actions.values()
        if value.get("type") == "checkboxes"
        for o in value.get("selected_options") or []
    ]
    if ticked and label is not None and not label.startswith(CHOSEN_MARK):
        return ", ".join(ticked)
    return label.removeprefix(CHOSEN_MARK) if label else None


def _form_language(reply: Outgoing) -> str:
    assert reply.form is not None
    return reply.form.language


async def _socket_mode(app: AsyncApp, app_token: str) -> None:
    """Receive over Socket Mode until cancelled. A refused app token raises at once (slack_sdk
    would otherwise retry it forever, looking healthy)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    socket = AsyncSocketModeHandler(app, app_token)
    try:
        socket.client.wss_uri = await socket.client.issue_new_wss_url()
        await socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack Socket Mode connected")
        await asyncio.Event().wait()
    finally:
        await socket.close_async()  # type: ignore[no-untyped-call]


async def serve(
    handler: SlackHandler,
    *,
    port: int = 8080,
    app_token: str | None = None,
    outbox: Callable[[SlackHandler], Awaitable[None]] | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run the Slack app until cancelled: Socket Mode with an app token, else HTTP on
    ``port``. ``ready`` is called once everything is set up, before the first request."""
    app = await handler.start()
    extra = asyncio.ensure_future(outbox(handler)) if outbox is not None else None
    resending = asyncio.ensure_future(handler.resend_failed_forever())
    try:
        # HTTP on PORT always: /healthz, the OAuth install pages, and /slack/events.
        runner = web.AppRunner(handler.web_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104
        log.info("Slack app listening on port %s", port)
        if ready is not None:
            ready()
        try:
            if app_token:
                await _socket_mode(app, app_token)
            else:
                await asyncio.Event().wait()
        finally:
            await runner.cleanup()
    finally:
        resending.cancel()
        if extra is not None:
            extra.cancel()
        await handler.stop()
