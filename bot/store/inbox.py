"""The trainers' review inbox: customer messages to review, and the examples made of them.

`inbox_items`: one row per customer message (`sender_id`, `event_time`: the Rasa
user event's timestamp), already scrubbed of personal data (bot/training/inbox.py
does that before it calls `add_inbox_item`). `sources` lists why it is there,
comma-separated: "unsure" (low confidence, a fallback, a small margin, an
out_of_scope prediction), "misunderstood" (an agent marked it) and "unhelpful"
(the customer answered "no" to "was this helpful?"); a message that arrives from
a second source keeps its one row. `status` is "new" until a trainer resolves it:
"confirmed" (the prediction was right), "assigned" (another existing intent),
"proposed" (a new intent name, `resolved_intent`, waiting for `intents add`) or
"discarded". `inbox_examples` says who added which training example, to which
file, from which conversation and item. `inbox_cursors` keeps how far the
collector has read each source (by id), so every event is read once.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Sequence, Tuple

from bot.store.base import Area, NotFound, now

INBOX_SOURCES = ("unsure", "misunderstood", "unhelpful")
INBOX_STATUSES = ("new", "confirmed", "assigned", "proposed", "discarded")
RESOLVED_STATUSES = INBOX_STATUSES[1:]


def _item(row: Dict[str, Any]) -> Dict[str, Any]:
    row = dict(row)
    row["sources"] = [s for s in (row.get("sources") or "").split(",") if s]
    row["reasons"] = [r for r in (row.get("reasons") or "").split(";") if r]
    row["entities"] = json.loads(row.get("entities") or "[]")
    return row


class InboxStore(Area):
    """Inbox items, the examples trainers made of them, and the collector's cursors."""

    def add_inbox_item(
        self,
        *,
        source: str,
        reason: str,
        sender_id: str,
        event_time: float,
        text: str,
        channel: str | None = None,
        entities: Sequence[Dict[str, Any]] = (),
        intent: str | None = None,
        confidence: float | None = None,
        runner_up: str | None = None,
        runner_up_confidence: float | None = None,
        language: str | None = None,
    ) -> Tuple[int, bool]:
        """Puts one (scrubbed) customer message in the inbox; (item id, whether it was new).

        The same message again (same conversation and event time) is the same
        item: a new source is added to it, a known one changes nothing.
        """
        if source not in INBOX_SOURCES:
            raise ValueError(f"unknown inbox source {source!r}")
        with self.db.conn:
            cursor = self.db.execute(
                "insert into inbox_items (sender_id, event_time, channel, text, entities,"
                " intent, confidence, runner_up, runner_up_confidence, language, sources,"
                " reasons, status, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " 'new', ?) on conflict (sender_id, event_time) do nothing",
                [
                    sender_id,
                    event_time,
                    channel,
                    text,
                    json.dumps(list(entities), ensure_ascii=False),
                    intent,
                    confidence,
                    runner_up,
                    runner_up_confidence,
                    language,
                    source,
                    reason,
                    now(),
                ],
            )
            new = cursor.rowcount == 1
            if not new:
                self.db.execute(
                    "update inbox_items set sources = sources || ',' || ?,"
                    " reasons = reasons || ';' || ?"
                    " where sender_id = ? and event_time = ?"
                    " and (',' || sources || ',') not like ?",
                    [source, reason, sender_id, event_time, f"%,{source},%"],
                )
            row = self.db.execute(
                "select id from inbox_items where sender_id = ? and event_time = ?",
                [sender_id, event_time],
            ).fetchone()
        return int(row[0]), new

    def get_inbox_item(self, item_id: int) -> Dict[str, Any]:
        """One item."""
        rows = list(self.db["inbox_items"].rows_where("id = ?", [item_id]))
        if not rows:
            raise NotFound(f"no inbox item with id {item_id}")
        return _item(rows[0])

    def list_inbox_items(
        self, source: str | None = None, status: str | None = "new", limit: int = 200
    ) -> List[Dict[str, Any]]:
        """Items, newest message first (of one source and status when given)."""
        clauses, args = [], []
        if source:
            clauses.append("(',' || sources || ',') like ?")
            args.append(f"%,{source},%")
        if status:
            clauses.append("status = ?")
            args.append(status)
        where = " and ".join(clauses) or None
        rows = self.db["inbox_items"].rows_where(
            where, args, order_by="event_time desc, id desc", limit=limit
        )
        return [_item(row) for row in rows]

    def count_inbox_items(self, status: str = "new") -> int:
        """How many items have `status`."""
        return int(
            self.db.execute(
                "select count(*) from inbox_items where status = ?", [status]
            ).fetchone()[0]
        )

    def resolve_inbox_item(self, item_id: int, status: str, intent: str | None, by: str) -> bool:
        """Resolves a new item (checked in the same statement); False when it was not new."""
        if status not in RESOLVED_STATUSES:
            raise ValueError(f"unknown inbox status {status!r}")
        with self.db.conn:
            cursor = self.db.execute(
                "update inbox_items set status = ?, resolved_intent = ?, resolved_by = ?,"
                " resolved_at = ? where id = ? and status = 'new'",
                [status, intent, by, now(), item_id],
            )
        return cursor.rowcount == 1

    def proposed_intents(self) -> List[Dict[str, Any]]:
        """New intent names trainers proposed, with their examples per language."""
        rows = self.db.execute(
            "select resolved_intent, language, text, resolved_by from inbox_items"
            " where status = 'proposed' order by resolved_intent, id"
        ).fetchall()
        found: Dict[str, Dict[str, Any]] = {}
        for name, language, text, by in rows:
            entry = found.setdefault(name, {"name": name, "examples": {}, "by": set()})
            entry["examples"].setdefault(language or "tr", []).append(text)
            entry["by"].add(by)
        return [{**e, "by": sorted(e["by"])} for e in found.values()]

    # -- examples made of items --------------------------------------------------------

    def record_inbox_example(
        self,
        *,
        item_id: int,
        intent: str,
        language: str,
        text: str,
        path: str,
        added_by: str,
        sender_id: str,
        change_id: int | None = None,
    ) -> int:
        """Records that `added_by` added `text` (from conversation `sender_id`) to `path`."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert into inbox_examples (item_id, intent, language, text, path, added_by,"
                " sender_id, change_id, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [item_id, intent, language, text, path, added_by, sender_id, change_id, now()],
            )
        return int(cursor.lastrowid)

    def list_inbox_examples(self, intent: str | None = None) -> List[Dict[str, Any]]:
        """Examples added from the inbox, newest first."""
        where, args = ("intent = ?", [intent]) if intent else (None, [])
        return list(self.db["inbox_examples"].rows_where(where, args, order_by="id desc"))

    # -- what the collector reads ------------------------------------------------------

    def inbox_cursor(self, name: str) -> int:
        """The last id the collector read of source `name` (0 at first)."""
        row = self.db.execute("select last_id from inbox_cursors where name = ?", [name]).fetchone()
        return int(row[0]) if row else 0

    def set_inbox_cursor(self, name: str, last_id: int) -> None:
        """Remembers how far the collector read source `name`."""
        with self.db.conn:
            self.db.execute(
                "insert into inbox_cursors (name, last_id) values (?, ?)"
                " on conflict (name) do update set last_id = excluded.last_id",
                [name, last_id],
            )

    def misunderstood_after(self, last_id: int, limit: int = 500) -> List[Dict[str, Any]]:
        """Agents' "bot misunderstood" marks after id `last_id`, oldest first."""
        return list(
            self.db["misunderstood"].rows_where("id > ?", [last_id], order_by="id", limit=limit)
        )

    def unhelpful_feedback_after(self, last_id: int, limit: int = 500) -> List[Dict[str, Any]]:
        """Answers to "was this helpful?" after id `last_id`, oldest first (yes and no)."""
        return list(self.db["feedback"].rows_where("id > ?", [last_id], order_by="id", limit=limit))
