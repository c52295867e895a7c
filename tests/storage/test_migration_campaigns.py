"""Migration 0009: a database of the version before (one campaign) is migrated to several
campaigns with nothing lost, every row attributed to the campaign it ran. On SQLite and
PostgreSQL (tests/storage/conftest.py)."""

from __future__ import annotations

import asyncpg
import pytest

from bot.campaign import load_campaign
from storage import database, postgres
from storage.campaign import attribute_unowned, save_campaign_in_use
from storage.open import is_postgres_url, open_database
from storage.participants import create_participant
from storage.records import RegistrationDetails
from storage.timestamps import to_db
from tests.conftest import oslo

NOW = oslo(2021, 5, 25, 10, 0)


def before_campaigns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open databases with the migrations of the version before 0009 only."""
    for module in (database, postgres):
        shipped = module.migrations()
        monkeypatch.setattr(module, "migrations", lambda s=shipped: [m for m in s if m[0] < 9])


async def fill_old_database(db_url: str, *, record_campaign: bool) -> None:
    """What the previous version stored: a person, their response and answers, a
    registration, an outbox row, a staff grant, and the campaign in use."""
    if is_postgres_url(db_url):
        # The test's database is a copy of a template with every migration: start empty.
        conn = await asyncpg.connect(db_url)
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await conn.close()
    db = await open_database(db_url)

    async def job(tx):  # type: ignore[no-untyped-def]
        if record_campaign:
            save_campaign_in_use(tx, load_campaign().model_dump_json(), NOW)
        p = await create_participant(tx, "telegram", "", "42", "nb", NOW)
        stamp = to_db(NOW)
        rid = await tx.insert(
            "INSERT INTO responses (participant_id, survey_id, status, started_at, updated_at) "
            "VALUES (?, 'strategy', 'in_progress', ?, ?)",
            (p.id, stamp, stamp),
        )
        for question, value in (("category", '"resident"'), ("idea", '"More books"')):
            await tx.execute(
                "INSERT INTO answers (response_id, question_id, value, answered_at) "
                "VALUES (?, ?, ?, ?)",
                (rid, question, value, stamp),
            )
        details = RegistrationDetails("Kari", "resident", None, "Moss")
        await tx.execute(
            "INSERT INTO registrations (participant_id, meeting_id, status, queue_seq, name, "
            "role, organisation, municipality, created_at, updated_at) "
            "VALUES (?, 'info', 'confirmed', 1, ?, ?, ?, ?, ?, ?)",
            (p.id, details.name, details.role, None, details.municipality, stamp, stamp),
        )
        await tx.execute(
            "INSERT INTO outbox (participant_id, kind, batch, dedupe_key, message, "
            "next_attempt_at, created_at) VALUES (?, 'reminder', 'reminder:r1', 'k1', '{}', ?, ?)",
            (p.id, stamp, stamp),
        )
        await tx.execute(
            "INSERT INTO staff (platform, workspace, user_id, granted_at) "
            "VALUES ('telegram', '', '7', ?)",
            (stamp,),
        )

    await db.transact(job)
    await db.close()


async def rows(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    db = await open_database(db_url)
    found = {}
    for name, sql in (
        ("responses", "SELECT campaign, survey_id, status FROM responses"),
        ("answers", "SELECT question_id, value FROM answers ORDER BY question_id"),
        ("registrations", "SELECT campaign, meeting_id, status, name FROM registrations"),
        ("outbox", "SELECT campaign, batch, dedupe_key FROM outbox"),
        ("staff", "SELECT platform, user_id, campaign FROM staff"),
        ("versions", "SELECT MAX(version) FROM schema_migrations"),
    ):
        found[name] = [tuple(r) for r in await db.transact(lambda tx, sql=sql: tx.fetchall(sql))]
    await db.close()
    return found


async def test_a_one_campaign_database_is_migrated_with_nothing_lost(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old:
        before_campaigns(old)
        await fill_old_database(db_url, record_campaign=True)

    found = await rows(db_url)  # opened with every migration: 0009 runs

    assert found["responses"] == [("viken-2021", "strategy", "in_progress")]
    assert found["answers"] == [("category", '"resident"'), ("idea", '"More books"')]
    assert found["registrations"] == [("viken-2021", "info", "confirmed", "Kari")]
    assert found["outbox"] == [("viken-2021", "reminder:r1", "k1")]
    assert found["staff"] == [("telegram", "7", "")]  # a grant for every campaign, as before
    assert found["versions"][0][0] >= 9


async def test_rows_no_campaign_claimed_go_to_the_default_at_start(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old:
        before_campaigns(old)
        await fill_old_database(db_url, record_campaign=False)
    assert (await rows(db_url))["responses"] == [("", "strategy", "in_progress")]

    db = await open_database(db_url)
    await db.transact(lambda tx: attribute_unowned(tx, "viken-2021"))
    await db.close()

    found = await rows(db_url)
    assert found["responses"] == [("viken-2021", "strategy", "in_progress")]
    assert found["registrations"] == [("viken-2021", "info", "confirmed", "Kari")]
    assert found["answers"] == [("category", '"resident"'), ("idea", '"More books"')]


async def test_after_the_migration_a_person_answers_a_survey_of_each_campaign(
    db_url: str,
) -> None:
    from storage.responses import responses_of, start_response

    db = await open_database(db_url)

    async def job(tx):  # type: ignore[no-untyped-def]
        p = await create_participant(tx, "telegram", "", "43", "nb", NOW)
        await start_response(tx, p.id, "viken-2021", "survey", NOW)
        await start_response(tx, p.id, "culture", "survey", NOW)  # the same survey id
        return [(r.campaign, r.survey_id) for r in await responses_of(tx, p.id)]

    assert await db.transact(job) == [("viken-2021", "survey"), ("culture", "survey")]
    await db.close()
