"""Payloads keep the wire format buttons already sent and states already stored use."""

from __future__ import annotations

from enum import StrEnum

import pytest

from bot import payloads
from bot.payloads import (
    BroadcastAction,
    GlobalAction,
    Payload,
    QuestionAction,
    decode,
    decode_action,
    encode_action,
    encode_global,
    encode_step,
)

CODES = [
    c
    for c in vars(payloads).values()
    if isinstance(c, type) and issubclass(c, StrEnum) and c is not StrEnum
]


def test_a_global_action_is_g_then_the_action_then_its_argument() -> None:
    assert encode_global(GlobalAction.MENU) == "g:menu"
    assert encode_global(GlobalAction.SIGN_UP, "m1") == "g:su:m1"


def test_a_step_action_starts_with_the_step_version() -> None:
    assert encode_step(12, QuestionAction.DONE) == "12:d"
    assert encode_step(12, QuestionAction.OPTION, "yes") == "12:o:yes"


def test_an_empty_argument_is_kept_and_no_argument_is_left_out() -> None:
    assert encode_step(3, BroadcastAction.PLATFORM, "") == "3:pf:"
    assert encode_action(GlobalAction.RESUME) == "resume"
    assert type(encode_action(GlobalAction.RESUME)) is str  # stored in a state


def test_decoding_reads_what_encoding_made() -> None:
    assert decode("g:lang:nn") == Payload("lang", "nn", is_global=True)
    assert decode("g:menu") == Payload("menu", "", is_global=True)
    assert decode("7:o:yes") == Payload("o", "yes", version=7)
    assert decode("7:d") == Payload("d", "", version=7)


def test_the_argument_may_hold_colons() -> None:
    assert decode("g:bp:registrants:m1").arg == "registrants:m1"
    assert decode_action("su:m1:x") == ("su", "m1:x")


@pytest.mark.parametrize("payload", ["", "g", "x:o:yes", "\u00b2:o:yes", "-1:o"])
def test_a_payload_without_a_readable_version_belongs_to_no_step(payload: str) -> None:
    decoded = decode(payload)
    assert decoded.version is None and not decoded.is_global


@pytest.mark.parametrize("codes", CODES, ids=lambda c: c.__name__)
def test_no_two_actions_of_a_step_share_a_code(codes: type[StrEnum]) -> None:
    assert len(codes.__members__) == len(list(codes)), "a repeated code is an alias"


@pytest.mark.parametrize("codes", CODES, ids=lambda c: c.__name__)
def test_no_code_holds_a_colon(codes: type[StrEnum]) -> None:
    assert all(":" not in code for code in codes)
