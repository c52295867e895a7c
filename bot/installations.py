"""Where a platform's installations are kept: the app installed in many workspaces (Slack's
OAuth flow), and the one-time state values of installs under way.

Plain values, no platform types: ``handlers/slack/installations.py`` adapts this to
slack_sdk's installation and state store interfaces.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from bot.clock import Clock
from storage import slack as store
from storage.protocols import Database
from storage.slack import SlackInstallation

__all__ = ["Installations", "SlackInstallation"]


class Installations:
    """The installations and OAuth state values in the bot's database."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def save(self, item: SlackInstallation) -> None:
        """Keep a workspace's installation (replacing the one it had)."""
        await self.db.transact(lambda tx: store.save_installation(tx, item))

    async def find(self, team_id: str) -> SlackInstallation | None:
        """The installation in a workspace, if the app is installed there."""
        return await self.db.transact(lambda tx: store.find_installation(tx, team_id))

    async def delete(self, team_id: str) -> None:
        """Forget a workspace's installation (the app was uninstalled there)."""
        await self.db.transact(lambda tx: store.delete_installation(tx, team_id))

    async def issue_state(self, expiration: timedelta) -> str:
        """A new one-time state value for a browser starting an install."""
        state = secrets.token_urlsafe(24)
        now = self.clock.now()
        await self.db.transact(
            lambda tx: store.issue_oauth_state(tx, state, now, now + expiration)
        )
        return state

    async def consume_state(self, state: str) -> bool:
        """Use up a state value: True once, if it was issued and has not expired."""
        now = self.clock.now()
        return await self.db.transact(lambda tx: store.consume_oauth_state(tx, state, now))
