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


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Runs of six or more digits, possibly with spaces, dashes, dots or a leading
# "+": phone numbers, chat ids, card and order numbers.
_LONG_NUMBER = re.compile(r"\+?\d(?:[\s.-]?\d){5,}")


# A Telegram bot token ("123456789:AA..."), as it appears in Bot API URLs that
# an HTTP library's error text quotes.
_BOT_TOKEN = re.compile(r"(?<!\d)\d{6,}:[A-Za-z0-9_-]{30,}")
# Secret-looking query parameters (?token=..., &auth_token=..., &secret=...).
_SECRET_PARAM = re.compile(
    r"([?&][A-Za-z_]*(?:token|secret|password|key|signature)=)[^&#\s\"']+", re.IGNORECASE
)


def scrub(text: str | None) -> str:
    """Free text (a provider's error body, say) with secrets, e-mails and long numbers masked.

    "To number whatsapp:+905321234567 is invalid" -> "To number whatsapp:+90*******567
    is invalid": a number keeps what `mask` keeps, enough to tell two apart in a
    log. Short numbers (HTTP codes, error codes such as 63016) stay readable. A
    Telegram bot token becomes "<bot-token>", and the value of a query parameter
    named like a secret (`token=`, `secret=`, `key=`...) becomes "<hidden>".
    """
    if not text:
        return ""
    text = _BOT_TOKEN.sub("<bot-token>", text)
    text = _SECRET_PARAM.sub(r"\1<hidden>", text)
    text = _EMAIL.sub("<e-mail>", text)
    return _LONG_NUMBER.sub(lambda found: mask(found.group(0)), text)
