"""The conversation view: transcript from Rasa's API, reply via the outbox, WhatsApp's window,
notes, canned replies, "bot misunderstood", close and hand back.

Rasa's HTTP API and Twilio are the edges, played by loopback fakes; the desk, its
outbox and the store run for real.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, List

import pytest
from starlette.testclient import TestClient

from bot.config import Settings
from bot.desk.app import create_app
from bot.desk.auth import SESSION_COOKIE
from bot.store import Store
from tests.fake_twilio import FakeTwilio, channel_env

PHONE = "whatsapp:+905320000077"


class FakeRasa(ThreadingHTTPServer):
    """Rasa's tracker API on loopback: GET tracker, POST tracker/events and trigger_intent."""

    def __init__(self) -> None:
        self.events: List[dict] = []
        self.posts: List[tuple] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._answer({"sender_id": PHONE, "events": self.server.events, "paused": True})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null")
        self.server.posts.append((self.path, body))
        if self.path.split("?")[0].endswith("/tracker/events"):
            self.server.events.extend(body if isinstance(body, list) else [body])
        self._answer({"messages": []})

    def log_message(self, *args) -> None:
        pass


def user(text: str, at: float, intent: str = "rumour") -> dict:
    return {
        "event": "user",
        "text": text,
        "timestamp": at,
        "input_channel": "whatsapp",
        "parse_data": {"intent": {"name": intent, "confidence": 0.41}, "language": "tr"},
    }


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    server = FakeRasa()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


class Desk:
    def __init__(self, store: Store, client: TestClient, now: List[datetime]) -> None:
        self.store, self.client, self.now, self.csrf = store, client, now, ""

    def login(self, name: str, role: str = "agent") -> Desk:
        found = self.store.find_user(name) or self.store.create_user(
            name, role, "not-a-real-hash", must_change=False
        )
        session, self.csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.store.create_session(
            session, found["id"], self.csrf, datetime.now(timezone.utc) + timedelta(hours=1)
        )
        self.client.cookies.set(SESSION_COOKIE, session)
        return self

    def post(self, path: str, data: dict | None = None):
        return self.client.post(
            path, data={**(data or {}), "csrf_token": self.csrf}, follow_redirects=False
        )


@pytest.fixture
def desk(demo_store, rasa, twilio, monkeypatch) -> Iterator[Desk]:
    for name, value in {
        **channel_env(twilio),
        "RASA_URL": rasa.url,
        "RASA_TOKEN": "t" * 32,
    }.items():
        monkeypatch.setenv(name, value)
    now = [datetime.now(timezone.utc)]
    app = create_app(settings=Settings.from_env(), store=demo_store, clock=lambda: now[0])
    with TestClient(app, base_url="http://desk.test") as client:
        yield Desk(demo_store, client, now).login("ali")


def assigned(store: Store, agent: str = "ali") -> int:
    handoff_id = store.open_handoff(
        sender_id=PHONE,
        channel="whatsapp",
        reason="customer asked for a person",
        priority="normal",
        language="tr",
        last_messages=[],
    )
    store.claim_handoff(handoff_id, agent)
    return handoff_id


def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_transcript_marks_facts_and_names_the_agent(desk, rasa):
    handoff_id = assigned(desk.store)
    rasa.events[:] = [
        user("iflas mi ettiniz <script>alert(1)</script>", time.time() - 60),
        {
            "event": "bot",
            "text": "Yanlış: iflas yok",
            "timestamp": time.time() - 59,
            "metadata": {"utter_action": "utter_fact_false"},
        },
        {
            "event": "bot",
            "text": "Merhaba, ben Ali",
            "timestamp": time.time() - 30,
            "metadata": {"agent": "ali"},
        },
    ]
    page = desk.client.get(f"/conversations/{handoff_id}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert" not in page.text
    assert "fact (false)" in page.text
    assert "agent ali" in page.text
    assert "WhatsApp window open for 23 h" in page.text


def test_a_reply_reaches_twilio_and_the_tracker_names_the_agent(desk, rasa, twilio):
    handoff_id = assigned(desk.store)
    rasa.events[:] = [user("kimse yok mu", time.time() - 10)]
    answer = desk.post(f"/conversations/{handoff_id}/reply", {"text": "Merhaba, ben Ali."})
    assert answer.status_code == 200, answer.text
    [sent] = twilio.wait_for_messages(PHONE, 1)
    assert sent.body == "Merhaba, ben Ali."
    recorded = [e for e in rasa.events if e["event"] == "bot"]
    assert recorded[-1]["text"] == "Merhaba, ben Ali."
    assert recorded[-1]["metadata"]["agent"] == "ali"
    [reply] = desk.store.list_replies(PHONE)
    wait_until(lambda: desk.store.list_replies(PHONE)[0]["outbox_status"] == "sent")
    assert reply["in_tracker"] == 1
    assert desk.store.get_handoff(handoff_id)["first_reply_at"]
    page = desk.client.get(f"/conversations/{handoff_id}/messages")
    assert 'data-status="sent"' in page.text


def test_someone_elses_conversation_cannot_be_answered(desk, rasa, twilio):
    handoff_id = assigned(desk.store, agent="bora")
    rasa.events[:] = [user("merhaba", time.time())]
    answer = desk.post(f"/conversations/{handoff_id}/reply", {"text": "hi"})
    assert answer.status_code == 409 and "bora has this conversation" in answer.text
    assert desk.store.list_replies(PHONE) == [] and twilio.sent == []


def test_after_the_window_only_templates_go(desk, rasa, twilio):
    handoff_id = assigned(desk.store)
    rasa.events[:] = [user("merhaba", time.time() - 25 * 3600)]
    page = desk.client.get(f"/conversations/{handoff_id}")
    assert "24-hour window closed" in page.text and 'id="reply-text"' not in page.text
    refused = desk.post(f"/conversations/{handoff_id}/reply", {"text": "hi"})
    assert refused.status_code == 409 and "template" in refused.text
    sent = desk.post(
        f"/conversations/{handoff_id}/template",
        {"template": "ticket_update", "variable_ticket_update": "CD-000042"},
    )
    assert sent.status_code == 200, sent.text
    [message] = twilio.wait_for_messages(PHONE, 1)
    assert message.form["ContentSid"] == "HX00000000000000000000000000000003"
    assert json.loads(message.form["ContentVariables"]) == {"1": "CD-000042"}
    assert "Body" not in message.form
    assert "CD-000042" in [e for e in rasa.events if e["event"] == "bot"][-1]["text"]


def test_a_message_refused_for_the_window_shows_failed(desk, rasa, twilio):
    handoff_id = assigned(desk.store)
    rasa.events[:] = [user("merhaba", time.time() - 60)]
    twilio.close_window(PHONE)
    assert desk.post(f"/conversations/{handoff_id}/reply", {"text": "hi"}).status_code == 200
    wait_until(lambda: desk.store.list_replies(PHONE)[0]["outbox_status"] == "failed")
    page = desk.client.get(f"/conversations/{handoff_id}/messages")
    assert 'data-status="failed"' in page.text
    assert "24-hour window is closed" in page.text


def test_notes_canned_replies_and_misunderstood(desk, rasa):
    handoff_id = assigned(desk.store)
    at = time.time() - 5
    rasa.events[:] = [user("sütünüzde plastik var diyorlar", at)]
    notes = desk.post(f"/conversations/{handoff_id}/notes", {"text": "<b>calls back</b>"})
    assert notes.status_code == 200 and "&lt;b&gt;calls back&lt;/b&gt;" in notes.text
    assert desk.post(f"/conversations/{handoff_id}/notes", {"text": " "}).status_code == 422
    canned = desk.client.get(f"/conversations/{handoff_id}/canned")
    assert canned.status_code == 200 and "· tr ·" in canned.text and "· en ·" not in canned.text
    [first] = [f for f in desk.store.list_facts("published")][:1]
    box = desk.client.get(f"/conversations/{handoff_id}/canned/fact/{first['id']}?lang=tr")
    assert first["answer_tr"].split("\n")[0][:20] in box.text.replace("&#39;", "'")
    marked = desk.post(f"/conversations/{handoff_id}/misunderstood", {"time": repr(at)})
    assert marked.status_code == 200
    [row] = desk.store.list_misunderstood(PHONE)
    assert row["text"] == "sütünüzde plastik var diyorlar" and row["marked_by"] == "ali"
    bad = desk.post(f"/conversations/{handoff_id}/misunderstood", {"time": "nope"})
    assert bad.status_code == 422


def test_close_resumes_and_runs_the_hand_back_action(desk, rasa):
    handoff_id = assigned(desk.store)
    rasa.events[:] = [user("tamam", time.time())]
    closed = desk.post(f"/conversations/{handoff_id}/close")
    assert closed.status_code == 204 and closed.headers["HX-Redirect"] == "/queue"
    paths = [p.split("?")[0].rsplit("/", 1)[-1] for p, _ in rasa.posts]
    assert paths[-2:] == ["events", "trigger_intent"]
    assert rasa.posts[-2][1] == [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
    assert rasa.posts[-1][1] == {"name": "EXTERNAL_handoff_closed"}
    assert desk.store.get_handoff(handoff_id)["status"] == "closed"


def test_an_editor_cannot_open_a_conversation(desk):
    handoff_id = assigned(desk.store)
    desk.login("eda", "editor")
    assert desk.client.get(f"/conversations/{handoff_id}").status_code in (403, 404)
