"""The app installed in many workspaces: slack_sdk's installation and OAuth state stores,
kept in the bot's database through ``bot.installations``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.clock import Clock
from bot.installations import Installations, SlackInstallation

log = logging.getLogger("handlers.slack")


class SqliteInstallationStore(AsyncInstallationStore):
    """slack_sdk's installation store on ``bot.installations``: one bot per workspace."""

    def __init__(self, kept: Installations, clock: Clock) -> None:
        self.kept = kept
        self.clock = clock
        self._bots: dict[str, Bot] = {}
        self.changed: Callable[[str], None] = lambda _team: None
        """Told of a workspace whose installation changed (its old token is gone)."""

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        if not installation.team_id or not installation.bot_token:
            raise ValueError("only workspace installations with a bot token are kept")
        item = SlackInstallation(
            team_id=installation.team_id,
            enterprise_id=installation.enterprise_id or "",
            team_name=installation.team_name or "",
            app_id=installation.app_id or "",
            bot_token=installation.bot_token,
            bot_id=installation.bot_id or "",
            bot_user_id=installation.bot_user_id or "",
            bot_scopes=",".join(installation.bot_scopes or []),
            installer_user_id=installation.user_id or "",
            installed_at=self.clock.now(),
        )
        await self.kept.save(item)
        self._bots.pop(item.team_id, None)
        self.changed(item.team_id)
        log.info("Slack app installed in a workspace")

    async def async_save_bot(self, bot: Bot) -> None:
        raise NotImplementedError("installations are saved whole")

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        if not team_id:
            return None
        cached = self._bots.get(team_id)
        if cached is not None:
            return cached
        item = await self.kept.find(team_id)
        if item is None:
            return None
        bot = Bot(
            app_id=item.app_id or None,
            enterprise_id=item.enterprise_id or None,
            team_id=item.team_id,
            team_name=item.team_name or None,
            bot_token=item.bot_token,
            bot_id=item.bot_id,
            bot_user_id=item.bot_user_id,
            bot_scopes=item.bot_scopes,
            installed_at=item.installed_at.timestamp(),
        )
        self._bots[team_id] = bot
        return bot

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        bot = await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)
        if bot is None:
            return None
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            user_id=user_id or "",
            installed_at=bot.installed_at,
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        if team_id:
            self._bots.pop(team_id, None)
            self.changed(team_id)
            await self.kept.delete(team_id)

    async def async_delete_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> None:
        if user_id is None:
            await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)


class SqliteOAuthStateStore(AsyncOAuthStateStore):
    """One-time OAuth state values in our database (10 minutes)."""

    def __init__(self, kept: Installations, expiration: timedelta) -> None:
        self.kept = kept
        self.expiration = expiration

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await self.kept.issue_state(self.expiration)

    async def async_consume(self, state: str) -> bool:
        return await self.kept.consume_state(state)
