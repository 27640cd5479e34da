"""What every area of the store shares: the connection, time stamps, errors."""

from __future__ import annotations

import sqlite_utils

from bot import clock


def now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return clock.now().isoformat(timespec="seconds")


class NotFound(LookupError):
    """Raised when a record asked for by id does not exist."""


class Area:
    """One area of the store (a mixin of `bot.store.Store`): SQL over `self.db`."""

    db: sqlite_utils.Database
