"""Forgetting a customer everywhere, and deleting old message texts (retention).

`forget_customer` erases one customer (a conversation id such as
`whatsapp:+905551112233` or `telegram:123`):

- the store: every row with their id, and their words where other rows quote
  them (bot/store/privacy.py, `CUSTOMER_DATA`), in one transaction;
- Rasa's SQL tracker store and SQL event broker: every event of their
  conversation (bot/store/rasa_data.py); the outbox is a store table;
- training examples made of their messages: the data/nlu lines their inbox
  examples added (and the examples of a new intent they proposed, in data/nlu and
  heldout/nlu), removed and committed as a training change by the admin who
  forgets (`forget_examples`); older commits of the project's git history still
  hold those lines;
- the audit log records that a forget happened, by whom, with the masked id and
  the counts, never the id itself.

`run_retention` blanks the message texts older than `CRISISDESK_RETENTION_DAYS`
in the store and in Rasa's two databases; rows, intents and times stay, so the
reports' counts stay. The desk runs it every `RETENTION_SWEEP_SECONDS`
(`retention_task`, started by bot/desk/lifespan.py); `crisisdesk retention run
[--dry-run]` runs it once. Both read crisisdesk's clock (bot/clock.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import yaml

from bot import clock
from bot.periodic import Periodic
from bot.privacy import display_sender
from bot.store.rasa_data import RasaData

# How often the desk runs retention (an hour: the period is counted in days).
RETENTION_SWEEP_SECONDS = 3600.0
FORGET_ACTION = "forget_examples"
MAX_CUSTOMER_CHARS = 200


class Refused(ValueError):
    """A forget that cannot be done; the message says why."""


def rasa_databases(endpoints: Path | None = None) -> Tuple[Path | None, Path | None]:
    """The SQLite files of the SQL tracker store and SQL event broker in endpoints.yml.

    None for one that is not SQL on SQLite. Relative paths are the project's
    (where `make run` starts Rasa).
    """
    from bot.config import PROJECT_ROOT

    path = endpoints or PROJECT_ROOT / "endpoints.yml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None, None
    found: List[Path | None] = []
    for key in ("tracker_store", "event_broker"):
        section = config.get(key) or {}
        if str(section.get("type", "")).lower() != "sql" or section.get("dialect") != "sqlite":
            found.append(None)
            continue
        db = Path(str(section.get("db") or ""))
        found.append(db if db.is_absolute() else PROJECT_ROOT / db)
    return found[0], found[1]


# -- forget ----------------------------------------------------------------------------


def _example_lines(store: Any, customer: str) -> Tuple[Dict[str, List[str]], List[str]]:
    """Project-relative NLU file -> the example lines made of the customer's messages,
    and the intents they are examples of."""
    lines: Dict[str, List[str]] = {}
    intents: Dict[str, None] = {}
    for path, text, intent in store.customer_examples(customer):
        lines.setdefault(path, []).append(text)
        intents[intent] = None
    # a new intent proposed from their messages may have been added with `intents add`
    for intent, text in store.customer_proposals(customer):
        for folder in ("data/nlu", "heldout/nlu"):
            lines.setdefault(f"{folder}/{intent}.yml", []).append(text)
        intents[intent] = None
    return lines, list(intents)


def quoted_forms(words: List[str]) -> List[str]:
    """The customer's words as they are, and as other tables keep them scrubbed.

    Alerts keep `bot.privacy.scrub`'s form of a message and training data
    `bot/training/scrub.py`'s, so those forms are looked for too.
    """
    from bot.privacy import scrub as log_scrub
    from bot.training.scrub import scrub as training_scrub

    found: Dict[str, None] = {}
    for word in words:
        for form in (word, log_scrub(word), training_scrub(word)[0]):
            if form and form.strip():
                found[form.strip()] = None
    return list(found)


def remove_examples(text: str, examples: List[str]) -> Tuple[str, int]:
    """An NLU file's text without one `    - EXAMPLE` line per example; (text, lines removed).

    A block left without examples is removed too.
    """
    lines = text.splitlines()
    removed = 0
    for example in examples:
        target = f"    - {example}"
        if target in lines:
            lines.remove(target)
            removed += 1
    starts = [i for i, line in enumerate(lines) if line.startswith("- ")]
    empty: List[Tuple[int, int]] = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        block = lines[start:end]
        if block[0].startswith("- intent:") and not any(b.startswith("    - ") for b in block):
            empty.append((start, end))
    for start, end in reversed(empty):
        del lines[start:end]
    return "\n".join(lines) + "\n", removed


def forget_customer(
    store: Any,
    customer: str,
    *,
    by: str,
    tracker_db: Path | None,
    broker_db: Path | None,
    root: Path | None,
    dry_run: bool = False,
) -> Dict[str, int]:
    """Erases one customer everywhere; returns {where: rows or lines removed}.

    `where` is "store TABLE", "tracker store", "event broker" or a project file.

    Raises:
        Refused: no such admin, a bad customer id, or a training file to change
            has uncommitted changes (the commit would carry them).
    """
    from bot.training import changes

    customer = (customer or "").strip()
    if not customer or len(customer) > MAX_CUSTOMER_CHARS or any(c.isspace() for c in customer):
        raise Refused("the customer is a conversation id, e.g. whatsapp:+905551112233")
    admin = store.find_user(by or "")
    if admin is None or admin["role"] != "admin" or admin["disabled"]:
        raise Refused(f"only an enabled admin of the desk's users may forget (got {by!r})")
    tracker, broker = RasaData(tracker_db), RasaData(broker_db)
    words = [*store.customer_words(customer), *tracker.words(customer), *broker.words(customer)]
    # a table without their id may still quote it (a frozen report's data)
    words = [*quoted_forms(words), customer, customer.rpartition(":")[2]]
    plan, intents = _example_lines(store, customer) if root is not None else ({}, [])
    edits: Dict[str, Tuple[str, int]] = {}
    for relative, examples in plan.items():
        path = Path(root) / relative  # type: ignore[arg-type]
        if not path.is_file():
            continue
        new, count = remove_examples(path.read_text("utf-8"), examples)
        if count:
            parsed = yaml.safe_load(new)
            if not isinstance(parsed, dict):
                raise Refused(f"{relative} would not parse without the customer's examples")
            edits[relative] = (new, count)
    if edits and not dry_run:
        dirty = changes.dirty_problems(Path(root), sorted(edits))  # type: ignore[arg-type]
        if dirty:
            raise Refused("; ".join(dirty))
    removed: Dict[str, int] = {}
    if edits:
        # the files first: a forget that fails later is run again and finds the rest
        removed.update({relative: count for relative, (_new, count) in edits.items()})
        if not dry_run:
            for relative, (new, _count) in edits.items():
                (Path(root) / relative).write_text(new, encoding="utf-8")  # type: ignore[arg-type]
            files = sorted(edits)
            changes.record(
                Path(root),  # type: ignore[arg-type]
                store,
                author=admin["name"],
                action=FORGET_ACTION,
                intent=",".join(sorted(intents)),
                files=files,
                message=f"Forget: {sum(c for _, c in edits.values())} example(s) of a"
                f" customer removed (crisisdesk forget), by {admin['name']}",
            )
            removed["training change"] = 1
    for table, count in store.forget_customer(customer, words, dry_run).items():
        removed[f"store {table}"] = count
    for label, data in (("tracker store", tracker), ("event broker", broker)):
        count = data.forget(customer, dry_run)
        if count:
            removed[label] = count
    if dry_run:
        return removed
    store.audit(
        admin["name"],
        "privacy.forget",
        f"customer:{display_sender(customer, None)}",
        {"removed": removed},
    )
    return removed


# -- retention ---------------------------------------------------------------------------


def run_retention(
    store: Any,
    days: float,
    *,
    tracker_db: Path | None,
    broker_db: Path | None,
    at: datetime | None = None,
    dry_run: bool = False,
) -> Dict[str, int]:
    """Blanks message texts older than `days` before `at` (crisisdesk's clock by default).

    Returns {where: rows or events blanked}; nothing happens when `days` is 0 or less.
    """
    if days <= 0:
        return {}
    before = (at or clock.now()) - timedelta(days=days)
    stamp = before.astimezone(timezone.utc).isoformat(timespec="seconds")
    done = {f"store {t}": n for t, n in store.expire_texts(stamp, dry_run).items()}
    for name, label, path in (
        ("tracker", "tracker store", tracker_db),
        ("broker", "event broker", broker_db),
    ):
        count, last = RasaData(path).expire(before.timestamp(), store.privacy_cursor(name), dry_run)
        if not dry_run:
            store.set_privacy_cursor(name, last)
        if count:
            done[label] = count
    return done


def retention_task(
    db_path: Path,
    days: float,
    tracker_db: Path | None,
    broker_db: Path | None,
    now: Callable[[], datetime] = clock.now,
    interval: float = RETENTION_SWEEP_SECONDS,
) -> Periodic | None:
    """The desk's background retention (None when retention is off)."""
    if days <= 0:
        return None

    def once() -> Dict[str, int]:
        from bot.store import Store

        opened = Store.open(db_path, migrate=False)
        try:
            return run_retention(opened, days, tracker_db=tracker_db, broker_db=broker_db, at=now())
        finally:
            opened.close()

    async def work() -> None:
        done = await asyncio.to_thread(once)
        if done:
            import logging

            logging.getLogger(__name__).info("retention: texts blanked %s", done)

    return Periodic("crisisdesk-retention", work, interval)  # first round after `interval`


# -- command line ------------------------------------------------------------------------


def _print(removed: Dict[str, int], verb: str) -> None:
    if not removed:
        print(f"nothing {verb}")
        return
    width = max(len(k) for k in removed)
    for where, count in removed.items():
        print(f"{where.ljust(width)}  {count}")


def _open(args: argparse.Namespace) -> Any:
    from bot.config import settings
    from bot.store import Store

    return Store.open(args.db or settings().db_path)


def _databases(args: argparse.Namespace) -> Tuple[Path | None, Path | None]:
    tracker, broker = rasa_databases()
    if getattr(args, "tracker_db", None):
        tracker = Path(args.tracker_db)
    if getattr(args, "broker_db", None):
        broker = Path(args.broker_db)
    return tracker, broker


def cli_forget(args: argparse.Namespace) -> int:
    """`crisisdesk forget CUSTOMER --as ADMIN [--dry-run]`."""
    from bot.training.intents import project_root

    if not args.as_:
        print("say who forgets: --as ADMIN (an admin of the desk's users)", file=sys.stderr)
        return 2
    store = _open(args)
    tracker, broker = _databases(args)
    root = Path(args.project) if args.project else project_root()
    try:
        removed = forget_customer(
            store,
            args.customer,
            by=args.as_,
            tracker_db=tracker,
            broker_db=broker,
            root=root,
            dry_run=args.dry_run,
        )
    except Refused as problem:
        print(str(problem), file=sys.stderr)
        return 2
    finally:
        store.close()
    who = display_sender(args.customer, "admin")
    print(("would remove" if args.dry_run else "removed") + f" for {who}:")
    _print(removed, "found")
    if not removed and ":" not in args.customer:
        print("conversation ids name their channel: whatsapp:+905551112233, telegram:123")
    return 0


def cli_retention_run(args: argparse.Namespace) -> int:
    """`crisisdesk retention run [--dry-run]`."""
    from bot.config import settings

    days = settings().retention_days if args.days is None else args.days
    if days <= 0:
        print("retention is off (CRISISDESK_RETENTION_DAYS is 0)")
        return 0
    store = _open(args)
    tracker, broker = _databases(args)
    try:
        done = run_retention(
            store, days, tracker_db=tracker, broker_db=broker, dry_run=args.dry_run
        )
    finally:
        store.close()
    print(
        ("would blank" if args.dry_run else "blanked") + f" message texts older than {days:g} days:"
    )
    _print(done, "to blank")
    return 0


def add_commands(groups: Any, command: Callable[..., Any]) -> None:
    """Adds `forget` and `retention run` to the crisisdesk command line."""
    rasa_help = "Rasa's SQL {} file (default: from endpoints.yml)"
    p = command(
        groups,
        "forget",
        cli_forget,
        "erase one customer everywhere (store, outbox, Rasa's tracker store and event"
        " broker, training examples made of their messages) and print what was removed",
    )
    p.add_argument("customer", help="the conversation id, e.g. whatsapp:+905551112233")
    p.add_argument("--as", dest="as_", metavar="ADMIN", help="the admin who forgets (a desk user)")
    p.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    p.add_argument("--project", help="project folder (default: $CRISISDESK_PROJECT or this one)")
    p.add_argument("--tracker-db", help=rasa_help.format("tracker store"))
    p.add_argument("--broker-db", help=rasa_help.format("event broker"))
    group = groups.add_parser(
        "retention",
        help="delete message texts older than CRISISDESK_RETENTION_DAYS",
        description="Retention: message texts older than the period are blanked in the"
        " store and in Rasa's databases; counts stay.",
    )
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = command(sub, "run", cli_retention_run, "blank old message texts now and print counts")
    p.add_argument("--dry-run", action="store_true", help="only count what would be blanked")
    p.add_argument("--days", type=float, help="the period (default: CRISISDESK_RETENTION_DAYS)")
    p.add_argument("--tracker-db", help=rasa_help.format("tracker store"))
    p.add_argument("--broker-db", help=rasa_help.format("event broker"))
