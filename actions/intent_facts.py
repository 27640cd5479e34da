"""Fact intents: an intent a trainer added with `crisisdesk intents add NAME --fact ID`.

Its rule runs `action_answer_fact`; the domain's `intent_fact` slot has one
`from_intent` mapping per fact intent, so Rasa has set it to the intent's fact id
when this runs. The fact is sent like a matched rumour's (verdict, answer in the
customer's language, source, "was this helpful?"); a fact that is no longer
published gets the honest "we are checking".
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import incident_statement_first, language, store
from actions.facts import utter_fact
from bot.privacy import mask

logger = logging.getLogger(__name__)

FACT_SLOT = "intent_fact"


class ActionAnswerFact(Action):
    """Answers a fact intent with its published fact."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_answer_fact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """The fact with "was this helpful?", or "we are checking" when it is not published."""
        incident_statement_first(dispatcher, tracker)
        fact_id = tracker.get_slot(FACT_SLOT)
        fact = store().get_fact(fact_id, missing_ok=True) if fact_id else None
        if fact is None or fact.get("status") != "published":
            logger.info(
                "fact intent for %s: fact %s is not published", mask(tracker.sender_id), fact_id
            )
            dispatcher.utter_message(response="utter_rumour_checking")
            return [SlotSet(FACT_SLOT, None), SlotSet("pending", None)]
        utter_fact(dispatcher, fact, language(tracker), tracker)
        return [SlotSet(FACT_SLOT, None), SlotSet("pending", f"fact:{fact['id']}")]
