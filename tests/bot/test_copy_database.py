"""``participation-bot copy-database``: a SQLite file with every kind of row, moved to an
empty PostgreSQL database, where the bot carries on (a person continues their survey)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot import cli
from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from storage.campaign import save_campaign_in_use, save_campaigns_in_use
from storage.clock import StoredClock, store_clock
from storage.database import SqliteDatabase
from storage.open import open_database
from storage.outbox import enqueue_message, record_broadcast_request
from storage.protocols import Transaction
from storage.slack import SlackInstallation, issue_oauth_state, save_installation
from storage.staff import grant_staff
from storage.web import create_session, issue_code
from storage.workers import record_job_run, register_worker
from tests.auxil.chat import Chat
from tests.auxil.consultation import SENT, fill_consultation
from tests.auxil.postgres import PostgresServer


@pytest.fixture
async def target(postgres_server: PostgresServer) -> AsyncIterator[str]:
    url = await postgres_server.fresh_database()
    yield url
    await postgres_server.drop_database(url)


async def _every_kind_of_row(db: SqliteDatabase, campaign: Campaign, clock: FixedClock) -> None:
    """Sent and unsent surveys, registrations, events, and a row in every other table."""
    engine = Engine(campaign, db, clock)
    await fill_consultation(engine)
    signup = Chat(engine, "r1")
    await signup.command("meetings")
    now = clock.now()

    async def rest(tx: Transaction) -> None:
        await grant_staff(tx, "test", "", "staff1", campaign.id, now)
        await enqueue_message(
            tx, 1, "broadcast", "b1:1", '{"text": "hi"}', now, batch="b1", campaign=campaign.id
        )
        await record_broadcast_request(tx, "b1", 1, "en", now)
        await save_installation(
            tx,
            SlackInstallation(
                "T1", "", "Viken", "A1", "xoxb-1", "B1", "UB1", "chat:write", "U1", now
            ),
        )
        await issue_oauth_state(tx, "state1", now, now + timedelta(minutes=10))
        await create_session(tx, "hash1", "w1", now)
        await issue_code(tx, "code1", "w1", now, now + timedelta(minutes=10))
        await store_clock(tx, StoredClock(clock_at=now, wall_at=now))
        save_campaign_in_use(tx, campaign.model_dump_json(), now)
        record_job_run(tx, "purge", now)
        await register_worker(tx, "w-1", "old", now)  # the processes of the file: not copied
        save_campaigns_in_use(tx, {campaign.id: campaign.model_dump_json()}, now)

    await db.transact(rest)


async def test_copy_then_carry_on_on_postgres(
    tmp_path: Path,
    target: str,
    campaign: Campaign,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    source = tmp_path / "bot.sqlite3"
    async with await SqliteDatabase.open(source) as db:
        await _every_kind_of_row(db, campaign, clock)

        async def counts(tx: Transaction) -> dict[str, int]:
            names = [
                r[0]
                for r in await tx.fetchall(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' AND name NOT IN ('schema_migrations', 'workers')"
                )
            ]
            return {
                n: (await tx.fetchone(f"SELECT COUNT(*) FROM {n}"))[0]  # type: ignore[index]
                for n in names
            }

        before = await db.read(counts)
    empty = [t for t, n in before.items() if not n]
    assert not empty, f"the test must fill every table (a new one?): {empty}"

    assert await copy(source, target) == 0
    out = capsys.readouterr().out
    assert "the counts match" in out
    assert f"copied {sum(before.values())} rows in {len(before)} tables" in out

    async with await open_database(target) as pg:
        after = await pg.read(counts_pg)
        assert after == before
        # The bot carries on: the person who stopped at the priorities continues and sends.
        engine = Engine(campaign, pg, clock)
        person = Chat(engine, "u1")
        await person.command("survey")
        assert any("Question 6 of 10" in r.text for r in person.replies)
        await person.press("5")
        await person.press("4 Quality education")
        await person.press("Done")
        await person.send("Open on Sundays")
        await person.press("Yes")
        await person.press("No, thanks")
        await person.press("Send my answers")
        newcomer = Chat(engine, "new")  # a new person gets a new id (the sequence moved on)
        await newcomer.command("meetings")

        async def ids(tx: Transaction) -> list[int]:
            return [r[0] for r in await tx.fetchall("SELECT id FROM participants ORDER BY id")]

        got = await pg.read(ids)
        assert len(got) == len(set(got)) == before["participants"] + 1

        async def sent(tx: Transaction) -> int:
            row = await tx.fetchone("SELECT COUNT(*) FROM responses WHERE status = 'submitted'")
            return int(row[0]) if row else 0

        assert await pg.read(sent) == SENT + 1

    # A second copy into the same (now full) database is refused and changes nothing.
    assert await copy(source, target) == 1
    assert "not empty" in capsys.readouterr().err


async def counts_pg(tx: Transaction) -> dict[str, int]:
    names = [
        r[0]
        for r in await tx.fetchall(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() "
            "AND table_name NOT IN ('schema_migrations', 'workers')"
        )
    ]
    return {
        n: (await tx.fetchone(f"SELECT COUNT(*) FROM {n}"))[0]  # type: ignore[index]
        for n in names
    }


async def copy(source: Path, target: str) -> int:
    """The command, as an operator runs it (its own event loop, so in a thread here)."""
    args = ["copy-database", "--database", str(source), "--to", target]
    return await asyncio.to_thread(cli.main, args)


def test_copy_needs_a_postgres_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["copy-database", "--database", str(tmp_path / "x.db"), "--to", "y.db"]) == 2
    assert "postgresql://" in capsys.readouterr().err


async def test_a_database_that_cannot_be_opened_is_named_in_one_line_without_its_password(
    tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bot.sqlite3"
    async with await SqliteDatabase.open(str(source)):
        pass
    parts = urlsplit(target)
    missing = urlunsplit(parts._replace(netloc=f"bot:s3cret@{parts.hostname}:{parts.port}"))
    missing = missing.rsplit("/", 1)[0] + "/no_such_database"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"postgresql://bot:s3cret@127.0.0.1:{sock.getsockname()[1]}/participation"
    for url in (missing, closed):
        assert await copy(source, url) == 2
        err = capsys.readouterr().err
        assert err.startswith("participation-bot: cannot open postgresql://bot@"), err
        assert "s3cret" not in err and "Traceback" not in err and len(err.splitlines()) == 1
