"""Headless Chromium driven over the DevTools protocol (loopback only), for the report's tests.

A page can be opened at a window width, or laid out as print at the width A4 leaves between
its margins, asked questions in JavaScript, photographed, and printed to PDF. The browser
runs offline with a profile of its own under the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]
if hasattr(os, "geteuid") and os.geteuid() == 0:
    FLAGS.append("--no-sandbox")

A4_PRINTABLE_PX = round((210 - 2 * 15) / 25.4 * 96)
"""CSS pixels between the report's A4 margins (15 mm each side)."""


class Tab:
    """One page in the browser (a DevTools session)."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, session=self.session, **params)

    async def open(self, url: str, width: int, *, print_media: bool = False) -> None:
        """Lay the page out ``width`` CSS pixels wide (as print or as a screen), loaded."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        await self.send("Emulation.setEmulatedMedia", media="print" if print_media else "")
        await self.send("Page.navigate", url=url)
        for _ in range(600):
            state = await self.evaluate(
                "document.readyState === 'complete' && "
                "[...document.images].every(img => img.complete)"
            )
            if state:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(url)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(answer["exceptionDetails"])
        return answer["result"].get("value")

    async def screenshot(self, path: Path) -> Path:
        """The whole page (not just the window) as a PNG."""
        width, height = await self.evaluate(
            "[document.documentElement.clientWidth, document.documentElement.scrollHeight]"
        )
        shot = await self.send(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        )
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return path

    async def print_pdf(self, path: Path) -> Path:
        """The page printed as the browser prints it (the page's own @page size)."""
        await self.send("Emulation.setEmulatedMedia", media="")
        printed = await self.send("Page.printToPDF", preferCSSPageSize=True, printBackground=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(printed["data"]))
        return path


class Browser:
    """A headless Chromium and its DevTools connection."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Call a DevTools method; its result (raises on a protocol error)."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        future = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self.ws.send_str(json.dumps(message))
        answer = await asyncio.wait_for(future, timeout=120)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def tab(self) -> Tab:
        """A new blank page."""
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        tab = Tab(self, attached["sessionId"])
        await tab.send("Page.enable")
        await tab.send("Runtime.enable")
        return tab


@asynccontextmanager
async def chromium(folder: Path) -> AsyncIterator[Browser]:
    """A headless Chromium with a profile in ``folder``, DevTools on a loopback port."""
    assert CHROMIUM is not None
    profile = folder / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(600):
            if port_file.is_file() and len(port_file.read_text().split("\n")) >= 2:
                break
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().split("\n")[:2]
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as ws,
        ):
            browser = Browser(ws)
            try:
                yield browser
            finally:
                browser._reader.cancel()
                with suppress(asyncio.CancelledError):
                    await browser._reader
    finally:
        with suppress(ProcessLookupError):
            process.terminate()
        await process.wait()
