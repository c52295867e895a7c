"""The main menu, the consultation's description, help, and the choice of language."""

from __future__ import annotations

from bot import meetings, survey
from bot.campaign import Campaign, sign_up_open, survey_state
from bot.i18n import _, fmt_day_and_time, language_name, use_language
from bot.messages import Button
from bot.payloads import GlobalAction
from bot.turn import Turn, global_button


async def show_menu(turn: Turn, greeting: str | None = None) -> None:
    """The main menu. Leaves any sign-up in progress; the survey keeps its place. With
    several consultations, it says which one the person is in and offers the others."""
    turn.goto("menu", meeting=None, draft={}, editing=False, search=None)
    campaign = turn.campaign
    prompt = _("What would you like to do?")
    if turn.all_campaigns.several:
        title = turn.text(campaign.campaign.title)
        prompt = _("Consultation: {title}").format(title=title) + "\n\n" + prompt
    text = f"{greeting}\n\n{prompt}" if greeting else prompt
    rows: list[list[Button]] = [[global_button(_("About the consultation"), GlobalAction.ABOUT)]]
    if campaign.meetings:
        rows.append([global_button(_("Meetings and sign-up"), GlobalAction.MEETINGS)])
    if campaign.survey is not None and survey_state(campaign, turn.now) == "open":
        rows.append([global_button(await survey.progress_label(turn), GlobalAction.SURVEY)])
    rows.append([global_button(_("My registrations"), GlobalAction.MINE)])
    if turn.all_campaigns.several:
        rows.append([global_button(_("Other consultations"), GlobalAction.CONSULTATIONS)])
    rows.append(
        [
            global_button(_("Language"), GlobalAction.LANGUAGE),
            global_button(_("Help"), GlobalAction.HELP),
        ]
    )
    rows.append([global_button(_("Privacy and my data"), GlobalAction.PRIVACY)])
    turn.say(text, rows)


def open_consultations(turn: Turn) -> list[Campaign]:
    """The consultations a person can still take part in (survey or sign-up open), in
    order; all of them when none is open (the person can still read about them)."""
    found = [
        c
        for c in turn.all_campaigns
        if survey_state(c, turn.now) in ("open", "not_open")
        or any(sign_up_open(c, m, turn.now) for m in c.meetings)
    ]
    return found or list(turn.all_campaigns)


def consultation_buttons(turn: Turn, action: GlobalAction) -> list[list[Button]]:
    """One button per open consultation, in the person's language (its short title)."""
    return [
        [
            global_button(
                ("\u2713 " if c.id == turn.campaign.id else "")
                + c.text(c.campaign.short or c.campaign.title, turn.lang),
                action,
                c.id,
            )
        ]
        for c in open_consultations(turn)
    ]


async def show_consultations(turn: Turn) -> None:
    """The open consultations, each with its survey's deadline: pressing one goes into it."""
    turn.goto("menu")
    lines = [_("Open consultations. Choose one to read about it, sign up or give your input:")]
    for c in open_consultations(turn):
        lines += ["", c.text(c.campaign.title, turn.lang)]
        deadline = c.survey_deadline()
        if deadline is not None and survey_state(c, turn.now) == "open":
            when = fmt_day_and_time(deadline, c.tz)
            lines.append(_("- Survey: answer by {when}").format(when=when))
    rows = consultation_buttons(turn, GlobalAction.CONSULTATIONS)
    rows.append([global_button(_("Main menu"), GlobalAction.MENU)])
    turn.say("\n".join(lines), rows)


async def choose_consultation(turn: Turn, campaign_id: str) -> None:
    """Go into a consultation (its menu); without one, or an unknown one, the list."""
    target = turn.all_campaigns.get(campaign_id) if campaign_id else None
    if target is None:
        await show_consultations(turn)
        return
    turn.switch_campaign(target)
    await show_menu(turn)


def enter(turn: Turn, campaign_id: str) -> None:
    """Move the person into the campaign named (a button or link naming one); an unknown
    or empty id leaves them where they are."""
    target = turn.all_campaigns.get(campaign_id) if campaign_id else None
    if target is not None:
        turn.switch_campaign(target)


def welcome(turn: Turn) -> str:
    """The first thing a person reads (with several consultations, about them all: the
    menu below names the one they are in)."""
    campaign = turn.campaign
    if turn.all_campaigns.several:
        return _(
            "Hello! This is the chat of {organiser} about its consultations. Here you can "
            "read about each of them, sign up for meetings and give your input."
        ).format(organiser=turn.text(campaign.campaign.organiser))
    return _(
        "Hello! This is the chat about {title}, from {organiser}. Here you can read about "
        "the consultation, sign up for meetings and give your input."
    ).format(
        title=turn.text(campaign.campaign.title), organiser=turn.text(campaign.campaign.organiser)
    )


async def show_about(turn: Turn) -> None:
    """What the consultation is, its meetings and deadlines."""
    turn.goto("menu")
    campaign = turn.campaign
    info = campaign.campaign
    lines = [turn.text(info.title), turn.text(info.organiser), "", turn.text(info.summary)]
    if info.outcome is not None:
        lines += ["", turn.text(info.outcome)]
    lines += ["", _("Important dates:")]
    deadline = campaign.survey_deadline()
    if deadline is not None and turn.now < deadline:
        lines.append(
            _("- Survey: answer by {when}").format(when=fmt_day_and_time(deadline, campaign.tz))
        )
    elif deadline is not None:
        lines.append(
            _("- Survey: closed {when}").format(when=fmt_day_and_time(deadline, campaign.tz))
        )
    for meeting in campaign.meetings:
        lines.append(
            _("- {meeting}: {date}").format(
                meeting=turn.text(meeting.short) or turn.text(meeting.title),
                date=meetings.meeting_date(turn, meeting),
            )
        )
        if sign_up_open(campaign, meeting, turn.now):
            lines.append(
                "  "
                + _("sign up by {when}").format(
                    when=fmt_day_and_time(campaign.signup_deadline(meeting), campaign.tz)
                )
            )
    if info.more_info_url:
        lines += ["", _("More information: {url}").format(url=info.more_info_url)]
    if info.follow_url and info.follow_url != info.more_info_url:
        lines.append(_("Follow the process: {url}").format(url=info.follow_url))
    if info.contact is not None:
        lines += ["", turn.text(info.contact)]
    rows = (
        [[global_button(_("Meetings and sign-up"), GlobalAction.MEETINGS)]]
        if campaign.meetings
        else []
    )
    if campaign.survey is not None and survey_state(campaign, turn.now) == "open":
        rows.append([global_button(await survey.progress_label(turn), GlobalAction.SURVEY)])
    rows.append([global_button(_("Main menu"), GlobalAction.MENU)])
    turn.say("\n".join(lines), rows)


async def show_help(turn: Turn) -> None:
    """Help for wherever the person is; the step they were at is kept."""
    lines = [
        _("How this works:"),
        _("- Press the buttons, or type when I ask you to write something."),
        _("- Your answers are saved as you go. You can stop at any time and continue later."),
        _(
            "- Commands: /start main menu, /survey the survey, /meetings meetings, "
            "/mine my registrations, /language language, /help this help."
        ),
        _("- Your data: /privacy what we keep, /mydata a copy of it, /delete erase it."),
    ]
    rows: list[list[Button]] = []
    step = turn.state.step
    if step != "menu":
        lines.append("")
        if step.startswith("survey."):
            lines.append(_("You were answering the survey; your place is kept."))
        elif step.startswith("signup."):
            lines.append(_("You were signing up for a meeting; your place is kept."))
        else:
            lines.append(_("You were in the middle of something; your place is kept."))
        rows.append([global_button(_("Continue where I was"), GlobalAction.RESUME)])
    contact = turn.campaign.campaign.contact
    if contact is not None:
        lines += ["", turn.text(contact)]
    rows.append([global_button(_("Main menu"), GlobalAction.MENU)])
    turn.say("\n".join(lines), rows)


async def show_languages(turn: Turn) -> None:
    """The languages on offer, each named in itself."""
    rows = [
        [global_button(language_name(code), GlobalAction.LANGUAGE, code)]
        for code in turn.offered_languages
    ]
    rows.append([global_button(_("Main menu"), GlobalAction.MENU)])
    turn.say(_("Choose your language:"), rows)


async def set_language(turn: Turn, code: str) -> None:
    """Keep the person's choice of language; from now on it wins over the platform's hint."""
    if code not in turn.offered_languages:
        await show_languages(turn)
        return
    turn.participant.language = code
    turn.participant.language_chosen = True
    turn.participant_changed = True
    turn.lang = code
    with use_language(code):
        await show_menu(
            turn,
            greeting=_("Language changed to: {language}.").format(language=language_name(code)),
        )


async def show_home(turn: Turn) -> None:
    """Everything at a glance, for a platform's home page (Slack's App Home): the
    consultation, the meetings, the person's registrations with their links, the survey's
    deadline and a button to start or continue it. Built in a read-only turn: nothing is
    stored by looking."""
    campaign = turn.campaign
    info = campaign.campaign
    turn.say(
        "\n".join([turn.text(info.title), turn.text(info.organiser), "", turn.text(info.summary)])
    )
    if campaign.meetings:
        await meetings.show_meetings(turn)
        turn.replies[-1].buttons = turn.replies[-1].buttons[:-1]  # no "my registrations, menu"
    if await meetings.has_registrations(turn):
        await meetings.show_mine(turn)
        turn.replies[-1].buttons = turn.replies[-1].buttons[:-1]  # no "main menu" at home
    deadline = campaign.survey_deadline()
    if campaign.survey is not None and deadline is not None:
        if survey_state(campaign, turn.now) == "open":
            turn.say(
                _("- Survey: answer by {when}").format(
                    when=fmt_day_and_time(deadline, campaign.tz)
                ),
                [[global_button(await survey.progress_label(turn), GlobalAction.SURVEY)]],
            )
        else:
            turn.say(
                _("- Survey: closed {when}").format(when=fmt_day_and_time(deadline, campaign.tz))
            )
    if turn.all_campaigns.several:
        turn.say(
            _("Open consultations. Choose one to read about it, sign up or give your input:"),
            consultation_buttons(turn, GlobalAction.CONSULTATIONS),
        )
    turn.say(
        "",
        [
            [
                global_button(_("Language"), GlobalAction.LANGUAGE),
                global_button(_("Help"), GlobalAction.HELP),
            ],
            [global_button(_("Privacy and my data"), GlobalAction.PRIVACY)],
        ],
    )
