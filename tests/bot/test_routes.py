"""The routing tables: every action and step named in one place."""

from __future__ import annotations

from bot.payloads import GlobalAction
from bot.routes import DEEP_LINKS, GLOBAL_ACTIONS, GLOBAL_COMMANDS, STEPS, step_of


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
