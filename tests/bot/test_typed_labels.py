"""Typing instead of pressing: a button's label, or the start of exactly one, presses it;
where words are asked for, what is typed is always the answer."""

from __future__ import annotations

from bot.engine import Engine
from storage.database import Database
from tests.auxil.chat import Chat
from tests.bot.test_survey import stored_answers


async def test_typing_a_label_presses_its_button(chat: Chat) -> None:
    await chat.command("survey")
    await chat.send("resident")
    assert "Which municipality" in chat.text


async def test_the_start_of_exactly_one_label_presses_it(engine: Engine, db: Database) -> None:
    chat = Chat(engine, "nb1", language="nb")
    await chat.command("survey")

    await chat.send("ung")  # "Ung (under 26 år)", the only label that starts so

    assert "Hvilken kommune" in chat.text
    assert (await stored_answers(db, "nb1"))["category"] == "young"


async def test_the_start_of_several_labels_presses_none(chat: Chat, db: Database) -> None:
    await chat.command("survey")
    await chat.send("Mu")  # "Municipality" only: pressed
    assert "Which municipality" in chat.text
    await chat.send("Asker")
    await chat.send("Every")  # "Every week" and "Every month"

    assert "Please answer with the buttons below." in chat.text
    assert "use" not in await stored_answers(db)


async def test_at_a_written_answer_a_typed_label_is_the_answer(chat: Chat, db: Database) -> None:
    await chat.command("survey")
    await chat.press("Resident")
    await chat.send("Asker")
    for step in ("Never", "Getting people reading", "Done", "4", "4 Quality education"):
        await chat.press(step)
    await chat.press("Done")
    assert "Do you have other ideas" in chat.text and "Skip" in chat.labels

    await chat.send("Skip")

    assert (await stored_answers(db))["ideas"] == "Skip"


async def test_a_name_typed_as_a_buttons_label_is_the_name(chat: Chat) -> None:
    await chat.command("start", "signup-info")
    await chat.send("Cancel sign-up")
    assert "Which of these describes you best?" in chat.text
