"""The ``participation-bot`` command's arguments and its commands that serve no platform:
check-campaign, purge, export, broadcast, staff, reload... ``run`` and ``console`` are
handed to the ``serve`` function ``handlers.runtime`` gives (``bot/`` imports no handler)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.arguments import arguments
from bot.campaign import (
    Campaign,
    load_campaign,
    long_button_texts,
    missing_translations,
)
from bot.clock import Clock, SystemClock
from bot.database_clock import DatabaseTime, database_time, parse_now
from bot.errors import CampaignError, ClockRefused
from bot.registry import Campaigns, chosen_files, load_campaigns, shipped_campaign_files
from bot.settings import Settings
from storage.open import is_postgres_url, open_database

log = logging.getLogger("bot")


Serve = Callable[[argparse.Namespace, Settings, Campaigns, Clock, str], Coroutine[Any, Any, int]]
"""Runs ``run`` or ``console``: arguments, settings, campaigns, clock, database."""


def main(
    argv: list[str] | None = None, *, serve: Serve | None = None, wall: Clock | None = None
) -> int:
    """The ``participation-bot`` command (``handlers.runtime.main`` gives ``serve``).
    ``wall`` is the real time (tests give a clock of their own)."""
    from storage.errors import DatabaseUnavailable

    try:
        return _main(argv, serve, wall)
    except DatabaseUnavailable as exc:  # one line that says which and why, not a traceback
        print(f"participation-bot: {exc}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None, serve: Serve | None, wall: Clock | None) -> int:
    args = arguments().parse_args(argv)
    settings = Settings()
    serving = args.command == "run" and (
        settings.telegram_bot_token is not None
        or settings.slack_bot_token is not None
        or settings.slack_client_id is not None
    )
    # INFO for a bot serving platforms (what it listens on, what it sends); WARNING where a
    # person reads the terminal (the console chat, the other commands).
    level = settings.log_level or ("INFO" if serving else "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "check-campaign":
        return check_campaign(args.files)
    if args.command == "translation-template":
        from bot.translations import campaign_template

        print(campaign_template(load_campaign(args.campaign), args.language))
        return 0
    if args.command == "copy-database":
        source, target = args.database or settings.database_path, args.to or settings.database_url
        if not target or not is_postgres_url(target):
            print("participation-bot: copy-database needs --to postgresql://...", file=sys.stderr)
            return 2
        if is_postgres_url(source) or not Path(source).exists():
            print(
                f"participation-bot: no SQLite file at {source} (give --database)", file=sys.stderr
            )
            return 2
        return asyncio.run(_copy_database(source, target))
    try:
        campaigns = load_campaigns(
            chosen_files(args.campaign, settings.campaigns_dir, settings.campaign_file)
        )
        campaign = campaigns.get(args.consultation) if args.consultation else campaigns.default
        if campaign is None:
            print(
                f"participation-bot: no campaign '{args.consultation}' "
                f"(one of {', '.join(campaigns.by_id)})",
                file=sys.stderr,
            )
            return 2
        requested = parse_now(args.now, campaign) if args.now else None
    except CampaignError as exc:
        print(exc, file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"participation-bot: {exc}", file=sys.stderr)
        return 2
    database = args.database or settings.database_url or settings.database_path
    try:
        time = asyncio.run(_database_time(database, campaign, requested, wall or SystemClock()))
    except ClockRefused as exc:
        print(f"participation-bot: {exc}", file=sys.stderr)
        return 2
    if time.note and (time.changed or args.command in ("run", "console")):
        print(f"({time.note})", file=sys.stderr)
    clock = time.clock
    if args.command == "purge":
        return asyncio.run(_purge_once(campaigns, clock, database))
    if args.command == "export":
        return asyncio.run(_export(args, campaign, clock, database))
    if args.command == "staff":
        return asyncio.run(_staff(args, clock, database, campaigns))
    if args.command == "broadcast":
        return asyncio.run(_broadcast(args, campaign, clock, database))
    if args.command == "reload":
        from bot.reload_command import reload_command

        return asyncio.run(reload_command(args, campaigns, clock, database))
    if args.command == "broadcast-status":
        return asyncio.run(_broadcast_status(args.id, database))
    try:
        if serve is None:
            print("participation-bot: no platforms to serve here", file=sys.stderr)
            return 2
        return asyncio.run(_until_stopped(serve(args, settings, campaigns, clock, database)))
    except KeyboardInterrupt:
        return 0


async def _copy_database(source: str, target: str) -> int:
    """``copy-database``: the SQLite file into an empty PostgreSQL database, counted."""
    from storage.copy import copy_database
    from storage.database import SqliteDatabase
    from storage.errors import StorageError
    from storage.postgres import PostgresDatabase

    async with (
        await SqliteDatabase.open(source) as sqlite,
        await PostgresDatabase.open(target) as postgres,
    ):
        try:
            copied = await copy_database(sqlite, postgres)
        except StorageError as exc:
            print(f"participation-bot: nothing copied: {exc}", file=sys.stderr)
            return 1
    for table in copied:
        print(f"{table.table:24} {table.target_rows:>8} rows")
    total = sum(t.target_rows for t in copied)
    print(
        f"copied {total} rows in {len(copied)} tables; the counts match. "
        "Set DATABASE_URL to this database to use it."
    )
    return 0


async def _until_stopped(serving: Any) -> int:
    """Run until done, or until SIGTERM (a service manager stopping the bot): then finish
    what is being sent, close the database and remove the pid file, as for Ctrl-C."""
    task = asyncio.ensure_future(serving)
    loop = asyncio.get_running_loop()
    if hasattr(signal, "SIGTERM"):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return int(await task)
    except asyncio.CancelledError:
        log.info("stopped")
        return 0


def check_campaign(files: list[str]) -> int:
    """Validate each file and its languages, then the references between them (shared
    meetings, ids); print what is wrong; 0 when all is well. No file: the shipped set."""
    from bot.i18n import SOURCE_LANGUAGE
    from bot.translations import catalog_problems

    paths = [Path(f) for f in files] if files else shipped_campaign_files()
    failed = False
    for path in paths:
        try:
            campaign = load_campaign(path)
        except CampaignError as exc:
            failed = True
            print(exc, file=sys.stderr)
            continue
        name = path or "default campaign"
        problems = [f"{name}: {p}" for p in missing_translations(campaign)]
        problems += [f"{name}: {p}" for p in long_button_texts(campaign)]
        for lang in campaign.campaign.languages:
            if lang != SOURCE_LANGUAGE:
                problems += [str(p) for p in catalog_problems(lang)]
        if problems:
            failed = True
            print("\n".join(problems), file=sys.stderr)
            print(f"{name}: {len(problems)} translation problem(s)", file=sys.stderr)
            continue
        survey = campaign.survey
        shared = len(campaign.shared_meetings)
        print(
            f"{path}: ok ({len(campaign.meetings)} meetings, "
            + (f"{shared} shared, " if shared else "")
            + f"{len(survey.questions) if survey else 0} questions, "
            f"languages {', '.join(campaign.campaign.languages)})"
        )
    if not failed:  # the references between them (a file sharing a meeting of another)
        try:
            together = load_campaigns(paths)
        except CampaignError as exc:
            print(exc, file=sys.stderr)
            return 1
        if len(paths) > 1:
            print(
                f"together: ok ({len(together)} campaigns, default '{together.default_id}', "
                "shared meetings found)"
            )
    return 1 if failed else 0


async def _database_time(
    database: str, campaign: Campaign, requested: datetime | None, wall: Clock
) -> DatabaseTime:
    """The database's own clock (see ``bot.database_clock``)."""
    async with await open_database(database) as db:
        return await database_time(db, campaign, requested, wall)


async def _purge_once(campaigns: Campaigns, clock: Clock, database: str) -> int:
    from bot.privacy import purge, purge_governed_by, retention_passed

    # Several campaigns: everyone is erased once the last of their dates has passed.
    campaign = purge_governed_by(campaigns) or campaigns.default
    privacy = campaign.privacy
    if privacy is None or privacy.retention_until is None:
        print("the campaign sets no retention date: nothing to purge")
        return 0
    now = clock.now()
    why = retention_passed(campaign, now)
    if why is None:
        today = now.astimezone(campaign.tz).date()
        print(
            f"not yet: personal data is kept until {privacy.retention_until} "
            f"(by this database's clock it is {today})"
        )
        return 0
    async with await open_database(database) as db:
        erased = await db.transact(lambda tx: purge(tx, campaign, now, also=campaigns))
    print(f"erased the personal data of {_people(erased)}: {why}")
    return 0


async def _export(
    args: argparse.Namespace, campaign: Campaign, clock: Clock, database: str
) -> int:
    from pathlib import Path

    from bot.export import write_csv, write_html, write_xlsx
    from bot.results import build_results

    if args.language and args.language not in campaign.campaign.languages:
        languages = ", ".join(campaign.campaign.languages)
        print(
            f"participation-bot export: --language {args.language}: not one of the "
            f"campaign's languages ({languages})",
            file=sys.stderr,
        )
        return 2
    async with await open_database(database) as db:
        results = await build_results(
            db, campaign, clock.now(), lang=args.language, with_contacts=args.with_contacts
        )
    name = f"results-{campaign.id}" if campaign.several else "results"  # one per campaign
    default = {
        "xlsx": f"{name}.xlsx",
        "csv": f"{name}-csv",
        "html": f"{name}.html",
        "pdf": f"{name}.pdf",
    }
    output = Path(args.output or default[args.format])
    if args.format == "csv":
        written = write_csv(results, output)
        print(f"wrote {len(written)} files to {output}/")
    elif args.format == "xlsx":
        print(f"wrote {write_xlsx(results, output)}")
    elif args.format == "pdf":
        from bot.errors import ReportError
        from bot.report import write_pdf

        try:  # Chromium prints it: seconds, in a thread
            print(f"wrote {await asyncio.to_thread(write_pdf, results, output)}")
        except ReportError as exc:
            print(f"participation-bot export: {exc}", file=sys.stderr)
            return 1
    else:
        print(f"wrote {write_html(results, output)}")
    if not args.with_contacts:
        print("names and platform ids are left out (--with-contacts to include them)")
    return 0


async def _broadcast(
    args: argparse.Namespace, campaign: Campaign, clock: Clock, database: str
) -> int:
    import hashlib

    from bot import broadcast

    messages = {}
    for item in args.message:
        lang, sep, text = item.partition("=")
        if not sep or not text.strip():
            print(
                f"participation-bot broadcast: --message {item!r} is not LANG=TEXT",
                file=sys.stderr,
            )
            return 2
        messages[lang] = text.replace("\\n", "\n")
    unknown = sorted(set(messages) - set(campaign.campaign.languages))
    if unknown:
        languages = ", ".join(campaign.campaign.languages)
        print(
            f"participation-bot broadcast: --message {', '.join(unknown)}: not one of the "
            f"campaign's languages ({languages})",
            file=sys.stderr,
        )
        return 2
    try:
        segment = broadcast.Segment.parse(
            args.segment, campaign, platform=args.platform, language=args.only_language
        )
        async with await open_database(database) as db:
            plan = await broadcast.plan(db, campaign, segment, messages)
            languages = ", ".join(f"{k}: {v}" for k, v in sorted(plan.by_language.items()))
            print(f"{plan.recipients} recipient(s) ({languages or 'none'})")
            _preview(messages, plan.by_language, campaign.default_language)
            if not args.yes:
                print("nothing sent: run again with --yes to send it")
                return 0
            digest = hashlib.sha256(repr((args.segment, sorted(messages.items()))).encode())
            batch = f"broadcast:{args.id or digest.hexdigest()[:12]}"
            total = await broadcast.send(db, campaign, segment, messages, batch, clock.now())
    except ValueError as exc:
        print(f"participation-bot broadcast: {exc}", file=sys.stderr)
        return 2
    print(
        f"{batch}: {total} message(s) in the outbox; the running bot sends them "
        f"(participation-bot broadcast-status {batch})"
    )
    return 0


def _preview(messages: dict[str, str], recipients: dict[str, int], default: str) -> None:
    """Each language's text as given, with how many get it; then the recipients' languages
    without a text of their own, who get the default language's."""
    for lang in sorted(messages, key=lambda lang: (lang != default, lang)):
        print(f"--- {lang}: {_people(recipients.get(lang, 0))} ---\n{messages[lang]}")
    for lang in sorted(set(recipients) - set(messages)):
        print(f"--- {lang}: {_people(recipients[lang])}, who get the {default} text ---")


async def _broadcast_status(batch: str, database: str) -> int:
    from storage.outbox import batch_progress

    async with await open_database(database) as db:
        progress = await db.transact(lambda tx: batch_progress(tx, batch))
    if not progress:
        print(f"{batch}: no such broadcast or reminder")
        return 1
    order = ("sent", "pending", "sending", "failed", "unreachable", "in_doubt")
    print(f"{batch}: " + ", ".join(f"{s} {progress.get(s, 0)}" for s in order))
    return 0


def _people(count: int) -> str:
    return f"{count} person" if count == 1 else f"{count} people"


def parse_who(who: str) -> tuple[str, str, str]:
    """A person named on the command line (see ``bot.campaign.parse_person``)."""
    from bot.campaign import parse_person

    return parse_person(who)


async def _staff(
    args: argparse.Namespace, clock: Clock, database: str, campaigns: Campaigns
) -> int:
    from storage.staff import EVERY_CAMPAIGN, grant_staff, list_staff, revoke_staff

    scope = args.consultation or EVERY_CAMPAIGN
    async with await open_database(database) as db:
        if args.action == "list":
            granted = await db.transact(list_staff)
            for platform, workspace, user, of in granted:
                who = ":".join(p for p in (platform, workspace, user) if p)
                print(f"{who} ({of})" if of else who)
            for campaign in campaigns:
                for who in campaign.staff:
                    print(f"{who} (in the campaign file of {campaign.id})")
            if not granted and not any(c.staff for c in campaigns):
                print("no staff yet: participation-bot staff add telegram:<id> (or slack:...)")
            return 0
        if not args.who:
            print("participation-bot staff: say who", file=sys.stderr)
            return 2
        try:
            platform, workspace, user = parse_who(args.who)
        except ValueError as exc:
            print(f"participation-bot staff: {exc}", file=sys.stderr)
            return 2
        if args.action == "add":
            done = await db.transact(
                lambda tx: grant_staff(tx, platform, workspace, user, scope, clock.now())
            )
            where = f" of {scope}" if scope else ""
            print(f"{args.who} is staff{where}" + ("" if done else " (already)"))
        else:
            done = await db.transact(lambda tx: revoke_staff(tx, platform, workspace, user, scope))
            print(f"{args.who} is no longer staff" if done else f"{args.who} was not staff")
    return 0
