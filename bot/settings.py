"""Settings from the environment (and a ``.env`` file): secrets and endpoints.

The content of a consultation lives in its campaign file, not here.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Names the deployment relies on (the README's "Configuration" lists them)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_base_url: str | None = None
    slack_app_token: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_redirect_uri: str | None = None
    slack_command: str = "/consultation"
    port: int = 8080
    host: str = "0.0.0.0"  # noqa: S104 - a server for the network, behind its proxy
    web_chat: bool = True
    """Serve the web chat at ``http://HOST:PORT/`` whenever ``run`` runs."""
    web_allowed_origins: str = ""
    """Sites (``https://example.org``, comma-separated) allowed to embed the chat and open
    its WebSocket, besides its own address."""
    web_trusted_proxies: str = ""
    """Addresses of the proxies in front (comma-separated): only from them is
    ``X-Forwarded-For`` believed, for the per-address limits."""
    web_public_url: str = ""
    """The chat's public address (``https://chat.example.org``), for QR codes and links;
    default: the address a request came to."""
    database_path: str = "data/participation-bot.sqlite3"
    database_url: str | None = None
    """``postgresql://user:password@host/db``: the bot's data in PostgreSQL instead of the
    SQLite file at ``database_path``."""
    workers: int = 1
    """How many ``run`` workers share the database (at least): more than one refuses
    Telegram's long polling (one consumer); the webhook is needed."""
    worker_name: str | None = None
    """This worker's name among them (default: the host and ``PORT``): a worker restarted
    under its name replaces its earlier run at once."""
    campaign_file: str | None = None
    campaigns_dir: str | None = None
    """A folder of campaign files, all served by one bot (the one with ``default = true``,
    else the first by name, is where people start)."""
    log_level: str | None = None
