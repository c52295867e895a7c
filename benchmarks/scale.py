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
the machine's cores each used (``nproc``), what the rest of the machine used meanwhile
(other processes: /proc/stat's busy time less ours) and what stayed idle; the workers' and
PostgreSQL's cores while the workers were idle just before (their fixed cost: heartbeats,
outbox polls); the workers' share of CPU in the kernel and how often they were preempted
per update (a core taken by another process: oversubscription); Telegram calls and 429s.
Targets (ratios in this run): CPU per update (workers + PostgreSQL) with 3 workers at most
1.2x that with 1, and updates/s growing with workers until the cores are used.

Two loads, each labelled in the output and the JSON:

- **saturating** (``runs``): every person sends as fast as they are acknowledged. On a
  machine with few cores the extra workers do not add cores, they share them (with
  PostgreSQL, HAProxy, this load, and whatever else runs), so updates/s stops growing and
  the per-second costs that do not grow with updates (the sends at Telegram's 30 a second,
  each worker's idle loops) are spread over fewer updates: this figure mixes oversubscribed
  cores into "coordination" (with 3 workers on 2 cores, each worker is preempted about
  twice as often per update as one alone, and each wakes up more often per update: fewer
  requests ready at once).
- **fixed rate** (``fixed_rate``): the same offered updates/s for every number of workers,
  half of what one worker sustained in the saturating run (``--rate`` to choose): CPU per
  update at equal load, so what it grows by with more workers is their coordination, their
  fixed cost and each one's smaller share of the load (fewer requests to batch per wake-up),
  not a lack of cores.

What coordination cost, measured here (issue 15): spread over the workers by leastconn,
about half of a person's updates reached a worker that had not handled their last one, so
the revision check failed and the turn read the person again (5.9 database round trips a
turn instead of 3.1), and two workers sent to one chat within a second (30-70 429s in 15 s).
``deploy/haproxy.cfg`` now sends one person's updates to one worker; a revision miss that
remains costs one round trip less.

The last line is one JSON object.

    python benchmarks/scale.py [--people 100] [--seconds 15] [--workers 1,2,3]
                               [--rate UPDATES_PER_S | --rate 0 (no fixed-rate runs)]
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
    CLOCK_TICKS,
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
IDLE = 2.0
"""Seconds the workers are measured idle before the load."""


def machine_busy() -> float:
    """CPU seconds the whole machine was busy so far (all cores; /proc/stat's first line:
    everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def system_and_preempted(pid: int) -> tuple[float, int]:
    """A process's CPU seconds in the kernel (stime) and how often it was preempted
    (involuntary context switches: it could have run on, but another took its core)."""
    try:
        stime = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[12])
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0
    switches = [line for line in status.splitlines() if line.startswith("nonvoluntary_ctxt")]
    return stime / CLOCK_TICKS, int(switches[0].split()[1]) if switches else 0


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

    async def person(self, user: int, until: float, every: float | None = None) -> None:
        """Send updates until ``until``: each as soon as the last was acknowledged, or
        (``every``) one every so many seconds (later if the last is not acknowledged yet)."""
        self.fake.person(user, first_name="Load", last_name=str(user))
        secret = self.fake.webhook["secret_token"]
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
        next_at = time.monotonic() + (self.rng.uniform(0, every) if every else 0.0)
        while time.monotonic() < until:
            if every:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at + every, time.monotonic())
                if time.monotonic() >= until:
                    break
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
    server: PostgresServer, workers: int, people: int, seconds: float, rate: float | None = None
) -> dict[str, Any]:
    """One number of workers under the saturating load, or (``rate``) that many updates a
    second in all."""
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
            await asyncio.sleep(1.5)  # the health checks have marked the unused lines down
            pg = postgres_pids(server)

            def cpu() -> tuple[float, ...]:
                own = os.times()
                kernel = [system_and_preempted(w.pid) for w in running]
                return (
                    sum(w.cpu_seconds() for w in running),
                    sum(cpu_seconds(p) for p in pg),
                    cpu_seconds(lb.pid or 0),
                    own.user + own.system,
                    machine_busy(),
                    sum(k[0] for k in kernel),
                    sum(k[1] for k in kernel),
                )

            # Idle: heartbeats, outbox polls, take-overs; no updates.
            idle_before, idle_started = cpu(), time.monotonic()
            await asyncio.sleep(IDLE)
            idle_after, idle_elapsed = cpu(), time.monotonic() - idle_started
            load = Load(fake, f"{lb.url}/telegram", people)
            until = time.monotonic() + WARM_UP + seconds
            every = people / rate if rate else None
            tasks = [asyncio.ensure_future(load.person(u, until, every)) for u in load.people]
            await asyncio.sleep(WARM_UP)
            pg = postgres_pids(server)
            before, sent_before, throttled_before = cpu(), fake.limited_calls, fake.throttled
            load.counting = True
            started = time.monotonic()
            await asyncio.sleep(seconds)
            load.counting = False
            elapsed = time.monotonic() - started
            after, sent_after, throttled_after = cpu(), fake.limited_calls, fake.throttled
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
    idle = [b - a for a, b in zip(idle_before, idle_after, strict=True)]
    cores = os.cpu_count() or 1
    others = max(0.0, used[4] - sum(used[:4]))
    return {
        "workers": workers,
        **({"offered_per_s": round(rate, 1)} if rate else {}),
        "updates_per_s": round(load.acknowledged / elapsed, 1),
        "cpu_per_update_workers": round(used[0] / updates, 5),
        "cpu_per_update_postgres": round(used[1] / updates, 5),
        "cpu_per_update_haproxy": round(used[2] / updates, 5),
        "cores_workers": round(used[0] / elapsed, 2),
        "cores_postgres": round(used[1] / elapsed, 2),
        "cores_haproxy": round(used[2] / elapsed, 2),
        "cores_load_and_fake": round(used[3] / elapsed, 2),
        "cores_other_processes": round(others / elapsed, 2),
        "cores_idle": round(max(0.0, cores - used[4] / elapsed), 2),
        "workers_system_share": round(used[5] / used[0], 3) if used[0] else None,
        "workers_preempted_per_update": round(used[6] / updates, 3),
        "idle_cores_workers": round(idle[0] / idle_elapsed, 3),
        "idle_cores_postgres": round(idle[1] / idle_elapsed, 3),
        "telegram_calls_per_s": round((sent_after - sent_before) / elapsed, 1),
        "throttled_429": throttled_after - throttled_before,
        "not_acknowledged": load.failed,
    }


def describe(result: dict[str, Any], cores: int) -> str:
    """One run's line: throughput, CPU per update, and where the cores went."""
    offered = f" (offered {result['offered_per_s']})" if "offered_per_s" in result else ""
    return (
        f"{result['workers']} worker(s): {result['updates_per_s']} updates/s{offered}; CPU s "
        f"per update: workers {result['cpu_per_update_workers']}, "
        f"PostgreSQL {result['cpu_per_update_postgres']}, "
        f"HAProxy {result['cpu_per_update_haproxy']}; cores of {cores}: workers "
        f"{result['cores_workers']}, PostgreSQL {result['cores_postgres']}, HAProxy "
        f"{result['cores_haproxy']}, load+fake {result['cores_load_and_fake']}, other "
        f"processes {result['cores_other_processes']}, idle {result['cores_idle']}; idle "
        f"workers used {result['idle_cores_workers']} cores (PostgreSQL "
        f"{result['idle_cores_postgres']}); workers' CPU in the kernel "
        f"{result['workers_system_share']}, preempted {result['workers_preempted_per_update']} "
        f"times per update; Telegram calls/s {result['telegram_calls_per_s']}, "
        f"429s {result['throttled_429']}"
    )


def per_update(r: dict[str, Any]) -> float:
    return float(r["cpu_per_update_workers"] + r["cpu_per_update_postgres"])


def ratio_of(results: list[dict[str, Any]]) -> float | None:
    """CPU per update (workers + PostgreSQL) of the most workers over the first."""
    first, last = results[0], results[-1]
    return per_update(last) / per_update(first) if per_update(first) else None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="updates/s of the fixed-rate runs (default: half of one worker's saturating "
        "figure in this run; 0: no fixed-rate runs)",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    cores = os.cpu_count() or 1
    server = PostgresServer()
    server.start()
    fixed: list[dict[str, Any]] = []
    try:
        await server.create_template()
        results = []
        print("saturating load (each person's next update as soon as the last is acknowledged):")
        for n in counts:
            result = await one_run(server, n, args.people, args.seconds)
            results.append(result)
            print(describe(result, cores), flush=True)
        rate = args.rate if args.rate is not None else results[0]["updates_per_s"] / 2
        if rate:
            print(f"fixed rate ({rate:.0f} updates/s offered to every number of workers):")
            for n in counts:
                result = await one_run(server, n, args.people, args.seconds, rate)
                fixed.append(result)
                print(describe(result, cores), flush=True)
    finally:
        server.stop()

    ratio = ratio_of(results)
    fixed_ratio = ratio_of(fixed) if fixed else None
    last = results[-1]
    print(f"nproc: {cores}")
    print(
        f"saturating: CPU per update (workers + PostgreSQL), {last['workers']} workers over "
        f"{results[0]['workers']}: {ratio:.2f} (goal <= 1.2); updates/s "
        + " -> ".join(str(r["updates_per_s"]) for r in results)
    )
    if fixed_ratio is not None:
        print(
            f"fixed rate: CPU per update (workers + PostgreSQL), {last['workers']} workers over "
            f"{results[0]['workers']} at the same offered load: {fixed_ratio:.2f} (goal <= 1.2)"
        )
    busy = sum(
        last[k]
        for k in ("cores_workers", "cores_postgres", "cores_haproxy", "cores_load_and_fake")
    )
    print(
        f"where the {cores} cores went with {last['workers']} workers, saturating: this "
        f"benchmark's processes {busy:.2f} (workers {last['cores_workers']}, PostgreSQL "
        f"{last['cores_postgres']}, HAProxy {last['cores_haproxy']}, load and fake Telegram "
        f"{last['cores_load_and_fake']}), other processes {last['cores_other_processes']}, "
        f"idle {last['cores_idle']}"
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
                "fixed_rate": {
                    "offered_per_s": round(rate, 1) if rate else None,
                    "runs": fixed,
                    "cpu_per_update_ratio": None if fixed_ratio is None else round(fixed_ratio, 3),
                    "cpu_per_update_ratio_ok": fixed_ratio is not None and fixed_ratio <= 1.2,
                },
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
