"""Telegram in and out: polling or the webhook's updates to the engine, and the
``bot.delivery.Platform`` that sends replies and outbox messages through the Bot API.

Nothing is lost on a crash: an update is confirmed to Telegram (the next getUpdates offset,
or the webhook's 200) only after the engine committed it. PTB's ``run_polling`` confirms a
batch before its handlers ran, so this module polls with its own loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import (
    BotCommand,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ExtBot

from bot.delivery import RETRY_INTERVAL, Deliveries, DeliveryResult
from bot.engine import Engine
from bot.i18n import _, use_language
from bot.messages import Outgoing, ParticipantRef
from handlers.telegram.api import retry_seconds
from handlers.telegram.convert import (
    CAPTION_LIMIT,
    CHOSEN_MARK,
    PLATFORM,
    Origin,
    keyboard,
    pressed_label,
    split_text,
    to_incoming,
)

log = logging.getLogger("handlers.telegram")

ALLOWED_UPDATES = ["message", "callback_query"]
OPEN_KEYBOARDS_MAX = 100_000
SEND_ATTEMPTS = 3
"""A send that could not reach Telegram is tried again twice (after 0.5 s and 1 s)."""

COMMANDS: dict[str, Callable[[], str]] = {
    "start": lambda: _("Start and main menu"),
    "survey": lambda: _("The survey"),
    "meetings": lambda: _("Meetings and sign-up"),
    "mine": lambda: _("My registrations"),
    "language": lambda: _("Language"),
    "help": lambda: _("Help"),
}


class TelegramHandler:
    """Serves one bot: polling or webhook in; replies and the outbox out (a ``Platform``)."""

    name = PLATFORM

    def __init__(
        self, engine: Engine, bot: ExtBot[Any], *, retry_interval: float = RETRY_INTERVAL
    ) -> None:
        self.engine = engine
        self.bot = bot
        self.delivery = Deliveries(engine, self, retry_interval=retry_interval)
        self._open_keyboards: dict[int, int] = {}
        """chat id -> the message whose buttons are still live (the newest question)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Connect, publish the command menu in each language, send replies left unsent."""
        await self.bot.initialize()
        await self.set_commands()
        await self.delivery.start()

    async def stop(self) -> None:
        """Finish sending what was committed, then disconnect."""
        self._stopping.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.delivery.stop()
        await self.bot.shutdown()

    async def set_commands(self) -> None:
        """The bot's command menu, in every language of the campaign."""
        languages = self.engine.offered_languages
        default = self.engine.campaign.default_language
        for code in (None, *languages):
            if code is not None and not (len(code) == 2 and code.isalpha()):
                continue  # the Bot API takes two-letter ISO 639-1 codes only
            with use_language(code or default):
                commands = [BotCommand(name, describe()) for name, describe in COMMANDS.items()]
            try:
                await self.bot.set_my_commands(commands, language_code=code)
            except BadRequest as exc:  # one language refused must not stop the bot
                log.warning("setMyCommands(%s) refused: %s", code, type(exc).__name__)

    # -- receiving -------------------------------------------------------------------------

    async def poll(self) -> None:
        """Long-poll getUpdates; confirm a batch only after every update in it committed."""
        offset: int | None = None
        await self.bot.delete_webhook()
        while not self._stopping.is_set():
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=10, allowed_updates=ALLOWED_UPDATES
                )
            except RetryAfter as exc:
                await asyncio.sleep(retry_seconds(exc))
                continue
            except Conflict:
                # Another instance polls this bot (an overlapping restart): wait it out.
                log.warning("another instance is polling this bot; retrying")
                await asyncio.sleep(5.0)
                continue
            except NetworkError:
                await asyncio.sleep(1.0)
                continue
            if not updates:
                continue
            outcomes = await asyncio.gather(
                *(self.process(u) for u in updates), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, Exception):  # the engine answered the person already
                    log.error("an update failed: %s", type(outcome).__name__)
            offset = updates[-1].update_id + 1

    async def process(self, update: Update) -> None:
        """Hand one update to the engine; return once it is committed (replies follow)."""
        incoming = to_incoming(update)
        if incoming is None:
            return
        query = update.callback_query
        if query is not None:
            # Stop the button's spinner at once; it carries no data, so it may precede the
            # commit.
            self._spawn(self._answer_callback(query.id))
        message = query.message if query is not None else None
        origin = None
        if query is not None and isinstance(message, Message):
            origin = Origin(message, pressed_label(message, query.data), incoming.payload)
        await self.delivery.handle(incoming, origin)

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as exc:  # an old query (over 15 minutes) cannot be answered
            log.debug("answerCallbackQuery failed: %s", type(exc).__name__)

    # -- sending ---------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def send(
        self,
        ref: ParticipantRef,
        replies: Sequence[Outgoing],
        origin: Origin | None,
        event_id: str = "",
    ) -> DeliveryResult:
        """Send a person's replies (``bot.delivery.Platform``).

        Only the newest question keeps its buttons: the pressed message is closed (showing
        the choice, unless it was a stale or navigation button), and a keyboard left open by a
        typed answer is removed when a new one arrives.
        """
        chat_id = int(ref.user_id)
        replies = list(replies)
        sent = 0
        try:
            if origin is not None:
                if replies and replies[0].replaces_origin:
                    await self._edit(origin.message, replies[0])
                    replies = replies[1:]
                elif origin.message.reply_markup is not None:
                    navigation = origin.payload.startswith("g:") or (
                        bool(replies) and replies[0].origin_stale
                    )
                    await self._close_question(
                        origin.message, None if navigation else origin.pressed
                    )
                    self._forget_keyboard(chat_id, origin.message.message_id)
            if any(r.buttons for r in replies):
                await self._close_open_keyboard(chat_id)
            for reply in replies:
                message_id = await self.send_message(chat_id, reply)
                sent += 1
                if message_id is not None:
                    self._open_keyboards[chat_id] = message_id
                    while len(self._open_keyboards) > OPEN_KEYBOARDS_MAX:
                        self._open_keyboards.pop(next(iter(self._open_keyboards)))
            return DeliveryResult.SENT
        except Forbidden:
            return DeliveryResult.UNREACHABLE
        except BadRequest as exc:
            # A message Telegram will never accept: sending it again would fail again.
            log.warning("Telegram refused a reply: %s", type(exc).__name__)
            return DeliveryResult.REFUSED
        except TimedOut:
            # The request left and its answer was lost: it may have arrived.
            log.warning("sending to Telegram timed out")
            return DeliveryResult.IN_DOUBT
        except TelegramError as exc:
            log.warning("sending to Telegram failed: %s", type(exc).__name__)
            # Part went out: sending all again would double that part.
            return DeliveryResult.IN_DOUBT if sent else DeliveryResult.RETRY

    async def send_message(self, chat_id: int, reply: Outgoing) -> int | None:
        """One ``Outgoing`` as Telegram messages, tried again when it could not connect."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                return await self._send_once(chat_id, reply)
            except NetworkError as exc:
                # A timed-out send may have arrived: trying again could send it twice.
                if isinstance(exc, BadRequest | TimedOut) or attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        return None

    def _forget_keyboard(self, chat_id: int, message_id: int) -> None:
        if self._open_keyboards.get(chat_id) == message_id:
            del self._open_keyboards[chat_id]

    async def _close_open_keyboard(self, chat_id: int) -> None:
        message_id = self._open_keyboards.pop(chat_id, None)
        if message_id is None:
            return
        try:
            await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except BadRequest as exc:  # already closed, deleted or too old
            log.debug("could not remove an old keyboard: %s", type(exc).__name__)

    async def _send_once(self, chat_id: int, reply: Outgoing) -> int | None:
        """One ``Outgoing`` as one or more Telegram messages; the id of the one with buttons."""
        markup = keyboard(reply)
        if reply.attachment is not None:
            attachment = reply.attachment
            caption, rest = reply.text[:CAPTION_LIMIT], reply.text[CAPTION_LIMIT:]
            document = await self.bot.send_document(
                chat_id,
                InputFile(attachment.data, filename=attachment.filename),
                caption=caption or None,
                reply_markup=markup if not rest else None,
            )
            if rest:
                return await self._send_text(chat_id, rest, markup)
            return document.message_id if markup is not None else None
        return await self._send_text(chat_id, reply.text, markup)

    async def _send_text(
        self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> int | None:
        pieces = split_text(text or "\u2026")
        message_id = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            sent = await self.bot.send_message(
                chat_id, piece, reply_markup=markup if last else None
            )
            message_id = sent.message_id
        return message_id if markup is not None else None

    async def _edit(self, origin: Message, reply: Outgoing) -> None:
        text = split_text(reply.text)[0]
        try:
            await self.bot.edit_message_text(
                text,
                chat_id=origin.chat_id,
                message_id=origin.message_id,
                reply_markup=keyboard(reply),
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    async def _close_question(self, origin: Message, pressed: str | None) -> None:
        """The answered question keeps its text and shows the choice, without buttons, so an
        old button cannot be pressed by mistake (``pressed`` None: just the buttons go)."""
        text = origin.text or origin.caption or ""
        try:
            if pressed is None:
                await self.bot.edit_message_reply_markup(
                    origin.chat_id, origin.message_id, reply_markup=None
                )
                return
            await self.bot.edit_message_text(
                split_text(f"{text}\n\n{CHOSEN_MARK}{pressed}")[0],
                chat_id=origin.chat_id,
                message_id=origin.message_id,
            )
        except BadRequest as exc:  # deleted, too old, or not modified: nothing to close
            log.debug("could not close a question: %s", type(exc).__name__)

    async def deliver(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """Send one outbox message (``bot.delivery.Platform``): a 429 is waited out; a lost
        answer makes the row 'in doubt' rather than risk sending it twice."""
        for _attempt in range(SEND_ATTEMPTS):
            try:
                await self.send_message(int(ref.user_id), reply)
            except RetryAfter as exc:
                await asyncio.sleep(retry_seconds(exc))
                continue
            except Forbidden:
                return DeliveryResult.UNREACHABLE
            except BadRequest:
                return DeliveryResult.REFUSED
            except TimedOut:
                return DeliveryResult.IN_DOUBT
            except TelegramError:
                return DeliveryResult.RETRY
            return DeliveryResult.SENT
        return DeliveryResult.RETRY

    async def deliver_outbox(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """The outbox dispatcher's send function: ``deliver``, and a person who blocked the
        bot is marked unreachable."""
        return await self.delivery.deliver(ref, reply)

    # -- webhook ---------------------------------------------------------------------------

    def webhook_app(self, path: str, secret: str) -> Any:
        """An aiohttp app taking Telegram's webhook calls on ``path``: 200 only after commit,
        401 when the secret token is wrong."""
        from aiohttp import web

        async def receive(request: web.Request) -> web.Response:
            if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != secret:
                return web.Response(status=401, text="wrong secret token")
            try:
                update = Update.de_json(await request.json(), self.bot)
            except (ValueError, KeyError, TypeError):
                return web.Response(status=400, text="not an update")
            if update is not None:
                await self.process(update)
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post(path, receive)
        return app
