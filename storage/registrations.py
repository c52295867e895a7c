"""Registrations for meetings, with waiting lists kept in order of arrival.

A meeting is named by its campaign and its id: the campaign that declares it (a meeting
shared by several campaigns is declared by one, and registered for under that one, whichever
campaign a person came through: one place, one capacity, one waiting list)."""

from __future__ import annotations

from datetime import datetime

from storage.protocols import Row, Transaction
from storage.records import RegistrationDetails, RegistrationRecord
from storage.timestamps import from_db, to_db

_COLUMNS = (
    "id, participant_id, campaign, meeting_id, status, queue_seq, name, role, organisation, "
    "municipality, created_at, updated_at"
)


def _record(row: Row) -> RegistrationRecord:
    return RegistrationRecord(
        id=row["id"],
        participant_id=row["participant_id"],
        meeting_id=row["meeting_id"],
        status=row["status"],
        queue_seq=row["queue_seq"],
        details=RegistrationDetails(
            row["name"], row["role"], row["organisation"], row["municipality"]
        ),
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
        campaign=row["campaign"],
    )


async def registration_for(
    tx: Transaction, participant_id: int, campaign: str, meeting_id: str
) -> RegistrationRecord | None:
    """The participant's registration for a meeting (cancelled ones included)."""
    row = await tx.fetchone(
        f"SELECT {_COLUMNS} FROM registrations "
        "WHERE participant_id = ? AND campaign = ? AND meeting_id = ?",
        (participant_id, campaign, meeting_id),
    )
    return _record(row) if row else None


async def registrations_of(tx: Transaction, participant_id: int) -> list[RegistrationRecord]:
    """The participant's active registrations (confirmed or waiting), in every campaign."""
    rows = await tx.fetchall(
        f"SELECT {_COLUMNS} FROM registrations "
        "WHERE participant_id = ? AND status != 'cancelled' ORDER BY campaign, meeting_id",
        (participant_id,),
    )
    return [_record(r) for r in rows]


async def registrations_for_meeting(
    tx: Transaction, campaign: str, meeting_id: str, status: str | None = None
) -> list[RegistrationRecord]:
    """A meeting's registrations in order of arrival, optionally of one status."""
    if status is None:
        rows = await tx.fetchall(
            f"SELECT {_COLUMNS} FROM registrations WHERE campaign = ? AND meeting_id = ? "
            "ORDER BY queue_seq",
            (campaign, meeting_id),
        )
    else:
        rows = await tx.fetchall(
            f"SELECT {_COLUMNS} FROM registrations WHERE campaign = ? AND meeting_id = ? "
            "AND status = ? ORDER BY queue_seq",
            (campaign, meeting_id, status),
        )
    return [_record(r) for r in rows]


async def count_confirmed(tx: Transaction, campaign: str, meeting_id: str) -> int:
    """How many people hold a confirmed place at the meeting."""
    row = await tx.fetchone(
        "SELECT COUNT(*) FROM registrations WHERE campaign = ? AND meeting_id = ? "
        "AND status = 'confirmed'",
        (campaign, meeting_id),
    )
    return int(row[0]) if row else 0


async def waitlist_position(tx: Transaction, registration: RegistrationRecord) -> int:
    """1 for the first person on the waiting list, and so on."""
    row = await tx.fetchone(
        "SELECT COUNT(*) FROM registrations "
        "WHERE campaign = ? AND meeting_id = ? AND status = 'waiting' AND queue_seq <= ?",
        (registration.campaign, registration.meeting_id, registration.queue_seq),
    )
    return int(row[0]) if row else 0


async def _one_at_a_time(tx: Transaction, campaign: str, meeting_id: str) -> None:
    """Changes to one meeting's places are made one at a time (any process): its capacity,
    and the order of its waiting list, hold without a serialisable transaction. A shared
    meeting is one meeting (its owning campaign's), whichever campaign a person came
    through."""
    await tx.serialize(f"meeting:{campaign}/{meeting_id}")


async def register(
    tx: Transaction,
    participant_id: int,
    campaign: str,
    meeting_id: str,
    details: RegistrationDetails,
    capacity: int,
    now: datetime,
) -> RegistrationRecord:
    """Give the participant a place, or a place on the waiting list when the meeting is full.

    ``capacity`` 0 means no limit. A cancelled registration is reused and goes to the back
    of the queue.
    """
    await _one_at_a_time(tx, campaign, meeting_id)
    status = "confirmed"
    if capacity:
        confirmed = await count_confirmed(tx, campaign, meeting_id)
        waiting = await tx.fetchone(
            "SELECT 1 FROM registrations WHERE campaign = ? AND meeting_id = ? "
            "AND status = 'waiting' LIMIT 1",
            (campaign, meeting_id),
        )
        # A free place goes to the first person waiting, not to a newcomer.
        if confirmed >= capacity or waiting is not None:
            status = "waiting"
    stamp = to_db(now)
    await tx.execute(
        "INSERT INTO registrations (participant_id, campaign, meeting_id, status, queue_seq, "
        "name, role, organisation, municipality, created_at, updated_at) VALUES (?, ?, ?, ?, "
        "(SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM registrations), ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (participant_id, campaign, meeting_id) DO UPDATE SET "
        "status = excluded.status, "
        "queue_seq = excluded.queue_seq, name = excluded.name, role = excluded.role, "
        "organisation = excluded.organisation, municipality = excluded.municipality, "
        "created_at = excluded.created_at, updated_at = excluded.updated_at",
        (
            participant_id,
            campaign,
            meeting_id,
            status,
            details.name,
            details.role,
            details.organisation,
            details.municipality,
            stamp,
            stamp,
        ),
    )
    registration = await registration_for(tx, participant_id, campaign, meeting_id)
    assert registration is not None
    return registration


async def cancel_registration(
    tx: Transaction, participant_id: int, campaign: str, meeting_id: str, now: datetime
) -> RegistrationRecord | None:
    """Cancel the participant's registration; return it as it was before, if it was active."""
    await _one_at_a_time(tx, campaign, meeting_id)
    before = await registration_for(tx, participant_id, campaign, meeting_id)
    if before is None or before.status == "cancelled":
        return None
    await tx.execute(
        "UPDATE registrations SET status = 'cancelled', updated_at = ? WHERE id = ?",
        (to_db(now), before.id),
    )
    return before


async def promote_first_waiting(
    tx: Transaction, campaign: str, meeting_id: str, now: datetime
) -> RegistrationRecord | None:
    """Move the first person on the meeting's waiting list to a confirmed place."""
    await _one_at_a_time(tx, campaign, meeting_id)
    row = await tx.fetchone(
        f"SELECT {_COLUMNS} FROM registrations WHERE campaign = ? AND meeting_id = ? "
        "AND status = 'waiting' ORDER BY queue_seq LIMIT 1",
        (campaign, meeting_id),
    )
    if row is None:
        return None
    await tx.execute(
        "UPDATE registrations SET status = 'confirmed', updated_at = ? WHERE id = ?",
        (to_db(now), row["id"]),
    )
    return await registration_for(tx, row["participant_id"], campaign, meeting_id)
