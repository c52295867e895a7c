"""The errors of the participation bot: every error raised on purpose derives from one base.

ParticipationBotError              (defined in storage/errors.py: storage may not import bot)
├── BudgetClosed                   bot/budget.py: the bot is stopping; nothing was sent
├── CampaignError                  a campaign file cannot be used (names file, key path, problem)
├── ClockRefused                   bot/database_clock.py: ``--now`` would move a database's time
│                                  back
├── ReportError                    the report could not be made as a PDF (no Chromium, or it
│                                  failed)
└── StorageError                   storage/errors.py
    ├── CopyMismatch               storage/copy.py: row counts differ after copy-database
    ├── DatabaseUnavailable        storage/errors.py: PostgreSQL cannot be opened (which one,
    │                              without its password, and why)
    ├── EventAlreadyRecorded       storage/events.py: the platform delivered an event again
    ├── TargetNotEmpty             storage/copy.py: copy-database's target holds rows
    ├── TransactionAborted         storage/postgres.py: COMMIT rolled back (nothing kept)
    └── WriteFailed                storage/database.py: a batch's buffered writes failed (the
                                   writer retries its jobs one by one)

A person sees a localized sentence; the log gets the exception's class and ids, never what
the person typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import WriteFailed
from storage.errors import ParticipationBotError, StorageError
from storage.events import EventAlreadyRecorded

__all__ = [
    "CampaignError",
    "CampaignProblem",
    "ClockRefused",
    "EventAlreadyRecorded",
    "ParticipationBotError",
    "ReportError",
    "StorageError",
    "WriteFailed",
]


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


class ReportError(ParticipationBotError):
    """The report could not be printed to PDF (no Chromium installed, or it failed)."""


class ClockRefused(ParticipationBotError):
    """``--now`` would move a database's time back; the message says where its clock is and
    what to do instead."""
