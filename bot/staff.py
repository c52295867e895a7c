"""Staff in the chat: the role is checked here, in the engine, for every staff action.

Anyone else asking gets "only for staff" and nothing happens. Staff get a menu with the
results as a spreadsheet or as a report (HTML or PDF), the state of broadcasts and reminders, a
new broadcast (segment, narrowing by platform and language, the text per language, a preview
with the exact number of recipients, confirm), and reloading the campaign file (then telling
the registrants of each changed meeting its new details).

Writing a broadcast (steps ``staff.*``) is in ``bot/staff_broadcast.py``.

A results file is heavy (ten thousand responses, a chart per question), so the turn only
queues a request in the outbox, in its own transaction, and answers "preparing". The outbox
dispatcher makes the file with ``ResultsFiles.prepare``: it reads on the database's reader
(holding up no one's writes), draws and writes the file in a thread, and sends it to the staff
member once, by the outbox's rules (claimed just before the send; in doubt after a crash).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from bot.broadcast import (
    Progress,
    Segment,
    members,
    progress_button,
    queue_meeting_update,
    update_batch,
)
from bot.campaign import Campaign
from bot.clock import Clock
from bot.errors import CampaignError
from bot.export import xlsx_bytes
from bot.i18n import N_, _, fmt_list, ngettext
from bot.messages import Attachment, Button, Outgoing
from bot.outbox import Prepare
from bot.payloads import GlobalAction
from bot.report import chromium, html_report, print_to_pdf
from bot.results import Recorded, read_results, shape_results
from bot.turn import Turn, global_button
from storage.campaign import save_in_use
from storage.outbox import all_batches, batch_progress, record_broadcast_request
from storage.protocols import Database
from storage.staff import EVERY_CAMPAIGN, is_staff

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = "text/html"
PDF = "application/pdf"
RESULTS_FILE = "results_file"
"""The outbox kind of a results file asked for in the chat (its message is a request)."""

Format = Literal["xlsx", "html", "pdf"]


class ResultsRequest(BaseModel):
    """A staff member's request for a results file, kept in the outbox until it is sent."""

    format: Format
    lang: str
    reply: Outgoing
    """The message the file goes with, in the staff member's language."""
    campaign: str | None = None
    """The campaign whose results (None: the default; a request from before there were
    several)."""


async def allowed(turn: Turn) -> bool:
    """Whether the person has the staff role for the campaign they are in; if not, tell
    them and do nothing else."""
    ref = turn.incoming.ref
    if (ref.platform, ref.workspace, ref.user_id) in turn.campaign.staff_members:
        return True  # named in the campaign file
    if await is_staff(turn.tx, ref.platform, ref.workspace, ref.user_id, turn.campaign.id):
        return True
    if turn.state.step.startswith("staff."):  # the role was taken away mid-broadcast
        turn.goto("menu", broadcast={})
    turn.say(
        _("Sorry, that is only for the consultation's staff."),
        [[global_button(_("Main menu"), GlobalAction.MENU)]],
    )
    return False


async def staff_everywhere(turn: Turn) -> bool:
    """Whether the person is staff of every campaign (a grant for all)."""
    ref = turn.incoming.ref
    return await is_staff(turn.tx, ref.platform, ref.workspace, ref.user_id, EVERY_CAMPAIGN)


def staff_button() -> Button:
    """The button back to the staff menu."""
    return global_button(_("Staff"), GlobalAction.STAFF)


async def show_staff_menu(turn: Turn) -> None:
    """The staff menu."""
    if not await allowed(turn):
        return
    turn.goto("menu", broadcast={})
    turn.say(
        _("Staff"),
        [
            [global_button(_("New broadcast"), GlobalAction.NEW_BROADCAST)],
            [global_button(_("Broadcasts and reminders"), GlobalAction.BATCHES)],
            [global_button(_("Results as a spreadsheet"), GlobalAction.RESULTS)],
            [global_button(_("Results as a report (HTML)"), GlobalAction.REPORT)],
            [global_button(_("Results as a report (PDF)"), GlobalAction.REPORT, "pdf")],
            [global_button(_("Reload the campaign file"), GlobalAction.RELOAD)],
            [global_button(_("Main menu"), GlobalAction.MENU)],
        ],
    )


def report_format(arg: str) -> Format:
    """The report's format a staff button or command asks for (``report:pdf``): HTML unless
    PDF."""
    return "pdf" if arg.strip().lower() == "pdf" else "html"


async def send_results(turn: Turn, format: Format = "xlsx") -> None:
    """Queue the results so far as a file (xlsx, or the report as HTML or PDF, with charts,
    without names or ids) for this staff member; the outbox dispatcher makes and sends it."""
    if not await allowed(turn):
        return
    if format == "pdf" and chromium() is None:
        # Said now rather than failing in the outbox five times: the HTML report instead.
        turn.say(
            _(
                "This server cannot make PDFs (Chromium is not installed): the report comes "
                "as HTML; print it from a browser."
            )
        )
        format = "html"
    request = ResultsRequest(
        format=format,
        lang=turn.lang,
        campaign=turn.campaign.id,
        reply=Outgoing(
            text=_("Here are the results so far."),
            buttons=[[staff_button()]],
        ),
    )
    key = f"{RESULTS_FILE}:{turn.incoming.scoped_event_id}"
    turn.outbox.append((turn.participant.id, RESULTS_FILE, key, request))
    turn.say(
        _("Preparing the results; the file comes in a moment."),
        [[staff_button()]],
    )


class ResultsFiles:
    """Makes the results files staff asked for (the outbox dispatcher's ``prepare`` for
    ``RESULTS_FILE`` rows), one at a time, outside every transaction others wait for."""

    def __init__(
        self, db: Database, campaign: Callable[[str | None], Campaign], clock: Clock
    ) -> None:
        self.db = db
        self.campaign = campaign
        """The campaign in use now by its id (it may be reloaded)."""
        self.clock = clock
        self._one_at_a_time = asyncio.Lock()

    def preparers(self) -> dict[str, Prepare]:
        """The outbox kinds this prepares, for ``OutboxDispatcher(prepare=...)``."""
        return {RESULTS_FILE: self.prepare}

    async def prepare(self, message: str) -> Outgoing:
        """The requested file with its message, made from the results as they are now."""
        request = ResultsRequest.model_validate_json(message)
        campaign = self.campaign(request.campaign)
        async with self._one_at_a_time:  # a second request waits instead of doubling the load
            recorded = await self.db.read(lambda tx: read_results(tx, campaign))
            attachment = await asyncio.to_thread(
                results_file, recorded, campaign, self.clock.now(), request
            )
        return request.reply.model_copy(update={"attachment": attachment})


def results_file(
    recorded: Recorded, campaign: Campaign, now: datetime, request: ResultsRequest
) -> Attachment:
    """Draw the charts and write the file (plain computation: run it in a thread)."""
    results = shape_results(recorded, campaign, now, lang=request.lang)
    if request.format == "html":
        data = html_report(results).encode("utf-8")
        return Attachment(filename="results.html", mime_type=HTML, data=data)
    if request.format == "pdf":
        data = print_to_pdf(html_report(results))
        return Attachment(filename="results.pdf", mime_type=PDF, data=data)
    return Attachment(filename="results.xlsx", mime_type=XLSX, data=xlsx_bytes(results))


async def show_batches(turn: Turn) -> None:
    """How far each broadcast and reminder got."""
    if not await allowed(turn):
        return
    batches = await all_batches(turn.tx, turn.campaign.id if turn.campaign.several else None)
    if not batches:
        text = _("No broadcasts yet.")
    else:
        lines = [_("Broadcasts and reminders")]
        for batch, progress in batches.items():
            lines.append(f"{batch}: {Progress.of(progress).describe()}")
        text = "\n".join(lines)
    turn.say(text, [[staff_button()]])


async def show_progress(turn: Turn, batch: str) -> None:
    """How far one broadcast got: sent, failed, unreachable, in doubt, left."""
    if not await allowed(turn):
        return
    counts = await batch_progress(turn.tx, batch)
    if not counts:
        turn.say(_("There is no such broadcast."), [[staff_button()]])
        return
    turn.say(
        f"{batch}: {Progress.of(counts).describe()}",
        [[progress_button(batch)], [staff_button()]],
    )


def say_queued(turn: Turn, batch: str, added: int, before: int) -> None:
    """Tell staff a broadcast is queued: to how many, and how many had it already."""
    lines = [
        ngettext(
            "The message is on its way to {count} person.",
            "The message is on its way to {count} people.",
            added,
        ).format(count=added)
    ]
    if before:
        lines.append(
            ngettext(
                "{count} person had it already and does not get it again.",
                "{count} people had it already and do not get it again.",
                before,
            ).format(count=before)
        )
    lines.append(_("You get a summary when it has gone out."))
    turn.say("\n".join(lines), [[progress_button(batch)], [staff_button()]])


# -- reloading the campaign file -----------------------------------------------------------

FACT_NAMES = {
    "date": N_("date"),
    "time": N_("time"),
    "place": N_("place"),
    "link": N_("online link"),
}


async def reload_campaign(turn: Turn) -> None:
    """Read the campaign file again (``turn.reload_file``); say what changed and offer to
    tell registrants."""
    if not await allowed(turn):
        return
    turn.goto("menu", broadcast={})
    reload = turn.reload_file
    if reload is None:
        turn.say(_("This bot was started without a campaign file to reload."), [[staff_button()]])
        return
    try:
        campaign, changes = reload(turn.campaign.id)
    except CampaignError as exc:
        problems = [f"{exc.path}: {p}" for p in exc.problems]
        turn.say(
            "\n".join(
                [
                    _(
                        "The campaign file was not loaded; the bot goes on with the campaign "
                        "it had."
                    ),
                    *problems,
                ]
            ),
            [[staff_button()]],
        )
        return
    data = {campaign.id: campaign.model_dump_json()}
    save_in_use(turn.tx, data, turn.all_campaigns.default_id, turn.now)
    turn.campaign = campaign
    lines = [_("The campaign file is loaded.")]
    buttons: list[list[Button]] = []
    if not changes:
        lines.append(_("No meeting's date, time, place or link changed."))
    for change in changes:
        meeting = change.meeting
        title = turn.text(meeting.short or meeting.title)
        what = fmt_list([_(FACT_NAMES[f]) for f in change.changed])
        lines.append(_("{meeting}: changed {what}.").format(meeting=title, what=what))
        found = await members(turn.tx, campaign, Segment("registrants", meeting.id))
        if found:
            label = ngettext(
                "Tell the {count} registered person: {meeting}",
                "Tell the {count} registered people: {meeting}",
                len(found),
            ).format(count=len(found), meeting=title)
            buttons.append([global_button(label, GlobalAction.NOTIFY_REGISTRANTS, meeting.id)])
    buttons.append([staff_button()])
    turn.say("\n".join(lines), buttons)


async def notify_registrants(turn: Turn, meeting_id: str) -> None:
    """Tell a meeting's registrants its current details, each in their language."""
    if not await allowed(turn):
        return
    meeting = turn.campaign.meeting(meeting_id)
    if meeting is None:
        turn.say(_("There is no such meeting."), [[staff_button()]])
        return
    batch = turn.campaign.batch(update_batch(meeting))
    before = sum((await batch_progress(turn.tx, batch)).values())
    batch, total = await queue_meeting_update(turn.tx, turn.campaign, meeting, turn.now)
    await record_broadcast_request(turn.tx, batch, turn.participant.id, turn.lang, turn.now)
    say_queued(turn, batch, total - before, before)
