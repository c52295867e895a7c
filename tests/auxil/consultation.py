"""A small consultation with every kind of answer the results must count right.

Four people sent the survey and one started it without sending it. Three signed up for the
information meeting first (``tests.bot.test_results.PEOPLE``: two residents and a young
person; each skipped "Ideas", none was asked "Uses the library for" or "Input meeting");
a library employee answered everything, ideas and input meeting included; another library
employee got as far as the priorities and stopped (in progress: counted nowhere).
"""

from __future__ import annotations

from bot.engine import Engine
from tests.auxil.chat import Chat
from tests.bot.test_results import PEOPLE, answer

SENT, UNSENT, REGISTERED = 4, 1, 3


async def everything(engine: Engine) -> None:
    """A library employee in Moss who answers every question shown, and sends."""
    chat = Chat(engine, "s1")
    await chat.command("survey")
    await chat.press("Library employee")
    await chat.send("Moss")
    await chat.press("Every week")
    await chat.press("Borrow books")
    await chat.press("Read or study")
    await chat.press("Done")
    await chat.press("Learning and education")
    await chat.press("Done")
    await chat.press("5")
    await chat.press("4 Quality education")
    await chat.press("Done")
    await chat.send("Open on Sundays")
    await chat.press("Yes")
    await chat.press("No, thanks")
    await chat.press("Send my answers")


async def started_not_sent(engine: Engine) -> None:
    """A library employee in Drammen who stops at the priorities, never sending."""
    chat = Chat(engine, "u1")
    await chat.command("survey")
    await chat.press("Library employee")
    await chat.send("Drammen")
    await chat.press("Every week")
    await chat.press("Borrow books")
    await chat.press("Done")
    await chat.press("Digital inclusion")
    await chat.press("Done")


async def fill_consultation(engine: Engine) -> None:
    """The consultation described above."""
    for person in PEOPLE:
        await answer(engine, *person)
    await everything(engine)
    await started_not_sent(engine)
