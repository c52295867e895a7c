"""The README's demo path, played as written: sign up in the console started with ``--now``,
grant staff and broadcast from the command line without ``--now``, run again without it and
see the message arrive."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SIGN_UP = """\
Møter og påmelding
Meld på: Informasjonsmøte
OK, gå videre
Kari Nordmann
Innbygger
Asker
Bekreft påmeldingen
/quit
"""


def environment() -> dict[str, str]:
    """As a new user's shell: no platform tokens, any free port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env.pop("DATABASE_PATH", None)
    env["PORT"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def command(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "handlers", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment(),
        cwd=folder,
    )


def test_the_readme_demo_signs_up_grants_staff_and_a_cli_broadcast_arrives(
    tmp_path: Path,
) -> None:
    first = command(tmp_path, "run", "--now", "2021-05-25T10:00", "--user", "kari", stdin=SIGN_UP)
    assert first.returncode == 0, first.stderr
    assert "Du er påmeldt! Velkommen." in first.stdout

    staff = command(tmp_path, "staff", "add", "console:kari")
    assert staff.returncode == 0, staff.stderr
    assert "console:kari is staff" in staff.stdout
    sent = command(
        tmp_path,
        "broadcast",
        "--segment",
        "registrants:info",
        "--message",
        "nb=Zoom-lenken er klar",
        "--message",
        "en=The Zoom link is ready",
        "--yes",
    )
    assert sent.returncode == 0, sent.stderr
    assert "1 recipient(s) (nb: 1)" in sent.stdout

    bot = subprocess.Popen(
        [sys.executable, "-m", "handlers", "run", "--user", "kari"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        cwd=tmp_path,
    )
    assert bot.stdin is not None and bot.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in bot.stdout], daemon=True).start()
    seen = ""
    deadline = time.monotonic() + 60
    try:
        while "Zoom-lenken er klar" not in seen:
            assert time.monotonic() < deadline, seen
            try:
                seen += lines.get(timeout=1)
            except queue.Empty:
                continue
        bot.stdin.write("/staff\n/quit\n")
        bot.stdin.flush()
        bot.stdin.close()
        bot.wait(timeout=60)
    finally:
        if bot.poll() is None:
            bot.kill()
    time.sleep(0.2)  # the reader thread takes the last lines
    while not lines.empty():
        seen += lines.get()
    assert "Ny utsending" in seen  # /staff: the staff menu for console:kari
    batch = re.search(r"broadcast:[0-9a-f]+", sent.stdout)
    assert batch is not None
    status = command(tmp_path, "broadcast-status", batch.group())
    assert "this database keeps its own clock: it is 2021-05-25T10:0" in bot.stderr.read()
    assert "sent 1, pending 0" in status.stdout
