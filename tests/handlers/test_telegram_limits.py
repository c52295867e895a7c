"""Telegram at the platform's limit: the shipped budget, through the real PTB stack, against
a fake Bot API that enforces Telegram's documented limits (30 calls a second in all, one a
second to one chat, every call naming a chat except answerCallbackQuery; 429 beyond)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.broadcast import Segment, send
from bot.clock import FixedClock
from bot.engine import Engine
from bot.outbox import OutboxDispatcher
from handlers.telegram import TelegramHandler, build_bot
from storage.database import Database
from storage.outbox import batch_progress
from tests.fakes.telegram import FakeTelegram

Shown = tuple[int, str] | None


@pytest.fixture
async def limited() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram.limited()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def shipped(engine: Engine, limited: FakeTelegram) -> AsyncIterator[TelegramHandler]:
    """The handler as ``run`` builds it: Telegram's limits, no other setting."""
    handler = TelegramHandler(engine, build_bot(limited.token, limited.base_url))
    await handler.start()
    polling = asyncio.create_task(handler.poll())
    yield handler
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    await handler.stop()


def shown(fake: FakeTelegram, chat: int) -> Shown:
    """The question a person sees now: the newest message with buttons, as it reads."""
    for message in reversed(fake.sent[chat]):
        if message.buttons:
            return message.message_id, message.text
    return None


async def act(fake: FakeTelegram, chat: int, action: Callable[[], object]) -> float:
    """Do ``action`` and wait until the person sees a new question; return how long it took."""
    before = shown(fake, chat)
    started = time.monotonic()
    action()
    await fake.wait_until(
        lambda: shown(fake, chat) not in (before, None), timeout=60, what=f"chat {chat}"
    )
    return time.monotonic() - started


def press(fake: FakeTelegram, chat: int, label: str) -> Callable[[], object]:
    return lambda: fake.press(chat, fake.last_with_buttons(chat), label)


def say(fake: FakeTelegram, chat: int, text: str) -> Callable[[], object]:
    return lambda: fake.send_text(chat, text)


def survey_steps(fake: FakeTelegram, chat: int) -> list[Callable[[], object]]:
    """The first answers of the survey, each answered with a new question."""
    return [
        say(fake, chat, "/start survey"),
        press(fake, chat, "OK, go on"),
        press(fake, chat, "Resident"),
        say(fake, chat, "Asker"),
        press(fake, chat, "Every week"),
    ]


async def take_part(
    fake: FakeTelegram, chat: int, pause: Callable[[], Awaitable[None]] | None = None
) -> list[float]:
    fake.person(chat, first_name="P", last_name=str(chat))
    waits = []
    for step in survey_steps(fake, chat):
        if pause is not None:
            await pause()
        waits.append(await act(fake, chat, step))
    return waits


async def test_a_press_and_a_typed_answer_each_cost_one_call(
    shipped: TelegramHandler, limited: FakeTelegram
) -> None:
    chat = 501
    limited.person(chat)
    steps = survey_steps(limited, chat)
    for step in steps[:3]:
        await act(limited, chat, step)
    before = limited.limited_calls
    await act(limited, chat, steps[3])  # the municipality, typed
    assert limited.limited_calls - before == 1  # the typed answer: the next question
    await asyncio.sleep(1.2)  # the old question's buttons go when the chat has room again
    assert limited.limited_calls - before == 2
    before = limited.limited_calls
    await act(limited, chat, press(limited, chat, "Every week"))
    await asyncio.sleep(1.2)
    assert limited.limited_calls - before == 1  # the press: the question edited into the next
    assert limited.throttled == 0


async def test_a_burst_of_people_is_answered_without_a_429(
    shipped: TelegramHandler, limited: FakeTelegram
) -> None:
    people = 40
    waits = await asyncio.gather(*(take_part(limited, 600 + i) for i in range(people)))
    assert len(waits) == people and all(len(w) == 5 for w in waits)
    assert limited.throttled == 0 and shipped.throttled == 0


async def test_a_press_under_saturation_says_at_once_that_it_was_saved(
    shipped: TelegramHandler, limited: FakeTelegram
) -> None:
    chat = 502
    limited.person(chat)
    for step in survey_steps(limited, chat)[:2]:
        await act(limited, chat, step)

    # Many people's replies wait for the budget (about two seconds of it).
    async def reply(to: int) -> None:
        async with shipped.budget.call(str(to)):
            await asyncio.sleep(0.01)

    crowd = [asyncio.create_task(reply(i)) for i in range(60)]
    update_id = limited.press(chat, limited.last_with_buttons(chat), "Resident")
    query_id = limited.updates[-1]["callback_query"]["id"]
    await limited.wait_until(lambda: query_id in limited.callback_texts, timeout=5)
    assert limited.callback_texts[query_id] == "\u2714 Saved. The reply is on its way."
    await asyncio.gather(*crowd)
    await limited.settle(update_id, chat, timeout=10)
    assert "Which municipality" in limited.last_with_buttons(chat).text


async def test_a_calm_press_is_answered_without_a_notice(
    shipped: TelegramHandler, limited: FakeTelegram
) -> None:
    await take_part(limited, 701)
    assert limited.callback_texts and not any(limited.callback_texts.values())


async def test_people_answering_during_a_broadcast_are_answered_first(
    engine: Engine,
    db: Database,
    clock: FixedClock,
    shipped: TelegramHandler,
    limited: FakeTelegram,
) -> None:
    recipients = 150
    for i in range(recipients):
        await act(limited, 9000 + i, say(limited, 9000 + i, "/start"))
    limited.throttled = 0
    await send(
        db,
        engine.campaign,
        Segment("everyone", platform="telegram"),
        {"nb": "Hei", "en": "Hello from the county library"},
        "broadcast:hello",
        clock.now(),
    )
    dispatcher = OutboxDispatcher(
        db, "telegram", shipped.deliver_outbox, clock, budget=shipped.budget
    )
    broadcasting = asyncio.create_task(dispatcher.run_once())
    await asyncio.sleep(0.5)  # the broadcast is under way, at the limit

    async def human_pause() -> None:
        await asyncio.sleep(0.8)

    waits = await asyncio.gather(*(take_part(limited, 800 + i, human_pause) for i in range(8)))
    await broadcasting
    every = sorted(w for person in waits for w in person)
    assert every[int(len(every) * 0.95)] < 2.0  # generous: alone, a reply takes ~0.1 s
    progress = await db.transact(lambda tx: batch_progress(tx, "broadcast:hello"))
    assert progress == {"sent": recipients}
    assert limited.throttled == 0
