"""The report to read and hand on: one self-contained HTML page, and the same page as a PDF.

It opens with a summary (what was asked, of whom, when; how many sent the survey and how many
only started it; who took part; the meetings), then a section per question (its n, chart,
table, breakdowns, the written answers), the method and privacy note, and the registrations.
Numbers, percentages and dates are in the report's language (Babel) and the campaign's time
zone; a right-to-left language lays the page out right to left. The page fits A4 and a
1024 px window: the wide table of every response is left to the spreadsheet, and a breakdown
with many groups (municipalities) too.

The PDF is the page printed by headless Chromium (``print_to_pdf``), the browser the tests
open the report in: it lays out Arabic and prints exactly what a reader sees.
"""

from __future__ import annotations

import base64
import html
import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime

from bot.errors import ReportError
from bot.i18n import (
    _,
    babel_locale,
    fmt_date,
    fmt_day_and_time,
    fmt_number,
    fmt_percent,
    is_right_to_left,
    use_language,
)
from bot.results import Results, Section, Share, Summary, Table

MAX_GROUPS = 12
"""A breakdown with more groups than this is left to the spreadsheet: it would not fit."""
GROUPS_PER_TABLE = 4
"""Columns of a breakdown table on A4; more groups continue in a second table."""
LIST_ROWS = 12
"""A summary table longer than this (municipalities) reads better as a list in columns."""
PDF_TIMEOUT = 180.0

CSS = """
@page { size: A4; margin: 16mm 15mm 18mm;
  @bottom-center { content: counter(page) " / " counter(pages); font: 9pt sans-serif;
    color: #666; } }
* { box-sizing: border-box; }
html { font-family: "Noto Sans", "Noto Sans Arabic", "Noto Naskh Arabic", "DejaVu Sans",
  Arial, sans-serif; font-size: 11pt; line-height: 1.45; color: #1a1a1a; background: #fff; }
body { margin: 0; }
main { max-width: 48rem; margin: 0 auto; padding: 1.5rem 1.25rem 3rem; }
h1 { font-size: 1.7rem; line-height: 1.2; margin: .2rem 0 .6rem; }
h2 { font-size: 1.25rem; line-height: 1.3; margin: 2.2rem 0 .5rem; padding-bottom: .2rem;
  border-bottom: 2px solid #2b6cb0; break-after: avoid; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; break-after: avoid; }
p, li, td, th, caption { overflow-wrap: break-word; }
.organiser, .meta, .note { color: #4a4a4a; }
.meta, .note { font-size: .93rem; }
.figures { display: flex; flex-wrap: wrap; gap: .6rem; list-style: none; padding: 0;
  margin: 1rem 0; }
.figures li { flex: 1 1 12rem; border: 1px solid #cbd6e2; border-radius: 4px;
  background: #f3f6fa; padding: .5rem .75rem; break-inside: avoid; }
.figures strong { display: block; font-size: 1.6rem; line-height: 1.2; }
table { border-collapse: collapse; width: min(34rem, 100%); margin: .4rem 0 1.2rem;
  font-size: .95rem; }
table.wide { width: 100%; }
table.short { break-inside: avoid; }
caption { caption-side: top; text-align: start; font-weight: 600; padding: .3rem 0; }
th, td { border-bottom: 1px solid #d6d6d6; padding: .25rem .5rem; text-align: start;
  vertical-align: top; }
thead th { background: #eaf0f7; }
tbody th { font-weight: normal; }
tr.n td, tr.n th { color: #4a4a4a; font-style: italic; }
.num { text-align: end; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr { break-inside: avoid; }
figure { margin: .6rem 0; break-inside: avoid; }
img { display: block; max-width: 100%; height: auto; }
ul.columns { columns: 3 11rem; padding-inline-start: 1.2rem; }
ol.answers li { margin: .35rem 0; white-space: pre-wrap; }
@media print { main { max-width: none; padding: 0; } }
"""


def write_html(results: Results, path: Path) -> Path:
    """The report as an HTML file to open in a browser and print."""
    path.write_text(html_report(results), encoding="utf-8")
    return path


def html_report(results: Results) -> str:
    """The report as one self-contained HTML page (the charts are embedded PNG images)."""
    with use_language(results.lang):
        return _Page(results).render()


def write_pdf(results: Results, path: Path) -> Path:
    """The report as a PDF file (A4), printed by headless Chromium."""
    path.write_bytes(print_to_pdf(html_report(results)))
    return path


def chromium() -> str | None:
    """The Chromium (or Chrome) that prints PDFs, if one is installed."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((found for name in names if (found := shutil.which(name))), None)


def print_to_pdf(page: str, browser: str | None = None) -> bytes:
    """An HTML page printed to PDF by headless Chromium, offline, in a profile of its own."""
    browser = browser or chromium()
    if browser is None:
        raise ReportError("a PDF needs Chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="participation-bot-pdf-") as folder:
        source, target = Path(folder, "report.html"), Path(folder, "report.pdf")
        source.write_text(page, encoding="utf-8")
        args = [
            browser,
            "--headless",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={Path(folder, 'profile')}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            source.as_uri(),
        ]
        if os.name == "posix" and os.geteuid() == 0:  # Chromium's sandbox refuses root
            args.insert(1, "--no-sandbox")
        try:
            done = subprocess.run(args, capture_output=True, timeout=PDF_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ReportError(f"Chromium took over {PDF_TIMEOUT:.0f} s to print") from exc
        if done.returncode != 0 or not target.is_file():
            raise ReportError(f"Chromium could not print the report (exit {done.returncode})")
        return target.read_bytes()


_NUM = " class='num'"


def _numeric(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


class _Page:
    """The report's HTML, in the current language (see ``html_report``)."""

    def __init__(self, results: Results) -> None:
        self.r = results
        self.locale = babel_locale(results.lang)

    def cell(self, value: Any) -> str:
        """A cell's text as the reader's language writes it."""
        if value is None:
            return "\u2013"
        if isinstance(value, Share):
            return fmt_percent(value)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float):
            return fmt_number(value)
        if isinstance(value, datetime):
            return format_datetime(value, "short", tzinfo=self.r.tz, locale=self.locale)
        return str(value)

    def day(self, value: datetime) -> str:
        return fmt_date(value, self.r.tz)

    def table(self, table: Table, *, n_row: bool = False) -> str:
        numeric = [
            column > 0 and all(_numeric(row[column]) for row in table.rows)
            for column in range(len(table.header))
        ]
        head = "".join(
            f"<th scope='col'{_NUM if numeric[c] else ''}>{_e(h)}</th>"
            for c, h in enumerate(table.header)
        )
        rows = []
        for number, row in enumerate(table.rows):
            cells = [f"<th scope='row'>{_e(self.cell(row[0]))}</th>"] + [
                f"<td{_NUM if numeric[c] else ''}>{_e(self.cell(value))}</td>"
                for c, value in enumerate(row[1:], 1)
            ]
            n = " class='n'" if n_row and number == 0 else ""
            rows.append(f"<tr{n}>{''.join(cells)}</tr>")
        # A short table is kept on one page (its caption with it); a long one may break.
        css = ["wide"] if len(table.header) > 3 else []
        css += ["short"] if len(table.rows) <= LIST_ROWS else []
        caption = f"<caption>{_e(table.title)}</caption>" if table.title else ""
        return (
            f"<table class='{' '.join(css)}'>{caption}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )

    def render(self) -> str:
        r = self.r
        direction = "rtl" if is_right_to_left(r.lang) else "ltr"
        as_of = _("Results as of {time}.").format(time=r.generated)
        parts = [
            f"<!doctype html><html lang='{_e(r.lang)}' dir='{direction}'><head>"
            "<meta charset='utf-8'><meta name='viewport' content='width=device-width, "
            f"initial-scale=1'><title>{_e(r.title)}</title><style>{CSS}</style></head>"
            "<body><main>",
            f"<header><p class='organiser'>{_e(r.summary.organiser)}</p>",
            f"<h1>{_e(r.title)}</h1>",
            f"<p class='meta'>{_e(as_of)}</p></header>",
            self.summary(r.summary),
            *(self.section(s) for s in r.sections),
            self.method(),
            self.registrations(),
            "</main></body></html>",
        ]
        return "\n".join(parts)

    def summary(self, s: Summary) -> str:
        heading = _("Summary")
        parts = [f"<section id='summary'><h2>{_e(heading)}</h2>", f"<p>{_e(s.about)}</p>"]
        if s.survey_title:
            asked = _(
                "The survey \u201c{survey}\u201d: {questions} questions, open until {deadline}."
            )
            deadline = fmt_day_and_time(s.deadline, self.r.tz) if s.deadline else "\u2013"
            text = asked.format(
                survey=s.survey_title, questions=fmt_number(s.questions), deadline=deadline
            )
            if s.first_started and s.last_sent:
                text += " " + _("Answers came in from {first} to {last}.").format(
                    first=self.day(s.first_started), last=self.day(s.last_sent)
                )
            parts.append(f"<p>{_e(text)}</p>")
        registered = sum(m.confirmed + m.waiting for m in s.meetings)
        figures = [
            ("sent", s.sent, _("sent the survey: the figures in this report count these")),
            ("unsent", s.unsent, _("started the survey without sending it: not counted")),
        ]
        if s.meetings:
            figures.append(("registered", registered, _("registrations for the meetings")))
        parts.append("<ul class='figures'>")
        for key, number, words in figures:
            parts.append(
                f"<li data-figure='{key}'><strong>{_e(fmt_number(number))}</strong> "
                f"{_e(words)}</li>"
            )
        parts.append("</ul>")
        who = _("Who took part")
        if s.participants:
            parts.append(f"<h3>{_e(who)}</h3>")
        for table in s.participants:
            n = sum(row[1] for row in table.rows)
            titled = Table(
                _("{title} (n = {n})").format(title=table.title, n=fmt_number(n)),
                table.header,
                [row for row in table.rows if row[1] or len(table.rows) <= LIST_ROWS],
            )
            parts.append(self.short_table(titled))
        meetings_heading = _("Meetings")
        if s.meetings:
            parts.append(f"<h3>{_e(meetings_heading)}</h3>")
            meetings = Table(
                "",  # the heading above says it
                [_("Meeting"), _("Date"), _("Confirmed"), _("Waiting list")],
                [
                    [
                        m.title,
                        fmt_day_and_time(m.start, self.r.tz)
                        if m.start
                        else format_date(m.day, "full", locale=self.locale),
                        m.confirmed,
                        m.waiting,
                    ]
                    for m in s.meetings
                ],
            )
            parts.append(self.table(meetings))
        parts.append("</section>")
        return "\n".join(parts)

    def short_table(self, table: Table) -> str:
        """A table, or a list in columns when it is long (municipalities)."""
        if len(table.rows) <= LIST_ROWS:
            return self.table(table)
        items = "".join(
            f"<li>{_e(row[0])}: {_e(self.cell(row[1]))} ({_e(self.cell(row[2]))})</li>"
            for row in table.rows
        )
        return f"<p><strong>{_e(table.title)}</strong></p><ul class='columns'>{items}</ul>"

    def section(self, s: Section) -> str:
        counted = _(
            "Answered (n): {answered} \u00b7 skipped: {skipped} \u00b7 not asked: {not_asked}"
        ).format(
            answered=fmt_number(s.answered),
            skipped=fmt_number(s.skipped),
            not_asked=fmt_number(s.not_asked),
        )
        parts = [
            f"<section class='question' id='q{s.number}'>",
            f"<h2>{_e(s.number)}. <bdi>{_e(s.question)}</bdi></h2>",
            f"<p class='meta'>{_e(counted)}</p>",
        ]
        if s.type == "multi":
            several = _(
                "Several answers could be chosen: the percentages add up to more than 100 %."
            )
            parts.append(f"<p class='note'>{_e(several)}</p>")
        if s.chart is not None:
            data = base64.b64encode(s.chart.png).decode("ascii")
            parts.append(
                f"<figure><img alt='{_e(s.chart.title)}' src='data:image/png;base64,{data}'>"
                "</figure>"
            )
        if s.counts is not None:
            parts.append(self.table(s.counts))
        for table in s.breakdowns:
            parts.append(self.breakdown(table))
        if s.type == "text":
            if s.answers:
                # Each answer in its own direction (a person may write in any language); the
                # list's numbers stay on the page's side.
                items = "".join(f"<li><div dir='auto'>{_e(a)}</div></li>" for a in s.answers)
                parts.append(f"<ol class='answers'>{items}</ol>")
            else:
                none = _("No written answers.")
                parts.append(f"<p class='note'>{_e(none)}</p>")
        if s.unsent_answered:
            unsent = _("Answers in surveys started but not sent (not counted): {count}")
            parts.append(
                f"<p class='note'>{_e(unsent.format(count=fmt_number(s.unsent_answered)))}</p>"
            )
        parts.append("</section>")
        return "\n".join(parts)

    def breakdown(self, table: Table) -> str:
        """A breakdown in tables A4 holds; one with too many groups is only named."""
        groups = len(table.header) - 1
        if groups > MAX_GROUPS:
            note = _("{title}: {groups} groups, in the spreadsheet.")
            return f"<p class='note'>{_e(note.format(title=table.title, groups=groups))}</p>"
        parts = []
        for start in range(1, groups + 1, GROUPS_PER_TABLE):
            columns = [0, *range(start, min(start + GROUPS_PER_TABLE, groups + 1))]
            title = (
                table.title if start == 1 else _("{title} (continued)").format(title=table.title)
            )
            piece = Table(
                title,
                [table.header[c] for c in columns],
                [[row[c] for c in columns] for row in table.rows],
            )
            parts.append(self.table(piece, n_row=True))
        return "\n".join(parts)

    def method(self) -> str:
        r, s = self.r, self.r.summary
        paragraphs = [
            _(
                "The figures count the surveys that were sent ({sent}). Surveys started but "
                "not sent ({unsent}) are left out of every figure, chart and percentage; the "
                "spreadsheet lists every response with its status."
            ).format(sent=fmt_number(s.sent), unsent=fmt_number(s.unsent)),
            _(
                "A percentage is of those who answered the question (its n): a question can "
                "be skipped, and some questions are asked only of some people."
            ),
            _(
                "Names, contact details and platform ids are left out of this report. The "
                "written answers are shown as people wrote them and may say who wrote them: "
                "read them before passing the report on."
            ),
        ]
        if r.retention_until is not None:
            erased = (
                _(
                    "Personal data is erased by {date}; the survey's choices are then kept "
                    "without names."
                )
                if r.keep_anonymous_answers
                else _("Personal data and the survey's answers are erased by {date}.")
            )
            when = format_date(r.retention_until, "long", locale=self.locale)
            paragraphs.append(erased.format(date=when))
        if is_right_to_left(r.lang):
            paragraphs.append(
                _(
                    "The charts are drawn left to right (the bars grow from the left); the "
                    "table under each chart gives the same figures."
                )
            )
        body = "".join(f"<p>{_e(p)}</p>" for p in paragraphs)
        heading = _("About these figures")
        return f"<section id='method'><h2>{_e(heading)}</h2>{body}</section>"

    def registrations(self) -> str:
        if not self.r.registrations:
            return ""
        tables = "".join(self.table(t) for t in self.r.registrations)
        heading = _("Registrations")
        return f"<section id='registrations'><h2>{_e(heading)}</h2>{tables}</section>"
