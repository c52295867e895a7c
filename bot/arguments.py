"""The ``participation-bot`` command's arguments: every command and its options."""

from __future__ import annotations

import argparse

__all__ = ["arguments"]


def arguments() -> argparse.ArgumentParser:
    """The parser of every command and its options."""
    parser = argparse.ArgumentParser(
        prog="participation-bot",
        description="A chat bot for public consultations: meetings, sign-up and surveys.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--campaign",
            action="append",
            help="campaign TOML file; give it more than once for several campaigns, the first "
            "the default (default: CAMPAIGNS_DIR, CAMPAIGN_FILE, or the shipped Viken 2021 set)",
        )
        p.add_argument(
            "--consultation",
            metavar="ID",
            help="the campaign (by its id) a command is about: export, broadcast, reload, "
            "purge, staff (default: the default campaign; staff: every campaign)",
        )
        p.add_argument(
            "--database", help="SQLite file (default: DATABASE_URL, else DATABASE_PATH)"
        )
        p.add_argument(
            "--now",
            help="pretend it is this time (ISO, campaign time zone unless an offset is given) "
            "and let the clock run from there; for trying a campaign whose dates are past",
        )

    run = sub.add_parser("run", help="serve every platform with a token; console if none")
    common(run)
    run.add_argument("--user", help="console only: who you are (default: your login name)")
    console = sub.add_parser("console", help="chat with the bot in this terminal")
    common(console)
    console.add_argument("--user", help="who you are (default: your login name)")
    console.add_argument(
        "--language", help="your language hint, e.g. en (default: the campaign's default language)"
    )
    check = sub.add_parser(
        "check-campaign",
        help="validate campaign files and every language's texts; exit 1 on any problem",
    )
    check.add_argument("files", nargs="*", help="campaign files (default: the shipped one)")
    purge = sub.add_parser(
        "purge", help="erase personal data if the campaign's retention date has passed"
    )
    common(purge)
    export = sub.add_parser("export", help="write the results for a report")
    common(export)
    export.add_argument("--format", choices=["xlsx", "csv", "html", "pdf"], default="xlsx")
    export.add_argument("--output", help="file (xlsx, html, pdf) or folder (csv) to write")
    export.add_argument(
        "--language",
        help="language of the texts, sheet names and headers (default: the campaign's default)",
    )
    export.add_argument(
        "--with-contacts", action="store_true", help="include names and platform ids"
    )
    broadcast = sub.add_parser(
        "broadcast", help="send a message to a segment (shows the recipients until --yes)"
    )
    common(broadcast)
    broadcast.add_argument(
        "--segment",
        required=True,
        help="registrants:<meeting>, waiting:<meeting>, unfinished, followers or everyone",
    )
    broadcast.add_argument(
        "--message",
        action="append",
        required=True,
        metavar="LANG=TEXT",
        help="the text in one language (repeat per language; the default one is required)",
    )
    broadcast.add_argument("--platform", help="only people on this platform")
    broadcast.add_argument("--only-language", help="only people who speak this language")
    broadcast.add_argument(
        "--id",
        help="a name for the broadcast (sending it again adds "
        "nobody twice); default: from its texts and segment",
    )
    broadcast.add_argument("--yes", action="store_true", help="send it (else only show)")
    reload = sub.add_parser(
        "reload",
        help="check the campaign file, say what it changes and have the running bot use it",
    )
    common(reload)
    reload.add_argument(
        "--notify",
        action="store_true",
        help="also tell the registered people of each changed meeting its new details",
    )
    status = sub.add_parser("broadcast-status", help="how far a broadcast or reminder got")
    common(status)
    status.add_argument("id", help="the broadcast's id, or reminder:<id>")
    staff = sub.add_parser("staff", help="grant, list or remove the staff role")
    common(staff)
    staff.add_argument("action", choices=["add", "list", "remove"])
    staff.add_argument(
        "who", nargs="?", help="telegram:<user id>, slack:<team>:<user> or console:<name>"
    )
    copy = sub.add_parser(
        "copy-database",
        help="copy the SQLite database into an empty PostgreSQL one (stop the bot first)",
    )
    copy.add_argument("--database", help="the SQLite file to copy (default: DATABASE_PATH)")
    copy.add_argument(
        "--to", help="postgresql://... URL of an empty database (default: DATABASE_URL)"
    )
    template = sub.add_parser(
        "translation-template",
        help="print the file a translator fills in for a campaign's strings in a language",
    )
    template.add_argument("language", help="language code, e.g. nn, se, pl")
    template.add_argument("--campaign", help="campaign file (default: the shipped one)")
    return parser
