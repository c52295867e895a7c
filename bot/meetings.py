"""Meetings: what they are, my registrations, cancelling, and moving up from the waiting list.

Signing up (in the chat and by form) is in ``bot/signup.py``.

The online meeting's link is private: it appears only in what a confirmed registrant sees
(the confirmation, "my registrations", the message when moved up from the waiting list),
never in a meeting's public description.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time

from bot.answers import Value, answer_values
from bot.calendar import meeting_invite
from bot.campaign import Meeting, Question, sign_up_open
from bot.i18n import _, fmt_date, fmt_day_and_time, fmt_list, fmt_time, use_language
from bot.messages import (
    Attachment,
    Button,
    Outgoing,
)
from bot.payloads import CancelAction, GlobalAction
from bot.turn import Speaker, Speaks, Turn, global_button
from storage import registrations as store
from storage.participants import participant_by_id
from storage.records import RegistrationRecord

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


async def known_role(turn: Turn, *, survey_first: bool = False) -> str | None:
    """The person's role for meetings limited to some roles: the one they signed up with,
    else their answer to the survey's role question (``survey_first``: that answer first,
    as in the survey itself), or None when not known."""
    answered = None
    question = turn.campaign.signup.role_question
    if question is not None:
        value = answer_values(await turn.response()).get(question)
        answered = value if isinstance(value, str) and turn.campaign.role(value) else None
    signed = turn.participant.role
    return (answered or signed) if survey_first else (signed or answered)


def audience_roles(turn: Speaks, meeting: Meeting) -> str:
    """The roles a meeting is for, as a list in the person's language."""
    campaign = turn.campaign
    return fmt_list(
        [
            turn.text(role.label)
            for role in campaign.signup.roles
            if role.id in meeting.audience_roles
        ]
    )


def not_for_this_role(turn: Speaks, meeting: Meeting) -> str:
    """Why someone in another role cannot sign up for ``meeting``."""
    return _("Sign-up for {meeting} is only for: {audience}.").format(
        meeting=meeting_title(turn, meeting), audience=audience_roles(turn, meeting)
    )


async def show_meetings(turn: Turn) -> None:
    """Every meeting, with sign-up buttons for those still open."""
    turn.goto("menu")
    campaign = turn.campaign
    if not campaign.meetings:
        turn.say(_("There are no meetings in this consultation."), [[menu_button()]])
        return
    blocks = [_("Meetings:")]
    buttons: list[list[Button]] = []
    mine = {
        (r.campaign, r.meeting_id): r
        for r in await store.registrations_of(turn.tx, turn.participant.id)
        if r.status != "cancelled"
    }
    role = await known_role(turn)
    for meeting in campaign.meetings:
        block = public_description(turn, meeting)
        registration = mine.get(campaign.meeting_key(meeting.id))
        if registration is not None:
            # No sign-up button: say why ("My registrations" has it, with Cancel).
            if registration.status == "confirmed":
                block += "\n\u2713 " + _("You have a place.")
            else:
                block += "\n\u2713 " + _("You are on the waiting list.")
            blocks.append(block)
            continue
        if sign_up_open(campaign, meeting, turn.now) and not campaign.open_to(meeting, role):
            blocks.append(block + "\n" + not_for_this_role(turn, meeting))
            continue
        blocks.append(block)
        if sign_up_open(campaign, meeting, turn.now):
            label = _("Sign up: {meeting}").format(meeting=_short_title(turn, meeting))
            buttons.append([global_button(label, GlobalAction.SIGN_UP, meeting.id)])
    buttons.append([global_button(_("My registrations"), GlobalAction.MINE), menu_button()])
    turn.say("\n\n".join(blocks), buttons)


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


async def say_registration(
    turn: Turn, meeting: Meeting, registration: RegistrationRecord, intro: str
) -> None:
    """A registration as its registrant sees it (``intro`` above it), with Cancel."""
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
            [global_button(_("My registrations"), GlobalAction.MINE), menu_button()],
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
            [[global_button(_("Meetings"), GlobalAction.MEETINGS), menu_button()]],
        )
        return
    blocks = [_("Your registrations:")]
    buttons: list[list[Button]] = []
    for registration in registrations:
        meeting, arg = _registered_meeting(turn, registration)
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
        row = [global_button(label, GlobalAction.CANCEL_REGISTRATION, arg)]
        if registration.status == "confirmed" and meeting.start is not None:
            row.append(global_button(_("Add to calendar"), GlobalAction.CALENDAR_INVITE, arg))
        buttons.append(row)
    buttons.append([menu_button()])
    turn.say("\n\n".join(blocks), buttons)


def _registered_meeting(
    turn: Turn, registration: RegistrationRecord
) -> tuple[Meeting | None, str]:
    """The meeting of a registration in any campaign, and how its buttons name it: by its
    id where this campaign offers it, else ``<campaign>/<meeting>`` (pressing goes there)."""
    if turn.campaign.meeting_key(registration.meeting_id) == (
        registration.campaign,
        registration.meeting_id,
    ):
        return turn.campaign.meeting(registration.meeting_id), registration.meeting_id
    owner = turn.all_campaigns.get(registration.campaign)
    meeting = owner.meeting(registration.meeting_id) if owner else None
    return meeting, f"{registration.campaign}/{registration.meeting_id}"


def _into_campaign_of(turn: Turn, arg: str) -> str:
    """A meeting named ``<campaign>/<meeting>``: the person is moved into that campaign;
    the meeting's id."""
    campaign_id, slash, meeting_id = arg.rpartition("/")
    target = turn.all_campaigns.get(campaign_id) if slash else None
    if target is not None:
        turn.switch_campaign(target)
    return meeting_id


async def send_invite(turn: Turn, meeting_id: str) -> None:
    """The calendar invite of a meeting the person has a place in, again."""
    meeting_id = _into_campaign_of(turn, meeting_id)
    meeting = turn.campaign.meeting(meeting_id)
    registration = (
        await store.registration_for(
            turn.tx, turn.participant.id, *turn.campaign.meeting_key(meeting.id)
        )
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
            buttons=[[global_button(_("My registrations"), GlobalAction.MINE), menu_button()]],
        )
    )


async def ask_cancel(turn: Turn, meeting_id: str) -> None:
    """Ask before cancelling a registration."""
    meeting_id = _into_campaign_of(turn, meeting_id)
    meeting = turn.campaign.meeting(meeting_id)
    registration = (
        await store.registration_for(
            turn.tx, turn.participant.id, *turn.campaign.meeting_key(meeting_id)
        )
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
        turn.say(_("Your registration is kept."), [[menu_button()]])
        return
    if action != CancelAction.YES:
        await show_cancel(turn)
        return
    turn.goto("menu", meeting=None)
    before = await store.cancel_registration(
        turn.tx, turn.participant.id, *turn.campaign.meeting_key(meeting.id), turn.now
    )
    if before is None:
        turn.say(_("You have no registration for that meeting."), [[menu_button()]])
        return
    turn.say(
        _("Your registration for {meeting} is cancelled.").format(
            meeting=meeting_title(turn, meeting)
        ),
        [[global_button(_("Meetings"), GlobalAction.MEETINGS), menu_button()]],
    )
    if before.status == "confirmed":
        await move_up_from_waitlist(turn, meeting)


async def move_up_from_waitlist(turn: Turn, meeting: Meeting) -> None:
    """Give the freed place to the first person waiting, and tell them through the outbox."""
    promoted = await store.promote_first_waiting(
        turn.tx, *turn.campaign.meeting_key(meeting.id), turn.now
    )
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
                        _("Cancel this registration"),
                        GlobalAction.CANCEL_REGISTRATION,
                        # Pressed later, wherever the person is: the meeting's campaign too.
                        "/".join(speaker.campaign.meeting_key(meeting.id))
                        if speaker.campaign.several
                        else meeting.id,
                    )
                ],
                [global_button(_("My registrations"), GlobalAction.MINE)],
            ],
            attachment=attachment,
        )


def menu_button() -> Button:
    """The button back to the main menu."""
    return global_button(_("Main menu"), GlobalAction.MENU)


# -- a survey answer that leads to a meeting ---------------------------------------------


async def meeting_to_offer(turn: Turn, q: Question, value: Value | None) -> Meeting | None:
    """The meeting a choice leads to (its option's ``signup``), if its sign-up is open, it
    is for this person, and they are not registered for it yet."""
    option = q.option(value) if isinstance(value, str) else None
    campaign = turn.campaign
    meeting = campaign.meeting(option.signup) if option and option.signup else None
    if meeting is None or not sign_up_open(campaign, meeting, turn.now):
        return None
    if not campaign.open_to(meeting, await known_role(turn, survey_first=True)):
        return None
    existing = await store.registration_for(
        turn.tx, turn.participant.id, *turn.campaign.meeting_key(meeting.id)
    )
    if existing is not None and existing.status != "cancelled":
        return None
    return meeting


def offer_signup(turn: Turn, meeting: Meeting) -> None:
    """The meeting's sign-up, offered after the answer that chose it."""
    short = turn.text(meeting.short) or turn.text(meeting.title)
    turn.say(
        _(
            "You would like to join {meeting}. Sign up for it here if you like: your answers "
            "are saved, and the sign-up leads you back to the survey."
        ).format(meeting=turn.text(meeting.title)),
        [
            [
                global_button(
                    _("Sign up: {meeting}").format(meeting=short), GlobalAction.SIGN_UP, meeting.id
                )
            ]
        ],
    )
