"""Pieces any channel can use: per-conversation ordering, text splitting, domain responses.

These have no provider in them; `bot/channels/whatsapp.py` shows them in use.
"""

from __future__ import annotations

import asyncio
import logging
import re
from functools import partial
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import yaml

from bot.config import PROJECT_ROOT
from bot.language import normalize, response_variant

logger = logging.getLogger(__name__)

# Cut points, best first: paragraph, line, end of sentence, any white space. A
# sentence ends at . ! ? or … before a word that does not start in lower case
# (so the Turkish ordinal in "19. cümle" is not an end).
_BREAKS = (
    re.compile(r"\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[^\sa-zçğıöşü])"),
    re.compile(r"\s+"),
)


# Whole-message keywords (after folding Turkish letters and case) and their language.
OPT_OUT_WORDS = {
    "stop": "en",
    "stopall": "en",
    "unsubscribe": "en",
    "dur": "tr",
    "durdur": "tr",
    "iptal": "tr",
    "abonelikten cik": "tr",
    "abonelikten cikmak istiyorum": "tr",
    "mesaj gondermeyin": "tr",
}
OPT_IN_WORDS = {"start": "en", "unstop": "en", "basla": "tr", "baslat": "tr"}


def keyword(text: str) -> str:
    """A message reduced for keyword matching: folded, lower case, no punctuation or emoji."""
    return " ".join(re.sub(r"[^\w\s]", " ", normalize(text)).split())


def utf16_len(text: str) -> int:
    """Length as providers count it (UTF-16 code units: an emoji is often two)."""
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """How many characters of `text` fit into `limit` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_text(text: str, limit: int) -> List[str]:
    """`text` in pieces of at most `limit` UTF-16 units, cut where a reader expects it.

    Each cut is the last paragraph break, else line break, else sentence end, else
    space in the allowed window, as long as that keeps the piece at least half
    full; a single word longer than `limit` is cut hard.
    """
    text = text.strip()
    pieces: List[str] = []
    while utf16_len(text) > limit:
        window = text[: _fitting_prefix(text, limit)]
        cut = len(window)
        for pattern in _BREAKS:
            ends = [m.end() for m in pattern.finditer(window) if m.start() >= len(window) // 2]
            if ends:
                cut = ends[-1]
                break
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


class ConversationQueue:
    """Runs jobs one at a time per conversation, in submission order; conversations in parallel.

    Several messages from one customer arriving together are handled in the order
    they came, each after the previous one's replies are written; other customers
    do not wait for them. At most `limit` jobs run at once: the dialogue's work is
    CPU-bound in the server's one event loop, and without a limit a burst of
    customers would starve the webhooks that must acknowledge new messages
    within the provider's timeout.
    """

    def __init__(self, limit: int = 4) -> None:
        self._last: Dict[str, asyncio.Task[None]] = {}
        self._running = asyncio.Semaphore(limit)

    def submit(self, key: str, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Schedules `job` after every job submitted earlier for `key`."""
        previous = self._last.get(key)
        task = asyncio.get_running_loop().create_task(self._after(previous, job))
        self._last[key] = task
        task.add_done_callback(partial(self._done, key))
        return task

    async def _after(
        self, previous: asyncio.Task[None] | None, job: Callable[[], Awaitable[None]]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        async with self._running:
            await job()

    def _done(self, key: str, task: asyncio.Task[None]) -> None:
        if self._last.get(key) is task:
            del self._last[key]
        if not task.cancelled() and task.exception() is not None:
            logger.error("conversation job failed", exc_info=task.exception())

    async def cancel(self) -> None:
        """Cancels every waiting and running job (server shutdown)."""
        tasks = list(self._last.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class DomainResponses:
    """Responses from `domain.yml` that a channel sends itself, in the customer's language.

    A channel answers a few things without the dialogue (media it cannot read,
    opt-out confirmations, "something went wrong"); their texts live in the
    domain with every other text, in the same language variants.
    """

    def __init__(self, domain_path: Path = PROJECT_ROOT / "domain.yml") -> None:
        domain = yaml.safe_load(domain_path.read_text(encoding="utf-8"))
        self.responses: Dict[str, List[Dict[str, Any]]] = domain.get("responses") or {}

    def render(self, name: str, language: str | None) -> Dict[str, Any]:
        """The variant of response `name` for `language` ("tr", "en"), else the bilingual one."""
        return self._message(response_variant(self.responses[name], language))

    @staticmethod
    def _message(variant: Dict[str, Any]) -> Dict[str, Any]:
        return {key: value for key, value in variant.items() if key in ("text", "buttons")}


async def conversation_state(app: Any, sender: str) -> Tuple[str | None, bool]:
    """A conversation's language and whether a person has it (paused), from Rasa's tracker."""
    from bot.nlg import tracker_language  # Rasa's modules: only in the server process

    agent = getattr(app.ctx, "agent", None) if app else None
    tracker = await agent.tracker_store.retrieve(sender) if agent else None
    if tracker is None:
        return None, False
    return tracker_language(tracker), tracker.is_paused()
