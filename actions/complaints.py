"""Complaints: a numbered ticket and an empathetic reply; severe ones go to a person."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    channel,
    customer_text,
    entity_values,
    incident_statement_first,
    language,
    store,
)
from actions.handoff import hand_over
from bot.privacy import mask
from bot.severity import assess

logger = logging.getLogger(__name__)


class ActionLogComplaint(Action):
    """Records the complaint as a ticket and quotes its number."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_log_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Ticket for every complaint; health, safety, legal, press, violence or a
        repeat complaint also pauses the bot and queues the chat for an agent."""
        incident = incident_statement_first(dispatcher, tracker)
        text = customer_text(tracker)
        lang = language(tracker)
        severity = assess(text, previous_complaints=store().count_tickets(tracker.sender_id))
        ticket = store().create_ticket(
            sender_id=tracker.sender_id,
            channel=channel(tracker),
            text=text,
            language=lang,
            severity=severity.level,
            reasons=severity.reasons,
            entities=entity_values(tracker),
        )
        logger.info(
            "ticket %s for %s: severity %s %s",
            ticket.number,
            mask(tracker.sender_id),
            severity.level,
            severity.reasons,
        )
        if not severity.is_high:
            dispatcher.utter_message(response="utter_complaint_logged", ticket_number=ticket.number)
            return [SlotSet("pending", None)]
        dispatcher.utter_message(response="utter_complaint_escalated", ticket_number=ticket.number)
        return hand_over(
            tracker,
            reason="complaint: " + ", ".join(severity.reasons),
            priority="high",
            ticket_number=ticket.number,
            incident=incident,
        )
