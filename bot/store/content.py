"""Content: verified facts, FAQ entries, open rumours and who asked them."""

from __future__ import annotations

from typing import Any, Dict, List

from bot.language import normalize
from bot.store.base import Area, NotFound, now

VERDICTS = ("true", "false", "misleading", "unverified")
FACT_STATUSES = ("draft", "published", "retired")
FACT_FIELDS = ("id", "topic", "claim", "verdict", "answer_tr", "answer_en", "source_url")
FAQ_FIELDS = ("id", "question_tr", "question_en", "answer_tr", "answer_en", "source_url")


class ContentStore(Area):
    """Facts, FAQ entries and rumours."""

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
