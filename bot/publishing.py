"""Publishing and retiring a fact: the one mechanism the CLI and the desk share.

Publishing records who verified the fact and when, then links every open
rumour group that a published fact now answers (through any of the group's
wordings, as the bot itself would match it) and queues the follow-up message
for each asker not told yet (`bot.followup.queue_followups`). Publishing the
same fact again re-verifies it but tells nobody twice: askers already sent a
follow-up are marked in the store.

Publishing runs under one lock per process, so two editors publishing at the
same moment in the desk cannot both queue the same asker's follow-up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Dict, List

from bot.answers import Knowledge
from bot.config import settings
from bot.followup import Followups, queue_followups
from bot.store import Store

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Published:
    """What publishing a fact did."""

    fact: Dict[str, Any]
    answered: List[Dict[str, Any]]  # the rumour groups now answered
    askers: int  # customers in those groups
    followups: Followups


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
    """Publishes a fact as verified by `by`, answers open rumours, queues follow-ups.

    Raises NotFound for an unknown fact.
    """
    with _LOCK:
        fact = store.set_fact_status(fact_id, "published", by=by)
        answered = answer_open_rumours(store)
        askers = sum(len(store.rumour_askers(r["id"])) for r in answered)
        return Published(fact, answered, askers, queue_followups(store))


def retire_fact(store: Store, fact_id: str, by: str) -> Dict[str, Any]:
    """Retires a fact: it no longer reaches customers. Raises NotFound if unknown."""
    return store.set_fact_status(fact_id, "retired", by=by)
