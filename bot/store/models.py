"""Promoted models: which model file went live, when, by whom, with its evaluation report.

One row per promotion (`model_promotions`): `model_file` the promoted model (an
absolute path the Rasa server can read), `previous_file` the model the server had
before (what `rollback` loads again), `report` the gate's evaluation report (JSON:
per-intent F1 old/new, changed confusions, out-of-domain share, verdict), `forced`
1 when an admin promoted past a refusing gate, `rolled_back_at`/`rolled_back_by`
once a rollback undid it. The live model is the newest promotion not rolled back.
Written by bot/training/models.py.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from bot.store.base import Area, NotFound, now

_COLUMNS = (
    "id, model_file, previous_file, promoted_by, forced, verdict, report, promoted_at,"
    " rolled_back_at, rolled_back_by"
)


class ModelStore(Area):
    """The record of promoted models and their evaluation reports."""

    def _promotions(self, where: str, params: List[Any], limit: int) -> List[Dict[str, Any]]:
        cursor = self.db.execute(
            f"select {_COLUMNS} from model_promotions {where} order by id desc limit ?",
            [*params, limit],
        )
        columns = [c[0] for c in cursor.description]
        rows = []
        for values in cursor.fetchall():
            row = dict(zip(columns, values, strict=True))
            row["report"] = json.loads(row["report"] or "{}")
            row["forced"] = bool(row["forced"])
            rows.append(row)
        return rows

    def record_promotion(
        self,
        *,
        model_file: str,
        previous_file: str,
        promoted_by: str,
        verdict: str,
        report: Dict[str, Any],
        forced: bool = False,
    ) -> int:
        """Records that `model_file` went live (replacing `previous_file`); returns its id."""
        with self.db.conn:
            cursor = self.db.execute(
                "insert into model_promotions (model_file, previous_file, promoted_by, forced,"
                " verdict, report, promoted_at) values (?, ?, ?, ?, ?, ?, ?)",
                [
                    model_file,
                    previous_file,
                    promoted_by,
                    1 if forced else 0,
                    verdict,
                    json.dumps(report, ensure_ascii=False, sort_keys=True),
                    now(),
                ],
            )
        return int(cursor.lastrowid)

    def live_promotion(self) -> Dict[str, Any] | None:
        """The newest promotion not rolled back (the live model), or None."""
        rows = self._promotions("where rolled_back_at is null", [], 1)
        return rows[0] if rows else None

    def get_promotion(self, promotion_id: int) -> Dict[str, Any]:
        """One promotion by id (NotFound when there is none)."""
        rows = self._promotions("where id = ?", [promotion_id], 1)
        if not rows:
            raise NotFound(f"no promotion {promotion_id}")
        return rows[0]

    def list_promotions(self, limit: int = 50) -> List[Dict[str, Any]]:
        """Promotions, newest first, each with its report."""
        return self._promotions("", [], limit)

    def mark_rolled_back(self, promotion_id: int, by: str) -> bool:
        """Marks a live promotion rolled back; False when it already was (someone else won)."""
        with self.db.conn:
            cursor = self.db.execute(
                "update model_promotions set rolled_back_at = ?, rolled_back_by = ?"
                " where id = ? and rolled_back_at is null",
                [now(), by, promotion_id],
            )
        return cursor.rowcount == 1
