"""Our Slack app against a plain slack-bolt app, on the same fake Slack.

N simulated people (default 1,000, all at once) take the survey of the shipped campaign in
their DM with the app. The fake Slack Web API (tests/fakes/slack.py) and the people (its
``SlackDriver``: signed Events API and interactivity requests, buttons found by their label)
run in a second process, as Slack would be elsewhere, so the app's process is measured
alone. Against them run, one after the other in the same run, each on a fresh fake:

(a) ours: ``handlers.slack`` on the engine. A request is acknowledged only after the
    engine committed what it carries to SQLite (bolt's ``process_before_response=True``);
    the replies go out after the acknowledgement. It asks users.info once per person (the
    locale). The garbage collector is settled as ``participation-bot run`` settles it
    (``bot/heap.py``: the long-lived heap frozen, young objects collected less often).
(b) plain: a slack-bolt ``AsyncApp`` written as its documentation shows, with its defaults
    (``process_before_response=False``: bolt acknowledges, then runs the listener; or
    ``--plain-before-response``), asking the same questions as sections, buttons and tick
    boxes (with Skip, Back and Pause) and keeping the answers in a dict; Python's collector
    settings (or ``--plain-settled``: ours, to see what they alone are worth).

Both are served the same way (bolt's aiohttp adapter on an aiohttp ``AppRunner`` on
127.0.0.1) and send through an ``AsyncWebClient`` on one shared aiohttp session. Both
answer the same way: a pressed question is closed showing the choice (chat.update) and the
next one sent (chat.postMessage); a ticked box is only kept (Slack shows the tick itself).

Every person walks the same path (menu, privacy notice, role, municipality typed, use,
two multi-selects ticked, a scale, a goal ticked, ideas skipped, no to follow-up, send):
16 requests each. A request counts when the app answered it and the reply it waits for
reached the fake; latency is the time from sending the request to that reply's Web API
call (the last of the chat.update/chat.postMessage calls that answer it). A run ends when
everyone finished or after ``--seconds``. Prints requests/s of each, the ratio, latencies,
the app process's CPU time per request (the steadier figure on a busy machine), what was
stored, and one JSON line of the figures.

    python benchmarks/slack_load.py [--people 1000] [--quick] [--seconds 60]
        [--api-latency-ms 0] [--plain-before-response] [--plain-settled]
        [--only ours|plain]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SECRET = "bench-signing-secret"
TEAM = "T0BENCH01"
FIRST_USER = 100_000

# What a person does, and the replies that answer it: (kind, label, postMessages, updates).
STEPS: list[tuple[str, str, int, int]] = [
    ("message", "hi", 1, 0),  # the main menu
    ("press", "Take the survey", 1, 1),  # the privacy notice
    ("press", "OK, go on", 2, 1),  # the survey's intro, question 1
    ("press", "Resident", 1, 1),
    ("message", "Asker", 1, 0),
    ("press", "Every week", 1, 1),
    ("check", "Borrow books", 0, 0),  # answered by the acknowledgement alone
    ("press", "Done", 1, 1),
    ("check", "Getting people reading", 0, 0),
    ("press", "Done", 1, 1),
    ("press", "4", 1, 1),
    ("check", "4 Quality education", 0, 0),
    ("press", "Done", 1, 1),
    ("press", "Skip", 1, 1),  # ideas
    ("press", "No", 1, 1),  # follow the process: the review comes next
    ("press", "Send my answers", 1, 1),
]

Stop = Callable[[], Awaitable[dict[str, Any]]]
SENT_AT: ContextVar[float] = ContextVar("SENT_AT", default=0.0)
"""When the person's last request left the driver, signed and ready (per person task)."""


# -- the fake Slack and the people, in their own process ----------------------------------


@dataclass
class Tally:
    """The reply calls the fake saw for one person, and when it saw the last one."""

    posts: int = 0
    updates: int = 0
    at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


def people_process(conn: Any, people: int, latency: float, seconds: float) -> None:
    asyncio.run(_people_main(conn, people, latency, seconds))


async def _people_main(conn: Any, people: int, latency: float, seconds: float) -> None:
    import aiohttp

    from tests.fakes.slack import FakeSlack, SlackDriver

    class BenchSlack(FakeSlack):
        """The fake, telling each person when a reply call for them arrived."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.tallies: dict[str, Tally] = {}

        def _seen(self, channel: str, *, post: bool) -> None:
            tally = self.tallies.get(channel.removeprefix("D"))
            if tally is not None:
                if post:
                    tally.posts += 1
                else:
                    tally.updates += 1
                tally.at = time.perf_counter()
                tally.changed.set()

        async def _chat_post_message(self, token: Any, params: dict[str, Any]) -> Any:
            result = await super()._chat_post_message(token, params)
            self._seen(result["channel"], post=True)
            return result

        async def _chat_update(self, token: Any, params: dict[str, Any]) -> Any:
            result = await super()._chat_update(token, params)
            self._seen(result["channel"], post=False)
            return result

    class BenchDriver(SlackDriver):
        """The driver without aiohttp's default cap of 100 connections (Slack has none),
        noting when each request leaves and how big it is."""

        body_bytes = 0

        @property
        def session(self) -> aiohttp.ClientSession:
            if self._session is None:
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            return self._session

        async def post(self, body: str, content_type: str, **kw: Any) -> Any:
            self.body_bytes += len(body)
            SENT_AT.set(time.perf_counter())
            return await super().post(body, content_type, **kw)

    fake = BenchSlack(latency=latency)
    api_url = await fake.start()
    token = fake.add_team(TEAM, "Bench workspace")
    users = [f"U{FIRST_USER + i}" for i in range(people)]
    for number, user in enumerate(users):
        fake.add_user(TEAM, user, f"Person {number}", "en-US")
        fake.tallies[user] = Tally()
    conn.send((api_url, token))
    loop = asyncio.get_running_loop()
    app_url = await loop.run_in_executor(None, conn.recv)
    driver = BenchDriver(app_url, SECRET, fake)
    latencies: list[float] = []
    failures: list[str] = []
    requests = 0
    done = 0
    cpu_before = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds

    async def person(user: str) -> None:
        nonlocal requests, done
        tally = fake.tallies[user]
        for kind, label, posts, updates in STEPS:
            want = (tally.posts + posts, tally.updates + updates)
            try:
                if kind == "message":
                    response = await driver.message(TEAM, user, label)
                elif kind == "press":
                    response = await driver.press(TEAM, user, label)
                else:
                    response = await driver.check(TEAM, user, [label])  # type: ignore[assignment]
            except (AssertionError, aiohttp.ClientError) as exc:
                failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:200]}")
                return
            if response is None or response.status != 200:
                failures.append(f"{label}: HTTP {response and response.status}")
                return
            while tally.posts < want[0] or tally.updates < want[1]:
                tally.changed.clear()
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(tally.changed.wait(), remaining)
                except TimeoutError:
                    return
            if posts or updates:
                latencies.append(tally.at - SENT_AT.get())
            else:
                latencies.append(response.elapsed)
            requests += 1
        done += 1

    await asyncio.gather(*(person(user) for user in users))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    conn.send(
        {
            "requests": requests,
            "done": done,
            "elapsed": elapsed,
            "latencies": latencies,
            "failures": failures[:5],
            "failed": len(failures),
            "fake_cpu": cpu,
            "body_bytes": driver.body_bytes,
        }
    )
    await loop.run_in_executor(None, conn.recv)
    await driver.close()
    await fake.stop()


# -- the two apps, in this process --------------------------------------------------------


async def _serve(web_app: Any) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Serve an aiohttp application on a free port of 127.0.0.1, as both apps are."""
    from aiohttp import web

    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return f"http://127.0.0.1:{port}/slack/events", runner.cleanup


async def start_ours(api_url: str, token: str, workdir: Path) -> tuple[str, Stop]:
    from bot import heap
    from bot.campaign import load_campaign
    from bot.clock import FixedClock
    from bot.engine import Engine
    from handlers.slack import SlackHandler
    from storage.database import Database

    campaign = load_campaign(None)
    db = await Database.open(workdir / "ours.sqlite3")
    clock = FixedClock(campaign.aware(datetime(2021, 5, 25, 10)))
    engine = Engine(campaign, db, clock)
    handler = SlackHandler(engine, clock, signing_secret=SECRET, token=token, api_url=api_url)
    await handler.start()
    url, close = await _serve(handler.web_app())
    threshold = gc.get_threshold()
    heap.settle()  # as `participation-bot run` does once it serves

    async def stop() -> dict[str, Any]:
        heap.unsettle(threshold)  # Python's defaults again for the plain app
        await close()
        await handler.stop()

        async def count(tx: Any) -> dict[str, Any]:
            sent = await tx.fetchone("SELECT count(*) FROM responses WHERE status = 'submitted'")
            answers = await tx.fetchone("SELECT count(*) FROM answers")
            return {"surveys_stored": sent[0], "answers_stored": answers[0]}

        stored = await db.transact(count)
        await db.close()
        return stored

    return url, stop


async def start_plain(
    api_url: str,
    token: str,
    workdir: Path,
    *,
    before_response: bool = False,
    settled: bool = False,
) -> tuple[str, Stop]:
    """A survey bot as the slack-bolt documentation writes one: listeners that ack, then
    answer with ``say`` / ``client.chat_update``; answers in memory. ``before_response``:
    bolt's ``process_before_response`` (acknowledge after the listener, as for FaaS)."""
    import re

    import aiohttp
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.campaign import load_campaign

    campaign = load_campaign(None)
    survey = campaign.survey
    assert survey is not None and campaign.privacy is not None
    lang = "en"
    questions = survey.questions
    towns = {name.casefold(): name for name in campaign.municipalities}
    answers: dict[str, dict[str, Any]] = {}
    at: dict[str, int] = {}
    asked: dict[str, list[int]] = {}
    ticked: dict[str, list[str]] = {}

    session = aiohttp.ClientSession()
    client = AsyncWebClient(token=token, base_url=api_url, session=session)
    app = AsyncApp(signing_secret=SECRET, client=client, process_before_response=before_response)

    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text}}

    def button(label: str, action_id: str, value: str = "") -> dict[str, Any]:
        return {
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "action_id": action_id,
            "value": value or action_id,
        }

    def closed(body: dict[str, Any], chosen: str) -> dict[str, Any]:
        text = body["message"]["text"]
        blocks = [
            section(text),
            {"type": "context", "elements": [section(f"\u2713 {chosen}")["text"]]},
        ]
        return {
            "channel": body["channel"]["id"],
            "ts": body["message"]["ts"],
            "text": text,
            "blocks": blocks,
        }

    def visible(index: int, given: dict[str, Any]) -> bool:
        cond = questions[index].show_if
        if cond is None:
            return True
        value = given.get(cond.question)
        chosen = value if isinstance(value, list) else [] if value is None else [value]
        return bool(set(chosen) & set(cond.any_of))

    def next_index(index: int, given: dict[str, Any]) -> int:
        index += 1
        while index < len(questions) and not visible(index, given):
            index += 1
        return index

    def question_blocks(index: int, chosen: list[str]) -> tuple[str, list[dict[str, Any]]]:
        q = questions[index]
        text = f"Question {index + 1} of {len(questions)}\n\n*{q.text.root[lang]}*"
        if q.hint is not None:
            text += f"\n{q.hint.root[lang]}"
        blocks = [section(text)]
        row: list[dict[str, Any]] = []
        if q.type == "single":
            row = [
                button(o.label.root[lang], f"answer_{n}", o.id) for n, o in enumerate(q.options)
            ]
        elif q.type == "scale":
            row = [button(str(v), f"answer_{v}", str(v)) for v in range(q.min, q.max + 1)]
        elif q.type == "yes_no":
            row = [button("Yes", "answer_yes", "yes"), button("No", "answer_no", "no")]
        elif q.type == "multi":
            options = [
                {"text": {"type": "plain_text", "text": o.label.root[lang]}, "value": o.id}
                for o in q.options
            ]
            boxes: dict[str, Any] = {"type": "checkboxes", "action_id": "tick", "options": options}
            initial = [o for o in options if o["value"] in chosen]
            if initial:
                boxes["initial_options"] = initial
            blocks.append({"type": "actions", "block_id": "tick", "elements": [boxes]})
            row = [button("Done", "done")]
        elif q.type == "municipality":
            blocks.append(section("Type the name of your municipality."))
        if not q.required:
            row.append(button("Skip", "skip"))
        if index > 0:
            row.append(button("Back", "back"))
        row.append(button("Pause (answers are saved)", "pause"))
        blocks.append({"type": "actions", "elements": row})
        return text, blocks

    async def ask(user: str, index: int, say: Any, before: str = "") -> None:
        at[user] = index
        asked.setdefault(user, []).append(index)
        ticked[user] = []
        if index >= len(questions):
            lines = [
                f"{n}. {(q.short or q.text).root[lang]}: {answers[user].get(q.id) or '-'}"
                for n, q in enumerate(questions, 1)
                if q.id in answers[user]
            ]
            text = "Please check your answers:\n" + "\n".join(lines)
            row = [button("Send my answers", "send")]
            await say(text=text, blocks=[section(text), {"type": "actions", "elements": row}])
            return
        text, blocks = question_blocks(index, [])
        if before:
            text = f"{before}\n\n{text}"
            blocks[0] = section(text)
        await say(text=text, blocks=blocks)

    def answer_and_next(user: str, value: Any) -> int:
        index = at[user]
        answers[user][questions[index].id] = value
        return next_index(index, answers[user])

    @app.event("message")
    async def on_message(event: dict[str, Any], say: Any) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        user = event["user"]
        text = str(event.get("text") or "").strip()
        index = at.get(user)
        if index is not None and index < len(questions):
            q = questions[index]
            if q.type == "municipality":
                town = towns.get(text.casefold())
                if town is None:
                    await say(text="I do not know that municipality. Try again.")
                    return
                await ask(user, answer_and_next(user, town), say, f"Chosen: {town}")
                return
            if q.type == "text":
                await ask(user, answer_and_next(user, text), say)
                return
        title = campaign.campaign.title.root[lang]
        menu = f"Hello! This is the chat about {title}. What would you like to do?"
        row = [button("Take the survey", "survey")]
        await say(text=menu, blocks=[section(menu), {"type": "actions", "elements": row}])

    @app.action("survey")
    async def on_survey(ack: Any, body: dict[str, Any], client: Any, say: Any) -> None:
        await ack()
        await client.chat_update(**closed(body, "Take the survey"))
        notice = campaign.privacy.notice.root[lang]  # type: ignore[union-attr]
        row = [button("OK, go on", "notice_ok")]
        await say(text=notice, blocks=[section(notice), {"type": "actions", "elements": row}])

    @app.action("notice_ok")
    async def on_notice(ack: Any, body: dict[str, Any], client: Any, say: Any) -> None:
        await ack()
        user = body["user"]["id"]
        answers[user] = {}
        await client.chat_update(**closed(body, "OK, go on"))
        await say(text=survey.intro.root[lang])
        await ask(user, 0, say)

    @app.action(re.compile(r"^answer_"))
    async def on_answer(
        ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any, say: Any
    ) -> None:
        await ack()
        user = body["user"]["id"]
        await client.chat_update(**closed(body, action["text"]["text"]))
        await ask(user, answer_and_next(user, action["value"]), say)

    @app.action("tick")
    async def on_tick(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        user = body["user"]["id"]
        # Slack shows the ticks itself: a plain app only keeps them (as ours does).
        ticked[user] = [o["value"] for o in action["selected_options"]]

    @app.action("done")
    async def on_done(ack: Any, body: dict[str, Any], client: Any, say: Any) -> None:
        await ack()
        user = body["user"]["id"]
        chosen = list(ticked[user])
        q = questions[at[user]]
        labels = [o.label.root[lang] for o in q.options if o.id in chosen]
        await client.chat_update(**closed(body, ", ".join(labels) or "-"))
        await ask(user, answer_and_next(user, chosen), say)

    @app.action("skip")
    async def on_skip(ack: Any, body: dict[str, Any], client: Any, say: Any) -> None:
        await ack()
        user = body["user"]["id"]
        await client.chat_update(**closed(body, "Skip"))
        await ask(user, answer_and_next(user, None), say)

    @app.action("back")
    async def on_back(ack: Any, body: dict[str, Any], client: Any, say: Any) -> None:
        await ack()
        user = body["user"]["id"]
        history = asked[user]
        history.pop()
        await client.chat_update(**closed(body, "Back"))
        await ask(user, history.pop() if history else 0, say)

    @app.action("pause")
    async def on_pause(ack: Any, body: dict[str, Any], client: Any, say: Any) -> None:
        await ack()
        at.pop(body["user"]["id"], None)
        await client.chat_update(**closed(body, "Pause"))
        await say(text="Your answers are saved. Write to me to go on.")

    @app.action("send")
    async def on_send(ack: Any, body: dict[str, Any], client: Any, say: Any) -> None:
        await ack()
        user = body["user"]["id"]
        answers[user]["#sent"] = True
        await client.chat_update(**closed(body, "Send my answers"))
        await say(text=survey.thanks.root[lang])

    url, close = await _serve(app.web_app())
    threshold = gc.get_threshold()
    if settled:
        from bot import heap

        heap.settle()

    async def stop() -> dict[str, Any]:
        if settled:
            heap.unsettle(threshold)
        await close()
        await session.close()
        sent = sum(1 for given in answers.values() if given.get("#sent"))
        kept = sum(len(given) - bool(given.get("#sent")) for given in answers.values())
        return {"surveys_stored": sent, "answers_stored": kept}

    return url, stop


# -- measuring ------------------------------------------------------------------------------


async def measure(
    which: str,
    people: int,
    latency: float,
    seconds: float,
    before_response: bool = False,
    settled: bool = False,
) -> dict[str, Any]:
    """One app against a fresh fake and its people in a spawned process."""
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(
        target=people_process, args=(child, people, latency, seconds)
    )
    process.start()
    loop = asyncio.get_running_loop()
    api_url, token = await loop.run_in_executor(None, parent.recv)
    with tempfile.TemporaryDirectory() as tmp:
        if which == "ours":
            url, stop = await start_ours(api_url, token, Path(tmp))
        else:
            url, stop = await start_plain(
                api_url, token, Path(tmp), before_response=before_response, settled=settled
            )
        gc.collect()
        cpu_before = time.process_time()
        parent.send(url)
        result = await loop.run_in_executor(None, parent.recv)
        cpu = time.process_time() - cpu_before
        stored = await stop()
    parent.send("bye")
    await loop.run_in_executor(None, process.join)
    latencies = sorted(result["latencies"]) or [0.0]
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    requests = result["requests"]
    return {
        "per_s": requests / result["elapsed"],
        "requests": requests,
        "finished": result["done"],
        "failed": result["failed"],
        "failures": result["failures"],
        "elapsed": result["elapsed"],
        "p95_ms": p95 * 1000,
        "median_ms": statistics.median(latencies) * 1000,
        "cpu_ms_per_request": cpu / max(requests, 1) * 1000,
        "app_cpu_share": cpu / result["elapsed"],
        "fake_cpu_share": result["fake_cpu"] / result["elapsed"],
        "body_bytes": result["body_bytes"] / max(requests, 1),
        **stored,
    }


def report(which: str, people: int, m: dict[str, Any]) -> None:
    print(
        f"{which:>5}: {m['per_s']:,.0f} requests/s ({m['requests']:,} in {m['elapsed']:.1f} s, "
        f"{m['finished']}/{people} finished), latency p95 {m['p95_ms']:.0f} ms, "
        f"median {m['median_ms']:.0f} ms; app CPU {m['cpu_ms_per_request']:.2f} ms/request "
        f"(busy {m['app_cpu_share']:.0%}, fake+people busy {m['fake_cpu_share']:.0%}); "
        f"{m['body_bytes']:,.0f} bytes/request; "
        f"stored {m['surveys_stored']} surveys, {m['answers_stored']} answers",
        flush=True,
    )
    if m["failed"]:
        print(f"       {m['failed']} people failed, e.g. {m['failures']}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=None, help="default 1000 (200 --quick)")
    parser.add_argument("--quick", action="store_true", help="200 people, 30 s at most each")
    parser.add_argument("--seconds", type=float, default=None, help="time limit per app")
    parser.add_argument("--api-latency-ms", type=float, default=0.0, help="added per API call")
    parser.add_argument("--only", choices=("ours", "plain"), help="measure one app (profiling)")
    parser.add_argument(
        "--plain-before-response",
        action="store_true",
        help="run the plain app with process_before_response=True (acks after its replies)",
    )
    parser.add_argument(
        "--plain-settled",
        action="store_true",
        help="give the plain app our garbage collector settings (bot/heap.py) too",
    )
    args = parser.parse_args()
    people = args.people or (200 if args.quick else 1000)
    seconds = args.seconds or (30.0 if args.quick else 60.0)
    latency = args.api_latency_ms / 1000
    print(
        f"{people} people, {len(STEPS)} requests each, API latency {args.api_latency_ms:.0f} ms",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {}
    for which in ("ours", "plain"):
        if args.only in (None, which):
            results[which] = await measure(
                which, people, latency, seconds, args.plain_before_response, args.plain_settled
            )
            report(which, people, results[which])
    if args.only:
        m = results[args.only]
        print(
            json.dumps(
                {f"{args.only}_per_s": round(m["per_s"], 1), "p95_ms": round(m["p95_ms"], 1)}
            )
        )
        return
    ours, plain = results["ours"], results["plain"]
    ratio = ours["per_s"] / plain["per_s"]
    by_cpu = plain["cpu_ms_per_request"] / ours["cpu_ms_per_request"]
    print(f"ratio ours/plain {ratio:.2f} (by app CPU per request: {by_cpu:.2f})", flush=True)
    print(
        json.dumps(
            {
                "ours_per_s": round(ours["per_s"], 1),
                "plain_per_s": round(plain["per_s"], 1),
                "ratio": round(ratio, 2),
                "p95_ms": round(ours["p95_ms"], 1),
                "plain_p95_ms": round(plain["p95_ms"], 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
