"""Privacy: the notice first, a copy of one's data, real erasure, purge, clean INFO logs."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from storage.database import Database
from storage.outbox import outbox_for
from storage.participants import find_participant
from storage.registrations import registrations_for_meeting
from tests.auxil.chat import Chat
from tests.bot.test_signup import join_waiting_list, sign_up, with_meeting
from tests.conftest import oslo

NAME = "Erika Eraseme"
USER = "erase-me-4711"
ORGANISATION = "Secret Society Library"
IDEA = "my very secret idea about comics"


async def rows(db: Database, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    return await db.transact(lambda tx: tx.fetchall(sql, params))


async def give_everything(chat: Chat) -> None:
    """Sign up with details, answer the survey with a free text, choose a language."""
    await chat.command("start", "signup-info")
    await chat.send(NAME)
    await chat.press("Library employee")
    await chat.send(ORGANISATION)
    await chat.send("Asker")
    await chat.press("Confirm sign-up")
    await chat.command("survey")
    await chat.press("Young person (under 26)")
    await chat.send("Asker")
    await chat.press("16–19")
    await chat.press("Never")
    await chat.press("Getting people reading")
    await chat.press("Done")
    await chat.press("5")
    await chat.press("4 Quality education")
    await chat.press("Done")
    await chat.send(IDEA)


async def test_the_notice_comes_before_anything_is_stored_and_is_recorded(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    chat = Chat(engine, "reader", accept_privacy=False)
    await chat.command("survey")
    assert "Viken County Council is responsible" in chat.text
    assert "https://viken.no/personvern/" in chat.text
    assert await rows(db, "SELECT * FROM responses") == []

    await chat.press("OK, go on")
    assert "Question 1 of 12" in chat.text
    person = await db.transact(lambda tx: find_participant(tx, "test", "", "reader"))
    assert person.privacy_version == "2021-05-21"
    assert person.privacy_accepted_at == clock.now()

    await chat.command("start", "signup-info")  # read once: not asked again
    assert "What name should we register?" in chat.text

    await chat.command("privacy")  # the page says when
    assert "You read and accepted this notice on Tuesday, 25 May 2021." in chat.text
    newcomer = Chat(engine, "only-looking", accept_privacy=False)
    await newcomer.command("privacy")
    assert "You read and accepted" not in newcomer.text


async def test_sign_up_waits_for_the_notice_too(engine: Engine, db: Database) -> None:
    chat = Chat(engine, "reader", accept_privacy=False)
    await chat.command("start", "signup-info")
    assert "OK, go on" in chat.labels
    await chat.press("Main menu")
    assert await rows(db, "SELECT * FROM registrations") == []


async def test_what_has_closed_is_said_without_asking_to_accept_the_notice(
    engine: Engine, clock: FixedClock
) -> None:
    clock.set(oslo(2021, 6, 14, 12, 0))  # the survey's deadline; every sign-up has closed
    chat = Chat(engine, "too-late", accept_privacy=False)

    await chat.command("survey")
    assert "The survey closed Monday, 14 June 2021" in chat.text
    assert "OK, go on" not in chat.labels and "is responsible" not in chat.text

    await chat.command("start", "signup-info")
    assert "Sign-up for Information meeting" in chat.text and "closed" in chat.text
    assert "OK, go on" not in chat.labels and "is responsible" not in chat.text


async def test_mydata_returns_everything_given_and_nobody_elses(engine: Engine) -> None:
    other = Chat(engine, "someone-else")
    await other.command("start", "signup-info")
    await other.send("Olav Other")
    await other.press("Resident")
    await other.send("Moss")
    await other.press("Confirm sign-up")
    chat = Chat(engine, USER)
    await give_everything(chat)

    await chat.command("mydata")

    reply = chat.replies[0]
    assert reply.attachment is not None and reply.attachment.filename == "my-data.json"
    data = json.loads(reply.attachment.data)
    assert data["you"]["user_id"] == USER and data["you"]["language"] == "en"
    assert data["you"]["name"] == NAME and data["you"]["organisation"] == ORGANISATION
    # In the person's words and language, not the bot's internal ids.
    assert data["you"]["role"] == "Library employee" and data["you"]["municipality"] == "Asker"
    assert [r["status"] for r in data["registrations"]] == ["Confirmed"]
    assert data["registrations"][0]["role"] == "Library employee"
    assert data["survey"]["status"] == "In progress"
    answers = {a["question"]: a["answer"] for a in data["survey"]["answers"]}
    assert IDEA in answers.values() and "Young person (under 26)" in answers.values()
    assert data["you"]["privacy_notice_version"] == "2021-05-21"
    assert "Olav" not in reply.attachment.data.decode() and "someone-else" not in str(data)
    assert "1 registration for a meeting." in reply.text


def everything_in(path: Path) -> str:
    """Every value of every column of every table, as text."""
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        cells = []
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608
                cells.extend(str(value) for value in row)
    return "\n".join(cells)


def raw_bytes(path: Path) -> bytes:
    """The database file and its WAL as they are on disk (no checkpoint of our own)."""
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.parametrize("keep", [True, False])
async def test_delete_erases_every_trace_in_the_database_file(
    keep: bool,
    make_campaign: Callable[..., Campaign],
    db: Database,
    db_path: Path,
    clock: FixedClock,
) -> None:
    def configure(data: dict[str, Any]) -> None:
        data["privacy"]["keep_anonymous_answers"] = keep

    engine = Engine(make_campaign(configure), db, clock)
    chat = Chat(engine, USER, profile_name=NAME)
    await give_everything(chat)
    await chat.command("delete")
    expected = "are kept, but without any link" if keep else "are erased too"
    assert expected in chat.text
    await chat.press("Yes, delete my data")
    assert "Everything we kept about you is deleted" in chat.text

    everything = everything_in(db_path)
    for trace in (NAME, USER, ORGANISATION, IDEA):
        assert trace not in everything
    for trace in (NAME, USER, ORGANISATION, IDEA):
        assert trace.encode() not in raw_bytes(db_path)
    assert await rows(db, "SELECT * FROM participants") == []
    kept = await rows(db, "SELECT question_id FROM answers")
    if keep:
        assert {r[0] for r in kept} >= {"category", "age", "priorities"}
        assert "youth_offer" not in {r[0] for r in kept}
        assert [tuple(r) for r in await rows(db, "SELECT participant_id FROM responses")] == [
            (None,)
        ]
    else:
        assert kept == [] and await rows(db, "SELECT * FROM responses") == []

    await chat.command("start")  # writing again starts afresh
    assert "Hello!" in chat.text


async def test_erasure_cancels_places_and_moves_the_waiting_list_up(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(with_meeting(capacity=1)), db, clock)
    holder, waiting = Chat(engine, "holder"), Chat(engine, "waiting")
    await sign_up(holder)
    await join_waiting_list(waiting)

    await holder.command("delete")
    await holder.press("Yes, delete my data")

    registrations = await db.transact(
        lambda tx: registrations_for_meeting(tx, "viken-2021", "info")
    )
    assert [r.status for r in registrations] == ["confirmed"]
    person = await db.transact(lambda tx: find_participant(tx, "test", "", "waiting"))
    told = await db.transact(lambda tx: outbox_for(tx, person.id))
    assert [m.kind for m in told] == ["waitlist_promoted"]


async def test_a_redelivered_delete_changes_nothing(engine: Engine, db: Database) -> None:
    chat = Chat(engine, USER)
    await give_everything(chat)
    await chat.command("delete")
    from bot.messages import Kind

    yes = chat.incoming(Kind.BUTTON, payload=chat.button("Yes, delete my data").payload)
    await chat.deliver(yes)
    assert await engine.handle(yes) == []
    assert await rows(db, "SELECT * FROM participants") == []


async def test_no_keeps_everything(engine: Engine, db: Database) -> None:
    chat = Chat(engine, USER)
    await give_everything(chat)
    await chat.command("delete")
    await chat.press("No, keep it")
    assert "Nothing was deleted" in chat.text
    assert len(await rows(db, "SELECT * FROM participants")) == 1


async def test_purge_erases_personal_data_after_the_retention_date(
    engine: Engine, db: Database, db_path: Path, clock: FixedClock
) -> None:
    from bot.privacy import purge

    await give_everything(Chat(engine, USER))
    assert await db.transact(lambda tx: purge(tx, engine.campaign, oslo(2022, 6, 30, 23, 0))) == 0
    assert len(await rows(db, "SELECT * FROM participants")) == 1

    erased = await db.transact(lambda tx: purge(tx, engine.campaign, oslo(2022, 7, 1, 0, 1)))

    assert erased == 1
    everything = everything_in(db_path)
    assert all(trace not in everything for trace in (NAME, USER, ORGANISATION, IDEA))
    assert {r[0] for r in await rows(db, "SELECT question_id FROM answers")} >= {"category"}


def test_purge_command_runs_with_a_clock(tmp_path: Path) -> None:
    import subprocess
    import sys

    database = tmp_path / "p.sqlite3"
    args = [sys.executable, "-m", "handlers", "purge", "--database", str(database)]
    early = subprocess.run([*args, "--now", "2022-01-01T10:00"], capture_output=True, text=True)
    late = subprocess.run([*args, "--now", "2022-07-02T10:00"], capture_output=True, text=True)
    assert early.returncode == 0 and "not yet" in early.stdout
    assert late.returncode == 0 and "erased the personal data of 0 people" in late.stdout


async def test_info_logs_hold_no_names_ids_or_answers(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    chat = Chat(engine, USER, profile_name=NAME)
    await give_everything(chat)
    await chat.command("mydata")
    await chat.command("delete")
    await chat.press("Yes, delete my data")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for trace in (NAME, USER, ORGANISATION, IDEA, "Asker"):
        assert trace not in logged


async def test_a_new_notice_stops_someone_in_the_middle_until_they_read_it(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(), db, clock)
    chat = Chat(engine, "midway")
    await chat.command("survey")
    await chat.press("Resident")

    def new_version(data: dict[str, Any]) -> None:
        data["privacy"]["version"] = "2021-06-01"

    engine.reload(make_campaign(new_version))
    chat.accept_privacy = False
    await chat.send("Moss")
    assert "OK, go on" in chat.labels
    assert "municipality" not in {r[0] for r in await rows(db, "SELECT question_id FROM answers")}
    await chat.press("OK, go on")
    assert "Which municipality" in chat.text
    await chat.send("Moss")
    assert "How often" in chat.text


async def test_after_erasure_old_events_and_buttons_bring_nobody_back(
    engine: Engine, db: Database
) -> None:
    from bot.messages import Kind

    chat = Chat(engine, USER)
    await give_everything(chat)
    earlier = chat.incoming(Kind.TEXT, text="redelivered later")
    await chat.deliver(earlier)
    old_button = (
        chat.button("Main menu") if "Main menu" in chat.labels else chat.history[0].buttons[0][0]
    )
    await chat.command("delete")
    yes = chat.button("Yes, delete my data")
    await chat.press_button(yes)

    assert await engine.handle(earlier) == []  # the platform redelivers an old event
    await chat.press_button(yes)  # a double tap
    replies = await engine.handle(chat.incoming(Kind.BUTTON, payload=old_button.payload))
    assert "What would you like to do?" in replies[0].text
    assert await rows(db, "SELECT * FROM participants") == []


async def test_after_a_purge_a_cached_person_starts_afresh(engine: Engine, db: Database) -> None:
    from bot.privacy import purge

    chat = Chat(engine, USER)
    await give_everything(chat)
    await db.transact(lambda tx: purge(tx, engine.campaign, oslo(2022, 7, 2, 9, 0)))
    engine.forget_all()
    await chat.command("start")
    assert "Hello!" in chat.text and "something went wrong" not in chat.text


async def test_a_new_notice_does_not_stop_someone_whose_survey_has_closed(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(), db, clock)
    chat = Chat(engine, "midway")
    await chat.command("survey")
    await chat.press("Resident")

    def new_version(data: dict[str, Any]) -> None:
        data["privacy"]["version"] = "2021-06-01"

    engine.reload(make_campaign(new_version))
    chat.accept_privacy = False
    clock.set(oslo(2021, 6, 14, 12, 0))
    await chat.send("Moss")
    assert "The survey closed" in chat.text and "Your answers are kept" in chat.text
    assert "OK, go on" not in chat.labels
