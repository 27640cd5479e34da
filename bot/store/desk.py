"""The desk's own records of a conversation: internal notes, agents' replies, and customer
messages an agent marked "bot misunderstood" (the trainers' inbox). Handoff states and
ratings are cases (bot/store/cases.py)."""

from __future__ import annotations

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
    ) -> int:
        """Records an agent's reply and the outbox row that delivers it."""
        assert kind in REPLY_KINDS
        return int(
            self.db["desk_replies"]
            .insert(
                {
                    "sender_id": sender_id,
                    "handoff_id": handoff_id,
                    "agent": agent,
                    "channel": channel,
                    "kind": kind,
                    "template": template,
                    "text": text,
                    "outbox_id": outbox_id,
                    "in_tracker": 0,
                    "created_at": now(),
                }
            )
            .last_pk
        )

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
