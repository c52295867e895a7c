"""``participation-bot reload``: check the campaign files, say what they change (and tell
the registered people with ``--notify``), and have the running bot use them: the workers on
the database take them over at their next heartbeat; a ``run`` on this machine without
workers' registry is signalled (SIGHUP, its pid file)."""

from __future__ import annotations

import argparse
import os
import signal
from functools import partial
from typing import Any

from bot import service
from bot.campaign import Campaign
from bot.clock import Clock
from bot.registry import Campaigns
from storage.open import open_database

__all__ = ["reload_command"]


async def reload_command(
    args: argparse.Namespace, campaigns: Campaigns, clock: Clock, database: str
) -> int:
    """The files are valid (``main`` checked them): say what each campaign's changes (its
    lines named by its id; ``--consultation``: that one's), signal ``run``."""
    chosen = campaigns.get(args.consultation) if args.consultation else None
    targets = [chosen] if chosen is not None else list(campaigns)
    async with await open_database(database) as db:
        said = [await _reload_one(args, c, campaigns.several, clock, db) for c in targets]
        workers = await _tell_workers(db, targets, campaigns.default.id, clock)
    # Running workers take the stored campaigns over (not signalled: a signalled worker
    # reads its own file, which may not be the one given here, and stores that for all).
    print(workers or _signal_running(database))
    for line in (line for lines in said for line in lines):
        print(line)
    return 0


async def _reload_one(
    args: argparse.Namespace, campaign: Campaign, several: bool, clock: Clock, db: Any
) -> list[str]:
    """Print what an edited campaign changes (``--notify``: queue the updates); return
    what to say once the running bot was signalled."""
    from bot.broadcast import Segment, members, queue_meeting_update
    from bot.campaign import changed_meetings
    from storage.campaign import campaign_in_use, campaigns_in_use

    name = f"{campaign.id}: " if several else ""
    in_use = (await db.transact(campaigns_in_use)).get(campaign.id)
    if in_use is None:  # recorded before there were several
        legacy = await db.transact(campaign_in_use)
        if legacy and Campaign.model_validate_json(legacy).id == campaign.id:
            in_use = legacy
    old = Campaign.model_validate_json(in_use) if in_use else None
    changes = [
        change
        for change in (changed_meetings(old, campaign) if old is not None else [])
        if not campaign.shares(change.meeting.id)  # told by the campaign that declares it
    ]
    if old is None:
        print(f"{name}no campaign in use recorded in this database: nothing to compare with")
    elif not changes:
        print(f"{name}no meeting's date, time, place or link changed")
    told = {}
    for change in changes:
        meeting = change.meeting
        segment = Segment("registrants", meeting.id)
        found = await db.transact(partial(members, campaign=campaign, segment=segment))
        print(f"{name}{meeting.id}: changed {', '.join(change.changed)}; {len(found)} registered")
        if args.notify and found:
            told[meeting.id] = await db.transact(
                partial(queue_meeting_update, campaign=campaign, meeting=meeting, now=clock.now())
            )
    after = []
    which = f" --consultation {campaign.id}" if several else ""
    for change in changes:
        meeting_id = change.meeting.id
        if meeting_id in told:
            batch, total = told[meeting_id]
            after.append(
                f"{batch}: told {total} registered people of {meeting_id} the new details "
                f"(participation-bot broadcast-status {batch})"
            )
        elif not args.notify:
            after.append(
                f"to tell the registered people of {meeting_id}: participation-bot reload "
                f"--notify{which} (their meeting's new details, in their language), or "
                f"participation-bot broadcast{which} --segment registrants:{meeting_id} "
                f"--message 'nb=...' --yes"
            )
    return after


async def _tell_workers(
    db: Any, campaigns: list[Campaign], default: str, clock: Clock
) -> str | None:
    """Store the campaigns as the ones in use when workers are running: each takes them
    over at its next heartbeat, on whatever machine (no file, no signal needed). None when
    no worker is running (``run`` uses its files when it starts)."""
    from bot.workers import HEARTBEAT, LEASE
    from storage.campaign import save_in_use
    from storage.protocols import Transaction
    from storage.workers import live_workers

    data = {c.id: c.model_dump_json() for c in campaigns}

    async def job(tx: Transaction) -> int:
        alive = await live_workers(tx, clock.now(), LEASE)
        if alive:
            save_in_use(tx, data, default, clock.now())
        return len(alive)

    alive = await db.transact(job)
    if not alive:
        return None
    return (
        f"the running bot ({alive} worker(s)) takes the campaign over within "
        f"{2 * HEARTBEAT:.0f} seconds"
    )


def _signal_running(database: str) -> str:
    pid_file = service.pid_file(database)
    try:
        pid = int(pid_file.read_text(encoding="utf-8").strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError):
        return f"no running bot found ({pid_file}): `run` uses the file when it starts"
    return f"the running bot (process {pid}) reloads the campaign file now"
