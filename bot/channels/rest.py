"""The REST channel, ours: Rasa's `rest` JSON at the same URL, through the shared pipeline.

`POST /webhooks/rest/webhook` with `{"sender": "...", "message": "...", "metadata": {...}}`
answers with the bot's replies as a JSON list (`[{"recipient_id": ..., "text": ...,
"buttons": [...]}, ...]`), like Rasa's `RestInput`. The difference: the message goes
through `bot.channels.pipeline.Pipeline`, so a web chat's button payloads work (the
bot offered them to that sender, each used once) and a typed "/request_human" or
`/complaint{"order_number": "X"}` is read by the NLU as words; during a handoff the
answer is an empty list. The input channel recorded is always "rest" (Rasa let the
client name it). `?stream=true` gives the same replies as JSON lines, after handling.

REST customers get no proactive messages and no message ids, so there are no
opt-out words, no inbound records and nothing to resume.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Dict

from rasa.core.channels.channel import CollectingOutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.base import StoreInput, starting
from bot.channels.payloads import button_payloads
from bot.channels.pipeline import GuardedOutput, Incoming, Pipeline
from bot.store.aio import AsyncStore

logger = logging.getLogger(__name__)

CHANNEL = "rest"
DEFAULT_SENDER = "default"  # Rasa's id for a message without a sender
MAX_MESSAGE_CHARS = 10_000


class RecordingCollector(CollectingOutputChannel):
    """Rasa's collecting output that also records the payloads of the buttons it collects.

    What Rasa's HTTP API gets for a REST conversation (`output_channel=latest`):
    the messages go back in the API's answer, and their buttons stay usable.
    """

    def __init__(self, store: AsyncStore) -> None:
        super().__init__()
        self.store = store

    @classmethod
    def name(cls) -> str:
        """The channel name Rasa records on bot events."""
        return CHANNEL

    async def _persist_message(self, message: Dict[str, Any]) -> None:
        payloads = button_payloads(message.get("buttons") or [])
        if payloads:
            await self.store.offer_payloads(CHANNEL, message["recipient_id"], payloads)
        await super()._persist_message(message)


class RestInput(StoreInput):
    """`/webhooks/rest/webhook`: replies collected into the HTTP response.

    Args:
        config: the settings (the database).
    """

    channel = CHANNEL  # Rasa's name for it, so the URL stays /webhooks/rest/webhook
    # The handling runs inside the request: stopping only after the server has let
    # the open requests finish does not cut a dialogue off (nothing would resume it).
    stop_on = "after_server_stop"

    def get_output_channel(self) -> CollectingOutputChannel | None:
        """What Rasa's HTTP API sends to for a REST conversation (its buttons are recorded).

        A collecting output, so that the API's answer carries the messages.
        """
        return RecordingCollector(self.store) if self.store is not None else None

    def open(self) -> Pipeline:
        """Opens the store; replies are collected per request."""
        store = self.open_store()
        return Pipeline(
            CHANNEL,
            store,
            lambda _answers: CollectingOutputChannel(),
            record=False,
            opt_words=False,
            slash_payloads=True,
        )

    async def webhook(self, request: Request) -> HTTPResponse:
        """One customer message in, the bot's replies out."""
        if self.pipeline is None or self.store is None:
            return starting()
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return response.json({"error": 'send JSON: {"sender": ..., "message": ...}'}, 400)
        sender = body.get("sender", DEFAULT_SENDER)
        message = body.get("message")
        metadata = body.get("metadata") or {}
        if not isinstance(sender, str) or not sender.strip():
            return response.json({"error": "sender must be a non-empty string"}, 400)
        if not isinstance(message, str):
            return response.json({"error": "message must be a string"}, 400)
        if len(message) > MAX_MESSAGE_CHARS:
            return response.json({"error": f"message longer than {MAX_MESSAGE_CHARS}"}, 413)
        if not isinstance(metadata, dict):
            return response.json({"error": "metadata must be an object"}, 400)
        collector = CollectingOutputChannel()
        output = GuardedOutput(collector, self.store, CHANNEL)
        incoming = Incoming(sender, message, metadata={CHANNEL: metadata} if metadata else {})
        # Shielded: a client that hangs up does not cut the dialogue off halfway.
        await asyncio.shield(self.pipeline.submit(incoming, output))
        if request.args.get("stream", "").lower() in ("true", "1"):
            lines = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in collector.messages)
            return response.text(lines, content_type="text/event-stream")
        return response.json(collector.messages)
