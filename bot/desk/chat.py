"""The customer's web chat page, served by the desk: `/chat`, `/chat/send`, `/chat/events`.

The browser talks only to the desk (same origin); the desk forwards to Rasa.

- `GET /chat`: the page (templates/chat/page.html, static/chat.js, chat.css) with
  the conversation so far: the visitor's messages (`inbound_messages`) and the
  bot's and agents' (the outbox), in order, with times. The first visit sets the
  visitor cookie (`crisisdesk_visitor`: a random visitor id signed by the desk,
  HttpOnly, SameSite=Lax, Secure behind https, path /chat); the conversation id is
  `webchat:<visitor id>`. A forged or unreadable cookie gets a new visitor.
- `POST /chat/send`: one message, JSON `{"text", "kind": "text"|"button", "id",
  "token"}` (fetch) or a form (`text`, `kind`, `token`: works without JavaScript,
  answers with a redirect to /chat). The route is PUBLIC, so `DeskGuard` checks
  its anonymous double-submit CSRF token (`X-CSRF-Token` or `csrf_token`); this
  module checks the visitor's own token (`token`: an HMAC of the visitor id) as
  well, so a token from another visitor's page does not work. The message goes to
  Rasa's `/webhooks/webchat/webhook`, signed (bot/channels/webchat_auth.py); its
  message id comes from the page's id (a retry of the same message is dropped by
  the channel, which remembers ids first).
- `GET /chat/events`: server-sent events. The desk is the web chat's sender:
  while a visitor has a page open, `ChatHub` claims that visitor's pending
  "webchat" outbox rows in order (`claim_outgoing`), pushes each to every open
  page of the visitor and marks it sent (`mark_sent`, provider id `webchat-<id>`).
  Rows written while no page was open wait in the outbox: the next page shows
  them. A reconnecting page says the last row it has (`Last-Event-ID`, or
  `?after=` on the first connection) and first gets the rows sent since.
- `POST /chat/seen`: the page says the last row it shows (`{"id", "token"}`);
  those rows get the delivery status "delivered" (agents see it in the desk).

Agents' replies (and any other message to a web chat customer) are outbox rows
for `webchat:<visitor id>` with `{"text": ..., "agent": "<name>"}`: write them
with `enqueue_for_visitor`, which also wakes the visitor's open pages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import deque
from http.cookies import SimpleCookie
from typing import Any, AsyncIterator, Deque, Dict, List, Set, Tuple

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from bot.channels.webchat_auth import SIGNATURE_HEADER, WebchatKeys
from bot.desk.auth import PUBLIC, csrf_token, is_https, route
from bot.privacy import mask
from bot.store.aio import AsyncStore

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
VISITOR_COOKIE = "crisisdesk_visitor"
COOKIE_DAYS = 90
MAX_MESSAGE_CHARS = 4000  # as bot/channels/webchat.py accepts
CLIENT_ID = re.compile(r"^[0-9a-f]{32}$")
# How often the desk looks for new web chat rows in the outbox (the Rasa process
# writes replies there; it cannot wake the desk), how often each open page's
# delivery looks by itself, and how long a claimed row is leased.
POLL_SECONDS = 0.1
RECHECK_SECONDS = 5.0
LEASE_SECONDS = 30.0
KEEPALIVE_SECONDS = 15.0
# Messages a visitor may send per minute (a flood gets a polite 429).
SENDS_PER_MINUTE = 30
FORWARD_TIMEOUT = 10.0

_REACH = (
    "Asistana şu anda ulaşılamıyor, lütfen biraz sonra tekrar deneyin. / "
    "The assistant cannot be reached right now; please try again in a moment."
)
_RELOAD = "Lütfen sayfayı yenileyin. / Please reload the page."  # cookie or token missing


def conversation_id(visitor: str) -> str:
    """The conversation id (Rasa sender, outbox recipient) of a visitor."""
    return f"{CHANNEL}:{visitor}"


def message_id(visitor: str, client_id: str) -> str:
    """The id the channel remembers: the page's id, scoped to the visitor."""
    return hashlib.sha256(f"{visitor}:{client_id}".encode()).hexdigest()[:32]


# -- delivering to open pages -------------------------------------------------------------


class ChatHub:
    """The web chat's sender: each visitor with an open page gets their outbox rows, in order.

    One delivery task per visitor with at least one open page; it stops when the
    last page closes. Each row is claimed before it is pushed (so two desk
    processes never both send it) and marked sent after.

    Args:
        store: the operational store.
        poll: seconds between looks for new web chat rows (one query for all pages).
        lease: how long a claimed row is held before another deliverer may take it.
        recheck: seconds after which a visitor's delivery looks even if not woken.
    """

    def __init__(
        self,
        store: AsyncStore,
        poll: float = POLL_SECONDS,
        lease: float = LEASE_SECONDS,
        recheck: float = RECHECK_SECONDS,
    ) -> None:
        self.store = store
        self.poll = poll
        self.lease = lease
        self.recheck = recheck
        self.watcher: asyncio.Task[None] | None = None
        self.pages: Dict[str, Set[asyncio.Queue[Tuple[str, Dict[str, Any]]]]] = {}
        self.tasks: Dict[str, asyncio.Task[None]] = {}
        self.wakeups: Dict[str, asyncio.Event] = {}

    def subscribe(self, recipient: str) -> asyncio.Queue[Tuple[str, Dict[str, Any]]]:
        """A queue of (event, data) for one open page; starts the visitor's delivery."""
        queue: asyncio.Queue[Tuple[str, Dict[str, Any]]] = asyncio.Queue()
        self.pages.setdefault(recipient, set()).add(queue)
        self.wakeups.setdefault(recipient, asyncio.Event()).set()
        task = self.tasks.get(recipient)
        if task is None or task.done():
            self.tasks[recipient] = asyncio.get_running_loop().create_task(self._deliver(recipient))
        if self.watcher is None or self.watcher.done():
            self.watcher = asyncio.get_running_loop().create_task(self._watch())
        return queue

    def unsubscribe(self, recipient: str, queue: asyncio.Queue[Any]) -> None:
        """Forgets a closed page; the visitor's delivery stops with the last one."""
        pages = self.pages.get(recipient)
        if pages is None:
            return
        pages.discard(queue)
        if not pages:
            del self.pages[recipient]
            task = self.tasks.pop(recipient, None)
            if task is not None:
                task.cancel()
            self.wakeups.pop(recipient, None)
        if not self.pages and self.watcher is not None:
            self.watcher.cancel()
            self.watcher = None

    def wake(self, recipient: str) -> None:
        """Makes the visitor's delivery look at the outbox now (a row was just written)."""
        event = self.wakeups.get(recipient)
        if event is not None:
            event.set()

    def publish(self, recipient: str, event: str, data: Dict[str, Any]) -> None:
        """Sends an event to every open page of the visitor (not through the outbox)."""
        for queue in self.pages.get(recipient, ()):
            queue.put_nowait((event, data))

    async def stop(self) -> None:
        """Stops every delivery (shutdown); claimed rows come back after their lease."""
        tasks = list(self.tasks.values()) + ([self.watcher] if self.watcher else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()

    async def _watch(self) -> None:
        """Wakes every open page's delivery when the outbox has a new web chat row.

        One cheap query per `poll` for all pages (the Rasa process writes replies
        and cannot wake the desk); each delivery also looks by itself every
        `recheck` seconds (e.g. for a row another desk process leased and let go).
        """
        last = -1
        while self.pages:
            try:
                newest = await self.store.last_outgoing_id(CHANNEL)
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the database is locked: the next round tries again
                logger.exception("webchat: looking at the outbox failed")
                newest = last
            if newest != last:
                last = newest
                for event in list(self.wakeups.values()):
                    event.set()
            await asyncio.sleep(self.poll)

    async def _deliver(self, recipient: str) -> None:
        while recipient in self.pages:
            wakeup = self.wakeups.setdefault(recipient, asyncio.Event())
            wakeup.clear()
            try:
                while await self._deliver_one(recipient):
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. the database is locked: the next round tries again
                logger.exception("webchat: delivery to %s failed", mask(recipient))
            try:
                await asyncio.wait_for(wakeup.wait(), self.recheck)
            except asyncio.TimeoutError:
                pass

    async def _deliver_one(self, recipient: str) -> bool:
        """Pushes the visitor's next pending row if it is due; False when there is none."""
        row = await self.store.oldest_pending(CHANNEL, recipient)
        at = time.time()
        if row is None or row["next_attempt_at"] > at:
            return False
        if not await self.store.claim_outgoing(row["id"], at, at + self.lease):
            return False
        # Marked first: a page that drops the push gets the row again when it
        # reconnects (rows sent after its Last-Event-ID come first).
        await self.store.mark_sent(row["id"], f"webchat-{row['id']}")
        self.publish(recipient, "message", shown(row))
        return True


# -- what the page shows -----------------------------------------------------------------


def shown(row: Dict[str, Any]) -> Dict[str, Any]:
    """One outbox row as the page shows it: who, text, buttons, image, time."""
    try:
        payload = json.loads(row["payload"] or "{}")
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    agent = payload.get("agent")
    return {
        "id": int(row["id"]),
        "who": "agent" if agent else "bot",
        "agent": str(agent) if agent else None,
        "text": str(payload.get("text") or ""),
        "buttons": [
            {"title": str(b.get("title") or ""), "payload": str(b.get("payload") or "")}
            for b in payload.get("buttons") or []
            if isinstance(b, dict) and b.get("payload")
        ],
        "image": payload.get("image") if isinstance(payload.get("image"), str) else None,
        "at": row["created_at"],
    }


async def transcript(store: AsyncStore, recipient: str) -> Tuple[List[Dict[str, Any]], int]:
    """The conversation so far, oldest first, and the id of the last outbox row in it.

    The visitor's messages and the outbox rows are merged by time; a reply is
    never put before the message it answers (times have seconds only). A pressed
    button shows as its title.
    """
    inbound = await store.inbound_from(CHANNEL, recipient)
    outgoing = await store.outgoing_to(CHANNEL, recipient)
    items: List[Dict[str, Any]] = []
    titles: Dict[str, str] = {}
    emitted: Set[str] = set()
    mine: Deque[Dict[str, Any]] = deque(inbound)
    theirs: Deque[Dict[str, Any]] = deque(outgoing)
    while mine or theirs:
        take_mine = bool(mine) and (
            not theirs
            or mine[0]["received_at"] < theirs[0]["created_at"]
            or (
                mine[0]["received_at"] == theirs[0]["created_at"]
                and theirs[0]["answers"] not in emitted
            )
        )
        if take_mine:
            row = mine.popleft()
            emitted.add(row["message_id"])
            text = row["body"] or ""
            if row.get("kind") == "button":
                text = titles.get(text, text)
            items.append({"id": None, "who": "me", "text": text, "at": row["received_at"]})
        else:
            item = shown(theirs.popleft())
            titles.update({b["payload"]: b["title"] for b in item["buttons"]})
            items.append(item)
    after = max((int(row["id"]) for row in outgoing), default=0)
    return items, after


# -- the visitor ---------------------------------------------------------------------------


class Webchat:
    """The desk's web chat: keys, the hub and the Rasa address, one per app."""

    def __init__(self, settings: Any, store: AsyncStore) -> None:
        self.settings = settings
        self.store = store
        self.keys = WebchatKeys.from_settings(settings)
        self.hub = ChatHub(store)
        self.sends: Dict[str, Deque[float]] = {}

    @classmethod
    def of(cls, app: Any) -> Webchat:
        """The app's web chat, made on first use."""
        chat = getattr(app.state, "webchat", None)
        if chat is None:
            chat = app.state.webchat = cls(app.state.settings, AsyncStore.of(app.state.store))
        return chat

    def visitor(self, request: Request) -> str | None:
        """The visitor id the request's cookie proves, or None."""
        return self.keys.visitor_of(request.cookies.get(VISITOR_COOKIE))

    def cookie(self, visitor: str) -> str:
        """The Set-Cookie header value for a visitor."""
        jar = SimpleCookie()
        jar[VISITOR_COOKIE] = self.keys.cookie_for(visitor)
        morsel = jar[VISITOR_COOKIE]
        morsel["path"] = "/chat"
        morsel["httponly"] = True
        morsel["samesite"] = "Lax"
        morsel["max-age"] = COOKIE_DAYS * 86400
        if is_https(self.settings):
            morsel["secure"] = True
        return morsel.OutputString()

    def flooding(self, visitor: str) -> bool:
        """True when the visitor sent `SENDS_PER_MINUTE` messages in the last minute."""
        now = time.monotonic()
        sent = self.sends.setdefault(visitor, deque())
        while sent and now - sent[0] > 60:
            sent.popleft()
        if len(sent) >= SENDS_PER_MINUTE:
            return True
        sent.append(now)
        if len(self.sends) > 10_000:  # forget idle visitors
            for key in [k for k, v in self.sends.items() if not v][:5000]:
                del self.sends[key]
        return False

    async def forward(self, visitor: str, msg_id: str, text: str, kind: str) -> bool | None:
        """Sends one message to Rasa's web chat channel; True accepted, False a repeat.

        None when Rasa could not be reached or refused it (logged).
        """
        body = json.dumps(
            {"visitor": visitor, "message_id": msg_id, "text": text, "kind": kind},
            ensure_ascii=False,
        ).encode("utf-8")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: self.keys.sign(body)}
        url = f"{self.settings.rasa_url}/webhooks/{CHANNEL}/webhook"
        try:
            async with httpx.AsyncClient(timeout=FORWARD_TIMEOUT) as client:
                answer = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as problem:
            logger.warning("webchat: Rasa not reachable (%s)", type(problem).__name__)
            return None
        if answer.status_code == 202:
            return bool(answer.json().get("accepted"))
        if answer.status_code == 403:
            logger.error("webchat: Rasa refused the desk's signature (WEBCHAT_SECRET/RASA_TOKEN?)")
        else:
            logger.warning("webchat: Rasa answered %s to a forwarded message", answer.status_code)
        return None


async def enqueue_for_visitor(app: Any, recipient: str, message: Dict[str, Any]) -> int:
    """Writes a message for a web chat customer to the outbox and wakes their open pages.

    Args:
        app: the desk app.
        recipient: the conversation id, `webchat:<visitor id>`.
        message: `{"text": ...}`, with `"agent": name` for an agent's reply.
    """
    if not recipient.startswith(f"{CHANNEL}:"):
        raise ValueError(f"not a web chat conversation: {mask(recipient)}")
    chat = Webchat.of(app)
    outgoing_id = int(await chat.store.enqueue_outgoing(CHANNEL, recipient, message, None))
    chat.hub.wake(recipient)
    return outgoing_id


# -- routes ---------------------------------------------------------------------------------


async def chat_page(request: Request) -> Response:
    """The customer's chat page, with the conversation so far."""
    chat = Webchat.of(request.app)
    visitor = chat.visitor(request)
    new_cookie = None
    if visitor is None:
        visitor, _ = chat.keys.new_cookie()
        new_cookie = chat.cookie(visitor)
        items, after = [], 0
    else:
        items, after = await transcript(chat.store, conversation_id(visitor))
    last_bot = items[-1] if items and items[-1]["who"] != "me" else None
    response = request.app.state.templates.TemplateResponse(
        request,
        "chat/page.html",
        {
            "messages": items,
            "open_buttons": last_bot["id"] if last_bot and last_bot["buttons"] else None,
            "after": after,
            "csrf": csrf_token(request),
            "visitor_token": chat.keys.csrf_token(visitor),
            "brand": getattr(chat.settings, "brand_name", ""),
            "max_chars": MAX_MESSAGE_CHARS,
            "notice": request.query_params.get("notice", ""),
        },
        headers={"Cache-Control": "no-store"},
    )
    if new_cookie:
        response.headers.append("set-cookie", new_cookie)
    return response


def _answer(request: Request, is_form: bool, status: int, body: Dict[str, Any]) -> Response:
    if is_form:  # no JavaScript: back to the page, with a notice when something went wrong
        notice = "" if status < 400 else str(status)
        return RedirectResponse("/chat" + (f"?notice={notice}" if notice else ""), 303)
    return JSONResponse(body, status_code=status)


async def chat_send(request: Request) -> Response:
    """One customer message, forwarded to Rasa's web chat channel."""
    chat = Webchat.of(request.app)
    content_type = request.headers.get("content-type", "")
    is_form = not content_type.startswith("application/json")
    if is_form:
        form = await request.form()
        data: Any = {key: form.get(key) for key in ("text", "kind", "id", "token", "title")}
        await form.close()
    else:
        try:
            data = json.loads(await request.body())
        except ValueError:
            data = None
    if not isinstance(data, dict):
        return _answer(request, is_form, 400, {"error": "send JSON: {text, kind, id, token}"})
    visitor = chat.visitor(request)
    if visitor is None or not chat.keys.csrf_ok(visitor, data.get("token")):
        logger.warning("webchat: a message without a valid visitor cookie and token refused")
        return _answer(request, is_form, 403, {"error": _RELOAD})
    text, kind = data.get("text"), data.get("kind") or "text"
    if not isinstance(text, str) or not text.strip():
        return _answer(request, is_form, 400, {"error": "Boş mesaj / Empty message"})
    if len(text) > MAX_MESSAGE_CHARS:
        return _answer(
            request, is_form, 413, {"error": f"En çok / At most {MAX_MESSAGE_CHARS} characters"}
        )
    if kind not in ("text", "button"):
        return _answer(request, is_form, 400, {"error": "kind: text or button"})
    client_id = data.get("id")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        if not is_form:
            return _answer(request, is_form, 400, {"error": "id: 32 hex characters"})
        client_id = hashlib.sha256(f"{time.time_ns()}:{text}".encode()).hexdigest()[:32]
    if chat.flooding(visitor):
        return _answer(
            request,
            is_form,
            429,
            {"error": "Çok hızlı / Too many messages; please wait a minute."},
        )
    accepted = await chat.forward(visitor, message_id(visitor, client_id), text.strip(), kind)
    if accepted is None:
        return _answer(request, is_form, 503, {"error": _REACH})
    title = data.get("title") if kind == "button" and isinstance(data.get("title"), str) else None
    if accepted:
        chat.hub.publish(
            conversation_id(visitor),
            "mine",
            {"client_id": client_id, "text": (title or text.strip())[:MAX_MESSAGE_CHARS]},
        )
    return _answer(request, is_form, 202, {"ok": True, "repeat": not accepted})


async def chat_seen(request: Request) -> Response:
    """The page shows the visitor's messages up to `id`: they are "delivered" (agents see it)."""
    chat = Webchat.of(request.app)
    try:
        data = json.loads(await request.body())
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("id"), int) or data["id"] < 0:
        return JSONResponse({"error": "send JSON: {id, token}"}, status_code=400)
    visitor = chat.visitor(request)
    if visitor is None or not chat.keys.csrf_ok(visitor, data.get("token")):
        return JSONResponse({"error": _RELOAD}, status_code=403)
    changed = await chat.store.mark_shown(CHANNEL, conversation_id(visitor), data["id"])
    return JSONResponse({"ok": True, "delivered": changed})


def _sse(event: str, data: Dict[str, Any], event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


async def chat_events(request: Request) -> Response:
    """The visitor's messages as server-sent events (`message` from the outbox, `mine`)."""
    chat = Webchat.of(request.app)
    visitor = chat.visitor(request)
    if visitor is None:
        return JSONResponse({"error": _RELOAD}, status_code=403)
    last = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    try:
        after = max(0, int(last))
    except ValueError:
        return JSONResponse({"error": "after: a message id"}, status_code=400)
    recipient = conversation_id(visitor)
    hub = chat.hub
    queue = hub.subscribe(recipient)

    async def stream() -> AsyncIterator[str]:
        seen = after
        try:
            yield "retry: 2000\n\n"
            # Sent while this page was away (another page of the visitor had them).
            for row in await chat.store.outgoing_to(CHANNEL, recipient, after_id=seen):
                if row["status"] != "sent":
                    break  # pending rows come through the hub, in order
                seen = int(row["id"])
                yield _sse("message", shown(row), seen)
            while True:
                try:
                    event, data = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except asyncio.TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if event == "message":
                    if data["id"] <= seen:
                        continue
                    seen = data["id"]
                    yield _sse(event, data, seen)
                else:
                    yield _sse(event, data)
        finally:
            hub.unsubscribe(recipient, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def routes() -> list:
    """The web chat's routes (public: the customer page; checks are in the handlers)."""
    return [
        route("/chat", chat_page, roles=PUBLIC, methods=["GET"], name="chat"),
        route("/chat/send", chat_send, roles=PUBLIC, methods=["POST"], name="chat_send"),
        route("/chat/events", chat_events, roles=PUBLIC, methods=["GET"], name="chat_events"),
        route("/chat/seen", chat_seen, roles=PUBLIC, methods=["POST"], name="chat_seen"),
    ]
