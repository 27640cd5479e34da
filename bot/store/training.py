"""Trainers' changes to the training data: who changed what, when, in which files and commit.

One row per accepted change (`training_changes`): `action` says what was done
("add_intent", ...), `intent` which intent, `files` the project-relative paths
written (a JSON list), `git_commit` the commit sha when the project is a git work
tree (empty otherwise). Written by bot/training/changes.py; the desk lists them.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Sequence

from bot.store.base import Area, now

# forget_examples: `crisisdesk forget` removed a customer's examples (bot/privacy_ops.py)
TRAINING_ACTIONS = ("add_intent", "add_examples", "forget_examples")


def _row(row: Dict[str, Any]) -> Dict[str, Any]:
    row = dict(row)
    row["files"] = json.loads(row["files"] or "[]")
    return row


class TrainingStore(Area):
    """The record of accepted changes to the training data."""

    def record_training_change(
        self,
        *,
        author: str,
        action: str,
        intent: str,
        files: Sequence[str],
        git_commit: str | None = None,
    ) -> int:
        """Records one accepted change; returns its id."""
        if action not in TRAINING_ACTIONS:
            raise ValueError(f"unknown training action {action!r}")
        cursor = self.db.execute(
            "insert into training_changes (author, action, intent, files, git_commit, created_at)"
            " values (?, ?, ?, ?, ?, ?)",
            [author, action, intent, json.dumps(list(files)), git_commit or "", now()],
        )
        self.db.conn.commit()
        return int(cursor.lastrowid)

    def set_training_commit(self, change_id: int, git_commit: str) -> None:
        """Notes the commit that holds a recorded change."""
        self.db.execute(
            "update training_changes set git_commit = ? where id = ?", [git_commit, change_id]
        )
        self.db.conn.commit()

    def list_training_changes(
        self, intent: str | None = None, limit: int = 100
    ) -> List[Dict[str, Any]]:
        """Accepted changes, newest first (of one intent when `intent` is given)."""
        sql = (
            "select id, author, action, intent, files, git_commit, created_at from training_changes"
        )
        params: List[Any] = []
        if intent:
            sql += " where intent = ?"
            params.append(intent)
        sql += " order by id desc limit ?"
        params.append(limit)
        cursor = self.db.execute(sql, params)
        columns = [c[0] for c in cursor.description]
        return [_row(dict(zip(columns, values, strict=True))) for values in cursor.fetchall()]
