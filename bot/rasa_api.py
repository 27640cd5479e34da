"""A thin client for the Rasa server's HTTP API (resume a paused conversation).

The Rasa server is started by `bot/launch.py` with `--jwt-secret RASA_TOKEN`, so a
request proves it knows the token by sending a short-lived HS256 JWT in
`Authorization: Bearer`, signed with the token. The token itself never travels in
a URL (where proxies and access logs keep it), and no error text names it.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List
from urllib.parse import quote, urlsplit

import jwt
import requests

from bot.privacy import mask, scrub

# Long enough for one request or a server start-up poll, short enough that a
# copied header is soon useless.
TOKEN_LIFETIME_SECONDS = 60


class RasaUnavailable(RuntimeError):
    """The Rasa server could not be reached or refused the request."""


def api_jwt(secret: str, lifetime: float = TOKEN_LIFETIME_SECONDS) -> str:
    """A JWT with Rasa's admin role, signed with `secret` (RASA_TOKEN), valid `lifetime` s."""
    now = int(time.time())
    payload = {
        "user": {"username": "crisisdesk", "role": "admin"},
        "iat": now,
        "exp": now + int(lifetime),
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def auth_headers(secret: str) -> Dict[str, str]:
    """The `Authorization` header for one request to Rasa's HTTP API (none without a secret)."""
    return {"Authorization": f"Bearer {api_jwt(secret)}"} if secret else {}


def safe_base_url(url: str) -> str:
    """`url` reduced to scheme, host and port: no user, password, path or query in messages."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "the configured RASA_URL"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _reason(problem: requests.RequestException) -> str:
    """Why a request failed, in words that carry no URL (requests' own text has the URL)."""
    if isinstance(problem, requests.Timeout):
        return "no answer in time"
    if isinstance(problem, requests.ConnectionError):
        return "connection refused or host unreachable (is `make run` running?)"
    return type(problem).__name__


class RasaClient:
    """Talks to `rasa run --enable-api --jwt-secret RASA_TOKEN`."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _post(self, path: str, shown: str, body: Any, **params: str) -> Any:
        """POSTs `body` to `path`; `shown` is the path as error texts may print it."""
        where = safe_base_url(self.base_url)
        try:
            response = requests.post(
                f"{self.base_url}{path}",
                json=body,
                params=params,
                headers=auth_headers(self.token),
                timeout=self.timeout,
            )
        except requests.RequestException as problem:
            raise RasaUnavailable(f"cannot reach Rasa at {where}: {_reason(problem)}") from None
        if response.status_code in (401, 403):
            raise RasaUnavailable(
                f"Rasa at {where} refused {shown} ({response.status_code}): does RASA_TOKEN "
                "match the one the Rasa server was started with?"
            )
        if response.status_code >= 400:
            body = (
                response.text.replace(self.token, "<RASA_TOKEN>") if self.token else response.text
            )
            detail = scrub(body[:200])
            raise RasaUnavailable(
                f"Rasa at {where} answered {response.status_code} for {shown}: {detail}"
            )
        return response.json() if response.content else None

    def resume(self, conversation_id: str) -> List[Dict[str, Any]]:
        """Resumes a paused conversation and runs `action_handoff_closed` in it.

        Returns the messages the bot sent (for channels that collect them).
        """
        # Rasa (Sanic) does not decode %-escapes in the conversation id, so the
        # characters channel ids use (`whatsapp:+90...`, `telegram:123`) go as they are.
        path = f"/conversations/{quote(conversation_id, safe=':+@')}"
        shown = f"/conversations/{mask(conversation_id)}"
        self._post(f"{path}/tracker/events", f"{shown}/tracker/events", {"event": "resume"})
        result = self._post(
            f"{path}/execute",
            f"{shown}/execute",
            {"name": "action_handoff_closed"},
            output_channel="latest",
        )
        # /execute runs the action but predicts nothing after it: listen again, so
        # the customer's next message is handled like any other.
        self._post(
            f"{path}/tracker/events",
            f"{shown}/tracker/events",
            {"event": "action", "name": "action_listen"},
        )
        return (result or {}).get("messages", [])


if __name__ == "__main__":
    # `python -m bot.rasa_api`: a JWT for calling the HTTP API by hand (curl -H ...),
    # valid TOKEN_LIFETIME_SECONDS; the token itself is never printed.
    import sys

    from bot.config import settings

    if not settings().rasa_token:
        sys.exit("RASA_TOKEN is not set (environment or .env)")
    print(api_jwt(settings().rasa_token))
