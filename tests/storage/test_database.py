"""The database: migrations, group commit, a failing job alone rolled back, erasing a person.

Each test runs on SQLite and on PostgreSQL (tests/storage/conftest.py) unless it is about
SQLite itself."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from storage import postgres
from storage.database import Database, Transaction, migrations
from storage.events import EventAlreadyRecorded, record_event
from storage.open import is_postgres_url, open_database
from storage.participants import create_participant, delete_participant
from tests.auxil.chat import Chat
from tests.conftest import oslo

NOW = oslo(2021, 5, 25, 10, 0)


INTEGRITY_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)
"""What breaking a rule of the schema raises, on either database."""


async def test_migrations_run_once_and_are_recorded(db_url: str) -> None:
    first = await open_database(db_url)
    await first.close()
    second = await open_database(db_url)  # opening again applies nothing twice
    versions = await second.transact(
        lambda tx: tx.fetchall("SELECT version FROM schema_migrations ORDER BY version")
    )
    await second.close()
    shipped = postgres.migrations() if is_postgres_url(db_url) else migrations()
    assert [v[0] for v in versions] == [m[0] for m in shipped]
    # The two databases' schemas move together: the same migrations, by number and name.
    assert [m[:2] for m in postgres.migrations()] == [m[:2] for m in migrations()]


@pytest.mark.sqlite_only
async def test_wal_and_foreign_keys_are_on(db: Database) -> None:
    mode = await db.transact(lambda tx: tx.fetchone("PRAGMA journal_mode"))
    keys = await db.transact(lambda tx: tx.fetchone("PRAGMA foreign_keys"))
    assert mode[0] == "wal" and keys[0] == 1


async def new_person(tx: Transaction, user: str) -> int:
    return (await create_participant(tx, "test", "", user, "nb", NOW)).id


async def test_jobs_queued_together_commit_together(db: Database) -> None:
    ids = await asyncio.gather(
        *(db.transact(lambda tx, i=i: new_person(tx, f"u{i}")) for i in range(20))
    )
    assert len(set(ids)) == 20
    count = await db.transact(lambda tx: tx.fetchone("SELECT COUNT(*) FROM participants"))
    assert count[0] == 20


async def test_a_failing_job_is_rolled_back_alone(db: Database) -> None:
    async def failing(tx: Transaction) -> None:
        await new_person(tx, "doomed")
        raise RuntimeError("step failed")

    results = await asyncio.gather(
        db.transact(lambda tx: new_person(tx, "a")),
        db.transact(failing),
        db.transact(lambda tx: new_person(tx, "b")),
        return_exceptions=True,
    )
    assert isinstance(results[1], RuntimeError)
    users = await db.transact(lambda tx: tx.fetchall("SELECT user_id FROM participants"))
    assert sorted(u[0] for u in users) == ["a", "b"]


async def test_a_duplicate_event_in_a_batch_fails_only_its_job(db: Database) -> None:
    pid = await db.transact(lambda tx: new_person(tx, "a"))
    await db.transact(lambda tx: _record(tx, "e1", pid))

    async def with_state(tx: Transaction, event_id: str) -> str:
        tx.write("UPDATE participants SET name = ? WHERE id = ?", (event_id, pid))
        await _record(tx, event_id, pid)
        return event_id

    results = await asyncio.gather(
        db.transact(lambda tx: with_state(tx, "e2")),
        db.transact(lambda tx: with_state(tx, "e1")),
        db.transact(lambda tx: with_state(tx, "e3")),
        return_exceptions=True,
    )
    assert results[0] == "e2" and results[2] == "e3"
    assert isinstance(results[1], EventAlreadyRecorded)
    events = await db.transact(lambda tx: tx.fetchall("SELECT event_id FROM processed_events"))
    assert sorted(e[0] for e in events) == ["e1", "e2", "e3"]


async def _record(tx: Transaction, event_id: str, pid: int) -> None:
    record_event(tx, event_id, pid, "[]", NOW)


async def test_deleting_a_participant_removes_every_row_of_theirs(engine, db: Database) -> None:
    chat = Chat(engine, "erase-me")
    await chat.command("start", "signup-info")
    await chat.send("Erase Me")
    await chat.press("Resident")
    await chat.send("My Org")
    await chat.send("Moss")
    await chat.press("Confirm sign-up")
    await chat.command("survey")
    await chat.press("Resident")
    await chat.send("Moss")
    other = Chat(engine, "keep-me")
    await other.command("survey")

    tables = [t for t in await _tables(db) if t not in ("schema_migrations", "staff")]
    assert "participants" in tables and "answers" in tables
    pid = (
        await db.transact(
            lambda tx: tx.fetchone("SELECT id FROM participants WHERE user_id = 'erase-me'")
        )
    )[0]
    await db.transact(lambda tx: delete_participant(tx, pid))

    for table in tables:
        rows = await db.transact(lambda tx, t=table: tx.fetchall(f"SELECT * FROM {t}"))
        for row in rows:
            values = [str(v) for v in tuple(row)]
            assert "erase-me" not in values, table
            assert "Erase Me" not in values and "My Org" not in values, table
    remaining = await db.transact(lambda tx: tx.fetchall("SELECT user_id FROM participants"))
    assert [r[0] for r in remaining] == ["keep-me"]
    answers = await db.transact(lambda tx: tx.fetchone("SELECT COUNT(*) FROM answers"))
    assert answers[0] == 0


async def _tables(db: Database) -> list[str]:
    """Every table of the bot's schema, on either database."""
    rows = await db.transact(
        lambda tx: tx.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            if isinstance(db, Database)
            else "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
    )
    return sorted(r[0] for r in rows)


async def test_integrity_errors_other_than_duplicates_are_not_hidden(db: Database) -> None:
    with pytest.raises(INTEGRITY_ERRORS):
        await db.transact(
            lambda tx: tx.execute(
                "INSERT INTO conversation_state (participant_id, state, updated_at) "
                "VALUES (999, '{}', 'x')"
            )
        )


async def test_a_broken_buffered_write_fails_its_job_and_the_writer_goes_on(db: Database) -> None:
    pid = await db.transact(lambda tx: new_person(tx, "a"))

    async def breaks_a_rule(tx: Transaction) -> None:
        tx.write("UPDATE participants SET created_at = NULL WHERE id = ?", (pid,))
        record_event(tx, "e-broken", pid, "[]", NOW)

    async def fine(tx: Transaction) -> str:
        record_event(tx, "e-fine", pid, "[]", NOW)
        return "ok"

    results = await asyncio.gather(
        db.transact(breaks_a_rule), db.transact(fine), return_exceptions=True
    )
    # NOT NULL is not a redelivery: the job fails with the real error, not as a duplicate.
    assert isinstance(results[0], INTEGRITY_ERRORS)
    assert not isinstance(results[0], EventAlreadyRecorded)
    assert results[1] == "ok"
    assert await db.transact(lambda tx: new_person(tx, "b")) > pid


async def test_a_long_read_holds_up_no_write_and_sees_one_snapshot(db: Database) -> None:
    await db.transact(lambda tx: new_person(tx, "before"))
    reading = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_read(tx: Transaction) -> tuple[int, int]:
        first = await tx.fetchone("SELECT COUNT(*) FROM participants")
        reading.set()
        await go_on.wait()  # a long read: the writer must not wait for it
        second = await tx.fetchone("SELECT COUNT(*) FROM participants")
        return first[0], second[0]

    read = asyncio.ensure_future(db.read(slow_read))
    await reading.wait()
    await asyncio.wait_for(db.transact(lambda tx: new_person(tx, "during")), timeout=5)
    go_on.set()
    assert await read == (1, 1)  # the read's snapshot: the write during it is not half seen
    after = await db.read(lambda tx: tx.fetchone("SELECT COUNT(*) FROM participants"))
    assert after[0] == 2  # the next read sees it


async def test_a_read_cannot_write(db: Database) -> None:
    with pytest.raises((sqlite3.OperationalError, asyncpg.ReadOnlySQLTransactionError)):
        await db.read(lambda tx: new_person(tx, "sneaky"))
    count = await db.transact(lambda tx: tx.fetchone("SELECT COUNT(*) FROM participants"))
    assert count[0] == 0


async def test_writes_sent_together_keep_their_order_and_their_conflicts(db: Database) -> None:
    """A turn's queued writes (its state, its event, an answer) may go to PostgreSQL as one
    statement: the result is that of the writes one by one, and a repeated event id in the
    middle of such a group is still that event's conflict, with nothing of the turn kept."""
    from storage.conversations import save_state

    now = oslo(2021, 5, 25, 10, 0)

    async def first(tx: Transaction) -> int:
        pid = (await create_participant(tx, "test", "", "w1", "en", now)).id
        save_state(tx, pid, "one", now)
        record_event(tx, "e1", pid, "[]", now)
        save_state(tx, pid, "two", now)  # the same table again: after the first, in order
        return pid

    pid = await db.transact(first)

    async def second(tx: Transaction) -> None:
        save_state(tx, pid, "three", now)
        record_event(tx, "e1", pid, "[]", now)  # delivered before: the turn is a redelivery

    with pytest.raises(EventAlreadyRecorded):
        await db.transact(second)

    async def state(tx: Transaction) -> str:
        row = await tx.fetchone(
            "SELECT state FROM conversation_state WHERE participant_id = ?", (pid,)
        )
        assert row is not None
        return str(row[0])

    assert await db.transact(state) == "two"
