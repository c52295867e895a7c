"""The Telegram bot tried without a token: the real ``participation-bot run`` against the
fake Bot API of the tests, and a person signing up for a meeting and starting the survey.

    .venv/bin/python -m tests.fakes.telegram_demo

It prints what the person sees at each step: the welcome and its buttons, the meetings, the
privacy notice, the sign-up's questions and its confirmation with the calendar file, then
the survey's first questions. The bot long-polls ``FakeTelegram`` (``TELEGRAM_API_BASE_URL``
points at it); the database is a temporary file; nothing reaches the internet.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from pathlib import Path

import aiohttp

from tests.fakes.telegram import FakeTelegram, Sent

PERSON = 5001


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until_up(port: int, app: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if app.returncode is not None:
                raise SystemExit("the bot stopped while starting")
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the bot did not start")


class Person:
    """Kari in Telegram: writes and presses, and prints what the bot answered each time."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        fake.person(PERSON, first_name="Kari", last_name="Nordmann", language_code="en")
        # The bot keeps to Telegram's one message a second per chat: an answer is complete
        # once the chat has been quiet a little longer than that.
        fake.settle_quiet = 1.2
        self._seen: dict[int, int] = {}
        """message id -> its edits shown (a press turns the question into the next one)."""

    async def write(self, text: str) -> None:
        print(f"\n>>> writing {text!r}")
        await self._answered(self.fake.send_text(PERSON, text))

    async def press(self, label: str) -> None:
        print(f"\n>>> pressing {label!r}")
        message = self.fake.last_with_buttons(PERSON)
        await self._answered(self.fake.press(PERSON, message, label))

    async def _answered(self, update_id: int) -> None:
        await self.fake.settle(update_id, PERSON, timeout=30)
        for message in self.fake.sent[PERSON]:
            if self._seen.get(message.message_id) != message.edits:
                self._seen[message.message_id] = message.edits
                _show(message)


def _show(message: Sent) -> None:
    print(f"--- the bot: {message.text}")
    if message.document:
        print(f"    file: {message.document}")
    if message.labels:
        print("    buttons: " + " | ".join(message.labels))


async def main() -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeTelegram()
        await fake.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_BASE_URL=fake.base_url,
            PORT=str(port),
            DATABASE_PATH=str(Path(tmp) / "demo.sqlite3"),
            LOG_LEVEL="ERROR",
            WEB_CHAT="false",
        )
        app = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "handlers",
            "run",
            "--now",
            "2021-05-25T10:00",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=tmp,
        )
        try:
            await _until_up(port, app)
            kari = Person(fake)
            await kari.write("/start")
            await kari.press("Meetings and sign-up")
            await kari.press("Sign up: Information meeting")
            await kari.press("OK, go on")
            await kari.press("Use “Kari Nordmann”")
            await kari.press("Library employee")
            await kari.write("Asker bibliotek")
            await kari.write("Asker")
            await kari.press("Confirm sign-up")
            await kari.write("/survey")
            await kari.press("Library employee")
            await kari.write("dram")
            await kari.press("Drammen")
            await kari.press("Every week")
            print("\n(the survey goes on like this; /mine lists the registration)")
        finally:
            app.terminate()
            await app.wait()
            await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
