"""A small fake of Slack: the Web API served by aiohttp on 127.0.0.1, and a driver for the app.

``FakeSlack`` answers ``/api/<method>`` as slack.com does (``{"ok": true, ...}`` or
``{"ok": false, "error": ...}``), so the real ``slack_sdk`` ``AsyncWebClient`` and
``slack_bolt`` ``AsyncApp`` can run against it with ``base_url=fake.api_url``. It keeps the
workspaces (teams), their people, every call, the messages of each conversation as they stand
now, uploaded files, open modals and published App Home views. Faults can be injected: a 429
with ``Retry-After`` for the next calls of a method, or any ``ok: false`` error.

``SlackDriver`` is Slack's other half: it sends the app what Slack sends, signed with the
signing secret (Events API JSON, interactivity ``payload=`` forms, slash commands, options
requests, view submissions, and the OAuth install dance as a browser does it). People's
clicks are found by the visible label of a button in what the bot actually sent.

Socket Mode: ``fake.add_app_token()`` gives an app-level token (``xapp-...``);
``apps.connections.open`` with it answers a one-use ``ws://127.0.0.1:<port>/socket/<ticket>``
URL, where the fake sends ``hello`` and then whatever ``fake.socket_send`` delivers
(``events_api``, ``interactive`` and ``slash_commands`` envelopes), waiting for the app's
acknowledgement of each. ``SlackDriver(..., socket=True)`` sends everything through the socket
instead of HTTP, so the same driver calls work in both modes.

Where Slack is stricter than one might expect, the fake is too: Block Kit limits answer
``invalid_blocks`` / ``invalid_arguments``; ``chat.update`` and ``files.completeUploadExternal``
want a conversation id (``D...``), not a user id; ``views.open`` wants a fresh ``trigger_id``
(single use, 3 seconds).

Conventions of the fake: the bot's DM with user ``U...`` is ``"D" + user id``; one app
(``app_id``) is installed in every team added; timestamps look like ``"1700000000.000100"``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import html
import itertools
import json
import mimetypes
import random
import re
import string
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlparse

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

JSON = dict[str, Any]
Where = Literal["dm", "home", "modal"]

APP_ID = "A0FAKEAPP01"
"""The app's id; one app is installed in every team of the fake."""
VERIFICATION_TOKEN = "fake-verification-token"
DEFAULT_SCOPE = "chat:write,commands,im:history,im:write,users:read,files:write"
TRIGGER_TTL = 3.0
"""Seconds a trigger_id can be exchanged for a modal (Slack: 3)."""

JSON_FIELDS = frozenset({"blocks", "attachments", "view", "files", "metadata"})
"""Parameters that arrive JSON-encoded inside form or query fields."""
NO_TOKEN_METHODS = frozenset({"oauth.v2.access", "oauth.access", "api.test"})
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
"""Methods that take an app-level token (``xapp-``), and only that."""
SOCKET_KINDS = frozenset({"events_api", "interactive", "slash_commands"})
ACK_TIMEOUT = 3.0
"""Seconds Slack waits for a Socket Mode acknowledgement (as for an HTTP answer)."""

_FORM_QUOTED = [
    chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "_.-~") else f"%{b:02X}"
    for b in range(256)
]
_FORM_QUOTED[ord(" ")] = "+"


def form_encode(fields: dict[str, str]) -> str:
    """``urllib.parse.urlencode`` for string fields, as Slack sends forms, in C loops: a
    4 KB payload is encoded with every press, and this fake runs beside a benchmark."""
    return "&".join(f"{_quote(key)}={_quote(value)}" for key, value in fields.items())


def _quote(text: str) -> str:
    return "".join(map(_FORM_QUOTED.__getitem__, text.encode()))


def dumps(value: Any) -> str:
    """JSON as Slack writes it: compact."""
    return json.dumps(value, separators=(",", ":"))


def _copied(value: Any) -> Any:
    """A deep copy of JSON data (faster than ``copy.deepcopy``)."""
    return json.loads(json.dumps(value))


# Stateful element type -> (key in state.values, initial_* key in the element, empty value).
STATEFUL: dict[str, tuple[str, str, Any]] = {
    "checkboxes": ("selected_options", "initial_options", []),
    "multi_static_select": ("selected_options", "initial_options", []),
    "multi_external_select": ("selected_options", "initial_options", []),
    "static_select": ("selected_option", "initial_option", None),
    "external_select": ("selected_option", "initial_option", None),
    "radio_buttons": ("selected_option", "initial_option", None),
    "plain_text_input": ("value", "initial_value", None),
    "email_text_input": ("value", "initial_value", None),
    "url_text_input": ("value", "initial_value", None),
    "number_input": ("value", "initial_value", None),
    "datepicker": ("selected_date", "initial_date", None),
    "timepicker": ("selected_time", "initial_time", None),
    "datetimepicker": ("selected_date_time", "initial_date_time", None),
    "users_select": ("selected_user", "initial_user", None),
    "multi_users_select": ("selected_users", "initial_users", []),
    "conversations_select": ("selected_conversation", "initial_conversation", None),
    "multi_conversations_select": ("selected_conversations", "initial_conversations", []),
    "channels_select": ("selected_channel", "initial_channel", None),
    "multi_channels_select": ("selected_channels", "initial_channels", []),
}
INTERACTIVE = frozenset(STATEFUL) | {"button", "overflow", "workflow_button"}
SINGLE_CHOICE = frozenset({"static_select", "external_select", "radio_buttons", "overflow"})
MULTI_CHOICE = frozenset({"checkboxes", "multi_static_select", "multi_external_select"})
TEXT_INPUTS = frozenset({"plain_text_input", "email_text_input", "url_text_input", "number_input"})


# -- small helpers ---------------------------------------------------------------------------


def _flag(value: Any) -> bool:
    """A boolean parameter as slack_sdk sends it: True in JSON, "1"/"true" in forms."""
    return value is True or value == 1 or str(value).lower() in {"1", "true"}


def _text_of(obj: Any) -> str:
    """The string of a text object ({"type": "plain_text", "text": ...}) or a plain string."""
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return "" if obj is None else str(obj)


def _plain(label: str) -> str:
    """A label without leading emoji, :shortcodes: and marks such as a check mark."""
    return re.sub(r"^(?::[\w+-]+:|[^\w\s])+\s*", "", label.strip()).strip()


def _pick(label: str, candidates: list[tuple[str, Any]]) -> Any | None:
    """The candidate whose label is ``label``: exactly, without decorations, or by prefix."""
    for test in (
        lambda c: c == label,
        lambda c: _plain(c) == _plain(label),
        lambda c: _plain(c).startswith(_plain(label)) and _plain(label) != "",
    ):
        for text, item in candidates:
            if test(text):
                return item
    return None


def _options(element: JSON) -> list[JSON]:
    """An element's option objects, option groups flattened."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def _option_out(option: JSON) -> JSON:
    """An option as Slack echoes it in payloads (text, value and description only)."""
    return {k: option[k] for k in ("text", "value", "description") if k in option}


@dataclass
class Element:
    """An interactive element found in blocks (in ``actions``, a section's accessory, or an
    ``input`` block)."""

    type: str
    action_id: str
    block_id: str
    block_type: str
    raw: JSON
    dispatches: bool = True
    """False for an element of an input block without ``dispatch_action``: Slack sends no
    block_actions for it, its value only reaches the app with the view submission."""

    @property
    def text(self) -> str:
        """A button's label; a select's placeholder."""
        return _text_of(self.raw.get("text") or self.raw.get("placeholder"))

    @property
    def value(self) -> str | None:
        return self.raw.get("value")

    @property
    def options(self) -> list[JSON]:
        return _options(self.raw)

    @property
    def option_labels(self) -> list[str]:
        return [_text_of(o.get("text")) for o in self.options]

    @property
    def url(self) -> str | None:
        return self.raw.get("url")

    @property
    def style(self) -> str | None:
        return self.raw.get("style")


def find_elements(blocks: Iterable[JSON]) -> list[Element]:
    """Every interactive element of these blocks, in reading order."""
    found: list[Element] = []
    for block in blocks:
        kind = block.get("type", "")
        if kind == "actions":
            candidates = list(block.get("elements") or [])
        elif kind == "section" and isinstance(block.get("accessory"), dict):
            candidates = [block["accessory"]]
        elif kind == "input" and isinstance(block.get("element"), dict):
            candidates = [block["element"]]
        else:
            candidates = []
        for raw in candidates:
            if raw.get("type") in INTERACTIVE:
                found.append(
                    Element(
                        type=raw["type"],
                        action_id=raw.get("action_id", ""),
                        block_id=block.get("block_id", ""),
                        block_type=kind,
                        raw=raw,
                        dispatches=kind != "input" or block.get("dispatch_action") is True,
                    )
                )
    return found


def _block_texts(blocks: Iterable[JSON]) -> list[str]:
    texts: list[str] = []

    def rich(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                texts.append(str(node.get("text", "")))
            for child in node.get("elements") or []:
                rich(child)

    for block in blocks:
        kind = block.get("type")
        if kind in {"section", "header"}:
            if block.get("text"):
                texts.append(_text_of(block["text"]))
            texts.extend(_text_of(f) for f in block.get("fields") or [])
        elif kind == "context":
            texts.extend(_text_of(e) for e in block.get("elements") or [] if "text" in e)
        elif kind == "input":
            texts.append(_text_of(block.get("label")))
        elif kind == "rich_text":
            rich(block)
        for element in find_elements([block]):
            if element.type == "button":
                texts.append(element.text)
    return texts


class _Surface:
    """What messages and views share: blocks with interactive elements and their state."""

    blocks: list[JSON]
    state: dict[str, dict[str, JSON]]
    """block_id -> action_id -> value the person chose since the blocks were last set."""

    _found: tuple[list[JSON], list[Element]] | None = None

    @property
    def elements(self) -> list[Element]:
        """The interactive elements (found again when the blocks are replaced)."""
        found = self._found
        if found is None or found[0] is not self.blocks:
            found = self._found = (self.blocks, find_elements(self.blocks))
        return found[1]

    @property
    def buttons(self) -> list[Element]:
        return [e for e in self.elements if e.type == "button"]

    @property
    def labels(self) -> list[str]:
        """The visible texts of the buttons."""
        return [b.text for b in self.buttons]

    @property
    def checkboxes(self) -> list[Element]:
        return [e for e in self.elements if e.type == "checkboxes"]

    @property
    def selects(self) -> list[Element]:
        return [
            e for e in self.elements if e.type in SINGLE_CHOICE | MULTI_CHOICE - {"checkboxes"}
        ]

    @property
    def all_text(self) -> str:
        """The texts of the blocks (sections, fields, headers, context, labels, buttons)."""
        return "\n".join(t for t in _block_texts(self.blocks) if t)

    def element(
        self,
        *,
        type: str | None = None,
        label: str | None = None,
        action_id: str | None = None,
        value: str | None = None,
    ) -> Element | None:
        """The first element matching all the given criteria (label: exact or prefix)."""
        candidates = [
            e
            for e in self.elements
            if (type is None or e.type == type)
            and (action_id is None or e.action_id == action_id)
            and (value is None or e.value == value)
        ]
        if label is None:
            return candidates[0] if candidates else None
        found: Element | None = _pick(label, [(e.text, e) for e in candidates])
        return found

    def state_values(self) -> dict[str, dict[str, JSON]]:
        """``state.values`` as Slack sends it: every stateful element, chosen or initial."""
        values: dict[str, dict[str, JSON]] = {}
        for element in self.elements:
            if element.type not in STATEFUL:
                continue
            chosen = self.state.get(element.block_id, {}).get(element.action_id)
            if chosen is None:
                key, initial, empty = STATEFUL[element.type]
                default = element.raw.get(initial, copy.deepcopy(empty))
                if key == "selected_options":
                    default = [_option_out(o) for o in default]
                elif key == "selected_option" and default is not None:
                    default = _option_out(default)
                chosen = {"type": element.type, key: default}
            values.setdefault(element.block_id, {})[element.action_id] = chosen
        return values

    def _choose(self, element: Element, entry: JSON) -> None:
        self.state.setdefault(element.block_id, {})[element.action_id] = entry


@dataclass
class Team:
    """A workspace with the app installed."""

    id: str
    name: str
    domain: str
    bot_user_id: str
    bot_id: str
    bot_token: str
    scope: str = DEFAULT_SCOPE


@dataclass
class User:
    """A person in a workspace."""

    id: str
    team: str
    real_name: str
    locale: str = "nb-NO"
    display_name: str = ""
    tz: str = "Europe/Oslo"
    is_bot: bool = False
    deleted: bool = False

    @property
    def name(self) -> str:
        """The username, e.g. ``kari.nordmann``."""
        return re.sub(r"\s+", ".", self.real_name.strip().lower()) or self.id.lower()

    def as_api(self, include_locale: bool = False) -> JSON:
        profile = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.display_name,
            "display_name_normalized": self.display_name,
            "first_name": self.real_name.split(" ")[0],
            "last_name": " ".join(self.real_name.split(" ")[1:]),
            "team": self.team,
        }
        user: JSON = {
            "id": self.id,
            "team_id": self.team,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": "Central European Time",
            "tz_offset": 3600,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }
        if include_locale:
            user["locale"] = self.locale
        return user

    def as_payload(self) -> JSON:
        """The ``user`` object of interactivity payloads."""
        return {"id": self.id, "username": self.name, "name": self.name, "team_id": self.team}


@dataclass
class SharedFile:
    """A file the bot uploaded and shared (files_upload_v2)."""

    id: str
    team: str
    channel: str | None
    filename: str
    title: str
    content: bytes
    initial_comment: str | None
    user: str
    mimetype: str
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def as_api(self) -> JSON:
        return {
            "id": self.id,
            "created": self.created,
            "timestamp": self.created,
            "name": self.filename,
            "title": self.title,
            "mimetype": self.mimetype,
            "filetype": self.filename.rsplit(".", 1)[-1] if "." in self.filename else "text",
            "user": self.user,
            "user_team": self.team,
            "size": len(self.content),
            "mode": "hosted",
            "is_external": False,
            "is_public": False,
            "url_private": f"https://files.slack.com/files-pri/{self.team}-{self.id}/{self.filename}",
            "ims": [self.channel] if self.channel and self.channel.startswith("D") else [],
            "channels": [self.channel] if self.channel and self.channel.startswith("C") else [],
        }


@dataclass
class Message(_Surface):
    """A message in a conversation, as it stands now (chat.update changes it)."""

    ts: str
    channel: str
    team: str
    user: str
    text: str
    blocks: list[JSON] = field(default_factory=list)
    bot_id: str | None = None
    updates: int = 0
    thread_ts: str | None = None
    files: list[SharedFile] = field(default_factory=list)
    ephemeral_to: str | None = None
    """For an ephemeral message: the one person who sees it."""
    state: dict[str, dict[str, JSON]] = field(default_factory=dict)
    subtype: str | None = None

    @property
    def from_bot(self) -> bool:
        return self.bot_id is not None

    def as_api(self) -> JSON:
        """The message object as Slack puts it in payloads and API answers."""
        message: JSON = {"type": "message", "text": self.text, "user": self.user, "ts": self.ts}
        message["team"] = self.team
        if self.subtype:
            message["subtype"] = self.subtype
        if self.bot_id is not None:
            message["bot_id"] = self.bot_id
            message["app_id"] = APP_ID
            message["bot_profile"] = {
                "id": self.bot_id,
                "app_id": APP_ID,
                "name": "Consultation",
                "deleted": False,
                "team_id": self.team,
            }
        if self.blocks:
            message["blocks"] = _copied(self.blocks)
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.updates:
            message["edited"] = {"user": self.user, "ts": self.ts}
        if self.files:
            message["files"] = [f.as_api() for f in self.files]
            message["upload"] = False
        return message


@dataclass
class View(_Surface):
    """A modal or App Home view, as the app last set it."""

    id: str
    team: str
    user: str
    type: str
    definition: JSON
    """The view as the app passed it (blocks with block_ids/action_ids filled in)."""
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    bot_id: str = ""
    updates: int = 0
    state: dict[str, dict[str, JSON]] = field(default_factory=dict)

    @property
    def blocks(self) -> list[JSON]:  # type: ignore[override]
        blocks: list[JSON] = self.definition.get("blocks") or []
        return blocks

    @property
    def callback_id(self) -> str:
        return str(self.definition.get("callback_id") or "")

    @property
    def private_metadata(self) -> str:
        return str(self.definition.get("private_metadata") or "")

    @property
    def external_id(self) -> str:
        return str(self.definition.get("external_id") or "")

    @property
    def title(self) -> str:
        return _text_of(self.definition.get("title"))

    @property
    def inputs(self) -> list[Element]:
        """The elements of the view's input blocks."""
        return [e for e in self.elements if e.block_type == "input"]

    def as_api(self) -> JSON:
        d = self.definition
        return {
            "id": self.id,
            "team_id": self.team,
            "type": self.type,
            "blocks": _copied(self.blocks),
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": self.state_values()},
            "hash": self.hash,
            "title": d.get("title"),
            "clear_on_close": bool(d.get("clear_on_close", False)),
            "notify_on_close": bool(d.get("notify_on_close", False)),
            "close": d.get("close"),
            "submit": d.get("submit"),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": APP_ID,
            "external_id": self.external_id,
            "app_installed_team_id": self.team,
            "bot_id": self.bot_id,
        }


@dataclass
class Call:
    """One call of a Web API method, as the fake received it."""

    method: str
    team: str | None
    params: JSON
    status: int = 200
    error: str | None = None
    """The error answered (``ratelimited``, ``invalid_auth``, ...), None when ok."""
    caller: str = ""
    """Who made the call (a name from ``FakeSlack.caller_url``; "" for ``api_url``)."""


@dataclass
class _Token:
    token: str
    team: str
    user: str
    kind: Literal["bot", "user"]
    revoked: bool = False


@dataclass
class _Grant:
    team: str
    user: str
    scope: str
    user_scope: str
    redirect_uri: str | None


@dataclass
class _Trigger:
    team: str
    user: str
    issued: float
    used: bool = False


@dataclass
class _ResponseTarget:
    team: str
    user: str
    channel: str
    message_ts: str | None


@dataclass
class SocketAck:
    """The app's acknowledgement of one Socket Mode envelope."""

    envelope_id: str
    envelope: JSON
    """What the fake sent (``type``, ``payload``, ``retry_attempt``, ...)."""
    message: JSON
    """The acknowledgement as the app sent it (``{"envelope_id": ..., "payload": ...}``)."""
    elapsed: float
    """Seconds from sending the envelope to the acknowledgement."""

    @property
    def payload(self) -> JSON | None:
        """The acknowledgement's payload (``response_action``, ``options``, ``text``...),
        None when it had none."""
        payload = self.message.get("payload")
        return payload if isinstance(payload, dict) else None


class SocketConnection:
    """One open Socket Mode WebSocket between the fake and an app."""

    def __init__(self, ticket: str, ws: web.WebSocketResponse, query: dict[str, str]) -> None:
        self.ticket = ticket
        self.ws = ws
        self.query = query
        """The URL's query as the client used it (e.g. ``debug_reconnects``)."""
        self.received: list[JSON] = []
        """Every JSON text frame the app sent on this connection, in order."""

    @property
    def closed(self) -> bool:
        return self.ws.closed


class SlackError(Exception):
    """An ``ok: false`` answer of the Web API."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# -- Block Kit limits ------------------------------------------------------------------------


def _check_text(problems: list[str], obj: Any, where: str, limit: int, plain: bool) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in {"plain_text", "mrkdwn"}:
        problems.append(f"must provide an object [json-pointer:{where}]")
        return
    if plain and obj["type"] != "plain_text":
        problems.append(f"must be a plain_text object [json-pointer:{where}/type]")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"must be more than 0 characters [json-pointer:{where}/text]")
    elif len(text) > limit:
        problems.append(f"must be less than {limit + 1} characters [json-pointer:{where}/text]")


def _check_element(problems: list[str], element: Any, where: str) -> None:
    if not isinstance(element, dict) or "type" not in element:
        problems.append(f"must provide an element [json-pointer:{where}]")
        return
    kind = element["type"]
    if len(str(element.get("action_id", ""))) > 255:
        problems.append(f"must be less than 256 characters [json-pointer:{where}/action_id]")
    if kind == "button":
        _check_text(problems, element.get("text"), f"{where}/text", 75, plain=True)
        if len(str(element.get("value", ""))) > 2000:
            problems.append(f"must be less than 2001 characters [json-pointer:{where}/value]")
        if len(str(element.get("url", ""))) > 3000:
            problems.append(f"must be less than 3001 characters [json-pointer:{where}/url]")
        if element.get("style") not in {None, "primary", "danger"}:
            problems.append(f"must be one of primary, danger [json-pointer:{where}/style]")
    limits = {"checkboxes": 10, "radio_buttons": 10, "overflow": 5}
    if kind in limits or kind in {"static_select", "multi_static_select"}:
        options = _options(element)
        limit = limits.get(kind, 100)
        if not options:
            problems.append(f"must provide options [json-pointer:{where}/options]")
        if len(options) > limit:
            problems.append(f"must provide no more than {limit} items [json-pointer:{where}]")
        for i, option in enumerate(element.get("options") or []):
            _check_text(problems, option.get("text"), f"{where}/options/{i}/text", 75, False)
            value = option.get("value")
            if not isinstance(value, str) or not 0 < len(value) <= 150:
                problems.append(f"must be 1 to 150 characters [json-pointer:{where}/options/{i}]")
        values = [o.get("value") for o in options]
        if len(set(values)) != len(values):
            problems.append(f"option values must be unique [json-pointer:{where}/options]")
    if kind == "plain_text_input" and int(element.get("max_length") or 0) > 3000:
        problems.append(f"must be at most 3000 [json-pointer:{where}/max_length]")


def check_blocks(blocks: Any, limit: int, pointer: str = "/blocks") -> list[str]:
    """What Slack would reject in these blocks (an empty list when they are fine)."""
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{pointer}]"]
    problems: list[str] = []
    if len(blocks) > limit:
        problems.append(f"no more than {limit} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(block, dict):
            problems.append(f"must provide an object [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                problems.append(f"duplicate block_id [json-pointer:{where}/block_id]")
            block_ids.add(block_id)
            if len(str(block_id)) > 255:
                problems.append(f"must be less than 256 characters [json-pointer:{where}]")
        kind = block.get("type")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"must provide text or fields [json-pointer:{where}]")
            if "text" in block:
                _check_text(problems, block["text"], f"{where}/text", 3000, plain=False)
            fields = block.get("fields") or []
            if len(fields) > 10:
                problems.append(f"no more than 10 items allowed [json-pointer:{where}/fields]")
            for j, item in enumerate(fields):
                _check_text(problems, item, f"{where}/fields/{j}", 2000, plain=False)
            if "accessory" in block:
                _check_element(problems, block["accessory"], f"{where}/accessory")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 25:
                problems.append(f"must provide 1 to 25 items [json-pointer:{where}/elements]")
            action_ids = [e.get("action_id") for e in elements if e.get("action_id")]
            if len(set(action_ids)) != len(action_ids):
                problems.append(f"duplicate action_id [json-pointer:{where}/elements]")
            for j, element in enumerate(elements):
                _check_element(problems, element, f"{where}/elements/{j}")
        elif kind == "input":
            _check_text(problems, block.get("label"), f"{where}/label", 2000, plain=True)
            _check_element(problems, block.get("element"), f"{where}/element")
            if "hint" in block:
                _check_text(problems, block["hint"], f"{where}/hint", 2000, plain=True)
        elif kind == "header":
            _check_text(problems, block.get("text"), f"{where}/text", 150, plain=True)
        elif kind == "context":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 10:
                problems.append(f"must provide 1 to 10 items [json-pointer:{where}/elements]")
        elif kind not in {"divider", "image", "rich_text", "file", "video", "markdown"}:
            problems.append(f"unsupported type: {kind} [json-pointer:{where}/type]")
    return problems


def check_view(view: Any) -> list[str]:
    """What Slack would reject in a modal or home view."""
    if not isinstance(view, dict):
        return ["must provide an object [json-pointer:/view]"]
    problems: list[str] = []
    kind = view.get("type")
    if kind not in {"modal", "home"}:
        problems.append("must be one of modal, home [json-pointer:/view/type]")
    if kind == "modal":
        _check_text(problems, view.get("title"), "/view/title", 24, plain=True)
        for key in ("submit", "close"):
            if key in view and view[key] is not None:
                _check_text(problems, view[key], f"/view/{key}", 24, plain=True)
        has_input = any(b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and not view.get("submit"):
            problems.append(
                "must provide submit when input blocks are present [json-pointer:/view]"
            )
    problems.extend(check_blocks(view.get("blocks", []), 100, "/view/blocks"))
    for key, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        if len(str(view.get(key) or "")) > limit:
            problems.append(f"must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    return problems


# -- the Web API -----------------------------------------------------------------------------


class FakeSlack:
    """The fake Slack Web API and the workspaces behind it."""

    def __init__(
        self,
        *,
        client_id: str = "1111.2222",
        client_secret: str = "fake-client-secret",
        latency: float = 0.0,
        trigger_ttl: float = TRIGGER_TTL,
        seed: int = 1,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.app_id = APP_ID
        self.latency = latency
        """Seconds added to every API call."""
        self.trigger_ttl = trigger_ttl
        self.teams: dict[str, Team] = {}
        self.users: dict[tuple[str, str], User] = {}
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], list[Message]] = defaultdict(list)
        """(team, channel) -> messages in order, bot's and people's."""
        self.ephemerals: list[Message] = []
        self.uploads: dict[str, SharedFile] = {}
        """Every uploaded file by id, shared or not."""
        self.modals: dict[tuple[str, str], list[View]] = defaultdict(list)
        """(team, user) -> the stack of open modal views (the last one is on top)."""
        self.homes: dict[tuple[str, str], View] = {}
        self.home_history: dict[tuple[str, str], list[JSON]] = defaultdict(list)
        """(team, user) -> every home view published, as published."""
        self.closed_modals: list[View] = []
        self.base_url = ""
        self.api_url = ""
        self._random = random.Random(seed)
        self._tokens: dict[str, _Token] = {}
        self._grants: dict[str, _Grant] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseTarget] = {}
        self._pending_uploads: dict[str, JSON] = {}
        self._rate_limits: dict[str, list[int]] = defaultdict(list)
        self._failures: dict[str, list[str]] = defaultdict(list)
        self._holds: dict[str, list[Any]] = {}
        """A held call per method (``hold``): calls to let through first, arrived, release."""
        self._ts = itertools.count(int(time.time()) * 1_000_000, 100)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()
        self._app_tokens: set[str] = set()
        self._tickets: dict[str, bool] = {}
        """Socket Mode tickets issued by apps.connections.open -> already used."""
        self.sockets: list[SocketConnection] = []
        """Socket Mode connections, in the order they were opened (closed ones included)."""
        self.socket_envelopes: list[JSON] = []
        """Every envelope sent over Socket Mode, in order."""
        self.socket_acks: list[SocketAck] = []
        """Every acknowledgement the app sent over Socket Mode, in order."""
        self._ack_waiters: dict[str, asyncio.Future[SocketAck]] = {}
        self._envelopes: dict[str, tuple[JSON, float]] = {}
        self._methods: dict[str, Callable[[_Token | None, JSON], Any]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "team.info": self._team_info,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "oauth.v2.access": self._oauth_v2_access,
            "apps.connections.open": self._apps_connections_open,
        }

    # -- server -----------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free port of 127.0.0.1; return ``api_url`` (ends with ``/api/``)."""
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._dispatch)
        # The same API under a caller's name (``caller_url``): several apps (workers) on one
        # fake, each call recorded with who made it (``Call.caller``).
        app.router.add_route("*", "/as/{caller}/api/{method}", self._dispatch)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{key}", self._respond)
        app.router.add_get("/socket/{ticket}", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.base_url}/api/"
        return self.api_url

    def caller_url(self, caller: str) -> str:
        """The Web API's base URL for an app whose calls are recorded as ``caller``'s."""
        return f"{self.base_url}/as/{caller}/api/"

    async def stop(self) -> None:
        for connection in self.sockets:
            if not connection.closed:
                await connection.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- setting up workspaces ----------------------------------------------------------------

    def _id(self, prefix: str, length: int = 10) -> str:
        alphabet = string.ascii_uppercase + string.digits
        return prefix + "".join(self._random.choices(alphabet, k=length))

    def add_team(
        self, team_id: str, name: str = "Test workspace", *, scope: str = DEFAULT_SCOPE
    ) -> str:
        """Add a workspace with the app installed (a bot user and bot token); return the
        bot token. Adding a known team again returns its token."""
        if team_id in self.teams:
            return self.teams[team_id].bot_token
        number = "".join(self._random.choice(string.digits) for _ in range(13))
        token = f"xoxb-{number}-{next(self._ids)}-{self._id('', 24).lower()}"
        team = Team(
            id=team_id,
            name=name,
            domain=re.sub(r"[^a-z0-9-]", "", name.lower().replace(" ", "-")) or "workspace",
            bot_user_id=f"U0BOT{team_id[1:]}",
            bot_id=f"B0BOT{team_id[1:]}",
            bot_token=token,
            scope=scope,
        )
        self.teams[team_id] = team
        self._tokens[token] = _Token(token, team_id, team.bot_user_id, "bot")
        bot = User(team.bot_user_id, team_id, "Consultation", "en-US", "consultation", is_bot=True)
        self.users[(team_id, bot.id)] = bot
        return token

    def add_user(
        self,
        team_id: str,
        user_id: str,
        real_name: str = "Kari Nordmann",
        locale: str = "nb-NO",
        *,
        display_name: str = "",
        tz: str = "Europe/Oslo",
    ) -> User:
        """Add a person to a workspace (or replace their details)."""
        self.team(team_id)
        user = User(user_id, team_id, real_name, locale, display_name, tz)
        self.users[(team_id, user_id)] = user
        return user

    def team(self, team_id: str) -> Team:
        try:
            return self.teams[team_id]
        except KeyError:
            raise AssertionError(f"no team {team_id}; call fake.add_team first") from None

    def user(self, team_id: str, user_id: str) -> User:
        """The person, added with default details on first use."""
        if (team_id, user_id) not in self.users:
            self.add_user(team_id, user_id, f"User {user_id}")
        return self.users[(team_id, user_id)]

    def revoke(self, team_id: str) -> None:
        """Revoke every token of the team (as after an uninstall): calls answer
        ``token_revoked``."""
        for token in self._tokens.values():
            if token.team == team_id:
                token.revoked = True

    def authorize(
        self,
        team_id: str,
        installer_user_id: str,
        *,
        scope: str = DEFAULT_SCOPE,
        user_scope: str = "",
        redirect_uri: str | None = None,
    ) -> str:
        """A person approves the app's install in Slack: return the one-time OAuth code
        that oauth.v2.access exchanges. An unknown team is added."""
        if team_id not in self.teams:
            self.add_team(team_id, f"Workspace {team_id}", scope=scope)
        self.teams[team_id].scope = scope
        self.user(team_id, installer_user_id)
        code = f"{next(self._ids)}.{self._id('', 12).lower()}"
        self._grants[code] = _Grant(team_id, installer_user_id, scope, user_scope, redirect_uri)
        return code

    # -- faults ---------------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with ``Retry-After``."""
        self._rate_limits[method].extend([retry_after] * times)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer ``{"ok": false, "error": error}``."""
        self._failures[method].extend([error] * times)

    def hold(self, method: str, after: int = 0) -> tuple[asyncio.Event, asyncio.Event]:
        """The call of ``method`` after the next ``after`` is held before it is carried out:
        the first event is set when it arrives, and it goes on once the second is set (a
        process can be stopped while its call is in flight)."""
        arrived, release = asyncio.Event(), asyncio.Event()
        self._holds[method] = [after, arrived, release]
        return arrived, release

    # -- what the driver needs ----------------------------------------------------------------

    def next_ts(self) -> str:
        """A new message timestamp, unique and increasing."""
        value = next(self._ts)
        return f"{value // 1_000_000}.{value % 1_000_000:06d}"

    def new_trigger(self, team_id: str, user_id: str) -> str:
        """A trigger_id as in an interaction payload (one use, ``trigger_ttl`` seconds)."""
        trigger = f"{next(self._ids)}.{self._random.randrange(10**9)}.{uuid.uuid4().hex}"
        self._triggers[trigger] = _Trigger(team_id, user_id, time.monotonic())
        return trigger

    def new_response_url(
        self, team_id: str, user_id: str, channel: str, message_ts: str | None
    ) -> str:
        """A response_url pointing back at the fake (``respond()`` in bolt posts to it)."""
        key = uuid.uuid4().hex
        self._response_urls[key] = _ResponseTarget(team_id, user_id, channel, message_ts)
        return f"{self.base_url}/respond/{key}"

    def record_user_message(self, team_id: str, channel: str, message: Message) -> None:
        self.messages[(team_id, channel)].append(message)

    # -- looking at what the bot did ----------------------------------------------------------

    def conversation(self, team_id: str, channel: str) -> list[Message]:
        """All messages of a conversation (people's and bot's) in order."""
        return list(self.messages.get((team_id, channel), []))

    def dm(self, team_id: str, user_id: str) -> list[Message]:
        """The bot's messages in the person's DM, as they stand now (file shares included)."""
        return [m for m in self.conversation(team_id, "D" + user_id) if m.from_bot]

    def last_dm(self, team_id: str, user_id: str) -> Message:
        """The bot's last message to the person."""
        messages = self.dm(team_id, user_id)
        if not messages:
            raise AssertionError(f"the bot has sent nothing to {user_id} in {team_id}")
        return messages[-1]

    def dm_texts(self, team_id: str, user_id: str) -> list[str]:
        return [m.text for m in self.dm(team_id, user_id)]

    def ephemeral(self, team_id: str, user_id: str) -> list[Message]:
        """Ephemeral messages shown to the person (chat.postEphemeral, response_url,
        a slash command's acknowledgement)."""
        return [m for m in self.ephemerals if m.team == team_id and m.ephemeral_to == user_id]

    def home(self, team_id: str, user_id: str) -> View | None:
        """The person's App Home as last published."""
        return self.homes.get((team_id, user_id))

    def modal(self, team_id: str, user_id: str) -> View | None:
        """The modal on top of the person's screen, None when none is open."""
        stack = self.modals.get((team_id, user_id))
        return stack[-1] if stack else None

    def files(self, team_id: str, user_id: str) -> list[SharedFile]:
        """Files the bot shared in the person's DM."""
        return self.files_in(team_id, "D" + user_id)

    def files_in(self, team_id: str, channel: str) -> list[SharedFile]:
        return [f for f in self.uploads.values() if f.team == team_id and f.channel == channel]

    def called(self, method: str) -> list[Call]:
        """The calls of one method, in order (failed ones included)."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``condition()`` holds (for apps that answer after acknowledging)."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("condition not met in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))

    async def wait_for_dm(
        self, team_id: str, user_id: str, count: int = 1, timeout: float = 5.0
    ) -> list[Message]:
        """Wait until the bot has sent ``count`` messages to the person; return them."""
        try:
            await self.wait_for(lambda: len(self.dm(team_id, user_id)) >= count, timeout)
        except AssertionError:
            got = len(self.dm(team_id, user_id))
            raise AssertionError(f"{user_id} got {got} messages, expected {count}") from None
        return self.dm(team_id, user_id)

    # -- dispatch -----------------------------------------------------------------------------

    async def _params(
        self, request: web.Request
    ) -> tuple[JSON, str | None, tuple[str, str] | None]:
        """Query, form or JSON parameters, the token and any HTTP Basic credentials."""
        params: JSON = dict(request.query)
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    params[key] = value if isinstance(value, str) else value.file.read()
        for key in JSON_FIELDS:
            if isinstance(params.get(key), str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(params[key])
        token = params.pop("token", None)
        basic: tuple[str, str] | None = None
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ").strip()
        elif authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client_id, _, secret = decoded.partition(":")
            basic = (client_id, secret)
        return params, token, basic

    async def _dispatch(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, token_text, basic = await self._params(request)
        if basic is not None:
            params["_basic_auth"] = basic
        known = self._tokens.get(token_text or "")
        call = Call(
            method,
            known.team if known else None,
            params,
            caller=request.match_info.get("caller", ""),
        )
        self.calls.append(call)
        if self.latency:
            await asyncio.sleep(self.latency)
        held = self._holds.get(method)
        if held is not None:
            if held[0] > 0:
                held[0] -= 1
            else:
                del self._holds[method]
                held[1].set()
                await held[2].wait()
        if self._rate_limits.get(method):
            retry_after = self._rate_limits[method].pop(0)
            call.status, call.error = 429, "ratelimited"
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                dumps=dumps,
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        handler = self._methods.get(method)
        try:
            if handler is None:
                raise SlackError("unknown_method", req_method=method)
            token: _Token | None = None
            if method in APP_TOKEN_METHODS:
                if not token_text:
                    raise SlackError("not_authed")
                if token_text not in self._app_tokens:
                    raise SlackError("not_allowed_token_type" if known else "invalid_auth")
            elif method not in NO_TOKEN_METHODS:
                if not token_text:
                    raise SlackError("not_authed")
                if token_text in self._app_tokens:
                    raise SlackError("not_allowed_token_type")
                if known is None:
                    raise SlackError("invalid_auth")
                if known.revoked:
                    raise SlackError("token_revoked")
                token = known
            if self._failures.get(method):
                raise SlackError(self._failures[method].pop(0))
            result = await handler(token, params)
        except SlackError as exc:
            call.error = exc.error
            return web.json_response({"ok": False, "error": exc.error, **exc.extra}, dumps=dumps)
        finally:
            self._changed.set()
        headers = {}
        if token is not None:
            headers["X-OAuth-Scopes"] = self.teams[token.team].scope
            headers["X-Accepted-OAuth-Scopes"] = ""
        return web.json_response({"ok": True, **result}, headers=headers, dumps=dumps)

    # -- lookups --------------------------------------------------------------------------

    def _known_user(self, team_id: str, user_id: Any) -> User:
        user = self.users.get((team_id, str(user_id)))
        if user is None:
            raise SlackError("user_not_found")
        return user

    def _channel(self, team_id: str, channel: Any, *, user_ok: bool) -> str:
        """A conversation id; a user id means the bot's DM with them (where Slack allows)."""
        channel = str(channel or "")
        if channel.startswith(("U", "W")):
            if not user_ok or (team_id, channel) not in self.users:
                raise SlackError("channel_not_found")
            return "D" + channel
        if channel.startswith("D"):
            if (team_id, channel[1:]) not in self.users:
                raise SlackError("channel_not_found")
            return channel
        if channel.startswith(("C", "G")):
            return channel
        raise SlackError("channel_not_found")

    def _message(self, team_id: str, channel: str, ts: Any) -> Message:
        for message in self.messages.get((team_id, channel), []):
            if message.ts == ts:
                return message
        raise SlackError("message_not_found")

    def _normalize(self, blocks: list[JSON]) -> list[JSON]:
        """Blocks as Slack stores them: a copy, with generated block_id/action_id filled in."""
        blocks = json.loads(json.dumps(blocks))
        for block in blocks:
            block.setdefault("block_id", self._id("", 5))
            elements: list[JSON] = []
            if block.get("type") == "actions":
                elements = block.get("elements") or []
            elif isinstance(block.get("accessory"), dict):
                elements = [block["accessory"]]
            elif isinstance(block.get("element"), dict):
                elements = [block["element"]]
            for element in elements:
                if element.get("type") in INTERACTIVE:
                    element.setdefault("action_id", self._id("", 5))
        return blocks

    def _message_content(self, params: JSON, *, required: bool) -> tuple[str | None, Any]:
        text = params.get("text")
        blocks = params.get("blocks")
        if required and not text and not blocks and not params.get("attachments"):
            raise SlackError("no_text")
        if text is not None and len(str(text)) > 40000:
            raise SlackError("msg_too_long")
        if blocks is not None:
            problems = check_blocks(blocks, 50)
            if problems:
                raise SlackError(
                    "invalid_blocks", errors=problems, response_metadata={"messages": problems}
                )
            blocks = self._normalize(blocks)
        return (None if text is None else str(text)), blocks

    def _hash(self) -> str:
        return f"{int(time.time())}.{self._id('', 8).lower()}"

    # -- methods --------------------------------------------------------------------------

    async def _api_test(self, token: _Token | None, params: JSON) -> JSON:
        return {"args": {k: v for k, v in params.items() if not k.startswith("_")}}

    async def _auth_test(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        team = self.teams[token.team]
        result: JSON = {
            "url": f"https://{team.domain}.slack.com/",
            "team": team.name,
            "user": self.users[(team.id, token.user)].name,
            "team_id": team.id,
            "user_id": token.user,
            "is_enterprise_install": False,
        }
        if token.kind == "bot":
            result["bot_id"] = team.bot_id
        return result

    async def _team_info(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        team = self.teams[token.team]
        return {"team": {"id": team.id, "name": team.name, "domain": team.domain}}

    async def _chat_post_message(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        team = self.teams[token.team]
        channel = self._channel(team.id, params.get("channel"), user_ok=True)
        text, blocks = self._message_content(params, required=True)
        message = Message(
            ts=self.next_ts(),
            channel=channel,
            team=team.id,
            user=token.user,
            text=text or "",
            blocks=blocks or [],
            bot_id=team.bot_id if token.kind == "bot" else None,
            thread_ts=params.get("thread_ts"),
        )
        self.messages[(team.id, channel)].append(message)
        result: JSON = {"channel": channel, "ts": message.ts, "message": message.as_api()}
        if blocks and not text:
            result["warning"] = "missing_text_or_fallback_or_attachments"
            result["response_metadata"] = {"warnings": [result["warning"]]}
        return result

    async def _chat_update(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        team = self.teams[token.team]
        channel = self._channel(team.id, params.get("channel"), user_ok=False)
        message = self._message(team.id, channel, params.get("ts"))
        if message.user != token.user:
            raise SlackError("cant_update_message")
        text, blocks = self._message_content(params, required=False)
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = blocks
        message.updates += 1
        message.state = {}
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_api(),
        }

    async def _chat_delete(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        channel = self._channel(token.team, params.get("channel"), user_ok=False)
        message = self._message(token.team, channel, params.get("ts"))
        if message.user != token.user:
            raise SlackError("cant_delete_message")
        self.messages[(token.team, channel)].remove(message)
        return {"channel": channel, "ts": message.ts}

    async def _chat_post_ephemeral(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        team = self.teams[token.team]
        channel = self._channel(team.id, params.get("channel"), user_ok=True)
        if (team.id, str(params.get("user"))) not in self.users:
            raise SlackError("user_not_in_channel")
        text, blocks = self._message_content(params, required=True)
        message = Message(
            ts=self.next_ts(),
            channel=channel,
            team=team.id,
            user=token.user,
            text=text or "",
            blocks=blocks or [],
            bot_id=team.bot_id,
            ephemeral_to=str(params["user"]),
        )
        self.ephemerals.append(message)
        return {"message_ts": message.ts}

    async def _conversations_open(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        if params.get("channel"):
            channel = self._channel(token.team, params["channel"], user_ok=False)
            return {"channel": {"id": channel}}
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 1:
            raise SlackError("not_supported", detail="group DMs are not faked")
        user = self._known_user(token.team, users[0])
        channel = {"id": "D" + user.id}
        if _flag(params.get("return_im")):
            channel.update({"is_im": True, "user": user.id, "created": 1700000000})
        return {"no_op": False, "already_open": False, "channel": channel}

    async def _conversations_history(self, token: _Token | None, params: JSON) -> JSON:
        """A conversation's messages, newest first (top-level ones; no ephemeral ones), as
        Slack answers with ``im:history`` for a DM: ``limit`` (default 100), ``oldest`` and
        ``latest`` (timestamps, exclusive)."""
        assert token is not None
        channel = self._channel(token.team, params.get("channel"), user_ok=False)
        if channel.startswith("D") and "im:history" not in self.teams[token.team].scope.split(","):
            raise SlackError("missing_scope", needed="im:history")
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or 0)
        found = [
            m
            for m in self.messages.get((token.team, channel), [])
            if m.ephemeral_to is None
            and not m.thread_ts
            and float(m.ts) > oldest
            and (not latest or float(m.ts) < latest)
        ]
        found.reverse()
        limit = int(params.get("limit") or 100)
        return {
            "messages": [m.as_api() for m in found[:limit]],
            "has_more": len(found) > limit,
        }

    def _check_view(self, view: Any, kind: str) -> JSON:
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments", response_metadata={"messages": ["no view"]})
        problems = check_view(view)
        if view.get("type") != kind:
            problems.append(f"must be {kind} [json-pointer:/view/type]")
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        definition = json.loads(json.dumps(view))
        definition["blocks"] = self._normalize(definition.get("blocks") or [])
        return definition

    def _use_trigger(self, team_id: str, trigger_id: Any) -> _Trigger:
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None or trigger.team != team_id:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - trigger.issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _new_view(self, team_id: str, user_id: str, definition: JSON, **kw: Any) -> View:
        view_id = self._id("V")
        return View(
            id=view_id,
            team=team_id,
            user=user_id,
            type=definition["type"],
            definition=definition,
            hash=self._hash(),
            root_view_id=kw.pop("root_view_id", view_id),
            bot_id=self.teams[team_id].bot_id,
            **kw,
        )

    async def _views_open(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        definition = self._check_view(params.get("view"), "modal")
        trigger = self._use_trigger(token.team, params.get("trigger_id"))
        view = self._new_view(token.team, trigger.user, definition)
        self.modals[(token.team, trigger.user)] = [view]
        return {"view": view.as_api()}

    async def _views_push(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        definition = self._check_view(params.get("view"), "modal")
        trigger = self._use_trigger(token.team, params.get("trigger_id"))
        stack = self.modals[(token.team, trigger.user)]
        if not stack:
            raise SlackError("not_found")
        if len(stack) >= 3:
            raise SlackError("push_limit_reached")
        view = self._new_view(
            token.team,
            trigger.user,
            definition,
            root_view_id=stack[0].id,
            previous_view_id=stack[-1].id,
        )
        stack.append(view)
        return {"view": view.as_api()}

    def _find_view(self, team_id: str, view_id: Any, external_id: Any) -> View:
        views = [v for stack in self.modals.values() for v in stack] + list(self.homes.values())
        for view in views:
            if view.team != team_id:
                continue
            if view_id and view.id == view_id:
                return view
            if external_id and view.external_id == external_id:
                return view
        raise SlackError("not_found")

    async def _views_update(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        if not params.get("view_id") and not params.get("external_id"):
            raise SlackError("invalid_arguments")
        view = self._find_view(token.team, params.get("view_id"), params.get("external_id"))
        definition = self._check_view(params.get("view"), view.type)
        if params.get("hash") and params["hash"] != view.hash:
            raise SlackError("hash_conflict")
        view.definition = definition
        view.hash = self._hash()
        view.updates += 1
        view.state = {}
        return {"view": view.as_api()}

    async def _views_publish(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        user = self._known_user(token.team, params.get("user_id"))
        definition = self._check_view(params.get("view"), "home")
        key = (token.team, user.id)
        view = self.homes.get(key)
        if view is not None and params.get("hash") and params["hash"] != view.hash:
            raise SlackError("hash_conflict")
        if view is None:
            view = self._new_view(token.team, user.id, definition)
            self.homes[key] = view
        else:
            view.definition = definition
            view.hash = self._hash()
            view.updates += 1
            view.state = {}
        self.home_history[key].append(definition)
        return {"view": view.as_api()}

    async def _users_info(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        user = self._known_user(token.team, params.get("user"))
        return {"user": user.as_api(include_locale=_flag(params.get("include_locale")))}

    async def _files_get_upload_url(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        if not params.get("filename") or params.get("length") in (None, ""):
            raise SlackError("invalid_arguments")
        file_id = self._id("F")
        self._pending_uploads[file_id] = {
            "team": token.team,
            "user": token.user,
            "filename": str(params["filename"]),
            "length": int(params["length"]),
            "content": None,
        }
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    async def _files_complete_upload(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments")
        channel: str | None = None
        if params.get("channel_id"):
            channel_id = str(params["channel_id"])
            if not re.match(r"^[CGDZ][A-Z0-9]+$", channel_id):
                message = "[ERROR] input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$"
                problem = f"{message} [json-pointer:/channel_id]"
                raise SlackError("invalid_arguments", response_metadata={"messages": [problem]})
            channel = self._channel(token.team, channel_id, user_ok=False)
        shared: list[SharedFile] = []
        for item in files:
            pending = self._pending_uploads.get(str(item.get("id")))
            if pending is None or pending["team"] != token.team or pending["content"] is None:
                raise SlackError("file_not_found")
            filename = pending["filename"]
            shared.append(
                SharedFile(
                    id=str(item["id"]),
                    team=token.team,
                    channel=channel,
                    filename=filename,
                    title=str(item.get("title") or filename),
                    content=pending["content"],
                    initial_comment=params.get("initial_comment"),
                    user=token.user,
                    mimetype=mimetypes.guess_type(filename)[0] or "application/octet-stream",
                )
            )
        for item in shared:
            del self._pending_uploads[item.id]
            self.uploads[item.id] = item
        if channel is not None:
            team = self.teams[token.team]
            self.messages[(token.team, channel)].append(
                Message(
                    ts=self.next_ts(),
                    channel=channel,
                    team=token.team,
                    user=token.user,
                    text=str(params.get("initial_comment") or ""),
                    bot_id=team.bot_id if token.kind == "bot" else None,
                    thread_ts=params.get("thread_ts"),
                    files=shared,
                    subtype="file_share",
                )
            )
        return {"files": [{"id": f.id, "title": f.title} for f in shared]}

    async def _files_info(self, token: _Token | None, params: JSON) -> JSON:
        assert token is not None
        shared = self.uploads.get(str(params.get("file")))
        if shared is None or shared.team != token.team:
            raise SlackError("file_not_found")
        return {"file": shared.as_api()}

    async def _oauth_v2_access(self, token: _Token | None, params: JSON) -> JSON:
        client_id, secret = params.get("_basic_auth") or (
            params.get("client_id"),
            params.get("client_secret"),
        )
        if client_id != self.client_id:
            raise SlackError("invalid_client_id")
        if secret != self.client_secret:
            raise SlackError("bad_client_secret")
        grant = self._grants.pop(str(params.get("code")), None)
        if grant is None:
            raise SlackError("invalid_code")
        if grant.redirect_uri and params.get("redirect_uri") not in (None, grant.redirect_uri):
            raise SlackError("bad_redirect_uri")
        team = self.teams[grant.team]
        authed_user: JSON = {"id": grant.user}
        if grant.user_scope:
            user_token = f"xoxp-{next(self._ids)}-{self._id('', 24).lower()}"
            self._tokens[user_token] = _Token(user_token, team.id, grant.user, "user")
            authed_user.update(
                {"scope": grant.user_scope, "access_token": user_token, "token_type": "user"}
            )
        return {
            "access_token": team.bot_token,
            "token_type": "bot",
            "scope": grant.scope,
            "bot_user_id": team.bot_user_id,
            "app_id": self.app_id,
            "team": {"id": team.id, "name": team.name},
            "enterprise": None,
            "authed_user": authed_user,
            "is_enterprise_install": False,
        }

    # -- Socket Mode ------------------------------------------------------------------------

    def add_app_token(self) -> str:
        """A new app-level token (``connections:write``) of the fake's app, for Socket Mode:
        it opens connections (``apps.connections.open``) and nothing else."""
        token = f"xapp-1-{self.app_id}-{next(self._ids)}-{uuid.uuid4().hex}"
        self._app_tokens.add(token)
        return token

    async def _apps_connections_open(self, token: _Token | None, params: JSON) -> JSON:
        ticket = uuid.uuid4().hex
        self._tickets[ticket] = False
        ws_base = "ws://" + self.base_url.removeprefix("http://")
        return {"url": f"{ws_base}/socket/{ticket}?app_id={self.app_id}"}

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        """A Socket Mode WebSocket: ``hello``, then the app's acknowledgements are read."""
        ticket = request.match_info["ticket"]
        if self._tickets.get(ticket, True):
            return web.Response(status=401, text="invalid or used ticket")
        self._tickets[ticket] = True
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        connection = SocketConnection(ticket, ws, dict(request.query))
        self.sockets.append(connection)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self.open_sockets),
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._changed.set()
        try:
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(frame.data)
                except ValueError:
                    message = {"unparsable": frame.data}
                if not isinstance(message, dict):
                    message = {"unparsable": frame.data}
                connection.received.append(message)
                self._acknowledged(message)
                self._changed.set()
        finally:
            self._changed.set()
        return ws

    def _acknowledged(self, message: JSON) -> None:
        envelope_id = message.get("envelope_id")
        if not isinstance(envelope_id, str):
            return
        envelope, started = self._envelopes.get(envelope_id, ({}, time.monotonic()))
        ack = SocketAck(envelope_id, envelope, message, time.monotonic() - started)
        self.socket_acks.append(ack)
        waiter = self._ack_waiters.pop(envelope_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(ack)

    @property
    def open_sockets(self) -> list[SocketConnection]:
        """The Socket Mode connections open now, oldest first."""
        return [c for c in self.sockets if not c.closed]

    def socket_connection(self) -> SocketConnection:
        """The connection envelopes go to: the newest open one."""
        connections = self.open_sockets
        if not connections:
            raise AssertionError("no app is connected over Socket Mode")
        return connections[-1]

    async def wait_for_socket(self, count: int = 1, timeout: float = 5.0) -> SocketConnection:
        """Wait until the app has opened ``count`` Socket Mode connections in all (reconnects
        count) and one is open; return the newest open one."""
        try:
            await self.wait_for(
                lambda: len(self.sockets) >= count and bool(self.open_sockets), timeout
            )
        except AssertionError:
            raise AssertionError(
                f"{len(self.sockets)} Socket Mode connections opened, expected {count}"
            ) from None
        return self.socket_connection()

    async def socket_deliver(
        self,
        kind: str,
        payload: JSON,
        *,
        envelope_id: str | None = None,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        accepts_response_payload: bool | None = None,
        timeout: float = ACK_TIMEOUT,
    ) -> SocketAck | None:
        """Send one envelope to the app as Slack does and wait for its acknowledgement;
        None when none came in ``timeout`` seconds. ``kind``: ``events_api`` (payload: an
        ``event_callback`` body), ``interactive`` (a block_actions, view_submission,
        block_suggestion... payload) or ``slash_commands`` (the command's fields). Events
        carry ``retry_attempt`` (0 unless given) and ``retry_reason``, as Slack sends them."""
        if kind not in SOCKET_KINDS:
            raise ValueError(f"unknown envelope type {kind!r}")
        connection = self.socket_connection()
        envelope_id = envelope_id or str(uuid.uuid4())
        if envelope_id in self._ack_waiters:
            raise AssertionError(f"envelope {envelope_id} is already waiting for its ack")
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or (
                kind == "interactive"
                and payload.get("type") in {"view_submission", "block_suggestion"}
            )
        envelope: JSON = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api" or retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ("timeout" if retry_attempt else "")
        waiter: asyncio.Future[SocketAck] = asyncio.get_running_loop().create_future()
        self._ack_waiters[envelope_id] = waiter
        self._envelopes[envelope_id] = (envelope, time.monotonic())
        self.socket_envelopes.append(envelope)
        try:
            await connection.ws.send_json(envelope)
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            if self._ack_waiters.get(envelope_id) is waiter:
                del self._ack_waiters[envelope_id]

    async def socket_send(
        self, kind: str, payload: JSON, *, timeout: float = ACK_TIMEOUT, **kw: Any
    ) -> JSON | None:
        """Deliver one envelope (see ``socket_deliver``) and return the payload of the app's
        acknowledgement (e.g. ``{"response_action": "errors", ...}``), None when the ack
        had none. Raises AssertionError when the app does not acknowledge in time."""
        ack = await self.socket_deliver(kind, payload, timeout=timeout, **kw)
        if ack is None:
            raise AssertionError(f"the app did not acknowledge the {kind} envelope in {timeout} s")
        return ack.payload

    async def socket_disconnect(self, reason: str = "refresh_requested") -> SocketConnection:
        """Ask the app to reconnect, as Slack does before it refreshes a connection: a
        ``disconnect`` message on the newest open connection (which stays open)."""
        connection = self.socket_connection()
        await connection.ws.send_json(
            {
                "type": "disconnect",
                "reason": reason,
                "debug_info": {"host": "applink-fake"},
            }
        )
        return connection

    async def socket_drop(self) -> None:
        """Close every open Socket Mode connection from Slack's side (a lost connection)."""
        for connection in self.open_sockets:
            await connection.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        self._changed.set()

    # -- upload URLs and response URLs ------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        pending = self._pending_uploads.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            parts = [v for v in form.values() if not isinstance(v, str)]
            data = parts[0].file.read() if parts else b""
        else:
            data = await request.read()
        pending["content"] = data
        file_id = request.match_info["file_id"]
        self.calls.append(Call("upload", pending["team"], {"file_id": file_id, "size": len(data)}))
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _respond(self, request: web.Request) -> web.Response:
        target = self._response_urls.get(request.match_info["key"])
        if target is None:
            return web.Response(status=404, text="no_active_hooks", content_type="text/plain")
        body = await request.json()
        self.calls.append(Call("response_url", target.team, body))
        team = self.teams[target.team]
        blocks = self._normalize(body["blocks"]) if body.get("blocks") else None
        original = None
        if target.message_ts is not None:
            for message in self.messages.get((target.team, target.channel), []):
                if message.ts == target.message_ts:
                    original = message
        if body.get("delete_original") and original is not None:
            self.messages[(target.team, target.channel)].remove(original)
        elif body.get("replace_original") and original is not None:
            original.text = str(body.get("text") or "")
            original.blocks = blocks or []
            original.updates += 1
            original.state = {}
        else:
            message = Message(
                ts=self.next_ts(),
                channel=target.channel,
                team=target.team,
                user=team.bot_user_id,
                text=str(body.get("text") or ""),
                blocks=blocks or [],
                bot_id=team.bot_id,
                thread_ts=body.get("thread_ts"),
            )
            if body.get("response_type") == "in_channel":
                self.messages[(target.team, target.channel)].append(message)
            else:
                message.ephemeral_to = target.user
                self.ephemerals.append(message)
        self._changed.set()
        return web.json_response({"ok": True})


# -- the driver: what Slack sends to the app -------------------------------------------------


@dataclass
class AppResponse:
    """The app's answer to one request from Slack."""

    status: int
    text: str
    headers: dict[str, str]
    elapsed: float
    """Seconds the app took to answer (Slack gives up after 3 and retries events)."""
    payload: Any = None
    """What was sent (the event body, interaction payload or command form)."""
    event_id: str | None = None
    json: Any = None
    """The body parsed as JSON, None when it is not JSON."""

    @property
    def ok(self) -> bool:
        return self.status == 200


class SlackDriver:
    """Sends the app signed requests as Slack does, on behalf of the people in the fake."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        fake: FakeSlack,
        *,
        socket: bool = False,
        ack_timeout: float = ACK_TIMEOUT,
    ) -> None:
        self.app_url = app_url
        self.signing_secret = signing_secret
        self.fake = fake
        self.socket = socket
        """Deliver through the fake's Socket Mode connection instead of HTTP POSTs: the
        same calls, unsigned envelopes; an ``AppResponse`` then has status 200 and the
        ack's payload as ``json`` (and as ``text``), or status 0 when no ack came in
        ``ack_timeout`` seconds."""
        self.ack_timeout = ack_timeout
        self.verifier = SignatureVerifier(signing_secret)
        self._session: aiohttp.ClientSession | None = None
        self._event_ids = itertools.count(1)
        self.last_authorize_url: str | None = None

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """One browser-like session: cookies kept, also secure ones over http://127.0.0.1."""
        if self._session is None:
            origin = "{0.scheme}://{0.netloc}".format(urlparse(self.app_url))
            jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[origin])
            self._session = aiohttp.ClientSession(cookie_jar=jar)
        return self._session

    # -- sending ----------------------------------------------------------------------------

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        signature: str | None = None,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        payload: Any = None,
        event_id: str | None = None,
    ) -> AppResponse:
        """POST a raw body to the app, signed (or with the given forged signature). With
        ``socket``: deliver it as a Socket Mode envelope instead (no signature there)."""
        if self.socket:
            return await self._via_socket(body, content_type, headers or {}, payload, event_id)
        sent = {**self.signed(body, content_type, timestamp, signature), **(headers or {})}
        started = time.monotonic()
        async with self.session.post(self.app_url, data=body.encode(), headers=sent) as resp:
            text = await resp.text()
            response = AppResponse(
                status=resp.status,
                text=text,
                headers=dict(resp.headers),
                elapsed=time.monotonic() - started,
                payload=payload,
                event_id=event_id,
            )
        try:
            response.json = json.loads(text) if text.strip() else None
        except ValueError:
            response.json = None
        return response

    def signed(
        self,
        body: str,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> dict[str, str]:
        """The headers Slack sends with ``body``: signed now (or at ``timestamp``), unless
        a forged ``signature`` is given."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature
            or self.verifier.generate_signature(timestamp=stamp, body=body)
            or "",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    async def _via_socket(
        self,
        body: str,
        content_type: str,
        headers: dict[str, str],
        payload: Any,
        event_id: str | None,
    ) -> AppResponse:
        if content_type == "application/json":
            if not isinstance(payload, dict) or payload.get("type") != "event_callback":
                raise AssertionError("over Socket Mode Slack sends only event callbacks as events")
            kind = "events_api"
        elif body.startswith("payload="):
            kind = "interactive"
        else:
            kind = "slash_commands"
        retry = headers.get("X-Slack-Retry-Num")
        started = time.monotonic()
        ack = await self.fake.socket_deliver(
            kind,
            payload,
            retry_attempt=int(retry) if retry is not None else None,
            retry_reason=headers.get("X-Slack-Retry-Reason"),
            timeout=self.ack_timeout,
        )
        if ack is None:
            return AppResponse(
                status=0,
                text="",
                headers={},
                elapsed=time.monotonic() - started,
                payload=payload,
                event_id=event_id,
            )
        answer = ack.payload
        return AppResponse(
            status=200,
            text="" if answer is None else json.dumps(answer),
            headers={},
            elapsed=ack.elapsed,
            payload=payload,
            event_id=event_id,
            json=answer,
        )

    async def _send_payload(self, payload: JSON, **kw: Any) -> AppResponse:
        body = form_encode({"payload": dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", payload=payload, **kw)

    # -- Events API -------------------------------------------------------------------------

    async def event(
        self,
        team: str,
        event: JSON,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> AppResponse:
        """Deliver any event in an ``event_callback`` envelope."""
        t = self.fake.team(team)
        event_id = event_id or f"Ev{next(self._event_ids):04d}{self.fake._id('', 6)}"
        body = {
            "token": VERIFICATION_TOKEN,
            "team_id": team,
            "context_team_id": team,
            "context_enterprise_id": None,
            "api_app_id": self.fake.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team,
                    "user_id": t.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{uuid.uuid4().hex}",
        }
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return await self.post(
            dumps(body),
            "application/json",
            signature=signature,
            timestamp=timestamp,
            headers=headers,
            payload=body,
            event_id=event_id,
        )

    def _user_message(self, team: str, user: str, channel: str, text: str, **extra: Any) -> JSON:
        self.fake.user(team, user)
        ts = self.fake.next_ts()
        event: JSON = {
            "user": user,
            "type": "message",
            "ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "text": text,
            "team": team,
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": self.fake._id("", 5),
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ]
            if text
            else [],
            "channel": channel,
            "event_ts": ts,
            **extra,
        }
        self.fake.record_user_message(
            team,
            channel,
            Message(ts, channel, team, user, text, blocks=event["blocks"]),
        )
        return event

    async def message(self, team: str, user: str, text: str, **kw: Any) -> AppResponse:
        """The person writes ``text`` to the bot in their DM (a ``message.im`` event)."""
        event = self._user_message(team, user, "D" + user, text, channel_type="im")
        return await self.event(team, event, **kw)

    async def app_mention(
        self, team: str, user: str, text: str, channel: str = "C0GENERAL01", **kw: Any
    ) -> AppResponse:
        """The person mentions the bot in a channel (``<@bot>`` is prefixed if missing)."""
        bot = self.fake.team(team).bot_user_id
        if f"<@{bot}>" not in text:
            text = f"<@{bot}> {text}"
        event = self._user_message(team, user, channel, text)
        event["type"] = "app_mention"
        event.pop("client_msg_id", None)
        return await self.event(team, event, **kw)

    async def message_with_file(
        self, team: str, user: str, filename: str = "photo.jpg", text: str = "", **kw: Any
    ) -> AppResponse:
        """The person sends a file in their DM (subtype ``file_share``, no text by default)."""
        event = self._user_message(team, user, "D" + user, text, channel_type="im")
        event.update(
            {
                "subtype": "file_share",
                "upload": False,
                "display_as_bot": False,
                "files": [
                    {
                        "id": self.fake._id("F"),
                        "name": filename,
                        "title": filename,
                        "mimetype": mimetypes.guess_type(filename)[0] or "image/jpeg",
                        "filetype": filename.rsplit(".", 1)[-1],
                        "user": user,
                        "size": 1234,
                    }
                ],
            }
        )
        return await self.event(team, event, **kw)

    async def home_opened(self, team: str, user: str, tab: str = "home", **kw: Any) -> AppResponse:
        """The person opens the app's Home tab (``app_home_opened``)."""
        self.fake.user(team, user)
        event: JSON = {
            "type": "app_home_opened",
            "user": user,
            "channel": "D" + user,
            "tab": tab,
            "event_ts": self.fake.next_ts(),
        }
        home = self.fake.home(team, user)
        if home is not None and tab == "home":
            event["view"] = home.as_api()
        return await self.event(team, event, **kw)

    async def app_uninstalled(self, team: str, **kw: Any) -> AppResponse:
        """The app is removed from the team: its tokens are revoked, the event sent."""
        self.fake.revoke(team)
        event = {"type": "app_uninstalled", "event_ts": self.fake.next_ts()}
        return await self.event(team, event, **kw)

    async def url_verification(self, challenge: str = "challenge-123", **kw: Any) -> AppResponse:
        """Slack checks the Request URL: the app must echo the challenge."""
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return await self.post(dumps(body), "application/json", payload=body, **kw)

    # -- slash commands ---------------------------------------------------------------------

    async def command(
        self,
        team: str,
        user: str,
        command: str = "/consultation",
        text: str = "",
        *,
        channel: str | None = None,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> AppResponse:
        """The person runs a slash command (in their DM with the bot unless ``channel``).
        A text or blocks acknowledgement is recorded as an ephemeral message."""
        t = self.fake.team(team)
        person = self.fake.user(team, user)
        channel = channel or "D" + user
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": team,
            "team_domain": t.domain,
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else channel.lower(),
            "user_id": user,
            "user_name": person.name,
            "command": command,
            "text": text,
            "api_app_id": self.fake.app_id,
            "is_enterprise_install": "false",
            "response_url": self.fake.new_response_url(team, user, channel, None),
            "trigger_id": self.fake.new_trigger(team, user),
        }
        response = await self.post(
            form_encode(form),
            "application/x-www-form-urlencoded",
            signature=signature,
            timestamp=timestamp,
            payload=form,
        )
        shown: JSON | None = None
        if isinstance(response.json, dict) and {"text", "blocks"} & set(response.json):
            shown = response.json
        elif response.ok and response.text.strip() and response.json is None:
            shown = {"text": response.text}
        if shown is not None:
            message = Message(
                ts=self.fake.next_ts(),
                channel=channel,
                team=team,
                user=t.bot_user_id,
                text=str(shown.get("text") or ""),
                blocks=shown.get("blocks") or [],
                bot_id=t.bot_id,
            )
            if shown.get("response_type") == "in_channel":
                self.fake.messages[(team, channel)].append(message)
            else:
                message.ephemeral_to = user
                self.fake.ephemerals.append(message)
        return response

    # -- interactivity ----------------------------------------------------------------------

    def _surfaces(self, team: str, user: str, where: Where, message: Message | None) -> list[Any]:
        if message is not None:
            return [message]
        if where == "dm":
            return list(reversed(self.fake.dm(team, user)))
        view = self.fake.home(team, user) if where == "home" else self.fake.modal(team, user)
        return [view] if view is not None else []

    def _locate(
        self,
        team: str,
        user: str,
        where: Where,
        message: Message | None,
        types: frozenset[str],
        label: str | None,
        action_id: str | None = None,
        value: str | None = None,
    ) -> tuple[Message | View, Element]:
        surfaces = self._surfaces(team, user, where, message)
        found: list[tuple[str, tuple[Message | View, Element]]] = []
        for surface in surfaces:
            for element in surface.elements:
                if element.type not in types:
                    continue
                if action_id is not None and element.action_id != action_id:
                    continue
                if value is not None and element.value != value:
                    continue
                found.append((element.text, (surface, element)))
        if label is not None:
            hit: tuple[Message | View, Element] | None = _pick(label, found)
            if hit is not None:
                return hit
        elif found:
            return found[0][1]
        seen = [
            f"{e.type} {e.text!r} ({e.action_id})"
            for s in surfaces
            for e in s.elements
            if e.type in types
        ]
        wanted = label or action_id or value or "any"
        raise AssertionError(f"no {'/'.join(sorted(types))} {wanted!r} in {where}: {seen}")

    def _action_payload(self, team: str, user: str, surface: Message | View, action: JSON) -> JSON:
        t = self.fake.team(team)
        payload: JSON = {
            "type": "block_actions",
            "user": self.fake.user(team, user).as_payload(),
            "api_app_id": self.fake.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.fake.new_trigger(team, user),
            "team": {"id": team, "domain": t.domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": surface.state_values()},
            "actions": [action],
        }
        if isinstance(surface, Message):
            payload["container"] = {
                "type": "message",
                "message_ts": surface.ts,
                "channel_id": surface.channel,
                "is_ephemeral": surface.ephemeral_to is not None,
            }
            name = "directmessage" if surface.channel.startswith("D") else surface.channel
            payload["channel"] = {"id": surface.channel, "name": name}
            payload["message"] = surface.as_api()
            payload["response_url"] = self.fake.new_response_url(
                team, user, surface.channel, surface.ts
            )
        else:
            payload["container"] = {"type": "view", "view_id": surface.id}
            payload["view"] = surface.as_api()
        return payload

    @staticmethod
    def _action(element: Element, **fields: Any) -> JSON:
        return {
            "type": element.type,
            "action_id": element.action_id,
            "block_id": element.block_id,
            **fields,
            "action_ts": f"{time.time():.6f}",
        }

    async def press(
        self,
        team: str,
        user: str,
        label: str | None = None,
        *,
        action_id: str | None = None,
        value: str | None = None,
        message: Message | None = None,
        where: Where = "dm",
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> AppResponse:
        """The person presses a button, found by its visible label (exact, without leading
        emoji, or by prefix) and/or action_id/value, in the newest DM message that has it
        (or the given ``message``, the Home tab, or the open modal)."""
        surface, element = self._locate(
            team, user, where, message, frozenset({"button"}), label, action_id, value
        )
        fields: JSON = {"text": element.raw.get("text")}
        if element.value is not None:
            fields["value"] = element.value
        if element.style:
            fields["style"] = element.style
        action = self._action(element, **fields)
        payload = self._action_payload(team, user, surface, action)
        return await self._send_payload(payload, signature=signature, timestamp=timestamp)

    async def check(
        self,
        team: str,
        user: str,
        option_labels: Iterable[str],
        *,
        action_id: str | None = None,
        message: Message | None = None,
        where: Where = "dm",
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> AppResponse | None:
        """The person sets a ``checkboxes`` (or multi-select) group to exactly these options.
        Slack sends the full new selection. In an input block without ``dispatch_action``
        nothing is sent (None): the choice reaches the app with the submission."""
        surface, element = self._locate(
            team, user, where, message, MULTI_CHOICE - {"multi_external_select"}, None, action_id
        )
        candidates = [(_text_of(o.get("text")), o) for o in element.options]
        chosen: list[JSON] = []
        for label in option_labels:
            option = _pick(label, candidates)
            if option is None:
                raise AssertionError(f"no option {label!r} in {element.option_labels}")
            chosen.append(option)
        selected = [_option_out(o) for o in element.options if any(o is c for c in chosen)]
        surface._choose(element, {"type": element.type, "selected_options": selected})
        if not element.dispatches:
            return None
        action = self._action(element, selected_options=selected)
        payload = self._action_payload(team, user, surface, action)
        return await self._send_payload(payload, signature=signature, timestamp=timestamp)

    async def select(
        self,
        team: str,
        user: str,
        option_label: str,
        *,
        action_id: str | None = None,
        message: Message | None = None,
        where: Where = "dm",
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> AppResponse | None:
        """The person picks an option of a static/external select, radio buttons or overflow
        menu. For an external select the app is first asked for options (block_suggestion)
        with ``option_label`` typed. Returns None when Slack would send nothing (an input
        block without ``dispatch_action``)."""
        surface, element = self._locate(team, user, where, message, SINGLE_CHOICE, None, action_id)
        if element.type == "external_select":
            options = await self._suggest(team, user, surface, element, option_label)
        else:
            options = element.options
        option = _pick(option_label, [(_text_of(o.get("text")), o) for o in options])
        if option is None:
            labels = [_text_of(o.get("text")) for o in options]
            raise AssertionError(f"no option {option_label!r} in {labels}")
        chosen = _option_out(option)
        if element.type != "overflow":
            surface._choose(element, {"type": element.type, "selected_option": chosen})
        if not element.dispatches:
            return None
        action = self._action(element, selected_option=chosen)
        if element.type in {"static_select", "external_select"} and "placeholder" in element.raw:
            action["placeholder"] = element.raw["placeholder"]
        payload = self._action_payload(team, user, surface, action)
        return await self._send_payload(payload, signature=signature, timestamp=timestamp)

    async def _suggest(
        self, team: str, user: str, surface: Message | View, element: Element, value: str
    ) -> list[JSON]:
        t = self.fake.team(team)
        payload: JSON = {
            "type": "block_suggestion",
            "user": self.fake.user(team, user).as_payload(),
            "api_app_id": self.fake.app_id,
            "token": VERIFICATION_TOKEN,
            "action_id": element.action_id,
            "block_id": element.block_id,
            "value": value,
            "team": {"id": team, "domain": t.domain},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        if isinstance(surface, View):
            payload["container"] = {"type": "view", "view_id": surface.id}
            payload["view"] = surface.as_api()
        else:
            payload["container"] = {
                "type": "message",
                "message_ts": surface.ts,
                "channel_id": surface.channel,
                "is_ephemeral": False,
            }
            payload["channel"] = {"id": surface.channel, "name": "directmessage"}
            payload["message"] = surface.as_api()
        response = await self._send_payload(payload)
        if response.status != 200 or not isinstance(response.json, dict):
            raise AssertionError(f"options request failed: {response.status} {response.text!r}")
        options = list(response.json.get("options") or [])
        for group in response.json.get("option_groups") or []:
            options.extend(group.get("options") or [])
        return options

    async def options(
        self,
        team: str,
        user: str,
        action_id: str,
        value: str,
        block_id: str | None = None,
        *,
        where: Where = "modal",
    ) -> list[JSON]:
        """The person types ``value`` into an external select: the options the app offers
        (option groups flattened)."""
        surfaces = self._surfaces(team, user, where, None)
        for surface in surfaces:
            for element in surface.elements:
                if element.action_id == action_id and block_id in (None, element.block_id):
                    return await self._suggest(team, user, surface, element, value)
        raise AssertionError(f"no element {action_id!r} in {where}")

    def _input_value(self, element: Element, given: Any) -> JSON:
        kind = element.type
        if kind in TEXT_INPUTS:
            text = str(given)
            limits = element.raw
            if "max_length" in limits and len(text) > int(limits["max_length"]):
                raise AssertionError(f"{element.action_id}: Slack allows {limits['max_length']}")
            if "min_length" in limits and len(text) < int(limits["min_length"]):
                raise AssertionError(f"{element.action_id}: Slack wants {limits['min_length']}")
            return {"type": kind, "value": text}
        if kind in SINGLE_CHOICE | MULTI_CHOICE:
            wanted = list(given) if isinstance(given, list | tuple) else [given]
            chosen: list[JSON] = []
            for item in wanted:
                option = next((o for o in element.options if o.get("value") == item), None)
                if option is None:
                    option = _pick(str(item), [(_text_of(o["text"]), o) for o in element.options])
                if option is None and kind.endswith("external_select"):
                    label = {"type": "plain_text", "text": str(item)}
                    option = {"text": label, "value": str(item)}
                if option is None:
                    raise AssertionError(f"no option {item!r} in {element.option_labels}")
                chosen.append(_option_out(option))
            if kind in MULTI_CHOICE:
                return {"type": kind, "selected_options": chosen}
            return {"type": kind, "selected_option": chosen[0] if chosen else None}
        if kind in STATEFUL:
            return {"type": kind, STATEFUL[kind][0]: given}
        raise AssertionError(f"cannot fill a {kind}")

    async def submit(
        self,
        team: str,
        user: str,
        values: dict[str, str | list[str]] | None = None,
        *,
        signature: str | None = None,
        timestamp: int | None = None,
    ) -> AppResponse:
        """The person submits the open modal. ``values`` are keyed by input block_id or
        action_id: text for text inputs, the option value (or label) for selects, a list for
        checkboxes and multi-selects. Raises like Slack's client would (a required input left
        empty, text over ``max_length``). Then applies the app's answer to the fake: an empty
        200 closes the view, ``update``/``push`` change the stack, ``clear`` closes all,
        ``errors`` leaves it open (read them in the returned response's ``json``)."""
        view = self.fake.modal(team, user)
        if view is None:
            raise AssertionError(f"{user} has no modal open")
        values = dict(values or {})
        for element in view.inputs:
            key = element.block_id if element.block_id in values else element.action_id
            if key in values:
                view._choose(element, self._input_value(element, values.pop(key)))
        if values:
            known = [f"{e.block_id}/{e.action_id}" for e in view.inputs]
            raise AssertionError(f"no input {sorted(values)} in the modal: {known}")
        state = view.state_values()
        for block in view.blocks:
            if block.get("type") != "input" or block.get("optional"):
                continue
            element = find_elements([block])[0]
            entry = state[element.block_id][element.action_id]
            chosen = entry.get(STATEFUL.get(element.type, ("value",))[0])
            if chosen in (None, "", []):
                raise AssertionError(
                    f"required input {element.block_id!r} ({_text_of(block.get('label'))!r}) "
                    "is empty: Slack would not submit"
                )
        t = self.fake.team(team)
        payload: JSON = {
            "type": "view_submission",
            "team": {"id": team, "domain": t.domain},
            "user": self.fake.user(team, user).as_payload(),
            "api_app_id": self.fake.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.fake.new_trigger(team, user),
            "view": view.as_api(),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        response = await self._send_payload(payload, signature=signature, timestamp=timestamp)
        if response.status == 200:
            self._apply_view_answer(team, user, view, response)
        return response

    def _apply_view_answer(self, team: str, user: str, view: View, response: AppResponse) -> None:
        stack = self.fake.modals[(team, user)]
        answer = response.json if isinstance(response.json, dict) else {}
        action = answer.get("response_action")
        if action is None:
            if response.text.strip() and not isinstance(response.json, dict):
                raise AssertionError(f"Slack cannot read this acknowledgement: {response.text!r}")
            if view in stack:
                stack.remove(view)
            self.fake.closed_modals.append(view)
        elif action == "clear":
            self.fake.closed_modals.extend(stack)
            stack.clear()
        elif action == "errors":
            errors = answer.get("errors") or {}
            input_ids = {b.get("block_id") for b in view.blocks if b.get("type") == "input"}
            unknown = set(errors) - input_ids
            if unknown:
                raise AssertionError(f"errors for {unknown}, not input blocks of the view")
        elif action in {"update", "push"}:
            problems = check_view(answer.get("view"))
            if problems:
                raise AssertionError(f"Slack would reject the {action}d view: {problems}")
            definition = json.loads(json.dumps(answer["view"]))
            definition["blocks"] = self.fake._normalize(definition.get("blocks") or [])
            if action == "update":
                view.definition = definition
                view.hash = self.fake._hash()
                view.updates += 1
                view.state = {}
            else:
                if len(stack) >= 3:
                    raise AssertionError("Slack allows 3 views in a modal stack")
                stack.append(
                    self.fake._new_view(
                        team,
                        user,
                        definition,
                        root_view_id=stack[0].id,
                        previous_view_id=view.id,
                    )
                )
        else:
            raise AssertionError(f"unknown response_action {action!r}")

    async def close_modal(self, team: str, user: str) -> AppResponse | None:
        """The person closes the modal: ``view_closed`` is sent if it has notify_on_close."""
        view = self.fake.modal(team, user)
        if view is None:
            raise AssertionError(f"{user} has no modal open")
        stack = self.fake.modals[(team, user)]
        self.fake.closed_modals.extend(stack)
        closed = list(stack)
        stack.clear()
        if not view.definition.get("notify_on_close"):
            return None
        payload: JSON = {
            "type": "view_closed",
            "team": {"id": team, "domain": self.fake.team(team).domain},
            "user": self.fake.user(team, user).as_payload(),
            "api_app_id": self.fake.app_id,
            "token": VERIFICATION_TOKEN,
            "view": view.as_api(),
            "is_cleared": len(closed) > 1,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._send_payload(payload)

    # -- OAuth ------------------------------------------------------------------------------

    async def install(
        self,
        team: str,
        installer: str,
        install_url: str,
        redirect_url: str | None = None,
    ) -> AppResponse:
        """Install the app as a person does in a browser: open the install URL, follow its
        "Add to Slack" link (the authorize URL, whose ``state`` and scopes are read), approve
        (``fake.authorize``), and come back to the redirect URL with ``code`` and ``state``
        and the cookies the install page set. ``redirect_url`` defaults to the
        ``redirect_uri`` in the authorize URL. Returns the app's final answer."""
        async with self.session.get(install_url, allow_redirects=False) as resp:
            page = await resp.text()
            location = resp.headers.get("Location")
        if location is None:
            link = re.search(r'href="([^"]*/oauth/v2/authorize[^"]*)"', page)
            if link is None:
                raise AssertionError(f"no authorize link on the install page: {page[:300]!r}")
            location = html.unescape(link.group(1))
        self.last_authorize_url = location
        query = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
        if query.get("client_id") != self.fake.client_id:
            raise AssertionError(f"authorize URL has client_id {query.get('client_id')!r}")
        redirect = redirect_url or query.get("redirect_uri")
        if redirect is None:
            raise AssertionError("no redirect_url given and none in the authorize URL")
        code = self.fake.authorize(
            team,
            installer,
            scope=query.get("scope", DEFAULT_SCOPE),
            user_scope=query.get("user_scope", ""),
            redirect_uri=query.get("redirect_uri"),
        )
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        separator = "&" if "?" in redirect else "?"
        started = time.monotonic()
        async with self.session.get(f"{redirect}{separator}{urlencode(params)}") as resp:
            text = await resp.text()
            response = AppResponse(
                status=resp.status,
                text=text,
                headers=dict(resp.headers),
                elapsed=time.monotonic() - started,
                payload=params,
            )
        return response
