"""Staff: people allowed to run the consultation (broadcasts, results)."""

from __future__ import annotations

from datetime import datetime

from storage.protocols import Transaction
from storage.timestamps import to_db


async def grant_staff(
    tx: Transaction, platform: str, workspace: str, user_id: str, now: datetime
) -> bool:
    """Give the staff role; False when they had it already."""
    changed = await tx.execute(
        "INSERT INTO staff (platform, workspace, user_id, granted_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (platform, workspace, user_id, to_db(now)),
    )
    return changed > 0


async def revoke_staff(tx: Transaction, platform: str, workspace: str, user_id: str) -> bool:
    """Take the staff role away; False when they did not have it."""
    changed = await tx.execute(
        "DELETE FROM staff WHERE platform = ? AND workspace = ? AND user_id = ?",
        (platform, workspace, user_id),
    )
    return changed > 0


async def list_staff(tx: Transaction) -> list[tuple[str, str, str]]:
    """Everyone with the staff role: (platform, workspace, user id)."""
    rows = await tx.fetchall(
        "SELECT platform, workspace, user_id FROM staff ORDER BY platform, workspace, user_id"
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def is_staff(tx: Transaction, platform: str, workspace: str, user_id: str) -> bool:
    """Whether this platform identity has the staff role."""
    row = await tx.fetchone(
        "SELECT 1 FROM staff WHERE platform = ? AND workspace = ? AND user_id = ?",
        (platform, workspace, user_id),
    )
    return row is not None
