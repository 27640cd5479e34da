"""Privacy in Rasa's own SQLite files: the SQL tracker store and the SQL event broker.

Both keep a table `events` with one row per conversation event: the tracker
store (Rasa's `SQLTrackerStore`: `id, sender_id, type_name, timestamp,
intent_name, action_name, data`) and the event broker (`SQLEventBroker`: `id,
sender_id, data`); `data` is the event as JSON. This module is the only code that
writes to them, for two things (bot/privacy_ops.py runs them):

- forgetting a customer deletes every row of their conversation id;
- retention blanks the `text` (and `parse_data.text`, entity values) of user and
  bot events, and text values of slots (a rating comment, an order number; not
  crisisdesk's own `language` and `pending` codes) older than the retention
  period, keeping the rows, their intents, actions and timestamps, so counts per
  intent and hour stay. Events are read in id order from where the last run
  stopped (the store's `privacy_cursors`), up to the first event still young.

bot/store/rasa_events.py reads the broker for the review inbox (read-only).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Tuple

BATCH = 500
TEXT_EVENTS = ("user", "bot")
# Slots whose values are crisisdesk's own codes ("fact:F1", "tr"); every other slot
# with a text value may hold the customer's words (a rating comment, an order number).
CODE_SLOTS = ("language", "pending")


def blank_event(event: Dict[str, Any]) -> bool:
    """Blanks an event's texts in place; True when something changed.

    User and bot events lose their text (and the parse's text and entity values),
    slot events other than `CODE_SLOTS` their text value.
    """
    if event.get("event") == "slot":
        if event.get("name") in CODE_SLOTS or not isinstance(event.get("value"), str):
            return False
        if not event["value"]:
            return False
        event["value"] = ""
        return True
    if event.get("event") not in TEXT_EVENTS:
        return False
    changed = False
    if event.get("text"):
        event["text"] = ""
        changed = True
    parse = event.get("parse_data")
    if isinstance(parse, dict):
        if parse.get("text"):
            parse["text"] = ""
            changed = True
        for entity in parse.get("entities") or []:
            if isinstance(entity, dict) and entity.get("value") not in (None, ""):
                entity["value"] = ""
                changed = True
    return changed


class RasaData:
    """One of Rasa's SQLite files (tracker store or event broker), read and written.

    A missing file or table reads as empty and changes nothing.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None or not Path(self.path).is_file():
            return None
        conn = sqlite3.connect(str(self.path), timeout=10)
        has_table = conn.execute(
            "select 1 from sqlite_master where type = 'table' and name = 'events'"
        ).fetchone()
        if not has_table:
            conn.close()
            return None
        return conn

    def words(self, sender_id: str) -> List[str]:
        """The texts of a conversation's user events (what the customer wrote)."""
        conn = self._connect()
        if conn is None:
            return []
        try:
            rows = conn.execute(
                "select data from events where sender_id = ? order by id", [sender_id]
            ).fetchall()
        finally:
            conn.close()
        found: Dict[str, None] = {}
        for (data,) in rows:
            try:
                event = json.loads(data or "{}")
            except ValueError:
                continue
            if event.get("event") == "user" and str(event.get("text") or "").strip():
                found[str(event["text"]).strip()] = None
        return list(found)

    def forget(self, sender_id: str, dry_run: bool = False) -> int:
        """Deletes a conversation's events; how many (counted only with `dry_run`)."""
        conn = self._connect()
        if conn is None:
            return 0
        try:
            if dry_run:
                row = conn.execute(
                    "select count(*) from events where sender_id = ?", [sender_id]
                ).fetchone()
                return int(row[0])
            with conn:
                return conn.execute("delete from events where sender_id = ?", [sender_id]).rowcount
        finally:
            conn.close()

    def expire(self, before: float, after_id: int, dry_run: bool = False) -> Tuple[int, int]:
        """Blanks user and bot texts of events older than `before` (Unix seconds).

        Reads from the event after `after_id`, in id order, and stops at the first
        event at or after `before`. Returns (events blanked, last id dealt with).
        """
        conn = self._connect()
        if conn is None:
            return 0, after_id
        blanked, last = 0, after_id
        try:
            while True:
                rows = conn.execute(
                    "select id, data from events where id > ? order by id limit ?", [last, BATCH]
                ).fetchall()
                if not rows:
                    break
                changes: List[Tuple[str, int]] = []
                young = False
                for row_id, data in rows:
                    try:
                        event = json.loads(data or "{}")
                    except ValueError:
                        event = {}
                    if float(event.get("timestamp") or 0) >= before:
                        young = True
                        break
                    if blank_event(event):
                        changes.append((json.dumps(event, ensure_ascii=False), int(row_id)))
                    last = int(row_id)
                if changes and not dry_run:
                    with conn:
                        conn.executemany("update events set data = ? where id = ?", changes)
                blanked += len(changes)
                if young or len(rows) < BATCH:
                    break
        finally:
            conn.close()
        return blanked, last
