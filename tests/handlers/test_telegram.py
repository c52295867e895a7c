"""Telegram through the real python-telegram-bot stack against a fake Bot API server."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.campaign import load_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.messages import Outgoing
from bot.outbox import OutboxDispatcher
from handlers.telegram import TelegramHandler, split_text, webhook_secret
from storage.database import Database
from storage.participants import find_participant
from tests.bot.test_survey import stored_answers
from tests.fakes.telegram import FakeTelegram
from tests.handlers.conftest import TelegramUser, telegram_handler


async def test_start_shows_welcome_and_menu_as_inline_buttons(kari: TelegramUser) -> None:
    await kari.say("/start")
    assert "Hello!" in kari.text
    assert kari.labels[:2] == ["About the consultation", "Meetings and sign-up"]


async def test_command_menu_is_set_in_each_language(
    kari: TelegramUser, fake_telegram: FakeTelegram
) -> None:
    assert set(fake_telegram.commands) == {"", "nb", "en"}
    english = {c["command"]: c["description"] for c in fake_telegram.commands["en"]}
    norwegian = {c["command"]: c["description"] for c in fake_telegram.commands["nb"]}
    assert english["survey"] == "The survey" and norwegian["survey"] != "The survey"
    assert fake_telegram.commands[""] == fake_telegram.commands["nb"]


async def test_full_sign_up_from_start(
    kari: TelegramUser, fake_telegram: FakeTelegram, db: Database
) -> None:
    await kari.say("/start")
    await kari.press("Meetings and sign-up")
    await kari.press("Sign up: Information meeting")
    assert "What name should we register?" in kari.text
    await kari.press("Use \u201cKari Nordmann\u201d")
    role_question = fake_telegram.last_with_buttons(kari.id)
    await kari.press("Library employee")
    await kari.say("Asker bibliotek")
    await kari.say("sarps")
    await kari.press("Sarpsborg")
    assert "Name: Kari Nordmann" in kari.text
    await kari.press("Confirm sign-up")

    assert "You are signed up! Welcome." in kari.text
    # The role question became the next question (one call), keeping the choice on top.
    answered = fake_telegram.message(kari.id, role_question.message_id)
    assert answered.buttons == [] and answered.text.startswith("\u2714 Library employee\n\n")
    assert len(fake_telegram.callback_answers) == 7  # six presses and the privacy notice


async def test_deep_link_goes_straight_to_sign_up(kari: TelegramUser) -> None:
    await kari.say("/start signup-youth")
    assert "Signing up for: Input meeting for young people" in kari.text


async def test_full_survey_with_ticks_edited_in_place(
    kari: TelegramUser, fake_telegram: FakeTelegram, db: Database
) -> None:
    await kari.say("/start survey")
    assert "Question 1 of 12" in kari.text
    await kari.press("Young person (under 26)")
    municipality_question = fake_telegram.last_with_buttons(kari.id)
    await kari.say("Asker")
    # A typed answer leaves no live buttons on the question it answered.
    assert fake_telegram.message(kari.id, municipality_question.message_id).buttons == []
    await kari.press("16–19")
    await kari.press("Every week")
    multi = fake_telegram.last_with_buttons(kari.id)
    await kari.press("Borrow books")
    await kari.press("E-books and audiobooks")
    await kari.press("Borrow books")  # untick
    ticked = fake_telegram.message(kari.id, multi.message_id)
    assert "\u2705 E-books and audiobooks" in ticked.labels
    assert "Borrow books" in ticked.labels
    assert fake_telegram.last(kari.id).message_id == multi.message_id  # no new message
    await kari.press("Done")
    # The question became the next one (one call): the choice stays shown on top, and the
    # answered question's buttons are gone.
    closed = fake_telegram.message(kari.id, multi.message_id)
    assert closed.text.startswith("\u2714 E-books and audiobooks\n\nQuestion 6 of 12")
    assert "Borrow books" not in closed.labels
    await kari.press("Getting people reading")
    await kari.press("Done")
    await kari.press("3")
    await kari.press("4 Quality education")
    await kari.press("Done")
    await kari.say("Comics and gaming")
    await kari.press("Skip")
    await kari.press("Yes")
    await kari.press("No, thanks")
    assert "Please check your answers" in kari.text
    await kari.press("Send my answers")
    assert "Thank you for your answers!" in kari.text

    answers = await stored_answers(db, "1001", "telegram")
    assert answers["use_for"] == ["ebooks"]
    assert answers["youth_offer"] == "Comics and gaming"
    assert answers["ideas"] is None


async def test_stale_button_gets_moved_on(kari: TelegramUser, fake_telegram: FakeTelegram) -> None:
    await kari.say("/survey")
    first_question = fake_telegram.last_with_buttons(kari.id)
    snapshot = first_question.as_api()
    await kari.press("Resident")
    old = type(first_question)(**{**first_question.__dict__})
    old.reply_markup = snapshot["reply_markup"]
    await kari.press("Library employee", message=old)
    assert "things have moved on" in kari.text
    assert "Which municipality" in kari.text
    stale = fake_telegram.message(kari.id, first_question.message_id)
    assert "Library employee" not in stale.text  # the refused press is not shown as chosen


async def test_sticker_where_text_was_wanted_gets_a_hint(kari: TelegramUser) -> None:
    await kari.say("/start signup-info")
    await kari.sticker()
    assert "stickers" in kari.text
    assert "What name should we register?" in kari.text


async def test_photo_gets_the_same_hint(kari: TelegramUser, fake_telegram: FakeTelegram) -> None:
    await kari.say("/survey")
    await fake_telegram.settle(fake_telegram.send_photo(kari.id), kari.id)
    assert "pictures" in kari.text and "Who are you answering as?" in kari.text


async def test_a_typed_answer_is_stored_without_direction_overrides(
    kari: TelegramUser, db: Database
) -> None:
    await kari.say("/survey")
    await kari.press("Resident")
    await kari.say("\u2066Moss\u2069")  # invisible marks around the name
    assert "Question 3 of" in kari.text
    answers = await stored_answers(db, str(kari.id), "telegram")
    assert answers["municipality"] == "Moss"


def test_a_location_and_a_contact_are_told_apart_from_other_things() -> None:
    from telegram import Update

    from bot.messages import Shared
    from handlers.telegram import to_incoming

    def shared(content: dict[str, object]) -> object:
        message = {
            "message_id": 5,
            "date": 0,
            "chat": {"id": 7, "type": "private"},
            "from": {"id": 7, "is_bot": False, "first_name": "Ola"},
            **content,
        }
        incoming = to_incoming(Update.de_json({"update_id": 1, "message": message}, None))
        assert incoming is not None
        return incoming.shared

    assert shared({"location": {"latitude": 59.9, "longitude": 10.7}}) is Shared.LOCATION
    assert shared({"contact": {"phone_number": "+47123", "first_name": "Ola"}}) is Shared.CONTACT
    assert shared({"sticker": STICKER}) is None


STICKER = {
    "file_id": "s",
    "file_unique_id": "su",
    "type": "regular",
    "width": 1,
    "height": 1,
    "is_animated": False,
    "is_video": False,
}


async def test_a_location_where_text_was_wanted_gets_a_hint_naming_it(
    kari: TelegramUser, fake_telegram: FakeTelegram
) -> None:
    await kari.say("/start signup-info")
    await fake_telegram.settle(fake_telegram.send_location(kari.id), kari.id)
    assert "You sent a location" in kari.text
    assert "What name should we register?" in kari.text


async def test_a_contact_where_text_was_wanted_gets_a_hint_naming_it(
    kari: TelegramUser, fake_telegram: FakeTelegram
) -> None:
    await kari.say("/survey")
    await kari.press("Resident")
    await fake_telegram.settle(fake_telegram.send_contact(kari.id), kari.id)
    assert "You sent a contact" in kari.text
    assert "Which municipality" in kari.text


async def test_long_texts_are_split_under_the_limit(
    telegram: TelegramHandler, fake_telegram: FakeTelegram
) -> None:
    text = ("A line of a long message.\n" * 400).strip()
    assert len(text) > 4096
    await telegram.send_message(555, Outgoing(text=text))
    pieces = fake_telegram.texts(555)
    assert len(pieces) == 3 and all(len(p) <= 4096 for p in pieces)
    assert "".join(p + "\n" for p in pieces).strip() == text
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]


async def test_a_429_is_waited_out_and_the_message_arrives(
    kari: TelegramUser, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.throttle["sendMessage"] = [1]
    started = asyncio.get_running_loop().time()
    fake_telegram.send_text(kari.id, "/start")
    await fake_telegram.wait_for_messages(kari.id, 1)
    assert "Hello!" in kari.text
    assert asyncio.get_running_loop().time() - started >= 1.0
    attempts = [c for c in fake_telegram.calls if c[0] == "sendMessage"]
    assert len(attempts) == 2


async def test_a_reply_that_failed_after_the_commit_goes_out_without_a_restart(
    engine: Engine, fake_telegram: FakeTelegram, db: Database
) -> None:
    # Telegram was told the update is done (the next offset) once it was committed, so it
    # never delivers it again: the reply must be tried again by this process.
    handler = telegram_handler(engine, fake_telegram, retry_interval=0.2)
    await handler.start()
    polling = asyncio.create_task(handler.poll())
    try:
        kari = TelegramUser(fake_telegram, 1001, first_name="Kari")
        fake_telegram.failing["sendMessage"] = 3  # every attempt of the first send
        update_id = fake_telegram.send_text(kari.id, "/start")
        await fake_telegram.settle(update_id, kari.id)
        assert fake_telegram.confirmed_offset > update_id  # confirmed: no redelivery
        await fake_telegram.wait_for_messages(kari.id, 1, timeout=10)
        assert "Hello!" in kari.text
        assert len(fake_telegram.texts(kari.id)) == 1  # once
        marked: list[int] = []
        for _ in range(100):  # marked sent just after the message went out
            rows = await db.transact(
                lambda tx: tx.fetchall("SELECT replies_sent FROM processed_events", ())
            )
            marked = [row[0] for row in rows]
            if marked == [1]:
                break
            await asyncio.sleep(0.05)
        assert marked == [1]
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await handler.stop()


async def test_a_user_who_blocked_the_bot_is_marked_unreachable(
    kari: TelegramUser, fake_telegram: FakeTelegram, db: Database
) -> None:
    fake_telegram.blocked.add(kari.id)
    update_id = fake_telegram.send_text(kari.id, "/start")
    await fake_telegram.settle(update_id, kari.id)
    person = await db.transact(lambda tx: find_participant(tx, "telegram", "", str(kari.id)))
    assert person is not None and person.unreachable


async def test_webhook_rejects_a_wrong_secret_and_accepts_the_right_one(
    engine: Engine, fake_telegram: FakeTelegram, db: Database
) -> None:
    handler = telegram_handler(engine, fake_telegram)
    await handler.start()
    secret = webhook_secret(fake_telegram.token)
    update = {
        "update_id": 77,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 2002, "type": "private"},
            "from": {"id": 2002, "is_bot": False, "first_name": "Ola", "language_code": "en"},
            "text": "/start",
        },
    }
    async with TestClient(TestServer(handler.webhook_app("/tg", secret))) as client:
        wrong = await client.post(
            "/tg", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "nope"}
        )
        assert wrong.status == 401
        assert await db.transact(lambda tx: find_participant(tx, "telegram", "", "2002")) is None
        right = await client.post(
            "/tg", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        )
        assert right.status == 200
        assert await db.transact(lambda tx: find_participant(tx, "telegram", "", "2002"))
    await handler.stop()
    assert "Hello!" in fake_telegram.last(2002).text


async def test_moved_up_from_the_waiting_list_is_told_in_telegram(
    make_campaign, db: Database, clock, fake_telegram: FakeTelegram
) -> None:
    def full(data):  # type: ignore[no-untyped-def]
        data["meetings"][0]["capacity"] = 1

    engine = Engine(make_campaign(full), db, clock)
    handler = telegram_handler(engine, fake_telegram)
    await handler.start()
    polling = asyncio.create_task(handler.poll())
    first, second = TelegramUser(fake_telegram, 1), TelegramUser(fake_telegram, 2)
    try:
        for person in (first, second):
            await person.say("/start signup-info")
            if "is full" in person.text:
                await person.press("Yes, put me on the waiting list")
            await person.press("Use")
            await person.press("Resident")
            await person.say("Moss")
            await person.press("Confirm sign-up")
        assert "waiting list" in second.text
        await first.press("Cancel this registration")
        await first.press("Yes, cancel my registration")

        dispatcher = OutboxDispatcher(db, "telegram", handler.deliver_outbox, clock)
        assert await dispatcher.run_once() == 1
        assert "a place became free, and it is yours" in fake_telegram.last(2).text
        assert await dispatcher.run_once() == 0
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await handler.stop()


async def test_info_logs_of_a_telegram_session_hold_no_personal_data(
    fake_telegram: FakeTelegram, telegram: TelegramHandler, caplog
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    person = TelegramUser(fake_telegram, 987654321, first_name="Ingrid", last_name="Infolog")
    await person.say("/start signup-info")
    await person.press("Use")
    await person.press("Library employee")
    await person.say("Hidden Org")
    await person.say("Asker")
    await person.press("Confirm sign-up")
    await person.say("/survey")
    await person.press("Resident")
    await person.sticker()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for trace in ("987654321", "Ingrid", "Infolog", "Hidden Org", "Asker"):
        assert trace not in logged


async def test_a_broadcast_reaches_telegram_people_in_their_language_at_the_limit(
    engine: Engine, db: Database, clock, fake_telegram: FakeTelegram
) -> None:
    from bot.broadcast import Segment, send
    from storage.outbox import batch_progress

    handler = telegram_handler(engine, fake_telegram)
    await handler.start()
    polling = asyncio.create_task(handler.poll())
    try:
        people = [
            TelegramUser(fake_telegram, 3000 + i, language_code=("nb" if i % 2 else "en"))
            for i in range(6)
        ]
        for person in people:
            await person.say("/start")
        fake_telegram.blocked.add(3005)
        fake_telegram.rate_limit = 4  # a strict limit: more than 4 a second get a 429
        messages = {"nb": "Hei fra fylkesbiblioteket", "en": "Hello from the county library"}
        await send(
            db,
            engine.campaign,
            Segment("everyone", platform="telegram"),
            messages,
            "broadcast:hello",
            clock.now(),
        )
        dispatcher = OutboxDispatcher(db, "telegram", handler.deliver_outbox, clock, rate=4)
        await dispatcher.run_once()
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await handler.stop()

    for person in people[:5]:
        expected = messages["nb" if person.id % 2 else "en"]
        assert [t for t in fake_telegram.texts(person.id) if t == expected] == [expected]
    assert fake_telegram.throttled == 0  # the dispatcher kept to the limit by itself
    progress = await db.transact(lambda tx: batch_progress(tx, "broadcast:hello"))
    assert progress == {"sent": 5, "unreachable": 1}


async def test_mydata_and_delete_in_telegram(
    kari: TelegramUser, fake_telegram: FakeTelegram, db: Database
) -> None:
    await kari.say("/start signup-info")
    await kari.press("Use")
    await kari.press("Resident")
    await kari.say("Moss")
    await kari.press("Confirm sign-up")

    await kari.say("/mydata")
    sent = fake_telegram.last(kari.id)
    assert sent.document == "my-data.json"
    data = json.loads(sent.document_bytes)
    assert data["you"]["user_id"] == str(kari.id) and data["you"]["name"] == "Kari Nordmann"

    await kari.say("/delete")
    await kari.press("Yes, delete my data")
    assert "Everything we kept about you is deleted" in kari.text
    assert await db.transact(lambda tx: find_participant(tx, "telegram", "", str(kari.id))) is None


@pytest.mark.parametrize("language", ["nb", "nn", "en", "se", "pl", "uk", "ar", "so"])
async def test_the_whole_survey_in_telegram_in_every_shipped_language(
    db: Database, clock: FixedClock, fake_telegram: FakeTelegram, language: str
) -> None:
    """Every message and button in every language within Telegram's limits (the fake
    refuses what Telegram would), from the language menu to the thanks, answers stored."""
    engine = Engine(load_campaign(None), db, clock)
    handler = telegram_handler(engine, fake_telegram)
    await handler.start()
    polling = asyncio.create_task(handler.poll())
    fake, user = fake_telegram, 2002
    fake.person(user, first_name="Aino")

    def data() -> list[str]:
        return [b["callback_data"] for b in fake.last_with_buttons(user).buttons]

    async def press(value: str) -> None:
        await fake.settle(fake.press_data(user, fake.last_with_buttons(user), value), user)

    try:
        await fake.settle(fake.send_text(user, "/start"), user)
        await press("g:lang")
        await press(f"g:lang:{language}")
        await press("g:survey")
        await press(next(d for d in data() if d.endswith(":ok")))  # the privacy notice
        for _step in range(40):
            shown = data()
            if any(d.endswith(":s") for d in shown):  # the review: send
                await press(next(d for d in shown if d.endswith(":s")))
                break
            ticks = [d for d in shown if ":t:" in d]
            if ticks:
                await press(ticks[0])
                await press(next(d for d in data() if d.endswith(":d")))
            elif any(":o:" in d for d in shown):
                await press(next(d for d in shown if ":o:" in d))
            else:  # a municipality or an idea to type
                await fake.settle(fake.send_text(user, "Asker"), user)
        sent = await db.transact(
            lambda tx: tx.fetchone("SELECT count(*) FROM responses WHERE status = 'submitted'")
        )
        assert sent[0] == 1
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await handler.stop()


async def test_the_three_consultations_to_choose_from_and_a_deep_link_to_one(
    db: Database, clock: FixedClock, fake_telegram: FakeTelegram
) -> None:
    from bot.registry import load_campaigns
    from tests.handlers.conftest import TelegramUser

    handler = telegram_handler(Engine(load_campaigns(), db, clock), fake_telegram)
    await handler.start()
    polling = asyncio.create_task(handler.poll())
    try:
        english = [c["command"] for c in fake_telegram.commands["en"]]
        assert english[:2] == ["start", "consultations"]
        ola = TelegramUser(fake_telegram, 2002, first_name="Ola")
        await ola.say("/start")
        assert "chat of Viken County Council – the County Library about its consultations" in (
            ola.text
        )
        assert "Consultation: Viken's strategy for library development" in ola.text
        await ola.press("Other consultations")
        assert "Open consultations." in ola.text
        assert ola.labels[:3] == ["\u2713 Library development", "Art and culture", "Volunteering"]
        await ola.press("Volunteering")
        assert "Consultation: Viken's strategy for volunteering" in ola.text
        await ola.press("Meetings and sign-up")
        assert "Information meeting on the three strategies" in ola.text

        await ola.say("/start survey-culture")  # a QR code's deep link
        assert "Question 1 of 4" in ola.text and "Who are you answering as?" in ola.text
        await ola.press("Artist or cultural worker")
        assert "Choose up to three" in ola.text
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await handler.stop()
