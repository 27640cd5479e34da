"""Masking personal data before it reaches a log line."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d")


def mask(sender_id: str | None) -> str:
    """A conversation id with the middle of its user part hidden.

    "whatsapp:+905321234567" -> "whatsapp:+90*******567", "telegram:12345678" ->
    "telegram:12****78"; enough to tell conversations apart in a log, not to
    contact anyone.
    """
    if not sender_id:
        return "-"
    channel, sep, user = sender_id.rpartition(":")
    keep = 3 if len(user) >= 10 else 2 if len(user) >= 6 else 1
    if len(user) <= 2 * keep:
        hidden = "*" * len(user)
    else:
        hidden = user[:keep] + "*" * (len(user) - 2 * keep) + user[-keep:]
    return f"{channel}{sep}{hidden}"


def mask_text(text: str) -> str:
    """Free text with every digit replaced (phone, card and order numbers)."""
    return _DIGITS.sub("#", text)
