"""Telegram at Telegram's limits: the shipped bot, and a plain python-telegram-bot bot.

A fake Bot API (tests/fakes/telegram.py) runs in a second process with the simulated
people, as the real Bot API would be elsewhere, and enforces Telegram's documented limits:
30 calls in any sliding second in all and one a second to one chat, counting every call
that names a chat except answerCallbackQuery; beyond them it answers 429 with
``retry_after``. Against it, in one run:

1. burst: ``--people`` (500) start the survey of the shipped campaign at once and answer
   without pausing, each as soon as they see the bot's answer;
2. during a broadcast: a ``--broadcast`` (3,000) person broadcast is sending while
   ``--paced`` (100) people take the survey at a human pace (5-10 s before each action);
3. plain: a python-telegram-bot ``Application`` with a ``ConversationHandler`` and
   ``PicklePersistence`` (PTB's defaults: no rate limiter), the burst of 1. again.

1. and 2. run **the shipped configuration**: the real ``python -m handlers run`` in its own
process (its bot, its budget shared by the replies and the outbox dispatcher, the
collector settled), on a fresh SQLite file; for 2. the recipients are in the database
and the broadcast queued before it starts, as ``participation-bot broadcast`` does.

Each prints actions/s, calls per action (the calls that count, over the actions), p50/p95
from an action to the answer the person sees, 429s received, and the people who finished.
A secondary figure, **not the shipped configuration**, follows: both bots with no limits
at all (a fake that enforces none; ours with an unlimited budget), as a measure of CPU
headroom. The last line is one JSON object of the figures.

    python benchmarks/telegram_load.py [--people 500] [--broadcast 3000] [--paced 100]
                                       [--seconds 900] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "123456:BENCH"
NOW = "2021-05-25T10:00"
BROADCAST_TEXT = "The Zoom link for the information meeting is ready."

# What a person does, and what shows the bot answered: "question" (the question shown
# changed: a new one, or the pressed one edited) or "any" (anything changed in the chat).
COMMON = [
    ("text", "/start survey", "question"),
    ("press", "Resident", "question"),
    ("text", "Asker", "question"),
    ("press", "Every week", "question"),
    ("press", "Borrow books", "question"),
    ("press", "Done", "question"),
    ("press", "Getting people reading", "question"),
    ("press", "Done", "question"),
    ("press", "4", "question"),
    ("press", "4 Quality education", "question"),
    ("press", "Done", "question"),
    ("text", "Longer opening hours, please", "question"),
]
SCRIPTS = {
    "ours": [
        COMMON[0],
        ("press", "OK, go on", "question"),
        *COMMON[1:],
        ("press", "No", "question"),
        ("press", "Send my answers", "any"),
    ],
    "plain": [*COMMON, ("press", "No", "any")],
}


# -- the fake Bot API and the people, in their own process --------------------------------


def fake_process(conn: Any, config: dict[str, Any]) -> None:
    asyncio.run(_world(conn, config))


async def _world(conn: Any, config: dict[str, Any]) -> None:
    from tests.fakes.telegram import FakeTelegram

    limited = config["limited"]
    fake = FakeTelegram(
        token=TOKEN,
        rate_limit=30 if limited else None,
        per_chat_interval=1.0 if limited else None,
    )
    events: dict[int, asyncio.Event] = {}
    received: dict[int, int] = {}
    recipients = set(config["recipients"])
    all_received = asyncio.Event()
    reached: list[tuple[float, int]] = []
    """When the broadcast had reached everyone, and the calls made by then."""

    def changed(chat_id: int, message: Any) -> None:
        event = events.get(chat_id)
        if event is not None:
            event.set()
        if chat_id in recipients and message.text == BROADCAST_TEXT and not message.edits:
            received[chat_id] = received.get(chat_id, 0) + 1
            if len(received) == len(recipients):
                reached.append((time.perf_counter(), fake.limited_calls))
                all_received.set()

    fake.on_message.append(changed)
    conn.send(await fake.start())
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # the bot is starting
    await fake.wait_until(  # ready: it polls
        lambda: any(m == "getUpdates" for m, _p in fake.calls[-5:]), timeout=60
    )
    fake.calls.clear()
    rng = random.Random(7)
    latencies: list[float] = []
    done = 0
    actions = 0
    started = time.perf_counter()
    deadline = started + config["seconds"]
    calls_before = fake.limited_calls
    last_action = started

    def shown(chat: int) -> Any:
        for m in reversed(fake.sent[chat]):
            if m.buttons:
                return m.message_id, m.text, tuple(m.labels)
        return None

    async def person(user_id: int) -> None:
        nonlocal done, actions, last_action
        fake.person(user_id, first_name="P", last_name=str(user_id), language_code="en")
        event = events[user_id] = asyncio.Event()
        for kind, value, expect in config["script"]:
            if config["pace"]:
                await asyncio.sleep(rng.uniform(*config["pace"]))
            if time.perf_counter() > deadline:
                return
            before, activity = shown(user_id), fake.activity(user_id)
            event.clear()
            sent_at = time.perf_counter()
            if kind == "text":
                fake.send_text(user_id, value)
            else:
                fake.press(user_id, fake.last_with_buttons(user_id), value)
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    return
                event.clear()
                now_shown = shown(user_id)
                newer = now_shown is not None and (before is None or now_shown[0] >= before[0])
                if expect == "question" and newer and now_shown != before:
                    break
                if expect == "any" and fake.activity(user_id) != activity:
                    break
            latencies.append(time.perf_counter() - sent_at)
            actions += 1
            last_action = time.perf_counter()
        done += 1

    await asyncio.gather(*(person(p) for p in config["people"]))
    people_elapsed = last_action - started
    mine = set(config["people"])
    calls = sum(
        1
        for method, params in fake.calls
        if method != "answerCallbackQuery" and params.get("chat_id") in mine
    )
    if recipients:
        remaining = deadline - time.perf_counter()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_received.wait(), remaining)
        await asyncio.sleep(2.0)  # a double would come now
    conn.send(
        {
            "actions": actions,
            "done": done,
            "elapsed": people_elapsed,
            "latencies": latencies,
            "calls": calls,
            "all_calls": (reached[0][1] if reached else fake.limited_calls) - calls_before,
            "throttled": fake.throttled,
            "received": received,
            "total_elapsed": (reached[0][0] if reached else time.perf_counter()) - started,
        }
    )
    await loop.run_in_executor(None, conn.recv)
    await fake.stop()


# -- the bots ------------------------------------------------------------------------------


async def seed(database: Path, recipients: list[int]) -> None:
    """People the broadcast goes to, and the broadcast queued, as staff would."""
    from bot.broadcast import Segment, send
    from bot.campaign import load_campaign
    from storage.database import Database
    from storage.participants import create_participant

    now = datetime(2021, 5, 25, 9, 0, tzinfo=ZoneInfo("Europe/Oslo"))
    db = await Database.open(database)
    try:

        async def people(tx: Any) -> None:
            for user in recipients:
                await create_participant(tx, "telegram", "", str(user), "en", now)

        await db.transact(people)
        await send(
            db,
            load_campaign(),
            Segment("everyone", platform="telegram"),
            {"nb": BROADCAST_TEXT},
            "broadcast:bench",
            now,
        )
    finally:
        await db.close()


async def run_shipped(base_url: str, workdir: Path) -> Any:
    """The real ``participation-bot run`` in its own process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=base_url,
        DATABASE_PATH=str(workdir / "ours.sqlite3"),
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(ROOT),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handlers", "run", "--now", NOW, env=env, cwd=str(ROOT)
    )

    async def stop() -> float:
        asked = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        await process.wait()
        return time.perf_counter() - asked

    return stop


async def run_unlimited(base_url: str, workdir: Path) -> Any:
    """Ours with no limits at all: NOT the shipped configuration (CPU headroom only)."""
    import gc

    from bot import heap
    from bot.budget import Budget
    from bot.campaign import load_campaign
    from bot.clock import FixedClock
    from bot.engine import Engine
    from handlers.telegram import TelegramHandler, build_bot
    from storage.database import Database

    db = await Database.open(workdir / "unlimited.sqlite3")
    clock = FixedClock(datetime(2021, 5, 25, 10, 0, tzinfo=ZoneInfo("Europe/Oslo")))
    engine = Engine(load_campaign(), db, clock)
    budget = Budget(rate=None, per_key_interval=0.0)
    handler = TelegramHandler(engine, build_bot(TOKEN, base_url), budget=budget)
    await handler.start()
    threshold = gc.get_threshold()
    heap.settle()
    task = asyncio.create_task(handler.poll())

    async def stop() -> float:
        heap.unsettle(threshold)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await handler.stop()
        await db.close()
        return 0.0

    return stop


async def run_plain(base_url: str, workdir: Path, errors: list[str]) -> Any:
    """The plain bot: PTB's defaults (no rate limiter), the same questions."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import (
        Application,
        CallbackQueryHandler,
        CommandHandler,
        ContextTypes,
        ConversationHandler,
        MessageHandler,
        PicklePersistence,
        filters,
    )

    from bot.campaign import load_campaign

    survey = load_campaign().survey
    assert survey is not None
    questions = survey.questions
    lang = "en"

    def visible(index: int, answers: dict[str, Any]) -> bool:
        cond = questions[index].show_if
        if cond is None:
            return True
        value = answers.get(cond.question)
        given = value if isinstance(value, list) else [] if value is None else [str(value)]
        return bool(set(given) & set(cond.any_of))

    def next_index(index: int, answers: dict[str, Any]) -> int:
        index += 1
        while index < len(questions) and not visible(index, answers):
            index += 1
        return index

    def markup(index: int, ticked: list[str]) -> InlineKeyboardMarkup:
        q = questions[index]
        rows = []
        if q.type in ("single", "multi"):
            for o in q.options:
                mark = "\u2705 " if o.id in ticked else ""
                rows.append([InlineKeyboardButton(mark + o.label.root[lang], callback_data=o.id)])
            if q.type == "multi":
                rows.append([InlineKeyboardButton("Done", callback_data="#done")])
        elif q.type == "scale":
            rows.append(
                [
                    InlineKeyboardButton(str(v), callback_data=str(v))
                    for v in range(q.min, q.max + 1)
                ]
            )
        elif q.type == "yes_no":
            rows.append(
                [
                    InlineKeyboardButton("Yes", callback_data="yes"),
                    InlineKeyboardButton("No", callback_data="no"),
                ]
            )
        if not q.required:
            rows.append([InlineKeyboardButton("Skip", callback_data="#skip")])
        rows.append([InlineKeyboardButton("Pause", callback_data="#pause")])
        return InlineKeyboardMarkup(rows)

    async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE, index: int) -> int:
        chat = update.effective_chat
        assert chat is not None and context.user_data is not None
        if index >= len(questions):
            await context.bot.send_message(chat.id, "Thank you for your answers!")
            return ConversationHandler.END
        context.user_data["ticked"] = []
        q = questions[index]
        await context.bot.send_message(
            chat.id, f"Question {index + 1}\n\n{q.text.root[lang]}", reply_markup=markup(index, [])
        )
        return index

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
        assert context.user_data is not None
        context.user_data["answers"] = {}
        return await ask(update, context, 0)

    def make_answer(index: int) -> Any:
        async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            query = update.callback_query
            assert query is not None and context.user_data is not None
            await query.answer()
            q = questions[index]
            data = query.data or ""
            answers = context.user_data["answers"]
            if q.type == "multi" and not data.startswith("#"):
                ticked = context.user_data["ticked"]
                ticked.remove(data) if data in ticked else ticked.append(data)
                await query.edit_message_reply_markup(markup(index, ticked))
                return index
            answers[q.id] = (
                list(context.user_data["ticked"])
                if data == "#done"
                else None
                if data == "#skip"
                else data
            )
            await query.edit_message_text(f"{query.message.text}\n\n\u2714 {data}")  # type: ignore[union-attr]
            return await ask(update, context, next_index(index, answers))

        async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
            assert update.message is not None and context.user_data is not None
            answers = context.user_data["answers"]
            answers[questions[index].id] = update.message.text
            return await ask(update, context, next_index(index, answers))

        return [CallbackQueryHandler(on_button), MessageHandler(filters.TEXT, on_text)]

    warnings.filterwarnings("ignore", message=".*per_message.*")
    conversation = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={i: make_answer(i) for i in range(len(questions))},
        fallbacks=[],
        persistent=True,
        name="survey",
        per_message=False,
    )
    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(base_url)
        .persistence(PicklePersistence(workdir / "plain.pickle"))
        .build()
    )
    app.add_handler(conversation)

    async def failed(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        errors.append(type(context.error).__name__)

    app.add_error_handler(failed)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=10)

    async def stop() -> float:
        assert app.updater is not None
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        return 0.0

    return stop


async def measure(
    bot: str,
    people: list[int],
    script: str,
    seconds: float,
    *,
    limited: bool = True,
    pace: tuple[float, float] | None = None,
    recipients: list[int] | None = None,
) -> dict[str, Any]:
    parent, child = mp.Pipe()
    config = {
        "people": people,
        "script": SCRIPTS[script],
        "seconds": seconds,
        "limited": limited,
        "pace": pace,
        "recipients": recipients or [],
    }
    process = mp.get_context("spawn").Process(target=fake_process, args=(child, config))
    process.start()
    loop = asyncio.get_running_loop()
    base_url = await loop.run_in_executor(None, parent.recv)
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if recipients:
            await seed(workdir / "ours.sqlite3", recipients)
        if bot == "shipped":
            stop = await run_shipped(base_url, workdir)
        elif bot == "unlimited":
            stop = await run_unlimited(base_url, workdir)
        else:
            stop = await run_plain(base_url, workdir, errors)
        parent.send("ready")
        result = await loop.run_in_executor(None, parent.recv)
        result["stop_s"] = await stop()
    parent.send("bye")
    await loop.run_in_executor(None, process.join)
    latencies = sorted(result["latencies"]) or [0.0]
    received = result["received"]
    return {
        "actions_per_s": result["actions"] / max(result["elapsed"], 1e-9),
        "calls_per_action": result["calls"] / max(result["actions"], 1),
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] * 1000,
        "throttled": result["throttled"],
        "finished": result["done"],
        "people": len(people),
        "actions": result["actions"],
        "errors": errors,
        "broadcast_missed": sum(1 for r in recipients or [] if r not in received),
        "broadcast_duplicates": sum(1 for n in received.values() if n > 1),
        "total_calls_per_s": result["all_calls"] / max(result["total_elapsed"], 1e-9),
        "total_elapsed": result["total_elapsed"],
        "stop_s": result["stop_s"],
    }


def line(title: str, r: dict[str, Any]) -> str:
    return (
        f"{title}: {r['actions_per_s']:.1f} actions/s, {r['calls_per_action']:.2f} calls per "
        f"action, p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, {r['throttled']} 429s, "
        f"{r['finished']}/{r['people']} finished"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500, help="the burst's people")
    parser.add_argument("--broadcast", type=int, default=3000, help="the broadcast's size")
    parser.add_argument("--paced", type=int, default=100, help="people during the broadcast")
    parser.add_argument("--unlimited-people", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=900.0, help="cap per scenario")
    parser.add_argument("--quick", action="store_true", help="small numbers, to try it")
    args = parser.parse_args()
    if args.quick:
        args.people, args.broadcast, args.paced, args.unlimited_people = 60, 300, 10, 200
        args.seconds = min(args.seconds, 120.0)
    flow_calls = 1.0  # one call per action where the flow allows; the script's own need below
    print(
        "Fake Bot API enforcing Telegram's limits: 30 calls/s in any sliding second, "
        "1/s per chat, every call naming a chat but answerCallbackQuery; 429 beyond."
    )

    burst = await measure(
        "shipped", list(range(10_000, 10_000 + args.people)), "ours", args.seconds
    )
    print(line(f"1. burst, {args.people} people, shipped bot", burst))
    ideal = 30 / (burst["calls_per_action"] or flow_calls)
    print(
        f"   physical limit at {burst['calls_per_action']:.2f} calls per action: "
        f"{ideal:.1f} actions/s; reached {burst['actions_per_s'] / ideal:.0%}; "
        f"SIGTERM to exit: {burst['stop_s']:.1f} s"
    )

    recipients = list(range(200_000, 200_000 + args.broadcast))
    during = await measure(
        "shipped",
        list(range(20_000, 20_000 + args.paced)),
        "ours",
        args.seconds,
        pace=(5.0, 10.0),
        recipients=recipients,
    )
    print(
        line(f"2. {args.paced} people at a human pace during a {args.broadcast} broadcast", during)
    )
    print(
        f"   broadcast: {args.broadcast - during['broadcast_missed']}/{args.broadcast} reached, "
        f"{during['broadcast_missed']} missed, {during['broadcast_duplicates']} twice, "
        f"in {during['total_elapsed']:.0f} s; all calls together (people and broadcast) "
        f"{during['total_calls_per_s']:.1f}/s until it was done"
    )

    plain = await measure("plain", list(range(30_000, 30_000 + args.people)), "plain", 120.0)
    print(line(f"3. burst, {args.people} people, plain PTB bot (no limiter)", plain))
    lost = args.people - plain["finished"]
    print(
        f"   {plain['throttled']} calls refused with 429; {lost} people never got an answer to "
        f"some action within 120 s (the handler raised {len(plain['errors'])} errors: "
        f"{sorted(set(plain['errors']))}): those answers are lost"
    )

    print("Secondary, NOT the shipped configuration (no limits anywhere: CPU headroom only):")
    n = args.unlimited_people
    ours_u = await measure(
        "unlimited", list(range(40_000, 40_000 + n)), "ours", 60.0, limited=False
    )
    plain_u = await measure("plain", list(range(50_000, 50_000 + n)), "plain", 60.0, limited=False)
    print(line(f"   ours, unlimited budget, {n} people", ours_u))
    print(line(f"   plain, {n} people", plain_u))

    figures = {
        "burst_people": args.people,
        "burst_actions_per_s": round(burst["actions_per_s"], 1),
        "calls_per_action": round(burst["calls_per_action"], 2),
        "burst_finished": burst["finished"],
        "burst_429": burst["throttled"],
        "burst_p95_ms": round(burst["p95_ms"]),
        "during_broadcast_p95_ms": round(during["p95_ms"]),
        "during_broadcast_429": during["throttled"],
        "broadcast_missed": during["broadcast_missed"],
        "broadcast_duplicates": during["broadcast_duplicates"],
        "plain_finished": plain["finished"],
        "plain_429": plain["throttled"],
        "unlimited_ours_actions_per_s": round(ours_u["actions_per_s"], 1),
        "unlimited_plain_actions_per_s": round(plain_u["actions_per_s"], 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    warnings.filterwarnings("ignore", message=".*per_message.*")
    asyncio.run(main())
