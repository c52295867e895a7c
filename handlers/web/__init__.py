"""The web chat: the consultation on the organiser's own page, for everyone, with no app and
no account. One more ``bot.delivery.Platform``, on aiohttp.

- ``chat``: the WebSocket conversation (the protocol is in its docstring), the Platform;
- ``server``: the page, its script and stylesheet (``static/``), the embed script, QR codes,
  and the security headers.
"""

from handlers.web.chat import PLATFORM, Limits, WebChat
from handlers.web.server import WebServer

__all__ = ["PLATFORM", "Limits", "WebChat", "WebServer"]
