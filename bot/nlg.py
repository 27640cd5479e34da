"""Responses in the customer's language without an extra round trip.

`BilingualNLG` is Rasa's templated response generator with one change: before
it picks a response variation, it sets the `language` slot it conditions on to
the conversation's language, read from the parse data of the latest customer
message that had one (`BilingualTokenizer` records it). An action can also pass
`language=` explicitly. So a greeting is answered in Turkish or English on the
same turn, with no slot-setting action call per message, and a message without
words (emoji, a button press) keeps the language the conversation had.

Configured in endpoints.yml as `nlg: {type: bot.nlg.BilingualNLG}`.
"""

from __future__ import annotations

from typing import Any, Dict

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.language import latest_language


def tracker_language(tracker: DialogueStateTracker) -> str | None:
    """The language of the conversation's latest customer message that had one."""
    return latest_language(
        event.parse_data for event in reversed(tracker.events) if isinstance(event, UserUttered)
    )


class BilingualNLG(TemplatedNaturalLanguageGenerator):
    """Templated responses whose `language` condition follows the conversation."""

    def __init__(
        self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None
    ) -> None:
        """Uses the domain's responses (the endpoint config carries nothing else)."""
        super().__init__((domain or Domain.empty()).responses)

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> Dict[str, Any] | None:
        """Generates `utter_action` in the conversation's language."""
        slots = tracker.current_slot_values()
        slots["language"] = (
            kwargs.get("language") or tracker_language(tracker) or slots.get("language")
        )
        return self.generate_from_slots(utter_action, slots, output_channel, **kwargs)
