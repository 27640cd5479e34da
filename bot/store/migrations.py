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


def _0006_fact_claims_variants_brands(db: sqlite_utils.Database) -> None:
    """Facts state their claim in both languages; wordings confirmed for a claim; brands.

    `claim` becomes `claim_en` and `claim_tr` joins it (empty for facts imported
    before; the import requires it from now on). `claim_variants` holds customers'
    wordings that a person confirmed mean a fact's claim (the matcher reads them as
    more ways to say it); they bump the content revision like facts do. `brands`
    holds editors' changes to the list of other companies the bot must not speak
    for: a name added, or a name of the seed list (data/brands.csv) removed.
    """
    db.execute("alter table facts rename column claim to claim_en")
    db.execute("alter table facts add column claim_tr text not null default ''")
    db["claim_variants"].create(
        {
            "id": int,
            "fact_id": str,
            "text": str,
            "normalized": str,
            "language": str,
            "rumour_id": int,
            "added_by": str,
            "created_at": str,
        },
        pk="id",
        not_null={"fact_id", "text", "normalized", "created_at"},
        foreign_keys=[("fact_id", "facts", "id")],
    )
    db["claim_variants"].create_index(["fact_id", "normalized"], unique=True)
    for event in ("insert", "update", "delete"):
        db.execute(
            f"create trigger claim_variants_{event}_revision after {event} on claim_variants"
            " begin update content_revision set revision = revision + 1 where id = 1; end"
        )
    db["brands"].create(
        {
            "normalized": str,
            "name": str,
            "sector": str,
            "status": str,
            "changed_by": str,
            "changed_at": str,
        },
        pk="normalized",
        not_null={"name", "status", "changed_at"},
    )


def _0007_offered_payloads(db: sqlite_utils.Database) -> None:
    """Button payloads the bot offered to a conversation, and how an inbound message came.

    Only a payload in `offered_payloads` (offered to that conversation, not used
    yet) reaches the dialogue as `/intent{...}`; using one removes every payload
    offered with it (`offer` groups the buttons of one bot message).
    `inbound_messages.kind` says whether the message was typed (`text`), a button
    press (`button`) or a channel command (`start`), so that a message resumed
    after a crash is read the same way.
    """
    db["offered_payloads"].create(
        {
            "id": int,
            "channel": str,
            "recipient": str,
            "offer": str,
            "payload": str,
            "offered_at": str,
        },
        pk="id",
        not_null={"channel", "recipient", "offer", "payload", "offered_at"},
    )
    db["offered_payloads"].create_index(["channel", "recipient", "payload"])
    db["offered_payloads"].create_index(["offer"])
    db.execute("alter table inbound_messages add column kind text not null default 'text'")


def _0008_rumour_groups(db: sqlite_utils.Database) -> None:
    """Open rumours become groups of wordings with the same meaning, with suggested facts.

    A row of `rumours` is now a group: its `text` is the first wording, its askers
    are `rumour_askers`. `rumour_wordings` holds every distinct wording (normalised
    text unique) with its count and sentence vector (float32 bytes, for grouping the
    next wording). `rumour_suggestions` holds the facts the matcher found close but
    not sure enough, with the best score seen; a person confirms or rejects them.
    """
    db["rumour_wordings"].create(
        {
            "id": int,
            "rumour_id": int,
            "text": str,
            "normalized": str,
            "language": str,
            "ask_count": int,
            "first_seen": str,
            "last_seen": str,
            "vector": bytes,
        },
        pk="id",
        not_null={"rumour_id", "text", "normalized", "ask_count"},
        foreign_keys=[("rumour_id", "rumours", "id")],
    )
    db["rumour_wordings"].create_index(["normalized"], unique=True)
    db["rumour_wordings"].create_index(["rumour_id"])
    db.execute(
        "insert into rumour_wordings"
        " (rumour_id, text, normalized, language, ask_count, first_seen, last_seen)"
        " select id, text, normalized, language, ask_count, first_seen, last_seen from rumours"
    )
    db["rumour_suggestions"].create(
        {
            "rumour_id": int,
            "fact_id": str,
            "score": float,
            "status": str,
            "updated_at": str,
            "updated_by": str,
        },
        pk=("rumour_id", "fact_id"),
        not_null={"score", "status", "updated_at"},
        foreign_keys=[("rumour_id", "rumours", "id"), ("fact_id", "facts", "id")],
    )
    db["rumour_suggestions"].create_index(["status"])


def _0009_people(db: sqlite_utils.Database) -> None:
    """Desk users, their server-side sessions, login attempts and the audit log."""
    db["users"].create(
        {
            "id": int,
            "name": str,
            "role": str,
            "password_hash": str,
            "disabled": int,
            "must_change_password": int,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"name", "role", "password_hash", "disabled", "created_at", "updated_at"},
    )
    db["users"].create_index(["name"], unique=True)
    db["desk_sessions"].create(
        {
            "key": str,
            "user_id": int,
            "csrf_token": str,
            "address": str,
            "created_at": str,
            "last_seen_at": str,
            "expires_at": str,
        },
        pk="key",
        not_null={"user_id", "csrf_token", "created_at", "expires_at"},
        foreign_keys=[("user_id", "users", "id")],
    )
    db["desk_sessions"].create_index(["user_id"])
    db["login_attempts"].create(
        {"id": int, "name": str, "address": str, "ok": int, "at": str},
        pk="id",
        not_null={"name", "address", "ok", "at"},
    )
    db["login_attempts"].create_index(["name", "at"])
    db["login_attempts"].create_index(["address", "at"])
    db["audit_log"].create(
        {"id": int, "at": str, "actor": str, "action": str, "subject": str, "detail": str},
        pk="id",
        not_null={"at", "actor", "action"},
    )
    db["audit_log"].create_index(["at"])
    db["audit_log"].create_index(["actor"])


def _0010_handoff_states(db: sqlite_utils.Database) -> None:
    # A handoff's life: waiting (in the queue) -> assigned (an agent owns it) -> closed.
    # Before this, a queued handoff was 'open'; it had no owner, so it is waiting.
    handoffs = db["handoffs"]
    handoffs.add_column("kind", str)
    handoffs.add_column("assigned_to", str)
    handoffs.add_column("assigned_at", str)
    handoffs.add_column("first_reply_at", str)
    handoffs.add_column("rating", int)
    handoffs.add_column("intents", str)
    handoffs.add_column("updated_at", str)
    db.execute("update handoffs set status = 'waiting' where status = 'open'")
    db.execute("update handoffs set updated_at = coalesce(closed_at, created_at)")
    handoffs.create_index(["assigned_to"])
    # Every change of a handoff, in order: what the desk's live feed tails by id.
    db["handoff_changes"].create(
        {
            "id": int,
            "handoff_id": int,
            "sender_id": str,
            "change": str,
            "actor": str,
            "detail": str,
            "at": str,
        },
        pk="id",
        not_null={"handoff_id", "sender_id", "change", "at"},
        foreign_keys=[("handoff_id", "handoffs", "id")],
    )
    db["handoff_changes"].create_index(["handoff_id"])


def _0011_desk_conversations(db: sqlite_utils.Database) -> None:
    """The desk's records of a conversation: notes, agents' replies, "bot misunderstood" marks.

    `sender_id` is the conversation id; `event_time` is the Rasa event's timestamp
    (Unix seconds) of the customer message an agent marked.
    """
    db["desk_notes"].create(
        {
            "id": int,
            "sender_id": str,
            "handoff_id": int,
            "author": str,
            "text": str,
            "created_at": str,
        },
        pk="id",
        not_null={"sender_id", "author", "text", "created_at"},
    )
    db["desk_notes"].create_index(["sender_id"])
    db["desk_replies"].create(
        {
            "id": int,
            "sender_id": str,
            "handoff_id": int,
            "agent": str,
            "channel": str,
            "kind": str,
            "template": str,
            "text": str,
            "outbox_id": int,
            "in_tracker": int,
            "created_at": str,
        },
        pk="id",
        not_null={"sender_id", "agent", "channel", "kind", "text", "in_tracker", "created_at"},
        foreign_keys=[("outbox_id", "outbox", "id")],
    )
    db["desk_replies"].create_index(["sender_id"])
    db["misunderstood"].create(
        {
            "id": int,
            "sender_id": str,
            "event_time": float,
            "text": str,
            "intent": str,
            "confidence": float,
            "language": str,
            "marked_by": str,
            "marked_at": str,
            "status": str,
        },
        pk="id",
        not_null={"sender_id", "event_time", "text", "marked_by", "marked_at", "status"},
    )
    db["misunderstood"].create_index(["sender_id", "event_time"], unique=True)
    db["misunderstood"].create_index(["status"])


def _0012_handoff_notices_and_measures(db: sqlite_utils.Database) -> None:
    """What the desk told about a handoff, once each; when it was first claimed.

    `handoff_notices`: one row per (handoff, kind): "reminder" and "after_hours"
    (updates to the waiting customer), "staff_alert" (the staff Telegram chat).
    `first_assigned_at` stays when a handoff is released or transferred, so the
    time a customer waited for a person is kept for reports.
    """
    db["handoffs"].add_column("first_assigned_at", str)
    db.execute(
        "update handoffs set first_assigned_at = assigned_at"
        " where first_assigned_at is null and assigned_at is not null"
    )
    db["handoff_notices"].create(
        {
            "id": int,
            "handoff_id": int,
            "kind": str,
            "status": str,
            "outbox_id": int,
            "detail": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"handoff_id", "kind", "status", "created_at", "updated_at"},
        foreign_keys=[("handoff_id", "handoffs", "id")],
    )
    db["handoff_notices"].create_index(["handoff_id", "kind"], unique=True)


def _0013_training_changes(db: sqlite_utils.Database) -> None:
    """Trainers' accepted changes to the training data (bot/store/training.py).

    `files` is a JSON list of project-relative paths; `git_commit` the sha of the
    commit holding the change ("" when the project is not a git work tree). The
    column is not called `commit`, a reserved word in SQL.
    """
    db.execute(
        "create table training_changes ("
        " id integer primary key,"
        " author text not null,"
        " action text not null,"
        " intent text not null,"
        " files text not null,"
        " git_commit text not null default '',"
        " created_at text not null)"
    )
    db.execute("create index idx_training_changes_intent on training_changes (intent)")


def _0014_tracker_appends(db: sqlite_utils.Database) -> None:
    """Events the desk owes Rasa's tracker: appended later when Rasa was not reachable.

    One row per event (`event`: the Rasa event as JSON, with its original
    `timestamp`), deleted once Rasa has it. `reply_id` is the agent's reply the
    event records (`desk_replies.in_tracker` is set when it is appended). A
    conversation's oldest row is its lease: `holder` and `lease_until` (Unix
    seconds) say who is appending that conversation's rows now; `attempts` counts
    the posts begun, so that a retry first looks in the tracker for what an
    attempt with an unknown outcome already appended.
    """
    db["tracker_appends"].create(
        {
            "id": int,
            "sender_id": str,
            "reply_id": int,
            "event": str,
            "attempts": int,
            "last_error": str,
            "holder": str,
            "lease_until": float,
            "created_at": str,
        },
        pk="id",
        not_null={"sender_id", "event", "attempts", "lease_until", "created_at"},
        defaults={"attempts": 0, "lease_until": 0.0},
        foreign_keys=[("reply_id", "desk_replies", "id")],
    )
    db["tracker_appends"].create_index(["sender_id", "id"])


def _0015_inbox(db: sqlite_utils.Database) -> None:
    """The trainers' review inbox (bot/store/inbox.py).

    `inbox_items`: one row per customer message (a conversation's `sender_id` and
    the Rasa user event's `event_time`), its text and entities (JSON) already
    scrubbed, the model's top two intents, why it is there (`sources`,
    comma-separated; `reasons`, semicolon-separated) and how a trainer resolved it.
    `inbox_examples`: who added which training example, to which file, from which
    conversation and item, in which recorded change. `inbox_cursors`: how far the
    collector has read each source (by id).
    """
    db.execute(
        "create table inbox_items ("
        " id integer primary key,"
        " sender_id text not null,"
        " event_time real not null,"
        " channel text,"
        " text text not null,"
        " entities text not null default '[]',"
        " intent text,"
        " confidence real,"
        " runner_up text,"
        " runner_up_confidence real,"
        " language text,"
        " sources text not null,"
        " reasons text not null default '',"
        " status text not null default 'new',"
        " resolved_intent text,"
        " resolved_by text,"
        " resolved_at text,"
        " created_at text not null,"
        " unique (sender_id, event_time))"
    )
    db.execute("create index idx_inbox_items_status on inbox_items (status, event_time)")
    db.execute(
        "create table inbox_examples ("
        " id integer primary key,"
        " item_id integer not null references inbox_items (id),"
        " intent text not null,"
        " language text not null,"
        " text text not null,"
        " path text not null,"
        " added_by text not null,"
        " sender_id text not null,"
        " change_id integer references training_changes (id),"
        " created_at text not null)"
    )
    db.execute("create index idx_inbox_examples_intent on inbox_examples (intent)")
    db.execute(
        "create table inbox_cursors (name text primary key, last_id integer not null)"
    )


def _0016_models(db: sqlite_utils.Database) -> None:
    """Promoted models and their evaluation reports (bot/store/models.py).

    `report` is the gate's JSON report; `forced` 1 when an admin promoted past a
    refusing gate; `rolled_back_at` stays null while the promotion is live.
    """
    db.execute(
        "create table model_promotions ("
        " id integer primary key,"
        " model_file text not null,"
        " previous_file text not null default '',"
        " promoted_by text not null,"
        " forced integer not null default 0,"
        " verdict text not null,"
        " report text not null,"
        " promoted_at text not null,"
        " rolled_back_at text,"
        " rolled_back_by text)"
    )


def _0017_incidents(db: sqlite_utils.Database) -> None:
    """Incidents, their versioned official statements, and who saw which (bot/store/incidents.py).

    `incidents.keywords` is a JSON list, `examples` JSON {"tr": [...], "en": [...]};
    `revision` grows with every change of keywords, examples or status, so the
    topic detector re-encodes an incident's examples only then. A statement
    version is 'draft' until a second editor approves it ('live'; the version it
    replaces becomes 'superseded') or it is 'rejected'. `incident_conversations`:
    every conversation with a message on an incident's topic (first and last time,
    count). `incident_statement_views`: which conversation was shown which
    statement version, once each. `handoffs.incident_id` tags a handoff opened for
    a conversation on an active incident's topic.
    """
    db.execute(
        "create table incidents ("
        " id integer primary key,"
        " name text not null,"
        " severity text not null,"
        " keywords text not null default '[]',"
        " examples text not null default '{}',"
        " status text not null default 'active',"
        " started_at text not null,"
        " closed_at text,"
        " opened_by text not null,"
        " closed_by text,"
        " revision integer not null default 1,"
        " created_at text not null,"
        " updated_at text not null)"
    )
    db.execute("create index idx_incidents_status on incidents (status)")
    db.execute(
        "create table incident_statements ("
        " id integer primary key,"
        " incident_id integer not null references incidents (id),"
        " version integer not null,"
        " text_tr text not null,"
        " text_en text not null,"
        " written_by text not null,"
        " written_at text not null,"
        " approved_by text,"
        " approved_at text,"
        " live_at text,"
        " superseded_at text,"
        " rejected_by text,"
        " rejected_at text,"
        " status text not null default 'draft',"
        " unique (incident_id, version))"
    )
    db.execute(
        "create index idx_incident_statements_status on incident_statements (incident_id, status)"
    )
    db.execute(
        "create table incident_conversations ("
        " incident_id integer not null references incidents (id),"
        " sender_id text not null,"
        " channel text,"
        " language text,"
        " first_at text not null,"
        " last_at text not null,"
        " messages integer not null default 1,"
        " primary key (incident_id, sender_id))"
    )
    db.execute(
        "create table incident_statement_views ("
        " statement_id integer not null references incident_statements (id),"
        " sender_id text not null,"
        " language text,"
        " shown_at text not null,"
        " primary key (statement_id, sender_id))"
    )
    db.execute("alter table handoffs add column incident_id integer references incidents (id)")
    db.execute("create index idx_handoffs_incident on handoffs (incident_id)")


def _0018_message_log_alerts(db: sqlite_utils.Database) -> None:
    """Early warning (bot/alerts.py, bot/message_log.py, bot/store/alerts.py).

    `message_log`: one row per customer message read from Rasa's event broker
    (`event_id` is the broker row's id: reading it again adds nothing), with the
    NLU's intent, the incident or fact topic it is about (`topic` '' when none),
    `at` on crisisdesk's clock, and for messages on no known topic their sentence
    vector and the emerging-topic alert they were counted in. `alerts`: spikes
    (per topic and intent) and emerging topics; one open (`closed_at` null) per
    kind, topic and intent; `notified_at` once the staff chat has it.
    """
    db.execute(
        "create table message_log ("
        " id integer primary key,"
        " event_id integer not null unique,"
        " channel text not null default '',"
        " sender_id text not null,"
        " message_id text,"
        " text text not null,"
        " intent text,"
        " confidence real,"
        " language text,"
        " incident_id integer,"
        " topic text not null default '',"
        " at text not null,"
        " vector blob,"
        " alert_id integer)"
    )
    db.execute("create index idx_message_log_at on message_log (at)")
    db.execute("create index idx_message_log_topic on message_log (topic, intent, at)")
    db.execute(
        "create table alerts ("
        " id integer primary key,"
        " kind text not null,"
        " topic text not null default '',"
        " intent text not null default '',"
        " incident_id integer,"
        " window_minutes integer not null,"
        " count integer not null,"
        " baseline real not null default 0,"
        " peak_count integer not null default 0,"
        " examples text not null default '[]',"
        " vector blob,"
        " raised_at text not null,"
        " updated_at text not null,"
        " closed_at text,"
        " notified_at text,"
        " notify_status text,"
        " notify_claimed_at text,"
        " notify_detail text,"
        " acknowledged_by text,"
        " acknowledged_at text)"
    )
    db.execute("create index idx_alerts_open on alerts (kind, topic, intent, closed_at)")


def _0019_campaigns(db: sqlite_utils.Database) -> None:
    """Corrections and statement broadcasts (bot/corrections.py, bot/store/campaigns.py).

    `fact_versions`: a fact's answer as it was published, numbered per fact; a new
    version only when the verdict, the claims, the answers or the source change.
    `fact_tellings`: who the bot itself told which version of a fact (a direct
    answer), so that a later version reaches them as a correction.
    `campaigns`: one per (fact, answer version) or per live statement (`key` says
    which, unique: publishing again finds the same campaign). `deliveries`: one
    per campaign and recipient (unique: nobody gets one version twice), following
    its outbox row (`outbox_id`, the full message; `template_outbox_id`, the
    WhatsApp template sent while the 24-hour window was closed; `payload`, the
    full message kept until the customer writes again).
    """
    db.execute(
        "create table fact_versions ("
        " id integer primary key,"
        " fact_id text not null,"
        " version integer not null,"
        " digest text not null,"
        " verdict text not null,"
        " claim_tr text not null default '',"
        " claim_en text not null default '',"
        " answer_tr text not null default '',"
        " answer_en text not null default '',"
        " source_url text not null default '',"
        " published_by text not null default '',"
        " published_at text not null,"
        " unique (fact_id, version))"
    )
    db.execute(
        "create table fact_tellings ("
        " id integer primary key,"
        " fact_id text not null,"
        " version integer not null,"
        " channel text not null default '',"
        " recipient text not null,"
        " language text,"
        " told_at text not null,"
        " unique (fact_id, version, channel, recipient))"
    )
    db.execute("create index idx_fact_tellings_recipient on fact_tellings (channel, recipient)")
    db.execute(
        "create table campaigns ("
        " id integer primary key,"
        " key text not null unique,"
        " kind text not null,"
        " fact_id text,"
        " fact_version integer,"
        " incident_id integer,"
        " statement_id integer,"
        " created_by text not null,"
        " created_at text not null)"
    )
    db.execute("create index idx_campaigns_fact on campaigns (fact_id)")
    db.execute("create index idx_campaigns_incident on campaigns (incident_id)")
    db.execute(
        "create table deliveries ("
        " id integer primary key,"
        " campaign_id integer not null references campaigns (id),"
        " channel text not null,"
        " recipient text not null,"
        " language text,"
        " status text not null,"
        " corrects_earlier integer not null default 0,"
        " outbox_id integer,"
        " template_outbox_id integer,"
        " payload text,"
        " queued_at text not null,"
        " released_at text,"
        " sent_at text,"
        " delivered_at text,"
        " read_at text,"
        " error text,"
        " updated_at text not null,"
        " unique (campaign_id, channel, recipient))"
    )
    db.execute("create index idx_deliveries_outbox on deliveries (outbox_id)")
    db.execute("create index idx_deliveries_template on deliveries (template_outbox_id)")
    db.execute("create index idx_deliveries_recipient on deliveries (channel, recipient, status)")


def _0020_feedback_report(db: sqlite_utils.Database) -> None:
    """Feedback per fact, the rating comment, unanswered questions, frozen reports.

    `feedback.message`: the customer's words the answer was for (scrubbed,
    bot/training/scrub.py), with its `language`. `handoffs.rating_comment`: the
    free-text comment asked for once after a rating (scrubbed; '' when skipped),
    `comment_asked_at` when it was asked. `rumours.answered_at`: when a group
    was first answered by a fact (old answered groups: when the fact was
    verified, or the group first asked if later). `unanswered_questions`: a
    question no FAQ entry or fact answered (scrubbed text). `frozen_reports`: a
    closed incident's report data (JSON, bot/report.py), stored once at close.
    """
    db.execute("alter table feedback add column message text")
    db.execute("alter table feedback add column language text")
    db.execute("create index idx_feedback_subject on feedback (subject, subject_id)")
    db.execute("alter table handoffs add column rating_comment text")
    db.execute("alter table handoffs add column comment_asked_at text")
    db.execute("alter table handoffs add column rating_comment_at text")
    db.execute("alter table rumours add column answered_at text")
    db.execute(
        "update rumours set answered_at = (select max(rumours.first_seen, f.verified_at)"
        " from facts f where f.id = rumours.fact_id and f.verified_at is not null)"
        " where status = 'answered'"
    )
    db.execute(
        "create table unanswered_questions ("
        " id integer primary key,"
        " sender_id text not null,"
        " channel text,"
        " language text,"
        " text text not null,"
        " normalized text not null,"
        " asked_at text not null)"
    )
    db.execute("create index idx_unanswered_questions_at on unanswered_questions (asked_at)")
    db.execute(
        "create table frozen_reports ("
        " incident_id integer primary key references incidents (id),"
        " data text not null,"
        " frozen_at text not null)"
    )


def _0021_privacy(db: sqlite_utils.Database) -> None:
    """How far retention has read each of Rasa's databases (bot/store/privacy.py).

    `name` is "tracker" or "broker"; `last_id` the last event id whose texts
    retention has dealt with (events are read in id order, oldest first).
    """
    db.execute(
        "create table privacy_cursors (name text primary key, last_id integer not null)"
    )


MIGRATIONS: List[Tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_facts_and_faqs", _0001_facts_and_faqs),
    ("0002_rumours", _0002_rumours),
    ("0003_tickets_handoffs_feedback", _0003_tickets_handoffs_feedback),
    ("0004_content_revision", _0004_content_revision),
    ("0005_channels", _0005_channels),
    ("0006_fact_claims_variants_brands", _0006_fact_claims_variants_brands),
    ("0007_offered_payloads", _0007_offered_payloads),
    ("0008_rumour_groups", _0008_rumour_groups),
    ("0009_people", _0009_people),
    ("0010_handoff_states", _0010_handoff_states),
    ("0011_desk_conversations", _0011_desk_conversations),
    ("0012_handoff_notices_and_measures", _0012_handoff_notices_and_measures),
    ("0013_training_changes", _0013_training_changes),
    ("0014_tracker_appends", _0014_tracker_appends),
    ("0015_inbox", _0015_inbox),
    ("0016_models", _0016_models),
    ("0017_incidents", _0017_incidents),
    ("0018_message_log_alerts", _0018_message_log_alerts),
    ("0019_campaigns", _0019_campaigns),
    ("0020_feedback_report", _0020_feedback_report),
    ("0021_privacy", _0021_privacy),
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
