"""How long the results take for a big consultation, and whether others wait meanwhile.

Fills a SQLite file with N random submitted responses to the shipped campaign's survey
(default 10,000; values drawn from each question's type, no question ids in this code), then
times the read, the shaping with charts, the xlsx, the HTML report and its PDF (headless
Chromium; skipped when it is not installed). Then, while staff's results file is made the way
the chat makes it (``ResultsFiles.prepare``: read on the reader, made in a thread), other
people keep sending events, and their slowest reply is compared with the old way (everything
inside one writer transaction, no charts); the same again for the PDF report when Chromium is
there. Ends with one JSON line.

    python benchmarks/export.py [--responses 10000] [--people 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.campaign import Campaign, Question, load_campaign  # noqa: E402
from bot.clock import FixedClock  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.export import html_report, xlsx_bytes  # noqa: E402
from bot.messages import Incoming, Kind, Outgoing, ParticipantRef  # noqa: E402
from bot.report import chromium, print_to_pdf  # noqa: E402
from bot.results import read_results, shape_results  # noqa: E402
from bot.staff import RESULTS_FILE, ResultsFiles, ResultsRequest  # noqa: E402
from storage.database import Database, Transaction  # noqa: E402
from storage.participants import create_participant  # noqa: E402
from storage.responses import record_answer, start_response, submit_response  # noqa: E402
from tests.conftest import oslo  # noqa: E402

NOW = oslo(2021, 6, 1, 12, 0)


def random_value(q: Question, campaign: Campaign, rng: random.Random) -> Any:
    if q.type == "single":
        return rng.choice(q.options).id
    if q.type == "multi":
        return [o.id for o in rng.sample(q.options, rng.randint(1, q.max_choices or 3))]
    if q.type == "scale":
        return rng.randint(q.min, q.max)
    if q.type == "yes_no":
        return rng.choice(["yes", "no"])
    if q.type == "municipality":
        return rng.choice(campaign.municipalities)
    return rng.choice(["More books", "Longer opening hours", "A quiet room", "Coffee"])


async def fill(db: Database, campaign: Campaign, responses: int) -> None:
    survey = campaign.survey
    assert survey is not None
    rng = random.Random(1)

    async def chunk(tx: Transaction, start: int) -> None:
        for n in range(start, min(start + 500, responses)):
            person = await create_participant(tx, "bench", "", f"p{n}", "nb", NOW)
            response = await start_response(tx, person.id, campaign.id, survey.id, NOW)
            for q in survey.questions:
                value = json.dumps(random_value(q, campaign, rng), ensure_ascii=False)
                record_answer(tx, response.id, q.id, value, False, NOW)
            submit_response(tx, response.id, NOW)

    for start in range(0, responses, 500):
        await db.transact(lambda tx, start=start: chunk(tx, start))


async def others_meanwhile(engine: Engine, people: int, work: asyncio.Future[Any]) -> list[float]:
    """Seconds each event of ``people`` others took while ``work`` runs (one after another)."""
    waits: list[float] = []
    n = 0
    while not work.done():
        ref = ParticipantRef(platform="bench", user_id=f"other{n % people}")
        incoming = Incoming(ref=ref, event_id=f"e{time.monotonic_ns()}", kind=Kind.COMMAND)
        incoming = incoming.model_copy(update={"command": "meetings"})
        began = time.perf_counter()
        await engine.handle(incoming)
        engine.replies_sent(incoming)
        waits.append(time.perf_counter() - began)
        n += 1
    await work
    return waits


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=20)
    args = parser.parse_args()
    campaign = load_campaign(None)
    clock = FixedClock(NOW)
    figures: dict[str, float] = {"responses": args.responses}
    with tempfile.TemporaryDirectory() as folder:
        async with await Database.open(Path(folder) / "export.sqlite3") as db:
            began = time.perf_counter()
            await fill(db, campaign, args.responses)
            print(f"filled {args.responses} responses in {time.perf_counter() - began:.1f} s")

            began = time.perf_counter()
            recorded = await db.read(lambda tx: read_results(tx, campaign))
            figures["read_s"] = time.perf_counter() - began
            began = time.perf_counter()
            results = shape_results(recorded, campaign, NOW)
            figures["shape_with_charts_s"] = time.perf_counter() - began
            began = time.perf_counter()
            xlsx = xlsx_bytes(results)
            figures["xlsx_s"] = time.perf_counter() - began
            figures["xlsx_mb"] = len(xlsx) / 1e6
            began = time.perf_counter()
            page = html_report(results)
            figures["html_s"] = time.perf_counter() - began
            figures["html_mb"] = len(page.encode()) / 1e6
            if chromium() is not None:
                began = time.perf_counter()
                pdf = await asyncio.to_thread(print_to_pdf, page)
                figures["pdf_s"] = time.perf_counter() - began
                figures["pdf_mb"] = len(pdf) / 1e6
                del pdf
            del recorded, results, xlsx, page  # a running bot does not hold them either
            gc.collect()

            engine = Engine(campaign, db, clock)
            await others_meanwhile(engine, args.people, asyncio.ensure_future(asyncio.sleep(1)))
            idle = await others_meanwhile(
                engine, args.people, asyncio.ensure_future(asyncio.sleep(2))
            )

            async def old_way(tx: Transaction) -> bytes:
                # As the chat did before: read, shape and write inside the writer's transaction.
                recorded = await read_results(tx, campaign)
                return xlsx_bytes(shape_results(recorded, campaign, NOW, charts=False))

            old = await others_meanwhile(
                engine, args.people, asyncio.ensure_future(db.transact(old_way))
            )
            files = ResultsFiles(db, lambda _c: campaign, clock)
            request = ResultsRequest(format="xlsx", lang="nb", reply=Outgoing(text="results"))
            began = time.perf_counter()
            new = await others_meanwhile(
                engine,
                args.people,
                asyncio.ensure_future(files.prepare(request.model_dump_json())),
            )
            figures["chat_file_with_charts_s"] = time.perf_counter() - began
            assert RESULTS_FILE in files.preparers()
            if chromium() is not None:
                request = request.model_copy(update={"format": "pdf"})
                began = time.perf_counter()
                pdf_meanwhile = await others_meanwhile(
                    engine,
                    args.people,
                    asyncio.ensure_future(files.prepare(request.model_dump_json())),
                )
                figures["chat_pdf_s"] = time.perf_counter() - began
                figures["others_p50_ms_pdf"] = 1000 * statistics.median(pdf_meanwhile)
                figures["others_max_ms_pdf"] = 1000 * max(pdf_meanwhile)
    # What others still feel: the file is made in a thread, so they wait for the GIL's turns
    # and for the full garbage collections its many objects cause (they stop every thread).
    figures["others_idle_p50_ms"] = 1000 * statistics.median(idle)
    figures["others_max_ms_old_in_writer"] = 1000 * max(old)
    figures["others_max_ms_new"] = 1000 * max(new)
    figures["others_p50_ms_new"] = 1000 * statistics.median(new)
    for name, value in figures.items():
        print(f"{name:32} {value:10.3f}")
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}))


if __name__ == "__main__":
    asyncio.run(main())
