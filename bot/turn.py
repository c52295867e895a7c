"""One turn of a conversation: the state a flow step reads and changes, and what it says.

A ``Turn`` lives for one event inside one transaction. Flow steps change ``turn.state`` and
``turn.participant`` and call storage functions with ``turn.tx``; the engine writes the state
and records the event with the replies before the transaction commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, model_validator

from bot.campaign import Campaign, MeetingChange
from bot.i18n import name_commands
from bot.messages import Button, Incoming, Outgoing
from bot.payloads import encode_global, encode_step
from bot.registry import Campaigns
from storage.protocols import Transaction
from storage.records import AnswerRecord, ParticipantRecord, ResponseRecord


class ConversationState(BaseModel):
    """Where a participant is. ``version`` changes whenever the step changes, so a button
    from an earlier step is recognised as stale."""

    step: str = "menu"
    version: int = 0
    campaign: str | None = None
    """The campaign the person is in (None: the default); they choose among several."""
    elsewhere: dict[str, dict[str, Any]] = {}
    """Campaign id -> where the person was in its survey (``question``, ``from_review``,
    ``selection``) while they are in another campaign: each survey resumes at its place."""
    meeting: str | None = None
    """The meeting being signed up for or cancelled."""
    draft: dict[str, str | None] = {}
    """Sign-up answers not yet confirmed."""
    question: str | None = None
    """The survey question the person is at; kept while they visit the menu."""
    from_review: bool = False
    """The survey question was opened from the review: answering returns there. Kept, like
    ``question``, while the person is elsewhere (a sign-up has its own ``editing``)."""
    editing: bool = False
    """The sign-up detail was opened from the confirmation: answering returns there."""
    selection: list[str] = []
    """Ticks of a multi-select question not yet confirmed with Done."""
    search: str | None = None
    """The last text typed to find a municipality."""
    after_notice: str | None = None
    """Where to go once the privacy notice is accepted (a global action, or "resume")."""
    resume_step: str | None = None
    """The step the notice interrupted, to return to with "resume"."""
    broadcast: dict[str, str] = {}
    """A broadcast staff are writing: its segment, filters and a text per language."""
    buttons: dict[str, str] = {}
    """Label (case-folded) -> payload of the buttons last shown: typing a label presses it."""
    asked: Literal["buttons", "words", "search"] = "buttons"
    """What the replies last shown ask for: a press (a label typed, or its unambiguous
    start, presses the button), words (an answer, a name: what is typed is the answer even
    if it is a label) or a search (a municipality: a whole label presses, else it
    searches)."""

    @model_validator(mode="before")
    @classmethod
    def _from_review_of_old_states(cls, data: Any) -> Any:
        """A state saved before ``from_review`` existed: it said so with ``editing`` (also
        through a step that interrupted the change, such as the privacy notice), and at
        the review it still named the last question asked."""
        if not isinstance(data, dict) or "from_review" in data:
            return data
        step = str(data.get("step") or "")
        resume = str(data.get("resume_step") or "")
        if step == "survey.review":
            return {**data, "question": None, "selection": [], "editing": False}
        in_survey = step.startswith("survey.") or resume.startswith("survey.")
        signing_up = step.startswith("signup.") or resume.startswith("signup.")
        if data.get("editing") and (in_survey or (data.get("question") and not signing_up)):
            return {**data, "from_review": True, "editing": False}
        return data

    def copy_for_turn(self) -> ConversationState:
        """A copy a turn may change (cheaper than a deep copy: only the containers)."""
        return self.model_copy(
            update={
                "draft": dict(self.draft),
                "selection": list(self.selection),
                "buttons": dict(self.buttons),
                "broadcast": dict(self.broadcast),
                "elsewhere": dict(self.elsewhere),
            }
        )


Reloader = Callable[[str | None], tuple[Campaign, list[MeetingChange]]]
"""Reads the campaign files again and starts using them; returns the campaign of the id
given and its changed meetings; raises ``CampaignError`` (the old campaigns stay) when a
file is broken."""

_UNLOADED: Any = object()


@dataclass
class View:
    """What the engine keeps in memory about a participant between events."""

    participant: ParticipantRecord
    state: ConversationState
    response: ResponseRecord | None = _UNLOADED
    recent_events: tuple[str, ...] = ()
    outside_writes: int = -1
    """``Transaction.outside_writes`` when this was stored: the same number later means no
    other process can have changed the person since."""
    response_campaign: str | None = None
    """The campaign whose survey ``response`` answers."""

    @property
    def response_loaded(self) -> bool:
        return self.response is not _UNLOADED


@dataclass
class Turn:
    """The context of one event's handling."""

    campaign: Campaign
    tx: Transaction
    now: datetime
    incoming: Incoming
    participant: ParticipantRecord
    state: ConversationState
    lang: str
    offered_languages: tuple[str, ...]
    load_response: Callable[[Campaign], Awaitable[ResponseRecord | None]]
    """The participant's response to a campaign's survey (None: not started)."""
    campaigns: Campaigns | None = None
    """Every campaign the bot serves (None: only ``campaign``)."""
    reload_file: Reloader | None = None
    """Reads the campaign file again (staff's "reload"); None: started without a file."""
    replies: list[Outgoing] = field(default_factory=list)
    outbox: list[tuple[int, str, str, BaseModel]] = field(default_factory=list)
    """Messages for later: (participant id, kind, dedupe key, message). The message is an
    ``Outgoing``, or for a kind the dispatcher prepares (a results file) its request."""
    participant_changed: bool = False
    stale_press: bool = False
    erased: bool = False
    """The person asked to be erased in this turn: nothing of theirs may be written after."""
    _response: ResponseRecord | None = None
    _response_loaded: bool = False

    async def response(self) -> ResponseRecord | None:
        """The participant's survey response (loaded once per turn, then kept in memory)."""
        if not self._response_loaded:
            loaded = await self.load_response(self.campaign)
            # A copy: the engine's cached one must not change before the commit.
            self._response = (
                None if loaded is None else replace(loaded, answers=dict(loaded.answers))
            )
            self._response_loaded = True
        return self._response

    @property
    def response_touched(self) -> bool:
        """Whether this turn loaded (and maybe changed) the response."""
        return self._response_loaded

    @property
    def all_campaigns(self) -> Campaigns:
        """Every campaign the bot serves (at least this turn's)."""
        return self.campaigns or Campaigns.single(self.campaign)

    def switch_campaign(self, campaign: Campaign) -> None:
        """Move the person into another campaign: their place in this campaign's survey is
        kept for their return, and their place in the other's comes back."""
        if campaign.id == self.campaign.id:
            return
        state = self.state
        state.elsewhere[self.campaign.id] = {
            "question": state.question,
            "from_review": state.from_review,
            "selection": list(state.selection),
        }
        back = state.elsewhere.pop(campaign.id, {})
        state.question = back.get("question")
        state.from_review = bool(back.get("from_review", False))
        state.selection = list(back.get("selection", []))
        default = self.campaigns.default_id if self.campaigns else None
        state.campaign = None if campaign.id == default else campaign.id
        self.campaign = campaign
        self._response = None
        self._response_loaded = False

    def replace_response(self, response: ResponseRecord) -> None:
        """Use a newly started response."""
        self._response = response
        self._response_loaded = True

    def record_answer_in_view(self, question_id: str, value: str | None, skipped: bool) -> None:
        """Keep the in-memory response in step with an answer just stored."""
        assert self._response is not None
        self._response.answers[question_id] = AnswerRecord(question_id, value, skipped, self.now)
        self._response.updated_at = self.now

    def mark_submitted(self) -> None:
        """Keep the in-memory response in step with its submission."""
        assert self._response is not None
        self._response.status = "submitted"
        self._response.submitted_at = self._response.submitted_at or self.now

    def say(
        self,
        text: str,
        buttons: list[list[Button]] | None = None,
        *,
        expects_text: bool = False,
        number_is_text: bool = True,
        max_length: int | None = None,
    ) -> None:
        """Add a message to the replies (``max_length``: of the typed answer it expects)."""
        self.replies.append(
            Outgoing(
                text=text,
                buttons=buttons or [],
                expects_text=expects_text,
                number_is_text=number_is_text,
                max_length=max_length if expects_text else None,
            )
        )

    def goto(self, step: str, **changes: Any) -> None:
        """Move to another step; buttons of the step before become stale."""
        self.state.step = step
        self.state.version += 1
        for key, value in changes.items():
            setattr(self.state, key, value)

    def button(self, label: str, action: str, arg: str | None = None) -> Button:
        """A button bound to the current step (stale once the step changes)."""
        return Button(label=label, payload=encode_step(self.state.version, action, arg))

    def text(self, value: Any) -> str:
        """A campaign string in the participant's language."""
        return name_commands(self.campaign.text(value, self.lang))


@dataclass(frozen=True)
class Speaker:
    """The campaign in one language, for texts made outside a turn (reminders, outbox)."""

    campaign: Campaign
    lang: str

    def text(self, value: Any) -> str:
        """A campaign string in this language."""
        return name_commands(self.campaign.text(value, self.lang))


Speaks = Turn | Speaker
"""Anything that can say campaign texts in a language."""


def global_button(label: str, action: str, arg: str | None = None) -> Button:
    """A button that works from any step (navigation)."""
    return Button(label=label, payload=encode_global(action, arg))
