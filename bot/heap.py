"""The cyclic garbage collector's settings for a process that serves a platform.

A serving process holds a large heap that lives as long as it does: the campaign and its
languages, Babel's locale data, pydantic's validators, the libraries' modules. With
Python's defaults, the collector walks that heap again and again while it looks for
short-lived cycles among each request's objects: measured on ``benchmarks/slack_load.py``,
a quarter of the CPU time of a Slack request went to the collector (0.33 ms a request).

``settle()`` collects once, moves what is alive then out of the collector's sight
(``gc.freeze``), and lets more young objects gather before a collection. Call it when the
process has started, and again when a large part of that heap was replaced (a campaign
reload), so that the replaced part is freed.
"""

from __future__ import annotations

import asyncio
import gc

YOUNG_THRESHOLD = 50_000
"""Allocations (less deallocations) of container objects before the youngest generation
is collected; Python's default is 700. A request makes a few thousand, most freed at once
by reference counting, so a collection comes every few dozen requests instead of twice in
each, and it is as quick: it walks only what is young."""


_settled = False


def settle() -> None:
    """Collect, freeze the long-lived heap, and collect young objects less often."""
    global _settled
    _settled = True
    gc.unfreeze()  # what an earlier settle froze and is garbage now (an old campaign) goes
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


RESETTLE_DELAY = 5.0
"""Seconds after a campaign reload before settling again: the turn or command that
reloaded still holds the old campaign until it ends."""


def resettle_soon() -> None:
    """A large part of the heap was just replaced: settle again shortly (if settled
    before), so the replaced part, frozen with the rest, is freed."""
    if not _settled:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        settle()
        return
    loop.call_later(RESETTLE_DELAY, lambda: settle() if _settled else None)


def unsettle(threshold: tuple[int, int, int] = (700, 10, 10)) -> None:
    """Python's defaults again (for a benchmark that next measures something else)."""
    global _settled
    _settled = False
    gc.unfreeze()
    gc.set_threshold(*threshold)
