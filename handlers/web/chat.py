"""The web chat's conversation: a WebSocket per open page, one ``bot.delivery.Platform``.

The protocol (JSON objects, ``t`` names the kind):

- page -> server: ``hello`` (its token, or none the first time; a deep link ``start``; the
  browser's language; whether it already shows a conversation), or ``redeem`` (a one-time
  code from another device) first; then ``say`` (typed text) and ``press`` (a button's
  payload), each with the page's own event ``id``; ``code`` asks for a one-time code.
- server -> page: ``ready`` (the token to keep), ``stored`` (the event ``id`` is committed:
  the page may forget it), ``msg`` (one reply: text, buttons, ``lang`` and ``dir``, a file,
  an ``id``; ``last`` on the last reply to an event), ``code``, and ``error`` (a localized
  sentence: too long, too fast, a wrong code...). The page answers each ``msg`` with
  ``got`` and its id.

Nothing is lost: ``stored`` is sent only after the engine's commit; the page keeps what is
not yet stored and sends it again after a reconnect with the same id, which changes nothing
(the engine knows the event). A reply counts as sent once a page said ``got``: pushed to a
page that was closing, it stays unsent and goes out when the person's page connects again
(``Deliveries.resend_to``), with the same id, so a page that did show it shows it once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from babel import Locale, UnknownLocaleError

from bot.delivery import Deliveries, DeliveryResult
from bot.engine import Engine
from bot.i18n import _, pick_language, use_language
from bot.messages import Incoming, Kind, Outgoing, ParticipantRef
from bot.websessions import WebSessions, valid_token

log = logging.getLogger("handlers.web")

PLATFORM = "web"
TEXT_MAX = 2000
"""Characters in one typed message at most (a survey's own limit may be lower)."""
FRAME_MAX = 16 * 1024
"""Bytes in one WebSocket message at most: larger ones close the connection."""
ID_MAX = 64
PAYLOAD_MAX = 64
ACK_TIMEOUT = 10.0
"""Seconds a page has to say it got a reply before the reply counts as not sent."""


@dataclass
class Bucket:
    """A token bucket: ``rate`` a second, ``burst`` at once."""

    rate: float
    burst: float
    tokens: float = -1.0
    at: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        """True when one more is allowed now."""
        now = time.monotonic()
        if self.tokens < 0:
            self.tokens = self.burst
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class Limits:
    """How much one page and one address may ask for."""

    messages_per_second: float = 3.0
    message_burst: float = 10.0
    sessions_per_hour: float = 60.0
    """New chats (and one-time codes tried) from one address."""
    session_burst: float = 20.0


class AddressLimits:
    """One bucket per client address, the oldest forgotten."""

    def __init__(self, rate: float, burst: float, size: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.size = size
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, address: str) -> bool:
        bucket = self._buckets.pop(address, None) or Bucket(self.rate, self.burst)
        self._buckets[address] = bucket
        while len(self._buckets) > self.size:
            self._buckets.popitem(last=False)
        return bucket.take()


def direction(lang: str) -> str:
    """``rtl`` for a language written right to left (Arabic), else ``ltr``."""
    try:
        return "rtl" if Locale.parse(lang).text_direction == "rtl" else "ltr"
    except (ValueError, UnknownLocaleError):
        return "ltr"


def message_json(reply: Outgoing, lang: str, message_id: str) -> dict[str, Any]:
    """One reply as the page shows it. Texts stay texts: the page never reads them as HTML."""
    out: dict[str, Any] = {
        "t": "msg",
        "id": message_id,
        "text": reply.text,
        "lang": lang,
        "dir": direction(lang),
    }
    if reply.buttons:
        out["buttons"] = [
            [
                {
                    "label": b.label,
                    "payload": b.payload,
                    **({"selected": b.selected} if b.selected is not None else {}),
                }
                for b in row
            ]
            for row in reply.buttons
        ]
    if reply.expects_text:
        out["expects_text"] = True
        if reply.max_length:
            out["max_length"] = reply.max_length
    if reply.replaces_origin:
        out["replaces"] = True
    if reply.attachment is not None:
        out["file"] = {
            "name": reply.attachment.filename,
            "type": reply.attachment.mime_type,
            "data": base64.b64encode(reply.attachment.data).decode(),
        }
    return out


class WebChat:
    """The web chat's people and their open pages (a ``Platform``)."""

    name = PLATFORM

    def __init__(
        self,
        engine: Engine,
        sessions: WebSessions,
        *,
        allowed_origins: Sequence[str] = (),
        trusted_proxies: Sequence[str] = (),
        limits: Limits | None = None,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.allowed_origins = {o.rstrip("/") for o in allowed_origins if o}
        self.trusted_proxies = set(trusted_proxies)
        self.limits = limits or Limits()
        self.delivery = Deliveries(engine, self, retry_interval=0, resend_at_start=False)
        self._pages: dict[str, set[_Page]] = defaultdict(set)
        """web user id -> their open pages."""
        self._new_sessions = AddressLimits(
            self.limits.sessions_per_hour / 3600, self.limits.session_burst
        )
        self._codes_tried = AddressLimits(
            self.limits.sessions_per_hour / 3600, self.limits.session_burst
        )
        self.connect_listeners: list[Callable[[ParticipantRef], None]] = []
        """Called when a person's page connects (the outbox dispatcher's ``nudge``)."""
        engine.erased_listeners.append(self._erased)
        engine.forget_listeners.append(self._forget_everyone)
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Before the first page."""
        await self.delivery.start()

    async def stop(self) -> None:
        """Close every page (they reconnect to another worker or after the restart)."""
        for pages in list(self._pages.values()):
            for page in list(pages):
                await page.ws.close(code=1001, message=b"server stopping")
        await self.delivery.stop()

    def connected(self) -> list[str]:
        """The web user ids with a page connected here (whose outbox rows this worker's
        dispatcher sends: ``OutboxDispatcher(recipients=...)``)."""
        return list(self._pages)

    @property
    def open_pages(self) -> int:
        """How many pages are connected now."""
        return sum(len(p) for p in self._pages.values())

    # -- bot.delivery.Platform ----------------------------------------------------------

    async def send(
        self,
        ref: ParticipantRef,
        replies: Sequence[Outgoing],
        origin: Any | None,
        event_id: str = "",
    ) -> DeliveryResult:
        """Push the replies to the person's open pages; ``RETRY`` when none is open or none
        said it got them (they go out when a page connects again)."""
        pages = list(self._pages.get(ref.user_id, ()))
        if not pages or not replies:
            return DeliveryResult.SENT if not replies else DeliveryResult.RETRY
        lang = await self._language(ref)
        base = event_id or f"r{time.time_ns()}"
        frames = [message_json(r, lang, f"{base}:{i}") for i, r in enumerate(replies)]
        frames[-1]["last"] = True  # the page knows the answer is complete
        return await self._push(pages, frames)

    async def deliver(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """An outbox message: to the person's open pages; ``ABSENT`` when none is open here
        (it waits, no attempt counted, until a page of theirs connects to some worker)."""
        pages = list(self._pages.get(ref.user_id, ()))
        if not pages:
            return DeliveryResult.ABSENT
        lang = await self._language(ref)
        frame = message_json(reply, lang, f"o{time.time_ns()}")
        frame["last"] = True
        return await self._push(pages, [frame])

    async def _push(self, pages: list[_Page], frames: list[dict[str, Any]]) -> DeliveryResult:
        """Send the frames to each page; ``SENT`` once one of them said it got the last."""
        last = frames[-1]["id"]
        waiting = []
        for page in pages:
            got = asyncio.get_running_loop().create_future()
            page.acks[last] = got
            try:
                for frame in frames:
                    await page.ws.send_json(frame)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("a page went away while sending: %s", type(exc).__name__)
                page.acks.pop(last, None)
                continue
            waiting.append((page, got))
        if not waiting:
            return DeliveryResult.RETRY
        try:
            done, _pending = await asyncio.wait(
                [got for _page, got in waiting], timeout=ACK_TIMEOUT
            )
        finally:
            for page, _got in waiting:
                page.acks.pop(last, None)
        reached = any(not f.cancelled() and f.exception() is None for f in done)
        return DeliveryResult.SENT if reached else DeliveryResult.RETRY

    async def _language(self, ref: ParticipantRef) -> str:
        return await self.engine.language_of(ref) or self.engine.campaign.default_language

    # -- one page -------------------------------------------------------------------------

    def client_address(self, request: web.Request) -> str:
        """The page's address: the peer, or behind a trusted proxy the address it names."""
        peer = request.remote or ""
        if peer in self.trusted_proxies:
            forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
            for address in reversed([a for a in forwarded if a]):
                if address not in self.trusted_proxies:
                    return address
        return peer

    def origin_allowed(self, request: web.Request) -> bool:
        """The page is ours (the same origin), or on a site allowed to embed the chat."""
        origin = request.headers.get("Origin", "").rstrip("/")
        if not origin:
            return False
        own = f"{request.scheme}://{request.host}"
        forwarded_proto = request.headers.get("X-Forwarded-Proto")
        if forwarded_proto and (request.remote or "") in self.trusted_proxies:
            own = f"{forwarded_proto}://{request.host}"
        return origin == own or origin in self.allowed_origins

    async def socket(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws``: one page's conversation."""
        if not self.origin_allowed(request):
            log.info("a WebSocket from an origin not allowed was refused")
            return web.Response(status=403, text="origin not allowed")
        ws = web.WebSocketResponse(max_msg_size=FRAME_MAX, heartbeat=30.0, compress=False)
        await ws.prepare(request)
        address = self.client_address(request)
        page = _Page(
            ws, address, Bucket(self.limits.messages_per_second, self.limits.message_burst)
        )
        try:
            await self._converse(page)
        finally:
            for got in page.acks.values():
                got.cancel()  # what it was sent and did not confirm: not sent
            if page.ref is not None:
                pages = self._pages.get(page.ref.user_id)
                if pages is not None:
                    pages.discard(page)
                    if not pages:
                        del self._pages[page.ref.user_id]
        return ws

    async def _converse(self, page: _Page) -> None:
        ws = page.ws
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                if frame.type is WSMsgType.ERROR:
                    log.info("a page's connection failed: %s", type(ws.exception()).__name__)
                break
            try:
                data = frame.json()
            except ValueError:
                await self._error(page, "bad", None)
                continue
            if not isinstance(data, dict):
                await self._error(page, "bad", None)
                continue
            kind = data.get("t")
            if page.ref is None:
                if kind == "hello":
                    await self._hello(page, data)
                elif kind == "redeem":
                    await self._redeem(page, data)
                else:
                    await self._error(page, "bad", None)
                continue
            if kind == "got":
                got = page.acks.get(str(data.get("id")))
                if got is not None and not got.done():
                    got.set_result(None)
            elif kind in ("say", "press"):
                await self._event(page, data)
            elif kind == "code":
                code = await self.sessions.issue_code(page.ref.user_id)
                await ws.send_json({"t": "code", "code": code, "minutes": 10})
            else:
                await self._error(page, "bad", None)

    async def _hello(self, page: _Page, data: dict[str, Any], joined: str | None = None) -> None:
        token = joined or data.get("token")
        hint = str(data.get("lang") or "")[:35] or None
        page.hint = hint
        fresh_token = joined  # a page that joined another device's person keeps its token
        known = isinstance(token, str) and valid_token(token)
        user_id = await self.sessions.find(token) if known and isinstance(token, str) else None
        if user_id is None:
            # A new browser (or a token this server never gave): a new person, within the
            # address's limit of new chats.
            if not self._new_sessions.take(page.address):
                await self._error(page, "sessions", None)
                await page.ws.close()
                return
            fresh_token, user_id = await self.sessions.create()
        page.ref = ParticipantRef(platform=PLATFORM, user_id=user_id)
        self._pages[user_id].add(page)
        await page.ws.send_json({"t": "ready", **({"token": fresh_token} if fresh_token else {})})
        for listener in self.connect_listeners:
            listener(page.ref)  # their outbox rows: sent from here now
        sent = await self.delivery.resend_to(page.ref)
        start = data.get("start")
        if not data.get("shown") and not sent:
            args = str(start)[:PAYLOAD_MAX] if isinstance(start, str) else ""
            incoming = Incoming(
                ref=page.ref,
                event_id=f"{user_id}:open:{time.time_ns()}",
                kind=Kind.COMMAND,
                command="start",
                args=args,
                language_hint=hint,
            )
            await self.delivery.handle(incoming)

    async def _redeem(self, page: _Page, data: dict[str, Any]) -> None:
        code = str(data.get("code") or "")[:32]
        page.hint = str(data.get("lang") or "")[:35] or None  # a refusal in their language
        if not self._codes_tried.take(page.address):
            await self._error(page, "sessions", None)
            return
        token = await self.sessions.redeem(code)
        if token is None:
            await self._error(page, "code", None)
            return
        await self._hello(page, {"lang": data.get("lang")}, joined=token)

    async def _event(self, page: _Page, data: dict[str, Any]) -> None:
        assert page.ref is not None
        event = data.get("id")
        if not isinstance(event, str) or not 0 < len(event) <= ID_MAX:
            await self._error(page, "bad", None)
            return
        if not page.bucket.take():
            await self._error(page, "rate", event)
            return
        common: dict[str, Any] = {
            "ref": page.ref,
            "event_id": f"{page.ref.user_id}:{event}",
            "language_hint": page.hint,
        }
        if data["t"] == "press":
            payload = data.get("payload")
            if not isinstance(payload, str) or not 0 < len(payload.encode()) <= PAYLOAD_MAX:
                await self._error(page, "bad", event)
                return
            incoming = Incoming(kind=Kind.BUTTON, payload=payload, **common)
        else:
            text = data.get("text")
            if not isinstance(text, str) or not text.strip():
                await self._error(page, "bad", event)
                return
            if len(text) > TEXT_MAX:
                await self._error(page, "long", event)
                return
            if text.startswith("/") and len(text) > 1:
                word, _sep, args = text[1:].partition(" ")
                incoming = Incoming(kind=Kind.COMMAND, command=word, args=args, **common)
            else:
                incoming = Incoming(kind=Kind.TEXT, text=text, **common)
        await self.delivery.handle(incoming)
        await page.ws.send_json({"t": "stored", "id": event})

    async def _error(self, page: _Page, code: str, event: str | None) -> None:
        """A clear sentence in the person's language; nothing was stored."""
        lang = await self._language(page.ref) if page.ref is not None else None
        lang = lang or pick_language(
            page.hint, self.engine.offered_languages, self.engine.campaign.default_language
        )
        with use_language(lang):
            text = {
                "long": _(
                    "That message is too long for the chat: at most {limit} characters. "
                    "Nothing was saved."
                ).format(limit=TEXT_MAX),
                "rate": _("You are sending messages very fast. Wait a moment, then try again."),
                "sessions": _("Too many new chats from your network. Please try again later."),
                "code": _("That code is wrong, used or expired. Ask for a new one."),
            }.get(code, _("That message could not be read. Please try again."))
        frame: dict[str, Any] = {"t": "error", "code": code, "text": text, "lang": lang}
        frame["dir"] = direction(lang)
        if event is not None:
            frame["id"] = event
        await page.ws.send_json(frame)

    # -- erasure --------------------------------------------------------------------------

    def _erased(self, ref: ParticipantRef) -> None:
        if ref.platform == PLATFORM:
            self._spawn(self.sessions.forget(ref.user_id))

    def _forget_everyone(self) -> None:
        self._spawn(self.sessions.forget_everyone())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@dataclass(eq=False)
class _Page:
    """One open page."""

    ws: web.WebSocketResponse
    address: str
    bucket: Bucket
    ref: ParticipantRef | None = None
    hint: str | None = None
    acks: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    """Message id -> resolved when the page says it got it."""
