"""What every action needs: the store, the knowledge base, and tracker helpers.

`incident_statement_first` is the one place where an active incident changes
what a customer is told: each action that handles a customer's words (rumour,
question, complaint, fact intent) calls it before its own answer.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, List

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot import incidents
from bot.answers import Knowledge
from bot.config import settings
from bot.language import latest_language
from bot.privacy import mask
from bot.store import Store

logger = logging.getLogger(__name__)

_store: Store | None = None
_knowledge: Knowledge | None = None
_topics: incidents.TopicDetector | None = None


def store() -> Store:
    """The action server's store, opened (and migrated) on first use."""
    global _store
    if _store is None:
        _store = Store.open(settings().db_path)
    return _store


def knowledge() -> Knowledge:
    """The published facts and FAQ entries, kept fresh from the store."""
    global _knowledge
    if _knowledge is None or _knowledge.store is not store():
        cfg = settings()
        _knowledge = Knowledge(store(), cfg.match_threshold, cfg.match_margin)
    return _knowledge


def topics() -> incidents.TopicDetector:
    """Which active incident a message is about (example vectors kept per incident revision)."""
    global _topics
    if _topics is None or _topics.store is not store():
        _topics = incidents.TopicDetector(store())
    return _topics


def use_store(new: Store | None) -> None:
    """Points the actions at another store (tests) or back to the default (None)."""
    global _store, _knowledge, _topics
    _store, _knowledge, _topics = new, None, None


# A payload as Rasa reads it: "/intent" with optional "@confidence" and slot JSON.
_PAYLOAD = re.compile(r"^/[^\s{}@]+(?:@[\d.]+)?(?:\{.*\})?$", re.DOTALL)
# Where the channel pipeline (bot/channels/pipeline.py) says how a message came.
PIPELINE_METADATA = "crisisdesk"


def is_payload(event: Dict[str, Any]) -> bool:
    """True when a user event is a pressed button, not something the customer typed.

    The channels say so in the message metadata (only a payload the bot offered
    passes as one; typed text reaches Rasa without its slash). A message that came
    some other way (Rasa's HTTP API) is a payload only in Rasa's own syntax:
    "/kuzey sut iflas mi" is text.
    """
    marked = (event.get("metadata") or {}).get(PIPELINE_METADATA)
    if isinstance(marked, dict) and "payload" in marked:
        return bool(marked["payload"])
    return bool(_PAYLOAD.match((event.get("text") or "").strip()))


def customer_text(tracker: Tracker) -> str:
    """What the customer last typed; a pressed button points back to that text."""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and not is_payload(event):
            return event.get("text") or ""
    return ""


def language(tracker: Tracker) -> str | None:
    """The conversation's language ("tr"/"en"), or None before it is known."""
    parse_datas = (
        event.get("parse_data")
        for event in reversed(tracker.events)
        if event.get("event") == "user"
    )
    return latest_language(parse_datas)


def channel(tracker: Tracker) -> str:
    """The input channel of the latest message ("rest", "whatsapp", ...)."""
    found = tracker.get_latest_input_channel()
    if found:
        return found
    prefix, sep, _ = tracker.sender_id.partition(":")
    return prefix if sep else "rest"


def entity_values(tracker: Tracker) -> List[Dict[str, Any]]:
    """The latest message's entities, reduced to entity name and value."""
    return [
        {"entity": e.get("entity"), "value": e.get("value")}
        for e in tracker.latest_message.get("entities", [])
    ]


def last_messages(tracker: Tracker, limit: int = 10) -> List[Dict[str, Any]]:
    """The conversation's last user and bot messages, oldest first, for an agent."""
    found = []
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind in ("user", "bot") and event.get("text"):
            found.append(
                {
                    "from": "customer" if kind == "user" else "bot",
                    "text": event["text"][:2000],
                    "at": event.get("timestamp"),
                }
            )
            if len(found) == limit:
                break
    return list(reversed(found))


def incident_statement_first(
    dispatcher: CollectingDispatcher, tracker: Tracker
) -> Dict[str, Any] | None:
    """Sends an active incident's live statement when the customer's words are on its topic.

    Once per conversation and statement version (a newly approved version is
    sent again); a draft never. Returns the incident the message is on (or None),
    so that a handoff in the same turn is tagged with it.
    """
    text = customer_text(tracker)
    if not text.strip():
        return None
    lang = language(tracker)
    incident, statement = incidents.statement_to_show(
        store(),
        topics(),
        sender_id=tracker.sender_id,
        text=text,
        channel=channel(tracker),
        language=lang,
    )
    if statement is not None:
        logger.info(
            "incident %s: statement version %s to %s",
            statement["incident_id"],
            statement["version"],
            mask(tracker.sender_id),
        )
        dispatcher.utter_message(
            response="utter_incident_statement",
            statement=incidents.statement_text(statement, lang),
        )
    return incident
