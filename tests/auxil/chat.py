"""A person chatting with the engine, for tests: send text, press buttons by their label."""

from __future__ import annotations

import itertools
import re

from bot.engine import Engine
from bot.messages import Button, Incoming, Kind, Outgoing, ParticipantRef

_event_ids = itertools.count(1)


class Chat:
    """One participant's conversation; remembers the last replies and their buttons."""

    def __init__(
        self,
        engine: Engine,
        user: str = "u1",
        *,
        platform: str = "test",
        language: str | None = "en",
        profile_name: str | None = None,
        accept_privacy: bool = True,
    ) -> None:
        self.engine = engine
        self.ref = ParticipantRef(platform=platform, user_id=user)
        self.language = language
        self.profile_name = profile_name
        self.replies: list[Outgoing] = []
        self.history: list[Outgoing] = []
        self.accept_privacy = accept_privacy
        """Go on past the privacy notice at once, as most tests are about something else."""

    def incoming(self, kind: Kind, **fields: str) -> Incoming:
        """An event from this person with a fresh event id."""
        return Incoming(
            ref=self.ref,
            event_id=str(next(_event_ids)),
            kind=kind,
            language_hint=self.language,
            profile_name=self.profile_name,
            **fields,
        )

    async def deliver(self, incoming: Incoming) -> list[Outgoing]:
        """Hand an event to the engine, as a handler does, and confirm the replies went out."""
        replies = await self.engine.handle(incoming)
        self.engine.replies_sent(incoming)
        if replies:
            self.replies = replies
            self.history.extend(replies)
        notice = [
            b
            for r in replies
            for row in r.buttons
            for b in row
            if re.fullmatch(r"\d+:ok", b.payload)
        ]
        if notice and self.accept_privacy:
            return await self.press_button(notice[0])
        return replies

    async def send(self, text: str) -> list[Outgoing]:
        """Type a message."""
        return await self.deliver(self.incoming(Kind.TEXT, text=text))

    async def command(self, command: str, args: str = "") -> list[Outgoing]:
        """Send a /command."""
        return await self.deliver(self.incoming(Kind.COMMAND, command=command, args=args))

    async def sticker(self) -> list[Outgoing]:
        """Send something the bot cannot read."""
        return await self.deliver(self.incoming(Kind.UNSUPPORTED))

    async def press(self, label: str) -> list[Outgoing]:
        """Press the button of the last replies whose label is ``label`` (or starts with it)."""
        return await self.press_button(self.button(label))

    async def press_button(self, button: Button) -> list[Outgoing]:
        """Press a given button (perhaps one from an old message)."""
        return await self.deliver(self.incoming(Kind.BUTTON, payload=button.payload))

    def button(self, label: str) -> Button:
        """The button of the last replies labelled ``label`` (exactly, else as a prefix)."""
        buttons = [b for reply in self.replies for row in reply.buttons for b in row]
        for b in buttons:
            if b.label == label:
                return b
        for b in buttons:
            if b.label.startswith(label):
                return b
        raise AssertionError(f"no button {label!r} in {self.labels}")

    @property
    def labels(self) -> list[str]:
        """Labels of the last replies' buttons."""
        return [b.label for reply in self.replies for row in reply.buttons for b in row]

    @property
    def text(self) -> str:
        """The last replies' text."""
        return "\n\n".join(r.text for r in self.replies)
