"""The campaign the running bot uses, kept so that another process can compare a file to it."""

from __future__ import annotations

from datetime import datetime

from storage.protocols import Transaction
from storage.timestamps import to_db


def save_campaign_in_use(tx: Transaction, campaign: str, now: datetime) -> None:
    """Store the campaign (as JSON) the bot has just started using; a different one than
    before gets the next revision (every worker polls it and takes the campaign over)."""
    tx.write(
        "INSERT INTO campaign_in_use (id, campaign, loaded_at, revision) VALUES (1, ?, ?, 1) "
        "ON CONFLICT (id) DO UPDATE SET campaign = excluded.campaign, "
        "loaded_at = excluded.loaded_at, revision = campaign_in_use.revision + "
        "CASE WHEN campaign_in_use.campaign = excluded.campaign THEN 0 ELSE 1 END",
        (campaign, to_db(now)),
    )


async def campaign_revision(tx: Transaction) -> int:
    """The revision of the campaign in use (0: none recorded): one small read."""
    row = await tx.fetchone("SELECT revision FROM campaign_in_use WHERE id = 1")
    return int(row[0]) if row else 0


async def campaign_in_use(tx: Transaction) -> str | None:
    """The campaign (as JSON) the bot last started using, if any."""
    row = await tx.fetchone("SELECT campaign FROM campaign_in_use WHERE id = 1")
    return row["campaign"] if row else None
