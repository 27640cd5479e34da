"""Trainers' review inbox: the customer messages the bot may have misread, made into examples.

For the roles trainer and admin (bot/training/inbox.py does the work):

- `/training/inbox` brings the inbox up to date (`Collector.collect`: unsure
  messages from Rasa's SQL event broker, agents' "bot misunderstood" marks, "no"
  to "was this helpful?") and lists the new items, grouped by meaning
  (`group_items`, the sentence encoder): each with its scrubbed text, predicted
  intent and confidence, runner-up, language, channel, why it is there and a link
  to its conversation. `?source=unsure|misunderstood|unhelpful` shows one source.
- One form holds the page. Each item has its own buttons: confirm the
  prediction, assign an existing intent, propose a new intent, discard. Ticking
  several items (a group's "select all" ticks its members) and one of the bulk
  buttons resolves them at once. `/training/inbox/resolve` calls
  `bot.training.inbox.resolve` in a worker thread with its own store connection;
  a refusal (an example another intent has or nearly has, a file with
  uncommitted changes, a bad intent name) is shown naming the example, and the
  refused items stay in the inbox. Every resolution is written to the audit log.
- `/training/inbox/{id}/conversation`: the item's conversation as Rasa's event
  broker has it, every message scrubbed like the item, the item's own marked.
  Trainers do not get the agents' conversation view (which shows the customer's
  number and lets one reply).
- `/training/inbox/proposed/{name}`: a proposed new intent's examples as the
  YAML file `crisisdesk intents add NAME --examples FILE` reads.

The training data written is the project folder's: `app.state.project` when set
(tests), else `CRISISDESK_PROJECT`, else this checkout. The event broker read is
the desk's live feed's (`app.state.live`), else the SQL broker of endpoints.yml.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from bot.desk.auth import TRAINERS, current_user, route
from bot.desk.live import broker_db_from_endpoints
from bot.desk.queue import CHANNEL_NAMES
from bot.desk.web import audit, render, store
from bot.language import LANGUAGE_NAMES
from bot.privacy import mask
from bot.store import NotFound, Store
from bot.store.inbox import INBOX_SOURCES
from bot.training import inbox as review
from bot.training.intents import NAME, project_root
from bot.training.scrub import scrub

logger = logging.getLogger(__name__)

SHOWN = 200  # new items on the page (newest first); the count says how many in all
CONVERSATION_EVENTS = 400  # the last events of a conversation shown around an item
MAX_IDS = 500  # items one bulk resolution takes
REFUSALS_SHOWN = 10  # refusals named after a resolution (the rest are counted)
ACTIONS = ("confirm", "assign", "new", "discard")
SOURCE_LABELS = {
    "unsure": "bot unsure",
    "misunderstood": "agent: bot misunderstood",
    "unhelpful": "customer: not helpful",
}
# One collection at a time per desk process (two trainers opening the page at once
# would otherwise both read the same new events).
_collecting = threading.Lock()


def project(app: Any) -> Path:
    """The project folder whose training data trainers change."""
    return Path(getattr(app.state, "project", None) or project_root())


def broker_db(app: Any) -> Path | None:
    """Rasa's SQL event broker file (None when Rasa uses another broker)."""
    feed = getattr(app.state, "live", None)
    if feed is not None:
        return feed.broker_db
    return broker_db_from_endpoints()


def _config(root: Path) -> Path | None:
    path = root / "config.yml"
    return path if path.is_file() else None


def _with_store(path: Path, work: Any, *args: Any) -> Any:
    """Runs `work(store, *args)` on a plain Store of its own (a worker thread's)."""
    opened = Store.open(path, migrate=False)
    try:
        return work(opened, *args)
    finally:
        opened.close()


def collect(opened: Store, broker: Path | None, config: Path | None) -> int:
    """Brings the inbox up to date; returns how many items were added."""
    with _collecting:
        collector = review.Collector(opened, broker, config)
        try:
            return collector.collect()
        finally:
            collector.close()


def shown(item: Mapping[str, Any]) -> Dict[str, Any]:
    """An inbox item as the page shows it."""

    def percent(value: Any) -> str:
        return f"{float(value):.2f}" if value is not None else "?"

    return {
        **item,
        "confidence_label": percent(item.get("confidence")),
        "runner_up_label": (
            f"{item['runner_up']} {percent(item.get('runner_up_confidence'))}"
            if item.get("runner_up")
            else "none"
        ),
        "channel_label": CHANNEL_NAMES.get(item.get("channel") or "", item.get("channel") or "?"),
        "language_label": LANGUAGE_NAMES.get(item.get("language") or "", "unknown"),
        "source_labels": [SOURCE_LABELS.get(s, s) for s in item["sources"]],
        "who": mask(item["sender_id"]),
    }


def _page_data(path: Path, broker: Path | None, root: Path, source: str | None) -> Dict[str, Any]:
    opened = Store.open(path, migrate=False)
    try:
        added = collect(opened, broker, _config(root))
        items = opened.list_inbox_items(source=source, status="new", limit=SHOWN)
        groups = review.group_items(items)
        return {
            "added": added,
            "groups": [[shown(item) for item in group] for group in groups],
            "shown_count": len(items),
            "total": opened.count_inbox_items("new"),
            "intents": review.assignable_intents(root),
            "proposed": opened.proposed_intents(),
            "recent": opened.list_inbox_examples()[:20],
        }
    finally:
        opened.close()


async def inbox_page(request: Request) -> Response:
    """The inbox: new items grouped by meaning, with their actions and bulk actions."""
    source = request.query_params.get("source", "")
    source = source if source in INBOX_SOURCES else ""
    data = await run_in_threadpool(
        _page_data,
        store(request).path,
        broker_db(request.app),
        project(request.app),
        source or None,
    )
    return render(
        request,
        "training/inbox.html",
        {
            **data,
            "source": source,
            "sources": [(s, SOURCE_LABELS[s]) for s in INBOX_SOURCES],
            "notice": request.query_params.get("notice", "")[:2000],
            "problem": request.query_params.get("problem", "")[:4000],
        },
    )


def _ids(values: Sequence[Any]) -> List[int]:
    found = []
    for value in values:
        text = str(value).strip()
        if not text.isdigit():
            raise ValueError(f"{text[:20]!r} is not an inbox item")
        found.append(int(text))
    return list(dict.fromkeys(found))


def _read_choice(form: Any) -> tuple[str, List[int], str]:
    """(action, item ids, intent) of a submitted inbox form; ValueError when unusable.

    The pressed button is `do`: "ACTION:ID" for one item (its intent in
    `intent_ID` or `new_ID`) or "ACTION:selected" for the ticked `selected`
    items (the intent in `bulk_intent` or `bulk_new`).
    """
    action, _, target = str(form.get("do") or "").partition(":")
    if action not in ACTIONS:
        raise ValueError("Please choose what to do with the message(s).")
    if target == "selected":
        ids = _ids(form.getlist("selected"))
        field = "bulk_new" if action == "new" else "bulk_intent"
    else:
        ids = _ids([target])
        field = f"new_{target}" if action == "new" else f"intent_{target}"
    if not ids:
        raise ValueError("Please tick the messages first.")
    if len(ids) > MAX_IDS:
        raise ValueError(f"Please resolve at most {MAX_IDS} messages at once.")
    intent = str(form.get(field) or "").strip()[:64] if action in ("assign", "new") else ""
    if action in ("assign", "new") and not intent:
        raise ValueError(
            "Please choose an intent." if action == "assign" else "Please name the new intent."
        )
    if action == "new" and not NAME.fullmatch(intent):
        raise ValueError(
            f"Intent name {intent!r}: 3-48 lower-case letters, digits and '_',"
            " starting with a letter."
        )
    return action, ids, intent


def _resolve(
    opened: Store, ids: List[int], action: str, by: str, intent: str, root: Path
) -> review.Outcome:
    return review.resolve(opened, ids, action, by, intent=intent or None, root=root)


def _summary(action: str, intent: str, outcome: review.Outcome) -> tuple[str, str]:
    """(notice, problem) for the page after a resolution."""
    done = len(outcome.resolved)
    verbs = {
        "confirm": "confirmed",
        "assign": f"assigned to {intent}",
        "new": f"proposed as new intent {intent}",
        "discard": "discarded",
    }
    notice = ""
    if done:
        notice = f"{done} message(s) {verbs[action]}"
        if outcome.written:
            files = ", ".join(sorted(set(outcome.files)))
            notice += f"; {len(outcome.written)} new training example(s) in {files}"
        if outcome.already:
            notice += f"; {len(outcome.already)} already in the training data"
        notice += "."
    refused = [f"Message {i}: {why}." for i, why in sorted(outcome.refused.items())]
    shown_ones = refused[:REFUSALS_SHOWN]
    if len(refused) > REFUSALS_SHOWN:  # the page's address carries them: keep it short
        shown_ones.append(f"And {len(refused) - REFUSALS_SHOWN} more refused.")
    return notice, " ".join(shown_ones)


def _back(source: str, notice: str = "", problem: str = "") -> RedirectResponse:
    query = {k: v for k, v in (("source", source), ("notice", notice), ("problem", problem)) if v}
    return RedirectResponse(
        "/training/inbox" + ("?" + urlencode(query) if query else ""), status_code=303
    )


async def inbox_resolve(request: Request) -> Response:
    """Resolves one item or the ticked ones: confirm, assign, new intent, discard."""
    form = await request.form()
    source = str(form.get("source") or "")
    source = source if source in INBOX_SOURCES else ""
    try:
        action, ids, intent = _read_choice(form)
    except ValueError as problem:
        return _back(source, problem=str(problem))
    user = current_user(request)
    try:
        outcome = await run_in_threadpool(
            _with_store,
            store(request).path,
            _resolve,
            ids,
            action,
            user["name"],
            intent,
            project(request.app),
        )
    except review.Refused as refused:
        return _back(source, problem=f"Nothing was changed: {refused}")
    except NotFound:
        return _back(source, problem="One of those messages is not in the inbox any more.")
    await audit(
        request,
        f"inbox.{action}",
        "inbox:" + ",".join(str(i) for i in ids[:50]),
        {
            "intent": intent,
            "resolved": outcome.resolved,
            "refused": sorted(outcome.refused),
            "files": sorted(set(outcome.files)),
            "git_commit": outcome.git_commit,
        },
    )
    notice, problem = _summary(action, intent, outcome)
    return _back(source, notice, problem)


def _conversation(opened: Store, item_id: int, broker: Path | None) -> Dict[str, Any]:
    item = opened.get_inbox_item(item_id)
    reader = review.Broker(broker)
    try:
        events = reader.conversation(item["sender_id"], limit=CONVERSATION_EVENTS)
    finally:
        reader.close()
    messages = []
    for event in events:
        kind = event.get("event")
        if kind not in ("user", "bot") or not event.get("text"):
            continue
        at = float(event.get("timestamp") or 0)
        messages.append(
            {
                "who": "customer" if kind == "user" else "bot",
                "text": scrub(" ".join(str(event["text"]).split()))[0],
                "intent": ((event.get("parse_data") or {}).get("intent") or {}).get("name"),
                "this": kind == "user" and abs(at - float(item["event_time"])) < 1e-6,
            }
        )
    return {"item": shown(item), "messages": messages}


async def inbox_conversation(request: Request) -> Response:
    """An item's conversation, scrubbed, with the item's message marked."""
    item_id = int(request.path_params["item_id"])
    try:
        data = await run_in_threadpool(
            _with_store, store(request).path, _conversation, item_id, broker_db(request.app)
        )
    except NotFound:
        return render(
            request,
            "error.html",
            {"status": 404, "message": f"Inbox item {item_id} does not exist."},
            status_code=404,
        )
    return render(request, "training/inbox_conversation.html", data)


async def proposed_examples(request: Request) -> Response:
    """A proposed new intent's examples, as the file `intents add --examples` reads."""
    name = request.path_params["name"]
    try:
        text = await run_in_threadpool(_with_store, store(request).path, review.examples_file, name)
    except review.Refused:
        return PlainTextResponse(f"No proposed intent {name[:64]!r}.\n", status_code=404)
    return PlainTextResponse(
        text,
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.yml"'},
    )


routes = [
    route("/training/inbox", inbox_page, roles=TRAINERS, methods=["GET"]),
    route("/training/inbox/resolve", inbox_resolve, roles=TRAINERS, methods=["POST"]),
    route(
        "/training/inbox/{item_id:int}/conversation",
        inbox_conversation,
        roles=TRAINERS,
        methods=["GET"],
    ),
    route(
        "/training/inbox/proposed/{name:str}",
        proposed_examples,
        roles=TRAINERS,
        methods=["GET"],
    ),
]
