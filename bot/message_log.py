"""The message log: one row per customer message, read from Rasa's event broker.

Rasa publishes every conversation event to its SQL event broker
(bot/store/rasa_events.py reads the file). `MessageLog.read()` takes the user
events after the last broker id it read (kept in the store as the cursor
"message_log", so a restarted desk goes on where it stopped and reading an
event twice adds nothing: `message_log.event_id` is unique) and logs each
customer message (`Store.log_message`) with:

- channel, sender, Rasa's message id, the text, the NLU's intent, confidence
  and language (the tokenizer's `parse_data.language`, as bot/language.py reads it);
- `incident_id` and `topic`: the active incident the message is about
  (`bot.incidents.TopicDetector(store).incident_for(text)`: its name), else
  the topic of the published fact the matcher clearly answers it with
  (`bot.answers.Knowledge`), else "" (no known topic);
- `at`: when the channel recorded the message on arrival
  (`inbound_messages.received_at`, crisisdesk's clock, which a simulation moves
  ahead), else the event's timestamp plus `bot.clock.offset()`;
- for a typed message on no known topic, its sentence vector (bot/encoder.py),
  which the emerging-topic check (bot/alerts.py) clusters.

Button presses (a payload the bot offered) are logged with their intent and no
topic. The desk runs one reader per process (bot/alerts.py `EarlyWarning`);
tests call `read()` directly.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Tuple

import numpy as np

from bot import clock
from bot.config import settings as default_settings
from bot.privacy import mask
from bot.store.rasa_events import RasaEvents

logger = logging.getLogger(__name__)

CURSOR = "message_log"
BATCH = 500
# Intents whose messages may be about a new topic (small talk and buttons are not).
TOPIC_INTENTS = frozenset({"complaint", "rumour", "question", "out_of_scope", "nlu_fallback"})
# Where the channel pipeline marks a pressed button (bot/channels/pipeline.py).
PIPELINE_METADATA = "crisisdesk"

TopicFinder = Callable[[str], Tuple[int | None, str]]


def channel_of(sender_id: str, event: Mapping[str, Any]) -> str:
    """The customer channel of a message ("whatsapp", "telegram", "webchat", "rest")."""
    channel = event.get("input_channel")
    if channel:
        return str(channel)
    prefix, sep, _ = sender_id.partition(":")
    return prefix if sep else "rest"


def is_button(event: Mapping[str, Any]) -> bool:
    """A pressed button rather than typed text."""
    marked = (event.get("metadata") or {}).get(PIPELINE_METADATA)
    if isinstance(marked, dict) and "payload" in marked:
        return bool(marked["payload"])
    return str(event.get("text") or "").strip().startswith("/")


def stamp(event_time: float, offset: float | None = None) -> str:
    """A Rasa event time as a store time stamp on crisisdesk's clock."""
    seconds = event_time + (clock.offset() if offset is None else offset)
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


class Topics:
    """What a message is about: an active incident, else a fact's topic, else nothing.

    Args:
        store: a `bot.store.Store` (the reader's own connection).
        cfg: the settings (the matcher's answer threshold and margin).
    """

    def __init__(self, store: Any, cfg: Any = None) -> None:
        from bot.answers import Knowledge
        from bot.incidents import TopicDetector

        cfg = cfg or default_settings()
        self.store = store
        self.knowledge = Knowledge(store, cfg.match_threshold, cfg.match_margin)
        self.incidents = TopicDetector(store)

    def __call__(self, text: str) -> Tuple[int | None, str]:
        """(incident id or None, topic or "") of a customer's text."""
        incident = self.incidents.incident_for(text)
        if incident:
            return int(incident["id"]), str(incident.get("name") or "")
        answer = self.knowledge.fact_for(text)
        if answer.record is not None:
            return None, str(answer.record.get("topic") or answer.record["id"])
        return None, ""


def _vector(text: str) -> bytes:
    from bot import encoder

    return encoder.encode_one(text).astype(np.float32).tobytes()


class MessageLog:
    """Logs the customer messages of Rasa's event broker into the store, once each.

    Args:
        store: a `bot.store.Store` (used from one thread).
        broker_db: the SQL event broker's SQLite file (None: another broker, nothing read).
        topics: text -> (incident id, topic); by default `Topics(store)`.
        vector: text -> its sentence vector as float32 bytes (default: bot/encoder.py).
    """

    def __init__(
        self,
        store: Any,
        broker_db: Path | None,
        topics: TopicFinder | None = None,
        vector: Callable[[str], bytes] = _vector,
    ) -> None:
        self.store = store
        self.broker = RasaEvents(broker_db)
        self._topics = topics
        self.vector = vector
        self.pending = False  # whether the last read stopped with events left to read

    @property
    def topics(self) -> TopicFinder:
        if self._topics is None:
            self._topics = Topics(self.store)
        return self._topics

    def read(self, batches: int | None = None) -> int:
        """Logs the customer messages published since the last read; returns how many.

        `batches` limits the read to that many batches of `BATCH` events (the
        desk's task reads one per round, so it stops promptly even in a long
        backlog); None reads everything.
        """
        logged = 0
        rounds = 0
        self.pending = False
        last = self.store.inbox_cursor(CURSOR)
        top = self.broker.top()
        if top < last:  # the broker file was replaced: its ids start again
            logger.warning("event broker restarted at id %s (was %s): reading it anew", top, last)
            last = 0
        while True:
            events = self.broker.after(last, BATCH)
            if not events:
                break
            for event_id, sender_id, event in events:
                if event.get("event") == "user":
                    row = self.message(event_id, sender_id, event)
                    if row is not None and self.store.log_message(row) is not None:
                        logged += 1
                last = event_id
            self.store.set_inbox_cursor(CURSOR, last)
            rounds += 1
            if len(events) < BATCH:
                break
            if batches is not None and rounds >= batches:
                self.pending = True  # more events wait in the broker
                break
        return logged

    def message(
        self, event_id: int, sender_id: str, event: Mapping[str, Any]
    ) -> Dict[str, Any] | None:
        """The message-log row of one Rasa user event (None for an empty message)."""
        text = str(event.get("text") or "").strip()
        if not text:
            return None
        parse = event.get("parse_data") or {}
        intent = (parse.get("intent") or {}).get("name")
        confidence = (parse.get("intent") or {}).get("confidence")
        sender_id = sender_id or str(event.get("sender_id") or "")
        incident_id, topic, vector = None, "", None
        if not is_button(event):
            try:
                incident_id, topic = self.topics(text)
            except Exception:  # a topic we cannot tell must not lose the message
                logger.exception("message log: no topic for a message of %s", mask(sender_id))
            if not topic and intent in TOPIC_INTENTS:
                vector = self.vector(text)
        return {
            "event_id": int(event_id),
            "channel": channel_of(sender_id, event),
            "sender_id": sender_id,
            "message_id": event.get("message_id"),
            "text": text,
            "intent": intent,
            "confidence": float(confidence) if confidence is not None else None,
            "language": parse.get("language"),
            "incident_id": incident_id,
            "topic": topic,
            "at": self.arrived(channel_of(sender_id, event), event),
            "vector": vector,
        }

    def arrived(self, channel: str, event: Mapping[str, Any]) -> str:
        """When the message arrived on crisisdesk's clock.

        The channel recorded it on arrival (`inbound_messages.received_at`), which
        stays right however late this reader gets to the event; a message with no
        inbound record (the REST channel) takes Rasa's event time plus the clock's
        offset now.
        """
        message_id = event.get("message_id")
        if message_id:
            received = self.store.inbound_received_at(channel, str(message_id))
            if received:
                return received
        return stamp(float(event.get("timestamp") or time.time()))

    def close(self) -> None:
        self.broker.close()
