"""What the bot may say about a claim or a question: only published content.

`Knowledge` keeps search indexes over the published facts and FAQ entries and
rebuilds them when the store's content changes (a fact published or retired
from the CLI reaches the running action server without a restart). The fact
index also reads the customer wordings a person confirmed for a fact's claim
(`crisisdesk rumours confirm`), so the next message worded like them matches
directly; confirming one bumps the content version like a fact change does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from bot.matching import Index, Match, fact_index, faq_index
from bot.store import Store


@dataclass(frozen=True)
class Answer:
    """A published record that answers a message ("fact" or "faq"), or nothing."""

    kind: str | None
    record: Dict[str, Any] | None
    match: Match


class Knowledge:
    """Published facts and FAQ entries, searchable, fresh on every call."""

    def __init__(
        self, store: Store, threshold: float, margin: float, suggest: float | None = None
    ) -> None:
        self.store = store
        self.threshold = threshold
        self.margin = margin
        self.suggest = suggest  # None: the settings' suggestion threshold
        self._version: int | None = None
        self._facts: Dict[str, Dict[str, Any]] = {}
        self._faqs: Dict[str, Dict[str, Any]] = {}
        self._fact_index = Index([])
        self._faq_index = Index([])

    def _refresh(self) -> None:
        version = self.store.content_version()
        if version == self._version:
            return
        facts = self.store.published_facts()
        faqs = self.store.published_faqs()
        self._facts = {fact["id"]: fact for fact in facts}
        self._faqs = {faq["id"]: faq for faq in faqs}
        variants = self.store.claim_variants(self._facts)
        self._fact_index = fact_index(facts, variants)
        self._faq_index = faq_index(faqs)
        self._version = version

    def match_fact(self, text: str) -> Match:
        """The published fact `text` is about (id None when none fits confidently)."""
        self._refresh()
        return self._fact_index.search(text, self.threshold, self.margin, self.suggest)

    def fact_for(self, text: str) -> Answer:
        """The published fact for a claim, as an Answer."""
        match = self.match_fact(text)
        record = self._facts.get(match.id) if match.id else None
        return Answer("fact" if record else None, record, match)

    def suggestions(self, match: Match) -> List[Tuple[str, float]]:
        """The published facts a person should check for an unanswered claim, best first."""
        found = getattr(match, "suggestions", ()) or ()
        return [(fact_id, float(score)) for fact_id, score in found if fact_id in self._facts]

    def answer_question(self, text: str) -> Answer:
        """An FAQ entry that answers `text`, else a fact, else nothing."""
        self._refresh()
        match = self._faq_index.search(text, self.threshold, self.margin, self.suggest)
        if match.id:
            return Answer("faq", self._faqs[match.id], match)
        return self.fact_for(text)


# First words of an English claim that are not names, so lower-cased after "the claim that".
_LOWER_FIRST = frozenset(
    "a an the this that these those some many all our its it there home people".split()
)


def claim_for(fact: Dict[str, Any], lang: str | None) -> str:
    """A fact's claim in `lang`, ready to follow "the claim that" / to be quoted.

    Trailing punctuation goes; an English claim starting with an article or the
    like is lower-cased ("A viral video shows..." -> "a viral video shows...").
    A fact imported before `claim_tr` existed falls back to its English claim.
    """
    if lang == "tr":
        text = (fact.get("claim_tr") or fact.get("claim_en") or "").strip()
    else:
        text = (fact.get("claim_en") or fact.get("claim") or fact.get("claim_tr") or "").strip()
    text = text.rstrip(" .!?;:")
    first = text.split(" ", 1)[0]
    if lang != "tr" and first.lower() in _LOWER_FIRST and first[:1].isupper():
        text = first.lower() + text[len(first) :]
    return text


def fact_message(fact: Dict[str, Any], lang: str | None) -> Dict[str, str]:
    """The values every `utter_fact_<verdict>` response is filled with."""

    def in_language(field: str) -> str:
        if lang in ("tr", "en"):
            return fact[f"{field}_{lang}"]
        return f"{fact[f'{field}_tr']}\n\n{fact[f'{field}_en']}"

    return {
        "claim": claim_for(fact, lang),
        "claim_tr": claim_for(fact, "tr"),
        "claim_en": claim_for(fact, "en"),
        "answer": in_language("answer"),
        "source_url": fact["source_url"],
    }
