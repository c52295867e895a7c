"""Staff in the chat: the role is checked here, in the engine, for every staff action.

Anyone else asking gets "only for staff" and nothing happens. Staff get a menu with the
results as a spreadsheet and the state of broadcasts and reminders (writing a broadcast is
done from the command line for now: ``participation-bot broadcast``).
"""

from __future__ import annotations

from bot.export import xlsx_bytes
from bot.i18n import _
from bot.messages import Attachment, Outgoing
from bot.results import Results, read_results, shape_results
from bot.turn import Turn, global_button
from storage.outbox import all_batches
from storage.staff import is_staff

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
            [global_button(_("Broadcasts and reminders"), "batches")],
            [global_button(_("Main menu"), "menu")],
        ],
    )


async def send_results(turn: Turn) -> None:
    """The results so far as an xlsx file, without names or ids."""
    if not await allowed(turn):
        return
    results = await build_results_in(turn)
    turn.replies.append(
        Outgoing(
            text=_("Here are the results so far."),
            attachment=Attachment(
                filename="results.xlsx", mime_type=XLSX, data=xlsx_bytes(results)
            ),
            buttons=[[global_button(_("Staff"), "staff")]],
        )
    )


async def build_results_in(turn: Turn) -> Results:
    """Results read inside this turn's transaction. No charts: drawing them would hold up
    everyone else's events (the command line's export has them)."""
    recorded = await read_results(turn.tx, turn.campaign)
    return shape_results(recorded, turn.campaign, turn.now, lang=turn.lang, charts=False)


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
