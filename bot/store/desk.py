"""The desk's own records of a conversation: internal notes, agents' replies, the events
still owed to Rasa's tracker, and customer messages an agent marked "bot misunderstood"
(the trainers' inbox). Handoff states and ratings are cases (bot/store/cases.py)."""

from __future__ import annotations

import json
from typing import Any, Dict, List

from bot.store.base import Area, NotFound, now

REPLY_KINDS = ("text", "template")
MAX_NOTE_CHARS = 4000


class DeskStore(Area):
    """Notes, agent replies and "bot misunderstood" marks."""

    # -- internal notes --------------------------------------------------------------

    def add_note(self, sender_id: str, author: str, text: str, handoff_id: int | None) -> int:
        """Keeps an internal note on a conversation (never shown to the customer)."""
        text = text.strip()
        if not text or len(text) > MAX_NOTE_CHARS:
            raise ValueError(f"a note has 1 to {MAX_NOTE_CHARS} characters")
        return int(
            self.db["desk_notes"]
            .insert(
                {
                    "sender_id": sender_id,
                    "handoff_id": handoff_id,
                    "author": author,
                    "text": text,
                    "created_at": now(),
                }
            )
            .last_pk
        )

    def list_notes(self, sender_id: str) -> List[Dict[str, Any]]:
        """A conversation's notes, oldest first."""
        return list(self.db["desk_notes"].rows_where("sender_id = ?", [sender_id], order_by="id"))

    # -- agent replies ---------------------------------------------------------------

    def record_reply(
        self,
        *,
        sender_id: str,
        handoff_id: int | None,
        agent: str,
        channel: str,
        text: str,
        outbox_id: int,
        kind: str = "text",
        template: str | None = None,
        tracker_event: Dict[str, Any] | None = None,
    ) -> int:
        """Records an agent's reply and the outbox row that delivers it.

        With `tracker_event` (the Rasa event that records the reply), the event is
        owed to the tracker from the same transaction on (`claim_tracker_appends`),
        so the history cannot lose it whatever fails next.
        """
        assert kind in REPLY_KINDS
        with self.db.conn:
            cursor = self.db.execute(
                "insert into desk_replies (sender_id, handoff_id, agent, channel, kind,"
                " template, text, outbox_id, in_tracker, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?, ?, 0, ?) returning id",
                [sender_id, handoff_id, agent, channel, kind, template, text, outbox_id, now()],
            )
            reply_id = int(cursor.fetchone()[0])
            if tracker_event is not None:
                self._insert_tracker_append(sender_id, tracker_event, reply_id)
        return reply_id

    def mark_reply_in_tracker(self, reply_id: int) -> None:
        """Notes that the reply was written to the Rasa tracker as a bot message."""
        self.db.execute("update desk_replies set in_tracker = 1 where id = ?", [reply_id])
        self.db.conn.commit()

    def list_replies(self, sender_id: str) -> List[Dict[str, Any]]:
        """A conversation's agent replies with their outbox state, oldest first."""
        rows = self.db.execute(
            "select r.*, o.status as outbox_status, o.delivery_status, o.last_error,"
            " o.sent_at from desk_replies r left join outbox o on o.id = r.outbox_id"
            " where r.sender_id = ? order by r.id",
            [sender_id],
        )
        names = [column[0] for column in rows.description]
        return [dict(zip(names, row, strict=True)) for row in rows.fetchall()]

    def get_reply(self, reply_id: int) -> Dict[str, Any]:
        """One reply with its outbox state."""
        rows = self.db.execute(
            "select r.*, o.status as outbox_status, o.delivery_status, o.last_error,"
            " o.sent_at from desk_replies r left join outbox o on o.id = r.outbox_id"
            " where r.id = ?",
            [reply_id],
        )
        names = [column[0] for column in rows.description]
        row = rows.fetchone()
        if row is None:
            raise NotFound(f"no reply with id {reply_id}")
        return dict(zip(names, row, strict=True))

    # -- events owed to Rasa's tracker ---------------------------------------------------
    #
    # A conversation's rows are appended in id order, by one holder at a time: the
    # holder leases the conversation's oldest row (its head), so rows added meanwhile
    # wait behind it and nobody appends them out of order. A lease whose holder died
    # runs out (`lease_until`, Unix seconds) and the next claim takes it over.

    def _insert_tracker_append(
        self, sender_id: str, event: Dict[str, Any], reply_id: int | None
    ) -> int:
        cursor = self.db.execute(
            "insert into tracker_appends (sender_id, reply_id, event, attempts, lease_until,"
            " created_at) values (?, ?, ?, 0, 0, ?) returning id",
            [sender_id, reply_id, json.dumps(event, ensure_ascii=False), now()],
        )
        return int(cursor.fetchone()[0])

    def queue_tracker_append(
        self, sender_id: str, event: Dict[str, Any], reply_id: int | None = None
    ) -> int:
        """Owes one Rasa event (with its own `timestamp`) to a conversation's tracker."""
        with self.db.conn:
            return self._insert_tracker_append(sender_id, event, reply_id)

    def tracker_append_senders(self) -> List[str]:
        """Conversations that are owed events, the longest owed first."""
        rows = self.db.execute(
            "select sender_id from tracker_appends group by sender_id order by min(id)"
        )
        return [row[0] for row in rows.fetchall()]

    def list_tracker_appends(self, sender_id: str) -> List[Dict[str, Any]]:
        """The events a conversation is owed, in order (`event` decoded)."""
        rows = self.db["tracker_appends"].rows_where("sender_id = ?", [sender_id], order_by="id")
        return [{**row, "event": json.loads(row["event"])} for row in rows]

    def claim_tracker_appends(
        self, sender_id: str, holder: str, at: float, lease_seconds: float
    ) -> List[Dict[str, Any]]:
        """Leases a conversation's owed events to `holder` until `at + lease_seconds`.

        Returns them in order, each with the `attempts` begun before this one (which
        this claim counts), or [] when none are owed or another holder's lease on
        the conversation has not run out.
        """
        with self.db.conn:
            head = self.db.execute(
                "select min(id) from tracker_appends where sender_id = ?", [sender_id]
            ).fetchone()[0]
            if head is None:
                return []
            cursor = self.db.execute(
                "update tracker_appends set holder = ?, lease_until = ?"
                " where id = ? and (holder is null or holder = ? or lease_until < ?)",
                [holder, at + lease_seconds, head, holder, at],
            )
            if cursor.rowcount != 1:
                return []
            rows = self.list_tracker_appends(sender_id)
            self.db.execute(
                "update tracker_appends set attempts = attempts + 1"
                " where sender_id = ? and id <= ?",
                [sender_id, rows[-1]["id"]],
            )
        return rows

    def finish_tracker_appends(self, ids: List[int]) -> int:
        """Forgets owed events that the tracker now has; their replies are marked in it.

        Returns how many were still owed.
        """
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        with self.db.conn:
            self.db.execute(
                "update desk_replies set in_tracker = 1 where id in"
                f" (select reply_id from tracker_appends where id in ({marks}))",
                list(ids),
            )
            cursor = self.db.execute(
                f"delete from tracker_appends where id in ({marks})", list(ids)
            )
        return cursor.rowcount

    def release_tracker_appends(self, sender_id: str, holder: str, error: str) -> None:
        """Ends `holder`'s lease on a conversation without appending; notes why on its rows."""
        with self.db.conn:
            cursor = self.db.execute(
                "update tracker_appends set holder = null, lease_until = 0"
                " where sender_id = ? and holder = ?",
                [sender_id, holder],
            )
            if cursor.rowcount:
                self.db.execute(
                    "update tracker_appends set last_error = ? where sender_id = ?",
                    [error[:500], sender_id],
                )

    # -- "bot misunderstood" -------------------------------------------------------------

    def mark_misunderstood(
        self,
        *,
        sender_id: str,
        event_time: float,
        text: str,
        intent: str | None,
        confidence: float | None,
        language: str | None,
        marked_by: str,
    ) -> bool:
        """Puts a customer message in the trainers' inbox; marking twice is harmless.

        Returns whether it was new.
        """
        with self.db.conn:
            cursor = self.db.execute(
                "insert into misunderstood"
                " (sender_id, event_time, text, intent, confidence, language, marked_by,"
                " marked_at, status) values (?, ?, ?, ?, ?, ?, ?, ?, 'new')"
                " on conflict (sender_id, event_time) do nothing",
                [sender_id, event_time, text, intent, confidence, language, marked_by, now()],
            )
        return cursor.rowcount == 1

    def list_misunderstood(
        self, sender_id: str | None = None, status: str | None = "new"
    ) -> List[Dict[str, Any]]:
        """Marked messages, oldest first (all conversations unless `sender_id`)."""
        clauses, args = [], []
        if sender_id:
            clauses.append("sender_id = ?")
            args.append(sender_id)
        if status:
            clauses.append("status = ?")
            args.append(status)
        where = " and ".join(clauses) or None
        return list(self.db["misunderstood"].rows_where(where, args, order_by="id"))
