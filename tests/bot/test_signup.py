"""Signing up for meetings, the deadline, the waiting list and cancelling, through the engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.messages import Button
from storage.database import Database
from storage.outbox import outbox_for
from storage.registrations import registrations_for_meeting
from tests.auxil.chat import Chat
from tests.conftest import oslo

ZOOM = "https://zoom.us/j/123456789"


async def sign_up(chat: Chat, meeting_label: str = "Sign up: Information meeting") -> None:
    """Go from the main menu through the whole sign-up form and confirm."""
    await chat.command("start")
    await chat.press("Meetings and sign-up")
    await chat.press(meeting_label)
    if "What name" in chat.text:
        await chat.send(f"Person {chat.ref.user_id}")
        await chat.press("Library employee")
        await chat.send("Asker bibliotek")
        await chat.send("bær")
        await chat.press("Bærum")
    await chat.press("Confirm sign-up")


async def join_waiting_list(chat: Chat) -> None:
    """Sign up for the full information meeting, accepting the waiting list."""
    await chat.command("start", "signup-info")
    await chat.press(chat.labels[0])  # yes, the waiting list (in any language)
    await chat.send("Someone")
    await chat.press(chat.labels[0])  # the first role
    await chat.press(chat.labels[0])  # no organisation
    await chat.send("Moss")
    await chat.press(chat.labels[0])  # confirm


def with_meeting(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["meetings"][0].update(changes)

    return edit


async def test_sign_up_asks_details_shows_summary_and_confirms(chat: Chat, db: Database) -> None:
    chat.profile_name = "Kari Nordmann"
    await chat.command("start", "signup-info")
    assert "Information meeting on the three strategies" in chat.text
    await chat.press("Use \u201cKari Nordmann\u201d")
    assert "Library employee" in chat.labels and "Young person (under 26)" in chat.labels
    await chat.press("Library employee")
    await chat.send("Asker bibliotek")
    await chat.send("sarps")
    await chat.press("Sarpsborg")
    assert "Name: Kari Nordmann" in chat.text
    assert "Organisation: Asker bibliotek" in chat.text
    assert "Municipality: Sarpsborg" in chat.text

    await chat.press("Confirm sign-up")

    assert "You are signed up" in chat.text
    assert "Tuesday, 1 June 2021" in chat.text and "14:00" in chat.text
    rows = await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info"))
    assert [(r.status, r.details.name, r.details.municipality) for r in rows] == [
        ("confirmed", "Kari Nordmann", "Sarpsborg")
    ]


async def test_municipality_found_by_part_of_name_or_other(chat: Chat) -> None:
    await chat.command("start", "signup-youth")
    await chat.send("Ola")
    await chat.press("Young person")
    await chat.send("eiker")
    assert "\u00d8vre Eiker" in chat.labels
    await chat.send("Xyzzy")
    assert "No municipality matches" in chat.text
    await chat.press("Other / outside Viken")
    assert "Municipality: Other / outside Viken" in chat.text
    assert "Organisation: none" in chat.text


async def test_second_sign_up_to_same_meeting_says_already_registered(
    chat: Chat, db: Database
) -> None:
    await sign_up(chat)
    await chat.command("start", "signup-info")
    assert "You are already registered" in chat.text
    rows = await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info"))
    assert len(rows) == 1


async def test_returning_person_is_not_asked_their_details_again(chat: Chat) -> None:
    await sign_up(chat)
    await chat.command("start", "signup-others")
    assert "Please check your sign-up" in chat.text
    assert "Name: Person u1" in chat.text


async def test_sign_up_closes_at_end_of_deadline_day(chat: Chat, clock: FixedClock) -> None:
    clock.set(oslo(2021, 5, 28, 23, 59, 0))
    await chat.command("start", "signup-info")
    assert "What name" in chat.text

    clock.set(oslo(2021, 5, 29, 0, 0, 0))
    await chat.press("Cancel sign-up")
    await chat.command("start", "signup-info")
    assert "closed" in chat.text
    assert "Friday, 28 May 2021" in chat.text
    assert "What name" not in chat.text


async def test_confirming_after_the_deadline_registers_nothing(
    chat: Chat, clock: FixedClock, db: Database
) -> None:
    await chat.command("start", "signup-info")
    await chat.send("Kari")
    await chat.press("Resident")
    await chat.send("Moss")
    clock.set(oslo(2021, 5, 29, 9, 0))
    await chat.press("Confirm sign-up")
    assert "closed" in chat.text
    assert await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info")) == []


async def test_cancel_sign_up_in_the_middle_registers_nothing(chat: Chat, db: Database) -> None:
    await chat.command("start", "signup-info")
    await chat.send("Kari")
    await chat.press("Cancel sign-up")
    assert "Nothing was registered" in chat.text
    assert await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info")) == []


async def test_cancel_registration(chat: Chat, db: Database) -> None:
    await sign_up(chat)
    await chat.press("Cancel this registration")
    await chat.press("Yes, cancel my registration")
    assert "is cancelled" in chat.text
    await chat.command("mine")
    assert "not registered for any meeting" in chat.text
    rows = await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info"))
    assert [r.status for r in rows] == ["cancelled"]


async def test_full_meeting_offers_waiting_list(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(with_meeting(capacity=1)), db, clock)
    first, second = Chat(engine, "a"), Chat(engine, "b")
    await sign_up(first)
    await second.command("start", "signup-info")
    assert "is full" in second.text
    await second.press("Yes, put me on the waiting list")
    await second.send("Bob")
    await second.press("Resident")
    await second.send("Moss")
    await second.press("Confirm sign-up")
    assert "You are on the waiting list" in second.text
    assert "number 1 on the waiting list" in second.text
    rows = await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info"))
    assert [r.status for r in rows] == ["confirmed", "waiting"]


async def test_cancellation_moves_first_waiting_person_up_and_tells_them(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(with_meeting(capacity=1, link=ZOOM)), db, clock)
    holder = Chat(engine, "holder")
    waiting = [Chat(engine, "w1", language="nb"), Chat(engine, "w2")]
    await sign_up(holder)
    for person in waiting:
        await join_waiting_list(person)

    await holder.command("mine")
    await holder.press("Cancel: Information meeting")
    await holder.press("Yes, cancel my registration")

    rows = await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info"))
    assert {r.participant_id: r.status for r in rows} == {
        1: "cancelled",
        2: "confirmed",
        3: "waiting",
    }
    promoted = await db.transact(lambda tx: outbox_for(tx, 2))
    assert len(promoted) == 1 and promoted[0].kind == "waitlist_promoted"
    message = json.loads(promoted[0].message)
    assert ZOOM in message["text"]
    assert "plass" in message["text"]  # in the promoted person's own language (nb)
    assert message["attachment"]["filename"] == "info.ics"  # the calendar invite, now theirs
    assert await db.transact(lambda tx: outbox_for(tx, 3)) == []

    await waiting[1].command("mine")
    assert "number 1" in waiting[1].text


async def test_link_is_shown_only_to_registrants(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(with_meeting(link=ZOOM)), db, clock)
    visitor, registrant = Chat(engine, "visitor"), Chat(engine, "registrant")
    for command in ("start", "about", "meetings", "mine", "help"):
        await visitor.command(command)
        assert ZOOM not in visitor.text
    await visitor.command("start", "signup-info")
    assert ZOOM not in "".join(r.text for r in visitor.history)

    await sign_up(registrant)
    assert ZOOM in registrant.text
    await registrant.command("mine")
    assert ZOOM in registrant.text
    await registrant.command("meetings")
    assert ZOOM not in registrant.text


async def test_waiting_person_does_not_see_the_link(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(with_meeting(capacity=1, link=ZOOM)), db, clock)
    await sign_up(Chat(engine, "a"))
    second = Chat(engine, "b")
    await join_waiting_list(second)
    await second.command("mine")
    assert "waiting list" in second.text
    assert ZOOM not in "".join(r.text for r in second.history)


async def test_unknown_time_and_place_are_to_be_announced(chat: Chat) -> None:
    await chat.command("meetings")
    youth = chat.text.split("Input meeting for young people", 1)[1]
    assert "Time: to be announced" in youth
    assert "Place: to be announced" in youth


async def test_changing_one_detail_can_go_back_to_the_summary(chat: Chat) -> None:
    await chat.command("start", "signup-info")
    await chat.send("Kari")
    await chat.press("Resident")
    await chat.send("Moss")
    await chat.press("Change role")
    assert "Back to the summary" in chat.labels
    await chat.press("Back to the summary")
    assert "Role: Resident" in chat.text
    await chat.press("Change role")
    await chat.press("School")
    assert "Please check your sign-up" in chat.text and "Role: School" in chat.text


async def test_newcomer_does_not_jump_the_waiting_list_when_capacity_grows(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(with_meeting(capacity=1)), db, clock)
    await sign_up(Chat(engine, "a"))
    await join_waiting_list(Chat(engine, "b"))

    engine.reload(make_campaign(with_meeting(capacity=2)))
    await sign_up(Chat(engine, "c"))

    rows = await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "info"))
    assert [r.status for r in rows] == ["confirmed", "waiting", "waiting"]


async def test_a_meeting_that_took_place_is_shown_as_past(chat: Chat, clock: FixedClock) -> None:
    await sign_up(chat)
    clock.set(oslo(2021, 6, 2, 9, 0))
    await chat.command("mine")
    assert "This meeting has taken place." in chat.text
    assert not any(label.startswith("Cancel") for label in chat.labels)


async def test_a_changed_meeting_time_reaches_its_registrants_with_a_new_calendar_invite(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    import base64
    from datetime import time

    from icalendar import Calendar

    from bot.broadcast import queue_meeting_update

    engine = Engine(make_campaign(), db, clock)
    person = Chat(engine, "p1")
    await sign_up(person, "Sign up: Input meeting for others")
    later = make_campaign(lambda data: data["meetings"][2].update(start=time(17), end=time(19)))
    meeting = later.meeting("others")
    assert meeting is not None
    await db.transact(lambda tx: queue_meeting_update(tx, later, meeting, clock.now()))
    rows = await db.transact(lambda tx: outbox_for(tx, 1))
    message = json.loads(rows[-1].message)
    ics = base64.b64decode(message["attachment"]["data"])
    event = next(iter(Calendar.from_ical(ics).walk("VEVENT")))
    assert event.decoded("dtstart") == oslo(2021, 6, 15, 17, 0)
    assert event.decoded("dtend") == oslo(2021, 6, 15, 19, 0)
    assert event["uid"] == "viken-2021-others@participation-bot"
    assert int(event["sequence"]) > 0  # replaces an earlier invite of the same meeting


async def test_my_registrations_gives_the_calendar_invite_again_only_for_a_place(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    engine = Engine(make_campaign(with_meeting(link=ZOOM)), db, clock)
    person, other = Chat(engine, "p1"), Chat(engine, "p2")
    await sign_up(person)
    await person.command("mine")
    await person.press("Add to calendar")
    attachment = person.replies[-1].attachment
    assert attachment is not None and attachment.filename == "info.ics"
    assert ZOOM.encode() in attachment.data

    await other.command("start")
    await other.press_button(Button(label="x", payload="g:ics:info"))  # not registered
    assert all(r.attachment is None for r in other.replies)
    assert "You are not registered for any meeting." in other.text


async def test_the_meetings_list_says_which_meeting_one_has_a_place_at(chat: Chat) -> None:
    await sign_up(chat)
    await chat.command("meetings")

    info, _youth, others = chat.text.split("\n\n")[1:4]
    assert "Information meeting" in info and "\u2713 You have a place." in info
    assert "You have a place." not in others
    assert "Sign up: Information meeting" not in chat.labels
    assert "Sign up: Input meeting for others" in chat.labels


async def test_a_name_of_emoji_only_is_refused_with_a_reason(engine: Engine, db: Database) -> None:
    chat = Chat(engine, "e1", profile_name="😀😀")
    await chat.command("start", "signup-info")
    assert not any("😀" in label for label in chat.labels)  # not offered as the name

    await chat.send("😀😀")

    assert "A name needs letters: please type the name we should register." in chat.text
    assert "What name should we register?" in chat.text
    await chat.send("Åse 😀")  # letters, of any script, with an emoji: a name
    assert "Which of these describes you best?" in chat.text


async def sign_up_or_wait(chat: Chat) -> None:
    """Sign up for the information meeting, taking the waiting list if it is full."""
    await chat.command("start", "signup-info")
    if "Yes, put me on the waiting list" in chat.labels:
        await chat.press("Yes, put me on the waiting list")
    await chat.send(f"Person {chat.ref.user_id}")
    await chat.press("Library employee")
    await chat.send("Asker bibliotek")
    await chat.send("bær")
    await chat.press("Bærum")
    await chat.press(chat.labels[0])  # confirm (a place, or the waiting list)


async def test_places_hold_when_people_sign_up_and_cancel_at_once_in_three_processes(
    make_campaign: Callable[..., Campaign], db_url: str, clock: FixedClock
) -> None:
    """Three engines on their own connections (three workers on PostgreSQL; on SQLite, one
    process's three engines on its one file) take 24 sign-ups for a meeting of 5 places at
    the same moment: 5 confirmed, 19 waiting in one order; then 3 confirmed people cancel at
    once, and exactly the first 3 waiting move up."""
    import asyncio

    from storage.open import is_postgres_url, open_database

    campaign = make_campaign(with_meeting(capacity=5))
    workers = [await open_database(db_url)]
    if is_postgres_url(db_url):
        workers += [await open_database(db_url) for _ in range(2)]
    try:
        engines = [Engine(campaign, workers[i % len(workers)], clock) for i in range(3)]
        people = [Chat(engines[i % 3], f"p{i}") for i in range(24)]
        await asyncio.gather(*(sign_up_or_wait(p) for p in people))
        rows = await workers[0].read(
            lambda tx: registrations_for_meeting(tx, "viken-2021", "info")
        )
        confirmed = [r for r in rows if r.status == "confirmed"]
        waiting = sorted((r for r in rows if r.status == "waiting"), key=lambda r: r.queue_seq)
        assert (len(confirmed), len(waiting)) == (5, 19)
        assert len({r.queue_seq for r in waiting}) == 19  # one order, no ties

        users = await workers[0].read(
            lambda tx: tx.fetchall("SELECT id, user_id FROM participants", ())
        )
        user_of = {row[0]: row[1] for row in users}
        holders = {user_of[r.participant_id] for r in confirmed}
        cancelling = [p for p in people if p.ref.user_id in holders][:3]

        async def cancel(chat: Chat) -> None:
            await chat.command("mine")
            await chat.press("Cancel")
            await chat.press(chat.labels[0])  # yes, cancel

        await asyncio.gather(*(cancel(p) for p in cancelling))
        after = await workers[0].read(
            lambda tx: registrations_for_meeting(tx, "viken-2021", "info")
        )
        now_confirmed = {r.participant_id for r in after if r.status == "confirmed"}
        assert len(now_confirmed) == 5
        assert {r.participant_id for r in waiting[:3]} <= now_confirmed
        assert sum(r.status == "waiting" for r in after) == 16
    finally:
        for db in workers:
            await db.close()
