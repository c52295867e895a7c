"""Signing up as one form (a platform that has forms, such as Slack's modals): the form,
filled in with what is known already, and its submission, checked field by field.

The chat's sign-up, one detail at a time, is in ``bot/signup.py``; both store the same
registration (``signup.confirm``).
"""

from __future__ import annotations

from bot import signup
from bot.campaign import Meeting
from bot.i18n import _
from bot.meetings import meeting_title, not_for_this_role, show_meetings, when_and_where
from bot.messages import FieldKind, Form, FormField, Option, Outgoing
from bot.municipalities import OTHER, municipality_name, municipality_value
from bot.payloads import GlobalAction, encode_global
from bot.turn import Turn, global_button


def offer_form(turn: Turn, meeting: Meeting) -> None:
    """The whole sign-up as one form, filled in with what we know already."""
    known = signup.known_details(turn)
    title = meeting_title(turn, meeting)
    fields: list[FormField] = []
    for field in signup.detail_fields(turn):
        if field == "name":
            profile = (turn.incoming.profile_name or "").strip()[: signup.NAME_MAX]
            fields.append(
                FormField(
                    id="name",
                    label=_("Name"),
                    initial=known.get("name") or profile or None,
                    max_length=signup.NAME_MAX,
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
                    max_length=signup.ORGANISATION_MAX,
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
                    initial_label=municipality_name(turn, value) if value else None,
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


async def submit_form(turn: Turn, meeting_id: str) -> None:
    """A filled-in sign-up form: register, or say what is wrong and store nothing."""
    meeting = turn.campaign.meeting(meeting_id)
    if meeting is None:
        turn.say(_("I can't find that meeting."))
        await show_meetings(turn)
        return
    if not await signup.can_sign_up(turn, meeting):
        return
    values = turn.incoming.fields
    draft: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for field in signup.detail_fields(turn):
        value = " ".join(values.get(field, "").split())
        if field == "name":
            if not value:
                errors[field] = _("Please type your name.")
            elif not signup.has_letters(value):
                errors[field] = signup.no_letters()
            elif len(value) > signup.NAME_MAX:
                errors[field] = _("That is too long for a name (at most {n} characters).").format(
                    n=signup.NAME_MAX
                )
            draft[field] = value
        elif field == "role":
            if turn.campaign.role(value) is None:
                errors[field] = _("Which of these describes you best?")
            elif not turn.campaign.open_to(meeting, value):
                errors[field] = not_for_this_role(turn, meeting)
            draft[field] = value
        elif field == "organisation":
            if len(value) > signup.ORGANISATION_MAX:
                errors[field] = _("That is too long (at most {n} characters).").format(
                    n=signup.ORGANISATION_MAX
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
    await signup.confirm(turn)
