"""A broadcast to 10,000 people through a fake Bot API that enforces the rate limits.

The fake (tests/fakes/telegram.py) answers 429 to any message over ``--rate`` a second in
all or sooner than 1 s after the last one to the same chat; Telegram's real limit is 30/s,
scaled up here (default 200/s) to keep the run short. The bot's outbox dispatcher sends
the broadcast through the real Telegram handler and python-telegram-bot. Printed: the
time to write the outbox rows, the achieved rate as a fraction of the limit (goal >= 0.95),
duplicates (goal 0) and misses (goal 0).

A second run makes the fake lose 1% of the answers (the message arrives, the bot never
hears so) and kills the dispatcher twice mid-way: a send whose outcome is unknown must end
'in doubt', never sent again; duplicates may only be among those, and nobody is missed.
Ends with one JSON line of the figures.

    python benchmarks/broadcast.py [--people 10000] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.broadcast import Segment, send  # noqa: E402
from bot.campaign import load_campaign  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.outbox import OutboxDispatcher  # noqa: E402
from handlers.telegram import TelegramHandler, build_bot  # noqa: E402
from storage.database import Database, Transaction  # noqa: E402
from storage.outbox import batch_progress  # noqa: E402
from storage.participants import create_participant  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

MESSAGES = {"nb": "Zoom-lenken til informasjonsmøtet er klar.", "en": "The Zoom link is ready."}
FIRST_USER = 500_000


async def setup(path: Path, people: int) -> tuple[Database, Engine, FixedClock]:
    db = await Database.open(path)
    clock = FixedClock(datetime(2021, 5, 31, 10, 0, tzinfo=ZoneInfo("Europe/Oslo")))
    engine = Engine(load_campaign(), db, clock)

    async def everyone(tx: Transaction) -> None:
        for i in range(people):
            lang = "nb" if i % 3 else "en"
            await create_participant(tx, "telegram", "", str(FIRST_USER + i), lang, clock.now())

    await db.transact(everyone)
    return db, engine, clock


async def run(people: int, rate: float, *, faulty: bool) -> dict[str, float]:
    fake = FakeTelegram(
        rate_limit=rate, per_chat_interval=1.0, drop_responses=0.01 if faulty else 0.0
    )
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        db, engine, clock = await setup(Path(tmp) / "broadcast.sqlite3", people)
        started = time.perf_counter()
        total = await send(
            db, engine.campaign, Segment("everyone"), MESSAGES, "broadcast:b", clock.now()
        )
        write_s = time.perf_counter() - started
        assert total == people
        handler = TelegramHandler(engine, build_bot(fake.token, fake.base_url, rate_limit=False))
        await handler.bot.initialize()

        def dispatcher() -> OutboxDispatcher:
            return OutboxDispatcher(
                db,
                "telegram",
                handler.deliver_outbox,
                clock,
                rate=rate,
                concurrency=64,
                batch=2000,
                interval=0.05,
            )

        started = time.perf_counter()
        kills = 2 if faulty else 0
        for _kill in range(kills):  # the process dies twice in the middle
            task = asyncio.create_task(dispatcher().run_forever())
            await asyncio.sleep(people / rate / 4)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        final = dispatcher()
        await final.recover()
        while True:
            progress = await db.transact(lambda tx: batch_progress(tx, "broadcast:b"))
            if not progress.get("pending") and not progress.get("sending"):
                break
            await final.run_once()
        elapsed = time.perf_counter() - started
        await handler.bot.shutdown()
        await db.close()
    await fake.stop()

    received = Counter(chat for chat, messages in fake.sent.items() for _m in messages)
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    in_doubt = progress.get("in_doubt", 0)
    finished = sum(progress.get(s, 0) for s in ("sent", "failed", "unreachable", "in_doubt"))
    delivered = len(received)
    return {
        "rate_fraction": delivered / elapsed / rate,
        "duplicates": duplicates,
        "missed": people - finished,
        "not_received": people - delivered,
        "in_doubt": in_doubt,
        "throttled": fake.throttled,
        "dropped_answers": fake.dropped,
        "outbox_write_s": write_s,
        "elapsed_s": elapsed,
    }


async def main() -> None:
    # The fake drops connections on purpose; aiohttp's server would log each one.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument(
        "--rate",
        type=float,
        default=200.0,
        help="the fake's limit in messages a second (Telegram's is 30); above "
        "~500/s the fake and the bot, sharing one process, run out of CPU",
    )
    args = parser.parse_args()
    clean = await run(args.people, args.rate, faulty=False)
    print(
        f"clean: {args.people} people at a limit of {args.rate:.0f}/s (1/s per chat): "
        f"{clean['rate_fraction']:.3f} of the limit in {clean['elapsed_s']:.1f} s; "
        f"duplicates {clean['duplicates']}, missed {clean['missed']}, "
        f"429s {clean['throttled']}; outbox written in {clean['outbox_write_s']:.2f} s"
    )
    faulty = await run(args.people, args.rate, faulty=True)
    print(
        f"faulty (1% answers lost, dispatcher killed twice): duplicates "
        f"{faulty['duplicates']}, in doubt {faulty['in_doubt']} (answers lost "
        f"{faulty['dropped_answers']}), missed {faulty['missed']}, not received "
        f"{faulty['not_received']} (all of them among those in doubt)"
    )
    print(
        json.dumps(
            {
                "rate_fraction": round(clean["rate_fraction"], 3),
                "duplicates": clean["duplicates"],
                "missed": clean["missed"],
                "outbox_write_s": round(clean["outbox_write_s"], 3),
                "faulty_duplicates": faulty["duplicates"],
                "faulty_in_doubt": faulty["in_doubt"],
                "faulty_missed": faulty["missed"],
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
