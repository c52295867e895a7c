"""Headless Chromium driven over the DevTools protocol (loopback only), for the report's and
the web chat's tests.

A page can be opened at a window width, or laid out as print at the width A4 leaves between
its margins, asked questions in JavaScript, photographed, and printed to PDF. A person's
clicks and keys are real input events (``Input.dispatch*``), so focus, ``:focus-visible``
and the page's own handlers behave as they do for a person. Pages can live in browser
contexts of their own (another device: nothing shared), frames of another site are attached
as tabs of their own, and what happened in a tab (a dialog opened, a WebSocket frame) is kept.
The browser runs offline with a profile of its own under the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable
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


KEYS = {
    "Tab": ("Tab", 9, ""),
    "Enter": ("Enter", 13, "\r"),
    " ": ("Space", 32, " "),
    "Escape": ("Escape", 27, ""),
    "ArrowDown": ("ArrowDown", 40, ""),
    "ArrowUp": ("ArrowUp", 38, ""),
}
"""A key's name -> its code, Windows key code and the text it types."""
SHIFT = 8
"""The Shift modifier in ``Input.dispatchKeyEvent``."""


class Tab:
    """One page (or a frame of another site) in the browser: a DevTools session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.events: list[dict[str, Any]] = []
        """Every event of this session, oldest first (``method`` and ``params``)."""
        self.frames: list[Tab] = []
        """Frames of other sites in this page (out of process), as they were attached."""
        self.changed = asyncio.Event()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, session=self.session, **params)

    def on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.changed.set()
        if event["method"] == "Page.javascriptDialogOpening":
            # A dialog would block the page: close it, and keep the event as the evidence.
            self.browser.spawn(self.send("Page.handleJavaScriptDialog", accept=False))
        elif event["method"] == "Target.attachedToTarget":
            frame = Tab(self.browser, event["params"]["sessionId"])
            self.browser.tabs[frame.session] = frame
            self.frames.append(frame)
            self.browser.spawn(frame.enable())

    async def enable(self) -> None:
        """Report the page's events: load, dialogs, network and WebSocket frames, frames of
        other sites (each held until its events are reported too)."""
        for domain in ("Page", "Runtime", "Network"):
            await self.send(f"{domain}.enable")
        await self.send(
            "Target.setAutoAttach", autoAttach=True, waitForDebuggerOnStart=True, flatten=True
        )
        await self.send("Runtime.runIfWaitingForDebugger")

    def seen(self, method: str) -> list[dict[str, Any]]:
        """The parameters of each event ``method`` seen so far."""
        return [e["params"] for e in self.events if e["method"] == method]

    async def viewport(
        self, width: int, height: int = 900, *, scale: float = 1, mobile: bool = False
    ) -> None:
        """A window ``width`` x ``height`` CSS pixels; ``scale`` 2 is a browser zoom of 200 %
        on a window twice as wide."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=scale,
            mobile=mobile,
        )

    async def open(self, url: str, width: int | None = None, *, print_media: bool = False) -> None:
        """Lay the page out ``width`` CSS pixels wide (as print or as a screen), loaded."""
        if width is not None:
            await self.viewport(width)
        await self.send("Emulation.setEmulatedMedia", media="print" if print_media else "")
        await self.send("Page.navigate", url=url)
        await self.loaded(url)

    async def reload(self) -> None:
        """Load the page again, as a person pressing F5."""
        await self.send("Page.reload")
        await self.loaded("the reloaded page")

    async def loaded(self, what: str) -> None:
        """Wait until the page and its images are loaded."""
        await asyncio.sleep(0.05)
        for _ in range(600):
            state = await self.evaluate(
                "document.readyState === 'complete' && "
                "[...document.images].every(img => img.complete)"
            )
            if state:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(what)

    async def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """The value of ``expression`` once it is truthy (raises after ``timeout`` seconds)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            await asyncio.sleep(0.05)

    async def key(self, name: str, *, shift: bool = False) -> None:
        """Press and release a key (``Tab``, ``Enter``, ``" "``...) as a keyboard does."""
        code, number, text = KEYS[name]
        common: dict[str, Any] = {
            "key": name,
            "code": code,
            "windowsVirtualKeyCode": number,
            "modifiers": SHIFT if shift else 0,
        }
        down = {"type": "keyDown", **common, **({"text": text} if text else {})}
        await self.send("Input.dispatchKeyEvent", **down)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    async def type(self, text: str) -> None:
        """Type ``text`` into what has focus (as an input method commits it)."""
        await self.send("Input.insertText", text=text)

    async def click(self, selector: str, index: int = 0) -> None:
        """Click the middle of the ``index``-th element matching ``selector`` with the mouse."""
        box = await self.evaluate(
            f"(() => {{ const el = document.querySelectorAll({json.dumps(selector)})[{index}];"
            "  if (!el) return null; el.scrollIntoView({block: 'center'});"
            "  const r = el.getBoundingClientRect();"
            "  return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        if box is None:
            raise AssertionError(f"nothing to click: {selector} [{index}]")
        await self.click_at(*box)

    async def click_at(self, x: float, y: float) -> None:
        """A mouse click at ``x``, ``y`` CSS pixels in the window."""
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        answer = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(answer["exceptionDetails"])
        return answer["result"].get("value")

    async def screenshot(self, path: Path, *, whole: bool = True) -> Path:
        """The whole page (or, not ``whole``, the window as a person sees it) as a PNG."""
        if whole:
            width, height = await self.evaluate(
                "[document.documentElement.clientWidth, document.documentElement.scrollHeight]"
            )
            shot = await self.send(
                "Page.captureScreenshot",
                format="png",
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            )
        else:
            shot = await self.send("Page.captureScreenshot", format="png")
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
        self.tabs: dict[str, Tab] = {}
        """DevTools session -> its tab (or frame), for the events."""
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "method" in data:
                tab = self.tabs.get(data.get("sessionId", ""))
                if tab is not None:
                    tab.on_event(data)
                continue
            future = self._waiting.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)

    def spawn(self, call: Awaitable[Any]) -> None:
        """Run ``call`` beside the reader (an event's answer must not block the reader)."""
        task = asyncio.ensure_future(call)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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

    async def tab(self, context: str | None = None) -> Tab:
        """A new blank page (in the browser context ``context``: another device)."""
        extra = {"browserContextId": context} if context else {}
        target = await self.send("Target.createTarget", url="about:blank", **extra)
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        tab = Tab(self, attached["sessionId"])
        self.tabs[tab.session] = tab
        await tab.enable()
        return tab

    async def context(self) -> str:
        """A new browser context: storage, cookies and cache of its own, like another
        device."""
        created = await self.send("Target.createBrowserContext", disposeOnDetach=True)
        return str(created["browserContextId"])


@asynccontextmanager
async def chromium(
    folder: Path, *, block_third_party_cookies: bool = False, flags: tuple[str, ...] = ()
) -> AsyncIterator[Browser]:
    """A headless Chromium with a profile in ``folder``, DevTools on a loopback port;
    with ``block_third_party_cookies``, set as a person sets it in the browser's settings."""
    assert CHROMIUM is not None
    profile = folder / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    if block_third_party_cookies:
        (profile / "Default").mkdir(exist_ok=True)
        # The setting of "Block third-party cookies" (the cookie controls' "block" mode).
        preferences = {"profile": {"block_third_party_cookies": True, "cookie_controls_mode": 1}}
        (profile / "Default" / "Preferences").write_text(json.dumps(preferences))
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        *flags,
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
                for task in [browser._reader, *browser._tasks]:
                    task.cancel()
                    with suppress(asyncio.CancelledError, RuntimeError):
                        await task
    finally:
        with suppress(ProcessLookupError):
            process.terminate()
        await process.wait()
