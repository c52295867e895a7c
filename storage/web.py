"""The web chat's sessions: which browser token (by its hash) is which web participant, and
the one-time codes that let a second device join. Plain values; no token is ever stored."""

from __future__ import annotations

from datetime import datetime

from storage.protocols import Transaction
from storage.timestamps import to_db


async def find_session(tx: Transaction, token_hash: str) -> str | None:
    """The web user id of a browser's token, if it has one."""
    row = await tx.fetchone("SELECT user_id FROM web_sessions WHERE token_hash = ?", (token_hash,))
    return str(row[0]) if row else None


async def create_session(tx: Transaction, token_hash: str, user_id: str, now: datetime) -> None:
    """Remember that this token is this web user (a new browser, or a device that joined)."""
    await tx.execute(
        "INSERT INTO web_sessions (token_hash, user_id, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (token_hash, user_id, to_db(now)),
    )


async def issue_code(
    tx: Transaction, code_hash: str, user_id: str, now: datetime, expires_at: datetime
) -> None:
    """A one-time code for another device (and forget expired ones)."""
    await tx.execute("DELETE FROM web_codes WHERE expires_at < ?", (to_db(now),))
    await tx.execute(
        "INSERT INTO web_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (code_hash) DO UPDATE SET user_id = excluded.user_id, "
        "expires_at = excluded.expires_at",
        (code_hash, user_id, to_db(expires_at)),
    )


async def redeem_code(tx: Transaction, code_hash: str, now: datetime) -> str | None:
    """Use up a code: the web user it was issued for, once, if it has not expired."""
    await tx.execute("DELETE FROM web_codes WHERE expires_at < ?", (to_db(now),))
    row = await tx.fetchone("SELECT user_id FROM web_codes WHERE code_hash = ?", (code_hash,))
    if row is None:
        return None
    await tx.execute("DELETE FROM web_codes WHERE code_hash = ?", (code_hash,))
    return str(row[0])


async def forget_web_user(tx: Transaction, user_id: str) -> None:
    """Erase a web user's sessions and codes (the person was erased)."""
    await tx.execute("DELETE FROM web_sessions WHERE user_id = ?", (user_id,))
    await tx.execute("DELETE FROM web_codes WHERE user_id = ?", (user_id,))


async def forget_all_web_users(tx: Transaction) -> None:
    """Erase every session and code (a purge)."""
    await tx.execute("DELETE FROM web_sessions")
    await tx.execute("DELETE FROM web_codes")
