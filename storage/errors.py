"""The root of the errors raised on purpose, here because storage may not import bot.

``bot/errors.py`` re-exports ``ParticipationBotError`` and draws the whole tree.
"""

from __future__ import annotations


class ParticipationBotError(Exception):
    """Base of every error the participation bot raises on purpose."""


class StorageError(ParticipationBotError):
    """Base of the errors storage raises on purpose."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached or refuses the bot (a wrong address, port, password or
    database name): the message says which database (without its password) and why."""
