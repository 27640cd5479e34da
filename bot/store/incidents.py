"""Incidents: their official statements (versioned, four eyes), and who was shown which.

`incidents`: one row per crisis, `keywords` a JSON list, `examples` JSON
{"tr": [...], "en": [...]}, `status` 'active' or 'closed'; `revision` grows with
every change of keywords, examples or status (the topic detector re-encodes the
examples only then). `incident_statements`: versions 1, 2, ... of an incident's
statement in Turkish and English. A version is written as a 'draft'; a second
person approves it ('live', and the live version before it becomes
'superseded'), never its writer: the UPDATE itself checks it. Only a live
version of an active incident ever reaches a customer. `incident_conversations`:
conversations with a message on an incident's topic. `incident_statement_views`:
which conversation was shown which version, once each.

The rules (who may act, what the messages say, the audit log) are in
bot/incidents.py; this is their SQL.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Sequence

from bot.store.base import Area, NotFound, now

INCIDENT_STATUSES = ("active", "closed")
STATEMENT_STATUSES = ("draft", "live", "superseded", "rejected")
SEVERITIES = ("low", "medium", "high", "critical")


class StatementRefused(Exception):
    """A statement change that did not apply; `reason` says why in a person's words."""

    def __init__(self, statement: Dict[str, Any], reason: str) -> None:
        self.statement = statement
        self.reason = reason
        super().__init__(reason)


def _incident(row: Mapping[str, Any]) -> Dict[str, Any]:
    """An incident row with its JSON columns read."""
    out = dict(row)
    out["keywords"] = json.loads(out.get("keywords") or "[]")
    examples = json.loads(out.get("examples") or "{}")
    out["examples"] = {lang: list(examples.get(lang) or []) for lang in ("tr", "en")}
    return out


def _rows(cursor: Any) -> List[Dict[str, Any]]:
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


class IncidentStore(Area):
    """Incidents, their statement versions, and the conversations on their topics."""

    # -- incidents -------------------------------------------------------------------

    def open_incident(
        self,
        *,
        name: str,
        severity: str,
        keywords: Sequence[str],
        examples: Mapping[str, Sequence[str]],
        opened_by: str,
        started_at: str | None = None,
    ) -> int:
        """Records a new active incident; returns its id."""
        assert severity in SEVERITIES, severity
        at = now()
        with self.db.conn:
            cursor = self.db.execute(
                "insert into incidents (name, severity, keywords, examples, status, started_at,"
                " opened_by, revision, created_at, updated_at)"
                " values (?, ?, ?, ?, 'active', ?, ?, 1, ?, ?)",
                [
                    name,
                    severity,
                    json.dumps(list(keywords), ensure_ascii=False),
                    json.dumps(
                        {lang: list(examples.get(lang) or []) for lang in ("tr", "en")},
                        ensure_ascii=False,
                    ),
                    started_at or at,
                    opened_by,
                    at,
                    at,
                ],
            )
        return int(cursor.lastrowid)

    def get_incident(self, incident_id: int) -> Dict[str, Any]:
        """One incident by id, keywords and examples decoded (NotFound when none)."""
        rows = _rows(self.db.execute("select * from incidents where id = ?", [incident_id]))
        if not rows:
            raise NotFound(f"no incident {incident_id}")
        return _incident(rows[0])

    def list_incidents(self, status: str | None = None) -> List[Dict[str, Any]]:
        """Incidents, active ones first, then newest first."""
        where, args = ("where status = ?", [status]) if status else ("", [])
        cursor = self.db.execute(
            f"select * from incidents {where}"
            " order by case when status = 'active' then 0 else 1 end, id desc",
            args,
        )
        return [_incident(row) for row in _rows(cursor)]

    def active_incidents(self) -> List[Dict[str, Any]]:
        """The active incidents, oldest first."""
        cursor = self.db.execute("select * from incidents where status = 'active' order by id")
        return [_incident(row) for row in _rows(cursor)]

    def update_incident(
        self,
        incident_id: int,
        *,
        severity: str | None = None,
        keywords: Sequence[str] | None = None,
        examples: Mapping[str, Sequence[str]] | None = None,
    ) -> Dict[str, Any]:
        """Changes an active incident's severity, keywords or examples (a new revision)."""
        sets: List[str] = []
        args: List[Any] = []
        if severity is not None:
            assert severity in SEVERITIES, severity
            sets.append("severity = ?")
            args.append(severity)
        if keywords is not None:
            sets.append("keywords = ?")
            args.append(json.dumps(list(keywords), ensure_ascii=False))
        if examples is not None:
            sets.append("examples = ?")
            args.append(
                json.dumps(
                    {lang: list(examples.get(lang) or []) for lang in ("tr", "en")},
                    ensure_ascii=False,
                )
            )
        if sets:
            with self.db.conn:
                self.db.execute(
                    f"update incidents set {', '.join(sets)}, revision = revision + 1,"
                    " updated_at = ? where id = ? and status = 'active'",
                    [*args, now(), incident_id],
                )
        return self.get_incident(incident_id)

    def close_incident(self, incident_id: int, closed_by: str) -> bool:
        """active -> closed; False when it was closed already (or someone else closed it)."""
        at = now()
        with self.db.conn:
            cursor = self.db.execute(
                "update incidents set status = 'closed', closed_at = ?, closed_by = ?,"
                " revision = revision + 1, updated_at = ? where id = ? and status = 'active'",
                [at, closed_by, at, incident_id],
            )
        if cursor.rowcount != 1:
            self.get_incident(incident_id)  # NotFound for an unknown id
            return False
        return True

    # -- statements ------------------------------------------------------------------

    def add_statement(
        self, incident_id: int, *, text_tr: str, text_en: str, written_by: str
    ) -> Dict[str, Any]:
        """A new draft version (the next number) of an active incident's statement."""
        at = now()
        with self.db.conn:
            cursor = self.db.execute(
                "insert into incident_statements (incident_id, version, text_tr, text_en,"
                " written_by, written_at, status)"
                " select i.id, coalesce((select max(s.version) from incident_statements s"
                " where s.incident_id = i.id), 0) + 1, ?, ?, ?, ?, 'draft'"
                " from incidents i where i.id = ? and i.status = 'active'",
                [text_tr, text_en, written_by, at, incident_id],
            )
        if cursor.rowcount != 1:
            incident = self.get_incident(incident_id)
            raise ValueError(f"incident {incident_id} is {incident['status']}: no new statements")
        return self.get_statement(int(cursor.lastrowid))

    def get_statement(self, statement_id: int) -> Dict[str, Any]:
        """One statement version by id (NotFound when none)."""
        rows = _rows(
            self.db.execute("select * from incident_statements where id = ?", [statement_id])
        )
        if not rows:
            raise NotFound(f"no statement {statement_id}")
        return rows[0]

    def list_statements(self, incident_id: int) -> List[Dict[str, Any]]:
        """Every version of an incident's statement, newest first."""
        return _rows(
            self.db.execute(
                "select * from incident_statements where incident_id = ? order by version desc",
                [incident_id],
            )
        )

    def live_statement(self, incident_id: int) -> Dict[str, Any] | None:
        """The approved, live version of an active incident's statement, or None.

        Drafts never count: until a second person approves one, there is none.
        """
        rows = _rows(
            self.db.execute(
                "select s.* from incident_statements s join incidents i on i.id = s.incident_id"
                " where s.incident_id = ? and s.status = 'live' and i.status = 'active'"
                " order by s.version desc limit 1",
                [incident_id],
            )
        )
        return rows[0] if rows else None

    def greeting_statement(self) -> Dict[str, Any] | None:
        """The live statement a greeting mentions: the most severe active incident's first."""
        order = " ".join(f"when '{name}' then {rank}" for rank, name in enumerate(SEVERITIES))
        rows = _rows(
            self.db.execute(
                "select s.* from incident_statements s join incidents i on i.id = s.incident_id"
                " where s.status = 'live' and i.status = 'active'"
                f" order by case i.severity {order} else -1 end desc, i.id desc limit 1"
            )
        )
        return rows[0] if rows else None

    def approve_statement(self, statement_id: int, approved_by: str) -> Dict[str, Any]:
        """draft -> live, by someone other than its writer; the previous live one is superseded.

        Drafts older than the approved version are superseded too (never live).
        Raises StatementRefused (the writer approving, not a draft, a newer version
        live already, a closed incident), NotFound for an unknown id.
        """
        at = now()
        with self.db.conn:
            cursor = self.db.execute(
                "update incident_statements set status = 'live', approved_by = ?,"
                " approved_at = ?, live_at = ?"
                " where id = ? and status = 'draft' and written_by <> ?"
                " and exists (select 1 from incidents i where i.id = incident_id"
                " and i.status = 'active')"
                " and version > coalesce((select max(o.version) from incident_statements o"
                " where o.incident_id = incident_statements.incident_id"
                " and o.status in ('live', 'superseded') and o.live_at is not null), 0)",
                [approved_by, at, at, statement_id, approved_by],
            )
            if cursor.rowcount == 1:
                self.db.execute(
                    "update incident_statements set status = 'superseded', superseded_at = ?"
                    " where incident_id = (select incident_id from incident_statements"
                    " where id = ?) and id <> ?"
                    " and (status = 'live' or (status = 'draft' and version <"
                    " (select version from incident_statements where id = ?)))",
                    [at, statement_id, statement_id, statement_id],
                )
        statement = self.get_statement(statement_id)
        if cursor.rowcount == 1:
            return statement
        raise StatementRefused(statement, self._why_not(statement, approved_by, "approve"))

    def reject_statement(self, statement_id: int, rejected_by: str) -> Dict[str, Any]:
        """draft -> rejected (it never goes live). Raises StatementRefused when not a draft."""
        at = now()
        with self.db.conn:
            cursor = self.db.execute(
                "update incident_statements set status = 'rejected', rejected_by = ?,"
                " rejected_at = ? where id = ? and status = 'draft'",
                [rejected_by, at, statement_id],
            )
        statement = self.get_statement(statement_id)
        if cursor.rowcount != 1:
            raise StatementRefused(statement, self._why_not(statement, rejected_by, "reject"))
        return statement

    def _why_not(self, statement: Dict[str, Any], actor: str, verb: str) -> str:
        version = f"version {statement['version']}"
        if statement["status"] != "draft":
            return f"{version} is {statement['status']}, not a draft: nothing to {verb}"
        if verb == "approve" and statement["written_by"] == actor:
            return f"{actor} wrote {version}: a second person (editor or admin) must approve it"
        incident = self.get_incident(int(statement["incident_id"]))
        if incident["status"] != "active":
            return f"incident {incident['id']} is {incident['status']}: nothing goes live"
        return f"a newer version than {statement['version']} is live already"

    # -- conversations on an incident's topic ---------------------------------------------

    def note_incident_conversation(
        self, incident_id: int, sender_id: str, channel: str | None, language: str | None
    ) -> None:
        """Records that a conversation wrote about an incident's topic (counts each message)."""
        at = now()
        with self.db.conn:
            self.db.execute(
                "insert into incident_conversations (incident_id, sender_id, channel, language,"
                " first_at, last_at, messages) values (?, ?, ?, ?, ?, ?, 1)"
                " on conflict (incident_id, sender_id) do update set last_at = excluded.last_at,"
                " messages = incident_conversations.messages + 1,"
                " channel = coalesce(excluded.channel, incident_conversations.channel),"
                " language = coalesce(excluded.language, incident_conversations.language)",
                [incident_id, sender_id, channel, language, at, at],
            )

    def conversation_incident(self, sender_id: str) -> Dict[str, Any] | None:
        """The active incident this conversation last wrote about, if any."""
        rows = _rows(
            self.db.execute(
                "select i.* from incidents i join incident_conversations c"
                " on c.incident_id = i.id where c.sender_id = ? and i.status = 'active'"
                " order by c.last_at desc, i.id desc limit 1",
                [sender_id],
            )
        )
        return _incident(rows[0]) if rows else None

    def incident_conversations(self, incident_id: int) -> List[Dict[str, Any]]:
        """The conversations that wrote about an incident's topic, first writer first."""
        return _rows(
            self.db.execute(
                "select * from incident_conversations where incident_id = ?"
                " order by first_at, sender_id",
                [incident_id],
            )
        )

    def mark_statement_shown(self, statement_id: int, sender_id: str, language: str | None) -> bool:
        """Claims showing a statement version to a conversation; False when it was shown."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert into incident_statement_views (statement_id, sender_id, language,"
                " shown_at) values (?, ?, ?, ?) on conflict (statement_id, sender_id) do nothing",
                [statement_id, sender_id, language, now()],
            )
        return cursor.rowcount == 1

    def statement_shown_to(self, statement_id: int) -> set:
        """The conversations a statement version was shown to (in the chat or by broadcast)."""
        cursor = self.db.execute(
            "select sender_id from incident_statement_views where statement_id = ?",
            [statement_id],
        )
        return {row[0] for row in cursor.fetchall()}

    def statement_views(self, incident_id: int) -> Dict[int, int]:
        """How many conversations were shown each version: {statement id: count}."""
        cursor = self.db.execute(
            "select v.statement_id, count(*) from incident_statement_views v"
            " join incident_statements s on s.id = v.statement_id"
            " where s.incident_id = ? group by v.statement_id",
            [incident_id],
        )
        return {int(sid): int(count) for sid, count in cursor.fetchall()}

    def untagged_messages_since(self, since: str, limit: int = 5000) -> List[Dict[str, Any]]:
        """Logged customer messages at or after `since` on no incident yet, newest first."""
        return _rows(
            self.db.execute(
                "select id, text from message_log"
                " where incident_id is null and at >= ? and text <> ''"
                " order by id desc limit ?",
                [since, limit],
            )
        )

    def tag_incident_messages(
        self, incident_id: int, topic: str, message_ids: Sequence[int]
    ) -> int:
        """Puts logged messages on an incident (only those on none yet); returns how many."""
        tagged = 0
        ids = list(message_ids)
        with self.db.conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                cursor = self.db.execute(
                    "update message_log set incident_id = ?, topic = ?"
                    f" where incident_id is null and id in ({', '.join('?' for _ in chunk)})",
                    [incident_id, topic, *chunk],
                )
                tagged += cursor.rowcount
        return tagged

    def incident_handoffs(self, incident_id: int) -> List[Dict[str, Any]]:
        """Handoffs tagged with an incident, newest first."""
        return _rows(
            self.db.execute(
                "select id, sender_id, channel, reason, priority, status, created_at, closed_at"
                " from handoffs where incident_id = ? order by id desc",
                [incident_id],
            )
        )
