"""Twilio for WhatsApp without Rasa: the sender, webhook signatures, numbered options.

The WhatsApp input channel (`bot/channels/whatsapp.py`) uses these, and so can
any process that sends to WhatsApp customers without running Rasa (the desk):
`TwilioSender` is an outbox `Sender`. Nothing here imports Rasa or Sanic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Dict, List, Sequence
from urllib.parse import parse_qs

import aiohttp
from twilio.request_validator import RequestValidator

from bot.outbox import PermanentFailure, TemporaryFailure
from bot.privacy import scrub

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
# Twilio refuses WhatsApp bodies longer than 1600 characters.
MAX_CHARS = 1600
_CHOICE = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")
_KEYCAP = re.compile("[\ufe0f\u20e3]")


def whatsapp_address(number: str) -> str:
    """`+905321234567` or `whatsapp:+905321234567` as Twilio's `whatsapp:+...` address."""
    number = number.strip()
    return number if number.startswith(f"{CHANNEL}:") else f"{CHANNEL}:{number}"


def with_numbered_options(text: str, buttons: Sequence[Dict[str, Any]]) -> str:
    """The text followed by one numbered line per button ("1. Evet\\n2. Hayır")."""
    options = "\n".join(f"{i}. {b.get('title', '')}" for i, b in enumerate(buttons, start=1))
    return f"{text}\n\n{options}" if text else options


def chosen_payload(text: str, options: Sequence[Dict[str, Any]]) -> str | None:
    """The payload of the option a reply like "1", "2.", "2)" or "2️⃣" picks, else None."""
    found = _CHOICE.match(_KEYCAP.sub("", text))
    if not found:
        return None
    index = int(found.group(1)) - 1
    if 0 <= index < len(options):
        return str(options[index]["payload"])
    return None


class FormFields(Dict[str, List[str]]):
    """A form's fields, every value kept (`get` gives the first, `getlist` all)."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """The field's first value, else `default`."""
        values = super().get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> List[str]:
        """Every value of the field (the twilio validator signs them all)."""
        return list(super().get(name) or [])


def signed_form(
    validator: RequestValidator, url: str, body: bytes, signature: str
) -> FormFields | None:
    """The fields of a form POST to `url` if Twilio's `signature` matches them, else None.

    Twilio signs the URL it called (our public one, not the address behind a
    proxy) followed by every field, empty ones included; Sanic's own form parser
    drops empty fields (a media message's Body), so the body is parsed here.
    """
    params = FormFields(parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    if signature and validator.validate(url, params, signature):
        return params
    return None


def media_of(params: FormFields) -> List[Dict[str, str]]:
    """What a Twilio request carries besides text: media content types and a location."""
    media = [
        {"type": params.get(f"MediaContentType{i}") or "unknown"}
        for i in range(int(params.get("NumMedia") or 0))
    ]
    if params.get("Latitude") and params.get("Longitude"):
        media.append({"type": "location"})
    return media


class TwilioSender:
    """Sends outbox messages through Twilio's Messages API (the outbox's `Sender`).

    Args:
        account_sid: the Twilio account (AC...).
        auth_token: its auth token (HTTP basic auth password).
        from_number: the WhatsApp sender number (`+1415...` or `whatsapp:+1415...`).
        api_base_url: Twilio's API root (tests point it at a local fake).
        status_callback: the URL Twilio posts delivery reports to.
        timeout: seconds one HTTP request may take.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base_url: str,
        status_callback: str,
        timeout: float = 15.0,
    ) -> None:
        self.url = f"{api_base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = aiohttp.BasicAuth(account_sid, auth_token)
        self.from_address = whatsapp_address(from_number)
        self.status_callback = status_callback
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, recipient: str, message: Dict[str, Any]) -> str:
        """Posts one message; returns Twilio's MessageSid.

        Raises:
            TemporaryFailure: 429, 5xx, timeouts and network errors.
            PermanentFailure: any other refusal (bad number, bad credentials...).
        """
        form = {"From": self.from_address, "To": recipient, "StatusCallback": self.status_callback}
        if message.get("content_sid"):
            # An approved template (the only kind WhatsApp delivers outside the 24-hour
            # window): Twilio fills it from ContentVariables, a JSON object.
            form["ContentSid"] = str(message["content_sid"])
            form["ContentVariables"] = json.dumps(
                message.get("content_variables") or {}, ensure_ascii=False
            )
        elif message.get("text"):
            form["Body"] = message["text"]
        if message.get("media_url"):
            form["MediaUrl"] = message["media_url"]
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(self.url, data=form, auth=self.auth) as answer:
                status, body = answer.status, await answer.text()
                retry_after = answer.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as problem:
            raise TemporaryFailure(f"twilio unreachable: {problem!r}") from problem
        if 200 <= status < 300:
            try:
                return str(json.loads(body)["sid"])
            except (ValueError, KeyError, TypeError):
                # Accepted all the same: sending again would duplicate the message.
                logger.warning("twilio accepted a message without a readable sid")
                return ""
        # Twilio's error text can repeat the customer's number: masked before it
        # reaches a log line or the outbox row's last_error.
        detail = f"twilio HTTP {status}: {scrub(body[:300])}"
        if status in (408, 429) or status >= 500:
            seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
            raise TemporaryFailure(detail, retry_after=seconds)
        raise PermanentFailure(detail)

    async def close(self) -> None:
        """Closes the HTTP session."""
        if self._session is not None:
            await self._session.close()
