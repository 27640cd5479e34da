"""Handing a conversation to a person: queue it, tell the customer, pause the bot."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import channel, is_payload, language, last_messages, store, topics
from bot import incidents
from bot.privacy import mask

logger = logging.getLogger(__name__)


def detected_intents(tracker: Tracker, messages: int = 5) -> List[Dict[str, Any]]:
    """The intents the NLU read in the customer's recent messages, newest first, each once.

    Each is {"name", "confidence"} with the highest confidence it had; the desk's
    queue shows them next to the reason.
    """
    found: Dict[str, float] = {}
    seen = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        seen += 1
        if seen > messages:
            break
        intent = (event.get("parse_data") or {}).get("intent") or {}
        name, confidence = intent.get("name"), intent.get("confidence")
        if not name:
            continue
        confidence = round(float(confidence or 0.0), 3)
        if confidence > found.get(name, -1.0):
            found[name] = confidence
    return [{"name": name, "confidence": confidence} for name, confidence in found.items()]


def recent_customer_texts(tracker: Tracker, messages: int = 3) -> List[str]:
    """The customer's last typed messages, newest first (button presses left out)."""
    found: List[str] = []
    for event in reversed(tracker.events):
        if event.get("event") == "user" and not is_payload(event) and event.get("text"):
            found.append(event["text"])
            if len(found) == messages:
                break
    return found


def hand_over(
    tracker: Tracker,
    reason: str,
    priority: str = "normal",
    ticket_number: str | None = None,
    incident: Dict[str, Any] | None = None,
) -> List[Dict[str, Any]]:
    """Queues the conversation for an agent; returns the events that pause the bot.

    The bot stays silent for this conversation until an agent (or `crisisdesk
    handoffs close`) hands it back. A conversation on an active incident's topic
    (`incident`, or found from its latest messages) is tagged with it and its
    priority raised one step.
    """
    if incident is None:
        incident = incidents.handoff_incident(
            store(), topics(), tracker.sender_id, recent_customer_texts(tracker)
        )
    if incident is not None:
        priority = incidents.raised_priority(priority)
    handoff_id = store().open_handoff(
        sender_id=tracker.sender_id,
        channel=channel(tracker),
        reason=reason,
        priority=priority,
        language=language(tracker),
        last_messages=last_messages(tracker),
        ticket_number=ticket_number,
        intents=detected_intents(tracker),
        incident_id=int(incident["id"]) if incident else None,
    )
    logger.info(
        "handoff %s for %s (%s priority%s): %s",
        handoff_id,
        mask(tracker.sender_id),
        priority,
        f", incident {incident['id']}" if incident else "",
        reason,
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
    """Run when an agent hands back: the desk (or the CLI) triggers `EXTERNAL_handoff_closed`."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_handoff_closed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Tells the customer the bot is back, thanks them and asks for a 1-5 rating."""
        # The conversation is resumed first and the handoff marked closed after.
        handoff = store().latest_handoff(tracker.sender_id)
        dispatcher.utter_message(response="utter_handoff_closed")
        return [SlotSet("pending", f"rating:{handoff['id']}" if handoff else None)]
