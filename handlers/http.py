"""One HTTP server on ``PORT`` for every platform that needs one: the web chat's page and
WebSocket, Slack's events and install pages, Telegram's webhook; ``/healthz`` (200 when the
database answers, else 503, for the load balancer) and ``/metrics`` (Prometheus).

Each platform adds its routes before the server starts listening (aiohttp freezes an app
once it runs), so ``run`` sets every platform up, then calls ``start``.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.metrics import CONTENT_TYPE, METRICS, healthy
from storage.protocols import Database

log = logging.getLogger("handlers.http")


class HttpServer:
    """The routes of every platform, served together on one port."""

    def __init__(
        self,
        host: str = "0.0.0.0",  # noqa: S104
        port: int = 8080,
        db: Database | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.db = db
        self.app = web.Application(client_max_size=1024 * 1024)
        self._runner: web.AppRunner | None = None
        self.app.router.add_get("/healthz", self._health)
        if db is not None:
            self.app.router.add_get("/metrics", self._metrics)

    def add_routes(self, routes: list[web.RouteDef]) -> None:
        """A platform's routes (before ``start``)."""
        self.app.router.add_routes(routes)

    def mount(self, other: web.Application) -> None:
        """Every route of another aiohttp app (its paths as they are)."""
        for resource in other.router.resources():
            for route in resource:
                if route.method == "HEAD":
                    continue
                info = resource.get_info()
                path = info.get("path") or info.get("formatter")
                if path is None or (path == "/healthz" and route.method == "GET"):
                    continue
                self.app.router.add_route(route.method, str(path), route.handler)

    async def start(self) -> int:
        """Listen; return the port (the one the system chose, for port 0)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("HTTP listening on port %s", self.port)
        return self.port

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, _request: web.Request) -> web.Response:
        if self.db is not None and not await healthy(self.db):
            return web.Response(status=503, text="database unavailable")
        return web.Response(text="ok")

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self.db is not None
        if "X-Forwarded-For" in request.headers:
            # Through the load balancer (it sets the header on every request): the metrics
            # are for the monitoring on each worker's own port, never the public, whatever
            # spelling of the path got past the balancer's own rule.
            raise web.HTTPNotFound()
        try:
            body = await METRICS.render(self.db)
        except Exception as exc:
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            return web.Response(status=503, text="database unavailable")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
