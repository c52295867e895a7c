"""The ``participation-bot`` command as a whole: ``bot.cli``'s commands, with ``run`` and
``console`` serving the platforms.

This is where the platforms are wired to the engine (the one place that knows them all),
so that nothing in ``bot/`` imports a handler: ``run`` serves every platform whose token is
set, with its outbox dispatcher and ``bot.service``'s background jobs, and falls back to the
console chat when none is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
from collections.abc import Awaitable
from pathlib import Path

from bot import cli, heap, service
from bot.campaign import Campaign
from bot.clock import Clock
from bot.engine import Engine
from bot.settings import Settings
from storage.database import Database

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``participation-bot`` command."""
    return cli.main(argv, serve=serve)


async def serve(
    args: argparse.Namespace,
    settings: Settings,
    campaign: Campaign,
    clock: Clock,
    database: str,
    campaign_path: Path,
) -> int:
    """``run`` (every platform with a token, else the console) or ``console``."""
    async with await Database.open(database) as db:
        engine = Engine(campaign, db, clock, campaign_path=campaign_path)
        await service.save_campaign_in_use(engine, clock)
        if args.command != "run":
            return await _console(engine, args, clock)
        async with service.background(engine, clock, database):
            platforms: list[Awaitable[None]] = []
            if settings.slack_bot_token is not None or settings.slack_client_id is not None:
                platforms.append(_slack(engine, settings, clock))
            if settings.telegram_bot_token is not None:
                platforms.append(_telegram(engine, settings, clock))
            if not platforms:
                return await _console(engine, args, clock)
            log.info("serving %d platform(s)", len(platforms))
            await asyncio.gather(*platforms)
    return 0


async def _console(engine: Engine, args: argparse.Namespace, clock: Clock) -> int:
    from handlers.console import PLATFORM, Console

    user = getattr(args, "user", None) or _login_name()
    console = Console(engine, user=user, language=getattr(args, "language", None))
    outbox = service.dispatcher(engine, PLATFORM, console.deliver_outbox, clock, interval=2.0)
    delivering = asyncio.ensure_future(outbox.run_forever())
    try:
        await console.run()
    finally:
        delivering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await delivering
    return 0


async def _telegram(engine: Engine, settings: Settings, clock: Clock) -> None:
    from handlers import telegram

    assert settings.telegram_bot_token is not None

    async def outbox(handler: telegram.TelegramHandler) -> None:
        # One budget for the replies and the outbox: people first, broadcasts with the rest.
        dispatcher = service.dispatcher(
            engine, telegram.PLATFORM, handler.deliver_outbox, clock, budget=handler.budget
        )
        await dispatcher.run_forever()

    await telegram.serve(
        engine,
        settings.telegram_bot_token.get_secret_value(),
        settings.telegram_api_base_url,
        webhook_url=settings.telegram_webhook_url,
        port=settings.port,
        outbox=outbox,
        ready=heap.settle,
    )


async def _slack(engine: Engine, settings: Settings, clock: Clock) -> None:
    from handlers import slack

    if settings.slack_signing_secret is None:
        raise SystemExit("participation-bot: Slack needs SLACK_SIGNING_SECRET")
    handler = slack.SlackHandler(
        engine,
        clock,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token=settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None,
        client_id=settings.slack_client_id,
        client_secret=(
            settings.slack_client_secret.get_secret_value()
            if settings.slack_client_secret
            else None
        ),
        redirect_uri=settings.slack_redirect_uri,
        api_url=settings.slack_api_base_url,
        command=settings.slack_command,
    )

    async def outbox(handler: slack.SlackHandler) -> None:
        # chat.postMessage allows about one message a second per channel, and bursts beyond
        # that briefly; the whole app stays well under Slack's per-workspace limits.
        dispatcher = service.dispatcher(engine, slack.PLATFORM, handler.deliver_outbox, clock)
        await dispatcher.run_forever()

    await slack.serve(
        handler,
        port=settings.port,
        app_token=settings.slack_app_token.get_secret_value()
        if settings.slack_app_token
        else None,
        outbox=outbox,
        ready=heap.settle,
    )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "local"
