"""The engine's stored replies: what a redelivered event gets again, and the replies that
were committed but never confirmed sent (found at start-up, for retries, and when a web page
connects). A part of ``bot.engine.Engine`` (its base class), kept apart for size."""

from __future__ import annotations

from pydantic import TypeAdapter

from bot.clock import Clock
from bot.delivery import PendingReplies
from bot.messages import Outgoing, ParticipantRef
from storage import events
from storage.participants import find_participant, participants_by_ids
from storage.protocols import Database, Transaction
from storage.records import StoredReplies

__all__ = ["StoredRepliesMixin", "decode_replies", "encode_replies"]

_REPLIES = TypeAdapter(list[Outgoing])


def encode_replies(replies: list[Outgoing]) -> str:
    """Replies as stored with their event (JSON; attachments as base64)."""
    return _REPLIES.dump_json(replies).decode()


def decode_replies(replies: str) -> list[Outgoing]:
    """Stored replies read back."""
    return _REPLIES.validate_json(replies)


_decode = decode_replies


def _unsent_part(stored: StoredReplies) -> list[Outgoing]:
    """The replies still to send: the first ``parts_sent`` went out already."""
    return _REPLIES.validate_json(stored.replies)[stored.parts_sent :]


RESENT_MAX = 10_000
"""Redelivered events whose replies are on their way again, kept for ``resending``."""


class StoredRepliesMixin:
    """Stored replies, for ``Engine``: it has ``db``, ``clock``, ``sender`` and
    ``_handed_out`` and ``_resent``."""

    db: Database
    clock: Clock
    sender: events.Sender | None
    _handed_out: dict[str, None]
    _resent: dict[str, None]

    async def unsent_replies(self, platform: str) -> list[PendingReplies]:
        """Committed replies never confirmed sent that no live worker is sending (taken)."""

        async def job(tx: Transaction) -> list[PendingReplies]:
            found, now = [], self.clock.now()
            unsent = await events.unsent_replies(tx, platform, self.sender, now)
            # A worker that stopped leaves thousands: their people in a few reads, not one each.
            people = await participants_by_ids(
                tx, (s.participant_id for s in unsent if s.participant_id is not None)
            )
            for stored in unsent:
                pid = stored.participant_id
                if pid is None or (p := people.get(pid)) is None:
                    continue
                ref = ParticipantRef(platform=p.platform, workspace=p.workspace, user_id=p.user_id)
                event_id = stored.event_id.removeprefix(f"{p.platform}:{p.workspace}:")
                found.append(PendingReplies(ref, event_id, _unsent_part(stored)))
            return found

        return await self.db.transact(job)

    async def unsent_replies_of(self, ref: ParticipantRef) -> list[PendingReplies]:
        """One person's committed replies that have not gone out, oldest first (a platform
        that can reach a person only while they are connected: the web chat)."""

        async def job(tx: Transaction) -> list[PendingReplies]:
            p = await find_participant(tx, ref.platform, ref.workspace, ref.user_id)
            if p is None:
                return []
            prefix = f"{ref.platform}:{ref.workspace}:"
            return [
                PendingReplies(ref, stored.event_id.removeprefix(prefix), _unsent_part(stored))
                for stored in await events.unsent_replies_for(tx, p.id)
                if stored.event_id not in self._handed_out
            ]

        return await self.db.transact(job)

    async def pending_replies(
        self, chosen: list[tuple[ParticipantRef, str]]
    ) -> list[PendingReplies]:
        """The replies of these events (person, event id) that are still unsent."""
        keys = [ref.scoped(event_id) for ref, event_id in chosen]

        async def job(tx: Transaction) -> list[StoredReplies | None]:
            return [await events.stored_replies(tx, key) for key in keys]

        found = []
        for (ref, event_id), stored in zip(chosen, await self.db.transact(job), strict=True):
            if stored is not None and not stored.sent and stored.participant_id is not None:
                found.append(PendingReplies(ref, event_id, _unsent_part(stored)))
        return found

    def part_sent(self, scoped_event_id: str) -> None:
        """One more of an event's replies went out, and more follow: whoever sends the rest
        after a crash starts after it."""
        events.mark_part_sent(self.db, scoped_event_id)

    async def confirm_pending(self, pending: PendingReplies) -> None:
        """Mark replies found by ``unsent_replies`` as sent."""
        scoped = pending.ref.scoped(pending.event_id)
        await self.db.transact(lambda tx: events.mark_replies_sent_now(tx, scoped))

    async def _redelivered(self, event_id: str) -> list[Outgoing]:
        now = self.clock.now()
        stored = await self.db.transact(
            lambda tx: events.redelivered(tx, event_id, self.sender, now)
        )
        return self._unsent(stored)

    def resending(self, scoped_event_id: str) -> bool:
        """Whether the replies ``handle`` just returned for this event are a redelivered
        event's that an earlier sender may have shown in part (asked once, by the caller
        that sends them)."""
        return self._resent.pop(scoped_event_id, 0) is None

    def _unsent(self, stored: StoredReplies | None) -> list[Outgoing]:
        """The replies of a redelivered event, if they never went out. Replies this process
        handed to a handler that has not confirmed them yet are on their way: not again."""
        if stored is None or stored.sent or stored.event_id in self._handed_out:
            return []
        unsent = _unsent_part(stored)
        if unsent:  # another process's (gone) or an earlier run's: perhaps shown in part
            self._resent[stored.event_id] = None
            while len(self._resent) > RESENT_MAX:
                self._resent.pop(next(iter(self._resent)))
        return unsent
