"""One clock per database: a database started with ``--now`` keeps its own time.

A demo of a campaign whose dates are past starts with ``--now 2021-05-25T10:00``; the
database remembers "at real time W it was T" and from then on every command on it (``run``,
``console``, ``broadcast``, ``staff``, ``export``, ``purge``, ``reload``...) reads the same
clock, running at real speed from there, without repeating ``--now``. Its time never goes
back: running the first command again keeps the clock, a later ``--now`` moves it forward,
an earlier one is refused. A database never given ``--now`` runs on the real time, so a
real deployment's retention date is enforced by the real date, and a demo's by its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.campaign import Campaign
from bot.clock import Clock, OffsetClock
from bot.errors import ClockRefused
from storage.clock import StoredClock, latest_recorded_time, store_clock, stored_clock
from storage.protocols import Database, Transaction


@dataclass(frozen=True)
class DatabaseTime:
    """The clock a command uses on a database, and what to tell whoever runs it."""

    clock: Clock
    demo: bool
    """The database keeps its own time (it was started with ``--now``)."""
    note: str | None = None
    """Said on the terminal: where the clock is, and why."""
    changed: bool = False
    """This command set the database's clock (a first or a later ``--now``)."""


def parse_now(value: str, campaign: Campaign) -> datetime:
    """``--now``'s ISO time, in the campaign's time zone unless it gives an offset."""
    try:
        start = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"--now: not an ISO date and time: {value!r}") from exc
    return campaign.aware(start)


def shown(value: datetime, campaign: Campaign, *, round_up: bool = False) -> str:
    """A time as ``--now`` takes it, in the campaign's time zone (to the minute)."""
    local = value.astimezone(campaign.tz)
    if round_up and (local.second or local.microsecond):
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return local.strftime("%Y-%m-%dT%H:%M")


async def database_time(
    db: Database, campaign: Campaign, requested: datetime | None, wall: Clock
) -> DatabaseTime:
    """The clock of the database, set or moved forward by ``requested`` (``--now``);
    ``ClockRefused`` when ``requested`` would move its time back."""

    async def job(tx: Transaction) -> DatabaseTime:
        stored = await stored_clock(tx)
        if stored is None:
            return await _first(tx, campaign, requested, wall)
        current = OffsetClock(stored.clock_at, since=stored.wall_at, wall=wall)
        now = current.now()
        started = shown(stored.clock_at, campaign)
        if requested is None or requested == stored.clock_at:
            note = (
                f"this database keeps its own clock: it is {shown(now, campaign)} "
                f"({campaign.campaign.timezone}), running since --now {started}"
            )
            return DatabaseTime(current, demo=True, note=note)
        if requested > now:
            wall_now = wall.now()
            await store_clock(tx, StoredClock(clock_at=requested, wall_at=wall_now))
            note = (
                f"this database's clock moves forward from {shown(now, campaign)} to "
                f"{shown(requested, campaign)}; later commands on it use it without --now"
            )
            clock = OffsetClock(requested, since=wall_now, wall=wall)
            return DatabaseTime(clock, demo=True, note=note, changed=True)
        raise ClockRefused(
            f"--now {shown(requested, campaign)}: this database's clock is at "
            f"{shown(now, campaign)} already (it started at --now {started}), and its time "
            f"does not go back. Leave out --now to go on from there, give a later time, or "
            f"use a new --database to start again from {shown(requested, campaign)}."
        )

    return await db.transact(job)


async def _first(
    tx: Transaction, campaign: Campaign, requested: datetime | None, wall: Clock
) -> DatabaseTime:
    """A database without a clock of its own: the real time, or the first ``--now``."""
    if requested is None:
        return DatabaseTime(wall, demo=False)
    latest = await latest_recorded_time(tx)
    if latest is not None and requested < latest:
        raise ClockRefused(
            f"--now {shown(requested, campaign)}: this database has records up to "
            f"{shown(latest, campaign, round_up=True)}, and its time does not go back. Give "
            f"--now {shown(latest, campaign, round_up=True)} or later, or use a new "
            f"--database for a demo that starts at {shown(requested, campaign)}."
        )
    wall_now = wall.now()
    await store_clock(tx, StoredClock(clock_at=requested, wall_at=wall_now))
    note = (
        f"this database's clock starts at {shown(requested, campaign)} "
        f"({campaign.campaign.timezone}) and runs from there; every later command on this "
        f"database uses it, without --now"
    )
    return DatabaseTime(
        OffsetClock(requested, since=wall_now, wall=wall), demo=True, note=note, changed=True
    )


__all__ = ["DatabaseTime", "database_time", "parse_now", "shown"]
