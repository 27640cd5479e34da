"""Telegram through python-telegram-bot: a Rasa custom input channel and its sender.

Registered in `credentials.yml` as `bot.channels.telegram.TelegramInput:`; its
settings come from `.env` (TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET,
TELEGRAM_API_BASE_URL, TELEGRAM_MODE). Without a token the channel is off and its
routes answer 404.

- In, `TELEGRAM_MODE=webhook` (default): Telegram POSTs updates to
  `/webhooks/telegram/webhook`. A request whose `X-Telegram-Bot-Api-Secret-Token`
  header is not TELEGRAM_WEBHOOK_SECRET gets 403 and is not looked at.
- In, `TELEGRAM_MODE=polling` (local development without a public URL): the Rasa
  server removes the bot's webhook and fetches the same updates itself with
  getUpdates and an offset.
- Either way an update is parsed with `telegram.Update.de_json`, its `update_id`
  is remembered in the store before anything else (a redelivered update is
  acknowledged and dropped, also after a restart), and it is handled in the
  background, one at a time per chat, in arrival order; updates a previous run
  received but never handled are handled at start.
- Handling: a pressed inline button (callback query) is answered at once and
  handled as its payload. Opt-out and opt-in words (STOP, DUR, İPTAL... START,
  BAŞLA..., the same as on WhatsApp) switch proactive messages off and on and are
  confirmed, never sent to the dialogue. A photo, voice note, document, sticker,
  location... without caption gets `utter_media_unsupported`; a caption is read as
  text. `/start` greets; other `/commands` are read as words. Everything else goes
  to Rasa as conversation `telegram:<chat id>`, input channel "telegram". If Rasa
  fails or stays silent outside a handoff, the customer is told politely and the
  update is kept as `failed` in `inbound_messages`.
- Out: replies are written to the outbox (split below Telegram's 4096 characters,
  buttons as an inline keyboard on the last piece) and `TelegramSender` sends them
  with python-telegram-bot's `Bot.send_message`. HTTP 429 (with its retry_after),
  5xx, timeouts and network errors are temporary failures the outbox retries;
  anything else Telegram refuses is permanent.

Only private chats are served: a support conversation (order numbers, complaints)
does not belong in a group.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Sequence, Set

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)

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
from bot.outbox import Outbox, PermanentFailure, TemporaryFailure
from bot.privacy import mask
from bot.store import Store

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
MODES = ("webhook", "polling")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's limits: message text (UTF-16 code units) and callback data (bytes).
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
# Buttons with titles up to this long go two to a row.
SHORT_TITLE = 20
START = "/start"
# Message attributes that carry something other than text.
MEDIA_KINDS = (
    "photo",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "document",
    "sticker",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT = 25

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


# -- pure helpers ------------------------------------------------------------------------


def conversation_id(chat_id: int | str) -> str:
    """The Rasa conversation id of a Telegram chat: `telegram:<chat id>`."""
    return f"{CHANNEL}:{chat_id}"


def chat_id_of(recipient: str) -> int:
    """The chat id in a conversation id (`telegram:12345` -> 12345)."""
    channel, _, chat = recipient.partition(":")
    if channel != CHANNEL or not chat.lstrip("-").isdigit():
        raise ValueError(f"not a Telegram conversation id: {recipient!r}")
    return int(chat)


def secret_ok(received: str | None, expected: str) -> bool:
    """Whether a webhook request carries the configured secret (never true without one)."""
    if not expected or received is None:
        return False
    return hmac.compare_digest(received.encode("utf-8"), expected.encode("utf-8"))


def _callback_data(button: Dict[str, Any]) -> str:
    """The button's payload, or (when that is over Telegram's 64 bytes) its title."""
    for candidate in (str(button.get("payload") or ""), str(button.get("title") or "")):
        if candidate and len(candidate.encode("utf-8")) <= MAX_CALLBACK_DATA:
            return candidate
    logger.warning("button %r cannot be sent whole; callback data cut", button.get("title"))
    title = str(button.get("title") or "").encode("utf-8")
    return title[:MAX_CALLBACK_DATA].decode("utf-8", "ignore")


def inline_keyboard(buttons: Sequence[Dict[str, Any]]) -> InlineKeyboardMarkup | None:
    """Rasa buttons as a Telegram inline keyboard (None for no buttons).

    A button with a `url` (or a `web_url` button) opens the link; any other button
    sends its payload back as callback data. A payload longer than Telegram's 64
    bytes is replaced by the button's title, which the bot then reads like typed
    text. Short titles go two to a row, longer ones one to a row.
    """
    keys: List[InlineKeyboardButton] = []
    for button in buttons:
        title = str(button.get("title") or button.get("payload") or "?")
        url = button.get("url") or (
            button.get("payload") if button.get("type") == "web_url" else None
        )
        if url:
            keys.append(InlineKeyboardButton(title, url=str(url)))
        else:
            keys.append(InlineKeyboardButton(title, callback_data=_callback_data(button)))
    if not keys:
        return None
    per_row = 2 if all(len(key.text) <= SHORT_TITLE for key in keys) else 1
    return InlineKeyboardMarkup(
        [keys[start : start + per_row] for start in range(0, len(keys), per_row)]
    )


def outgoing_messages(text: str, buttons: Sequence[Dict[str, Any]] = ()) -> List[Dict[str, Any]]:
    """The outbox payloads for one bot message: text pieces, buttons on the last one."""
    pieces = split_text(text or "", MAX_TEXT)
    if not pieces and buttons:
        pieces = ["…"]  # Telegram sends no keyboard without text
    messages: List[Dict[str, Any]] = [{"text": piece} for piece in pieces]
    if messages and buttons:
        messages[-1]["buttons"] = [dict(b) for b in buttons]
    return messages


def typed_text(text: str) -> str:
    """Typed text as the bot reads it: `/start` stays, other commands become words.

    Rasa reads text starting with "/" as an intent name; a customer typing "/stop"
    or "/help" means the word, so the slash (and any "@botname") goes. `/start`
    (Telegram's "Start" button, possibly with a deep-link parameter) is kept for
    the channel: it greets, or opts back in.
    """
    text = text.strip()
    if not text.startswith("/"):
        return text
    command, _, rest = text[1:].partition(" ")
    command = command.partition("@")[0]
    if command.lower() == "start":
        return START
    return f"{command} {rest}".strip()


def media_kinds(message: Message) -> List[str]:
    """The non-text things a message carries (photo, voice, document, ...)."""
    return [kind for kind in MEDIA_KINDS if getattr(message, kind, None)]


@dataclass
class Incoming:
    """What one update asks of the bot.

    `text` is what the bot reads: typed text (see `typed_text`) or a pressed
    button's payload; `media` lists the other things the message carries.
    """

    update_id: int
    sender_id: str
    text: str = ""
    media: List[Dict[str, str]] = field(default_factory=list)
    callback_query_id: str | None = None
    language_code: str | None = None


def read_update(update: Update) -> Incoming | None:
    """The customer's message in an update; None for updates the bot ignores.

    Handled: private-chat messages (text, caption, media) and presses of the
    bot's inline buttons. Ignored: edits, channel posts, groups, other bots,
    service messages.
    """
    query = update.callback_query
    if query is not None:
        message = query.message
        if message is not None and message.chat.type != "private":
            return None
        chat_id = message.chat.id if message is not None else query.from_user.id
        return Incoming(
            update.update_id,
            conversation_id(chat_id),
            text=query.data or "",
            callback_query_id=query.id,
            language_code=query.from_user.language_code,
        )
    message = update.message
    if message is None or message.chat.type != "private":
        return None
    if message.from_user is not None and message.from_user.is_bot:
        return None
    typed = message.text or message.caption or ""
    media = [{"type": kind} for kind in media_kinds(message)]
    if not typed.strip() and not media:
        return None
    return Incoming(
        update.update_id,
        conversation_id(message.chat.id),
        text=typed_text(typed),
        media=media,
        language_code=message.from_user.language_code if message.from_user else None,
    )


def _language(code: str | None) -> str | None:
    """ "tr" or "en" from a Telegram language code ("tr", "en-GB"), else None."""
    prefix = (code or "").split("-")[0].lower()
    return prefix if prefix in ("tr", "en") else None


# -- sending ---------------------------------------------------------------------------


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    """Delivers outbox messages through the Bot API (python-telegram-bot's `Bot`).

    Implements `bot.outbox.Sender`; the desk can reuse it for agents' replies.
    """

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    @classmethod
    def from_settings(cls, cfg: Settings) -> TelegramSender:
        """A sender for the configured bot token and API base URL."""
        return cls(Bot(cfg.telegram_bot_token, base_url=cfg.telegram_api_base_url))

    async def send(self, recipient: str, message: Dict[str, Any]) -> str:
        """Sends one message (text, optional buttons); returns Telegram's message id.

        (A message id is unique within its chat; the outbox row has the chat. The
        chat id is left out because it identifies the customer in logs.)

        Raises:
            TemporaryFailure: 429 (with Telegram's retry_after), 5xx, timeout, network.
            PermanentFailure: the message or recipient was refused (400, 401, 403...).
        """
        try:
            chat_id = chat_id_of(recipient)
        except ValueError as problem:
            raise PermanentFailure(str(problem)) from None
        try:
            sent = await self.bot.send_message(
                chat_id,
                message.get("text") or "…",
                reply_markup=inline_keyboard(message.get("buttons") or []),
            )
        except RetryAfter as problem:
            raise TemporaryFailure(
                f"rate limited: {problem}", retry_after=_seconds(problem.retry_after)
            ) from None
        except (BadRequest, Forbidden, InvalidToken, ChatMigrated) as problem:
            raise PermanentFailure(f"{type(problem).__name__}: {problem}") from None
        except TelegramError as problem:  # NetworkError: 5xx, timeouts, unreachable
            raise TemporaryFailure(f"{type(problem).__name__}: {problem}") from None
        return str(sent.message_id)

    async def answer_callback(self, query_id: str) -> None:
        """Stops the spinner on a pressed button; failing only costs the spinner."""
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as problem:
            logger.warning("telegram: answerCallbackQuery failed: %s", problem)

    async def close(self) -> None:
        """Closes the HTTP connections."""
        await self.bot.shutdown()


class TelegramOutput(OutputChannel):
    """The bot's messages to one Telegram chat, written to the outbox (never sent here).

    Args:
        outbox: where messages are queued.
        answers: the update_id being answered (kept on every outbox row); None for
            messages nobody just asked for (not sent to someone who opted out).
    """

    def __init__(self, outbox: Outbox, answers: str | None = None) -> None:
        self.outbox = outbox
        self.answers = answers
        self.queued: List[int] = []

    @classmethod
    def name(cls) -> str:
        """The channel name Rasa records on bot events."""
        return CHANNEL

    def _queue(self, recipient_id: str, text: str, buttons: Sequence[Dict[str, Any]]) -> None:
        for message in outgoing_messages(text, buttons):
            self.queued.append(self.outbox.enqueue(CHANNEL, recipient_id, message, self.answers))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Queues a text message."""
        self._queue(recipient_id, text, ())

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: List[Dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Queues a text message with an inline keyboard."""
        self._queue(recipient_id, text, buttons)

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        """Queues the text of a custom message; anything else in it is not for Telegram."""
        if json_message.get("text"):
            self._queue(recipient_id, str(json_message["text"]), ())
        else:
            logger.warning("telegram cannot show custom messages; not sent")


async def register_webhook(config: Settings, url: str) -> None:
    """Tells Telegram to POST updates to `url` with the configured secret (setWebhook).

    Raises:
        ValueError: no bot token or no webhook secret is configured.
        telegram.error.TelegramError: the Bot API refused or could not be reached.
    """
    if not config.telegram_bot_token or not config.telegram_webhook_secret:
        raise ValueError("set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET in .env first")
    bot = Bot(config.telegram_bot_token, base_url=config.telegram_api_base_url)
    try:
        await bot.set_webhook(
            url, secret_token=config.telegram_webhook_secret, allowed_updates=ALLOWED_UPDATES
        )
    finally:
        await bot.shutdown()


# -- receiving -------------------------------------------------------------------------


class TelegramInput(InputChannel):
    """The Telegram channel: webhook or long polling in, outbox out.

    Args:
        config: the settings; the channel is on when `config.telegram_bot_token` is set.
        outbox_factory: gives the outbox to queue replies in (default: the process's
            shared outbox, with the Telegram sender registered).
    """

    def __init__(
        self,
        config: Settings,
        outbox_factory: Callable[[TelegramSender], Outbox] = partial(register_sender, CHANNEL),
    ) -> None:
        if config.telegram_bot_token and config.telegram_mode not in MODES:
            raise ValueError(
                f"TELEGRAM_MODE must be one of {', '.join(MODES)}, not {config.telegram_mode!r}"
            )
        self.config = config
        self.outbox_factory = outbox_factory
        self.queue = ConversationQueue()
        self.responses = DomainResponses()
        self.sender: TelegramSender | None = None
        self.outbox: Outbox | None = None
        self.app: Sanic | None = None
        self.on_new_message: OnNewMessage | None = None
        self._poller: asyncio.Task[None] | None = None
        self._side_tasks: Set[asyncio.Task[None]] = set()

    @classmethod
    def name(cls) -> str:
        """Routes live under /webhooks/telegram/."""
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> TelegramInput:
        """Rasa's constructor; settings come from `.env`, not credentials.yml."""
        return cls(settings())

    @property
    def enabled(self) -> bool:
        """Whether the channel has a bot token."""
        return bool(self.config.telegram_bot_token)

    @property
    def store(self) -> Store:
        """The operational store (the outbox's connection)."""
        assert self.outbox is not None, "the Telegram channel has not started"
        return self.outbox.store

    def get_output_channel(self) -> OutputChannel | None:
        """Where messages nobody just asked for go (e.g. the rating after a handoff)."""
        return TelegramOutput(self.outbox) if self.outbox is not None else None

    # -- lifecycle ------------------------------------------------------------------

    async def start(self, app: Sanic, on_new_message: OnNewMessage) -> None:
        """Starts the outbox (and polling); handles updates a previous run never handled."""
        self.app, self.on_new_message = app, on_new_message
        # httpx logs every request URL at INFO, and Bot API URLs contain the token.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
        self.sender = TelegramSender.from_settings(self.config)
        self.outbox = self.outbox_factory(self.sender)
        self.outbox.start()
        unfinished = self.store.list_inbound(CHANNEL, "received")
        for row in unfinished:
            self._handle_later(
                Incoming(
                    int(row["message_id"]),
                    row["sender"],
                    text=row["body"] or "",
                    media=json.loads(row["media"] or "[]"),
                )
            )
        if self.config.telegram_mode == "polling":
            self._poller = asyncio.get_running_loop().create_task(self.poll())
        elif not self.config.telegram_webhook_secret:
            logger.error("telegram: TELEGRAM_WEBHOOK_SECRET is empty; every update is refused")
        logger.info(
            "telegram channel on (%s, Bot API at %s, %s unhandled update(s) resumed)",
            self.config.telegram_mode,
            self.config.telegram_api_base_url,
            len(unfinished),
        )

    async def stop(self) -> None:
        """Stops polling, handling and sending; unsent replies stay in the outbox."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        await self.queue.cancel()
        if self.outbox is not None:
            await self.outbox.stop()
        if self.sender is not None:
            await self.sender.close()

    async def poll(self) -> None:
        """Long polling: getUpdates with an offset, each update through `receive`.

        An update is remembered in the store before the next getUpdates confirms it
        to Telegram, so a crash in between loses nothing (it comes again and is
        recognised as seen).
        """
        assert self.sender is not None
        bot = self.sender.bot
        offset: int | None = None
        failures = 0
        while True:
            try:
                if offset is None:
                    await bot.delete_webhook()  # getUpdates is refused while one is set
                    offset = 0
                updates = await bot.get_updates(
                    offset=offset or None, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES
                )
                failures = 0
            except InvalidToken:
                logger.error("telegram: the Bot API refused TELEGRAM_BOT_TOKEN; polling stopped")
                return
            except RetryAfter as problem:
                await asyncio.sleep(_seconds(problem.retry_after))
                continue
            except TelegramError as problem:  # network, 5xx, 409 (a webhook is set)
                failures += 1
                delay = min(60.0, 2.0**failures)
                logger.warning("telegram: getUpdates failed (%s); again in %.0f s", problem, delay)
                await asyncio.sleep(delay)
                continue
            for update in updates:
                offset = update.update_id + 1
                try:
                    self.receive(update)
                except Exception:  # e.g. the database is locked: Telegram sends it again
                    logger.exception("telegram: update %s not taken", update.update_id)
                    offset = update.update_id
                    await asyncio.sleep(1)
                    break

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The webhook and health routes, and the start/stop listeners."""
        bp = Blueprint("crisisdesk_telegram", __name__)

        @bp.listener("after_server_start")
        async def start(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            if self.enabled:
                await self.start(app, on_new_message)
            else:
                logger.info("telegram channel off: TELEGRAM_BOT_TOKEN not set")

        @bp.listener("before_server_stop")
        async def stop(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            await self.stop()

        @bp.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            if not self.enabled:
                return self._off()
            return response.json({"status": "ok", "mode": self.config.telegram_mode})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            return self.webhook(request)

        return bp

    def _off(self) -> HTTPResponse:
        return response.json(
            {"error": "the telegram channel is off: set TELEGRAM_BOT_TOKEN in .env"},
            status=HTTPStatus.NOT_FOUND,
        )

    # -- requests ----------------------------------------------------------------------

    def webhook(self, request: Request) -> HTTPResponse:
        """Telegram's webhook: check the secret, parse, remember, acknowledge, handle later."""
        if not self.enabled:
            return self._off()
        if not secret_ok(request.headers.get(SECRET_HEADER), self.config.telegram_webhook_secret):
            logger.warning("telegram: rejected a webhook request without the right secret")
            return response.json({"error": "wrong or missing secret token"}, status=403)
        if self.outbox is None:
            return response.json({"error": "starting"}, status=HTTPStatus.SERVICE_UNAVAILABLE)
        try:
            data = json.loads(request.body)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return response.json({"error": "not a Telegram update"}, status=400)
        try:
            update = Update.de_json(data, self.sender.bot if self.sender else None)
        except Exception as problem:  # Telegram would only send the same again
            logger.warning("telegram: update %s not understood: %r", data["update_id"], problem)
            return response.json({"status": "ignored"})
        return response.json({"status": self.receive(update)})

    def receive(self, update: Update) -> str:
        """Takes one update: remembers it and queues its handling.

        Returns "accepted", "duplicate" (its update_id was seen before) or
        "ignored" (not for the bot).
        """
        incoming = read_update(update)
        if incoming is None:
            logger.debug("telegram: update %s is not for the bot", update.update_id)
            return "ignored"
        if not self.store.record_inbound(
            CHANNEL, str(incoming.update_id), incoming.sender_id, incoming.text, incoming.media
        ):
            logger.info(
                "telegram: update %s from %s seen before, ignored",
                incoming.update_id,
                mask(incoming.sender_id),
            )
            return "duplicate"
        if incoming.callback_query_id and self.sender is not None:
            self._side_task(self.sender.answer_callback(incoming.callback_query_id))
        self._handle_later(incoming)
        return "accepted"

    def _side_task(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- handling ----------------------------------------------------------------------

    def _handle_later(self, incoming: Incoming) -> None:
        self.queue.submit(incoming.sender_id, partial(self.handle, incoming))

    async def handle(self, incoming: Incoming) -> None:
        """Handles one remembered update; a failure still gets the customer an answer."""
        update_key = str(incoming.update_id)
        try:
            outcome = await self._handle(incoming)
        except Exception as problem:
            logger.exception(
                "telegram: handling update %s from %s failed",
                update_key,
                mask(incoming.sender_id),
            )
            self.store.finish_inbound(CHANNEL, update_key, "failed", repr(problem)[:1000])
            try:
                language, _ = await self._conversation(incoming.sender_id)
            except Exception:  # the dialogue's stores may be what failed
                language = None
            await self._say(
                incoming, "utter_channel_error", language or _language(incoming.language_code)
            )
        else:
            self.store.finish_inbound(CHANNEL, update_key)
            logger.info(
                "telegram: update %s from %s handled (%s)",
                update_key,
                mask(incoming.sender_id),
                outcome,
            )

    async def _handle(self, incoming: Incoming) -> str:
        sender, text = incoming.sender_id, incoming.text
        word = keyword(text)
        if word in OPT_OUT_WORDS:
            if self.store.opt_out(CHANNEL, sender):
                logger.info("telegram: %s opted out", mask(sender))
                await self._say(incoming, "utter_opted_out", OPT_OUT_WORDS[word])
            return "opt-out"
        if text == START or word in OPT_IN_WORDS:
            if self.store.opt_in(CHANNEL, sender):
                logger.info("telegram: %s opted in again", mask(sender))
                language = OPT_IN_WORDS.get(word) or _language(incoming.language_code)
                await self._say(incoming, "utter_opted_in", language)
                return "opt-in"
        if not text and incoming.media:
            language, paused = await self._conversation(sender)
            if not paused:
                language = language or _language(incoming.language_code)
                await self._say(incoming, "utter_media_unsupported", language)
            return "media"
        assert self.outbox is not None and self.on_new_message is not None
        output = TelegramOutput(self.outbox, str(incoming.update_id))
        await self.on_new_message(
            UserMessage(
                "/greet" if text == START else text,
                output,
                sender,
                input_channel=CHANNEL,
                message_id=str(incoming.update_id),
                metadata={
                    CHANNEL: {
                        "update_id": incoming.update_id,
                        "button": incoming.callback_query_id is not None,
                        "media": [m["type"] for m in incoming.media],
                    }
                },
            )
        )
        if not output.queued:
            _, paused = await self._conversation(sender)
            if not paused:
                raise RuntimeError("the dialogue gave no reply outside a handoff")
        return "button" if incoming.callback_query_id else "text"

    async def _conversation(self, sender: str) -> tuple[str | None, bool]:
        """The conversation's language and whether a person has it (paused)."""
        return await conversation_state(self.app, sender)

    async def _say(self, incoming: Incoming, response_name: str, language: str | None) -> None:
        """Queues one of the channel's own responses from the domain."""
        assert self.outbox is not None
        message = self.responses.render(response_name, language)
        output = TelegramOutput(self.outbox, str(incoming.update_id))
        await output.send_response(incoming.sender_id, message)
