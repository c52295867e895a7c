"""Translations, plurals and dates, for the language of the current event.

Catalogs are the gettext ``.po`` files in ``locales/<lang>/LC_MESSAGES/messages.po``, read
with Babel and compiled in memory at start-up, so a fresh ``pip install`` needs no build step
and the ``.po`` file is the only source. Adding a language is adding its directory.

The language of the event being handled lives in a ``ContextVar`` (as in aiogram), set once
per event by the engine; ``_()`` and ``ngettext()`` read it.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, tzinfo
from functools import cache
from importlib import resources
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
"""Message ids in the code are English."""


def locales_dir() -> Path:
    """Where the catalogs are installed."""
    return Path(str(resources.files("locales")))


@cache
def available_languages() -> tuple[str, ...]:
    """Every language that has a catalog, in sorted order."""
    base = locales_dir()
    found = sorted(
        p.name for p in base.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
    )
    return tuple(found)


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog for ``lang`` (no-op translations for an unknown language)."""
    po = locales_dir() / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


_current: ContextVar[str] = ContextVar("language", default=SOURCE_LANGUAGE)


def current_language() -> str:
    """The language of the event being handled."""
    return _current.get()


@contextmanager
def use_language(lang: str) -> Iterator[None]:
    """Speak ``lang`` within the block."""
    token = _current.set(lang)
    try:
        yield
    finally:
        _current.reset(token)


_commands: ContextVar[tuple[str, frozenset[str]] | None] = ContextVar("_commands", default=None)
_SLASH = re.compile(r"(^|[\s(\[«“\"'])/([A-Za-z]+|\{command\})(?![\w/])")


@contextmanager
def use_commands(prefix: str, words: frozenset[str]) -> Iterator[None]:
    """Within the block, the bot's own texts name its commands (``/mydata``, any of
    ``words``) as the platform has them typed: ``prefix`` + word (Slack: a message that
    starts with / is a slash command, and the app has one, ``/consultation mydata``)."""
    token = _commands.set(None if prefix == "/" else (prefix, words))
    try:
        yield
    finally:
        _commands.reset(token)


def name_commands(text: str) -> str:
    """A text of the bot's own (a catalog message, a campaign text: never what a person
    typed) with its commands as the platform has them typed (see ``use_commands``)."""
    style = _commands.get()
    if style is None or "/" not in text:
        return text
    prefix, words = style
    return _SLASH.sub(
        lambda m: m[1] + prefix + m[2] if m[2] == "{command}" or m[2].lower() in words else m[0],
        text,
    )


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    return name_commands(translations(_current.get()).gettext(message))


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate with the current language's plural rules."""
    return name_commands(translations(_current.get()).ngettext(singular, plural, n))


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


@cache
def pick_language(hint: str | None, offered: tuple[str, ...], default: str) -> str:
    """The best offered language for a platform's hint (``nb-NO``, ``no``, ``en_GB``...)."""
    if not hint:
        return default
    try:
        locale = Locale.parse(hint.replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError):
        return default
    if str(locale) in offered:
        return str(locale)
    if locale.language in offered:
        return locale.language
    # Norwegian without a written standard means Bokmål in practice.
    if locale.language == "no" and "nb" in offered:
        return "nb"
    return default


def is_right_to_left(lang: str) -> bool:
    """Whether ``lang`` is written right to left (Arabic)."""
    try:
        return bool(Locale.parse(lang).character_order == "right-to-left")
    except (ValueError, UnknownLocaleError):
        return False


def language_name(lang: str) -> str:
    """A language's name in itself ("norsk bokmål", "English")."""
    try:
        name = Locale.parse(lang).get_display_name(lang) or lang
    except (ValueError, UnknownLocaleError):
        return lang
    return name[:1].upper() + name[1:]


# -- dates -------------------------------------------------------------------------------


def _locale() -> Locale:
    return _babel_locale(_current.get())


DATE_LOCALES = {"en": "en_GB"}
"""Locales whose dates read better in a regional variant: day before month, 24-hour clock."""


def babel_locale(lang: str) -> Locale:
    """The Babel locale ``lang``'s dates and numbers are written in."""
    return _babel_locale(lang)


@cache
def _babel_locale(lang: str) -> Locale:
    try:
        return Locale.parse(DATE_LOCALES.get(lang, lang))
    except (ValueError, UnknownLocaleError):
        return Locale.parse(SOURCE_LANGUAGE)


def fmt_list(items: list[str]) -> str:
    """Items joined as the current language joins a list ("a, b og c", "a، b و c"); with
    semicolons when an item has a comma of its own ("Meet people, go to events"), which the
    usual list would split in two."""
    if not items:
        return ""
    locale = _locale()
    if any("," in item or "\u060c" in item for item in items):
        return ("\u061b " if locale.character_order == "right-to-left" else "; ").join(items)
    return format_list(items, locale=locale)


def fmt_number(value: int | float) -> str:
    """A number as the current language writes it ("10 000" in Norwegian)."""
    return format_decimal(value, locale=_locale())


def fmt_percent(share: float) -> str:
    """A fraction as a percentage with one decimal, as the current language writes it
    ("66,7 %" in Norwegian, "66.7%" in English)."""
    locale = _locale()
    pattern = locale.percent_formats[None].pattern
    return format_percent(share, re.sub(r"0(?!.*0)", "0.0", pattern, count=1), locale=locale)


def fmt_date(value: datetime, tz: tzinfo) -> str:
    """A date with weekday in the current language ("tirsdag 1. juni 2021")."""
    local = value.astimezone(tz)
    return format_date(local.date(), format="full", locale=_locale())


def fmt_time(value: datetime, tz: tzinfo) -> str:
    """A time of day in the current language ("14:00", "2:00 PM")."""
    return format_time(value, format="short", tzinfo=tz, locale=_locale())


def fmt_datetime(value: datetime, tz: tzinfo) -> str:
    """Date and time in the current language."""
    return format_datetime(value, format="long", tzinfo=tz, locale=_locale()).replace(" UTC", "")


def fmt_day_and_time(value: datetime, tz: tzinfo) -> str:
    """Weekday, date and time, as a deadline is said ("mandag 14. juni 2021 kl. 12:00")."""
    return _("{date} at {time}").format(date=fmt_date(value, tz), time=fmt_time(value, tz))
