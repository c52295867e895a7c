"""The participation bot's engine: conversations, flows, campaign, outbox; no platform code.

The main public names are re-exported here; the modules stay importable on their own
(``from bot.engine import Engine``). Layers: ``handlers -> bot -> storage``.
"""

from __future__ import annotations

from bot.campaign import Campaign, load_campaign
from bot.clock import Clock, FixedClock, OffsetClock, SystemClock
from bot.engine import Engine
from bot.errors import CampaignError, ParticipationBotError
from bot.messages import (
    Attachment,
    Button,
    Form,
    FormField,
    Incoming,
    Kind,
    Outgoing,
    ParticipantRef,
)
from bot.payloads import GlobalAction
from bot.settings import Settings
from bot.turn import Turn
from bot.workers import Worker

__all__ = [
    "Attachment",
    "Button",
    "Campaign",
    "CampaignError",
    "Clock",
    "Engine",
    "FixedClock",
    "Form",
    "FormField",
    "GlobalAction",
    "Incoming",
    "Kind",
    "OffsetClock",
    "Outgoing",
    "ParticipantRef",
    "ParticipationBotError",
    "Settings",
    "SystemClock",
    "Turn",
    "Worker",
    "load_campaign",
]
