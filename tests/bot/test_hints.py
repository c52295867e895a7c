"""What the bot says about something it cannot use (``bot/hints.py``)."""

from __future__ import annotations

import pytest

from bot.hints import cannot_use
from bot.i18n import use_language
from bot.messages import Incoming, Kind, ParticipantRef, Shared

PERSON = ParticipantRef(platform="telegram", user_id="1")


def unsupported(shared: Shared | None = None) -> Incoming:
    return Incoming(ref=PERSON, event_id="1", kind=Kind.UNSUPPORTED, shared=shared)


def test_a_location_is_named_in_the_hint() -> None:
    assert cannot_use(unsupported(Shared.LOCATION)).startswith("You sent a location.")


def test_a_contact_is_named_in_the_hint() -> None:
    assert cannot_use(unsupported(Shared.CONTACT)).startswith("You sent a contact.")


def test_anything_else_gets_the_general_hint() -> None:
    assert "stickers, pictures" in cannot_use(unsupported())


@pytest.mark.parametrize("language", ["nb", "nn", "se", "pl", "uk", "ar", "so"])
def test_the_hints_are_translated(language: str) -> None:
    with use_language(language):
        location, contact = (
            cannot_use(unsupported(Shared.LOCATION)),
            cannot_use(unsupported(Shared.CONTACT)),
        )
    assert not location.startswith("You sent") and not contact.startswith("You sent")
    assert location != contact
