"""What a campaign file may say: the pydantic models of a consultation, and queries on it.

Every human-facing string is a table of languages (``title = { nb = "...", en = "..." }``,
a ``LocalizedText``); a missing language falls back to the campaign's default language.
Reading a file, its translations and the checks across models are in ``bot/campaign.py``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    RootModel,
    field_validator,
    model_validator,
)

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,19}$"
"""Ids end up inside button payloads (Telegram allows 64 bytes), so they stay short."""

SignupField = Literal["name", "role", "organisation", "municipality"]
SIGNUP_FIELDS: tuple[SignupField, ...] = ("name", "role", "organisation", "municipality")


class LocalizedText(RootModel[dict[str, str]]):
    """A human-facing string as a table of languages."""

    def get(self, lang: str, default_lang: str) -> str:
        """The text in ``lang``, else in the campaign's default language."""
        text = self.root.get(lang)
        if text:
            return text
        return self.root.get(default_lang, "")

    @field_validator("root")
    @classmethod
    def _not_blank(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("a language table needs at least one language")
        return value


Text = LocalizedText


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(_Model):
    """One choice of a question or of the sign-up's role list."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    label: Text
    signup: str | None = None
    """A meeting's id: choosing this option (in a single-choice survey question) offers the
    sign-up for that meeting with the next step; people outside its audience are not shown
    the option."""


class ShowIf(_Model):
    """Show a question only when an earlier answer is one of ``any_of``."""

    question: str
    any_of: Annotated[list[str], Field(min_length=1)]


class Question(_Model):
    """One survey question; ``type`` decides how it is asked."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    type: Literal["single", "multi", "text", "scale", "yes_no", "municipality"]
    text: Text
    short: Text | None = None
    hint: Text | None = None
    required: bool = True
    options: list[Option] = []
    max_choices: int | None = None
    max_length: int = 1000
    min: int = 1
    max: int = 5
    min_label: Text | None = None
    max_label: Text | None = None
    show_if: ShowIf | None = None

    @model_validator(mode="after")
    def _type_needs(self) -> Question:
        if self.type in ("single", "multi"):
            if len(self.options) < 2:
                raise ValueError(f"a '{self.type}' question needs at least two options")
            ids = [o.id for o in self.options]
            if len(set(ids)) != len(ids):
                raise ValueError("option ids must be unique within a question")
        elif self.options:
            raise ValueError(f"a '{self.type}' question takes no options")
        if self.max_choices is not None and self.type != "multi":
            raise ValueError("max_choices belongs to 'multi' questions only")
        if self.max_choices is not None and not 1 <= self.max_choices <= len(self.options):
            raise ValueError("max_choices must be between 1 and the number of options")
        if self.type == "scale" and not (0 <= self.min < self.max <= 10):
            raise ValueError("a scale needs 0 <= min < max <= 10")
        if not 1 <= self.max_length <= 4000:
            raise ValueError("max_length must be between 1 and 4000")
        return self

    def choice_values(self) -> list[str]:
        """The values a button answer can take, in order."""
        if self.type in ("single", "multi"):
            return [o.id for o in self.options]
        if self.type == "scale":
            return [str(v) for v in range(self.min, self.max + 1)]
        if self.type == "yes_no":
            return ["yes", "no"]
        return []

    def option(self, option_id: str) -> Option | None:
        """The option with this id, if any."""
        return next((o for o in self.options if o.id == option_id), None)


class Survey(_Model):
    """The step-by-step version of the consultation survey."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    title: Text
    intro: Text
    thanks: Text
    opens: datetime | None = None
    deadline: datetime
    questions: Annotated[list[Question], Field(min_length=1)]
    breakdowns: list[str] = []
    """Questions the results are also split by (e.g. respondent category, municipality)."""
    summary_by: list[str] = []
    """Questions the report's summary counts the participants by (default: ``breakdowns``)."""
    follow_question: str | None = None
    """A yes/no question: those who answer yes want to follow the process (a segment)."""

    @model_validator(mode="after")
    def _breakdowns_known(self) -> Survey:
        for key, ids in (("breakdowns", self.breakdowns), ("summary_by", self.summary_by)):
            for qid in ids:
                q = self.question(qid)
                if q is None or q.type not in ("single", "municipality", "yes_no"):
                    raise ValueError(
                        f"{key}: '{qid}' must name a single-choice, yes/no or municipality "
                        "question"
                    )
        return self

    def question(self, question_id: str) -> Question | None:
        """The question with this id, if any."""
        questions, by_id = self._questions_by_id
        if questions is not self.questions:  # a copy with other questions (model_copy)
            del self.__dict__["_questions_by_id"]
            questions, by_id = self._questions_by_id
        return by_id.get(question_id)

    @cached_property
    def _questions_by_id(self) -> tuple[list[Question], dict[str, Question]]:
        # Reversed: the first of a repeated id wins, as a search from the start would find.
        return self.questions, {q.id: q for q in reversed(self.questions)}


class Meeting(_Model):
    """A meeting people can sign up for. Unknown facts stay empty: 'to be announced'."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    title: Text
    short: Text | None = None
    audience: Text
    description: Text | None = None
    date: date
    start: time | None = None
    end: time | None = None
    place: Text | None = None
    online: bool = False
    link: str = ""
    signup_deadline: datetime | None = None
    capacity: Annotated[int, Field(ge=0)] = 0
    audience_roles: list[str] = []
    """Sign-up roles the meeting is for (empty: everyone). Sign-up in another role is
    refused, saying who the meeting is for, and people known to be in another role (by
    their sign-up or their answer to the survey's ``[signup] role_question``) are not
    offered it."""

    @model_validator(mode="after")
    def _times(self) -> Meeting:
        if self.end is not None and self.start is None:
            raise ValueError("an end time needs a start time")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.link and not self.online:
            raise ValueError("a link belongs to an online meeting (set online = true)")
        return self


class Role(_Model):
    """A role a person can have when signing up (library, school, resident...)."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    label: Text
    organisation: bool = True
    """Whether people in this role are asked for their organisation."""


class Signup(_Model):
    """What the organisers need to know from a person who signs up."""

    fields: list[SignupField] = list(SIGNUP_FIELDS)
    roles: list[Role] = []
    role_question: str | None = None
    """A single-choice survey question asking what the role asks (its option ids are role
    ids): its answer counts as the person's role for meetings with ``audience_roles``."""

    @model_validator(mode="after")
    def _roles_needed(self) -> Signup:
        if "role" in self.fields and len(self.roles) < 2:
            raise ValueError("the 'role' field needs at least two roles")
        return self


class CampaignInfo(_Model):
    """The consultation itself: who asks, what, in which languages and time zone."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    default_language: str
    languages: Annotated[list[str], Field(min_length=1)]
    timezone: str
    title: Text
    short: Text | None = None
    """The title on a button (the choice of consultation), when ``title`` is too long."""
    organiser: Text
    area: Text | None = None
    """The region the municipalities belong to ("Viken"), for "Other / outside Viken"."""
    summary: Text
    outcome: Text | None = None
    more_info_url: str = ""
    follow_url: str = ""
    contact: Text | None = None
    quiet_hours: tuple[int, int] = (21, 8)
    """No reminder goes out from the first hour to the second (local time)."""
    default: bool = False
    """With several campaigns in one deployment: the one a person starts in (at most one
    says so; else the first file by name)."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{value}'") from exc
        return value

    @model_validator(mode="after")
    def _default_declared(self) -> CampaignInfo:
        if self.default_language not in self.languages:
            raise ValueError(
                f"default_language '{self.default_language}' is not in languages {self.languages}"
            )
        return self


class Reminder(_Model):
    """A message sent by itself before a meeting (to its registrants) or before the survey's
    deadline (to those who started it and have not sent it)."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    meeting: str | None = None
    survey: bool = False
    hours_before: Annotated[int, Field(ge=1, le=24 * 14)]

    @model_validator(mode="after")
    def _one_target(self) -> Reminder:
        if (self.meeting is None) == (not self.survey):
            raise ValueError("a reminder is for either one meeting or the survey")
        return self


class Privacy(_Model):
    """The privacy notice, and how long personal data is kept."""

    version: str
    """Changes whenever the notice changes: people are asked to read it again."""
    notice: Text
    """Who is responsible, what is kept and why, how long, how to get a copy or erase it."""
    full_text_url: str = ""
    retention_until: date | None = None
    """After this day, personal data is erased (``participation-bot purge``)."""
    keep_anonymous_answers: bool = True
    """On erasure, keep survey answers without any link to the person (else erase them)."""


def parse_person(who: str) -> tuple[str, str, str]:
    """``telegram:<id>``, ``slack:<team>:<user>``, ``console:<name>`` as (platform,
    workspace, user id)."""
    parts = who.split(":")
    if len(parts) == 2 and parts[0] in ("telegram", "console") and parts[1]:
        return parts[0], "", parts[1]
    if len(parts) == 3 and parts[0] == "slack" and parts[1] and parts[2]:
        return "slack", parts[1], parts[2]
    raise ValueError(
        f"not a person: {who!r} (telegram:<user id>, slack:<team>:<user>, console:<name>)"
    )


class SharedMeeting(_Model):
    """A meeting declared by another campaign and offered by this one too (one registration,
    capacity, waiting list and reminder, whichever campaign a person came through)."""

    campaign: Annotated[str, Field(pattern=ID_PATTERN)]
    meeting: Annotated[str, Field(pattern=ID_PATTERN)]


class Campaign(_Model):
    """A whole consultation, as read from its file."""

    campaign: CampaignInfo
    privacy: Privacy | None = None
    meetings: list[Meeting] = []
    shared_meetings: list[SharedMeeting] = []
    """Meetings of other campaigns offered here too (``bot/registry.py`` resolves them)."""
    _several: bool = PrivateAttr(default=False)
    """Served beside other campaigns (``bot/registry.py`` says so): its segments are its
    own people, not everyone the bot knows."""
    _default: bool = PrivateAttr(default=True)
    """The deployment's default campaign: its batch names have no prefix (as before there
    were several)."""
    _owners: dict[str, str] = PrivateAttr(default_factory=dict)
    """Meeting id -> the campaign that declares it, for the shared meetings put in
    ``meetings`` by the registry."""
    reminders: list[Reminder] = []
    signup: Signup = Signup(fields=[])
    municipalities: list[str] = []
    survey: Survey | None = None
    staff: list[str] = []
    """People with the staff role from the file (besides ``participation-bot staff add``):
    ``telegram:<user id>``, ``slack:<team>:<user>``, ``console:<name>``."""

    @field_validator("staff")
    @classmethod
    def _staff(cls, value: list[str]) -> list[str]:
        for who in value:
            parse_person(who)
        return value

    @property
    def staff_members(self) -> frozenset[tuple[str, str, str]]:
        """The staff named in the file, as (platform, workspace, user id)."""
        return frozenset(parse_person(who) for who in self.staff)

    @model_validator(mode="after")
    def _cross_checks(self) -> Campaign:
        ids = [m.id for m in self.meetings]
        if len(set(ids)) != len(ids):
            raise ValueError("meeting ids must be unique")
        uses_municipality = "municipality" in self.signup.fields or (
            self.survey is not None
            and any(q.type == "municipality" for q in self.survey.questions)
        )
        if uses_municipality and not self.municipalities:
            raise ValueError("a municipality question or sign-up field needs 'municipalities'")
        if self.meetings and not self.signup.fields:
            raise ValueError("meetings need [signup] fields (at least 'name')")
        for reminder in self.reminders:
            if reminder.meeting is not None and self.meeting(reminder.meeting) is None:
                raise ValueError(f"reminder '{reminder.id}' names no meeting '{reminder.meeting}'")
            if reminder.survey and self.survey is None:
                raise ValueError(f"reminder '{reminder.id}' is for a survey the campaign lacks")
        return self

    # -- derived facts, all in the campaign's time zone ----------------------------------

    @property
    def tz(self) -> ZoneInfo:
        """The campaign's time zone."""
        return ZoneInfo(self.campaign.timezone)

    @property
    def default_language(self) -> str:
        """The language every text falls back to."""
        return self.campaign.default_language

    def text(self, value: LocalizedText | None, lang: str) -> str:
        """A campaign string in ``lang`` (falling back to the default language)."""
        if value is None:
            return ""
        return value.get(lang, self.default_language)

    def aware(self, value: datetime) -> datetime:
        """A campaign datetime (written as local time) made aware in the campaign's zone."""
        if value.tzinfo is None:
            return value.replace(tzinfo=self.tz)
        return value

    def meeting(self, meeting_id: str) -> Meeting | None:
        """The meeting with this id, if any."""
        return next((m for m in self.meetings if m.id == meeting_id), None)

    @property
    def id(self) -> str:
        """The campaign's id (what its stored rows say)."""
        return self.campaign.id

    def meeting_owner(self, meeting_id: str) -> str:
        """The campaign that declares the meeting (registrations are stored under it)."""
        return self._owners.get(meeting_id, self.campaign.id)

    def meeting_key(self, meeting_id: str) -> tuple[str, str]:
        """(owning campaign, meeting id): how storage names a meeting."""
        return self.meeting_owner(meeting_id), meeting_id

    @property
    def several(self) -> bool:
        """Whether other campaigns are served beside this one."""
        return self._several

    def batch(self, name: str) -> str:
        """A broadcast's or reminder's batch name, unique across campaigns."""
        return name if self._default else f"{self.campaign.id}/{name}"

    def own_meetings(self) -> tuple[tuple[str, str], ...]:
        """Every meeting offered here as (owning campaign, id): its own and the shared."""
        return tuple(self.meeting_key(m.id) for m in self.meetings)

    def shares(self, meeting_id: str) -> bool:
        """Whether the meeting is declared by another campaign."""
        return meeting_id in self._owners

    def with_shared(self, shared: list[tuple[str, Meeting]]) -> Campaign:
        """This campaign offering other campaigns' meetings too: (owner id, meeting)."""
        copy = self.model_copy(update={"meetings": [*self.meetings, *(m for _o, m in shared)]})
        copy._owners = {m.id: owner for owner, m in shared}
        return copy

    def meeting_start(self, meeting: Meeting) -> datetime | None:
        """When the meeting starts, if the time is known."""
        if meeting.start is None:
            return None
        return datetime.combine(meeting.date, meeting.start, tzinfo=self.tz)

    def meeting_over(self, meeting: Meeting, now: datetime) -> bool:
        """Whether the meeting has ended (at its end time, else at the end of its day)."""
        end = meeting.end or (time(23, 59, 59) if meeting.start is None else meeting.start)
        return now >= datetime.combine(meeting.date, end, tzinfo=self.tz)

    def signup_deadline(self, meeting: Meeting) -> datetime:
        """End of sign-up: the file's deadline, else the meeting's start (or the day before)."""
        if meeting.signup_deadline is not None:
            return self.aware(meeting.signup_deadline)
        start = self.meeting_start(meeting)
        if start is not None:
            return start
        # Time not known yet: sign-up runs to the end of the day before.
        return datetime.combine(meeting.date, time(0, 0), tzinfo=self.tz) - timedelta(seconds=1)

    def survey_deadline(self) -> datetime | None:
        """When the survey closes."""
        return self.aware(self.survey.deadline) if self.survey else None

    def role(self, role_id: str) -> Role | None:
        """The sign-up role with this id, if any."""
        return next((r for r in self.signup.roles if r.id == role_id), None)

    def open_to(self, meeting: Meeting, role: str | None) -> bool:
        """Whether a person in ``role`` (None: not known) may sign up for ``meeting``."""
        return not meeting.audience_roles or role is None or role in meeting.audience_roles


# -- queries ------------------------------------------------------------------------------


def sign_up_open(campaign: Campaign, meeting: Meeting, now: datetime) -> bool:
    """Whether sign-up for ``meeting`` is still open at ``now``."""
    return now < campaign.signup_deadline(meeting)


def survey_state(
    campaign: Campaign, now: datetime
) -> Literal["none", "not_open", "open", "closed"]:
    """Where the survey stands at ``now``."""
    if campaign.survey is None:
        return "none"
    if campaign.survey.opens is not None and now < campaign.aware(campaign.survey.opens):
        return "not_open"
    deadline = campaign.survey_deadline()
    assert deadline is not None
    return "open" if now < deadline else "closed"
