"""The HTML report as a person meets it: opened in headless Chromium, every chart decoded and
every table there, and printable. Skips when Chromium is not installed (.ci/run installs it
from the Debian packages when it can)."""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.clock import FixedClock
from bot.engine import Engine
from bot.export import write_html
from bot.results import Results, build_results
from storage.database import Database
from tests.bot.test_results import PEOPLE, answer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium; .ci/run does it as root)",
)

# Once the page has loaded, each image says how wide it decoded (0: broken), for --dump-dom.
PROBE = (
    "<script>window.addEventListener('load', () => { for (const img of document.images) "
    "img.setAttribute('data-decoded-width', img.naturalWidth) })</script>"
)


class Page(HTMLParser):
    """What a dumped DOM holds: images, table captions, external references."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.captions: list[str] = []
        self.tables = 0
        self.external: list[str] = []
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img":
            self.images.append(found)
        elif tag == "table":
            self.tables += 1
        elif tag == "caption":
            self._in_caption = True
            self.captions.append("")
        for name in ("src", "href"):
            value = found.get(name)
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._in_caption:
            self.captions[-1] += data


async def chromium(tmp_path: Path, *args: str) -> bytes:
    """Run headless Chromium offline with a profile of its own; its standard output."""
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0
    return out


def png_width(png: bytes) -> int:
    """The width a PNG's header gives."""
    width: int = struct.unpack(">I", png[16:20])[0]
    return width


async def report(engine: Engine, db: Database, clock: FixedClock) -> Results:
    for person in PEOPLE:
        await answer(engine, *person)
    return await build_results(db, engine.campaign, clock.now())  # the default language, nb


async def test_the_report_shows_every_chart_and_table_in_chromium(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    results = await report(engine, db, clock)
    page = write_html(results, tmp_path / "report.html").read_text("utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), "utf-8")

    dom = Page()
    dom.feed((await chromium(tmp_path, "--dump-dom", probe.as_uri())).decode("utf-8"))

    assert results.charts and len(dom.images) == len(results.charts)
    decoded = [int(img["data-decoded-width"] or 0) for img in dom.images]
    assert decoded == [png_width(chart.png) for chart in results.charts]  # each one decoded
    assert [img["alt"] for img in dom.images] == [chart.title for chart in results.charts]
    tables = [
        *results.registrations,
        *results.counts,
        *results.breakdowns,
        *results.free_text,
        results.responses,
    ]
    assert dom.tables == len(tables)
    assert dom.captions == [table.title for table in tables]
    assert dom.external == []  # one self-contained file: nothing fetched from elsewhere


async def test_the_report_prints(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    results = await report(engine, db, clock)
    page = write_html(results, tmp_path / "report.html")
    pdf = tmp_path / "report.pdf"

    await chromium(tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())

    printed = pdf.read_bytes()
    assert printed.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page\b", printed))
    assert pages >= 2  # charts and tables do not fit one page: they flow over several
