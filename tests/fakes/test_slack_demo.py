"""The README's Slack demo runs and shows a sign-up from the App Home to the calendar file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_slack_demo_in_the_readme_signs_a_person_up() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    result = subprocess.run(
        [sys.executable, "-m", "tests.fakes.slack_demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "=== A modal: the privacy notice" in out
    assert "Drammen" in out  # the type-ahead
    assert "You are signed up! Welcome." in out
    assert "files: info.ics" in out
    assert "Cancel: Information meeting" in out  # the App Home knows
    assert "/consultation mydata" in out
    assert "will be unused" not in result.stderr  # Bolt's warning about the token
    assert "Traceback" not in result.stderr
