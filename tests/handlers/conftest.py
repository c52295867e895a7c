"""A running Telegram handler polling the fake Bot API, and people who use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.budget import Budget
from bot.engine import Engine
from handlers.telegram import TelegramHandler, build_bot
from tests.fakes.telegram import FakeTelegram, Sent


class TelegramUser:
    """A person in Telegram: types, presses buttons, reads what the bot said."""

    def __init__(self, fake: FakeTelegram, user_id: int, **details: object) -> None:
        self.fake = fake
        self.id = user_id
        fake.person(user_id, **details)

    async def say(self, text: str) -> Sent:
        await self.fake.settle(self.fake.send_text(self.id, text), self.id)
        return await self._past_notice()

    async def _past_notice(self) -> Sent:
        """Go on past the privacy notice when it is shown (tests are about other things)."""
        last = self.fake.last(self.id)
        ok = [b for b in last.buttons if b["callback_data"].endswith(":ok")]
        if ok:
            await self.fake.settle(
                self.fake.press_data(self.id, last, ok[0]["callback_data"]), self.id
            )
        return self.fake.last(self.id)

    async def sticker(self) -> Sent:
        await self.fake.settle(self.fake.send_sticker(self.id), self.id)
        return self.fake.last(self.id)

    async def press(self, label: str, message: Sent | None = None) -> Sent:
        message = message or self.fake.last_with_buttons(self.id)
        await self.fake.settle(self.fake.press(self.id, message, label), self.id)
        return await self._past_notice()

    @property
    def last(self) -> Sent:
        return self.fake.last(self.id)

    @property
    def text(self) -> str:
        return self.fake.last(self.id).text

    @property
    def labels(self) -> list[str]:
        return self.fake.last_with_buttons(self.id).labels


def telegram_handler(engine: Engine, fake: FakeTelegram, **options: object) -> TelegramHandler:
    """A handler on the fake, with Telegram's limit in all but without pacing per chat: a
    person in these tests acts faster than once a second, and the fake does not count
    per chat unless asked. (``test_telegram_limits.py`` runs the shipped budget against
    a fake that enforces both limits.)"""
    options.setdefault("budget", Budget(30.0, 0.0))
    return TelegramHandler(engine, build_bot(fake.token, fake.base_url), **options)  # type: ignore[arg-type]


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def telegram(engine: Engine, fake_telegram: FakeTelegram) -> AsyncIterator[TelegramHandler]:
    handler = telegram_handler(engine, fake_telegram)
    await handler.start()
    polling = asyncio.create_task(handler.poll())
    yield handler
    polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    await handler.stop()


@pytest.fixture
def kari(fake_telegram: FakeTelegram, telegram: TelegramHandler) -> TelegramUser:
    return TelegramUser(fake_telegram, 1001, first_name="Kari", last_name="Nordmann")
