"""Participants: one user on one platform, with the details they chose to give."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from storage.protocols import Row, Transaction
from storage.records import ParticipantRecord
from storage.timestamps import from_db, maybe_from_db, to_db

_COLUMNS = (
    "id, platform, workspace, user_id, language, language_chosen, name, role, organisation, "
    "municipality, unreachable, created_at, privacy_version, privacy_accepted_at, revision"
)


def _record(row: Row) -> ParticipantRecord:
    return ParticipantRecord(
        id=row["id"],
        platform=row["platform"],
        workspace=row["workspace"],
        user_id=row["user_id"],
        language=row["language"],
        language_chosen=bool(row["language_chosen"]),
        name=row["name"],
        role=row["role"],
        organisation=row["organisation"],
        municipality=row["municipality"],
        unreachable=bool(row["unreachable"]),
        created_at=from_db(row["created_at"]),
        privacy_version=row["privacy_version"],
        privacy_accepted_at=maybe_from_db(row["privacy_accepted_at"]),
        revision=row["revision"],
    )


async def find_participant(
    tx: Transaction, platform: str, workspace: str, user_id: str
) -> ParticipantRecord | None:
    """The participant with this platform identity, if they have been here before."""
    row = await tx.fetchone(
        f"SELECT {_COLUMNS} FROM participants "
        "WHERE platform = ? AND workspace = ? AND user_id = ?",
        (platform, workspace, user_id),
    )
    return _record(row) if row else None


async def participant_by_id(tx: Transaction, participant_id: int) -> ParticipantRecord | None:
    """The participant with this row id."""
    row = await tx.fetchone(f"SELECT {_COLUMNS} FROM participants WHERE id = ?", (participant_id,))
    return _record(row) if row else None


_IDS_A_QUERY = 500
"""Ids in one ``IN (...)`` (SQLite allows some thousands of parameters a statement)."""


async def participants_by_ids(
    tx: Transaction, participant_ids: Iterable[int]
) -> dict[int, ParticipantRecord]:
    """The participants with these row ids (those that exist), a few hundred a query: one
    round trip for many people instead of one each."""
    wanted = sorted(set(participant_ids))
    found: dict[int, ParticipantRecord] = {}
    for start in range(0, len(wanted), _IDS_A_QUERY):
        chunk = wanted[start : start + _IDS_A_QUERY]
        marks = ", ".join("?" * len(chunk))
        rows = await tx.fetchall(
            f"SELECT {_COLUMNS} FROM participants WHERE id IN ({marks})", tuple(chunk)
        )
        found.update((row["id"], _record(row)) for row in rows)
    return found


async def create_participant(
    tx: Transaction,
    platform: str,
    workspace: str,
    user_id: str,
    language: str | None,
    now: datetime,
) -> ParticipantRecord:
    """Store a new participant and return it."""
    pid = await tx.insert(
        "INSERT INTO participants (platform, workspace, user_id, language, created_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (platform, workspace, user_id, language, to_db(now)),
    )
    return ParticipantRecord.fresh(pid, platform, workspace, user_id, language, now)


async def participant_revision(tx: Transaction, participant_id: int) -> int | None:
    """The participant's revision now (None: erased): one read by the primary key."""
    row = await tx.fetchone("SELECT revision FROM participants WHERE id = ?", (participant_id,))
    return int(row[0]) if row else None


def set_revision(tx: Transaction, participant_id: int, revision: int) -> None:
    """Record that the participant changed (their state, answers...): ``revision`` is the
    one after what the writer read, under the participant's serialisation."""
    tx.write("UPDATE participants SET revision = ? WHERE id = ?", (revision, participant_id))


def save_participant(tx: Transaction, p: ParticipantRecord) -> None:
    """Write a participant's changeable fields (language, details, reachability) and their
    revision."""
    tx.write(
        "UPDATE participants SET language = ?, language_chosen = ?, name = ?, role = ?, "
        "organisation = ?, municipality = ?, unreachable = ?, privacy_version = ?, "
        "privacy_accepted_at = ?, revision = ? WHERE id = ?",
        (
            p.language,
            int(p.language_chosen),
            p.name,
            p.role,
            p.organisation,
            p.municipality,
            int(p.unreachable),
            p.privacy_version,
            None if p.privacy_accepted_at is None else to_db(p.privacy_accepted_at),
            p.revision,
            p.id,
        ),
    )


async def delete_participant(
    tx: Transaction,
    participant_id: int,
    *,
    keep_anonymous_answers: bool = False,
    written_questions: tuple[str, ...] = (),
) -> None:
    """Erase a participant and, through the foreign keys, every row that is theirs: state,
    events with the replies they got, registrations, outbox rows, survey responses. With
    ``keep_anonymous_answers`` the survey answers stay, without any link to the person,
    except the answers to ``written_questions`` (free text may say who wrote it)."""
    who = await participant_by_id(tx, participant_id)
    if who is not None:
        await tx.execute(
            "DELETE FROM staff WHERE platform = ? AND workspace = ? AND user_id = ?",
            (who.platform, who.workspace, who.user_id),
        )
        if who.platform == "slack":
            # Who installed the app in their workspace is theirs too; the bot token stays.
            await tx.execute(
                "UPDATE slack_installations SET installer_user_id = '' "
                "WHERE team_id = ? AND installer_user_id = ?",
                (who.workspace, who.user_id),
            )
    # Their events stay known (a redelivered one must change nothing), but without them and
    # without the replies they got.
    await tx.execute(
        "UPDATE processed_events SET participant_id = NULL, replies = '[]', replies_sent = 1 "
        "WHERE participant_id = ?",
        (participant_id,),
    )
    if keep_anonymous_answers:
        # Kept answers keep only the day they were given: exact times could point back.
        await tx.execute(
            "UPDATE answers SET answered_at = substr(answered_at, 1, 10) WHERE response_id IN "
            "(SELECT id FROM responses WHERE participant_id = ?)",
            (participant_id,),
        )
        await tx.execute(
            "UPDATE responses SET started_at = substr(started_at, 1, 10), "
            "updated_at = substr(updated_at, 1, 10), "
            "submitted_at = substr(submitted_at, 1, 10) WHERE participant_id = ?",
            (participant_id,),
        )
        marks = ", ".join("?" for _q in written_questions)
        if written_questions:
            await tx.execute(
                f"DELETE FROM answers WHERE question_id IN ({marks}) AND response_id IN "
                "(SELECT id FROM responses WHERE participant_id = ?)",
                (*written_questions, participant_id),
            )
        await tx.execute(
            "UPDATE responses SET participant_id = NULL WHERE participant_id = ?",
            (participant_id,),
        )
    await tx.execute("DELETE FROM participants WHERE id = ?", (participant_id,))
    tx.truncate_wal_after_commit()


async def all_participant_ids(tx: Transaction) -> list[int]:
    """Every participant's row id (for purging after the retention date)."""
    return [r[0] for r in await tx.fetchall("SELECT id FROM participants ORDER BY id")]


async def set_unreachable(
    tx: Transaction, platform: str, workspace: str, user_id: str, unreachable: bool = True
) -> None:
    """Note that a person blocked the bot (or unblocked it by writing again)."""
    await tx.execute(
        "UPDATE participants SET unreachable = ?, revision = revision + 1 "
        "WHERE platform = ? AND workspace = ? AND user_id = ?",
        (int(unreachable), platform, workspace, user_id),
    )
