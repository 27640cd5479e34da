"""Responses in the customer's language without an extra round trip.

`BilingualNLG` is Rasa's templated response generator with one change: before
it picks a response variation, it sets the `language` slot it conditions on to
the conversation's language, read from the parse data of the latest customer
message that had one (`BilingualTokenizer` records it). An action can also pass
`language=` explicitly. So a greeting is answered in Turkish or English on the
same turn, with no slot-setting action call per message, and a message without
words (emoji, a button press) keeps the language the conversation had.

While an incident is active and a version of its statement is live, the
greeting (`utter_greet`) gets one more line, `utter_incident_greeting`, naming
the statement's first sentence (bot/incidents.py). It is added here because the
greeting is a rule's response with no action of ours: the NLG is the one place
every greeting passes. The store is read in a worker thread (`AsyncStore`), never
in the event loop; if it cannot be read, the greeting goes without the line.

Configured in endpoints.yml as `nlg: {type: bot.nlg.BilingualNLG}`.
"""

from __future__ import annotations

import logging
from typing import Any, Dict

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import incidents
from bot.language import latest_language
from bot.store.aio import AsyncStore

logger = logging.getLogger(__name__)

GREETING = "utter_greet"
GREETING_LINE = "utter_incident_greeting"


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
        # Where active incidents are read (tests set another store): opened on first use.
        self.incident_store: AsyncStore | None = None

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
        message = self.generate_from_slots(utter_action, slots, output_channel, **kwargs)
        if utter_action == GREETING and message and message.get("text"):
            line = await self._incident_line(slots, output_channel)
            if line:
                message["text"] = f"{message['text']}\n{line}"
        return message

    async def _incident_line(self, slots: Dict[str, Any], output_channel: str) -> str | None:
        """The greeting's line about an active incident's live statement, or None."""
        try:
            if self.incident_store is None:
                from bot.config import settings

                path = settings().db_path
                if not path.exists():  # no database yet: no incidents (never create it here)
                    return None
                self.incident_store = AsyncStore(path, threads=1)
            statement = await self.incident_store.greeting_statement()
        except Exception:  # a greeting must never fail for want of the line
            logger.exception("could not read active incidents for the greeting")
            return None
        if statement is None:
            return None
        line = self.generate_from_slots(
            GREETING_LINE,
            slots,
            output_channel,
            headline=incidents.greeting_headline(statement, slots.get("language")),
        )
        return (line or {}).get("text") or None
