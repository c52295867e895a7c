"""The README's Telegram demo runs and shows a sign-up and the survey's first questions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_telegram_demo_in_the_readme_signs_a_person_up_and_starts_the_survey() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    result = subprocess.run(
        [sys.executable, "-m", "tests.fakes.telegram_demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "buttons: About the consultation | Meetings and sign-up" in out
    assert "Before you sign up or answer" in out  # the privacy notice
    assert "You are signed up! Welcome." in out
    assert "file: info.ics" in out
    assert "Question 1 of 12" in out
    assert "How often do you use the library?" in out
    assert "Web chat" not in out  # the web chat is off in the demo: not announced
    assert "Traceback" not in result.stderr
