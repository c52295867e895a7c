"""Several campaigns in one deployment: the ``Campaigns`` a bot serves, one of them the
default.

Loaded from several files (``--campaign`` given more than once), a folder of them
(``CAMPAIGNS_DIR``), one file (``--campaign``, ``CAMPAIGN_FILE``: the setup of one campaign,
unchanged), or the shipped Viken 2021 set. Each file is a ``Campaign`` on its own; here they
meet: ids are unique, a shared meeting (``[[shared_meetings]]``) names a meeting another
file declares (a broken reference names both files) and is put in the campaign's meetings,
and a campaign without a privacy notice of its own, from the same organiser as the default
one, uses the default's (one notice to accept for all).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bot.campaign import (
    Campaign,
    Meeting,
    MeetingChange,
    campaign_files,
    changed_meetings,
    load_campaign,
)
from bot.errors import CampaignError, CampaignProblem

__all__ = [
    "Campaigns",
    "chosen_files",
    "load_campaigns",
    "reread",
    "resolve",
    "shipped_campaign_files",
]


def shipped_campaign_files() -> list[Path]:
    """The shipped Viken 2021 set: the library strategy (the default), art and culture,
    volunteering."""
    return campaign_files(Path(str(resources.files("bot.campaigns"))))


@dataclass
class Campaigns:
    """The campaigns a bot serves, by id, in order; ``default`` is where a person starts."""

    by_id: dict[str, Campaign]
    default_id: str
    paths: dict[str, Path] = field(default_factory=dict)
    """The file each campaign came from (read again by a reload)."""
    parsed: dict[str, Campaign] = field(default_factory=dict)
    """Each campaign as its file says, before the shared meetings were resolved."""

    @classmethod
    def single(cls, campaign: Campaign, path: Path | None = None) -> Campaigns:
        """One campaign (the setup of one file)."""
        paths = {campaign.id: path} if path is not None else {}
        return cls({campaign.id: campaign}, campaign.id, paths, {campaign.id: campaign})

    @property
    def default(self) -> Campaign:
        """The campaign a person starts in."""
        return self.by_id[self.default_id]

    @property
    def several(self) -> bool:
        """Whether there is a choice of consultation."""
        return len(self.by_id) > 1

    def __iter__(self) -> Iterator[Campaign]:
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)

    def get(self, campaign_id: str | None) -> Campaign | None:
        """The campaign with this id (None: the default), if any."""
        if campaign_id is None:
            return self.default
        return self.by_id.get(campaign_id)

    def of(self, campaign_id: str | None) -> Campaign:
        """The campaign with this id, else the default (a state naming one no longer
        served goes back to the default)."""
        return self.get(campaign_id) or self.default

    def replaced(self, campaign: Campaign) -> Campaigns:
        """These campaigns with one of them (by its id; one campaign alone: it) replaced by
        an edited version as its file says, the shared meetings resolved again."""
        if not self.several:
            return Campaigns.single(campaign, self.paths.get(self.default_id))
        parsed = {**self.parsed, campaign.id: campaign}
        # In the same order: the same default.
        ids = [*self.by_id, *([] if campaign.id in self.by_id else [campaign.id])]
        return resolve([(self.paths.get(c, Path(c)), parsed[c]) for c in ids])


def chosen_files(given: list[str] | None, folder: str | None, one: str | None) -> list[Path]:
    """The campaign files to serve: those given (``--campaign``, repeated), else the
    folder's (``CAMPAIGNS_DIR``), else one file (``CAMPAIGN_FILE``), else the shipped set."""
    if given:
        return [Path(p) for p in given]
    if folder:
        return campaign_files(folder)
    return [Path(one)] if one else shipped_campaign_files()


def load_campaigns(files: list[Path] | None = None) -> Campaigns:
    """Read campaign files (default: the shipped set) and resolve what they share; raise
    ``CampaignError`` listing every problem, each naming its file."""
    paths = files if files else shipped_campaign_files()
    loaded: list[tuple[Path, Campaign]] = []
    errors: list[CampaignError] = []
    for path in paths:
        try:
            loaded.append((path, load_campaign(path)))
        except CampaignError as exc:
            errors.append(exc)
    if errors:
        raise _joined(errors)
    return resolve(loaded)


def reread(campaigns: Campaigns) -> tuple[Campaigns, list[tuple[str, MeetingChange]]]:
    """The campaigns read again from their files, and the meetings whose facts changed,
    each with its campaign's id; a shared meeting's change is told by the campaign that
    declares it. A broken file raises ``CampaignError`` (nothing changes)."""
    paths = [campaigns.paths.get(c.id) for c in campaigns]
    if not paths or any(p is None for p in paths):
        raise CampaignError("(none)", [CampaignProblem("", "no campaign file to reload")])
    fresh = load_campaigns([p for p in paths if p is not None])
    changes = []
    for campaign in fresh:
        old = campaigns.get(campaign.id)
        if old is not None:
            changes += [
                (campaign.id, change)
                for change in changed_meetings(old, campaign)
                if not campaign.shares(change.meeting.id)
            ]
    return fresh, changes  # read in the same order: the same default


def resolve(loaded: list[tuple[Path, Campaign]]) -> Campaigns:
    """Campaigns from parsed files: unique ids, shared meetings and notices resolved."""
    problems: list[CampaignError] = []
    by_id: dict[str, Campaign] = {}
    paths: dict[str, Path] = {}
    for path, campaign in loaded:
        if campaign.id in by_id:
            problems.append(
                CampaignError(
                    str(path),
                    [
                        CampaignProblem(
                            "campaign.id",
                            f"'{campaign.id}' is the id of {paths[campaign.id]} too",
                        )
                    ],
                )
            )
            continue
        by_id[campaign.id] = campaign
        paths[campaign.id] = path
    defaults = [c.id for c in by_id.values() if c.campaign.default]
    if len(defaults) > 1:
        problems.append(
            CampaignError(
                ", ".join(str(paths[d]) for d in defaults),
                [CampaignProblem("campaign.default", f"more than one default: {defaults}")],
            )
        )
    default_id = defaults[0] if defaults else next(iter(by_id))
    default = by_id[default_id]
    resolved: dict[str, Campaign] = {}
    for campaign_id, campaign in by_id.items():
        shared: list[tuple[str, Meeting]] = []
        file_problems = []
        for index, ref in enumerate(campaign.shared_meetings):
            key = f"shared_meetings[{index}]"
            owner = by_id.get(ref.campaign)
            if owner is None:
                file_problems.append(
                    CampaignProblem(
                        f"{key}.campaign",
                        f"no campaign '{ref.campaign}' is loaded (loaded: {sorted(by_id)})",
                    )
                )
                continue
            meeting = owner.meeting(ref.meeting)
            if meeting is None:
                file_problems.append(
                    CampaignProblem(
                        f"{key}.meeting",
                        f"{paths[owner.id]} declares no meeting '{ref.meeting}' "
                        f"(its meetings: {[m.id for m in owner.meetings]})",
                    )
                )
            elif ref.campaign == campaign_id:
                file_problems.append(
                    CampaignProblem(key, "a campaign cannot share its own meeting")
                )
            elif campaign.meeting(ref.meeting) is not None or ref.meeting in (
                m.id for _o, m in shared
            ):
                file_problems.append(
                    CampaignProblem(
                        f"{key}.meeting",
                        f"'{ref.meeting}' is the id of a meeting here already",
                    )
                )
            else:
                shared.append((owner.id, meeting))
        if file_problems:
            problems.append(CampaignError(str(paths[campaign_id]), file_problems))
            continue
        if shared:
            campaign = campaign.with_shared(shared)
        if shared and not campaign.signup.fields:
            # Signing up for another campaign's meeting asks what its campaign asks.
            campaign = _signing_up_as(campaign, by_id[shared[0][0]])
        organiser = campaign.text(campaign.campaign.organiser, default.default_language)
        if (
            campaign.privacy is None
            and default.privacy is not None
            and organiser == default.text(default.campaign.organiser, default.default_language)
        ):
            # One organiser, one notice: accepting it once covers all its campaigns.
            owners = dict(campaign._owners)
            campaign = campaign.model_copy(update={"privacy": default.privacy})
            campaign._owners = owners
        resolved[campaign_id] = campaign
    several = len(resolved) > 1
    for campaign_id, campaign in resolved.items():
        campaign._several = several
        campaign._default = campaign_id == default_id
    if problems:
        raise _joined(problems)
    # The default first (the list of consultations starts with it), the others by file.
    ordered = {default_id: resolved[default_id], **resolved}
    return Campaigns(ordered, default_id, paths, dict(by_id))


def _signing_up_as(campaign: Campaign, owner: Campaign) -> Campaign:
    """The campaign asking, on sign-up, what the shared meeting's own campaign asks (its
    fields and roles, its municipalities); a role question only if it has one of its own."""
    question = owner.signup.role_question
    own = campaign.survey.question(question) if campaign.survey and question else None
    signup = owner.signup.model_copy(update={"role_question": question if own else None})
    update: dict[str, object] = {"signup": signup}
    if not campaign.municipalities:
        update["municipalities"] = owner.municipalities
    owners = dict(campaign._owners)
    copy = campaign.model_copy(update=update)
    copy._owners = owners
    return copy


def _joined(errors: list[CampaignError]) -> CampaignError:
    if len(errors) == 1:
        return errors[0]
    problems = [
        CampaignProblem(f"{e.path}: {p.key}" if p.key else e.path, p.problem)
        for e in errors
        for p in e.problems
    ]
    return CampaignError(", ".join(e.path for e in errors), problems)
