"""Reading the consultation's results: every response and registration, for staff exports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from storage.database import Transaction
from storage.records import AnswerRecord
from storage.timestamps import from_db, maybe_from_db


@dataclass
class ResponseRow:
    """One person's response with its answers (``who`` only when contacts are asked for)."""

    response_id: int
    status: str
    started_at: str
    submitted_at: str | None
    answers: dict[str, AnswerRecord]
    who: tuple[str, str, str] | None
    """(platform, workspace, user id); None for anonymous (erased) responses."""

    @cached_property
    def values(self) -> dict[str, Any]:
        """The answers decoded once: question id -> value (None when skipped)."""
        return {
            qid: (None if a.value is None else json.loads(a.value))
            for qid, a in self.answers.items()
        }


@dataclass(frozen=True)
class RegistrationRow:
    """A registration with the person's platform identity."""

    meeting_id: str
    status: str
    queue_seq: int
    name: str | None
    role: str | None
    organisation: str | None
    municipality: str | None
    registered_at: str
    who: tuple[str, str, str]


async def all_responses(tx: Transaction, campaign: str, survey_id: str) -> list[ResponseRow]:
    """Every response to a campaign's survey with its answers, oldest first."""
    responses = await tx.fetchall(
        "SELECT r.id, r.status, r.started_at, r.submitted_at, p.platform, p.workspace, "
        "p.user_id FROM responses r LEFT JOIN participants p ON p.id = r.participant_id "
        "WHERE r.campaign = ? AND r.survey_id = ? ORDER BY r.id",
        (campaign, survey_id),
    )
    answers = await tx.fetchall(
        "SELECT a.response_id, a.question_id, a.value, a.skipped, a.answered_at FROM answers a "
        "JOIN responses r ON r.id = a.response_id WHERE r.campaign = ? AND r.survey_id = ?",
        (campaign, survey_id),
    )
    by_response: dict[int, dict[str, AnswerRecord]] = {}
    for a in answers:
        by_response.setdefault(a[0], {})[a[1]] = AnswerRecord(
            a[1], a[2], bool(a[3]), from_db(a[4])
        )
    return [
        ResponseRow(
            response_id=r[0],
            status=r[1],
            started_at=from_db(r[2]).isoformat(timespec="seconds"),
            submitted_at=(
                None if r[3] is None else maybe_from_db(r[3]).isoformat(timespec="seconds")  # type: ignore[union-attr]
            ),
            answers=by_response.get(r[0], {}),
            who=None if r[4] is None else (r[4], r[5], r[6]),
        )
        for r in responses
    ]


async def all_registrations(
    tx: Transaction, meetings: tuple[tuple[str, str], ...]
) -> list[RegistrationRow]:
    """Every active registration (confirmed or waiting) for these meetings (each its
    campaign and id: a campaign's own and the shared ones it offers), by meeting and queue
    order."""
    if not meetings:
        return []
    which = " OR ".join("(g.campaign = ? AND g.meeting_id = ?)" for _m in meetings)
    rows = await tx.fetchall(
        "SELECT g.meeting_id, g.status, g.queue_seq, g.name, g.role, g.organisation, "
        "g.municipality, g.created_at, p.platform, p.workspace, p.user_id "
        "FROM registrations g JOIN participants p ON p.id = g.participant_id "
        f"WHERE g.status != 'cancelled' AND ({which}) ORDER BY g.meeting_id, g.queue_seq",
        [value for pair in meetings for value in pair],
    )
    return [
        RegistrationRow(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            from_db(r[7]).isoformat(timespec="seconds"),
            (r[8], r[9], r[10]),
        )
        for r in rows
    ]
