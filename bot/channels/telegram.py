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
- Handling is the shared `bot.channels.pipeline.Pipeline` (ordering, opt-out
  words, media, typed text never a command, silence during a handoff, the error
  reply, resume after a crash), for conversation `telegram:<chat id>`. The
  Telegram part: a pressed inline button (callback query) is answered at once;
  its callback data is a payload only if the bot offered it to that chat (else it
  is read as text); `/start` greets (or opts back in); other `/commands` are words.
- Out: replies are written to the outbox (split below Telegram's 4096 characters,
  buttons as an inline keyboard on the last piece); `TelegramSender` sends them.

Three modules: `telegram_updates.py` (parsing updates), `telegram_send.py` (the
sender, keyboards, setWebhook; no Rasa, so the desk can import them) and this
one (the Rasa input and output channels).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any, Callable, Coroutine, Dict, List, Sequence, Set

from rasa.core.channels.channel import OutputChannel
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.channels.base import OutboxInput, starting
from bot.channels.pipeline import Incoming, Pipeline
from bot.channels.telegram_send import (
    MAX_CALLBACK_DATA,
    MAX_TEXT,
    TelegramSender,
    inline_keyboard,
    outgoing_messages,
    register_webhook,
)
from bot.channels.telegram_updates import (
    ALLOWED_UPDATES,
    CHANNEL,
    SECRET_HEADER,
    START,
    TelegramMessage,
    chat_id_of,
    conversation_id,
    is_start,
    language_of,
    media_kinds,
    read_update,
    secret_ok,
)
from bot.config import Settings
from bot.outbox import Outbox
from bot.privacy import scrub

logger = logging.getLogger(__name__)

__all__ = [
    "CHANNEL",
    "MAX_CALLBACK_DATA",
    "MAX_TEXT",
    "SECRET_HEADER",
    "START",
    "TelegramInput",
    "TelegramMessage",
    "TelegramOutput",
    "TelegramSender",
    "chat_id_of",
    "conversation_id",
    "inline_keyboard",
    "is_start",
    "language_of",
    "media_kinds",
    "outgoing_messages",
    "read_update",
    "register_webhook",
    "secret_ok",
]

MODES = ("webhook", "polling")
POLL_TIMEOUT = 25


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


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

    async def _queue(self, recipient_id: str, text: str, buttons: Sequence[Dict[str, Any]]) -> None:
        for message in outgoing_messages(text, buttons):
            self.queued.append(
                await self.outbox.enqueue(CHANNEL, recipient_id, message, self.answers)
            )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """Queues a text message."""
        await self._queue(recipient_id, text, ())

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: List[Dict[str, Any]],
        **kwargs: Any,
    ) -> None:
        """Queues a text message with an inline keyboard."""
        await self._queue(recipient_id, text, buttons)

    async def send_custom_json(
        self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any
    ) -> None:
        """Queues the text of a custom message; anything else in it is not for Telegram."""
        if json_message.get("text"):
            await self._queue(recipient_id, str(json_message["text"]), ())
        else:
            logger.warning("telegram cannot show custom messages; not sent")


# -- receiving -------------------------------------------------------------------------


class TelegramInput(OutboxInput):
    """The Telegram channel: webhook or long polling in, the shared pipeline, outbox out.

    Args:
        config: the settings; the channel is on when `config.telegram_bot_token` is set.
        outbox_factory: as in `OutboxInput`.
    """

    channel = CHANNEL

    def __init__(
        self,
        config: Settings,
        outbox_factory: Callable[[TelegramSender], Outbox] | None = None,
    ) -> None:
        if config.telegram_bot_token and config.telegram_mode not in MODES:
            raise ValueError(
                f"TELEGRAM_MODE must be one of {', '.join(MODES)}, not {config.telegram_mode!r}"
            )
        super().__init__(config, outbox_factory)
        self.missing = [] if config.telegram_bot_token else ["TELEGRAM_BOT_TOKEN"]
        self.sender: TelegramSender | None = None
        self._poller: asyncio.Task[None] | None = None
        self._side_tasks: Set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------

    def open(self) -> Pipeline:
        """Registers the Telegram sender with the outbox."""
        # httpx logs every request URL at INFO, and Bot API URLs contain the token.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
        outbox = self.open_outbox(TelegramSender.from_settings(self.config))
        return Pipeline(CHANNEL, outbox.store, lambda answers: TelegramOutput(outbox, answers))

    async def started(self) -> None:
        """Handles updates a previous run never handled, then starts polling (polling mode)."""
        assert self.pipeline is not None
        resumed = await self.pipeline.resume()
        if self.config.telegram_mode == "polling":
            self._poller = asyncio.get_running_loop().create_task(self.poll())
        elif not self.config.telegram_webhook_secret:
            logger.error("telegram: TELEGRAM_WEBHOOK_SECRET is empty; every update is refused")
        logger.info(
            "telegram channel on (%s, Bot API at %s, %s unhandled update(s) resumed)",
            self.config.telegram_mode,
            self.config.telegram_api_base_url,
            resumed,
        )

    async def stop(self) -> None:
        """Stops polling, handling and sending; unsent replies stay in the outbox."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        await super().stop()

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
                logger.warning(
                    "telegram: getUpdates failed (%s); again in %.0f s", scrub(str(problem)), delay
                )
                await asyncio.sleep(delay)
                continue
            for update in updates:
                offset = update.update_id + 1
                try:
                    await self.receive(update)
                except Exception:  # e.g. the database is locked: Telegram sends it again
                    logger.exception("telegram: update %s not taken", update.update_id)
                    offset = update.update_id
                    await asyncio.sleep(1)
                    break

    def health(self) -> Dict[str, Any]:
        """`GET /`: on, and in which mode."""
        return {"status": "ok", "mode": self.config.telegram_mode}

    # -- requests ----------------------------------------------------------------------

    async def webhook(self, request: Request) -> HTTPResponse:
        """Telegram's webhook: check the secret, parse, remember, acknowledge, handle later."""
        if not secret_ok(request.headers.get(SECRET_HEADER), self.config.telegram_webhook_secret):
            logger.warning("telegram: rejected a webhook request without the right secret")
            return response.json({"error": "wrong or missing secret token"}, status=403)
        if self.pipeline is None:
            return starting()
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
        return response.json({"status": await self.receive(update)})

    async def receive(self, update: Update) -> str:
        """Takes one update: remembers it and queues its handling.

        Returns "accepted", "duplicate" (its update_id was seen before) or
        "ignored" (not for the bot).
        """
        assert self.pipeline is not None
        message = read_update(update)
        if message is None:
            logger.debug("telegram: update %s is not for the bot", update.update_id)
            return "ignored"
        accepted = await self.pipeline.accept(
            Incoming(
                message.sender_id,
                message.text,
                message_id=str(message.update_id),
                kind=message.kind,
                media=message.media,
                language=language_of(message.language_code),
                metadata={
                    CHANNEL: {
                        "update_id": message.update_id,
                        "button": message.kind == "button",
                        "media": [m["type"] for m in message.media],
                    }
                },
            )
        )
        if not accepted:
            return "duplicate"
        if message.callback_query_id and self.sender is not None:
            self._side_task(self.sender.answer_callback(message.callback_query_id))
        return "accepted"

    def _side_task(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
