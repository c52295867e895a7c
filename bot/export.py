"""Writing the results as data: a spreadsheet (openpyxl) or CSV files. The report to read
(HTML, PDF) is ``bot.report``.

Sheet names, headings and other fixed labels are in the results' language (``Results.lang``),
like the campaign's texts in the tables; CSV file names stay English (they are file names).
In the spreadsheet times are dates (the campaign's local time) and percentages have a percent
format, sheets read right to left in a right-to-left language; CSV is for programs: plain
numbers (percentages as 66.7) and ISO 8601 times with their offset.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.i18n import _, is_right_to_left, use_language
from bot.report import html_report, write_html
from bot.results import Results, Share, Table

__all__ = ["html_report", "sheet_name", "write_csv", "write_html", "write_xlsx", "xlsx_bytes"]

SHEET_NAME_MAX = 31
"""Excel refuses longer sheet names."""
PERCENT_FORMAT = "0.0%"
DATE_FORMAT = "yyyy-mm-dd hh:mm"


def csv_value(value: Any) -> Any:
    """A cell as a program reads it: a percentage in percent, a time in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, Share):
        return round(100 * value, 1)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value


def write_csv(results: Results, folder: Path) -> list[Path]:
    """One CSV file per kind of table, in ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    groups = {
        "registrations": results.registrations,
        "responses": [results.responses],
        "counts": results.counts,
        "breakdowns": results.breakdowns,
        "free-text": results.free_text,
    }
    written = []
    for name, tables in groups.items():
        path = folder / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8-sig") as fh:  # BOM: Excel reads UTF-8
            writer = csv.writer(fh)
            for table in tables:
                if len(tables) > 1:
                    writer.writerow([table.title])
                writer.writerow(table.header)
                writer.writerows([csv_value(c) for c in row] for row in table.rows)
                if len(tables) > 1:
                    writer.writerow([])
        written.append(path)
    for number, chart in enumerate(results.charts, 1):
        path = folder / f"chart-{number:02d}.png"
        path.write_bytes(chart.png)
        written.append(path)
    return written


def xlsx_bytes(results: Results) -> bytes:
    """The workbook as bytes (to send in a chat)."""
    buffer = io.BytesIO()
    write_xlsx(results, buffer)
    return buffer.getvalue()


def write_xlsx(results: Results, path: Path | io.BytesIO) -> Path | io.BytesIO:
    """A workbook: one sheet per kind of table, and the charts."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Font

    # Write-only: rows stream to the file instead of living as a million cell objects, which
    # takes a fraction of the time and spares the process long garbage collections.
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    rtl = is_right_to_left(results.lang)

    def sheet(name: str, tables: list[Table]) -> None:
        ws = workbook.create_sheet(sheet_name(name))
        ws.sheet_view.rightToLeft = rtl or None
        if len(tables) == 1:
            ws.freeze_panes = "A2"

        def strong(value: str) -> WriteOnlyCell:
            cell = WriteOnlyCell(ws, value=value)
            cell.font = bold
            return cell

        def typed(value: Any) -> Any:
            if isinstance(value, Share):
                cell = WriteOnlyCell(ws, value=float(value))
                cell.number_format = PERCENT_FORMAT
                return cell
            if isinstance(value, datetime):  # Excel's times have no zone: the campaign's
                cell = WriteOnlyCell(ws, value=value.replace(tzinfo=None))
                cell.number_format = DATE_FORMAT
                return cell
            return value

        for number, table in enumerate(tables):
            if number:
                ws.append([])
            if len(tables) > 1:
                ws.append([strong(table.title)])
            ws.append([strong(str(title)) for title in table.header])
            for cells in table.rows:
                ws.append([typed(value) for value in cells])

    with use_language(results.lang):
        names = [_("Responses"), _("Registrations"), _("Counts"), _("Breakdowns")]
        names += [_("Free-text answers"), _("Charts")]
    sheet(names[0], [results.responses])
    sheet(names[1], results.registrations)
    sheet(names[2], results.counts)
    sheet(names[3], results.breakdowns)
    sheet(names[4], results.free_text)
    if results.charts:
        ws = workbook.create_sheet(sheet_name(names[5]))
        ws.sheet_view.rightToLeft = rtl or None
        anchor_row = 1
        for chart in results.charts:
            image = Image(io.BytesIO(chart.png))
            ws.add_image(image, f"A{anchor_row}")
            anchor_row += int(image.height / 20) + 2
    workbook.save(path)
    return path


def sheet_name(name: str) -> str:
    """A sheet name Excel accepts: at most 31 characters, none of ``[]:*?/\\``."""
    return re.sub(r"[\[\]:*?/\\]", "-", name)[:SHEET_NAME_MAX].strip() or "-"
