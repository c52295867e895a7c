"""The real `participation-bot run` serving Slack, killed (SIGKILL) mid-survey and started
again: nothing acknowledged is lost, nothing is sent twice, and the person continues."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import aiohttp

from tests.fakes.slack import AppResponse, FakeSlack, SlackDriver
from tests.handlers.test_telegram_crash import stored_answers

SECRET = "crash-test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_app(
    fake: FakeSlack, token: str, database: Path, port: int
) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(
        SLACK_BOT_TOKEN=token,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_BASE_URL=fake.api_url,
        PORT=str(port),
        DATABASE_PATH=str(database),
        LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "handlers",
        "run",
        "--now",
        "2021-05-25T10:00",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as session:
        for _attempt in range(200):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return process
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("the app did not start")


async def test_killed_mid_survey_nothing_acknowledged_is_lost_and_nothing_doubles(
    tmp_path: Path,
) -> None:
    database = tmp_path / "slack.sqlite3"
    port = free_port()
    async with FakeSlack() as fake:
        token = fake.add_team("T1", "Asker bibliotek")
        fake.add_user("T1", "U7", "Ola Nordmann", "en-US")
        driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", SECRET, fake)
        app = await start_app(fake, token, database, port)
        try:
            await driver.message("T1", "U7", "hello")
            await fake.wait_for(lambda: len(fake.dm("T1", "U7")) == 1)
            await driver.press("T1", "U7", "Take the survey")
            await fake.wait_for(lambda: "OK, go on" in fake.last_dm("T1", "U7").labels)
            await driver.press("T1", "U7", "OK, go on")
            await fake.wait_for(lambda: "Question 1 of" in fake.last_dm("T1", "U7").all_text)
            await driver.press("T1", "U7", "Resident")
            await fake.wait_for(lambda: "municipality" in fake.last_dm("T1", "U7").all_text)

            # Type the answer, and kill the process a moment later: perhaps before the event
            # was stored, perhaps between the commit (and the 200) and the reply.
            sent = asyncio.ensure_future(driver.message("T1", "U7", "Moss", event_id="EvMOSS"))
            await asyncio.sleep(0.01)
            app.kill()
            await app.wait()
            first: AppResponse | BaseException
            try:
                first = await sent
            except aiohttp.ClientError as exc:
                first = exc
            acknowledged = isinstance(first, AppResponse) and first.status == 200
            answers = stored_answers(database)
            assert answers["category"] == "resident"
            if acknowledged:
                assert answers["municipality"] == "Moss", "acknowledged, so it is stored"

            app = await start_app(fake, token, database, port)
            if not acknowledged:  # Slack retries an event it got no 200 for
                await driver.message("T1", "U7", "Moss", event_id="EvMOSS", retry_num=1)
            await fake.wait_for(
                lambda: (
                    "How old are you" in fake.last_dm("T1", "U7").all_text
                    or "How often do you use" in fake.last_dm("T1", "U7").all_text
                ),
                timeout=20,
            )
            await asyncio.sleep(0.3)
            questions = [t for t in fake.dm_texts("T1", "U7") if "How often do you use" in t]
            # Once, also where it was posted in the process's last moment, before it could
            # record that it was: the restarted process reads the DM before posting again.
            assert len(questions) == 1, "the next question once, not twice"
            await driver.press("T1", "U7", "Every week")
            await fake.wait_for(lambda: "What do you use" in fake.last_dm("T1", "U7").all_text)
            answers = stored_answers(database)
            assert answers["municipality"] == "Moss" and answers["use"] == "weekly"
        finally:
            await driver.close()
            if app.returncode is None:
                app.kill()
                await app.wait()
