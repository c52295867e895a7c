"""The report as a person meets it: opened in headless Chromium, every chart decoded and
every table there, fitting a 1024 px window and A4 in Norwegian, English and Arabic, and
printed to PDF. Skips when Chromium is not installed (.ci/run installs it from the Debian
packages when it can).

The screenshots and the PDF's pages (``pdftoppm``) are left in the test's temporary folder
(``report-<lang>-1024.png``, ``report-<lang>-a4.png``, ``report-<lang>-page-N.png``) to look
at.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.campaign import Campaign, load_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.export import write_html
from bot.report import write_pdf
from bot.results import Results, build_results
from storage.database import Database
from tests.auxil.browser import A4_PRINTABLE_PX, CHROMIUM, FLAGS
from tests.auxil.browser import chromium as devtools
from tests.auxil.consultation import fill_consultation
from tests.bot.test_results import PEOPLE, answer

PDFTOPPM = shutil.which("pdftoppm")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install chromium; .ci/run does it as root)",
)

# Once the page has loaded, each image says how wide it decoded (0: broken), for --dump-dom.
PROBE = (
    "<script>window.addEventListener('load', () => { for (const img of document.images) "
    "img.setAttribute('data-decoded-width', img.naturalWidth) })</script>"
)

OVERFLOW = """(() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.right > width + 1 || box.left < -1) {
      out.push(`${el.tagName} ${Math.round(box.left)}..${Math.round(box.right)} ` +
               (el.textContent || '').trim().slice(0, 40));
    }
  }
  return {width, scroll: document.documentElement.scrollWidth, out: out.slice(0, 10)};
})()"""

IMAGES = "[...document.images].map(img => [img.complete, img.naturalWidth, img.width])"

SUMMARY = """(() => {
  const figure = key => document.querySelector(`[data-figure='${key}'] strong`).textContent;
  const first = document.querySelector('#summary table');
  const rows = [...first.querySelectorAll('tbody tr')].map(
    tr => [tr.cells[0].textContent, tr.cells[1].textContent]);
  return {sent: figure('sent'), unsent: figure('unsent'), registered: figure('registered'),
          rows};
})()"""


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
        *FLAGS,
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
    # Every count table and every meeting's registrations; a breakdown's first part; the
    # table of every response (35 columns) is the spreadsheet's, not the page's.
    for table in [*results.counts, *results.registrations]:
        assert table.title in dom.captions
    for table in results.breakdowns:
        assert table.title in dom.captions or f"{table.title}: " in page
    assert results.responses.title not in dom.captions
    assert dom.tables >= len(results.counts) + len(results.registrations)
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


async def figures_in_database(db: Database, campaign: Campaign, lang: str) -> dict[str, object]:
    """The summary's figures counted straight from the tables, for comparison."""

    async def read(tx):  # type: ignore[no-untyped-def]
        statuses = dict(
            await tx.fetchall("SELECT status, count(*) FROM responses GROUP BY status")
        )
        registered = await tx.fetchall(
            "SELECT count(*) FROM registrations WHERE status != 'cancelled'"
        )
        roles = await tx.fetchall(
            "SELECT a.value, count(*) FROM answers a JOIN responses r ON r.id = a.response_id "
            "WHERE r.status = 'submitted' AND a.question_id = 'category' AND a.skipped = 0 "
            "GROUP BY a.value"
        )
        return statuses, registered[0][0], roles

    statuses, registered, roles = await db.read(read)
    survey = campaign.survey
    assert survey is not None
    category = survey.question("category")
    assert category is not None
    by_role = {json.loads(value): count for value, count in roles}
    return {
        "sent": str(statuses.get("submitted", 0)),
        "unsent": str(statuses.get("in_progress", 0)),
        "registered": str(registered),
        "rows": [
            [campaign.text(o.label, lang), str(by_role.get(o.id, 0))] for o in category.options
        ],
    }


@pytest.mark.parametrize("lang", ["nb", "en", "ar"])
async def test_the_report_fits_a_window_and_a4_with_every_chart_in_each_direction(
    db: Database, clock: FixedClock, tmp_path: Path, lang: str
) -> None:
    campaign = load_campaign(None)  # as shipped, with its texts in every language
    await fill_consultation(Engine(campaign, db, clock))
    results = await build_results(db, campaign, clock.now(), lang=lang)
    page = write_html(results, tmp_path / f"report-{lang}.html")
    expected = await figures_in_database(db, campaign, lang)

    async with devtools(tmp_path) as browser:
        tab = await browser.tab()
        for name, width, print_media in (
            ("1024", 1024, False),
            ("a4", A4_PRINTABLE_PX, True),
        ):
            await tab.open(page.as_uri(), width, print_media=print_media)
            await tab.screenshot(tmp_path / f"report-{lang}-{name}.png")

            overflow = await tab.evaluate(OVERFLOW)
            assert overflow["out"] == [], (name, overflow)
            assert overflow["scroll"] <= overflow["width"], (name, overflow)
            images = await tab.evaluate(IMAGES)
            assert len(images) == len(results.charts)
            assert [natural for _done, natural, _w in images] == [
                png_width(chart.png) for chart in results.charts
            ]
            assert all(done and 0 < shown <= width for done, _n, shown in images)
            assert await tab.evaluate(SUMMARY) == expected
            direction = await tab.evaluate("getComputedStyle(document.body).direction")
            assert direction == ("rtl" if lang == "ar" else "ltr")

    pdf = write_pdf(results, tmp_path / f"report-{lang}.pdf")  # as `export --format pdf`
    printed = pdf.read_bytes()
    assert printed.startswith(b"%PDF")
    sizes = {
        tuple(round(float(x)) for x in m)
        for m in re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", printed)
    }
    assert sizes == {(596, 842)} or sizes == {(595, 842)}  # A4 in points
    if PDFTOPPM is not None:
        process = await asyncio.create_subprocess_exec(
            PDFTOPPM, "-r", "60", "-png", str(pdf), str(tmp_path / f"report-{lang}-page")
        )
        assert await process.wait() == 0
        pages = await asyncio.to_thread(lambda: list(tmp_path.glob(f"report-{lang}-page-*")))
        assert len(pages) >= 2
