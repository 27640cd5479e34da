"""The outbox: every message to a customer is written to the store first, then sent.

Channels never call a provider directly. They `enqueue` a message (a JSON-able
dict whose shape the channel's sender understands) and the outbox delivers it:

- messages to one recipient go out in the order they were written; a message
  that cannot be sent yet holds back the later ones to the same recipient;
- a `TemporaryFailure` (HTTP 429, 5xx, timeout, connection refused...) is
  retried with exponential backoff and jitter, honouring a provider's
  Retry-After; after `max_attempts` the message is marked `failed` and kept for
  an operator (`crisisdesk outbox list --status failed`, `crisisdesk outbox retry`);
- a `PermanentFailure` (the provider refused the message itself) fails at once;
- a message is marked `sent` exactly once. A send whose answer was lost (timeout)
  is retried, so the provider may see it twice: no provider API offers more.
- messages that answer nobody (`answers=None`, i.e. proactive ones) are not
  sent to a recipient who opted out; they fail with "opted out";
- proactive messages are paced per sender (`rates`: messages per second per
  channel, `Pacer`), so a broadcast never floods the provider's own queue;
  replies to a customer who just wrote are not held back (each one takes a slot
  from the proactive messages instead).

A channel implements `Sender` for its provider and starts the background loop
(`Outbox.start()`) inside its server's event loop; `enqueue` wakes the loop, so
delivery starts at once. An outbox only delivers the channels it has senders
for, so each channel may run its own outbox on the same store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any, Callable, Dict, Mapping, Protocol

from bot.privacy import mask, scrub
from bot.store import Store
from bot.store.aio import AsyncStore

logger = logging.getLogger(__name__)


class DeliveryFailure(Exception):
    """A sender could not hand a message to its provider."""


class TemporaryFailure(DeliveryFailure):
    """Worth retrying later: rate limited, provider error (5xx), timeout, network down.

    Args:
        message: what went wrong (kept in the outbox row's `last_error`).
        retry_after: seconds the provider asked us to wait (HTTP Retry-After), if any.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(DeliveryFailure):
    """Retrying cannot help: bad credentials, invalid recipient, message refused (4xx)."""


class Sender(Protocol):
    """Sends one message to one recipient through a provider (Twilio, Telegram...)."""

    async def send(self, recipient: str, message: Dict[str, Any]) -> str:
        """Sends `message` to `recipient` and returns the provider's id for it.

        Args:
            recipient: the conversation id as the channel writes it
                (`whatsapp:+905321234567`, `telegram:12345`).
            message: the dict given to `Outbox.enqueue`, back from JSON.

        Raises:
            TemporaryFailure: when trying again later may work.
            PermanentFailure: when it will never work.
        """
        ...


class Pacer:
    """Spaces one sender's messages at most `rate` a second; replies never wait.

    A proactive message waits for the next free slot (slots are `1/rate` apart,
    taken in the order asked for). A reply does not wait, but takes a slot, which
    pushes the proactive messages after it back by one: the sender stays near its
    rate while customers talk, and nobody who just wrote waits behind a broadcast.

    Args:
        rate: messages per second.
        clock: monotonic seconds; replaceable in tests.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.next_at = 0.0

    def delay(self, reply: bool) -> float:
        """Takes the next slot; returns how many seconds to wait for it (0 for a reply)."""
        at = self.clock()
        slot = at if reply else max(self.next_at, at)
        self.next_at = max(self.next_at, at) + self.interval if reply else slot + self.interval
        return slot - at

    async def wait(self, reply: bool = False) -> None:
        """Waits for a slot (a reply takes one at once)."""
        seconds = self.delay(reply)
        if seconds > 0:
            await asyncio.sleep(seconds)


class Outbox:
    """Writes outgoing messages to the store and delivers them through channel senders.

    Args:
        store: where messages are kept; every call runs in a thread pool (a `Store`
            is wrapped in an `AsyncStore` on the same file), so a locked database
            never stops the event loop.
        senders: one `Sender` per channel name ("whatsapp", "telegram").
        max_attempts: attempts before a message is marked failed.
        base_delay: seconds before the first retry; doubles with every attempt.
        max_delay: the longest wait between two attempts.
        send_timeout: seconds one send may take before it counts as a temporary failure.
        lease: seconds a message being sent is hidden from other deliverers.
        poll_interval: longest sleep of the background loop between two looks.
        concurrency: how many recipients are served at the same time.
        clock: Unix time (seconds); replaceable in tests.
        rng: a number in [0, 1) for jitter; replaceable in tests.
        rates: channel -> proactive messages per second for its sender (missing
            or 0: unpaced); `Settings.outbox_rates()` gives the configured ones.
    """

    def __init__(
        self,
        store: Store | AsyncStore,
        senders: Mapping[str, Sender],
        *,
        max_attempts: int = 20,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        send_timeout: float = 20.0,
        lease: float = 120.0,
        poll_interval: float = 5.0,
        concurrency: int = 32,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        rates: Mapping[str, float] | None = None,
    ) -> None:
        self.store = AsyncStore.of(store)
        self.senders = dict(senders)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.send_timeout = send_timeout
        self.lease = lease
        self.poll_interval = poll_interval
        self.clock = clock
        self.rng = rng
        self._limit = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._active: Dict[tuple[str, str], asyncio.Task[int]] = {}
        self._task: asyncio.Task[None] | None = None
        self.pacers = {channel: Pacer(rate) for channel, rate in (rates or {}).items() if rate > 0}

    # -- writing ---------------------------------------------------------------------

    async def enqueue(
        self,
        channel: str,
        recipient: str,
        message: Dict[str, Any],
        answers: str | None = None,
    ) -> int:
        """Writes a message for delivery and returns its outbox id.

        Args:
            channel: the name of a channel with a sender.
            recipient: the conversation id (`whatsapp:+90...`).
            message: what the channel's sender needs (e.g. {"text": "..."}), JSON-able.
            answers: the id of the incoming message this replies to; None for a
                proactive message (never sent to someone who opted out).
        """
        if channel not in self.senders:
            raise ValueError(f"no sender for channel {channel!r}")
        outgoing_id = await self.store.enqueue_outgoing(channel, recipient, message, answers)
        self.wake()
        return outgoing_id

    def wake(self) -> None:
        """Makes the background loop look for due messages now."""
        self._wakeup.set()

    # -- delivering ------------------------------------------------------------------

    def retry_delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the `attempts`-th failed attempt.

        Exponential (`base_delay * 2**(attempts-1)`, capped at `max_delay`) with
        "equal jitter": between half and all of it, so that many messages failing
        together do not all come back at the same instant. A provider's
        Retry-After is a lower bound.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, attempts - 1))
        delay = ceiling / 2 + self.rng() * ceiling / 2
        return max(delay, retry_after or 0.0)

    async def deliver_due(self) -> int:
        """Sends every message that is due now and waits for it; returns how many were sent.

        Recipients are served concurrently (up to `concurrency`), each one's
        messages strictly in order; a recipient already being served is not
        served twice.
        """
        due = await self.store.due_recipients(self.clock(), list(self.senders))
        drains = [self._drain_task(channel, recipient) for channel, recipient in due]
        return sum(await asyncio.gather(*drains))

    def _drain_task(self, channel: str, recipient: str) -> asyncio.Task[int]:
        """The task serving one recipient, started when none is running."""
        key = (channel, recipient)
        task = self._active.get(key)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._drain(channel, recipient))
            self._active[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        return task

    def _forget(self, key: tuple[str, str], task: asyncio.Task[int]) -> None:
        if self._active.get(key) is task:
            del self._active[key]

    async def _drain(self, channel: str, recipient: str) -> int:
        """Sends one recipient's due messages in order until one has to wait for a retry."""
        sent = 0
        pacer = self.pacers.get(channel)
        while True:
            row = await self.store.oldest_pending(channel, recipient)
            if row is None or row["next_attempt_at"] > self.clock():
                return sent
            if pacer is not None:
                # Before the claim, and without a concurrency slot: a message waiting
                # for its turn is neither leased nor keeping a reply from going out.
                await pacer.wait(reply=row["answers"] is not None)
            async with self._limit:
                at = self.clock()
                if not await self.store.claim_outgoing(row["id"], at, at + self.lease):
                    return sent
                outcome = await self._attempt(row)
            if outcome == "retry":
                return sent
            sent += outcome == "sent"

    async def _attempt(self, row: Dict[str, Any]) -> str:
        """One attempt at one claimed message: "sent", "failed" (for good) or "retry"."""
        outgoing_id, channel, recipient = row["id"], row["channel"], row["recipient"]
        attempts = int(row["attempts"]) + 1
        if row["answers"] is None and await self.store.is_opted_out(channel, recipient):
            await self.store.mark_failed(outgoing_id, "opted out")
            logger.info("outbox %s: %s opted out, not sent", outgoing_id, mask(recipient))
            return "failed"
        try:
            provider_id = await asyncio.wait_for(
                self.senders[channel].send(recipient, json.loads(row["payload"])), self.send_timeout
            )
        except PermanentFailure as problem:
            await self.store.mark_failed(outgoing_id, f"permanent: {scrub(str(problem))}")
            logger.error(
                "outbox %s to %s refused for good: %s",
                outgoing_id,
                mask(recipient),
                scrub(str(problem)),
            )
            return "failed"
        except (TemporaryFailure, asyncio.TimeoutError, OSError) as problem:
            retry_after = getattr(problem, "retry_after", None)
            return await self._retry_or_fail(
                outgoing_id, recipient, attempts, scrub(repr(problem)), retry_after
            )
        except Exception as problem:  # a bug in a sender must not stop the outbox
            logger.exception("outbox %s: sender %s crashed", outgoing_id, channel)
            return await self._retry_or_fail(
                outgoing_id, recipient, attempts, scrub(repr(problem)), None
            )
        if await self.store.mark_sent(outgoing_id, provider_id):
            logger.info(
                "outbox %s sent to %s (%s, attempt %s)",
                outgoing_id,
                mask(recipient),
                provider_id,
                attempts,
            )
        return "sent"

    async def _retry_or_fail(
        self,
        outgoing_id: int,
        recipient: str,
        attempts: int,
        error: str,
        retry_after: float | None,
    ) -> str:
        """Schedules the next attempt ("retry"), or gives up after the last one ("failed")."""
        if attempts >= self.max_attempts:
            await self.store.mark_failed(outgoing_id, f"gave up after {attempts} attempts: {error}")
            logger.error(
                "outbox %s to %s failed after %s attempts: %s",
                outgoing_id,
                mask(recipient),
                attempts,
                error,
            )
            return "failed"
        delay = self.retry_delay(attempts, retry_after)
        await self.store.mark_retry(outgoing_id, self.clock() + delay, error)
        logger.warning(
            "outbox %s to %s: attempt %s failed (%s), next in %.1f s",
            outgoing_id,
            mask(recipient),
            attempts,
            error,
            delay,
        )
        return "retry"

    # -- background loop -------------------------------------------------------------

    def start(self) -> None:
        """Starts delivering in the background of the running event loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def running(self) -> bool:
        """Whether the background loop is delivering."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stops the background loop and in-flight sends; unsent messages stay in the store.

        A send cut off here was claimed for `lease` seconds and is retried after it.
        """
        tasks = [t for t in [self._task, *self._active.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        """Starts serving due recipients, then sleeps until woken or the next one is due."""
        while True:
            self._wakeup.clear()
            try:
                channels = list(self.senders)
                for channel, recipient in await self.store.due_recipients(self.clock(), channels):
                    self._drain_task(channel, recipient)
                due = await self.store.next_due_at(channels)
            except Exception:  # e.g. the database is locked; the next round tries again
                logger.exception("outbox delivery round failed")
                due = None
            sleep = self.poll_interval if due is None else due - self.clock()
            sleep = min(max(sleep, 0.05), self.poll_interval)
            try:
                await asyncio.wait_for(self._wakeup.wait(), sleep)
            except asyncio.TimeoutError:
                pass
