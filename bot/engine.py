"""The conversation engine: one event in, the replies out, everything committed in between.

``Engine.handle(incoming)``:

1. one event per participant at a time (a per-participant lock); many participants at once;
2. in ONE transaction: load (or create) the participant and their state, run the step the
   event belongs to (``bot/routes.py`` says which), write the new state and the answers,
   queue messages to others, and record the event id together with the replies;
3. return the replies once that transaction committed.

An event id seen before changes nothing: if its replies never went out (the process died
between the commit and the send), they are returned again, else nothing. Sending them is
``bot.delivery.Deliveries``'s job: it calls ``replies_sent`` once they went out, and finds
what is left with ``unsent_replies`` (at start-up) and ``pending_replies`` (to retry).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from bot import menu, payloads, routes
from bot.campaign import Campaign, MeetingChange
from bot.clock import Clock
from bot.i18n import (
    SOURCE_LANGUAGE,
    _,
    available_languages,
    pick_language,
    use_commands,
    use_language,
)
from bot.locks import KeyedLock
from bot.messages import Incoming, Kind, Outgoing, ParticipantRef
from bot.registry import Campaigns, reread
from bot.replies import StoredRepliesMixin, encode_replies
from bot.routes import COMMANDS
from bot.turn import _UNLOADED, ConversationState, Turn, View
from storage import events
from storage.conversations import load_state, save_state
from storage.outbox import enqueue_message
from storage.participants import (
    create_participant,
    find_participant,
    participant_revision,
    save_participant,
    set_revision,
    set_unreachable,
)
from storage.protocols import Database, Transaction
from storage.records import ParticipantRecord, ResponseRecord, StoredReplies
from storage.responses import load_response

log = logging.getLogger(__name__)

HANDED_OUT_MAX = 100_000
"""Replies handed out and not yet confirmed sent, remembered at most (oldest forgotten)."""

RECENT_EVENTS = 8
"""Event ids remembered per participant in memory, to answer quick redeliveries cheaply."""


@dataclass
class _Result:
    view: View | None
    replies: list[Outgoing]
    duplicate: StoredReplies | None = None
    stranger: bool = False


class Engine(StoredRepliesMixin):
    """Drives every conversation; made with its campaigns (or one campaign), database and
    clock."""

    def __init__(
        self,
        campaign: Campaign | Campaigns,
        db: Database,
        clock: Clock,
        *,
        cache_size: int = 50_000,
        campaign_path: str | Path | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        if isinstance(campaign, Campaign):
            path = Path(campaign_path) if campaign_path is not None else None
            campaign = Campaigns.single(campaign, path)
        self.campaigns = campaign
        """Every campaign served; ``campaign`` is the default one."""
        self.reload(campaign.default)
        self._locks = KeyedLock()
        self.erased_listeners: list[Callable[[ParticipantRef], None]] = []
        """Told of a person erased (platforms drop what they keep in memory about them)."""
        self.forget_listeners: list[Callable[[], None]] = []
        """Told when everything about people is forgotten (after a purge)."""
        self._cache: OrderedDict[str, View] = OrderedDict()
        self._handed_out: dict[str, None] = {}
        self._resent: dict[str, None] = {}
        self._cache_size = cache_size
        self.sender: events.Sender | None = None  # ``run``'s worker: it sends its own replies
        self.command_prefixes: dict[str, str] = {}
        """Per platform, how its people type the bot's commands when not ``/word`` (Slack:
        ``/consultation word``): the bot's texts name them so."""

    @contextmanager
    def _speaking(self, lang: str, platform: str) -> Iterator[None]:
        """The bot's texts in ``lang``, naming commands as ``platform`` has them typed."""
        with use_language(lang), use_commands(self.command_prefixes.get(platform, "/"), COMMANDS):
            yield

    @property
    def campaign_path(self) -> Path | None:
        """The file the default campaign came from, read again by ``reload_file``."""
        return self.campaigns.paths.get(self.campaigns.default_id)

    @property
    def campaign(self) -> Campaign:
        """The default campaign (where a person starts)."""
        return self.campaigns.default

    def reload(self, campaign: Campaign | Campaigns) -> None:
        """Use an edited campaign (one of those served, by its id), or another set of them,
        from the next event on; the other campaigns and stored data are untouched."""
        if isinstance(campaign, Campaigns):
            self.campaigns = campaign
        else:
            self.campaigns = self.campaigns.replaced(campaign)
        campaign = self.campaigns.default
        have = set(available_languages()) | {SOURCE_LANGUAGE}
        self.offered_languages = tuple(
            lang for lang in campaign.campaign.languages if lang in have
        )
        """The campaign's languages that have a catalog (the source language always has)."""

    def reload_file(self, campaign_id: str | None = None) -> tuple[Campaign, list[MeetingChange]]:
        """Read the campaign files again and use them from the next event on; return the
        campaign ``campaign_id`` (None: the default) as it is now and the meetings whose
        facts changed (of that campaign; None: of any). A broken file raises
        ``CampaignError`` and the campaigns in use stay. A file left as it was gives the same
        campaign: its people and their data are untouched."""
        fresh, changes = reread(self.campaigns)
        self.reload(fresh)
        return self.campaigns.of(campaign_id), [
            change for owner, change in changes if campaign_id in (None, owner)
        ]

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
                remembered = (view.participant.id, view.participant.revision) if view else None
                result = await self.db.transact(
                    lambda tx: self._turn(tx, incoming, view), key=key, revision=remembered
                )
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
                # The consultation they are in (several): its home.
                view = self._cache.get(ref.key)
                raw = None if view is not None else await load_state(tx, participant.id)
                state = view.state if view is not None else None
                if state is None and raw:
                    state = ConversationState.model_validate_json(raw)
                turn.campaign = self.campaigns.of(state.campaign if state else None)
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

    def forget_all(self) -> None:
        """Drop everything kept in memory about people (after a purge)."""
        self._cache.clear()
        self._handed_out.clear()
        for listener in self.forget_listeners:
            listener()

    def replies_failed(self, incoming: Incoming) -> None:
        """The replies of ``incoming`` could not be sent: they stay unsent, and a
        redelivery of the event gets them again (``Deliveries`` tries them again too)."""
        self._handed_out.pop(incoming.scoped_event_id, None)

    async def mark_unreachable(self, ref: ParticipantRef) -> None:
        """The platform says this person blocked the bot: stop sending them anything."""
        self._cache.pop(ref.key, None)
        await self.db.transact(
            lambda tx: set_unreachable(tx, ref.platform, ref.workspace, ref.user_id)
        )

    # -- inside the transaction ------------------------------------------------------------

    async def _turn(self, tx: Transaction, incoming: Incoming, cached: View | None) -> _Result:
        # The in-process lock orders this process's events; the transaction's key (taken at
        # its start, ``transact(key=)``) orders every process's.
        now = self.clock.now()
        ref = incoming.ref
        new_person = False
        if cached is not None and tx.revision_stale:
            cached = None  # another worker moved this person on: read them again
        elif (
            cached is not None
            and not tx.revision_checked
            and cached.outside_writes != tx.outside_writes
        ):
            # Another worker (or a command) may have changed this person: what is in memory
            # is trusted only at the stored revision (saving over a newer one would undo it).
            stored_revision = await participant_revision(tx, cached.participant.id)
            cached = cached if stored_revision == cached.participant.revision else None
        if cached is None:
            # Nothing in memory: perhaps a new process, and the platform redelivering.
            stored = await events.redelivered(tx, incoming.scoped_event_id, self.sender, now)
            if stored is not None:
                return _Result(None, [], duplicate=stored)
            participant = await find_participant(tx, ref.platform, ref.workspace, ref.user_id)
            if participant is None and not incoming.fresh and incoming.kind in _PRESSES:
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
                view = View(
                    participant,
                    ConversationState(),
                    response=None,
                    response_campaign=self.campaigns.default_id,
                )
                new_person = True
            else:
                raw = await load_state(tx, participant.id)
                state = ConversationState.model_validate_json(raw) if raw else ConversationState()
                view = View(participant, state)
        else:
            view = cached

        participant = replace(view.participant, revision=view.participant.revision + 1)
        state = view.state.copy_for_turn()
        lang = self._language_for(participant, incoming)
        reachable_again = participant.unreachable  # they wrote: they no longer block the bot
        participant.unreachable = False

        async def response_loader(campaign: Campaign) -> ResponseRecord | None:
            if view.response_loaded and view.response_campaign == campaign.id:
                return view.response
            if campaign.survey is None:
                return None
            return await load_response(tx, participant.id, campaign.id, campaign.survey.id)

        start_campaign = self.campaigns.of(state.campaign)
        turn = Turn(
            campaign=start_campaign,
            campaigns=self.campaigns,
            tx=tx,
            now=now,
            incoming=incoming,
            participant=participant,
            state=state,
            lang=lang,
            offered_languages=self.offered_languages,
            load_response=response_loader,
            reload_file=self.reload_file if self.campaign_path is not None else None,
            participant_changed=reachable_again
            or participant.language != view.participant.language,
        )
        with self._speaking(lang, ref.platform):
            await routes.route(turn, new_person)
        if (
            incoming.kind is Kind.BUTTON
            and len(turn.replies) == 1
            and payloads.decode(incoming.payload).version == view.state.version
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
            state.asked = routes.asked_for(turn.replies)

        if not turn.erased:
            if state != view.state or new_person:
                save_state(tx, participant.id, state.model_dump_json(), now)
            if turn.participant_changed:
                save_participant(tx, participant)  # with the new revision
            else:
                set_revision(tx, participant.id, participant.revision)
        for recipient, kind, key, message in turn.outbox:
            await enqueue_message(
                tx, recipient, kind, key, message.model_dump_json(), now, campaign=turn.campaign.id
            )
        replies = encode_replies(turn.replies)
        owner = None if turn.erased else participant.id
        events.record_event(tx, incoming.scoped_event_id, owner, replies, now, self.sender)
        if turn.erased:
            return _Result(None, turn.replies)
        if turn.response_touched:
            response, response_campaign = turn._response, turn.campaign.id
        elif turn.campaign.id != start_campaign.id:
            response, response_campaign = _UNLOADED, None
        else:
            response, response_campaign = view.response, view.response_campaign
        new_view = View(
            participant=participant,
            state=state,
            response=response,
            recent_events=(*view.recent_events, incoming.scoped_event_id)[-RECENT_EVENTS:],
            outside_writes=tx.outside_writes,
            response_campaign=response_campaign,
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
        pid = participant.id

        async def response_loader(campaign: Campaign) -> ResponseRecord | None:
            survey = campaign.survey
            return await load_response(tx, pid, campaign.id, survey.id) if survey and pid else None

        return Turn(
            campaign=self.campaign,
            campaigns=self.campaigns,
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


_PRESSES = (Kind.BUTTON, Kind.FORM)
