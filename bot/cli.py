"""The `crisisdesk` command: facts, FAQ, rumours, tickets and the handoff queue.

Every subcommand has --help. Exit status: 0 done, 1 failed, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

from bot import alerts as early_warning
from bot import brands as brand_list
from bot import corrections, incidents, privacy_ops
from bot import report as post_crisis_report
from bot import rumours as rumour_queue
from bot.answers import Knowledge
from bot.config import PROJECT_ROOT, Settings, settings
from bot.facts import FileProblem, ImportReport, import_facts, import_faqs
from bot.privacy import mask
from bot.publishing import publish_fact, retire_fact
from bot.rasa_api import RasaClient, RasaUnavailable
from bot.store import NotFound, Store
from bot.training import intents as training_intents
from bot.training import models as training_models

DEMO_FACTS = PROJECT_ROOT / "data/facts/demo.csv"
DEMO_FAQ = PROJECT_ROOT / "data/facts/faq.csv"


def _store(args: argparse.Namespace) -> Store:
    return Store.open(args.db or settings().db_path)


def _table(rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    widths = {c: min(48, max(len(c), *(len(str(r.get(c) or "")) for r in rows))) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        cells = []
        for c in columns:
            text = " ".join(str(row.get(c) if row.get(c) is not None else "").split())
            cells.append(
                (text[: widths[c] - 1] + "…" if len(text) > widths[c] else text).ljust(widths[c])
            )
        print("  ".join(cells).rstrip())


def _report(kind: str, report: ImportReport) -> int:
    for line, problem in report.errors:
        print(f"line {line}: {problem}", file=sys.stderr)
    for line, warning in report.warnings:
        print(f"line {line}: warning: {warning}", file=sys.stderr)
    print(
        f"{kind}: {len(report.created)} new, {len(report.updated)} updated,"
        f" {len(report.errors)} rejected"
    )
    return 2 if report.errors else 0


# -- facts ---------------------------------------------------------------------


def facts_import(args: argparse.Namespace) -> int:
    """Imports facts from a CSV file; a published fact's changed answer is sent as a correction."""
    store = _store(args)
    code = _report(
        "facts", import_facts(store, Path(args.file), draft=args.draft, verified_by=args.by)
    )
    if not args.draft:
        done = corrections.queue_corrections(store, by=args.by)
        if done.queued or done.unreachable:
            print(
                f"{done.queued} follow-up message(s) queued;"
                f" {done.unreachable} asker(s) on channels the bot cannot write to"
            )
    return code


def facts_list(args: argparse.Namespace) -> int:
    """Lists facts."""
    rows = _store(args).list_facts(args.status)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        _table(rows, ["id", "status", "verdict", "topic", "claim_tr", "claim_en"])
    return 0


def _set_status(status: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        store = _store(args)
        if status != "published":
            fact = retire_fact(store, args.id, by=args.by)  # withdraws unsent corrections
            print(f"fact {fact['id']} is now {fact['status']}")
            return 0
        done = publish_fact(store, args.id, by=args.by)
        print(f"fact {done.fact['id']} is now {done.fact['status']}")
        if done.answered:
            print(
                f"{len(done.answered)} open rumour(s) now answered;"
                f" {done.askers} customer(s) to follow up"
            )
        if done.followups.queued or done.followups.unreachable:
            print(
                f"{done.followups.queued} follow-up message(s) queued;"
                f" {done.followups.unreachable} asker(s) on channels the bot cannot write to"
            )
        return 0

    run.__doc__ = f"Marks a fact {status}."
    return run


def facts_match(args: argparse.Namespace) -> int:
    """Prints the published fact a text is about, as one JSON object."""
    cfg = settings()
    knowledge = Knowledge(_store(args), cfg.match_threshold, cfg.match_margin)
    print(json.dumps(knowledge.match_fact(args.text).as_dict()))
    return 0


# -- FAQ, rumours, tickets -----------------------------------------------------------


def faq_import(args: argparse.Namespace) -> int:
    """Imports FAQ entries from a CSV file."""
    return _report("faq", import_faqs(_store(args), Path(args.file), draft=args.draft))


def faq_list(args: argparse.Namespace) -> int:
    """Lists published FAQ entries."""
    _table(_store(args).published_faqs(), ["id", "question_tr", "question_en"])
    return 0


def _suggestion_text(suggestions: Sequence[tuple]) -> str:
    return ", ".join(f"{fact_id} ({score:.2f})" for fact_id, score in suggestions)


def rumours_list(args: argparse.Namespace) -> int:
    """Lists rumour groups the bot could not answer, ranked by askers and growth."""
    groups = early_warning.rumour_ranking(_store(args), status=None if args.all else "open")
    if args.json:
        print(json.dumps(groups, ensure_ascii=False, indent=2))
        return 0
    shown = [
        {
            **group,
            "wordings": group["size"],
            "asks": group["ask_count"],
            "new": group["recent"],
            "example": group["text"],
            "suggestions": _suggestion_text(group["suggestions"]),
        }
        for group in groups
    ]
    columns = ["id", "status", "askers", "new", "growth", "wordings", "asks"]
    columns += ["first_seen", "last_seen"] + (["fact_id"] if args.all else [])
    _table(shown, columns + ["suggestions", "example"])
    return 0


def rumours_suggest(args: argparse.Namespace) -> int:
    """Lists open rumour groups with the facts suggested for them, for a person to decide."""
    groups = [g for g in _store(args).rumour_groups("open") if g["suggestions"]]
    if not groups:
        print("(none)")
        return 0
    for group in groups:
        print(
            f"rumour {group['id']}: {group['askers']} asker(s), {group['ask_count']} ask(s),"
            f" last {group['last_seen']}"
        )
        for wording in group["wordings"][:5]:
            print(f"  “{' '.join(wording.split())[:200]}”")
        for fact_id, score in group["suggestions"]:
            print(f"  suggested: {fact_id} (score {score:.2f})")
        rumour_id = group["id"]
        print(f"  crisisdesk rumours confirm {rumour_id} FACT | rumours reject {rumour_id} FACT")
    return 0


def rumours_confirm(args: argparse.Namespace) -> int:
    """Confirms that a fact answers a rumour group: its askers are told, its wordings kept."""
    store = _store(args)
    try:
        done = rumour_queue.confirm(store, args.id, args.fact, by=args.by)
    except ValueError as problem:
        print(str(problem), file=sys.stderr)
        return 2
    print(
        f"rumour {done.rumour_id} is answered by fact {done.fact_id};"
        f" {done.variants} wording(s) kept as variants of its claim"
    )
    print(
        f"{done.followups.queued} follow-up message(s) queued;"
        f" {done.followups.unreachable} asker(s) on channels the bot cannot write to"
    )
    return 0


def rumours_reject(args: argparse.Namespace) -> int:
    """Removes a suggested fact from a rumour group."""
    rumour_queue.reject(_store(args), args.id, args.fact, by=args.by)
    print(f"fact {args.fact} is no longer suggested for rumour {args.id}")
    return 0


# -- other brands ------------------------------------------------------------------


def brands_list(args: argparse.Namespace) -> int:
    """Lists our brand's names and the other brands the bot declines to speak for."""
    store = _store(args)
    known = brand_list.load(store)
    print(f"ours: {', '.join(known.ours)}")
    changes = {brand_list.fold_name(c["name"]): c for c in store.brand_changes()}
    rows = [
        {
            "name": name,
            "sector": sector,
            "origin": "added" if brand_list.fold_name(name) in changes else "seed",
        }
        for name, sector in known.others
    ]
    rows += [
        {"name": c["name"], "sector": c["sector"], "origin": "removed"}
        for c in changes.values()
        if c["status"] == "removed"
    ]
    _table(rows, ["name", "sector", "origin"])
    return 0


def brands_add(args: argparse.Namespace) -> int:
    """Adds another company's name: claims naming it (and not us) are declined."""
    store = _store(args)
    if brand_list.load(store).names_ours(args.name):
        print(f"{args.name!r} is one of our own names (BRAND_NAME, BRAND_ALIASES)", file=sys.stderr)
        return 2
    store.set_brand(args.name, "added", sector=args.sector, by=args.by)
    print(f"brand {' '.join(args.name.split())} added")
    return 0


def brands_remove(args: argparse.Namespace) -> int:
    """Removes a name from the other brands (an added one or one of the seed list)."""
    store = _store(args)
    key = brand_list.fold_name(" ".join(args.name.split()))
    found = [
        (name, sector)
        for name, sector in brand_list.load(store).others
        if brand_list.fold_name(name) == key
    ]
    if not found:
        print(f"{args.name!r} is not in the list of other brands", file=sys.stderr)
        return 2
    store.set_brand(found[0][0], "removed", sector=found[0][1], by=args.by)
    print(f"brand {' '.join(args.name.split())} removed")
    return 0


def tickets_list(args: argparse.Namespace) -> int:
    """Lists complaint tickets, newest first."""
    _table(
        _store(args).list_tickets(),
        ["number", "severity", "channel", "language", "created_at", "sender_id", "text"],
    )
    return 0


# -- handoffs ----------------------------------------------------------------------


def handoffs_list(args: argparse.Namespace) -> int:
    """Shows the handoff queue (waiting and assigned): highest priority, then oldest, first."""
    rows = _store(args).list_handoffs(None if args.all else "open")
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        _table(
            rows,
            [
                *("id", "status", "assigned_to", "priority", "language"),
                *("created_at", "sender_id", "reason"),
            ],
        )
    return 0


def handoffs_close(args: argparse.Namespace) -> int:
    """Closes a handoff and hands the conversation back to the bot."""
    store = _store(args)
    handoff = store.get_handoff(args.id)
    if handoff["status"] == "closed":
        print(f"handoff {args.id} was already closed")
        return 0
    cfg = settings()
    client = RasaClient(args.rasa_url or cfg.rasa_url, cfg.rasa_token)
    try:
        messages = client.resume(handoff["sender_id"])
    except RasaUnavailable as problem:
        print(f"handoff {args.id} stays open: {problem}", file=sys.stderr)
        return 1
    store.close_handoff(args.id, by=args.by)
    print(f"handoff {args.id} closed; the bot answers {handoff['sender_id']} again")
    for message in messages:
        if message.get("text"):
            print(f"  bot: {message['text']}")
    return 0


def channel_status(cfg: Settings) -> List[tuple[str, bool, str]]:
    """Each customer channel: its name, whether it is on, and where or why not."""
    missing = cfg.whatsapp_missing()
    telegram = (
        "long polling (TELEGRAM_MODE=polling)"
        if cfg.telegram_mode == "polling"
        else "/webhooks/telegram/webhook"
        + ("" if cfg.telegram_webhook_secret else " (TELEGRAM_WEBHOOK_SECRET empty: refuses all)")
    )
    return [
        ("rest", True, "/webhooks/rest/webhook"),
        (
            "whatsapp",
            not missing,
            f"{cfg.public_base_url}/webhooks/whatsapp/webhook (Twilio's incoming-message webhook)"
            if not missing
            else f"set {', '.join(missing)} in .env",
        ),
        (
            "telegram",
            bool(cfg.telegram_bot_token),
            telegram if cfg.telegram_bot_token else "set TELEGRAM_BOT_TOKEN in .env",
        ),
    ]


def channels(args: argparse.Namespace) -> int:
    """Shows which customer channels are on with the current settings."""
    for name, on, detail in channel_status(settings()):
        print(f"{name:<9} {'on ' if on else 'off'}  {detail}")
    return 0


def telegram_webhook(args: argparse.Namespace) -> int:
    """Points the Telegram bot's webhook at this server (Bot API setWebhook)."""
    # Imported here: the channel module loads Rasa, which only this command needs.
    from telegram.error import TelegramError

    from bot.channels.telegram import register_webhook

    cfg = settings()
    url = args.url or (
        f"{cfg.public_base_url}/webhooks/telegram/webhook" if cfg.public_base_url else ""
    )
    if not url:
        print("give --url or set PUBLIC_BASE_URL in .env", file=sys.stderr)
        return 2
    try:
        asyncio.run(register_webhook(cfg, url))
    except ValueError as problem:
        print(str(problem), file=sys.stderr)
        return 2
    except TelegramError as problem:
        print(f"Telegram refused the webhook: {problem}", file=sys.stderr)
        return 1
    print(f"Telegram now posts this bot's updates to {url}")
    return 0


# -- outbox ------------------------------------------------------------------------


def outbox_list(args: argparse.Namespace) -> int:
    """Lists messages to customers, oldest first; recipients masked unless --json."""
    rows = _store(args).list_outgoing(args.status, args.channel)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    shown = [
        {**row, "recipient": mask(row["recipient"]), "text": json.loads(row["payload"]).get("text")}
        for row in rows
    ]
    _table(
        shown,
        [
            "id",
            "channel",
            "status",
            "attempts",
            "delivery_status",
            "recipient",
            "last_error",
            "text",
        ],
    )
    return 0


def outbox_retry(args: argparse.Namespace) -> int:
    """Queues a failed message again; the running server sends it within seconds."""
    row = _store(args).retry_outgoing(args.id)
    if row["status"] != "pending":
        print(f"message {args.id} is {row['status']}, not failed: nothing to retry")
        return 2
    print(f"message {args.id} is queued again")
    return 0


def setup(args: argparse.Namespace) -> int:
    """Creates or migrates the database; with --demo, loads the demo content if empty."""
    store = Store.open(args.db or settings().db_path, migrate=False)
    applied = store.migrate()
    print(f"database {args.db or settings().db_path} ready ({len(applied)} migration(s) applied)")
    if store.count_users() == 0:
        _first_admin(store)
    if args.demo and not store.list_facts():
        code = _report("facts", import_facts(store, DEMO_FACTS, verified_by="demo"))
        code |= _report("faq", import_faqs(store, DEMO_FAQ))
        return code
    return 0


# -- desk users --------------------------------------------------------------------


def _first_admin(store: Store) -> None:
    """Creates the desk's first admin, `admin`, and prints its one-time password once."""
    from bot.desk.auth import hash_password, new_password

    password = new_password()
    store.create_user("admin", "admin", hash_password(password), must_change=True)
    store.audit("cli", "user.add", "user:admin", {"role": "admin", "first": True})
    print("desk: created the first admin. Sign in as 'admin' with this one-time password")
    print(f"      (shown only now; you choose your own at first sign-in):  {password}")


def users_add(args: argparse.Namespace) -> int:
    """Adds a desk user with a one-time password, printed once."""
    from bot.desk.auth import hash_password, new_password

    store = _store(args)
    password = new_password()
    try:
        user = store.create_user(args.name, args.role, hash_password(password), must_change=True)
    except ValueError as problem:
        print(str(problem), file=sys.stderr)
        return 2
    store.audit("cli", "user.add", f"user:{user['name']}", {"role": user["role"]})
    print(f"added {user['name']} ({user['role']}); one-time password (shown only now): {password}")
    return 0


def users_list(args: argparse.Namespace) -> int:
    """Lists desk users."""
    rows = [
        {**u, "state": "disabled" if u["disabled"] else "active"} for u in _store(args).list_users()
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        _table(rows, ["name", "role", "state", "created_at"])
    return 0


def users_disable(args: argparse.Namespace) -> int:
    """Disables a desk user and ends their sessions."""
    store = _store(args)
    user = store.find_user(args.name)
    if user is None:
        print(f"no user named {args.name!r}", file=sys.stderr)
        return 2
    if not user["disabled"]:
        store.set_user_disabled(user["id"], True)
        store.audit("cli", "user.disable", f"user:{user['name']}")
    print(f"{user['name']} is disabled; their desk sessions have ended")
    return 0


# -- parser ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="crisisdesk", description="crisisdesk: verified facts, complaints and handoffs."
    )
    parser.add_argument("--db", help="database file (default: CRISISDESK_DB or var/crisisdesk.db)")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)

    def command(
        sub: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    facts = groups.add_parser("facts", help="verified facts", description="Verified facts.")
    fsub = facts.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(
        fsub,
        "import",
        facts_import,
        "import facts from a CSV (id,topic,claim_tr,claim_en,verdict,answer_tr,answer_en,"
        "source_url; an old file's single `claim` column is read as claim_en);"
        " the same id again updates the fact",
    )
    p.add_argument("file")
    p.add_argument("--draft", action="store_true", help="import as drafts instead of published")
    p.add_argument("--by", default="import", help="who verified these facts")
    p = command(fsub, "list", facts_list, "list facts")
    p.add_argument("--status", choices=["draft", "published", "retired"])
    p.add_argument("--json", action="store_true", help="print JSON")
    for name, status in (("publish", "published"), ("retire", "retired")):
        p = command(fsub, name, _set_status(status), f"mark a fact {status}")
        p.add_argument("id")
        p.add_argument("--by", default="cli", help="who made the change")
    p = command(
        fsub,
        "match",
        facts_match,
        'print {"fact_id": ..., "score": ...} for the published fact a text is about',
    )
    p.add_argument("text")

    faq = groups.add_parser("faq", help="FAQ entries", description="FAQ entries.")
    qsub = faq.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(
        qsub,
        "import",
        faq_import,
        "import FAQ entries from a CSV (id,question_tr,question_en,answer_tr,answer_en,source_url)",
    )
    p.add_argument("file")
    p.add_argument("--draft", action="store_true", help="import as drafts")
    command(qsub, "list", faq_list, "list published FAQ entries")

    rumours = groups.add_parser(
        "rumours", help="claims the bot could not answer", description="Open rumours."
    )
    rsub = rumours.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(
        rsub,
        "list",
        rumours_list,
        "list open rumour groups (wordings with the same meaning), ranked by askers and"
        " growth (new: askers in the last hour; growth: that against the group's hourly"
        " rate before)",
    )
    p.add_argument("--all", action="store_true", help="include answered ones")
    p.add_argument("--json", action="store_true", help="print JSON")
    command(rsub, "suggest", rumours_suggest, "list open rumour groups with their suggested facts")
    p = command(
        rsub,
        "confirm",
        rumours_confirm,
        "confirm that a published fact answers a rumour group: its askers are told,"
        " its wordings become variants of the fact's claim",
    )
    p.add_argument("id", type=int)
    p.add_argument("fact")
    p.add_argument("--by", default="cli", help="who confirmed it")
    p = command(rsub, "reject", rumours_reject, "remove a suggested fact from a rumour group")
    p.add_argument("id", type=int)
    p.add_argument("fact")
    p.add_argument("--by", default="cli", help="who rejected it")

    brands = groups.add_parser(
        "brands",
        help="other companies the bot does not speak for",
        description="Other brands: claims naming one of them and not us are declined.",
    )
    bsub = brands.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(bsub, "list", brands_list, "list our names and the other brands")
    p = command(bsub, "add", brands_add, "add another company's name")
    p.add_argument("name")
    p.add_argument("--sector", help="e.g. dairy, retail, airlines")
    p.add_argument("--by", default="cli", help="who added it")
    p = command(bsub, "remove", brands_remove, "remove a name from the other brands")
    p.add_argument("name")
    p.add_argument("--by", default="cli", help="who removed it")

    tickets = groups.add_parser(
        "tickets", help="complaint tickets", description="Complaint tickets."
    )
    tsub = tickets.add_subparsers(dest="action", metavar="ACTION", required=True)
    command(tsub, "list", tickets_list, "list tickets, newest first")

    handoffs = groups.add_parser(
        "handoffs", help="conversations waiting for a person", description="The handoff queue."
    )
    hsub = handoffs.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(
        hsub, "list", handoffs_list, "show the queue (open handoffs, highest priority first)"
    )
    p.add_argument("--all", action="store_true", help="include closed ones")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(
        hsub, "close", handoffs_close, "close a handoff and resume the bot in that conversation"
    )
    p.add_argument("id", type=int)
    p.add_argument("--by", default="cli", help="who closed it")
    p.add_argument("--rasa-url", help="Rasa server (default: RASA_URL)")

    command(groups, "channels", channels, "show which customer channels are on (from .env)")

    telegram = groups.add_parser(
        "telegram", help="the Telegram bot", description="The Telegram bot."
    )
    gsub = telegram.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(
        gsub,
        "webhook",
        telegram_webhook,
        "point the bot's webhook at this server, with TELEGRAM_WEBHOOK_SECRET (setWebhook)",
    )
    p.add_argument(
        "--url", help="the public webhook URL (default: PUBLIC_BASE_URL/webhooks/telegram/webhook)"
    )

    outbox = groups.add_parser(
        "outbox",
        help="messages to customers (sent, waiting, failed)",
        description="The outbox: every message to a customer, written before it is sent.",
    )
    osub = outbox.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(osub, "list", outbox_list, "list messages to customers, oldest first")
    p.add_argument("--status", choices=["pending", "sent", "failed"])
    p.add_argument("--channel", help="only this channel (whatsapp, telegram)")
    p.add_argument("--json", action="store_true", help="print JSON (recipients unmasked)")
    p = command(osub, "retry", outbox_retry, "queue a failed message again (sent within seconds)")
    p.add_argument("id", type=int)

    users = groups.add_parser(
        "users", help="desk users", description="People who sign in to the desk."
    )
    usub = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(usub, "add", users_add, "add a user (prints a one-time password once)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["agent", "editor", "trainer", "admin"])
    p = command(usub, "list", users_list, "list users")
    p.add_argument("--json", action="store_true")
    p = command(usub, "disable", users_disable, "disable a user (ends their sessions)")
    p.add_argument("name")

    p = command(groups, "setup", setup, "create or migrate the database")
    p.add_argument(
        "--demo", action="store_true", help="load the demo facts and FAQ into an empty database"
    )
    training_intents.add_commands(groups, command)
    training_models.add_commands(groups, command)
    post_crisis_report.add_commands(groups, command)
    early_warning.add_commands(groups, command)
    privacy_ops.add_commands(groups, command)
    incidents.add_commands(groups, command)
    corrections.add_commands(groups, command)  # after incidents: adds `incidents broadcast`
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except NotFound as problem:
        print(str(problem.args[0]), file=sys.stderr)
        return 2
    except FileProblem as problem:
        print(str(problem), file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        return 0


if __name__ == "__main__":
    sys.exit(main())
