"""Privacy: the notice before anything is stored, a copy of one's data, erasure, purge.

The county is the controller of what the bot keeps. Before a person's details or answers are
first stored, they read the campaign's notice and go on with one button; the notice's version
and the time are recorded. ``/mydata`` sends everything kept about the person as a JSON file
with a short summary; ``/delete`` erases it after a confirmation.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.answers import answer_values, describe_answer, status_label
from bot.campaign import Campaign
from bot.i18n import _, fmt_date, language_name, ngettext
from bot.messages import Attachment, Outgoing
from bot.municipalities import municipality_label
from bot.payloads import DeleteAction, GlobalAction, NoticeAction
from bot.turn import Turn, global_button
from storage import outbox as outbox_store
from storage import registrations as registration_store
from storage import responses as response_store
from storage.events import forget_all_events
from storage.participants import all_participant_ids, delete_participant
from storage.protocols import Transaction
from storage.records import RegistrationRecord


def written_questions(campaign: Campaign) -> tuple[str, ...]:
    """Questions answered in free text: never kept after erasure, even anonymously."""
    if campaign.survey is None:
        return ()
    return tuple(q.id for q in campaign.survey.questions if q.type == "text")


def needs_notice(turn: Turn) -> bool:
    """Whether the person has yet to read (this version of) the notice."""
    privacy = turn.campaign.privacy
    return privacy is not None and privacy.version not in accepted_versions(turn)


def accepted_versions(turn: Turn) -> set[str]:
    """The notices (by version) the person has accepted: one per organiser's notice in use
    (campaigns of one organiser share theirs; a campaign may require its own), one a line."""
    return set((turn.participant.privacy_version or "").split("\n")) - {""}


async def ask(turn: Turn, then: str) -> None:
    """Show the notice; ``then`` is the global action to go on with once accepted ("resume":
    back to the step it interrupted, with what the person had entered there)."""
    turn.goto("privacy.notice", after_notice=then, resume_step=turn.state.step)
    await show_notice(turn)


async def show_notice(turn: Turn, hint: str | None = None) -> None:
    """The notice with its one button to go on."""
    privacy = turn.campaign.privacy
    assert privacy is not None
    lines = [hint, ""] if hint else []
    lines.append(turn.text(privacy.notice))
    if privacy.full_text_url:
        lines.append(_("Full text: {url}").format(url=privacy.full_text_url))
    turn.say(
        "\n".join(lines),
        [
            [turn.button(_("OK, go on"), NoticeAction.OK)],
            [global_button(_("Main menu"), GlobalAction.MENU)],
        ],
    )


def accept(turn: Turn) -> str:
    """Record that the person read the notice; return where they were going."""
    privacy = turn.campaign.privacy
    assert privacy is not None
    in_use = {c.privacy.version for c in turn.all_campaigns if c.privacy is not None}
    kept = {v for v in accepted_versions(turn) if v in in_use} | {privacy.version}
    turn.participant.privacy_version = "\n".join(sorted(kept))
    turn.participant.privacy_accepted_at = turn.now
    turn.participant_changed = True
    then = turn.state.after_notice or "menu"
    if then == GlobalAction.RESUME and turn.state.resume_step:
        turn.goto(turn.state.resume_step)
    turn.state.after_notice = turn.state.resume_step = None
    return then


async def show_privacy(turn: Turn) -> None:
    """The privacy page: the notice, and the person's rights as buttons."""
    turn.goto("menu")
    privacy = turn.campaign.privacy
    lines = [_("Privacy and your data")]
    if privacy is not None:
        lines += ["", turn.text(privacy.notice)]
        if privacy.full_text_url:
            lines.append(_("Full text: {url}").format(url=privacy.full_text_url))
        accepted = turn.participant.privacy_accepted_at
        if accepted is not None and not needs_notice(turn):
            when = fmt_date(accepted, turn.campaign.tz)
            lines += ["", _("You read and accepted this notice on {date}.").format(date=when)]
    turn.say(
        "\n".join(lines),
        [
            [global_button(_("Get a copy of my data"), GlobalAction.MY_DATA)],
            [global_button(_("Delete my data"), GlobalAction.DELETE)],
            [global_button(_("Main menu"), GlobalAction.MENU)],
        ],
    )


# -- a copy of one's data ------------------------------------------------------------------


async def my_data(turn: Turn) -> None:
    """Everything kept about the person, as a JSON file and a short summary."""
    turn.goto("menu")
    data = await collect(turn)
    registrations = len(data["registrations"])
    answers = len(data["survey"]["answers"]) if data["survey"] else 0
    summary = [
        _("Here is everything we keep about you, as a file."),
        ngettext(
            "{n} registration for a meeting.", "{n} registrations for meetings.", registrations
        ).format(n=registrations),
        ngettext("{n} survey answer.", "{n} survey answers.", answers).format(n=answers),
        _("Language: {language}").format(language=language_name(data["you"]["language"] or "-")),
    ]
    body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    turn.replies.append(
        Outgoing(
            text="\n".join(summary),
            attachment=Attachment(
                filename="my-data.json", mime_type="application/json", data=body
            ),
            buttons=[
                [global_button(_("Delete my data"), GlobalAction.DELETE)],
                [global_button(_("Main menu"), GlobalAction.MENU)],
            ],
        )
    )


async def collect(turn: Turn) -> dict[str, Any]:
    """All data kept about the person, readable."""
    p = turn.participant
    campaign = turn.campaign
    registrations = await registration_store.registrations_of(turn.tx, p.id)
    response = await turn.response()
    messages = await outbox_store.outbox_for(turn.tx, p.id)
    survey = campaign.survey
    answers: list[dict[str, Any]] = []
    if survey is not None and response is not None:
        values = answer_values(response)
        for q in survey.questions:
            if q.id in response.answers:
                answers.append(
                    {
                        "question": turn.text(q.text),
                        "answer": describe_answer(turn, q, values[q.id]),
                        "answered_at": _iso(response.answers[q.id].answered_at),
                    }
                )
    return {
        "controller": turn.text(campaign.campaign.organiser),
        "consultation": turn.text(campaign.campaign.title),
        "you": {
            "platform": p.platform,
            "workspace": p.workspace or None,
            "user_id": p.user_id,
            "language": p.language,
            "language_chosen_by_you": p.language_chosen,
            "name": p.name,
            "role": _role(turn, p.role),
            "organisation": p.organisation,
            "municipality": _municipality(turn, p.municipality),
            "first_seen": _iso(p.created_at),
            "privacy_notice_version": p.privacy_version,
            "privacy_notice_accepted_at": _iso(p.privacy_accepted_at),
        },
        "registrations": [_registration(turn, r) for r in registrations],
        "survey": None
        if response is None
        else {
            "status": status_label(response.status),
            "started_at": _iso(response.started_at),
            "submitted_at": _iso(response.submitted_at),
            "answers": answers,
        },
        "other_consultations": await _other_surveys(turn),
        "messages_waiting_for_you": [
            {"kind": m.kind, "status": m.status, "created_at": _iso(m.created_at)}
            for m in messages
        ],
    }


async def _other_surveys(turn: Turn) -> list[dict[str, Any]]:
    """The person's responses in the other campaigns, with their answers."""
    found = []
    for response in await response_store.responses_of(turn.tx, turn.participant.id):
        campaign = turn.all_campaigns.get(response.campaign)
        if response.campaign == turn.campaign.id or campaign is None or campaign.survey is None:
            continue
        values = answer_values(response)
        found.append(
            {
                "consultation": campaign.text(campaign.campaign.title, turn.lang),
                "status": status_label(response.status),
                "started_at": _iso(response.started_at),
                "submitted_at": _iso(response.submitted_at),
                "answers": [
                    {
                        "question": campaign.text(q.text, turn.lang),
                        "answer": describe_answer(turn, q, values[q.id]),
                        "answered_at": _iso(response.answers[q.id].answered_at),
                    }
                    for q in campaign.survey.questions
                    if q.id in response.answers
                ],
            }
        )
    return found


def _registration(turn: Turn, r: RegistrationRecord) -> dict[str, Any]:
    owner = turn.all_campaigns.get(r.campaign)
    meeting = owner.meeting(r.meeting_id) if owner else None
    return {
        "meeting": turn.text(meeting.title) if meeting else r.meeting_id,
        "status": status_label(r.status),
        "name": r.details.name,
        "role": _role(turn, r.details.role),
        "organisation": r.details.organisation,
        "municipality": _municipality(turn, r.details.municipality),
        "registered_at": _iso(r.created_at),
    }


def _role(turn: Turn, role_id: str | None) -> str | None:
    """A sign-up role as the person chose it, in their language."""
    role = turn.campaign.role(role_id) if role_id else None
    return turn.text(role.label) if role is not None else role_id


def _municipality(turn: Turn, value: str | None) -> str | None:
    return municipality_label(value, turn.text(turn.campaign.campaign.area)) if value else None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


# -- erasure -------------------------------------------------------------------------------


async def ask_delete(turn: Turn) -> None:
    """Say what erasure does, and ask."""
    turn.goto("privacy.delete")
    await show_delete(turn)


async def show_delete(turn: Turn, hint: str | None = None) -> None:
    """The question 'erase everything?' with what happens to the survey answers."""
    privacy = turn.campaign.privacy
    keep = privacy is None or privacy.keep_anonymous_answers
    lines = [hint, ""] if hint else []
    lines.append(
        _(
            "Delete everything we keep about you? Your registrations are cancelled and "
            "your details are erased. This cannot be undone."
        )
    )
    if keep:
        lines.append(
            _(
                "Your answers to the survey's choice questions are kept, but without any link "
                "to you; your written answers are erased."
            )
        )
    else:
        lines.append(_("Your survey answers are erased too."))
    turn.say(
        "\n".join(lines),
        [
            [turn.button(_("Yes, delete my data"), DeleteAction.YES)],
            [turn.button(_("No, keep it"), DeleteAction.NO)],
        ],
    )


async def on_delete_button(turn: Turn, action: str, arg: str) -> bool:
    """The answer to 'erase everything?'; True when the person was erased."""
    if action != DeleteAction.YES:
        turn.goto("menu")
        turn.say(_("Nothing was deleted."), [[global_button(_("Main menu"), GlobalAction.MENU)]])
        return False
    await erase(turn)
    turn.erased = True
    turn.say(_("Everything we kept about you is deleted. If you write again, you start afresh."))
    return True


async def erase(turn: Turn) -> None:
    """Erase the person: cancel their places (moving waiting lists up), then every row."""
    from bot.meetings import move_up_from_waitlist

    privacy = turn.campaign.privacy
    keep = privacy is None or privacy.keep_anonymous_answers
    pid = turn.participant.id
    for registration in await registration_store.registrations_of(turn.tx, pid):
        before = await registration_store.cancel_registration(
            turn.tx, pid, registration.campaign, registration.meeting_id, turn.now
        )
        owner = turn.all_campaigns.get(registration.campaign)
        meeting = owner.meeting(registration.meeting_id) if owner else None
        if before is not None and before.status == "confirmed" and meeting is not None:
            assert owner is not None
            turn.switch_campaign(owner)  # the one moved up hears of its meeting
            await move_up_from_waitlist(turn, meeting)
    await delete_participant(
        turn.tx,
        pid,
        keep_anonymous_answers=keep,
        # Every campaign's written answers: they are erased everywhere.
        written_questions=tuple(
            {q for campaign in turn.all_campaigns for q in written_questions(campaign)}
        ),
    )


def retention_passed(campaign: Campaign, now: datetime) -> str | None:
    """Why a purge erases people's data at ``now`` (the campaign's retention date has
    passed, said with both dates), or None while the data is to be kept."""
    privacy = campaign.privacy
    if privacy is None or privacy.retention_until is None:
        return None
    today = now.astimezone(campaign.tz).date()
    if today <= privacy.retention_until:
        return None
    return (
        f"the campaign's retention date ({privacy.retention_until.isoformat()}) has passed: "
        f"by this database's clock it is {today.isoformat()}"
    )


def purge_governed_by(campaigns: Iterable[Campaign]) -> Campaign | None:
    """The campaign whose retention date decides when everyone is erased: of several, the
    one keeping data longest (its date the latest); None when one keeps it without a date
    (nothing is erased by itself then)."""
    dated = []
    for campaign in campaigns:
        privacy = campaign.privacy
        if privacy is None:
            continue
        if privacy.retention_until is None:
            return None
        dated.append((privacy.retention_until, campaign))
    return max(dated, key=lambda pair: pair[0])[1] if dated else None


async def purge(
    tx: Transaction, campaign: Campaign, now: datetime, *, also: Iterable[Campaign] = ()
) -> int:
    """After the retention date, erase every participant; return how many. ``also``: the
    other campaigns served (their written answers are erased too)."""
    privacy = campaign.privacy
    if privacy is None or retention_passed(campaign, now) is None:
        return 0
    written = {q for c in (campaign, *also) for q in written_questions(c)}
    ids = await all_participant_ids(tx)
    for participant_id in ids:
        await delete_participant(
            tx,
            participant_id,
            keep_anonymous_answers=privacy.keep_anonymous_answers,
            written_questions=tuple(sorted(written)),
        )
    await forget_all_events(tx)
    return len(ids)
