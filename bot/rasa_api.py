"""A thin client for the Rasa server's HTTP API (resume a paused conversation)."""

from __future__ import annotations

from typing import Any, Dict, List
from urllib.parse import quote

import requests


class RasaUnavailable(RuntimeError):
    """The Rasa server could not be reached or refused the request."""


class RasaClient:
    """Talks to `rasa run --enable-api` with its auth token."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _post(self, path: str, body: Any, **params: str) -> Any:
        url = f"{self.base_url}{path}"
        if self.token:
            params["token"] = self.token
        try:
            response = requests.post(url, json=body, params=params, timeout=self.timeout)
        except requests.RequestException as problem:
            raise RasaUnavailable(f"cannot reach Rasa at {self.base_url}: {problem}") from None
        if response.status_code >= 400:
            raise RasaUnavailable(
                f"Rasa answered {response.status_code} for {path}: {response.text[:200]}"
            )
        return response.json() if response.content else None

    def resume(self, conversation_id: str) -> List[Dict[str, Any]]:
        """Resumes a paused conversation and runs `action_handoff_closed` in it.

        Returns the messages the bot sent (for channels that collect them).
        """
        # Rasa (Sanic) does not decode %-escapes in the conversation id, so the
        # characters channel ids use (`whatsapp:+90...`, `telegram:123`) go as they are.
        path = f"/conversations/{quote(conversation_id, safe=':+@')}"
        self._post(f"{path}/tracker/events", {"event": "resume"})
        result = self._post(
            f"{path}/execute", {"name": "action_handoff_closed"}, output_channel="latest"
        )
        # /execute runs the action but predicts nothing after it: listen again, so
        # the customer's next message is handled like any other.
        self._post(f"{path}/tracker/events", {"event": "action", "name": "action_listen"})
        return (result or {}).get("messages", [])
