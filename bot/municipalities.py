"""Finding a municipality by typing part of its name."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.campaign import Campaign
from bot.i18n import _
from bot.messages import Option

if TYPE_CHECKING:
    from bot.turn import Speaks

OTHER = "other"
"""The value stored for "Other / outside" the campaign's municipalities."""

MAX_MATCHES = 8


def municipality_label(value: str, area: str = "") -> str:
    """A stored municipality as shown to a person (``area``: the campaign's region name)."""
    if value != OTHER:
        return value
    return _("Other / outside {area}").format(area=area) if area else _("Other")


_SPELLINGS = {"æ": ("æ", "ae", "a"), "ø": ("ø", "oe", "o"), "å": ("å", "aa", "a")}


def _spellings(text: str) -> set[str]:
    """The ways a name may be typed on a keyboard without æ, ø, å ("Bærum": "baerum",
    "barum"), case-folded."""
    variants = {""}
    for char in text.casefold():
        options = _SPELLINGS.get(char, (char,))
        variants = {v + o for v in variants for o in options}
    return variants


@lru_cache(maxsize=8)
def _index(names: tuple[str, ...]) -> list[tuple[str, set[str], set[str]]]:
    """Each name with its spellings and the words in them, made once per list of names."""
    index = []
    for name in names:
        forms = _spellings(name)
        words = {w for form in forms for w in form.replace("-", " ").split()}
        index.append((name, forms, words))
    return index


def search_municipalities(
    campaign: Campaign, text: str, limit: int = MAX_MATCHES
) -> list[tuple[int, str]]:
    """Municipalities whose name contains ``text`` (names starting with it first), also when
    typed without æ, ø, å.

    Returns (index in the campaign's list, name), at most ``limit``.
    """
    needle = text.strip().casefold()
    if not needle:
        return []
    starts, contains = [], []
    for index, (name, forms, words) in enumerate(_index(tuple(campaign.municipalities))):
        if any(f.startswith(needle) for f in forms) or any(w.startswith(needle) for w in words):
            starts.append((index, name))
        elif any(needle in f for f in forms):
            contains.append((index, name))
    return (starts + contains)[:limit]


@dataclass(frozen=True)
class TypedMunicipality:
    """What typing part of a name found: the one meant, or a hint to show with the choices."""

    chosen: str | None
    hint: str
    search: str


def find_typed(campaign: Campaign, text: str, area: str) -> TypedMunicipality:
    """Resolve a typed name: an exact name is chosen; else the matches are offered."""
    text = text.strip()
    matches = search_municipalities(campaign, text, limit=MAX_MATCHES + 1)
    exact = next((name for _i, name in matches if name.casefold() == text.casefold()), None)
    if exact is not None:
        return TypedMunicipality(exact, "", "")
    if not matches:
        hint = _(
            "No municipality matches \u201c{text}\u201d. Try another spelling, or choose "
            "\u201c{other}\u201d."
        ).format(text=text[:60], other=municipality_label(OTHER, area))
    elif len(matches) > MAX_MATCHES:
        hint = _("Many names match. Choose one, or type more of the name:")
    else:
        hint = _("Choose your municipality:")
    return TypedMunicipality(None, hint, text[:60])


def municipality_name(turn: Speaks, value: str) -> str:
    """A stored municipality as the person reads it ("Other / outside Viken" for other)."""
    return municipality_label(value, turn.text(turn.campaign.campaign.area))


def municipality_value(turn: Speaks, municipality: str) -> str:
    """A municipality as a form option's value: its index in the campaign's list."""
    if municipality == OTHER:
        return OTHER
    names = turn.campaign.municipalities
    return str(names.index(municipality)) if municipality in names else OTHER


def municipality_options(turn: Speaks, typed: str) -> list[Option]:
    """Municipalities matching what was typed, for a form's search field (the other choice
    always last)."""
    found = search_municipalities(turn.campaign, typed, limit=50) if typed.strip() else []
    if not typed.strip():
        found = list(enumerate(turn.campaign.municipalities))
    options = [Option(label=name, value=str(index)) for index, name in found]
    options.append(Option(label=municipality_name(turn, OTHER), value=OTHER))
    return options
