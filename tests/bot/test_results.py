"""Staff exports: the results as a spreadsheet, CSV and an HTML report, and the staff CLI."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot import staff
from bot.campaign import Question
from bot.clock import FixedClock
from bot.engine import Engine
from bot.export import write_csv, write_html, write_xlsx
from bot.messages import Attachment, Outgoing, ParticipantRef
from bot.outbox import DeliveryResult, OutboxDispatcher
from bot.results import CHOICE_TYPES, NOT_ASKED, SKIPPED, build_results
from bot.staff import ResultsFiles
from storage.database import Database
from storage.staff import grant_staff
from tests.auxil.chat import Chat

PEOPLE = [
    # user, category label, municipality, priorities
    ("r1", "Resident", "Moss", ["Getting people reading", "Digital inclusion"]),
    ("r2", "Resident", "Asker", ["Digital inclusion"]),
    ("y1", "Young person (under 26)", "Asker", ["Getting people reading"]),
]


async def answer(engine: Engine, user: str, category: str, town: str, picks: list[str]) -> None:
    chat = Chat(engine, user, profile_name=f"Name of {user}")
    await chat.command("start", "signup-info")
    await chat.press(f"Use \u201cName of {user}\u201d")
    await chat.press("Resident")
    await chat.send(town)
    await chat.press("Confirm sign-up")
    await chat.command("survey")
    await chat.press(category)
    await chat.send(town)
    if category.startswith("Young"):
        await chat.press("16–19")
    await chat.press("Never")
    for pick in picks:
        await chat.press(pick)
    await chat.press("Done")
    await chat.press("4")
    await chat.press("4 Quality education")
    await chat.press("Done")
    if category.startswith("Young"):
        await chat.send(f"free text from {user}")
    await chat.press("Skip")  # ideas
    await chat.press("No")
    await chat.press("Send my answers")


def choice_questions(engine: Engine) -> list[Question]:
    survey = engine.campaign.survey
    assert survey is not None
    return [q for q in survey.questions if q.type in CHOICE_TYPES]


async def results_of(engine: Engine, db: Database, clock: FixedClock, **options: object):  # type: ignore[no-untyped-def]
    for person in PEOPLE:
        await answer(engine, *person)
    return await build_results(db, engine.campaign, clock.now(), lang="en", **options)


async def test_xlsx_counts_match_the_answers_given(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    results = await results_of(engine, db, clock)
    path = write_xlsx(results, tmp_path / "results.xlsx")

    workbook = load_workbook(path)
    rows = list(workbook["Responses"].iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert len(data) == 3
    reading = header.index("Priorities: Getting people reading")
    assert [r[reading] for r in data] == [1, 0, 1]
    age = header.index("Age")
    assert [r[age] for r in data] == [NOT_ASKED, NOT_ASKED, "16–19"]
    ideas = header.index("Ideas")
    assert all(r[ideas] == SKIPPED for r in data)
    counts = list(workbook["Counts"].iter_rows())
    digital = next(r for r in counts if r[0].value == "Digital inclusion")
    # A percentage is a fraction with a percent format: Excel shows 66.7%.
    assert digital[1].value == 2 and digital[2].value == 2 / 3
    assert digital[2].number_format == "0.0%"
    assert "Charts" in workbook.sheetnames


async def test_csv_parses_back_and_leaves_out_names_and_ids(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    results = await results_of(engine, db, clock)
    write_csv(results, tmp_path / "csv")
    with (tmp_path / "csv" / "responses.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 4
    everything = "".join(p.read_text("utf-8-sig") for p in (tmp_path / "csv").glob("*.csv"))
    assert "Name of r1" not in everything and "r1" not in rows[1]
    assert "free text from y1" in everything
    breakdowns = (tmp_path / "csv" / "breakdowns.csv").read_text("utf-8-sig")
    assert "Resident" in breakdowns and "Asker" in breakdowns


async def test_contacts_only_when_asked_for(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    results = await results_of(engine, db, clock, with_contacts=True)
    table = results.registrations[0]
    assert "Name" in table.header and "Name of r1" in {row[1] for row in table.rows}


async def test_the_export_speaks_the_campaigns_default_language(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    for person in PEOPLE:
        await answer(engine, *person)
    results = await build_results(db, engine.campaign, clock.now())  # no language: nb
    workbook = load_workbook(write_xlsx(results, tmp_path / "resultater.xlsx"))

    assert results.lang == "nb"
    assert workbook.sheetnames[:3] == ["Besvarelser", "Påmeldinger", "Opptellinger"]
    rows = list(workbook["Besvarelser"].iter_rows(values_only=True))
    assert rows[0][:3] == ("Besvarelse", "Status", "Tidspunkt for innsending")
    assert rows[1][rows[0].index("Alder")] == "(ikke spurt)"
    counts = list(workbook["Opptellinger"].iter_rows(values_only=True))
    assert ("Svar", "Antall", "Prosent") in counts
    english = {"Responses", "Registrations", "Counts", "Answer", "Count", "Percent", "Response"}
    english |= {"(not asked)", "(skipped)", "Submitted", "Confirmed", "Charts", "Breakdowns"}
    cells = {
        word
        for sheet in workbook
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if isinstance(cell, str)
        for word in (cell, *cell.replace("(", " (").split())
    }
    assert not english & (cells | set(workbook.sheetnames))
    assert not {"confirmed", "waiting", "answered"} & cells


async def test_the_html_report_reads_right_to_left_in_arabic(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    results = await build_results(db, engine.campaign, clock.now(), lang="ar")
    page = write_html(results, tmp_path / "report.html").read_text("utf-8")
    assert "<html lang='ar' dir='rtl'>" in page and "النتائج حتى" in page


def test_sheet_names_are_made_acceptable_to_excel() -> None:
    from bot.export import sheet_name

    assert sheet_name("Svar: ja/nei [alle]?") == "Svar- ja-nei -alle--"
    assert len(sheet_name("x" * 40)) == 31


async def test_html_report_has_every_chart_and_table(
    engine: Engine, db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    results = await results_of(engine, db, clock)
    page = write_html(results, tmp_path / "report.html").read_text("utf-8")
    charts = len(choice_questions(engine))
    assert page.count("<img ") == charts == len(results.charts)
    assert page.count("data:image/png;base64,") == charts
    assert "Information meeting on the three strategies: 3 confirmed, 0 waiting" in page
    assert "Name of" not in page


def test_staff_can_be_granted_listed_and_removed(tmp_path: Path) -> None:
    database = str(tmp_path / "staff.sqlite3")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "handlers", "staff", *args, "--database", database],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert cli("add", "telegram:12345").returncode == 0
    assert cli("add", "slack:T1:U2").returncode == 0
    assert cli("list").stdout.split() == ["slack:T1:U2", "telegram:12345"]
    assert "no longer staff" in cli("remove", "telegram:12345").stdout
    assert cli("list").stdout.split() == ["slack:T1:U2"]
    bad = cli("add", "nobody")
    assert bad.returncode == 2 and "not a person" in bad.stderr


def test_export_command_writes_each_format(tmp_path: Path) -> None:
    for fmt, name in (("xlsx", "r.xlsx"), ("csv", "r-csv"), ("html", "r.html")):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "handlers",
                "export",
                "--format",
                fmt,
                "--output",
                str(tmp_path / name),
                "--database",
                str(tmp_path / "e.sqlite3"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / name).exists()
    english = subprocess.run(
        [sys.executable, "-m", "handlers", "export", "--format", "xlsx", "--language", "en"]
        + ["--output", str(tmp_path / "en.xlsx"), "--database", str(tmp_path / "e.sqlite3")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert english.returncode == 0, english.stderr
    assert load_workbook(tmp_path / "en.xlsx").sheetnames[0] == "Responses"
    assert load_workbook(tmp_path / "r.xlsx").sheetnames[0] == "Besvarelser"
    unknown = subprocess.run(
        [sys.executable, "-m", "handlers", "export", "--language", "de"]
        + ["--output", str(tmp_path / "de.xlsx"), "--database", str(tmp_path / "e.sqlite3")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2 and "--language de" in unknown.stderr


async def test_staff_actions_are_refused_to_anyone_else(engine: Engine, db: Database) -> None:
    from bot.messages import Kind

    chat = Chat(engine, "not-staff")
    await chat.command("staff")
    assert "only for the consultation's staff" in chat.text
    for action in ("g:results", "g:report", "g:batches", "g:staff"):
        replies = await chat.deliver(chat.incoming(Kind.BUTTON, payload=action))
        assert "only for the consultation's staff" in replies[0].text
        assert all(r.attachment is None for r in replies)
    assert await db.transact(lambda tx: tx.fetchall("SELECT * FROM staff")) == []
    assert await db.transact(lambda tx: tx.fetchall("SELECT * FROM outbox")) == []


async def staff_asks_for(engine: Engine, db: Database, clock: FixedClock, button: str) -> Chat:
    await db.transact(lambda tx: grant_staff(tx, "test", "", "boss", "", clock.now()))
    chat = Chat(engine, "boss")
    await chat.command("staff")
    await chat.press(button)
    return chat


def dispatcher_for(
    engine: Engine, db: Database, clock: FixedClock, sent: list[tuple[ParticipantRef, Outgoing]]
) -> OutboxDispatcher:
    async def send(ref: ParticipantRef, message: Outgoing) -> DeliveryResult:
        sent.append((ref, message))
        return DeliveryResult.SENT

    files = ResultsFiles(db, lambda _c: engine.campaign, clock)
    return OutboxDispatcher(db, "test", send, clock, rate=1000, prepare=files.preparers())


async def test_staff_get_the_spreadsheet_with_charts_from_the_outbox_once(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    for person in PEOPLE:
        await answer(engine, *person)
    chat = await staff_asks_for(engine, db, clock, "Results as a spreadsheet")
    assert "Preparing the results" in chat.text
    assert all(reply.attachment is None for reply in chat.replies)  # not made in the turn
    sent: list[tuple[ParticipantRef, Outgoing]] = []

    dispatcher = dispatcher_for(engine, db, clock, sent)
    await dispatcher.run_once()
    await dispatcher.run_once()  # once, never again

    assert len(sent) == 1
    ref, message = sent[0]
    assert ref == chat.ref and message.text == "Here are the results so far."
    assert message.attachment is not None and message.attachment.filename == "results.xlsx"
    workbook = load_workbook(io.BytesIO(message.attachment.data))
    assert len(list(workbook["Responses"].iter_rows())) == 1 + len(PEOPLE)
    counts = list(workbook["Counts"].iter_rows(values_only=True))
    assert next(r for r in counts if r[0] == "Digital inclusion")[1:] == (2, 2 / 3)
    assert len(workbook["Charts"]._images) == len(choice_questions(engine))
    await chat.press("Staff")
    await chat.press("Broadcasts and reminders")
    assert "No broadcasts yet." in chat.text  # a results file is not a broadcast


async def test_staff_get_the_html_report_from_the_outbox(
    engine: Engine, db: Database, clock: FixedClock
) -> None:
    for person in PEOPLE:
        await answer(engine, *person)
    await staff_asks_for(engine, db, clock, "Results as a report (HTML)")
    sent: list[tuple[ParticipantRef, Outgoing]] = []

    await dispatcher_for(engine, db, clock, sent).run_once()

    attachment = sent[0][1].attachment
    assert attachment is not None and attachment.filename == "results.html"
    page = attachment.data.decode("utf-8")
    assert page.count("data:image/png;base64,") == len(choice_questions(engine))
    assert "Information meeting on the three strategies: 3 confirmed, 0 waiting" in page


async def test_making_a_results_file_holds_up_no_one_else(
    engine: Engine, db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await answer(engine, *PEOPLE[0])
    await staff_asks_for(engine, db, clock, "Results as a spreadsheet")
    drawing, finish = threading.Event(), threading.Event()
    make_file = staff.results_file

    def slow_file(*args: Any) -> Attachment:
        drawing.set()
        finish.wait(30)  # a file that takes long to make
        return make_file(*args)

    monkeypatch.setattr(staff, "results_file", slow_file)
    sent: list[tuple[ParticipantRef, Outgoing]] = []
    sending = asyncio.ensure_future(dispatcher_for(engine, db, clock, sent).run_once())
    assert await asyncio.to_thread(drawing.wait, 10)

    someone = Chat(engine, "someone-else")
    await asyncio.wait_for(someone.command("meetings"), timeout=5)  # answered meanwhile
    assert "Information meeting" in someone.text and sent == []

    finish.set()
    await sending
    assert len(sent) == 1


async def test_a_file_that_could_not_be_made_is_tried_again_not_in_doubt(
    engine: Engine, db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await staff_asks_for(engine, db, clock, "Results as a spreadsheet")

    def broken(*args: Any) -> Attachment:
        raise RuntimeError("disk full")

    monkeypatch.setattr(staff, "results_file", broken)
    sent: list[tuple[ParticipantRef, Outgoing]] = []
    await dispatcher_for(engine, db, clock, sent).run_once()

    rows = await db.transact(lambda tx: tx.fetchall("SELECT status, attempts FROM outbox"))
    assert sent == [] and [tuple(r) for r in rows] == [("pending", 1)]
