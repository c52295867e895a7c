"""Calendar invites (.ics) for a meeting, made with icalendar.

The event carries the meeting's time in the campaign's time zone (with its VTIMEZONE, so
Outlook and Google Calendar place it right), the title in the person's language, the place,
and the online link for a confirmed registrant. The UID is stable per meeting, so importing
a second invite after a change updates the event instead of adding another.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone

from bot.campaign import Campaign, Meeting

DEFAULT_LENGTH = timedelta(hours=1)
"""A meeting with a start and no end is put in the calendar for an hour."""
PRODID = "-//participation-bot//meeting invite//EN"


def meeting_invite(
    campaign: Campaign,
    meeting: Meeting,
    *,
    title: str,
    description: str,
    place: str | None,
    now: datetime,
    with_link: bool,
) -> bytes | None:
    """The meeting as an iCalendar file, or None while its start time is unknown."""
    if meeting.start is None:
        return None
    start = datetime.combine(meeting.date, meeting.start, tzinfo=campaign.tz)
    end = (
        datetime.combine(meeting.date, meeting.end, tzinfo=campaign.tz)
        if meeting.end is not None
        else start + DEFAULT_LENGTH
    )
    event = Event()
    event.add("uid", f"{campaign.campaign.id}-{meeting.id}@participation-bot")
    event.add("dtstamp", now)
    # Later invites of the same meeting (its time was set or changed) replace the earlier
    # one in the calendar: same UID, a higher SEQUENCE.
    event.add("sequence", int(now.timestamp()) // 60)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", title)
    link = meeting.link if with_link else ""
    event.add("description", "\n\n".join(part for part in (description, link) if part))
    if place or link:
        event.add("location", place or link)
    if link:
        event.add("url", link)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    # The time zone's rules, written once, go before the event (as calendars expect them).
    zone = _timezone_ical(campaign.campaign.timezone, meeting.date.year)
    ical: bytes = calendar.to_ical()
    return ical.replace(b"BEGIN:VEVENT", zone + b"BEGIN:VEVENT", 1)


@lru_cache(maxsize=16)
def _timezone_ical(name: str, year: int) -> bytes:
    """The time zone's rules around the meeting's year, as a VTIMEZONE (one for 1970-2038
    takes milliseconds to make and write; calendars need only the rules in force)."""
    zone = Timezone.from_tzinfo(
        ZoneInfo(name), first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1)
    )
    written: bytes = zone.to_ical()
    return written
