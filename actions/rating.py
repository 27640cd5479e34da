"""The customer's 1-5 rating of a handoff, and the one free-text comment asked for after it.

A first rating of a handoff starts `rating_comment_form`, whose question
(`utter_ask_rating_comment_form_rating_comment`) thanks for the rating and asks
once for a comment; whatever the customer writes next is the comment, kept
scrubbed with the handoff (`action_save_rating_comment`). "No" or the Skip
button skips it. A rumour, a question or a request for a person written instead
is not taken for a comment: it is answered as usual; a short greeting, thanks
or goodbye (three words at most) gets its usual reply.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import store
from actions.facts import ActionAnswerQuestion, ActionAnswerRumour
from actions.handoff import ActionHandoff
from bot.language import normalize
from bot.privacy import mask
from bot.store import NotFound
from bot.training.scrub import scrub

COMMENT_FORM = "rating_comment_form"
COMMENT_QUESTION = "utter_ask_rating_comment_form_rating_comment"  # the form asks it itself
# Said instead of a comment: skips it (besides a "no", which is the Skip button's payload).
SKIP_WORDS = {"gec", "skip", "yok", "hayir", "no", "no thanks", "istemiyorum", "-"}
# Messages that are not a comment but something to answer: their usual action runs
# (inside this one: after the form, the rules expect this action and then a listen).
NOT_A_COMMENT: Dict[str, Callable[[], Action]] = {
    "rumour": ActionAnswerRumour,
    "question": ActionAnswerQuestion,
    "request_human": ActionHandoff,
}
# Short small talk is not a comment either ("merhaba" after the rating is a new
# hello): it gets the reply its rule gives anywhere else. A longer message read as
# thanks ("your agent was very helpful, thank you") is a comment.
SMALL_TALK = {"greet": "utter_greet", "goodbye": "utter_goodbye", "thank": "utter_thank"}
SMALL_TALK_WORDS = 3

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
            if stored and _has_form(domain) and store().ask_rating_comment(handoff_id):
                # The form's question thanks for the rating and asks for the comment.
                return [SlotSet("pending", f"comment:{handoff_id}"), FollowupAction(COMMENT_FORM)]
        dispatcher.utter_message(response="utter_rating_thanks")
        return [SlotSet("pending", None)]


def _has_form(domain: Dict[str, Any]) -> bool:
    """Whether the running model knows the comment form (a model trained before it does not)."""
    return COMMENT_FORM in (domain.get("forms") or {})


def commented_handoff(tracker: Tracker) -> int | None:
    """The handoff the comment is about: the one `pending` names ("comment:<id>"), if any."""
    subject, _, handoff_id = (tracker.get_slot("pending") or "").partition(":")
    return int(handoff_id) if subject == "comment" and handoff_id.isdigit() else None


def is_skip(tracker: Tracker, text: str) -> bool:
    """True when the customer declined to comment ("no", Skip, "geç", nothing)."""
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    words = normalize(text).strip(" .!")
    return intent == "deny" or not words or words.startswith("/") or words in SKIP_WORDS


class ActionSaveRatingComment(Action):
    """Keeps the comment written after a rating (scrubbed), or notes that it was skipped."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_save_rating_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Stores the comment once; a message that is no comment is answered as usual."""
        text = tracker.get_slot("rating_comment") or ""
        handoff_id = commented_handoff(tracker)
        events: List[Dict[str, Any]] = [SlotSet("rating_comment", None), SlotSet("pending", None)]
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        if intent in NOT_A_COMMENT:
            if handoff_id is not None:
                store().save_rating_comment(handoff_id, "")
            answered = await NOT_A_COMMENT[intent]().run(dispatcher, tracker, domain)
            return [*events, *answered]
        if intent in SMALL_TALK and len(normalize(text).split()) <= SMALL_TALK_WORDS:
            if handoff_id is not None:
                store().save_rating_comment(handoff_id, "")
            dispatcher.utter_message(response=SMALL_TALK[intent])
            return events
        skipped = is_skip(tracker, text)
        if handoff_id is not None:
            store().save_rating_comment(handoff_id, "" if skipped else scrub(text)[0][:2000])
            logger.info(
                "handoff %s: comment %s by %s",
                handoff_id,
                "skipped" if skipped else "kept",
                mask(tracker.sender_id),
            )
        dispatcher.utter_message(
            response="utter_rating_comment_skipped" if skipped else "utter_rating_comment_thanks"
        )
        return events
