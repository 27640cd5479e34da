"""The desk's events in Rasa's tracker: each once, in order, also after Rasa was down.

An agent's reply reaches the customer through the outbox whether Rasa answers or
not; the bot message that records it in the tracker (naming the agent) is owed to
the tracker from the moment the reply is recorded: `record_reply(...,
tracker_event=...)` writes both in one transaction (`tracker_appends`,
bot/store/desk.py). `TrackerAppender.flush(sender)` then appends what the
conversation is owed:

- in the order it was owed, in one `POST /conversations/<id>/tracker/events`, each
  event with its original `timestamp` (Rasa keeps it; the SQL tracker store keeps
  events in the order they came, so the desk's transcript sorts by time);
- by one holder at a time: the holder leases the conversation's oldest owed row
  for `LEASE_SECONDS` (several desk processes, or a reply and the retry loop of
  one process, never append the same rows or overtake each other);
- exactly once: each event carries `desk_append_id`; when an earlier attempt may
  have reached Rasa (a timeout, or a holder that died after posting), the
  tracker is read first and what it already has is not posted again.

The reply route flushes at once; when Rasa is down the reply stays owed and the
retry loop (`start`, every `RETRY_SECONDS`, started by bot/desk/lifespan.py)
appends it once Rasa answers again, then forgets the row and marks the reply
`in_tracker`. Meanwhile the conversation view shows the owed reply in its place,
marked `NOT_YET`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any, Callable, Dict, Iterable, List, Set

from bot.privacy import mask
from bot.rasa_api import RasaClient, RasaUnavailable

logger = logging.getLogger(__name__)

# Seconds between two rounds of the retry loop (one small query when nothing is owed).
RETRY_SECONDS = 5.0
# How long a holder owns a conversation's owed events: far longer than one flush
# (a tracker read and one post, RasaClient's 10 s timeout each).
LEASE_SECONDS = 60.0
# How the conversation view marks an owed event.
NOT_YET = "not yet in the bot's history"


def agent_reply_event(text: str, agent: str, at: float, **metadata: Any) -> Dict[str, Any]:
    """The bot message that records an agent's reply in the tracker, naming the agent."""
    return {
        "event": "bot",
        "text": text,
        "timestamp": at,
        "metadata": {"agent": agent, "sent_by": "desk", **metadata},
    }


def owed_event(row: Dict[str, Any]) -> Dict[str, Any]:
    """An owed row's event as it is posted: marked with its row (and reply) id."""
    event = dict(row["event"])
    metadata = {**(event.get("metadata") or {}), "desk_append_id": row["id"]}
    if row.get("reply_id") is not None:
        metadata["desk_reply_id"] = row["reply_id"]
    event["metadata"] = metadata
    return event


def appended_ids(events: Iterable[Dict[str, Any]]) -> Set[int]:
    """The `desk_append_id`s of the tracker's events (what it already has of the desk's)."""
    found = set()
    for event in events:
        value = (event.get("metadata") or {}).get("desk_append_id")
        if isinstance(value, int):
            found.add(value)
    return found


class TrackerAppender:
    """Appends the events the tracker is owed; `start()` retries them in the background.

    Args:
        store: the desk's `AsyncStore`.
        rasa: returns the Rasa HTTP API client (the app's, made on first use).
        clock: now, in Unix seconds (the leases' time).
    """

    def __init__(
        self,
        store: Any,
        rasa: Callable[[], RasaClient],
        *,
        clock: Callable[[], float] = time.time,
        interval: float = RETRY_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.rasa = rasa
        self.clock = clock
        self.interval = interval
        self.lease_seconds = lease_seconds
        self.task: asyncio.Task[None] | None = None
        self.failing = False  # the last round could not reach Rasa (logged once)

    async def flush(self, sender: str) -> int:
        """Appends what `sender`'s tracker is owed; returns how many it now has.

        0 also when another holder is appending them right now.

        Raises:
            RasaUnavailable: Rasa could not be reached or refused; they stay owed.
        """
        holder = secrets.token_hex(8)
        rows = await self.store.claim_tracker_appends(
            sender, holder, self.clock(), self.lease_seconds
        )
        if not rows:
            return 0
        client = self.rasa()
        try:
            todo = rows
            if any(row["attempts"] > 0 for row in rows):
                # An earlier post may have reached Rasa: post only what it lacks.
                tracker = await asyncio.to_thread(client.tracker, sender)
                present = appended_ids(tracker.get("events") or [])
                todo = [row for row in rows if row["id"] not in present]
            if todo:
                events = [owed_event(row) for row in todo]
                await asyncio.to_thread(client.append_events, sender, events)
        except BaseException as problem:
            await self.store.release_tracker_appends(sender, holder, str(problem))
            raise
        await self.store.finish_tracker_appends([row["id"] for row in rows])
        if any(row["attempts"] > 0 for row in rows):
            logger.info("history: %s event(s) appended late for %s", len(rows), mask(sender))
        return len(rows)

    async def sweep(self) -> int:
        """One round: every conversation that is owed events, longest owed first.

        Stops at the first conversation Rasa cannot take (the next round tries
        again); returns how many events were appended.
        """
        appended = 0
        for sender in await self.store.tracker_append_senders():
            try:
                appended += await self.flush(sender)
            except RasaUnavailable as problem:
                if not self.failing:
                    logger.warning("history: Rasa not reachable, events stay owed: %s", problem)
                self.failing = True
                return appended
        if self.failing and appended:
            logger.info("history: Rasa answers again")
        self.failing = False
        return appended

    # -- the background task -----------------------------------------------------------

    def start(self) -> None:
        """Retries every `interval` seconds in the running event loop (idempotent)."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name="crisisdesk-tracker-appends"
            )

    async def stop(self) -> None:
        """Stops the background task (a lease it held runs out; nothing is lost)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the database is locked: the next round tries again
                logger.exception("history: retry round failed")


def tracker_appender(app: Any) -> TrackerAppender:
    """The app's appender (made once, on the app's store and Rasa client)."""
    found = getattr(app.state, "tracker_appends", None)
    if found is None:
        from bot.desk.conversations import rasa_client

        found = app.state.tracker_appends = TrackerAppender(
            app.state.store, lambda: rasa_client(app)
        )
    return found


def owed_events(rows: List[Dict[str, Any]], present: Set[int]) -> List[Dict[str, Any]]:
    """The owed events the tracker does not have yet (`present`), as they will be posted."""
    return [owed_event(row) for row in rows if row["id"] not in present]
