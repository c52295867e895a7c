"""The engine's promises: redelivered events change nothing, replies are kept until sent,
people are handled in parallel without cross-talk, a broken step loses nothing."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.messages import Kind
from storage.database import Database
from storage.open import open_database
from storage.registrations import registrations_for_meeting
from tests.auxil.chat import Chat
from tests.bot.test_survey import stored_answers


async def count_rows(db: Database, table: str) -> int:
    async def job(tx):  # type: ignore[no-untyped-def]
        row = await tx.fetchone(f"SELECT COUNT(*) FROM {table}")
        return row[0]

    return await db.transact(job)


async def test_redelivered_event_changes_nothing_and_gets_no_second_reply(
    chat: Chat, db: Database
) -> None:
    await chat.command("survey")
    event = chat.incoming(Kind.BUTTON, payload=chat.button("Resident").payload)
    first = await chat.deliver(event)
    assert "Which municipality" in first[0].text
    events_before = await count_rows(db, "processed_events")

    again = await chat.engine.handle(event)

    assert again == []
    assert await count_rows(db, "processed_events") == events_before
    assert (await stored_answers(db))["category"] == "resident"


async def test_redelivery_after_a_crash_before_sending_sends_the_kept_reply_once(
    campaign: Campaign, db_url, clock: FixedClock
) -> None:
    db = await open_database(db_url)
    chat = Chat(Engine(campaign, db, clock))
    await chat.command("survey")
    event = chat.incoming(Kind.BUTTON, payload=chat.button("Resident").payload)
    replies = await chat.engine.handle(event)  # committed; the process dies before sending
    await db.close()

    db = await open_database(db_url)  # a new process, a new engine, the platform redelivers
    engine = Engine(campaign, db, clock)
    try:
        pending = await engine.unsent_replies("test")
        assert [p.event_id for p in pending] == [event.event_id]
        resent = await engine.handle(event)
        assert [r.text for r in resent] == [r.text for r in replies]
        engine.replies_sent(event)
        assert await engine.handle(event) == []
        assert await engine.unsent_replies("test") == []
        assert (await stored_answers(db))["category"] == "resident"
    finally:
        await db.close()


async def test_redelivered_confirmation_after_restart_does_not_register_twice(
    campaign: Campaign, db: Database, clock: FixedClock
) -> None:
    chat = Chat(Engine(campaign, db, clock))
    await chat.command("start", "signup-info")
    await chat.send("Kari")
    await chat.press("Resident")
    await chat.send("Moss")
    confirm = chat.incoming(Kind.BUTTON, payload=chat.button("Confirm sign-up").payload)
    await chat.deliver(confirm)
    await chat.command("mine")
    await chat.press("Cancel: Information meeting")
    await chat.press("Yes, cancel my registration")

    restarted = Engine(campaign, db, clock)  # nothing in memory: the database must know
    assert await restarted.handle(confirm) == []

    rows = await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info"))
    assert [r.status for r in rows] == ["cancelled"]


async def test_a_redelivery_while_the_first_is_being_sent_gets_nothing(
    engine: Engine, db: Database
) -> None:
    chat = Chat(engine)
    event = chat.incoming(Kind.COMMAND, command="start")
    first, second = await asyncio.gather(engine.handle(event), engine.handle(event))
    assert len(first) == 1 and second == []


async def test_a_cancelled_caller_does_not_undo_or_lose_the_event(
    engine: Engine, db: Database
) -> None:
    chat = Chat(engine)
    await chat.command("survey")
    event = chat.incoming(Kind.BUTTON, payload=chat.button("Resident").payload)
    caller = asyncio.ensure_future(engine.handle(event))
    await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller

    await chat.send("Moss")  # the next event sees what the cancelled one committed
    assert "How often" in chat.text
    assert await stored_answers(db) == {"category": "resident", "municipality": "Moss"}
    kept = await engine.handle(event)  # the platform redelivers: the kept reply comes
    assert "Which municipality" in kept[0].text


async def test_fifty_people_at_once_do_not_cross_talk(engine: Engine, db: Database) -> None:
    people = [Chat(engine, f"p{i}") for i in range(50)]
    categories = ["library", "municipality", "school", "organisation", "resident"]
    labels = {
        "library": "Library employee",
        "municipality": "Municipality",
        "school": "School",
        "organisation": "Organisation or association",
        "resident": "Resident",
    }
    municipalities = ["Asker", "Moss", "Halden", "Drammen", "Lier"]

    async def person(i: int, chat: Chat) -> None:
        rng = random.Random(i)
        await asyncio.sleep(rng.random() / 100)
        await chat.command("survey")
        await chat.press(labels[categories[i % 5]])
        await asyncio.sleep(rng.random() / 100)
        await chat.send(municipalities[i % 5])
        await chat.press("Every week")
        await chat.send(f"idea-{i}")  # text where buttons are expected: a hint, no answer
        await chat.command("start", "signup-info")
        await chat.send(f"Person-{i}")
        await chat.press("Resident")
        await asyncio.sleep(rng.random() / 100)
        await chat.send(municipalities[i % 5])

    await asyncio.gather(*(person(i, c) for i, c in enumerate(people)))

    for i, chat in enumerate(people):
        answers = await stored_answers(db, f"p{i}")
        assert answers == {
            "category": categories[i % 5],
            "municipality": municipalities[i % 5],
            "use": "weekly",
        }
        assert f"Name: Person-{i}\n" in chat.text
        assert f"Municipality: {municipalities[i % 5]}" in chat.text
        seen = "".join(r.text for r in chat.history)
        assert all(f"Person-{j}\n" not in seen for j in range(50) if j != i)


async def test_one_persons_events_run_in_order(engine: Engine, db: Database) -> None:
    chat = Chat(engine)
    await chat.command("survey")
    first = chat.incoming(Kind.BUTTON, payload=chat.button("Resident").payload)
    second = chat.incoming(Kind.TEXT, text="Moss")
    results = await asyncio.gather(engine.handle(first), engine.handle(second))
    assert "Which municipality" in results[0][0].text
    assert "How often" in results[1][0].text


async def test_a_failing_step_commits_nothing_and_apologises(
    chat: Chat, db: Database, monkeypatch
) -> None:
    await chat.command("survey")
    events_before = await count_rows(db, "processed_events")

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("bot.survey.store.record_answer", broken)
    event = chat.incoming(Kind.BUTTON, payload=chat.button("Resident").payload)
    replies = await chat.engine.handle(event)
    assert "something went wrong" in replies[0].text
    assert await count_rows(db, "processed_events") == events_before
    monkeypatch.undo()

    replies = await chat.engine.handle(event)  # the platform redelivers: now it works
    assert "Which municipality" in replies[0].text


async def test_replies_are_stored_with_their_event(chat: Chat, db: Database) -> None:
    event = chat.incoming(Kind.COMMAND, command="start")
    await chat.engine.handle(event)

    async def job(tx):  # type: ignore[no-untyped-def]
        return await tx.fetchone(
            "SELECT replies, replies_sent FROM processed_events WHERE event_id = ?",
            (event.scoped_event_id,),
        )

    row = await db.transact(job)
    assert "What would you like to do?" in json.loads(row[0])[0]["text"]
    assert row[1] == 0
    chat.engine.replies_sent(event)
    row = await db.transact(job)
    assert row[1] == 1


async def test_language_follows_the_hint_until_chosen(engine: Engine) -> None:
    chat = Chat(engine, language="en")
    await chat.command("start")
    assert "What would you like to do?" in chat.text
    chat.language = "nb-NO"
    await chat.command("menu")
    assert "What would you like to do?" not in chat.text
    await chat.command("language")
    assert "English" in chat.labels and "Norsk bokmål" in chat.labels
    await chat.press("English")
    assert "Language changed to: English." in chat.text
    await chat.command("menu")
    assert "What would you like to do?" in chat.text


async def test_help_from_the_middle_of_a_question_keeps_the_place(chat: Chat) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    await chat.command("help")
    assert "Your answers are saved" in chat.text
    await chat.press("Continue where I was")
    assert "Which municipality" in chat.text


async def test_a_kept_reply_with_a_file_comes_back_whole(
    campaign: Campaign, db_url, clock: FixedClock
) -> None:
    db = await open_database(db_url)
    chat = Chat(Engine(campaign, db, clock))
    await chat.command("start")
    event = chat.incoming(Kind.COMMAND, command="mydata")
    first = await chat.engine.handle(event)  # the process dies before sending
    await db.close()
    db = await open_database(db_url)
    try:
        again = await Engine(campaign, db, clock).handle(event)
        assert again[0].attachment.data == first[0].attachment.data
        assert json.loads(again[0].attachment.data)["you"]["user_id"] == "u1"
    finally:
        await db.close()


async def test_a_person_whose_events_alternate_between_two_workers_goes_on_where_they_were(
    campaign: Campaign, db_url: str, clock: FixedClock
) -> None:
    """Each event to the other worker: each remembers the person as of its own last turn,
    one step behind what is stored, and must not trust that (a press on the question the
    other worker showed would look stale to it; saving over would undo the other's turn)."""
    dbs = [await open_database(db_url) for _ in range(2)]
    try:
        workers = [Engine(campaign, db, clock) for db in dbs]
        chat = Chat(workers[0], "alternating")
        steps = [
            lambda: chat.command("survey"),
            lambda: chat.press("Resident"),
            lambda: chat.command("help"),
            lambda: chat.press("Continue where I was"),
            lambda: chat.send("Asker"),
        ]
        for number, step in enumerate(steps):
            chat.engine = workers[number % 2]
            await step()
            if number == 3:  # worker 2 remembered the person before the help: not trusted
                assert "Which municipality" in chat.text
        assert "moved on" not in " ".join(r.text for r in chat.history)
        assert "Question 3 of 10" in chat.text
        assert await stored_answers(dbs[1], "alternating") == {
            "category": "resident",
            "municipality": "Asker",
        }
    finally:
        for db in dbs:
            await db.close()
