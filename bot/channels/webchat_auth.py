"""The web chat's secrets: the desk signs what it forwards, and signs the visitor's cookie.

No Rasa import here: the desk (bot/desk/chat.py) and the Rasa channel
(bot/channels/webchat.py) both use it.

One secret, WEBCHAT_SECRET, or (when it is empty) one derived from RASA_TOKEN,
which both processes read from the same `.env`. Each use gets its own key from
it (HMAC-SHA256 with a label), so a cookie signature can never be replayed as a
request signature or a CSRF token:

- **requests** from the desk to `/webhooks/webchat/webhook` carry
  `X-Crisisdesk-Signature: t=<unix time>,v1=<hex HMAC of "t." + body>`; a request
  older than `MAX_AGE_SECONDS` (or from the future) is refused, so a captured
  request cannot be replayed later (within the window the message id makes a
  replay a known message, dropped);
- the **visitor cookie** is `<visitor id>.<HMAC of it>`: knowing a conversation id
  (`webchat:<visitor id>`, shown to agents) is not enough to write as that customer;
- the **CSRF token** of a visitor is an HMAC of the visitor id: nothing stored, and
  another site cannot read it from the page.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

SIGNATURE_HEADER = "X-Crisisdesk-Signature"
MAX_AGE_SECONDS = 300
VISITOR_ID = re.compile(r"^[0-9a-f]{32}$")
_SIGNATURE = re.compile(r"^t=(?P<t>\d{1,12}),v1=(?P<v1>[0-9a-f]{64})$")


def base_secret(webchat_secret: str, rasa_token: str) -> bytes:
    """The web chat's secret: WEBCHAT_SECRET, else derived from RASA_TOKEN.

    Raises:
        ValueError: when both are empty (nothing can be signed safely).
    """
    if webchat_secret:
        return webchat_secret.encode("utf-8")
    if not rasa_token:
        raise ValueError("the web chat needs WEBCHAT_SECRET or RASA_TOKEN")
    return hmac.new(rasa_token.encode("utf-8"), b"crisisdesk webchat v1", hashlib.sha256).digest()


def _key(base: bytes, use: str) -> bytes:
    return hmac.new(base, f"crisisdesk webchat {use}".encode(), hashlib.sha256).digest()


def _mac(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


class WebchatKeys:
    """The keys for requests, cookies and CSRF tokens, from one secret."""

    def __init__(self, base: bytes) -> None:
        self._request = _key(base, "request")
        self._cookie = _key(base, "cookie")
        self._csrf = _key(base, "csrf")

    @classmethod
    def from_settings(cls, cfg: object) -> WebchatKeys:
        """Keys from `bot.config.Settings` (WEBCHAT_SECRET or RASA_TOKEN)."""
        return cls(base_secret(getattr(cfg, "webchat_secret", ""), getattr(cfg, "rasa_token", "")))

    # -- requests from the desk to the Rasa channel --------------------------------------

    def sign(self, body: bytes, at: float | None = None) -> str:
        """The signature header value for a request body."""
        stamp = int(time.time() if at is None else at)
        return f"t={stamp},v1={_mac(self._request, f'{stamp}.'.encode() + body)}"

    def verify(self, body: bytes, header: str | None, at: float | None = None) -> bool:
        """Whether `header` signs `body` with our key, made within `MAX_AGE_SECONDS`."""
        found = _SIGNATURE.match((header or "").strip())
        if not found:
            return False
        stamp = int(found.group("t"))
        if abs((time.time() if at is None else at) - stamp) > MAX_AGE_SECONDS:
            return False
        expected = _mac(self._request, f"{stamp}.".encode() + body)
        return hmac.compare_digest(expected, found.group("v1"))

    # -- the visitor's cookie and CSRF token --------------------------------------------

    def new_cookie(self) -> tuple[str, str]:
        """A new visitor: (visitor id, cookie value)."""
        visitor = secrets.token_hex(16)
        return visitor, self.cookie_for(visitor)

    def cookie_for(self, visitor: str) -> str:
        """The cookie value that proves `visitor`."""
        return f"{visitor}.{_mac(self._cookie, visitor.encode())}"

    def visitor_of(self, cookie: str | None) -> str | None:
        """The visitor id a cookie proves, None for a missing, malformed or forged one."""
        visitor, _, mac = (cookie or "").partition(".")
        if not VISITOR_ID.match(visitor) or len(mac) != 64:
            return None
        if not hmac.compare_digest(_mac(self._cookie, visitor.encode()), mac):
            return None
        return visitor

    def csrf_token(self, visitor: str) -> str:
        """The visitor's CSRF token (the page sends it back with every message)."""
        return _mac(self._csrf, visitor.encode())

    def csrf_ok(self, visitor: str, token: str | None) -> bool:
        """Whether `token` is the visitor's CSRF token."""
        return bool(token) and hmac.compare_digest(self.csrf_token(visitor), str(token))
