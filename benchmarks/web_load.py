"""The web chat under load: simulated browsers over WebSockets against the real server.

The server runs in a process of its own, built as ``participation-bot run`` builds the web
chat (``handlers.runtime.web_chat``: the shipped limits, the collector settled), on a real
SQLite file with the shipped campaign at 25 May 2021. The browsers run in this process:
each opens a WebSocket, says hello, and goes through the same sign-up and whole survey as
``benchmarks/engine.py`` (the same script of presses and typed answers), waiting for the
bot's complete answer before its next step and telling the server it got each message, as
the page does. In the same run, ``Engine.handle`` alone does the same work (as
``benchmarks/engine.py`` measures it): the ratio is what the transport costs.

Then N idle pages (default 10,000) connect and say hello, and the server's memory grows by
what each open connection holds (resident set, measured in the server process).

One note on configuration: every browser here comes from 127.0.0.1, so the server is told
that 127.0.0.1 is a trusted proxy (``WEB_TRUSTED_PROXIES``) and each browser sends an
``X-Forwarded-For`` address of its own, as browsers behind a county's proxy would; the
per-address limit of new chats would otherwise refuse the 21st browser, as it should.
Each browser keeps to the shipped per-page limit of messages (3 a second, 10 at once).

    python benchmarks/web_load.py [--browsers 1000] [--idle 10000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import SCRIPT, measure_engine  # noqa: E402

PAGE_INTERVAL = 1 / 3
"""Seconds between a browser's messages at least (the shipped per-page limit: 3 a second)."""


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_kb() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


# -- the server, in a process of its own ------------------------------------------------


def serve(database: str, conn: Any) -> None:
    """Run the web chat as ``run`` builds it until told to stop."""
    _raise_file_limit()
    asyncio.run(_serve(database, conn))


async def _serve(database: str, conn: Any) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot import heap
    from bot.campaign import load_campaign
    from bot.clock import OffsetClock
    from bot.engine import Engine
    from bot.settings import Settings
    from handlers.http import HttpServer
    from handlers.runtime import web_chat
    from storage.database import SqliteDatabase

    campaign = load_campaign(None)
    clock = OffsetClock(datetime(2021, 5, 25, 10, 0, tzinfo=ZoneInfo("Europe/Oslo")))
    settings = Settings(web_trusted_proxies="127.0.0.1", _env_file=None)  # type: ignore[call-arg]
    db = await SqliteDatabase.open(database)
    engine = Engine(campaign, db, clock)
    chat, server = web_chat(engine, settings, clock)
    await chat.start()
    http = HttpServer(host="127.0.0.1", port=0)
    http.add_routes(server.routes())
    port = await http.start()
    heap.settle()
    loop = asyncio.get_running_loop()
    conn.send(port)
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command == "stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            conn.send(
                {
                    "rss_kb": _rss_kb(),
                    "cpu_s": usage.ru_utime + usage.ru_stime,
                    "pages": chat.open_pages,
                }
            )
        else:
            break
    await chat.stop()
    await http.stop()
    await db.close()
    conn.send("bye")


# -- the browsers -----------------------------------------------------------------------


class Browser:
    """One page going through SCRIPT, as a person pressing and typing at the limit."""

    def __init__(self, session: aiohttp.ClientSession, url: str, index: int) -> None:
        self.session = session
        self.url = url
        self.index = index
        self.address = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.batch: list[dict[str, Any]] = []
        self.latencies: list[float] = []
        self.events = 0
        self._done: asyncio.Event = asyncio.Event()
        self._waiting_for: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self.last_sent = 0.0

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(
            self.url.replace("http://", "ws://"),
            headers={"Origin": self.url.split("/ws")[0], "X-Forwarded-For": self.address},
            autoping=True,
        )
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(frame.data)
            if data["t"] == "ready":
                self._done.set()
            elif data["t"] == "msg":
                await self.ws.send_str(json.dumps({"t": "got", "id": data["id"]}))
                if self._waiting_for is not None and f":{self._waiting_for}:" in data["id"]:
                    self.batch.append(data)
                    if data.get("last"):
                        self._done.set()
            elif data["t"] == "error":
                raise RuntimeError(f"browser {self.index}: {data.get('code')}")

    async def hello(self) -> None:
        assert self.ws is not None
        self._done.clear()
        await self.ws.send_str(json.dumps({"t": "hello", "lang": "en", "shown": True}))
        await self._done.wait()

    def _payload(self, label: str) -> str:
        for message in self.batch:
            for row in message.get("buttons", []):
                for button in row:
                    if button["label"] == label:
                        return str(button["payload"])
        raise RuntimeError(f"browser {self.index}: no button {label!r}")

    async def step(self, kind: str, value: str) -> None:
        assert self.ws is not None
        wait = self.last_sent + PAGE_INTERVAL - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        self.events += 1
        event = f"b{self.index}-{self.events}"
        if kind == "cmd":
            frame = {"t": "say", "id": event, "text": f"/{value}"}
        elif kind == "text":
            frame = {"t": "say", "id": event, "text": value}
        else:
            frame = {"t": "press", "id": event, "payload": self._payload(value)}
        self.batch = []
        self._waiting_for = event
        self._done.clear()
        started = self.last_sent = time.perf_counter()
        await self.ws.send_str(json.dumps(frame))
        await self._done.wait()
        self.latencies.append(time.perf_counter() - started)

    async def run(self) -> int:
        await self.connect()
        await self.hello()
        for kind, value in SCRIPT:
            await self.step(kind, value)
        if "Thank you" not in self.batch[0]["text"]:
            raise RuntimeError(f"browser {self.index} did not finish the survey")
        await self.close()
        return self.events

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


async def load(url: str, browsers: int) -> tuple[int, float, list[float]]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        people = [Browser(session, url, i) for i in range(browsers)]
        started = time.perf_counter()
        counts = await asyncio.gather(*(p.run() for p in people))
        elapsed = time.perf_counter() - started
    return sum(counts), elapsed, [lat for p in people for lat in p.latencies]


async def idle(url: str, pages: int, conn: Any) -> tuple[int, int]:
    """Open ``pages`` idle pages (hello'd); the server's resident memory before and after."""
    conn.send("stats")
    before = conn.recv()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        opened: list[Browser] = []
        for start in range(0, pages, 500):
            batch = [
                Browser(session, url, 100_000 + i) for i in range(start, min(start + 500, pages))
            ]
            for b in batch:
                await b.connect()
            await asyncio.gather(*(b.hello() for b in batch))
            opened.extend(batch)
        await asyncio.sleep(1.0)
        conn.send("stats")
        after = conn.recv()
        for b in opened:
            await b.close()
    if after["pages"] < pages:
        raise RuntimeError(f"only {after['pages']} of {pages} pages were open")
    return before["rss_kb"], after["rss_kb"]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browsers", type=int, default=None, help="default 1000 (200 --quick)")
    parser.add_argument("--idle", type=int, default=None, help="default 10000 (2000 --quick)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    browsers = args.browsers or (200 if args.quick else 1000)
    idle_pages = args.idle or (2000 if args.quick else 10_000)
    _raise_file_limit()

    with tempfile.TemporaryDirectory() as tmp:
        parent, child = multiprocessing.Pipe()
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(str(Path(tmp) / "web.sqlite3"), child)
        )
        server.start()
        port = parent.recv()
        url = f"http://127.0.0.1:{port}/ws"
        parent.send("stats")
        cpu_before = parent.recv()["cpu_s"]
        cpu_client_before = time.process_time()
        events, elapsed, latencies = await load(url, browsers)
        client_cpu_s = time.process_time() - cpu_client_before
        parent.send("stats")
        cpu_after = parent.recv()["cpu_s"]
        rss_before, rss_after = await idle(url, idle_pages, parent)
        parent.send("stop")
        parent.recv()
        server.join(timeout=30)

        cpu_engine_before = time.process_time()
        engine_events, engine_time = await measure_engine(Path(tmp) / "engine.sqlite3", browsers)
        engine_cpu_ms = (time.process_time() - cpu_engine_before) / engine_events * 1000

    web_rate = events / elapsed
    engine_rate = engine_events / engine_time
    ratio = web_rate / engine_rate
    p50 = statistics.median(latencies) * 1000
    p95 = _percentile(latencies, 0.95) * 1000
    kb_each = (rss_after - rss_before) / idle_pages
    cpu_ms = (cpu_after - cpu_before) / events * 1000
    print(
        f"web:    {events} messages from {browsers} browsers in {elapsed:.2f} s "
        f"= {web_rate:,.0f}/s"
    )
    print(
        f"        per step p50 {p50:.1f} ms, p95 {p95:.1f} ms; server CPU {cpu_ms:.2f} ms/message"
    )
    print(
        f"engine: {engine_events} events, Engine.handle alone, in {engine_time:.2f} s "
        f"= {engine_rate:,.0f}/s"
    )
    print(f"ratio web/engine: {ratio:.2f} (goal >= 0.8)")
    print(
        f"        secondary, by CPU: the server spent {cpu_ms:.2f} ms a message, Engine.handle "
        f"alone {engine_cpu_ms:.2f} ms an event ({engine_cpu_ms / cpu_ms:.2f}); the browsers "
        f"(this process) used {client_cpu_s:.1f} s of CPU of the {elapsed:.1f} s, on "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"idle:   {idle_pages} open pages: server memory {rss_before / 1024:.0f} -> "
        f"{rss_after / 1024:.0f} MB, {kb_each:.1f} KB each (goal <= 30)"
    )
    print(
        json.dumps(
            {
                "web_per_s": round(web_rate, 1),
                "engine_per_s": round(engine_rate, 1),
                "ratio": round(ratio, 3),
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "kb_per_connection": round(kb_each, 1),
                "server_cpu_ms_per_message": round(cpu_ms, 3),
                "engine_cpu_ms_per_event": round(engine_cpu_ms, 3),
                "browsers": browsers,
                "idle_connections": idle_pages,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
