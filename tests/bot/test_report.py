"""The results count what they say: sent surveys, each question's n, skipped and not asked,
started-but-not-sent apart; the same figures in the report (HTML), the spreadsheet and CSV.

The consultation (``tests.auxil.consultation``): four sent, one started and not sent.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.clock import FixedClock
from bot.engine import Engine
from bot.export import write_csv, write_xlsx
from bot.messages import Outgoing, ParticipantRef
from bot.report import chromium, html_report
from bot.results import Results, build_results
from storage.database import Database
from tests.auxil.consultation import REGISTERED, SENT, UNSENT, fill_consultation
from tests.bot.test_results import dispatcher_for, staff_asks_for

# question number: (answered, skipped, not asked, answers in unsent surveys)
PER_QUESTION = {
    1: (4, 0, 0, 1),  # answering as
    2: (4, 0, 0, 1),  # municipality
    3: (1, 0, 3, 0),  # age: young people only
    4: (4, 0, 0, 1),  # library use
    5: (1, 0, 3, 1),  # uses the library for: not asked of those who never use it
    6: (4, 0, 0, 1),  # priorities
    7: (4, 0, 0, 0),
    8: (4, 0, 0, 0),
    9: (1, 0, 3, 0),  # a library for young people (written)
    10: (1, 3, 0, 0),  # ideas: three skipped
    11: (4, 0, 0, 0),
    12: (1, 0, 3, 0),  # input meeting: only for those who follow the process
}
# counts table title: {answer: (count, percent)}, of the sent surveys only
COUNTS = {
    "Answering as (4 answered)": {
        "Library employee": (1, 25.0),
        "Municipality": (0, 0.0),
        "Resident": (2, 50.0),
        "Young person (under 26)": (1, 25.0),
    },
    "Municipality (4 answered)": {"Asker": (2, 50.0), "Moss": (2, 50.0)},
    "Age (1 answered)": {"16–19": (1, 100.0), "Under 13": (0, 0.0)},
    "Library use (4 answered)": {"Every week": (1, 25.0), "Never": (3, 75.0)},
    "Uses the library for (1 answered)": {"Borrow books": (1, 100.0)},
    "Priorities (4 answered)": {
        "Getting people reading": (2, 50.0),
        "Learning and education": (1, 25.0),
        "Digital inclusion": (2, 50.0),  # the unsent survey's pick is not counted
    },
    "Importance locally (4 answered)": {"4": (3, 75.0), "5": (1, 25.0)},
    "Follows the process (4 answered)": {"Yes": (1, 25.0), "No": (3, 75.0)},
}
PRIORITIES_BY_ROLE = "Priorities, by answer to \u201cWho are you answering as?\u201d"


@pytest.fixture
async def results(engine: Engine, db: Database, clock: FixedClock) -> Results:
    await fill_consultation(engine)
    return await build_results(db, engine.campaign, clock.now(), lang="en")


def section_of(page: str, number: int) -> str:
    return page.split(f"<section class='question' id='q{number}'>")[1].split("</section>")[0]


def row(name: str, *cells: str) -> str:
    return f"<th scope='row'>{name}</th>" + "".join(f"<td class='num'>{c}</td>" for c in cells)


async def test_the_summary_counts_sent_surveys_and_started_ones_apart(results: Results) -> None:
    summary = results.summary
    assert (summary.sent, summary.unsent) == (SENT, UNSENT)
    assert sum(m.confirmed + m.waiting for m in summary.meetings) == REGISTERED
    by_role = {r[0]: r[1] for r in summary.participants[0].rows}
    assert by_role["Library employee"] == 1  # the one who did not send is not counted
    assert [t.title for t in summary.participants] == [
        "Who are you answering as?",
        "How old are you?",
        "Which municipality do you live, work or go to school in?",
    ]
    assert "Drammen" not in {r[0] for t in summary.participants for r in t.rows}


async def test_every_figure_of_the_html_report(results: Results) -> None:
    page = html_report(results)

    assert f"<li data-figure='sent'><strong>{SENT}</strong>" in page
    assert f"<li data-figure='unsent'><strong>{UNSENT}</strong>" in page
    assert f"<li data-figure='registered'><strong>{REGISTERED}</strong>" in page
    for number, (answered, skipped, not_asked, unsent) in PER_QUESTION.items():
        section = section_of(page, number)
        line = f"Answered (n): {answered} · skipped: {skipped} · not asked: {not_asked}"
        assert line in section, number
        unsent_line = f"Answers in surveys started but not sent (not counted): {unsent}"
        assert (unsent_line in section) == bool(unsent), number
    for title, answers in COUNTS.items():
        table = page.split(f"<caption>{title}</caption>")[1].split("</table>")[0]
        for answer, (count, percent) in answers.items():
            assert row(answer, str(count), f"{percent:.1f}%") in table, (title, answer)
    breakdown = page.split(f"<caption>{PRIORITIES_BY_ROLE}")[1].split("</table>")[0]
    # Columns in the question's order, a role nobody chose included: its n is 0, its cells '–'.
    assert re.findall(r"<th scope='col'[^>]*>([^<]*)</th>", breakdown) == [
        "Answer",
        "Library employee",
        "Municipality",
        "School",
        "Organisation or association",
    ]
    assert row("Answered (n)", "1", "0", "0", "0") in breakdown
    assert row("Learning and education", "100.0%", "–", "–", "–") in breakdown
    assert "Open on Sundays" in section_of(page, 10) and "free text from y1" in page
    assert "Drammen" not in page  # the unsent survey's municipality appears nowhere
    assert "Name of" not in page


async def test_the_report_speaks_norwegian_numbers_and_dates(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    await fill_consultation(engine)
    page = html_report(await build_results(db, engine.campaign, clock.now()))

    assert row("Digital inkludering", "2", "50,0\u00a0%") in page
    assert "mandag 14. juni 2021 kl. 12:00" in page  # the deadline, Oslo time
    assert "Resultater per 25. mai 2021" in page
    assert "<html lang='nb' dir='ltr'>" in page


async def test_every_figure_of_the_spreadsheet(results: Results, tmp_path: Path) -> None:
    workbook = load_workbook(write_xlsx(results, tmp_path / "r.xlsx"))

    responses = list(workbook["Responses"].iter_rows(values_only=True))
    statuses = [r[1] for r in responses[1:]]
    assert statuses.count("Submitted") == SENT and statuses.count("In progress") == UNSENT
    sent_at = [r[2] for r in responses[1:] if r[1] == "Submitted"]
    assert all(isinstance(t, datetime) for t in sent_at)  # a date, not text
    assert workbook["Responses"]["C2"].number_format == "yyyy-mm-dd hh:mm"
    cells = {}
    title = ""
    for line in workbook["Counts"].iter_rows():
        if len(line) == 1 or line[1].value is None:
            title = str(line[0].value)
        elif title in COUNTS and line[0].value in COUNTS[title]:
            cells[(title, line[0].value)] = (line[1].value, line[2].value, line[2].number_format)
    assert cells == {
        (title, answer): (count, percent / 100, "0.0%")
        for title, answers in COUNTS.items()
        for answer, (count, percent) in answers.items()
    }
    breakdown = [list(r) for r in workbook["Breakdowns"].iter_rows(values_only=True)]
    at = next(i for i, r in enumerate(breakdown) if str(r[0]).startswith(PRIORITIES_BY_ROLE))
    header, n_row = breakdown[at + 1], breakdown[at + 2]
    assert header[:7] == (
        ["Answer", "Library employee", "Municipality", "School"]
        + ["Organisation or association", "Resident", "Young person (under 26)"]
    )
    assert n_row[:7] == ["Answered (n)", 1, 0, 0, 0, 2, 1]
    assert not workbook["Counts"].sheet_view.rightToLeft


async def test_every_figure_of_the_csv_files(results: Results, tmp_path: Path) -> None:
    write_csv(results, tmp_path / "csv")

    def rows(name: str) -> list[list[str]]:
        text = (tmp_path / "csv" / f"{name}.csv").read_text("utf-8-sig")
        return list(csv.reader(io.StringIO(text)))

    responses = rows("responses")
    assert [r[1] for r in responses[1:]].count("Submitted") == SENT
    assert re.fullmatch(r"2021-05-25T10:00:00\+02:00", responses[1][2])  # local, with offset
    counts = rows("counts")
    found = {}
    title = ""
    for line in counts:
        if len(line) == 1:
            title = line[0]
        elif title in COUNTS and line and line[0] in COUNTS[title]:
            found[(title, line[0])] = (int(line[1]), float(line[2]))
    assert found == {
        (title, answer): figures
        for title, answers in COUNTS.items()
        for answer, figures in answers.items()
    }
    breakdowns = rows("breakdowns")
    at = next(i for i, r in enumerate(breakdowns) if r and r[0].startswith(PRIORITIES_BY_ROLE))
    assert breakdowns[at + 2][:7] == ["Answered (n)", "1", "0", "0", "0", "2", "1"]
    learning = next(r for r in breakdowns[at:] if r[0] == "Learning and education")
    assert learning[:3] == ["Learning and education", "100.0", ""]
    assert "Drammen" not in (tmp_path / "csv" / "counts.csv").read_text("utf-8-sig")


async def test_the_spreadsheet_reads_right_to_left_in_arabic(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    await fill_consultation(engine)
    results = await build_results(db, engine.campaign, clock.now(), lang="ar")
    workbook = load_workbook(write_xlsx(results, tmp_path / "ar.xlsx"))

    assert all(sheet.sheet_view.rightToLeft for sheet in workbook)


needs_chromium = pytest.mark.skipif(chromium() is None, reason="chromium is not installed")


@needs_chromium
def test_export_command_writes_a_pdf(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "handlers", "export", "--format", "pdf", "--language", "en"]
        + ["--output", str(tmp_path / "r.pdf"), "--database", str(tmp_path / "e.sqlite3")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


@needs_chromium
async def test_staff_get_the_pdf_report_from_the_outbox(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    await fill_consultation(engine)
    chat = await staff_asks_for(engine, db, clock, "Results as a report (PDF)")
    assert "Preparing the results" in chat.text
    sent: list[tuple[ParticipantRef, Outgoing]] = []

    await dispatcher_for(engine, db, clock, sent).run_once()

    attachment = sent[0][1].attachment
    assert attachment is not None and attachment.filename == "results.pdf"
    assert attachment.mime_type == "application/pdf" and attachment.data.startswith(b"%PDF")


async def test_without_chromium_staff_are_told_and_get_the_html_report(
    engine: Engine, db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot import staff

    monkeypatch.setattr(staff, "chromium", lambda: None)
    chat = await staff_asks_for(engine, db, clock, "Results as a report (PDF)")
    assert "cannot make PDFs" in chat.text
    sent: list[tuple[ParticipantRef, Outgoing]] = []

    await dispatcher_for(engine, db, clock, sent).run_once()

    attachment = sent[0][1].attachment
    assert attachment is not None and attachment.filename == "results.html"


async def test_the_pdf_report_is_refused_to_anyone_else(engine: Engine, db: Database) -> None:
    from bot.messages import Kind
    from tests.auxil.chat import Chat

    chat = Chat(engine, "not-staff")
    await chat.command("staff")
    replies = await chat.deliver(chat.incoming(Kind.BUTTON, payload="g:report:pdf"))
    assert "only for the consultation's staff" in replies[0].text
    assert await db.transact(lambda tx: tx.fetchall("SELECT * FROM outbox")) == []
