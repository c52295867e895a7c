"""Staff in the chat: broadcasts written, previewed and confirmed there, progress and a
summary, and reloading the campaign file (then telling the registrants of a changed meeting).
Everyone else is refused at every step and nothing is written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.broadcast import Segment, members
from bot.campaign import Campaign, default_campaign_path, load_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.messages import Kind, Outgoing
from bot.outbox import OutboxDispatcher
from bot.staff_broadcast import BROADCAST_MAX
from storage.campaign import save_campaign_in_use
from storage.database import Database, Transaction
from storage.open import open_database
from storage.staff import grant_staff, revoke_staff
from tests.auxil.chat import Chat
from tests.bot.test_broadcast import Recipients, people
from tests.bot.test_signup import sign_up


async def outbox(db: Database) -> list[tuple[str, str, str]]:
    """Every outbox row: (user id, batch, text), in order."""
    rows = await db.transact(
        lambda tx: tx.fetchall(
            "SELECT p.user_id, o.batch, o.message FROM outbox o "
            "JOIN participants p ON p.id = o.participant_id ORDER BY o.id"
        )
    )
    return [(r[0], r[1], Outgoing.model_validate_json(r[2]).text) for r in rows]


async def staff_chat(engine: Engine, clock: FixedClock, user: str = "boss") -> Chat:
    """A staff member (English) at the staff menu."""
    await engine.db.transact(lambda tx: grant_staff(tx, "test", "", user, "", clock.now()))
    chat = Chat(engine, user)
    await chat.command("staff")
    return chat


async def draft_to_info_registrants(chat: Chat) -> None:
    """New broadcast to the information meeting's registrants, all platforms and languages,
    with a Bokmål text."""
    await chat.press("New broadcast")
    await chat.press("Registered: Information meeting")
    await chat.press("All platforms")
    await chat.press("All languages")
    assert "Write the message in Norsk bokmål" in chat.text
    await chat.send("Zoom-lenken er klar")


@pytest.fixture
def campaign_file(tmp_path: Path) -> Path:
    """A copy of the shipped campaign (with its translation files) that a test can edit."""
    shipped = default_campaign_path()
    for path in shipped.parent.glob(f"{shipped.stem}*.toml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / shipped.name


def edit(path: Path, old: str, new: str) -> None:
    """Change the campaign file as staff would in an editor."""
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


async def test_anyone_else_is_refused_every_staff_action_and_nothing_is_written(
    db: Database, clock: FixedClock, campaign_file: Path
) -> None:
    engine = Engine(load_campaign(campaign_file), db, clock, campaign_path=campaign_file)
    await people(engine)
    in_use = engine.campaign
    edit(campaign_file, "start = 14:00:00", "start = 13:00:00")
    chat = Chat(engine, "a-stranger")
    await chat.command("start")

    for payload in (
        "g:staff",
        "g:bc",
        "g:bp:broadcast:0123456789ab",
        "g:reload",
        "g:nt:info",
        "g:batches",
        "g:results",
    ):
        replies = await chat.deliver(chat.incoming(Kind.BUTTON, payload=payload))
        assert "only for the consultation's staff" in replies[0].text, payload
    for payload in ("1:seg:everyone", "2:pf:", "3:lg:", "5:send", "1:x"):  # forged step presses
        replies = await chat.deliver(chat.incoming(Kind.BUTTON, payload=payload))
        assert "only for the consultation's staff" not in replies[0].text
    await chat.send("Everyone: come to the meeting!")

    assert await outbox(db) == []
    assert await db.transact(lambda tx: tx.fetchall("SELECT * FROM broadcast_requests")) == []
    assert engine.campaign is in_use


async def test_a_staff_member_whose_role_is_taken_away_mid_broadcast_cannot_send_it(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    await people(engine)
    chat = await staff_chat(engine, clock)
    await draft_to_info_registrants(chat)
    assert "Send it to 2 people" in chat.labels
    await db.transact(lambda tx: revoke_staff(tx, "test", "", "boss", ""))

    await chat.press("Send it to 2 people")

    assert "only for the consultation's staff" in chat.text
    assert await outbox(db) == []


async def test_a_broadcast_previewed_with_the_exact_count_reaches_exactly_its_segment(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    await people(engine)  # a (nb) and b (en) registered for info; c unfinished; d nothing
    chat = await staff_chat(engine, clock)
    await draft_to_info_registrants(chat)

    segment = Segment("registrants", "info")
    expected = await db.transact(lambda tx: members(tx, engine.campaign, segment))
    assert f"{len(expected)} recipients" in chat.text
    assert "English: 1, in Norsk bokmål (no version of its own)" in chat.text
    assert chat.replies[0].text == "Zoom-lenken er klar"  # the message as they will see it

    await chat.press("Add a version in English")
    await chat.send("The Zoom link is ready")
    # Several versions: each shown with its language (the label is not sent).
    assert [r.text for r in chat.replies[:2]] == [
        "[English]\nThe Zoom link is ready",
        "[Norsk bokmål]\nZoom-lenken er klar",
    ]
    assert await outbox(db) == []  # nothing before the confirmation

    await chat.press("Send it to 2 people")

    assert "on its way to 2 people" in chat.text
    rows = await outbox(db)
    assert sorted((user, text) for user, _batch, text in rows) == [
        ("a", "Zoom-lenken er klar"),
        ("b", "The Zoom link is ready"),
    ]
    await chat.press("Progress")
    assert "sent 0, failed 0, unreachable 0, in doubt 0, left 2" in chat.text


async def test_the_staff_member_gets_one_summary_when_the_broadcast_has_gone_out(
    engine: Engine, db: Database, db_url: str, clock: FixedClock
) -> None:
    await people(engine)
    chat = await staff_chat(engine, clock)
    await draft_to_info_registrants(chat)
    await chat.press("Send it to 2 people")

    recipients = Recipients(fail_for={"b"})
    dispatcher = OutboxDispatcher(db, "test", recipients, clock, rate=1000)
    await dispatcher.run_once()  # the broadcast; then its summary is queued
    await dispatcher.run_once()  # the summary
    restarted = await open_database(db_url)  # a new process: no second summary
    try:
        again = OutboxDispatcher(restarted, "test", recipients, clock, rate=1000)
        await again.recover()
        await again.run_once()
    finally:
        await restarted.close()

    summaries = [text for user, text in recipients.got if user == "boss"]
    assert summaries == [
        "Your broadcast has gone out: sent 1, failed 0, unreachable 1, in doubt 0, left 0."
    ]


async def test_cancelling_a_broadcast_writes_nothing(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    await people(engine)
    chat = await staff_chat(engine, clock)
    await draft_to_info_registrants(chat)
    await chat.press("Cancel")
    assert "nothing was sent" in chat.text
    assert await outbox(db) == []


async def test_an_overlong_message_is_refused_and_the_text_step_stays(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    chat = await staff_chat(engine, clock)
    await chat.press("New broadcast")
    await chat.press("Everyone")
    await chat.press("All platforms")
    await chat.press("All languages")
    await chat.send("x" * (BROADCAST_MAX + 1))
    assert f"at most {BROADCAST_MAX}" in chat.text
    await chat.send("Short enough")
    assert "Send it to" in " ".join(chat.labels)


async def test_a_restart_while_writing_a_broadcast_goes_on_where_it_was(
    campaign: Campaign, db: Database, db_url: str, clock: FixedClock
) -> None:
    engine = Engine(campaign, db, clock)
    await people(engine)
    chat = await staff_chat(engine, clock)
    await chat.press("New broadcast")
    await chat.press("Registered: Information meeting")
    await chat.press("All platforms")
    await chat.press("English")  # only people who use English

    restarted = await open_database(db_url)  # a new process, nothing in memory
    try:
        again = Chat(Engine(campaign, restarted, clock), "boss")
        await again.send("Only for English speakers")
        assert "1 recipient" in again.text
        await again.press("Send it to 1 person")
        rows = await outbox(restarted)
    finally:
        await restarted.close()
    assert [(user, text) for user, _b, text in rows] == [("b", "Only for English speakers")]


async def test_a_changed_meeting_time_on_reload_is_offered_to_exactly_its_registrants(
    db: Database, clock: FixedClock, campaign_file: Path
) -> None:
    engine = Engine(load_campaign(campaign_file), db, clock, campaign_path=campaign_file)
    await people(engine)
    chat = await staff_chat(engine, clock)
    edit(campaign_file, "start = 14:00:00\nend = 15:00:00", "start = 16:00:00\nend = 17:00:00")

    await chat.press("Reload the campaign file")

    assert "Information meeting: changed time." in chat.text
    assert engine.campaign.meetings[0].start is not None
    assert engine.campaign.meetings[0].start.hour == 16
    await chat.press("Tell the 2 registered people: Information meeting")
    assert "on its way to 2 people" in chat.text
    rows = await outbox(db)
    assert sorted(user for user, _b, _t in rows) == ["a", "b"]
    texts = {user: text for user, _b, text in rows}
    assert "16:00" in texts["a"] and "Informasjonsmøte" in texts["a"]
    assert "16:00" in texts["b"] and "News about your meeting" in texts["b"]

    await chat.press("Staff")  # telling them again reaches nobody twice
    await chat.deliver(chat.incoming(Kind.BUTTON, payload="g:nt:info"))
    assert "2 people had it already" in chat.text
    assert len(await outbox(db)) == 2


async def test_a_broken_campaign_file_on_reload_keeps_the_old_campaign_and_says_why(
    db: Database, clock: FixedClock, campaign_file: Path
) -> None:
    engine = Engine(load_campaign(campaign_file), db, clock, campaign_path=campaign_file)
    in_use = engine.campaign
    chat = await staff_chat(engine, clock)
    edit(campaign_file, "end = 15:00:00", "end = 13:00:00")

    await chat.press("Reload the campaign file")

    assert "was not loaded" in chat.text
    assert f"{campaign_file}: meetings[0]: end must be after start" in chat.text
    assert engine.campaign is in_use


# -- participation-bot reload --------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handlers", *args], capture_output=True, text=True, timeout=60
    )


async def remember_in_use(db: Database, campaign: Campaign, clock: FixedClock) -> None:
    """What a running bot records when it starts with ``campaign``."""

    async def job(tx: Transaction) -> None:
        save_campaign_in_use(tx, campaign.model_dump_json(), clock.now())

    await db.transact(job)


async def test_reload_command_says_what_changed_and_notify_tells_exactly_the_registrants(
    db: Database, db_path: Path, clock: FixedClock, campaign_file: Path
) -> None:
    engine = Engine(load_campaign(campaign_file), db, clock, campaign_path=campaign_file)
    await people(engine)
    await remember_in_use(db, engine.campaign, clock)
    edit(campaign_file, "start = 14:00:00\nend = 15:00:00", "start = 16:00:00\nend = 17:00:00")
    where = ("--database", str(db_path), "--campaign", str(campaign_file))

    shown = await asyncio.to_thread(cli, "reload", *where, "--now", "2021-05-25T10:00")
    assert shown.returncode == 0, shown.stderr
    assert "info: changed time; 2 registered" in shown.stdout
    assert "no running bot found" in shown.stdout
    assert "reload --notify" in shown.stdout
    assert await outbox(db) == []

    told = await asyncio.to_thread(cli, "reload", *where, "--notify", "--now", "2021-05-25T10:00")
    assert told.returncode == 0, told.stderr
    assert "told 2 registered people of info" in told.stdout
    assert sorted(user for user, _b, _t in await outbox(db)) == ["a", "b"]


def test_reload_command_refuses_a_broken_file_and_names_the_problem(
    tmp_path: Path, campaign_file: Path
) -> None:
    edit(campaign_file, "end = 15:00:00", "end = 13:00:00")
    result = cli(
        "reload", "--database", str(tmp_path / "r.sqlite3"), "--campaign", str(campaign_file)
    )
    assert result.returncode == 1
    assert f"{campaign_file}: meetings[0]: end must be after start" in result.stderr
    assert "reloads" not in result.stdout


def test_the_running_bot_reloads_its_campaign_file_when_told(
    tmp_path: Path, campaign_file: Path
) -> None:
    database = tmp_path / "run.sqlite3"
    where = ("--database", str(database), "--campaign", str(campaign_file))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env["PORT"] = "0"  # the web chat on a free port
    running = subprocess.Popen(
        [sys.executable, "-m", "handlers", "run", *where, "--now", "2021-05-25T10:00"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        pid_file = Path(f"{database}.pid")
        wait_for(pid_file.exists)
        edit(campaign_file, "start = 14:00:00", "start = 13:00:00")
        result = cli("reload", *where)
        assert result.returncode == 0, result.stderr
        assert "info: changed time" in result.stdout
        assert "the running bot (1 worker(s)) takes the campaign over" in result.stdout
        wait_for(lambda: "13:00:00" in in_use_start(database))
    finally:
        assert running.stdin is not None
        running.stdin.close()
        running.wait(timeout=30)
    assert not pid_file.exists()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def in_use_start(database: Path) -> str:
    """The information meeting's start in the campaign the running bot recorded."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        row = conn.execute("SELECT campaign FROM campaign_in_use").fetchone()
    if row is None:
        return ""
    return str(Campaign.model_validate_json(row[0]).meetings[0].start)


async def test_sending_the_same_broadcast_again_reaches_only_newcomers_and_says_so(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    await people(engine)
    chat = await staff_chat(engine, clock)
    await draft_to_info_registrants(chat)
    await chat.press("Send it to 2 people")
    await sign_up(Chat(engine, "e"))

    await chat.press("Staff")
    await draft_to_info_registrants(chat)
    await chat.press("Send it to 3 people")

    assert "on its way to 1 person" in chat.text
    assert "2 people had it already" in chat.text
    assert sorted(user for user, _b, _t in await outbox(db)) == ["a", "b", "e"]
    recipients = Recipients()
    dispatcher = OutboxDispatcher(db, "test", recipients, clock, rate=1000)
    await dispatcher.run_once()
    await dispatcher.run_once()
    summaries = [text for user, text in recipients.got if user == "boss"]
    assert summaries == [
        "Your broadcast has gone out: sent 3, failed 0, unreachable 0, in doubt 0, left 0."
    ]


async def test_staff_named_in_the_campaign_file_have_the_role_and_a_bad_name_is_refused(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    from bot.errors import CampaignError

    campaign = make_campaign(lambda data: data.update(staff=["console:ingrid"]))
    engine = Engine(campaign, db, clock)
    ingrid = Chat(engine, "ingrid", platform="console")
    someone = Chat(engine, "ola", platform="console")
    await ingrid.command("staff")
    assert "New broadcast" in ingrid.labels
    await someone.command("staff")
    assert "only for the consultation's staff" in someone.text

    with pytest.raises(CampaignError) as caught:
        make_campaign(lambda data: data.update(staff=["telegram"]))
    assert "staff" in str(caught.value) and "not a person" in str(caught.value)


def test_staff_list_with_nobody_named_says_how_to_name_someone(
    command: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert command("staff", "list", "--now", "2021-05-25T10:00") == 0
    assert "no staff yet: participation-bot staff add" in capsys.readouterr().out
