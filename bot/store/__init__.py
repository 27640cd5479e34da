"""The operational store: the only code that reads or writes crisisdesk's SQLite database.

Facts, FAQ entries, open rumours and their askers, tickets, handoffs and feedback;
for the channels, the outbox of messages to customers, the ids of incoming
messages, opt-outs and the numbered options offered in a conversation.
Open it with `Store.open(path)`, which applies pending migrations explicitly.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Union

import sqlite_utils

from bot.language import normalize
from bot.store import migrations

VERDICTS = ("true", "false", "misleading", "unverified")
FACT_STATUSES = ("draft", "published", "retired")
FACT_FIELDS = ("id", "topic", "claim", "verdict", "answer_tr", "answer_en", "source_url")
FAQ_FIELDS = ("id", "question_tr", "question_en", "answer_tr", "answer_en", "source_url")
PRIORITY_ORDER = {"high": 0, "normal": 1, "low": 2}
OUTGOING_STATUSES = ("pending", "sent", "failed")
INBOUND_STATUSES = ("received", "processed", "failed")
# Provider delivery reports, in the order they can happen; failures are final.
DELIVERY_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


def now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class NotFound(LookupError):
    """Raised when a record asked for by id does not exist."""


@dataclass(frozen=True)
class Ticket:
    """A recorded complaint."""

    id: int
    number: str
    severity: str
    reasons: List[str]


class Store:
    """crisisdesk's operational database (sqlite-utils over one SQLite file)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: Union[str, Path], migrate: bool = True) -> Store:
        """Opens (creating when needed) the database at `path` and migrates it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma foreign_keys=on")
        conn.execute("pragma busy_timeout=10000")
        store = cls(sqlite_utils.Database(conn))
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> List[str]:
        """Applies pending schema migrations; returns the names applied."""
        return migrations.apply(self.db)

    def close(self) -> None:
        """Closes the connection."""
        self.db.conn.close()

    # -- facts ---------------------------------------------------------------

    def upsert_fact(self, fact: Dict[str, str], status: str, verified_by: str) -> bool:
        """Inserts or updates one fact (already validated); True when it was new."""
        assert status in FACT_STATUSES
        stamp = now()
        existing = self.get_fact(fact["id"], missing_ok=True)
        row = {key: fact.get(key) or "" for key in FACT_FIELDS}
        row.update(status=status, updated_at=stamp, verified_by=verified_by)
        row["verified_at"] = stamp if status == "published" else None
        row["created_at"] = existing["created_at"] if existing else stamp
        self.db["facts"].upsert(row, pk="id")
        return existing is None

    def get_fact(self, fact_id: str, missing_ok: bool = False) -> Dict[str, Any] | None:
        """One fact by id (None when `missing_ok` and absent)."""
        rows = list(self.db["facts"].rows_where("id = ?", [fact_id]))
        if not rows:
            if missing_ok:
                return None
            raise NotFound(f"no fact with id {fact_id!r}")
        return rows[0]

    def list_facts(self, status: str | None = None) -> List[Dict[str, Any]]:
        """Facts ordered by id, optionally only those with `status`."""
        if status:
            return list(self.db["facts"].rows_where("status = ?", [status], order_by="id"))
        return list(self.db["facts"].rows_where(order_by="id"))

    def published_facts(self) -> List[Dict[str, Any]]:
        """The facts that may reach a customer."""
        return self.list_facts("published")

    def set_fact_status(self, fact_id: str, status: str, by: str = "cli") -> Dict[str, Any]:
        """Publishes, retires or drafts a fact; returns it."""
        assert status in FACT_STATUSES
        self.get_fact(fact_id)
        changes: Dict[str, Any] = {"status": status, "updated_at": now()}
        if status == "published":
            changes.update(verified_at=now(), verified_by=by)
        self.db["facts"].update(fact_id, changes)
        return self.get_fact(fact_id)  # type: ignore[return-value]

    def content_version(self) -> int:
        """Changes whenever a fact or FAQ entry changes (for caching match indexes)."""
        return int(self.db.execute("select revision from content_revision").fetchone()[0])

    # -- FAQ -----------------------------------------------------------------

    def upsert_faq(self, faq: Dict[str, str], status: str = "published") -> bool:
        """Inserts or updates one FAQ entry; True when it was new."""
        stamp = now()
        existing = list(self.db["faqs"].rows_where("id = ?", [faq["id"]]))
        row = {key: faq.get(key) or "" for key in FAQ_FIELDS}
        row.update(status=status, updated_at=stamp)
        row["created_at"] = existing[0]["created_at"] if existing else stamp
        self.db["faqs"].upsert(row, pk="id")
        return not existing

    def published_faqs(self) -> List[Dict[str, Any]]:
        """FAQ entries that may reach a customer."""
        return list(self.db["faqs"].rows_where("status = 'published'", order_by="id"))

    # -- rumours ---------------------------------------------------------------

    def record_rumour(
        self, text: str, language: str | None, sender_id: str, channel: str | None
    ) -> int:
        """Records an unanswered claim and who asked it; returns the rumour id.

        The same claim (after normalisation) asked again bumps its count and adds
        the asker once.
        """
        stamp = now()
        key = normalize(text)[:500]
        with self.db.conn:
            found = self.db.execute("select id from rumours where normalized = ?", [key]).fetchone()
            if found:
                rumour_id = found[0]
                self.db.execute(
                    "update rumours set ask_count = ask_count + 1, last_seen = ?,"
                    " status = case when status = 'answered' then status else 'open' end"
                    " where id = ?",
                    [stamp, rumour_id],
                )
            else:
                rumour_id = (
                    self.db["rumours"]
                    .insert(
                        {
                            "text": text,
                            "normalized": key,
                            "language": language,
                            "status": "open",
                            "fact_id": None,
                            "ask_count": 1,
                            "first_seen": stamp,
                            "last_seen": stamp,
                        }
                    )
                    .last_pk
                )
            self.db["rumour_askers"].upsert(
                {
                    "rumour_id": rumour_id,
                    "sender_id": sender_id,
                    "channel": channel,
                    "language": language,
                    "asked_at": stamp,
                    "notified_at": None,
                },
                pk=("rumour_id", "sender_id"),
            )
        return int(rumour_id)

    def list_rumours(self, status: str | None = None) -> List[Dict[str, Any]]:
        """Rumours, most asked first."""
        where, args = ("status = ?", [status]) if status else (None, [])
        return list(self.db["rumours"].rows_where(where, args, order_by="ask_count desc, id"))

    def answer_rumour(self, rumour_id: int, fact_id: str) -> None:
        """Links an open rumour to the fact that answers it."""
        self.db["rumours"].update(rumour_id, {"status": "answered", "fact_id": fact_id})

    def rumour_askers(self, rumour_id: int) -> List[Dict[str, Any]]:
        """Who asked about a rumour, for the follow-up once a fact answers it."""
        return list(self.db["rumour_askers"].rows_where("rumour_id = ?", [rumour_id]))

    def pending_followups(self) -> List[Dict[str, Any]]:
        """Askers of answered rumours who have not been told yet."""
        return list(
            self.db.query(
                "select a.*, r.fact_id, r.text from rumour_askers a"
                " join rumours r on r.id = a.rumour_id"
                " where r.status = 'answered' and a.notified_at is null"
                " order by a.asked_at"
            )
        )

    def mark_followup_sent(self, rumour_id: int, sender_id: str) -> None:
        """Records that an asker was told the answer to their rumour."""
        self.db.execute(
            "update rumour_askers set notified_at = ? where rumour_id = ? and sender_id = ?",
            [now(), rumour_id, sender_id],
        )
        self.db.conn.commit()

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

    # -- outbox ----------------------------------------------------------------------
    # Messages to customers, written before they are sent (bot/outbox.py sends them).

    def enqueue_outgoing(
        self,
        channel: str,
        recipient: str,
        payload: Dict[str, Any],
        answers: str | None = None,
        due_at: float = 0.0,
    ) -> int:
        """Writes one outgoing message as pending; returns its id."""
        return int(
            self.db["outbox"]
            .insert(
                {
                    "channel": channel,
                    "recipient": recipient,
                    "payload": json.dumps(payload, ensure_ascii=False),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": due_at,
                    "last_error": None,
                    "provider_id": None,
                    "delivery_status": None,
                    "answers": answers,
                    "created_at": now(),
                    "sent_at": None,
                }
            )
            .last_pk
        )

    def get_outgoing(self, outgoing_id: int) -> Dict[str, Any]:
        """One outbox row by id."""
        rows = list(self.db["outbox"].rows_where("id = ?", [outgoing_id]))
        if not rows:
            raise NotFound(f"no outgoing message with id {outgoing_id}")
        return rows[0]

    def list_outgoing(
        self, status: str | None = None, channel: str | None = None
    ) -> List[Dict[str, Any]]:
        """Outbox rows in the order they were written, optionally filtered."""
        clauses, args = [], []
        if status:
            clauses.append("status = ?")
            args.append(status)
        if channel:
            clauses.append("channel = ?")
            args.append(channel)
        where = " and ".join(clauses) or None
        return list(self.db["outbox"].rows_where(where, args, order_by="id"))

    def due_recipients(
        self, at: float, channels: Sequence[str], limit: int = 1000
    ) -> List[tuple[str, str]]:
        """(channel, recipient) pairs of `channels` whose oldest pending message is due at `at`."""
        marks = ", ".join("?" for _ in channels)
        rows = self.db.execute(
            "select o.channel, o.recipient from outbox o"
            f" where o.status = 'pending' and o.next_attempt_at <= ? and o.channel in ({marks})"
            " and o.id = (select min(p.id) from outbox p where p.status = 'pending'"
            " and p.channel = o.channel and p.recipient = o.recipient)"
            " order by o.id limit ?",
            [at, *channels, limit],
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def oldest_pending(self, channel: str, recipient: str) -> Dict[str, Any] | None:
        """The next message a recipient should get (messages go out in order)."""
        rows = list(
            self.db["outbox"].rows_where(
                "status = 'pending' and channel = ? and recipient = ?",
                [channel, recipient],
                order_by="id",
                limit=1,
            )
        )
        return rows[0] if rows else None

    def next_due_at(self, channels: Sequence[str]) -> float | None:
        """When the next recipient's oldest pending message of `channels` is due, or None."""
        marks = ", ".join("?" for _ in channels)
        row = self.db.execute(
            "select min(o.next_attempt_at) from outbox o"
            f" where o.status = 'pending' and o.channel in ({marks})"
            " and o.id = (select min(p.id) from outbox p where p.status = 'pending'"
            " and p.channel = o.channel and p.recipient = o.recipient)",
            list(channels),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def claim_outgoing(self, outgoing_id: int, at: float, lease_until: float) -> bool:
        """Takes a due message for one attempt; False when someone else has it or it is done.

        Counting the attempt and pushing `next_attempt_at` to `lease_until` in one
        statement means two deliverers never send the same message at once; a
        deliverer that dies mid-send leaves the message to be retried after the lease.
        """
        with self.db.conn:
            cursor = self.db.execute(
                "update outbox set attempts = attempts + 1, next_attempt_at = ?"
                " where id = ? and status = 'pending' and next_attempt_at <= ?",
                [lease_until, outgoing_id, at],
            )
        return cursor.rowcount == 1

    def mark_sent(self, outgoing_id: int, provider_id: str) -> bool:
        """Records a successful send; True only the first time (a message is sent once)."""
        with self.db.conn:
            cursor = self.db.execute(
                "update outbox set status = 'sent', provider_id = ?, sent_at = ?,"
                " last_error = null where id = ? and status = 'pending'",
                [provider_id, now(), outgoing_id],
            )
        return cursor.rowcount == 1

    def mark_retry(self, outgoing_id: int, at: float, error: str) -> None:
        """Leaves a message pending for another attempt at `at` (Unix time)."""
        with self.db.conn:
            self.db.execute(
                "update outbox set next_attempt_at = ?, last_error = ?"
                " where id = ? and status = 'pending'",
                [at, error[:1000], outgoing_id],
            )

    def mark_failed(self, outgoing_id: int, error: str) -> None:
        """Gives up on a message; it stays in the outbox for an operator."""
        with self.db.conn:
            self.db.execute(
                "update outbox set status = 'failed', last_error = ?"
                " where id = ? and status = 'pending'",
                [error[:1000], outgoing_id],
            )

    def retry_outgoing(self, outgoing_id: int) -> Dict[str, Any]:
        """Puts a failed message back in the queue, due now, with a fresh attempt count."""
        self.get_outgoing(outgoing_id)
        with self.db.conn:
            self.db.execute(
                "update outbox set status = 'pending', attempts = 0, next_attempt_at = 0"
                " where id = ? and status = 'failed'",
                [outgoing_id],
            )
        return self.get_outgoing(outgoing_id)

    def update_delivery_status(self, channel: str, provider_id: str, status: str) -> bool:
        """Records a provider's delivery report; a late report never moves a message back.

        Returns False when no sent message has that provider id.
        """
        row = self.db.execute(
            "select id, delivery_status from outbox where channel = ? and provider_id = ?",
            [channel, provider_id],
        ).fetchone()
        if row is None:
            return False
        if DELIVERY_RANK.get(status, 0) >= DELIVERY_RANK.get(row[1] or "", -1):
            with self.db.conn:
                self.db.execute(
                    "update outbox set delivery_status = ? where id = ?", [status, row[0]]
                )
        return True

    # -- inbound messages --------------------------------------------------------------

    def record_inbound(
        self,
        channel: str,
        message_id: str,
        sender: str,
        body: str,
        media: Sequence[Dict[str, Any]] = (),
    ) -> bool:
        """Remembers an incoming message; False when its id was seen before (a retry)."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert or ignore into inbound_messages"
                " (channel, message_id, sender, body, media, status, received_at)"
                " values (?, ?, ?, ?, ?, 'received', ?)",
                [
                    channel,
                    message_id,
                    sender,
                    body,
                    json.dumps(list(media), ensure_ascii=False),
                    now(),
                ],
            )
        return cursor.rowcount == 1

    def finish_inbound(
        self, channel: str, message_id: str, status: str = "processed", error: str | None = None
    ) -> None:
        """Marks an incoming message handled (`processed`) or not (`failed`, with why)."""
        assert status in INBOUND_STATUSES
        with self.db.conn:
            self.db.execute(
                "update inbound_messages set status = ?, processed_at = ?, error = ?"
                " where channel = ? and message_id = ?",
                [status, now(), error, channel, message_id],
            )

    def list_inbound(
        self, channel: str | None = None, status: str | None = None
    ) -> List[Dict[str, Any]]:
        """Incoming messages in arrival order, optionally filtered."""
        clauses, args = [], []
        if channel:
            clauses.append("channel = ?")
            args.append(channel)
        if status:
            clauses.append("status = ?")
            args.append(status)
        where = " and ".join(clauses) or None
        return list(self.db["inbound_messages"].rows_where(where, args, order_by="id"))

    # -- opt-outs ----------------------------------------------------------------------

    def opt_out(self, channel: str, recipient: str) -> bool:
        """Stops proactive messages to a recipient; True when they were opted in before."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert or ignore into opt_outs (channel, recipient, opted_out_at)"
                " values (?, ?, ?)",
                [channel, recipient, now()],
            )
        return cursor.rowcount == 1

    def opt_in(self, channel: str, recipient: str) -> bool:
        """Allows proactive messages again; True when the recipient had opted out."""
        with self.db.conn:
            cursor = self.db.execute(
                "delete from opt_outs where channel = ? and recipient = ?", [channel, recipient]
            )
        return cursor.rowcount == 1

    def is_opted_out(self, channel: str, recipient: str) -> bool:
        """Whether a recipient asked for no proactive messages."""
        return bool(
            self.db["opt_outs"].count_where("channel = ? and recipient = ?", [channel, recipient])
        )

    # -- offered choices ---------------------------------------------------------------

    def offer_choices(
        self, channel: str, recipient: str, options: Sequence[Dict[str, Any]]
    ) -> None:
        """Remembers the numbered options last shown to a conversation (replacing older ones)."""
        self.db["offered_choices"].upsert(
            {
                "channel": channel,
                "recipient": recipient,
                "options": json.dumps(list(options), ensure_ascii=False),
                "offered_at": now(),
            },
            pk=("channel", "recipient"),
        )

    def take_choices(self, channel: str, recipient: str) -> List[Dict[str, Any]]:
        """The options offered to a conversation, forgotten once read (they answer one reply)."""
        with self.db.conn:
            row = self.db.execute(
                "select options from offered_choices where channel = ? and recipient = ?",
                [channel, recipient],
            ).fetchone()
            if row is None:
                return []
            self.db.execute(
                "delete from offered_choices where channel = ? and recipient = ?",
                [channel, recipient],
            )
        return list(json.loads(row[0]))
