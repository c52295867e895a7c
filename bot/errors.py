"""The errors of the participation bot.

ParticipationBotError
├── CampaignError          a campaign file cannot be used (names file, key path, problem)
├── NotAllowed             a staff action asked for by someone without the role
└── ReportError            the report could not be made as a PDF (no Chromium, or it failed)
"""

from __future__ import annotations

from dataclasses import dataclass


class ParticipationBotError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class CampaignProblem:
    """One thing wrong in a campaign file."""

    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.key or '(file)'}: {self.problem}"


class CampaignError(ParticipationBotError):
    """A campaign file is unreadable or invalid; lists every problem found."""

    def __init__(self, path: str, problems: list[CampaignProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"{path}: {p}" for p in problems)
        super().__init__(f"invalid campaign file {path}:\n{lines}")


class NotAllowed(ParticipationBotError):
    """The participant lacks the role the action needs."""


class ReportError(ParticipationBotError):
    """The report could not be printed to PDF (no Chromium installed, or it failed)."""
