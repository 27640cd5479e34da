"""What the bot may say about a claim or a question: only published content.

`Knowledge` keeps search indexes over the published facts and FAQ entries and
rebuilds them when the store's content changes (a fact published or retired
from the CLI reaches the running action server without a restart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

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

    def __init__(self, store: Store, threshold: float, margin: float) -> None:
        self.store = store
        self.threshold = threshold
        self.margin = margin
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
        self._fact_index = fact_index(facts)
        self._faq_index = faq_index(faqs)
        self._version = version

    def match_fact(self, text: str) -> Match:
        """The published fact `text` is about (id None when none fits confidently)."""
        self._refresh()
        return self._fact_index.search(text, self.threshold, self.margin)

    def fact_for(self, text: str) -> Answer:
        """The published fact for a claim, as an Answer."""
        match = self.match_fact(text)
        record = self._facts.get(match.id) if match.id else None
        return Answer("fact" if record else None, record, match)

    def answer_question(self, text: str) -> Answer:
        """An FAQ entry that answers `text`, else a fact, else nothing."""
        self._refresh()
        match = self._faq_index.search(text, self.threshold, self.margin)
        if match.id:
            return Answer("faq", self._faqs[match.id], match)
        return self.fact_for(text)
