"""What ``run`` does besides serving platforms: the jobs that keep a consultation going.

The daily purge after the retention date, the reminders as they fall due, reading the
campaign file again on SIGHUP (``participation-bot reload``), and the outbox dispatcher of a
platform (which also makes the results files staff ask for). No platform is named here:
``handlers/runtime.py`` wires these to the platforms.
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
from pathlib import Path
from typing import Any

from bot.clock import Clock
from bot.engine import Engine
from bot.errors import CampaignError
from bot.outbox import OutboxDispatcher, Send
from storage.open import is_postgres_url
from storage.protocols import Transaction

log = logging.getLogger("bot")

REMINDER_CHECK = 60.0
"""Seconds between looks for reminders that fell due."""
PURGE_INTERVAL = 24 * 3600.0


def pid_file(database: str) -> Path:
    """Where ``run`` writes its process id, beside the database: ``reload`` signals it.
    For a PostgreSQL URL, a file in the temporary directory named by the URL's hash (the
    URL may hold a password)."""
    if is_postgres_url(database):
        digest = hashlib.sha256(database.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"participation-bot-{digest}.pid"
    return Path(f"{database}.pid")


async def save_campaign_in_use(engine: Engine, clock: Clock) -> None:
    """Record the campaigns ``run`` uses now (``reload`` compares a new file with them);
    rows of a one-campaign database that no campaign claimed yet go to the default one."""
    from storage.campaign import attribute_unowned, save_campaigns_in_use
    from storage.campaign import save_campaign_in_use as save

    data = engine.campaign.model_dump_json()
    each = {c.id: c.model_dump_json() for c in engine.campaigns}

    async def job(tx: Transaction) -> None:
        save(tx, data, clock.now())
        save_campaigns_in_use(tx, each, clock.now())
        await attribute_unowned(tx, engine.campaign.id)

    await engine.db.transact(job)


@contextlib.asynccontextmanager
async def background(engine: Engine, clock: Clock, database: str) -> AsyncIterator[None]:
    """``run``'s own jobs while the block runs: the daily purge, the reminders, and a reload
    of the campaign file on SIGHUP (its process id is kept beside the database). The first
    purge is done before the block starts, so that what it says comes before the chat."""
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
    """Queue the campaign's reminders as they fall due (checked every minute)."""
    from bot.broadcast import queue_due_reminders

    while True:
        try:
            queued = 0
            for campaign in engine.campaigns:
                queued += await queue_due_reminders(engine.db, campaign, clock.now())
            if queued:
                log.info("queued %d reminders", queued)
        except Exception as exc:
            log.error("reminders failed: %s", type(exc).__name__)
        await asyncio.sleep(REMINDER_CHECK)


async def purge_daily(engine: Engine, clock: Clock) -> None:
    """Purge by itself once a day (``background`` did it at start)."""
    while True:
        await asyncio.sleep(PURGE_INTERVAL)
        await purge_now(engine, clock)


async def purge_now(engine: Engine, clock: Clock) -> int:
    """Erase everyone's personal data if the retention date has passed, saying so at
    WARNING (how many people, why, which dates): the terminal of the console chat and the
    log of a served bot both show it. Returns how many were erased."""
    from bot.privacy import purge, purge_governed_by, retention_passed
    from storage.events import EVENT_MEMORY, prune_events

    erased = 0
    try:
        now = clock.now()
        # Several campaigns: everyone is erased once the last of their dates has passed.
        governing = purge_governed_by(engine.campaigns)
        if governing is not None:
            erased = await engine.db.transact(
                lambda tx: purge(tx, governing, now, also=engine.campaigns)
            )
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
