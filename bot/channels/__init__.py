"""Customer channels: Rasa custom input channels, one module each, and what they share.

Every channel that is on registers its sender with the one outbox of its process
(`register_sender`). One outbox per process, not per channel: an outbox serves
every due recipient it finds in the store, so a second outbox without the other
channel's sender would pick up that channel's messages and park them as "no sender".
"""

from __future__ import annotations

from bot.config import settings
from bot.outbox import Outbox, Sender
from bot.store import Store

_outbox: Outbox | None = None


def shared_outbox() -> Outbox:
    """The process's outbox over the configured store, created on first use."""
    global _outbox
    if _outbox is None:
        cfg = settings()
        _outbox = Outbox(
            Store.open(cfg.db_path),
            {},
            max_attempts=cfg.outbox_max_attempts,
            base_delay=cfg.outbox_retry_base_seconds,
            max_delay=cfg.outbox_retry_max_seconds,
        )
    return _outbox


def register_sender(channel: str, sender: Sender) -> Outbox:
    """Adds (or replaces) a channel's sender in the process's outbox; returns the outbox."""
    outbox = shared_outbox()
    outbox.senders[channel] = sender
    return outbox
