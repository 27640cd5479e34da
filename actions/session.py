"""A new session does not end a handoff: `action_session_start` keeps a paused conversation paused.

Rasa starts a new session when a customer writes after `session_expiration_time`
(domain.yml: 60 minutes). Its `SessionStarted` event resets the tracker, and
with it the pause a handoff set (rasa/shared/core/trackers.py `_reset`), so a
customer who wrote again an hour into a handoff would have got the bot back,
speaking in a conversation a person owns. This replaces Rasa's default action:
the same events (session start, slots carried over, listen) plus the pause again
when the previous session ended paused. Only `crisisdesk handoffs close` resumes.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

# Set by Rasa on every session start; carrying it over would be wrong.
SESSION_METADATA_SLOT = "session_started_metadata"


def ended_paused(events: Iterable[Dict[str, Any]]) -> bool:
    """Whether a conversation's events leave it paused (a handoff not closed)."""
    paused = False
    for event in events:
        kind = event.get("event")
        if kind == "pause":
            paused = True
        elif kind in ("resume", "restart"):
            paused = False
    return paused


class ActionSessionStart(Action):
    """Starts a session; a handoff that was open stays open."""

    def name(self) -> str:
        """Rasa's name for the session start action."""
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """Session start, the slots carried over, the pause kept, then listen."""
        events: List[Dict[str, Any]] = [SessionStarted()]
        events += [
            SlotSet(name, value)
            for name, value in tracker.slots.items()
            if value is not None and name != SESSION_METADATA_SLOT
        ]
        if ended_paused(tracker.events):
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events
