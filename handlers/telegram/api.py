"""The Bot API client: python-telegram-bot's ``ExtBot`` with its networking on aiohttp.

PTB lets a bot bring its own ``BaseRequest``. Under many requests at once (a reply each
for hundreds of people), httpx's connection pool spends its time assigning requests to
connections: 300 concurrent calls took seconds where aiohttp's pool took 0.2 s, on the same
fake server. aiohttp is already our HTTP server; this class only carries PTB's requests
over it and maps its errors onto PTB's (``TimedOut``, ``NetworkError``).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


class AiohttpRequest(BaseRequest):
    """A PTB request backend on one ``aiohttp.ClientSession``."""

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
    ) -> None:
        self._limit = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (PTB adds a long poll's own timeout to it)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (idempotent)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                headers={"User-Agent": self.USER_AGENT},
                # Proxies from the environment, as PTB's httpx default honours them; only when
                # one is set, as looking them (and ~/.netrc) up costs on every request.
                trust_env=any(os.environ.get(name) for name in PROXY_VARIABLES),
            )

    async def shutdown(self) -> None:
        """Close the session (idempotent)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one Bot API request; return the status code and the body."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        # connect bounds waiting for a pooled connection and connecting; sock_read each read.
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect, sock_connect=connect, sock_read=read
        )
        data: Any = None
        if request_data is not None:
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mime_type) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mime_type)
                data = form
            else:
                data = request_data.json_parameters
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as resp:
                return resp.status, await resp.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientConnectorError as exc:
            # Never reached the server: safe to try again.
            raise NetworkError(f"aiohttp: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            # Sent, but the answer was lost (a dropped connection): it may have arrived, as
            # after a timeout.
            raise TimedOut(f"aiohttp: {type(exc).__name__}") from exc


def build_bot(token: str, base_url: str) -> ExtBot[Any]:
    """A PTB bot for ``base_url`` (the public Bot API, or a self-hosted or fake one).

    Without PTB's ``AIORateLimiter``: Telegram's limits are kept by the handler's
    ``bot.budget.Budget``, one for replies and the outbox together, people first. (PTB's
    limiter lets 30 calls through at once after a pause, on top of its rate, and holds back
    every call for a while after any 429; and it knows no priorities.)
    """
    request = AiohttpRequest(connection_pool_size=256, read_timeout=30.0)
    polling = AiohttpRequest(connection_pool_size=1, read_timeout=10.0)
    return ExtBot(token, base_url=base_url, request=request, get_updates_request=polling)


def webhook_secret(token: str) -> str:
    """The secret Telegram sends with each webhook call, derived from the bot's token."""
    return hashlib.sha256(f"webhook:{token}".encode()).hexdigest()[:48]


def retry_seconds(exc: RetryAfter) -> float:
    """RetryAfter's wait in seconds (an int or a timedelta, depending on PTB's settings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)
