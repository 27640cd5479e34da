"""The Rasa HTTP API client: a JWT instead of the token, and error texts without secrets."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator, List
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from bot.privacy import mask
from bot.rasa_api import RasaClient, RasaUnavailable, api_jwt, safe_base_url
from bot.store import Store
from tests.conftest import ROOT
from tests.servers import free_port

TOKEN = "s3cret-rasa-token-0123456789abcdef"
PHONE = "whatsapp:+905321234567"


class FakeRasa(ThreadingHTTPServer):
    """Records the requests Rasa's HTTP API would get and answers with `status`/`body`."""

    def __init__(self, status: int = 200, body: str = "{}") -> None:
        self.requests: List[dict] = []
        self.status, self.body = status, body
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        self.server.requests.append(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization", ""),
                "body": json.loads(self.rfile.read(length) or b"null"),
            }
        )
        payload = self.server.body.encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_rasa() -> Iterator[FakeRasa]:
    server = FakeRasa()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def assert_no_secret(text: str) -> None:
    assert TOKEN not in text
    assert "token=" not in text
    assert "5321234567" not in text


def test_requests_carry_a_short_lived_admin_jwt_and_no_token_in_the_url(fake_rasa):
    fake_rasa.body = json.dumps({"messages": [{"text": "hi"}]})
    messages = RasaClient(fake_rasa.url, TOKEN).resume(PHONE)
    assert messages == [{"text": "hi"}]
    paths = [r["path"] for r in fake_rasa.requests]
    assert paths == [
        f"/conversations/{PHONE}/tracker/events",
        f"/conversations/{PHONE}/trigger_intent?output_channel=latest",
    ]
    assert fake_rasa.requests[0]["body"] == [
        {"event": "resume"},
        {"event": "action", "name": "action_listen"},
    ]
    assert fake_rasa.requests[1]["body"] == {"name": "EXTERNAL_handoff_closed"}
    for request in fake_rasa.requests:
        assert "token" not in parse_qs(urlsplit(request["path"]).query)
        scheme, _, value = request["authorization"].partition(" ")
        assert scheme == "Bearer" and TOKEN not in value
        claims = jwt.decode(value, TOKEN, algorithms=["HS256"])
        assert claims["user"]["role"] == "admin"
        assert 0 < claims["exp"] - time.time() <= 60
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(value, "another-secret-that-is-long-enough-0123", algorithms=["HS256"])


def test_an_expired_jwt_is_rejected_by_its_own_signature_check():
    old = api_jwt(TOKEN, lifetime=-5)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(old, TOKEN, algorithms=["HS256"])


def test_nothing_listening_gives_a_message_without_token_or_phone_number():
    port = free_port()  # nothing is started on it
    with pytest.raises(RasaUnavailable) as raised:
        RasaClient(f"http://127.0.0.1:{port}", TOKEN, timeout=5).resume(PHONE)
    message = str(raised.value)
    assert message.startswith(f"cannot reach Rasa at http://127.0.0.1:{port}: connection refused")
    assert "make run" in message
    assert_no_secret(message)


def test_credentials_and_query_in_rasa_url_never_reach_the_message():
    port = free_port()
    url = f"http://admin:hunter2-pass@127.0.0.1:{port}/base?token={TOKEN}"
    with pytest.raises(RasaUnavailable) as raised:
        RasaClient(url, TOKEN, timeout=5).resume(PHONE)
    message = str(raised.value)
    assert f"http://127.0.0.1:{port}:" in message
    assert "hunter2" not in message and "admin" not in message
    assert_no_secret(message)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@rasa.example:8443/x?token=abc", "https://rasa.example:8443"),
        ("http://localhost:5005", "http://localhost:5005"),
        ("not a url", "the configured RASA_URL"),
    ],
)
def test_safe_base_url(url, shown):
    assert safe_base_url(url) == shown


def test_refused_request_names_the_likely_cause_with_the_id_masked(fake_rasa):
    fake_rasa.status, fake_rasa.body = 401, '{"message": "User is not authenticated."}'
    with pytest.raises(RasaUnavailable) as raised:
        RasaClient(fake_rasa.url, TOKEN).resume(PHONE)
    message = str(raised.value)
    assert "(401)" in message and "RASA_TOKEN match" in message
    assert mask(PHONE) in message
    assert_no_secret(message)


def test_an_error_body_echoing_secrets_is_scrubbed(fake_rasa):
    fake_rasa.status = 500
    fake_rasa.body = json.dumps({"error": f"bad {PHONE} with token {TOKEN} from ayse@example.org"})
    with pytest.raises(RasaUnavailable) as raised:
        RasaClient(fake_rasa.url, TOKEN).resume(PHONE)
    message = str(raised.value)
    assert "answered 500 for /conversations/" in message
    assert "<RASA_TOKEN>" in message and "<e-mail>" in message
    assert "ayse@" not in message
    assert_no_secret(message)


def test_handoffs_close_without_rasa_keeps_the_handoff_and_prints_no_secret(tmp_path):
    db = tmp_path / "crisisdesk.db"
    store = Store.open(db)
    handoff = store.open_handoff(
        sender_id=PHONE,
        reason="asked",
        priority="normal",
        channel="whatsapp",
        language="tr",
        last_messages=[],
    )
    store.close()
    port = free_port()  # nothing is started on it
    url = f"http://127.0.0.1:{port}"
    closed = subprocess.run(
        [str(ROOT / ".venv/bin/crisisdesk"), "--db", str(db), "handoffs", "close", str(handoff)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "RASA_URL": url, "RASA_TOKEN": TOKEN},
        timeout=60,
    )
    assert closed.returncode == 1
    assert f"handoff {handoff} stays open: cannot reach Rasa at {url}" in closed.stderr
    assert_no_secret(closed.stdout + closed.stderr)
    reopened = Store.open(db)
    assert reopened.get_handoff(handoff)["status"] == "waiting"
    reopened.close()


def test_module_prints_a_jwt_for_curl_and_never_the_token():
    env = {"PATH": "/usr/bin:/bin", "RASA_TOKEN": TOKEN}
    done = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "bot.rasa_api"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert TOKEN not in printed
    assert jwt.decode(printed, TOKEN, algorithms=["HS256"])["user"]["role"] == "admin"
