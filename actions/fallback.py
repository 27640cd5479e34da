"""Low NLU confidence: ask to rephrase once, hand over to a person the second time."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import language
from actions.handoff import hand_over
from bot.language import response_variant, words

FALLBACK = "nlu_fallback"


def has_words(text: str | None) -> bool:
    """True when a message has at least one letter or digit (not only emoji/space)."""
    return bool(words(text or ""))


def previous_user_event(tracker: Tracker) -> Dict[str, Any] | None:
    """The user message before the latest one, if any."""
    seen_latest = False
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if seen_latest:
            return event
        seen_latest = True
    return None


def response_text(domain: Dict[str, Any], name: str, lang: str | None) -> str:
    """The text of a domain response in `lang` (the unconditioned variant otherwise)."""
    return response_variant(domain.get("responses", {}).get(name, []), lang).get("text", "")


class ActionFallback(Action):
    """The bot is not sure what the customer means."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Empty/emoji-only: ask for words. First miss: rephrase with the two likeliest
        intents as buttons. Second miss in a row: hand over to a person."""
        text = tracker.latest_message.get("text")
        if not has_words(text):
            dispatcher.utter_message(response="utter_empty_message")
            return []
        previous = previous_user_event(tracker)
        if (
            previous
            and (previous.get("parse_data") or {}).get("intent", {}).get("name") == FALLBACK
            and has_words(previous.get("text"))
        ):
            dispatcher.utter_message(response="utter_handoff")
            return hand_over(tracker, reason="the bot did not understand twice")
        lang = language(tracker)
        ranking = tracker.latest_message.get("intent_ranking") or []
        likely = [r["name"] for r in ranking if r.get("name") not in (FALLBACK, None)][:2]
        buttons = [
            {
                "title": response_text(domain, f"utter_button_{intent}", lang),
                "payload": f"/{intent}",
            }
            for intent in likely
        ]
        dispatcher.utter_message(response="utter_ask_rephrase", buttons=buttons)
        return []
