"""Content: verified facts, FAQ entries, open rumours and who asked them."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Sequence, Tuple

from bot.language import normalize
from bot.store.base import Area, NotFound, now

VERDICTS = ("true", "false", "misleading", "unverified")
FACT_STATUSES = ("draft", "published", "retired")
FACT_FIELDS = (
    "id",
    "topic",
    "claim_tr",
    "claim_en",
    "verdict",
    "answer_tr",
    "answer_en",
    "source_url",
)
BRAND_STATUSES = ("added", "removed")
SUGGESTION_STATUSES = ("open", "rejected", "confirmed")
FAQ_FIELDS = ("id", "question_tr", "question_en", "answer_tr", "answer_en", "source_url")
FAQ_STATUSES = ("draft", "published", "retired")


class ContentStore(Area):
    """Facts, FAQ entries and rumours."""

    # -- facts ---------------------------------------------------------------

    def upsert_fact(self, fact: Dict[str, str], status: str, verified_by: str) -> bool:
        """Inserts or updates one fact (already validated); True when it was new."""
        assert status in FACT_STATUSES
        stamp = now()
        existing = self.get_fact(fact["id"], missing_ok=True)
        row = {key: fact.get(key) or "" for key in FACT_FIELDS}
        row["claim_en"] = row["claim_en"] or fact.get("claim") or ""  # the column's old name
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

    def search_facts(self, query: str = "", status: str | None = None) -> List[Dict[str, Any]]:
        """Facts whose id, topic, claims or answers contain every word of `query`, by id."""
        columns = ("id", "topic", "claim_tr", "claim_en", "answer_tr", "answer_en")
        any_column = " or ".join(f"lower({c}) like ? escape '!'" for c in columns)
        clauses, args = [], []
        if status:
            clauses.append("status = ?")
            args.append(status)
        for word in query.lower().split():
            escaped = word.replace("!", "!!").replace("%", "!%").replace("_", "!_")
            clauses.append(f"({any_column})")
            args.extend([f"%{escaped}%"] * len(columns))
        where = " and ".join(clauses) or None
        return list(self.db["facts"].rows_where(where, args, order_by="id"))

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

    def get_faq(self, faq_id: str, missing_ok: bool = False) -> Dict[str, Any] | None:
        """One FAQ entry by id (None when `missing_ok` and absent)."""
        rows = list(self.db["faqs"].rows_where("id = ?", [faq_id]))
        if not rows:
            if missing_ok:
                return None
            raise NotFound(f"no FAQ entry with id {faq_id!r}")
        return rows[0]

    def list_faqs(self, status: str | None = None) -> List[Dict[str, Any]]:
        """FAQ entries ordered by id, optionally only those with `status`."""
        if status:
            return list(self.db["faqs"].rows_where("status = ?", [status], order_by="id"))
        return list(self.db["faqs"].rows_where(order_by="id"))

    def set_faq_status(self, faq_id: str, status: str) -> Dict[str, Any]:
        """Publishes, retires or drafts an FAQ entry; returns it."""
        assert status in FAQ_STATUSES
        self.get_faq(faq_id)
        self.db["faqs"].update(faq_id, {"status": status, "updated_at": now()})
        return self.get_faq(faq_id)  # type: ignore[return-value]

    def published_faqs(self) -> List[Dict[str, Any]]:
        """FAQ entries that may reach a customer."""
        return list(self.db["faqs"].rows_where("status = 'published'", order_by="id"))

    # -- claim variants --------------------------------------------------------

    def add_claim_variant(
        self,
        fact_id: str,
        text: str,
        language: str | None = None,
        rumour_id: int | None = None,
        by: str = "cli",
    ) -> bool:
        """Keeps a customer's wording as another way to state a fact's claim; True if new."""
        self.get_fact(fact_id)
        key = normalize(text)[:500]
        if not key:
            return False
        with self.db.conn:
            cursor = self.db.execute(
                "insert into claim_variants"
                " (fact_id, text, normalized, language, rumour_id, added_by, created_at)"
                " values (?, ?, ?, ?, ?, ?, ?) on conflict (fact_id, normalized) do nothing",
                [fact_id, text, key, language, rumour_id, by, now()],
            )
        return cursor.rowcount == 1

    def claim_variants(self, fact_ids: Iterable[str] | None = None) -> Dict[str, List[str]]:
        """Fact id -> the confirmed customer wordings of its claim, oldest first."""
        wanted = None if fact_ids is None else set(fact_ids)
        out: Dict[str, List[str]] = {}
        for row in self.db.query("select fact_id, text from claim_variants order by id"):
            if wanted is None or row["fact_id"] in wanted:
                out.setdefault(row["fact_id"], []).append(row["text"])
        return out

    # -- other brands (editors' changes to the seed list) ----------------------

    def set_brand(self, name: str, status: str, sector: str | None = None, by: str = "cli") -> None:
        """Records that a brand was added to, or removed from, the other-brands list."""
        assert status in BRAND_STATUSES
        key = normalize(name)
        if not key:
            raise ValueError("a brand name cannot be empty")
        self.db["brands"].upsert(
            {
                "normalized": key,
                "name": " ".join(name.split()),
                "sector": sector or "",
                "status": status,
                "changed_by": by,
                "changed_at": now(),
            },
            pk="normalized",
        )

    def brand_changes(self) -> List[Dict[str, Any]]:
        """Every brand an editor added or removed, by name."""
        return list(self.db["brands"].rows_where(order_by="normalized"))

    # -- rumours: groups of wordings with the same meaning -----------------------

    def record_rumour(
        self,
        text: str,
        language: str | None,
        sender_id: str,
        channel: str | None,
        group_id: int | None = None,
        vector: bytes | None = None,
    ) -> int:
        """Records an unanswered claim and who asked it; returns its group (rumour) id.

        The same wording (after normalisation) asked again bumps its count; a new
        wording joins `group_id` when given (same meaning, see bot/rumours.py), else
        starts a group. The asker is recorded once per group; asking again never
        makes them lose the follow-up they were already sent.
        """
        stamp = now()
        key = normalize(text)[:500]
        with self.db.conn:
            found = self.db.execute(
                "select id, rumour_id from rumour_wordings where normalized = ?", [key]
            ).fetchone()
            if found:
                rumour_id = found[1]
                self.db.execute(
                    "update rumour_wordings set ask_count = ask_count + 1, last_seen = ?"
                    " where id = ?",
                    [stamp, found[0]],
                )
            else:
                if (
                    group_id is not None
                    and not self.db.execute(
                        "select 1 from rumours where id = ?", [group_id]
                    ).fetchone()
                ):
                    group_id = None
                if group_id is None:
                    rumour_id = (
                        self.db["rumours"]
                        .insert(
                            {
                                "text": text,
                                "normalized": key,
                                "language": language,
                                "status": "open",
                                "fact_id": None,
                                "ask_count": 0,
                                "first_seen": stamp,
                                "last_seen": stamp,
                            }
                        )
                        .last_pk
                    )
                else:
                    rumour_id = group_id
                self.db["rumour_wordings"].insert(
                    {
                        "rumour_id": rumour_id,
                        "text": text,
                        "normalized": key,
                        "language": language,
                        "ask_count": 1,
                        "first_seen": stamp,
                        "last_seen": stamp,
                        "vector": vector,
                    }
                )
            self.db.execute(
                "update rumours set ask_count = ask_count + 1, last_seen = ?,"
                " status = case when status = 'answered' then status else 'open' end"
                " where id = ?",
                [stamp, rumour_id],
            )
            self.db.execute(
                "insert into rumour_askers"
                " (rumour_id, sender_id, channel, language, asked_at, notified_at)"
                " values (?, ?, ?, ?, ?, null)"
                " on conflict (rumour_id, sender_id) do update"
                " set channel = excluded.channel, language = excluded.language",
                [rumour_id, sender_id, channel, language, stamp],
            )
        return int(rumour_id)

    def get_rumour(self, rumour_id: int) -> Dict[str, Any]:
        """One rumour group by id."""
        rows = list(self.db["rumours"].rows_where("id = ?", [rumour_id]))
        if not rows:
            raise NotFound(f"no rumour with id {rumour_id}")
        return rows[0]

    def list_rumours(self, status: str | None = None) -> List[Dict[str, Any]]:
        """Rumour groups, most asked first."""
        where, args = ("status = ?", [status]) if status else (None, [])
        return list(self.db["rumours"].rows_where(where, args, order_by="ask_count desc, id"))

    def rumour_groups(self, status: str | None = "open") -> List[Dict[str, Any]]:
        """Rumour groups with their sizes, askers, wordings and open suggestions."""
        groups = []
        for rumour in self.list_rumours(status):
            wordings = self.rumour_wordings(rumour["id"])
            groups.append(
                {
                    **rumour,
                    "size": len(wordings),
                    "askers": len(self.rumour_askers(rumour["id"])),
                    "wordings": [w["text"] for w in wordings],
                    "suggestions": [
                        (s["fact_id"], s["score"]) for s in self.rumour_suggestions(rumour["id"])
                    ],
                }
            )
        return groups

    def rumour_growth(self, since: str) -> Dict[int, int]:
        """Rumour group id -> how many of its askers first asked at or after `since`."""
        return {
            int(row["rumour_id"]): int(row["n"])
            for row in self.db.query(
                "select rumour_id, count(*) as n from rumour_askers where asked_at >= ?"
                " group by rumour_id",
                [since],
            )
        }

    def rumour_wordings(self, rumour_id: int) -> List[Dict[str, Any]]:
        """The wordings of a rumour group, most asked first (vectors left out)."""
        return list(
            self.db.query(
                "select id, rumour_id, text, normalized, language, ask_count, first_seen,"
                " last_seen from rumour_wordings where rumour_id = ?"
                " order by ask_count desc, id",
                [rumour_id],
            )
        )

    def open_wordings(self) -> List[Dict[str, Any]]:
        """Every wording of an open rumour group, with its vector (None if not computed)."""
        return list(
            self.db.query(
                "select w.id, w.rumour_id, w.text, w.normalized, w.vector from rumour_wordings w"
                " join rumours r on r.id = w.rumour_id where r.status = 'open' order by w.id"
            )
        )

    def set_wording_vector(self, wording_id: int, vector: bytes) -> None:
        """Stores a wording's sentence vector (computed once, reused for grouping)."""
        with self.db.conn:
            self.db.execute(
                "update rumour_wordings set vector = ? where id = ?", [vector, wording_id]
            )

    def suggest_facts(
        self, rumour_id: int, suggestions: Sequence[Tuple[str, float]], by: str = "matcher"
    ) -> None:
        """Records facts the matcher found close to a rumour, keeping each one's best score.

        A suggestion a person rejected stays rejected.
        """
        stamp = now()
        with self.db.conn:
            for fact_id, score in suggestions:
                self.db.execute(
                    "insert into rumour_suggestions"
                    " (rumour_id, fact_id, score, status, updated_at, updated_by)"
                    " values (?, ?, ?, 'open', ?, ?)"
                    " on conflict (rumour_id, fact_id) do update"
                    " set score = max(rumour_suggestions.score, excluded.score),"
                    " updated_at = excluded.updated_at",
                    [rumour_id, fact_id, float(score), stamp, by],
                )

    def rumour_suggestions(self, rumour_id: int, status: str = "open") -> List[Dict[str, Any]]:
        """A rumour group's suggested facts with `status`, best score first."""
        return list(
            self.db["rumour_suggestions"].rows_where(
                "rumour_id = ? and status = ?", [rumour_id, status], order_by="score desc"
            )
        )

    def reject_suggestion(self, rumour_id: int, fact_id: str, by: str = "cli") -> None:
        """Marks a suggested fact as not answering the rumour; NotFound if not suggested."""
        self.get_rumour(rumour_id)
        with self.db.conn:
            cursor = self.db.execute(
                "update rumour_suggestions set status = 'rejected', updated_at = ?,"
                " updated_by = ? where rumour_id = ? and fact_id = ? and status = 'open'",
                [now(), by, rumour_id, fact_id],
            )
        if cursor.rowcount != 1:
            raise NotFound(f"fact {fact_id!r} is not an open suggestion for rumour {rumour_id}")

    def answer_rumour(self, rumour_id: int, fact_id: str, by: str = "matcher") -> None:
        """Links a rumour group to the fact that answers it (a suggestion becomes confirmed)."""
        stamp = now()
        with self.db.conn:
            self.db.execute(
                "update rumours set status = 'answered', fact_id = ?,"
                " answered_at = coalesce(answered_at, ?) where id = ?",
                [fact_id, stamp, rumour_id],
            )
            self.db.execute(
                "update rumour_suggestions set status = 'confirmed', updated_at = ?,"
                " updated_by = ? where rumour_id = ? and fact_id = ?",
                [stamp, by, rumour_id, fact_id],
            )

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

    def already_told(self, sender_id: str, fact_id: str) -> bool:
        """Whether a customer was already sent a follow-up with this fact (another group)."""
        return (
            self.db.execute(
                "select 1 from rumour_askers a join rumours r on r.id = a.rumour_id"
                " where a.sender_id = ? and r.fact_id = ? and a.notified_at is not null"
                " limit 1",
                [sender_id, fact_id],
            ).fetchone()
            is not None
        )

    def mark_followup_sent(self, rumour_id: int, sender_id: str) -> None:
        """Records that an asker was told the answer to their rumour."""
        self.db.execute(
            "update rumour_askers set notified_at = ? where rumour_id = ? and sender_id = ?",
            [now(), rumour_id, sender_id],
        )
        self.db.conn.commit()
