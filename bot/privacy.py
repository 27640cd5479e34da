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


# -- what the desk, exports and the report show -----------------------------------
#
# Admins see customers' ids and phone numbers as they are; everyone else sees a
# masked form that stays the same for one customer, so agents can still tell two
# conversations apart: "whatsapp:+905551112233" -> "whatsapp:+90 5** *** **33".

ADMIN = "admin"
# A conversation id's user part that is a phone number: an optional "+" and 8-15 digits.
_PHONE_ID = re.compile(r"\+?\d{8,15}")


def _masked_digits(digits: str) -> str:
    """National digits with the first and the last two kept, in groups: "5** *** **33"."""
    if len(digits) <= 3:
        return "*" * len(digits)
    hidden = digits[0] + "*" * (len(digits) - 3) + digits[-2:]
    if len(hidden) == 10:  # Turkish (and most) national numbers read 3 3 2 2
        return f"{hidden[:3]} {hidden[3:6]} {hidden[6:8]}{hidden[8:]}"
    return " ".join(hidden[i : i + 3] for i in range(0, len(hidden), 3))


def mask_phone(number: str) -> str:
    """A phone number masked for people who are not admins: "+905551112233" -> "+90 5** *** **33".

    The country code (what comes before the last ten digits) stays, with the first
    national digit and the last two.
    """
    digits = re.sub(r"\D", "", number)
    plus = "+" if number.strip().startswith("+") or len(digits) > 10 else ""
    country, national = (digits[:-10], digits[-10:]) if len(digits) > 10 else ("", digits)
    if country and not plus:
        plus = "+"
    head = f"{plus}{country} " if country else plus
    return head + _masked_digits(national)


def display_sender(sender_id: str | None, role: str | None) -> str:
    """A customer's conversation id as `role` may see it: whole for admins, masked otherwise.

    "whatsapp:+905551112233" -> "whatsapp:+90 5** *** **33" for agents, editors,
    trainers (and anyone without a role); a non-phone id (Telegram chat ids, web
    chat visitors) keeps what `mask` keeps. The desk's pages, CSV exports and the
    post-crisis report call this.
    """
    if not sender_id:
        return "-"
    if role == ADMIN:
        return sender_id
    channel, sep, user = sender_id.rpartition(":")
    if _PHONE_ID.fullmatch(user) and (user.startswith("+") or channel in ("whatsapp", "sms")):
        return f"{channel}{sep}{mask_phone(user)}"
    return mask(sender_id)


def display_text(text: str | None, role: str | None) -> str:
    """Free text (a customer's message, a note) with phone numbers masked unless `role` is admin.

    "beni 0532 123 45 67 den arayın" -> "beni 0*** *** ** 67 den arayın": the
    separators stay, every digit but the first and the last two is hidden. Other
    numbers (orders, tickets) stay readable: agents need them.
    """
    if not text:
        return text or ""
    if role == ADMIN:
        return text
    from bot.training.scrub import PHONE

    def hide(found: re.Match[str]) -> str:
        number = found.group(0)
        positions = [i for i, char in enumerate(number) if char.isdigit()]
        keep = {positions[0], *positions[-2:]} if len(positions) > 3 else set()
        country = re.match(r"\+\d{1,3}", number)
        if country:  # the country code stays, then the first national digit
            national = [i for i in positions if i >= country.end()]
            keep = set(range(country.end())) | {national[0], *national[-2:]}
        return "".join(
            char if not char.isdigit() or i in keep else "*" for i, char in enumerate(number)
        )

    return PHONE.sub(hide, text)


def template_filters() -> dict:
    """Jinja filters for the desk's templates; each reads the page's `user` for the role.

    `{{ handoff.sender_id|sender }}` (display_sender) and `{{ line.text|phones }}`
    (display_text).
    """
    from jinja2 import pass_context

    def role(context: object) -> str | None:
        user = context.get("user") if hasattr(context, "get") else None  # type: ignore[union-attr]
        return user.get("role") if isinstance(user, dict) else None

    @pass_context
    def sender(context: object, sender_id: str | None) -> str:
        return display_sender(sender_id, role(context))

    @pass_context
    def phones(context: object, text: str | None) -> str:
        return display_text(text, role(context))

    return {"sender": sender, "phones": phones}
