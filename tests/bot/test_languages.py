"""Every shipped language: the whole consultation, plurals, dates, and the completeness check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel import Locale
from babel.dates import get_day_names, get_month_names
from babel.messages.pofile import read_po

from bot.campaign import (
    Campaign,
    load_campaign,
    long_button_texts,
    missing_translations,
    string_keys,
)
from bot.clock import FixedClock
from bot.engine import Engine
from bot.i18n import (
    SOURCE_LANGUAGE,
    available_languages,
    fmt_date,
    language_name,
    locales_dir,
    ngettext,
    use_language,
)
from bot.messages import Kind
from bot.translations import catalog_problems
from storage.database import Database
from tests.auxil.chat import Chat
from tests.conftest import OSLO, oslo

SHIPPED = load_campaign()
LANGUAGES = [lang for lang in SHIPPED.campaign.languages if lang in available_languages()]
ALL_EIGHT = ["nb", "nn", "en", "se", "pl", "uk", "ar", "so"]


class ByPayload:
    """Drives a chat by button payloads, so one script serves every language."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat

    async def press(self, suffix: str) -> None:
        buttons = [b for r in self.chat.replies for row in r.buttons for b in row]
        for button in buttons:
            if button.payload == suffix or button.payload.endswith(":" + suffix):
                await self.chat.press_button(button)
                return
        raise AssertionError(f"no button {suffix!r} in {[b.payload for b in buttons]}")


async def whole_consultation(chat: Chat) -> None:
    """Every part of the consultation: menu, about, help, sign-up, registrations, survey."""
    drive = ByPayload(chat)
    await chat.command("start")
    await drive.press("g:about")
    await chat.command("help")
    await drive.press("g:menu")
    await drive.press("g:meetings")
    await drive.press("g:su:info")
    await chat.send("Test Person")
    await drive.press("r:library")
    await chat.send("Biblioteket")
    await chat.send("Asker")
    await drive.press("c")
    await chat.command("mine")
    await chat.command("survey")
    await drive.press("o:young")
    await chat.send("Asker")
    await drive.press("o:16-19")
    await drive.press("o:weekly")
    await drive.press("t:borrow")
    await drive.press("d")
    await drive.press("t:reading")
    await drive.press("t:digital")
    await drive.press("d")
    await drive.press("o:4")
    await drive.press("t:sdg4")
    await drive.press("d")
    await chat.send("x" * 600)  # too long: refused
    await chat.send("Mer lesing")
    await drive.press("k")
    await drive.press("o:yes")
    await drive.press("o:no")
    await drive.press("s")
    await chat.sticker()
    await chat.command("language")


def foreign_texts(lang: str, campaign: Campaign) -> set[str]:
    """Texts that must not reach a person speaking ``lang``: English source messages, and
    campaign texts of other languages, where ``lang`` has its own different text."""
    foreign: set[str] = set()
    if lang != SOURCE_LANGUAGE:
        path = locales_dir() / lang / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for message in catalog:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for source in ids:
                literal = re.split(r"\{[a-z_]+\}", source)
                longest = max(literal, key=len).strip()
                if len(longest.split()) >= 3 and all(longest not in s for s in strings):
                    foreign.add(longest)
    for text in string_keys(campaign).values():
        own = text.root.get(lang, "")
        for other, value in text.root.items():
            if other != lang and len(value) >= 12 and value != own and value not in own:
                foreign.add(value)
    return foreign


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_whole_consultation_in_each_language(
    lang: str, db: Database, clock: FixedClock
) -> None:
    campaign = load_campaign()
    engine = Engine(campaign, db, clock)
    chat = Chat(engine, f"person-{lang}", language=lang)
    await whole_consultation(chat)

    said = "\n".join(
        r.text + " " + " ".join(b.label for row in r.buttons for b in row) for r in chat.history
    )
    leaks = sorted(t for t in foreign_texts(lang, campaign) if t in said)
    assert leaks == []
    assert "something went wrong" not in said.lower()
    assert len(chat.history) > 30


def test_every_shipped_language_is_offered() -> None:
    assert sorted(LANGUAGES) == sorted(x for x in ALL_EIGHT if x in available_languages())
    for lang in LANGUAGES:
        assert language_name(lang)  # named in itself in the language menu


def test_catalogs_and_campaign_strings_are_complete() -> None:
    problems = [
        str(p) for lang in LANGUAGES if lang != SOURCE_LANGUAGE for p in catalog_problems(lang)
    ]
    problems += [str(p) for p in missing_translations(SHIPPED)]
    problems += [str(p) for p in long_button_texts(SHIPPED)]
    assert problems == []


@pytest.mark.parametrize("lang", [lang for lang in ("nb", "pl", "ar") if lang in LANGUAGES])
def test_plural_forms_follow_the_language(lang: str) -> None:
    singular = "You can choose at most {n} option. Untick one to choose another."
    plural = "You can choose at most {n} options. Untick one to choose another."
    with use_language(lang):
        forms = {n: ngettext(singular, plural, n) for n in (0, 1, 2, 5, 11)}
    locale = Locale.parse(lang)
    categories = {n: locale.plural_form(n) for n in forms}
    # Numbers of the same CLDR plural category read the same; different ones differently.
    for a in forms:
        for b in forms:
            same_category = categories[a] == categories[b]
            assert (forms[a] == forms[b]) == same_category, (lang, a, b, categories)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_meeting_dates_are_written_in_each_language(lang: str) -> None:
    with use_language(lang):
        written = fmt_date(oslo(2021, 6, 1, 14, 0), OSLO)
    locale = Locale.parse("en_GB" if lang == "en" else lang)
    june = get_month_names("wide", "format", locale=locale)[6]
    tuesday = get_day_names("wide", "format", locale=locale)[1]
    assert june in written and tuesday in written and "2021" in written


def _catalog(tmp: Path, translation: str) -> Path:
    (tmp / "xx" / "LC_MESSAGES").mkdir(parents=True)
    (tmp / "messages.pot").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Hello {name}"\nmsgstr ""\n\nmsgid "Bye"\nmsgstr ""\n',
        encoding="utf-8",
    )
    (tmp / "xx" / "LC_MESSAGES" / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n' + translation,
        encoding="utf-8",
    )
    return tmp


def test_the_check_reports_a_missing_message(tmp_path: Path) -> None:
    base = _catalog(tmp_path, 'msgid "Hello {name}"\nmsgstr "Hallo {name}"\n')
    assert [p.problem for p in catalog_problems("xx", base)] == ["missing"]


def test_the_check_reports_a_wrong_placeholder(tmp_path: Path) -> None:
    base = _catalog(
        tmp_path,
        'msgid "Hello {name}"\nmsgstr "Hallo {navn}"\n\nmsgid "Bye"\nmsgstr "Ha det"\n',
    )
    [problem] = catalog_problems("xx", base)
    assert "placeholders ['{navn}'] differ" in problem.problem


def test_the_check_reports_an_empty_translation(tmp_path: Path) -> None:
    base = _catalog(
        tmp_path, 'msgid "Hello {name}"\nmsgstr "Hallo {name}"\n\nmsgid "Bye"\nmsgstr ""\n'
    )
    assert [p.problem for p in catalog_problems("xx", base)] == ["empty translation"]


def test_a_language_is_added_by_adding_files(tmp_path: Path) -> None:
    source = load_campaign.__globals__["default_campaign_path"]()
    (tmp_path / "c.toml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "c.de.toml").write_text(
        '[strings]\n"campaign.title" = "Bibliotheksstrategie"\n', encoding="utf-8"
    )
    campaign = load_campaign(tmp_path / "c.toml")
    assert "de" in campaign.campaign.languages
    assert campaign.text(campaign.campaign.title, "de") == "Bibliotheksstrategie"
    assert campaign.text(campaign.meetings[0].title, "de") == campaign.text(
        campaign.meetings[0].title, "nb"
    )  # not translated yet: the default language
    assert any("'de'" in p.problem for p in missing_translations(campaign))


def test_an_unknown_key_in_a_translation_file_is_named(tmp_path: Path) -> None:
    source = load_campaign.__globals__["default_campaign_path"]()
    (tmp_path / "c.toml").write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "c.de.toml").write_text('[strings]\n"meetings.nope.title" = "x"\n')
    from bot.errors import CampaignError

    with pytest.raises(CampaignError) as caught:
        load_campaign(tmp_path / "c.toml")
    assert "c.de.toml" in str(caught.value)
    assert "strings.meetings.nope.title: no such campaign string" in str(caught.value)


async def test_unsupported_message_hint_in_each_language(db: Database, clock: FixedClock) -> None:
    engine = Engine(load_campaign(), db, clock)
    texts = set()
    for lang in LANGUAGES:
        chat = Chat(engine, f"sticker-{lang}", language=lang)
        await chat.command("survey")
        await chat.deliver(chat.incoming(Kind.UNSUPPORTED))
        texts.add(chat.replies[0].text.split("\n")[0])
    assert len(texts) == len(LANGUAGES)


def test_the_check_reports_broken_braces(tmp_path: Path) -> None:
    base = _catalog(
        tmp_path, 'msgid "Hello {name}"\nmsgstr "Hallo {name"\n\nmsgid "Bye"\nmsgstr "Ha det"\n'
    )
    [problem] = catalog_problems("xx", base)
    assert "broken braces" in problem.problem


def test_a_copy_of_the_campaign_beside_it_is_not_a_language(tmp_path: Path) -> None:
    source = load_campaign.__globals__["default_campaign_path"]()
    text = source.read_text(encoding="utf-8")
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    (tmp_path / "c.old.toml").write_text(text, encoding="utf-8")
    assert "old" not in load_campaign(tmp_path / "c.toml").campaign.languages
