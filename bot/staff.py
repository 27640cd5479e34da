"""The staff Telegram chat: one place for who sends to it and how a send ends.

The desk tells staff (`STAFF_TELEGRAM_CHAT_ID`, sent by the bot of
`TELEGRAM_BOT_TOKEN`) of new high-priority handoffs (bot/waiting.py) and of
early-warning alerts (bot/alerts.py). Both use `staff_chat(cfg)` for the sender
and `post` for one message, which sorts the outcome into sent, failed for good
(recorded, never retried) or "try again later". Texts are plain (no parse mode):
customer words are never markup.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Tuple

from bot.outbox import PermanentFailure, TemporaryFailure
from bot.privacy import scrub

logger = logging.getLogger(__name__)


def staff_sender(cfg: Any) -> Any:
    """The staff chat's sender (python-telegram-bot), or None when it is not configured."""
    if not (cfg.staff_telegram_chat_id and cfg.telegram_bot_token):
        return None
    from bot.channels.telegram_send import TelegramSender

    return TelegramSender.from_settings(cfg)


def staff_recipient(cfg: Any) -> str:
    """The staff chat as an outbox recipient ("telegram:<chat id>"; "" when off)."""
    return f"telegram:{cfg.staff_telegram_chat_id}" if cfg.staff_telegram_chat_id else ""


@dataclass
class StaffChat:
    """A sender and the staff chat it writes to."""

    sender: Any
    recipient: str

    async def post(self, text: str) -> Tuple[str, str]:
        """Sends one text; returns ("sent", detail), ("failed", detail) or ("retry", detail)."""
        return await post(self.sender, self.recipient, text)

    async def close(self) -> None:
        close = getattr(self.sender, "close", None)
        if close is not None:
            try:
                await close()
            except Exception:  # closing a session that never opened
                logger.debug("staff chat sender not closed cleanly", exc_info=True)


def staff_chat(cfg: Any) -> StaffChat | None:
    """The configured staff chat, or None (with a warning when only half configured)."""
    if cfg.staff_telegram_chat_id and not cfg.telegram_bot_token:
        logger.warning("STAFF_TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is not: no staff chat")
    sender = staff_sender(cfg)
    return StaffChat(sender, staff_recipient(cfg)) if sender is not None else None


async def post(sender: Any, recipient: str, text: str) -> Tuple[str, str]:
    """One plain-text message to the staff chat, and how it ended.

    "sent" with the message id; "failed" when Telegram refused it for good (a
    wrong chat id, the bot not in the chat); "retry" when it was not reached
    (5xx, 429, network): the caller tries again later. Details are scrubbed.
    """
    try:
        message_id = await sender.send(recipient, {"text": text})
    except PermanentFailure as problem:
        detail = scrub(str(problem))
        logger.error("staff chat refused a message: %s", detail)
        return "failed", detail
    except (TemporaryFailure, OSError, asyncio.TimeoutError) as problem:
        detail = scrub(str(problem))
        logger.warning("staff chat not reached (%s); trying again later", detail)
        return "retry", detail
    return "sent", f"message {message_id}"
