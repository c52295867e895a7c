"""A small fake of the Telegram Bot API, served by aiohttp on 127.0.0.1.

Speaks ``/bot<token>/<method>`` as python-telegram-bot calls it (form fields, JSON-encoded
where not plain strings; multipart for files). People are simulated with ``send_text``,
``send_command``, ``send_sticker`` and ``press``, which queue updates for ``getUpdates``.
Everything the bot sends is kept per chat. Faults can be injected: a 429 with
``retry_after`` for the next calls of a method, a 502 for the next calls of a method, and
403 for a chat that blocked the bot.

``FakeTelegram.limited()`` enforces Telegram's documented limits as Telegram counts them:
30 calls in any sliding second in all and one a second to one chat, counting every call
that names a chat except answerCallbackQuery; a call beyond them gets a 429 with
``retry_after``. ``limited_calls`` counts the calls that count, ``throttled`` the 429s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Consultation", "username": "consult_bot"}
JSON_FIELDS = {
    "reply_markup",
    "commands",
    "allowed_updates",
    "scope",
    "entities",
    "link_preview_options",
    "reply_parameters",
}
INT_FIELDS = {"chat_id", "message_id", "offset", "limit", "timeout", "cache_time"}


@dataclass
class Sent:
    """A message the bot sent, as it stands now (edits change it)."""

    message_id: int
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    document: str | None = None
    document_bytes: bytes | None = None
    edits: int = 0

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Inline buttons, row after row."""
        if not self.reply_markup:
            return []
        return [b for row in self.reply_markup.get("inline_keyboard", []) for b in row]

    @property
    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons]

    def as_api(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "date": int(time.time()),
            "chat": {"id": self.chat_id, "type": "private"},
            "from": BOT_USER,
        }
        if self.document is not None:
            message["document"] = {
                "file_id": f"doc{self.message_id}",
                "file_unique_id": f"u{self.message_id}",
                "file_name": self.document,
            }
            message["caption"] = self.text
        else:
            message["text"] = self.text
        if self.reply_markup:
            message["reply_markup"] = self.reply_markup
        return message


@dataclass
class Person:
    """A Telegram user of the fake."""

    id: int
    first_name: str = "Kari"
    last_name: str | None = "Nordmann"
    language_code: str | None = "en"

    def as_api(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.language_code:
            user["language_code"] = self.language_code
        return user


@dataclass
class FakeTelegram:
    """The fake Bot API server and the people using it."""

    token: str = "123456:TEST-TOKEN"
    latency: float = 0.0
    """Seconds added to every API call (a real round trip is about 0.05)."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    confirmed_offset: int = 0
    sent: dict[int, list[Sent]] = field(default_factory=lambda: defaultdict(list))
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    callers: list[str] = field(default_factory=list)
    """Who made each call of ``calls`` (a name from ``caller_url``; "" for the plain URL)."""
    commands: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    callback_answers: list[str] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    throttle: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    """method -> retry_after seconds for each of its next calls (a 429 each)."""
    failing: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """method -> how many of its next calls get a 502 (the Bot API unreachable behind its
    proxy: the request surely did nothing)."""
    webhook: dict[str, Any] = field(default_factory=dict)
    rate_limit: float | None = None
    """Calls naming a chat the fake accepts in any sliding second in all; more get a 429."""
    per_chat_interval: float | None = None
    """Seconds that must pass between two calls naming one chat; sooner gets a 429."""
    drop_responses: float = 0.0
    """Share of sendMessage calls whose message is delivered but whose answer is lost."""
    seed: int = 1
    settle_quiet: float = 0.15
    """Seconds a chat must be quiet for ``settle`` to take a reply as complete; more than
    a second for a bot that paces each chat at one call a second, as the shipped one."""

    def __post_init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._new_update = asyncio.Condition()
        self._new_message = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.base_url = ""
        self.people: dict[int, Person] = {}
        self.on_message: list[Any] = []
        """Callbacks ``f(chat_id, Sent)`` run when the bot sends or edits a message."""
        self._recent: deque[float] = deque()
        self._last_to_chat: dict[int, float] = {}
        self.throttled = 0
        """429s answered for the limits (not those injected with ``throttle``)."""
        self.limited_calls = 0
        """Calls that count against the limits (every call naming a chat, except
        answerCallbackQuery), accepted or not."""
        self.callback_texts: dict[str, str | None] = {}
        """callback query id -> the text its answer showed (None: none)."""
        self.dropped = 0
        self._random = random.Random(self.seed)

    @classmethod
    def limited(cls, **options: Any) -> FakeTelegram:
        """A fake enforcing Telegram's documented limits (30/s in all, 1/s per chat)."""
        options.setdefault("settle_quiet", 1.2)
        return cls(rate_limit=30, per_chat_interval=1.0, **options)

    # -- server -----------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return the base URL to give the bot."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._dispatch)
        app.router.add_get("/bot{token}/{method}", self._dispatch)
        # The same API under a caller's name (``caller_url``): several bots (workers) on one
        # fake, each call recorded with who made it (``callers``).
        app.router.add_post("/as/{caller}/bot{token}/{method}", self._dispatch)
        app.router.add_get("/as/{caller}/bot{token}/{method}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        return self.base_url

    def caller_url(self, caller: str) -> str:
        """The base URL for a bot whose calls are recorded as ``caller``'s."""
        return self.base_url.removesuffix("/bot") + f"/as/{caller}/bot"

    async def stop(self) -> None:
        self._closing = True
        async with self._new_update:
            self._new_update.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if request.content_type == "application/json":
            params = await request.json()
        elif request.body_exists:
            form = await request.post()
            for key, value in form.items():
                if hasattr(value, "file"):
                    params[key] = (value.filename, value.file.read())
                elif key in JSON_FIELDS:
                    params[key] = json.loads(value)  # type: ignore[arg-type]
                elif key in INT_FIELDS:
                    params[key] = int(value)  # type: ignore[arg-type]
                else:
                    params[key] = value
        return params

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls.append((method, params))
        self.callers.append(request.match_info.get("caller", ""))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.throttle.get(method):
            retry_after = self.throttle[method].pop(0)
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                },
                status=429,
            )
        if self.failing.get(method):
            self.failing[method] -= 1
            return _error(502, "Bad Gateway")
        chat_id = params.get("chat_id")
        if chat_id is not None and int(chat_id) in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        counted = chat_id is not None and method != "answerCallbackQuery"
        if counted:
            self.limited_calls += 1
        if counted and self._over_limit(int(chat_id)):  # type: ignore[arg-type]
            self.throttled += 1
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
                status=429,
            )
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, f"Not Found: method {method} is not faked")
        try:
            result = await handler(params)
        except ApiError as exc:
            return _error(exc.status, exc.description)
        if method == "sendMessage" and self._random.random() < self.drop_responses:
            # The message arrived; its answer is lost on the way back.
            self.dropped += 1
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("answer dropped")
        return web.json_response({"ok": True, "result": result})

    def _over_limit(self, chat_id: int) -> bool:
        now = time.monotonic()
        if self.rate_limit is not None:
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate_limit:
                return True
        if self.per_chat_interval is not None:
            last = self._last_to_chat.get(chat_id)
            if last is not None and now - last < self.per_chat_interval:
                return True
        if self.rate_limit is not None:
            self._recent.append(now)
        self._last_to_chat[chat_id] = now
        return False

    # -- API methods ----------------------------------------------------------------------

    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        if offset:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        async with self._new_update:
            while not self.updates and not self._closing and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
        return self.updates[:limit]

    async def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands[params.get("language_code", "")] = params["commands"]
        return True

    async def _api_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_setWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = params
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {}
        return True

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        self.callback_answers.append(params["callback_query_id"])
        self.callback_texts[params["callback_query_id"]] = params.get("text")
        return True

    @staticmethod
    def _check_markup(markup: dict[str, Any] | None) -> None:
        """Telegram's limits on inline buttons: 1-64 bytes of callback data, some text."""
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not str(button.get("text") or "").strip():
                    raise ApiError(400, "Bad Request: text buttons are unallowed")

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        if len(params["text"]) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        self._check_markup(params.get("reply_markup"))
        message = Sent(
            next(self._message_ids),
            int(params["chat_id"]),
            params["text"],
            params.get("reply_markup"),
        )
        await self._store(message)
        return message.as_api()

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:
        filename, data = params["document"]
        message = Sent(
            next(self._message_ids),
            int(params["chat_id"]),
            params.get("caption", ""),
            params.get("reply_markup"),
            document=filename,
            document_bytes=data,
        )
        await self._store(message)
        return message.as_api()

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        self._check_markup(params.get("reply_markup"))
        message = self.message(int(params["chat_id"]), int(params["message_id"]))
        message.text = params["text"]
        message.reply_markup = params.get("reply_markup")
        message.edits += 1
        await self._changed(message)
        return message.as_api()

    async def _api_editMessageCaption(self, params: dict[str, Any]) -> Any:
        self._check_markup(params.get("reply_markup"))
        message = self.message(int(params["chat_id"]), int(params["message_id"]))
        message.text = params.get("caption", "")
        message.reply_markup = params.get("reply_markup")
        message.edits += 1
        await self._changed(message)
        return message.as_api()

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        self._check_markup(params.get("reply_markup"))
        message = self.message(int(params["chat_id"]), int(params["message_id"]))
        if _markup(params.get("reply_markup")) == _markup(message.reply_markup):
            # As Telegram: taking off buttons that are off already is an error.
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of "
                "the message",
            )
        message.reply_markup = params.get("reply_markup")
        message.edits += 1
        await self._changed(message)
        return message.as_api()

    async def _store(self, message: Sent) -> None:
        self.sent[message.chat_id].append(message)
        await self._changed(message)

    async def _changed(self, message: Sent) -> None:
        for callback in self.on_message:
            callback(message.chat_id, message)
        async with self._new_message:
            self._new_message.notify_all()

    # -- people ---------------------------------------------------------------------------

    def person(self, user_id: int, **details: Any) -> Person:
        """A user of the fake (made on first use)."""
        if user_id not in self.people:
            self.people[user_id] = Person(user_id, **details)
        return self.people[user_id]

    def _queue(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        update["update_id"] = update_id
        self.updates.append(update)
        asyncio.get_running_loop().create_task(self._notify_update())
        return update_id

    async def _notify_update(self) -> None:
        async with self._new_update:
            self._new_update.notify_all()

    def _message(self, user_id: int, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": self.person(user_id).as_api(),
            **content,
        }

    def send_text(self, user_id: int, text: str) -> int:
        """The person types ``text``; a leading /word is sent as a bot command."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._queue({"message": self._message(user_id, **content)})

    def send_sticker(self, user_id: int) -> int:
        """The person sends a sticker."""
        sticker = {
            "file_id": "stk",
            "file_unique_id": "stku",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self._queue({"message": self._message(user_id, sticker=sticker)})

    def send_photo(self, user_id: int) -> int:
        """The person sends a photo."""
        photo = [{"file_id": "ph", "file_unique_id": "phu", "width": 90, "height": 90}]
        return self._queue({"message": self._message(user_id, photo=photo)})

    def send_location(
        self, user_id: int, latitude: float = 59.91, longitude: float = 10.75
    ) -> int:
        """The person shares a location."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._queue({"message": self._message(user_id, location=location)})

    def send_contact(self, user_id: int, phone: str = "+4712345678", name: str = "Ola") -> int:
        """The person shares a contact."""
        contact = {"phone_number": phone, "first_name": name}
        return self._queue({"message": self._message(user_id, contact=contact)})

    def press(self, user_id: int, message: Sent, label: str) -> int:
        """The person presses the button labelled ``label`` (or starting with it)."""

        def plain(text: str) -> str:
            return text.removeprefix("\u2705 ")

        button = next((b for b in message.buttons if plain(b["text"]) == label), None) or next(
            (b for b in message.buttons if plain(b["text"]).startswith(label)), None
        )
        if button is None:
            raise AssertionError(f"no button {label!r} in {message.labels}")
        return self.press_data(user_id, message, button["callback_data"])

    def press_data(self, user_id: int, message: Sent, data: str) -> int:
        """The person presses a button with this callback data on ``message``."""
        query = {
            "id": f"cq{next(self._update_ids)}",
            "from": self.person(user_id).as_api(),
            "chat_instance": "ci",
            "data": data,
            "message": message.as_api(),
        }
        return self._queue({"callback_query": query})

    def update(self, update_id: int) -> dict[str, Any]:
        """A queued update as Telegram sends it (to ``getUpdates``, or a webhook)."""
        for update in reversed(self.updates):
            if update["update_id"] == update_id:
                return update
        raise KeyError(f"no update {update_id}")

    # -- looking at what the bot did --------------------------------------------------------

    def message(self, chat_id: int, message_id: int) -> Sent:
        for message in self.sent[chat_id]:
            if message.message_id == message_id:
                return message
        raise KeyError(f"no message {message_id} in chat {chat_id}")

    def last(self, chat_id: int) -> Sent:
        """The last message sent to the chat."""
        return self.sent[chat_id][-1]

    def last_with_buttons(self, chat_id: int) -> Sent:
        """The last message in the chat that still has buttons."""
        for message in reversed(self.sent[chat_id]):
            if message.buttons:
                return message
        raise AssertionError(f"no message with buttons in chat {chat_id}")

    def texts(self, chat_id: int) -> list[str]:
        return [m.text for m in self.sent[chat_id]]

    async def wait_for_messages(self, chat_id: int, count: int, timeout: float = 10.0) -> None:
        """Wait until the chat has ``count`` messages."""
        deadline = time.monotonic() + timeout
        while len(self.sent[chat_id]) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"chat {chat_id} has {len(self.sent[chat_id])} messages")
            await asyncio.sleep(0.01)

    async def wait_until(self, check: Any, timeout: float = 10.0, what: str = "") -> None:
        """Wait until ``check()`` is true."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"not in time: {what or check}")
            await asyncio.sleep(0.01)

    def activity(self, chat_id: int) -> int:
        """A number that grows whenever the bot sends or edits in the chat."""
        return sum(1 + m.edits for m in self.sent[chat_id])

    async def settle(self, update_id: int, chat_id: int, timeout: float = 10.0) -> None:
        """Wait until the bot confirmed ``update_id`` and the chat has been quiet a moment."""
        deadline = time.monotonic() + timeout
        quiet_since, seen = time.monotonic(), self.activity(chat_id)
        while True:
            now = time.monotonic()
            if self.activity(chat_id) != seen:
                quiet_since, seen = now, self.activity(chat_id)
            if self.confirmed_offset > update_id and now - quiet_since > self.settle_quiet:
                return
            if now > deadline:
                raise AssertionError(f"update {update_id} was not handled in time")
            await asyncio.sleep(0.01)


def _markup(markup: Any) -> Any:
    """A reply markup as compared: none and an empty keyboard are alike."""
    if isinstance(markup, str):
        markup = json.loads(markup)
    return markup if markup and markup.get("inline_keyboard") else None


def _error(status: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description}, status=status
    )


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, status: int, description: str) -> None:
        self.status = status
        self.description = description
