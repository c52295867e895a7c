"""Staff: people allowed to run a consultation (broadcasts, results), per campaign or for
every campaign (campaign '')."""

from __future__ import annotations

from datetime import datetime

from storage.protocols import Transaction
from storage.timestamps import to_db

EVERY_CAMPAIGN = ""
"""The campaign of a grant for every campaign."""


async def grant_staff(
    tx: Transaction, platform: str, workspace: str, user_id: str, campaign: str, now: datetime
) -> bool:
    """Give the staff role for a campaign ('' every campaign); False when they had it."""
    changed = await tx.execute(
        "INSERT INTO staff (platform, workspace, user_id, campaign, granted_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (platform, workspace, user_id, campaign, to_db(now)),
    )
    return changed > 0


async def revoke_staff(
    tx: Transaction, platform: str, workspace: str, user_id: str, campaign: str
) -> bool:
    """Take the staff role for a campaign ('' the grant for every campaign) away; False when
    they did not have it."""
    changed = await tx.execute(
        "DELETE FROM staff WHERE platform = ? AND workspace = ? AND user_id = ? AND campaign = ?",
        (platform, workspace, user_id, campaign),
    )
    return changed > 0


async def list_staff(tx: Transaction) -> list[tuple[str, str, str, str]]:
    """Every staff grant: (platform, workspace, user id, campaign ('' every campaign))."""
    rows = await tx.fetchall(
        "SELECT platform, workspace, user_id, campaign FROM staff "
        "ORDER BY platform, workspace, user_id, campaign"
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def is_staff(
    tx: Transaction, platform: str, workspace: str, user_id: str, campaign: str
) -> bool:
    """Whether this platform identity has the staff role for ``campaign`` (a grant for it,
    or for every campaign)."""
    row = await tx.fetchone(
        "SELECT 1 FROM staff WHERE platform = ? AND workspace = ? AND user_id = ? "
        "AND campaign IN (?, '')",
        (platform, workspace, user_id, campaign),
    )
    return row is not None
