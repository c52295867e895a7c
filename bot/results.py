"""The consultation's results for staff: a summary, a section per question, and the tables.

``build_results`` reads every registration and response (``read_results``, on the database's
reader, holding up no one's writes) and shapes them in one language (``shape_results``, plain
computation, run in a thread).

What is counted: the surveys people **sent**. A survey started but not sent is counted apart
(``Summary.unsent``, ``Section.unsent_answered``) and never in a figure, chart or percentage;
the responses table lists every response with its status. Each question's percentages are of
the sent surveys that answered it (its n); those that skipped it or were never asked it
(``show_if``) are counted beside it. A breakdown column is a group of the sent surveys by
their answer to a ``breakdowns`` question, with its own n.

Cells hold typed values (``int``, ``Share``, ``datetime`` in the campaign's time zone, text):
each writer formats them its way (Babel in the report, number formats in the spreadsheet).
Names and platform ids are left out unless asked for.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from bot.answers import statuses as status_words
from bot.campaign import Campaign, Question
from bot.charts import Chart, bar_chart
from bot.i18n import N_, _, fmt_datetime, ngettext, use_language
from bot.municipalities import OTHER, municipality_label
from bot.survey import visible_questions
from storage.protocols import Database, Transaction
from storage.results import RegistrationRow, ResponseRow, all_registrations, all_responses

NOT_ASKED = N_("(not asked)")
"""A question ``show_if`` hid from this person (the message id; cells hold its translation)."""
SKIPPED = N_("(skipped)")
"""A question the person skipped."""
CHOICE_TYPES = ("single", "multi", "scale", "yes_no", "municipality")
SENT = "submitted"
"""A response's status once the person sent it: the only ones counted."""

__all__ = ["CHOICE_TYPES", "NOT_ASKED", "SKIPPED", "Chart", "Results", "Share", "Table"]


class Share(float):
    """A fraction of a whole (0.5 is half): a percentage to each writer."""


@dataclass
class Table:
    """A titled table of cells (text, ``int``, ``Share``, ``datetime`` or None: nothing)."""

    title: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class MeetingCount:
    """A meeting and how many have a place or wait for one."""

    title: str
    day: date
    start: datetime | None
    confirmed: int
    waiting: int


@dataclass
class Summary:
    """What a reader needs first: what was asked, of whom, when, and who took part."""

    organiser: str
    about: str
    survey_title: str
    questions: int
    opens: datetime | None
    deadline: datetime | None
    first_started: datetime | None
    last_sent: datetime | None
    sent: int
    unsent: int
    """Surveys started and not sent: not counted anywhere else."""
    participants: list[Table]
    """The sent surveys by their answer to each ``participants_by`` question."""
    meetings: list[MeetingCount]


@dataclass
class Section:
    """One question: its figures among the sent surveys."""

    number: int
    question: str
    short: str
    type: str
    asked: int
    """Sent surveys that were shown the question."""
    answered: int
    """The question's n: sent surveys that answered it."""
    skipped: int
    not_asked: int
    unsent_answered: int
    """Answers in surveys started but not sent (not counted)."""
    counts: Table | None = None
    chart: Chart | None = None
    breakdowns: list[Table] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    """The free-text answers, oldest first."""


@dataclass
class Results:
    """Everything an export writes."""

    title: str
    lang: str
    """The language every text of the results is in; exports write their own labels in it."""
    tz: tzinfo
    now: datetime
    generated: str
    summary: Summary
    sections: list[Section]
    registrations: list[Table]
    responses: Table
    counts: list[Table]
    breakdowns: list[Table]
    free_text: list[Table]
    charts: list[Chart]
    keep_anonymous_answers: bool = True
    retention_until: date | None = None


@dataclass
class Recorded:
    """What the database holds for the results, read in one snapshot."""

    responses: list[ResponseRow]
    registrations: list[RegistrationRow]


async def read_results(tx: Transaction, campaign: Campaign) -> Recorded:
    """The campaign's responses, and the registrations for its meetings (shared ones too)."""
    survey = campaign.survey
    responses = await all_responses(tx, campaign.id, survey.id) if survey is not None else []
    return Recorded(responses, await all_registrations(tx, campaign.own_meetings()))


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
    """The summary, sections and tables in ``lang`` (default: the campaign's default)."""
    lang = lang or campaign.default_language
    shaper = _Shaper(campaign, lang, recorded)
    with use_language(lang):
        sections = shaper.sections(charts)
        privacy = campaign.privacy
        return Results(
            title=campaign.text(campaign.campaign.title, lang),
            lang=lang,
            tz=campaign.tz,
            now=now.astimezone(campaign.tz),
            generated=fmt_datetime(now, campaign.tz),
            summary=shaper.summary(),
            sections=sections,
            registrations=shaper.registration_tables(with_contacts),
            responses=shaper.response_table(with_contacts),
            counts=[s.counts for s in sections if s.counts is not None],
            breakdowns=[t for s in sections for t in s.breakdowns],
            free_text=shaper.free_text_tables(),
            charts=[s.chart for s in sections if s.chart is not None],
            keep_anonymous_answers=privacy.keep_anonymous_answers if privacy else True,
            retention_until=privacy.retention_until if privacy else None,
        )


def _when(value: str | None, tz: tzinfo) -> datetime | None:
    return None if not value else datetime.fromisoformat(value).astimezone(tz)


class _Shaper:
    """Shapes one snapshot in one language (call within ``use_language``)."""

    def __init__(self, campaign: Campaign, lang: str, recorded: Recorded) -> None:
        self.campaign = campaign
        self.lang = lang
        self.area = campaign.text(campaign.campaign.area, lang)
        self.all = recorded.responses
        self.sent = [r for r in recorded.responses if r.status == SENT]
        self.unsent = [r for r in recorded.responses if r.status != SENT]
        self.registrations = recorded.registrations
        self.number = {r.response_id: n for n, r in enumerate(recorded.responses, 1)}
        survey = campaign.survey
        self.shown = (
            {
                r.response_id: {q.id for q in visible_questions(survey, r.values)}
                for r in recorded.responses
            }
            if survey is not None
            else {}
        )

    def text(self, value: Any) -> str:
        return self.campaign.text(value, self.lang)

    def label(self, q: Question, value: Any) -> str:
        """An answer in words."""
        if q.type in ("single", "multi"):
            option = q.option(str(value))
            return self.text(option.label) if option else str(value)
        if q.type == "yes_no":
            return _("Yes") if value == "yes" else _("No")
        if q.type == "municipality":
            return municipality_label(str(value), self.area)
        return str(value)

    def short(self, q: Question) -> str:
        return self.text(q.short) or self.text(q.text)

    def answer(self, row: ResponseRow, q: Question) -> Any:
        """The row's answer to ``q`` if it was shown and answered, else None."""
        if q.id not in self.shown[row.response_id]:
            return None
        return row.values.get(q.id)

    def counter(self, q: Question, rows: list[ResponseRow]) -> tuple[Counter[str], int]:
        """How often each answer was given, and by how many (the n)."""
        counts: Counter[str] = Counter()
        answered = 0
        for row in rows:
            value = self.answer(row, q)
            if value is None or value == []:
                continue
            answered += 1
            for v in value if isinstance(value, list) else [value]:
                counts[self.label(q, v)] += 1
        return counts, answered

    def order(self, q: Question, counts: Counter[str]) -> list[str]:
        """The answers in the question's own order (most given first for municipalities)."""
        if q.type in ("single", "multi", "scale", "yes_no"):
            return [self.label(q, v) for v in q.choice_values()]
        return [label for label, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    # -- the summary ----------------------------------------------------------------------

    def summary(self) -> Summary:
        campaign, survey = self.campaign, self.campaign.survey
        started = [_when(r.started_at, campaign.tz) for r in self.all]
        sent_at = [_when(r.submitted_at, campaign.tz) for r in self.sent]
        participants = []
        for qid in (survey.summary_by or survey.breakdowns) if survey is not None else []:
            q = survey.question(qid) if survey is not None else None
            if q is None:
                continue
            counts, answered = self.counter(q, self.sent)
            rows: list[list[Any]] = [
                [label, counts[label], Share(counts[label] / answered) if answered else None]
                for label in self.group_order(q, counts)
            ]
            participants.append(
                Table(self.text(q.text), [self.short(q), _("Count"), _("Percent")], rows)
            )
        meetings = []
        for meeting in campaign.meetings:
            mine = [r for r in self.registrations if r.meeting_id == meeting.id]
            confirmed = sum(r.status == "confirmed" for r in mine)
            meetings.append(
                MeetingCount(
                    self.text(meeting.title),
                    meeting.date,
                    campaign.meeting_start(meeting),
                    confirmed,
                    len(mine) - confirmed,
                )
            )
        return Summary(
            organiser=self.text(campaign.campaign.organiser),
            about=self.text(campaign.campaign.summary),
            survey_title=self.text(survey.title) if survey else "",
            questions=len(survey.questions) if survey else 0,
            opens=campaign.aware(survey.opens) if survey and survey.opens else None,
            deadline=campaign.survey_deadline(),
            first_started=min((s for s in started if s), default=None),
            last_sent=max((s for s in sent_at if s), default=None),
            sent=len(self.sent),
            unsent=len(self.unsent),
            participants=participants,
            meetings=meetings,
        )

    def group_order(self, by: Question, counts: Counter[str]) -> list[str]:
        """A grouping question's groups: every option, even one nobody chose (a zero says
        something); for municipalities only those with answers, in the campaign's order."""
        if by.type != "municipality":
            return self.order(by, counts)
        names = [*self.campaign.municipalities, OTHER]
        known = [self.label(by, name) for name in names if self.label(by, name) in counts]
        return known + sorted(set(counts) - set(known))

    # -- a section per question -----------------------------------------------------------

    def sections(self, charts: bool) -> list[Section]:
        survey = self.campaign.survey
        if survey is None:
            return []
        sections = []
        for number, q in enumerate(survey.questions, 1):
            asked = [r for r in self.sent if q.id in self.shown[r.response_id]]
            answered = [r for r in asked if self.answer(r, q) not in (None, [], "")]
            section = Section(
                number=number,
                question=self.text(q.text),
                short=self.short(q),
                type=q.type,
                asked=len(asked),
                answered=len(answered),
                skipped=len(asked) - len(answered),
                not_asked=len(self.sent) - len(asked),
                unsent_answered=sum(self.answer(r, q) not in (None, [], "") for r in self.unsent),
            )
            if q.type in CHOICE_TYPES:
                section.counts = self.count_table(q)
                section.breakdowns = self.breakdown_tables(q)
                if charts:
                    counts, n = self.counter(q, self.sent)
                    labels = self.order(q, counts)
                    section.chart = bar_chart(
                        f"{section.short} (n = {n})", labels, counts, n, self.lang
                    )
            else:
                section.answers = [str(self.answer(r, q)) for r in answered]
            sections.append(section)
        return sections

    def count_table(self, q: Question) -> Table:
        counts, answered = self.counter(q, self.sent)
        title = ngettext(
            "{question} ({answered} answered)", "{question} ({answered} answered)", answered
        ).format(question=self.short(q), answered=answered)
        table = Table(title, [_("Answer"), _("Count"), _("Percent")])
        for label in self.order(q, counts):
            share = Share(counts[label] / answered) if answered else None
            table.rows.append([label, counts[label], share])
        return table

    def breakdown_tables(self, q: Question) -> list[Table]:
        survey = self.campaign.survey
        assert survey is not None
        tables = []
        for by_id in survey.breakdowns:
            by = survey.question(by_id)
            if by is None or by.id == q.id:
                continue
            groups: dict[str, list[ResponseRow]] = {}
            for row in self.sent:
                value = self.answer(row, by)
                if value is not None and not isinstance(value, list):
                    groups.setdefault(self.label(by, value), []).append(row)
            names = self.group_order(by, Counter({k: len(v) for k, v in groups.items()}))
            # Translators: a table's title: a question's answers split by the answers to
            # another question, quoted in full (a role and a question may share a word).
            title = _("{question}, by answer to \u201c{group}\u201d (% of those who answered)")
            table = Table(
                title.format(question=self.short(q), group=self.text(by.text)),
                [_("Answer"), *names],
            )
            per_group = {name: self.counter(q, groups.get(name, [])) for name in names}
            table.rows.append([_("Answered (n)"), *(per_group[n][1] for n in names)])
            overall, _n = self.counter(q, self.sent)
            for label in self.order(q, overall):
                cells: list[Any] = [label]
                for name in names:
                    counts, answered = per_group[name]
                    cells.append(Share(counts[label] / answered) if answered else None)
                table.rows.append(cells)
            tables.append(table)
        return tables

    # -- the data tables ------------------------------------------------------------------

    def registration_tables(self, with_contacts: bool) -> list[Table]:
        tables = []
        statuses = status_words()
        for meeting in self.campaign.meetings:
            mine = [r for r in self.registrations if r.meeting_id == meeting.id]
            confirmed = sum(r.status == "confirmed" for r in mine)
            header = ["#", _("Status"), _("Role"), _("Organisation"), _("Municipality")]
            header.append(_("Registered"))
            if with_contacts:
                header[1:1] = [_("Name"), _("Platform"), _("User id")]
            # Translators: a table's title; "label: number" reads well where plurals get in
            # the way.
            title = _("{meeting}: {confirmed} confirmed, {waiting} waiting").format(
                meeting=self.text(meeting.title),
                confirmed=confirmed,
                waiting=len(mine) - confirmed,
            )
            table = Table(title, header)
            for number, r in enumerate(mine, 1):
                role = self.campaign.role(r.role or "")
                cells: list[Any] = [
                    number,
                    statuses.get(r.status, r.status),
                    self.text(role.label) if role else "",
                    r.organisation or "",
                    municipality_label(r.municipality, self.area) if r.municipality else "",
                    _when(r.registered_at, self.campaign.tz),
                ]
                if with_contacts:
                    cells[1:1] = [r.name or "", r.who[0], ":".join(p for p in r.who[1:] if p)]
                table.rows.append(cells)
            tables.append(table)
        return tables

    def response_table(self, with_contacts: bool) -> Table:
        survey = self.campaign.survey
        header = [_("Response"), _("Status"), _("Submitted at")]
        if with_contacts:
            header += [_("Platform"), _("User id")]
        if survey is None:
            return Table(_("Responses"), header)
        for q in survey.questions:
            short = self.short(q)
            if q.type == "multi":
                header += [f"{short}: {self.text(o.label)}" for o in q.options]
            else:
                header.append(short)
        table = Table(_("Responses"), header)
        not_asked, skipped, statuses = _(NOT_ASKED), _(SKIPPED), status_words()
        for row in self.all:
            values, shown = row.values, self.shown[row.response_id]
            cells: list[Any] = [
                self.number[row.response_id],
                statuses.get(row.status, row.status),
                _when(row.submitted_at, self.campaign.tz),
            ]
            if with_contacts:
                cells += [row.who[0], row.who[2]] if row.who else ["", ""]
            for q in survey.questions:
                width = len(q.options) if q.type == "multi" else 1
                if q.id not in shown:
                    cells += [not_asked] * width
                elif q.id not in values:
                    cells += [None] * width
                elif values[q.id] is None:
                    cells += [skipped] * width
                elif q.type == "multi":
                    chosen = set(values[q.id])
                    cells += [1 if o.id in chosen else 0 for o in q.options]
                else:
                    cells.append(self.label(q, values[q.id]))
            table.rows.append(cells)
        return table

    def free_text_tables(self) -> list[Table]:
        survey = self.campaign.survey
        if survey is None:
            return []
        tables = []
        for q in survey.questions:
            if q.type != "text":
                continue
            table = Table(self.text(q.text), [_("Response"), _("Answer")])
            for row in self.sent:
                value = self.answer(row, q)
                if value:
                    table.rows.append([self.number[row.response_id], value])
            tables.append(table)
        return tables
