"""Clocks: every rule that depends on time asks one of these."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        """Jump to another instant."""
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta``."""
        self._at += delta


class OffsetClock:
    """Starts at a chosen instant and then runs at the speed of a wall clock (``--now`` for
    demos): it says ``start`` when the wall clock says ``since``. It never goes back, even
    if the wall clock is set back."""

    def __init__(
        self, start: datetime, *, since: datetime | None = None, wall: Clock | None = None
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("OffsetClock needs an aware datetime")
        self._wall: Clock = wall or SystemClock()
        self.start = start.astimezone(UTC)
        self.since = (since or self._wall.now()).astimezone(UTC)
        self._last = self.start

    def now(self) -> datetime:
        self._last = max(self._last, self.start + (self._wall.now() - self.since))
        return self._last
