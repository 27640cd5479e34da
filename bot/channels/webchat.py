"""The web chat: a Rasa input channel that takes messages only from the desk.

The customer's page (`GET /chat` on the desk, bot/desk/chat.py) never talks to
Rasa. The desk forwards each message to `POST /webhooks/webchat/webhook`, signed
with an HMAC of the body (bot/channels/webchat_auth.py: WEBCHAT_SECRET, or a key
derived from RASA_TOKEN); anything else gets 403 and nothing is stored. The body:

    {"visitor": "<32 hex>", "message_id": "<32 hex>", "text": "...",
     "kind": "text" | "button"}

The conversation id is `webchat:<visitor>`. The request is answered at once (202,
`{"accepted": true}`, or false for a message id seen before); handling is the
shared `bot.channels.pipeline.Pipeline`: the desk's message id is remembered
first (a retry is dropped; a crash is resumed at the next start), one message at
a time per customer in order, silence during a handoff, typed text never a
command (no "/" payloads from typing: a payload counts only when the page says a
button was pressed, and only if the bot offered it and it was not used yet).

No opt-out words: the web chat sends nothing to a customer who is not on the
page. Replies (and later messages such as a rumour's follow-up or an agent's
reply) wait in the outbox until the visitor's page is open, and a customer who
wants no more simply does not come back; "stop" typed here is words for the NLU.

Replies go to the outbox with channel "webchat" (`WebchatOutput`); nothing in the
Rasa process delivers them. The desk is the web chat's sender: the visitor's open
page (an SSE stream) claims the pending rows in order and marks them sent.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Dict, List

from rasa.core.channels.channel import OutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.base import StoreInput, starting
from bot.channels.pipeline import Incoming, Pipeline
from bot.channels.webchat_auth import SIGNATURE_HEADER, VISITOR_ID, WebchatKeys
from bot.config import Settings
from bot.privacy import mask
from bot.store.aio import AsyncStore

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
MAX_MESSAGE_CHARS = 4000
MAX_BODY_BYTES = 64 * 1024
KINDS = ("text", "button")
MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")


def conversation_id(visitor: str) -> str:
    """The Rasa sender id of a web chat visitor."""
    return f"{CHANNEL}:{visitor}"


def outbox_message(message: Dict[str, Any]) -> Dict[str, Any] | None:
    """What the page needs of one bot message (text, buttons, image), None when nothing shows."""
    shown: Dict[str, Any] = {}
    if message.get("text"):
        shown["text"] = str(message["text"])
    buttons = message.get("buttons") or message.get("quick_replies") or []
    kept = [
        {"title": str(b.get("title") or b.get("payload")), "payload": str(b["payload"])}
        for b in buttons
        if isinstance(b, dict) and b.get("payload") and not b.get("url")
    ]
    if kept:
        shown["buttons"] = kept
    for key in ("image", "attachment"):
        if isinstance(message.get(key), str) and message[key].startswith(("https://", "http://")):
            shown["image"] = message[key]
    for key in ("custom", "elements"):
        if message.get(key):
            logger.warning("webchat cannot show %r messages; not sent", key)
    return shown or None


class WebchatOutput(OutputChannel):
    """Rasa's replies written to the outbox for the visitor's page (never pushed from here).

    Args:
        store: the operational store.
        answers: the desk's message id being answered (kept on every row).
    """

    def __init__(self, store: AsyncStore, answers: str | None) -> None:
        self.store = store
        self.answers = answers
        self.queued: List[int] = []

    @classmethod
    def name(cls) -> str:
        """The channel name Rasa records on bot events."""
        return CHANNEL

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        """Queues one bot message (its buttons as title/payload pairs)."""
        shown = outbox_message(message)
        if shown is None:
            return
        self.queued.append(
            await self.store.enqueue_outgoing(CHANNEL, recipient_id, shown, self.answers)
        )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Queues a plain text."""
        await self.send_response(recipient_id, {"text": text})


class WebchatInput(StoreInput):
    """`/webhooks/webchat/webhook`: signed messages from the desk, the shared pipeline, outbox out.

    Args:
        config: the settings (WEBCHAT_SECRET or RASA_TOKEN, the database).
    """

    channel = CHANNEL
    off_level = logging.WARNING  # always on: only a server without RASA_TOKEN lacks it

    def __init__(self, config: Settings) -> None:
        super().__init__(config)
        try:
            self.keys: WebchatKeys | None = WebchatKeys.from_settings(config)
        except ValueError:
            self.keys = None
            self.missing = ["WEBCHAT_SECRET or RASA_TOKEN"]

    def open(self) -> Pipeline:
        """Opens the store; replies go to its outbox rows."""
        store = self.open_store()
        logger.info("webchat channel on")
        return Pipeline(
            CHANNEL,
            store,
            lambda answers: WebchatOutput(store, answers),
            record=True,
            opt_words=False,
            slash_payloads=False,
        )

    # -- requests ----------------------------------------------------------------------

    async def webhook(self, request: Request) -> HTTPResponse:
        """One message the desk forwarded: check the signature, remember it, handle it later."""
        if self.pipeline is None or self.keys is None:
            return starting()
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            return response.json({"error": "request too large"}, status=413)
        signature = request.headers.get(SIGNATURE_HEADER)
        if not self.keys.verify(body, signature):
            logger.warning(
                "webchat: rejected a request with a %s signature",
                "wrong or expired" if signature else "missing",
            )
            return response.json({"error": "invalid signature"}, status=403)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        problem = _problem(data)
        if problem:
            return response.json({"error": problem}, status=400)
        sender = conversation_id(data["visitor"])
        accepted = await self.pipeline.accept(
            Incoming(
                sender,
                data["text"].strip(),
                message_id=data["message_id"],
                kind=data.get("kind") or "text",
                metadata={CHANNEL: {"message_id": data["message_id"]}},
            )
        )
        if not accepted:
            logger.info("webchat: %s sent %s again", mask(sender), data["message_id"])
        return response.json({"accepted": accepted}, status=202)


def _problem(data: Any) -> str | None:
    """What is wrong with a forwarded message, None when it is well formed."""
    if not isinstance(data, dict):
        return 'send JSON: {"visitor": ..., "message_id": ..., "text": ...}'
    if not isinstance(data.get("visitor"), str) or not VISITOR_ID.match(data["visitor"]):
        return "visitor must be 32 hex characters"
    if not isinstance(data.get("message_id"), str) or not MESSAGE_ID.match(data["message_id"]):
        return "message_id must be 32 hex characters"
    if not isinstance(data.get("text"), str) or not data["text"].strip():
        return "text must be a non-empty string"
    if len(data["text"]) > MAX_MESSAGE_CHARS:
        return f"text longer than {MAX_MESSAGE_CHARS} characters"
    if data.get("kind", "text") not in KINDS:
        return f"kind must be one of {', '.join(KINDS)}"
    return None
