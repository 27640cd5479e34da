"""Cases: complaint tickets, handoffs to a person, and feedback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from bot.store.base import Area, NotFound, now

PRIORITY_ORDER = {"high": 0, "normal": 1, "low": 2}
HANDOFF_STATUSES = ("waiting", "assigned", "closed")
ACTIVE_STATUSES = ("waiting", "assigned")
# Why a conversation is in the queue (the desk shows these words).
HANDOFF_KINDS = {
    "asked_for_person": "asked for a person",
    "severe_complaint": "severe complaint",
    "not_understood": "bot did not understand",
    "bot_failed": "bot failed",
}
BOT_FAILED_REASON = "bot failed"
# What the desk tells about a handoff, once each (`handoff_notices`).
NOTICE_KINDS = ("reminder", "after_hours", "staff_alert")
NOTICE_STATUSES = ("pending", "queued", "sent", "skipped", "failed")


def handoff_kind(reason: str) -> str:
    """The queue's reason kind for a handoff's free-text reason."""
    text = reason.lower()
    if text.startswith(BOT_FAILED_REASON):
        return "bot_failed"
    if text.startswith("complaint"):
        return "severe_complaint"
    if "did not understand" in text:
        return "not_understood"
    return "asked_for_person"


def last_customer_words(last_messages: List[Dict[str, Any]]) -> str:
    """The customer's latest words among a handoff's last messages ("" when none)."""
    return next(
        (m.get("text") or "" for m in reversed(last_messages) if m.get("from") == "customer"), ""
    )


def _decoded(row: Dict[str, Any]) -> Dict[str, Any]:
    """A handoff row with its JSON columns (intents, last messages) read."""
    row = dict(row)
    row["intents"] = json.loads(row.get("intents") or "[]")
    row["last_messages"] = json.loads(row.get("last_messages") or "[]")
    return row


def _status_clause(status: str) -> Tuple[str, List[Any]]:
    if status == "open":
        return "status in ('waiting', 'assigned')", []
    assert status in HANDOFF_STATUSES, status
    return "status = ?", [status]


class HandoffConflict(Exception):
    """A handoff transition that did not apply: the conversation is not in the state it needs.

    `handoff` is the handoff as it is now (e.g. who owns it); `owner` its agent, if any.
    """

    def __init__(self, handoff: Dict[str, Any], wanted: str) -> None:
        self.handoff = handoff
        self.wanted = wanted
        self.owner: str | None = handoff.get("assigned_to")
        super().__init__(
            f"cannot {wanted} handoff {handoff['id']}: it is {handoff['status']}"
            + (f" (with {self.owner})" if self.owner else "")
        )


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
    #
    # A conversation's life: bot (no active handoff) -> waiting (in the queue) ->
    # assigned (one agent owns it) -> closed (the bot has it again). Each transition
    # is one UPDATE whose WHERE names the state it starts from, so two agents acting
    # at once cannot both win: the loser's UPDATE changes no row and it is told who
    # has the conversation (HandoffConflict). Every transition also writes a row to
    # `handoff_changes` (what the desk's live feed tails) and to the audit log.

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
        kind: str | None = None,
        intents: Sequence[Dict[str, Any]] = (),
        actor: str = "bot",
        incident_id: int | None = None,
    ) -> int:
        """Queues a conversation for a person (bot -> waiting); one active handoff each.

        A conversation that already has a waiting or assigned handoff keeps it; its id
        is returned. `incident_id`: the active incident whose topic the conversation
        is on (the queue shows it).
        """
        assert priority in PRIORITY_ORDER
        kind = kind or handoff_kind(reason)
        assert kind in HANDOFF_KINDS, kind
        at = now()
        with self.db.conn:
            cursor = self.db.execute(
                "insert into handoffs (sender_id, channel, reason, kind, priority, language,"
                " ticket_number, last_messages, intents, incident_id, status, created_at,"
                " updated_at) select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?"
                " where not exists (select 1 from handoffs where sender_id = ?"
                " and status in ('waiting', 'assigned'))",
                [
                    sender_id,
                    channel,
                    reason,
                    kind,
                    priority,
                    language,
                    ticket_number,
                    json.dumps(list(last_messages), ensure_ascii=False),
                    json.dumps(list(intents), ensure_ascii=False),
                    incident_id,
                    at,
                    at,
                    sender_id,
                ],
            )
            if cursor.rowcount == 1:
                handoff_id = int(cursor.lastrowid)
                self._handoff_changed(handoff_id, sender_id, "opened", actor, kind)
        if cursor.rowcount != 1:
            existing = self.open_handoff_for(sender_id)
            assert existing is not None
            return int(existing["id"])
        self._audit_handoff(actor, "opened", handoff_id, {"kind": kind, "priority": priority})
        return handoff_id

    def open_handoff_for(self, sender_id: str) -> Dict[str, Any] | None:
        """The active (waiting or assigned) handoff of a conversation, if any."""
        return self.latest_handoff(sender_id, "open")

    def latest_handoff(self, sender_id: str, status: str | None = None) -> Dict[str, Any] | None:
        """A conversation's most recent handoff (with `status`, when given), if any.

        The status "open" means active: waiting or assigned.
        """
        where, args = "sender_id = ?", [sender_id]
        if status:
            clause, more = _status_clause(status)
            where, args = f"{where} and {clause}", args + more
        rows = list(self.db["handoffs"].rows_where(where, args, order_by="id desc", limit=1))
        return rows[0] if rows else None

    def get_handoff(self, handoff_id: int) -> Dict[str, Any]:
        """One handoff by id."""
        rows = list(self.db["handoffs"].rows_where("id = ?", [handoff_id]))
        if not rows:
            raise NotFound(f"no handoff with id {handoff_id}")
        return rows[0]

    def list_handoffs(self, status: str | None = "open") -> List[Dict[str, Any]]:
        """Handoffs, highest priority first, then the longest waiting first.

        `status`: "open" (waiting or assigned, the default), one state, or None for all.
        """
        where, args = _status_clause(status) if status else (None, [])
        rows = list(self.db["handoffs"].rows_where(where, args, order_by="id"))
        return sorted(rows, key=lambda r: (PRIORITY_ORDER.get(r["priority"], 9), r["id"]))

    def queue(self) -> List[Dict[str, Any]]:
        """The desk's queue: active handoffs with their ticket's severity, in queue order.

        Waiting ones first (highest priority, then longest wait), then the assigned ones
        in the same order.
        """
        rows = [
            _decoded(row)
            for row in self.db.query(
                "select h.*, t.severity as ticket_severity, i.name as incident_name"
                " from handoffs h left join tickets t on t.number = h.ticket_number"
                " left join incidents i on i.id = h.incident_id"
                " where h.status in ('waiting', 'assigned')"
            )
        ]
        return sorted(
            rows,
            key=lambda r: (
                r["status"] != "waiting",
                PRIORITY_ORDER.get(r["priority"], 9),
                r["created_at"] or "",
                r["id"],
            ),
        )

    def claim_handoff(self, handoff_id: int, agent: str) -> Dict[str, Any]:
        """waiting -> assigned to `agent`. Raises HandoffConflict when someone else has it.

        Claiming one's own conversation again changes nothing and returns it.
        """
        at = now()
        changed = self._transition(
            handoff_id,
            "status = 'assigned', assigned_to = ?, assigned_at = ?, updated_at = ?,"
            " first_assigned_at = coalesce(first_assigned_at, ?)",
            [agent, at, at, at],
            "status = 'waiting'",
            [],
            "claimed",
            agent,
            None,
        )
        handoff = self.get_handoff(handoff_id)
        if not changed:
            if handoff["status"] == "assigned" and handoff["assigned_to"] == agent:
                return handoff
            raise HandoffConflict(handoff, "claim")
        self._audit_handoff(agent, "claim", handoff_id, None)
        return handoff

    def release_handoff(
        self, handoff_id: int, agent: str, *, by: str | None = None
    ) -> Dict[str, Any]:
        """assigned to `agent` -> waiting (back in the queue), only while still `agent`'s.

        `by` is who did it when that is not the owner (an admin).
        """
        at = now()
        changed = self._transition(
            handoff_id,
            "status = 'waiting', assigned_to = null, assigned_at = null, updated_at = ?",
            [at],
            "status = 'assigned' and assigned_to = ?",
            [agent],
            "released",
            by or agent,
            agent,
        )
        handoff = self.get_handoff(handoff_id)
        if not changed:
            raise HandoffConflict(handoff, "release")
        self._audit_handoff(by or agent, "release", handoff_id, {"from": agent})
        return handoff

    def transfer_handoff(
        self, handoff_id: int, from_agent: str, to_agent: str, *, by: str | None = None
    ) -> Dict[str, Any]:
        """assigned to `from_agent` -> assigned to `to_agent`, only while still `from_agent`'s."""
        at = now()
        changed = self._transition(
            handoff_id,
            "assigned_to = ?, assigned_at = ?, updated_at = ?",
            [to_agent, at, at],
            "status = 'assigned' and assigned_to = ?",
            [from_agent],
            "transferred",
            by or from_agent,
            to_agent,
        )
        handoff = self.get_handoff(handoff_id)
        if not changed:
            raise HandoffConflict(handoff, "transfer")
        self._audit_handoff(
            by or from_agent, "transfer", handoff_id, {"from": from_agent, "to": to_agent}
        )
        return handoff

    def close_handoff(
        self, handoff_id: int, by: str = "cli", *, owner: str | None = None
    ) -> Dict[str, Any]:
        """waiting or assigned -> closed; returns it (closing twice is harmless).

        With `owner`, only while that agent owns it (HandoffConflict otherwise).
        """
        at = now()
        guard, guard_args = "status in ('waiting', 'assigned')", []
        if owner is not None:
            guard, guard_args = "status = 'assigned' and assigned_to = ?", [owner]
        changed = self._transition(
            handoff_id,
            "status = 'closed', closed_at = ?, closed_by = ?, updated_at = ?",
            [at, by, at],
            guard,
            guard_args,
            "closed",
            by,
            None,
        )
        handoff = self.get_handoff(handoff_id)
        if not changed:
            if handoff["status"] == "closed":
                return handoff
            raise HandoffConflict(handoff, "close")
        self._audit_handoff(by, "close", handoff_id, None)
        return handoff

    def record_first_reply(self, handoff_id: int) -> bool:
        """Notes the time of the first agent reply (once); True when this was the first."""
        with self.db.conn:
            cursor = self.db.execute(
                "update handoffs set first_reply_at = ? where id = ? and first_reply_at is null",
                [now(), handoff_id],
            )
        return cursor.rowcount == 1

    def rate_handoff(self, handoff_id: int, rating: int) -> Dict[str, Any]:
        """Stores the customer's 1-5 rating of a handoff."""
        if not 1 <= int(rating) <= 5:
            raise ValueError("a rating is 1 to 5")
        handoff = self.get_handoff(handoff_id)
        with self.db.conn:
            self.db.execute(
                "update handoffs set rating = ?, updated_at = ? where id = ?",
                [int(rating), now(), handoff_id],
            )
            self._handoff_changed(handoff_id, handoff["sender_id"], "rated", "customer", None)
        return self.get_handoff(handoff_id)

    # -- notices and measures ------------------------------------------------------
    #
    # What was said about a handoff, once each (kinds in NOTICE_KINDS): a row is
    # claimed by an INSERT that does nothing when one exists, before anything is
    # sent, so two sweeps never both send it.

    def handoffs_without_notice(
        self,
        kind: str,
        *,
        priority: str | None = None,
        created_before: str | None = None,
        stale_before: str = "",
    ) -> List[Dict[str, Any]]:
        """Waiting handoffs that have no `kind` notice yet, oldest first (JSON columns read).

        A notice still reserved ('pending') since before `stale_before` counts as
        missing: the process that reserved it died before it could say how it ended.
        """
        assert kind in NOTICE_KINDS, kind
        where = [
            "h.status = 'waiting'",
            "not exists (select 1 from handoff_notices n where n.handoff_id = h.id and n.kind = ?"
            " and (n.status <> 'pending' or n.updated_at >= ?))",
        ]
        args: List[Any] = [kind, stale_before]
        if priority is not None:
            where.append("h.priority = ?")
            args.append(priority)
        if created_before is not None:
            where.append("h.created_at <= ?")
            args.append(created_before)
        sql = f"select h.* from handoffs h where {' and '.join(where)} order by h.id"
        return [_decoded(row) for row in self.db.query(sql, args)]

    def claim_handoff_notice(self, handoff_id: int, kind: str, stale_before: str = "") -> bool:
        """Reserves the `kind` notice of a handoff; False when it exists (sent or reserved).

        A reservation left 'pending' since before `stale_before` (its process died
        between reserving and recording the outcome) is taken over: the customer may
        then hear the same update twice, which beats never hearing it.
        """
        assert kind in NOTICE_KINDS, kind
        at = now()
        with self.db.conn:
            cursor = self.db.execute(
                "insert into handoff_notices (handoff_id, kind, status, created_at, updated_at)"
                " values (?, ?, 'pending', ?, ?) on conflict (handoff_id, kind) do update"
                " set updated_at = excluded.updated_at"
                " where handoff_notices.status = 'pending' and handoff_notices.updated_at < ?",
                [handoff_id, kind, at, at, stale_before],
            )
        return cursor.rowcount == 1

    def finish_handoff_notice(
        self,
        handoff_id: int,
        kind: str,
        status: str,
        *,
        outbox_id: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Records how a reserved notice ended: queued (outbox), sent, skipped or failed."""
        assert status in NOTICE_STATUSES, status
        with self.db.conn:
            self.db.execute(
                "update handoff_notices set status = ?, outbox_id = ?, detail = ?, updated_at = ?"
                " where handoff_id = ? and kind = ?",
                [status, outbox_id, detail, now(), handoff_id, kind],
            )

    def release_handoff_notice(self, handoff_id: int, kind: str) -> None:
        """Forgets a reserved notice that could not be sent yet (the next sweep tries again)."""
        with self.db.conn:
            self.db.execute(
                "delete from handoff_notices where handoff_id = ? and kind = ?"
                " and status = 'pending'",
                [handoff_id, kind],
            )

    def list_handoff_notices(self, handoff_id: int) -> List[Dict[str, Any]]:
        """A handoff's notices, oldest first."""
        return list(
            self.db["handoff_notices"].rows_where("handoff_id = ?", [handoff_id], order_by="id")
        )

    def closed_handoffs(self, limit: int = 50) -> List[Dict[str, Any]]:
        """The latest closed handoffs with their measures' time stamps, newest first.

        Each has created_at, first_assigned_at, first_reply_at, closed_at, the agent
        (`assigned_to`, who had it at the end), `closed_by` and the 1-5 `rating`.
        """
        return list(
            self.db.query(
                "select id, sender_id, channel, kind, reason, priority, language, created_at,"
                " first_assigned_at, first_reply_at, closed_at, assigned_to, closed_by, rating"
                " from handoffs where status = 'closed' order by closed_at desc, id desc limit ?",
                [limit],
            )
        )

    def handoff_changes_after(self, after_id: int, limit: int = 500) -> List[Dict[str, Any]]:
        """Handoff changes with an id above `after_id`, oldest first (the live feed)."""
        return list(
            self.db["handoff_changes"].rows_where("id > ?", [after_id], order_by="id", limit=limit)
        )

    def last_handoff_change_id(self) -> int:
        """The id of the latest handoff change (0 when there is none)."""
        row = self.db.execute("select max(id) from handoff_changes").fetchone()
        return int(row[0] or 0)

    def _transition(
        self,
        handoff_id: int,
        assignments: str,
        assignment_args: List[Any],
        guard: str,
        guard_args: List[Any],
        change: str,
        actor: str,
        detail: str | None,
    ) -> bool:
        """One guarded UPDATE and its change row, in one transaction; True when it applied."""
        with self.db.conn:
            cursor = self.db.execute(
                f"update handoffs set {assignments} where id = ? and {guard}",
                [*assignment_args, handoff_id, *guard_args],
            )
            if cursor.rowcount != 1:
                return False
            sender = self.db.execute(
                "select sender_id from handoffs where id = ?", [handoff_id]
            ).fetchone()[0]
            self._handoff_changed(handoff_id, sender, change, actor, detail)
        return True

    def _handoff_changed(
        self, handoff_id: int, sender_id: str, change: str, actor: str, detail: str | None
    ) -> None:
        self.db.execute(
            "insert into handoff_changes (handoff_id, sender_id, change, actor, detail, at)"
            " values (?, ?, ?, ?, ?, ?)",
            [handoff_id, sender_id, change, actor, detail, now()],
        )

    def _audit_handoff(self, actor: str, action: str, handoff_id: int, detail: Any) -> None:
        self.audit(actor, f"conversation.{action}", f"handoff:{handoff_id}", detail)  # type: ignore[attr-defined]

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
