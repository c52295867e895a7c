"""Writing the results: a spreadsheet (openpyxl), CSV files, or one self-contained HTML page.

Sheet names, headings and other fixed labels are in the results' language (``Results.lang``),
like the campaign's texts in the tables; CSV file names stay English (they are file names).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from pathlib import Path

from babel import Locale, UnknownLocaleError

from bot.i18n import _, use_language
from bot.results import Results, Table

SHEET_NAME_MAX = 31
"""Excel refuses longer sheet names."""


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
                writer.writerows(table.rows)
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

    def sheet(name: str, tables: list[Table]) -> None:
        ws = workbook.create_sheet(sheet_name(name))
        if len(tables) == 1:
            ws.freeze_panes = "A2"

        def strong(value: str) -> WriteOnlyCell:
            cell = WriteOnlyCell(ws, value=value)
            cell.font = bold
            return cell

        for number, table in enumerate(tables):
            if number:
                ws.append([])
            if len(tables) > 1:
                ws.append([strong(table.title)])
            ws.append([strong(str(title)) for title in table.header])
            for cells in table.rows:
                ws.append(cells)

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


def write_html(results: Results, path: Path) -> Path:
    """One page to open in a browser and print: the charts, then every table."""
    path.write_text(html_report(results), encoding="utf-8")
    return path


def html_report(results: Results) -> str:
    """The report as one self-contained HTML page (the charts are embedded PNG images)."""
    with use_language(results.lang):
        return _html_report(results)


def _direction(lang: str) -> str:
    try:
        return "rtl" if Locale.parse(lang).character_order == "right-to-left" else "ltr"
    except (ValueError, UnknownLocaleError):
        return "ltr"


def _html_report(results: Results) -> str:
    parts = [
        f"<!doctype html><html lang='{html.escape(results.lang)}' "
        f"dir='{_direction(results.lang)}'><head><meta charset='utf-8'>",
        f"<title>{html.escape(results.title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse;margin:0 0 2em}td,th{border:1px solid #bbb;"
        "padding:.2em .5em;text-align:left}th{background:#eee}img{max-width:100%;"
        "page-break-inside:avoid}h2{page-break-before:auto}"
        "@media print{body{margin:0}}</style></head><body>",
        f"<h1>{html.escape(results.title)}</h1>",
        "<p>" + html.escape(_("Results as of {time}.").format(time=results.generated)) + "</p>",
        f"<h2>{html.escape(_('Charts'))}</h2>",
    ]
    for chart in results.charts:
        data = base64.b64encode(chart.png).decode("ascii")
        parts.append(
            f"<figure><img alt='{html.escape(chart.title)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(chart.title)}</figcaption></figure>"
        )
    for heading, tables in (
        (_("Registrations"), results.registrations),
        (_("Counts"), results.counts),
        (_("Breakdowns"), results.breakdowns),
        (_("Free-text answers"), results.free_text),
        (_("Responses"), [results.responses]),
    ):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        for table in tables:
            parts.append(_html_table(table))
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in table.rows
    )
    return (
        f"<table><caption>{html.escape(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )
