"""Schema migrations for the operational database, applied in order, once each.

A migration is a function of the database; its name is recorded in
`_migrations` when it has run. Never edit a migration that has shipped: add one.
"""

from __future__ import annotations

from typing import Callable, List, Tuple

import sqlite_utils


def _0001_facts_and_faqs(db: sqlite_utils.Database) -> None:
    db["facts"].create(
        {
            "id": str,
            "topic": str,
            "claim": str,
            "verdict": str,
            "answer_tr": str,
            "answer_en": str,
            "source_url": str,
            "status": str,
            "verified_by": str,
            "verified_at": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"claim", "verdict", "answer_tr", "answer_en", "status"},
    )
    db["facts"].create_index(["status"])
    db["faqs"].create(
        {
            "id": str,
            "question_tr": str,
            "question_en": str,
            "answer_tr": str,
            "answer_en": str,
            "source_url": str,
            "status": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"question_tr", "question_en", "answer_tr", "answer_en", "status"},
    )


def _0002_rumours(db: sqlite_utils.Database) -> None:
    db["rumours"].create(
        {
            "id": int,
            "text": str,
            "normalized": str,
            "language": str,
            "status": str,
            "fact_id": str,
            "ask_count": int,
            "first_seen": str,
            "last_seen": str,
        },
        pk="id",
        not_null={"text", "normalized", "status"},
    )
    db["rumours"].create_index(["normalized"], unique=True)
    db["rumour_askers"].create(
        {
            "rumour_id": int,
            "sender_id": str,
            "channel": str,
            "language": str,
            "asked_at": str,
            "notified_at": str,
        },
        pk=("rumour_id", "sender_id"),
        foreign_keys=[("rumour_id", "rumours", "id")],
    )


def _0003_tickets_handoffs_feedback(db: sqlite_utils.Database) -> None:
    db["tickets"].create(
        {
            "id": int,
            "number": str,
            "channel": str,
            "sender_id": str,
            "text": str,
            "language": str,
            "severity": str,
            "reasons": str,
            "entities": str,
            "status": str,
            "created_at": str,
        },
        pk="id",
        not_null={"sender_id", "text", "severity", "status"},
    )
    db["tickets"].create_index(["number"], unique=True)
    db["tickets"].create_index(["sender_id"])
    db["handoffs"].create(
        {
            "id": int,
            "sender_id": str,
            "channel": str,
            "reason": str,
            "priority": str,
            "language": str,
            "ticket_number": str,
            "last_messages": str,
            "status": str,
            "created_at": str,
            "closed_at": str,
            "closed_by": str,
        },
        pk="id",
        not_null={"sender_id", "reason", "priority", "status"},
    )
    db["handoffs"].create_index(["status", "priority"])
    db["handoffs"].create_index(["sender_id"])
    db["feedback"].create(
        {
            "id": int,
            "sender_id": str,
            "subject": str,
            "subject_id": str,
            "helpful": int,
            "created_at": str,
        },
        pk="id",
        not_null={"sender_id", "subject", "helpful"},
    )


def _0004_content_revision(db: sqlite_utils.Database) -> None:
    """A counter bumped by triggers whenever a fact or FAQ entry changes."""
    db.execute(
        "create table content_revision (id integer primary key check (id = 1),"
        " revision integer not null)"
    )
    db.execute("insert into content_revision (id, revision) values (1, 0)")
    for table in ("facts", "faqs"):
        for event in ("insert", "update", "delete"):
            db.execute(
                f"create trigger {table}_{event}_revision after {event} on {table}"
                " begin update content_revision set revision = revision + 1 where id = 1; end"
            )


def _0005_channels(db: sqlite_utils.Database) -> None:
    """Outgoing messages, inbound message ids, opt-outs and offered choices per conversation.

    `recipient` and `sender` are conversation ids (`whatsapp:+90...`,
    `telegram:12345`). `next_attempt_at` is Unix time in seconds (a float, so that
    retries can be sub-second in tests); the other times are ISO 8601 strings.
    """
    db["outbox"].create(
        {
            "id": int,
            "channel": str,
            "recipient": str,
            "payload": str,
            "status": str,
            "attempts": int,
            "next_attempt_at": float,
            "last_error": str,
            "provider_id": str,
            "delivery_status": str,
            "answers": str,
            "created_at": str,
            "sent_at": str,
        },
        pk="id",
        not_null={"channel", "recipient", "payload", "status", "attempts", "next_attempt_at"},
    )
    db["outbox"].create_index(["status", "next_attempt_at"])
    db["outbox"].create_index(["channel", "recipient", "status"])
    db["outbox"].create_index(["provider_id"])
    db["inbound_messages"].create(
        {
            "id": int,
            "channel": str,
            "message_id": str,
            "sender": str,
            "body": str,
            "media": str,
            "status": str,
            "received_at": str,
            "processed_at": str,
            "error": str,
        },
        pk="id",
        not_null={"channel", "message_id", "sender", "status", "received_at"},
    )
    db["inbound_messages"].create_index(["channel", "message_id"], unique=True)
    db["inbound_messages"].create_index(["status"])
    db["opt_outs"].create(
        {"channel": str, "recipient": str, "opted_out_at": str},
        pk=("channel", "recipient"),
        not_null={"opted_out_at"},
    )
    db["offered_choices"].create(
        {"channel": str, "recipient": str, "options": str, "offered_at": str},
        pk=("channel", "recipient"),
        not_null={"options"},
    )


MIGRATIONS: List[Tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_facts_and_faqs", _0001_facts_and_faqs),
    ("0002_rumours", _0002_rumours),
    ("0003_tickets_handoffs_feedback", _0003_tickets_handoffs_feedback),
    ("0004_content_revision", _0004_content_revision),
    ("0005_channels", _0005_channels),
]


def apply(db: sqlite_utils.Database) -> List[str]:
    """Runs the migrations this database has not had yet; returns their names."""
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for name, migration in MIGRATIONS:
        if name in done:
            continue
        with db.conn:
            migration(db)
            db["_migrations"].insert(
                {"name": name, "applied_at": db.execute("select datetime('now')").fetchone()[0]}
            )
        applied.append(name)
    return applied
