"""Slack's installations (one per workspace, from the OAuth flow) and OAuth state values.

Plain rows, no Slack types: the Slack handler adapts these to slack_sdk's installation and
state store interfaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.protocols import Transaction
from storage.timestamps import from_db, to_db


@dataclass(frozen=True)
class SlackInstallation:
    """The app as installed in one workspace."""

    team_id: str
    enterprise_id: str
    team_name: str
    app_id: str
    bot_token: str
    bot_id: str
    bot_user_id: str
    bot_scopes: str
    installer_user_id: str
    installed_at: datetime


async def save_installation(tx: Transaction, item: SlackInstallation) -> None:
    """Keep a workspace's installation; installing again replaces the token."""
    await tx.execute(
        "INSERT INTO slack_installations (team_id, enterprise_id, team_name, app_id, "
        "bot_token, bot_id, bot_user_id, bot_scopes, installer_user_id, installed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (team_id) DO UPDATE SET "
        "enterprise_id = excluded.enterprise_id, team_name = excluded.team_name, "
        "app_id = excluded.app_id, bot_token = excluded.bot_token, bot_id = excluded.bot_id, "
        "bot_user_id = excluded.bot_user_id, bot_scopes = excluded.bot_scopes, "
        "installer_user_id = excluded.installer_user_id, installed_at = excluded.installed_at",
        (
            item.team_id,
            item.enterprise_id,
            item.team_name,
            item.app_id,
            item.bot_token,
            item.bot_id,
            item.bot_user_id,
            item.bot_scopes,
            item.installer_user_id,
            to_db(item.installed_at),
        ),
    )


async def find_installation(tx: Transaction, team_id: str) -> SlackInstallation | None:
    """The installation in a workspace, if the app is installed there."""
    row = await tx.fetchone(
        "SELECT team_id, enterprise_id, team_name, app_id, bot_token, bot_id, bot_user_id, "
        "bot_scopes, installer_user_id, installed_at FROM slack_installations "
        "WHERE team_id = ?",
        (team_id,),
    )
    if row is None:
        return None
    return SlackInstallation(
        team_id=row[0],
        enterprise_id=row[1],
        team_name=row[2],
        app_id=row[3],
        bot_token=row[4],
        bot_id=row[5],
        bot_user_id=row[6],
        bot_scopes=row[7],
        installer_user_id=row[8],
        installed_at=from_db(row[9]),
    )


async def delete_installation(tx: Transaction, team_id: str) -> bool:
    """Forget a workspace (the app was uninstalled there)."""
    return await tx.execute("DELETE FROM slack_installations WHERE team_id = ?", (team_id,)) > 0


async def count_installations(tx: Transaction) -> int:
    """How many workspaces have the app."""
    row = await tx.fetchone("SELECT count(*) FROM slack_installations")
    return int(row[0]) if row else 0


async def issue_oauth_state(
    tx: Transaction, state: str, now: datetime, expires_at: datetime
) -> None:
    """Remember a state value handed to a browser starting an install (and forget expired
    ones, so that pages opened and left do not pile up)."""
    await tx.execute("DELETE FROM slack_oauth_states WHERE expires_at < ?", (to_db(now),))
    await tx.execute(
        "INSERT INTO slack_oauth_states (state, expires_at) VALUES (?, ?)",
        (state, to_db(expires_at)),
    )


async def consume_oauth_state(tx: Transaction, state: str, now: datetime) -> bool:
    """Use up a state value: True once, if it was issued and has not expired."""
    await tx.execute("DELETE FROM slack_oauth_states WHERE expires_at < ?", (to_db(now),))
    return await tx.execute("DELETE FROM slack_oauth_states WHERE state = ?", (state,)) > 0
