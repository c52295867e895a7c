"""The Slack app tried without a workspace: the real ``participation-bot run`` against the
fake Slack of the tests, and a person signing up for a meeting, step by step.

    .venv/bin/python -m tests.fakes.slack_demo

It prints what the person sees at each step: the App Home, the privacy notice and the
sign-up form in a modal, the municipality type-ahead, the confirmation in the DM with its
calendar file, the App Home again, and the answer to ``/consultation help``. The database
is a temporary file; nothing reaches the internet.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
from pathlib import Path

import aiohttp

from tests.fakes.slack import FakeSlack, SlackDriver, View

SECRET = "demo-signing-secret"
TEAM, USER = "T0DEMO", "U0DEMO"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _show(title: str, text: str, buttons: list[str] | None = None) -> None:
    print(f"\n=== {title}\n{text}")
    if buttons:
        print("buttons: " + " | ".join(buttons))


def _show_view(title: str, view: View | None) -> None:
    if view is None:
        _show(title, "(nothing)")
    else:
        _show(title, view.all_text, view.labels)


async def _until_up(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the app did not start")


async def main() -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeSlack() as fake:
            token = fake.add_team(TEAM, "Asker bibliotek")
            fake.add_user(TEAM, USER, "Ola Nordmann", "en-US")
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))
            }
            env.update(
                SLACK_BOT_TOKEN=token,
                SLACK_SIGNING_SECRET=SECRET,
                SLACK_API_BASE_URL=fake.api_url,
                PORT=str(port),
                DATABASE_PATH=str(Path(tmp) / "demo.sqlite3"),
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
            driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", SECRET, fake)
            try:
                await _until_up(port)
                await driver.home_opened(TEAM, USER)
                await fake.wait_for(lambda: fake.home(TEAM, USER) is not None)
                _show_view("The App Home", fake.home(TEAM, USER))

                print("\n>>> pressing 'Sign up: Information meeting'")
                await driver.press(TEAM, USER, "Sign up: Information meeting", where="home")
                await fake.wait_for(lambda: fake.modal(TEAM, USER) is not None)
                _show_view("A modal: the privacy notice", fake.modal(TEAM, USER))

                print("\n>>> pressing 'OK, go on'")
                await driver.press(TEAM, USER, "OK, go on", where="modal")
                await asyncio.sleep(0.5)
                form = fake.modal(TEAM, USER)
                _show_view("The same modal: the sign-up form", form)

                options = await driver.options(TEAM, USER, "municipality", "dram")
                _show(
                    "Typing 'dram' for the municipality",
                    "\n".join(o["text"]["text"] for o in options),
                )

                print("\n>>> choosing Library employee, Asker bibliotek, Drammen; submitting")
                await driver.submit(
                    TEAM,
                    USER,
                    {
                        "role": "library",
                        "organisation": "Asker bibliotek",
                        "municipality": options[0]["value"],
                    },
                )
                await fake.wait_for(lambda: bool(fake.files(TEAM, USER)))
                _show("The DM", "\n---\n".join(fake.dm_texts(TEAM, USER)))
                print("files: " + ", ".join(f.filename for f in fake.files(TEAM, USER)))
                await asyncio.sleep(0.5)
                _show_view("The App Home now", fake.home(TEAM, USER))

                print("\n>>> /consultation help")
                await driver.command(TEAM, USER, "/consultation", "help")
                await asyncio.sleep(0.5)
                _show("The DM's newest message", fake.last_dm(TEAM, USER).all_text)
            finally:
                await driver.close()
                app.terminate()
                await app.wait()


if __name__ == "__main__":
    asyncio.run(main())
