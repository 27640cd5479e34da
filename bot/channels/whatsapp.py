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
from functools import partial
from typing import Any, Awaitable, Callable, Dict, List

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.channels import register_sender
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
from bot.config import Settings, settings
from bot.outbox import Outbox
from bot.privacy import mask
from bot.store.aio import AsyncStore

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


class WhatsAppInput(InputChannel):
    """The WhatsApp channel: Twilio webhooks in, the shared pipeline, outbox out.

    Args:
        config: the settings; the channel is on when `config.whatsapp_missing()` is empty.
        outbox_factory: gives the outbox to queue replies in (default: the process's
            shared outbox, with the Twilio sender registered).
    """

    def __init__(
        self,
        config: Settings,
        outbox_factory: Callable[[TwilioSender], Outbox] = partial(register_sender, CHANNEL),
    ) -> None:
        self.config = config
        self.missing = config.whatsapp_missing()
        self.outbox_factory = outbox_factory
        self.validator = RequestValidator(config.twilio_auth_token)
        self.outbox: Outbox | None = None
        self.sender: TwilioSender | None = None
        self.pipeline: Pipeline | None = None

    @classmethod
    def name(cls) -> str:
        """Routes live under /webhooks/whatsapp/."""
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> WhatsAppInput:
        """Rasa's constructor; settings come from `.env`, not credentials.yml."""
        return cls(settings())

    def get_output_channel(self) -> OutputChannel | None:
        """Where Rasa's HTTP API sends bot messages it was asked to send (`output_channel=latest`).

        Used when `crisisdesk handoffs close` resumes a WhatsApp conversation: the
        rating question is queued like any message that answers nobody, so it is
        not sent to a customer who opted out; its options are recorded as offered.
        """
        return self.pipeline.guarded(None) if self.pipeline is not None else None

    @property
    def enabled(self) -> bool:
        """Whether every setting the channel needs is there."""
        return not self.missing

    @property
    def store(self) -> AsyncStore:
        """The operational store (the outbox's, off the event loop)."""
        assert self.outbox is not None, "the WhatsApp channel has not started"
        return self.outbox.store

    # -- lifecycle ------------------------------------------------------------------

    def start(self, app: Sanic, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Registers the Twilio sender with the outbox and starts delivering."""
        self.sender = TwilioSender(
            self.config.twilio_account_sid,
            self.config.twilio_auth_token,
            self.config.twilio_whatsapp_number,
            self.config.twilio_api_base_url,
            f"{self.config.public_base_url}/webhooks/{CHANNEL}/status",
        )
        outbox = self.outbox = self.outbox_factory(self.sender)
        self.pipeline = Pipeline(
            CHANNEL,
            outbox.store,
            lambda answers: WhatsAppOutput(outbox, answers),
            choice=self._choice,
        )
        self.pipeline.start(app, on_new_message)
        outbox.start()
        logger.info("whatsapp channel on (Twilio at %s)", self.config.twilio_api_base_url)

    async def _choice(self, incoming: Incoming) -> str | None:
        """The payload of the numbered option a reply picks ("1", "2."...), else None."""
        options = await self.store.take_choices(CHANNEL, incoming.sender)
        return chosen_payload(incoming.text, options)

    async def stop(self) -> None:
        """Stops handling and sending; unsent replies stay in the outbox."""
        if self.pipeline is not None:
            await self.pipeline.stop()
        if self.outbox is not None:
            await self.outbox.stop()
        if self.sender is not None:
            await self.sender.close()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The webhook, status-callback and health routes, and the start/stop listeners."""
        bp = Blueprint("whatsapp_webhook", __name__)

        # Started before the server accepts requests (a webhook finds the outbox
        # ready); old messages are resumed once Rasa's agent has loaded.
        @bp.listener("before_server_start")
        async def start(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            if self.enabled:
                self.start(app, on_new_message)
            else:
                logger.info("whatsapp channel off: %s not set", ", ".join(self.missing))

        @bp.listener("after_server_start")
        async def resume(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            if self.enabled and self.pipeline is not None:
                await self.pipeline.resume()

        @bp.listener("before_server_stop")
        async def stop(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            await self.stop()

        @bp.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json({"status": "ok"}) if self.enabled else self._off()

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return await self.receive(request)

        @bp.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            return await self.delivery_report(request)

        return bp

    def _off(self) -> HTTPResponse:
        return response.json(
            {"error": f"the whatsapp channel is off: set {', '.join(self.missing)} in .env"},
            status=404,
        )

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

    async def receive(self, request: Request) -> HTTPResponse:
        """Twilio's incoming-message webhook: check, remember, acknowledge, handle later."""
        if not self.enabled:
            return self._off()
        if self.pipeline is None:
            return response.json({"error": "starting"}, status=503)
        params = self._signed_params(request)
        if params is None:
            return response.json({"error": "invalid Twilio signature"}, status=403)
        message_sid = params.get("MessageSid") or params.get("SmsSid") or ""
        sender = params.get("From") or ""
        if not message_sid or not sender.startswith(f"{CHANNEL}:"):
            return response.json({"error": "not a WhatsApp message"}, status=400)
        media = media_of(params)
        metadata = {CHANNEL: {"message_sid": message_sid, "media": [m["type"] for m in media]}}
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
        if not self.enabled:
            return self._off()
        if self.outbox is None:
            return response.json({"error": "starting"}, status=503)
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
