"""Writing the results: a spreadsheet (openpyxl), CSV files, or one self-contained HTML page."""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path

from bot.results import Results, Table


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
    from openpyxl.drawing.image import Image
    from openpyxl.styles import Font

    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)

    def sheet(name: str, tables: list[Table]) -> None:
        ws = workbook.create_sheet(name)
        row = 1
        for table in tables:
            if len(tables) > 1:
                ws.cell(row, 1, table.title).font = Font(bold=True)
                row += 1
            for column, title in enumerate(table.header, 1):
                ws.cell(row, column, title).font = Font(bold=True)
            for cells in table.rows:
                row += 1
                for column, value in enumerate(cells, 1):
                    ws.cell(row, column, value)
            row += 2
        ws.freeze_panes = "A2" if len(tables) == 1 else None

    sheet("Responses", [results.responses])
    sheet("Registrations", results.registrations)
    sheet("Counts", results.counts)
    sheet("Breakdowns", results.breakdowns)
    sheet("Free text", results.free_text)
    if results.charts:
        ws = workbook.create_sheet("Charts")
        anchor_row = 1
        for chart in results.charts:
            image = Image(io.BytesIO(chart.png))
            ws.add_image(image, f"A{anchor_row}")
            anchor_row += int(image.height / 20) + 2
    workbook.save(path)
    return path


def write_html(results: Results, path: Path) -> Path:
    """One page to open in a browser and print: the charts, then every table."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(results.title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse;margin:0 0 2em}td,th{border:1px solid #bbb;"
        "padding:.2em .5em;text-align:left}th{background:#eee}img{max-width:100%;"
        "page-break-inside:avoid}h2{page-break-before:auto}"
        "@media print{body{margin:0}}</style></head><body>",
        f"<h1>{html.escape(results.title)}</h1>",
        f"<p>Results as of {html.escape(results.generated)}.</p>",
        "<h2>Charts</h2>",
    ]
    for chart in results.charts:
        data = base64.b64encode(chart.png).decode("ascii")
        parts.append(
            f"<figure><img alt='{html.escape(chart.title)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(chart.title)}</figcaption></figure>"
        )
    for heading, tables in (
        ("Registrations", results.registrations),
        ("Counts", results.counts),
        ("Breakdowns", results.breakdowns),
        ("Free-text answers", results.free_text),
        ("Responses", [results.responses]),
    ):
        parts.append(f"<h2>{heading}</h2>")
        for table in tables:
            parts.append(_html_table(table))
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


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
