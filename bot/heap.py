"""The cyclic garbage collector's settings for a process that serves a platform.

A serving process holds a large heap that lives as long as it does: the campaign and its
languages, Babel's locale data, pydantic's validators, the libraries' modules. With
Python's defaults, the collector walks that heap again and again while it looks for
short-lived cycles among each request's objects: measured on ``benchmarks/slack_load.py``,
a quarter of the CPU time of a Slack request went to the collector (0.33 ms a request).

``settle()`` collects once, moves what is alive then out of the collector's sight
(``gc.freeze``), and lets more young objects gather before a collection. ``run`` calls it
once a platform is served. Freezing does not keep anything alive: reference counting still
frees what is no longer used (a campaign replaced by a reload has no cycles); only a cycle
among frozen objects would stay until the process ends.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Allocations (less deallocations) of container objects before the youngest generation
is collected; Python's default is 700. A request makes a few thousand, most freed at once
by reference counting, so a collection comes every few dozen requests instead of twice in
each, and it is as quick: it walks only what is young."""


def settle() -> None:
    """Collect, freeze the long-lived heap, and collect young objects less often."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def unsettle(threshold: tuple[int, int, int] = (700, 10, 10)) -> None:
    """Python's defaults again (for a benchmark that next measures something else)."""
    gc.unfreeze()
    gc.set_threshold(*threshold)
