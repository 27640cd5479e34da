"""Read-only access to Rasa's SQL event broker file: the customer messages the inbox reviews.

Rasa's SQL event broker (endpoints.yml, `event_broker: type: SQL`) writes every
conversation event as a row of its table `events` (`id`, `sender_id`, `data`: the
event as JSON). bot/desk/live.py tails it for the desk's live views; the review
inbox (bot/training/inbox.py) reads it by id from where it last stopped, and
reads one conversation's events for its context. The file is opened read-only;
a missing file or table reads as empty. Another broker (Kafka, RabbitMQ) means
another class with the same methods.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

logger = logging.getLogger(__name__)

BATCH = 500


class RasaEvents:
    """Read-only access to Rasa's SQL event broker file (table `events`)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None

    def _query(self, sql: str, args: Sequence[Any]) -> List[Tuple[Any, ...]]:
        if self.path is None or not self.path.is_file():
            return []
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, timeout=5, check_same_thread=False
            )
        try:
            return self._conn.execute(sql, list(args)).fetchall()
        except sqlite3.OperationalError as problem:  # no table yet, or busy
            logger.debug("event broker not readable yet: %s", problem)
            return []

    def after(self, last_id: int, limit: int = BATCH) -> List[Tuple[int, str, Dict[str, Any]]]:
        """(id, sender id, event) of the events after `last_id`, oldest first (any kind).

        An event that is not JSON comes back as {} so the caller still moves past it.
        """
        rows = self._query(
            "select id, sender_id, data from events where id > ? order by id limit ?",
            [last_id, limit],
        )
        found = []
        for row_id, sender_id, data in rows:
            try:
                event = json.loads(data or "{}")
            except ValueError:
                event = {}
            found.append((int(row_id), sender_id or "", event))
        return found

    def top(self) -> int:
        """The highest event id (0 when none)."""
        rows = self._query("select coalesce(max(id), 0) from events", [])
        return int(rows[0][0]) if rows else 0

    def conversation(self, sender_id: str, limit: int = 2000) -> List[Dict[str, Any]]:
        """A conversation's events, oldest first (the last `limit`)."""
        rows = self._query(
            "select data from events where sender_id = ? order by id desc limit ?",
            [sender_id, limit],
        )
        found = []
        for (data,) in reversed(rows):
            try:
                found.append(json.loads(data or "{}"))
            except ValueError:
                continue
        return found

    def user_event(self, sender_id: str, event_time: float) -> Dict[str, Any] | None:
        """The customer message of a conversation at `event_time`, or None."""
        for event in self.conversation(sender_id):
            if (
                event.get("event") == "user"
                and abs(float(event.get("timestamp") or 0) - event_time) < 1e-6
            ):
                return event
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
