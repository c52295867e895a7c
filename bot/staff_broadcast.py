"""Staff writing a broadcast in the chat (steps ``staff.*``).

First who gets it (a segment), then narrowing by platform and language, the text in the
default language and any others, a preview with the exact number of recipients, and
confirming, which queues one outbox row per person in the turn's transaction. The draft lives
in ``ConversationState.broadcast``, so a restart in the middle of writing goes on where it
was. Every step checks the staff role again (``staff.allowed``).
"""

from __future__ import annotations

from collections import Counter

from bot.broadcast import Segment, batch_id, members, queue_broadcast, text_for
from bot.i18n import _, language_name, ngettext
from bot.messages import Button, Outgoing
from bot.payloads import BroadcastAction
from bot.staff import allowed, say_queued, show_staff_menu, staff_button, staff_everywhere
from bot.turn import Turn
from storage.outbox import batch_progress, record_broadcast_request
from storage.segments import platforms_in_use

BROADCAST_MAX = 4000
"""Characters a broadcast may have (Telegram allows 4096 in a message)."""


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
    if kind == "all":
        return _("Everyone, in every consultation")
    return _("Everyone")


async def _segment_choices(turn: Turn) -> list[str]:
    campaign = turn.campaign
    choices = []
    for meeting in campaign.meetings:
        choices += [f"registrants:{meeting.id}", f"waiting:{meeting.id}"]
    if campaign.survey is not None:
        choices.append("unfinished")
        if campaign.survey.follow_question:
            choices.append("followers")
    choices.append("everyone")
    if campaign.several and await staff_everywhere(turn):
        choices.append("all")  # only for staff of every campaign
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
    cancel = [turn.button(_("Cancel"), BroadcastAction.CANCEL)]
    if step == "staff.segment":
        lines.append(_("New broadcast. Who should get it?"))
        buttons = [
            [turn.button(_segment_label(turn, c), BroadcastAction.SEGMENT, c)]
            for c in await _segment_choices(turn)
        ]
        turn.say("\n".join(lines), [*buttons, cancel])
    elif step == "staff.platform":
        lines.append(_("Only people on one platform?"))
        platforms = await platforms_in_use(turn.tx)
        buttons = [[turn.button(_("All platforms"), BroadcastAction.PLATFORM, "")]]
        buttons += [[turn.button(p.capitalize(), BroadcastAction.PLATFORM, p)] for p in platforms]
        turn.say("\n".join(lines), [*buttons, cancel])
    elif step == "staff.language":
        lines.append(_("Only people who use one language?"))
        buttons = [[turn.button(_("All languages"), BroadcastAction.LANGUAGE, "")]]
        buttons += [
            [turn.button(language_name(lang), BroadcastAction.LANGUAGE, lang)]
            for lang in turn.offered_languages
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
        buttons.append([turn.button(label.format(count=count), BroadcastAction.SEND)])
    else:
        lines.append(_("Nobody is in this group now; there is nobody to send it to."))
        buttons.append([turn.button(_("Choose another group"), BroadcastAction.RESTART)])
    for lang in turn.offered_languages:
        if lang not in texts:
            label = _("Add a version in {language}").format(language=language_name(lang))
            buttons.append([turn.button(label, BroadcastAction.ADD_LANGUAGE, lang)])
    buttons.append([turn.button(_("Cancel"), BroadcastAction.CANCEL)])
    turn.say("\n".join(lines), buttons)


async def on_button(turn: Turn, action: str, arg: str) -> None:
    """A press in one of the broadcast's steps."""
    if not await allowed(turn):
        return
    step = turn.state.step
    draft = turn.state.broadcast
    if action == BroadcastAction.CANCEL:
        turn.goto("menu", broadcast={})
        turn.say(_("The broadcast is cancelled; nothing was sent."), [[staff_button()]])
    elif action == BroadcastAction.RESTART:
        turn.goto("staff.segment", broadcast={})
        await show_step(turn)
    elif (
        step == "staff.segment"
        and action == BroadcastAction.SEGMENT
        and arg in await _segment_choices(turn)
    ):
        turn.goto("staff.platform", broadcast={"segment": arg})
        await show_step(turn)
    elif step == "staff.platform" and action == BroadcastAction.PLATFORM:
        turn.goto("staff.language", broadcast={**draft, "platform": arg})
        await show_step(turn)
    elif (
        step == "staff.language"
        and action == BroadcastAction.LANGUAGE
        and arg in ("", *turn.offered_languages)
    ):
        default = turn.campaign.default_language
        turn.goto("staff.text", broadcast={**draft, "language": arg, "writing": default})
        await show_step(turn)
    elif (
        step == "staff.preview"
        and action == BroadcastAction.ADD_LANGUAGE
        and arg in turn.offered_languages
    ):
        turn.goto("staff.text", broadcast={**draft, "writing": arg})
        await show_step(turn)
    elif step == "staff.preview" and action == BroadcastAction.SEND:
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
    batch = turn.campaign.batch(batch_id(turn.state.broadcast["segment"], texts))
    before = sum((await batch_progress(turn.tx, batch)).values())
    total = await queue_broadcast(turn.tx, turn.campaign, segment, texts, batch, turn.now)
    await record_broadcast_request(turn.tx, batch, turn.participant.id, turn.lang, turn.now)
    turn.goto("menu", broadcast={})
    say_queued(turn, batch, total - before, before)
