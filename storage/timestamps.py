"""Timestamps are stored as ISO 8601 text in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def to_db(value: datetime) -> str:
    """An aware datetime as stored text (UTC, microseconds)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_db(value: str) -> datetime:
    """Stored text back to an aware datetime."""
    return datetime.fromisoformat(value)


def maybe_from_db(value: str | None) -> datetime | None:
    """Like ``from_db`` for nullable columns."""
    return None if value is None else datetime.fromisoformat(value)
