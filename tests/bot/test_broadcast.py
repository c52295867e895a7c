"""Broadcasts and reminders: the right people, once each, at the right time, at the rate."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.broadcast import Segment, due_reminders, plan, queue_due_reminders, send
from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.messages import Outgoing, ParticipantRef
from bot.outbox import DeliveryResult, OutboxDispatcher
from storage.database import Database
from storage.open import open_database
from storage.outbox import batch_progress
from tests.auxil.chat import Chat
from tests.bot.conftest import WALL
from tests.bot.test_database_clock import sign_up_someone
from tests.bot.test_signup import sign_up
from tests.conftest import oslo


class Recipients:
    """A platform's send function that remembers who got what."""

    def __init__(self, fail_for: set[str] = frozenset(), delay: float = 0.0) -> None:
        self.got: list[tuple[str, str]] = []
        self.fail_for = fail_for
        self.delay = delay

    async def __call__(self, ref: ParticipantRef, message: Outgoing) -> DeliveryResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        if ref.user_id in self.fail_for:
            return DeliveryResult.UNREACHABLE
        self.got.append((ref.user_id, message.text))
        return DeliveryResult.SENT


async def people(engine: Engine) -> None:
    """a (nb) and b (en) registered for the info meeting; c started the survey; d did nothing."""
    for user, lang in (("a", "nb"), ("b", "en")):
        chat = Chat(engine, user, language=lang)
        await sign_up(chat) if lang == "en" else await _sign_up_nb(chat)
    c = Chat(engine, "c")
    await c.command("survey")
    await c.press("Resident")
    await Chat(engine, "d").command("start")


async def _sign_up_nb(chat: Chat) -> None:
    await chat.command("start", "signup-info")
    await chat.send("Anne")
    await chat.press("Innbygger")
    await chat.send("Moss")
    await chat.press("Bekreft påmeldingen")


MESSAGES = {"nb": "Zoom-lenken er klar", "en": "The Zoom link is ready"}


async def test_broadcast_reaches_exactly_the_segment_in_each_language(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    await people(engine)
    segment = Segment.parse("registrants:info", engine.campaign)
    preview = await plan(db, engine.campaign, segment, MESSAGES)
    assert preview.recipients == 2 and preview.by_language == {"nb": 1, "en": 1}

    assert await send(db, engine.campaign, segment, MESSAGES, "broadcast:zoom", clock.now()) == 2
    assert await send(db, engine.campaign, segment, MESSAGES, "broadcast:zoom", clock.now()) == 2

    recipients = Recipients()
    await OutboxDispatcher(db, "test", recipients, clock, rate=1000).run_once()
    assert sorted(recipients.got) == [
        ("a", "Zoom-lenken er klar"),
        ("b", "The Zoom link is ready"),
    ]
    assert await db.transact(lambda tx: batch_progress(tx, "broadcast:zoom")) == {"sent": 2}


async def test_other_segments_and_filters(engine: Engine, db: Database) -> None:
    await people(engine)
    campaign = engine.campaign

    async def who(text: str, **filters: str) -> list[str]:
        from bot.broadcast import members

        segment = Segment.parse(text, campaign, **filters)
        found = await db.transact(lambda tx: members(tx, campaign, segment))
        return sorted(m.user_id for m in found)

    assert await who("unfinished") == ["c"]
    assert await who("everyone") == ["a", "b", "c", "d"]
    assert await who("everyone", language="nb") == ["a"]
    assert await who("registrants:info", platform="telegram") == []
    assert await who("waiting:info") == []


async def test_unknown_segment_or_missing_default_text_is_refused(engine: Engine) -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown segment"):
        Segment.parse("friends", engine.campaign)
    with pytest.raises(ValueError, match="needs a meeting id"):
        Segment.parse("registrants:nope", engine.campaign)
    with pytest.raises(ValueError, match="needs a text in 'nb'"):
        await plan(engine.db, engine.campaign, Segment("everyone"), {"en": "hi"})


async def test_reminders_fire_once_respect_quiet_hours_and_survive_a_restart(
    campaign: Campaign, db: Database, db_url, clock: FixedClock
) -> None:
    engine = Engine(campaign, db, clock)
    await people(engine)

    clock.set(oslo(2021, 5, 31, 13, 0))  # 25 h before the information meeting
    assert await queue_due_reminders(db, campaign, clock.now()) == 0
    clock.set(oslo(2021, 5, 31, 14, 30))  # inside the 24 h window
    assert [r.id for r in due_reminders(campaign, clock.now())] == ["info-24h"]
    assert await queue_due_reminders(db, campaign, clock.now()) == 2
    assert await queue_due_reminders(db, campaign, clock.now()) == 0  # once each

    restarted = await open_database(db_url)  # a new process: nothing sent again
    try:
        assert await queue_due_reminders(restarted, campaign, clock.now()) == 0
    finally:
        await restarted.close()

    clock.set(oslo(2021, 6, 12, 23, 0))  # survey reminder window (48 h), but quiet hours
    assert [r.id for r in due_reminders(campaign, clock.now())] == []
    clock.set(oslo(2021, 6, 13, 8, 0))  # morning
    assert [r.id for r in due_reminders(campaign, clock.now())] == ["survey-48h"]
    assert await queue_due_reminders(db, campaign, clock.now()) == 1  # only c, unfinished

    recipients = Recipients()
    await OutboxDispatcher(db, "test", recipients, clock, rate=1000).run_once()
    texts = dict(recipients.got)
    assert texts["a"].startswith("Påminnelse") or "Informasjonsmøte" in texts["a"]
    assert "Reminder: Information meeting on the three strategies" in texts["b"]
    assert "survey closes" in texts["c"]


async def test_a_reminder_waits_for_morning_unless_that_is_too_late(
    campaign: Campaign, clock: FixedClock
) -> None:
    # info-1h: the meeting starts 14:00, so its window opens at 13:00: never quiet.
    clock.set(oslo(2021, 6, 1, 13, 30))
    assert "info-1h" in [r.id for r in due_reminders(campaign, clock.now())]
    # survey-48h in quiet hours the night before the deadline's last morning: waits.
    clock.set(oslo(2021, 6, 12, 22, 0))
    assert "survey-48h" not in [r.id for r in due_reminders(campaign, clock.now())]


async def test_a_dispatcher_killed_mid_broadcast_sends_the_rest_once_and_none_twice(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    for i in range(30):
        await Chat(engine, f"p{i:02d}").command("start")
    segment = Segment("everyone")
    await send(db, engine.campaign, segment, MESSAGES, "broadcast:all", clock.now())

    slow = Recipients(delay=0.05)
    first = OutboxDispatcher(db, "test", slow, clock, rate=1000, concurrency=5, batch=30)
    task = asyncio.create_task(first.run_once())
    await asyncio.sleep(0.12)
    task.cancel()  # the process dies with sends on their way
    await asyncio.gather(task, return_exceptions=True)
    sent_before = Counter(user for user, _t in slow.got)

    fresh = Recipients()
    second = OutboxDispatcher(db, "test", fresh, clock, rate=1000, batch=100)
    in_doubt = await second.recover()
    await second.run_once()

    sent_after = Counter(user for user, _t in fresh.got)
    assert not set(sent_before) & set(sent_after)  # nobody twice
    progress = await db.transact(lambda tx: batch_progress(tx, "broadcast:all"))
    assert progress.get("in_doubt", 0) == in_doubt
    assert progress.get("sent", 0) + in_doubt == 30  # nobody missed: sent or in doubt
    assert in_doubt <= 5  # at most one per sending slot


async def test_the_dispatcher_keeps_to_the_rate_and_marks_blocked_people(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    for i in range(40):
        await Chat(engine, f"q{i:02d}").command("start")
    await send(db, engine.campaign, Segment("everyone"), MESSAGES, "broadcast:rate", clock.now())
    recipients = Recipients(fail_for={"q07"})
    dispatcher = OutboxDispatcher(db, "test", recipients, clock, rate=100, batch=100)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await dispatcher.run_once()
    elapsed = loop.time() - started
    assert elapsed >= 0.35  # 40 sends at 100/s cannot take less than ~0.4 s
    progress = await db.transact(lambda tx: batch_progress(tx, "broadcast:rate"))
    assert progress == {"sent": 39, "unreachable": 1}


def test_the_command_lines_preview_shows_each_languages_text_and_who_gets_which(
    command: Callable[..., int], db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command("staff", "list", "--now", "2021-05-25T10:00")
    sign_up_someone(db_path, FixedClock(WALL))  # an English speaker
    capsys.readouterr()

    shown = command(
        "broadcast",
        "--segment",
        "registrants:info",
        "--message",
        "en=The Zoom link is ready",
        "--message",
        "nb=Zoom-lenken er klar",
        "--message",
        "pl=Link do Zooma jest gotowy",
    )

    out = capsys.readouterr().out
    assert shown == 0
    assert "--- nb: 0 people ---\nZoom-lenken er klar" in out
    assert "--- en: 1 person ---\nThe Zoom link is ready" in out
    assert "--- pl: 0 people ---\nLink do Zooma jest gotowy" in out
    assert out.index("--- nb") < out.index("--- en") < out.index("--- pl")
    assert "nothing sent: run again with --yes to send it" in out


def test_a_broadcast_text_in_a_language_the_campaign_lacks_is_refused(
    command: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    segment = ("--segment", "registrants:info", "--message", "nb=Hei")
    assert command("broadcast", *segment, "--message", "de=Hallo", "--yes") == 2
    assert "--message de: not one of the campaign's languages" in capsys.readouterr().err
