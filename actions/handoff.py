"""Handing a conversation to a person: queue it, tell the customer, pause the bot."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import channel, language, last_messages, store
from bot.privacy import mask

logger = logging.getLogger(__name__)


def hand_over(
    tracker: Tracker,
    reason: str,
    priority: str = "normal",
    ticket_number: str | None = None,
) -> List[Dict[str, Any]]:
    """Queues the conversation for an agent; returns the events that pause the bot.

    The bot stays silent for this conversation until `crisisdesk handoffs close`
    resumes it.
    """
    handoff_id = store().open_handoff(
        sender_id=tracker.sender_id,
        channel=channel(tracker),
        reason=reason,
        priority=priority,
        language=language(tracker),
        last_messages=last_messages(tracker),
        ticket_number=ticket_number,
    )
    logger.info(
        "handoff %s for %s (%s priority): %s", handoff_id, mask(tracker.sender_id), priority, reason
    )
    return [SlotSet("pending", None), ConversationPaused()]


class ActionHandoff(Action):
    """The customer asked for a person."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Tells the customer a person will answer, then pauses the bot."""
        dispatcher.utter_message(response="utter_handoff")
        return hand_over(tracker, reason="customer asked for a person")


class ActionHandoffClosed(Action):
    """Run by `crisisdesk handoffs close` after the conversation is resumed."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_handoff_closed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Tells the customer the bot is back and asks whether the help was useful."""
        # The CLI resumes the conversation first and marks the handoff closed after.
        handoff = store().latest_handoff(tracker.sender_id)
        dispatcher.utter_message(response="utter_handoff_closed")
        return [SlotSet("pending", f"handoff:{handoff['id']}" if handoff else None)]
