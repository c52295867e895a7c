"""Signing up for a meeting: in the chat, one detail at a time, or as one form.

The chat asks the details the campaign names (name, role, organisation, municipality), each
a step ``signup.<detail>`` with the answers in ``ConversationState.draft``, then shows a
summary to confirm. A platform that has forms (Slack's modals) gets the whole sign-up as
one form instead, filled in with what is known already. A full meeting offers the waiting
list first (step ``signup.waitlist``).
"""

from __future__ import annotations

from bot import signup_form
from bot.campaign import Meeting, sign_up_open, survey_state
from bot.i18n import _, fmt_day_and_time
from bot.meetings import (
    calendar_invite,
    meeting_title,
    menu_button,
    not_for_this_role,
    say_registration,
    show_meetings,
)
from bot.messages import Button
from bot.municipalities import (
    OTHER,
    find_typed,
    municipality_name,
    search_municipalities,
)
from bot.payloads import GlobalAction, SignUpAction
from bot.turn import Turn, global_button
from storage import registrations as store
from storage.records import RegistrationDetails

NAME_MAX = 100
ORGANISATION_MAX = 150


def has_letters(name: str) -> bool:
    """Whether a name has letters (of any script): one of emoji, digits or signs only is
    no name the organisers can call out or put on a list."""
    return any(ch.isalpha() for ch in name)


def no_letters() -> str:
    return _("A name needs letters: please type the name we should register.")


# -- signing up in the chat ---------------------------------------------------------------


async def start_signup(turn: Turn, meeting_id: str) -> None:
    """Begin signing up for a meeting, if it is open and the person is not registered."""
    meeting = turn.campaign.meeting(meeting_id)
    if meeting is None:
        turn.say(_("I can't find that meeting."))
        await show_meetings(turn)
        return
    if not await can_sign_up(turn, meeting):
        return
    capacity = meeting.capacity
    if (
        capacity
        and await store.count_confirmed(turn.tx, *turn.campaign.meeting_key(meeting.id))
        >= capacity
    ):
        turn.goto("signup.waitlist", meeting=meeting.id, draft={}, editing=False)
        await show_step(turn)
        return
    if turn.incoming.forms:
        signup_form.offer_form(turn, meeting)
        return
    turn.goto("signup.form", meeting=meeting.id, draft=known_details(turn), editing=False)
    await _next_field(turn)


async def can_sign_up(turn: Turn, meeting: Meeting) -> bool:
    campaign = turn.campaign
    if not sign_up_open(campaign, meeting, turn.now):
        deadline = campaign.signup_deadline(meeting)
        turn.goto("menu")
        turn.say(
            _("Sign-up for {meeting} closed {when}.").format(
                meeting=meeting_title(turn, meeting),
                when=fmt_day_and_time(deadline, campaign.tz),
            ),
            [[global_button(_("Meetings"), GlobalAction.MEETINGS), menu_button()]],
        )
        return False
    existing = await store.registration_for(
        turn.tx, turn.participant.id, *turn.campaign.meeting_key(meeting.id)
    )
    if existing is not None and existing.status != "cancelled":
        turn.goto("menu")
        await say_registration(turn, meeting, existing, _("You are already registered."))
        return False
    return True


def known_details(turn: Turn) -> dict[str, str | None]:
    """What the person told us last time, to be confirmed rather than asked again."""
    p = turn.participant
    known = {
        "name": p.name,
        "role": p.role,
        "organisation": p.organisation,
        "municipality": p.municipality,
    }
    return {k: v for k, v in known.items() if v is not None}


def detail_fields(turn: Turn) -> list[str]:
    return list(turn.campaign.signup.fields)


async def _next_field(turn: Turn) -> None:
    """Ask the first field not yet in the draft, or show the summary."""
    if not await _role_fits(turn):
        return
    role = turn.campaign.role(turn.state.draft.get("role") or "")
    for field in detail_fields(turn):
        if field == "organisation" and role is not None and not role.organisation:
            turn.state.draft = {**turn.state.draft, "organisation": None}
            continue
        if field not in turn.state.draft:
            turn.goto(f"signup.{field}", search=None)
            await show_step(turn)
            return
    turn.goto("signup.confirm", editing=False)
    await show_step(turn)


async def _role_fits(turn: Turn) -> bool:
    """Whether the draft's role may sign up for the meeting; if not, say who the meeting is
    for and ask the role again (a person who chose it by mistake), with the way to the other
    meetings."""
    meeting = turn.campaign.meeting(turn.state.meeting or "")
    role = turn.state.draft.get("role")
    if meeting is None or turn.campaign.open_to(meeting, role):
        return True
    turn.state.draft = {k: v for k, v in turn.state.draft.items() if k != "role"}
    turn.goto("signup.role", search=None)
    await show_step(turn, hint=not_for_this_role(turn, meeting))
    return False


async def show_step(turn: Turn, hint: str | None = None) -> None:
    """Show the current sign-up step again (after a stale button, help, or bad input)."""
    meeting = turn.campaign.meeting(turn.state.meeting or "")
    if meeting is None:
        await show_meetings(turn)
        return
    step = turn.state.step
    lines = [hint, ""] if hint else []
    title = meeting_title(turn, meeting)
    buttons: list[list[Button]] = []
    expects_text = False
    number_is_text = True
    max_length: int | None = None
    if step == "signup.waitlist":
        lines.append(
            _(
                "{meeting} is full. Would you like a place on the waiting list? If a place "
                "becomes free, the first person on the list gets it and is told at once."
            ).format(meeting=title)
        )
        buttons = [
            [turn.button(_("Yes, put me on the waiting list"), SignUpAction.WAIT)],
            [turn.button(_("No, thanks"), SignUpAction.CANCEL)],
        ]
    elif step == "signup.name":
        lines.append(_("Signing up for: {meeting}").format(meeting=title))
        lines.append(_("What name should we register? Type your name."))
        profile = (turn.incoming.profile_name or "").strip()
        if profile and len(profile) <= NAME_MAX and has_letters(profile):
            buttons.append(
                [
                    turn.button(
                        _("Use \u201c{name}\u201d").format(name=profile),
                        SignUpAction.USE_PROFILE_NAME,
                    )
                ]
            )
        expects_text = True
        max_length = NAME_MAX
    elif step == "signup.role":
        lines.append(_("Which of these describes you best?"))
        buttons = [
            [turn.button(turn.text(role.label), SignUpAction.ROLE, role.id)]
            for role in turn.campaign.signup.roles
        ]
        if meeting.audience_roles:
            buttons.append([global_button(_("Other meetings"), GlobalAction.MEETINGS)])
    elif step == "signup.organisation":
        lines.append(
            _("Which organisation, school, library or municipality are you from? Type its name.")
        )
        buttons = [[turn.button(_("None / not relevant"), SignUpAction.NO_ORGANISATION)]]
        expects_text = True
        max_length = ORGANISATION_MAX
    elif step == "signup.municipality":
        lines.append(_("Which municipality do you live or work in? Type part of the name."))
        for index, name in search_municipalities(turn.campaign, turn.state.search or ""):
            buttons.append([turn.button(name, SignUpAction.MUNICIPALITY, str(index))])
        buttons.append(
            [turn.button(municipality_name(turn, OTHER), SignUpAction.MUNICIPALITY, OTHER)]
        )
        expects_text = True
        number_is_text = False  # a name is never a bare number: it picks a button
    elif step == "signup.confirm":
        lines.append(_("Please check your sign-up:"))
        lines.append(_("Meeting: {meeting}").format(meeting=title))
        lines.extend(_summary_lines(turn, turn.state.draft))
        buttons = [[turn.button(_("Confirm sign-up"), SignUpAction.CONFIRM)]]
        change = [
            turn.button(_field_change_label(field), SignUpAction.CHANGE, field)
            for field in detail_fields(turn)
        ]
        buttons.extend(change[i : i + 2] for i in range(0, len(change), 2))
    if turn.state.editing and step != "signup.confirm":
        buttons.append([turn.button(_("Back to the summary"), SignUpAction.SUMMARY)])
    buttons.append([turn.button(_("Cancel sign-up"), SignUpAction.CANCEL)])
    turn.say(
        "\n".join(lines),
        buttons,
        expects_text=expects_text,
        number_is_text=number_is_text,
        max_length=max_length,
    )


def _field_change_label(field: str) -> str:
    return {
        "name": _("Change name"),
        "role": _("Change role"),
        "organisation": _("Change organisation"),
        "municipality": _("Change municipality"),
    }[field]


def _summary_lines(turn: Turn, draft: dict[str, str | None]) -> list[str]:
    lines = []
    fields = detail_fields(turn)
    if "name" in fields:
        lines.append(_("Name: {name}").format(name=draft.get("name") or "\u2013"))
    if "role" in fields:
        role = turn.campaign.role(draft.get("role") or "")
        lines.append(_("Role: {role}").format(role=turn.text(role.label) if role else "\u2013"))
    if "organisation" in fields:
        lines.append(
            _("Organisation: {organisation}").format(
                organisation=draft.get("organisation") or _("none")
            )
        )
    if "municipality" in fields:
        value = draft.get("municipality")
        lines.append(
            _("Municipality: {municipality}").format(
                municipality=municipality_name(turn, value) if value else "\u2013"
            )
        )
    return lines


async def on_button(turn: Turn, action: str, arg: str) -> None:
    """A button of the current sign-up step was pressed."""
    step = turn.state.step
    if action == SignUpAction.CANCEL:
        turn.goto("menu", meeting=None, draft={})
        turn.say(_("Sign-up cancelled. Nothing was registered."), [[menu_button()]])
        return
    meeting = turn.campaign.meeting(turn.state.meeting or "")
    if (
        step == "signup.waitlist"
        and action == SignUpAction.WAIT
        and turn.incoming.forms
        and meeting
    ):
        signup_form.offer_form(turn, meeting)
    elif step == "signup.waitlist" and action == SignUpAction.WAIT:
        turn.goto("signup.form", draft=known_details(turn), editing=False)
        await _next_field(turn)
    elif (
        step == "signup.name"
        and action == SignUpAction.USE_PROFILE_NAME
        and turn.incoming.profile_name
    ):
        await _set_field(turn, "name", turn.incoming.profile_name.strip()[:NAME_MAX])
    elif (
        step == "signup.role"
        and action == SignUpAction.ROLE
        and turn.campaign.role(arg) is not None
    ):
        await _set_field(turn, "role", arg)
    elif step == "signup.organisation" and action == SignUpAction.NO_ORGANISATION:
        await _set_field(turn, "organisation", None)
    elif step == "signup.municipality" and action == SignUpAction.MUNICIPALITY:
        names = turn.campaign.municipalities
        if arg == OTHER:
            await _set_field(turn, "municipality", OTHER)
        elif arg.isdigit() and int(arg) < len(names):
            await _set_field(turn, "municipality", names[int(arg)])
        else:
            await show_step(turn)
    elif step == "signup.confirm" and action == SignUpAction.CHANGE and arg in detail_fields(turn):
        turn.goto(f"signup.{arg}", editing=True, search=None)
        await show_step(turn)
    elif action == SignUpAction.SUMMARY and turn.state.editing:
        turn.goto("signup.confirm", editing=False)
        await show_step(turn)
    elif step == "signup.confirm" and action == SignUpAction.CONFIRM:
        await confirm(turn)
    else:
        await show_step(turn)


async def on_text(turn: Turn, text: str) -> None:
    """The person typed something during sign-up."""
    step = turn.state.step
    text = " ".join(text.split())
    if step == "signup.name":
        if not text:
            await show_step(turn, hint=_("Please type your name."))
        elif not has_letters(text):
            await show_step(turn, hint=no_letters())
        elif len(text) > NAME_MAX:
            await show_step(
                turn,
                hint=_("That is too long for a name (at most {n} characters).").format(n=NAME_MAX),
            )
        else:
            await _set_field(turn, "name", text)
    elif step == "signup.organisation":
        if len(text) > ORGANISATION_MAX:
            await show_step(
                turn,
                hint=_("That is too long (at most {n} characters).").format(n=ORGANISATION_MAX),
            )
        else:
            await _set_field(turn, "organisation", text or None)
    elif step == "signup.municipality":
        found = find_typed(turn.campaign, text, turn.text(turn.campaign.campaign.area))
        if found.chosen is not None:
            await _set_field(turn, "municipality", found.chosen)
            return
        turn.state.search = found.search
        await show_step(turn, hint=found.hint)
    else:
        await show_step(turn, hint=_("Please answer with the buttons below."))


async def _set_field(turn: Turn, field: str, value: str | None) -> None:
    draft = dict(turn.state.draft)
    draft[field] = value
    turn.state.draft = draft
    await _next_field(turn)


async def confirm(turn: Turn) -> None:
    meeting = turn.campaign.meeting(turn.state.meeting or "")
    if meeting is None:
        await show_meetings(turn)
        return
    if not await can_sign_up(turn, meeting) or not await _role_fits(turn):
        return
    draft = turn.state.draft
    details = RegistrationDetails(
        name=draft.get("name"),
        role=draft.get("role"),
        organisation=draft.get("organisation"),
        municipality=draft.get("municipality"),
    )
    registration = await store.register(
        turn.tx,
        turn.participant.id,
        *turn.campaign.meeting_key(meeting.id),
        details,
        meeting.capacity,
        turn.now,
    )
    p = turn.participant
    p.name, p.role = details.name or p.name, details.role or p.role
    p.organisation = details.organisation
    p.municipality = details.municipality or p.municipality
    turn.participant_changed = True
    turn.goto("menu", meeting=None, draft={})
    if registration.status == "waiting":
        intro = _("You are on the waiting list.")
    else:
        intro = _("You are signed up! Welcome.")
    await say_registration(turn, meeting, registration, intro)
    invite = calendar_invite(turn, meeting, with_link=registration.status == "confirmed")
    if invite is not None and registration.status == "confirmed":
        turn.replies[-1].attachment = invite
    response = await turn.response()
    if (
        response is not None
        and response.status != "submitted"
        and survey_state(turn.campaign, turn.now) == "open"
    ):
        # Signed up from the survey (a choice that leads here): the way back to it.
        turn.replies[-1].buttons.append(
            [global_button(_("Continue the survey"), GlobalAction.SURVEY)]
        )


# -- signing up with a form (platforms that have forms: Slack's modals) ------------------
