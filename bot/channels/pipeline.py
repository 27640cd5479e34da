"""One handling path for every customer channel: WhatsApp, Telegram, REST, web chat use it.

A channel turns its provider's request into an `Incoming` and hands it to its
`Pipeline`, which does the rest the same way for all of them:

1. **Remembered first** (channels with message ids): the id goes into
   `inbound_messages` before anything else; a known id is a provider's retry and
   is dropped. Messages remembered but never handled (a crash) are handled when
   the channel starts again (`resume`).
2. **One at a time per customer**, in arrival order (`ConversationQueue`).
3. **Opt-out and opt-in words** (STOP, DUR, İPTAL... START, BAŞLA...) are answered
   here, never by the dialogue (channels with proactive messages only).
4. **What waited for WhatsApp's window goes now.** A correction or broadcast held
   back as `waiting_window` (bot/corrections.py) is queued when the customer
   writes again, outside a handoff; a press of the update template's button is
   answered with it alone, without the dialogue.
5. **Media without a caption** gets "I can only read text", nothing during a handoff.
6. **Typed text is never a command.** A button payload reaches Rasa as
   `/intent{...}` only when the bot offered it to this conversation and it was
   not used yet, and only for one of the domain's own intents; all other text goes
   through `bot.channels.payloads.as_text` (no leading slash) to the NLU.
7. **A handoff is silent.** While a person has the conversation (an open handoff
   in the store, or Rasa's tracker paused), the message is only logged in the
   tracker (NLU parse, no policy, no action) for the agent to read, and the
   output drops whatever would be said. Only `crisisdesk handoffs close` (Rasa's
   HTTP API: resume, `action_handoff_closed`) makes the bot speak again.
8. **Bounded replies.** `GuardedOutput` lets at most `MAX_REPLIES` bot messages
   through per customer message (a dialogue that loops is cut off and logged) and
   records the payloads of every button it passes on (step 6 checks them).
9. **No silence by mistake.** If the dialogue raises, or says nothing while no
   person has the conversation (e.g. the action server is down), the message stays
   `failed` with the error, the conversation joins the desk's queue as "bot failed"
   (high priority; paused in Rasa's tracker) and the customer is told a person will
   answer (`utter_bot_failed_handoff`). Only when even that fails, or a person
   already has the conversation, the reply is `utter_channel_error`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Tuple

from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.channels.common import (
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    ConversationQueue,
    DomainResponses,
    conversation_state,
    keyword,
)
from bot.channels.payloads import (
    as_text,
    button_payloads,
    domain_intents,
    payload_allowed,
    payload_intent,
)
from bot.corrections import on_customer_message
from bot.language import detect
from bot.privacy import mask, scrub
from bot.store.aio import AsyncStore
from bot.store.cases import BOT_FAILED_REASON

logger = logging.getLogger(__name__)

# Bot messages let through per customer message. The longest reply the domain
# has is three messages (an answer in pieces, then "was it helpful?").
MAX_REPLIES = 5
# What the pipeline adds to a message's metadata (actions read it: actions.common).
METADATA_KEY = "crisisdesk"

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
OutputFactory = Callable[[str | None], OutputChannel]
ChoiceHook = Callable[["Incoming"], Awaitable[str | None]]


@dataclass
class Incoming:
    """One customer message as a channel hands it over.

    `kind` is how it came: typed (`text`), a pressed button (`button`: `text` is
    the payload it sent back) or the channel's start command (`start`).
    """

    sender: str
    text: str = ""
    message_id: str | None = None
    kind: str = "text"
    media: List[Dict[str, str]] = field(default_factory=list)
    language: str | None = None
    metadata: Dict[str, Any] = field(default_factory=dict)


class GuardedOutput(OutputChannel):
    """Wraps a channel's output: a cap on replies, silence on demand, offered payloads recorded.

    Args:
        inner: the channel's own output (outbox writer, collector).
        store: where offered payloads are recorded.
        channel: the channel name the offers are recorded under.
        limit: bot messages let through; later ones are dropped and logged.
        silent: drop everything (a person has the conversation).
    """

    def __init__(
        self,
        inner: OutputChannel,
        store: AsyncStore,
        channel: str,
        limit: int = MAX_REPLIES,
        silent: bool = False,
    ) -> None:
        self.inner = inner
        self.store = store
        self.channel = channel
        self.limit = limit
        self.silent = silent
        self.sent = 0
        self.dropped = 0

    def name(self) -> str:  # type: ignore[override]
        """The wrapped channel's name (what Rasa records on bot events)."""
        return self.inner.name()

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        """Passes one bot message on, unless silenced or over the limit."""
        if self.silent or self.sent >= self.limit:
            self.dropped += 1
            logger.warning(
                "%s: dropped a bot message to %s (%s)",
                self.channel,
                mask(recipient_id),
                "a person has the conversation" if self.silent else f"over {self.limit} replies",
            )
            return
        self.sent += 1
        buttons = message.get("buttons") or message.get("quick_replies") or []
        payloads = button_payloads(buttons)
        if payloads:
            await self.store.offer_payloads(self.channel, recipient_id, payloads)
        await self.inner.send_response(recipient_id, dict(message))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """A plain text, through the same checks."""
        await self.send_response(recipient_id, {"text": text})


class Pipeline:
    """The handling path of one channel.

    Args:
        channel: the channel name ("whatsapp", "telegram", "rest").
        store: the operational store, off the event loop.
        output_for: the channel's output for replies to a message id (None: a
            message nobody just sent, e.g. the HTTP API's).
        record: remember message ids (dropping retries) and resume after a crash.
        opt_words: answer opt-out/opt-in words (channels that send proactive messages).
        slash_payloads: typed text starting with "/" may be a pressed button (web
            chat sends payloads as text); used only if the bot offered it.
        choice: gives the payload a typed reply picks (WhatsApp's numbered options).
        limit: conversations handled at the same time.
    """

    def __init__(
        self,
        channel: str,
        store: AsyncStore,
        output_for: OutputFactory,
        *,
        record: bool = True,
        opt_words: bool = True,
        slash_payloads: bool = False,
        choice: ChoiceHook | None = None,
        limit: int = 4,
        responses: DomainResponses | None = None,
    ) -> None:
        self.channel = channel
        self.store = store
        self.output_for = output_for
        self.record = record
        self.opt_words = opt_words
        self.slash_payloads = slash_payloads
        self.choice = choice
        self.queue = ConversationQueue(limit)
        self.responses = responses or DomainResponses()
        self.intents = domain_intents()
        self.app: Any = None
        self.on_new_message: OnNewMessage | None = None

    def start(self, app: Any, on_new_message: OnNewMessage) -> None:
        """Connects the pipeline to the running server (Rasa's agent and message handler)."""
        self.app, self.on_new_message = app, on_new_message

    def guarded(self, answers: str | None = None, silent: bool = False) -> GuardedOutput:
        """The channel's output for `answers`, wrapped."""
        return GuardedOutput(self.output_for(answers), self.store, self.channel, silent=silent)

    # -- taking messages -------------------------------------------------------------

    async def accept(self, incoming: Incoming) -> bool:
        """Remembers a message and queues its handling; False for a retry seen before."""
        if self.record and incoming.message_id is not None:
            known = not await self.store.record_inbound(
                self.channel,
                incoming.message_id,
                incoming.sender,
                incoming.text,
                incoming.media,
                incoming.kind,
            )
            if known:
                logger.info(
                    "%s: %s from %s seen before, ignored",
                    self.channel,
                    incoming.message_id,
                    mask(incoming.sender),
                )
                return False
        self.submit(incoming)
        return True

    def submit(self, incoming: Incoming, output: GuardedOutput | None = None) -> asyncio.Task[None]:
        """Queues a message after the same customer's earlier ones (returns its task)."""

        async def job() -> None:
            await self.handle(incoming, output)

        return self.queue.submit(incoming.sender, job)

    async def resume(self) -> int:
        """Handles the messages a previous run remembered but never handled; returns how many."""
        if not self.record:
            return 0
        rows = await self.store.list_inbound(self.channel, "received")
        for row in rows:
            self.submit(
                Incoming(
                    row["sender"],
                    row["body"] or "",
                    message_id=row["message_id"],
                    kind=row.get("kind") or "text",
                    media=json.loads(row["media"] or "[]"),
                )
            )
        if rows:
            logger.info("%s: %s unhandled message(s) from before resumed", self.channel, len(rows))
        return len(rows)

    async def stop(self) -> None:
        """Cancels waiting and running handling (server shutdown)."""
        await self.queue.cancel()

    # -- handling --------------------------------------------------------------------

    async def handle(self, incoming: Incoming, output: GuardedOutput | None = None) -> str:
        """Handles one message; a failure still gets the customer an answer. Returns the outcome."""
        output = output or self.guarded(incoming.message_id)
        try:
            outcome = await self._handle(incoming, output)
        except Exception as problem:
            logger.exception(
                "%s: handling %s from %s failed",
                self.channel,
                incoming.message_id or "a message",
                mask(incoming.sender),
            )
            await self._finish(incoming, "failed", repr(problem)[:1000])
            try:
                language, held = await self.state(incoming.sender)
            except Exception:  # the dialogue's stores may be what failed
                language, held = None, False
            language = language or incoming.language or detect(incoming.text)
            if not held and await self._bot_failed(incoming, problem, language):
                await self.say(incoming, "utter_bot_failed_handoff", language, output)
                return "bot failed"
            await self.say(incoming, "utter_channel_error", language, output)
            return "error"
        await self._finish(incoming, "processed")
        logger.info(
            "%s: %s from %s handled (%s)",
            self.channel,
            incoming.message_id or "a message",
            mask(incoming.sender),
            outcome,
        )
        return outcome

    async def _bot_failed(self, incoming: Incoming, problem: Exception, language: str) -> bool:
        """Queues the conversation for a person as "bot failed" and pauses it in Rasa.

        True when the handoff is queued (the customer is then told a person will
        answer); False when even that failed (the customer gets the error reply).
        """
        what = scrub(str(problem))[:160] or type(problem).__name__
        try:
            handoff_id = await self.store.open_handoff(
                sender_id=incoming.sender,
                channel=self.channel,
                reason=f"{BOT_FAILED_REASON}: {what}",
                priority="high",
                language=language,
                last_messages=[
                    {"from": "customer", "text": incoming.text[:2000], "at": time.time()}
                ],
                kind="bot_failed",
            )
        except Exception:
            logger.exception(
                "%s: could not queue %s for a person", self.channel, mask(incoming.sender)
            )
            return False
        logger.warning(
            "%s: bot failed for %s; handoff %s queued",
            self.channel,
            mask(incoming.sender),
            handoff_id,
        )
        await self._pause(incoming.sender)
        return True

    async def _pause(self, sender: str) -> None:
        """Pauses the conversation in Rasa's tracker store (if the agent is there to do it)."""
        agent = getattr(self.app.ctx, "agent", None) if self.app is not None else None
        if agent is None or agent.tracker_store is None:
            return
        try:
            from rasa.shared.core.events import ConversationPaused

            async with agent.lock_store.lock(sender):
                tracker = await agent.tracker_store.get_or_create_tracker(sender)
                if not tracker.is_paused():
                    tracker.update(ConversationPaused())
                    await agent.tracker_store.save(tracker)
        except Exception:  # the store's handoff already keeps the bot silent
            logger.exception("%s: could not pause %s in Rasa", self.channel, mask(sender))

    async def _finish(self, incoming: Incoming, status: str, error: str | None = None) -> None:
        if self.record and incoming.message_id is not None:
            await self.store.finish_inbound(self.channel, incoming.message_id, status, error)

    async def _handle(self, incoming: Incoming, output: GuardedOutput) -> str:
        sender, text = incoming.sender, incoming.text
        if self.opt_words and incoming.kind == "text":
            word = keyword(text)
            if word in OPT_OUT_WORDS:
                if await self.store.opt_out(self.channel, sender):
                    logger.info("%s: %s opted out", self.channel, mask(sender))
                    await self.say(incoming, "utter_opted_out", OPT_OUT_WORDS[word], output)
                return "opt-out"
            if word in OPT_IN_WORDS and await self.store.opt_in(self.channel, sender):
                logger.info("%s: %s opted in again", self.channel, mask(sender))
                await self.say(incoming, "utter_opted_in", OPT_IN_WORDS[word], output)
                return "opt-in"
        if self.opt_words and incoming.kind == "start":
            if await self.store.opt_in(self.channel, sender):
                logger.info("%s: %s opted in again", self.channel, mask(sender))
                await self.say(incoming, "utter_opted_in", incoming.language, output)
                return "opt-in"
        language, held = await self.state(sender)
        if not held and await on_customer_message(self, incoming):
            return "update"  # the update template's button: the waiting answer is queued
        if not text.strip() and incoming.media:
            if not held:
                language = language or incoming.language
                await self.say(incoming, "utter_media_unsupported", language, output)
            return "media"
        if held:
            await self._log_only(incoming, as_text(text))
            return "held"
        dialogue_text, payload = await self._dialogue_text(incoming)
        marks: Dict[str, Any] = {"kind": incoming.kind, "payload": payload}
        if not payload and payload_intent(incoming.text.strip()):
            # Typed (or forged) in Rasa's payload syntax: read as words, but noted, so
            # that an action can tell "/request_human" from a sentence asking for one.
            marks["typed_command"] = payload_intent(incoming.text.strip())
        metadata = {**incoming.metadata, METADATA_KEY: marks}
        assert self.on_new_message is not None, f"the {self.channel} pipeline has not started"
        await self.on_new_message(
            UserMessage(
                dialogue_text,
                output,
                sender,
                input_channel=self.channel,
                message_id=incoming.message_id,
                metadata=metadata,
            )
        )
        if output.sent == 0 and output.dropped == 0:
            _, held = await self.state(sender)
            if not held:
                raise RuntimeError("the dialogue gave no reply outside a handoff")
        return "button" if payload else "text"

    async def _dialogue_text(self, incoming: Incoming) -> Tuple[str, bool]:
        """What Rasa gets, and whether it is a payload: an offered, unused one, or words."""
        if incoming.kind == "start":
            return "/greet", True  # the channel's own command, not the customer's text
        text = incoming.text.strip()
        candidate: str | None = None
        if incoming.kind == "button":
            candidate = text
        elif self.choice is not None:
            candidate = await self.choice(incoming)
        if candidate is None and self.slash_payloads and text.startswith("/"):
            candidate = text
        if (
            candidate
            and payload_allowed(candidate, self.intents)
            and await self.store.take_payload(self.channel, incoming.sender, candidate)
        ):
            return candidate, True
        if candidate and incoming.kind == "button":
            logger.info(
                "%s: %s pressed a button the bot did not offer (or used); read as text",
                self.channel,
                mask(incoming.sender),
            )
        return as_text(text), False

    async def _log_only(self, incoming: Incoming, text: str) -> None:
        """Records a message in the tracker (with its NLU parse) without any policy or action."""
        agent = getattr(self.app.ctx, "agent", None) if self.app is not None else None
        if agent is None or agent.processor is None:
            raise RuntimeError("no Rasa agent to record the message")
        message = UserMessage(
            text,
            self.guarded(incoming.message_id, silent=True),
            incoming.sender,
            input_channel=self.channel,
            message_id=incoming.message_id,
            metadata={**incoming.metadata, METADATA_KEY: {"kind": incoming.kind, "held": True}},
        )
        async with agent.lock_store.lock(incoming.sender):
            await agent.processor.log_message(message, should_save_tracker=True)
        logger.info("%s: %s wrote during a handoff; recorded", self.channel, mask(incoming.sender))

    async def state(self, sender: str) -> Tuple[str | None, bool]:
        """The conversation's language, and whether a person has it (open handoff or paused)."""
        language, paused = await conversation_state(self.app, sender)
        if paused:
            return language, True
        return language, await self.store.open_handoff_for(sender) is not None

    async def say(
        self,
        incoming: Incoming,
        response_name: str,
        language: str | None,
        output: GuardedOutput | None = None,
    ) -> None:
        """Sends one of the channel's own responses from the domain."""
        message = self.responses.render(response_name, language)
        await (output or self.guarded(incoming.message_id)).send_response(incoming.sender, message)
