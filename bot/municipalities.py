"""Finding a municipality by typing part of its name."""

from __future__ import annotations

from bot.campaign import Campaign
from bot.i18n import _

OTHER = "other"
"""The value stored for "Other / outside" the campaign's municipalities."""

MAX_MATCHES = 8


def municipality_label(value: str, area: str = "") -> str:
    """A stored municipality as shown to a person (``area``: the campaign's region name)."""
    if value != OTHER:
        return value
    return _("Other / outside {area}").format(area=area) if area else _("Other")


def search_municipalities(campaign: Campaign, text: str) -> list[tuple[int, str]]:
    """Municipalities whose name contains ``text`` (names starting with it first).

    Returns (index in the campaign's list, name), at most ``MAX_MATCHES``.
    """
    needle = text.strip().casefold()
    if not needle:
        return []
    starts, contains = [], []
    for index, name in enumerate(campaign.municipalities):
        folded = name.casefold()
        if folded.startswith(needle) or any(
            part.startswith(needle) for part in folded.replace("-", " ").split()
        ):
            starts.append((index, name))
        elif needle in folded:
            contains.append((index, name))
    return (starts + contains)[:MAX_MATCHES]
