"""Plain typed values the storage functions take and return."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any


@dataclass
class ParticipantRecord:
    """One user on one platform (and Slack workspace)."""

    id: int
    platform: str
    workspace: str
    user_id: str
    language: str | None
    language_chosen: bool
    name: str | None
    role: str | None
    organisation: str | None
    municipality: str | None
    unreachable: bool
    created_at: datetime
    privacy_version: str | None = None
    privacy_accepted_at: datetime | None = None
    revision: int = 0
    """Bumped by every change to the person (``storage.participants``): a copy kept in
    memory is trusted only while the stored revision is the same."""

    @classmethod
    def fresh(
        cls,
        id: int,
        platform: str,
        workspace: str,
        user_id: str,
        language: str | None,
        now: datetime,
    ) -> ParticipantRecord:
        """A participant the bot knows nothing about yet."""
        return cls(
            id=id,
            platform=platform,
            workspace=workspace,
            user_id=user_id,
            language=language,
            language_chosen=False,
            name=None,
            role=None,
            organisation=None,
            municipality=None,
            unreachable=False,
            created_at=now,
        )


@dataclass(frozen=True)
class RegistrationDetails:
    """What a person told us when signing up."""

    name: str | None
    role: str | None
    organisation: str | None
    municipality: str | None


@dataclass(frozen=True)
class RegistrationRecord:
    """A person's place at a meeting: confirmed, on the waiting list, or cancelled."""

    id: int
    participant_id: int
    meeting_id: str
    status: str
    queue_seq: int
    details: RegistrationDetails
    created_at: datetime
    updated_at: datetime
    campaign: str = ""
    """The campaign that declares the meeting (a shared meeting: its one owner)."""


@dataclass(frozen=True)
class AnswerRecord:
    """One stored answer; ``value`` is JSON text, None when skipped."""

    question_id: str
    value: str | None
    skipped: bool
    answered_at: datetime

    @cached_property
    def decoded(self) -> Any:
        """``value`` decoded (None when skipped); decoded once, as it is read every turn.
        Shared by every reader (and the engine's cache): copy a list before changing it."""
        return None if self.value is None else json.loads(self.value)


@dataclass
class ResponseRecord:
    """A person's survey response and its answers by question id."""

    id: int
    participant_id: int | None
    survey_id: str
    status: str
    started_at: datetime
    submitted_at: datetime | None
    updated_at: datetime
    answers: dict[str, AnswerRecord]
    campaign: str = ""
    """The campaign whose survey this answers."""


@dataclass(frozen=True)
class StoredReplies:
    """The replies an event produced, kept until the handler confirms they went out."""

    event_id: str
    participant_id: int | None
    replies: str
    sent: bool
    parts_sent: int = 0
    """How many of the replies went out already (a crash in the middle of them)."""


@dataclass(frozen=True)
class OutboxRecord:
    """A message decided by a transaction, waiting for a platform's dispatcher."""

    id: int
    participant_id: int
    kind: str
    dedupe_key: str
    message: str
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    """An outbox row with the recipient's platform identity, for a dispatcher."""

    message: OutboxRecord
    platform: str
    workspace: str
    user_id: str
