"""The collector settings of a serving process: nothing is kept alive by them."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import pytest

from bot import heap
from bot.campaign import Campaign
from bot.engine import Engine


@pytest.fixture
def settled() -> Iterator[None]:
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
    engine: Engine, make_campaign: Callable[..., Campaign]
) -> None:
    def edit(data: dict) -> None:  # type: ignore[type-arg]
        data["meetings"][0]["place"] = {"nb": "Et annet sted", "en": "Somewhere else"}

    old = make_campaign()
    engine.reload(old)
    old_ref = weakref.ref(old)
    del old
    threshold = gc.get_threshold()
    heap.settle()  # the old campaign is frozen with the rest
    try:
        engine.reload(make_campaign(edit))
        assert old_ref() is None  # freed at once, by reference counting
    finally:
        heap.unsettle(threshold)
