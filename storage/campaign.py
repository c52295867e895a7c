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


def save_campaigns_in_use(tx: Transaction, campaigns: dict[str, str], now: datetime) -> None:
    """Store each campaign (id -> JSON) the bot has just started using; one that differs
    from what was stored moves the revision on (every worker polls it and takes it over)."""
    for campaign_id, campaign in campaigns.items():
        tx.write(
            "UPDATE campaign_in_use SET revision = revision + 1 WHERE id = 1 AND NOT EXISTS "
            "(SELECT 1 FROM campaigns_in_use WHERE campaign_id = ? AND campaign = ?)",
            (campaign_id, campaign),
        )
        tx.write(
            "INSERT INTO campaigns_in_use (campaign_id, campaign, loaded_at) VALUES (?, ?, ?) "
            "ON CONFLICT (campaign_id) DO UPDATE SET campaign = excluded.campaign, "
            "loaded_at = excluded.loaded_at",
            (campaign_id, campaign, to_db(now)),
        )


async def campaigns_in_use(tx: Transaction) -> dict[str, str]:
    """Each campaign (id -> JSON) the bot last started using."""
    rows = await tx.fetchall("SELECT campaign_id, campaign FROM campaigns_in_use")
    return {r[0]: r[1] for r in rows}


async def attribute_unowned(tx: Transaction, campaign: str) -> None:
    """Give the rows of a one-campaign database that no recorded campaign claimed (migration
    0009 left them '') to the default campaign."""
    for table in ("responses", "registrations", "outbox"):
        await tx.execute(f"UPDATE {table} SET campaign = ? WHERE campaign = ''", (campaign,))


def save_in_use(tx: Transaction, campaigns: dict[str, str], default: str, now: datetime) -> None:
    """Store the campaigns (id -> JSON) the bot uses now, and the default one's as the
    campaign in use (a changed one moves the revision on)."""
    save_campaigns_in_use(tx, campaigns, now)
    if default in campaigns:
        save_campaign_in_use(tx, campaigns[default], now)
