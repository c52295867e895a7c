"""Slack: a slack-bolt (async) app, one ``bot.delivery.Platform``. Translates, nothing more.

The package is split along Slack's seams:

- ``blocks``: the engine's ``Outgoing`` as Block Kit (messages, modals, the App Home view);
- ``handler``: the Bolt app's listeners: Slack's requests in, as ``Incoming`` events;
- ``sender``: replies and outbox messages out through the Web API (the ``Platform``);
- ``installations``: the app installed in many workspaces (OAuth), kept in our database;
- ``server``: HTTP (``POST /slack/events``, the OAuth pages, ``/healthz``), Socket Mode,
  and ``serve``, which runs it all.
"""

from handlers.slack.blocks import blocks_for, closed_blocks, home_view, modal_for, split_text
from handlers.slack.handler import DEFAULT_COMMAND, SlackHandler
from handlers.slack.sender import PLATFORM, PartlySent, SlackSender
from handlers.slack.server import bolt_request_of, form_decode, parse_form, serve, web_app

__all__ = [
    "DEFAULT_COMMAND",
    "PLATFORM",
    "PartlySent",
    "SlackHandler",
    "SlackSender",
    "blocks_for",
    "bolt_request_of",
    "closed_blocks",
    "form_decode",
    "home_view",
    "modal_for",
    "parse_form",
    "serve",
    "split_text",
    "web_app",
]
