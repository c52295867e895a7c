"""The survey through the engine: progress, types, show_if, Back, skip, resume, review."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.campaign import Campaign
from bot.clock import FixedClock
from bot.engine import Engine
from bot.turn import ConversationState
from storage.conversations import load_state, save_state
from storage.database import Database
from storage.open import open_database
from storage.participants import find_participant
from storage.responses import load_response
from tests.auxil.chat import Chat
from tests.bot.test_signup import sign_up
from tests.conftest import oslo


async def stored_answers(
    db: Database, user: str = "u1", platform: str = "test"
) -> dict[str, object]:
    """The person's stored survey answers, decoded."""

    async def job(tx):  # type: ignore[no-untyped-def]
        p = await find_participant(tx, platform, "", user)
        response = await load_response(tx, p.id, "viken-2021", "strategy")
        return {
            qid: (None if a.value is None else json.loads(a.value))
            for qid, a in response.answers.items()
        }

    return await db.transact(job)


async def answer_as_young_person(chat: Chat) -> None:
    """Answer up to the priorities question as a young person from Asker."""
    await chat.command("survey")
    await chat.press("Young person (under 26)")
    await chat.send("Asker")
    await chat.press("16–19")
    await chat.press("Every week")


async def test_first_question_shows_progress_and_buttons(chat: Chat) -> None:
    await chat.command("survey")
    assert "Question 1 of 12" in chat.text
    assert "Who are you answering as?" in chat.text
    assert "Young person (under 26)" in chat.labels
    assert "Back" not in chat.labels


async def test_show_if_asks_age_only_of_young_people(chat: Chat, db: Database) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    await chat.send("Asker")
    assert "How often do you use the library?" in chat.text
    assert "Question 3 of 10" in chat.text

    await chat.press("Back")
    await chat.press("Back")
    await chat.press("Young person (under 26)")
    await chat.send("Asker")
    assert "How old are you?" in chat.text
    assert "Question 3 of 12" in chat.text


async def test_show_if_on_never_skips_what_you_use_it_for(chat: Chat) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    await chat.send("Moss")
    await chat.press("Never")
    assert "What should the libraries in Viken focus on" in chat.text


async def test_multi_select_ticks_limits_and_done(chat: Chat, db: Database) -> None:
    await answer_as_young_person(chat)
    await chat.press("Skip")  # use_for is optional
    assert "Choose up to 3 options" in chat.text
    for label in ("Getting people reading", "Digital inclusion", "Accessible to everyone"):
        await chat.press(label)
    assert chat.button("Digital inclusion").selected is True
    assert chat.button("Learning and education").selected is False
    await chat.press("Learning and education")
    assert "at most 3 options" in chat.text
    await chat.press("Digital inclusion")  # untick
    await chat.press("Learning and education")
    await chat.press("Done")
    answers = await stored_answers(db)
    assert answers["priorities"] == ["reading", "learning", "access"]


async def test_required_multi_needs_one_choice(chat: Chat) -> None:
    await answer_as_young_person(chat)
    await chat.press("Skip")
    await chat.press("Done")
    assert "choose at least one" in chat.text


async def test_skip_stores_a_skipped_answer_only_for_optional_questions(
    chat: Chat, db: Database
) -> None:
    await chat.command("survey")
    assert "Skip" not in chat.labels
    await chat.press("Resident")
    await chat.send("Moss")
    await chat.press("Every month")
    assert "Skip" in chat.labels
    await chat.press("Skip")
    answers = await stored_answers(db)
    assert "use_for" in answers and answers["use_for"] is None


async def test_scale_has_end_labels(chat: Chat) -> None:
    await answer_as_young_person(chat)
    await chat.press("Skip")
    await chat.press("Getting people reading")
    await chat.press("Done")
    assert "1 = Not important\n5 = Very important" in chat.text
    assert chat.labels[:5] == ["1", "2", "3", "4", "5"]


async def test_text_where_a_button_was_expected_repeats_the_question(chat: Chat) -> None:
    await chat.command("survey")
    await chat.send("I am a cat")
    assert "Please answer with the buttons" in chat.text
    assert "Question 1 of 12" in chat.text


async def test_typing_a_buttons_label_counts_as_pressing_it(chat: Chat, db: Database) -> None:
    await chat.command("survey")
    await chat.send("resident")
    assert "Which municipality" in chat.text
    assert (await stored_answers(db))["category"] == "resident"


async def test_sticker_gets_a_hint_and_the_question_again(chat: Chat) -> None:
    await chat.command("survey")
    await chat.sticker()
    assert "stickers" in chat.text
    assert "Who are you answering as?" in chat.text


async def test_over_long_text_is_refused_and_nothing_is_stored(chat: Chat, db: Database) -> None:
    await answer_as_young_person(chat)
    await chat.press("Skip")
    await chat.press("Getting people reading")
    await chat.press("Done")
    await chat.press("4")
    await chat.press("4 Quality education")
    await chat.press("Done")
    assert "What would make the library a place for you?" in chat.text
    await chat.send("x" * 501)
    assert "501 characters" in chat.text and "limit is 500" in chat.text
    assert "youth_offer" not in await stored_answers(db)
    await chat.send("More comics, please")
    assert (await stored_answers(db))["youth_offer"] == "More comics, please"


async def test_stale_button_says_moved_on_and_changes_nothing(chat: Chat, db: Database) -> None:
    await chat.command("survey")
    old_resident = chat.button("Resident")
    await chat.press("Library employee")
    await chat.press_button(old_resident)
    assert "moved on" in chat.text
    assert "Which municipality" in chat.text
    assert (await stored_answers(db))["category"] == "library"


async def test_invalid_payload_shows_the_current_step_again(chat: Chat) -> None:
    await chat.command("survey")
    from bot.messages import Kind

    await chat.deliver(chat.incoming(Kind.BUTTON, payload="zz:o:nonsense"))
    # Not a button the bot made: it is said so (not "from an earlier step"), and the
    # question the person is at comes again.
    assert "could not be read" in chat.text and "Question 1 of 12" in chat.text
    await chat.deliver(chat.incoming(Kind.BUTTON, payload="g:unknown"))
    assert "What would you like to do?" in chat.text


async def complete_survey(chat: Chat) -> None:
    await answer_as_young_person(chat)
    await chat.press("Borrow books")
    await chat.press("Done")
    await chat.press("Getting people reading")
    await chat.press("Done")
    await chat.press("5")
    await chat.press("4 Quality education")
    await chat.press("Done")
    await chat.send("A quiet room for homework")
    await chat.press("Skip")  # ideas
    await chat.press("Yes")
    await chat.press("Youth meeting, 10 June")


async def test_review_lists_every_answer_and_submit(chat: Chat, db: Database) -> None:
    await complete_survey(chat)
    assert "Please check your answers" in chat.text
    assert "Borrow books" in chat.text
    assert "A quiet room for homework" in chat.text
    assert "(skipped)" in chat.text
    await chat.press("Send my answers")
    assert "change your answers until Monday, 14 June 2021" in chat.text
    await chat.command("start")
    assert "Change my survey answers" in chat.labels


async def test_change_an_answer_from_the_review(chat: Chat, db: Database) -> None:
    await complete_survey(chat)
    await chat.press("7")  # importance
    assert "Your answer now: 5" in chat.text
    await chat.press("2")
    assert "Saved." in chat.text and "Please check your answers" in chat.text
    assert (await stored_answers(db))["importance"] == 2


async def test_change_answers_after_submitting_until_the_deadline(
    chat: Chat, db: Database, clock: FixedClock
) -> None:
    await complete_survey(chat)
    await chat.press("Send my answers")
    await chat.command("survey")
    assert "already sent your answers" in chat.text
    await chat.press("1")
    await chat.press("Resident")
    assert (await stored_answers(db))["category"] == "resident"
    assert "How old are you?" not in chat.text

    clock.set(oslo(2021, 6, 14, 12, 0))
    await chat.command("survey")
    assert "The survey closed Monday, 14 June 2021" in chat.text
    assert "Your answers are kept" in chat.text
    assert (await stored_answers(db))["category"] == "resident"


async def test_deadline_closes_the_survey_in_the_middle(
    chat: Chat, db: Database, clock: FixedClock
) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    clock.set(oslo(2021, 6, 14, 12, 0, 1))
    await chat.send("Moss")
    assert "survey closed" in chat.text
    assert "municipality" not in await stored_answers(db)
    assert (await stored_answers(db))["category"] == "resident"
    await chat.command("start")
    assert not any("survey" in label for label in chat.labels)


async def test_an_edit_that_brings_up_a_required_question_asks_it_then_returns(
    chat: Chat, db: Database
) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    await chat.send("Moss")
    await chat.press("Never")
    await chat.press("Getting people reading")
    await chat.press("Done")
    await chat.press("3")
    await chat.press("4 Quality education")
    await chat.press("Done")
    await chat.press("Skip")
    await chat.press("No")
    await chat.press("Send my answers")

    await chat.command("survey")
    await chat.press("1")
    await chat.press("Young person (under 26)")
    assert "new question" in chat.text and "How old are you?" in chat.text
    await chat.press("13–15")
    assert "What would make the library a place for you?" in chat.text  # optional, new
    await chat.press("Skip")
    assert "Saved." in chat.text and "Your answers:" in chat.text
    assert (await stored_answers(db))["age"] == "13-15"


async def test_a_sent_response_keeps_no_answers_to_hidden_questions(
    chat: Chat, db: Database
) -> None:
    await complete_survey(chat)  # as a young person: age and youth_offer answered
    await chat.press("Send my answers")
    await chat.command("survey")
    await chat.press("1")
    await chat.press("Resident")
    answers = await stored_answers(db)
    assert "age" not in answers and "youth_offer" not in answers
    assert answers["category"] == "resident"


async def test_resume_after_restart_continues_where_they_were(
    campaign: Campaign, db_url, clock: FixedClock
) -> None:
    first = await open_database(db_url)
    await answer_as_young_person(Chat(Engine(campaign, first, clock)))
    await first.close()

    second = await open_database(db_url)
    try:
        chat = Chat(Engine(campaign, second, clock))
        await chat.command("start")
        assert "Continue the survey" in chat.labels
        await chat.press("Continue the survey")
        assert "Welcome back" in chat.text
        assert "What do you use the library for?" in chat.text
        assert "Question 5 of 12" in chat.text
        await chat.press("Back")
        assert "Your answer now: Every week" in chat.text
    finally:
        await second.close()


async def test_pause_goes_to_menu_and_keeps_the_place(chat: Chat) -> None:
    await answer_as_young_person(chat)
    await chat.press("Pause (answers are saved)")
    assert "What would you like to do?" in chat.text
    await chat.command("help")
    await chat.command("survey")
    assert "What do you use the library for?" in chat.text


async def test_pausing_says_the_answers_are_saved(chat: Chat) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    await chat.press("Pause (answers are saved)")
    assert "Your answers are saved" in chat.text
    assert "Continue the survey" in chat.labels


async def test_a_typed_municipality_says_which_was_chosen(chat: Chat) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    await chat.send("nes")
    assert "Chosen: Nes" in chat.text and "How often" in chat.text


def restarted(chat: Chat, campaign: Campaign, db: Database, clock: FixedClock) -> Chat:
    """The same person after the bot restarted: a new engine (nothing in memory) on the
    same database."""
    return Chat(Engine(campaign, db, clock), chat.ref.user_id)


async def test_continuing_after_reaching_the_review_shows_the_review(
    chat: Chat, campaign: Campaign, db: Database, clock: FixedClock
) -> None:
    await complete_survey(chat)
    assert "Please check your answers" in chat.text

    chat = restarted(chat, campaign, db, clock)
    await chat.command("start")
    await chat.press("Continue the survey")
    assert "Please check your answers" in chat.text
    assert "Question 12 of 12" not in chat.text
    assert "Send my answers" in chat.labels


async def test_continuing_a_change_from_the_review_returns_to_the_review(
    chat: Chat, campaign: Campaign, db: Database, clock: FixedClock
) -> None:
    await complete_survey(chat)
    await chat.press("7")  # importance, opened from the review

    chat = restarted(chat, campaign, db, clock)
    await chat.command("start")
    await chat.press("Continue the survey")
    assert "How important" in chat.text and "Your answer now: 5" in chat.text
    assert "Back to review" in chat.labels and "Back" not in chat.labels
    await chat.press("2")
    assert "Saved." in chat.text and "Please check your answers" in chat.text
    assert (await stored_answers(db))["importance"] == 2


async def test_a_sign_up_in_between_keeps_the_change_from_the_review(
    chat: Chat, db: Database
) -> None:
    await complete_survey(chat)
    await chat.press("7")
    await chat.command("start")
    await chat.press("Meetings and sign-up")
    await chat.press("Sign up: Information meeting")
    await chat.send("Kari")
    await chat.press("Library employee")
    await chat.send("Asker bibliotek")
    await chat.send("bær")
    await chat.press("Bærum")
    await chat.press("Confirm sign-up")

    await chat.command("survey")
    assert "Your answer now: 5" in chat.text and "Back to review" in chat.labels
    await chat.press("3")
    assert "Please check your answers" in chat.text


async def test_a_change_from_the_review_saved_by_an_earlier_version_still_returns_there(
    chat: Chat, campaign: Campaign, db: Database, clock: FixedClock
) -> None:
    """States stored before the survey had its own ``from_review`` said so with ``editing``."""
    await complete_survey(chat)
    await chat.press("7")

    async def as_before(tx):  # type: ignore[no-untyped-def]
        p = await find_participant(tx, "test", "", "u1")
        state = json.loads(await load_state(tx, p.id))
        del state["from_review"]
        state["editing"] = True
        save_state(tx, p.id, json.dumps(state), clock.now())

    await db.transact(as_before)
    shown = chat.replies
    chat = restarted(chat, campaign, db, clock)
    chat.replies = shown
    await chat.press("2")
    assert "Saved." in chat.text and "Please check your answers" in chat.text


async def test_ticks_not_yet_done_are_still_ticked_on_continuing(
    chat: Chat, campaign: Campaign, db: Database, clock: FixedClock
) -> None:
    await answer_as_young_person(chat)
    await chat.press("Skip")  # use_for
    await chat.press("Getting people reading")
    await chat.press("Digital inclusion")

    chat = restarted(chat, campaign, db, clock)
    await chat.command("start")
    await chat.press("Continue the survey")
    assert "What should the libraries in Viken focus on" in chat.text
    assert chat.button("Getting people reading").selected is True
    assert chat.button("Digital inclusion").selected is True
    assert chat.button("Learning and education").selected is False
    await chat.press("Done")
    assert (await stored_answers(db))["priorities"] == ["reading", "digital"]


def sdgs_last(data: dict[str, Any]) -> None:
    """The multi-select SDG question moved to the end of the survey."""
    questions = data["survey"]["questions"]
    questions.append(questions.pop(next(i for i, q in enumerate(questions) if q["id"] == "sdgs")))


async def test_changing_the_last_ticks_from_the_review_starts_from_the_stored_ones(
    make_campaign: Callable[..., Campaign], db: Database, clock: FixedClock
) -> None:
    chat = Chat(Engine(make_campaign(sdgs_last), db, clock))
    await chat.command("survey")
    await chat.press("Resident")
    await chat.send("Moss")
    await chat.press("Never")
    await chat.press("Getting people reading")
    await chat.press("Done")
    await chat.press("3")
    await chat.press("Skip")  # ideas
    await chat.press("No")
    await chat.press("4 Quality education")
    await chat.press("Done")
    assert "Please check your answers" in chat.text
    await chat.press("8")  # the SDGs, the question asked just before the review
    assert "Which goals should libraries support most?" in chat.text
    assert chat.button("4 Quality education").selected is True


async def stored_answer_time(db: Database, question: str, user: str = "u1") -> object:
    """When the person's answer to ``question`` was stored."""

    async def job(tx):  # type: ignore[no-untyped-def]
        p = await find_participant(tx, "test", "", user)
        response = await load_response(tx, p.id, "viken-2021", "strategy")
        return response.answers[question].answered_at

    return await db.transact(job)


async def test_a_typed_answer_can_be_kept_when_going_back_to_it(
    chat: Chat, db: Database, clock: FixedClock
) -> None:
    await answer_as_young_person(chat)
    await chat.press("Skip")  # use_for
    await chat.press("Getting people reading")
    await chat.press("Done")
    await chat.press("5")
    await chat.press("4 Quality education")
    await chat.press("Done")
    assert "What would make the library a place for you?" in chat.text
    assert "Keep this answer" not in chat.labels  # nothing typed yet
    await chat.send("A quiet room for homework")
    answered = await stored_answer_time(db, "youth_offer")

    clock.set(oslo(2021, 5, 26, 9, 0))
    await chat.press("Back")
    assert "Your answer now: A quiet room for homework" in chat.text
    await chat.press("Keep this answer")
    assert "Do you have other ideas" in chat.text
    assert (await stored_answers(db))["youth_offer"] == "A quiet room for homework"
    assert await stored_answer_time(db, "youth_offer") == answered


async def test_a_typed_answer_opened_from_the_review_can_be_kept(chat: Chat, db: Database) -> None:
    await complete_survey(chat)
    await chat.press("10")  # ideas: skipped, so nothing to keep
    assert "Keep this answer" not in chat.labels
    await chat.press("Back to review")
    await chat.press("9")  # youth_offer
    await chat.press("Keep this answer")
    assert "Please check your answers" in chat.text and "Saved." not in chat.text
    assert (await stored_answers(db))["youth_offer"] == "A quiet room for homework"


async def test_a_municipality_answered_before_can_be_kept_without_typing_it_again(
    chat: Chat, db: Database
) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    await chat.send("Moss")
    assert "Question 3 of" in chat.text
    await chat.press("Back")
    assert "Your answer now: Moss" in chat.text
    await chat.press("Keep this answer")
    assert "Question 3 of" in chat.text
    assert (await stored_answers(db))["municipality"] == "Moss"


async def test_a_platform_with_its_own_command_syntax_gets_it_in_the_bots_texts_only(
    engine: Engine, chat: Chat
) -> None:
    """Slack users type "/consultation help": the bot's texts name commands so, but what a
    person typed is shown back as they wrote it."""
    engine.command_prefixes[chat.ref.platform] = "/consultation "
    await chat.command("help")
    assert "/consultation survey" in chat.text and " /survey" not in chat.text
    await chat.command("nonsense")
    assert "/consultation nonsense" in chat.text

    idea = "Open earlier (/start at 8) and a /help desk"
    await answer_as_young_person(chat)
    await chat.press("Skip")  # use_for
    await chat.press("Getting people reading")
    await chat.press("Done")
    await chat.press("5")
    await chat.press("4 Quality education")
    await chat.press("Done")
    await chat.send(idea)
    await chat.press("Back")
    assert f"Your answer now: {idea}" in chat.text


async def test_an_earlier_versions_state_at_the_review_opens_a_question_with_its_answer(
    chat: Chat, campaign: Campaign, db: Database, clock: FixedClock
) -> None:
    """The review used to keep naming the last question opened: taking that for unconfirmed
    ticks would show none, and Done would store the question as skipped."""
    await complete_survey(chat)
    before = (await stored_answers(db))["use_for"]

    async def as_before(tx):  # type: ignore[no-untyped-def]
        p = await find_participant(tx, "test", "", "u1")
        state = json.loads(await load_state(tx, p.id))
        del state["from_review"]
        state.update(question="use_for", selection=[])
        save_state(tx, p.id, json.dumps(state), clock.now())

    await db.transact(as_before)
    shown = chat.replies
    chat = restarted(chat, campaign, db, clock)
    chat.replies = shown
    await chat.press("5")  # use_for, from the review
    await chat.press("Done")
    assert "Please check your answers" in chat.text
    assert (await stored_answers(db))["use_for"] == before


def test_an_earlier_versions_change_from_the_review_interrupted_by_the_notice_is_kept() -> None:
    old = {
        "step": "privacy.notice",
        "resume_step": "survey.question",
        "after_notice": "resume",
        "question": "ideas",
        "editing": True,
    }
    state = ConversationState.model_validate(old)
    assert state.from_review and not state.editing
    signing_up = {**old, "resume_step": "signup.summary", "question": None}
    assert ConversationState.model_validate(signing_up).editing


async def test_the_municipality_given_at_sign_up_is_offered_in_the_survey(
    chat: Chat, db: Database
) -> None:
    await sign_up(chat)  # municipality: Bærum
    await chat.command("survey")
    await chat.press("Resident")
    assert "Which municipality" in chat.text and "Bærum" in chat.labels
    await chat.press("Bærum")
    assert (await stored_answers(db))["municipality"] == "Bærum"
