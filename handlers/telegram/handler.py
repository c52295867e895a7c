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
from typing import Any, TypeVar

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

from bot.budget import Budget, BudgetClosed, Priority
from bot.delivery import RETRY_INTERVAL, Deliveries, DeliveryResult
from bot.engine import Engine
from bot.i18n import _, use_language
from bot.messages import Incoming, Outgoing, ParticipantRef
from handlers.telegram.api import retry_seconds
from handlers.telegram.convert import (
    CAPTION_LIMIT,
    CHOSEN_MARK,
    COMMANDS,
    PLATFORM,
    TEXT_LIMIT,
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
RATE_ATTEMPTS = 5
"""A call answered 429 is tried again after its ``retry_after``, up to this many times."""
TELEGRAM_LIMITS = (30.0, 1.0)
"""Telegram's limits: about 30 calls a second in all, one a second to one chat."""
SIGN_OF_LIFE_AFTER = 1.0
"""Seconds of others' replies waiting for the budget beyond which a press's
answerCallbackQuery says it was saved."""
STOP_GRACE = 2.0
"""Seconds ``stop`` lets replies go out before leaving the rest for the next start."""

T = TypeVar("T")


class TelegramHandler:
    """Serves one bot: polling or webhook in; replies and the outbox out (a ``Platform``).

    Every call that counts against Telegram's limits (one that names a chat, except
    answerCallbackQuery) is paid from ``budget``, which the outbox dispatcher shares: a
    person's reply goes before a broadcast, and tidying (an old question's buttons removed)
    waits for a quiet moment. An answer costs one such call where the flow allows: a press
    edits the pressed question into what comes next (keeping a line with the choice), a
    typed answer gets the next question as one new message.
    """

    name = PLATFORM

    def __init__(
        self,
        engine: Engine,
        bot: ExtBot[Any],
        *,
        budget: Budget | None = None,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self.engine = engine
        self.bot = bot
        self.budget = budget if budget is not None else Budget(*TELEGRAM_LIMITS)
        self.delivery = Deliveries(engine, self, retry_interval=retry_interval)
        self._open_keyboards: dict[int, int] = {}
        """chat id -> the message whose buttons are still live (the newest question)."""
        self._tidying: dict[tuple[int, int], str | None] = {}
        """(chat id, message id) -> the choice to show, of questions whose buttons are still
        to be removed (when the budget has room)."""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()
        self.throttled = 0
        """429s received (the budget should make them rare)."""

    async def start(self) -> None:
        """Connect, publish the command menu in each language, send replies left unsent."""
        await self.bot.initialize()
        await self.set_commands()
        await self.delivery.start()

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop promptly: what can be sent within ``grace`` seconds goes; the rest stays
        stored, unsent, and goes out at the next start (not drained at the capped rate)."""
        self._stopping.set()
        idle = asyncio.ensure_future(self.delivery.idle())
        await asyncio.wait([idle], timeout=grace)
        idle.cancel()
        self.budget.close()  # whatever still waits gives up: nothing of it was sent
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
                if self.engine.campaigns.several:
                    commands.insert(1, BotCommand("consultations", _("Other consultations")))
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
        """Hand one update to the engine; return once it is committed (replies follow).

        A press is answered (answerCallbackQuery, which Telegram does not count) at once
        to stop the button's spinner; when the reply will be a while (the budget is spent
        on many people), the answer waits for the commit and says the press was saved, so
        that nobody presses again thinking it was lost.
        """
        incoming = to_incoming(update)
        if incoming is None:
            return
        query = update.callback_query
        busy = False
        if query is not None:
            busy = self.budget.backlog() > SIGN_OF_LIFE_AFTER
            if not busy:  # it carries no data, so it may precede the commit
                self._spawn(self._answer_callback(query.id))
        message = query.message if query is not None else None
        origin = None
        if query is not None and isinstance(message, Message):
            origin = Origin(message, pressed_label(message, query.data), incoming.payload)
        try:
            await self.delivery.handle(incoming, origin)
        except BaseException:
            if query is not None and busy:
                self._spawn(self._answer_callback(query.id))
            raise
        if query is not None and busy:
            self._spawn(self._answer_callback(query.id, await self._saved_text(incoming)))

    async def _saved_text(self, incoming: Incoming) -> str:
        lang = await self.engine.language_of(incoming.ref)
        with use_language(lang or self.engine.campaign.default_language):
            # TRANSLATORS: shown for a moment at the top of the chat after a button press,
            # while the bot is busy: the press is stored and the reply will follow.
            return CHOSEN_MARK + _("Saved. The reply is on its way.")

    async def _answer_callback(self, query_id: str, text: str | None = None) -> None:
        try:
            await self.bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:  # an old query (over 15 minutes) cannot be answered
            log.debug("answerCallbackQuery failed: %s", type(exc).__name__)

    # -- sending ---------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _call(self, chat_id: int, priority: Priority, call: Callable[[], Awaitable[T]]) -> T:
        """One call that counts against Telegram's limits, paid from the budget; a 429 (the
        budget misjudged) holds this chat for its ``retry_after`` and the call is tried
        again."""
        key = str(chat_id)
        for attempt in range(RATE_ATTEMPTS):
            async with self.budget.call(key, priority):
                try:
                    return await call()
                except RetryAfter as exc:
                    self.throttled += 1
                    if attempt == RATE_ATTEMPTS - 1:
                        raise
                    self.budget.hold(key, retry_seconds(exc))
        raise AssertionError("unreachable")

    async def send(
        self,
        ref: ParticipantRef,
        replies: Sequence[Outgoing],
        origin: Origin | None,
        event_id: str = "",
    ) -> DeliveryResult:
        """Send a person's replies (``bot.delivery.Platform``).

        Only the newest question keeps its buttons. A press's first reply takes the place
        of the pressed message (one call): an answer shows the choice in a line above it,
        ticks of a multi-select just change the message. Where it cannot (a file, a stale
        or an older message, a text too long), the pressed message is closed later and the
        reply sent as new. A keyboard left open by a typed answer is removed when the
        budget has room: a press on it meanwhile is answered as a stale one.
        """
        chat_id = int(ref.user_id)
        replies = list(replies)
        sent = 0
        try:
            if origin is not None and replies:
                if await self._in_place(chat_id, origin, replies[0]):
                    sent += 1
                    replies = replies[1:]
                    if replies:
                        self.delivery.part_sent(ref, event_id)
                elif origin.message.reply_markup is not None:
                    navigation = origin.payload.startswith("g:") or replies[0].origin_stale
                    self._tidy(chat_id, origin.message, None if navigation else origin.pressed)
            if any(r.buttons for r in replies):
                self._close_open_keyboard(chat_id)
            for number, reply in enumerate(replies, start=1):
                message_id = await self.send_message(chat_id, reply)
                sent += 1
                if number < len(replies):  # more follow: a crash now must not double this
                    self.delivery.part_sent(ref, event_id)
                if message_id is not None:
                    self._keep_open(chat_id, message_id)
            return DeliveryResult.SENT
        except BudgetClosed:
            # Stopping: nothing more goes out now; the rest waits for the next start.
            return DeliveryResult.IN_DOUBT if sent else DeliveryResult.RETRY
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

    async def _in_place(self, chat_id: int, origin: Origin, reply: Outgoing) -> bool:
        """Show ``reply`` in the pressed message itself, if it can be (one call)."""
        message = origin.message
        if reply.replaces_origin:  # ticks of a multi-select: the same question, changed
            text = reply.text
        else:
            newest = self._open_keyboards.get(chat_id, message.message_id)
            if (
                reply.origin_stale
                or reply.attachment is not None
                or message.text is None  # a file's caption: not into a text
                or message.message_id != newest  # further up the chat than the person reads
            ):
                return False
            chosen = origin.pressed and not origin.payload.startswith("g:")
            text = f"{CHOSEN_MARK}{origin.pressed}\n\n{reply.text}" if chosen else reply.text
        if len(text) > TEXT_LIMIT:
            return False
        try:
            await self._edit(chat_id, message.message_id, text or "\u2026", keyboard(reply))
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return True  # it shows that already
            log.debug("could not edit a question: %s", type(exc).__name__)
            return False  # deleted or too old: a new message instead
        self._tidying.pop((chat_id, message.message_id), None)
        if reply.buttons:
            self._keep_open(chat_id, message.message_id)
        else:
            self._forget_keyboard(chat_id, message.message_id)
        return True

    async def send_message(
        self, chat_id: int, reply: Outgoing, priority: Priority = Priority.INTERACTIVE
    ) -> int | None:
        """One ``Outgoing`` as Telegram messages, tried again when it could not connect."""
        for attempt in range(SEND_ATTEMPTS):
            try:
                return await self._send_once(chat_id, reply, priority)
            except NetworkError as exc:
                # A timed-out send may have arrived: trying again could send it twice.
                if isinstance(exc, BadRequest | TimedOut) or attempt == SEND_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        return None

    def _keep_open(self, chat_id: int, message_id: int) -> None:
        self._open_keyboards[chat_id] = message_id
        while len(self._open_keyboards) > OPEN_KEYBOARDS_MAX:
            self._open_keyboards.pop(next(iter(self._open_keyboards)))

    def _forget_keyboard(self, chat_id: int, message_id: int) -> None:
        if self._open_keyboards.get(chat_id) == message_id:
            del self._open_keyboards[chat_id]

    def _close_open_keyboard(self, chat_id: int) -> None:
        message_id = self._open_keyboards.pop(chat_id, None)
        if message_id is not None:
            self._tidying.setdefault((chat_id, message_id), None)
            self._spawn(self._tidy_one(chat_id, message_id))

    def _tidy(self, chat_id: int, message: Message, pressed: str | None) -> None:
        """Close an answered question's buttons when the budget has room (showing the
        choice, unless ``pressed`` is None), so an old button is not pressed by mistake."""
        self._forget_keyboard(chat_id, message.message_id)
        key = (chat_id, message.message_id)
        if key in self._tidying:
            self._tidying[key] = pressed
            return
        self._tidying[key] = pressed
        self._spawn(self._tidy_one(chat_id, message.message_id, message))

    async def _tidy_one(
        self, chat_id: int, message_id: int, message: Message | None = None
    ) -> None:
        try:
            async with self.budget.call(str(chat_id), Priority.TIDY):
                if (chat_id, message_id) in self._tidying:  # else it became the next question
                    await self._close(chat_id, message_id, message)
        except BudgetClosed:
            return

    async def _close(self, chat_id: int, message_id: int, message: Message | None) -> None:
        pressed = self._tidying.pop((chat_id, message_id))
        text = (message.text or message.caption or "") if message is not None else ""
        try:
            if pressed is None or message is None:
                await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
            elif message.text is not None:
                await self.bot.edit_message_text(
                    split_text(f"{text}\n\n{CHOSEN_MARK}{pressed}")[0],
                    chat_id=chat_id,
                    message_id=message_id,
                )
            else:
                await self.bot.edit_message_caption(
                    chat_id,
                    message_id,
                    caption=f"{text}\n\n{CHOSEN_MARK}{pressed}"[:CAPTION_LIMIT],
                )
        except TelegramError as exc:  # deleted, too old, or not modified: nothing to close
            log.debug("could not close a question: %s", type(exc).__name__)

    async def _send_once(self, chat_id: int, reply: Outgoing, priority: Priority) -> int | None:
        """One ``Outgoing`` as one or more Telegram messages; the id of the one with buttons."""
        markup = keyboard(reply)
        if reply.attachment is not None:
            attachment = reply.attachment
            caption, rest = reply.text[:CAPTION_LIMIT], reply.text[CAPTION_LIMIT:]
            document = await self._call(
                chat_id,
                priority,
                lambda: self.bot.send_document(
                    chat_id,
                    InputFile(attachment.data, filename=attachment.filename),
                    caption=caption or None,
                    reply_markup=markup if not rest else None,
                ),
            )
            if rest:
                return await self._send_text(chat_id, rest, markup, priority)
            return document.message_id if markup is not None else None
        return await self._send_text(chat_id, reply.text, markup, priority)

    async def _send_text(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        priority: Priority,
    ) -> int | None:
        pieces = split_text(text or "\u2026")
        message_id = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            sent = await self._call(
                chat_id,
                priority,
                lambda piece=piece, last=last: self.bot.send_message(  # type: ignore[misc]
                    chat_id, piece, reply_markup=markup if last else None
                ),
            )
            message_id = sent.message_id
        return message_id if markup is not None else None

    async def _edit(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        await self._call(
            chat_id,
            Priority.INTERACTIVE,
            lambda: self.bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=markup
            ),
        )

    async def deliver(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """Send one outbox message (``bot.delivery.Platform``), at the outbox's priority: a
        429 is waited out; a lost answer makes the row 'in doubt' rather than risk sending
        it twice."""
        try:
            await self.send_message(int(ref.user_id), reply, Priority.OUTBOX)
        except BudgetClosed:
            return DeliveryResult.RETRY
        except RetryAfter:
            return DeliveryResult.RETRY
        except Forbidden:
            return DeliveryResult.UNREACHABLE
        except BadRequest:
            return DeliveryResult.REFUSED
        except TimedOut:
            return DeliveryResult.IN_DOUBT
        except TelegramError:
            return DeliveryResult.RETRY
        return DeliveryResult.SENT

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
