"""The desk's web chat page: cookie, CSRF, transcript, escaping, delivery over SSE.

The desk runs for real (uvicorn on a free port, real SQLite); Rasa is not needed
here except where a test says it is unreachable (tests/test_webchat.py runs the
whole path with a real Rasa server).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import httpx
import pytest

from bot.channels.webchat_auth import WebchatKeys
from bot.config import Settings
from bot.desk.app import create_app
from bot.desk.chat import (
    VISITOR_COOKIE,
    conversation_id,
    enqueue_for_visitor,
    message_id,
    transcript,
)
from bot.store import Store
from bot.store.aio import AsyncStore
from tests.servers import free_port, serving_desk

TOKEN = secrets.token_hex(24)


def desk_settings(db_path: Path, rasa_url: str, token: str = TOKEN) -> Settings:
    """Settings for a desk on `db_path` that forwards to the Rasa server at `rasa_url`."""
    return Settings.from_env(
        {"CRISISDESK_DB": str(db_path), "RASA_TOKEN": token, "RASA_URL": rasa_url}
    )


@contextmanager
def running_desk(settings: Settings) -> Iterator[str]:
    """The desk app under uvicorn in a thread; yields its base URL."""
    with serving_desk(create_app(settings)) as base:
        yield base


class Visitor:
    """One browser: a cookie jar, the page's tokens, and the SSE stream."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=30)
        self.csrf = ""
        self.token = ""
        self.after = 0

    def open_page(self) -> str:
        page = self.http.get("/chat")
        assert page.status_code == 200, page.text
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        self.token = re.search(r'data-token="([0-9a-f]+)"', page.text).group(1)
        self.after = int(re.search(r'data-after="(\d+)"', page.text).group(1))
        return page.text

    @property
    def visitor_id(self) -> str:
        return self.http.cookies[VISITOR_COOKIE].partition(".")[0]

    @property
    def conversation(self) -> str:
        return conversation_id(self.visitor_id)

    def send(self, text: str, kind: str = "text", client_id: str | None = None, **extra: Any):
        body = {
            "text": text,
            "kind": kind,
            "id": client_id or secrets.token_hex(16),
            "token": self.token,
            **extra,
        }
        return self.http.post("/chat/send", json=body, headers={"X-CSRF-Token": self.csrf})

    @contextmanager
    def events(self, last_event_id: int | None = None) -> Iterator[Events]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        with self.http.stream(
            "GET", f"/chat/events?after={self.after}", headers=headers, timeout=30
        ) as stream:
            assert stream.status_code == 200
            yield Events(stream)

    def close(self) -> None:
        self.http.close()


class Events:
    """Server-sent events read from an open stream."""

    def __init__(self, stream: httpx.Response) -> None:
        self.lines = stream.iter_lines()
        self.seen: List[Dict[str, Any]] = []

    def next(self) -> Dict[str, Any]:
        event: Dict[str, Any] = {}
        for line in self.lines:
            if not line:
                if "data" in event:
                    event["data"] = json.loads(event["data"])
                    self.seen.append(event)
                    return event
                event = {}
                continue
            field, _, value = line.partition(":")
            if field:
                event[field] = value.strip()
        raise AssertionError("the stream ended")

    def until(self, done: Callable[[List[Dict[str, Any]]], bool], limit: int = 20) -> List[dict]:
        """Reads events until `done(seen)` holds (the test's timeout bounds the wait)."""
        for _ in range(limit):
            if done(self.seen):
                return self.seen
            self.next()
        raise AssertionError(f"not seen after {limit} events: {self.seen}")


def messages(events: List[Dict[str, Any]]) -> List[str]:
    return [e["data"]["text"] for e in events if e.get("event") == "message"]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    Store.open(tmp_path / "crisisdesk.db").close()
    return tmp_path / "crisisdesk.db"


@pytest.fixture
def desk(db_path: Path) -> Iterator[str]:
    # Rasa is "at" a port nobody listens on: forwarding fails politely.
    with running_desk(desk_settings(db_path, f"http://127.0.0.1:{free_port()}")) as base:
        yield base


@pytest.fixture
def visitor(desk: str) -> Iterator[Visitor]:
    v = Visitor(desk)
    yield v
    v.close()


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    opened = Store.open(db_path)
    yield opened
    opened.close()


def test_first_visit_sets_a_signed_httponly_samesite_cookie(visitor):
    visitor.open_page()
    cookie = visitor.http.get("/chat").headers.get("set-cookie", "")
    assert VISITOR_COOKIE not in cookie  # the second visit keeps the first cookie
    fresh = httpx.get(f"{visitor.base}/chat")
    set_cookie = fresh.headers.get_list("set-cookie")
    [mine] = [c for c in set_cookie if c.startswith(VISITOR_COOKIE)]
    assert "HttpOnly" in mine and "SameSite=Lax" in mine and "Path=/chat" in mine
    assert "Secure" not in mine  # http here; Secure behind an https PUBLIC_BASE_URL
    assert re.fullmatch(r"[0-9a-f]{32}", visitor.visitor_id)


def test_a_forged_cookie_gets_a_new_visitor(desk):
    forged = f"{'a' * 32}.{'0' * 64}"
    page = httpx.get(f"{desk}/chat", cookies={VISITOR_COOKIE: forged})
    [mine] = [c for c in page.headers.get_list("set-cookie") if c.startswith(VISITOR_COOKIE)]
    assert not mine.startswith(f"{VISITOR_COOKIE}={'a' * 32}")


def test_send_without_the_visitors_token_is_refused(visitor, store):
    visitor.open_page()
    other = Visitor(visitor.base)
    other.open_page()
    visitor.token = other.token  # a token from another visitor's page
    answer = visitor.send("hello")
    assert answer.status_code == 403 and "reload" in answer.json()["error"]
    other.close()
    assert store.list_inbound("webchat") == []


def test_send_without_the_csrf_header_is_refused(visitor):
    visitor.open_page()
    visitor.csrf = "not-the-token"
    assert visitor.send("hello").status_code == 403


def test_send_without_a_cookie_is_refused(desk):
    answer = httpx.post(f"{desk}/chat/send", json={"text": "hi", "id": "0" * 32, "token": "x"})
    assert answer.status_code == 403


@pytest.mark.parametrize(
    "body, status",
    [
        ({"text": ""}, 400),
        ({"text": "x" * 4001}, 413),
        ({"text": "hi", "kind": "command"}, 400),
        ({"text": "hi", "id": "not hex"}, 400),
    ],
)
def test_bad_messages_get_a_clean_4xx(visitor, body, status):
    visitor.open_page()
    payload = {"id": secrets.token_hex(16), "token": visitor.token, "kind": "text", **body}
    answer = visitor.http.post("/chat/send", json=payload, headers={"X-CSRF-Token": visitor.csrf})
    assert answer.status_code == status and answer.json()["error"]


def test_rasa_unreachable_is_a_polite_503(visitor):
    visitor.open_page()
    answer = visitor.send("merhaba")
    assert answer.status_code == 503
    assert "try again" in answer.json()["error"] and "tekrar deneyin" in answer.json()["error"]


def test_a_form_post_without_javascript_redirects_back(visitor):
    visitor.open_page()
    answer = visitor.http.post(
        "/chat/send",
        data={
            "text": "merhaba",
            "kind": "text",
            "token": visitor.token,
            "csrf_token": visitor.csrf,
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/chat?notice=503"


def test_a_pending_reply_is_pushed_once_and_marked_sent(visitor, store):
    visitor.open_page()
    first = store.enqueue_outgoing("webchat", visitor.conversation, {"text": "one"}, "m1")
    with visitor.events() as events:
        seen = events.until(lambda s: len(messages(s)) == 1)
        second = store.enqueue_outgoing(
            "webchat",
            visitor.conversation,
            {"text": "two", "buttons": [{"title": "Evet", "payload": "/affirm"}]},
            "m1",
        )
        seen = events.until(lambda s: len(messages(s)) == 2)
    assert messages(seen) == ["one", "two"]
    assert [int(e["id"]) for e in seen] == [first, second]
    assert seen[1]["data"]["buttons"] == [{"title": "Evet", "payload": "/affirm"}]
    rows = [store.get_outgoing(first), store.get_outgoing(second)]
    assert [r["status"] for r in rows] == ["sent", "sent"]
    assert rows[0]["provider_id"] == f"webchat-{first}"


def test_rows_the_page_shows_become_delivered(visitor, store, desk):
    visitor.open_page()
    first = store.enqueue_outgoing("webchat", visitor.conversation, {"text": "one"}, None)
    with visitor.events() as events:
        events.until(lambda s: len(messages(s)) == 1)
    later = store.enqueue_outgoing("webchat", visitor.conversation, {"text": "two"}, None)
    other = Visitor(desk)
    other.open_page()
    refused = visitor.http.post(
        "/chat/seen",
        json={"id": first, "token": other.token},
        headers={"X-CSRF-Token": visitor.csrf},
    )
    other.close()
    assert refused.status_code == 403
    assert store.get_outgoing(first)["delivery_status"] is None
    told = visitor.http.post(
        "/chat/seen",
        json={"id": first, "token": visitor.token},
        headers={"X-CSRF-Token": visitor.csrf},
    )
    assert told.status_code == 200 and told.json()["delivered"] == 1
    assert store.get_outgoing(first)["delivery_status"] == "delivered"
    assert store.get_outgoing(later)["delivery_status"] is None  # not shown yet
    bad = visitor.http.post(
        "/chat/seen",
        json={"id": "x", "token": visitor.token},
        headers={"X-CSRF-Token": visitor.csrf},
    )
    assert bad.status_code == 400


def test_an_agents_reply_reaches_the_page_with_the_agents_name(visitor, store):
    visitor.open_page()
    with visitor.events() as events:
        store.enqueue_outgoing(
            "webchat", visitor.conversation, {"text": "Merhaba, ben Ayşe", "agent": "Ayşe"}, None
        )
        [event] = events.until(lambda s: len(messages(s)) == 1)
    assert event["data"]["who"] == "agent" and event["data"]["agent"] == "Ayşe"


def test_enqueue_for_visitor_writes_a_webchat_row(db_path):
    app = create_app(desk_settings(db_path, "http://127.0.0.1:1"))
    recipient = conversation_id("e" * 32)
    outgoing_id = asyncio.run(enqueue_for_visitor(app, recipient, {"text": "hi", "agent": "Ali"}))
    store = Store.open(db_path)
    row = store.get_outgoing(outgoing_id)
    store.close()
    assert (row["channel"], row["recipient"], row["status"]) == ("webchat", recipient, "pending")
    assert json.loads(row["payload"]) == {"text": "hi", "agent": "Ali"}
    with pytest.raises(ValueError):
        asyncio.run(enqueue_for_visitor(app, "whatsapp:+905321234567", {"text": "hi"}))


def test_a_reply_written_while_the_page_was_closed_arrives_on_reconnect(visitor, store):
    visitor.open_page()
    with visitor.events() as events:
        store.enqueue_outgoing("webchat", visitor.conversation, {"text": "before"}, None)
        [before] = events.until(lambda s: len(messages(s)) == 1)
    late = store.enqueue_outgoing("webchat", visitor.conversation, {"text": "while away"}, None)
    assert store.get_outgoing(late)["status"] == "pending"  # nobody to deliver to
    with visitor.events(last_event_id=int(before["id"])) as events:
        seen = events.until(lambda s: len(messages(s)) == 1)
    assert messages(seen) == ["while away"]
    assert store.get_outgoing(late)["status"] == "sent"


def test_a_reconnecting_page_gets_what_another_page_was_sent(visitor, store):
    visitor.open_page()
    with visitor.events() as events:
        store.enqueue_outgoing("webchat", visitor.conversation, {"text": "a"}, None)
        store.enqueue_outgoing("webchat", visitor.conversation, {"text": "b"}, None)
        events.until(lambda s: len(messages(s)) == 2)
    with visitor.events(last_event_id=visitor.after) as events:  # a page that missed both
        seen = events.until(lambda s: len(messages(s)) == 2)
    assert messages(seen) == ["a", "b"]


def test_another_visitors_replies_never_reach_this_page(visitor, store, desk):
    visitor.open_page()
    other = Visitor(desk)
    other.open_page()
    store.enqueue_outgoing("webchat", other.conversation, {"text": "for the other"}, None)
    mine = store.enqueue_outgoing("webchat", visitor.conversation, {"text": "for me"}, None)
    with visitor.events() as events:
        seen = events.until(lambda s: len(messages(s)) == 1)
    other.close()
    assert messages(seen) == ["for me"] and int(seen[0]["id"]) == mine
    [theirs] = store.outgoing_to("webchat", other.conversation)
    assert theirs["status"] == "pending"


def test_reload_shows_the_conversation_in_order_with_times(visitor, store):
    visitor.open_page()
    sender = visitor.conversation
    store.record_inbound("webchat", "a" * 32, sender, "first question")
    store.enqueue_outgoing(
        "webchat",
        sender,
        {"text": "first answer", "buttons": [{"title": "Evet", "payload": "/affirm"}]},
        "a" * 32,
    )
    store.record_inbound("webchat", "b" * 32, sender, "/affirm", kind="button")
    last = store.enqueue_outgoing(
        "webchat", sender, {"text": "an agent writes", "agent": "Ayşe"}, None
    )
    page = visitor.open_page()
    order = [page.index(t) for t in ("first question", "first answer", "Evet", "an agent writes")]
    assert order == sorted(order)
    assert "Ayşe" in page and "/affirm" not in page.split("</form>")[-1]  # shown as its title
    assert len(re.findall(r"<time datetime=\"\d{4}-\d\d-\d\dT", page)) == 4
    assert visitor.after == last
    # the buttons of an answered question are shown but can no longer be pressed
    assert re.search(r'value="/affirm"[^>]*disabled', page)


def test_script_in_a_message_is_shown_as_text(visitor, store):
    visitor.open_page()
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    store.record_inbound("webchat", "c" * 32, visitor.conversation, attack)
    store.enqueue_outgoing("webchat", visitor.conversation, {"text": attack, "agent": attack}, None)
    page = visitor.open_page()
    assert "<script>alert" not in page and "<img src=x" not in page
    # the visitor's message, the agent's text and the agent's name
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") == 3
    # the page's script sets message text with textContent only
    script = (Path(__file__).resolve().parent.parent / "bot/desk/static/chat.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "textContent = text" in script


async def test_a_reply_is_never_put_before_the_message_it_answers(tmp_path):
    path = tmp_path / "t.db"
    store = Store.open(path)
    sender = conversation_id("d" * 32)
    store.record_inbound("webchat", "q1", sender, "question")
    store.enqueue_outgoing("webchat", sender, {"text": "answer"}, "q1")
    # the same second: rows written in another order must not swap them
    store.db.execute("update outbox set created_at = ?", ["2026-01-01T10:00:00+00:00"])
    store.db.execute("update inbound_messages set received_at = ?", ["2026-01-01T10:00:00+00:00"])
    store.db.conn.commit()
    store.close()
    items, _ = await transcript(AsyncStore(path), sender)
    assert [i["text"] for i in items] == ["question", "answer"]


def test_the_forwarded_message_id_is_scoped_to_the_visitor():
    assert message_id("a" * 32, "1" * 32) != message_id("b" * 32, "1" * 32)
    assert re.fullmatch(r"[0-9a-f]{32}", message_id("a" * 32, "1" * 32))


def test_keys_sign_and_check(tmp_path):
    keys = WebchatKeys.from_settings(desk_settings(tmp_path / "x.db", "http://x"))
    body = b'{"visitor": "x"}'
    header = keys.sign(body)
    assert keys.verify(body, header)
    assert not keys.verify(body + b" ", header)
    assert not keys.verify(body, header.replace("v1=", "v1=0")[:-1])
    assert not keys.verify(body, None) and not keys.verify(body, "")
    assert not keys.verify(body, keys.sign(body, at=time.time() - 600))  # too old
    other = WebchatKeys.from_settings(desk_settings(tmp_path / "x.db", "http://x", "y" * 48))
    assert not other.verify(body, header)
    visitor, cookie = keys.new_cookie()
    assert keys.visitor_of(cookie) == visitor and other.visitor_of(cookie) is None
    assert keys.csrf_ok(visitor, keys.csrf_token(visitor))
    assert not keys.csrf_ok(visitor, keys.csrf_token("0" * 32)) and not keys.csrf_ok(visitor, "")
    # one key per use: a cookie's signature is not a CSRF token
    assert cookie.partition(".")[2] != keys.csrf_token(visitor)


def test_without_any_secret_the_keys_refuse_to_exist(tmp_path):
    with pytest.raises(ValueError):
        WebchatKeys.from_settings(desk_settings(tmp_path / "x.db", "http://x", token=""))
