"""Where an event goes: the tables of commands, deep links, global actions and steps.

``route(turn, new_person)`` is called by the engine inside the event's transaction. A
command, a button press or a filled-in form, or typed text goes to:

- ``GLOBAL_ACTIONS``: what a global action (``g:<action>``, a command, a deep link) runs;
- ``STEPS``: per step (or step prefix such as ``signup.``), what a press of one of its
  buttons runs, what typed text runs, and how the step is shown again.

Adding an action or a step is adding a row; its payload codes are in ``bot/payloads.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from bot import (
    meetings,
    menu,
    privacy,
    review,
    signup,
    signup_form,
    staff,
    staff_broadcast,
    survey,
)
from bot.campaign import sign_up_open, survey_state
from bot.hints import cannot_use
from bot.i18n import _
from bot.messages import Kind, Outgoing
from bot.payloads import (
    CONSULTATION_LINK,
    SIGN_UP_LINK,
    SURVEY_LINK,
    GlobalAction,
    NoticeAction,
    decode,
    decode_action,
    encode_action,
)
from bot.turn import ConversationState, Turn

ActionHandler = Callable[[Turn, str], Awaitable[None]]
"""Runs a global action with its argument ("" when there is none)."""
Gate = Callable[[Turn, str], bool]
"""Whether a global action, with this argument, goes on to ask for something to store."""
ButtonHandler = Callable[[Turn, str, str], Awaitable[None]]
"""Runs a press of one of a step's buttons: (turn, action, argument)."""
TextHandler = Callable[[Turn, str], Awaitable[None]]
"""Takes what was typed at a step."""
Show = Callable[[Turn, str | None], Awaitable[None]]
"""Shows a step again, with a hint above it."""


@dataclass(frozen=True)
class Action:
    """A global action: what it runs, and when the privacy notice comes first."""

    run: ActionHandler
    gate: Gate | None = None
    """None: the action stores nothing. Else: whether it goes on to ask for something to
    store (a survey that is not open, or a sign-up that has closed, only says so), and the
    privacy notice comes first when it is new to the person."""
    enters: bool = False
    """The argument names a campaign: the person moves into it first (its notice, its
    survey)."""


@dataclass(frozen=True)
class Step:
    """A step of a flow: what its buttons and typed text do, and how it is shown again."""

    on_button: ButtonHandler
    on_text: TextHandler
    show: Show
    stores: Callable[[Turn], bool] | None = None
    """Whether what is said at this step is stored (then a privacy notice the person has
    not read, because it changed or they began before it existed, comes first)."""


# -- global actions ------------------------------------------------------------------------


def _survey_open(turn: Turn, arg: str = "") -> bool:
    campaign = turn.all_campaigns.get(arg) if arg else None
    return survey_state(campaign or turn.campaign, turn.now) == "open"


def _sign_up_open(turn: Turn, meeting_id: str) -> bool:
    meeting = turn.campaign.meeting(meeting_id)
    return meeting is not None and sign_up_open(turn.campaign, meeting, turn.now)


def _always(turn: Turn) -> bool:
    return True


async def _menu(turn: Turn, arg: str) -> None:
    await menu.show_menu(turn)


async def _pause(turn: Turn, arg: str) -> None:
    await menu.show_menu(
        turn,
        greeting=_("Your answers are saved. Continue any time with /survey or the button below."),
    )


async def _language(turn: Turn, code: str) -> None:
    if code:
        await menu.set_language(turn, code)
    else:
        await menu.show_languages(turn)


async def _survey(turn: Turn, campaign_id: str) -> None:
    menu.enter(turn, campaign_id)
    await survey.start(turn)


async def _resume(turn: Turn, arg: str) -> None:
    await show_current(turn, None)


async def _reload(turn: Turn, arg: str) -> None:
    await staff.reload_campaign(turn)


async def _results(turn: Turn, arg: str) -> None:
    await staff.send_results(turn, "xlsx")


async def _report(turn: Turn, arg: str) -> None:
    await staff.send_results(turn, staff.report_format(arg))


def _ignoring_arg(show: Callable[[Turn], Awaitable[None]]) -> ActionHandler:
    async def run(turn: Turn, arg: str) -> None:
        await show(turn)

    return run


GLOBAL_ACTIONS: dict[str, Action] = {
    GlobalAction.MENU: Action(_menu),
    GlobalAction.PAUSE: Action(_pause),
    GlobalAction.ABOUT: Action(_ignoring_arg(menu.show_about)),
    GlobalAction.HELP: Action(_ignoring_arg(menu.show_help)),
    GlobalAction.LANGUAGE: Action(_language),
    GlobalAction.RESUME: Action(_resume),
    GlobalAction.MEETINGS: Action(_ignoring_arg(meetings.show_meetings)),
    GlobalAction.SIGN_UP: Action(signup.start_signup, gate=_sign_up_open),
    # A filled-in form comes only from a form that SIGN_UP offered after the notice.
    GlobalAction.SIGN_UP_FORM: Action(signup_form.submit_form),
    GlobalAction.MINE: Action(_ignoring_arg(meetings.show_mine)),
    GlobalAction.CANCEL_REGISTRATION: Action(meetings.ask_cancel),
    GlobalAction.CALENDAR_INVITE: Action(meetings.send_invite),
    GlobalAction.SURVEY: Action(_survey, gate=_survey_open, enters=True),
    GlobalAction.CONSULTATIONS: Action(menu.choose_consultation),
    GlobalAction.PRIVACY: Action(_ignoring_arg(privacy.show_privacy)),
    GlobalAction.MY_DATA: Action(_ignoring_arg(privacy.my_data)),
    GlobalAction.DELETE: Action(_ignoring_arg(privacy.ask_delete)),
    GlobalAction.STAFF: Action(_ignoring_arg(staff.show_staff_menu)),
    GlobalAction.RESULTS: Action(_results),
    GlobalAction.REPORT: Action(_report),
    GlobalAction.BATCHES: Action(_ignoring_arg(staff.show_batches)),
    GlobalAction.NEW_BROADCAST: Action(_ignoring_arg(staff_broadcast.new_broadcast)),
    GlobalAction.BROADCAST_PROGRESS: Action(staff.show_progress),
    GlobalAction.RELOAD: Action(_reload),
    GlobalAction.NOTIFY_REGISTRANTS: Action(staff.notify_registrants),
}
"""Every global action by its payload code; an unknown code shows the menu."""

GLOBAL_COMMANDS: dict[str, str] = {
    "menu": GlobalAction.MENU,
    "help": GlobalAction.HELP,
    "language": GlobalAction.LANGUAGE,
    "survey": GlobalAction.SURVEY,
    "meetings": GlobalAction.MEETINGS,
    "mine": GlobalAction.MINE,
    "registrations": GlobalAction.MINE,
    "about": GlobalAction.ABOUT,
    "cancel": GlobalAction.MENU,
    "privacy": GlobalAction.PRIVACY,
    "staff": GlobalAction.STAFF,
    "results": GlobalAction.RESULTS,
    "report": GlobalAction.REPORT,
    "mydata": GlobalAction.MY_DATA,
    "delete": GlobalAction.DELETE,
    "consultations": GlobalAction.CONSULTATIONS,
}
"""Commands (``/word``, with what follows as the argument) and the action each runs."""

COMMANDS = frozenset({*GLOBAL_COMMANDS, "start"})
"""The words the bot takes as commands (``/mydata``), in every language."""

DEEP_LINKS: dict[str, str] = {
    "survey": GlobalAction.SURVEY,
    "meetings": GlobalAction.MEETINGS,
    "mine": GlobalAction.MINE,
    "about": GlobalAction.ABOUT,
}
"""``/start <link>`` from a poster or web page, and the action each runs; also
``/start signup-<meeting id>`` (``SIGN_UP_LINK``)."""


# -- steps ---------------------------------------------------------------------------------


async def _show_survey_question(turn: Turn, hint: str | None) -> None:
    if not await survey.closed(turn):
        await survey.show_question(turn, hint)


async def _show_review(turn: Turn, hint: str | None) -> None:
    if not await survey.closed(turn):
        await review.show(turn, intro=hint)


async def _notice_button(turn: Turn, action: str, arg: str) -> None:
    if action == NoticeAction.OK:
        then, then_arg = decode_action(privacy.accept(turn))
        await run_global(turn, then, then_arg)
    else:
        await privacy.show_notice(turn)


async def _notice_text(turn: Turn, text: str) -> None:
    await privacy.show_notice(turn, _("Please use the buttons below."))


async def _delete_button(turn: Turn, action: str, arg: str) -> None:
    await privacy.on_delete_button(turn, action, arg)


async def _delete_text(turn: Turn, text: str) -> None:
    await privacy.show_delete(turn, _("Please answer with the buttons below."))


async def _cancel_text(turn: Turn, text: str) -> None:
    await meetings.show_cancel(turn, _("Please answer with the buttons below."))


STEPS: dict[str, Step] = {
    "survey.question": Step(
        survey.on_button, survey.on_text, _show_survey_question, stores=_survey_open
    ),
    "survey.review": Step(review.on_button, review.on_text, _show_review, stores=_survey_open),
    "signup.": Step(signup.on_button, signup.on_text, signup.show_step, stores=_always),
    "cancel.confirm": Step(
        meetings.on_cancel_button, _cancel_text, meetings.show_cancel, stores=_always
    ),
    "privacy.notice": Step(_notice_button, _notice_text, privacy.show_notice),
    "privacy.delete": Step(_delete_button, _delete_text, privacy.show_delete),
    "staff.": Step(staff_broadcast.on_button, staff_broadcast.on_text, staff_broadcast.show_step),
}
"""Every step by its name, or by its prefix (``signup.``) for a flow's steps that share
their handlers; the steps not here (``menu``) have no buttons of their own."""


def step_of(name: str) -> Step | None:
    """The step ``name`` (exact, else by its prefix); None for the menu."""
    found = STEPS.get(name)
    if found is None:
        prefix, dot, _rest = name.partition(".")
        found = STEPS.get(prefix + dot) if dot else None
    return found


# -- routing -------------------------------------------------------------------------------


async def route(turn: Turn, new_person: bool) -> None:
    """Handle the turn's event: a command, a press, a form, typed text or anything else."""
    incoming = turn.incoming
    step = step_of(turn.state.step)
    if (
        incoming.kind is not Kind.COMMAND
        and step is not None
        and step.stores is not None
        and step.stores(turn)
        and privacy.needs_notice(turn)
    ):
        # In the middle of something that stores what they say, but the notice is new to
        # them (it changed, or they began before it existed): the notice first. (A survey
        # that has closed only says so.)
        await privacy.ask(turn, encode_action(GlobalAction.RESUME))
        return
    if incoming.kind is Kind.COMMAND:
        await _command(turn, incoming.command.lower().lstrip("/"), incoming.args)
    elif incoming.kind in (Kind.BUTTON, Kind.FORM):
        await press(turn, incoming.payload)
    elif new_person:
        await menu.show_menu(turn, greeting=menu.welcome(turn))
    elif incoming.kind is Kind.TEXT:
        await _text(turn, incoming.text)
    else:  # a sticker, a picture, a location...: the hint names it where it can
        await show_current(turn, cannot_use(incoming))


async def _command(turn: Turn, command: str, args: str) -> None:
    args = args.strip()
    if command == "start" and args:
        await _deep_link(turn, args)
    elif command == "start":
        await menu.show_menu(turn, greeting=menu.welcome(turn))
    elif command in GLOBAL_COMMANDS:
        await run_global(turn, GLOBAL_COMMANDS[command], args)
    else:
        # A mistyped command does not throw a person out of where they were: the step they
        # are at is shown again (the menu, if they were at none).
        await show_current(turn, _("I don't know the command /{command}.").format(command=command))


async def _deep_link(turn: Turn, link: str) -> None:
    """``/start <link>``: a link from a poster or web page straight to a place."""
    if link.startswith(SIGN_UP_LINK):
        await run_global(turn, GlobalAction.SIGN_UP, link.removeprefix(SIGN_UP_LINK))
    elif link.startswith(SURVEY_LINK):
        await run_global(turn, GlobalAction.SURVEY, link.removeprefix(SURVEY_LINK))
    elif link.startswith(CONSULTATION_LINK):
        await run_global(turn, GlobalAction.CONSULTATIONS, link.removeprefix(CONSULTATION_LINK))
    elif link in DEEP_LINKS:
        await run_global(turn, DEEP_LINKS[link], "")
    else:
        await menu.show_menu(turn, greeting=menu.welcome(turn))


async def press(turn: Turn, payload: str) -> None:
    """A button pressed (or a form filled in): its global action, or its step's handler;
    a button of an earlier step shows where the person is now."""
    pressed = decode(payload)
    if pressed.is_global:
        await run_global(turn, pressed.action, pressed.arg)
        return
    if pressed.version is None or pressed.version > turn.state.version:
        # Not a button the bot made (a forged or garbled payload): not "an earlier step".
        turn.stale_press = True
        await show_current(turn, _("That button could not be read. Here is where we are now:"))
        return
    if pressed.version != turn.state.version:
        turn.stale_press = True
        await show_current(
            turn,
            _(
                "That button is from an earlier step; things have moved on. "
                "Here is where we are now:"
            ),
        )
        return
    step = step_of(turn.state.step)
    if step is None:
        await menu.show_menu(turn)
        return
    await step.on_button(turn, pressed.action, pressed.arg)


def asked_for(replies: list[Outgoing]) -> Literal["buttons", "words", "search"]:
    """What these replies ask for (``ConversationState.asked``)."""
    if any(r.expects_text and r.number_is_text for r in replies):
        return "words"
    if any(r.expects_text for r in replies):
        return "search"
    return "buttons"


def typed_button(state: ConversationState, text: str) -> str | None:
    """The payload of the button that typed text stands for, if any: its whole label, or,
    where only buttons are asked for, the start of exactly one label ("ung" for "Young
    person (under 26)" in Norwegian). Where words are asked for, none: typed text is the
    answer ("Skip" written as an idea is the idea; the button is pressed)."""
    if state.asked == "words":
        return None
    typed = text.strip().casefold()
    whole = state.buttons.get(typed)
    if whole is not None or state.asked == "search" or len(typed) < 2:
        return whole
    starting = {payload for label, payload in state.buttons.items() if label.startswith(typed)}
    return starting.pop() if len(starting) == 1 else None


async def _text(turn: Turn, text: str) -> None:
    pressed = typed_button(turn.state, text)
    step = step_of(turn.state.step)
    if pressed is not None:
        await press(turn, pressed)
    elif step is None:
        await menu.show_menu(turn, greeting=_("Please choose from the menu, or type /help."))
    else:
        await step.on_text(turn, text)


async def run_global(turn: Turn, code: str, arg: str) -> None:
    """Run the global action ``code`` (the privacy notice first when it gates it)."""
    action = GLOBAL_ACTIONS.get(code)
    if action is None:
        await menu.show_menu(turn)
        return
    if action.enters and arg:
        menu.enter(turn, arg)
    if action.gate is not None and privacy.needs_notice(turn) and action.gate(turn, arg):
        await privacy.ask(turn, encode_action(code, arg or None))
        return
    await action.run(turn, arg)


async def show_current(turn: Turn, hint: str | None) -> None:
    """Show the step the person is at again, with a hint above it."""
    step = step_of(turn.state.step)
    if step is None:
        await menu.show_menu(turn, greeting=hint)
    else:
        await step.show(turn, hint)
