"""The console chat: the engine in a terminal, numbered choices for buttons.

Translates, nothing more: a typed line becomes an ``Incoming`` (a number picks a button of
the last reply, ``/word`` is a command, anything else is text), and each ``Outgoing`` is
printed with its buttons numbered. Where the bot asks for text, a bare number is text (an
answer may well be "2"): the buttons are then picked with ``#2``. Where the text asked for is
never a number (a municipality's name), a bare number picks a button as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import sys
import textwrap
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot.delivery import Deliveries, DeliveryResult
from bot.engine import Engine
from bot.i18n import _, use_language
from bot.messages import Attachment, Button, Incoming, Kind, Outgoing, ParticipantRef
from bot.payloads import GlobalAction, encode_global

PLATFORM = "console"
QUIT_WORDS = {"/quit", "/exit", "quit", "exit"}


FILES_DIR = Path("participation-bot-files")


def save_attachment(attachment: Attachment) -> Path:
    """A file the bot sent, saved where the person can open it. A file already there is
    never overwritten (it may be the person's copy of their data): the new one is saved
    with a number ("my-data-2.json", "my-data-3.json", ...)."""
    FILES_DIR.mkdir(exist_ok=True)
    name = Path(Path(attachment.filename).name)
    path = FILES_DIR / name
    number = 1
    while True:
        try:
            with path.open("xb") as file:
                file.write(attachment.data)
            return path
        except FileExistsError:
            number += 1
            path = FILES_DIR / f"{name.stem}-{number}{name.suffix}"


MAX_WIDTH = 100
"""Lines are wrapped at the terminal's width, but no wider than this: long lines are hard
to read."""
_ITEM = re.compile(r"^(\s*(?:[-•*]|\d+[.)]|\u2713)\s+)")
"""The start of a list item: its wrapped lines are indented under its text."""


def wrap(text: str, width: int | None) -> str:
    """``text`` with each long line wrapped at ``width`` (None: as it is)."""
    if not width:
        return text
    lines = []
    for line in text.split("\n"):
        item = _ITEM.match(line)
        indent = " " * len(item.group(1)) if item else ""
        lines.append(
            textwrap.fill(
                line,
                width,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            if len(line) > width
            else line
        )
    return "\n".join(lines)


def terminal_width(stream: TextIO) -> int | None:
    """The width to wrap at on this stream: its terminal's (at most ``MAX_WIDTH``), or
    None when it is not a terminal (piped output stays as the bot wrote it)."""
    if not stream.isatty():
        return None
    return min(shutil.get_terminal_size(fallback=(80, 24)).columns, MAX_WIDTH)


def _pack(cells: list[str], width: int | None) -> list[str]:
    """Buttons side by side, on as many lines as ``width`` needs."""
    lines: list[str] = []
    for cell in cells:
        if lines and (not width or len(lines[-1]) + 3 + len(cell) <= width):
            lines[-1] += "   " + cell
        else:
            lines.append(cell)
    return lines


def number_is_text(replies: list[Outgoing]) -> bool:
    """Whether a bare number typed after these replies is text (they ask for text that may
    be a number): their buttons are then picked with ``#``."""
    return any(r.expects_text and r.number_is_text for r in replies)


LETTERS = "abcdefghijklmnopqrstuvwxyz"


def button_keys(replies: list[Outgoing]) -> dict[str, Button]:
    """What to type for each of the replies' buttons: numbers, and letters for tick boxes
    (options such as "3 Good health" would otherwise sit beside a different number)."""
    buttons = [button for reply in replies for row in reply.buttons for button in row]
    toggles = sum(button.selected is not None for button in buttons)
    keys: dict[str, Button] = {}
    numbers, letters = iter(range(1, len(buttons) + 1)), iter(LETTERS)
    for button in buttons:
        if button.selected is not None and toggles <= len(LETTERS):
            keys[next(letters)] = button
        else:
            keys[str(next(numbers))] = button
    return keys


def render(replies: list[Outgoing], width: int | None = None) -> tuple[str, dict[str, Button]]:
    """The replies as terminal text (lines wrapped at ``width``), and what to type for
    each button."""
    keys = button_keys(replies)
    key_of = {id(button): key for key, button in keys.items()}
    blocks = []
    mark = "#" if number_is_text(replies) else ""
    for reply in replies:
        lines = [wrap(reply.text, width)]
        for row in reply.buttons:
            cells = []
            for button in row:
                tick = "" if button.selected is None else ("[x] " if button.selected else "[ ] ")
                cells.append(f"[{mark}{key_of[id(button)]}] {tick}{button.label}")
            lines.extend(_pack(cells, width))
        if reply.attachment is not None:
            lines.append(f"(file: {save_attachment(reply.attachment)})")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks), keys


def to_incoming(
    line: str,
    buttons: dict[str, Button],
    ref: ParticipantRef,
    language: str | None,
    *,
    number_is_text: bool = False,
) -> Incoming:
    """One typed line as an event (``number_is_text``: a bare number is text, ``#2`` picks
    a button)."""
    event_id = uuid.uuid4().hex
    text = line.strip()
    key = text[1:] if text.startswith("#") else "" if number_is_text else text
    if key.lower() in buttons:
        return Incoming(
            ref=ref,
            event_id=event_id,
            kind=Kind.BUTTON,
            payload=buttons[key.lower()].payload,
            language_hint=language,
        )
    if text.startswith("/") and len(text) > 1:
        command, _sep, args = text[1:].partition(" ")
        return Incoming(
            ref=ref,
            event_id=event_id,
            kind=Kind.COMMAND,
            command=command,
            args=args,
            language_hint=language,
        )
    return Incoming(ref=ref, event_id=event_id, kind=Kind.TEXT, text=text, language_hint=language)


class Console:
    """A chat on standard input and output for one local user (a ``Platform``)."""

    name = PLATFORM

    def __init__(
        self,
        engine: Engine,
        *,
        user: str = "local",
        language: str | None = None,
        profile_name: str | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        width: int | None = None,
    ) -> None:
        self.engine = engine
        self.ref = ParticipantRef(platform=PLATFORM, user_id=user)
        self.language = language
        self.profile_name = profile_name
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.interactive = self.stdin.isatty()
        self.width = width if width is not None else terminal_width(self.stdout)
        self._last: list[Outgoing] = []
        """The replies whose buttons are numbered now."""
        self.delivery = Deliveries(engine, self, retry_interval=0)

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    async def _send(self, incoming: Incoming) -> list[Outgoing]:
        replies = await self.delivery.handle(incoming)
        await self.delivery.settled(self.ref)  # shown before the next prompt
        return replies

    async def send(
        self,
        ref: ParticipantRef,
        replies: Sequence[Outgoing],
        origin: object | None,
        event_id: str = "",
    ) -> DeliveryResult:
        """Show replies to the user at this terminal (``bot.delivery.Platform``); anyone
        else's stay unsent (they are not here)."""
        if ref != self.ref:
            return DeliveryResult.RETRY
        text, _buttons = render(list(replies), self.width)
        if text:
            self._print(text)
        return DeliveryResult.SENT

    async def deliver(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """Show a message from the outbox (a reminder, a broadcast) if it is for this user.
        Anyone else is not at this terminal: not reachable now (their row is final, so a
        broadcast gets its summary instead of "left" for ever; they are reachable again
        once they start their own console chat)."""
        if ref != self.ref:
            return DeliveryResult.UNREACHABLE
        self._print("\n" + render([reply], self.width)[0])
        if reply.buttons:
            self._last = [reply]  # its buttons are the ones numbered now
        if self.interactive:
            self.stdout.write("\n> ")
            self.stdout.flush()
        return DeliveryResult.SENT

    async def deliver_outbox(self, ref: ParticipantRef, reply: Outgoing) -> DeliveryResult:
        """The outbox dispatcher's send function."""
        return await self.delivery.deliver(ref, reply)

    async def run(self) -> None:
        """Chat until end of input or /quit."""
        await self.delivery.start()
        try:
            await self._chat()
        finally:
            await self.delivery.stop()

    async def _chat(self) -> None:
        loop = asyncio.get_running_loop()
        self._last = await self._send(
            Incoming(
                ref=self.ref,
                event_id=uuid.uuid4().hex,
                kind=Kind.COMMAND,
                command="start",
                language_hint=self.language,
                profile_name=self.profile_name,
            )
        )
        while True:
            if self.interactive:
                self.stdout.write("\n> ")
                self.stdout.flush()
            line = await _read_line(loop, self.stdin)
            if not line or line.strip().lower() in QUIT_WORDS:
                lang = await self.engine.language_of(self.ref)
                with use_language(lang or self.language or self.engine.campaign.default_language):
                    self._print(_("Bye! Your answers are saved."))
                return
            if not line.strip():
                continue
            if not self.interactive:
                self._print(f"> {line.rstrip()}")
            last = self._last
            incoming = to_incoming(
                line,
                button_keys(last),
                self.ref,
                self.language,
                number_is_text=number_is_text(last),
            )
            if self.profile_name:
                incoming = incoming.model_copy(update={"profile_name": self.profile_name})
            replies = await self._send(incoming)
            self._last = replies or self._last
            if _asks_for_help(incoming):
                await self._print_console_help()

    async def _print_console_help(self) -> None:
        """What only this terminal has, below the bot's help."""
        lang = await self.engine.language_of(self.ref)
        with use_language(lang or self.language or self.engine.campaign.default_language):
            self._print(
                "\n"
                + _(
                    "In this terminal: type a button's number, or its label or the start of it. "
                    "Where you are asked to write, what you type is your answer: press a button "
                    "with #2. /menu opens the main menu, /quit leaves (your answers are kept)."
                )
            )


def _asks_for_help(incoming: Incoming) -> bool:
    """The person asked for the help (``/help``, or its button)."""
    if incoming.kind is Kind.COMMAND:
        return incoming.command.lower() == "help"
    return incoming.kind is Kind.BUTTON and incoming.payload == encode_global(GlobalAction.HELP)


async def _read_line(loop: asyncio.AbstractEventLoop, stream: TextIO) -> str:
    """The next line of ``stream``, read in a daemon thread: a ``run`` stopped by SIGTERM or
    Ctrl-C while its console waits for input ends at once (the default executor's thread
    would hold the process until the input ended)."""
    answer: asyncio.Future[str] = loop.create_future()

    def settle(line: str | None, error: BaseException | None) -> None:
        if not answer.done():
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(line or "")

    def read() -> None:
        try:
            line, error = stream.readline(), None
        except Exception as exc:  # noqa: BLE001 - handed to the waiting coroutine
            line, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits now
            loop.call_soon_threadsafe(settle, line, error)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return await answer
