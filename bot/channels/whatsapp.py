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
- Handling: opt-out and opt-in words are handled here (confirmed once, never sent
  to the dialogue); media without a caption gets a polite "I read text"; a reply
  "1", "2"... to numbered options becomes that option's payload; everything else
  goes to Rasa. If Rasa fails or stays silent outside a handoff, the customer is
  told politely and the message is kept as `failed` in `inbound_messages`.
- Replies never go to Twilio directly: `WhatsAppOutput` writes them to the outbox
  (split at sentence boundaries below Twilio's 1600 characters, buttons as
  numbered options) and `TwilioSender` sends them.
- `POST /webhooks/whatsapp/status`: Twilio's delivery reports (signed too) update
  the outbox row with that MessageSid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from functools import partial
from typing import Any, Awaitable, Callable, Dict, List, Sequence
from urllib.parse import parse_qs

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.channels import register_sender
from bot.channels.common import (
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    ConversationQueue,
    DomainResponses,
    conversation_state,
    keyword,
    split_text,
)
from bot.config import Settings, settings
from bot.language import detect
from bot.outbox import Outbox, PermanentFailure, TemporaryFailure
from bot.privacy import mask
from bot.store import Store

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
# A delivery report for a message id not stored yet is retried this often.
REPORT_WAITS = 10
REPORT_WAIT_SECONDS = 0.1
# Twilio refuses WhatsApp bodies longer than 1600 characters.
MAX_CHARS = 1600
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_CHOICE = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")
_KEYCAP = re.compile("[\ufe0f\u20e3]")


def whatsapp_address(number: str) -> str:
    """`+905321234567` or `whatsapp:+905321234567` as Twilio's `whatsapp:+...` address."""
    number = number.strip()
    return number if number.startswith(f"{CHANNEL}:") else f"{CHANNEL}:{number}"


def with_numbered_options(text: str, buttons: Sequence[Dict[str, Any]]) -> str:
    """The text followed by one numbered line per button ("1. Evet\\n2. Hayır")."""
    options = "\n".join(f"{i}. {b.get('title', '')}" for i, b in enumerate(buttons, start=1))
    return f"{text}\n\n{options}" if text else options


def chosen_payload(text: str, options: Sequence[Dict[str, Any]]) -> str | None:
    """The payload of the option a reply like "1", "2.", "2)" or "2️⃣" picks, else None."""
    found = _CHOICE.match(_KEYCAP.sub("", text))
    if not found:
        return None
    index = int(found.group(1)) - 1
    if 0 <= index < len(options):
        return str(options[index]["payload"])
    return None


def signed_form(
    validator: RequestValidator, url: str, body: bytes, signature: str
) -> RequestParameters | None:
    """The fields of a form POST to `url` if Twilio's `signature` matches them, else None.

    Twilio signs the URL it called (our public one, not the address behind a
    proxy) followed by every field, empty ones included; Sanic's own form parser
    drops empty fields (a media message's Body), so the body is parsed here.
    """
    params = RequestParameters(
        parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    )
    if signature and validator.validate(url, params, signature):
        return params
    return None


def media_of(params: RequestParameters) -> List[Dict[str, str]]:
    """What a Twilio request carries besides text: media content types and a location."""
    media = [
        {"type": params.get(f"MediaContentType{i}") or "unknown"}
        for i in range(int(params.get("NumMedia") or 0))
    ]
    if params.get("Latitude") and params.get("Longitude"):
        media.append({"type": "location"})
    return media


class TwilioSender:
    """Sends outbox messages through Twilio's Messages API (the outbox's `Sender`).

    Args:
        account_sid: the Twilio account (AC...).
        auth_token: its auth token (HTTP basic auth password).
        from_number: the WhatsApp sender number (`+1415...` or `whatsapp:+1415...`).
        api_base_url: Twilio's API root (tests point it at a local fake).
        status_callback: the URL Twilio posts delivery reports to.
        timeout: seconds one HTTP request may take.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base_url: str,
        status_callback: str,
        timeout: float = 15.0,
    ) -> None:
        self.url = f"{api_base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = aiohttp.BasicAuth(account_sid, auth_token)
        self.from_address = whatsapp_address(from_number)
        self.status_callback = status_callback
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, recipient: str, message: Dict[str, Any]) -> str:
        """Posts one message; returns Twilio's MessageSid.

        Raises:
            TemporaryFailure: 429, 5xx, timeouts and network errors.
            PermanentFailure: any other refusal (bad number, bad credentials...).
        """
        form = {"From": self.from_address, "To": recipient, "StatusCallback": self.status_callback}
        if message.get("text"):
            form["Body"] = message["text"]
        if message.get("media_url"):
            form["MediaUrl"] = message["media_url"]
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(self.url, data=form, auth=self.auth) as answer:
                status, body = answer.status, await answer.text()
                retry_after = answer.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as problem:
            raise TemporaryFailure(f"twilio unreachable: {problem!r}") from problem
        if 200 <= status < 300:
            try:
                return str(json.loads(body)["sid"])
            except (ValueError, KeyError, TypeError):
                # Accepted all the same: sending again would duplicate the message.
                logger.warning("twilio accepted a message without a readable sid")
                return ""
        detail = f"twilio HTTP {status}: {body[:300]}"
        if status in (408, 429) or status >= 500:
            seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise TemporaryFailure(detail, retry_after=seconds)
        raise PermanentFailure(detail)

    async def close(self) -> None:
        """Closes the HTTP session."""
        if self._session is not None:
            await self._session.close()


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
            self.outbox.store.offer_choices(CHANNEL, recipient_id, options)
        for piece in split_text(text, MAX_CHARS):
            self._queue(recipient_id, {"text": piece})
        for key in ("image", "attachment"):
            if isinstance(message.get(key), str):
                self._queue(recipient_id, {"media_url": message[key]})
        for key in ("custom", "elements"):
            if message.get(key):
                logger.warning("whatsapp cannot show %r messages; not sent", key)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Queues a plain text (Rasa's API for text-only callers)."""
        await self.send_response(recipient_id, {"text": text})

    def _queue(self, recipient_id: str, message: Dict[str, Any]) -> None:
        self.queued.append(self.outbox.enqueue(CHANNEL, recipient_id, message, self.answers))


class WhatsAppInput(InputChannel):
    """The WhatsApp channel: Twilio webhooks in, outbox out.

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
        self.queue = ConversationQueue()
        self.responses = DomainResponses()
        self.outbox: Outbox | None = None
        self.sender: TwilioSender | None = None
        self.app: Sanic | None = None
        self.on_new_message: Callable[[UserMessage], Awaitable[Any]] | None = None

    @classmethod
    def name(cls) -> str:
        """Routes live under /webhooks/whatsapp/."""
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> WhatsAppInput:
        """Rasa's constructor; settings come from `.env`, not credentials.yml."""
        return cls(settings())

    def get_output_channel(self) -> WhatsAppOutput | None:
        """Where Rasa's HTTP API sends bot messages it was asked to send (`output_channel=latest`).

        Used when `crisisdesk handoffs close` resumes a WhatsApp conversation: the
        rating question is queued like any message that answers nobody, so it is
        not sent to a customer who opted out.
        """
        return WhatsAppOutput(self.outbox, None) if self.outbox is not None else None

    @property
    def enabled(self) -> bool:
        """Whether every setting the channel needs is there."""
        return not self.missing

    @property
    def store(self) -> Store:
        """The operational store (the outbox's connection)."""
        assert self.outbox is not None, "the WhatsApp channel has not started"
        return self.outbox.store

    # -- lifecycle ------------------------------------------------------------------

    def start(self, app: Sanic, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Registers the Twilio sender with the outbox and starts delivering."""
        self.app, self.on_new_message = app, on_new_message
        self.sender = TwilioSender(
            self.config.twilio_account_sid,
            self.config.twilio_auth_token,
            self.config.twilio_whatsapp_number,
            self.config.twilio_api_base_url,
            f"{self.config.public_base_url}/webhooks/{CHANNEL}/status",
        )
        self.outbox = self.outbox_factory(self.sender)
        self.outbox.start()
        logger.info("whatsapp channel on (Twilio at %s)", self.config.twilio_api_base_url)

    def resume(self) -> None:
        """Handles the messages a previous run acknowledged but never handled (a crash)."""
        unfinished = self.store.list_inbound(CHANNEL, "received")
        for row in unfinished:
            self._handle_later(
                row["message_id"],
                row["sender"],
                row["body"] or "",
                json.loads(row["media"] or "[]"),
            )
        if unfinished:
            logger.info("whatsapp: %s unhandled message(s) from before resumed", len(unfinished))

    async def stop(self) -> None:
        """Stops handling and sending; unsent replies stay in the outbox."""
        await self.queue.cancel()
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
            if self.enabled:
                self.resume()

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

    def _signed_params(self, request: Request) -> RequestParameters | None:
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
        params = self._signed_params(request)
        if params is None:
            return response.json({"error": "invalid Twilio signature"}, status=403)
        message_sid = params.get("MessageSid") or params.get("SmsSid") or ""
        sender = params.get("From") or ""
        if not message_sid or not sender.startswith(f"{CHANNEL}:"):
            return response.json({"error": "not a WhatsApp message"}, status=400)
        body = (params.get("Body") or "").strip()
        media = media_of(params)
        if not self.store.record_inbound(CHANNEL, message_sid, sender, body, media):
            logger.info("whatsapp: %s from %s seen before, ignored", message_sid, mask(sender))
        else:
            self._handle_later(message_sid, sender, body, media)
        return response.text(EMPTY_TWIML, content_type="text/xml")

    async def delivery_report(self, request: Request) -> HTTPResponse:
        """Twilio's status callback: records sent/delivered/read/failed on the outbox row."""
        if not self.enabled:
            return self._off()
        params = self._signed_params(request)
        if params is None:
            return response.json({"error": "invalid Twilio signature"}, status=403)
        message_sid, status = params.get("MessageSid") or "", params.get("MessageStatus") or ""
        if not message_sid or not status:
            return response.json({"error": "MessageSid and MessageStatus needed"}, status=400)
        known = self.store.update_delivery_status(CHANNEL, message_sid, status)
        for _ in range(REPORT_WAITS):
            if known:
                break
            # Twilio can report before our outbox has stored the id it answered
            # the send with: give that write a moment instead of dropping the report.
            await asyncio.sleep(REPORT_WAIT_SECONDS)
            known = self.store.update_delivery_status(CHANNEL, message_sid, status)
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

    # -- handling ----------------------------------------------------------------------

    def _handle_later(
        self, message_sid: str, sender: str, body: str, media: List[Dict[str, str]]
    ) -> None:
        self.queue.submit(sender, partial(self.handle, message_sid, sender, body, media))

    async def handle(
        self, message_sid: str, sender: str, body: str, media: List[Dict[str, str]]
    ) -> None:
        """Handles one remembered message; a failure still gets the customer an answer."""
        try:
            await self._handle(message_sid, sender, body, media)
        except Exception as problem:
            logger.exception("whatsapp: handling %s from %s failed", message_sid, mask(sender))
            self.store.finish_inbound(CHANNEL, message_sid, "failed", repr(problem)[:1000])
            try:
                language, _ = await self._conversation(sender)
            except Exception:  # the dialogue's stores may be what failed
                language = None
            await self._say(sender, message_sid, "utter_channel_error", language or detect(body))
        else:
            self.store.finish_inbound(CHANNEL, message_sid)

    async def _handle(
        self, message_sid: str, sender: str, body: str, media: List[Dict[str, str]]
    ) -> None:
        word = keyword(body)
        if word in OPT_OUT_WORDS:
            if self.store.opt_out(CHANNEL, sender):
                logger.info("whatsapp: %s opted out", mask(sender))
                await self._say(sender, message_sid, "utter_opted_out", OPT_OUT_WORDS[word])
            return
        if word in OPT_IN_WORDS and self.store.opt_in(CHANNEL, sender):
            logger.info("whatsapp: %s opted in again", mask(sender))
            await self._say(sender, message_sid, "utter_opted_in", OPT_IN_WORDS[word])
            return
        if not body and media:
            language, paused = await self._conversation(sender)
            if not paused:
                await self._say(sender, message_sid, "utter_media_unsupported", language)
            return
        options = self.store.take_choices(CHANNEL, sender)
        text = chosen_payload(body, options) or body
        assert self.outbox is not None and self.on_new_message is not None
        output = WhatsAppOutput(self.outbox, message_sid)
        metadata = {CHANNEL: {"message_sid": message_sid, "media": [m["type"] for m in media]}}
        await self.on_new_message(
            UserMessage(
                text,
                output,
                sender,
                input_channel=CHANNEL,
                message_id=message_sid,
                metadata=metadata,
            )
        )
        if not output.queued:
            language, paused = await self._conversation(sender)
            if not paused:
                raise RuntimeError("the dialogue gave no reply outside a handoff")

    async def _conversation(self, sender: str) -> tuple[str | None, bool]:
        """The conversation's language and whether a person has it (paused)."""
        return await conversation_state(self.app, sender)

    async def _say(
        self, sender: str, message_sid: str, response_name: str, language: str | None
    ) -> None:
        """Queues one of the channel's own responses from the domain."""
        assert self.outbox is not None
        message = self.responses.render(response_name, language)
        await WhatsAppOutput(self.outbox, message_sid).send_response(sender, message)
