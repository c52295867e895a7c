"""How fast the engine commits conversations, against a bare aiosqlite commit loop.

Pushes N simulated participants (default 1,000) concurrently through a sign-up and the
whole survey of the shipped campaign via ``Engine.handle`` on a real SQLite file, confirming
each event's replies as a handler does. The baseline, measured in the same run on the same
kind of file and settings (WAL, synchronous=NORMAL): a bare aiosqlite loop committing one
answer row per transaction. The engine runs twice, each time on a fresh file: with the one
campaign file, and with the three campaigns of the shipped Viken set loaded (the same
script, in the default campaign): several campaigns must cost nothing per event. Prints
events/s for each, the ratios, and one JSON line.

With ``--database-url postgresql://...`` both run on that PostgreSQL server instead, in a
throwaway database created there for the run and dropped after (the role needs CREATEDB):
the engine on ``PostgresDatabase``, the baseline a bare asyncpg loop committing one answer
row per transaction.

    PYTHONPATH=. python benchmarks/engine.py [--participants 1000] [--baseline-rows 20000]
                                [--rounds 2]
                                [--database-url postgresql://user@host/db]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosqlite
import asyncpg

from bot import heap
from bot.campaign import load_campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.messages import Incoming, Kind, Outgoing, ParticipantRef
from bot.registry import Campaigns, load_campaigns
from storage.open import open_database

# Labels pressed, in order; text answers are typed. English, so it reads as a script.
SIGNUP = [
    ("cmd", "start signup-info"),
    ("press", "OK, go on"),
    ("text", "Benchmark Person"),
    ("press", "Library employee"),
    ("text", "Benchmark library"),
    ("text", "Asker"),
    ("press", "Confirm sign-up"),
]
SURVEY = [
    ("cmd", "survey"),
    ("press", "Young person (under 26)"),
    ("text", "Asker"),
    ("press", "16–19"),
    ("press", "Every week"),
    ("press", "Borrow books"),
    ("press", "Done"),
    ("press", "Getting people reading"),
    ("press", "Digital inclusion"),
    ("press", "Done"),
    ("press", "4"),
    ("press", "4 Quality education"),
    ("press", "Done"),
    ("text", "More places to do homework"),
    ("text", "Open longer in the evening"),
    ("press", "Yes"),
    ("press", "Youth meeting, 10 June"),
    ("press", "Send my answers"),
]
SCRIPT = SIGNUP + SURVEY


class Participant:
    """One simulated person following SCRIPT."""

    def __init__(self, engine: Engine, index: int) -> None:
        self.engine = engine
        self.ref = ParticipantRef(platform="bench", user_id=str(index))
        self.replies: list[Outgoing] = []
        self.counter = 0

    def _payload(self, label: str) -> str:
        for reply in self.replies:
            for row in reply.buttons:
                for button in row:
                    if button.label == label:
                        return button.payload
        raise RuntimeError(f"participant {self.ref.user_id}: no button {label!r}")

    async def run(self) -> int:
        for kind, value in SCRIPT:
            self.counter += 1
            event_id = f"{self.ref.user_id}-{self.counter}"
            if kind == "cmd":
                command, _sep, args = value.partition(" ")
                incoming = Incoming(
                    ref=self.ref,
                    event_id=event_id,
                    kind=Kind.COMMAND,
                    command=command,
                    args=args,
                    language_hint="en",
                )
            elif kind == "text":
                incoming = Incoming(
                    ref=self.ref,
                    event_id=event_id,
                    kind=Kind.TEXT,
                    text=value,
                    language_hint="en",
                )
            else:
                incoming = Incoming(
                    ref=self.ref,
                    event_id=event_id,
                    kind=Kind.BUTTON,
                    payload=self._payload(value),
                    language_hint="en",
                )
            self.replies = await self.engine.handle(incoming)
            self.engine.replies_sent(incoming)
        if "Thank you" not in self.replies[0].text:
            raise RuntimeError(f"participant {self.ref.user_id} did not finish the survey")
        return self.counter


async def measure_engine(
    where: str | Path, participants: int, campaigns: int = 1, settle: bool = False
) -> tuple[int, float]:
    """The engine with the shipped library campaign alone, or the shipped set of three;
    ``settle``: the loaded heap frozen out of the collector's sight first, as ``run`` does
    (``bot/heap.py``)."""
    campaign: Campaigns = load_campaigns() if campaigns == 3 else Campaigns.single(load_campaign())
    clock = FixedClock(datetime(2021, 5, 25, 10, 0, tzinfo=ZoneInfo("Europe/Oslo")))
    db = await open_database(where)
    engine = Engine(campaign, db, clock)
    people = [Participant(engine, i) for i in range(participants)]
    if settle:
        heap.settle()
    started = time.perf_counter()
    try:
        counts = await asyncio.gather(*(p.run() for p in people))
    finally:
        if settle:
            heap.unsettle()
    elapsed = time.perf_counter() - started
    await db.close()
    return sum(counts), elapsed


async def measure_baseline(path: Path, rows: int) -> float:
    conn = await aiosqlite.connect(path)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute(
        "CREATE TABLE answers (participant_id INTEGER, question_id TEXT, value TEXT, "
        "answered_at TEXT, PRIMARY KEY (participant_id, question_id))"
    )
    await conn.commit()
    started = time.perf_counter()
    for i in range(rows):
        await conn.execute(
            "INSERT INTO answers VALUES (?, ?, ?, ?)",
            (i, "q", json.dumps("answer"), "2021-05-25T08:00:00+00:00"),
        )
        await conn.commit()
    elapsed = time.perf_counter() - started
    await conn.close()
    return elapsed


async def measure_postgres_baseline(url: str, rows: int) -> float:
    conn = await asyncpg.connect(url)
    await conn.execute(
        "CREATE TABLE baseline_answers (participant_id BIGINT, question_id TEXT, value TEXT, "
        "answered_at TEXT, PRIMARY KEY (participant_id, question_id))"
    )
    started = time.perf_counter()
    for i in range(rows):
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO baseline_answers VALUES ($1, $2, $3, $4)",
                i,
                "q",
                json.dumps("answer"),
                "2021-05-25T08:00:00+00:00",
            )
    elapsed = time.perf_counter() - started
    await conn.close()
    return elapsed


async def on_postgres(url: str, participants: int, rows: int) -> tuple[float, int, float, float]:
    """Baseline and engine in a database created for the run on ``url``'s server."""
    name = f"bench_engine_{os.getpid()}"
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE DATABASE {name}")
    scratch = url.rsplit("/", 1)[0] + "/" + name
    try:
        base_time = await measure_postgres_baseline(scratch, rows)
        events, engine_time = await measure_engine(scratch, participants)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
    try:  # the three campaigns on a database of their own, as the one had
        await asyncpg_create(url, name)
        _events, three_time = await measure_engine(scratch, participants, campaigns=3)
    finally:
        await asyncpg_drop(url, name)
    return base_time, events, engine_time, three_time


async def asyncpg_create(url: str, name: str) -> None:
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()


async def asyncpg_drop(url: str, name: str) -> None:
    admin = await asyncpg.connect(url)
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--baseline-rows", type=int, default=20000)
    parser.add_argument("--database-url", help="postgresql://...: run both on PostgreSQL")
    parser.add_argument(
        "--rounds", type=int, default=2, help="SQLite: runs of each engine (the best kept)"
    )
    parser.add_argument(
        "--settle",
        action="store_true",
        help="freeze the loaded heap out of the collector's sight first, as run does",
    )
    args = parser.parse_args()
    if args.database_url:
        base_time, events, engine_time, three_time = await on_postgres(
            args.database_url, args.participants, args.baseline_rows
        )
    else:
        with tempfile.TemporaryDirectory() as tmp:
            base_time = await measure_baseline(Path(tmp) / "baseline.sqlite3", args.baseline_rows)
            # Alternated, each on a fresh file, the best of each kept: the machine's load
            # changes during a run, and it must not favour one of the two.
            ones, threes = [], []
            for round_ in range(args.rounds):
                events, elapsed = await measure_engine(
                    Path(tmp) / f"engine-{round_}.sqlite3", args.participants, settle=args.settle
                )
                ones.append(elapsed)
                _events, elapsed = await measure_engine(
                    Path(tmp) / f"engine-three-{round_}.sqlite3",
                    args.participants,
                    campaigns=3,
                    settle=args.settle,
                )
                threes.append(elapsed)
            engine_time, three_time = min(ones), min(threes)
    engine_rate = events / engine_time
    three_rate = events / three_time
    base_rate = args.baseline_rows / base_time
    ratio = engine_rate / base_rate
    three_ratio = three_rate / base_rate
    print(
        f"engine, one campaign:     {events} events from {args.participants} participants "
        f"in {engine_time:.2f} s = {engine_rate:,.0f} events/s"
    )
    print(
        f"engine, three campaigns:  {events} events from {args.participants} participants "
        f"in {three_time:.2f} s = {three_rate:,.0f} events/s"
    )
    print(
        f"baseline: {args.baseline_rows} one-row commits in {base_time:.2f} s = "
        f"{base_rate:,.0f} events/s"
    )
    print(f"ratio engine/baseline, one campaign:    {ratio:.2f} (target >= 0.5)")
    print(f"ratio engine/baseline, three campaigns: {three_ratio:.2f} (within the noise of it)")
    print(
        json.dumps(
            {
                "engine_events_per_s": round(engine_rate, 1),
                "engine_three_campaigns_events_per_s": round(three_rate, 1),
                "baseline_events_per_s": round(base_rate, 1),
                "ratio": round(ratio, 3),
                "ratio_three_campaigns": round(three_ratio, 3),
                "participants": args.participants,
                "rounds": 1 if args.database_url else args.rounds,
                "settled": args.settle,
                "events": events,
                "database": "postgresql" if args.database_url else "sqlite",
            }
        )
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
