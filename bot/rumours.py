"""Open rumours: grouped by meaning, with suggested facts, confirmed or rejected by a person.

A claim the bot could not answer is recorded with its asker. Wordings with the
same meaning form one group (one row of `rumours`, its askers once each). The
same normalised text is the same wording; otherwise a new wording joins the
open group holding the closest wording (cosine of their multilingual sentence
vectors, `bot.encoder`) when the numbers they mention are the same ("500
workers" is not "50 workers") and one of these holds:
- the vectors are nearly identical (`SAME_MEANING`: a translation, a reordering);
- the cosine is at least `rumour_cluster_threshold`
  (CRISISDESK_RUMOUR_CLUSTER_THRESHOLD) and one wording's pieces of evidence
  (`bot.matching.features`: word stems and crisis concepts, our brand's names
  left out) all occur in the other: words were added ("dogru mu", "kuzey sut"),
  none replaced ("your CEO resigned" is not "your CEO was arrested", though the
  encoder puts them at 0.71). With exactly the same pieces, half the threshold
  is enough: the encoder reads folded Turkish poorly ("genel muduru
  tutuklamislar" and "genel müdürünüz tutuklanmış mı" are at 0.30).
Merging two different claims would send one claim's answer to the askers of
the other, so the rule is deliberately strict: when unsure, two groups.
Each wording's vector is computed once and stored with it.

When the matcher finds facts close to a claim but is not sure enough to answer,
they are stored as the group's suggestions. `confirm` links the group to a
fact, keeps every wording of the group as a variant of that fact's claim (the
next message worded like them matches directly), links every other open group
that those wordings now answer (`bot.publishing.answer_open_rumours`, as a
publish would) and queues the answer for the askers of all of them
(`bot.corrections.queue_corrections`); `reject` removes a suggestion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np

from bot.config import settings
from bot.corrections import Corrections, queue_corrections
from bot.matching import features
from bot.publishing import answer_open_rumours
from bot.store import NotFound, Store

SAME_MEANING = 0.92  # vectors this close need no shared word (e.g. a translation)
_DIGITS = re.compile(r"^\d+$")


def _vector(text: str) -> np.ndarray:
    from bot import encoder  # loads the model on first use only

    return encoder.encode([text])[0]


def _pieces(text: str) -> frozenset:
    """The pieces of evidence of a text, without our brand's own names."""
    found = set(features(text).groups.values())
    return frozenset(found - _brand_pieces())


def _brand_pieces() -> frozenset:
    cfg = settings()
    names = " ".join((cfg.brand_name, *cfg.brand_aliases))
    return frozenset(features(names).groups.values())


def same_claim(a: str, b: str, cosine: float, threshold: float) -> bool:
    """Whether two wordings are one claim: vectors close and words compatible."""
    first, second = _pieces(a), _pieces(b)
    numbers = [frozenset(p for p in side if _DIGITS.match(p)) for side in (first, second)]
    if numbers[0] != numbers[1]:
        return False
    if cosine >= SAME_MEANING:
        return True
    if not (first and second) or not (first <= second or second <= first):
        return False
    return cosine >= (threshold / 2 if first == second else threshold)


def closest_group(
    store: Store, text: str, vector: np.ndarray, threshold: float
) -> Tuple[int | None, float]:
    """The open group whose wording is most similar to `text`, if close enough."""
    best: Tuple[int | None, float] = (None, -1.0)
    for wording in store.open_wordings():
        stored = wording["vector"]
        if stored is None:
            other = _vector(wording["text"])
            store.set_wording_vector(wording["id"], other.astype(np.float32).tobytes())
        else:
            other = np.frombuffer(stored, dtype=np.float32)
        cosine = float(vector @ other)
        if cosine >= best[1] and same_claim(text, wording["text"], cosine, threshold):
            best = (wording["rumour_id"], cosine)
    return best if best[0] is not None else (None, 0.0)


def record(
    store: Store,
    text: str,
    language: str | None,
    sender_id: str,
    channel: str | None,
    suggestions: Sequence[Tuple[str, float]] = (),
    threshold: float | None = None,
) -> int:
    """Records an unanswered claim in its group (new or existing); returns the group id."""
    threshold = settings().rumour_cluster_threshold if threshold is None else threshold
    vector = _vector(text)
    group, _ = closest_group(store, text, vector, threshold)
    rumour_id = store.record_rumour(
        text, language, sender_id, channel, group, vector.astype(np.float32).tobytes()
    )
    if suggestions:
        store.suggest_facts(rumour_id, suggestions)
    return rumour_id


@dataclass(frozen=True)
class Confirmed:
    """What confirming a suggestion did."""

    rumour_id: int
    fact_id: str
    variants: int
    followups: Corrections


def confirm(store: Store, rumour_id: int, fact_id: str, by: str = "cli") -> Confirmed:
    """Links a rumour group to a published fact, keeps its wordings, queues follow-ups.

    Raises NotFound for an unknown group or fact, ValueError when the fact is not
    published or the group was already answered by another fact.
    """
    rumour = store.get_rumour(rumour_id)
    fact = store.get_fact(fact_id)
    if fact["status"] != "published":
        raise ValueError(f"fact {fact_id} is {fact['status']}: publish it first")
    if rumour["status"] == "answered" and rumour["fact_id"] not in (None, fact_id):
        raise ValueError(f"rumour {rumour_id} is already answered by fact {rumour['fact_id']}")
    variants = sum(
        store.add_claim_variant(fact_id, w["text"], w["language"], rumour_id, by)
        for w in store.rumour_wordings(rumour_id)
    )
    store.answer_rumour(rumour_id, fact_id, by=by)
    # The kept wordings may now answer other open groups directly: link them now,
    # so their askers hear the answer with this group's, not at the next publish.
    answer_open_rumours(store)
    return Confirmed(rumour_id, fact_id, variants, queue_corrections(store, by=by))


def reject(store: Store, rumour_id: int, fact_id: str, by: str = "cli") -> None:
    """Removes a suggested fact from a rumour group (it is not suggested again)."""
    store.reject_suggestion(rumour_id, fact_id, by=by)


__all__ = ["Confirmed", "NotFound", "closest_group", "confirm", "record", "reject", "same_claim"]
