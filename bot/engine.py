"""The conversation engine: one event in, the replies out, everything committed in between.

``Engine.handle(incoming)``:

1. one event per participant at a time (a per-participant lock); many participants at once;
2. in ONE transaction: load (or create) the participant and their state, run the step the
   event belongs to, write the new state and the answers, queue messages to others, and
   record the event id together with the replies;
3. return the replies once that transaction committed.

An event id seen before changes nothing: if its replies never went out (the process died
between the commit and the send), they are returned again, else nothing. The handler calls
``replies_sent`` once it has sent them; ``unsent_replies`` finds what is left at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from bot import meetings, menu, privacy, staff, survey
from bot.campaign import (
    Campaign,
    MeetingChange,
    changed_meetings,
    load_campaign,
    sign_up_open,
    survey_state,
)
from bot.clock import Clock
from bot.errors import CampaignError, CampaignProblem
from bot.i18n import (
    SOURCE_LANGUAGE,
    _,
    available_languages,
    pick_language,
    use_commands,
    use_language,
)
from bot.messages import Incoming, Kind, Outgoing, ParticipantRef
from bot.turn import ConversationState, Turn, View
from storage import events
from storage.conversations import load_state, save_state
from storage.database import Database, Transaction
from storage.outbox import enqueue_message
from storage.participants import (
    create_participant,
    find_participant,
    participant_by_id,
    save_participant,
    set_unreachable,
)
from storage.records import ParticipantRecord, ResponseRecord, StoredReplies
from storage.responses import load_response

log = logging.getLogger(__name__)

HANDED_OUT_MAX = 100_000
"""Replies handed out and not yet confirmed sent, remembered at most (oldest forgotten)."""

RECENT_EVENTS = 8
"""Event ids remembered per participant in memory, to answer quick redeliveries cheaply."""

Handler = Callable[[Turn, str, str], Awaitable[None]]
TextHandler = Callable[[Turn, str], Awaitable[None]]
Show = Callable[[Turn, str | None], Awaitable[None]]


@dataclass(frozen=True)
class PendingReplies:
    """Replies of a committed event that have not gone out yet."""

    ref: ParticipantRef
    event_id: str
    replies: list[Outgoing]


@dataclass
class _Result:
    view: View | None
    replies: list[Outgoing]
    duplicate: StoredReplies | None = None
    stranger: bool = False


class KeyedLock:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def __call__(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Engine:
    """Drives every conversation; made with its campaign, database and clock."""

    def __init__(
        self,
        campaign: Campaign,
        db: Database,
        clock: Clock,
        *,
        cache_size: int = 50_000,
        campaign_path: str | Path | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.campaign_path = Path(campaign_path) if campaign_path is not None else None
        """The file the campaign came from, read again by ``reload_file``."""
        self.reload(campaign)
        self._locks = KeyedLock()
        self._failed: dict[str, tuple[ParticipantRef, str]] = {}
        """Events whose replies could not be sent, for ``failed_replies``."""
        self.erased_listeners: list[Callable[[ParticipantRef], None]] = []
        """Told of a person erased (platforms drop what they keep in memory about them)."""
        self.forget_listeners: list[Callable[[], None]] = []
        """Told when everything about people is forgotten (after a purge)."""
        self._cache: OrderedDict[str, View] = OrderedDict()
        self._handed_out: dict[str, None] = {}
        self._cache_size = cache_size
        self.command_prefixes: dict[str, str] = {}
        """Per platform, how its people type the bot's commands when not ``/word`` (Slack:
        ``/consultation word``): the bot's texts name them so."""

    @contextmanager
    def _speaking(self, lang: str, platform: str) -> Iterator[None]:
        """The bot's texts in ``lang``, naming commands as ``platform`` has them typed."""
        with use_language(lang), use_commands(self.command_prefixes.get(platform, "/"), COMMANDS):
            yield

    def reload(self, campaign: Campaign) -> None:
        """Use an edited campaign from the next event on; stored data is untouched."""
        self.campaign = campaign
        have = set(available_languages()) | {SOURCE_LANGUAGE}
        self.offered_languages = tuple(
            lang for lang in campaign.campaign.languages if lang in have
        )
        """The campaign's languages that have a catalog (the source language always has)."""

    def reload_file(self) -> tuple[Campaign, list[MeetingChange]]:
        """Read the campaign file again and use it from the next event on; return it and
        the meetings whose facts changed. A broken file raises ``CampaignError`` and the
        campaign in use stays."""
        if self.campaign_path is None:
            raise CampaignError("(none)", [CampaignProblem("", "no campaign file to reload")])
        campaign = load_campaign(self.campaign_path)
        changes = changed_meetings(self.campaign, campaign)
        self.reload(campaign)
        return campaign, changes

    # -- the one entry point ---------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> list[Outgoing]:
        """Handle one event; return the replies once everything it changed is committed.

        A caller cancelled while waiting does not cancel the event: it runs to its commit
        (holding the participant's lock), and its replies stay kept as unsent.
        """
        task = asyncio.ensure_future(self._handle(incoming))
        replies = await asyncio.shield(task)
        if replies:
            self._handed_out[incoming.scoped_event_id] = None
            while len(self._handed_out) > HANDED_OUT_MAX:
                self._handed_out.pop(next(iter(self._handed_out)))
        return replies

    async def _handle(self, incoming: Incoming) -> list[Outgoing]:
        key = incoming.ref.key
        event_id = incoming.scoped_event_id
        async with self._locks(key):
            view = self._cache.get(key)
            if view is not None and event_id in view.recent_events:
                return await self._redelivered(event_id)
            try:
                result = await self.db.transact(lambda tx: self._turn(tx, incoming, view))
            except events.EventAlreadyRecorded:
                self._cache.pop(key, None)
                return await self._redelivered(event_id)
            except Exception as exc:
                # The class and ids only: an exception's message may quote what was typed.
                log.error(
                    "event failed: %s on %s event %s",
                    type(exc).__name__,
                    incoming.ref.platform,
                    incoming.event_id,
                )
                log.debug("event failure details", exc_info=True)
                self._cache.pop(key, None)
                lang = view.participant.language if view else None
                with self._speaking(lang or self.campaign.default_language, incoming.ref.platform):
                    return [
                        Outgoing(
                            text=_(
                                "Sorry, something went wrong on our side. "
                                "Please try again in a moment."
                            )
                        )
                    ]
            if result.duplicate is not None:
                return self._unsent(result.duplicate)
            if result.stranger:
                return result.replies
            if result.view is None:  # erased: nothing of theirs stays, in memory either
                self._cache.pop(key, None)
                for listener in self.erased_listeners:
                    listener(incoming.ref)
            else:
                self._remember(key, result.view)
            return result.replies

    async def home(self, ref: ParticipantRef, language_hint: str | None = None) -> list[Outgoing]:
        """What a platform's home page shows this person (Slack's App Home), read in a turn
        that stores nothing: looking is not taking part."""

        async def job(tx: Transaction) -> list[Outgoing]:
            now = self.clock.now()
            incoming = Incoming(
                ref=ref, event_id="home", kind=Kind.COMMAND, language_hint=language_hint
            )
            participant = await find_participant(tx, ref.platform, ref.workspace, ref.user_id)
            if participant is None:
                turn = self._read_only_turn(tx, incoming, now)
            else:
                lang = self._language_for(participant, incoming)
                turn = self._read_only_turn(tx, incoming, now, participant, lang)
            with self._speaking(turn.lang, ref.platform):
                await menu.show_home(turn)
            return turn.replies

        return await self.db.transact(job)

    async def language_of(self, ref: ParticipantRef) -> str | None:
        """The language the bot speaks with this person (None: it knows nothing about them).
        Only reads."""
        view = self._cache.get(ref.key)
        if view is not None:
            participant: ParticipantRecord | None = view.participant
        else:
            participant = await self.db.transact(
                lambda tx: find_participant(tx, ref.platform, ref.workspace, ref.user_id)
            )
        if participant is None:
            return None
        lang = participant.language or self.campaign.default_language
        return lang if lang in self.offered_languages else self.campaign.default_language

    def replies_sent(self, incoming: Incoming) -> None:
        """The handler sent the replies of ``incoming``: do not send them again."""
        self._handed_out.pop(incoming.scoped_event_id, None)
        events.mark_replies_sent(self.db, incoming.scoped_event_id)

    async def unsent_replies(self, platform: str) -> list[PendingReplies]:
        """Replies committed but never confirmed as sent (the process died in between)."""

        async def job(tx: Transaction) -> list[PendingReplies]:
            found = []
            for stored in await events.unsent_replies(tx, platform):
                if stored.participant_id is None:
                    continue
                p = await participant_by_id(tx, stored.participant_id)
                if p is None:
                    continue
                ref = ParticipantRef(platform=p.platform, workspace=p.workspace, user_id=p.user_id)
                prefix = f"{p.platform}:{p.workspace}:"
                event_id = stored.event_id.removeprefix(prefix)
                found.append(PendingReplies(ref, event_id, _decode(stored.replies)))
            return found

        return await self.db.transact(job)

    def forget_all(self) -> None:
        """Drop everything kept in memory about people (after a purge)."""
        self._cache.clear()
        self._handed_out.clear()
        self._failed.clear()
        for listener in self.forget_listeners:
            listener()

    def replies_failed(self, incoming: Incoming) -> None:
        """The handler could not send the replies: a redelivery may get them again, and
        ``failed_replies`` hands them out to be tried again (a platform that does not
        redeliver, as Slack after its acknowledgement)."""
        self._handed_out.pop(incoming.scoped_event_id, None)
        self._failed[incoming.scoped_event_id] = (incoming.ref, incoming.event_id)
        while len(self._failed) > HANDED_OUT_MAX:
            self._failed.pop(next(iter(self._failed)))

    def pending_failed(self, pending: PendingReplies) -> None:
        """Replies from ``failed_replies`` failed again: keep them for the next try."""
        scoped = f"{pending.ref.platform}:{pending.ref.workspace}:{pending.event_id}"
        self._failed[scoped] = (pending.ref, pending.event_id)

    async def failed_replies(self, platform: str) -> list[PendingReplies]:
        """Replies whose sending failed in this process and are still unsent: to try again.
        Each is handed out once (``confirm_pending`` or ``pending_failed`` after)."""
        chosen = [(k, v) for k, v in self._failed.items() if v[0].platform == platform]
        for key, _value in chosen:
            del self._failed[key]
        if not chosen:
            return []

        async def job(tx: Transaction) -> list[StoredReplies | None]:
            return [await events.stored_replies(tx, key) for key, _value in chosen]

        found = []
        for (_key, (ref, event_id)), stored in zip(
            chosen, await self.db.transact(job), strict=True
        ):
            if stored is not None and not stored.sent and stored.participant_id is not None:
                found.append(PendingReplies(ref, event_id, _decode(stored.replies)))
        return found

    async def mark_unreachable(self, ref: ParticipantRef) -> None:
        """The platform says this person blocked the bot: stop sending them anything."""
        self._cache.pop(ref.key, None)
        await self.db.transact(
            lambda tx: set_unreachable(tx, ref.platform, ref.workspace, ref.user_id)
        )

    async def confirm_pending(self, pending: PendingReplies) -> None:
        """Mark replies found by ``unsent_replies`` as sent."""
        scoped = f"{pending.ref.platform}:{pending.ref.workspace}:{pending.event_id}"
        await self.db.transact(lambda tx: events.mark_replies_sent_now(tx, scoped))

    # -- inside the transaction ------------------------------------------------------------

    async def _redelivered(self, event_id: str) -> list[Outgoing]:
        stored = await self.db.transact(lambda tx: events.stored_replies(tx, event_id))
        return self._unsent(stored)

    def _unsent(self, stored: StoredReplies | None) -> list[Outgoing]:
        """The replies of a redelivered event, if they never went out. Replies this process
        handed to a handler that has not confirmed them yet are on their way: not again."""
        if stored is None or stored.sent or stored.event_id in self._handed_out:
            return []
        return _decode(stored.replies)

    async def _turn(self, tx: Transaction, incoming: Incoming, cached: View | None) -> _Result:
        now = self.clock.now()
        ref = incoming.ref
        new_person = False
        if cached is None:
            # Nothing in memory: perhaps a new process, and the platform redelivering.
            stored = await events.stored_replies(tx, incoming.scoped_event_id)
            if stored is not None:
                return _Result(None, [], duplicate=stored)
            participant = await find_participant(tx, ref.platform, ref.workspace, ref.user_id)
            if (
                participant is None
                and not incoming.fresh
                and incoming.kind
                in (
                    Kind.BUTTON,
                    Kind.FORM,
                )
            ):
                # A button from before this person was erased (or from another database):
                # answer with the menu and store nothing about them.
                return await self._stranger(tx, incoming, now)
            if participant is None:
                hint = pick_language(
                    incoming.language_hint, self.offered_languages, self.campaign.default_language
                )
                participant = await create_participant(
                    tx, ref.platform, ref.workspace, ref.user_id, hint, now
                )
                view = View(participant, ConversationState(), response=None)
                new_person = True
            else:
                raw = await load_state(tx, participant.id)
                state = ConversationState.model_validate_json(raw) if raw else ConversationState()
                view = View(participant, state)
        else:
            view = cached

        participant = replace(view.participant)
        state = view.state.copy_for_turn()
        lang = self._language_for(participant, incoming)
        reachable_again = participant.unreachable  # they wrote: they no longer block the bot
        participant.unreachable = False

        async def response_loader() -> ResponseRecord | None:
            if view.response_loaded:
                return view.response
            if self.campaign.survey is None:
                return None
            return await load_response(tx, participant.id, self.campaign.survey.id)

        turn = Turn(
            campaign=self.campaign,
            tx=tx,
            now=now,
            incoming=incoming,
            participant=participant,
            state=state,
            lang=lang,
            offered_languages=self.offered_languages,
            load_response=response_loader,
            participant_changed=reachable_again
            or participant.language != view.participant.language,
        )
        with self._speaking(lang, ref.platform):
            await self._route(turn, new_person)
        if (
            incoming.kind is Kind.BUTTON
            and len(turn.replies) == 1
            and incoming.payload.partition(":")[0] == str(view.state.version)
            and state.version == view.state.version
            and state.step == view.state.step
        ):
            turn.replies[0].replaces_origin = True
        if turn.stale_press and turn.replies:
            turn.replies[0].origin_stale = True
        if turn.replies:
            state.buttons = {
                b.label.casefold(): b.payload
                for reply in turn.replies
                for row in reply.buttons
                for b in row
            }

        if not turn.erased:
            if state != view.state or new_person:
                save_state(tx, participant.id, state.model_dump_json(), now)
            if turn.participant_changed:
                save_participant(tx, participant)
        for recipient, kind, key, message in turn.outbox:
            await enqueue_message(tx, recipient, kind, key, message.model_dump_json(), now)
        replies = _REPLIES.dump_json(turn.replies).decode()
        owner = None if turn.erased else participant.id
        events.record_event(tx, incoming.scoped_event_id, owner, replies, now)
        if turn.erased:
            return _Result(None, turn.replies)
        new_view = View(
            participant=participant,
            state=state,
            response=turn._response if turn.response_touched else view.response,
            recent_events=(*view.recent_events, incoming.scoped_event_id)[-RECENT_EVENTS:],
        )
        return _Result(new_view, turn.replies)

    async def _stranger(self, tx: Transaction, incoming: Incoming, now: datetime) -> _Result:
        """Replies for someone the bot keeps nothing about; nothing is written."""
        turn = self._read_only_turn(tx, incoming, now)
        with self._speaking(turn.lang, incoming.ref.platform):
            await menu.show_menu(turn, greeting=menu.welcome(turn))
        return _Result(None, turn.replies, stranger=True)

    def _read_only_turn(
        self,
        tx: Transaction,
        incoming: Incoming,
        now: datetime,
        participant: ParticipantRecord | None = None,
        lang: str | None = None,
    ) -> Turn:
        """A turn whose changes are never saved: for someone unknown (``participant``
        None: nobody, in the platform's language) or for only looking (the App Home)."""
        ref = incoming.ref
        if participant is None:
            lang = pick_language(
                incoming.language_hint, self.offered_languages, self.campaign.default_language
            )
            participant = ParticipantRecord.fresh(
                0, ref.platform, ref.workspace, ref.user_id, lang, now
            )
        survey_id = self.campaign.survey.id if self.campaign.survey else None
        pid = participant.id

        async def response_loader() -> ResponseRecord | None:
            return await load_response(tx, pid, survey_id) if survey_id and pid else None

        return Turn(
            campaign=self.campaign,
            tx=tx,
            now=now,
            incoming=incoming,
            participant=participant,
            state=ConversationState(),
            lang=lang or self.campaign.default_language,
            offered_languages=self.offered_languages,
            load_response=response_loader,
        )

    def _language_for(self, participant: Any, incoming: Incoming) -> str:
        """The participant's chosen language; until they choose, the platform's hint."""
        default = self.campaign.default_language
        if not participant.language_chosen and incoming.language_hint:
            participant.language = pick_language(
                incoming.language_hint, self.offered_languages, default
            )
        lang = participant.language or default
        return lang if lang in self.offered_languages else default

    def _remember(self, key: str, view: View) -> None:
        self._cache[key] = view
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # -- routing ---------------------------------------------------------------------------

    async def _route(self, turn: Turn, new_person: bool) -> None:
        incoming = turn.incoming
        step = turn.state.step
        if (
            incoming.kind is not Kind.COMMAND
            and step.startswith(("signup.", "survey.", "cancel."))
            and not (step.startswith("survey.") and not _can_take_part(turn, "survey", ""))
            and privacy.needs_notice(turn)
        ):
            # In the middle of something that stores what they say, but the notice is new to
            # them (it changed, or they began before it existed): the notice first. (A survey
            # that has closed only says so.)
            await privacy.ask(turn, "resume")
            return
        if incoming.kind is Kind.COMMAND:
            await self._command(turn, incoming.command.lower().lstrip("/"), incoming.args)
        elif incoming.kind in (Kind.BUTTON, Kind.FORM):
            await self._button(turn, incoming.payload)
        elif new_person:
            await menu.show_menu(turn, greeting=menu.welcome(turn))
        elif incoming.kind is Kind.TEXT:
            await self._text(turn, incoming.text)
        else:
            await self._show_current(
                turn,
                _(
                    "I can only read text and button presses, not stickers, pictures, "
                    "voice messages or files."
                ),
            )

    async def _command(self, turn: Turn, command: str, args: str) -> None:
        args = args.strip()
        if command == "start" and args:
            await self._deep_link(turn, args)
        elif command == "start":
            await menu.show_menu(turn, greeting=menu.welcome(turn))
        elif command in GLOBAL_COMMANDS:
            await self._global(turn, GLOBAL_COMMANDS[command], args)
        else:
            await menu.show_menu(
                turn, greeting=_("I don't know the command /{command}.").format(command=command)
            )

    async def _deep_link(self, turn: Turn, payload: str) -> None:
        """``/start <payload>``: a link from a poster or web page straight to a place."""
        if payload.startswith("signup-"):
            await self._global(turn, "su", payload.removeprefix("signup-"))
        elif payload in DEEP_LINKS:
            await self._global(turn, DEEP_LINKS[payload], "")
        else:
            await menu.show_menu(turn, greeting=menu.welcome(turn))

    async def _button(self, turn: Turn, payload: str) -> None:
        if payload.startswith("g:"):
            action, _sep, arg = payload[2:].partition(":")
            await self._global(turn, action, arg)
            return
        version, _sep, rest = payload.partition(":")
        if not version.isdigit() or int(version) != turn.state.version:
            turn.stale_press = True
            await self._show_current(
                turn,
                _(
                    "That button is from an earlier step; things have moved on. "
                    "Here is where we are now:"
                ),
            )
            return
        action, _sep, arg = rest.partition(":")
        if turn.state.step == "privacy.notice" and action == "ok":
            then, _sep, then_arg = privacy.accept(turn).partition(":")
            await self._global(turn, then, then_arg)
            return
        handler = _step_handlers(turn.state.step)
        if handler is None:
            await menu.show_menu(turn)
            return
        await handler[0](turn, action, arg)

    async def _text(self, turn: Turn, text: str) -> None:
        # Typing the label of a button just shown counts as pressing it.
        pressed = turn.state.buttons.get(text.strip().casefold())
        handlers = _step_handlers(turn.state.step)
        if pressed is not None:
            await self._button(turn, pressed)
        elif handlers is None:
            await menu.show_menu(turn, greeting=_("Please choose from the menu, or type /help."))
        else:
            await handlers[1](turn, text)

    async def _global(self, turn: Turn, action: str, arg: str) -> None:
        if action in GATED and privacy.needs_notice(turn) and _can_take_part(turn, action, arg):
            await privacy.ask(turn, f"{action}:{arg}" if arg else action)
            return
        if action == "menu":
            await menu.show_menu(turn)
        elif action == "pause":
            await menu.show_menu(
                turn,
                greeting=_(
                    "Your answers are saved. Continue any time with /survey or the button below."
                ),
            )
        elif action == "about":
            await menu.show_about(turn)
        elif action == "meetings":
            await meetings.show_meetings(turn)
        elif action == "su":
            await meetings.start_signup(turn, arg)
        elif action == "sf":
            await meetings.submit_form(turn, arg)
        elif action == "mine":
            await meetings.show_mine(turn)
        elif action == "cx":
            await meetings.ask_cancel(turn, arg)
        elif action == "ics":
            await meetings.send_invite(turn, arg)
        elif action == "survey":
            await survey.start(turn)
        elif action == "lang" and arg:
            await menu.set_language(turn, arg)
        elif action == "lang":
            await menu.show_languages(turn)
        elif action == "help":
            await menu.show_help(turn)
        elif action == "resume":
            await self._show_current(turn, None)
        elif action == "staff":
            await staff.show_staff_menu(turn)
        elif action == "results":
            await staff.send_results(turn, "xlsx")
        elif action == "report":
            await staff.send_results(turn, staff.report_format(arg))
        elif action == "batches":
            await staff.show_batches(turn)
        elif action == "bc":
            await staff.new_broadcast(turn)
        elif action == "bp":
            await staff.show_progress(turn, arg)
        elif action == "reload":
            reload = self.reload_file if self.campaign_path is not None else None
            await staff.reload_campaign(turn, reload)
        elif action == "nt":
            await staff.notify_registrants(turn, arg)
        elif action == "privacy":
            await privacy.show_privacy(turn)
        elif action == "mydata":
            await privacy.my_data(turn)
        elif action == "delete":
            await privacy.ask_delete(turn)
        else:
            await menu.show_menu(turn)

    async def _show_current(self, turn: Turn, hint: str | None) -> None:
        """Show the step the person is at again, with a hint above it."""
        handlers = _step_handlers(turn.state.step)
        if handlers is None:
            await menu.show_menu(turn, greeting=hint)
        else:
            await handlers[2](turn, hint)


_REPLIES = TypeAdapter(list[Outgoing])


def _decode(replies: str) -> list[Outgoing]:
    # JSON mode: attachments are stored as base64.
    return _REPLIES.validate_json(replies)


GLOBAL_COMMANDS = {
    "menu": "menu",
    "help": "help",
    "language": "lang",
    "survey": "survey",
    "meetings": "meetings",
    "mine": "mine",
    "registrations": "mine",
    "about": "about",
    "cancel": "menu",
    "privacy": "privacy",
    "staff": "staff",
    "results": "results",
    "report": "report",
    "mydata": "mydata",
    "delete": "delete",
}
GATED = {"su", "survey"}
"""Actions that store what a person says: the privacy notice comes first (unless there is
nothing to take part in, see ``_can_take_part``). A filled-in form, "sf", comes only from a
form that "su" offered after the notice."""
COMMANDS = frozenset({*GLOBAL_COMMANDS, "start"})
"""The words the bot takes as commands (``/mydata``), in every language."""


def _can_take_part(turn: Turn, action: str, arg: str) -> bool:
    """Whether a gated action goes on to ask for something to store: a survey that is not
    open and a sign-up that has closed (or a meeting that does not exist) only say so, and
    nobody is asked to accept the privacy notice for that."""
    campaign = turn.campaign
    if action == "survey":
        return survey_state(campaign, turn.now) == "open"
    if action == "su":
        meeting = campaign.meeting(arg)
        return meeting is not None and sign_up_open(campaign, meeting, turn.now)
    return True


DEEP_LINKS = {"survey": "survey", "meetings": "meetings", "mine": "mine", "about": "about"}


async def _show_survey_question(turn: Turn, hint: str | None) -> None:
    if not await survey.closed(turn):
        await survey.show_question(turn, hint)


async def _show_review(turn: Turn, hint: str | None) -> None:
    if not await survey.closed(turn):
        await survey.show_review(turn, intro=hint)


def _step_handlers(step: str) -> tuple[Handler, TextHandler, Show] | None:
    """The button handler, text handler and 'show again' of a step (None for the menu)."""
    if step == "survey.question":
        return survey.on_button, survey.on_text, _show_survey_question
    if step == "survey.review":
        return survey.on_review_button, survey.on_review_text, _show_review
    if step.startswith("signup."):
        return meetings.on_button, meetings.on_text, meetings.show_step
    if step == "cancel.confirm":
        return meetings.on_cancel_button, _cancel_text, meetings.show_cancel
    if step == "privacy.notice":
        return _notice_button, _notice_text, privacy.show_notice
    if step == "privacy.delete":
        return _delete_button, _delete_text, privacy.show_delete
    if step.startswith("staff."):
        return staff.on_button, staff.on_text, staff.show_step
    return None


async def _notice_button(turn: Turn, action: str, arg: str) -> None:
    await privacy.show_notice(turn)


async def _notice_text(turn: Turn, text: str) -> None:
    await privacy.show_notice(turn, _("Please use the buttons below."))


async def _delete_button(turn: Turn, action: str, arg: str) -> None:
    await privacy.on_delete_button(turn, action, arg)


async def _delete_text(turn: Turn, text: str) -> None:
    await privacy.show_delete(turn, _("Please answer with the buttons below."))


async def _cancel_text(turn: Turn, text: str) -> None:
    await meetings.show_cancel(turn, _("Please answer with the buttons below."))
