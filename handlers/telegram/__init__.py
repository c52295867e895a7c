"""Telegram: the consultation in a Telegram chat, on python-telegram-bot's ``Bot``.

Translates, nothing more: an ``Update`` becomes an ``Incoming``; each ``Outgoing`` becomes
sendMessage / editMessageText / sendDocument, with inline keyboards for buttons. It is one
``bot.delivery.Platform``: ``send`` and ``deliver`` say what happened, and
``bot.delivery.Deliveries`` does the rest (order per person, resends, retries).

Nothing is lost on a crash: an update is confirmed to Telegram (the next getUpdates offset,
or the webhook's 200) only after the engine committed it. PTB's ``run_polling`` confirms a
batch before its handlers ran, so this module polls with its own loop.

The package: ``convert`` (updates in, messages out, no API calls), ``handler`` (polling or
the webhook in; the ``Platform``: replies and outbox messages out), ``api`` (PTB's bot on
aiohttp), ``server`` (``serve``: polling or the webhook server).
"""

from handlers.telegram.api import AiohttpRequest, build_bot, webhook_secret
from handlers.telegram.convert import PLATFORM, keyboard, split_text, to_incoming
from handlers.telegram.handler import TelegramHandler
from handlers.telegram.server import serve

__all__ = [
    "PLATFORM",
    "AiohttpRequest",
    "TelegramHandler",
    "build_bot",
    "keyboard",
    "serve",
    "split_text",
    "to_incoming",
    "webhook_secret",
]
