"""Survey responses and their answers, one row per question."""

from __future__ import annotations

from datetime import datetime

from storage.protocols import Row, Transaction
from storage.records import AnswerRecord, ResponseRecord
from storage.timestamps import from_db, maybe_from_db, to_db


async def load_response(
    tx: Transaction, participant_id: int, campaign: str, survey_id: str
) -> ResponseRecord | None:
    """The participant's response to a campaign's survey with all its answers, if they
    started it."""
    row = await tx.fetchone(
        "SELECT id, participant_id, campaign, survey_id, status, started_at, submitted_at, "
        "updated_at FROM responses WHERE participant_id = ? AND campaign = ? AND survey_id = ?",
        (participant_id, campaign, survey_id),
    )
    if row is None:
        return None
    return await _with_answers(tx, row)


async def responses_of(tx: Transaction, participant_id: int) -> list[ResponseRecord]:
    """Every response of the participant, in every campaign, oldest first (``/mydata``)."""
    rows = await tx.fetchall(
        "SELECT id, participant_id, campaign, survey_id, status, started_at, submitted_at, "
        "updated_at FROM responses WHERE participant_id = ? ORDER BY id",
        (participant_id,),
    )
    return [await _with_answers(tx, row) for row in rows]


async def _with_answers(tx: Transaction, row: Row) -> ResponseRecord:
    answers = await tx.fetchall(
        "SELECT question_id, value, skipped, answered_at FROM answers WHERE response_id = ?",
        (row["id"],),
    )
    return ResponseRecord(
        id=row["id"],
        participant_id=row["participant_id"],
        survey_id=row["survey_id"],
        status=row["status"],
        started_at=from_db(row["started_at"]),
        submitted_at=maybe_from_db(row["submitted_at"]),
        updated_at=from_db(row["updated_at"]),
        campaign=row["campaign"],
        answers={
            a["question_id"]: AnswerRecord(
                a["question_id"], a["value"], bool(a["skipped"]), from_db(a["answered_at"])
            )
            for a in answers
        },
    )


async def start_response(
    tx: Transaction, participant_id: int, campaign: str, survey_id: str, now: datetime
) -> ResponseRecord:
    """Open a new, empty response for the participant to a campaign's survey."""
    stamp = to_db(now)
    rid = await tx.insert(
        "INSERT INTO responses (participant_id, campaign, survey_id, status, started_at, "
        "updated_at) VALUES (?, ?, ?, 'in_progress', ?, ?)",
        (participant_id, campaign, survey_id, stamp, stamp),
    )
    return ResponseRecord(
        rid, participant_id, survey_id, "in_progress", now, None, now, {}, campaign
    )


def record_answer(
    tx: Transaction,
    response_id: int,
    question_id: str,
    value: str | None,
    skipped: bool,
    now: datetime,
) -> None:
    """Store (or replace) the answer to one question; ``value`` is JSON text."""
    tx.write(
        "INSERT INTO answers (response_id, question_id, value, skipped, answered_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (response_id, question_id) DO UPDATE SET "
        "value = excluded.value, skipped = excluded.skipped, answered_at = excluded.answered_at",
        (response_id, question_id, value, int(skipped), to_db(now)),
    )


def submit_response(tx: Transaction, response_id: int, now: datetime) -> None:
    """Mark a response as submitted (the first submission time is kept)."""
    stamp = to_db(now)
    tx.write(
        "UPDATE responses SET status = 'submitted', "
        "submitted_at = COALESCE(submitted_at, ?), updated_at = ? WHERE id = ?",
        (stamp, stamp, response_id),
    )


def touch_response(tx: Transaction, response_id: int, now: datetime) -> None:
    """Note that a response changed (an answer edited after submission)."""
    tx.write("UPDATE responses SET updated_at = ? WHERE id = ?", (to_db(now), response_id))


def forget_answers(tx: Transaction, response_id: int, question_ids: list[str]) -> None:
    """Delete the answers to these questions."""
    for question_id in question_ids:
        tx.write(
            "DELETE FROM answers WHERE response_id = ? AND question_id = ?",
            (response_id, question_id),
        )
