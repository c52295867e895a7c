"""Languages: catalogs load from .po, plurals follow each language, dates are localized."""

from __future__ import annotations

from babel.messages.pofile import read_po

from bot.i18n import (
    _,
    available_languages,
    fmt_date,
    fmt_day_and_time,
    fmt_list,
    language_name,
    locales_dir,
    ngettext,
    pick_language,
    use_language,
)
from tests.auxil.chat import Chat
from tests.conftest import OSLO, oslo


def test_shipped_catalogs_are_found() -> None:
    assert {"nb", "en"} <= set(available_languages())


def test_every_message_of_the_template_is_translated_in_nb() -> None:
    template = read_po((locales_dir() / "messages.pot").open("rb"))
    catalog = read_po((locales_dir() / "nb/LC_MESSAGES/messages.po").open("rb"), locale="nb")
    missing = [m.id for m in template if m.id and not (catalog.get(m.id) and catalog[m.id].string)]
    assert missing == []


def test_the_template_holds_every_message_in_the_code() -> None:
    """A string added to the code but never extracted would reach people untranslated."""
    from pathlib import Path

    from babel.messages.extract import extract_from_dir

    root = Path(__file__).resolve().parents[2]
    in_code = {
        message if isinstance(message, str) else message[0]
        for package in ("bot", "handlers")
        for _file, _line, message, _comments, _context in extract_from_dir(
            root / package, method_map=[("**.py", "python")]
        )
    }
    template = read_po((locales_dir() / "messages.pot").open("rb"))
    extracted = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    assert sorted(in_code - extracted) == [], "run pybabel extract and update (README)"


def test_translation_follows_the_current_language() -> None:
    with use_language("nb"):
        assert _("Main menu") == "Hovedmeny"
    with use_language("en"):
        assert _("Main menu") == "Main menu"


def test_plural_forms_in_nb() -> None:
    singular, plural = (
        "Choose up to {n} option, then press Done.",
        ("Choose up to {n} options, then press Done."),
    )
    with use_language("nb"):
        forms = {n: ngettext(singular, plural, n).format(n=n) for n in (0, 1, 2, 5, 11)}
    assert "1 alternativ" in forms[1] and "alternativer" not in forms[1]
    for n in (0, 2, 5, 11):
        assert f"{n} alternativer" in forms[n]


def test_dates_in_each_language() -> None:
    meeting = oslo(2021, 6, 1, 14, 0)
    with use_language("nb"):
        assert fmt_date(meeting, OSLO) == "tirsdag 1. juni 2021"
        assert fmt_day_and_time(meeting, OSLO) == "tirsdag 1. juni 2021 kl. 14:00"
    with use_language("en"):
        assert fmt_date(meeting, OSLO) == "Tuesday, 1 June 2021"


def test_platform_hints_map_to_offered_languages() -> None:
    offered = ("nb", "en")
    assert pick_language("nb-NO", offered, "nb") == "nb"
    assert pick_language("no", offered, "nb") == "nb"
    assert pick_language("en_GB", offered, "nb") == "en"
    assert pick_language("de", offered, "nb") == "nb"
    assert pick_language("not a locale!", offered, "nb") == "nb"
    assert pick_language(None, offered, "nb") == "nb"


def test_language_names_are_in_the_language_itself() -> None:
    assert language_name("nb") == "Norsk bokmål"
    assert language_name("en") == "English"


async def test_a_norwegian_person_sees_norwegian_dates_and_texts(chat: Chat) -> None:
    chat.language = "nb"
    await chat.command("meetings")
    assert "tirsdag 1. juni 2021" in chat.text
    assert "Informasjonsmøte om temastrategiene" in chat.text
    assert "Meld deg på" in chat.text
    await chat.command("survey")
    assert "Spørsmål 1 av 12" in chat.text


def test_a_list_whose_items_have_commas_is_joined_with_semicolons() -> None:
    """A review line such as "Borrow books, Meet people, go to events and E-books" would
    read as four choices."""
    with use_language("en"):
        assert fmt_list(["Borrow books", "Meet people, go to events", "E-books"]) == (
            "Borrow books; Meet people, go to events; E-books"
        )
        assert fmt_list(["Borrow books", "E-books"]) == "Borrow books and E-books"
    with use_language("ar"):
        assert fmt_list(["أ، ب", "ج"]) == "أ، ب؛ ج"
