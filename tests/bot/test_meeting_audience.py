"""A survey answer leads to a meeting's sign-up, and a meeting limited to some roles is
offered, and open, only to them (the youth meeting in the shipped campaign)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.campaign import Campaign
from bot.errors import CampaignError
from storage.database import Database
from storage.registrations import registrations_for_meeting
from tests.auxil.chat import Chat


async def to_the_meeting_question(chat: Chat, category: str) -> None:
    """Answer the survey as ``category`` up to 'Would you like to join an input meeting?'."""
    await chat.command("survey")
    await chat.press(category)
    await chat.send("Asker")
    if "How old are you?" in chat.text:
        await chat.press("16–19")
    await chat.press("Never")
    await chat.press("Getting people reading")
    await chat.press("Done")
    await chat.press("4")
    await chat.press("4 Quality education")
    await chat.press("Done")
    if "What would make the library a place for you?" in chat.text:
        await chat.press("Skip")
    await chat.press("Skip")  # ideas
    await chat.press("Yes")  # follow the process
    assert "Would you like to join an input meeting?" in chat.text


async def test_a_young_persons_meeting_choice_offers_its_sign_up_and_leads_back_to_the_survey(
    chat: Chat, db: Database
) -> None:
    await to_the_meeting_question(chat, "Young person (under 26)")
    assert "Youth meeting, 10 June" in chat.labels

    await chat.press("Youth meeting, 10 June")

    assert "You would like to join Input meeting for young people." in chat.text
    assert "Please check your answers" in chat.text  # the next step, below the offer
    await chat.press("Sign up: Youth input meeting")
    await chat.send("Kari Nordmann")
    await chat.press("Young person (under 26)")
    await chat.send("Asker")
    await chat.press("Confirm sign-up")
    assert "You are signed up! Welcome." in chat.text
    await chat.press("Continue the survey")
    assert "Please check your answers" in chat.text
    await chat.press("Send my answers")
    assert "Thank you for your answers!" in chat.text
    rows = await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "youth"))
    assert [(r.status, r.details.role) for r in rows] == [("confirmed", "young")]


async def test_an_adult_is_not_offered_the_youth_meeting_in_the_survey(chat: Chat) -> None:
    await to_the_meeting_question(chat, "Resident")

    assert "Youth meeting, 10 June" not in chat.labels
    await chat.press("Input meeting, 15 June")
    assert "You would like to join Input meeting for libraries" in chat.text
    assert "Sign up: Input meeting for others" in chat.labels


async def test_no_offer_when_already_registered_for_the_chosen_meeting(chat: Chat) -> None:
    await chat.command("start", "signup-others")
    await chat.send("Kari Nordmann")
    await chat.press("Resident")
    await chat.send("Asker")
    await chat.press("Confirm sign-up")
    await to_the_meeting_question(chat, "Resident")

    await chat.press("Input meeting, 15 June")

    assert "You would like to join" not in chat.text
    assert "Please check your answers" in chat.text


async def test_an_adult_signing_up_for_the_youth_meeting_is_told_who_it_is_for(
    chat: Chat, db: Database
) -> None:
    await chat.command("start", "signup-youth")
    await chat.send("Ola Nordmann")

    await chat.press("Resident")

    assert "Sign-up for Input meeting for young people is only for: Young person (under 26)." in (
        chat.text
    )
    assert "Which of these describes you best?" in chat.text
    assert "Other meetings" in chat.labels
    assert await db.transact(lambda tx: registrations_for_meeting(tx, "viken-2021", "youth")) == []
    await chat.press("Young person (under 26)")  # the role was a mistake
    assert "Which municipality" in chat.text


async def test_the_meetings_list_does_not_offer_a_known_adult_the_youth_meeting(
    chat: Chat,
) -> None:
    await to_the_meeting_question(chat, "Library employee")

    await chat.command("meetings")

    assert "Sign up: Youth input meeting" not in chat.labels
    assert "Sign up: Input meeting for others" in chat.labels
    assert "is only for: Young person (under 26)." in chat.text


async def test_the_youth_meetings_message_is_in_the_persons_language(
    engine: Any,
) -> None:
    chat = Chat(engine, "nb1", language="nb")
    await chat.command("start", "signup-youth")
    await chat.send("Ola Nordmann")

    await chat.press("Innbygger")

    assert "Påmelding til Innspillmøte for ungdom er bare for: Ung (under 26 år)." in chat.text


@pytest.mark.parametrize(
    ("edit", "key", "problem"),
    [
        (
            lambda d: d["meetings"][1].update(audience_roles=["teenager"]),
            "meetings[1].audience_roles",
            "['teenager'] are not sign-up roles",
        ),
        (
            lambda d: d["survey"]["questions"][-1]["options"][0].update(signup="party"),
            "survey.questions[11].options[0].signup",
            "'party' is no meeting",
        ),
        (
            lambda d: d["survey"]["questions"][5]["options"][0].update(signup="youth"),
            "survey.questions[5].options[0].signup",
            "only an option of a 'single' question leads to a sign-up",
        ),
        (
            lambda d: d["signup"].update(role_question="use"),
            "signup.role_question",
            "options ['weekly', 'monthly', 'yearly', 'rarely', 'never'] of 'use' are not",
        ),
    ],
)
def test_check_campaign_names_a_wrong_meeting_or_role_reference(
    make_campaign: Callable[..., Campaign],
    edit: Callable[[dict[str, Any]], None],
    key: str,
    problem: str,
) -> None:
    with pytest.raises(CampaignError) as caught:
        make_campaign(edit)
    assert f"{key}: {problem}" in str(caught.value)


async def test_the_offer_comes_below_the_review_whose_numbered_buttons_keep_their_place(
    chat: Chat,
) -> None:
    await to_the_meeting_question(chat, "Young person (under 26)")

    await chat.press("Youth meeting, 10 June")

    assert "Please check your answers" in chat.replies[0].text
    assert chat.labels[0] == "1"  # "press a number to change that answer"
    assert chat.labels[-1] == "Sign up: Youth input meeting"
