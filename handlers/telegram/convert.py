"""Telegram's updates as ``Incoming`` events, and ``Outgoing`` as Telegram's messages
(inline keyboards, texts cut to Telegram's limits): pure functions, no API calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import MessageLimit

from bot.i18n import _
from bot.messages import Incoming, Kind, Outgoing, ParticipantRef, Shared

PLATFORM = "telegram"
SELECTED_MARK = "\u2705 "
CHOSEN_MARK = "\u2714 "
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH


# -- Update -> Incoming ------------------------------------------------------------------


COMMANDS: dict[str, Callable[[], str]] = {
    "start": lambda: _("Start and main menu"),
    "survey": lambda: _("The survey"),
    "meetings": lambda: _("Meetings and sign-up"),
    "mine": lambda: _("My registrations"),
    "language": lambda: _("Language"),
    "help": lambda: _("Help"),
}
"""The command menu Telegram shows, each described in the person's language."""


def to_incoming(update: Update) -> Incoming | None:
    """The engine's view of an update; None for updates the bot does not serve."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or user.is_bot or chat is None or chat.type != chat.PRIVATE:
        return None
    common: dict[str, Any] = {
        "ref": ParticipantRef(platform=PLATFORM, user_id=str(user.id)),
        "event_id": str(update.update_id),
        "language_hint": user.language_code,
        "profile_name": user.full_name or None,
    }
    if update.callback_query is not None:
        return Incoming(kind=Kind.BUTTON, payload=update.callback_query.data or "", **common)
    message = update.message
    if message is None:
        return None
    text = message.text
    if text is None:
        shared = None
        if message.location is not None or message.venue is not None:
            shared = Shared.LOCATION
        elif message.contact is not None:
            shared = Shared.CONTACT
        return Incoming(kind=Kind.UNSUPPORTED, shared=shared, **common)
    if text.startswith("/") and len(text) > 1:
        word, _sep, args = text[1:].partition(" ")
        return Incoming(kind=Kind.COMMAND, command=word.split("@", 1)[0], args=args, **common)
    return Incoming(kind=Kind.TEXT, text=text, **common)


# -- Outgoing -> Telegram ------------------------------------------------------------------


def keyboard(reply: Outgoing) -> InlineKeyboardMarkup | None:
    """The reply's buttons as an inline keyboard (ticks shown on selected options)."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    (SELECTED_MARK if b.selected else "") + b.label, callback_data=b.payload
                )
                for b in row
            ]
            for row in reply.buttons
        ]
    )


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut a long text into pieces Telegram accepts, at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    pieces.append(text)
    return pieces


@dataclass(frozen=True)
class Origin:
    """What a reply to a button press knows of the press: the pressed message, what the
    press chose as the person reads it, and its payload."""

    message: Message
    pressed: str | None
    payload: str


def pressed_label(origin: Message | None, data: str | None) -> str | None:
    """What the press chose, as the person reads it: the ticked options when a multi-select
    is confirmed, else the pressed button's label."""
    if origin is None or origin.reply_markup is None or data is None:
        return None
    buttons = [b for row in origin.reply_markup.inline_keyboard for b in row]
    ticked = [
        b.text.removeprefix(SELECTED_MARK) for b in buttons if b.text.startswith(SELECTED_MARK)
    ]
    for button in buttons:
        if button.callback_data == data:
            if ticked and not button.text.startswith(SELECTED_MARK):
                return ", ".join(ticked)
            return button.text.removeprefix(SELECTED_MARK)
    return None
