"""Keeps the `language` slot on the language of the customer's latest message."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import is_payload
from bot.language import detect


class ActionDetectLanguage(Action):
    """Slot mapping action: run by Rasa on every user message."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_detect_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Sets `language` when the message tells; emoji and buttons keep the old one."""
        text = tracker.latest_message.get("text") or ""
        previous = tracker.get_slot("language")
        found = previous if is_payload(text) else detect(text, previous)
        if found == previous:
            return []
        return [SlotSet("language", found)]
