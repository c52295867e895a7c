"""The ``participation-bot`` command as a whole: ``bot.cli``'s commands, with ``run`` and
``console`` serving the platforms.

This is where the platforms are wired to the engine (the one place that knows them all),
so that nothing in ``bot/`` imports a handler: ``run`` serves the web chat on ``PORT`` and
every platform whose token is set, each with its outbox dispatcher, and ``bot.service``'s
background jobs; with no platform token it opens the console chat as well. Every platform
that takes HTTP shares one server (``handlers.http``), started once all are set up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import socket
import stat
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot import cli, heap, service
from bot.clock import Clock
from bot.engine import Engine
from bot.registry import Campaigns
from bot.settings import Settings
from bot.workers import Worker
from handlers.http import HttpServer
from storage.events import Sender
from storage.open import is_postgres_url, open_database

if TYPE_CHECKING:
    from bot.outbox import OutboxDispatcher
    from handlers.web import WebChat, WebServer

log = logging.getLogger("bot")


def main(argv: list[str] | None = None, *, wall: Clock | None = None) -> int:
    """Entry point of the ``participation-bot`` command (``wall``: the real time, which
    tests set)."""
    return cli.main(argv, serve=serve, wall=wall)


async def serve(
    args: argparse.Namespace,
    settings: Settings,
    campaigns: Campaigns,
    clock: Clock,
    database: str,
) -> int:
    """``run`` (every platform with a token, else the console) or ``console``."""
    async with await open_database(database) as db:
        engine = Engine(campaigns, db, clock)
        if args.command != "run":
            await service.campaigns_at_start(engine, clock)
            return await _console(engine, args, clock)
        worker = Worker(
            db, clock, settings.worker_name or f"{socket.gethostname()}:{settings.port}"
        )
        await worker.start()
        engine.sender = Sender(worker.id, worker.lease)  # its own replies, and a gone one's
        if worker.others_at_start and not is_postgres_url(database):
            log.warning(
                "another worker is running on this SQLite file: SQLite has one writer, so "
                "several workers belong on PostgreSQL (DATABASE_URL)"
            )
        try:
            return await _run(engine, args, settings, clock, database, worker)
        finally:
            await worker.stop()


async def _run(
    engine: Engine,
    args: argparse.Namespace,
    settings: Settings,
    clock: Clock,
    database: str,
    worker: Worker,
) -> int:
    """``run`` as one worker on the database: the platforms, the console if none."""
    http = HttpServer(host=settings.host, port=settings.port, db=engine.db)
    platforms: list[Callable[[Callable[[], None]], Awaitable[None]]] = []
    if settings.web_chat:
        platforms.append(lambda ready: _web(engine, settings, clock, http, ready, worker))
    if settings.slack_bot_token is not None or settings.slack_client_id is not None:
        platforms.append(lambda ready: _slack(engine, settings, clock, http, ready, worker))
    if settings.telegram_bot_token is not None:
        _one_poller(settings, worker)
        platforms.append(lambda ready: _telegram(engine, settings, clock, http, ready, worker))
    console = settings.telegram_bot_token is None and settings.slack_bot_token is None
    console = console and settings.slack_client_id is None and not _no_input()
    if not console and not platforms:
        log.error("nothing to serve: no platform token, WEB_CHAT=false and no terminal to chat in")
        return 1
    async with service.background(engine, clock, database, worker):
        waiting = [asyncio.Event() for _ in platforms]
        tasks = [
            asyncio.ensure_future(serve_one(event.set))
            for serve_one, event in zip(platforms, waiting, strict=True)
        ]
        try:
            await _all_ready(waiting, tasks)
            if platforms:
                await _listen(http, console, web_chat=settings.web_chat)
            heap.settle()
            if console:
                await _console(engine, args, clock)
            else:
                log.info("serving %d platform(s)", len(platforms))
                await asyncio.gather(*tasks)
        finally:
            # A stop (SIGTERM) cancelled them all already, and the gather ended with the first
            # one done: the others are still stopping (Telegram lets its last replies go and
            # records them sent). Cancelled again, a stop would end half done, with replies
            # going out after the database closed and sent again at the next start.
            for task in tasks:
                if not task.cancelling():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await http.stop()
    return 0


def _no_input() -> bool:
    """Whether standard input is /dev/null, as a service manager (systemd, a container
    without a terminal) starts ``run``: nobody is there to chat in the console, so ``run``
    serves its platforms (the web chat) until it is stopped instead of ending at once."""
    try:
        given, null = os.fstat(sys.stdin.fileno()), os.stat(os.devnull)
    except (OSError, ValueError, AttributeError):  # no file behind it (a test's StringIO)
        return False
    return stat.S_ISCHR(given.st_mode) and given.st_rdev == null.st_rdev


async def _all_ready(waiting: list[asyncio.Event], tasks: list[asyncio.Task[None]]) -> None:
    """Wait until every platform is set up; a platform that fails on the way raises."""
    for event, task in zip(waiting, tasks, strict=True):
        ready = asyncio.ensure_future(event.wait())
        done, _pending = await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready.cancel()
            task.result()  # raises what stopped it
            raise SystemExit("participation-bot: a platform stopped while starting")


async def _listen(http: HttpServer, console: bool, *, web_chat: bool) -> None:
    """Start the shared HTTP server and say where the web chat is (when it is served). For
    the console demo a port in use only costs the web chat; a served platform needs it."""
    try:
        port = await http.start()
    except OSError as exc:
        if not console:
            raise SystemExit(
                f"participation-bot: cannot listen on port {http.port}: {exc}"
            ) from exc
        print(f"(the web chat is off: port {http.port} is in use; set PORT)", file=sys.stderr)
        return
    if not web_chat:
        return
    host = "localhost" if http.host in ("0.0.0.0", "::", "") else http.host  # noqa: S104
    print(f"Web chat: http://{host}:{port}/", file=sys.stderr if console else sys.stdout)


async def _console(
    engine: Engine, args: argparse.Namespace, clock: Clock, worker: Worker | None = None
) -> int:
    from handlers.console import PLATFORM, Console

    user = getattr(args, "user", None) or _login_name()
    # Staff are granted by this name (`participation-bot staff add console:<name>`).
    print(f"(you are console:{user} here; --user NAME to be someone else)", file=sys.stderr)
    console = Console(engine, user=user, language=getattr(args, "language", None))
    outbox = service.dispatcher(
        engine, PLATFORM, console.deliver_outbox, clock, interval=2.0, worker=worker
    )
    delivering = asyncio.ensure_future(outbox.run_forever())
    try:
        await console.run()
    finally:
        delivering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await delivering
    return 0


def web_chat(engine: Engine, settings: Settings, clock: Clock) -> tuple[WebChat, WebServer]:
    """The web chat as ``run`` serves it (the benchmark builds it here too)."""
    from bot.websessions import WebSessions
    from handlers.web import WebChat, WebServer

    chat = WebChat(
        engine,
        WebSessions(engine.db, clock),
        allowed_origins=_listed(settings.web_allowed_origins),
        trusted_proxies=_listed(settings.web_trusted_proxies),
    )
    return chat, WebServer(chat, public_url=settings.web_public_url)


def web_dispatcher(
    engine: Engine, chat: WebChat, clock: Clock, **options: Any
) -> OutboxDispatcher:
    """The web chat's outbox dispatcher: it sends only the rows of people whose page is
    connected to this worker (the others wait for theirs), and at once when one connects."""
    from handlers.web import PLATFORM

    dispatcher = service.dispatcher(
        engine, PLATFORM, chat.delivery.deliver, clock, recipients=chat.connected, **options
    )
    chat.connect_listeners.append(lambda _ref: dispatcher.nudge())
    return dispatcher


async def _web(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    http: HttpServer,
    ready: Callable[[], None],
    worker: Worker,
) -> None:
    chat, server = web_chat(engine, settings, clock)
    await chat.start()
    http.add_routes(server.routes())
    dispatcher = web_dispatcher(engine, chat, clock, worker=worker)
    outbox = asyncio.ensure_future(dispatcher.run_forever())
    ready()
    try:
        await asyncio.Event().wait()
    finally:
        outbox.cancel()
        await asyncio.gather(outbox, return_exceptions=True)
        await chat.stop()


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _one_poller(settings: Settings, worker: Worker) -> None:
    """Telegram's long polling has one consumer: with several workers, the webhook."""
    if settings.telegram_webhook_url:
        return
    others = worker.others_at_start
    if settings.workers > 1 or others:
        why = (
            f"WORKERS={settings.workers}"
            if settings.workers > 1
            else f"{others} other worker(s) alive on this database"
        )
        raise SystemExit(
            f"participation-bot: Telegram long polling has one consumer, and this is one of "
            f"several workers ({why}): set TELEGRAM_WEBHOOK_URL so that every worker takes "
            f"webhook calls behind the load balancer"
        )
    log.info("Telegram by long polling: one worker only (WORKERS=1)")


async def _telegram(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    http: HttpServer,
    ready: Callable[[], None],
    worker: Worker,
) -> None:
    from bot.budget import Budget
    from handlers import telegram
    from handlers.telegram.handler import TELEGRAM_LIMITS

    assert settings.telegram_bot_token is not None
    # One budget for the replies and the outbox (people first, broadcasts with the rest),
    # at this worker's share of Telegram's limit for the bot.
    budget = Budget(*TELEGRAM_LIMITS)
    worker.divide(budget, TELEGRAM_LIMITS[0])

    async def outbox(handler: telegram.TelegramHandler) -> None:
        dispatcher = service.dispatcher(
            engine,
            telegram.PLATFORM,
            handler.deliver_outbox,
            clock,
            budget=handler.budget,
            worker=worker,
            rate=TELEGRAM_LIMITS[0] or 30.0,
        )
        await dispatcher.run_forever()

    await telegram.serve(
        engine,
        settings.telegram_bot_token.get_secret_value(),
        settings.telegram_api_base_url,
        webhook_url=settings.telegram_webhook_url,
        port=settings.port,
        outbox=outbox,
        budget=budget,
        ready=ready,
        http=http,
    )


async def _slack(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    http: HttpServer,
    ready: Callable[[], None],
    worker: Worker,
) -> None:
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
        dispatcher = service.dispatcher(
            engine, slack.PLATFORM, handler.deliver_outbox, clock, worker=worker
        )
        await dispatcher.run_forever()

    await slack.serve(
        handler,
        port=settings.port,
        app_token=settings.slack_app_token.get_secret_value()
        if settings.slack_app_token
        else None,
        outbox=outbox,
        ready=ready,
        http=http,
    )


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "local"
