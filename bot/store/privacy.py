"""Privacy in the store: where customers' data is, forgetting a customer, and retention.

`CUSTOMER_DATA` declares every table that holds a customer's conversation id
(`whatsapp:+90...`, `telegram:123`) or their words, and how:

- `ids`: columns equal to the conversation id; `crisisdesk forget` deletes those rows;
- `via`: rows that belong to another table's rows of the customer (a handoff's
  notices), deleted with them;
- `texts`: columns with message texts (the customer's, or written to or about
  them), set to their blank value by retention once the row's `at` time is older
  than the retention period, except rows matching `keep` (still in use: a
  pending message, an open handoff); the row stays, so counts stay; `also` is
  more of retention's SET clause (an old inbox item leaves the review);
- `words`: columns whose values are the customer's own words (JSON lists of
  `{"from": "customer", "text": ...}` too), read before forgetting to find their
  copies in tables without their id;
- `quotes`: columns without the customer's id that may repeat their words or
  their id (a rumour wording, an alert's examples, a frozen report):
  forgetting deletes a wording only they asked and puts `[removed]` in place of
  a quote.

`NO_CUSTOMER_DATA` names every other table and why it holds no customer data.
tests/test_privacy_ops.py fails when a migrated store has a table in neither, or
a table with a sender/recipient-like column that does not declare it, so a new
table must be declared here when it is created. Entries for tables that do not
exist (yet) are skipped. All SQL of forgetting and retention is in this module;
bot/privacy_ops.py runs them together with Rasa's databases and the training data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Set, Tuple

from bot.language import normalize
from bot.store.base import Area

# Words shorter than this are not looked for in other people's rows ("evet", "ok").
MIN_QUOTE_CHARS = 12
REMOVED = "[removed]"


@dataclass(frozen=True)
class CustomerColumns:
    """One table's customer data (see the module's docstring)."""

    table: str
    ids: Tuple[str, ...] = ()
    via: Tuple[str, str, str] | None = None  # (column, parent table, parent column)
    texts: Mapping[str, Any] = field(default_factory=dict)  # column -> blank value
    at: str = ""
    keep: str = ""
    also: str = ""  # more of retention's SET clause ("status = ...")
    words: Tuple[str, ...] = ()
    quotes: Tuple[str, ...] = ()


CUSTOMER_DATA: Tuple[CustomerColumns, ...] = (
    # channels
    CustomerColumns(
        "inbound_messages",
        ids=("sender",),
        texts={"body": "", "media": "[]", "error": ""},
        at="received_at",
        keep="status = 'received'",
        words=("body",),
    ),
    CustomerColumns(
        "outbox",
        ids=("recipient",),
        texts={"payload": "{}", "last_error": ""},
        at="created_at",
        keep="status = 'pending'",
    ),
    CustomerColumns("opt_outs", ids=("recipient",)),
    CustomerColumns("offered_choices", ids=("recipient",)),
    CustomerColumns("offered_payloads", ids=("recipient",)),
    # cases
    CustomerColumns(
        "tickets",
        ids=("sender_id",),
        texts={"text": "", "entities": "[]"},
        at="created_at",
        words=("text",),
    ),
    CustomerColumns(
        "handoffs",
        ids=("sender_id",),
        texts={"last_messages": "[]", "rating_comment": ""},
        at="created_at",
        keep="status in ('waiting', 'assigned')",
        words=("last_messages", "rating_comment"),
    ),
    CustomerColumns("handoff_changes", ids=("sender_id",)),
    CustomerColumns("handoff_notices", via=("handoff_id", "handoffs", "id")),
    CustomerColumns(
        "feedback", ids=("sender_id",), texts={"message": ""}, at="created_at", words=("message",)
    ),
    # content: who asked a rumour, and wordings that may be theirs alone
    CustomerColumns("rumour_askers", ids=("sender_id",)),
    CustomerColumns("rumour_wordings", quotes=("text", "normalized")),
    CustomerColumns("rumours", quotes=("text", "normalized")),
    CustomerColumns("claim_variants", quotes=("text", "normalized")),
    # the desk
    CustomerColumns("desk_notes", ids=("sender_id",), texts={"text": ""}, at="created_at"),
    CustomerColumns("desk_replies", ids=("sender_id",), texts={"text": ""}, at="created_at"),
    CustomerColumns("tracker_appends", ids=("sender_id",)),
    CustomerColumns(
        "misunderstood", ids=("sender_id",), texts={"text": ""}, at="marked_at", words=("text",)
    ),
    # the trainers' inbox (the data/nlu lines of inbox_examples: bot/privacy_ops.py)
    CustomerColumns(
        "inbox_items",
        ids=("sender_id",),
        texts={"text": "", "entities": "[]"},
        at="created_at",
        also="status = case when status = 'new' then 'discarded' else status end",
        words=("text",),
    ),
    CustomerColumns("inbox_examples", ids=("sender_id",)),
    # crisis operations (issue 10)
    CustomerColumns(
        "message_log",
        ids=("sender_id",),
        texts={"text": "", "vector": None},  # the sentence vector is made of the text
        at="at",
        words=("text",),
    ),
    CustomerColumns("alerts", texts={"examples": "[]"}, at="raised_at", quotes=("examples",)),
    CustomerColumns(
        "deliveries",
        ids=("recipient",),
        texts={"payload": "", "error": ""},
        at="queued_at",
        keep="status in ('queued', 'waiting_window')",
    ),
    CustomerColumns("fact_tellings", ids=("recipient",)),
    CustomerColumns("incident_conversations", ids=("sender_id",)),
    CustomerColumns("incident_statement_views", ids=("sender_id",)),
    CustomerColumns(
        "unanswered_questions",
        ids=("sender_id",),
        texts={"text": "", "normalized": ""},
        at="asked_at",
        words=("text",),
    ),
    # a closed incident's frozen report may quote messages (top unanswered questions)
    CustomerColumns("frozen_reports", quotes=("data",)),
)

NO_CUSTOMER_DATA: Dict[str, str] = {
    "_migrations": "schema bookkeeping",
    "facts": "editors' verified facts",
    "faqs": "editors' FAQ entries",
    "content_revision": "a counter",
    "brands": "company names",
    "rumour_suggestions": "rumour and fact ids with a score",
    "users": "desk staff, not customers",
    "desk_sessions": "desk staff's sessions",
    "login_attempts": "desk staff's sign-ins",
    "audit_log": "staff actions; subjects name handoffs by id, forget records a masked id",
    "training_changes": "who changed which intent's files (the examples are in inbox_examples)",
    "inbox_cursors": "how far the inbox collector read",
    "model_promotions": "models and their scores on the held-out sets",
    "incidents": "editors' incidents (keywords and examples they wrote)",
    "incident_statements": "editors' official statements",
    "campaigns": "which fact or statement is sent (recipients are in deliveries)",
    "fact_versions": "published versions of editors' facts",
    "privacy_cursors": "how far retention has read Rasa's databases",
}


def _tables(db: Any) -> Set[str]:
    return {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}


def _columns(db: Any, table: str) -> Set[str]:
    return {row[1] for row in db.execute(f"pragma table_info({table})")}


def _customer_words(value: Any) -> List[str]:
    """The customer's words in a column value: the text, or a JSON list's customer texts."""
    if not isinstance(value, str) or not value.strip():
        return []
    if value.lstrip().startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            return [value]
        return [
            str(item.get("text"))
            for item in items
            if isinstance(item, dict) and item.get("from") == "customer" and item.get("text")
        ]
    return [value]


def _like(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


class PrivacyStore(Area):
    """Forgetting one customer and deleting old message texts (see the module's docstring)."""

    def declared(self) -> List[CustomerColumns]:
        """The entries of `CUSTOMER_DATA` whose table exists in this database."""
        tables = _tables(self.db)
        return [entry for entry in CUSTOMER_DATA if entry.table in tables]

    def undeclared_tables(self) -> List[str]:
        """Tables of this database in neither `CUSTOMER_DATA` nor `NO_CUSTOMER_DATA`."""
        known = {entry.table for entry in CUSTOMER_DATA} | set(NO_CUSTOMER_DATA)
        return sorted(t for t in _tables(self.db) if t not in known and not t.startswith("sqlite_"))

    # -- forgetting one customer -------------------------------------------------------

    def customer_words(self, customer: str) -> List[str]:
        """Everything the store keeps that the customer wrote (to find copies elsewhere)."""
        found: Dict[str, None] = {}
        for entry in self.declared():
            columns = _columns(self.db, entry.table)
            for column in entry.words:
                if column not in columns:
                    continue
                for id_column in entry.ids:
                    rows = self.db.execute(
                        f"select {column} from {entry.table} where {id_column} = ?", [customer]
                    ).fetchall()
                    for (value,) in rows:
                        for text in _customer_words(value):
                            found[text.strip()] = None
        return [text for text in found if text]

    def customer_examples(self, customer: str) -> List[Tuple[str, str, str]]:
        """(file, example line, intent) of the training examples made of their messages."""
        rows = self.db.execute(
            "select path, text, intent from inbox_examples where sender_id = ? order by id",
            [customer],
        ).fetchall()
        return [(row[0], row[1], row[2]) for row in rows]

    def customer_proposals(self, customer: str) -> List[Tuple[str, str]]:
        """(proposed intent, text) of the customer's inbox messages kept for a new intent."""
        rows = self.db.execute(
            "select resolved_intent, text from inbox_items where sender_id = ?"
            " and status = 'proposed' and resolved_intent is not null order by id",
            [customer],
        ).fetchall()
        return [(row[0], row[1]) for row in rows]

    def forget_customer(
        self, customer: str, words: Iterable[str] = (), dry_run: bool = False
    ) -> Dict[str, int]:
        """Deletes the customer's rows and their words elsewhere; {table: rows changed}.

        `words` are their texts (from `customer_words` and Rasa's tracker); in tables
        without their id (`quotes`) a wording only they asked is deleted, a longer
        text loses the quote. One transaction; with `dry_run` it is rolled back.
        """
        words = sorted({w.strip() for w in words if w and w.strip()}, key=len, reverse=True)
        removed: Dict[str, int] = {}
        conn = self.db.conn
        conn.commit()
        try:
            conn.execute("begin")
            # rows of one customer refer to each other (a reply to its outbox row):
            # foreign keys are checked at the commit, when all of them are gone
            conn.execute("pragma defer_foreign_keys = on")
            # rows that belong to the customer's rows go first, while those are there
            ordered = sorted(self.declared(), key=lambda e: e.via is None)
            for entry in ordered:
                columns = _columns(self.db, entry.table)
                count = 0
                if entry.via:
                    column, parent, parent_column = entry.via
                    parent_entry = next(e for e in CUSTOMER_DATA if e.table == parent)
                    where = " or ".join(f"{c} = ?" for c in parent_entry.ids)
                    count += conn.execute(
                        f"delete from {entry.table} where {column} in"
                        f" (select {parent_column} from {parent} where {where})",
                        [customer] * len(parent_entry.ids),
                    ).rowcount
                for column in entry.ids:
                    if column in columns:
                        count += conn.execute(
                            f"delete from {entry.table} where {column} = ?", [customer]
                        ).rowcount
                if entry.quotes and words:
                    count += self._forget_quotes(entry, columns, words)
                if count:
                    removed[entry.table] = count
            left = conn.execute("pragma foreign_key_check").fetchall()
            if left:  # a row of an undeclared link still points at a deleted one
                raise ValueError(
                    "forget would leave rows pointing at deleted ones: "
                    + ", ".join(sorted({f"{row[0]} -> {row[2]}" for row in left}))
                )
            if dry_run:
                conn.rollback()
            else:
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return removed

    def _forget_quotes(self, entry: CustomerColumns, columns: Set[str], words: List[str]) -> int:
        """The customer's words out of a table without their id; rows changed or deleted."""
        conn = self.db.conn
        keys = {normalize(w)[:500] for w in words} - {""}
        if entry.table in ("rumour_wordings", "claim_variants") and keys:
            count = 0
            for key in keys:
                if entry.table == "rumour_wordings":
                    # a wording others asked too is theirs as well: only its count drops
                    count += conn.execute(
                        "update rumour_wordings set ask_count = ask_count - 1"
                        " where normalized = ? and ask_count > 1",
                        [key],
                    ).rowcount
                    count += conn.execute(
                        "delete from rumour_wordings where normalized = ? and ask_count <= 1",
                        [key],
                    ).rowcount
                else:
                    count += conn.execute(
                        "delete from claim_variants where normalized = ? and rumour_id is not null",
                        [key],
                    ).rowcount
            return count
        if entry.table == "rumours" and keys:
            count = 0
            marks = ", ".join("?" for _ in keys)
            rows = conn.execute(
                f"select id from rumours where normalized in ({marks})", sorted(keys)
            ).fetchall()
            for (rumour_id,) in rows:
                other = conn.execute(
                    "select text, normalized from rumour_wordings where rumour_id = ?"
                    " order by id limit 1",
                    [rumour_id],
                ).fetchone()
                askers = conn.execute(
                    "select count(*) from rumour_askers where rumour_id = ?", [rumour_id]
                ).fetchone()[0]
                if other is None and not askers:
                    conn.execute("delete from rumour_suggestions where rumour_id = ?", [rumour_id])
                    count += conn.execute("delete from rumours where id = ?", [rumour_id]).rowcount
                elif other is not None:  # the group is named by a wording that stays
                    count += conn.execute(
                        "update rumours set text = ?, normalized = ? where id = ?",
                        [other[0], other[1], rumour_id],
                    ).rowcount
                else:
                    count += conn.execute(
                        "update rumours set text = ?, normalized = ? where id = ?",
                        [REMOVED, f"{REMOVED} #{rumour_id}", rumour_id],
                    ).rowcount
            return count
        count = 0
        quoted = [w for w in words if len(w) >= MIN_QUOTE_CHARS]
        for column in entry.quotes:
            if column not in columns:
                continue
            for word in quoted:
                forms = dict.fromkeys([word, json.dumps(word, ensure_ascii=False)[1:-1]])
                for form in forms:
                    rows = conn.execute(
                        f"select rowid, {column} from {entry.table}"
                        f" where {column} like ? escape '\\'",
                        [_like(form)],
                    ).fetchall()
                    for rowid, value in rows:
                        conn.execute(
                            f"update {entry.table} set {column} = ? where rowid = ?",
                            [str(value).replace(form, REMOVED), rowid],
                        )
                        count += 1
        return count

    # -- retention ---------------------------------------------------------------------

    def expire_texts(self, before: str, dry_run: bool = False) -> Dict[str, int]:
        """Blanks message texts of rows older than `before` (ISO); {table: rows blanked}.

        Rows and their other columns (intent, time, status, ids) stay, so counts for
        the reports stay; rows still in use (`keep`) are left alone.
        """
        blanked: Dict[str, int] = {}
        conn = self.db.conn
        conn.commit()
        try:
            conn.execute("begin")
            for entry in self.declared():
                columns = _columns(self.db, entry.table)
                texts = {c: v for c, v in entry.texts.items() if c in columns}
                if not texts or entry.at not in columns:
                    continue
                sets = ", ".join(f"{c} = ?" for c in texts)
                if entry.also:
                    sets += f", {entry.also}"
                not_blank = " or ".join(f"coalesce({c}, ?) <> ?" for c in texts)
                where = f"{entry.at} < ? and ({not_blank})"
                if entry.keep:
                    where += f" and not ({entry.keep})"
                args: List[Any] = [*texts.values(), before]
                for value in texts.values():
                    args += [value, value]
                count = conn.execute(
                    f"update {entry.table} set {sets} where {where}", args
                ).rowcount
                if count:
                    blanked[entry.table] = count
            if dry_run:
                conn.rollback()
            else:
                conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return blanked

    # -- how far retention has read Rasa's databases -------------------------------------

    def privacy_cursor(self, name: str) -> int:
        """The last Rasa event id retention has looked at in database `name` (0: none)."""
        row = self.db.execute(
            "select last_id from privacy_cursors where name = ?", [name]
        ).fetchone()
        return int(row[0]) if row else 0

    def set_privacy_cursor(self, name: str, last_id: int) -> None:
        """Records how far retention has read database `name`."""
        with self.db.conn:
            self.db.execute(
                "insert into privacy_cursors (name, last_id) values (?, ?)"
                " on conflict (name) do update set last_id = excluded.last_id",
                [name, last_id],
            )
