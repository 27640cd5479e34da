"""The post-crisis report's SQL (bot/report.py computes and draws from these rows).

Every query takes the report's time range as ISO strings on crisisdesk's clock
(`start` inclusive, `end` exclusive). Hours are the first 13 characters of a
time stamp ("2026-12-03T09"): every time stamp of the store is written by
`bot.store.base.now` in one format, so text order is time order. Free texts and
customer ids are returned as stored; masking for the reader's role is the
report's job (bot.privacy). `frozen_reports` keeps a closed incident's report
data (JSON) so that it never changes afterwards.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from bot.store.base import Area, now


def _rows(cursor: Any) -> List[Dict[str, Any]]:
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]


class ReportStore(Area):
    """Rows for the post-crisis report, and frozen reports of closed incidents."""

    def _q(self, sql: str, args: List[Any]) -> List[Dict[str, Any]]:
        return _rows(self.db.execute(sql, args))

    # -- messages (message_log) ---------------------------------------------------------

    def report_messages_per_hour(self, start: str, end: str) -> List[Dict[str, Any]]:
        """Customer messages per hour, intent and language in the range."""
        return self._q(
            "select substr(at, 1, 13) as hour, coalesce(intent, '') as intent,"
            " coalesce(language, '') as language, count(*) as n from message_log"
            " where at >= ? and at < ? group by substr(at, 1, 13), coalesce(intent, ''),"
            " coalesce(language, '') order by hour",
            [start, end],
        )

    def report_message_rows(self, start: str, end: str) -> List[Dict[str, Any]]:
        """The message log in the range, without texts and vectors (for the CSV)."""
        return self._q(
            "select id, at, channel, sender_id, intent, confidence, language, incident_id,"
            " topic from message_log where at >= ? and at < ? order by at, id",
            [start, end],
        )

    # -- rumour groups -------------------------------------------------------------------

    def report_rumour_groups(self, start: str, end: str) -> List[Dict[str, Any]]:
        """Rumour groups asked in the range: first ask, first answer, askers in the range."""
        return self._q(
            "select r.id, r.text, r.status, r.fact_id, r.first_seen, r.answered_at,"
            " r.ask_count, count(a.sender_id) as askers from rumours r"
            " join rumour_askers a on a.rumour_id = r.id"
            " where a.asked_at >= ? and a.asked_at < ?"
            " group by r.id, r.text, r.status, r.fact_id, r.first_seen, r.answered_at,"
            " r.ask_count order by askers desc, r.id",
            [start, end],
        )

    def report_unanswered_questions(
        self, start: str, end: str, limit: int = 10
    ) -> List[Dict[str, Any]]:
        """The most asked questions nobody could answer in the range (same wording, one row)."""
        return self._q(
            "select min(text) as text, count(*) as asks, count(distinct sender_id) as askers,"
            " min(asked_at) as first_at, max(asked_at) as last_at from unanswered_questions"
            " where asked_at >= ? and asked_at < ? group by normalized"
            " order by askers desc, asks desc, first_at limit ?",
            [start, end, limit],
        )

    def report_unanswered_rows(self, start: str, end: str) -> List[Dict[str, Any]]:
        """Every unanswered question of the range (for the CSV)."""
        return self._q(
            "select id, asked_at, channel, sender_id, language, text from unanswered_questions"
            " where asked_at >= ? and asked_at < ? order by asked_at, id",
            [start, end],
        )

    # -- corrections and broadcasts (campaigns, deliveries) ------------------------------

    def report_deliveries(self, incident_id: int, start: str, end: str) -> List[Dict[str, Any]]:
        """Deliveries of the incident's campaigns and of campaigns created in the range."""
        return self._q(
            "select d.id, d.campaign_id, c.kind, c.fact_id, c.statement_id, d.channel,"
            " d.recipient, d.language, d.status, d.corrects_earlier, d.queued_at, d.sent_at,"
            " d.delivered_at, d.read_at, d.error from deliveries d"
            " join campaigns c on c.id = d.campaign_id"
            " where c.incident_id = ? or (c.created_at >= ? and c.created_at < ?)"
            " order by d.id",
            [incident_id, start, end],
        )

    # -- handoffs, ratings, feedback -----------------------------------------------------

    def report_handoffs(self, start: str, end: str) -> List[Dict[str, Any]]:
        """Handoffs opened in the range with their measures, and the topic they were about.

        `topic`: the topic of the customer's latest logged message on a known topic
        before the handoff opened ('' when none).
        """
        return self._q(
            "select h.id, h.sender_id, h.channel, h.kind, h.reason, h.priority, h.language,"
            " h.incident_id, h.status, h.created_at, h.first_assigned_at, h.first_reply_at,"
            " h.closed_at, h.assigned_to, h.rating, h.rating_comment,"
            " coalesce((select m.topic from message_log m where m.sender_id = h.sender_id"
            " and m.at <= h.created_at and m.topic <> '' order by m.at desc, m.id desc"
            " limit 1), '') as topic"
            " from handoffs h where h.created_at >= ? and h.created_at < ? order by h.id",
            [start, end],
        )

    def report_feedback_rows(self, start: str, end: str) -> List[Dict[str, Any]]:
        """Every "was this helpful?" answer of the range (for the CSV)."""
        return self._q(
            "select id, created_at, sender_id, subject, subject_id, helpful, language, message"
            " from feedback where created_at >= ? and created_at < ? order by created_at, id",
            [start, end],
        )

    # -- statements ------------------------------------------------------------------------

    def report_statements(self, incident_id: int) -> List[Dict[str, Any]]:
        """Every version of the incident's statement, oldest first."""
        return self._q(
            "select id, version, status, written_by, written_at, approved_by, approved_at,"
            " live_at, superseded_at, rejected_by, rejected_at, text_tr, text_en"
            " from incident_statements where incident_id = ? order by version",
            [incident_id],
        )

    # -- frozen reports ----------------------------------------------------------------------

    def freeze_report_data(self, incident_id: int, data: Dict[str, Any]) -> bool:
        """Stores a closed incident's report data once; False when it was frozen already."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert into frozen_reports (incident_id, data, frozen_at) values (?, ?, ?)"
                " on conflict (incident_id) do nothing",
                [incident_id, json.dumps(data, ensure_ascii=False), now()],
            )
        return cursor.rowcount == 1

    def frozen_report_data(self, incident_id: int) -> Dict[str, Any] | None:
        """A frozen report's data, None when the incident's report was never frozen."""
        row = self.db.execute(
            "select data from frozen_reports where incident_id = ?", [incident_id]
        ).fetchone()
        return json.loads(row[0]) if row else None
