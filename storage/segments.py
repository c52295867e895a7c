"""Who a broadcast or reminder goes to: the people of a segment, as plain rows."""

from __future__ import annotations

from dataclasses import dataclass

from storage.protocols import Transaction


@dataclass(frozen=True)
class Member:
    """A recipient: their row id, language and platform identity."""

    participant_id: int
    language: str
    platform: str
    workspace: str
    user_id: str


SEGMENTS = ("registrants", "waiting", "unfinished", "followers", "everyone", "all")


async def segment_members(
    tx: Transaction,
    kind: str,
    *,
    campaign: str,
    scoped: bool = False,
    meeting: tuple[str, str] | None = None,
    meetings: tuple[tuple[str, str], ...] = (),
    survey_id: str | None = None,
    follow_question: str | None = None,
    default_language: str,
    platform: str | None = None,
    language: str | None = None,
) -> list[Member]:
    """The reachable people of a segment, optionally of one platform and language.

    ``registrants``/``waiting``: those with a place / on the waiting list of ``meeting``
    (its campaign, its id); ``unfinished``: started ``campaign``'s survey, not sent it;
    ``followers``: answered yes to ``follow_question``; ``everyone``: those who answered
    ``campaign``'s survey or registered for one of its ``meetings`` (not ``scoped``: the bot
    serves one campaign, everyone it knows, as ``all``); ``all``: everyone in any campaign.
    """
    if kind == "registrants" or kind == "waiting":
        status = "confirmed" if kind == "registrants" else "waiting"
        assert meeting is not None
        where, params = (
            "p.id IN (SELECT participant_id FROM registrations WHERE campaign = ? "
            "AND meeting_id = ? AND status = ?)",
            [meeting[0], meeting[1], status],
        )
    elif kind == "unfinished":
        where, params = (
            "p.id IN (SELECT participant_id FROM responses WHERE campaign = ? AND survey_id = ? "
            "AND status = 'in_progress')",
            [campaign, survey_id or ""],
        )
    elif kind == "followers":
        where, params = (
            "p.id IN (SELECT r.participant_id FROM responses r JOIN answers a "
            "ON a.response_id = r.id WHERE r.campaign = ? AND r.survey_id = ? "
            "AND a.question_id = ? AND a.value = '\"yes\"')",
            [campaign, survey_id or "", follow_question or ""],
        )
    elif kind == "all" or (kind == "everyone" and not scoped):
        where, params = "1 = 1", []
    elif kind == "everyone":
        clauses = ["p.id IN (SELECT participant_id FROM responses WHERE campaign = ?)"]
        params = [campaign]
        for owner, meeting_id in meetings:
            clauses.append(
                "p.id IN (SELECT participant_id FROM registrations WHERE campaign = ? "
                "AND meeting_id = ? AND status != 'cancelled')"
            )
            params += [owner, meeting_id]
        where = "(" + " OR ".join(clauses) + ")"
    else:
        raise ValueError(f"unknown segment {kind!r} (one of {', '.join(SEGMENTS)})")
    sql = (
        "SELECT p.id, COALESCE(p.language, ?), p.platform, p.workspace, p.user_id "
        f"FROM participants p WHERE p.unreachable = 0 AND {where}"
    )
    all_params: list[object] = [default_language, *params]
    if platform is not None:
        sql += " AND p.platform = ?"
        all_params.append(platform)
    if language is not None:
        sql += " AND COALESCE(p.language, ?) = ?"
        all_params += [default_language, language]
    rows = await tx.fetchall(sql + " ORDER BY p.id", all_params)
    return [Member(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def platforms_in_use(tx: Transaction) -> list[str]:
    """The platforms reachable people use, in order."""
    rows = await tx.fetchall(
        "SELECT DISTINCT platform FROM participants WHERE unreachable = 0 ORDER BY platform"
    )
    return [r[0] for r in rows]
