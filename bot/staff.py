"""Staff in the chat: the role is checked here, in the engine, for every staff action.

Anyone else asking gets "only for staff" and nothing happens. Staff get a menu with the
results as a spreadsheet or as a report (HTML) and the state of broadcasts and reminders
(writing a broadcast is done from the command line for now: ``participation-bot broadcast``).

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

from bot.campaign import Campaign
from bot.clock import Clock
from bot.export import html_report, xlsx_bytes
from bot.i18n import _
from bot.messages import Attachment, Outgoing
from bot.outbox import Prepare
from bot.results import Recorded, read_results, shape_results
from bot.turn import Turn, global_button
from storage.database import Database
from storage.outbox import all_batches
from storage.staff import is_staff

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML = "text/html"
RESULTS_FILE = "results_file"
"""The outbox kind of a results file asked for in the chat (its message is a request)."""

Format = Literal["xlsx", "html"]


class ResultsRequest(BaseModel):
    """A staff member's request for a results file, kept in the outbox until it is sent."""

    format: Format
    lang: str
    reply: Outgoing
    """The message the file goes with, in the staff member's language."""


async def allowed(turn: Turn) -> bool:
    """Whether the person has the staff role; if not, tell them and do nothing else."""
    ref = turn.incoming.ref
    if await is_staff(turn.tx, ref.platform, ref.workspace, ref.user_id):
        return True
    turn.goto("menu")
    turn.say(
        _("Sorry, that is only for the consultation's staff."),
        [[global_button(_("Main menu"), "menu")]],
    )
    return False


async def show_staff_menu(turn: Turn) -> None:
    """The staff menu."""
    if not await allowed(turn):
        return
    turn.goto("menu")
    turn.say(
        _("Staff"),
        [
            [global_button(_("Results as a spreadsheet"), "results")],
            [global_button(_("Results as a report (HTML)"), "report")],
            [global_button(_("Broadcasts and reminders"), "batches")],
            [global_button(_("Main menu"), "menu")],
        ],
    )


async def send_results(turn: Turn, format: Format = "xlsx") -> None:
    """Queue the results so far as a file (xlsx or HTML report, with charts, without names
    or ids) for this staff member; the outbox dispatcher makes and sends it."""
    if not await allowed(turn):
        return
    request = ResultsRequest(
        format=format,
        lang=turn.lang,
        reply=Outgoing(
            text=_("Here are the results so far."),
            buttons=[[global_button(_("Staff"), "staff")]],
        ),
    )
    key = f"{RESULTS_FILE}:{turn.incoming.scoped_event_id}"
    turn.outbox.append((turn.participant.id, RESULTS_FILE, key, request))
    turn.say(
        _("Preparing the results; the file comes in a moment."),
        [[global_button(_("Staff"), "staff")]],
    )


class ResultsFiles:
    """Makes the results files staff asked for (the outbox dispatcher's ``prepare`` for
    ``RESULTS_FILE`` rows), one at a time, outside every transaction others wait for."""

    def __init__(self, db: Database, campaign: Callable[[], Campaign], clock: Clock) -> None:
        self.db = db
        self.campaign = campaign
        """The campaign in use now (it may be reloaded)."""
        self.clock = clock
        self._one_at_a_time = asyncio.Lock()

    def preparers(self) -> dict[str, Prepare]:
        """The outbox kinds this prepares, for ``OutboxDispatcher(prepare=...)``."""
        return {RESULTS_FILE: self.prepare}

    async def prepare(self, message: str) -> Outgoing:
        """The requested file with its message, made from the results as they are now."""
        request = ResultsRequest.model_validate_json(message)
        campaign = self.campaign()
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
    return Attachment(filename="results.xlsx", mime_type=XLSX, data=xlsx_bytes(results))


async def show_batches(turn: Turn) -> None:
    """How far each broadcast and reminder got."""
    if not await allowed(turn):
        return
    batches = await all_batches(turn.tx)
    if not batches:
        text = _("No broadcasts yet.")
    else:
        lines = [_("Broadcasts and reminders")]
        for batch, progress in batches.items():
            counts = ", ".join(f"{status} {n}" for status, n in sorted(progress.items()))
            lines.append(f"{batch}: {counts}")
        text = "\n".join(lines)
    turn.say(text, [[global_button(_("Staff"), "staff")]])
