"""Checks and templates for translators: catalogs and campaign strings in every language.

``catalog_problems`` compares a language's catalog with the template (locales/messages.pot):
every message missing, empty or marked fuzzy, and every translation whose placeholders
(``{name}``, ``%(count)s``) differ from the source's. ``campaign_template`` writes the file a
translator fills in for a campaign's strings.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Formatter

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.campaign import Campaign, string_keys
from bot.errors import CampaignProblem
from bot.i18n import DOMAIN, locales_dir

_PERCENT = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sd]")


def placeholders(text: str) -> list[str]:
    """The placeholders of a message, sorted (the order may differ between languages).

    ``{name}`` fields are read the way ``str.format`` reads them, so a broken brace (which
    would make the message fail for everyone speaking that language) is reported as one.
    """
    try:
        fields = [
            f"{{{name}}}" for _t, name, _s, _c in Formatter().parse(text) if name is not None
        ]
    except ValueError:
        return ["<broken braces>"]
    return sorted(fields + _PERCENT.findall(text))


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def catalog_problems(lang: str, base: Path | None = None) -> list[CampaignProblem]:
    """What a language's catalog lacks or gets wrong, against the template."""
    base = base or locales_dir()
    po = base / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.is_file():
        return [CampaignProblem(str(po), "no catalog for this language")]
    template = _read(base / f"{DOMAIN}.pot")
    catalog = _read(po, lang)
    problems = []
    for source in template:
        if not source.id:
            continue
        sources = _texts(source.id)
        key = sources[0]
        where = f"{po.name} ({lang}): {key!r}"
        message = catalog.get(source.id)
        if message is None:
            problems.append(CampaignProblem(where, "missing"))
            continue
        forms = _texts(message.string)
        if not all(forms):
            problems.append(CampaignProblem(where, "empty translation"))
            continue
        if message.fuzzy:
            problems.append(CampaignProblem(where, "marked fuzzy (needs review)"))
        allowed = {tuple(placeholders(s)) for s in sources}
        for form in forms:
            if tuple(placeholders(form)) not in allowed:
                problems.append(
                    CampaignProblem(
                        where,
                        f"placeholders {placeholders(form)} differ from the source's "
                        f"{placeholders(sources[-1])}",
                    )
                )
                break
    return problems


def _texts(value: object) -> list[str]:
    """A message's id or string as a list (plural messages have several)."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list | tuple) else [""]


def campaign_template(campaign: Campaign, lang: str) -> str:
    """A translation file for ``lang`` to fill in: every string with the texts it has."""
    existing = {key: text.root.get(lang, "") for key, text in string_keys(campaign).items()}
    default = campaign.default_language
    lines = [
        f"# {lang} strings of the campaign '{campaign.campaign.id}'.",
        "# Translation state: draft (fill in, then have a native speaker review it).",
        "# Each key names one text of the campaign file; the comments show it in the",
        "# default language and in English.",
        "",
        "[strings]",
    ]
    for key, text in string_keys(campaign).items():
        for source in dict.fromkeys((default, "en")):
            if source in text.root and source != lang:
                lines.append(f"# {source}: {_one_line(text.root[source])}")
        lines.append(f"{_toml_key(key)} = {_toml_string(existing[key])}")
        lines.append("")
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return text.replace("\n", " / ")


def _toml_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
