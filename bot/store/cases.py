"""Cases: complaint tickets, handoffs to a person, and feedback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Sequence

from bot.store.base import Area, NotFound, now

PRIORITY_ORDER = {"high": 0, "normal": 1, "low": 2}


@dataclass(frozen=True)
class Ticket:
    """A recorded complaint."""

    id: int
    number: str
    severity: str
    reasons: List[str]


class CaseStore(Area):
    """Tickets, handoffs and feedback."""

    # -- tickets -----------------------------------------------------------------

    def create_ticket(
        self,
        *,
        sender_id: str,
        channel: str | None,
        text: str,
        language: str | None,
        severity: str,
        reasons: Sequence[str] = (),
        entities: Iterable[Dict[str, Any]] | None = None,
    ) -> Ticket:
        """Records a complaint and gives it a number (CD-000001, ...)."""
        with self.db.conn:
            ticket_id = (
                self.db["tickets"]
                .insert(
                    {
                        "number": None,
                        "channel": channel,
                        "sender_id": sender_id,
                        "text": text,
                        "language": language,
                        "severity": severity,
                        "reasons": json.dumps(list(reasons)),
                        "entities": json.dumps(list(entities or []), ensure_ascii=False),
                        "status": "open",
                        "created_at": now(),
                    }
                )
                .last_pk
            )
            number = f"CD-{int(ticket_id):06d}"
            self.db["tickets"].update(ticket_id, {"number": number})
        return Ticket(int(ticket_id), number, severity, list(reasons))

    def count_tickets(self, sender_id: str) -> int:
        """How many complaints this customer has made."""
        return self.db["tickets"].count_where("sender_id = ?", [sender_id])

    def list_tickets(self, sender_id: str | None = None) -> List[Dict[str, Any]]:
        """Tickets, newest first."""
        where, args = ("sender_id = ?", [sender_id]) if sender_id else (None, [])
        return list(self.db["tickets"].rows_where(where, args, order_by="id desc"))

    # -- handoffs ------------------------------------------------------------------

    def open_handoff(
        self,
        *,
        sender_id: str,
        channel: str | None,
        reason: str,
        priority: str,
        language: str | None,
        last_messages: Sequence[Dict[str, Any]],
        ticket_number: str | None = None,
    ) -> int:
        """Queues a conversation for a person; one open handoff per conversation."""
        assert priority in PRIORITY_ORDER
        existing = self.open_handoff_for(sender_id)
        if existing:
            return int(existing["id"])
        return int(
            self.db["handoffs"]
            .insert(
                {
                    "sender_id": sender_id,
                    "channel": channel,
                    "reason": reason,
                    "priority": priority,
                    "language": language,
                    "ticket_number": ticket_number,
                    "last_messages": json.dumps(list(last_messages), ensure_ascii=False),
                    "status": "open",
                    "created_at": now(),
                    "closed_at": None,
                    "closed_by": None,
                }
            )
            .last_pk
        )

    def open_handoff_for(self, sender_id: str) -> Dict[str, Any] | None:
        """The open handoff of a conversation, if any."""
        return self.latest_handoff(sender_id, "open")

    def latest_handoff(self, sender_id: str, status: str | None = None) -> Dict[str, Any] | None:
        """A conversation's most recent handoff (with `status`, when given), if any."""
        where, args = "sender_id = ?", [sender_id]
        if status:
            where, args = where + " and status = ?", args + [status]
        rows = list(self.db["handoffs"].rows_where(where, args, order_by="id desc", limit=1))
        return rows[0] if rows else None

    def get_handoff(self, handoff_id: int) -> Dict[str, Any]:
        """One handoff by id."""
        rows = list(self.db["handoffs"].rows_where("id = ?", [handoff_id]))
        if not rows:
            raise NotFound(f"no handoff with id {handoff_id}")
        return rows[0]

    def list_handoffs(self, status: str | None = "open") -> List[Dict[str, Any]]:
        """The queue: highest priority first, then oldest first."""
        where, args = ("status = ?", [status]) if status else (None, [])
        rows = list(self.db["handoffs"].rows_where(where, args, order_by="id"))
        return sorted(rows, key=lambda r: (PRIORITY_ORDER.get(r["priority"], 9), r["id"]))

    def close_handoff(self, handoff_id: int, by: str = "cli") -> Dict[str, Any]:
        """Marks a handoff closed; returns it (closing twice is harmless)."""
        handoff = self.get_handoff(handoff_id)
        if handoff["status"] != "closed":
            self.db["handoffs"].update(
                handoff_id, {"status": "closed", "closed_at": now(), "closed_by": by}
            )
        return self.get_handoff(handoff_id)

    # -- feedback ------------------------------------------------------------------

    def record_feedback(
        self, sender_id: str, subject: str, subject_id: str | None, helpful: bool
    ) -> int:
        """Stores a "was this helpful?" answer."""
        return int(
            self.db["feedback"]
            .insert(
                {
                    "sender_id": sender_id,
                    "subject": subject,
                    "subject_id": subject_id,
                    "helpful": int(helpful),
                    "created_at": now(),
                }
            )
            .last_pk
        )
