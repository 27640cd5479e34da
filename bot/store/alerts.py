"""Early warning's records: the message log and the alerts raised from it.

`message_log` has one row per customer message that Rasa's event broker
published (bot/message_log.py writes them; `event_id` is the broker row's id,
so reading the same event twice adds nothing). `alerts` holds spike alerts (a
topic and intent far above its usual rate) and emerging-topic alerts (messages
on no known topic that mean the same thing), raised by bot/alerts.py. At most
one spike alert per topic and intent is open (`closed_at` null) at a time: the
insert checks it in the same statement.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from bot.store.base import Area, NotFound, now

MESSAGE_FIELDS = (
    "event_id",
    "channel",
    "sender_id",
    "message_id",
    "text",
    "intent",
    "confidence",
    "language",
    "incident_id",
    "topic",
    "at",
    "vector",
)
ALERT_KINDS = ("spike", "emerging")
ALERT_STATUSES = ("open", "unacknowledged", "all")


def _alert(row: Dict[str, Any]) -> Dict[str, Any]:
    found = dict(row)
    found.pop("vector", None)
    found["examples"] = json.loads(found.get("examples") or "[]")
    return found


class AlertStore(Area):
    """The message log and the early-warning alerts."""

    # -- the message log ------------------------------------------------------------

    def log_message(self, message: Dict[str, Any]) -> int | None:
        """Adds one customer message; None when its broker event is logged already."""
        message = {
            **message,
            "channel": message.get("channel") or "",
            "topic": message.get("topic") or "",
        }
        values = [message.get(name) for name in MESSAGE_FIELDS]
        with self.db.conn:
            cursor = self.db.execute(
                f"insert into message_log ({', '.join(MESSAGE_FIELDS)})"
                f" values ({', '.join('?' for _ in MESSAGE_FIELDS)})"
                " on conflict (event_id) do nothing",
                values,
            )
        return int(cursor.lastrowid) if cursor.rowcount == 1 else None

    def last_logged_event(self) -> int:
        """The highest broker event id in the message log (0 when empty)."""
        row = self.db.execute("select coalesce(max(event_id), 0) from message_log").fetchone()
        return int(row[0])

    def logged_messages(
        self, since: str | None = None, until: str | None = None, limit: int = 1000
    ) -> List[Dict[str, Any]]:
        """Logged messages (vectors left out), oldest first, `since` <= at < `until`."""
        return list(
            self.db.query(
                "select id, event_id, channel, sender_id, message_id, text, intent, confidence,"
                " language, incident_id, topic, at, alert_id from message_log"
                " where at >= ? and at < ? order by at, id limit ?",
                [since or "", until or "9999", limit],
            )
        )

    def topic_counts(
        self, since: str, until: str, intents: Sequence[str]
    ) -> Dict[Tuple[str, str], int]:
        """(topic, intent) -> messages with `since` <= at < `until` (known topics only)."""
        marks = ", ".join("?" for _ in intents)
        return {
            (row["topic"], row["intent"]): int(row["n"])
            for row in self.db.query(
                "select topic, intent, count(*) as n from message_log"
                f" where at >= ? and at < ? and topic <> '' and intent in ({marks})"
                " group by topic, intent",
                [since, until, *intents],
            )
        }

    def topic_messages(
        self, topic: str, intent: str, since: str, until: str, limit: int = 5
    ) -> List[Dict[str, Any]]:
        """The newest messages of a topic and intent in the period (vectors left out)."""
        return list(
            self.db.query(
                "select id, channel, sender_id, text, language, incident_id, at from message_log"
                " where topic = ? and intent = ? and at >= ? and at < ?"
                " order by at desc, id desc limit ?",
                [topic, intent, since, until, limit],
            )
        )

    def unplaced_messages(
        self, since: str, until: str, intents: Sequence[str]
    ) -> List[Dict[str, Any]]:
        """Messages on no known topic, in no emerging alert yet, with their vectors."""
        marks = ", ".join("?" for _ in intents)
        return list(
            self.db.query(
                "select id, channel, sender_id, text, intent, language, at, vector"
                " from message_log where topic = '' and alert_id is null"
                f" and vector is not null and at >= ? and at < ? and intent in ({marks})"
                " order by at, id",
                [since, until, *intents],
            )
        )

    def place_messages(self, message_ids: Iterable[int], alert_id: int) -> int:
        """Counts messages in an emerging alert; returns how many were not counted yet."""
        ids = list(message_ids)
        if not ids:
            return 0
        with self.db.conn:
            cursor = self.db.execute(
                f"update message_log set alert_id = ? where alert_id is null"
                f" and id in ({', '.join('?' for _ in ids)})",
                [alert_id, *ids],
            )
        return cursor.rowcount

    def alert_messages(self, alert_id: int, limit: int = 5) -> List[Dict[str, Any]]:
        """The newest messages counted in an emerging alert."""
        return list(
            self.db.query(
                "select id, channel, sender_id, text, language, at from message_log"
                " where alert_id = ? order by at desc, id desc limit ?",
                [alert_id, limit],
            )
        )

    def alert_message_count(self, alert_id: int) -> int:
        """How many messages an emerging alert counts."""
        row = self.db.execute(
            "select count(*) from message_log where alert_id = ?", [alert_id]
        ).fetchone()
        return int(row[0])

    # -- alerts -----------------------------------------------------------------------

    def raise_alert(
        self,
        kind: str,
        topic: str,
        intent: str,
        *,
        window_minutes: int,
        count: int,
        baseline: float,
        examples: Sequence[Dict[str, Any]],
        incident_id: int | None = None,
        vector: bytes | None = None,
        at: str | None = None,
    ) -> int | None:
        """Opens an alert; None for a spike whose topic and intent has one open already.

        Emerging topics have no topic name: each cluster is its own alert (the
        detector keeps messages of an open cluster in it).
        """
        if kind not in ALERT_KINDS:
            raise ValueError(f"alert kind is one of {', '.join(ALERT_KINDS)}")
        stamp = at or now()
        with self.db.conn:
            cursor = self.db.execute(
                "insert into alerts (kind, topic, intent, incident_id, window_minutes, count,"
                " baseline, peak_count, examples, vector, raised_at, updated_at)"
                " select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? where not exists"
                " (select 1 from alerts where kind = ? and kind = 'spike' and topic = ?"
                " and intent = ? and closed_at is null)",
                [
                    kind,
                    topic,
                    intent,
                    incident_id,
                    int(window_minutes),
                    int(count),
                    float(baseline),
                    int(count),
                    json.dumps(list(examples), ensure_ascii=False),
                    vector,
                    stamp,
                    stamp,
                    kind,
                    topic,
                    intent,
                ],
            )
        return int(cursor.lastrowid) if cursor.rowcount == 1 else None

    def open_alerts(self, kind: str | None = None) -> List[Dict[str, Any]]:
        """Alerts not closed yet, oldest first, with their vectors (emerging topics)."""
        where, args = "closed_at is null", []
        if kind:
            where, args = where + " and kind = ?", [kind]
        rows = self.db.query(f"select * from alerts where {where} order by id", args)
        return [{**_alert(row), "vector": row["vector"]} for row in rows]

    def update_alert(
        self,
        alert_id: int,
        count: int,
        examples: Sequence[Dict[str, Any]] | None = None,
        at: str | None = None,
    ) -> None:
        """The latest count (and examples) of an open alert; the peak is kept."""
        sets = [
            "count = ?",
            "peak_count = case when peak_count > ? then peak_count else ? end",
            "updated_at = ?",
        ]
        args: List[Any] = [int(count), int(count), int(count), at or now()]
        if examples is not None:
            sets.append("examples = ?")
            args.append(json.dumps(list(examples), ensure_ascii=False))
        with self.db.conn:
            self.db.execute(f"update alerts set {', '.join(sets)} where id = ?", [*args, alert_id])

    def close_alert(self, alert_id: int, at: str | None = None) -> bool:
        """Closes an open alert (its rate fell back); True when this call closed it."""
        with self.db.conn:
            cursor = self.db.execute(
                "update alerts set closed_at = ?, updated_at = ?"
                " where id = ? and closed_at is null",
                [at or now(), at or now(), alert_id],
            )
        return cursor.rowcount == 1

    def get_alert(self, alert_id: int) -> Dict[str, Any]:
        """One alert (vector left out).

        Raises:
            NotFound: no alert has this id.
        """
        rows = list(self.db.query("select * from alerts where id = ?", [alert_id]))
        if not rows:
            raise NotFound(f"no alert {alert_id}")
        return _alert(rows[0])

    def list_alerts(self, status: str = "all", limit: int = 200) -> List[Dict[str, Any]]:
        """Alerts newest first: "open" (not closed), "unacknowledged" or "all"."""
        where = {
            "open": "closed_at is null",
            "unacknowledged": "acknowledged_at is null",
            "all": "1 = 1",
        }.get(status)
        if where is None:
            raise ValueError(f"status is one of {', '.join(ALERT_STATUSES)}")
        return [
            _alert(row)
            for row in self.db.query(
                f"select * from alerts where {where} order by raised_at desc, id desc limit ?",
                [limit],
            )
        ]

    def unacknowledged_alert_count(self) -> int:
        """How many alerts nobody has acknowledged yet."""
        row = self.db.execute(
            "select count(*) from alerts where acknowledged_at is null"
        ).fetchone()
        return int(row[0])

    def acknowledge_alert(self, alert_id: int, by: str) -> bool:
        """Records who acknowledged an alert; False when someone already had.

        Raises:
            NotFound: no alert has this id.
        """
        self.get_alert(alert_id)
        with self.db.conn:
            cursor = self.db.execute(
                "update alerts set acknowledged_by = ?, acknowledged_at = ?"
                " where id = ? and acknowledged_at is null",
                [by, now(), alert_id],
            )
        return cursor.rowcount == 1

    # -- the staff chat's notices -----------------------------------------------------

    def alerts_to_notify(self, stale_before: str) -> List[Dict[str, Any]]:
        """Alerts the staff chat has not had, oldest first (a stale reservation included)."""
        return [
            _alert(row)
            for row in self.db.query(
                "select * from alerts where notified_at is null"
                " and (notify_status is null or notify_status = 'retry'"
                " or (notify_status = 'sending' and notify_claimed_at < ?))"
                " order by id",
                [stale_before],
            )
        ]

    def claim_alert_notice(self, alert_id: int, stale_before: str) -> bool:
        """Reserves an alert's staff-chat notice for this process; False when taken."""
        with self.db.conn:
            cursor = self.db.execute(
                "update alerts set notify_status = 'sending', notify_claimed_at = ?"
                " where id = ? and notified_at is null"
                " and (notify_status is null or notify_status = 'retry'"
                " or (notify_status = 'sending' and notify_claimed_at < ?))",
                [now(), alert_id, stale_before],
            )
        return cursor.rowcount == 1

    def finish_alert_notice(self, alert_id: int, status: str, detail: str = "") -> None:
        """The outcome of a reserved notice: "sent" / "failed" (final) or "retry"."""
        if status not in ("sent", "failed", "retry"):
            raise ValueError("status is sent, failed or retry")
        notified = now() if status == "sent" else None
        with self.db.conn:
            self.db.execute(
                "update alerts set notify_status = ?, notify_detail = ?, notified_at = ?"
                " where id = ?",
                [status, detail, notified, alert_id],
            )
