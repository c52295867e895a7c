"""A browser's page as the web chat sees it: a WebSocket speaking the page's protocol, and a
running web chat (the real aiohttp server on 127.0.0.1) for tests and the benchmark."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.engine import Engine
from bot.websessions import WebSessions
from handlers.http import HttpServer
from handlers.web import Limits, WebChat, WebServer


@dataclass
class RunningChat:
    """The web chat served on a free port."""

    chat: WebChat
    http: HttpServer
    url: str

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")


@asynccontextmanager
async def running_chat(
    engine: Engine,
    *,
    allowed_origins: tuple[str, ...] = (),
    limits: Limits | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[RunningChat]:
    """Serve the web chat of ``engine`` as ``run`` does, until the block ends."""
    chat = WebChat(
        engine,
        WebSessions(engine.db, engine.clock),
        allowed_origins=allowed_origins,
        limits=limits,
    )
    await chat.start()
    http = HttpServer(host=host, port=0, db=engine.db)
    http.add_routes(WebServer(chat).routes())
    port = await http.start()
    try:
        yield RunningChat(chat, http, f"http://{host}:{port}/")
    finally:
        await chat.stop()
        await http.stop()


@dataclass
class Page:
    """One open page of the chat: sends what a person does, keeps what the bot said."""

    session: aiohttp.ClientSession
    url: str
    origin: str
    token: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    acknowledge: bool = True
    ws: aiohttp.ClientWebSocketResponse | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(
        self, *, start: str | None = None, lang: str = "en", shown: bool = False
    ) -> None:
        """Connect and say hello (with this page's token, once it has one)."""
        await self.connect()
        hello: dict[str, Any] = {"t": "hello", "lang": lang, "shown": shown}
        if self.token:
            hello["token"] = self.token
        if start:
            hello["start"] = start
        await self.send(hello)
        await self.wait_for(lambda: self._ready)
        if not shown:  # a page showing nothing yet is greeted (or taken to the deep link)
            await self.wait_for(lambda: bool(self.messages))
            await asyncio.sleep(0.05)

    async def connect(self) -> None:
        self._ready = False
        ws_url = self.url.replace("http://", "ws://") + "ws"
        self.ws = await self.session.ws_connect(ws_url, headers={"Origin": self.origin})
        self._reader = asyncio.ensure_future(self._read())

    async def redeem(self, code: str) -> None:
        await self.connect()
        await self.send({"t": "redeem", "code": code, "lang": "en"})

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(frame.data)
            kind = data["t"]
            if kind == "ready":
                self._ready = True
                self.token = data.get("token") or self.token
            elif kind == "msg":
                if all(m["id"] != data["id"] for m in self.messages):
                    if data.get("replaces") and self.messages:
                        self.messages[-1] = data
                    else:
                        self.messages.append(data)
                if self.acknowledge:
                    await self.ws.send_json({"t": "got", "id": data["id"]})
            elif kind == "stored":
                self.stored.append(data["id"])
            elif kind == "error":
                self.errors.append(data)
            elif kind == "code":
                self.codes.append(data["code"])
            self._changed.set()
        self._changed.set()

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_json(frame)

    async def wait_for(self, condition: Any, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            self._changed.clear()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError("the page did not get what it waited for")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def act(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send an event and wait until it is stored and the bot answered; the newest message."""
        # Random, as the page's: two devices of one person never share an event id.
        event = frame.setdefault("id", f"e{next(self._ids)}-{uuid.uuid4().hex[:12]}")
        before = len(self.messages), self.messages[-1] if self.messages else None
        await self.send(frame)
        await self.wait_for(
            lambda: event in self.stored or any(e.get("id") == event for e in self.errors)
        )
        await self.wait_for(
            lambda: (
                (len(self.messages), self.messages[-1] if self.messages else None) != before
                or any(e.get("id") == event for e in self.errors)
            ),
        )
        await asyncio.sleep(0.02)  # the rest of the replies
        return self.last

    async def say(self, text: str) -> dict[str, Any]:
        return await self.act({"t": "say", "text": text})

    async def press(self, label: str) -> dict[str, Any]:
        """Press the newest button whose label starts with ``label``."""
        return await self.act({"t": "press", "payload": self.payload(label)})

    def payload(self, label: str) -> str:
        for message in reversed(self.messages):
            for row in message.get("buttons", []):
                for button in row:
                    if button["label"].startswith(label):
                        return str(button["payload"])
        raise AssertionError(f"no button {label!r} in {self.labels}")

    @property
    def last(self) -> dict[str, Any]:
        return self.messages[-1]

    @property
    def text(self) -> str:
        return str(self.last["text"])

    @property
    def labels(self) -> list[str]:
        for message in reversed(self.messages):
            if message.get("buttons"):
                return [b["label"] for row in message["buttons"] for b in row]
        return []

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
