"""WhatsApp through Twilio: a Rasa input channel with signed webhooks and the outbox.

Registered in `credentials.yml` as `bot.channels.whatsapp.WhatsAppInput:`; its
settings come from `.env` (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
TWILIO_WHATSAPP_NUMBER, TWILIO_API_BASE_URL, PUBLIC_BASE_URL). Without them the
channel is off and its routes answer 404.

- `POST /webhooks/whatsapp/webhook`: Twilio's incoming-message request. The
  `X-Twilio-Signature` is checked against PUBLIC_BASE_URL + path (403 otherwise,
  nothing stored). The MessageSid is remembered in the store before anything
  else; a retry of a known MessageSid is acknowledged and dropped. The request is
  answered at once with empty TwiML; the message is handled in the background,
  one at a time per customer, in arrival order.
- Handling is the shared `bot.channels.pipeline.Pipeline` (ordering, opt-out
  words, media, typed text never a command, silence during a handoff, the error
  reply, resume after a crash). The WhatsApp part: a reply "1", "2"... to the
  numbered options last shown is that option's payload (if the bot offered it).
- Twilio's sender and the signature helpers live in `bot/channels/twilio.py`,
  which does not import Rasa.
- Replies never go to Twilio directly: `WhatsAppOutput` writes them to the outbox
  (split at sentence boundaries below Twilio's 1600 characters, buttons as
  numbered options) and `TwilioSender` sends them.
- `POST /webhooks/whatsapp/status`: Twilio's delivery reports (signed too) update
  the outbox row with that MessageSid.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Dict, List

from rasa.core.channels.channel import OutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.channels.base import Handler, OutboxInput, starting
from bot.channels.common import split_text
from bot.channels.pipeline import Incoming, Pipeline
from bot.channels.twilio import (
    CHANNEL,
    MAX_CHARS,
    FormFields,
    TwilioSender,
    chosen_payload,
    media_of,
    signed_form,
    whatsapp_address,
    with_numbered_options,
)
from bot.config import Settings
from bot.outbox import Outbox
from bot.privacy import mask

logger = logging.getLogger(__name__)

__all__ = [
    "CHANNEL",
    "MAX_CHARS",
    "TwilioSender",
    "WhatsAppInput",
    "WhatsAppOutput",
    "chosen_payload",
    "media_of",
    "signed_form",
    "whatsapp_address",
    "with_numbered_options",
]

# A delivery report for a message id not stored yet is retried this often.
REPORT_WAITS = 10
REPORT_WAIT_SECONDS = 0.1
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class WhatsAppOutput(OutputChannel):
    """Rasa's replies to one incoming message, written to the outbox (never sent here).

    Args:
        outbox: where replies are queued.
        answers: the MessageSid being answered (kept on every outbox row).
    """

    def __init__(self, outbox: Outbox, answers: str | None) -> None:
        self.outbox = outbox
        self.answers = answers
        self.queued: List[int] = []

    @classmethod
    def name(cls) -> str:
        """The channel name Rasa records on bot events."""
        return CHANNEL

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        """Queues one bot message: text with numbered options, split to fit, then any image."""
        text = message.get("text") or ""
        buttons = message.get("buttons") or message.get("quick_replies") or []
        if buttons:
            text = with_numbered_options(text, buttons)
            options = [{"title": b.get("title"), "payload": b.get("payload")} for b in buttons]
            await self.outbox.store.offer_choices(CHANNEL, recipient_id, options)
        for piece in split_text(text, MAX_CHARS):
            await self._queue(recipient_id, {"text": piece})
        for key in ("image", "attachment"):
            if isinstance(message.get(key), str):
                await self._queue(recipient_id, {"media_url": message[key]})
        for key in ("custom", "elements"):
            if message.get(key):
                logger.warning("whatsapp cannot show %r messages; not sent", key)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Queues a plain text (Rasa's API for text-only callers)."""
        await self.send_response(recipient_id, {"text": text})

    async def _queue(self, recipient_id: str, message: Dict[str, Any]) -> None:
        self.queued.append(await self.outbox.enqueue(CHANNEL, recipient_id, message, self.answers))


class WhatsAppInput(OutboxInput):
    """The WhatsApp channel: Twilio webhooks in, the shared pipeline, outbox out.

    Args:
        config: the settings; the channel is on when `config.whatsapp_missing()` is empty.
        outbox_factory: as in `OutboxInput`.
    """

    channel = CHANNEL

    def __init__(
        self,
        config: Settings,
        outbox_factory: Callable[[TwilioSender], Outbox] | None = None,
    ) -> None:
        super().__init__(config, outbox_factory)
        self.missing = config.whatsapp_missing()
        self.validator = RequestValidator(config.twilio_auth_token)

    # -- lifecycle ------------------------------------------------------------------

    def open(self) -> Pipeline:
        """Registers the Twilio sender with the outbox; a reply may pick a numbered option."""
        outbox = self.open_outbox(
            TwilioSender(
                self.config.twilio_account_sid,
                self.config.twilio_auth_token,
                self.config.twilio_whatsapp_number,
                self.config.twilio_api_base_url,
                f"{self.config.public_base_url}/webhooks/{CHANNEL}/status",
            )
        )
        logger.info("whatsapp channel on (Twilio at %s)", self.config.twilio_api_base_url)
        return Pipeline(
            CHANNEL,
            outbox.store,
            lambda answers: WhatsAppOutput(outbox, answers),
            choice=self._choice,
        )

    async def _choice(self, incoming: Incoming) -> str | None:
        """The payload of the numbered option a reply picks ("1", "2."...), else None."""
        options = await self.store.take_choices(CHANNEL, incoming.sender)
        return chosen_payload(incoming.text, options)

    def posts(self) -> Dict[str, Handler]:
        """The incoming-message webhook and the delivery reports."""
        return {"/webhook": self.webhook, "/status": self.delivery_report}

    # -- requests ----------------------------------------------------------------------

    def _signed_params(self, request: Request) -> FormFields | None:
        """The form parameters of a request Twilio signed, None when the signature is wrong."""
        url = f"{self.config.public_base_url}{request.path}"
        if request.query_string:
            url += f"?{request.query_string}"
        signature = request.headers.get("X-Twilio-Signature") or ""
        params = signed_form(self.validator, url, request.body, signature)
        if params is not None:
            return params
        logger.warning(
            "whatsapp: rejected a request to %s with a %s signature",
            request.path,
            "wrong" if signature else "missing",
        )
        return None

    async def webhook(self, request: Request) -> HTTPResponse:
        """Twilio's incoming-message webhook: check, remember, acknowledge, handle later."""
        if self.pipeline is None:
            return starting()
        params = self._signed_params(request)
        if params is None:
            return response.json({"error": "invalid Twilio signature"}, status=403)
        message_sid = params.get("MessageSid") or params.get("SmsSid") or ""
        sender = params.get("From") or ""
        if not message_sid or not sender.startswith(f"{CHANNEL}:"):
            return response.json({"error": "not a WhatsApp message"}, status=400)
        media = media_of(params)
        metadata = {
            CHANNEL: {
                "message_sid": message_sid,
                "media": [m["type"] for m in media],
                # a quick-reply button of a template (bot/corrections.py reads it)
                "button_payload": params.get("ButtonPayload") or None,
            }
        }
        await self.pipeline.accept(
            Incoming(
                sender,
                (params.get("Body") or "").strip(),
                message_id=message_sid,
                media=media,
                metadata=metadata,
            )
        )
        return response.text(EMPTY_TWIML, content_type="text/xml")

    async def delivery_report(self, request: Request) -> HTTPResponse:
        """Twilio's status callback: records sent/delivered/read/failed on the outbox row."""
        if self.outbox is None:
            return starting()
        params = self._signed_params(request)
        if params is None:
            return response.json({"error": "invalid Twilio signature"}, status=403)
        message_sid, status = params.get("MessageSid") or "", params.get("MessageStatus") or ""
        if not message_sid or not status:
            return response.json({"error": "MessageSid and MessageStatus needed"}, status=400)
        known = await self.store.update_delivery_status(CHANNEL, message_sid, status)
        for _ in range(REPORT_WAITS):
            if known:
                break
            # Twilio can report before our outbox has stored the id it answered
            # the send with: give that write a moment instead of dropping the report.
            await asyncio.sleep(REPORT_WAIT_SECONDS)
            known = await self.store.update_delivery_status(CHANNEL, message_sid, status)
        if status in ("failed", "undelivered"):
            logger.warning(
                "whatsapp: %s to %s %s (Twilio error %s)",
                message_sid,
                mask(params.get("To")),
                status,
                params.get("ErrorCode") or "-",
            )
        elif not known:
            logger.info("whatsapp: status %s for unknown message %s", status, message_sid)
        return response.empty()
