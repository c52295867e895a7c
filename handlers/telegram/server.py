"""Running the Telegram bot: long polling, or a webhook server on ``PORT``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.budget import Budget
from bot.engine import Engine
from handlers.http import HttpServer
from handlers.telegram.api import build_bot, webhook_secret
from handlers.telegram.handler import ALLOWED_UPDATES, TELEGRAM_LIMITS, TelegramHandler

log = logging.getLogger("handlers.telegram")


async def serve(
    engine: Engine,
    token: str,
    base_url: str,
    *,
    webhook_url: str | None = None,
    port: int = 8080,
    outbox: Callable[[TelegramHandler], Awaitable[None]] | None = None,
    budget: Budget | None = None,
    ready: Callable[[], None] | None = None,
    http: HttpServer | None = None,
) -> None:
    """Run the Telegram bot until cancelled: polling, or a webhook, whose route goes on
    ``http`` (the server every platform shares) when given, else on a server of its own on
    ``port``. ``outbox`` runs beside it, given the handler (whose ``budget`` it shares: the
    replies and the outbox spend one budget, people first). ``ready`` is called once
    everything is set up, before the first update."""
    budget = budget if budget is not None else Budget(*TELEGRAM_LIMITS)
    handler = TelegramHandler(engine, build_bot(token, base_url), budget=budget)
    await handler.start()
    extra = asyncio.ensure_future(outbox(handler)) if outbox is not None else None
    try:
        if webhook_url:
            from urllib.parse import urlsplit

            secret = webhook_secret(token)
            path = urlsplit(webhook_url).path or "/"
            own = http is None
            server = http or HttpServer(port=port)
            server.mount(handler.webhook_app(path, secret))
            if own:
                await server.start()
            await handler.bot.set_webhook(
                webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
            )
            log.info("Telegram webhook ready")
            if ready is not None:
                ready()
            try:
                await asyncio.Event().wait()
            finally:
                if own:
                    await server.stop()
        else:
            log.info("Telegram polling started")
            if ready is not None:
                ready()
            await handler.poll()
    finally:
        if extra is not None:
            extra.cancel()
            await asyncio.gather(extra, return_exceptions=True)
        await handler.stop()
