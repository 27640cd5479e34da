"""One conversation for an agent: transcript, live messages, reply, notes, close and hand back.

- The transcript is Rasa's tracker (`RasaClient.tracker`, the HTTP API): customer,
  bot and agent messages with their times; the facts and FAQ answers the bot sent
  are marked by the response names on the bot events (`utter_fact_*`,
  `utter_faq_answer`). The ticket, notes and agents' replies with their delivery
  state come from the store.
- While the agent owns the handoff, the page's transcript is refreshed by the
  desk's live feed (`bot.desk.live`, fed by Rasa's event broker): a server-sent
  event per change of this conversation, not polling the tracker API.
- A reply is written to the outbox of the conversation's channel (the desk runs its
  own `Outbox` with the WhatsApp and Telegram senders; web chat rows are delivered
  by the chat page's stream) and to the tracker as a bot message naming the agent:
  owed to the tracker in the same transaction as the reply, appended at once, or by
  the retry loop once Rasa answers again (bot/desk/history.py). Until then the
  transcript shows it in its place, marked "not yet in the bot's history".
- WhatsApp's 24-hour window: free text only while it is open (last customer
  message on WhatsApp); after that, approved templates from
  data/whatsapp_templates.yml (ContentSid + ContentVariables).
- Close: Rasa resumes through the external intent (`RasaClient.resume`); the bot
  thanks the customer and asks for a 1-5 rating (actions/rating.py stores it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List

import yaml
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bot.config import PROJECT_ROOT
from bot.desk.auth import current_user, route
from bot.desk.chat import enqueue_for_visitor
from bot.desk.history import NOT_YET, agent_reply_event, appended_ids, owed_events, tracker_appender
from bot.desk.queue import CHANNEL_NAMES
from bot.desk.web import audit, render, store
from bot.language import LANGUAGE_NAMES
from bot.outbox import Outbox
from bot.privacy import mask
from bot.rasa_api import RasaClient, RasaUnavailable
from bot.store import NotFound
from bot.store.cases import HandoffConflict

logger = logging.getLogger(__name__)

AGENTS = {"agent"}
WINDOW = timedelta(hours=24)
TEMPLATES_FILE = PROJECT_ROOT / "data" / "whatsapp_templates.yml"
MAX_REPLY_CHARS = 1600  # Twilio's WhatsApp limit; Telegram's is higher
WINDOW_ERROR = "63016"
# SSE: a comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0


# -- the pieces, testable without a request ----------------------------------------------


@dataclass(frozen=True)
class Template:
    """One approved WhatsApp template in one language."""

    name: str
    label: str
    variables: List[str]
    language: str
    content_sid: str
    preview: str

    def text(self, values: List[str]) -> str:
        """The preview with the variables filled in (what the tracker records)."""
        text = self.preview
        for number, value in enumerate(values, start=1):
            text = text.replace("{{" + str(number) + "}}", value)
        return text


def load_templates(path: Path = TEMPLATES_FILE) -> Dict[str, Dict[str, Template]]:
    """The templates file as {name: {language: Template}}; raises ValueError when malformed."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found: Dict[str, Dict[str, Template]] = {}
    for entry in data.get("templates") or []:
        name = str(entry["name"])
        variables = [str(v) for v in entry.get("variables") or []]
        for language, spec in (entry.get("languages") or {}).items():
            sid = str(spec.get("content_sid") or "")
            if not sid.startswith("HX"):
                raise ValueError(f"template {name} ({language}): content_sid must start with HX")
            found.setdefault(name, {})[language] = Template(
                name,
                str(entry.get("label") or name),
                variables,
                language,
                sid,
                str(spec.get("preview") or ""),
            )
    return found


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time from the store as an aware datetime (None for none)."""
    if not text:
        return None
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def window_closes_at(events: List[Dict[str, Any]], channel: str | None) -> datetime | None:
    """When WhatsApp's 24-hour window closes: 24 h after the customer's last message."""
    if channel != "whatsapp":
        return None
    times = [
        e["timestamp"]
        for e in events
        if e.get("event") == "user" and e.get("input_channel") == "whatsapp"
    ]
    if not times:
        return None
    return datetime.fromtimestamp(max(times), timezone.utc) + WINDOW


def transcript(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The tracker's messages in order: who, text, time, and what the bot sent."""
    lines = []
    for event in events:
        kind = event.get("event")
        if kind not in ("user", "bot"):
            continue
        at = datetime.fromtimestamp(float(event.get("timestamp") or 0), timezone.utc)
        metadata = event.get("metadata") or {}
        line: Dict[str, Any] = {
            "at": at,
            "time": float(event.get("timestamp") or 0),
            "time_key": repr(float(event.get("timestamp") or 0)),
            "text": event.get("text") or "",
            "mark": None,
        }
        if kind == "user":
            parse = event.get("parse_data") or {}
            intent = parse.get("intent") or {}
            line.update(
                who="customer",
                intent=intent.get("name"),
                confidence=intent.get("confidence"),
                language=parse.get("language"),
                held=bool((metadata.get("crisisdesk") or {}).get("held")),
            )
        elif metadata.get("agent"):
            line.update(who="agent", agent=metadata["agent"])
        else:
            response = str(metadata.get("utter_action") or "")
            line.update(who="bot", response=response)
            if response.startswith("utter_fact_"):
                line["mark"] = f"fact ({response.removeprefix('utter_fact_')})"
            elif response == "utter_faq_answer":
                line["mark"] = "FAQ answer"
        lines.append(line)
    return lines


def transcript_with_owed(
    events: List[Dict[str, Any]], owed: List[Dict[str, Any]]
) -> List[Dict[str, Any]]:
    """The tracker's messages and the desk's events it is still owed, in time order.

    An owed event (a `tracker_appends` row) the tracker does not have yet is shown
    where its time puts it, marked `NOT_YET`; the tracker keeps events in the order
    they came, so one appended late is put back at its time as well.
    """
    lines = transcript(events)
    for line in transcript(owed_events(owed, appended_ids(events))):
        lines.append({**line, "mark": NOT_YET, "owed": True})
    lines.sort(key=lambda line: line["time"])  # stable: equal times keep their order
    return lines


def delivery_label(reply: Dict[str, Any]) -> str:
    """sent / delivered / read / failed / sending, as the agent sees it next to a reply."""
    if reply.get("outbox_status") == "failed":
        return "failed"
    if reply.get("delivery_status") in ("failed", "undelivered"):
        return "failed"
    if reply.get("delivery_status") in ("delivered", "read"):
        return str(reply["delivery_status"])
    if reply.get("outbox_status") == "sent":
        return "sent"
    return "sending"


def failure_reason(reply: Dict[str, Any]) -> str | None:
    """Why a reply failed, in words (the 24-hour window named as such)."""
    if delivery_label(reply) != "failed":
        return None
    error = str(reply.get("last_error") or "")
    if WINDOW_ERROR in error:
        return "refused: WhatsApp's 24-hour window is closed (send a template)"
    return error or f"provider reported {reply.get('delivery_status')}"


def canned_replies(
    facts: List[Dict[str, Any]], faqs: List[Dict[str, Any]], language: str | None
) -> List[Dict[str, str]]:
    """Published facts and FAQ answers in the customer's language (both when unknown)."""
    langs = [language] if language in ("tr", "en") else ["tr", "en"]
    found = []
    for fact in facts:
        for lang in langs:
            text = f"{fact[f'answer_{lang}']}\n{fact.get('source_url') or ''}".strip()
            found.append(
                {
                    "kind": "fact",
                    "id": str(fact["id"]),
                    "lang": lang,
                    "title": fact[f"claim_{lang}"],
                    "text": text,
                }
            )
    for faq in faqs:
        for lang in langs:
            text = f"{faq[f'answer_{lang}']}\n{faq.get('source_url') or ''}".strip()
            found.append(
                {
                    "kind": "faq",
                    "id": str(faq["id"]),
                    "lang": lang,
                    "title": faq[f"question_{lang}"],
                    "text": text,
                }
            )
    return found


# -- app services --------------------------------------------------------------------------


def rasa_client(app: Any) -> RasaClient:
    """The app's Rasa HTTP API client (RASA_URL, JWT signed with RASA_TOKEN)."""
    client = getattr(app.state, "rasa", None)
    if client is None:
        cfg = app.state.settings
        client = app.state.rasa = RasaClient(cfg.rasa_url, cfg.rasa_token)
    return client


def senders(cfg: Any) -> Dict[str, Any]:
    """Outbox senders for the channels configured (they import without Rasa)."""
    found: Dict[str, Any] = {}
    if not cfg.whatsapp_missing():
        from bot.channels.twilio import TwilioSender

        found["whatsapp"] = TwilioSender(
            cfg.twilio_account_sid,
            cfg.twilio_auth_token,
            cfg.twilio_whatsapp_number,
            cfg.twilio_api_base_url,
            f"{cfg.public_base_url}/webhooks/whatsapp/status",
        )
    if cfg.telegram_bot_token:
        from bot.channels.telegram_send import TelegramSender

        found["telegram"] = TelegramSender.from_settings(cfg)
    return found


def desk_outbox(app: Any) -> Outbox:
    """The desk's own outbox (started on first use, inside the server's event loop)."""
    outbox = getattr(app.state, "outbox", None)
    if outbox is None:
        cfg = app.state.settings
        outbox = app.state.outbox = Outbox(app.state.store, senders(cfg), rates=cfg.outbox_rates())
    outbox.start()
    return outbox


def whatsapp_templates(app: Any) -> Dict[str, Dict[str, Template]]:
    """The configured templates (read once per app)."""
    found = getattr(app.state, "whatsapp_templates", None)
    if found is None:
        path = getattr(app.state, "whatsapp_templates_file", TEMPLATES_FILE)
        found = app.state.whatsapp_templates = load_templates(path)
    return found


# -- routes --------------------------------------------------------------------------------


class Refused(Exception):
    """A request the agent cannot make now, with the status and the polite reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _handoff(request: Request) -> Dict[str, Any]:
    try:
        return await store(request).get_handoff(int(request.path_params["handoff_id"]))
    except NotFound:
        raise Refused(404, "There is no such conversation.") from None


def _owned(handoff: Dict[str, Any], request: Request) -> None:
    user = current_user(request)
    if handoff["status"] != "assigned" or handoff.get("assigned_to") != user["name"]:
        owner = handoff.get("assigned_to")
        raise Refused(
            409,
            f"{owner} has this conversation."
            if owner and handoff["status"] == "assigned"
            else "Claim this conversation in the queue before you reply or close it.",
        )


async def _refusal(request: Request, problem: Exception) -> Response:
    """A `Refused` raised by any route of this area, as the notice htmx shows in place."""
    assert isinstance(problem, Refused)
    return render(request, "conversations/_notice.html", {"message": str(problem)}, problem.status)


# Registered on the app by bot.desk.app: routes raise Refused, one handler answers.
exception_handlers = {Refused: _refusal}


async def _context(request: Request, handoff: Dict[str, Any]) -> Dict[str, Any]:
    sender = handoff["sender_id"]
    rasa_error, events = None, []
    try:
        tracker = await asyncio.to_thread(rasa_client(request.app).tracker, sender)
        events = tracker.get("events") or []
    except RasaUnavailable as problem:
        rasa_error = str(problem)
    db = store(request)
    owed = await db.list_tracker_appends(sender)
    replies = await db.list_replies(sender)
    for reply in replies:
        reply["delivery"] = delivery_label(reply)
        reply["failure"] = failure_reason(reply)
    tickets = [t for t in await db.list_tickets(sender)]
    ticket = next((t for t in tickets if t["number"] == handoff.get("ticket_number")), None)
    now = request.app.state.clock()
    closes = window_closes_at(events, handoff.get("channel"))
    window_open = closes is None or closes > now
    language = handoff.get("language")
    templates = whatsapp_templates(request.app)
    return {
        "handoff": handoff,
        "channel_names": CHANNEL_NAMES,
        "language_names": LANGUAGE_NAMES,
        "lines": transcript_with_owed(events, owed),
        "rasa_error": rasa_error,
        "replies": replies,
        "notes": await db.list_notes(sender),
        "ticket": ticket,
        "tickets": tickets,
        "marked": {m["event_time"] for m in await db.list_misunderstood(sender, None)},
        "window_closes": closes,
        "window_left": (closes - now) if closes and window_open else None,
        "window_open": window_open,
        "templates": [
            t.get(language) or t.get("tr") or next(iter(t.values())) for t in templates.values()
        ],
        "owned": handoff["status"] == "assigned"
        and handoff.get("assigned_to") == current_user(request)["name"],
    }


async def conversation_page(request: Request) -> Response:
    """The whole conversation: transcript, ticket, notes, reply box, close."""
    handoff = await _handoff(request)
    return render(request, "conversations/page.html", await _context(request, handoff))


async def conversation_messages(request: Request) -> Response:
    """The transcript and replies alone (what the live feed refreshes)."""
    handoff = await _handoff(request)
    return render(request, "conversations/_messages.html", await _context(request, handoff))


async def conversation_live(request: Request) -> Response:
    """Server-sent events: `changed` whenever this conversation's tracker or handoff changes."""
    handoff = await _handoff(request)
    from bot.desk.live import live_feed

    feed = live_feed(request.app)
    await feed.start()

    async def stream():
        async with feed.subscribe(handoff["sender_id"]) as subscription:
            yield ": connected\n\n"
            while not await request.is_disconnected():
                event = await subscription.get(timeout=KEEPALIVE_SECONDS)
                if event is None:
                    yield ": keepalive\n\n"
                    continue
                yield f"event: changed\ndata: {event.type}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


async def _send(
    request: Request,
    handoff: Dict[str, Any],
    message: Dict[str, Any],
    text: str,
    kind: str,
    template: str | None,
) -> Dict[str, Any]:
    """Enqueues one agent message, records it in the store and in the Rasa tracker."""
    user = current_user(request)
    channel, sender = handoff.get("channel") or "", handoff["sender_id"]
    db = store(request)
    if channel == "webchat":
        # Named as the agent's (the page shows who wrote), and the open page woken.
        outbox_id = await enqueue_for_visitor(
            request.app, sender, {**message, "agent": user["name"]}
        )
    else:
        outbox = desk_outbox(request.app)
        if channel not in outbox.senders:
            raise Refused(
                409, f"The desk cannot send on {channel or 'this channel'} (is it configured?)."
            )
        outbox_id = await outbox.enqueue(channel, sender, message, None)
    event = agent_reply_event(
        text, user["name"], time.time(), **({"template": template} if template else {})
    )
    reply_id = await db.record_reply(
        sender_id=sender,
        handoff_id=handoff["id"],
        agent=user["name"],
        channel=channel,
        text=text,
        outbox_id=outbox_id,
        kind=kind,
        template=template,
        tracker_event=event,  # owed to the tracker from now on, whatever fails next
    )
    await db.record_first_reply(handoff["id"])
    try:
        await tracker_appender(request.app).flush(sender)
    except RasaUnavailable as problem:
        # The customer gets the message all the same; the view shows it "not yet in
        # the bot's history" until the retry loop has appended it.
        logger.warning("reply %s to %s owed to the tracker: %s", reply_id, mask(sender), problem)
    await audit(request, "reply", f"handoff:{handoff['id']}", {"kind": kind, "reply": reply_id})
    return await db.get_reply(reply_id)


async def reply(request: Request) -> Response:
    """The agent's free-text reply (refused on WhatsApp outside the 24-hour window)."""
    handoff = await _handoff(request)
    _owned(handoff, request)
    form = await request.form()
    text = str(form.get("text") or "").strip()
    if not text:
        raise Refused(422, "Write a message first.")
    if len(text) > MAX_REPLY_CHARS:
        raise Refused(422, f"A message has at most {MAX_REPLY_CHARS} characters.")
    context = await _context(request, handoff)
    if not context["window_open"]:
        raise Refused(409, "WhatsApp's 24-hour window is closed: choose an approved template.")
    await _send(request, handoff, {"text": text}, text, "text", None)
    return render(request, "conversations/_messages.html", await _context(request, handoff))


async def send_template(request: Request) -> Response:
    """An approved WhatsApp template, in the customer's language, with its variables."""
    handoff = await _handoff(request)
    _owned(handoff, request)
    if handoff.get("channel") != "whatsapp":
        raise Refused(409, "Templates are for WhatsApp conversations.")
    form = await request.form()
    by_language = whatsapp_templates(request.app).get(str(form.get("template") or ""))
    if not by_language:
        raise Refused(422, "Choose one of the approved templates.")
    language = handoff.get("language")
    template = (
        by_language.get(language) or by_language.get("tr") or next(iter(by_language.values()))
    )
    values = [str(v).strip() for v in form.getlist(f"variable_{template.name}")]
    if len(values) != len(template.variables) or not all(values):
        raise Refused(422, f"Fill in: {', '.join(template.variables)}.")
    message = {
        "content_sid": template.content_sid,
        "content_variables": {str(i): v for i, v in enumerate(values, start=1)},
    }
    await _send(request, handoff, message, template.text(values), "template", template.name)
    return render(request, "conversations/_messages.html", await _context(request, handoff))


async def add_note(request: Request) -> Response:
    """An internal note (never sent to the customer)."""
    handoff = await _handoff(request)
    form = await request.form()
    try:
        await store(request).add_note(
            handoff["sender_id"],
            current_user(request)["name"],
            str(form.get("text") or ""),
            handoff["id"],
        )
    except ValueError as problem:
        raise Refused(422, f"The note was not saved: {problem}.") from None
    await audit(request, "note", f"handoff:{handoff['id']}")
    notes = await store(request).list_notes(handoff["sender_id"])
    return render(request, "conversations/_notes.html", {"notes": notes, "handoff": handoff})


async def mark_misunderstood(request: Request) -> Response:
    """Puts one customer message in the trainers' inbox ("bot misunderstood")."""
    try:
        handoff = await _handoff(request)
        form = await request.form()
        try:
            at = float(str(form.get("time") or ""))
        except ValueError:
            raise Refused(422, "That message could not be found.") from None
        tracker = await asyncio.to_thread(rasa_client(request.app).tracker, handoff["sender_id"])
        line = next(
            (
                x
                for x in transcript(tracker.get("events") or [])
                if x["who"] == "customer" and x["time"] == at
            ),
            None,
        )
        if line is None:
            raise Refused(422, "That message could not be found.")
        await store(request).mark_misunderstood(
            sender_id=handoff["sender_id"],
            event_time=at,
            text=line["text"],
            intent=line.get("intent"),
            confidence=line.get("confidence"),
            language=line.get("language"),
            marked_by=current_user(request)["name"],
        )
        await audit(request, "mark_misunderstood", f"handoff:{handoff['id']}")
    except RasaUnavailable as problem:
        raise Refused(503, str(problem)) from None
    return render(request, "conversations/_notice.html", {"message": "Marked for the trainers."})


async def canned(request: Request) -> Response:
    """Published facts and FAQ answers in the customer's language, one click each."""
    handoff = await _handoff(request)
    db = store(request)
    items = canned_replies(
        await db.list_facts("published"), await db.list_faqs("published"), handoff.get("language")
    )
    query = str(request.query_params.get("q") or "").strip().lower()
    if query:
        items = [i for i in items if query in (i["title"] + " " + i["text"]).lower()]
    return render(request, "conversations/_canned.html", {"items": items, "handoff": handoff})


async def canned_insert(request: Request) -> Response:
    """The reply box filled with one canned text (htmx swaps it in)."""
    handoff = await _handoff(request)
    db = store(request)
    items = canned_replies(
        await db.list_facts("published"), await db.list_faqs("published"), handoff.get("language")
    )
    kind, item_id = request.path_params["kind"], request.path_params["item_id"]
    lang = request.query_params.get("lang")
    found = next(
        (
            i
            for i in items
            if i["kind"] == kind and i["id"] == item_id and (lang is None or i["lang"] == lang)
        ),
        None,
    )
    if found is None:
        raise Refused(404, "That text is not published (any more).")
    return render(request, "conversations/_reply_box.html", {"text": found["text"]})


async def close(request: Request) -> Response:
    """Hands the conversation back: Rasa resumes, thanks the customer, asks for a rating."""
    handoff = await _handoff(request)
    _owned(handoff, request)
    user = current_user(request)
    try:
        # What the tracker is owed goes in before the bot takes over again.
        await tracker_appender(request.app).flush(handoff["sender_id"])
        await asyncio.to_thread(rasa_client(request.app).resume, handoff["sender_id"])
    except RasaUnavailable as problem:
        raise Refused(503, f"Not closed: the bot could not take over ({problem}).") from None
    try:
        await store(request).close_handoff(handoff["id"], by=user["name"], owner=user["name"])
    except HandoffConflict as problem:
        raise Refused(409, str(problem)) from None
    response = Response(status_code=204)
    response.headers["HX-Redirect"] = "/queue"
    return response


def routes() -> List[Any]:
    """The conversation area's routes (agents; admin too)."""
    base = "/conversations/{handoff_id:int}"
    return [
        route(base, conversation_page, roles=AGENTS, methods=["GET"]),
        route(f"{base}/messages", conversation_messages, roles=AGENTS, methods=["GET"]),
        route(f"{base}/live", conversation_live, roles=AGENTS, methods=["GET"]),
        route(f"{base}/reply", reply, roles=AGENTS, methods=["POST"]),
        route(f"{base}/template", send_template, roles=AGENTS, methods=["POST"]),
        route(f"{base}/notes", add_note, roles=AGENTS, methods=["POST"]),
        route(f"{base}/misunderstood", mark_misunderstood, roles=AGENTS, methods=["POST"]),
        route(f"{base}/canned", canned, roles=AGENTS, methods=["GET"]),
        route(f"{base}/canned/{{kind}}/{{item_id}}", canned_insert, roles=AGENTS, methods=["GET"]),
        route(f"{base}/close", close, roles=AGENTS, methods=["POST"]),
    ]
