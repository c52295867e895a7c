"""The collector settings of a serving process: a reloaded-away campaign is still freed."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator

import pytest

from bot import heap
from bot.campaign import Campaign
from bot.engine import Engine


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(heap, "RESETTLE_DELAY", 0.0)
    threshold = gc.get_threshold()
    heap.settle()
    try:
        yield
    finally:
        heap.unsettle(threshold)


def test_settle_freezes_what_lives_and_collects_young_objects_less_often(
    settled: None,
) -> None:
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


async def test_a_campaign_replaced_by_a_reload_is_freed_though_it_was_frozen(
    settled: None, engine: Engine, make_campaign: Callable[..., Campaign]
) -> None:
    def edit(data: dict) -> None:  # type: ignore[type-arg]
        data["meetings"][0]["place"] = {"nb": "Et annet sted", "en": "Somewhere else"}

    old = make_campaign()
    engine.reload(old)
    # Made before the freeze, and part of a cycle: only the collector can free it.
    cycle: list[object] = [old]
    cycle.append(cycle)
    old_ref = weakref.ref(old)
    heap.settle()
    del old, cycle
    gc.collect()
    assert old_ref() is not None  # frozen: collecting does not see it

    engine.reload(make_campaign(edit))
    await asyncio.sleep(0.05)  # the resettle, scheduled after the reloading turn

    assert old_ref() is None
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


def test_nothing_changes_in_a_process_that_never_settled() -> None:
    threshold = gc.get_threshold()
    heap.resettle_soon()
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0
