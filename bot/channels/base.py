"""The Rasa input channel part every customer channel shares: `PipelineInput`, `OutboxInput`.

Each channel (web chat, REST, WhatsApp, Telegram) is a Rasa `InputChannel` that
hands its messages to a `bot.channels.pipeline.Pipeline`. What Rasa and Sanic
need around that is the same for all of them and lives here:

- `name()` is the channel's `channel`, so its routes are `/webhooks/<channel>/...`;
- `from_credentials` ignores credentials.yml: settings come from `.env`
  (`bot.config.settings`);
- `get_output_channel` (where Rasa's HTTP API sends what it was asked to send,
  e.g. the rating question after a handoff) is the pipeline's guarded output for
  no message, so the reply cap and the offered buttons work there too;
- the blueprint: `GET /` (health), the channel's POST routes (`posts`: at least
  `/webhook`), and the listeners. Before the server starts, `start` opens the
  channel, unless settings are `missing`: then the channel is off, says so in
  the log, and every route answers 404 naming them. After the server starts
  (Rasa's agent is loaded by then), `started` handles the messages a previous run
  remembered but never handled. When the server stops, `stop`.

Two kinds of channel build on it. `StoreInput` (web chat, REST) opens its own
connection to the operational store and closes it when it stops. `OutboxInput`
(WhatsApp, Telegram) registers its provider's sender with the process's outbox,
which stores and sends the replies; the outbox starts after the pipeline and
stops after it, then the sender closes.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, Awaitable, Callable, ClassVar, Dict, List

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import register_sender
from bot.channels.pipeline import Pipeline
from bot.config import Settings, settings
from bot.outbox import Outbox, Sender
from bot.store.aio import AsyncStore

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
Handler = Callable[[Request], Awaitable[HTTPResponse]]


def starting() -> HTTPResponse:
    """The answer to a request that comes before the channel has started."""
    return response.json({"error": "starting"}, status=503)


class PipelineInput(InputChannel):
    """A Rasa input channel whose messages go through its `Pipeline`.

    A subclass sets `channel`, lists the settings it lacks in `missing`, opens
    what it needs and builds its pipeline in `open`, and answers `webhook`.

    Args:
        config: the settings.
    """

    channel: ClassVar[str]
    # The Sanic event that stops the channel (handling and sending).
    stop_on: ClassVar[str] = "before_server_stop"
    # How loud "the channel is off" is in the log (a channel that should always
    # be on says it as a warning).
    off_level: ClassVar[int] = logging.INFO

    def __init__(self, config: Settings) -> None:
        self.config = config
        self.missing: List[str] = []
        self.pipeline: Pipeline | None = None

    @classmethod
    def name(cls) -> str:
        """Routes live under /webhooks/<channel>/."""
        return cls.channel

    @classmethod
    def from_credentials(cls, credentials: Dict[str, Any] | None) -> PipelineInput:
        """Rasa's constructor; settings come from `.env`, not credentials.yml."""
        return cls(settings())

    def get_output_channel(self) -> OutputChannel | None:
        """Where Rasa's HTTP API sends bot messages it was asked to send (`output_channel=latest`).

        Such a message answers nobody (e.g. the rating question when `crisisdesk
        handoffs close` resumes a conversation): it goes out like any message,
        capped, its buttons recorded as offered, and not to a customer who opted out.
        """
        return self.pipeline.guarded(None) if self.pipeline is not None else None

    @property
    def enabled(self) -> bool:
        """Whether every setting the channel needs is there."""
        return not self.missing

    # -- lifecycle ------------------------------------------------------------------

    def open(self) -> Pipeline:
        """Opens what the channel needs (its store, its sender); returns its pipeline."""
        raise NotImplementedError

    def start(self, app: Sanic, on_new_message: OnNewMessage) -> None:
        """Opens the channel and connects its pipeline to the server (Rasa's message handler)."""
        self.pipeline = self.open()
        self.pipeline.start(app, on_new_message)

    async def started(self) -> None:
        """Once the server runs: handles the messages a previous run never handled."""
        if self.pipeline is not None:
            await self.pipeline.resume()

    async def stop(self) -> None:
        """Stops handling; messages remembered but not handled are resumed at the next start."""
        if self.pipeline is not None:
            await self.pipeline.stop()

    # -- routes -------------------------------------------------------------------------

    async def webhook(self, request: Request) -> HTTPResponse:
        """`POST /webhook`: one request with the channel's messages (only while it is on)."""
        raise NotImplementedError

    def posts(self) -> Dict[str, Handler]:
        """The channel's POST routes, by path."""
        return {"/webhook": self.webhook}

    def health(self) -> Dict[str, Any]:
        """What `GET /` says while the channel is on."""
        return {"status": "ok"}

    def off(self) -> HTTPResponse:
        """The answer of every route while settings are missing."""
        return response.json(
            {"error": f"the {self.channel} channel is off: set {', '.join(self.missing)} in .env"},
            status=404,
        )

    def _when_on(self, handler: Handler) -> Handler:
        async def route(request: Request) -> HTTPResponse:
            return await handler(request) if self.enabled else self.off()

        return route

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """The health route, the channel's POST routes, and the start/stop listeners."""
        bp = Blueprint(f"crisisdesk_{self.channel}", __name__)

        @bp.listener("before_server_start")
        async def start(app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            if self.enabled:
                self.start(app, on_new_message)
            else:
                logger.log(
                    self.off_level,
                    "%s channel off: %s not set",
                    self.channel,
                    ", ".join(self.missing),
                )

        @bp.listener("after_server_start")
        async def started(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            if self.enabled:
                await self.started()

        @bp.listener(self.stop_on)
        async def stop(_app: Sanic, _loop: asyncio.AbstractEventLoop) -> None:
            await self.stop()

        @bp.route("/", methods=["GET"])
        async def health(_request: Request) -> HTTPResponse:
            return response.json(self.health()) if self.enabled else self.off()

        for path, handler in self.posts().items():
            bp.add_route(self._when_on(handler), path, methods=["POST"], name=path.strip("/"))
        return bp


class StoreInput(PipelineInput):
    """A channel with its own connection to the operational store, closed when it stops.

    A subclass's `open` calls `open_store` and builds its pipeline over that store.
    """

    def __init__(self, config: Settings) -> None:
        super().__init__(config)
        self.store: AsyncStore | None = None

    def open_store(self) -> AsyncStore:
        """Opens the store of `config.db_path` (calls run off the event loop)."""
        self.store = AsyncStore(self.config.db_path)
        return self.store

    async def stop(self) -> None:
        """Stops handling, then closes the store's connections."""
        await super().stop()
        if self.store is not None:
            self.store.close()
            self.store = None


class OutboxInput(PipelineInput):
    """A channel whose replies go to a provider through the process's outbox.

    A subclass's `open` calls `open_outbox` with its sender and builds its
    pipeline over the outbox's store.

    Args:
        config: the settings.
        outbox_factory: gives the outbox to queue replies in (default: the process's
            shared outbox, with the channel's sender registered).
    """

    def __init__(
        self, config: Settings, outbox_factory: Callable[[Any], Outbox] | None = None
    ) -> None:
        super().__init__(config)
        self.outbox_factory = outbox_factory or partial(register_sender, self.channel)
        self.sender: Any = None
        self.outbox: Outbox | None = None

    @property
    def store(self) -> AsyncStore:
        """The operational store (the outbox's, off the event loop)."""
        assert self.outbox is not None, f"the {self.channel} channel has not started"
        return self.outbox.store

    def open_outbox(self, sender: Sender) -> Outbox:
        """Registers the channel's sender with its outbox; returns the outbox."""
        self.sender = sender
        self.outbox = self.outbox_factory(sender)
        return self.outbox

    def start(self, app: Sanic, on_new_message: OnNewMessage) -> None:
        """Opens the channel, connects its pipeline, then starts delivering."""
        super().start(app, on_new_message)
        assert self.outbox is not None, "open() must call open_outbox()"
        self.outbox.start()

    async def stop(self) -> None:
        """Stops handling, then sending; unsent replies stay in the outbox."""
        await super().stop()
        if self.outbox is not None:
            await self.outbox.stop()
        if self.sender is not None:
            await self.sender.close()
