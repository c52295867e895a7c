"""The web chat over HTTP: the page (in the visitor's language), its script and stylesheet,
the WebSocket, the embed script, and QR codes for posters.

Safe on the open internet: a Content-Security-Policy with no inline script (the page's
texts travel as a JSON data block, which is never run), ``frame-ancestors`` limited to the
sites allowed to embed the chat, every text written into the page escaped (and the script
only ever sets ``textContent``), no referrer, no MIME sniffing.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import segno
from aiohttp import web

from bot.campaign import Campaign
from bot.i18n import _, pick_language, use_language
from bot.payloads import CONSULTATION_LINK, SURVEY_LINK
from handlers.web.chat import TEXT_MAX, WebChat, direction

STATIC = Path(__file__).resolve().parent / "static"
START_MAX = 64
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_strings(lang: str) -> dict[str, str]:
    """The page's own texts (around the conversation) in ``lang``."""
    with use_language(lang):
        return {
            "log": _("Conversation"),
            "input": _("Your message"),
            "send": _("Send"),
            "connecting": _("Connecting…"),
            "offline": _("The connection was lost. Reconnecting… Nothing you wrote is lost."),
            "left": _("{n} characters left"),
            "over": _("{n} characters too many"),
            "you": _("You"),
            "bot": _("Consultation"),
            "device": _("Continue on another device"),
            "your_code": _(
                "Your code: {code}. Type it on the other device within {minutes} minutes. "
                "It works once."
            ),
            "have_code": _("I have a code from another device"),
            "code_label": _("Code"),
            "use_code": _("Use the code"),
            "download": _("Download {name}"),
            "qr": _("QR code for a poster"),
            "sending": _("Sending…"),
        }


def fill(template: str, values: dict[str, str]) -> str:
    """``{{name}}`` in ``template`` replaced by its value, in one pass (a value that reads
    ``{{...}}`` itself stays as it is)."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), m.group(0)), template)


class WebServer:
    """The routes of the web chat, for ``handlers.http.HttpServer``."""

    def __init__(self, chat: WebChat, *, public_url: str = "") -> None:
        self.chat = chat
        self.public_url = public_url.rstrip("/")
        self._template = (STATIC / "index.html").read_text(encoding="utf-8")
        self._poster = (STATIC / "poster.html").read_text(encoding="utf-8")

    def routes(self) -> list[web.RouteDef]:
        """Every route of the web chat."""
        return [
            web.get("/", self._secured(self.page)),
            web.get("/ws", self.chat.socket),
            web.get("/embed.js", self._secured(self.embed)),
            web.get("/qr.svg", self._secured(self.qr)),
            web.get("/poster", self._secured(self.poster)),
            web.get("/static/{name}", self._secured(self.static)),
        ]

    # -- security headers ---------------------------------------------------------------

    def _secured(self, handler: Handler) -> Handler:
        async def secured(request: web.Request) -> web.StreamResponse:
            response = await handler(request)
            ancestors = " ".join(["'self'", *sorted(self.chat.allowed_origins)])
            response.headers["Content-Security-Policy"] = (
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                f"frame-ancestors {ancestors}"
            )
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            return response

        return secured

    # -- the page -----------------------------------------------------------------------

    def language_for(self, request: web.Request) -> str:
        """The page's language: ``?lang=``, else the browser's, among the campaign's."""
        engine = self.chat.engine
        wanted = request.query.get("lang") or ""
        if not wanted:
            accept = request.headers.get("Accept-Language", "")
            wanted = accept.split(",")[0].split(";")[0].strip()
        return pick_language(
            wanted or None, engine.offered_languages, engine.campaign.default_language
        )

    def campaign_for(self, start: str) -> Campaign:
        """The campaign a deep link names (``survey-culture``), else the default one: the
        page and the poster carry its title."""
        for prefix in (SURVEY_LINK, CONSULTATION_LINK):
            if start.startswith(prefix):
                named = self.chat.engine.campaigns.get(start.removeprefix(prefix))
                if named is not None:
                    return named
        return self.chat.engine.campaign

    async def page(self, request: web.Request) -> web.Response:
        """``GET /``: the chat, in its own page (or in an organiser's iframe)."""
        lang = self.language_for(request)
        start = request.query.get("start", "")[:START_MAX]
        campaign = self.campaign_for(start)
        strings = {code: page_strings(code) for code in self.chat.engine.offered_languages}
        data = {
            "lang": lang,
            "strings": strings,
            "dirs": {code: direction(code) for code in strings},
            "textMax": TEXT_MAX,
        }
        values = {
            "lang": lang,
            "dir": direction(lang),
            "title": campaign.text(campaign.campaign.title, lang),
            "organiser": campaign.text(campaign.campaign.organiser, lang),
            "start": start,
            "qr": "/poster?" + urlencode({"start": start, "lang": lang}),
            **{f"s_{k}": v for k, v in strings[lang].items()},
        }
        filled = {k: html.escape(v, quote=True) for k, v in values.items()}
        # A data block, never run; "<" escaped so that no text can end the element.
        filled["data"] = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
        return web.Response(
            text=fill(self._template, filled), content_type="text/html", charset="utf-8"
        )

    async def static(self, request: web.Request) -> web.StreamResponse:
        """The page's script and stylesheet (shipped in the package)."""
        name = request.match_info["name"]
        types = {".js": "text/javascript", ".css": "text/css"}
        path = STATIC / name
        if "/" in name or name.startswith(".") or path.suffix not in types or not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(
            body=path.read_bytes(),
            content_type=types[path.suffix],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def embed(self, request: web.Request) -> web.Response:
        """``GET /embed.js``: the snippet an organiser puts on their page."""
        return web.Response(
            body=(STATIC / "embed.js").read_bytes(),
            content_type="text/javascript",
            charset="utf-8",
        )

    # -- QR codes -----------------------------------------------------------------------

    def link(self, request: web.Request, start: str, lang: str = "") -> str:
        """The address of the chat, opening at ``start`` (a deep link)."""
        base = self.public_url or f"{request.scheme}://{request.host}"
        query = {k: v for k, v in (("start", start), ("lang", lang)) if v}
        return f"{base}/" + (f"?{urlencode(query)}" if query else "")

    async def qr(self, request: web.Request) -> web.Response:
        """``GET /qr.svg?start=survey``: the link as a QR code (segno), for a poster."""
        start = request.query.get("start", "")[:START_MAX]
        lang = request.query.get("lang", "")[:8]
        buffer = io.BytesIO()
        segno.make(self.link(request, start, lang), error="m").save(
            buffer, kind="svg", scale=8, border=4, xmldecl=False, svgns=True
        )
        return web.Response(body=buffer.getvalue(), content_type="image/svg+xml")

    async def poster(self, request: web.Request) -> web.Response:
        """``GET /poster?start=survey``: a page to print: the title, the QR code, the link."""
        lang = self.language_for(request)
        start = request.query.get("start", "")[:START_MAX]
        campaign = self.campaign_for(start)
        with use_language(lang):
            scan = _("Scan the code with your phone's camera, or open the address:")
        values = {
            "lang": lang,
            "dir": direction(lang),
            "title": campaign.text(campaign.campaign.title, lang),
            "organiser": campaign.text(campaign.campaign.organiser, lang),
            "scan": scan,
            "link": self.link(request, start, lang),
            "qr": "/qr.svg?" + urlencode({"start": start, "lang": lang}),
        }
        filled = {k: html.escape(v, quote=True) for k, v in values.items()}
        return web.Response(
            text=fill(self._poster, filled), content_type="text/html", charset="utf-8"
        )
