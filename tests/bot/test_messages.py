"""What goes into the engine (``bot/messages.py``)."""

from __future__ import annotations

from bot.messages import Incoming, Kind, ParticipantRef

PERSON = ParticipantRef(platform="slack", workspace="T1", user_id="U1")


def test_direction_overrides_are_removed_from_everything_a_person_sends() -> None:
    sneaky = "\u202eskcoR\u202c and \u2066books\u2069 \u202a\u202b\u202d\u2067\u2068"
    incoming = Incoming(
        ref=PERSON,
        event_id="1",
        kind=Kind.FORM,
        text=sneaky,
        args=sneaky,
        profile_name=sneaky,
        fields={"name": sneaky},
    )
    plain = "skcoR and books "
    assert incoming.text == incoming.args == incoming.profile_name == plain
    assert incoming.fields == {"name": plain}


def test_other_invisible_marks_stay() -> None:
    # Right-to-left and left-to-right marks only keep Arabic text readable: not removed.
    text = "\u200fمرحبا\u200e"
    assert Incoming(ref=PERSON, event_id="1", kind=Kind.TEXT, text=text).text == text
