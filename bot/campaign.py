"""The campaign file: one TOML file describes a consultation.

It is read with ``tomllib``, validated by the pydantic models of ``bot/campaign_schema.py``
(re-exported here: ``from bot.campaign import Campaign``), then checked across models: ids
that must exist, languages every text must have. Every human-facing string is a table of
languages (``title = { nb = "...", en = "..." }``); a missing language falls back to the
campaign's default language, which every table must have.

Errors name the file, the key path (``survey.questions[3].show_if.question``) and the problem.
"""

from __future__ import annotations

import copy
import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ValidationError,
)

from bot.campaign_schema import (
    ID_PATTERN,
    SIGNUP_FIELDS,
    Campaign,
    CampaignInfo,
    LocalizedText,
    Meeting,
    Option,
    Privacy,
    Question,
    Reminder,
    Role,
    SharedMeeting,
    ShowIf,
    Signup,
    SignupField,
    Survey,
    Text,
    parse_person,
    sign_up_open,
    survey_state,
)
from bot.errors import CampaignError, CampaignProblem

__all__ = [
    "DEFAULT_CAMPAIGN",
    "ID_PATTERN",
    "MEETING_FACTS",
    "SIGNUP_FIELDS",
    "Campaign",
    "CampaignInfo",
    "LocalizedText",
    "Meeting",
    "MeetingChange",
    "Option",
    "Privacy",
    "Question",
    "Reminder",
    "Role",
    "SharedMeeting",
    "ShowIf",
    "Signup",
    "SignupField",
    "Survey",
    "Text",
    "changed_meetings",
    "campaign_files",
    "default_campaign_path",
    "facts_digest",
    "load_campaign",
    "long_button_texts",
    "meeting_facts",
    "missing_translations",
    "parse_campaign",
    "parse_person",
    "sign_up_open",
    "string_keys",
    "survey_state",
    "translation_files",
]

# -- loading -----------------------------------------------------------------------------

DEFAULT_CAMPAIGN = "viken-2021.toml"


def default_campaign_path() -> Path:
    """The shipped default campaign (Viken 2021 library strategy)."""
    return Path(str(resources.files("bot.campaigns").joinpath(DEFAULT_CAMPAIGN)))


def campaign_files(folder: str | Path) -> list[Path]:
    """The campaign files in a folder, by name (``x.toml``; not the translations
    ``x.<lang>.toml`` beside them)."""
    return sorted(
        p
        for p in Path(folder).glob("*.toml")
        if not (_LANG_FILE.match(p.name) and (p.parent / f"{p.name.split('.')[0]}.toml").exists())
    )


def load_campaign(path: str | Path | None = None) -> Campaign:
    """Read and validate a campaign file; raise ``CampaignError`` listing every problem."""
    path = Path(path) if path is not None else default_campaign_path()
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CampaignError(name, [CampaignProblem("", f"cannot read: {exc.strerror}")]) from exc
    data = _read_toml(raw, name)
    overlays = translation_files(path)
    if overlays:
        data = _with_translations(data, name, overlays)
    return parse_campaign(data, name)


def _read_toml(raw: bytes, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CampaignError(name, [CampaignProblem("", "not UTF-8 text")]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(name, [CampaignProblem("", f"not valid TOML: {exc}")]) from exc


# -- translations of a campaign: one file per language beside it ---------------------------
#
# viken-2021.toml holds the default language (and any others inline); viken-2021.se.toml
# holds Northern Sami: a [strings] table from a string's key to its text. Keys name items by
# their id ("meetings.info.title", "survey.questions.age.options.13-15.label"), so they stay
# right when items are reordered. Adding a language is adding such a file (and a catalog).

_LANG_FILE = re.compile(r"^(?P<stem>.+)\.(?P<lang>[a-z]{2,3}(?:_[A-Za-z]{2,4})?)\.toml$")


def translation_files(path: Path) -> dict[str, Path]:
    """The campaign's translation files beside it, by language."""
    found = {}
    for candidate in sorted(path.parent.glob(f"{path.stem}.*.toml")):
        match = _LANG_FILE.match(candidate.name)
        if match and match["stem"] == path.stem:
            found[match["lang"]] = candidate
    return found


def string_keys(campaign: Campaign) -> dict[str, LocalizedText]:
    """Every human-facing string of the campaign by its translation key."""
    found: dict[str, LocalizedText] = {}

    def walk(node: Any, key: str) -> None:
        if isinstance(node, LocalizedText):
            found[key] = node
        elif isinstance(node, BaseModel):
            for field_name in type(node).model_fields:
                walk(getattr(node, field_name), f"{key}.{field_name}" if key else field_name)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{key}.{getattr(item, 'id', i)}")

    walk(campaign, "")
    return found


def _raw_locations(data: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Translation key -> where the string's table sits in the raw TOML data."""
    locations: dict[str, tuple[Any, ...]] = {}

    def walk(node: Any, key: str, where: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                walk(value, f"{key}.{name}" if key else name, (*where, name))
            locations[key] = where
        elif isinstance(node, list):
            for i, item in enumerate(node):
                item_id = item.get("id", i) if isinstance(item, dict) else i
                walk(item, f"{key}.{item_id}", (*where, i))

    walk(data, "", ())
    return locations


def _with_translations(
    data: dict[str, Any], name: str, overlays: dict[str, Path]
) -> dict[str, Any]:
    """The campaign data with each translation file's strings put into its tables."""
    base = parse_campaign(data, name)
    keys = string_keys(base)
    locations = _raw_locations(data)
    merged = copy.deepcopy(data)
    languages = list(base.campaign.languages)
    problems: list[CampaignError] = []
    for lang, file in overlays.items():
        overlay = _read_toml(file.read_bytes(), str(file))
        if "strings" not in overlay:
            continue  # not a translation (a copy or backup of the campaign beside it)
        unknown = set(overlay) - {"strings"}
        file_problems = [CampaignProblem(k, "unknown key (only [strings])") for k in unknown]
        for key, text in overlay.get("strings", {}).items():
            if key not in keys:
                file_problems.append(CampaignProblem(f"strings.{key}", "no such campaign string"))
            elif not isinstance(text, str):
                file_problems.append(CampaignProblem(f"strings.{key}", "must be text"))
            else:
                table: Any = merged
                for step in locations[key]:
                    table = table[step]
                table[lang] = text
        if file_problems:
            problems.append(CampaignError(str(file), file_problems))
        if lang not in languages:
            languages.append(lang)
    if problems:
        raise CampaignError(
            ", ".join(p.path for p in problems), [q for p in problems for q in p.problems]
        )
    merged["campaign"]["languages"] = languages
    return merged


BUTTON_TEXT_MAX = 30
"""A button's text fits a phone's width (about 30 characters)."""


def long_button_texts(campaign: Campaign) -> list[CampaignProblem]:
    """Campaign texts shown on buttons (labels, short titles) that are too long to fit."""
    problems = []
    for key, text in string_keys(campaign).items():
        if key.endswith((".label", ".short")):
            for lang, value in text.root.items():
                if len(value) > BUTTON_TEXT_MAX:
                    problems.append(
                        CampaignProblem(
                            f"{key}.{lang}",
                            f"{len(value)} characters; a button fits about {BUTTON_TEXT_MAX}",
                        )
                    )
    return problems


def missing_translations(campaign: Campaign) -> list[CampaignProblem]:
    """Every campaign string missing in a language the campaign declares."""
    problems = []
    for key, text in string_keys(campaign).items():
        for lang in campaign.campaign.languages:
            if not text.root.get(lang, "").strip():
                problems.append(CampaignProblem(key, f"no text in '{lang}'"))
    return problems


def parse_campaign(data: dict[str, Any], name: str = "<campaign>") -> Campaign:
    """Validate an already parsed campaign table."""
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        raise CampaignError(name, [_problem(err) for err in exc.errors()]) from exc
    problems = (
        _reference_problems(campaign) + _audience_problems(campaign) + _language_problems(campaign)
    )
    if problems:
        raise CampaignError(name, problems)
    return campaign


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("function-after", "function-before") or item.startswith("function-"):
            continue
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts)


def _problem(err: Any) -> CampaignProblem:
    loc = tuple(x for x in err["loc"] if x != "root")
    kind = err["type"]
    if kind == "extra_forbidden":
        message = "unknown key (not part of the campaign format)"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = re.sub(r"^(Value error|Assertion failed), ", "", err["msg"])
    return CampaignProblem(_key_path(loc), message)


def _reference_problems(campaign: Campaign) -> list[CampaignProblem]:
    """Question ids are unique; a ``show_if`` names an earlier question and its answers."""
    if campaign.survey is None:
        return []
    problems: list[CampaignProblem] = []
    seen: dict[str, Question] = {}
    all_ids = {q.id for q in campaign.survey.questions}
    for index, q in enumerate(campaign.survey.questions):
        path = f"survey.questions[{index}]"
        if q.id in seen:
            problems.append(CampaignProblem(f"{path}.id", f"question id '{q.id}' is used twice"))
        if q.show_if is not None:
            name = q.show_if.question
            target = seen.get(name)
            if target is None:
                where = "a later question" if name in all_ids else "no question"
                problems.append(
                    CampaignProblem(
                        f"{path}.show_if.question",
                        f"'{name}' is {where}; show_if may only name an earlier question",
                    )
                )
            elif values := target.choice_values():
                bad = [v for v in q.show_if.any_of if v not in values]
                if bad:
                    problems.append(
                        CampaignProblem(
                            f"{path}.show_if.any_of",
                            f"{bad} are not answers of '{name}' (one of {values})",
                        )
                    )
        seen.setdefault(q.id, q)
    return problems


def _audience_problems(campaign: Campaign) -> list[CampaignProblem]:
    """``audience_roles`` name sign-up roles; an option's ``signup`` names a meeting (in a
    single-choice question); ``role_question`` names a question whose options are roles."""
    problems: list[CampaignProblem] = []
    roles = [role.id for role in campaign.signup.roles]
    for index, meeting in enumerate(campaign.meetings):
        path = f"meetings[{index}].audience_roles"
        if meeting.audience_roles and "role" not in campaign.signup.fields:
            problems.append(CampaignProblem(path, "needs the 'role' field in [signup] fields"))
        bad = [r for r in meeting.audience_roles if r not in roles]
        if bad:
            problems.append(CampaignProblem(path, f"{bad} are not sign-up roles (one of {roles})"))
    meeting_ids = [m.id for m in campaign.meetings]
    for qi, q in enumerate(campaign.survey.questions if campaign.survey else []):
        for oi, option in enumerate(q.options):
            if option.signup is None:
                continue
            path = f"survey.questions[{qi}].options[{oi}].signup"
            if option.signup not in meeting_ids:
                problems.append(
                    CampaignProblem(
                        path, f"'{option.signup}' is no meeting (one of {meeting_ids})"
                    )
                )
            if q.type != "single":
                problems.append(
                    CampaignProblem(
                        path, "only an option of a 'single' question leads to a sign-up"
                    )
                )
    name = campaign.signup.role_question
    if name is not None:
        path = "signup.role_question"
        question = campaign.survey.question(name) if campaign.survey else None
        if question is None or question.type != "single":
            problems.append(CampaignProblem(path, f"'{name}' is no single-choice survey question"))
        elif bad := [o.id for o in question.options if o.id not in roles]:
            problems.append(
                CampaignProblem(path, f"options {bad} of '{name}' are not sign-up roles ({roles})")
            )
    return problems


def _language_problems(campaign: Campaign) -> list[CampaignProblem]:
    """Every language table must have the default language and only declared languages."""
    default = campaign.default_language
    declared = set(campaign.campaign.languages)
    problems: list[CampaignProblem] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, LocalizedText):
            if not node.root.get(default, "").strip():
                problems.append(CampaignProblem(path, f"missing the default language '{default}'"))
            for lang in node.root:
                if lang not in declared:
                    problems.append(
                        CampaignProblem(
                            f"{path}.{lang}",
                            f"language '{lang}' is not declared in campaign.languages",
                        )
                    )
        elif isinstance(node, BaseModel):
            for field_name in type(node).model_fields:
                value = getattr(node, field_name)
                walk(value, f"{path}.{field_name}" if path else field_name)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(campaign, "")
    return problems


# -- what an edited file changes -----------------------------------------------------------

MEETING_FACTS = ("date", "time", "place", "link")
"""What registrants are told about when it changes."""


def meeting_facts(meeting: Meeting) -> dict[str, str]:
    """The facts of a meeting its registrants rely on, as comparable text."""
    return {
        "date": meeting.date.isoformat(),
        "time": f"{meeting.start or ''}-{meeting.end or ''}",
        "place": repr(sorted((meeting.place.root if meeting.place else {}).items())),
        "link": meeting.link if meeting.online else "",
    }


def facts_digest(meeting: Meeting) -> str:
    """A short name for a meeting's current facts (telling registrants twice adds nobody)."""
    facts = meeting_facts(meeting)
    raw = repr([facts[f] for f in MEETING_FACTS]).encode()
    return hashlib.sha256(raw).hexdigest()[:10]


@dataclass(frozen=True)
class MeetingChange:
    """A meeting in both versions of a campaign whose facts differ: the new meeting and
    which of ``MEETING_FACTS`` changed."""

    meeting: Meeting
    changed: tuple[str, ...]


def changed_meetings(old: Campaign, new: Campaign) -> list[MeetingChange]:
    """Meetings whose date, time, place or online link differ between two campaigns."""
    changes = []
    for meeting in new.meetings:
        before = old.meeting(meeting.id)
        if before is None:
            continue
        a, b = meeting_facts(before), meeting_facts(meeting)
        changed = tuple(f for f in MEETING_FACTS if a[f] != b[f])
        if changed:
            changes.append(MeetingChange(meeting, changed))
    return changes
