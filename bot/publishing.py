"""Publishing and retiring a fact: the one mechanism the CLI and the desk share.

Publishing records who verified the fact and when, then links every open
rumour group that a published fact now answers (through any of the group's
wordings, as the bot itself would match it) and queues the corrections
(`bot.corrections.queue_corrections`): the answer for every asker of those
groups, and, when the fact's verdict or answer changed since a customer was
told it, the new answer for them, with a note that it corrects the earlier one.
Each answer version reaches each customer once: publishing the same fact again
re-verifies it but tells nobody twice (one delivery per version and recipient,
unique in the store).

An edit in the desk saves a published fact as a draft; publishing it again is
where a changed verdict or answer becomes a new version. `crisisdesk facts
import` publishes rows without this function and then calls `queue_corrections`
the same way.

Publishing runs under one lock per process; the store's unique keys keep two
processes (the CLI and the desk) from queueing the same delivery.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Dict, List

from bot.answers import Knowledge
from bot.config import settings
from bot.corrections import Corrections, queue_corrections
from bot.store import Store

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Published:
    """What publishing a fact did."""

    fact: Dict[str, Any]
    answered: List[Dict[str, Any]]  # the rumour groups now answered
    askers: int  # customers in those groups
    followups: Corrections  # what was queued (askers and corrections)


def answer_open_rumours(store: Store) -> List[Dict[str, Any]]:
    """Links open rumour groups to the published facts that now answer them."""
    cfg = settings()
    knowledge = Knowledge(store, cfg.match_threshold, cfg.match_margin)
    answered = []
    for rumour in store.list_rumours("open"):
        # Any wording of the group may be the one the new fact matches.
        for wording in store.rumour_wordings(rumour["id"]) or [rumour]:
            match = knowledge.match_fact(wording["text"])
            if match.id:
                store.answer_rumour(rumour["id"], match.id)
                answered.append(rumour)
                break
    return answered


def publish_fact(store: Store, fact_id: str, by: str) -> Published:
    """Publishes a fact as verified by `by`, answers open rumours, queues corrections.

    Raises NotFound for an unknown fact.
    """
    with _LOCK:
        fact = store.set_fact_status(fact_id, "published", by=by)
        store.fact_version(fact_id, by)  # a changed verdict or answer is a new version
        answered = answer_open_rumours(store)
        askers = sum(len(store.rumour_askers(r["id"])) for r in answered)
        return Published(fact, answered, askers, queue_corrections(store, by=by))


def retire_fact(store: Store, fact_id: str, by: str) -> Dict[str, Any]:
    """Retires a fact: it no longer reaches customers. Raises NotFound if unknown.

    Its corrections not sent yet (waiting for the window, or still pending in the
    outbox) are withdrawn.
    """
    fact = store.set_fact_status(fact_id, "retired", by=by)
    store.withdraw_fact_deliveries(fact_id, f"fact retired by {by}")
    return fact
