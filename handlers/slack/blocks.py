"""Block Kit: the engine's ``Outgoing`` as Slack messages, modals and the App Home view.

Pure functions of the replies (no Web API calls), so they are tested without Slack.
"""

from __future__ import annotations

import json
from typing import Any

from bot.messages import FieldKind, Form, Outgoing

TICK = "tick"
"""action_id of the tick boxes of a multi-select question."""
FORM_CALLBACK = "form"
MESSAGE_CALLBACK = "message"
SEARCH_ACTION = "search"
TEXT_LIMIT = 3000
"""Slack's limit for a section's text."""
BUTTON_TEXT_LIMIT = 75
CHECKBOXES_MAX = 10
BLOCKS_MAX = 50
ACTIONS_MAX = 25
"""Elements in one actions block (Slack's limit)."""
CHOSEN_MARK = "\u2713 "


def escape(text: str) -> str:
    """Text for a ``mrkdwn`` field: Slack reads &, < and > as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int = BUTTON_TEXT_LIMIT) -> dict[str, Any]:
    text = text or "\u2026"
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return {"type": "plain_text", "text": text}


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Text in pieces Slack takes, cut at paragraph or line ends where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def _sections(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(piece), "verbatim": True}}
        for piece in split_text(text)
        if piece.strip()
    ]


def blocks_for(reply: Outgoing) -> list[dict[str, Any]]:
    """A reply as Block Kit: its text, tick boxes for a multi-select, and its buttons."""
    blocks = _sections(reply.text)
    toggles = [b for row in reply.buttons for b in row if b.selected is not None]
    as_boxes = 0 < len(toggles) <= CHECKBOXES_MAX
    if as_boxes:
        options = [_option(b.label, b.payload) for b in toggles]
        element: dict[str, Any] = {"type": "checkboxes", "action_id": TICK, "options": options}
        initial = [o for o, b in zip(options, toggles, strict=True) if b.selected]
        if initial:
            element["initial_options"] = initial
        blocks.append({"type": "actions", "block_id": TICK, "elements": [element]})
    # Slack lays buttons out side by side and wraps them: rows of one button each (one
    # answer per row, as a phone shows them in Telegram) become one block here; a row of
    # several (Back, Skip) stays a row of its own.
    number = 0
    rows: list[list[dict[str, Any]]] = []
    gathering = False
    for row in reply.buttons:
        elements = []
        for button in row:
            if button.selected is not None and as_boxes:
                continue
            label = button.label
            if button.selected:
                label = CHOSEN_MARK + label
            elements.append(
                {
                    "type": "button",
                    "text": _plain(label),
                    "value": button.payload,
                    "action_id": f"b{number}",
                }
            )
            number += 1
        if not elements:
            continue
        if len(elements) == 1 and gathering and len(rows[-1]) < ACTIONS_MAX:
            rows[-1].extend(elements)
            continue
        gathering = len(elements) == 1
        rows.extend(
            elements[start : start + ACTIONS_MAX] for start in range(0, len(elements), ACTIONS_MAX)
        )
    blocks.extend({"type": "actions", "elements": elements} for elements in rows)
    return blocks[:BLOCKS_MAX]


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label, 75), "value": value}


def closed_blocks(text: str, chosen: str | None) -> list[dict[str, Any]]:
    """An answered question: its text and what was chosen, without buttons."""
    blocks = _sections(text)
    if chosen:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": escape(CHOSEN_MARK + chosen)}],
            }
        )
    return blocks[:BLOCKS_MAX]


def modal_for(form: Form, language: str) -> dict[str, Any]:
    """A form as a modal; the submission names the form's payload and language."""
    blocks: list[dict[str, Any]] = _sections(form.intro)
    for field in form.fields:
        element: dict[str, Any]
        if field.kind is FieldKind.SELECT:
            options = [_option(o.label, o.value) for o in field.options]
            element = {"type": "static_select", "action_id": field.id, "options": options}
            initial = next((o for o in options if o["value"] == field.initial), None)
            if initial is not None:
                element["initial_option"] = initial
        elif field.kind is FieldKind.SEARCH:
            element = {"type": "external_select", "action_id": field.id, "min_query_length": 0}
            if field.initial is not None and field.initial_label:
                element["initial_option"] = _option(field.initial_label, field.initial)
        else:
            element = {"type": "plain_text_input", "action_id": field.id}
            if field.max_length:
                element["max_length"] = field.max_length
            if field.initial:
                element["initial_value"] = field.initial
        block: dict[str, Any] = {
            "type": "input",
            "block_id": field.id,
            "label": _plain(field.label, 2000),
            "element": element,
            "optional": field.optional,
        }
        if field.hint:
            block["hint"] = _plain(field.hint, 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": _plain(form.title, 24),
        "submit": _plain(form.submit, 24),
        "private_metadata": json.dumps({"p": form.payload, "l": language}),
        "blocks": blocks,
    }


def _combined_blocks(replies: list[Outgoing], limit: int) -> list[dict[str, Any]]:
    """Several replies as one view's blocks, divided, with action ids unique in the view."""
    blocks: list[dict[str, Any]] = []
    for reply in replies:
        part = blocks_for(reply)
        if blocks and part:
            blocks.append({"type": "divider"})
        blocks.extend(part)
    number = 0
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                element["action_id"] = f"b{number}"
                number += 1
    return blocks[:limit]


def home_view(replies: list[Outgoing]) -> dict[str, Any]:
    """The App Home: each part of the overview, divided."""
    return {"type": "home", "blocks": _combined_blocks(replies, 100)}


def message_view(replies: list[Outgoing]) -> dict[str, Any]:
    """Messages as a modal, with their buttons (for a press on the App Home: the answer
    shows where the person is looking). Slack adds a close button in the person's
    language; the title is an emoji, the same in every language."""
    return {
        "type": "modal",
        "callback_id": MESSAGE_CALLBACK,
        "title": {"type": "plain_text", "text": ":speech_balloon:", "emoji": True},
        "blocks": _combined_blocks(replies, 100) or _sections("\u2026"),
    }


def form_values(view: dict[str, Any]) -> dict[str, str]:
    """A submitted modal's values: block id -> the text typed or the option chosen."""
    values: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for value in actions.values():
            kind = value.get("type")
            if kind in ("static_select", "external_select"):
                option = value.get("selected_option") or {}
                values[block_id] = str(option.get("value") or "")
            else:
                values[block_id] = str(value.get("value") or "")
    return values


def options_of(message: dict[str, Any], action_id: str) -> list[str]:
    """The values of a tick box group's options, as the message shows them."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return [str(o["value"]) for o in element.get("options") or []]
    return []


def chosen_label(body: dict[str, Any], action: dict[str, Any]) -> str | None:
    """What a press chose, as the person read it: the ticked options when a multi-select is
    confirmed (as Slack shows them: the payload's state, since ticks are not redrawn), else
    the pressed button's text."""
    label = str((action.get("text") or {}).get("text") or "") or None
    ticked = [
        str(o["text"]["text"])
        for actions in ((body.get("state") or {}).get("values") or {}).values()
        for value in actions.values()
        if value.get("type") == "checkboxes"
        for o in value.get("selected_options") or []
    ]
    if ticked and label is not None and not label.startswith(CHOSEN_MARK):
        return ", ".join(ticked)
    return label.removeprefix(CHOSEN_MARK) if label else None
