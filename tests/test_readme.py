"""The README points only at what is in this repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MADE_BY_THE_BOT = {"data/", "data/participation-bot.sqlite3", "participation-bot-files/"}


def test_every_file_and_folder_the_readme_names_is_in_the_repository() -> None:
    named = set(re.findall(r"`((?:[\w.-]+/)+[\w.-]*)`", README))
    named |= set(re.findall(r"`([\w-]+\.(?:md|toml|yml|py))`", README))
    missing = sorted(
        name
        for name in named - MADE_BY_THE_BOT
        if not name.startswith(".venv") and not (ROOT / name).exists()
    )
    assert missing == []


def test_every_module_the_readme_runs_is_in_the_repository() -> None:
    modules = set(re.findall(r"python -m ([\w.]+)", README)) - {"venv", "pytest"}
    missing = [
        m
        for m in sorted(modules)
        if not (ROOT / (m.replace(".", "/") + ".py")).exists()
        and not (ROOT / m.replace(".", "/") / "__main__.py").exists()
    ]
    assert modules and missing == []


def test_the_readme_sends_nobody_to_a_design_document_elsewhere() -> None:
    assert "DESIGN.md" not in README and "steering" not in README
