"""Rumours and questions: answered only from published facts and FAQ entries.

Only about our own brand: a message that names another company and not ours
(bot/brands.py) is declined politely and is not recorded as our rumour. A fact
answer names the claim it judges, in the customer's language. A claim with no
confident fact but close ones (the matcher's suggestions) gets "we are
checking" and goes, with them, into the open-rumour queue (bot/rumours.py).
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    channel,
    customer_text,
    incident_statement_first,
    knowledge,
    language,
    store,
)
from bot import brands, rumours
from bot.answers import fact_message
from bot.privacy import mask
from bot.training.scrub import scrub

logger = logging.getLogger(__name__)


def _in_language(record: Dict[str, Any], field: str, lang: str | None) -> str:
    """A record's `field_tr`/`field_en` in the customer's language (both if unknown)."""
    if lang in ("tr", "en"):
        return record[f"{field}_{lang}"]
    return f"{record[f'{field}_tr']}\n\n{record[f'{field}_en']}"


def utter_fact(
    dispatcher: CollectingDispatcher,
    fact: Dict[str, Any],
    lang: str | None,
    tracker: Tracker | None = None,
) -> None:
    """Sends a fact: its verdict on the named claim, the answer, the source.

    With `tracker`, records who was told which version of the fact's answer
    (`Store.record_fact_told`), so a later version reaches them as a correction.
    """
    dispatcher.utter_message(response=f"utter_fact_{fact['verdict']}", **fact_message(fact, lang))
    if tracker is None:
        return
    try:
        store().record_fact_told(fact["id"], channel(tracker), tracker.sender_id, lang)
    except Exception:  # the answer is sent all the same; only a later correction is lost
        logger.exception(
            "could not record that %s was told fact %s", mask(tracker.sender_id), fact["id"]
        )


BRAND_ENTITIES = ("brand", "ORG", "org")


def other_brand(tracker: Tracker, text: str) -> Tuple[brands.Brands, str | None]:
    """Our brands, and the other company the message names instead of ours (else None)."""
    found = [
        e.get("value") or ""
        for e in tracker.latest_message.get("entities", [])
        if e.get("entity") in BRAND_ENTITIES
    ]
    known = brands.load(store())
    return known, known.other_named(text, found)


def declined_for_other_brand(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> bool:
    """Says "we can only speak about us" when the message is about another company."""
    known, other = other_brand(tracker, text)
    if not other:
        return False
    logger.info("message from %s is about another brand", mask(tracker.sender_id))
    dispatcher.utter_message(response="utter_other_brand", our_brand=known.name, other_brand=other)
    return True


def answer_known(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str, lang: str | None
) -> List[Dict[str, Any]] | None:
    """Answers `text` from a confident FAQ entry or fact; None (nothing sent) when neither."""
    answer = knowledge().answer_question(text)
    if answer.kind == "faq" and answer.record:
        dispatcher.utter_message(
            response="utter_faq_answer", answer=_in_language(answer.record, "answer", lang)
        )
        if answer.record.get("source_url"):
            dispatcher.utter_message(
                response="utter_faq_source", source_url=answer.record["source_url"]
            )
        return [SlotSet("pending", None)]
    if answer.kind == "fact" and answer.record:
        utter_fact(dispatcher, answer.record, lang, tracker)
        return [SlotSet("pending", f"fact:{answer.record['id']}")]
    return None


class ActionAnswerRumour(Action):
    """Answers a rumour with the matching published fact, or records it as open."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_answer_rumour"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Fact with "was this helpful?", or "we are checking" and a follow-up record."""
        text = customer_text(tracker)
        lang = language(tracker)
        if declined_for_other_brand(dispatcher, tracker, text):
            return [SlotSet("pending", None)]
        incident_statement_first(dispatcher, tracker)  # our statement, only about us
        answer = knowledge().fact_for(text)
        if answer.record:
            logger.info(
                "rumour from %s answered with fact %s (score %.2f)",
                mask(tracker.sender_id),
                answer.record["id"],
                answer.match.score,
            )
            utter_fact(dispatcher, answer.record, lang, tracker)
            return [SlotSet("pending", f"fact:{answer.record['id']}")]
        if text.strip():
            suggested = knowledge().suggestions(answer.match)
            rumour_id = rumours.record(
                store(), text, lang, tracker.sender_id, channel(tracker), suggested
            )
            logger.info(
                "open rumour %s asked by %s (%d suggested fact(s))",
                rumour_id,
                mask(tracker.sender_id),
                len(suggested),
            )
        dispatcher.utter_message(response="utter_rumour_checking")
        return [SlotSet("pending", None)]


class ActionAnswerQuestion(Action):
    """Answers a question from the FAQ or the facts, or says honestly it cannot."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """FAQ answer (with its link), a fact, or "I don't know" with an offer of a person."""
        text = customer_text(tracker)
        lang = language(tracker)
        if declined_for_other_brand(dispatcher, tracker, text):
            return [SlotSet("pending", None)]
        incident_statement_first(dispatcher, tracker)  # our statement, only about us
        answered = answer_known(dispatcher, tracker, text, lang)
        if answered is not None:
            return answered
        if text.strip():  # for the post-crisis report's "top unanswered questions"
            store().record_unanswered_question(
                tracker.sender_id, channel(tracker), lang, scrub(text)[0][:1000]
            )
        dispatcher.utter_message(response="utter_question_unknown")
        return [SlotSet("pending", "offer_human")]
