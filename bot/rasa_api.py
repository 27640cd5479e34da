"""A thin client for the Rasa server's HTTP API: read a tracker, add events, resume.

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
# The external intent the desk triggers when an agent hands a conversation back.
HANDOFF_CLOSED_INTENT = "EXTERNAL_handoff_closed"


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

    def _request(
        self,
        method: str,
        path: str,
        shown: str,
        body: Any = None,
        timeout: float | None = None,
        **params: str,
    ) -> Any:
        """Sends one request to `path`; `shown` is the path as error texts may print it."""
        where = safe_base_url(self.base_url)
        try:
            response = requests.request(
                method,
                f"{self.base_url}{path}",
                json=body,
                params=params,
                headers=auth_headers(self.token),
                timeout=timeout or self.timeout,
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

    def _post(self, path: str, shown: str, body: Any, **params: str) -> Any:
        """POSTs `body` to `path`; `shown` is the path as error texts may print it."""
        return self._request("POST", path, shown, body, **params)

    @staticmethod
    def _paths(conversation_id: str) -> tuple[str, str]:
        """The conversation's API path, and the same with the id masked (for error texts)."""
        # Rasa (Sanic) does not decode %-escapes in the conversation id, so the
        # characters channel ids use (`whatsapp:+90...`, `telegram:123`) go as they are.
        return (
            f"/conversations/{quote(conversation_id, safe=':+@')}",
            f"/conversations/{mask(conversation_id)}",
        )

    def tracker(self, conversation_id: str) -> Dict[str, Any]:
        """The conversation's whole tracker from the tracker store (every event, all sessions)."""
        path, shown = self._paths(conversation_id)
        return self._request(
            "GET", f"{path}/tracker", f"{shown}/tracker", include_events="ALL"
        ) or {"sender_id": conversation_id, "events": [], "paused": False}

    def append_events(self, conversation_id: str, events: List[Dict[str, Any]]) -> None:
        """Appends events to the tracker as they are: nothing is sent, nothing predicted."""
        path, shown = self._paths(conversation_id)
        self._post(f"{path}/tracker/events", f"{shown}/tracker/events", events)

    def record_agent_reply(
        self, conversation_id: str, text: str, agent: str, **metadata: Any
    ) -> None:
        """Writes an agent's reply into the tracker as a bot message that names the agent.

        The message itself goes to the customer through the outbox; this keeps the
        history whole (Rasa's tracker then holds customer, bot and agent messages).
        """
        event = {
            "event": "bot",
            "text": text,
            "timestamp": time.time(),
            "metadata": {"agent": agent, "sent_by": "desk", **metadata},
        }
        self.append_events(conversation_id, [event])

    def status(self) -> Dict[str, Any]:
        """The server's `/status`: the loaded model's file, id and fingerprint."""
        return self._request("GET", "/status", "/status") or {}

    def parse(self, text: str) -> Dict[str, Any]:
        """The loaded model's parse of `text` (intent, ranking, entities), nothing tracked."""
        return self._post("/model/parse", "/model/parse", {"text": text}) or {}

    def load_model(self, model_file: str, timeout: float = 180.0) -> None:
        """Replaces the server's model with `model_file` (a path the server can read).

        Rasa's `PUT /model` loads the whole model before it answers, which takes
        longer than other calls (`timeout`); the old model serves until then.
        """
        self._request(
            "PUT", "/model", "/model", {"model_file": model_file}, max(self.timeout, timeout)
        )

    def resume(self, conversation_id: str) -> List[Dict[str, Any]]:
        """Resumes a paused conversation; the bot thanks the customer and asks for a rating.

        The tracker gets a `resume` and an `action_listen` event, then the desk's
        external intent `EXTERNAL_handoff_closed` is triggered (`trigger_intent`, the
        API that replaced the deprecated `/execute`); its rule runs
        `action_handoff_closed`, and Rasa itself predicts the `action_listen` after it.
        The messages go to the conversation's latest channel; they are also returned.
        """
        path, shown = self._paths(conversation_id)
        # A paused conversation never got the `action_listen` that follows every bot
        # turn (Rasa stops predicting at the pause), so without it the external intent
        # would follow `action_handoff`, no rule would match (rules start after
        # `action_listen`), and `action_fallback` would hand the customer over again.
        self._post(
            f"{path}/tracker/events",
            f"{shown}/tracker/events",
            [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
        )
        result = self._post(
            f"{path}/trigger_intent",
            f"{shown}/trigger_intent",
            {"name": HANDOFF_CLOSED_INTENT},
            output_channel="latest",
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
