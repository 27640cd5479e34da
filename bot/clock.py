"""The one clock of crisisdesk's own records: real UTC time, or a simulated one.

Everything the store time-stamps (`bot.store.base.now`), the desk's default
clock and the crisis operations (alerts, corrections, the WhatsApp window, the
report) read the time here. In production this is `datetime.now(timezone.utc)`.

A simulation (the scripted crisis day of the tests) sets `CRISISDESK_CLOCK_FILE`
to a file holding a number of seconds; every process that reads this clock then
runs that far ahead of real time, and the simulation moves all of them forward
at once by rewriting the file (`advance`). The file is read again only when its
modification time changes, so a call costs one `stat`. Rasa's own event
timestamps stay real; crisisdesk's analytics use the store's times.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Tuple

ENV = "CRISISDESK_CLOCK_FILE"

_cache: Tuple[Tuple[str, int, int], float] = (("", -1, -1), 0.0)  # (path, mtime, inode), offset


def offset() -> float:
    """Seconds the simulated clock runs ahead of real time (0 without a clock file)."""
    global _cache
    path = os.environ.get(ENV, "")
    if not path:
        return 0.0
    try:
        info = os.stat(path)
    except OSError:
        return 0.0
    key = (path, info.st_mtime_ns, info.st_ino)
    if _cache[0] == key:
        return _cache[1]
    try:
        value = float(Path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        value = 0.0
    _cache = (key, value)
    return value


def timestamp() -> float:
    """Unix seconds on crisisdesk's clock."""
    return time.time() + offset()


def now() -> datetime:
    """The current time on crisisdesk's clock, timezone-aware UTC."""
    return datetime.fromtimestamp(timestamp(), timezone.utc)


def advance(path: Path, seconds: float) -> float:
    """Moves a simulated clock forward by `seconds` (for simulations); returns the new offset."""
    try:
        current = float(path.read_text().strip() or 0)
    except (OSError, ValueError):
        current = 0.0
    value = current + seconds
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(repr(value))
    os.replace(temporary, path)
    return value
