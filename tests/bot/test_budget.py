"""One rate budget for a bot, people first (``bot/budget.py``)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.budget import Budget, BudgetClosed, Priority


async def take(budget: Budget, key: str, priority: Priority, log: list[str]) -> None:
    async with budget.call(key, priority):
        log.append(f"{priority.name.lower()}:{key}")


async def test_people_go_before_the_outbox_and_tidying_last() -> None:
    budget = Budget(rate=1, per_key_interval=0, window=0.05, margin=0)
    log: list[str] = []
    first = asyncio.create_task(take(budget, "0", Priority.OUTBOX, log))  # fills the window
    tasks = [
        asyncio.create_task(take(budget, "1", Priority.TIDY, log)),
        asyncio.create_task(take(budget, "2", Priority.OUTBOX, log)),
        asyncio.create_task(take(budget, "3", Priority.INTERACTIVE, log)),
        asyncio.create_task(take(budget, "4", Priority.INTERACTIVE, log)),
    ]
    await asyncio.gather(first, *tasks)
    assert log == ["outbox:0", "interactive:3", "interactive:4", "outbox:2", "tidy:1"]


async def test_no_window_holds_more_than_the_rate() -> None:
    budget = Budget(rate=5, per_key_interval=0, window=0.2, margin=0)
    answered: list[float] = []

    async def one(key: int) -> None:
        async with budget.call(str(key)):
            answered.append(time.monotonic())

    await asyncio.gather(*(one(i) for i in range(15)))
    for index in range(len(answered) - 5):
        assert answered[index + 5] - answered[index] >= 0.2


async def test_calls_to_one_key_are_spaced_and_others_do_not_wait_for_it() -> None:
    budget = Budget(rate=30, per_key_interval=0.2, margin=0)
    times: dict[str, list[float]] = {"a": [], "b": []}

    async def one(key: str) -> None:
        async with budget.call(key):
            times[key].append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(one("a"), one("a"), one("b"))
    assert times["a"][1] - times["a"][0] >= 0.2
    assert times["b"][0] - started < 0.1  # not behind a's second call


async def test_a_held_key_waits_out_the_429() -> None:
    budget = Budget(rate=30, per_key_interval=0)
    budget.hold("a", 0.2)
    started = time.monotonic()
    async with budget.call("a"):
        pass
    assert time.monotonic() - started >= 0.2


async def test_closing_fails_whoever_waits_and_whoever_asks_later() -> None:
    budget = Budget(rate=1, per_key_interval=0, window=10)
    async with budget.call("a"):
        pass
    waiting = asyncio.create_task(take(budget, "b", Priority.INTERACTIVE, []))
    await asyncio.sleep(0.01)
    budget.close()
    with pytest.raises(BudgetClosed):
        await waiting
    with pytest.raises(BudgetClosed):
        async with budget.call("c"):
            pass


async def test_a_prepaid_call_is_not_paid_twice() -> None:
    budget = Budget(rate=1, per_key_interval=0, window=10)
    # The call within takes the one granted before: no wait.
    async with budget.prepaid("a", Priority.OUTBOX), budget.call("a"):
        pass
    assert budget.grants[Priority.OUTBOX] == 1 and budget.grants[Priority.INTERACTIVE] == 0
