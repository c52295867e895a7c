"""The survey's review: every answer, each changeable, and sending them (step ``survey.review``).

A sent response can still be changed until the deadline; answers a change makes irrelevant
are removed then (``forget_hidden``). The review opens questions of ``bot/survey.py`` and is
opened by it, so each imports the other module, not its names.
"""

from __future__ import annotations

from bot import survey as survey_flow
from bot.answers import (
    answer_values,
    describe_answer,
    forget_hidden,
    short_name,
    visible_questions,
)
from bot.i18n import _, fmt_day_and_time
from bot.payloads import GlobalAction, ReviewAction
from bot.turn import Turn, global_button
from storage import responses as store

REVIEW_TEXT_PREVIEW = 120
"""Characters of a written answer shown in the review."""


async def show(turn: Turn, intro: str | None = None) -> None:
    """All answers, each changeable, and Submit."""
    survey = turn.campaign.survey
    assert survey is not None
    response = await turn.response()
    values = answer_values(response)
    visible = visible_questions(survey, values)
    # No question is current: ``selection`` always holds the ticks of ``question``.
    turn.goto("survey.review", question=None, from_review=False, selection=[], search=None)
    submitted = response is not None and response.status == "submitted"
    lines = [intro, ""] if intro else []
    lines.append(_("Your answers:") if submitted else _("Please check your answers:"))
    for number, q in enumerate(visible, 1):
        if q.id in values:
            answer = describe_answer(turn, q, values[q.id])
            if len(answer) > REVIEW_TEXT_PREVIEW:
                answer = answer[: REVIEW_TEXT_PREVIEW - 1] + "\u2026"
        else:
            answer = _("(not answered yet)")
        lines.append(f"{number}. {short_name(turn, q)}: {answer}")
    lines.append("")
    lines.append(_("Press a number to change that answer."))
    numbers = [turn.button(str(n), ReviewAction.CHANGE, q.id) for n, q in enumerate(visible, 1)]
    rows = [numbers[i : i + 6] for i in range(0, len(numbers), 6)]
    if submitted:
        deadline = turn.campaign.survey_deadline()
        assert deadline is not None
        lines.append(
            _("You can change your answers until {when}.").format(
                when=fmt_day_and_time(deadline, turn.campaign.tz)
            )
        )
        rows.append([global_button(_("Main menu"), GlobalAction.MENU)])
    else:
        rows.append([turn.button(_("Send my answers"), ReviewAction.SEND)])
        rows.append([global_button(_("Pause (answers are saved)"), GlobalAction.PAUSE)])
    turn.say("\n".join(lines), rows)


async def on_button(turn: Turn, action: str, arg: str) -> None:
    """A button on the review was pressed."""
    if await survey_flow.closed(turn):
        return
    survey = turn.campaign.survey
    assert survey is not None
    if action == ReviewAction.CHANGE:
        q = survey.question(arg)
        visible = visible_questions(survey, answer_values(await turn.response()))
        if q is None or q.id not in {v.id for v in visible}:
            await show(turn)
            return
        await survey_flow.ask(turn, q, editing=True)
    elif action == ReviewAction.SEND:
        await _submit(turn)
    else:
        await show(turn)


async def on_text(turn: Turn, text: str) -> None:
    """Typed text on the review: a number opens that question."""
    if await survey_flow.closed(turn):
        return
    survey = turn.campaign.survey
    assert survey is not None
    visible = visible_questions(survey, answer_values(await turn.response()))
    number = text.strip()
    if number.isdigit() and 1 <= int(number) <= len(visible):
        await on_button(turn, ReviewAction.CHANGE, visible[int(number) - 1].id)
        return
    await show(turn, intro=_("Please use the buttons below."))


async def _submit(turn: Turn) -> None:
    survey = turn.campaign.survey
    assert survey is not None
    response = await turn.response()
    values = answer_values(response)
    visible = visible_questions(survey, values)
    missing = [q for q in visible if q.id not in values]
    if response is None or missing:
        if missing:
            await survey_flow.ask(
                turn, missing[0], editing=True, note=_("A few questions still need an answer.")
            )
        else:
            await survey_flow.start(turn)
        return
    forget_hidden(turn, response, visible)
    store.submit_response(turn.tx, response.id, turn.now)
    turn.mark_submitted()
    turn.goto("menu", question=None, from_review=False, selection=[])
    deadline = turn.campaign.survey_deadline()
    assert deadline is not None
    turn.say(
        turn.text(survey.thanks)
        + "\n\n"
        + _("You can change your answers until {when}.").format(
            when=fmt_day_and_time(deadline, turn.campaign.tz)
        ),
        [[global_button(_("Main menu"), GlobalAction.MENU)]],
    )
