"""The customer's 1-5 rating of a handoff, answered with the buttons the bot offered."""

from __future__ import annotations

import logging
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import store
from bot.privacy import mask
from bot.store import NotFound

logger = logging.getLogger(__name__)


def rating_of(tracker: Tracker) -> int | None:
    """The 1-5 rating in the latest message's `rating` entity, else None."""
    for value in tracker.get_latest_entity_values("rating"):
        try:
            rating = int(str(value).strip())
        except ValueError:
            continue
        if 1 <= rating <= 5:
            return rating
    return None


def rated_handoff(tracker: Tracker) -> int | None:
    """The handoff the rating answers: the one `pending` names ("rating:<id>"), if any."""
    subject, _, handoff_id = (tracker.get_slot("pending") or "").partition(":")
    return int(handoff_id) if subject == "rating" and handoff_id.isdigit() else None


class ActionRateHandoff(Action):
    """Stores the rating with the handoff the bot asked about, and thanks the customer."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_rate_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Records the rating once (a second press is thanked, not counted)."""
        rating, handoff_id = rating_of(tracker), rated_handoff(tracker)
        if rating is None:
            dispatcher.utter_message(response="utter_rating_invalid")
            return []
        if handoff_id is None:
            # A rating button can only be pressed once (offered payloads are used up),
            # so this is a stale one: thank, store nothing.
            logger.info("a rating from %s answered no handoff", mask(tracker.sender_id))
        else:
            try:
                stored = store().get_handoff(handoff_id)["rating"] is None
            except NotFound:
                stored = False
            if stored:
                store().rate_handoff(handoff_id, rating)
            logger.info(
                "handoff %s rated %s by %s%s",
                handoff_id,
                rating,
                mask(tracker.sender_id),
                "" if stored else " (already rated: kept the first)",
            )
        dispatcher.utter_message(response="utter_rating_thanks")
        return [SlotSet("pending", None)]
