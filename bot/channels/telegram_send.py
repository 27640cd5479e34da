"""Sending to Telegram without Rasa: the outbox sender, inline keyboards, setWebhook.

`TelegramSender` is an outbox `Sender` (python-telegram-bot's `Bot.send_message`):
HTTP 429 (with its retry_after), 5xx, timeouts and network errors are temporary
failures the outbox retries; anything else Telegram refuses is permanent. Error
texts are masked (`bot.privacy.scrub`) before they are logged or stored. The
desk can import this module without Rasa.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Dict, List, Sequence

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)

from bot.channels.common import split_text
from bot.channels.telegram_updates import ALLOWED_UPDATES, chat_id_of
from bot.config import Settings
from bot.outbox import PermanentFailure, TemporaryFailure
from bot.privacy import scrub

logger = logging.getLogger(__name__)

# Telegram's limits: message text (UTF-16 code units) and callback data (bytes).
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
# Buttons with titles up to this long go two to a row.
SHORT_TITLE = 20


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
            raise PermanentFailure(f"{type(problem).__name__}: {scrub(str(problem))}") from None
        except TelegramError as problem:  # NetworkError: 5xx, timeouts, unreachable
            raise TemporaryFailure(f"{type(problem).__name__}: {scrub(str(problem))}") from None
        return str(sent.message_id)

    async def answer_callback(self, query_id: str) -> None:
        """Stops the spinner on a pressed button; failing only costs the spinner."""
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as problem:
            logger.warning("telegram: answerCallbackQuery failed: %s", scrub(str(problem)))

    async def close(self) -> None:
        """Closes the HTTP connections."""
        await self.bot.shutdown()


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
