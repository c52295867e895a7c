"""A survey response's answers: what they say, which questions they show, storing them.

Pure helpers (decoding, ``show_if`` visibility, progress, describing an answer) that the
survey, privacy (a copy of one's data) and the results share, and the two writes that keep
the stored answers and the turn's view of them in step.
"""

from __future__ import annotations

import json

from bot.campaign import Question, Survey
from bot.i18n import _, fmt_list
from bot.municipalities import municipality_label
from bot.turn import Turn
from storage import responses as store
from storage.records import ResponseRecord

Value = str | int | list[str]
"""A decoded answer: an option id or text, a scale value, or the ticked option ids."""


def answer_values(response: ResponseRecord | None) -> dict[str, Value | None]:
    """Stored answers decoded: question id -> value (None when skipped)."""
    if response is None:
        return {}
    return {qid: a.decoded for qid, a in response.answers.items()}


def _visibility(survey: Survey, values: dict[str, Value | None]) -> dict[str, bool | None]:
    """Per question: shown (True), hidden (False), or undecided (None: it depends on an
    answer not given yet)."""
    seen: dict[str, bool | None] = {}
    for q in survey.questions:
        cond = q.show_if
        if cond is None:
            seen[q.id] = True
            continue
        target = seen.get(cond.question)
        if target is False:
            seen[q.id] = False
        elif target is None or cond.question not in values:
            seen[q.id] = None
        else:
            value = values[cond.question]
            given = value if isinstance(value, list) else [] if value is None else [str(value)]
            seen[q.id] = bool(set(given) & set(cond.any_of))
    return seen


def visible_questions(survey: Survey, values: dict[str, Value | None]) -> list[Question]:
    """The questions shown for these answers, in order (``show_if`` applied)."""
    seen = _visibility(survey, values)
    return [q for q in survey.questions if seen[q.id] is True]


def question_order(survey: Survey) -> dict[str, int]:
    """Question id -> its place in the survey."""
    return {q.id: i for i, q in enumerate(survey.questions)}


def progress(survey: Survey, values: dict[str, Value | None], q: Question) -> tuple[int, int]:
    """(number of ``q``, total): the total counts questions that may still be shown, so it
    only shrinks as answers rule questions out."""
    seen = _visibility(survey, values)
    possible = [p.id for p in survey.questions if seen[p.id] is not False or p.id == q.id]
    return possible.index(q.id) + 1, len(possible)


def describe_answer(turn: Turn, q: Question, value: Value | None) -> str:
    """An answer as a person reads it, in their language."""
    if value is None:
        return _("(skipped)")
    if q.type in ("single", "multi"):
        ids = value if isinstance(value, list) else [str(value)]
        labels = [turn.text(opt.label) for i in ids if (opt := q.option(i)) is not None]
        return fmt_list(labels) if labels else _("(nothing chosen)")
    if q.type == "yes_no":
        return _("Yes") if value == "yes" else _("No")
    if q.type == "municipality":
        return municipality_label(str(value), turn.text(turn.campaign.campaign.area))
    return str(value)


def short_name(turn: Turn, q: Question) -> str:
    """The question's short name (for lists of answers), else its text."""
    return turn.text(q.short) if q.short else turn.text(q.text)


# -- storing ---------------------------------------------------------------------------------


async def store_answer(turn: Turn, q: Question, value: Value | None) -> None:
    """Write one answer (starting the response if needed) and keep the turn's view in step."""
    survey = turn.campaign.survey
    assert survey is not None
    response = await turn.response()
    if response is None:
        response = await store.start_response(
            turn.tx, turn.participant.id, turn.campaign.id, survey.id, turn.now
        )
        turn.replace_response(response)
    encoded = None if value is None else json.dumps(value, ensure_ascii=False)
    store.record_answer(turn.tx, response.id, q.id, encoded, value is None, turn.now)
    if response.status == "submitted":
        store.touch_response(turn.tx, response.id, turn.now)
    turn.record_answer_in_view(q.id, encoded, value is None)


def forget_hidden(turn: Turn, response: ResponseRecord, visible: list[Question]) -> list[str]:
    """Drop answers to questions the person's other answers now hide: a sent response keeps
    only what its questions asked (before sending, they stay, in case the person goes back).
    Returns the short names of the questions whose answers went."""
    survey = turn.campaign.survey
    assert survey is not None
    shown = {q.id for q in visible}
    hidden = [qid for qid in response.answers if qid not in shown]
    if hidden:
        store.forget_answers(turn.tx, response.id, hidden)
        for qid in hidden:
            del response.answers[qid]
    return [short_name(turn, q) for qid in hidden if (q := survey.question(qid)) is not None]


def statuses() -> dict[str, str]:
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
    return statuses().get(status, status)
