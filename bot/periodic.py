"""One place for background work that runs every few seconds or hours in an event loop.

    task = Periodic("crisisdesk-retention", work, interval=3600)
    task.start()          # in the running loop (the desk's lifespan)
    await task.stop()     # cancels and awaits it

`work` is an async callable without arguments. A round that raises is logged and
the next round runs as planned (a locked database, Rasa restarting); tests call
the work itself with the time they want instead of waiting for a round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable

logger = logging.getLogger(__name__)


class Periodic:
    """Runs `work()` every `interval` seconds (the first time after `first_delay`)."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[Any]],
        interval: float,
        first_delay: float | None = None,
    ) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self.first_delay = interval if first_delay is None else first_delay
        self.task: asyncio.Task[None] | None = None
        self.rounds = 0

    def start(self) -> None:
        """Starts the task in the running event loop (idempotent)."""
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancels the task and waits for it to end."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _run(self) -> None:
        delay = self.first_delay
        while True:
            await asyncio.sleep(delay)
            delay = self.interval
            try:
                await self.work()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s: round failed; the next one runs as planned", self.name)
            self.rounds += 1
