"""What goes into the engine (``Incoming``) and what comes out (``Outgoing``), for any platform."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

PAYLOAD_MAX_BYTES = 64
"""Telegram's limit for callback data; every payload the engine makes fits in it."""
DIRECTION_OVERRIDES = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
"""Invisible characters that reorder the text around them (U+202A-U+202E, U+2066-U+2069):
a name or an answer holding them reads differently from what it is (in the review, an
export, a staff member's screen). Removed from all a person sends, on every platform."""


def without_direction_overrides(text: str) -> str:
    """``text`` without the invisible direction-override characters."""
    return text.translate(DIRECTION_OVERRIDES)


class ParticipantRef(BaseModel):
    """Who: one user on one platform (and Slack workspace, else "")."""

    model_config = ConfigDict(frozen=True)

    platform: str
    workspace: str = ""
    user_id: str

    @property
    def key(self) -> str:
        """A string naming this participant uniquely."""
        return f"{self.platform}:{self.workspace}:{self.user_id}"

    def scoped(self, event_id: str) -> str:
        """A platform's event id made unique across platforms and workspaces (as stored)."""
        return f"{self.platform}:{self.workspace}:{event_id}"


class Kind(StrEnum):
    """What kind of thing the person sent."""

    TEXT = "text"
    BUTTON = "button"
    COMMAND = "command"
    UNSUPPORTED = "unsupported"
    """A sticker, photo, voice message or file: something the bot cannot use."""
    FORM = "form"
    """A filled-in form (a Slack modal): ``payload`` names it, ``fields`` hold the values."""


class Shared(StrEnum):
    """Something a person shared that the bot cannot use, named in the hint it gets."""

    LOCATION = "location"
    CONTACT = "contact"


class Incoming(BaseModel):
    """One event from a person, platform-neutral."""

    model_config = ConfigDict(frozen=True)

    ref: ParticipantRef
    event_id: str
    kind: Kind
    text: str = ""
    payload: str = ""
    command: str = ""
    args: str = ""
    language_hint: str | None = None
    profile_name: str | None = None
    """The name the platform's profile shows, offered when signing up."""
    ticked: list[str] | None = None
    """Where the platform shows tick boxes itself (Slack's checkboxes): the payloads of all
    the options ticked now, which become the selection as a whole (``payload`` is any one of
    the group's). None: a press that toggles one option."""
    fresh: bool = False
    """The button was on a page made for this person just now (Slack's App Home), so a
    press from someone the bot does not know is a first contact, like a message (otherwise
    such a press is from before they were erased, and stores nothing)."""
    fields: dict[str, str] = {}
    """For ``Kind.FORM``: field id -> the value given (empty when left blank)."""
    forms: bool = False
    """The platform can show a form in answer to this event (Slack can open a modal for a
    button press or a slash command): the engine may answer with a ``Form``."""
    shared: Shared | None = None
    """For ``Kind.UNSUPPORTED``: what was sent, where the hint should name it (a location
    or a contact where text was expected)."""

    @field_validator("text", "args", "profile_name")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        return without_direction_overrides(value) if value else value

    @field_validator("fields")
    @classmethod
    def _plain_fields(cls, value: dict[str, str]) -> dict[str, str]:
        return {k: without_direction_overrides(v) for k, v in value.items()}

    @property
    def scoped_event_id(self) -> str:
        """The event id made unique across platforms and workspaces."""
        return self.ref.scoped(self.event_id)


class Button(BaseModel):
    """A button: what it says and the payload it sends back."""

    label: str
    payload: str = Field(max_length=PAYLOAD_MAX_BYTES)
    selected: bool | None = None
    """For multi-select: whether the option is ticked (None: not a toggle)."""


class Attachment(BaseModel):
    """A file sent with a message (kept as base64 in stored replies: files are binary)."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    filename: str
    mime_type: str
    data: bytes


class Option(BaseModel):
    """One choice of a form's select field."""

    label: str
    value: str


class FieldKind(StrEnum):
    """How a form field is filled in."""

    TEXT = "text"
    SELECT = "select"
    """One of ``options``."""
    SEARCH = "search"
    """One of many, found by typing part of it (the platform asks for matches)."""


class FormField(BaseModel):
    """One field of a form."""

    id: str
    label: str
    kind: FieldKind = FieldKind.TEXT
    initial: str | None = None
    initial_label: str | None = None
    """For a search field: what ``initial`` reads as."""
    options: list[Option] = []
    optional: bool = False
    max_length: int | None = None
    hint: str | None = None


class Form(BaseModel):
    """A form filled in at once (a Slack modal). Submitting sends ``payload`` with the
    fields as an ``Incoming`` of ``Kind.FORM``."""

    title: str
    submit: str
    payload: str = Field(max_length=PAYLOAD_MAX_BYTES)
    fields: list[FormField]
    intro: str = ""
    language: str = ""
    """The language it is in (for options asked for while it is open)."""


class Outgoing(BaseModel):
    """One message to a person."""

    text: str
    buttons: list[list[Button]] = []
    attachment: Attachment | None = None
    expects_text: bool = False
    """The person is asked to type something (handlers may show a text box or hint)."""
    max_length: int | None = None
    """With ``expects_text``: the longest answer taken (a platform may count as it is typed)."""
    number_is_text: bool = True
    """With ``expects_text``: a bare number typed may be the answer ("2" to "how many?").
    False where it never is (a municipality's name): a handler that numbers the buttons (the
    console) may take it as picking one."""
    origin_stale: bool = False
    """The pressed button was from an earlier step: its message should lose its buttons
    without showing the press as a choice."""
    replaces_origin: bool = False
    """This message is the pressed button's own message again, changed (ticks of a
    multi-select): platforms that can edit a message show it in place."""
    form: Form | None = None
    """A form to open (only in answer to an ``Incoming`` with ``forms``); ``text`` says
    what it is for, where the form cannot be opened."""
    field_errors: dict[str, str] = {}
    """The submitted form was not accepted: field id -> what is wrong. Nothing was stored."""
