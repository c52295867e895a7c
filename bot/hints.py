"""What the bot says about something a person sent that it cannot use."""

from __future__ import annotations

from bot.i18n import _
from bot.messages import Incoming, Shared


def cannot_use(incoming: Incoming) -> str:
    """The hint for an ``Incoming`` of ``Kind.UNSUPPORTED``, naming what was sent where the
    platform says (a location or a contact), in the language of the event."""
    if incoming.shared is Shared.LOCATION:
        return _(
            "You sent a location. I can't use locations here: please type your answer, "
            "or use the buttons."
        )
    if incoming.shared is Shared.CONTACT:
        return _(
            "You sent a contact. I can't use contacts here: please type your answer, "
            "or use the buttons."
        )
    return _(
        "I can only read text and button presses, not stickers, pictures, voice messages or files."
    )
