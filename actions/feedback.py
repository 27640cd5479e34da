"""Yes and no: what they answer depends on what the bot asked last (`pending`)."""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import is_payload, language, store
from actions.handoff import hand_over
from bot.training.scrub import scrub


def answered_message(tracker: Tracker) -> str:
    """What the customer typed that the answer being rated was for, scrubbed ("" if none).

    The latest user event is the yes or no itself; the one before it that was typed
    (not a pressed button) is the message the bot answered.
    """
    users = [e for e in tracker.events if e.get("event") == "user"]
    for event in reversed(users[:-1]):
        if not is_payload(event) and (event.get("text") or "").strip():
            return scrub(event["text"])[0][:1000]
    return ""


class ActionYesNo(Action):
    """Feedback on a fact or a handoff, accepting or declining an offered person.

    With nothing pending, a yes or no answers nothing, and the bot says so.
    """

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_yes_no"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Acts on the pending question; clears it."""
        yes = tracker.latest_message.get("intent", {}).get("name") == "affirm"
        pending = tracker.get_slot("pending") or ""
        subject, _, subject_id = pending.partition(":")
        if subject in ("fact", "handoff"):
            store().record_answer_feedback(
                tracker.sender_id,
                subject,
                subject_id or None,
                yes,
                message=answered_message(tracker) if subject == "fact" else "",
                language=language(tracker),
            )
            if yes:
                dispatcher.utter_message(response="utter_feedback_thanks")
                return [SlotSet("pending", None)]
            dispatcher.utter_message(response="utter_feedback_sorry")
            return [SlotSet("pending", "offer_human")]
        if subject == "offer_human":
            if yes:
                dispatcher.utter_message(response="utter_handoff")
                return hand_over(tracker, reason="accepted the offer of a person")
            dispatcher.utter_message(response="utter_ok")  # declined the person: fine
            return [SlotSet("pending", None)]
        # Nothing was asked (or an unknown value): "Okay" would pretend the yes or
        # no meant something. Say so and ask what the customer needs.
        dispatcher.utter_message(response="utter_yes_no_nothing_pending")
        return [SlotSet("pending", None)]
