"""The operational store: the only code that reads or writes crisisdesk's SQLite database.

Facts, FAQ entries, open rumours and their askers, tickets, handoffs and feedback;
for the channels, the outbox of messages to customers, the ids of incoming
messages, opt-outs and the numbered options offered in a conversation.
Open it with `Store.open(path)`, which applies pending migrations explicitly.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import List, Union

import sqlite_utils

from bot.store import migrations
from bot.store.alerts import AlertStore
from bot.store.base import NotFound, now
from bot.store.campaigns import DELIVERY_STATUSES, CampaignStore
from bot.store.cases import PRIORITY_ORDER, CaseStore, Ticket
from bot.store.channels import DELIVERY_RANK, INBOUND_STATUSES, OUTGOING_STATUSES, ChannelStore
from bot.store.content import (
    BRAND_STATUSES,
    FACT_FIELDS,
    FACT_STATUSES,
    FAQ_FIELDS,
    VERDICTS,
    ContentStore,
)
from bot.store.desk import DeskStore
from bot.store.feedback import FeedbackStore
from bot.store.inbox import InboxStore
from bot.store.incidents import IncidentStore
from bot.store.models import ModelStore
from bot.store.people import ROLES, PeopleStore
from bot.store.privacy import PrivacyStore
from bot.store.reports import ReportStore
from bot.store.training import TrainingStore

__all__ = [
    "BRAND_STATUSES",
    "DELIVERY_STATUSES",
    "DELIVERY_RANK",
    "FACT_FIELDS",
    "FACT_STATUSES",
    "FAQ_FIELDS",
    "INBOUND_STATUSES",
    "OUTGOING_STATUSES",
    "PRIORITY_ORDER",
    "ROLES",
    "VERDICTS",
    "NotFound",
    "Store",
    "Ticket",
    "now",
]


class Store(
    ContentStore,
    CaseStore,
    ChannelStore,
    PeopleStore,
    DeskStore,
    TrainingStore,
    ModelStore,
    InboxStore,
    AlertStore,
    IncidentStore,
    PrivacyStore,
    CampaignStore,
    FeedbackStore,
    ReportStore,
):
    """crisisdesk's operational database (sqlite-utils over one SQLite file).

    One class, one area per module: `content` (facts, FAQ, rumours), `cases`
    (tickets, handoffs, feedback), `channels` (outbox, inbound ids, opt-outs,
    offered choices), `people` (desk users, sessions, login attempts, audit log),
    `desk` (notes, agents' replies, "bot misunderstood" marks), `training`
    (trainers' accepted changes to the training data), `models` (promoted models
    and their evaluation reports), `inbox` (the trainers' review inbox: messages
    to review, the examples made of them), `alerts` (early warning: the message
    log read from Rasa's event broker, spike and emerging-topic alerts),
    `incidents` (incidents, their versioned statements approved by a second
    person, the conversations on their topics), `privacy` (which tables hold
    customers' data, forgetting a customer, retention of message texts),
    `campaigns` (corrections and statement broadcasts: fact answer versions,
    who was told what, one delivery per recipient following its outbox row).
    All SQL of the project lives in these modules.
    """

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: Union[str, Path], migrate: bool = True) -> Store:
        """Opens (creating when needed) the database at `path` and migrates it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma foreign_keys=on")
        conn.execute("pragma busy_timeout=10000")
        store = cls(sqlite_utils.Database(conn))
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> List[str]:
        """Applies pending schema migrations; returns the names applied."""
        return migrations.apply(self.db)

    def close(self) -> None:
        """Closes the connection."""
        self.db.conn.close()
