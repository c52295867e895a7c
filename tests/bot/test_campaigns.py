"""Several campaigns in one bot (issue 17): the shipped Viken 2021 set, a shared information
meeting, two surveys in parallel, staff per campaign, /mydata and /delete across campaigns.
Run on SQLite and PostgreSQL (tests/bot/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.campaign import load_campaign, parse_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.errors import CampaignError
from bot.messages import Outgoing
from bot.registry import Campaigns, load_campaigns, resolve, shipped_campaign_files
from storage.outbox import outbox_for
from storage.participants import find_participant
from storage.protocols import Database
from storage.registrations import registrations_for_meeting
from storage.responses import load_response
from storage.staff import grant_staff
from tests.auxil.chat import Chat
from tests.conftest import oslo

LIBRARY, CULTURE, VOLUNTEERING = "viken-2021", "culture", "volunteering"


def shipped_set(
    edit: Callable[[str, dict[str, Any]], None] | None = None,
) -> Campaigns:
    """The shipped Viken 2021 set, each file's data edited by ``edit(campaign id, data)``."""
    loaded = []
    for path in shipped_campaign_files():
        campaign = load_campaign(path)
        if edit is not None:
            data = json.loads(campaign.model_dump_json(exclude_defaults=True))
            edit(campaign.id, data)
            campaign = parse_campaign(data, str(path))
        loaded.append((path, campaign))
    return resolve(loaded)


@pytest.fixture
def campaigns() -> Campaigns:
    return shipped_set()


@pytest.fixture
def engine(campaigns: Campaigns, db: Database, clock: FixedClock) -> Engine:
    """The engine on the three shipped campaigns."""
    return Engine(campaigns, db, clock)


def capacity_one(campaign_id: str, data: dict[str, Any]) -> None:
    if campaign_id == LIBRARY:
        data["meetings"][0]["capacity"] = 1


async def sign_up_for_info(chat: Chat) -> None:
    """Sign up for the information meeting from the campaign the person is in."""
    await chat.press("Meetings and sign-up")
    await chat.press("Sign up: Information meeting")
    if "waiting list" in chat.text and chat.labels and "Yes" in chat.labels[0]:
        await chat.press(chat.labels[0])
    await chat.send(f"Person {chat.ref.user_id}")
    await chat.press("Resident")
    await chat.send("Moss")
    await chat.press("Confirm sign-up")


# -- the set and its references ------------------------------------------------------------


def test_the_shipped_set_is_three_campaigns_sharing_the_information_meeting() -> None:
    campaigns = load_campaigns()
    assert [c.id for c in campaigns] == [LIBRARY, CULTURE, VOLUNTEERING]
    assert campaigns.default_id == LIBRARY
    for other in (CULTURE, VOLUNTEERING):
        campaign = campaigns.of(other)
        assert campaign.meeting("info") is not None
        assert campaign.meeting_key("info") == (LIBRARY, "info")
        assert 3 <= len(campaign.survey.questions) <= 5  # type: ignore[union-attr]
        # One organiser, one notice: the library campaign's.
        assert campaign.privacy == campaigns.default.privacy
        assert set(campaign.campaign.languages) == set(campaigns.default.campaign.languages)


def test_a_broken_shared_meeting_names_both_files(tmp_path: Path) -> None:
    paths = copy_of_the_set(tmp_path)
    culture = tmp_path / "viken-2021-culture.toml"
    culture.write_text(
        culture.read_text(encoding="utf-8").replace('meeting = "info"', 'meeting = "infoo"'),
        encoding="utf-8",
    )
    with pytest.raises(CampaignError) as caught:
        load_campaigns(paths)
    message = str(caught.value)
    assert "viken-2021-culture.toml" in message and "viken-2021.toml" in message
    assert "infoo" in message


def test_one_campaign_file_is_served_alone_as_before() -> None:
    alone = load_campaigns([shipped_campaign_files()[-1].parent / "viken-2021.toml"])
    assert len(alone) == 1 and not alone.several and not alone.default.several


# -- the shared information meeting ----------------------------------------------------------


async def test_signing_up_through_one_campaign_shows_registered_in_the_others(
    engine: Engine, db: Database
) -> None:
    person = Chat(engine, "kari")
    await person.command("start", "consultation-culture")
    assert "Consultation: Viken's strategy for art and culture" in person.text
    await sign_up_for_info(person)
    assert "You are signed up" in person.text

    for campaign in (LIBRARY, VOLUNTEERING):
        await person.command("start", f"consultation-{campaign}")
        await person.press("Meetings and sign-up")
        assert "You have a place." in person.text
        assert "Sign up: Information meeting" not in person.labels
    await person.command("start", "signup-info")
    assert "You are already registered" in person.text

    rows = await db.transact(lambda tx: registrations_for_meeting(tx, LIBRARY, "info"))
    assert [r.status for r in rows] == ["confirmed"]
    for other in (CULTURE, VOLUNTEERING):
        theirs = await db.transact(lambda tx, c=other: registrations_for_meeting(tx, c, "info"))
        assert theirs == []


async def test_the_shared_meeting_has_one_capacity_and_a_cancellation_moves_one_up_once(
    db: Database, clock: FixedClock
) -> None:
    engine = Engine(shipped_set(capacity_one), db, clock)
    first, second, third = Chat(engine, "first"), Chat(engine, "second"), Chat(engine, "third")
    await first.command("start", "consultation-culture")
    await sign_up_for_info(first)
    await second.command("start", "consultation-volunteering")
    await sign_up_for_info(second)
    assert "waiting list" in second.text
    await third.command("start")  # the library strategy
    await sign_up_for_info(third)
    rows = await db.transact(lambda tx: registrations_for_meeting(tx, LIBRARY, "info"))
    assert [(r.details.name, r.status) for r in rows] == [
        ("Person first", "confirmed"),
        ("Person second", "waiting"),
        ("Person third", "waiting"),
    ]

    # The first cancels from the library campaign, where they never signed up.
    await first.command("start", f"consultation-{LIBRARY}")
    await first.press("My registrations")
    await first.press("Cancel: Information meeting")
    await first.press(first.labels[0])  # yes, cancel
    assert "is cancelled" in first.text
    rows = await db.transact(lambda tx: registrations_for_meeting(tx, LIBRARY, "info"))
    assert [(r.details.name, r.status) for r in rows] == [
        ("Person first", "cancelled"),
        ("Person second", "confirmed"),
        ("Person third", "waiting"),
    ]

    async def told(user: str) -> int:
        async def job(tx):  # type: ignore[no-untyped-def]
            p = await find_participant(tx, "test", "", user)
            return [m for m in await outbox_for(tx, p.id) if m.kind == "waitlist_promoted"]

        return len(await db.transact(job))

    assert await told("second") == 1 and await told("third") == 0


# -- two surveys in parallel -----------------------------------------------------------------


async def test_two_surveys_interleaved_each_resumed_and_sent(engine: Engine, db: Database) -> None:
    person = Chat(engine, "ola")
    await person.command("start", "survey-culture")
    assert "art and culture" in person.text
    await person.press("Resident")  # culture: who
    assert "Choose up to three" in person.text

    await person.command("start", "survey-volunteering")
    await person.press("Volunteer")  # volunteering: who
    assert "voluntary work" in person.text

    # Back to culture: it resumes at its own second question.
    await person.command("start", "survey-culture")
    assert "Choose up to three" in person.text
    await person.press("Children and young people")
    await person.press("Done")
    await person.press("4")
    await person.send("More concerts in small places")
    await person.press("Send my answers")
    assert "Thank you" in person.text

    # Volunteering resumes at its second question, too.
    await person.command("start", "survey-volunteering")
    assert "voluntary work" in person.text
    await person.press("Yes")
    await person.press("Little time")
    await person.press("Done")
    await person.send("Free rooms")
    await person.press("Send my answers")
    assert "Thank you" in person.text

    async def answers(campaign: str) -> dict[str, Any]:
        async def job(tx):  # type: ignore[no-untyped-def]
            p = await find_participant(tx, "test", "", "ola")
            response = await load_response(tx, p.id, campaign, "survey")
            return response.status, {q: a.decoded for q, a in response.answers.items()}

        return await db.transact(job)

    assert await answers(CULTURE) == (
        "submitted",
        {
            "category": "resident",
            "priorities": ["children"],
            "importance": 4,
            "idea": "More concerts in small places",
        },
    )
    assert await answers(VOLUNTEERING) == (
        "submitted",
        {"category": "volunteer", "volunteers": "yes", "barriers": ["time"], "idea": "Free rooms"},
    )
    # The library survey was never started.
    found = await db.transact(
        lambda tx: tx.fetchone("SELECT COUNT(*) FROM responses WHERE campaign = ?", (LIBRARY,))
    )
    assert found[0] == 0


async def test_deadlines_are_per_campaign(db: Database, clock: FixedClock) -> None:
    def culture_closes_early(campaign_id: str, data: dict[str, Any]) -> None:
        if campaign_id == CULTURE:
            data["survey"]["deadline"] = "2021-05-20T12:00:00"

    engine = Engine(shipped_set(culture_closes_early), db, clock)
    person = Chat(engine, "late")
    await person.command("start", "survey-culture")
    assert "closed" in person.text
    await person.command("start", "survey-volunteering")
    assert "Who are you answering as?" in person.text
    await person.command("consultations")
    assert "Viken's strategy for volunteering\n- Survey: answer by" in person.text
    assert "Viken's strategy for art and culture\n- Survey" not in person.text


# -- staff per campaign ----------------------------------------------------------------------


async def test_staff_of_one_campaign_cannot_broadcast_to_or_export_another(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    await db.transact(lambda tx: grant_staff(tx, "test", "", "curator", CULTURE, clock.now()))
    curator = Chat(engine, "curator")
    await curator.command("start", "consultation-culture")
    await curator.command("staff")
    assert "New broadcast" in curator.labels
    await curator.press("New broadcast")
    assert "Everyone, in every consultation" not in curator.labels  # not staff of all

    await curator.command("start", f"consultation-{LIBRARY}")
    await curator.command("staff")
    assert "only for the consultation's staff" in curator.text
    await curator.command("results")
    assert "only for the consultation's staff" in curator.text
    await curator.command("report")
    assert "only for the consultation's staff" in curator.text

    # Staff of every campaign may reach everyone in any campaign.
    await db.transact(lambda tx: grant_staff(tx, "test", "", "head", "", clock.now()))
    head = Chat(engine, "head")
    await head.command("staff")
    await head.press("New broadcast")
    assert "Everyone, in every consultation" in head.labels


async def test_exports_are_per_campaign_with_the_shared_meeting_in_each(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    from bot.results import read_results

    person = Chat(engine, "ida")
    await person.command("start", "consultation-volunteering")
    await sign_up_for_info(person)
    await person.command("start", "survey-volunteering")
    await person.press("Organisation or association")

    for campaign in engine.campaigns:
        recorded = await db.transact(lambda tx, c=campaign: read_results(tx, c))
        assert [r.meeting_id for r in recorded.registrations] == ["info"]
        expected = 1 if campaign.id == VOLUNTEERING else 0
        assert len(recorded.responses) == expected, campaign.id


# -- the person's data across campaigns ------------------------------------------------------


async def test_mydata_shows_everything_across_campaigns(engine: Engine) -> None:
    person = Chat(engine, "eva")
    await person.command("start", "consultation-culture")
    await sign_up_for_info(person)
    await person.command("start", "survey-volunteering")
    await person.press("Young person (under 26)")
    await person.command("start", f"consultation-{LIBRARY}")
    await person.command("mydata")
    attachment = next(r.attachment for r in person.replies if r.attachment is not None)
    data = json.loads(attachment.data)
    assert [r["meeting"] for r in data["registrations"]] == [
        "Information meeting on the three strategies"
    ]
    assert data["survey"] is None  # the library survey: not started
    other = data["other_consultations"]
    assert [o["consultation"] for o in other] == ["Viken's strategy for volunteering"]
    assert other[0]["answers"][0]["answer"] == "Young person (under 26)"


async def test_one_notice_for_campaigns_of_one_organiser(engine: Engine) -> None:
    person = Chat(engine, "nils", accept_privacy=False)
    await person.command("start", "survey-culture")
    assert any(b.payload.endswith(":ok") for r in person.replies for row in r.buttons for b in row)
    await person.press(person.labels[0])  # accept
    assert "Who are you answering as?" in person.text
    await person.command("start", "survey-volunteering")
    assert "Who are you answering as?" in person.text  # no second notice


async def test_delete_erases_the_person_in_every_campaign(engine: Engine, db: Database) -> None:
    person = Chat(engine, "gone")
    await person.command("start", "consultation-culture")
    await sign_up_for_info(person)
    await person.command("start", "survey-culture")
    await person.press("Artist or cultural worker")
    await person.command("start", "survey-volunteering")
    await person.press("Volunteer")
    await person.press("No")
    await person.press("Done")
    await person.send("A secret idea 4711")
    await person.command("delete")
    await person.press("Yes, delete my data")
    assert "Everything we kept about you is deleted" in person.text

    assert await db.transact(lambda tx: find_participant(tx, "test", "", "gone")) is None
    rows = await db.transact(
        lambda tx: tx.fetchall("SELECT campaign, participant_id FROM responses ORDER BY campaign")
    )
    assert [(r[0], r[1]) for r in rows] == [(CULTURE, None), (VOLUNTEERING, None)]
    idea = await db.transact(
        lambda tx: tx.fetchone("SELECT COUNT(*) FROM answers WHERE value LIKE '%4711%'")
    )
    assert idea[0] == 0
    registrations = await db.transact(lambda tx: tx.fetchone("SELECT COUNT(*) FROM registrations"))
    assert registrations[0] == 0


# -- a reload leaves the others alone --------------------------------------------------------


async def test_a_reload_of_one_file_leaves_the_others_and_the_data(
    tmp_path: Path, db: Database, clock: FixedClock
) -> None:
    engine = Engine(load_campaigns(copy_of_the_set(tmp_path)), db, clock)
    person = Chat(engine, "stays")
    await person.command("start", "survey-culture")
    await person.press("Resident")
    volunteering = engine.campaigns.of(VOLUNTEERING)

    culture = tmp_path / "viken-2021-culture.toml"
    culture.write_text(
        culture.read_text(encoding="utf-8").replace(
            "deadline = 2021-06-14T12:00:00", "deadline = 2021-06-20T12:00:00"
        ),
        encoding="utf-8",
    )
    engine.reload_file()
    assert engine.campaigns.of(VOLUNTEERING) == volunteering
    assert engine.campaigns.of(CULTURE).survey.deadline.day == 20  # type: ignore[union-attr]
    await person.command("start", "survey-culture")
    assert "Choose up to three" in person.text  # the answer and the place are kept


async def test_delete_leaves_no_trace_in_the_database_file_or_its_wal(
    campaigns: Campaigns, db: Database, db_path: Path, clock: FixedClock
) -> None:
    from tests.bot.test_privacy import everything_in, raw_bytes

    engine = Engine(campaigns, db, clock)
    person = Chat(engine, "trace-user-93")
    await person.command("start", "consultation-volunteering")
    await person.press("Meetings and sign-up")
    await person.press("Sign up: Information meeting")
    await person.send("Trace Name Qx")
    await person.press("Resident")
    await person.send("Moss")
    await person.press("Confirm sign-up")
    await person.command("start", "survey-culture")
    await person.press("Resident")
    await person.press("Diversity and inclusion")
    await person.press("Done")
    await person.press("5")
    await person.send("Trace idea Zy in culture")
    await person.command("start", "survey-volunteering")
    await person.press("Volunteer")
    await person.press("Yes")
    await person.press("Done")
    await person.send("Trace idea Wv in volunteering")

    await person.command("delete")
    await person.press("Yes, delete my data")

    traces = ("trace-user-93", "Trace Name Qx", "Trace idea Zy", "Trace idea Wv")
    everything = everything_in(db_path)
    assert [t for t in traces if t in everything] == []
    raw = raw_bytes(db_path)
    assert [t for t in traces if t.encode() in raw] == []


async def test_one_reminder_for_the_shared_meeting_and_its_cancel_works_from_anywhere(
    engine: Engine, db: Database
) -> None:
    from bot.broadcast import queue_due_reminders

    person = Chat(engine, "remind-me")
    await person.command("start", "consultation-culture")
    await sign_up_for_info(person)

    day_before = oslo(2021, 5, 31, 14, 30)  # 23.5 hours before the meeting
    queued = 0
    for campaign in engine.campaigns:  # as run's reminder loop does, every campaign
        queued += await queue_due_reminders(db, campaign, day_before)
    for campaign in engine.campaigns:  # the next tick adds nobody twice
        queued += await queue_due_reminders(db, campaign, day_before)
    assert queued == 1

    async def reminders():  # type: ignore[no-untyped-def]
        async def job(tx):  # type: ignore[no-untyped-def]
            p = await find_participant(tx, "test", "", "remind-me")
            return [m for m in await outbox_for(tx, p.id) if m.kind == "reminder"]

        return await db.transact(job)

    (row,) = await reminders()
    message = Outgoing.model_validate_json(row.message)
    assert "Reminder: Information meeting on the three strategies" in message.text
    cancel = message.buttons[0][0]
    assert cancel.payload == "g:cx:viken-2021/info"

    await person.command("start", "consultation-volunteering")
    await person.press_button(cancel)  # pressed in the chat later, wherever they are
    await person.press(person.labels[0])  # yes, cancel
    assert "is cancelled" in person.text
    rows = await db.transact(lambda tx: registrations_for_meeting(tx, LIBRARY, "info"))
    assert [r.status for r in rows] == ["cancelled"]


# -- the command line ------------------------------------------------------------------------


def test_check_campaign_checks_the_set_and_a_file_alone_naming_what_it_lacks(
    tmp_path: Path,
) -> None:
    from tests.bot.test_campaign import run_cli

    result = run_cli("check-campaign")
    assert result.returncode == 0, result.stderr
    assert "viken-2021-culture.toml: ok (0 meetings, 1 shared, 4 questions" in result.stdout
    assert "together: ok (3 campaigns, default 'viken-2021'" in result.stdout

    alone = run_cli("check-campaign", str(shipped_campaign_files()[1]))
    assert alone.returncode == 1
    assert "no campaign 'viken-2021' is loaded" in alone.stderr


def test_staff_per_campaign_and_exports_per_campaign_from_the_command_line(
    command: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert command("staff", "add", "telegram:555", "--consultation", CULTURE) == 0
    assert command("staff", "add", "telegram:777") == 0
    assert command("staff", "list") == 0
    listed = capsys.readouterr().out
    assert "telegram:555 (culture)" in listed
    assert "telegram:777\n" in listed  # every campaign
    assert command("staff", "add", "telegram:555", "--consultation", "nonesuch") == 2

    for campaign in (LIBRARY, VOLUNTEERING):
        assert (
            command("export", "--format", "csv", "--language", "en", "--consultation", campaign)
            == 0
        )
    out = capsys.readouterr().out
    assert f"results-{LIBRARY}-csv/" in out and f"results-{VOLUNTEERING}-csv/" in out
    volunteering = "".join(
        p.read_text("utf-8-sig") for p in (tmp_path / f"results-{VOLUNTEERING}-csv").glob("*.csv")
    )
    assert "Barriers: Little time" in volunteering and "Volunteers today" in volunteering
    assert "Library use" not in volunteering


def copy_of_the_set(folder: Path) -> list[Path]:
    """The shipped set and its translations, copied to ``folder`` (to be edited)."""
    paths = []
    for path in shipped_campaign_files():
        for file in path.parent.glob(f"{path.stem}*.toml"):
            (folder / file.name).write_bytes(file.read_bytes())
        paths.append(folder / path.name)
    return paths


async def test_the_reload_command_compares_each_campaign_and_the_shared_meeting_once(
    db: Database, db_path: Path, clock: FixedClock, tmp_path: Path
) -> None:
    import asyncio

    from bot import service
    from tests.bot.test_staff import cli, edit

    paths = copy_of_the_set(tmp_path)
    engine = Engine(load_campaigns(paths), db, clock)
    await service.save_campaign_in_use(engine, clock)  # as run does when it starts
    person = Chat(engine, "via-culture")
    await person.command("start", "consultation-culture")
    await sign_up_for_info(person)
    edit(
        tmp_path / "viken-2021.toml",
        "start = 14:00:00\nend = 15:00:00",
        "start = 16:00:00\nend = 17:00:00",
    )

    where = ["--database", str(db_path), "--now", "2021-05-25T10:00"]
    for path in paths:
        where += ["--campaign", str(path)]
    shown = await asyncio.to_thread(cli, "reload", *where)
    assert shown.returncode == 0, shown.stderr
    assert "viken-2021: info: changed time; 1 registered" in shown.stdout
    assert "culture: no meeting's date, time, place or link changed" in shown.stdout
    assert "volunteering: no meeting's date, time, place or link changed" in shown.stdout
    assert "reload --notify --consultation viken-2021" in shown.stdout


def culture_with_its_own_notice(campaign_id: str, data: dict[str, Any]) -> None:
    """The art and culture campaign asks for a notice of its own, kept until 2022's end."""
    if campaign_id == CULTURE:
        data["privacy"] = {
            "version": "culture-1",
            "notice": {"nb": "Kunst og kultur: egen personvernerklæring.", "en": "Own notice."},
            "retention_until": "2022-12-31",
        }


async def test_a_campaign_may_require_its_own_notice(db: Database, clock: FixedClock) -> None:
    engine = Engine(shipped_set(culture_with_its_own_notice), db, clock)
    person = Chat(engine, "careful", accept_privacy=False)

    def notice_shown() -> bool:
        return any(
            b.payload.endswith(":ok") for r in person.replies for row in r.buttons for b in row
        )

    await person.command("start", "survey-volunteering")
    assert notice_shown()  # the county's notice
    await person.press(person.labels[0])
    await person.command("start", "survey-culture")
    assert notice_shown() and "Own notice." in person.text  # its own
    await person.press(person.labels[0])
    assert "Who are you answering as?" in person.text
    for campaign in (VOLUNTEERING, LIBRARY, CULTURE):  # both stay accepted
        await person.command("start", f"survey-{campaign}")
        assert not notice_shown(), campaign


async def test_everyone_is_erased_once_the_last_retention_date_has_passed(
    db: Database, clock: FixedClock
) -> None:
    from bot.privacy import purge, purge_governed_by

    campaigns = shipped_set(culture_with_its_own_notice)
    engine = Engine(campaigns, db, clock)
    person = Chat(engine, "kept")
    await person.command("start", "survey-culture")
    await person.press("Resident")

    governing = purge_governed_by(campaigns)
    assert governing is not None and governing.id == CULTURE
    after_library = oslo(2022, 7, 1, 12, 0)  # the library's date (30 June 2022) has passed
    erased = await db.transact(lambda tx: purge(tx, governing, after_library, also=campaigns))
    assert erased == 0
    after_all = oslo(2023, 1, 1, 12, 0)
    erased = await db.transact(lambda tx: purge(tx, governing, after_all, also=campaigns))
    assert erased == 1
    assert await db.transact(lambda tx: find_participant(tx, "test", "", "kept")) is None


def test_replacing_one_campaign_resolves_the_set_again() -> None:
    from datetime import datetime

    campaigns = load_campaigns()
    parsed = campaigns.parsed[CULTURE]
    assert parsed.survey is not None and parsed.meeting("info") is None  # as its file says
    later = parsed.survey.model_copy(update={"deadline": datetime(2021, 6, 20, 12, 0)})
    again = campaigns.replaced(parsed.model_copy(update={"survey": later}))
    culture = again.of(CULTURE)
    assert culture.survey is not None and culture.survey.deadline.day == 20
    assert culture.meeting_key("info") == (LIBRARY, "info") and culture.several
    assert again.default_id == LIBRARY and again.of(VOLUNTEERING) == campaigns.of(VOLUNTEERING)
