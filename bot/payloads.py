"""What a button sends back: the payload codes, and the one place payloads are made and read.

A payload is a short string (Telegram allows 64 bytes of callback data), in one of two forms:

``g:<action>[:<arg>]``
    A global action: works from any step (navigation, "sign up for meeting X").
``<version>:<action>[:<arg>]``
    An action of the step the person is at; ``version`` is the state's version when the
    button was made, so a button from an earlier step is recognised as stale.

``<action>[:<arg>]`` alone is kept in a state (where to go once the privacy notice is
accepted). The argument may itself hold colons; the action never does.

The wire format is fixed: payloads are stored in states (the labels typed instead of
pressed), sit in buttons already sent, and are pressed by the tests. ``bot/routes.py``
names the handler of every code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GLOBAL_PREFIX = "g"
"""The first part of a global action's payload (where a step's payload has its version)."""

SIGN_UP_LINK = "signup-"
SURVEY_LINK = "survey-"
"""``/start survey-<campaign>``: that campaign's survey."""
CONSULTATION_LINK = "consultation-"
"""``/start consultation-<campaign>``: that campaign's menu."""
"""A deep link (``/start signup-<meeting id>``) straight to a meeting's sign-up."""


class GlobalAction(StrEnum):
    """Actions that work from any step (``g:<action>[:<arg>]``)."""

    MENU = "menu"
    PAUSE = "pause"
    """Leave the survey for the menu (the answers are saved)."""
    ABOUT = "about"
    HELP = "help"
    LANGUAGE = "lang"
    """The languages to choose from; with a language code as the argument, choose it."""
    RESUME = "resume"
    """Show again the step the person is at."""
    MEETINGS = "meetings"
    SIGN_UP = "su"
    """Sign up for the meeting named by the argument."""
    SIGN_UP_FORM = "sf"
    """A filled-in sign-up form (a Slack modal) for the meeting named by the argument."""
    MINE = "mine"
    """The person's registrations."""
    CANCEL_REGISTRATION = "cx"
    """Ask before cancelling the registration for the meeting named by the argument."""
    CALENDAR_INVITE = "ics"
    """The calendar file of the meeting named by the argument."""
    SURVEY = "survey"
    """The survey (of the campaign named by the argument, if any: the person moves there)."""
    CONSULTATIONS = "cs"
    """The open consultations to choose from; with a campaign's id, go into it."""
    PRIVACY = "privacy"
    MY_DATA = "mydata"
    DELETE = "delete"
    STAFF = "staff"
    RESULTS = "results"
    """Staff: the results as a spreadsheet."""
    REPORT = "report"
    """Staff: the results as an HTML report."""
    BATCHES = "batches"
    """Staff: how far each broadcast and reminder got."""
    NEW_BROADCAST = "bc"
    BROADCAST_PROGRESS = "bp"
    """Staff: how far the broadcast named by the argument got."""
    RELOAD = "reload"
    """Staff: read the campaign file again."""
    NOTIFY_REGISTRANTS = "nt"
    """Staff: tell the registrants of the meeting named by the argument its new details."""


class NoticeAction(StrEnum):
    """The privacy notice (step ``privacy.notice``)."""

    OK = "ok"


class DeleteAction(StrEnum):
    """'Delete my data?' (step ``privacy.delete``)."""

    YES = "y"
    NO = "n"


class CancelAction(StrEnum):
    """'Cancel your registration?' (step ``cancel.confirm``)."""

    YES = "y"
    NO = "n"


class SignUpAction(StrEnum):
    """Signing up in the chat (steps ``signup.*``)."""

    CANCEL = "x"
    WAIT = "y"
    """Yes, put me on the waiting list."""
    USE_PROFILE_NAME = "un"
    ROLE = "r"
    """The role named by the argument."""
    NO_ORGANISATION = "no"
    MUNICIPALITY = "m"
    """The municipality at the argument's index in the campaign's list, or ``other``."""
    CHANGE = "ed"
    """Change the detail named by the argument (from the summary)."""
    SUMMARY = "sm"
    """Back to the summary without changing the detail."""
    CONFIRM = "c"


class QuestionAction(StrEnum):
    """A survey question (step ``survey.question``)."""

    OPTION = "o"
    """Answer with the option (or scale value, yes/no) named by the argument."""
    TICK = "t"
    """Tick or untick the option named by the argument (a multi-select question)."""
    DONE = "d"
    """Confirm the ticks."""
    MUNICIPALITY = "m"
    """The municipality at the argument's index in the campaign's list, or ``other``."""
    SKIP = "k"
    KEEP = "kp"
    """Keep the typed answer given before."""
    BACK = "b"
    TO_REVIEW = "rv"


class ReviewAction(StrEnum):
    """The survey's review (step ``survey.review``)."""

    CHANGE = "e"
    """Change the answer to the question named by the argument."""
    SEND = "s"


class BroadcastAction(StrEnum):
    """Staff writing a broadcast (steps ``staff.*``)."""

    CANCEL = "x"
    RESTART = "re"
    """Choose another group."""
    SEGMENT = "seg"
    """Send to the segment named by the argument."""
    PLATFORM = "pf"
    """Only people on the platform named by the argument (empty: all)."""
    LANGUAGE = "lg"
    """Only people who use the language named by the argument (empty: all)."""
    ADD_LANGUAGE = "tl"
    """Write a version in the language named by the argument."""
    SEND = "send"


@dataclass(frozen=True)
class Payload:
    """A payload read: its action and argument, and whose it is."""

    action: str
    arg: str = ""
    is_global: bool = False
    version: int | None = None
    """The step version a step's button was made at (None: global, or unreadable)."""


def encode_action(action: str, arg: str | None = None) -> str:
    """``<action>[:<arg>]``: an action kept in a state. An argument of "" is kept (``pf:``
    reads as "all platforms"); None leaves it out."""
    # A plain str also for a code's enum member: it is stored in a state.
    return f"{action}" if arg is None else f"{action}:{arg}"


def decode_action(text: str) -> tuple[str, str]:
    """(action, argument) of ``encode_action``'s text ("" when there is no argument)."""
    action, _sep, arg = text.partition(":")
    return action, arg


def encode_global(action: str, arg: str | None = None) -> str:
    """The payload of a global action (a button that works from any step)."""
    return f"{GLOBAL_PREFIX}:{encode_action(action, arg)}"


def encode_step(version: int, action: str, arg: str | None = None) -> str:
    """The payload of an action of the step at ``version`` (stale once the step changes)."""
    return f"{version}:{encode_action(action, arg)}"


def decode(payload: str) -> Payload:
    """Read any payload; one whose version is unreadable has ``version`` None (stale)."""
    scope, _sep, rest = payload.partition(":")
    action, arg = decode_action(rest)
    if scope == GLOBAL_PREFIX and _sep:
        return Payload(action, arg, is_global=True)
    return Payload(action, arg, version=int(scope) if scope.isdecimal() else None)
