"""The survey, step by step: any question of any type, progress, skip, Back.

What to ask comes from the campaign file; this module knows how to ask a question of each
type. Every answer is stored the moment it is given (one row per question), so a person can
stop at any point and continue where they were, and change answers until the deadline.

The review and sending are in ``bot/review.py``; the two call each other (the review opens
a question to change, the last answer opens the review), so each imports the other module,
not its names. What answers say and how they are stored is in ``bot/answers.py``.
"""

from __future__ import annotations

from typing import Any

from bot import meetings, review
from bot.answers import (
    Value,
    answer_values,
    describe_answer,
    forget_hidden,
    progress,
    question_order,
    store_answer,
)
from bot.answers import (
    visible_questions as visible_questions,  # bot/results.py imports it from here
)
from bot.campaign import Option, Question, survey_state
from bot.i18n import _, fmt_day_and_time, fmt_list, ngettext
from bot.meetings import known_role
from bot.messages import Button
from bot.municipalities import OTHER, find_typed, municipality_label, search_municipalities
from bot.payloads import GlobalAction, QuestionAction, decode
from bot.turn import Turn, global_button
from storage import responses as store
from storage.records import ResponseRecord

# -- entering the survey -----------------------------------------------------------------


async def _response(turn: Turn) -> ResponseRecord | None:
    return await turn.response()


async def closed(turn: Turn) -> bool:
    """Say so and return True when the survey cannot be answered now (kept answers stay)."""
    campaign = turn.campaign
    stage = survey_state(campaign, turn.now)
    if stage == "open":
        return False
    if stage == "none":
        text = _("There is no survey in this consultation.")
    elif stage == "not_open":
        assert campaign.survey is not None and campaign.survey.opens is not None
        opens = campaign.aware(campaign.survey.opens)
        text = _("The survey opens {when}.").format(when=fmt_day_and_time(opens, campaign.tz))
    else:
        deadline = campaign.survey_deadline()
        assert deadline is not None
        text = _("The survey closed {when}. Thank you for your interest!").format(
            when=fmt_day_and_time(deadline, campaign.tz)
        )
        response = await _response(turn)
        if response is not None and response.answers:
            text += "\n" + _("Your answers are kept. Thank you for taking part.")
    turn.goto("menu", question=None, from_review=False, selection=[])
    turn.say(text, [[menu_button()]])
    return True


async def start(turn: Turn) -> None:
    """Begin, continue or review the survey, as fits where the person is."""
    if await closed(turn):
        return
    survey = turn.campaign.survey
    assert survey is not None
    response = await _response(turn)
    values = answer_values(response)
    visible = visible_questions(survey, values)
    shown = {v.id for v in visible}
    current = survey.question(turn.state.question or "")
    if response is not None and turn.state.from_review and current and current.id in shown:
        # They were changing an answer from the review: that question, then the review.
        turn.say(_("Welcome back! Your answers are saved. Let's continue."))
        await ask(turn, current, editing=True, resume=True)
        return
    if response is not None and response.status == "submitted":
        await review.show(
            turn,
            intro=_("You have already sent your answers. You can change them until the deadline."),
        )
        return
    if response is None:
        response = await store.start_response(
            turn.tx, turn.participant.id, turn.campaign.id, survey.id, turn.now
        )
        _set_response(turn, response)
        deadline = turn.campaign.survey_deadline()
        assert deadline is not None
        turn.say(
            turn.text(survey.intro)
            + "\n\n"
            + _("Deadline: {when}.").format(when=fmt_day_and_time(deadline, turn.campaign.tz))
        )
        await ask(turn, visible[0], editing=False)
        return
    if all(v.id in values for v in visible):
        # Every question shown has an answer (or was skipped): what is left is the review.
        await review.show(turn)
        return
    if current is None or current.id not in shown:
        current = next(q for q in visible if q.id not in values)
    turn.say(_("Welcome back! Your answers are saved. Let's continue."))
    await ask(turn, current, editing=False, resume=True)


def _set_response(turn: Turn, response: ResponseRecord) -> None:
    turn.replace_response(response)


# -- asking one question -----------------------------------------------------------------


async def ask(
    turn: Turn,
    q: Question,
    *,
    editing: bool | None = None,
    note: str | None = None,
    resume: bool = False,
) -> None:
    """Move to question ``q`` and show it (``note`` above it); ``editing``: opened from the
    review (None: as the question before was); ``resume``: the person continues where they
    were (ticks not yet confirmed with Done are still ticked)."""
    response = await _response(turn)
    values = answer_values(response)
    selection: list[str] = []
    current = values.get(q.id)
    if resume and q.type == "multi" and q.id == turn.state.question and turn.state.selection:
        # Asked again where they were (continuing): the ticks they had not confirmed yet.
        selection = [o.id for o in q.options if o.id in turn.state.selection]
    elif q.type == "multi" and isinstance(current, list):
        selection = list(current)
    turn.goto(
        "survey.question",
        question=q.id,
        selection=selection,
        search=None,
        from_review=turn.state.from_review if editing is None else editing,
    )
    await show_question(turn, hint=note)


async def show_question(turn: Turn, hint: str | None = None) -> None:
    """Show the current question with its progress and buttons."""
    survey = turn.campaign.survey
    assert survey is not None
    q = survey.question(turn.state.question or "")
    if q is None:  # the campaign changed under the person: start again sensibly
        await start(turn)
        return
    response = await _response(turn)
    values = answer_values(response)
    number, total = progress(survey, values, q)
    lines = [
        _("Question {number} of {total}").format(number=number, total=total),
        "",
        turn.text(q.text),
    ]
    if q.hint:
        lines.append(turn.text(q.hint))
    if q.type == "scale":
        low = turn.text(q.min_label) or str(q.min)
        high = turn.text(q.max_label) or str(q.max)
        lines.append(f"{q.min} = {low}\n{q.max} = {high}")
    if q.type == "multi":
        if q.max_choices == 1:
            lines.append(_("Choose one option, then press Done."))
        elif q.max_choices:
            lines.append(
                ngettext(
                    "Choose up to {n} option, then press Done.",
                    "Choose up to {n} options, then press Done.",
                    q.max_choices,
                ).format(n=q.max_choices)
            )
        else:
            lines.append(_("Choose all that fit, then press Done."))
    if q.type == "text":
        lines.append(
            ngettext(
                "Write your answer (at most {n} character).",
                "Write your answer (at most {n} characters).",
                q.max_length,
            ).format(n=q.max_length)
        )
    if q.type == "municipality":
        lines.append(_("Type part of the name of your municipality."))
    if q.id in values and q.type != "multi":
        lines.append("")
        lines.append(
            _("Your answer now: {answer}").format(answer=describe_answer(turn, q, values[q.id]))
        )
    if hint:
        lines[:0] = [hint, ""]
    buttons = _answer_buttons(turn, q, await _options_shown(turn, q))
    if q.type in ("text", "municipality") and values.get(q.id):
        # Skip would erase a typed answer: this goes on without retyping it.
        buttons.append([turn.button(_("Keep this answer"), QuestionAction.KEEP)])
    nav = []
    if turn.state.from_review:
        nav.append(turn.button(_("Back to review"), QuestionAction.TO_REVIEW))
    elif any(v.id != q.id for v in visible_questions(survey, values)[:1]):
        nav.append(turn.button(_("Back"), QuestionAction.BACK))
    if not q.required:
        nav.append(turn.button(_("Skip"), QuestionAction.SKIP))
    if nav:
        buttons.append(nav)
    buttons.append([global_button(_("Pause (answers are saved)"), GlobalAction.PAUSE)])
    turn.say(
        "\n".join(lines),
        buttons,
        expects_text=q.type in ("text", "municipality"),
        number_is_text=q.type != "municipality",  # a name is never a bare number
        max_length=q.max_length if q.type == "text" else None,
    )


async def _options_shown(turn: Turn, q: Question) -> list[Option]:
    """The question's options, less those that lead to the sign-up of a meeting the person
    is known not to be for (an adult is not offered the youth meeting)."""
    if not any(o.signup for o in q.options):
        return q.options
    role = await known_role(turn, survey_first=True)
    campaign = turn.campaign
    shown = []
    for option in q.options:
        meeting = campaign.meeting(option.signup) if option.signup else None
        if meeting is None or campaign.open_to(meeting, role):
            shown.append(option)
    return shown


def _answer_buttons(turn: Turn, q: Question, options: list[Option]) -> list[list[Any]]:
    if q.type == "single":
        return [[turn.button(turn.text(o.label), QuestionAction.OPTION, o.id)] for o in options]
    if q.type == "multi":
        rows = []
        for o in q.options:
            b = turn.button(turn.text(o.label), QuestionAction.TICK, o.id)
            b.selected = o.id in turn.state.selection
            rows.append([b])
        rows.append([turn.button(_("Done"), QuestionAction.DONE)])
        return rows
    if q.type == "scale":
        return [[turn.button(v, QuestionAction.OPTION, v) for v in q.choice_values()]]
    if q.type == "yes_no":
        return [
            [
                turn.button(_("Yes"), QuestionAction.OPTION, "yes"),
                turn.button(_("No"), QuestionAction.OPTION, "no"),
            ]
        ]
    if q.type == "municipality":
        rows = [
            [turn.button(name, QuestionAction.MUNICIPALITY, str(index))]
            for index, name in search_municipalities(turn.campaign, turn.state.search or "")
        ]
        known = turn.participant.municipality
        if not rows and known in turn.campaign.municipalities:
            # Given when signing up: one press instead of typing it again.
            rows.append(
                [
                    turn.button(
                        known,
                        QuestionAction.MUNICIPALITY,
                        str(turn.campaign.municipalities.index(known)),
                    )
                ]
            )
        rows.append(
            [
                turn.button(
                    municipality_label(OTHER, turn.text(turn.campaign.campaign.area)),
                    QuestionAction.MUNICIPALITY,
                    OTHER,
                )
            ]
        )
        return rows
    return []


# -- answering ---------------------------------------------------------------------------


def _current_question(turn: Turn) -> Question | None:
    survey = turn.campaign.survey
    return survey.question(turn.state.question or "") if survey else None


async def on_button(turn: Turn, action: str, arg: str) -> None:
    """A button of the current question was pressed."""
    if await closed(turn):
        return
    q = _current_question(turn)
    if q is None:
        await start(turn)
        return
    if (
        action == QuestionAction.OPTION
        and arg in q.choice_values()
        and q.type in ("single", "scale", "yes_no")
    ):
        await _answer(turn, q, int(arg) if q.type == "scale" else arg)
    elif action == QuestionAction.TICK and q.type == "multi" and q.option(arg) is not None:
        selection = list(turn.state.selection)
        if turn.incoming.ticked is not None:
            # The platform shows tick boxes itself and says which are ticked now.
            selection = [o.id for o in q.options if o.id in _ticked_ids(turn.incoming.ticked)]
        elif arg in selection:
            selection.remove(arg)
        else:
            selection.append(arg)
        if q.max_choices and len(selection) > q.max_choices:
            await show_question(
                turn,
                hint=ngettext(
                    "You can choose at most {n} option. Untick one to choose another.",
                    "You can choose at most {n} options. Untick one to choose another.",
                    q.max_choices,
                ).format(n=q.max_choices),
            )
            return
        # Ticking keeps the step (and its version), so quick taps on the same keyboard work.
        turn.state.selection = [o.id for o in q.options if o.id in selection]
        await show_question(turn)
    elif action == QuestionAction.DONE and q.type == "multi":
        if not turn.state.selection and q.required:
            await show_question(turn, hint=_("Please choose at least one option."))
            return
        await _answer(turn, q, list(turn.state.selection) if turn.state.selection else None)
    elif action == QuestionAction.MUNICIPALITY and q.type == "municipality":
        value = OTHER if arg == OTHER else _municipality_by_index(turn, arg)
        if value is None:
            await show_question(turn)
            return
        await _answer(turn, q, value)
    elif action == QuestionAction.SKIP and not q.required:
        await _answer(turn, q, None)
    elif (
        action == QuestionAction.KEEP
        and q.type in ("text", "municipality")
        and answer_values(await _response(turn)).get(q.id)
    ):
        await _go_on(turn, q, changed=False)
    elif action == QuestionAction.BACK:
        if q.type == "multi" and turn.state.selection:
            # Ticks given are an answer too: keep them when going back.
            await store_answer(turn, q, list(turn.state.selection))
        await _back(turn, q)
    elif action == QuestionAction.TO_REVIEW:
        await review.show(turn)
    else:
        await show_question(turn)


def _ticked_ids(payloads: list[str]) -> set[str]:
    """The option ids named by tick payloads (``QuestionAction.TICK``)."""
    ticks = (decode(payload) for payload in payloads)
    return {tick.arg for tick in ticks if tick.action == QuestionAction.TICK}


def _municipality_by_index(turn: Turn, arg: str) -> str | None:
    names = turn.campaign.municipalities
    return names[int(arg)] if arg.isdigit() and int(arg) < len(names) else None


async def on_text(turn: Turn, text: str) -> None:
    """The person typed something while at a question."""
    if await closed(turn):
        return
    q = _current_question(turn)
    if q is None:
        await start(turn)
        return
    text = text.strip()
    if q.type == "text":
        if not text:
            await show_question(turn, hint=_("Please write a few words, or use the buttons."))
            return
        if len(text) > q.max_length:
            await show_question(
                turn,
                hint=_(
                    "Your answer is {length} characters long; the limit is {limit}. Please "
                    "shorten it and send it again. Nothing was saved."
                ).format(length=len(text), limit=q.max_length),
            )
            return
        await _answer(turn, q, text)
        return
    if q.type == "municipality":
        await _municipality_text(turn, q, text)
        return
    await show_question(turn, hint=_("Please answer with the buttons below."))


async def _municipality_text(turn: Turn, q: Question, text: str) -> None:
    found = find_typed(turn.campaign, text, turn.text(turn.campaign.campaign.area))
    if found.chosen is not None:
        await _answer(turn, q, found.chosen, note=_("Chosen: {name}").format(name=found.chosen))
        return
    turn.state.search = found.search
    await show_question(turn, hint=found.hint)


async def _answer(turn: Turn, q: Question, value: Value | None, note: str | None = None) -> None:
    await store_answer(turn, q, value)
    meeting = await meetings.meeting_to_offer(turn, q, value)
    await _go_on(turn, q, note)
    if meeting is not None:
        # Below the next step, whose buttons keep their numbers (the review's "press a
        # number to change that answer").
        meetings.offer_signup(turn, meeting)


async def _go_on(
    turn: Turn, q: Question, note: str | None = None, *, changed: bool = True
) -> None:
    """Leave the answered question ``q``: back to the review when it was opened from there
    (first asking any question a change brought up), else on to the next question shown.
    ``changed``: False when the answer was kept as it was."""
    survey = turn.campaign.survey
    assert survey is not None
    response = await _response(turn)
    assert response is not None
    values = answer_values(response)
    visible = visible_questions(survey, values)
    if turn.state.from_review:
        # A changed answer can bring in questions not answered yet: ask those first.
        missing = next((v for v in visible if v.id not in values), None)
        if missing is not None:
            if changed:
                note = _("Saved. Your change brings up a new question.")
            else:
                note = _("A few questions still need an answer.")
            await ask(turn, missing, editing=True, note=note)
            return
        removed = forget_hidden(turn, response, visible) if response.status == "submitted" else []
        if removed:
            note = _("Saved. These answers no longer apply and were removed: {questions}").format(
                questions=fmt_list(removed)
            )
        await review.show(turn, intro=note or (_("Saved.") if changed else None))
        return
    order = question_order(survey)
    following = next((v for v in visible if order[v.id] > order[q.id]), None)
    if following is None:
        await review.show(turn, intro=note)
    else:
        await ask(turn, following, note=note)


async def _back(turn: Turn, q: Question) -> None:
    survey = turn.campaign.survey
    assert survey is not None
    visible = visible_questions(survey, answer_values(await _response(turn)))
    order = question_order(survey)
    earlier = [v for v in visible if order[v.id] < order[q.id]]
    if not earlier:
        await show_question(turn)
        return
    await ask(turn, earlier[-1])


def menu_button() -> Button:
    """The button back to the main menu."""
    return global_button(_("Main menu"), GlobalAction.MENU)


async def progress_label(turn: Turn) -> str:
    """The main menu's survey button: start, continue, or change answers."""
    response = await _response(turn)
    if response is None:
        return _("Take the survey")
    if response.status == "submitted":
        return _("Change my survey answers")
    return _("Continue the survey")
