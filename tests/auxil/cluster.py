"""Several ``participation-bot run`` workers on one PostgreSQL, behind HAProxy running the
shipped ``deploy/haproxy.cfg`` (for the multi-worker test and ``benchmarks/scale.py``).

``LoadBalancer`` runs the Debian package's ``haproxy`` on that very file, its addresses set
through the environment as the file documents (``LB_BIND``, ``LB_CERTIFICATE``, ``LB_LOG``,
``BOT_WORKER_1..4``), with a self-signed certificate made by ``openssl``; it keeps HAProxy's
log lines (which worker served each request). ``Worker`` is one real ``python -m handlers
run`` on one of the file's worker ports: started, SIGKILLed, its CPU time read from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
SLOTS = 4
"""Worker lines in deploy/haproxy.cfg (``BOT_WORKER_1`` .. ``BOT_WORKER_4``)."""
NOW = "2021-05-25T10:00"
"""The database's clock (sign-up and the survey are open then)."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ClusterUnavailable(Exception):
    """HAProxy or openssl is not installed here."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_ssl() -> ssl.SSLContext:
    """What the fakes (Telegram, Slack) accept from the proxy: its self-signed certificate,
    as Telegram accepts one uploaded with setWebhook."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (utime + stime in /proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def processes_named(name: str) -> list[int]:
    """The pids of the processes whose command is ``name`` (e.g. every ``postgres``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
    return found


class LoadBalancer:
    """HAProxy on ``deploy/haproxy.cfg``, for the workers on ``worker_ports`` (one per line of
    the file; a port nobody listens on is a line whose worker is down)."""

    def __init__(self, root: Path, worker_ports: list[int]) -> None:
        if len(worker_ports) != SLOTS:
            raise ValueError(f"deploy/haproxy.cfg has {SLOTS} worker lines")
        self.haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(self.haproxy).exists():
            raise ClusterUnavailable("haproxy not found (apt-get install haproxy)")
        if shutil.which("openssl") is None:
            raise ClusterUnavailable("openssl not found (apt-get install openssl)")
        self.root = root
        self.worker_ports = worker_ports
        self.port = free_port()
        self.log: list[str] = []
        self.log_level = "info"
        """HAProxy's log level: info has a line per request (``served_by``), notice not."""
        self._process: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _certificate(self) -> Path:
        key, cert, both = (self.root / name for name in ("lb.key", "lb.crt", "lb.pem"))
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert),
            ],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        both.write_bytes(cert.read_bytes() + key.read_bytes())
        return both

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            LB_BIND=f"127.0.0.1:{self.port}",
            LB_CERTIFICATE=str(self._certificate()),
            LB_LOG="stdout",
            LB_LOG_LEVEL=self.log_level,
        )
        for slot, port in enumerate(self.worker_ports, start=1):
            env[f"BOT_WORKER_{slot}"] = f"127.0.0.1:{port}"
        return env

    async def start(self) -> None:
        env = await asyncio.to_thread(self.environment)
        check = await asyncio.to_thread(
            subprocess.run,
            [self.haproxy, "-c", "-q", "-f", str(HAPROXY_CONFIG)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if check.returncode != 0:
            raise AssertionError(f"deploy/haproxy.cfg is refused: {check.stderr}")
        self._process = await asyncio.create_subprocess_exec(
            self.haproxy, "-db", "-f", str(HAPROXY_CONFIG),
            env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._reading = asyncio.ensure_future(self._read())
        for _ in range(200):
            with contextlib.suppress(OSError):
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            if self._process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError("HAProxy did not start: " + "\n".join(self.log[-20:]))

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            self.log.append(line.decode(errors="replace").rstrip())

    def served_by(self, path: str = "") -> Counter[str]:
        """Requests (to paths starting with ``path``) by the worker line that served them
        (through either backend: ``workers``, or ``people`` for a person's Telegram updates)."""
        served: Counter[str] = Counter()
        for line in self.log:
            found = re.search(r" (?:workers|people)/(\S+) .*\"[A-Z]+ (\S+)", line)
            if found and found[2].startswith(path):
                served[found[1]] += 1
        return served

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        if self._reading is not None:
            await asyncio.gather(self._reading, return_exceptions=True)


class Worker:
    """One ``participation-bot run`` (``python -m handlers run``) on ``port``."""

    def __init__(self, name: str, port: int, env: dict[str, str], *, now: bool = False) -> None:
        self.name = name
        self.port = port
        self.env = env
        self.now = now
        """Give the database its clock (``--now``): the first worker only; the others read
        the clock the database keeps."""
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
        env.update(self.env, PORT=str(self.port), HOST="127.0.0.1")
        now = ["--now", NOW] if self.now else []
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "handlers", "run", *now,
            env=env, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                if self.process.returncode is not None:
                    raise AssertionError(f"{self.name} stopped while starting")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/healthz") as answer:
                        if answer.status == 200:
                            return
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} did not start")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        """SIGKILL: no goodbye, whatever it was doing."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self) -> None:
        if self.running:
            assert self.process is not None
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                await self.kill()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid) if self.process is not None else 0.0
