"""The routing tables: every action and step named in one place."""

from __future__ import annotations

from bot.payloads import GlobalAction
from bot.routes import DEEP_LINKS, GLOBAL_ACTIONS, GLOBAL_COMMANDS, STEPS, step_of
from tests.auxil.chat import Chat


def test_every_global_action_has_a_route() -> None:
    assert set(GLOBAL_ACTIONS) == set(GlobalAction)


def test_commands_and_deep_links_name_global_actions() -> None:
    assert set(GLOBAL_COMMANDS.values()) <= set(GLOBAL_ACTIONS)
    assert set(DEEP_LINKS.values()) <= set(GLOBAL_ACTIONS)


def test_only_the_survey_and_sign_up_wait_for_the_privacy_notice() -> None:
    gated = {code for code, action in GLOBAL_ACTIONS.items() if action.gate is not None}
    assert gated == {GlobalAction.SURVEY, GlobalAction.SIGN_UP}


def test_a_step_is_found_by_its_name_or_its_flow_prefix() -> None:
    assert step_of("survey.question") is STEPS["survey.question"]
    assert step_of("signup.municipality") is STEPS["signup."]
    assert step_of("staff.preview") is STEPS["staff."]
    assert step_of("menu") is None
    assert step_of("survey.unknown") is None


def test_steps_that_store_what_is_said_are_marked() -> None:
    storing = {name for name, step in STEPS.items() if step.stores is not None}
    assert storing == {"survey.question", "survey.review", "signup.", "cancel.confirm"}


async def test_a_mistyped_command_mid_survey_returns_to_the_question(chat: Chat) -> None:
    await chat.command("survey")
    await chat.press("Young person (under 26)")
    await chat.command("admin")
    assert "I don't know the command /admin." in chat.text
    assert "Question 2 of 12" in chat.text  # the question they were at, not the menu
    await chat.send("Asker")  # and their next typed answer is taken as the answer
    assert "Question 3 of 12" in chat.text


async def test_a_mistyped_command_outside_any_step_shows_the_menu(chat: Chat) -> None:
    await chat.command("start")
    await chat.command("admin")
    assert "I don't know the command /admin." in chat.text
    assert "Meetings and sign-up" in chat.labels


async def test_a_forged_press_is_not_called_a_button_from_an_earlier_step(chat: Chat) -> None:
    await chat.command("survey")
    newest = chat.button("Young person (under 26)")
    forged = newest.model_copy(update={"payload": "99" + newest.payload})
    await chat.press_button(forged)
    assert "could not be read" in chat.text and "earlier step" not in chat.text
    assert "Question 1 of 12" in chat.text
    await chat.press_button(newest.model_copy(update={"payload": "x:o:young"}))
    assert "could not be read" in chat.text
