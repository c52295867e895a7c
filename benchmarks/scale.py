"""Telegram's webhook load on 1, 2 and 3 workers behind HAProxy on one PostgreSQL.

For each number of workers: a fresh database on a throwaway PostgreSQL server
(``tests/auxil/postgres.py``), that many real ``participation-bot run`` workers (Telegram in
webhook mode) behind HAProxy running the shipped ``deploy/haproxy.cfg``
(``tests/auxil/cluster.py``), and the fake Bot API enforcing Telegram's limits (30 calls a
second in all, one a second to one chat; ``FakeTelegram.limited``). ``--people`` simulated
people take the survey, each sending its next update (a press of the first option it sees,
or a typed answer) as soon as the previous one was acknowledged: a burst, the webhook taking
updates as fast as the workers commit them, the replies following at Telegram's pace.

Printed for each: updates acknowledged per second; CPU seconds per update of the workers,
of PostgreSQL (the server's processes, from /proc/<pid>/stat) and of HAProxy; the share of
the machine's cores each used (``nproc``); replies sent and 429s. Targets (ratios in this
run): CPU per update (workers + PostgreSQL) with 3 workers at most 1.2x that with 1, and
updates/s growing with workers until the cores are used. The last line is one JSON object.

    python benchmarks/scale.py [--people 100] [--seconds 15] [--workers 1,2,3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.auxil.cluster import (  # noqa: E402
    SLOTS,
    LoadBalancer,
    Worker,
    client_ssl,
    cpu_seconds,
    free_port,
)
from tests.auxil.postgres import PostgresServer  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402

WARM_UP = 3.0


def postgres_pids(server: PostgresServer) -> list[int]:
    """The server's postmaster and its children (backends, background workers)."""
    postmaster = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == postmaster:
                pids.append(int(entry.name))
    return pids


class Load:
    """People sending updates to the webhook, each the next once the last was acknowledged."""

    def __init__(self, fake: FakeTelegram, url: str, people: int) -> None:
        self.fake = fake
        self.url = url
        self.people = [50_000 + i for i in range(people)]
        self.acknowledged = 0
        self.failed = 0
        self.counting = False
        self.rng = random.Random(15)
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=client_ssl(), limit=people),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    def _next(self, user: int) -> int:
        if not self.fake.sent[user]:
            return self.fake.send_text(user, "/start survey")
        buttons = [m for m in reversed(self.fake.sent[user]) if m.buttons]
        if not buttons or self.rng.random() < 0.15:
            return self.fake.send_text(user, "Asker")
        message = buttons[0]
        data = [b["callback_data"] for b in message.buttons]
        choice = next((d for d in data if ":o:" in d or d.endswith(":ok")), None)
        choice = choice or next((d for d in data if ":t:" in d or d.endswith(":s")), data[0])
        return self.fake.press_data(user, message, choice)

    async def person(self, user: int, until: float) -> None:
        self.fake.person(user, first_name="Load", last_name=str(user))
        secret = self.fake.webhook["secret_token"]
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
        while time.monotonic() < until:
            body = json.dumps(self.fake.update(self._next(user)))
            try:
                async with self.session.post(self.url, data=body, headers=headers) as answer:
                    ok = answer.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok and self.counting:
                self.acknowledged += 1
            elif not ok:
                self.failed += 1
                await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self.session.close()


async def one_run(
    server: PostgresServer, workers: int, people: int, seconds: float
) -> dict[str, Any]:
    database = await server.fresh_database()
    fake = FakeTelegram.limited(token="123456:SCALE")
    await fake.start()
    ports = [free_port() for _ in range(SLOTS)]
    with tempfile.TemporaryDirectory() as tmp:
        lb = LoadBalancer(Path(tmp), ports)
        lb.log_level = "notice"
        env = {
            "DATABASE_URL": database,
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_API_BASE_URL": fake.base_url,
            "TELEGRAM_WEBHOOK_URL": f"{lb.url}/telegram",
            "WEB_CHAT": "false",
            "LOG_LEVEL": "WARNING",
        }
        running = [Worker(f"worker{i + 1}", ports[i], env, now=i == 0) for i in range(workers)]
        load: Load | None = None
        try:
            await lb.start()
            await running[0].start()
            await asyncio.gather(*(w.start() for w in running[1:]))
            await asyncio.sleep(2.5)  # the health checks have marked the unused lines down
            load = Load(fake, f"{lb.url}/telegram", people)
            until = time.monotonic() + WARM_UP + seconds
            tasks = [asyncio.ensure_future(load.person(u, until)) for u in load.people]
            await asyncio.sleep(WARM_UP)
            pg = postgres_pids(server)

            def cpu() -> tuple[float, float, float, float]:
                own = os.times()
                return (
                    sum(w.cpu_seconds() for w in running),
                    sum(cpu_seconds(p) for p in pg),
                    cpu_seconds(lb.pid or 0),
                    own.user + own.system,
                )

            before, sent_before, throttled_before = cpu(), fake.limited_calls, fake.throttled
            load.counting = True
            started = time.monotonic()
            await asyncio.sleep(seconds)
            load.counting = False
            elapsed = time.monotonic() - started
            after = cpu()
            await asyncio.gather(*tasks)
        finally:
            if load is not None:
                await load.close()
            for worker in running:
                await worker.stop()
            await lb.stop()
            await fake.stop()
            await server.drop_database(database)
    updates = max(load.acknowledged, 1)
    used = [b - a for a, b in zip(before, after, strict=True)]
    return {
        "workers": workers,
        "updates_per_s": round(load.acknowledged / elapsed, 1),
        "cpu_per_update_workers": round(used[0] / updates, 5),
        "cpu_per_update_postgres": round(used[1] / updates, 5),
        "cpu_per_update_haproxy": round(used[2] / updates, 5),
        "cores_workers": round(used[0] / elapsed, 2),
        "cores_postgres": round(used[1] / elapsed, 2),
        "cores_haproxy": round(used[2] / elapsed, 2),
        "cores_load_and_fake": round(used[3] / elapsed, 2),
        "telegram_calls_per_s": round((fake.limited_calls - sent_before) / elapsed, 1),
        "throttled_429": fake.throttled - throttled_before,
        "not_acknowledged": load.failed,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", default="1,2,3")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    cores = os.cpu_count() or 1
    server = PostgresServer()
    server.start()
    try:
        await server.create_template()
        results = []
        for n in counts:
            result = await one_run(server, n, args.people, args.seconds)
            results.append(result)
            print(
                f"{n} worker(s): {result['updates_per_s']} updates/s; CPU s per update: "
                f"workers {result['cpu_per_update_workers']}, "
                f"PostgreSQL {result['cpu_per_update_postgres']}, "
                f"HAProxy {result['cpu_per_update_haproxy']}; cores used: workers "
                f"{result['cores_workers']}, PostgreSQL {result['cores_postgres']}, HAProxy "
                f"{result['cores_haproxy']}, load+fake {result['cores_load_and_fake']} of "
                f"{cores}; Telegram calls/s {result['telegram_calls_per_s']}, 429s "
                f"{result['throttled_429']}",
                flush=True,
            )
    finally:
        server.stop()

    def per_update(r: dict[str, Any]) -> float:
        return float(r["cpu_per_update_workers"] + r["cpu_per_update_postgres"])

    first, last = results[0], results[-1]
    ratio = per_update(last) / per_update(first) if per_update(first) else None
    print(f"nproc: {cores}")
    print(
        f"CPU per update (workers + PostgreSQL), {last['workers']} workers over 1: "
        f"{ratio:.2f} (goal <= 1.2); updates/s "
        + " -> ".join(str(r["updates_per_s"]) for r in results)
    )
    print(
        json.dumps(
            {
                "benchmark": "scale",
                "nproc": cores,
                "people": args.people,
                "seconds": args.seconds,
                "runs": results,
                "cpu_per_update_ratio": None if ratio is None else round(ratio, 3),
                "cpu_per_update_ratio_ok": ratio is not None and ratio <= 1.2,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
