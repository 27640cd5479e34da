"""The desk's live feed: Rasa's own event broker and the store's handoff changes, as they happen.

Rasa publishes every conversation event (customer and bot messages, pauses,
resumes, slots...) to the event broker configured in `endpoints.yml`. By default
that is Rasa's SQL event broker on a local SQLite file (`var/rasa_events.db`,
table `events`: id, sender_id, data as JSON). The store writes every handoff
transition to `handoff_changes` in the same transaction as the change itself.

One `LiveFeed` per desk process runs one reader task that tails both tables by id
(nothing is replayed from before the desk started) and fans each new row out to
every subscriber's bounded queue; subscribers are the desk's server-sent event
streams (`/queue/events`, a conversation's view). The tracker API is never polled.

    feed = live_feed(request.app)          # started on first use
    async with feed.subscribe(sender_id="whatsapp:+90...") as events:
        event = await events.get()         # a FeedEvent

At scale Rasa's RabbitMQ (`type: pika`) or Kafka broker replaces the SQL one;
only `BrokerReader` changes (a queue or topic consumer instead of the table
tail); subscribers see the same `FeedEvent`s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Set, Tuple

import yaml

from bot.config import PROJECT_ROOT
from bot.privacy import mask

logger = logging.getLogger(__name__)

# How often the reader looks for new rows when the last look found none.
POLL_SECONDS = 0.2
# Rows read per look, per table.
BATCH = 500
# Events a subscriber may fall behind by before the oldest are dropped (it is told).
SUBSCRIBER_BACKLOG = 200
# Rasa event types a desk cares about (the rest, e.g. slots and action runs, are skipped).
RASA_EVENT_TYPES = frozenset({"user", "bot", "pause", "resume", "session_started"})


@dataclass
class FeedEvent:
    """One thing that happened: a Rasa event (`source` "rasa") or a handoff change ("handoff").

    `type` is the Rasa event's name ("user", "bot", "pause"...) or the change
    ("opened", "claimed", "released", "transferred", "closed", "rated"); `data`
    the Rasa event as published, or the change row.
    """

    source: str
    id: int
    sender_id: str
    type: str
    data: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The event as JSON (what an SSE `data:` line carries)."""
        return json.dumps(asdict(self), ensure_ascii=False, default=str)


def broker_db_from_endpoints(endpoints: Path | None = None) -> Path | None:
    """The SQLite file of the SQL event broker in `endpoints.yml` (None: another broker)."""
    path = endpoints or PROJECT_ROOT / "endpoints.yml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        logger.warning("cannot read %s: no live Rasa events", path)
        return None
    broker = config.get("event_broker") or {}
    if str(broker.get("type", "")).lower() != "sql" or broker.get("dialect") != "sqlite":
        return None
    db = Path(str(broker.get("db") or "events.db"))
    return db if db.is_absolute() else PROJECT_ROOT / db


class BrokerReader:
    """Reads new rows of Rasa's SQL event broker table (`events`) by id.

    The file may not exist yet (Rasa not started); it is looked for again on each
    read. Swapping brokers means another class with the same two methods.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last_id = 0
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None and self.path.is_file():
            uri = f"file:{self.path}?mode=ro"
            self._conn = sqlite3.connect(uri, uri=True, timeout=5, check_same_thread=False)
        return self._conn

    def start_at_end(self) -> None:
        """Skips every event already in the table (the feed is about what comes next)."""
        rows = self._query("select coalesce(max(id), 0) from events", [])
        self.last_id = int(rows[0][0]) if rows else 0

    def read(self) -> List[FeedEvent]:
        """Events after the last one read, oldest first."""
        rows = self._query(
            "select id, sender_id, data from events where id > ? order by id limit ?",
            [self.last_id, BATCH],
        )
        if not rows:
            top = self._query("select coalesce(max(id), 0) from events", [])
            if top and int(top[0][0]) < self.last_id:  # the file was replaced: start over
                self.last_id = 0
            return []
        found = []
        for row_id, sender_id, data in rows:
            self.last_id = int(row_id)
            try:
                event = json.loads(data or "{}")
            except ValueError:
                logger.warning("event %s in the broker is not JSON; skipped", row_id)
                continue
            kind = event.get("event", "")
            if kind in RASA_EVENT_TYPES:
                found.append(FeedEvent("rasa", int(row_id), sender_id or "", kind, event))
        return found

    def _query(self, sql: str, args: list) -> List[Tuple[Any, ...]]:
        conn = self._connect()
        if conn is None:
            return []
        try:
            return conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as problem:  # no table yet, or busy
            logger.debug("event broker not readable yet: %s", problem)
            return []

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class HandoffReader:
    """Reads new rows of the store's `handoff_changes` by id."""

    def __init__(self, store_path: Path) -> None:
        from bot.store import Store

        self.store = Store.open(store_path, migrate=False)
        self.last_id = 0

    def start_at_end(self) -> None:
        self.last_id = self.store.last_handoff_change_id()

    def read(self) -> List[FeedEvent]:
        found = []
        for row in self.store.handoff_changes_after(self.last_id, BATCH):
            self.last_id = int(row["id"])
            found.append(
                FeedEvent("handoff", int(row["id"]), row["sender_id"], row["change"], dict(row))
            )
        return found

    def close(self) -> None:
        self.store.close()


class Subscription:
    """A subscriber's bounded queue of events (optionally of one conversation only)."""

    def __init__(self, sender_id: str | None, backlog: int = SUBSCRIBER_BACKLOG) -> None:
        self.sender_id = sender_id
        self.queue: asyncio.Queue[FeedEvent] = asyncio.Queue(backlog)
        self.dropped = 0

    def offer(self, event: FeedEvent) -> None:
        if self.sender_id is not None and event.sender_id != self.sender_id:
            return
        if self.queue.full():  # a slow reader loses the oldest, never blocks the others
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> FeedEvent | None:
        """The next event; None when `timeout` seconds pass without one."""
        if timeout is None:
            return await self.queue.get()
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None


class LiveFeed:
    """One reader task per desk process, fanning events out to subscribers.

    Args:
        store_path: the operational store's file (handoff changes).
        broker_db: the SQL event broker's file; None when Rasa uses another broker
            (then only handoff changes are fed; a consumer for it goes here).
        poll_seconds: the pause between looks that found nothing new.
    """

    def __init__(
        self, store_path: Path, broker_db: Path | None, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.store_path = Path(store_path)
        self.broker_db = broker_db
        self.poll_seconds = poll_seconds
        self.subscribers: Set[Subscription] = set()
        self.task: asyncio.Task[None] | None = None
        self.delivered = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="crisisdesk-live")
        self._readers: List[Any] = []
        self._ready = asyncio.Event()

    async def start(self) -> None:
        """Starts the reader task (once); events from now on are fed."""
        if self.task is not None:
            return
        loop = asyncio.get_running_loop()
        self.task = loop.create_task(self._run(), name="crisisdesk-live-feed")
        await self._ready.wait()

    async def stop(self) -> None:
        """Stops the reader task and closes its connections."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        await asyncio.get_running_loop().run_in_executor(self._pool, self._close_readers)
        self._pool.shutdown(wait=False)

    @contextlib.asynccontextmanager
    async def subscribe(self, sender_id: str | None = None) -> AsyncIterator[Subscription]:
        """A subscription for the `async with` block (all conversations, or one)."""
        await self.start()
        subscription = Subscription(sender_id)
        self.subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self.subscribers.discard(subscription)

    def publish(self, event: FeedEvent) -> None:
        """Hands one event to every subscriber."""
        for subscription in list(self.subscribers):
            subscription.offer(event)
        self.delivered += 1

    def _open_readers(self) -> None:
        readers: List[Any] = [HandoffReader(self.store_path)]
        if self.broker_db is not None:
            readers.append(BrokerReader(self.broker_db))
        for reader in readers:
            reader.start_at_end()
        self._readers = readers

    def _read_all(self) -> List[FeedEvent]:
        found: List[FeedEvent] = []
        for reader in self._readers:
            found.extend(reader.read())
        return found

    def _close_readers(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self._open_readers)
        finally:
            self._ready.set()
        while True:
            try:
                events = await loop.run_in_executor(self._pool, self._read_all)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("live feed: reading failed; trying again")
                events = []
            for event in events:
                if event.source == "handoff":
                    logger.debug("live: handoff %s %s", mask(event.sender_id), event.type)
                self.publish(event)
            if len(events) < BATCH:
                await asyncio.sleep(self.poll_seconds)


async def until_disconnect(
    receive: Any, subscription: Subscription, keepalive: float
) -> AsyncIterator[FeedEvent | None]:
    """A subscription's events for one HTTP stream: None every `keepalive` idle seconds.

    Ends as soon as the client goes away (`receive`, the request's ASGI receive,
    gives `http.disconnect`), not at the next write, so no reader lingers.
    """

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(gone())
    try:
        while True:
            getter = asyncio.ensure_future(subscription.get(keepalive))
            done, _ = await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if watcher in done:
                getter.cancel()
                return
            yield getter.result()
    finally:
        watcher.cancel()


def live_feed(app: Any) -> LiveFeed:
    """The app's one feed (made on first use from its store and `endpoints.yml`)."""
    feed = getattr(app.state, "live", None)
    if feed is None:
        feed = LiveFeed(app.state.store.path, broker_db_from_endpoints())
        app.state.live = feed
    return feed
