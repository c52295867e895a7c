"""The survey, step by step: any question of any type, progress, skip, Back, review, submit.

What to ask comes from the campaign file; this module knows how to ask a question of each
type. Every answer is stored the moment it is given (one row per question), so a person can
stop at any point and continue where they were, and change answers until the deadline.
"""

from __future__ import annotations

import json
from typing import Any

from bot.campaign import Question, Survey, survey_state
from bot.i18n import _, fmt_day_and_time, fmt_list, ngettext
from bot.municipalities import OTHER, find_typed, municipality_label, search_municipalities
from bot.payloads import GlobalAction, QuestionAction, ReviewAction, decode
from bot.turn import Turn, global_button
from storage import responses as store
from storage.records import ResponseRecord

Value = str | int | list[str]

REVIEW_TEXT_PREVIEW = 120


# -- pure helpers: which questions are visible, what an answer says ----------------------


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


def _order(survey: Survey) -> dict[str, int]:
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


def _short(turn: Turn, q: Question) -> str:
    return turn.text(q.short) if q.short else turn.text(q.text)


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
    turn.say(text, [[_menu_button()]])
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
        await show_review(
            turn,
            intro=_("You have already sent your answers. You can change them until the deadline."),
        )
        return
    if response is None:
        response = await store.start_response(turn.tx, turn.participant.id, survey.id, turn.now)
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
        await show_review(turn)
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
    buttons = _answer_buttons(turn, q)
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
    )


def _answer_buttons(turn: Turn, q: Question) -> list[list[Any]]:
    if q.type == "single":
        return [[turn.button(turn.text(o.label), QuestionAction.OPTION, o.id)] for o in q.options]
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
            await _store(turn, q, list(turn.state.selection))
        await _back(turn, q)
    elif action == QuestionAction.TO_REVIEW:
        await show_review(turn)
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
    await _store(turn, q, value)
    await _go_on(turn, q, note)


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
        removed = _forget_hidden(turn, response, visible) if response.status == "submitted" else []
        if removed:
            note = _("Saved. These answers no longer apply and were removed: {questions}").format(
                questions=fmt_list(removed)
            )
        await show_review(turn, intro=note or (_("Saved.") if changed else None))
        return
    order = _order(survey)
    following = next((v for v in visible if order[v.id] > order[q.id]), None)
    if following is None:
        await show_review(turn, intro=note)
    else:
        await ask(turn, following, note=note)


async def _store(turn: Turn, q: Question, value: Value | None) -> None:
    """Write one answer (starting the response if needed) and keep the turn's view in step."""
    survey = turn.campaign.survey
    assert survey is not None
    response = await _response(turn)
    if response is None:
        response = await store.start_response(turn.tx, turn.participant.id, survey.id, turn.now)
        _set_response(turn, response)
    encoded = None if value is None else json.dumps(value, ensure_ascii=False)
    store.record_answer(turn.tx, response.id, q.id, encoded, value is None, turn.now)
    if response.status == "submitted":
        store.touch_response(turn.tx, response.id, turn.now)
    turn.record_answer_in_view(q.id, encoded, value is None)


async def _back(turn: Turn, q: Question) -> None:
    survey = turn.campaign.survey
    assert survey is not None
    visible = visible_questions(survey, answer_values(await _response(turn)))
    order = _order(survey)
    earlier = [v for v in visible if order[v.id] < order[q.id]]
    if not earlier:
        await show_question(turn)
        return
    await ask(turn, earlier[-1])


# -- review and submit ---------------------------------------------------------------------


async def show_review(turn: Turn, intro: str | None = None) -> None:
    """All answers, each changeable, and Submit."""
    survey = turn.campaign.survey
    assert survey is not None
    response = await _response(turn)
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
        lines.append(f"{number}. {_short(turn, q)}: {answer}")
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


async def on_review_button(turn: Turn, action: str, arg: str) -> None:
    """A button on the review was pressed."""
    if await closed(turn):
        return
    survey = turn.campaign.survey
    assert survey is not None
    if action == ReviewAction.CHANGE:
        q = survey.question(arg)
        visible = visible_questions(survey, answer_values(await _response(turn)))
        if q is None or q.id not in {v.id for v in visible}:
            await show_review(turn)
            return
        await ask(turn, q, editing=True)
    elif action == ReviewAction.SEND:
        await _submit(turn)
    else:
        await show_review(turn)


async def on_review_text(turn: Turn, text: str) -> None:
    """Typed text on the review: a number opens that question."""
    if await closed(turn):
        return
    survey = turn.campaign.survey
    assert survey is not None
    visible = visible_questions(survey, answer_values(await _response(turn)))
    number = text.strip()
    if number.isdigit() and 1 <= int(number) <= len(visible):
        await on_review_button(turn, ReviewAction.CHANGE, visible[int(number) - 1].id)
        return
    await show_review(turn, intro=_("Please use the buttons below."))


async def _submit(turn: Turn) -> None:
    survey = turn.campaign.survey
    assert survey is not None
    response = await _response(turn)
    values = answer_values(response)
    visible = visible_questions(survey, values)
    missing = [q for q in visible if q.id not in values]
    if response is None or missing:
        if missing:
            await ask(
                turn, missing[0], editing=True, note=_("A few questions still need an answer.")
            )
        else:
            await start(turn)
        return
    _forget_hidden(turn, response, visible)
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


def _forget_hidden(turn: Turn, response: ResponseRecord, visible: list[Question]) -> list[str]:
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
    return [_short(turn, q) for qid in hidden if (q := survey.question(qid)) is not None]


def _menu_button() -> Any:
    return global_button(_("Main menu"), GlobalAction.MENU)


async def progress_label(turn: Turn) -> str:
    """The main menu's survey button: start, continue, or change answers."""
    response = await _response(turn)
    if response is None:
        return _("Take the survey")
    if response.status == "submitted":
        return _("Change my survey answers")
    return _("Continue the survey")
