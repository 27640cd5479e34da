"""Off-topic messages: "I can only help with our brand", unless an active incident's topic.

DIET reads some messages about an incident as `out_of_scope` ("what is going on
with the ayran glass reports?" was 0.95 out_of_scope with the demo model): they
are not off-topic while the incident is active. Such a message gets the live
statement (once per conversation and version, as every on-topic message does,
actions/common.py) instead of the off-topic reply; everything else, including a
message on the topic of an incident without an approved statement, gets
`utter_out_of_scope` as before.

The NLU's off-topic gate (bot/nlu/offtopic.py) turns some messages DIET took for
a support intent into `out_of_scope` (`off_topic` in the parse data). It is a
second opinion and can be wrong about a real question, so such a message is
first looked up like a question: a confident FAQ entry or fact answers it, and
only a message about another company, or with no confident answer, gets the
off-topic reply.
"""

from __future__ import annotations

from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer_text, incident_statement_first, language
from actions.facts import answer_known, other_brand
from bot.nlu.offtopic import OFF_TOPIC


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
        if len(dispatcher.messages) > before:
            return []
        if tracker.latest_message.get(OFF_TOPIC):
            text = customer_text(tracker)
            if other_brand(tracker, text)[1] is None:
                answered = answer_known(dispatcher, tracker, text, language(tracker))
                if answered is not None:
                    return answered
        dispatcher.utter_message(response="utter_out_of_scope")
        return []

