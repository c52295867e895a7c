"""Broadcasts and reminders: messages to a segment, written to the outbox in one transaction.

A broadcast is staff's message (one text per language; a missing language falls back to the
campaign's default) to a segment: registrants or the waiting list of a meeting, people who
started the survey and have not sent it, people who asked to follow the process, everyone;
narrowed by platform and language. ``plan`` says who would get what; ``send`` writes one
outbox row per recipient, keyed so that sending the same broadcast again adds nobody twice.

Reminders come from the campaign file and go out by themselves (``due_reminders`` and
``queue_reminder`` once a minute in ``run``): each to each person once, at most, even across
restarts; never in quiet hours, unless waiting for the morning would be too late.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial

from bot.campaign import Campaign, Meeting, Reminder, facts_digest
from bot.i18n import _, fmt_day_and_time, use_language
from bot.meetings import meeting_message
from bot.messages import Button, Outgoing
from bot.payloads import GlobalAction
from bot.turn import Speaker, global_button
from storage.outbox import (
    batch_progress,
    enqueue_many,
    enqueue_message,
    finished_requests,
    mark_summary_queued,
)
from storage.protocols import Database, Transaction
from storage.registrations import registration_for
from storage.segments import SEGMENTS, Member, segment_members


@dataclass(frozen=True)
class Segment:
    """Who: a kind of segment, its meeting if any, and the narrowing filters."""

    kind: str
    meeting: str | None = None
    platform: str | None = None
    language: str | None = None

    @classmethod
    def parse(cls, text: str, campaign: Campaign, **filters: str | None) -> Segment:
        """``registrants:info``, ``waiting:info``, ``unfinished``, ``followers``, ``everyone``."""
        kind, _sep, meeting = text.partition(":")
        if kind not in SEGMENTS:
            raise ValueError(f"unknown segment {kind!r}: one of {', '.join(SEGMENTS)}")
        if kind in ("registrants", "waiting"):
            if campaign.meeting(meeting) is None:
                ids = ", ".join(m.id for m in campaign.meetings)
                raise ValueError(f"{kind}:<meeting> needs a meeting id: one of {ids}")
        elif meeting:
            raise ValueError(f"segment {kind!r} takes no meeting")
        if kind == "followers" and (
            campaign.survey is None or not campaign.survey.follow_question
        ):
            raise ValueError("the campaign's survey names no follow_question")
        return cls(kind, meeting or None, **filters)


async def members(tx: Transaction, campaign: Campaign, segment: Segment) -> list[Member]:
    """The reachable people of the segment, now."""
    survey = campaign.survey
    return await segment_members(
        tx,
        segment.kind,
        campaign=campaign.id,
        scoped=campaign.several,
        meeting=campaign.meeting_key(segment.meeting) if segment.meeting else None,
        meetings=campaign.own_meetings(),
        survey_id=survey.id if survey else None,
        follow_question=survey.follow_question if survey else None,
        default_language=campaign.default_language,
        platform=segment.platform,
        language=segment.language,
    )


def text_for(messages: dict[str, str], lang: str, default: str) -> str:
    """The broadcast's text in ``lang``, else in the default language."""
    return messages.get(lang) or messages[default]


@dataclass(frozen=True)
class Plan:
    """Who would get the broadcast, by language, and what each language reads."""

    recipients: int
    by_language: dict[str, int]
    preview: dict[str, str]


async def plan(
    db: Database, campaign: Campaign, segment: Segment, messages: dict[str, str]
) -> Plan:
    """Count the recipients and show the text each language gets, without sending."""
    if campaign.default_language not in messages:
        raise ValueError(f"a broadcast needs a text in '{campaign.default_language}'")
    found = await db.transact(lambda tx: members(tx, campaign, segment))
    by_language = Counter(m.language for m in found)
    preview = {
        lang: text_for(messages, lang, campaign.default_language) for lang in sorted(by_language)
    }
    return Plan(len(found), dict(by_language), preview)


def batch_id(segment_text: str, messages: dict[str, str]) -> str:
    """The batch of a broadcast named by its segment and texts: the same broadcast sent
    again, from the command line or the chat, is the same batch and reaches nobody twice."""
    digest = hashlib.sha256(repr((segment_text, sorted(messages.items()))).encode())
    return f"broadcast:{digest.hexdigest()[:12]}"


async def send(
    db: Database,
    campaign: Campaign,
    segment: Segment,
    messages: dict[str, str],
    batch: str,
    now: datetime,
) -> int:
    """Write the broadcast to the outbox, one row per recipient, in one transaction; return
    how many rows the broadcast has (sending it again adds nobody twice)."""
    return await db.transact(
        partial(
            queue_broadcast,
            campaign=campaign,
            segment=segment,
            messages=messages,
            batch=batch,
            now=now,
        )
    )


async def queue_broadcast(
    tx: Transaction,
    campaign: Campaign,
    segment: Segment,
    messages: dict[str, str],
    batch: str,
    now: datetime,
) -> int:
    """``send`` inside a transaction the caller holds (a staff member's confirming turn)."""
    if campaign.default_language not in messages:
        raise ValueError(f"a broadcast needs a text in '{campaign.default_language}'")
    rows = []
    bodies: dict[str, str] = {}
    for member in await members(tx, campaign, segment):
        if member.language not in bodies:
            with use_language(member.language):
                bodies[member.language] = Outgoing(
                    text=text_for(messages, member.language, campaign.default_language),
                    buttons=[[global_button(_("Main menu"), GlobalAction.MENU)]],
                ).model_dump_json()
        rows.append(
            (member.participant_id, f"{batch}:{member.participant_id}", bodies[member.language])
        )
    return await enqueue_many(tx, "broadcast", batch, rows, now, campaign=campaign.id)


def update_batch(meeting: Meeting) -> str:
    """The batch telling a meeting's registrants its current facts (once per version)."""
    return f"update:{meeting.id}:{facts_digest(meeting)}"


async def queue_meeting_update(
    tx: Transaction, campaign: Campaign, meeting: Meeting, now: datetime
) -> tuple[str, int]:
    """Tell the registrants of a meeting its new details, each in their language (with the
    link and a Cancel button, as a reminder has); returns the batch and how many rows it
    has. Telling them again about the same details adds nobody twice."""
    batch = campaign.batch(update_batch(meeting))
    rows = await _meeting_rows(tx, campaign, meeting, batch, _update_headline, invite_at=now)
    return batch, await enqueue_many(tx, "update", batch, rows, now, campaign=campaign.id)


def _update_headline(speaker: Speaker) -> str:
    return _("News about your meeting: its details have changed. Here they are now:")


async def _meeting_rows(
    tx: Transaction,
    campaign: Campaign,
    meeting: Meeting,
    batch: str,
    headline: Callable[[Speaker], str],
    *,
    invite_at: datetime | None = None,
) -> list[tuple[int, str, str]]:
    """One message per registrant of ``meeting`` about it, each in their language (with a
    calendar invite when ``invite_at`` is given: the details changed)."""
    rows = []
    for member in await members(tx, campaign, Segment("registrants", meeting.id)):
        registration = await registration_for(
            tx, member.participant_id, *campaign.meeting_key(meeting.id)
        )
        if registration is None:
            continue
        speaker = Speaker(campaign, member.language)
        message = meeting_message(
            speaker, meeting, registration, partial(headline, speaker), invite_at=invite_at
        )
        rows.append(
            (member.participant_id, f"{batch}:{member.participant_id}", message.model_dump_json())
        )
    return rows


# -- progress and the summary to the staff member who asked ------------------------------


@dataclass(frozen=True)
class Progress:
    """How far a broadcast got."""

    sent: int
    failed: int
    unreachable: int
    in_doubt: int
    left: int

    @classmethod
    def of(cls, counts: dict[str, int]) -> Progress:
        """From the outbox's count of a batch's rows by status."""
        return cls(
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            unreachable=counts.get("unreachable", 0),
            in_doubt=counts.get("in_doubt", 0),
            left=counts.get("pending", 0) + counts.get("sending", 0),
        )

    def describe(self) -> str:
        """One line, in the current language."""
        return _(
            "sent {sent}, failed {failed}, unreachable {unreachable}, in doubt {in_doubt}, "
            "left {left}"
        ).format(
            sent=self.sent,
            failed=self.failed,
            unreachable=self.unreachable,
            in_doubt=self.in_doubt,
            left=self.left,
        )


def progress_button(batch: str) -> Button:
    """A button showing how far ``batch`` got (works from any step; staff only)."""
    return global_button(_("Progress"), GlobalAction.BROADCAST_PROGRESS, batch)


async def queue_summaries(tx: Transaction, now: datetime) -> int:
    """Queue a summary to each staff member whose broadcast has no row left to send; once
    each (the summary's key is unique), also across restarts. Returns how many."""
    queued = 0
    for batch, participant_id, lang in await finished_requests(tx):
        counts = await batch_progress(tx, batch)
        progress = Progress.of(counts)
        with use_language(lang):
            message = Outgoing(
                text=_("Your broadcast has gone out: {progress}.").format(
                    progress=progress.describe()
                ),
                buttons=[[global_button(_("Staff"), GlobalAction.STAFF)]],
            )
        # One summary per size of the batch: asking again adds a summary only if the
        # broadcast reached more people.
        key = f"summary:{batch}:{participant_id}:{sum(counts.values())}"
        if await enqueue_message(
            tx, participant_id, "summary", key, message.model_dump_json(), now, campaign=""
        ):
            queued += 1
        await mark_summary_queued(tx, batch, participant_id, now)
    return queued


# -- reminders -----------------------------------------------------------------------------


def reminder_target(campaign: Campaign, reminder: Reminder) -> datetime | None:
    """What the reminder is before: the meeting's start, or the survey's deadline."""
    if reminder.survey:
        return campaign.survey_deadline()
    meeting = campaign.meeting(reminder.meeting or "")
    return campaign.meeting_start(meeting) if meeting else None


def in_quiet_hours(campaign: Campaign, moment: datetime) -> bool:
    """Whether ``moment`` falls in the campaign's quiet hours (local time)."""
    start, end = campaign.campaign.quiet_hours
    hour = moment.astimezone(campaign.tz).hour
    return (hour >= start or hour < end) if start > end else (start <= hour < end)


def _quiet_ends(campaign: Campaign, moment: datetime) -> datetime:
    local = moment.astimezone(campaign.tz)
    end = datetime.combine(
        local.date(), time(campaign.campaign.quiet_hours[1]), tzinfo=campaign.tz
    )
    return end if end > local else end + timedelta(days=1)


def due_reminders(campaign: Campaign, now: datetime) -> list[Reminder]:
    """The reminders that should go out now."""
    due = []
    for reminder in campaign.reminders:
        target = reminder_target(campaign, reminder)
        if target is None or now >= target:
            continue
        if now < target - timedelta(hours=reminder.hours_before):
            continue
        # In quiet hours a reminder waits for the morning, unless the morning is too late.
        if in_quiet_hours(campaign, now) and _quiet_ends(campaign, now) < target:
            continue
        due.append(reminder)
    return due


async def queue_reminder(
    tx: Transaction, campaign: Campaign, reminder: Reminder, now: datetime
) -> int:
    """Write the reminder to the outbox for everyone it is for who has not had it."""
    batch = campaign.batch(f"reminder:{reminder.id}")
    rows = []
    if reminder.survey:
        target = campaign.survey_deadline()
        assert target is not None
        for member in await members(tx, campaign, Segment("unfinished")):
            with use_language(member.language):
                message = Outgoing(
                    text=_(
                        "Reminder: the survey closes {when}. You have started it; finishing "
                        "takes a few minutes."
                    ).format(when=fmt_day_and_time(target, campaign.tz)),
                    buttons=[
                        [
                            global_button(
                                _("Continue the survey"),
                                GlobalAction.SURVEY,
                                campaign.id if campaign.several else None,
                            )
                        ]
                    ],
                )
            rows.append(
                (
                    member.participant_id,
                    f"{batch}:{member.participant_id}",
                    message.model_dump_json(),
                )
            )
    else:
        meeting = campaign.meeting(reminder.meeting or "")
        assert meeting is not None
        rows = await _meeting_rows(
            tx, campaign, meeting, batch, partial(_reminder_headline, meeting)
        )
    before = sum((await batch_progress(tx, batch)).values())
    return await enqueue_many(tx, "reminder", batch, rows, now, campaign=campaign.id) - before


def _reminder_headline(meeting: Meeting, speaker: Speaker) -> str:
    return _("Reminder: {meeting}").format(meeting=speaker.text(meeting.title))


async def queue_due_reminders(db: Database, campaign: Campaign, now: datetime) -> int:
    """One tick of the reminder schedule; returns how many new rows were queued."""
    queued = 0
    for reminder in due_reminders(campaign, now):
        queued += await db.transact(
            partial(queue_reminder, campaign=campaign, reminder=reminder, now=now)
        )
    return queued
