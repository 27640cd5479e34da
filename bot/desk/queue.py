"""The agents' queue: waiting conversations, who owns which, claims, and live updates.

- `/queue` lists the active handoffs: waiting ones first (highest priority, then
  the longest wait), each with its reason (asked for a person, severe complaint,
  bot did not understand, bot failed), language, channel, the intents the NLU
  read, the ticket and how long it has waited; then the assigned ones with their
  agent, so every agent sees who has what.
- Claim, release and transfer are forms (CSRF token in the form; htmx sends the
  header too) that call the store's guarded transitions: when two agents claim
  at once exactly one wins and the other is told, politely, who has it.
- `/queue/events` is a server-sent event stream fed by the desk's live feed
  (`bot.desk.live`: Rasa's event broker and the store's handoff changes). The
  page's list re-fetches `/queue/items` on each `queue` event (htmx's SSE
  extension), so new conversations and changes appear without reloading.
  The list shows the first `WAITING_SHOWN` waiting conversations (the next to
  take) and says how many wait in all.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, AsyncIterator, Dict, List

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from bot.desk.auth import AGENTS, current_user, route
from bot.desk.live import FeedEvent, live_feed, until_disconnect
from bot.desk.web import render, store
from bot.language import LANGUAGE_NAMES
from bot.privacy import mask
from bot.store.base import NotFound
from bot.store.cases import HANDOFF_KINDS, HandoffConflict, handoff_kind, last_customer_words

# Seconds between keep-alive comments on an idle event stream.
KEEPALIVE_SECONDS = 15.0
# Changes this close together become one `queue` event (one re-fetch, not ten).
COALESCE_SECONDS = 0.25
# Rasa events that change what the queue shows about a conversation in it.
QUEUE_RASA_EVENTS = frozenset({"user", "pause", "resume"})
CHANNEL_NAMES = {
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "rest": "REST",
    "webchat": "Web chat",
}


WAITING_SHOWN = 100  # waiting rows on the page; the count says how many wait in all


def waited(created_at: str | None, at: datetime) -> str:
    """How long since `created_at`, for a person: "45 s", "12 min", "2 h 5 min", "3 d 4 h"."""
    if not created_at:
        return "?"
    seconds = max(0, int((at - datetime.fromisoformat(created_at)).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def shown(row: Dict[str, Any], at: datetime) -> Dict[str, Any]:
    """A queue row as the page shows it."""
    last_customer = last_customer_words(row["last_messages"])
    return {
        **row,
        # handoffs queued before migration 0010 have no kind: read it from the reason
        "reason_label": HANDOFF_KINDS[row.get("kind") or handoff_kind(row.get("reason") or "")],
        "channel_label": CHANNEL_NAMES.get(row.get("channel") or "", row.get("channel") or "?"),
        "language_label": LANGUAGE_NAMES.get(row.get("language") or "", "unknown"),
        "waited": waited(row.get("created_at"), at),
        "owned_for": waited(row.get("assigned_at"), at) if row.get("assigned_at") else "",
        "last_customer": last_customer[:280],
        "who": mask(row["sender_id"]),
    }


async def queue_context(request: Request, notice: str = "", problem: str = "") -> Dict[str, Any]:
    """What the list needs: waiting and assigned rows, agents to transfer to, a message."""
    at = request.app.state.clock()
    rows = await store(request).queue()
    waiting = [r for r in rows if r["status"] == "waiting"]
    user = current_user(request)
    agents = [
        u["name"]
        for u in await store(request).list_users()
        if u["role"] in AGENTS and not u["disabled"]
    ]
    return {
        # The first WAITING_SHOWN in queue order: the ones an agent takes next. With
        # 1,000 waiting, every row would make each live update ~800 KiB per agent.
        "waiting": [shown(r, at) for r in waiting[:WAITING_SHOWN]],
        "waiting_total": len(waiting),
        "assigned": [shown(r, at) for r in rows if r["status"] == "assigned"],
        "agents": agents,
        "me": user["name"],
        "is_admin": user["role"] == "admin",
        "notice": notice,
        "problem": problem,
    }


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def queue_page(request: Request) -> Response:
    """The queue, live."""
    return render(request, "queue/page.html", await queue_context(request))


async def queue_items(request: Request) -> Response:
    """The list alone (what the page re-fetches on each live event)."""
    return render(request, "queue/items.html", await queue_context(request))


async def _answer(request: Request, notice: str = "", problem: str = "", status: int = 200):
    """After an action: the list (htmx) or the whole page, with what happened."""
    context = await queue_context(request, notice, problem)
    if is_htmx(request):  # htmx swaps only 2xx answers; the message says what happened
        return render(request, "queue/items.html", context)
    return render(request, "queue/page.html", context, status_code=status)


def conflict_text(conflict: HandoffConflict, me: str) -> str:
    """A polite explanation of a transition that did not apply."""
    handoff = conflict.handoff
    if handoff["status"] == "assigned" and conflict.owner and conflict.owner != me:
        return (
            f"Sorry, {conflict.owner} took this conversation a moment before you. "
            "It is theirs now; please pick another one from the queue."
        )
    if handoff["status"] == "closed":
        return "This conversation was closed in the meantime; nothing to do."
    if handoff["status"] == "waiting":
        return "This conversation is back in the queue already: nobody owns it now."
    return "This conversation changed in the meantime; the queue below is up to date."


async def _handoff_id(request: Request) -> int:
    return int(request.path_params["handoff_id"])


async def claim(request: Request) -> Response:
    """Takes a waiting conversation (exactly one of two agents at once wins)."""
    handoff_id = await _handoff_id(request)
    me = current_user(request)["name"]
    try:
        handoff = await store(request).claim_handoff(handoff_id, me)
    except NotFound:
        return await _answer(request, problem="There is no such conversation.", status=404)
    except HandoffConflict as conflict:
        return await _answer(request, problem=conflict_text(conflict, me), status=409)
    target = f"/conversations/{handoff['id']}"
    if is_htmx(request):
        response = Response(status_code=204)
        response.headers["HX-Redirect"] = target
        return response
    return RedirectResponse(target, 303)


async def release(request: Request) -> Response:
    """Puts one's conversation back in the queue (an admin may release anyone's)."""
    handoff_id = await _handoff_id(request)
    user = current_user(request)
    db = store(request)
    try:
        handoff = await db.get_handoff(handoff_id)
        owner = handoff.get("assigned_to") if user["role"] == "admin" else user["name"]
        await db.release_handoff(handoff_id, owner or user["name"], by=user["name"])
    except NotFound:
        return await _answer(request, problem="There is no such conversation.", status=404)
    except HandoffConflict as conflict:
        return await _answer(request, problem=conflict_text(conflict, user["name"]), status=409)
    return await _answer(request, notice="The conversation is back in the queue.")


async def transfer(request: Request) -> Response:
    """Gives one's conversation to another agent (an admin may move anyone's)."""
    handoff_id = await _handoff_id(request)
    user = current_user(request)
    db = store(request)
    form = await request.form()
    to = str(form.get("to") or "").strip()
    target = await db.find_user(to) if to else None
    if target is None or target["disabled"] or target["role"] not in AGENTS:
        return await _answer(request, problem="Please choose an active agent.", status=400)
    try:
        handoff = await db.get_handoff(handoff_id)
        owner = handoff.get("assigned_to") if user["role"] == "admin" else user["name"]
        if handoff["status"] == "assigned" and handoff.get("assigned_to") == to:
            return await _answer(request, notice=f"{to} has this conversation already.")
        await db.transfer_handoff(handoff_id, owner or user["name"], to, by=user["name"])
    except NotFound:
        return await _answer(request, problem="There is no such conversation.", status=404)
    except HandoffConflict as conflict:
        return await _answer(request, problem=conflict_text(conflict, user["name"]), status=409)
    return await _answer(request, notice=f"The conversation is with {to} now.")


async def queue_events(request: Request) -> Response:
    """Server-sent events: `queue` whenever the queue may look different."""
    feed = live_feed(request.app)
    await feed.start()
    db = store(request)

    async def matters(event: FeedEvent) -> bool:
        if event.source == "handoff":
            return True
        if event.type not in QUEUE_RASA_EVENTS:
            return False
        return await db.open_handoff_for(event.sender_id) is not None

    async def stream() -> AsyncIterator[str]:
        async with feed.subscribe() as subscription:
            yield "retry: 3000\n: connected\n\n"
            async for event in until_disconnect(request.receive, subscription, KEEPALIVE_SECONDS):
                if event is None:
                    yield ": keepalive\n\n"
                    continue
                batch: List[FeedEvent] = [event]
                while (more := await subscription.get(timeout=COALESCE_SECONDS)) is not None:
                    batch.append(more)
                    if len(batch) >= 100:
                        break
                changes = [
                    {"source": e.source, "type": e.type, "handoff_id": e.data.get("handoff_id")}
                    for e in batch
                    if await matters(e)
                ]
                if changes:
                    yield f"event: queue\ndata: {json.dumps(changes)}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def routes() -> List[Any]:
    """The queue's routes (agents; admin too)."""
    item = "/queue/{handoff_id:int}"
    return [
        route("/queue", queue_page, roles=AGENTS, methods=["GET"]),
        route("/queue/items", queue_items, roles=AGENTS, methods=["GET"]),
        route("/queue/events", queue_events, roles=AGENTS, methods=["GET"]),
        route(f"{item}/claim", claim, roles=AGENTS, methods=["POST"]),
        route(f"{item}/release", release, roles=AGENTS, methods=["POST"]),
        route(f"{item}/transfer", transfer, roles=AGENTS, methods=["POST"]),
    ]
