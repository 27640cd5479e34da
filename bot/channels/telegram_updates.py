"""Telegram updates as the bot reads them: which ones are for it, who sent what. No Rasa.

`read_update` turns a python-telegram-bot `Update` into a `TelegramMessage`, or
None for updates the bot ignores (edits, channel posts, groups, other bots,
service messages). Only private chats are served: a support conversation (order
numbers, complaints) does not belong in a group.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Dict, List

from telegram import Message, Update

CHANNEL = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
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


def is_start(text: str) -> bool:
    """Whether typed text is Telegram's `/start` (its Start button, maybe with a parameter).

    Every other "/command" is typed text like any other (`bot.channels.payloads.as_text`).
    """
    command = text.strip().partition(" ")[0]
    return command.partition("@")[0].lower() == START


def media_kinds(message: Message) -> List[str]:
    """The non-text things a message carries (photo, voice, document, ...)."""
    return [kind for kind in MEDIA_KINDS if getattr(message, kind, None)]


def language_of(code: str | None) -> str | None:
    """ "tr" or "en" from a Telegram language code ("tr", "en-GB"), else None."""
    prefix = (code or "").split("-")[0].lower()
    return prefix if prefix in ("tr", "en") else None


@dataclass
class TelegramMessage:
    """What one update asks of the bot.

    `text` is what the customer typed (or a caption), or for a pressed inline
    button (`kind` "button") the callback data it sent back, which is only a
    payload if the bot offered it; `kind` "start" is Telegram's /start.
    """

    update_id: int
    sender_id: str
    text: str = ""
    kind: str = "text"
    media: List[Dict[str, str]] = field(default_factory=list)
    callback_query_id: str | None = None
    language_code: str | None = None


def read_update(update: Update) -> TelegramMessage | None:
    """The customer's message in an update; None for updates the bot ignores."""
    query = update.callback_query
    if query is not None:
        message = query.message
        if message is not None and message.chat.type != "private":
            return None
        chat_id = message.chat.id if message is not None else query.from_user.id
        return TelegramMessage(
            update.update_id,
            conversation_id(chat_id),
            text=query.data or "",
            kind="button",
            callback_query_id=query.id,
            language_code=query.from_user.language_code,
        )
    message = update.message
    if message is None or message.chat.type != "private":
        return None
    if message.from_user is not None and message.from_user.is_bot:
        return None
    typed = (message.text or message.caption or "").strip()
    media = [{"type": kind} for kind in media_kinds(message)]
    if not typed and not media:
        return None
    return TelegramMessage(
        update.update_id,
        conversation_id(message.chat.id),
        text=START if is_start(typed) else typed,
        kind="start" if is_start(typed) else "text",
        media=media,
        language_code=message.from_user.language_code if message.from_user else None,
    )
