"""Conversation state: where each participant is in a flow, as JSON text."""

from __future__ import annotations

from datetime import datetime

from storage.protocols import Transaction
from storage.timestamps import to_db


async def load_state(tx: Transaction, participant_id: int) -> str | None:
    """The participant's stored conversation state, or None when they have none."""
    row = await tx.fetchone(
        "SELECT state FROM conversation_state WHERE participant_id = ?", (participant_id,)
    )
    return row["state"] if row else None


def save_state(tx: Transaction, participant_id: int, state: str, now: datetime) -> None:
    """Store the participant's conversation state."""
    tx.write(
        "INSERT INTO conversation_state (participant_id, state, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (participant_id) DO UPDATE SET state = excluded.state, "
        "updated_at = excluded.updated_at",
        (participant_id, state, to_db(now)),
    )
