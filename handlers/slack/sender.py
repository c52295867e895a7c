"""Slack out: the ``bot.delivery.Platform`` of Slack. Replies to a person become messages in
their DM (Block Kit, files uploaded with ``files_upload_v2``), a modal where the person is
looking (a press on the App Home or in a modal), or the pressed message changed in place;
their App Home is refreshed after.

The Web API client retries a 429 after its ``Retry-After`` and nothing else: slack_sdk's
default retry of a reset connection could post a message twice. A send that never reached
Slack (no connection) is tried again at once; any other failure is reported to
``bot.delivery.Deliveries``, which decides what happens next.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery import DeliveryResult
from bot.engine import Engine
from bot.errors import ParticipationBotError
from bot.messages import Outgoing, ParticipantRef
from bot.payloads import decode
from handlers.slack.blocks import (
    TEXT_LIMIT,
    blocks_for,
    closed_blocks,
    home_view,
    message_view,
    modal_for,
)
from handlers.slack.installations import SqliteInstallationStore

log = logging.getLogger("handlers.slack")
library_log = logging.getLogger("handlers.slack.library")
"""For Bolt and slack_sdk. They build their debug messages (whole request bodies) whenever
their logger's own level is at most DEBUG, and an unset level is 0: so this one always has
a level, that of the logging configuration when the app starts."""

PLATFORM = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
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


class PartlySent(ParticipationBotError):
    """A reply failed after part of it went out: sending it again could double that part."""


@dataclass
class Origin:
    """What a reply knows of the event it answers: the pressed message (to be closed or
    changed), the trigger (to open a modal), and whether the person is looking at a view
    (the App Home or a modal: answered there)."""

    message: PressedMessage | None = None
    trigger: str = ""
    payload: str = ""
    in_view: bool = False
    modal_id: str | None = None


@dataclass
class PressedMessage:
    """The message a press came from."""

    channel: str
    ts: str
    text: str
    chosen: str | None
    ticked: frozenset[str] | None = None
    """For tick boxes: what the person sees ticked (Slack shows it without our help)."""


def json_text(value: Any) -> str:
    """JSON for Web API bodies, by orjson (a tenth of json's time for a message's blocks)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses and json takes (a lone surrogate in a text)
        return json.dumps(value)


class SlackSender:
    """Sends to people in any workspace the app is in (a ``Platform``)."""

    name = PLATFORM

    def __init__(self, engine: Engine, *, token: str | None, api_url: str | None) -> None:
        self.engine = engine
        self.token = token
        self.api_url = api_url or DEFAULT_API_URL
        self.session: aiohttp.ClientSession | None = None
        self.installations: SqliteInstallationStore | None = None
        self._clients: dict[str, AsyncWebClient] = {}
        self._dm_channels: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.home_open: OrderedDict[tuple[str, str], None] = OrderedDict()
        """People who looked at their App Home: it is refreshed after their replies."""
        self.language_of_home: Any = None
        """``(team, user) -> language hint`` for the App Home, set by the handler."""

    def open_session(self) -> aiohttp.ClientSession:
        """The HTTP session every Web API client shares."""
        # Web API bodies (a message's blocks) encoded by orjson: a tenth of json's time.
        self.session = aiohttp.ClientSession(json_serialize=json_text)
        return self.session

    async def close(self) -> None:
        """Close the connections."""
        if self.session is not None:
            await self.session.close()

    def web_client(self, token: str | None) -> AsyncWebClient:
        """A Web API client on the shared session, waiting out a 429 and retrying nothing
        else."""
        return AsyncWebClient(
            token=token,
            base_url=self.api_url,
            session=self.session,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=5)],
            logger=library_log,
        )

    async def client_for(self, team: str) -> AsyncWebClient:
        """The Web API client with the workspace's bot token."""
        if self.token:
            client = self._clients.get("")
            if client is None:
                client = self._clients[""] = self.web_client(self.token)
            return client
        client = self._clients.get(team)
        if client is None:
            assert self.installations is not None
            bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team)
            if bot is None:
                raise LookupError("the app is not installed in that workspace")
            client = self._clients[team] = self.web_client(bot.bot_token)
        return client

    def forget_client(self, team: str) -> None:
        """The workspace's token changed: look it up again next time."""
        self._clients.pop(team, None)

    def remember_dm(self, team: str, user: str, channel: str) -> None:
        """The person's DM channel, seen in an event (saves a conversations.open)."""
        if channel.startswith("D"):
            self._dm_channels[(team, user)] = channel
            while len(self._dm_channels) > PEOPLE_CACHE_MAX:
                self._dm_channels.popitem(last=False)

    def looked_at_home(self, team: str, user: str) -> None:
        """The person opened their App Home: keep it up to date from now on."""
        self.home_open[(team, user)] = None
        while len(self.home_open) > PEOPLE_CACHE_MAX:
            self.home_open.popitem(last=False)

    def forget(self, ref: ParticipantRef) -> None:
        """Drop what is kept about a person (their data was erased)."""
        key = (ref.workspace, ref.user_id)
        self._dm_channels.pop(key, None)
        self.home_open.pop(key, None)

    def forget_everyone(self) -> None:
        """Drop what is kept about people (after a purge)."""
        self._dm_channels.clear()
        self.home_open.clear()

    async def _dm(self, client: AsyncWebClient, team: str, user: str) -> str:
        channel = self._dm_channels.get((team, user))
        if channel is None:
            opened = await client.conversations_open(users=user)
            channel = str((opened.get("channel") or {}).get("id"))
            self.remember_dm(team, user, channel)
        return channel

    async def already_shown(self, ref: ParticipantRef, replies: Sequence[Outgoing]) -> int:
        """How many of ``replies``, from the first, are already the app's latest messages in
        the person's DM (``bot.delivery.ShowsHistory``): a worker killed after Slack took
        them and before it recorded that. Text messages only (a file, or a reply shown in
        place of a pressed message, ends the count); 0 when the history cannot be read."""
        texts = []
        for reply in replies:
            if reply.attachment is not None or reply.form is not None or not reply.text.strip():
                break
            texts.append(reply.text[:TEXT_LIMIT])
        if not texts:
            return 0
        try:
            client = await self.client_for(ref.workspace)
            channel = await self._dm(client, ref.workspace, ref.user_id)
            answer = await client.conversations_history(channel=channel, limit=len(texts) + 5)
        except (SlackApiError, SlackClientError, LookupError, aiohttp.ClientError, TimeoutError):
            return 0
        ours = [
            html.unescape(str(m.get("text") or ""))  # Slack stores &, <, > as entities
            for m in reversed(answer.get("messages") or [])  # oldest first
            if m.get("bot_id")
        ]
        for count in range(min(len(texts), len(ours)), 0, -1):
            if ours[-count:] == texts[:count]:
                return count
        return 0

    # -- bot.delivery.Platform -----------------------------------------------------------

    async def send(
        self,
        ref: ParticipantRef,
        replies: Sequence[Outgoing],
        origin: Origin | None,
        event_id: str = "",
    ) -> DeliveryResult:
        """A person's replies: where they are looking (a modal) or in their DM, the
        pressed message closed or changed; then their App Home, if they have looked at it."""
        replies = list(replies)
        origin = origin or Origin()
        if origin.in_view and origin.trigger and await self._answer_in_view(ref, replies, origin):
            result = DeliveryResult.SENT
        else:
            result = await self._send_replies(ref, replies, origin, event_id)
        if (ref.workspace, ref.user_id) in self.home_open:
            await self.publish_home(ref.workspace, ref.user_id)
        return result

    async def deliver(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """One outbox message. A 429 is waited out by the client; a lost answer makes the
        row 'in doubt' rather than risk sending it twice."""
        try:
            client = await self.client_for(ref.workspace)
            await self.send_message(client, ref, reply)
        except LookupError:  # the app is no longer in that workspace
            return DeliveryResult.REFUSED
        except PartlySent:
            return DeliveryResult.IN_DOUBT
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if error in UNREACHABLE_ERRORS:
                return DeliveryResult.UNREACHABLE
            if error in WORKSPACE_ERRORS:
                self._clients.pop(ref.workspace, None)
            return DeliveryResult.RETRY
        except aiohttp.ClientConnectorError:
            return DeliveryResult.RETRY  # never reached Slack
        except (TimeoutError, aiohttp.ClientError, SlackClientError):
            return DeliveryResult.IN_DOUBT
        return DeliveryResult.SENT

    # -- sending -------------------------------------------------------------------------

    async def _send_replies(
        self, ref: ParticipantRef, replies: list[Outgoing], origin: Origin, event_id: str = ""
    ) -> DeliveryResult:
        """Send the replies in the DM. A send that never reached Slack is tried again at
        once, twice; after part went out, a failure is ``IN_DOUBT`` (sending them again
        would double what went). Each part sent while more follow is recorded, so that
        whoever sends the rest after a crash starts after it."""
        sent = 0
        pressed = origin.message
        for attempt in range(SEND_ATTEMPTS):
            try:
                client = await self.client_for(ref.workspace)
                closing = None
                if pressed is not None and sent == 0:
                    # The pressed message is closed while the next one is sent: one round
                    # trip instead of two before the person sees the next question.
                    closing = asyncio.ensure_future(
                        self._close_origin(client, pressed, replies, origin.payload)
                    )
                try:
                    for reply in replies[sent:]:
                        if pressed is not None and reply is replies[0] and reply.replaces_origin:
                            sent += 1  # shown in place of the pressed message
                        else:
                            await self.send_message(client, ref, reply, origin.trigger)
                            sent += 1
                        if event_id and sent < len(replies):
                            self.engine.part_sent(ref.scoped(event_id))
                finally:
                    if closing is not None:
                        for failed in await asyncio.gather(closing, return_exceptions=True):
                            if failed is not None:
                                log.debug("closing a question failed: %r", failed)
                return DeliveryResult.SENT
            except LookupError:
                log.warning("a Slack reply for a workspace without the app was dropped")
                return DeliveryResult.REFUSED
            except PartlySent as exc:
                log.warning("a Slack reply went out in part: %s", exc)
                return DeliveryResult.IN_DOUBT
            except SlackApiError as exc:
                error = str(exc.response.get("error"))
                if error in UNREACHABLE_ERRORS:
                    return DeliveryResult.UNREACHABLE
                if error in WORKSPACE_ERRORS:
                    self._clients.pop(ref.workspace, None)
                log.warning("sending to Slack failed: %s", error)
                return DeliveryResult.IN_DOUBT if sent else DeliveryResult.RETRY
            except aiohttp.ClientConnectorError:
                if sent > 0:
                    return DeliveryResult.IN_DOUBT
                await asyncio.sleep(0.5 * 2**attempt)  # never reached Slack: try again
            except (TimeoutError, aiohttp.ClientError, SlackClientError) as exc:
                log.warning("sending to Slack failed: %s", type(exc).__name__)
                return DeliveryResult.IN_DOUBT if sent else DeliveryResult.RETRY
        return DeliveryResult.RETRY

    async def _close_origin(
        self, client: AsyncWebClient, origin: PressedMessage, replies: list[Outgoing], payload: str
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
        navigation = decode(payload).is_global or (bool(replies) and replies[0].origin_stale)
        chosen = None if navigation else origin.chosen
        await self._update(client, origin, closed_blocks(origin.text, chosen), origin.text)

    async def _answer_in_view(
        self, ref: ParticipantRef, replies: list[Outgoing], origin: Origin
    ) -> bool:
        """Show the replies in a modal (the form, or the messages with their buttons):
        True when shown. Files and failures go to the DM instead."""
        if not replies or any(r.attachment is not None for r in replies):
            return False
        form = next((r.form for r in replies if r.form is not None), None)
        view = modal_for(form, form.language) if form is not None else message_view(replies)
        try:
            client = await self.client_for(ref.workspace)
            if origin.modal_id:
                await client.views_update(view_id=origin.modal_id, view=view)
            else:
                await client.views_open(trigger_id=origin.trigger, view=view)
        except (SlackApiError, LookupError) as exc:
            log.info("answering in a modal failed: %s", type(exc).__name__)
            return False
        return True

    async def _update(
        self,
        client: AsyncWebClient,
        origin: PressedMessage,
        blocks: list[dict[str, Any]],
        text: str,
    ) -> None:
        try:
            await client.chat_update(
                channel=origin.channel, ts=origin.ts, text=text, blocks=blocks
            )
        except SlackApiError as exc:  # deleted or too old: nothing to close
            log.debug("chat.update failed: %s", exc.response.get("error"))

    async def send_message(
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
                    trigger_id=trigger, view=modal_for(reply.form, reply.form.language)
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
            hint = await self.language_of_home(team, user) if self.language_of_home else None
            ref = ParticipantRef(platform=PLATFORM, workspace=team, user_id=user)
            parts = await self.engine.home(ref, hint)
            client = await self.client_for(team)
            await client.views_publish(user_id=user, view=home_view(parts))
        except (TimeoutError, SlackApiError, LookupError, aiohttp.ClientError) as exc:
            log.warning("the App Home could not be published: %s", type(exc).__name__)
