"""Low confidence: ask to rephrase once, hand over to a person the second time.

The action runs in two ways: for `nlu_fallback` (a rule: the NLU was not sure)
and as the dialogue's core fallback (config.yml: no policy was sure what to do
next). As the core fallback it reverts the customer's message after asking
(`UserUtteranceReverted`, like Rasa's own default fallback), so the dialogue
listens instead of predicting again; and it never speaks twice for one message.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.common import incident_statement_first, language
from actions.handoff import hand_over
from bot.language import response_variant, words

FALLBACK = "nlu_fallback"
# Not customer text (bot/nlu/ood.py, `out_of_domain.kind` in the parse data).
OUT_OF_DOMAIN_REPLIES = {
    "url": "utter_out_of_domain_url",
    "number": "utter_out_of_domain_number",
    "markup": "utter_out_of_domain_markup",
    "code": "utter_out_of_domain_markup",
    "mash": "utter_out_of_domain_mash",
}


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


def ran_since_latest_message(tracker: Tracker, action_name: str) -> bool:
    """Whether `action_name` already ran after the customer's latest message."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") == action_name:
            return True
    return False


def rephrase_buttons(
    domain: Dict[str, Any], ranking: List[Dict[str, Any]], lang: str | None, limit: int = 2
) -> List[Dict[str, str]]:
    """Buttons for the likeliest intents that have a button text (`utter_button_<intent>`).

    An intent without one (Rasa's own, or a name nobody wrote a title for) gets no
    button: a button must say what it does.
    """
    buttons = []
    for entry in ranking:
        intent = entry.get("name")
        if not intent or intent == FALLBACK:
            continue
        title = response_text(domain, f"utter_button_{intent}", lang).strip()
        if title:
            buttons.append({"title": title, "payload": f"/{intent}"})
        if len(buttons) == limit:
            break
    return buttons


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
        core_fallback = tracker.latest_message.get("intent", {}).get("name") != FALLBACK
        revert = [UserUtteranceReverted()] if core_fallback else []
        if ran_since_latest_message(tracker, self.name()):
            return revert  # never a second answer to one message
        text = tracker.latest_message.get("text")
        if not has_words(text):
            dispatcher.utter_message(response="utter_empty_message")
            return revert
        kind = (tracker.latest_message.get("out_of_domain") or {}).get("kind")
        if kind in OUT_OF_DOMAIN_REPLIES:
            dispatcher.utter_message(response=OUT_OF_DOMAIN_REPLIES[kind])
            return revert
        incident_statement_first(dispatcher, tracker)  # on an active incident's topic
        previous = previous_user_event(tracker)
        if (
            not core_fallback
            and previous
            and (previous.get("parse_data") or {}).get("intent", {}).get("name") == FALLBACK
            and has_words(previous.get("text"))
            and not (previous.get("parse_data") or {}).get("out_of_domain")
        ):
            dispatcher.utter_message(response="utter_handoff")
            return hand_over(tracker, reason="the bot did not understand twice")
        ranking = tracker.latest_message.get("intent_ranking") or []
        buttons = rephrase_buttons(domain, ranking, language(tracker))
        dispatcher.utter_message(response="utter_ask_rephrase", buttons=buttons)
        return revert
