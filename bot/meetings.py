"""Meetings: what they are, signing up (with a waiting list), my registrations, cancelling.

The online meeting's link is private: it appears only in what a confirmed registrant sees
(the confirmation, "my registrations", the message when moved up from the waiting list),
never in a meeting's public description.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time

from bot.calendar import meeting_invite
from bot.campaign import Meeting, sign_up_open
from bot.i18n import _, fmt_date, fmt_day_and_time, fmt_time, use_language
from bot.messages import (
    Attachment,
    Button,
    FieldKind,
    Form,
    FormField,
    Option,
    Outgoing,
)
from bot.municipalities import OTHER, find_typed, municipality_label, search_municipalities
from bot.payloads import CancelAction, GlobalAction, SignUpAction, encode_global
from bot.turn import Speaker, Speaks, Turn, global_button
from storage import registrations as store
from storage.participants import participant_by_id
from storage.records import RegistrationDetails, RegistrationRecord

NAME_MAX = 100
ORGANISATION_MAX = 150


# -- describing meetings -------------------------------------------------------------------


def meeting_title(turn: Speaks, meeting: Meeting) -> str:
    """The meeting's full title in the person's language."""
    return turn.text(meeting.title)


def _short_title(turn: Speaks, meeting: Meeting) -> str:
    return turn.text(meeting.short) or turn.text(meeting.title)


def meeting_date(turn: Speaks, meeting: Meeting) -> str:
    """The meeting's date with weekday, in the person's language."""
    campaign = turn.campaign
    noon = datetime.combine(meeting.date, time(12, 0), tzinfo=campaign.tz)
    return fmt_date(noon, campaign.tz)


def when_and_where(turn: Speaks, meeting: Meeting) -> list[str]:
    """Date, time and place lines; unknown facts are 'to be announced'."""
    campaign = turn.campaign
    start = campaign.meeting_start(meeting)
    lines = [_("Date: {date}").format(date=meeting_date(turn, meeting))]
    if start is None:
        lines.append(_("Time: to be announced"))
    else:
        if meeting.end is not None:
            end = datetime.combine(meeting.date, meeting.end, tzinfo=campaign.tz)
            lines.append(
                _("Time: {start}\u2013{end}").format(
                    start=fmt_time(start, campaign.tz), end=fmt_time(end, campaign.tz)
                )
            )
        else:
            lines.append(_("Time: {start}").format(start=fmt_time(start, campaign.tz)))
    if meeting.place is not None:
        lines.append(_("Place: {place}").format(place=turn.text(meeting.place)))
    elif meeting.online:
        lines.append(_("Place: online (the link is sent to those who sign up)"))
    else:
        lines.append(_("Place: to be announced"))
    return lines


def public_description(turn: Turn, meeting: Meeting) -> str:
    """What anyone may read about a meeting (never the link)."""
    campaign = turn.campaign
    lines = [meeting_title(turn, meeting), *when_and_where(turn, meeting)]
    lines.append(_("For: {audience}").format(audience=turn.text(meeting.audience)))
    if meeting.description is not None:
        lines.append(turn.text(meeting.description))
    deadline = campaign.signup_deadline(meeting)
    if campaign.meeting_over(meeting, turn.now):
        lines.append(_("This meeting has taken place."))
    elif sign_up_open(campaign, meeting, turn.now):
        lines.append(_("Sign up by {when}.").format(when=fmt_day_and_time(deadline, campaign.tz)))
    else:
        lines.append(_("Sign-up has closed."))
    return "\n".join(lines)


def private_details(turn: Speaks, meeting: Meeting, registration: RegistrationRecord) -> list[str]:
    """What only this registrant sees: their status, and the link if they have a place."""
    if registration.status == "waiting":
        return []
    if not meeting.online:
        return []
    if meeting.link:
        return [_("Link to the meeting: {link}").format(link=meeting.link)]
    return [_("The link to the meeting will be sent to you before it starts.")]


async def show_meetings(turn: Turn) -> None:
    """Every meeting, with sign-up buttons for those still open."""
    turn.goto("menu")
    campaign = turn.campaign
    if not campaign.meetings:
        turn.say(_("There are no meetings in this consultation."), [[_menu_button()]])
        return
    blocks = [_("Meetings:")]
    buttons: list[list[Button]] = []
    mine = {
        r.meeting_id: r
        for r in await store.registrations_of(turn.tx, turn.participant.id)
        if r.status != "cancelled"
    }
    for meeting in campaign.meetings:
        block = public_description(turn, meeting)
        registration = mine.get(meeting.id)
        if registration is not None:
            # No sign-up button: say why ("My registrations" has it, with Cancel).
            if registration.status == "confirmed":
                block += "\n\u2713 " + _("You have a place.")
            else:
                block += "\n\u2713 " + _("You are on the waiting list.")
            blocks.append(block)
            continue
        blocks.append(block)
        if sign_up_open(campaign, meeting, turn.now):
            label = _("Sign up: {meeting}").format(meeting=_short_title(turn, meeting))
            buttons.append([global_button(label, GlobalAction.SIGN_UP, meeting.id)])
    buttons.append([global_button(_("My registrations"), GlobalAction.MINE), _menu_button()])
    turn.say("\n\n".join(blocks), buttons)


# -- signing up --------------------------------------------------------------------------


async def start_signup(turn: Turn, meeting_id: str) -> None:
    """Begin signing up for a meeting, if it is open and the person is not registered."""
    meeting = turn.campaign.meeting(meeting_id)
    if meeting is None:
        turn.say(_("I can't find that meeting."))
        await show_meetings(turn)
        return
    if not await _can_sign_up(turn, meeting):
        return
    capacity = meeting.capacity
    if capacity and await store.count_confirmed(turn.tx, meeting.id) >= capacity:
        turn.goto("signup.waitlist", meeting=meeting.id, draft={}, editing=False)
        await show_step(turn)
        return
    if turn.incoming.forms:
        _offer_form(turn, meeting)
        return
    turn.goto("signup.form", meeting=meeting.id, draft=_known_details(turn), editing=False)
    await _next_field(turn)


async def _can_sign_up(turn: Turn, meeting: Meeting) -> bool:
    campaign = turn.campaign
    if not sign_up_open(campaign, meeting, turn.now):
        deadline = campaign.signup_deadline(meeting)
        turn.goto("menu")
        turn.say(
            _("Sign-up for {meeting} closed {when}.").format(
                meeting=meeting_title(turn, meeting),
                when=fmt_day_and_time(deadline, campaign.tz),
            ),
            [[global_button(_("Meetings"), GlobalAction.MEETINGS), _menu_button()]],
        )
        return False
    existing = await store.registration_for(turn.tx, turn.participant.id, meeting.id)
    if existing is not None and existing.status != "cancelled":
        turn.goto("menu")
        await _say_registration(turn, meeting, existing, _("You are already registered."))
        return False
    return True


def _known_details(turn: Turn) -> dict[str, str | None]:
    """What the person told us last time, to be confirmed rather than asked again."""
    p = turn.participant
    known = {
        "name": p.name,
        "role": p.role,
        "organisation": p.organisation,
        "municipality": p.municipality,
    }
    return {k: v for k, v in known.items() if v is not None}


def _fields(turn: Turn) -> list[str]:
    return list(turn.campaign.signup.fields)


async def _next_field(turn: Turn) -> None:
    """Ask the first field not yet in the draft, or show the summary."""
    role = turn.campaign.role(turn.state.draft.get("role") or "")
    for field in _fields(turn):
        if field == "organisation" and role is not None and not role.organisation:
            turn.state.draft = {**turn.state.draft, "organisation": None}
            continue
        if field not in turn.state.draft:
            turn.goto(f"signup.{field}", search=None)
            await show_step(turn)
            return
    turn.goto("signup.confirm", editing=False)
    await show_step(turn)


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
        if profile and len(profile) <= NAME_MAX:
            buttons.append(
                [
                    turn.button(
                        _("Use \u201c{name}\u201d").format(name=profile),
                        SignUpAction.USE_PROFILE_NAME,
                    )
                ]
            )
        expects_text = True
    elif step == "signup.role":
        lines.append(_("Which of these describes you best?"))
        buttons = [
            [turn.button(turn.text(role.label), SignUpAction.ROLE, role.id)]
            for role in turn.campaign.signup.roles
        ]
    elif step == "signup.organisation":
        lines.append(
            _("Which organisation, school, library or municipality are you from? Type its name.")
        )
        buttons = [[turn.button(_("None / not relevant"), SignUpAction.NO_ORGANISATION)]]
        expects_text = True
    elif step == "signup.municipality":
        lines.append(_("Which municipality do you live or work in? Type part of the name."))
        for index, name in search_municipalities(turn.campaign, turn.state.search or ""):
            buttons.append([turn.button(name, SignUpAction.MUNICIPALITY, str(index))])
        buttons.append([turn.button(_municipality(turn, OTHER), SignUpAction.MUNICIPALITY, OTHER)])
        expects_text = True
        number_is_text = False  # a name is never a bare number: it picks a button
    elif step == "signup.confirm":
        lines.append(_("Please check your sign-up:"))
        lines.append(_("Meeting: {meeting}").format(meeting=title))
        lines.extend(_summary_lines(turn, turn.state.draft))
        buttons = [[turn.button(_("Confirm sign-up"), SignUpAction.CONFIRM)]]
        change = [
            turn.button(_field_change_label(field), SignUpAction.CHANGE, field)
            for field in _fields(turn)
        ]
        buttons.extend(change[i : i + 2] for i in range(0, len(change), 2))
    if turn.state.editing and step != "signup.confirm":
        buttons.append([turn.button(_("Back to the summary"), SignUpAction.SUMMARY)])
    buttons.append([turn.button(_("Cancel sign-up"), SignUpAction.CANCEL)])
    turn.say("\n".join(lines), buttons, expects_text=expects_text, number_is_text=number_is_text)


def _field_change_label(field: str) -> str:
    return {
        "name": _("Change name"),
        "role": _("Change role"),
        "organisation": _("Change organisation"),
        "municipality": _("Change municipality"),
    }[field]


def _municipality(turn: Speaks, value: str) -> str:
    return municipality_label(value, turn.text(turn.campaign.campaign.area))


def _summary_lines(turn: Turn, draft: dict[str, str | None]) -> list[str]:
    lines = []
    fields = _fields(turn)
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
                municipality=_municipality(turn, value) if value else "\u2013"
            )
        )
    return lines


async def on_button(turn: Turn, action: str, arg: str) -> None:
    """A button of the current sign-up step was pressed."""
    step = turn.state.step
    if action == SignUpAction.CANCEL:
        turn.goto("menu", meeting=None, draft={})
        turn.say(_("Sign-up cancelled. Nothing was registered."), [[_menu_button()]])
        return
    meeting = turn.campaign.meeting(turn.state.meeting or "")
    if (
        step == "signup.waitlist"
        and action == SignUpAction.WAIT
        and turn.incoming.forms
        and meeting
    ):
        _offer_form(turn, meeting)
    elif step == "signup.waitlist" and action == SignUpAction.WAIT:
        turn.goto("signup.form", draft=_known_details(turn), editing=False)
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
    elif step == "signup.confirm" and action == SignUpAction.CHANGE and arg in _fields(turn):
        turn.goto(f"signup.{arg}", editing=True, search=None)
        await show_step(turn)
    elif action == SignUpAction.SUMMARY and turn.state.editing:
        turn.goto("signup.confirm", editing=False)
        await show_step(turn)
    elif step == "signup.confirm" and action == SignUpAction.CONFIRM:
        await _confirm(turn)
    else:
        await show_step(turn)


async def on_text(turn: Turn, text: str) -> None:
    """The person typed something during sign-up."""
    step = turn.state.step
    text = " ".join(text.split())
    if step == "signup.name":
        if not text:
            await show_step(turn, hint=_("Please type your name."))
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


async def _confirm(turn: Turn) -> None:
    meeting = turn.campaign.meeting(turn.state.meeting or "")
    if meeting is None:
        await show_meetings(turn)
        return
    if not await _can_sign_up(turn, meeting):
        return
    draft = turn.state.draft
    details = RegistrationDetails(
        name=draft.get("name"),
        role=draft.get("role"),
        organisation=draft.get("organisation"),
        municipality=draft.get("municipality"),
    )
    registration = await store.register(
        turn.tx, turn.participant.id, meeting.id, details, meeting.capacity, turn.now
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
    await _say_registration(turn, meeting, registration, intro)
    invite = calendar_invite(turn, meeting, with_link=registration.status == "confirmed")
    if invite is not None and registration.status == "confirmed":
        turn.replies[-1].attachment = invite


def calendar_invite(turn: Turn, meeting: Meeting, *, with_link: bool) -> Attachment | None:
    """The meeting as a calendar file (.ics), or None while its time is unknown."""
    campaign = turn.campaign
    data = meeting_invite(
        campaign,
        meeting,
        title=meeting_title(turn, meeting),
        description=turn.text(meeting.description) if meeting.description else "",
        place=turn.text(meeting.place) if meeting.place else None,
        now=turn.now,
        with_link=with_link,
    )
    if data is None:
        return None
    return Attachment(filename=f"{meeting.id}.ics", mime_type="text/calendar", data=data)


# -- signing up with a form (platforms that have forms: Slack's modals) ------------------


def _offer_form(turn: Turn, meeting: Meeting) -> None:
    """The whole sign-up as one form, filled in with what we know already."""
    known = _known_details(turn)
    title = meeting_title(turn, meeting)
    fields: list[FormField] = []
    for field in _fields(turn):
        if field == "name":
            profile = (turn.incoming.profile_name or "").strip()[:NAME_MAX]
            fields.append(
                FormField(
                    id="name",
                    label=_("Name"),
                    initial=known.get("name") or profile or None,
                    max_length=NAME_MAX,
                )
            )
        elif field == "role":
            fields.append(
                FormField(
                    id="role",
                    label=_("Which of these describes you best?"),
                    kind=FieldKind.SELECT,
                    options=[
                        Option(label=turn.text(role.label), value=role.id)
                        for role in turn.campaign.signup.roles
                    ],
                    initial=known.get("role"),
                )
            )
        elif field == "organisation":
            fields.append(
                FormField(
                    id="organisation",
                    label=_("Organisation, school, library or municipality"),
                    initial=known.get("organisation"),
                    optional=True,
                    max_length=ORGANISATION_MAX,
                )
            )
        elif field == "municipality":
            value = known.get("municipality")
            fields.append(
                FormField(
                    id="municipality",
                    label=_("Municipality"),
                    kind=FieldKind.SEARCH,
                    initial=municipality_value(turn, value) if value else None,
                    initial_label=_municipality(turn, value) if value else None,
                    hint=_("Type part of the name."),
                )
            )
    form = Form(
        title=_("Sign up"),
        submit=_("Sign up"),
        payload=encode_global(GlobalAction.SIGN_UP_FORM, meeting.id),
        fields=fields,
        intro="\n".join([title, *when_and_where(turn, meeting)]),
        language=turn.lang,
    )
    turn.goto("menu", meeting=None, draft={})
    turn.replies.append(
        Outgoing(
            text=_("Signing up for: {meeting}").format(meeting=title),
            buttons=[
                [global_button(_("Open the sign-up form"), GlobalAction.SIGN_UP, meeting.id)]
            ],
            form=form,
        )
    )


def municipality_value(turn: Speaks, municipality: str) -> str:
    """A municipality as a form option's value: its index in the campaign's list."""
    if municipality == OTHER:
        return OTHER
    names = turn.campaign.municipalities
    return str(names.index(municipality)) if municipality in names else OTHER


def municipality_options(turn: Speaks, typed: str) -> list[Option]:
    """Municipalities matching what was typed, for a form's search field (the other choice
    always last)."""
    found = search_municipalities(turn.campaign, typed, limit=50) if typed.strip() else []
    if not typed.strip():
        found = list(enumerate(turn.campaign.municipalities))
    options = [Option(label=name, value=str(index)) for index, name in found]
    options.append(Option(label=_municipality(turn, OTHER), value=OTHER))
    return options


async def submit_form(turn: Turn, meeting_id: str) -> None:
    """A filled-in sign-up form: register, or say what is wrong and store nothing."""
    meeting = turn.campaign.meeting(meeting_id)
    if meeting is None:
        turn.say(_("I can't find that meeting."))
        await show_meetings(turn)
        return
    if not await _can_sign_up(turn, meeting):
        return
    values = turn.incoming.fields
    draft: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for field in _fields(turn):
        value = " ".join(values.get(field, "").split())
        if field == "name":
            if not value:
                errors[field] = _("Please type your name.")
            elif len(value) > NAME_MAX:
                errors[field] = _("That is too long for a name (at most {n} characters).").format(
                    n=NAME_MAX
                )
            draft[field] = value
        elif field == "role":
            if turn.campaign.role(value) is None:
                errors[field] = _("Which of these describes you best?")
            draft[field] = value
        elif field == "organisation":
            if len(value) > ORGANISATION_MAX:
                errors[field] = _("That is too long (at most {n} characters).").format(
                    n=ORGANISATION_MAX
                )
            draft[field] = value or None
        elif field == "municipality":
            names = turn.campaign.municipalities
            if value == OTHER:
                draft[field] = OTHER
            elif value.isdigit() and int(value) < len(names):
                draft[field] = names[int(value)]
            else:
                errors[field] = _("Choose your municipality:")
    if errors:
        turn.replies.append(Outgoing(text="", field_errors=errors))
        return
    role = turn.campaign.role(draft.get("role") or "")
    if role is not None and not role.organisation:
        draft["organisation"] = None
    turn.goto("signup.confirm", meeting=meeting.id, draft=draft, editing=False)
    await _confirm(turn)


async def _say_registration(
    turn: Turn, meeting: Meeting, registration: RegistrationRecord, intro: str
) -> None:
    lines = [intro, "", meeting_title(turn, meeting), *when_and_where(turn, meeting)]
    if registration.status == "waiting":
        position = await store.waitlist_position(turn.tx, registration)
        lines.append(
            _(
                "You are number {position} on the waiting list. We will tell you if a "
                "place becomes free."
            ).format(position=position)
        )
    lines.extend(private_details(turn, meeting, registration))
    turn.say(
        "\n".join(lines),
        [
            [
                global_button(
                    _("Cancel this registration"), GlobalAction.CANCEL_REGISTRATION, meeting.id
                )
            ],
            [global_button(_("My registrations"), GlobalAction.MINE), _menu_button()],
        ],
    )


# -- my registrations and cancelling -----------------------------------------------------


async def has_registrations(turn: Turn) -> bool:
    """Whether the person has signed up for anything."""
    return bool(await store.registrations_of(turn.tx, turn.participant.id))


async def show_mine(turn: Turn) -> None:
    """The person's registrations, with the link where they have a place."""
    turn.goto("menu")
    registrations = await store.registrations_of(turn.tx, turn.participant.id)
    if not registrations:
        turn.say(
            _("You are not registered for any meeting."),
            [[global_button(_("Meetings"), GlobalAction.MEETINGS), _menu_button()]],
        )
        return
    blocks = [_("Your registrations:")]
    buttons: list[list[Button]] = []
    for registration in registrations:
        meeting = turn.campaign.meeting(registration.meeting_id)
        if meeting is None:
            continue
        lines = [meeting_title(turn, meeting), *when_and_where(turn, meeting)]
        if turn.campaign.meeting_over(meeting, turn.now):
            lines.append(_("This meeting has taken place."))
            blocks.append("\n".join(lines))
            continue
        if registration.status == "waiting":
            position = await store.waitlist_position(turn.tx, registration)
            lines.append(_("On the waiting list, number {position}.").format(position=position))
        else:
            lines.append(_("You have a place."))
        lines.extend(private_details(turn, meeting, registration))
        blocks.append("\n".join(lines))
        label = _("Cancel: {meeting}").format(meeting=_short_title(turn, meeting))
        row = [global_button(label, GlobalAction.CANCEL_REGISTRATION, meeting.id)]
        if registration.status == "confirmed" and meeting.start is not None:
            row.append(
                global_button(_("Add to calendar"), GlobalAction.CALENDAR_INVITE, meeting.id)
            )
        buttons.append(row)
    buttons.append([_menu_button()])
    turn.say("\n\n".join(blocks), buttons)


async def send_invite(turn: Turn, meeting_id: str) -> None:
    """The calendar invite of a meeting the person has a place in, again."""
    meeting = turn.campaign.meeting(meeting_id)
    registration = (
        await store.registration_for(turn.tx, turn.participant.id, meeting.id)
        if meeting is not None
        else None
    )
    invite = calendar_invite(turn, meeting, with_link=True) if meeting is not None else None
    if registration is None or registration.status != "confirmed" or invite is None:
        await show_mine(turn)
        return
    turn.goto("menu")
    turn.replies.append(
        Outgoing(
            text=_("Here is the meeting for your calendar: open the file."),
            attachment=invite,
            buttons=[[global_button(_("My registrations"), GlobalAction.MINE), _menu_button()]],
        )
    )


async def ask_cancel(turn: Turn, meeting_id: str) -> None:
    """Ask before cancelling a registration."""
    meeting = turn.campaign.meeting(meeting_id)
    registration = (
        await store.registration_for(turn.tx, turn.participant.id, meeting_id)
        if meeting is not None
        else None
    )
    if meeting is None or registration is None or registration.status == "cancelled":
        turn.say(_("You have no registration for that meeting."))
        await show_mine(turn)
        return
    turn.goto("cancel.confirm", meeting=meeting.id)
    await show_cancel(turn)


async def show_cancel(turn: Turn, hint: str | None = None) -> None:
    """The question 'cancel your registration?' with its two answers."""
    meeting = turn.campaign.meeting(turn.state.meeting or "")
    if meeting is None:
        await show_mine(turn)
        return
    lines = [hint, ""] if hint else []
    lines.append(
        _("Cancel your registration for {meeting}?").format(meeting=meeting_title(turn, meeting))
    )
    turn.say(
        "\n".join(lines),
        [
            [
                turn.button(_("Yes, cancel my registration"), CancelAction.YES),
                turn.button(_("No, keep my registration"), CancelAction.NO),
            ]
        ],
    )


async def on_cancel_button(turn: Turn, action: str, arg: str) -> None:
    """The answer to 'cancel your registration?'."""
    meeting = turn.campaign.meeting(turn.state.meeting or "")
    if meeting is None or action == CancelAction.NO:
        turn.goto("menu", meeting=None)
        turn.say(_("Your registration is kept."), [[_menu_button()]])
        return
    if action != CancelAction.YES:
        await show_cancel(turn)
        return
    turn.goto("menu", meeting=None)
    before = await store.cancel_registration(turn.tx, turn.participant.id, meeting.id, turn.now)
    if before is None:
        turn.say(_("You have no registration for that meeting."), [[_menu_button()]])
        return
    turn.say(
        _("Your registration for {meeting} is cancelled.").format(
            meeting=meeting_title(turn, meeting)
        ),
        [[global_button(_("Meetings"), GlobalAction.MEETINGS), _menu_button()]],
    )
    if before.status == "confirmed":
        await move_up_from_waitlist(turn, meeting)


async def move_up_from_waitlist(turn: Turn, meeting: Meeting) -> None:
    """Give the freed place to the first person waiting, and tell them through the outbox."""
    promoted = await store.promote_first_waiting(turn.tx, meeting.id, turn.now)
    if promoted is None:
        return
    person = await participant_by_id(turn.tx, promoted.participant_id)
    if person is None:
        return
    lang = person.language or turn.campaign.default_language
    message = meeting_message(
        Speaker(turn.campaign, lang),
        meeting,
        promoted,
        lambda: _("Good news: a place became free, and it is yours."),
        invite_at=turn.now,
    )
    key = f"waitlist:{meeting.id}:{promoted.id}:{promoted.updated_at.isoformat()}"
    turn.outbox.append((person.id, "waitlist_promoted", key, message))


def meeting_message(
    speaker: Speaker,
    meeting: Meeting,
    registration: RegistrationRecord,
    headline: Callable[[], str],
    *,
    invite_at: datetime | None = None,
) -> Outgoing:
    """A message to a registrant about their meeting (moved up, reminders, changes), in
    their language: the meeting's facts, the link if they have a place, and a Cancel button;
    with ``invite_at`` (now), a calendar invite too for someone with a place."""
    with use_language(speaker.lang):
        attachment = None
        if invite_at is not None and registration.status == "confirmed":
            data = meeting_invite(
                speaker.campaign,
                meeting,
                title=meeting_title(speaker, meeting),
                description=speaker.text(meeting.description) if meeting.description else "",
                place=speaker.text(meeting.place) if meeting.place else None,
                now=invite_at,
                with_link=True,
            )
            if data is not None:
                attachment = Attachment(
                    filename=f"{meeting.id}.ics", mime_type="text/calendar", data=data
                )
        lines = [
            headline(),
            "",
            meeting_title(speaker, meeting),
            *when_and_where(speaker, meeting),
            *private_details(speaker, meeting, registration),
        ]
        return Outgoing(
            text="\n".join(lines),
            buttons=[
                [
                    global_button(
                        _("Cancel this registration"), GlobalAction.CANCEL_REGISTRATION, meeting.id
                    )
                ],
                [global_button(_("My registrations"), GlobalAction.MINE)],
            ],
            attachment=attachment,
        )


def _menu_button() -> Button:
    return global_button(_("Main menu"), GlobalAction.MENU)
