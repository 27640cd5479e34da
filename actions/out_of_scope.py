"""Off-topic messages: "I can only help with our brand", unless an active incident's topic.

DIET reads some messages about an incident as `out_of_scope` ("what is going on
with the ayran glass reports?" was 0.95 out_of_scope with the demo model): they
are not off-topic while the incident is active. Such a message gets the live
statement (once per conversation and version, as every on-topic message does,
actions/common.py) instead of the off-topic reply; everything else, including a
message on the topic of an incident without an approved statement, gets
`utter_out_of_scope` as before.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import incident_statement_first


class ActionOutOfScope(Action):
    """Off-topic chat, or an incident's topic that the NLU took for it."""

    def name(self) -> str:
        """Action name used in the domain."""
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        """The incident's live statement when it is new to this conversation, else the usual."""
        before = len(dispatcher.messages)
        incident_statement_first(dispatcher, tracker)
        if len(dispatcher.messages) == before:
            dispatcher.utter_message(response="utter_out_of_scope")
        return []
