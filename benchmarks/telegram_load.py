"""Our Telegram bot against a plain python-telegram-bot bot, on the same fake Bot API.

N simulated people (default 1,000, all at once) take the survey of the shipped campaign
through a fake Bot API server (tests/fakes/telegram.py) that runs, with the simulated
people, in a second process, as the real Bot API would be elsewhere. Against it run, one
after the other in the same run:

(a) ours: ``handlers.telegram`` on the engine, every answer committed to SQLite before
    its reply; with the collector settled as ``participation-bot run`` settles it
    (``bot/heap.py``);
(b) plain: a python-telegram-bot ``Application`` with a ``ConversationHandler`` and
    ``PicklePersistence``, asking the same questions (its defaults: one update at a time,
    user data written to the pickle file now and then, not per answer).

Both answer a button the same way: answerCallbackQuery, the question edited to show the
choice, the next question sent. Each pair runs on the bare fake and again with
``--api-latency-ms`` (default 50) added to every API call, as a real round trip. A run ends
when everyone finished or after ``--seconds``. Prints updates/s of each, the ratio, the p95
time from a person's action to the bot's answer, and one JSON line of the figures.

    python benchmarks/telegram_load.py [--people 1000] [--seconds 30] [--api-latency-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOKEN = "123456:BENCH"

# What a person does, and whether the bot answers with a new message or an edit of the
# pressed one (multi-select ticks). Resident path: no youth questions, follow = no.
COMMON = [
    ("text", "/start survey", "new"),
    ("press", "Resident", "new"),
    ("text", "Asker", "new"),
    ("press", "Every week", "new"),
    ("press", "Borrow books", "edit"),
    ("press", "Done", "new"),
    ("press", "Getting people reading", "edit"),
    ("press", "Done", "new"),
    ("press", "4", "new"),
    ("press", "4 Quality education", "edit"),
    ("press", "Done", "new"),
    ("text", "Longer opening hours, please", "new"),
    ("press", "No", "new"),
]
SCRIPTS = {
    "ours": [
        COMMON[0],
        ("press", "OK, go on", "new"),
        *COMMON[1:],
        ("press", "Send my answers", "new"),
    ],
    "plain": COMMON,
}


# -- the fake Bot API and the people, in their own process --------------------------------


def fake_process(
    conn: Any, people: int, script: list[Any], latency: float, seconds: float
) -> None:
    asyncio.run(_fake_main(conn, people, script, latency, seconds))


async def _fake_main(
    conn: Any, people: int, script: list[Any], latency: float, seconds: float
) -> None:
    from tests.fakes.telegram import FakeTelegram

    fake = FakeTelegram(token=TOKEN, latency=latency)
    events: dict[int, asyncio.Event] = {}

    def changed(chat_id: int, _message: Any) -> None:
        event = events.get(chat_id)
        if event is not None:
            event.set()

    fake.on_message.append(changed)
    conn.send(await fake.start())
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # the bot is ready
    latencies: list[float] = []
    done = 0
    actions = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def person(user_id: int) -> None:
        nonlocal done, actions
        fake.person(user_id, first_name="P", last_name=str(user_id), language_code="en")
        event = events[user_id] = asyncio.Event()
        for kind, value, expect in script:
            if time.perf_counter() > deadline:
                return
            before_id = fake.last_with_buttons(user_id).message_id if fake.sent[user_id] else 0
            before_edits = fake.message(user_id, before_id).edits if before_id else 0
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
                sent = fake.sent[user_id]
                if expect == "new":
                    newest = next((m for m in reversed(sent) if m.buttons), None)
                    if newest is not None and newest.message_id > before_id:
                        break
                elif fake.message(user_id, before_id).edits > before_edits:
                    break
            latencies.append(time.perf_counter() - sent_at)
            actions += 1
        done += 1

    await asyncio.gather(*(person(10_000 + i) for i in range(people)))
    elapsed = time.perf_counter() - started
    conn.send({"actions": actions, "done": done, "elapsed": elapsed, "latencies": latencies})
    await loop.run_in_executor(None, conn.recv)
    await fake.stop()


# -- the two bots -----------------------------------------------------------------------


async def run_ours(base_url: str, workdir: Path) -> Any:
    import gc

    from bot import heap
    from bot.campaign import load_campaign
    from bot.clock import FixedClock
    from bot.engine import Engine
    from handlers.telegram import TelegramHandler, build_bot
    from storage.database import Database

    db = await Database.open(workdir / "ours.sqlite3")
    clock = FixedClock(datetime(2021, 5, 25, 10, 0, tzinfo=ZoneInfo("Europe/Oslo")))
    engine = Engine(load_campaign(), db, clock)
    # The fake has no rate limits and neither has the plain bot: measure the bots.
    handler = TelegramHandler(engine, build_bot(TOKEN, base_url, rate_limit=False))
    await handler.start()
    threshold = gc.get_threshold()
    heap.settle()  # as `participation-bot run` does once it serves
    task = asyncio.create_task(handler.poll())

    async def stop() -> None:
        heap.unsettle(threshold)  # Python's defaults again for the plain bot
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await handler.stop()
        await db.close()

    return stop


async def run_plain(base_url: str, workdir: Path) -> Any:
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
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=10)

    async def stop() -> None:
        assert app.updater is not None
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    return stop


async def measure(which: str, people: int, latency: float, seconds: float) -> dict[str, float]:
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(
        target=fake_process, args=(child, people, SCRIPTS[which], latency, seconds)
    )
    process.start()
    loop = asyncio.get_running_loop()
    base_url = await loop.run_in_executor(None, parent.recv)
    with tempfile.TemporaryDirectory() as tmp:
        stop = await (run_ours if which == "ours" else run_plain)(base_url, Path(tmp))
        parent.send("ready")
        result = await loop.run_in_executor(None, parent.recv)
        await stop()
    parent.send("bye")
    await loop.run_in_executor(None, process.join)
    latencies = sorted(result["latencies"]) or [0.0]
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    return {
        "updates_per_s": result["actions"] / result["elapsed"],
        "finished": result["done"],
        "p95_ms": p95 * 1000,
        "median_ms": statistics.median(latencies) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--api-latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    for label, latency in (("", 0.0), ("_50ms", args.api_latency_ms / 1000)):
        ours = await measure("ours", args.people, latency, args.seconds)
        plain = await measure("plain", args.people, latency, args.seconds)
        ratio = ours["updates_per_s"] / plain["updates_per_s"]
        title = f"API latency {latency * 1000:.0f} ms"
        print(
            f"{title}: ours {ours['updates_per_s']:,.0f} updates/s "
            f"({ours['finished']:.0f}/{args.people} finished, p95 {ours['p95_ms']:.0f} ms); "
            f"plain {plain['updates_per_s']:,.0f} updates/s "
            f"({plain['finished']:.0f}/{args.people} finished, p95 {plain['p95_ms']:.0f} ms); "
            f"ratio {ratio:.2f}"
        )
        if label:
            figures.update(
                {
                    "ours_updates_per_s_50ms": round(ours["updates_per_s"], 1),
                    "plain_updates_per_s_50ms": round(plain["updates_per_s"], 1),
                    "p95_ms_50ms": round(ours["p95_ms"], 1),
                    "ratio_50ms": round(ratio, 2),
                }
            )
        else:
            figures.update(
                {
                    "ours_updates_per_s": round(ours["updates_per_s"], 1),
                    "plain_updates_per_s": round(plain["updates_per_s"], 1),
                    "ratio": round(ratio, 2),
                    "p95_ms": round(ours["p95_ms"], 1),
                    "plain_p95_ms": round(plain["p95_ms"], 1),
                }
            )
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
