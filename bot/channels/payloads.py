"""Typed text is never a command: the one place where a slash stops meaning "intent".

Rasa reads any message that starts with "/" as an intent name with slot JSON
(`/complaint{"order_number": "X"}`). A customer can type that, so no channel
passes a customer's text to Rasa as it is:

- a button payload reaches Rasa as `/intent{...}` only when the bot offered it to
  that conversation and it has not been used (`Store.offer_payloads`,
  `Store.take_payload`; the channel pipeline checks), and only when it names one of
  the domain's own intents (`payload_allowed`): Rasa's control intents (restart,
  back, session_start, nlu_fallback) never come from a customer;
- everything else goes through `as_text`, which takes the leading slash away, so
  the NLU reads it as words.

No Rasa import here: the desk and the CLI can use it too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable

import yaml

from bot.config import PROJECT_ROOT

# Rasa's own intents: they steer the dialogue engine itself, so no customer sends them.
CONTROL_INTENTS = frozenset({"restart", "back", "session_start", "nlu_fallback"})
# `/intent`, `/intent{"slot": "value"}` or `/intent@0.9{...}` as Rasa reads them.
_PAYLOAD = re.compile(r"^/(?P<intent>[^\s{}@]+)(?:@[\d.]+)?(?P<entities>\{.*\})?$", re.DOTALL)


def as_text(text: str | None) -> str:
    """What a customer typed, as words for the NLU: never a Rasa command.

    Leading slashes go (with the spaces after them), and so does a Telegram
    "@botname" glued to the first word ("/help@kuzeybot me" -> "help me"); the
    rest is left as typed. An empty result stays empty (the bot asks for words).
    """
    text = (text or "").strip()
    if not text.startswith("/"):
        return text
    text = text.lstrip("/ \t\n")
    first, space, rest = text.partition(" ")
    if "@" in first and not first.startswith("@"):
        first = first.partition("@")[0]
    return f"{first}{space}{rest}".strip()


def payload_intent(payload: str | None) -> str | None:
    """The intent a payload like `/affirm` or `/complaint{...}` names, else None."""
    found = _PAYLOAD.match((payload or "").strip())
    return found.group("intent") if found else None


def domain_intents(domain_path: Path = PROJECT_ROOT / "domain.yml") -> FrozenSet[str]:
    """The intents the domain declares itself, without Rasa's control intents."""
    domain: Dict[str, Any] = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    names = set()
    for entry in domain.get("intents") or []:
        names.update(entry) if isinstance(entry, dict) else names.add(str(entry))
    return frozenset(names - CONTROL_INTENTS)


def payload_allowed(payload: str | None, intents: Iterable[str]) -> bool:
    """Whether `payload` may reach Rasa: a well-formed payload naming one of `intents`."""
    intent = payload_intent(payload)
    return intent is not None and intent in set(intents) and intent not in CONTROL_INTENTS


def button_payloads(buttons: Iterable[Dict[str, Any]]) -> list[str]:
    """The payloads a message's buttons can send back (link buttons send none)."""
    found = []
    for button in buttons:
        payload = button.get("payload")
        if not payload or button.get("url") or button.get("type") == "web_url":
            continue
        found.append(str(payload))
    return found
