"""Staff in the chat: the role is checked here, in the engine, for every staff action.

Anyone else asking gets "only for staff" and nothing happens. Staff get a menu with the
results as a spreadsheet or as a report (HTML or PDF), the state of broadcasts and reminders, a
new broadcast (segment, narrowing by platform and language, the text per language, a preview
with the exact number of recipients, confirm), and reloading the campaign file (then telling
the registrants of each changed meeting its new details).

A broadcast being written lives in ``ConversationState.broadcast`` (steps ``staff.*``), so
a restart in the middle of writing one goes on where it was.

A results file is heavy (ten thousand responses, a chart per question), so the turn only
queues a request in the outbox, in its own transaction, and answers "preparing". The outbox
dispatcher makes the file with ``ResultsFiles.prepare``: it reads on the database's reader
(holding up no one's writes), draws and writes the file in a thread, and sends it to the staff
member once, by the outbox's rules (claimed just before the send; in doubt after a crash).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from bot.broadcast import (
    Progress,
    Segment,
    batch_id,
    members,
    progress_button,
    queue_broadcast,
    queue_meeting_update,
    text_for,
    update_batch,
)
from bot.campaign import Campaign, MeetingChange
from bot.clock import Clock
from bot.errors import CampaignError
from bot.export import xlsx_bytes
from bot.i18n import N_, _, fmt_list, language_name, ngettext
from bot.messages import Attachment, Button, Outgoing
from bot.outbox import Prepare
from bot.report import chromium, html_report, print_to_pdf
from bot.results import Recorded, read_results, shape_results
from bot.turn import Turn, global_button
from storage.campaign import save_campaign_in_use
from storage.database import Database
from storage.outbox import all_batches, batch_progress, record_broadcast_request
from storage.segments import platforms_in_use
from storage.staff import is_staff

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


BROADCAST_MAX = 4000
"""Characters a broadcast may have (Telegram allows 4096 in a message)."""

Reloader = Callable[[], tuple[Campaign, list[MeetingChange]]]
"""Reads the campaign file again and starts using it; raises ``CampaignError`` (the old
campaign stays) when the file is broken."""


async def allowed(turn: Turn) -> bool:
    """Whether the person has the staff role; if not, tell them and do nothing else."""
    ref = turn.incoming.ref
    if (ref.platform, ref.workspace, ref.user_id) in turn.campaign.staff_members:
        return True  # named in the campaign file
    if await is_staff(turn.tx, ref.platform, ref.workspace, ref.user_id):
        return True
    if turn.state.step.startswith("staff."):  # the role was taken away mid-broadcast
        turn.goto("menu", broadcast={})
    turn.say(
        _("Sorry, that is only for the consultation's staff."),
        [[global_button(_("Main menu"), "menu")]],
    )
    return False


def _staff_button() -> Button:
    return global_button(_("Staff"), "staff")


async def show_staff_menu(turn: Turn) -> None:
    """The staff menu."""
    if not await allowed(turn):
        return
    turn.goto("menu", broadcast={})
    turn.say(
        _("Staff"),
        [
            [global_button(_("New broadcast"), "bc")],
            [global_button(_("Broadcasts and reminders"), "batches")],
            [global_button(_("Results as a spreadsheet"), "results")],
            [global_button(_("Results as a report (HTML)"), "report")],
            [global_button(_("Results as a report (PDF)"), "report:pdf")],
            [global_button(_("Reload the campaign file"), "reload")],
            [global_button(_("Main menu"), "menu")],
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
        reply=Outgoing(
            text=_("Here are the results so far."),
            buttons=[[_staff_button()]],
        ),
    )
    key = f"{RESULTS_FILE}:{turn.incoming.scoped_event_id}"
    turn.outbox.append((turn.participant.id, RESULTS_FILE, key, request))
    turn.say(
        _("Preparing the results; the file comes in a moment."),
        [[_staff_button()]],
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
    if request.format == "pdf":
        data = print_to_pdf(html_report(results))
        return Attachment(filename="results.pdf", mime_type=PDF, data=data)
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
            lines.append(f"{batch}: {Progress.of(progress).describe()}")
        text = "\n".join(lines)
    turn.say(text, [[_staff_button()]])


async def show_progress(turn: Turn, batch: str) -> None:
    """How far one broadcast got: sent, failed, unreachable, in doubt, left."""
    if not await allowed(turn):
        return
    counts = await batch_progress(turn.tx, batch)
    if not counts:
        turn.say(_("There is no such broadcast."), [[_staff_button()]])
        return
    turn.say(
        f"{batch}: {Progress.of(counts).describe()}",
        [[progress_button(batch)], [_staff_button()]],
    )


# -- writing a broadcast -------------------------------------------------------------------


async def new_broadcast(turn: Turn) -> None:
    """Start writing a broadcast: first, who gets it."""
    if not await allowed(turn):
        return
    turn.goto("staff.segment", broadcast={})
    await show_step(turn)


def _segment_label(turn: Turn, text: str) -> str:
    kind, _sep, meeting_id = text.partition(":")
    meeting = turn.campaign.meeting(meeting_id)
    title = turn.text(meeting.short or meeting.title) if meeting else meeting_id
    if kind == "registrants":
        return _("Registered: {meeting}").format(meeting=title)
    if kind == "waiting":
        return _("Waiting list: {meeting}").format(meeting=title)
    if kind == "unfinished":
        return _("Started the survey, not sent it")
    if kind == "followers":
        return _("Follow the process")
    return _("Everyone")


def _segment_choices(turn: Turn) -> list[str]:
    campaign = turn.campaign
    choices = []
    for meeting in campaign.meetings:
        choices += [f"registrants:{meeting.id}", f"waiting:{meeting.id}"]
    if campaign.survey is not None:
        choices.append("unfinished")
        if campaign.survey.follow_question:
            choices.append("followers")
    choices.append("everyone")
    return choices


def _segment(turn: Turn) -> Segment:
    """The segment of the draft (ValueError if it no longer fits the campaign)."""
    draft = turn.state.broadcast
    return Segment.parse(
        draft.get("segment", ""),
        turn.campaign,
        platform=draft.get("platform") or None,
        language=draft.get("language") or None,
    )


def _texts(turn: Turn) -> dict[str, str]:
    return {
        key.removeprefix("text:"): value
        for key, value in turn.state.broadcast.items()
        if key.startswith("text:")
    }


async def show_step(turn: Turn, hint: str | None = None) -> None:
    """Show the step of the broadcast being written (again)."""
    step = turn.state.step
    lines = [hint, ""] if hint else []
    cancel = [turn.button(_("Cancel"), "x")]
    if step == "staff.segment":
        lines.append(_("New broadcast. Who should get it?"))
        buttons = [
            [turn.button(_segment_label(turn, c), f"seg:{c}")] for c in _segment_choices(turn)
        ]
        turn.say("\n".join(lines), [*buttons, cancel])
    elif step == "staff.platform":
        lines.append(_("Only people on one platform?"))
        platforms = await platforms_in_use(turn.tx)
        buttons = [[turn.button(_("All platforms"), "pf:")]]
        buttons += [[turn.button(p.capitalize(), f"pf:{p}")] for p in platforms]
        turn.say("\n".join(lines), [*buttons, cancel])
    elif step == "staff.language":
        lines.append(_("Only people who use one language?"))
        buttons = [[turn.button(_("All languages"), "lg:")]]
        buttons += [
            [turn.button(language_name(lang), f"lg:{lang}")] for lang in turn.offered_languages
        ]
        turn.say("\n".join(lines), [*buttons, cancel])
    elif step == "staff.text":
        lang = turn.state.broadcast.get("writing") or turn.campaign.default_language
        lines.append(_("Write the message in {language}.").format(language=language_name(lang)))
        if lang == turn.campaign.default_language:
            lines.append(_("People whose language has no version of its own get this text."))
        turn.replies.append(Outgoing(text="\n".join(lines), buttons=[cancel], expects_text=True))
    elif step == "staff.preview":
        await _show_preview(turn, hint)
    else:
        await show_staff_menu(turn)


async def _show_preview(turn: Turn, hint: str | None) -> None:
    """The message as each language will see it, and exactly who gets it."""
    default = turn.campaign.default_language
    try:
        segment = _segment(turn)
    except ValueError:
        turn.goto("staff.segment")
        await show_step(turn, _("That group no longer exists in the campaign."))
        return
    texts = _texts(turn)
    found = await members(turn.tx, turn.campaign, segment)
    by_language = Counter(m.language for m in found)
    shown: set[str] = set()
    for lang in sorted(set(by_language) | set(texts)) or [default]:
        text = text_for(texts, lang, default)
        if text not in shown:
            shown.add(text)
            # Several versions: each says which language it is (the label is not sent).
            turn.say(f"[{language_name(lang)}]\n{text}" if len(texts) > 1 else text)
    lines = [hint, ""] if hint else []
    lines.append(_("Preview: the message above is what they get."))
    who = [_segment_label(turn, turn.state.broadcast["segment"])]
    if segment.platform:
        who.append(segment.platform.capitalize())
    if segment.language:
        who.append(language_name(segment.language))
    lines.append(_("To: {who}").format(who=", ".join(who)))
    count = len(found)
    lines.append(ngettext("{count} recipient", "{count} recipients", count).format(count=count))
    for lang, n in sorted(by_language.items()):
        if lang in texts:
            lines.append(f"{language_name(lang)}: {n}")
        else:
            lines.append(
                _("{language}: {count}, in {default} (no version of its own)").format(
                    language=language_name(lang), count=n, default=language_name(default)
                )
            )
    buttons: list[list[Button]] = []
    if count:
        label = ngettext("Send it to {count} person", "Send it to {count} people", count)
        buttons.append([turn.button(label.format(count=count), "send")])
    else:
        lines.append(_("Nobody is in this group now; there is nobody to send it to."))
        buttons.append([turn.button(_("Choose another group"), "re")])
    for lang in turn.offered_languages:
        if lang not in texts:
            label = _("Add a version in {language}").format(language=language_name(lang))
            buttons.append([turn.button(label, f"tl:{lang}")])
    buttons.append([turn.button(_("Cancel"), "x")])
    turn.say("\n".join(lines), buttons)


async def on_button(turn: Turn, action: str, arg: str) -> None:
    """A press in one of the broadcast's steps."""
    if not await allowed(turn):
        return
    step = turn.state.step
    draft = turn.state.broadcast
    if action == "x":
        turn.goto("menu", broadcast={})
        turn.say(_("The broadcast is cancelled; nothing was sent."), [[_staff_button()]])
    elif action == "re":
        turn.goto("staff.segment", broadcast={})
        await show_step(turn)
    elif step == "staff.segment" and action == "seg" and arg in _segment_choices(turn):
        turn.goto("staff.platform", broadcast={"segment": arg})
        await show_step(turn)
    elif step == "staff.platform" and action == "pf":
        turn.goto("staff.language", broadcast={**draft, "platform": arg})
        await show_step(turn)
    elif step == "staff.language" and action == "lg" and arg in ("", *turn.offered_languages):
        default = turn.campaign.default_language
        turn.goto("staff.text", broadcast={**draft, "language": arg, "writing": default})
        await show_step(turn)
    elif step == "staff.preview" and action == "tl" and arg in turn.offered_languages:
        turn.goto("staff.text", broadcast={**draft, "writing": arg})
        await show_step(turn)
    elif step == "staff.preview" and action == "send":
        await _confirm(turn)
    else:
        await show_step(turn)


async def on_text(turn: Turn, text: str) -> None:
    """Something typed while writing a broadcast: the text, at the text step."""
    if not await allowed(turn):
        return
    if turn.state.step != "staff.text":
        await show_step(turn, _("Please use the buttons below."))
        return
    text = text.strip()
    if not text:
        await show_step(turn, _("Please write the message."))
        return
    if len(text) > BROADCAST_MAX:
        await show_step(
            turn,
            _(
                "That message is {length} characters long; a broadcast can have at most "
                "{limit}. Please shorten it and send it again."
            ).format(length=len(text), limit=BROADCAST_MAX),
        )
        return
    draft = dict(turn.state.broadcast)
    lang = draft.pop("writing", "") or turn.campaign.default_language
    draft[f"text:{lang}"] = text
    turn.goto("staff.preview", broadcast=draft)
    await show_step(turn)


async def _confirm(turn: Turn) -> None:
    """Write the broadcast to the outbox in this turn's transaction, one row per person."""
    try:
        segment = _segment(turn)
    except ValueError:
        turn.goto("staff.segment", broadcast={})
        await show_step(turn, _("That group no longer exists in the campaign."))
        return
    texts = _texts(turn)
    # Named like the command line's broadcast: the same one again reaches nobody twice.
    batch = batch_id(turn.state.broadcast["segment"], texts)
    before = sum((await batch_progress(turn.tx, batch)).values())
    total = await queue_broadcast(turn.tx, turn.campaign, segment, texts, batch, turn.now)
    await record_broadcast_request(turn.tx, batch, turn.participant.id, turn.lang, turn.now)
    turn.goto("menu", broadcast={})
    _say_queued(turn, batch, total - before, before)


def _say_queued(turn: Turn, batch: str, added: int, before: int) -> None:
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
    turn.say("\n".join(lines), [[progress_button(batch)], [_staff_button()]])


# -- reloading the campaign file -----------------------------------------------------------

FACT_NAMES = {
    "date": N_("date"),
    "time": N_("time"),
    "place": N_("place"),
    "link": N_("online link"),
}


async def reload_campaign(turn: Turn, reload: Reloader | None) -> None:
    """Read the campaign file again; say what changed and offer to tell registrants."""
    if not await allowed(turn):
        return
    turn.goto("menu", broadcast={})
    if reload is None:
        turn.say(_("This bot was started without a campaign file to reload."), [[_staff_button()]])
        return
    try:
        campaign, changes = reload()
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
            [[_staff_button()]],
        )
        return
    save_campaign_in_use(turn.tx, campaign.model_dump_json(), turn.now)
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
            buttons.append([global_button(label, f"nt:{meeting.id}")])
    buttons.append([_staff_button()])
    turn.say("\n".join(lines), buttons)


async def notify_registrants(turn: Turn, meeting_id: str) -> None:
    """Tell a meeting's registrants its current details, each in their language."""
    if not await allowed(turn):
        return
    meeting = turn.campaign.meeting(meeting_id)
    if meeting is None:
        turn.say(_("There is no such meeting."), [[_staff_button()]])
        return
    batch = update_batch(meeting)
    before = sum((await batch_progress(turn.tx, batch)).values())
    batch, total = await queue_meeting_update(turn.tx, turn.campaign, meeting, turn.now)
    await record_broadcast_request(turn.tx, batch, turn.participant.id, turn.lang, turn.now)
    _say_queued(turn, batch, total - before, before)
