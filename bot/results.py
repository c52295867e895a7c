"""The consultation's results for staff: tables, counts and charts fit for a report.

``build_results`` reads every registration and response (``read_results``, on the database's
reader, holding up no one's writes) and shapes them in one language (``shape_results``, plain
computation, run in a thread):
registrations per meeting (with the waiting lists), one row per response (a question hidden
by ``show_if`` reads "(not asked)", one skipped "(skipped)"; a multi-select is one column
per option), counts and percentages per choice question, also split by the survey's
``breakdowns`` (e.g. respondent category and municipality), free-text answers, and a PNG
chart per choice question. Names and platform ids are left out unless asked for.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.campaign import Campaign, Question
from bot.i18n import N_, _, fmt_datetime, ngettext, use_language
from bot.municipalities import municipality_label
from bot.survey import visible_questions
from storage.database import Database, Transaction
from storage.results import RegistrationRow, ResponseRow, all_registrations, all_responses

NOT_ASKED = N_("(not asked)")
"""A question ``show_if`` hid from this person (the message id; cells hold its translation)."""
SKIPPED = N_("(skipped)")
"""A question the person skipped."""
CHOICE_TYPES = ("single", "multi", "scale", "yes_no", "municipality")


@dataclass
class Table:
    """A titled table of text cells."""

    title: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class Chart:
    """A question's counts as a PNG bar chart."""

    title: str
    png: bytes


@dataclass
class Results:
    """Everything an export writes."""

    title: str
    lang: str
    """The language every text of the results is in; exports write their own labels in it."""
    generated: str
    registrations: list[Table]
    responses: Table
    counts: list[Table]
    breakdowns: list[Table]
    free_text: list[Table]
    charts: list[Chart]


@dataclass
class Recorded:
    """What the database holds for the results, read in one snapshot."""

    responses: list[ResponseRow]
    registrations: list[RegistrationRow]


async def read_results(tx: Transaction, campaign: Campaign) -> Recorded:
    """Every response and registration."""
    survey = campaign.survey
    responses = await all_responses(tx, survey.id) if survey is not None else []
    return Recorded(responses, await all_registrations(tx))


async def build_results(
    db: Database,
    campaign: Campaign,
    now: datetime,
    *,
    lang: str | None = None,
    with_contacts: bool = False,
    charts: bool = True,
) -> Results:
    """Read the results beside the writer, then shape them in a thread."""
    recorded = await db.read(lambda tx: read_results(tx, campaign))
    return await asyncio.to_thread(
        shape_results,
        recorded,
        campaign,
        now,
        lang=lang,
        with_contacts=with_contacts,
        charts=charts,
    )


def shape_results(
    recorded: Recorded,
    campaign: Campaign,
    now: datetime,
    *,
    lang: str | None = None,
    with_contacts: bool = False,
    charts: bool = True,
) -> Results:
    """The tables and charts in ``lang`` (default: the campaign's default language)."""
    lang = lang or campaign.default_language
    responses, registrations = recorded.responses, recorded.registrations
    with use_language(lang):
        return Results(
            title=campaign.text(campaign.campaign.title, lang),
            lang=lang,
            generated=fmt_datetime(now, campaign.tz),
            registrations=_registration_tables(campaign, lang, registrations, with_contacts),
            responses=_response_table(campaign, lang, responses, with_contacts),
            counts=_count_tables(campaign, lang, responses),
            breakdowns=_breakdown_tables(campaign, lang, responses),
            free_text=_free_text_tables(campaign, lang, responses),
            charts=_charts(campaign, lang, responses) if charts else [],
        )


def _label(campaign: Campaign, lang: str, q: Question, value: Any) -> str:
    if q.type in ("single", "multi"):
        option = q.option(str(value))
        return campaign.text(option.label, lang) if option else str(value)
    if q.type == "yes_no":
        return _("Yes") if value == "yes" else _("No")
    if q.type == "municipality":
        return municipality_label(str(value), campaign.text(campaign.campaign.area, lang))
    return str(value)


def _statuses() -> dict[str, str]:
    """Registrations' and responses' states in words."""
    return {
        "confirmed": _("Confirmed"),
        "waiting": _("Waiting list"),
        "cancelled": _("Cancelled"),
        "in_progress": _("In progress"),
        "submitted": _("Submitted"),
    }


def status_label(status: str) -> str:
    """A registration's or response's state in words, in the current language."""
    return _statuses().get(status, status)


def _short(campaign: Campaign, lang: str, q: Question) -> str:
    return campaign.text(q.short, lang) or campaign.text(q.text, lang)


def _registration_tables(
    campaign: Campaign, lang: str, rows: list[RegistrationRow], with_contacts: bool
) -> list[Table]:
    tables = []
    statuses = _statuses()
    for meeting in campaign.meetings:
        mine = [r for r in rows if r.meeting_id == meeting.id]
        confirmed = sum(r.status == "confirmed" for r in mine)
        header = ["#", _("Status"), _("Role"), _("Organisation"), _("Municipality")]
        header.append(_("Registered"))
        if with_contacts:
            header[1:1] = [_("Name"), _("Platform"), _("User id")]
        # Translators: a table's title; "label: number" reads well where plurals get in the way.
        title = _("{meeting}: {confirmed} confirmed, {waiting} waiting").format(
            meeting=campaign.text(meeting.title, lang),
            confirmed=confirmed,
            waiting=len(mine) - confirmed,
        )
        table = Table(title, header)
        for number, r in enumerate(mine, 1):
            role = campaign.role(r.role or "")
            cells: list[Any] = [
                number,
                statuses.get(r.status, r.status),
                campaign.text(role.label, lang) if role else "",
                r.organisation or "",
                municipality_label(r.municipality, campaign.text(campaign.campaign.area, lang))
                if r.municipality
                else "",
                r.registered_at,
            ]
            if with_contacts:
                cells[1:1] = [r.name or "", r.who[0], ":".join(p for p in r.who[1:] if p)]
            table.rows.append(cells)
        tables.append(table)
    return tables


def _response_table(
    campaign: Campaign, lang: str, rows: list[ResponseRow], with_contacts: bool
) -> Table:
    survey = campaign.survey
    header = [_("Response"), _("Status"), _("Submitted at")]
    if with_contacts:
        header += [_("Platform"), _("User id")]
    if survey is None:
        return Table(_("Responses"), header)
    for q in survey.questions:
        short = _short(campaign, lang, q)
        if q.type == "multi":
            header += [f"{short}: {campaign.text(o.label, lang)}" for o in q.options]
        else:
            header.append(short)
    table = Table(_("Responses"), header)
    not_asked, skipped, statuses = _(NOT_ASKED), _(SKIPPED), _statuses()
    for number, row in enumerate(rows, 1):
        values = row.values
        shown = {q.id for q in visible_questions(survey, values)}
        cells: list[Any] = [number, statuses.get(row.status, row.status), row.submitted_at or ""]
        if with_contacts:
            cells += [row.who[0], row.who[2]] if row.who else ["", ""]
        for q in survey.questions:
            width = len(q.options) if q.type == "multi" else 1
            if q.id not in shown:
                cells += [not_asked] * width
            elif q.id not in values:
                cells += [""] * width
            elif values[q.id] is None:
                cells += [skipped] * width
            elif q.type == "multi":
                chosen = set(values[q.id])
                cells += [1 if o.id in chosen else 0 for o in q.options]
            else:
                cells.append(_label(campaign, lang, q, values[q.id]))
        table.rows.append(cells)
    return table


def _counter(
    campaign: Campaign, lang: str, q: Question, rows: list[ResponseRow]
) -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    answered = 0
    for row in rows:
        value = row.values.get(q.id)
        if value is None:
            continue
        answered += 1
        for v in value if isinstance(value, list) else [value]:
            counts[_label(campaign, lang, q, v)] += 1
    return counts, answered


def _order(campaign: Campaign, lang: str, q: Question, counts: Counter[str]) -> list[str]:
    if q.type in ("single", "multi"):
        return [campaign.text(o.label, lang) for o in q.options]
    if q.type == "scale":
        return [str(v) for v in range(q.min, q.max + 1)]
    if q.type == "yes_no":
        return [_label(campaign, lang, q, "yes"), _label(campaign, lang, q, "no")]
    return [label for label, _n in counts.most_common()]


def _count_tables(campaign: Campaign, lang: str, rows: list[ResponseRow]) -> list[Table]:
    survey = campaign.survey
    if survey is None:
        return []
    tables = []
    for q in survey.questions:
        if q.type not in CHOICE_TYPES:
            continue
        counts, answered = _counter(campaign, lang, q, rows)
        title = ngettext(
            "{question} ({answered} answered)", "{question} ({answered} answered)", answered
        ).format(question=_short(campaign, lang, q), answered=answered)
        table = Table(title, [_("Answer"), _("Count"), _("Percent")])
        for label in _order(campaign, lang, q, counts):
            share = 100 * counts[label] / answered if answered else 0.0
            table.rows.append([label, counts[label], round(share, 1)])
        tables.append(table)
    return tables


def _breakdown_tables(campaign: Campaign, lang: str, rows: list[ResponseRow]) -> list[Table]:
    survey = campaign.survey
    if survey is None:
        return []
    tables = []
    for by_id in survey.breakdowns:
        by = survey.question(by_id)
        if by is None:
            continue
        groups: dict[str, list[ResponseRow]] = {}
        for row in rows:
            value = row.values.get(by.id)
            if value is not None and not isinstance(value, list):
                groups.setdefault(_label(campaign, lang, by, value), []).append(row)
        names = sorted(groups)
        for q in survey.questions:
            if q.type not in CHOICE_TYPES or q.id == by.id:
                continue
            title = _("{question} by {group} (% of those who answered)").format(
                question=_short(campaign, lang, q), group=_short(campaign, lang, by)
            )
            table = Table(title, [_("Answer"), *names])
            per_group = {name: _counter(campaign, lang, q, groups[name]) for name in names}
            overall, _n = _counter(campaign, lang, q, rows)
            for label in _order(campaign, lang, q, overall):
                cells: list[Any] = [label]
                for name in names:
                    counts, answered = per_group[name]
                    cells.append(round(100 * counts[label] / answered, 1) if answered else "")
                table.rows.append(cells)
            tables.append(table)
    return tables


def _free_text_tables(campaign: Campaign, lang: str, rows: list[ResponseRow]) -> list[Table]:
    survey = campaign.survey
    if survey is None:
        return []
    tables = []
    for q in survey.questions:
        if q.type != "text":
            continue
        table = Table(campaign.text(q.text, lang), [_("Response"), _("Answer")])
        for number, row in enumerate(rows, 1):
            value = row.values.get(q.id)
            if value:
                table.rows.append([number, value])
        tables.append(table)
    return tables


def _charts(campaign: Campaign, lang: str, rows: list[ResponseRow]) -> list[Chart]:
    # Figures made directly, not through pyplot: no global state, so safe in a thread.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    survey = campaign.survey
    if survey is None:
        return []
    charts = []
    for q in survey.questions:
        if q.type not in CHOICE_TYPES:
            continue
        counts, answered = _counter(campaign, lang, q, rows)
        labels = _order(campaign, lang, q, counts)[:20]
        figure = Figure(figsize=(7, 0.45 * len(labels) + 1.2), dpi=110)
        FigureCanvasAgg(figure)
        axes = figure.subplots()
        axes.barh(labels[::-1], [counts[label] for label in labels[::-1]], color="#2b6cb0")
        title = f"{_short(campaign, lang, q)} (n = {answered})"
        axes.set_title(title, loc="left")
        axes.set_xlabel(_("Count"))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        charts.append(Chart(title, buffer.getvalue()))
    return charts
