"""The console chat, run as the real command with its input piped in."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from bot.clock import FixedClock
from bot.engine import Engine
from bot.messages import Button, Kind, Outgoing, ParticipantRef
from bot.outbox import OutboxDispatcher
from handlers.console import PLATFORM, Console, render, to_incoming
from storage.staff import grant_staff
from tests.auxil.chat import Chat
from tests.bot.test_signup import sign_up
from tests.bot.test_staff import draft_to_info_registrants

SESSION = """\
Meetings and sign-up
Sign up: Information meeting
OK, go on
Kari Nordmann
Library employee
Asker bibliotek
Asker
Confirm sign-up
/survey
Resident
Moss
Never
Getting people reading
Done
4
4 Quality education
Done
Longer opening hours
Yes
No, thanks
Send my answers
/mine
/quit
"""


REPO = Path(__file__).resolve().parents[2]


def run_console(db: Path, stdin: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """The console command on ``db``, run in the database's folder (files it saves go
    there, not into the repository)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PORT"] = "0"  # the web chat on a free port
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "handlers",
            "console",
            "--now",
            "2021-05-25T10:00",
            "--database",
            str(db),
            "--language",
            "en",
            "--user",
            "tester",
            *extra,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=db.parent,
    )


def test_piped_console_session_signs_up_and_completes_the_survey(tmp_path: Path) -> None:
    result = run_console(tmp_path / "console.sqlite3", SESSION)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[1] About the consultation" in out
    assert "You are signed up! Welcome." in out
    assert "Question 1 of 12" in out
    assert "Please check your answers:" in out
    assert "Longer opening hours" in out
    assert "Thank you for your answers!" in out
    assert "Your registrations:" in out and "You have a place." in out
    assert "something went wrong" not in out
    assert out.rstrip().endswith("Bye! Your answers are saved.")


def test_console_offers_the_three_consultations_and_takes_two_surveys(tmp_path: Path) -> None:
    session = "\n".join(
        [
            "Other consultations",
            "Art and culture",
            "/survey",
            "OK, go on",
            "Resident",
            "Children and young people",
            "Done",
            "3",
            "More concerts in small places",
            "Send my answers",
            "/start survey-volunteering",
            "Volunteer",
            "/quit",
            "",
        ]
    )
    result = run_console(tmp_path / "console.sqlite3", session)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Consultation: Viken's strategy for library development" in out
    assert "Open consultations." in out
    for title in ("Library development", "Art and culture", "Volunteering"):
        assert f"] {title}" in out or f"] \u2713 {title}" in out
    assert "Consultation: Viken's strategy for art and culture" in out
    assert "Question 1 of 4" in out
    assert "the strategy for art and culture, which will be decided" in out
    assert "Do you do voluntary work today?" in out
    assert "something went wrong" not in out


def test_console_continues_where_the_last_session_stopped(tmp_path: Path) -> None:
    db = tmp_path / "console.sqlite3"
    run_console(db, "/survey\nOK, go on\nResident\n/quit\n")
    result = run_console(db, "/survey\n/quit\n")
    assert "Welcome back" in result.stdout
    assert "Which municipality" in result.stdout


def test_where_text_is_asked_a_bare_number_is_text_and_hash_picks_a_button() -> None:
    ref = ParticipantRef(platform="console", user_id="me")
    skip = Button(label="Skip", payload="3:k")
    text, buttons = render([Outgoing(text="Write", buttons=[[skip]], expects_text=True)])
    assert "[#1] Skip" in text
    answer = to_incoming("1", buttons, ref, None, number_is_text=True)
    assert (answer.kind, answer.text) == (Kind.TEXT, "1")
    assert to_incoming("#1", buttons, ref, None, number_is_text=True).payload == "3:k"


def test_numbers_pick_buttons_and_slash_words_are_commands() -> None:
    ref = ParticipantRef(platform="console", user_id="me")
    row = [Button(label="A", payload="g:about"), Button(label="B", payload="3:o:b")]
    buttons = render([Outgoing(text="?", buttons=[row])])[1]
    assert to_incoming("2", buttons, ref, None).payload == "3:o:b"
    assert to_incoming("3", buttons, ref, None).kind is Kind.TEXT
    command = to_incoming("/start signup-info", buttons, ref, None)
    assert (command.kind, command.command, command.args) == (Kind.COMMAND, "start", "signup-info")


def test_render_numbers_buttons_across_messages_and_letters_tick_boxes() -> None:
    """Tick boxes take letters: an option such as "3 Good health" beside the number 1 would
    invite typing 3 for it."""
    text, keys = render(
        [
            Outgoing(text="First", buttons=[[Button(label="x", payload="g:a")]]),
            Outgoing(
                text="Second",
                buttons=[
                    [
                        Button(label="y", payload="1:t:y", selected=True),
                        Button(label="z", payload="1:t:z", selected=False),
                    ]
                ],
            ),
        ]
    )
    assert "[1] x" in text and "[a] [x] y   [b] [ ] z" in text
    assert {key: b.label for key, b in keys.items()} == {"1": "x", "a": "y", "b": "z"}
    ref = ParticipantRef(platform="console", user_id="me")
    assert to_incoming("B", keys, ref, None).payload == "1:t:z"


def test_long_lines_and_rows_of_buttons_wrap_at_the_terminal_width() -> None:
    text = (
        "What should the libraries in Viken focus on? Answer up to 12 short questions - "
        "it only takes a few minutes.\n\n- a list item that is long enough to need a second "
        "line here"
    )
    row = [Button(label=f"Option {n}", payload=f"1:o:{n}") for n in range(4)]
    shown, _numbered = render([Outgoing(text=text, buttons=[row])], width=40)

    lines = shown.splitlines()
    assert max(len(line) for line in lines) <= 40
    assert "- a list item that is long enough to" in lines
    assert "  need a second line here" in lines  # under the item's text
    assert "[1] Option 0   [2] Option 1" in lines  # three would be 42 wide
    assert "[3] Option 2   [4] Option 3" in lines
    # Piped (no width): as the bot wrote it.
    assert render([Outgoing(text=text)])[0] == text


def test_a_bare_number_picks_a_listed_municipality_while_names_still_search(
    tmp_path: Path,
) -> None:
    result = run_console(
        tmp_path / "console.sqlite3",
        "/survey\nOK, go on\nResident\nMo\n2\n"
        "/start signup-info\nKari Nordmann\nResident\nMo\n2\n/quit\n",
    )

    out = result.stdout
    assert "[1] Modum" in out and "[2] Moss" in out  # typed letters searched
    assert "No municipality matches" not in out
    assert "How often do you use the library?" in out  # "2" answered: Moss, next question
    assert "Municipality: Moss" in out  # and the sign-up's step


def test_quit_says_goodbye_in_the_language_the_person_chose(tmp_path: Path) -> None:
    result = run_console(tmp_path / "console.sqlite3", "/language\nNorsk bokmål\n/quit\n")

    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("Ha det! Svarene dine er lagret.")


def test_a_second_copy_of_my_data_does_not_overwrite_the_first(tmp_path: Path) -> None:
    result = run_console(
        tmp_path / "console.sqlite3", "/mydata\n/language\nNorsk bokmål\n/mydata\n"
    )

    files = tmp_path / "participation-bot-files"
    assert "(file: participation-bot-files/my-data.json)" in result.stdout
    assert "(file: participation-bot-files/my-data-2.json)" in result.stdout
    assert json.loads((files / "my-data.json").read_text())["you"]["language"] == "en"
    assert json.loads((files / "my-data-2.json").read_text())["you"]["language"] == "nb"
    assert sorted(path.name for path in files.iterdir()) == ["my-data-2.json", "my-data.json"]


def test_help_in_the_console_names_quit_and_menu(tmp_path: Path) -> None:
    result = run_console(tmp_path / "console.sqlite3", "/help\n/quit\n")

    assert "How this works:" in result.stdout
    assert "/menu opens the main menu, /quit leaves (your answers are kept)" in result.stdout
    assert "press a button with #2" in result.stdout


async def test_a_broadcast_to_console_people_not_at_this_terminal_ends_with_a_summary(
    engine: Engine, clock: FixedClock
) -> None:
    for user in ("a", "b"):
        await sign_up(Chat(engine, user, platform="console"))
    await engine.db.transact(lambda tx: grant_staff(tx, "console", "", "boss", "", clock.now()))
    boss = Chat(engine, "boss", platform="console")
    await boss.command("staff")
    await draft_to_info_registrants(boss)
    await boss.press("Send it to 2 people")
    shown = io.StringIO()
    console = Console(engine, user="boss", stdin=io.StringIO(), stdout=shown)
    dispatcher = OutboxDispatcher(engine.db, PLATFORM, console.deliver_outbox, clock, rate=1000)

    await dispatcher.run_once()  # a and b are not at this terminal
    await dispatcher.run_once()  # the summary, to boss, who is

    assert (
        "Your broadcast has gone out: sent 0, failed 0, unreachable 2, in doubt 0, left 0."
        in shown.getvalue()
    )
