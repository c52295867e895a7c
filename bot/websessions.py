"""Who a browser is in the web chat, with no account: a random token the page keeps.

The token (256 bits, always made here, never by the page) never reaches the database: its
SHA-256 names a session, and the session a web user id (random, and the
``ParticipantRef.user_id`` of the person). A person continues on another device with a
one-time code: short-lived, single use, kept only as a hash, never logged.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from bot.clock import Clock
from storage import web as store
from storage.protocols import Database, Transaction

__all__ = ["CODE_ALPHABET", "CODE_LIFETIME", "WebSessions", "valid_token"]

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""Letters and digits that are not mistaken for each other when read aloud or typed."""
CODE_LENGTH = 8
CODE_LIFETIME = timedelta(minutes=10)
TOKEN_MIN_LENGTH = 22
"""A token's least length: 22 base64url characters are 132 bits."""


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def valid_token(token: str) -> bool:
    """A token as the page makes them: 22 to 128 URL-safe base64 characters."""
    return (
        TOKEN_MIN_LENGTH <= len(token) <= 128
        and token.replace("-", "").replace("_", "").isalnum()
        and token.isascii()
    )


def new_token() -> str:
    """A fresh browser token (256 bits)."""
    return secrets.token_urlsafe(32)


def normal_code(code: str) -> str:
    """A code as typed: spaces, dashes and case do not matter."""
    return "".join(c for c in code.upper() if c.isalnum())


class WebSessions:
    """The web chat's sessions and one-time codes in the bot's database."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def find(self, token: str) -> str | None:
        """The web user id of a browser's token; None for a token this database never gave
        (made up, or of a person since erased)."""
        token_hash = _hash(token)
        return await self.db.transact(lambda tx: store.find_session(tx, token_hash))

    async def create(self) -> tuple[str, str]:
        """A new browser: its token (for the page to keep) and its new web user id."""
        token = new_token()
        user_id = secrets.token_hex(16)
        now = self.clock.now()
        await self.db.transact(lambda tx: store.create_session(tx, _hash(token), user_id, now))
        return token, user_id

    async def issue_code(self, user_id: str) -> str:
        """A one-time code that joins another device to this web user."""
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        now = self.clock.now()
        await self.db.transact(
            lambda tx: store.issue_code(tx, _hash(code), user_id, now, now + CODE_LIFETIME)
        )
        return code

    async def redeem(self, code: str) -> str | None:
        """A new token for the device that typed ``code``, joined to the code's web user;
        None when the code is wrong, used or expired."""
        code_hash = _hash(normal_code(code))
        now = self.clock.now()
        token = new_token()

        async def job(tx: Transaction) -> str | None:
            user_id = await store.redeem_code(tx, code_hash, now)
            if user_id is None:
                return None
            await store.create_session(tx, _hash(token), user_id, now)
            return token

        return await self.db.transact(job)

    async def forget(self, user_id: str) -> None:
        """Erase a web user's sessions and codes."""
        await self.db.transact(lambda tx: store.forget_web_user(tx, user_id))

    async def forget_everyone(self) -> None:
        """Erase every session and code (after a purge)."""
        await self.db.transact(store.forget_all_web_users)
