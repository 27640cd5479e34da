"""Feedback: "was this helpful?" per fact, the comment after a handoff rating, unanswered questions.

`feedback` rows (one per answer to "was this helpful?") carry the customer's
words the answer was for (`message`, scrubbed before it gets here) and their
language. A fact's helpfulness is the share of its answers that were "yes";
`poor_facts` lists the facts with at least `min_answers` answers and a share
below `max_share` (the thresholds are settings, bot/config.py). After a
handoff rating the bot asks once for a comment (`comment_asked_at`); the
comment, or '' when the customer skipped it, is kept on the handoff.
`unanswered_questions`: questions no FAQ entry or fact answered, for the
post-crisis report's "top unanswered questions".
"""

from __future__ import annotations

from typing import Any, Dict, List

from bot.language import normalize
from bot.store.base import Area, now


class FeedbackStore(Area):
    """Helpfulness per fact, rating comments and unanswered questions."""

    def record_answer_feedback(
        self,
        sender_id: str,
        subject: str,
        subject_id: str | None,
        helpful: bool,
        *,
        message: str = "",
        language: str | None = None,
    ) -> int:
        """Stores a "was this helpful?" answer with the (scrubbed) message it was for."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert into feedback (sender_id, subject, subject_id, helpful, message,"
                " language, created_at) values (?, ?, ?, ?, ?, ?, ?)",
                [sender_id, subject, subject_id, int(helpful), message, language, now()],
            )
        return int(cursor.lastrowid)

    def fact_helpfulness(
        self, start: str | None = None, end: str | None = None
    ) -> List[Dict[str, Any]]:
        """Per fact: answers, helpful answers and the helpful share, least helpful first.

        Only answers given at or after `start` and before `end`, when given.
        """
        where, args = ["f.subject = 'fact'", "f.subject_id is not null"], []
        if start:
            where.append("f.created_at >= ?")
            args.append(start)
        if end:
            where.append("f.created_at < ?")
            args.append(end)
        rows = self.db.execute(
            "select f.subject_id, count(*), sum(f.helpful), max(f.created_at),"
            " facts.claim_en, facts.claim_tr, facts.status"
            " from feedback f left join facts on facts.id = f.subject_id"
            f" where {' and '.join(where)} group by f.subject_id, facts.claim_en,"
            " facts.claim_tr, facts.status",
            args,
        ).fetchall()
        out = [
            {
                "fact_id": fact_id,
                "answers": int(answers),
                "helpful": int(helpful or 0),
                "share": (helpful or 0) / answers,
                "last_at": last_at,
                "claim_en": claim_en or "",
                "claim_tr": claim_tr or "",
                "status": status or "",
            }
            for fact_id, answers, helpful, last_at, claim_en, claim_tr, status in rows
        ]
        return sorted(out, key=lambda r: (r["share"], -r["answers"], r["fact_id"]))

    def poor_facts(self, min_answers: int, max_share: float) -> Dict[str, Dict[str, Any]]:
        """Facts with at least `min_answers` answers and a helpful share below `max_share`."""
        return {
            row["fact_id"]: row
            for row in self.fact_helpfulness()
            if row["answers"] >= min_answers and row["share"] < max_share
        }

    def unhelpful_messages(self, fact_id: str, limit: int = 20) -> List[Dict[str, Any]]:
        """The (scrubbed) messages behind a fact's "not helpful" answers, newest first."""
        return [
            dict(row)
            for row in self.db.query(
                "select id, sender_id, message, language, created_at from feedback"
                " where subject = 'fact' and subject_id = ? and helpful = 0"
                " order by created_at desc, id desc limit ?",
                [fact_id, limit],
            )
        ]

    # -- the comment after a rating --------------------------------------------------

    def ask_rating_comment(self, handoff_id: int) -> bool:
        """Notes that the comment was asked for; False when it already was (asked once)."""
        with self.db.conn:
            cursor = self.db.execute(
                "update handoffs set comment_asked_at = ? where id = ?"
                " and comment_asked_at is null",
                [now(), handoff_id],
            )
        return cursor.rowcount == 1

    def save_rating_comment(self, handoff_id: int, comment: str) -> bool:
        """Keeps the customer's comment ('' for skipped) once; False when one was kept already."""
        with self.db.conn:
            cursor = self.db.execute(
                "update handoffs set rating_comment = ?, rating_comment_at = ?"
                " where id = ? and rating_comment is null and comment_asked_at is not null",
                [comment, now(), handoff_id],
            )
        return cursor.rowcount == 1

    # -- questions nobody could answer -------------------------------------------------

    def record_unanswered_question(
        self, sender_id: str, channel: str | None, language: str | None, text: str
    ) -> int:
        """Records a question no FAQ entry or fact answered (`text` scrubbed by the caller)."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert into unanswered_questions"
                " (sender_id, channel, language, text, normalized, asked_at)"
                " values (?, ?, ?, ?, ?, ?)",
                [sender_id, channel, language, text, normalize(text)[:500], now()],
            )
        return int(cursor.lastrowid)
