"""The operational store: the only code that reads or writes crisisdesk's SQLite database.

Facts, FAQ entries, open rumours and their askers, tickets, handoffs and feedback.
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
