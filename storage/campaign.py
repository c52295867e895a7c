"""The campaign the running bot uses, kept so that another process can compare a file to it."""

from __future__ import annotations

from datetime import datetime

from storage.protocols import Transaction
from storage.timestamps import to_db


def save_campaign_in_use(tx: Transaction, campaign: str, now: datetime) -> None:
    """Store the campaign (as JSON) the bot has just started using."""
    tx.write(
        "INSERT INTO campaign_in_use (id, campaign, loaded_at) VALUES (1, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET campaign = excluded.campaign, "
        "loaded_at = excluded.loaded_at",
        (campaign, to_db(now)),
    )


async def campaign_in_use(tx: Transaction) -> str | None:
    """The campaign (as JSON) the bot last started using, if any."""
    row = await tx.fetchone("SELECT campaign FROM campaign_in_use WHERE id = 1")
    return row["campaign"] if row else None
