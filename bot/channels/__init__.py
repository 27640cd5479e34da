"""Customer channels: Rasa custom input channels, one module each, and what they share.

The channels of one Rasa server process register their senders with one outbox
(`register_sender`): one store connection and one delivery loop for all of them.
(An outbox only delivers the channels it has senders for, so a channel may also
run its own.)
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
            rates=cfg.outbox_rates(),
        )
    return _outbox


def register_sender(channel: str, sender: Sender) -> Outbox:
    """Adds (or replaces) a channel's sender in the process's outbox; returns the outbox."""
    outbox = shared_outbox()
    outbox.senders[channel] = sender
    return outbox
