"""What ``run`` does besides serving platforms: the jobs that keep a consultation going.

The daily purge after the retention date, the reminders as they fall due, the campaign in
use (read again on SIGHUP, and taken over from the database when another worker or
``participation-bot reload`` changed it), and the outbox dispatcher of a platform (which
also makes the results files staff ask for). No platform is named here:
``handlers/runtime.py`` wires these to the platforms.

With several workers on one database (``bot/workers.py``) every job is still done once:
the purge at a worker's start is serialised in the database (a second finds nobody left to
erase), the daily purge and the minute's look for reminders are claimed in ``job_runs`` by
whichever worker comes first (and reminders are keyed per person, so a row is never queued
twice anyway). The campaign in use has a revision, read at every heartbeat: a reload on any
worker reaches all of them within a heartbeat or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bot.campaign import Campaign
from bot.clock import Clock
from bot.engine import Engine
from bot.errors import CampaignError
from bot.outbox import OutboxDispatcher, Send
from bot.workers import Worker
from storage.open import is_postgres_url
from storage.protocols import Transaction

log = logging.getLogger("bot")

REMINDER_CHECK = 60.0
"""Seconds between looks for reminders that fell due (by any worker)."""
PURGE_INTERVAL = 24 * 3600.0
"""Seconds between purges (by any worker)."""
PURGE_CHECK = 3600.0
"""Seconds between a worker's looks whether the day's purge is due."""


def pid_file(database: str) -> Path:
    """Where ``run`` writes its process id, beside the database: ``reload`` signals it.
    For a PostgreSQL URL, a file in the temporary directory named by the URL's hash (the
    URL may hold a password)."""
    if is_postgres_url(database):
        digest = hashlib.sha256(database.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"participation-bot-{digest}.pid"
    return Path(f"{database}.pid")


async def save_campaign_in_use(engine: Engine, clock: Clock) -> int:
    """Record the campaigns ``run`` uses now (``reload`` compares a new file with them; the
    other workers take a changed one over); rows of a one-campaign database that no campaign
    claimed yet go to the default one. Returns the revision of the campaigns in use."""
    from storage.campaign import attribute_unowned, campaign_revision, save_in_use

    each = {c.id: c.model_dump_json() for c in engine.campaigns}

    async def job(tx: Transaction) -> int:
        save_in_use(tx, each, engine.campaign.id, clock.now())
        await attribute_unowned(tx, engine.campaign.id)
        return await campaign_revision(tx)

    return await engine.db.transact(job)


async def campaigns_at_start(engine: Engine, clock: Clock, others: int | None = None) -> int:
    """The campaigns a starting ``run`` (or ``console``) serves: its files when no other
    worker is alive (they become the ones in use), else the ones the running workers use.
    ``others``: how many other workers are alive (None: look). Returns the revision."""
    if others is None:
        from bot.workers import LEASE
        from storage.workers import live_workers

        others = len(await engine.db.read(lambda tx: live_workers(tx, clock.now(), LEASE)))
    if others:
        return await join_campaigns_in_use(engine, clock)
    from storage.campaign import campaigns_in_use

    before = await engine.db.read(campaigns_in_use)
    revision = await save_campaign_in_use(engine, clock)
    for campaign in engine.campaigns:
        if before.get(campaign.id, campaign.model_dump_json()) != campaign.model_dump_json():
            log.warning(
                "campaign %s: the file differs from the one in use before this start, and is "
                "the one in use now (`participation-bot reload` says what changed and can "
                "tell the people registered)",
                campaign.id,
            )
    return revision


async def join_campaigns_in_use(engine: Engine, clock: Clock) -> int:
    """A worker starting beside running ones serves the campaigns they use: where its own
    file differs (a machine the new file never reached, or a file changed without
    ``participation-bot reload``), it takes theirs and says so, rather than turn every
    worker to its copy. A campaign they do not know yet is recorded. Returns the revision
    of the campaigns in use."""
    from storage.campaign import campaign_revision, campaigns_in_use, save_in_use

    stored = await engine.db.read(campaigns_in_use)
    new = {c.id: c.model_dump_json() for c in engine.campaigns if c.id not in stored}

    async def job(tx: Transaction) -> int:
        if new:
            save_in_use(tx, new, engine.campaign.id, clock.now())
        return await campaign_revision(tx)

    revision = await engine.db.transact(job)
    for campaign_id, data in stored.items():
        mine = engine.campaigns.get(campaign_id)
        if mine is not None and data != mine.model_dump_json():
            engine.reload(Campaign.model_validate_json(data))
            log.warning(
                "campaign %s: this worker's file differs from the one the running workers "
                "use; it serves theirs (`participation-bot reload` makes a file the one in "
                "use, on every worker)",
                campaign_id,
            )
    return revision


class CampaignWatch:
    """Takes over each campaign whose stored version changed (another worker reloaded it,
    or ``participation-bot reload`` stored a new one), seen by the revision of the campaigns
    in use: checked at every heartbeat of the worker."""

    def __init__(self, engine: Engine, revision: int) -> None:
        self.engine = engine
        self.revision = revision

    async def check(self) -> bool:
        """Look once; True if a campaign was taken over."""
        from storage.campaign import campaign_revision, campaigns_in_use

        revision = await self.engine.db.read(campaign_revision)
        if revision == self.revision:
            return False
        stored = await self.engine.db.read(campaigns_in_use)
        self.revision = revision
        taken = False
        for campaign_id, data in stored.items():
            mine = self.engine.campaigns.get(campaign_id)
            if mine is None:
                log.warning(
                    "campaign %s is new to this worker: restart it to serve it", campaign_id
                )
            elif data != mine.model_dump_json():  # else this worker's own reload
                self.engine.reload(Campaign.model_validate_json(data))
                log.info(  # planned: the reload command, or staff on another worker
                    "campaign %s reloaded: another worker or the reload command changed it",
                    campaign_id,
                )
                taken = True
        return taken


@contextlib.asynccontextmanager
async def background(
    engine: Engine, clock: Clock, database: str, worker: Worker | None = None
) -> AsyncIterator[None]:
    """``run``'s own jobs while the block runs: the daily purge, the reminders, and a reload
    of the campaign file on SIGHUP (its process id is kept beside the database) or when
    the stored campaign changed (``worker``'s heartbeat looks). The first purge is done
    before the block starts, so that what it says comes before the chat."""
    if worker is not None:
        revision = await campaigns_at_start(engine, clock, worker.others_at_start)
        worker.watchers.append(CampaignWatch(engine, revision).check)
    await purge_now(engine, clock)
    jobs = asyncio.gather(purge_daily(engine, clock), remind(engine, clock))
    _listen_for_reload(engine, clock, database)
    try:
        yield
    finally:
        jobs.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await jobs
        pid_file(database).unlink(missing_ok=True)


def _listen_for_reload(engine: Engine, clock: Clock, database: str) -> None:
    """SIGHUP (``participation-bot reload``) makes ``run`` read its campaign file again."""
    if not hasattr(signal, "SIGHUP"):  # not on Windows: restart instead
        return
    pid_file(database).write_text(f"{os.getpid()}\n", encoding="utf-8")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(
        signal.SIGHUP, lambda: asyncio.ensure_future(_reload_running(engine, clock))
    )


async def _reload_running(engine: Engine, clock: Clock) -> None:
    try:
        _campaign, changes = engine.reload_file()
    except CampaignError as exc:
        log.error("the campaign file was not reloaded; the old campaign stays\n%s", exc)
        return
    await save_campaign_in_use(engine, clock)
    log.warning("campaign file reloaded; %d meeting(s) changed", len(changes))


def dispatcher(
    engine: Engine, platform: str, send: Send, clock: Clock, **options: Any
) -> OutboxDispatcher:
    """A platform's outbox dispatcher, which also makes the results files staff ask for."""
    from bot.staff import ResultsFiles

    files = ResultsFiles(engine.db, lambda campaign: engine.campaigns.of(campaign), clock)
    return OutboxDispatcher(engine.db, platform, send, clock, prepare=files.preparers(), **options)


async def remind(engine: Engine, clock: Clock) -> None:
    """Queue the campaign's reminders as they fall due: every minute, one worker looks."""
    while True:
        await remind_once(engine, clock)
        await asyncio.sleep(REMINDER_CHECK)


async def remind_once(engine: Engine, clock: Clock) -> int:
    """Queue what fell due, unless another worker looked within the minute; returns how
    many rows were queued."""
    from bot.broadcast import queue_due_reminders
    from storage.workers import claim_job_run

    every = timedelta(seconds=REMINDER_CHECK * 0.9)  # a worker's minute is not exact
    try:
        now = clock.now()
        if not await engine.db.transact(lambda tx: claim_job_run(tx, "reminders", now, every)):
            return 0
        queued = 0
        for campaign in engine.campaigns:
            queued += await queue_due_reminders(engine.db, campaign, now)
        if queued:
            log.info("queued %d reminders", queued)
        return queued
    except Exception as exc:
        log.error("reminders failed: %s", type(exc).__name__)
        return 0


async def purge_daily(engine: Engine, clock: Clock) -> None:
    """Purge once a day, on whichever worker finds the day's purge due first (every
    worker purged at its start too)."""
    from storage.workers import claim_job_run

    every = timedelta(seconds=PURGE_INTERVAL)
    while True:
        await asyncio.sleep(PURGE_CHECK)
        try:
            due = await engine.db.transact(
                partial(claim_job_run, name="purge", now=clock.now(), every=every)
            )
        except Exception as exc:
            log.error("purge failed: %s", type(exc).__name__)
            continue
        if due:
            await purge_now(engine, clock)


async def purge_now(engine: Engine, clock: Clock) -> int:
    """Erase everyone's personal data if the retention date has passed, saying so at
    WARNING (how many people, why, which dates): the terminal of the console chat and the
    log of a served bot both show it. Returns how many were erased."""
    from bot.privacy import purge, purge_governed_by, retention_passed
    from storage.events import EVENT_MEMORY, prune_events
    from storage.workers import record_job_run

    # Several campaigns: everyone is erased once the last of their dates has passed.
    governing = purge_governed_by(engine.campaigns)

    async def job(tx: Transaction) -> int:
        # One purge at a time on the database: a second worker's finds nobody left.
        await tx.serialize("job:purge")
        record_job_run(tx, "purge", now)
        if governing is None:
            return 0
        return await purge(tx, governing, now, also=engine.campaigns)

    erased = 0
    try:
        now = clock.now()
        erased = await engine.db.transact(job)
        if erased:
            engine.forget_all()
            log.warning(
                "erased the personal data of %d %s: %s",
                erased,
                "person" if erased == 1 else "people",
                retention_passed(governing, now) if governing else "",
            )
        await engine.db.transact(lambda tx: prune_events(tx, clock.now() - EVENT_MEMORY))
    except Exception as exc:
        log.error("purge failed: %s", type(exc).__name__)
    return erased
