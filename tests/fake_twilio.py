"""A fake Twilio for tests and benchmarks: the Messages API on loopback, and signed webhooks.

`FakeTwilio` is a real HTTP server (a thread) that accepts
`POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio does (basic auth,
form fields From/To/Body/StatusCallback, or ContentSid/ContentVariables for a
template), records every message and answers
with Twilio-like JSON. It can be told to fail (`fail_next(n, status)`), to stall
(`stall_next(n, seconds)`: answers late, having accepted nothing) or to be down
entirely (`down()` closes the port, `up()` opens it again on the same port), or to
refuse free text to one customer as outside WhatsApp's 24-hour window
(`close_window(recipient)`: error 63016).

`WhatsAppCustomer` plays Twilio's side of the webhook: it posts form-encoded
incoming messages to the bot, signed with the twilio library's own
`RequestValidator.compute_signature`.
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Set
from urllib.parse import parse_qs

import requests
from twilio.request_validator import RequestValidator

from tests.servers import free_port

ACCOUNT_SID = "AC" + "0" * 30 + "42"
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
BOT_NUMBER = "+14155238886"
PUBLIC_BASE_URL = "https://crisisdesk.example"


@dataclass
class Sent:
    """One message the fake accepted."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str
    received_at: float
    form: Dict[str, str] = field(repr=False)


class FakeTwilio:
    """Twilio's Messages API on 127.0.0.1, recording what it accepts.

    Args:
        account_sid: the account the URL and basic auth must name.
        auth_token: the basic-auth password it accepts.
    """

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.port = free_port()
        self.sent: List[Sent] = []
        self.requests = 0
        self._failures: List[tuple[int, str | None]] = []
        self._window_closed: Set[str] = set()
        self._stalls: List[float] = []
        self._connections: Set[socket.socket] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._counter = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """What TWILIO_API_BASE_URL should be."""
        return f"http://127.0.0.1:{self.port}"

    # -- control -------------------------------------------------------------------

    def up(self) -> None:
        """Starts answering (again, on the same port)."""
        if self._server is not None:
            return
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Stops listening and drops open connections: refused until `up()`."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def fail_next(self, count: int, status: int = 500, retry_after: str | None = None) -> None:
        """Answers the next `count` message requests with HTTP `status` (and Retry-After)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def stall_next(self, count: int, seconds: float) -> None:
        """Lets the next `count` requests wait `seconds`, then fail with 503 (nothing sent)."""
        with self._lock:
            self._stalls.extend([seconds] * count)

    def close_window(self, recipient: str) -> None:
        """Refuses free text to `recipient` with error 63016, as outside the 24-hour window."""
        with self._lock:
            self._window_closed.add(recipient)

    def messages_to(self, recipient: str) -> List[Sent]:
        """The accepted messages for one `whatsapp:+...` address, in order."""
        with self._lock:
            return [m for m in self.sent if m.to == recipient]

    def wait_for(self, predicate: Callable[[List[Sent]], bool], timeout: float = 30) -> List[Sent]:
        """Blocks until `predicate(every sent message)` holds; returns them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self.sent)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake Twilio: condition not met in {timeout}s")
                self._changed.wait(left)
            return list(self.sent)

    def wait_for_messages(self, recipient: str, count: int, timeout: float = 30) -> List[Sent]:
        """Blocks until `recipient` has at least `count` messages; returns them."""
        self.wait_for(lambda sent: sum(m.to == recipient for m in sent) >= count, timeout)
        return self.messages_to(recipient)

    def __enter__(self) -> FakeTwilio:
        self.up()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.down()

    # -- HTTP ------------------------------------------------------------------------

    def _accept(
        self, path: str, auth: str, form: Dict[str, str]
    ) -> tuple[int, Dict[str, Any], Dict[str, str]]:
        """Status, JSON body and extra headers for one request (under the lock)."""
        self.requests += 1
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, {"code": 20404, "message": "The requested resource was not found"}, {}
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if auth != f"Basic {expected}":
            return 401, {"code": 20003, "message": "Authenticate"}, {}
        if self._failures:
            status, retry_after = self._failures.pop(0)
            headers = {"Retry-After": retry_after} if retry_after else {}
            return status, {"code": 20500, "message": "Internal Server Error"}, headers
        if not form.get("To", "").startswith("whatsapp:+") or not (
            form.get("Body") or form.get("MediaUrl") or form.get("ContentSid")
        ):
            return 400, {"code": 21602, "message": "Message body is required."}, {}
        if form.get("ContentSid"):
            if not form["ContentSid"].startswith("HX"):
                return 400, {"code": 21655, "message": "The ContentSid is Invalid."}, {}
            try:
                variables = json.loads(form.get("ContentVariables") or "{}")
            except ValueError:
                variables = None
            if not isinstance(variables, dict):
                return 400, {"code": 21656, "message": "The ContentVariables are Invalid."}, {}
        elif form["To"] in self._window_closed:
            # What Twilio answers for free text to a customer outside WhatsApp's
            # 24-hour window (templates still go).
            return (
                400,
                {
                    "code": 63016,
                    "message": "Failed to send freeform message because you are outside the "
                    "allowed window. Please use a Template.",
                },
                {},
            )
        sid = f"SM{next(self._counter):08d}{uuid.uuid4().hex[:24]}"
        self.sent.append(
            Sent(
                sid,
                form["To"],
                form.get("From", ""),
                form.get("Body", ""),
                form.get("StatusCallback", ""),
                time.perf_counter(),
                form,
            )
        )
        self._changed.notify_all()
        return (
            201,
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": form["To"],
                "from": form.get("From"),
                "body": form.get("Body", ""),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
            },
            {},
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake._connections.add(self.connection)

            def finish(self) -> None:
                with fake._lock:
                    fake._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                with fake._lock:
                    stall = fake._stalls.pop(0) if fake._stalls else None
                if stall is not None:
                    time.sleep(stall)
                    status, body, headers = 503, {"code": 20503, "message": "Unavailable"}, {}
                else:
                    with fake._lock:
                        status, body, headers = fake._accept(
                            self.path, self.headers.get("Authorization") or "", form
                        )
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                """Quiet."""

        return Handler


def sign(url: str, params: Dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send for a form POST to `url`."""
    return RequestValidator(auth_token).compute_signature(url, params)


class WhatsAppCustomer:
    """Sends Twilio-style signed webhook requests for one customer's phone to the bot.

    Args:
        rasa_url: where the bot listens (loopback).
        phone: the customer's number, e.g. "+905321234567".
        public_base_url: the URL Twilio signs against (PUBLIC_BASE_URL of the bot).
    """

    _sids = itertools.count(1)

    def __init__(self, rasa_url: str, phone: str, public_base_url: str = PUBLIC_BASE_URL) -> None:
        self.rasa_url = rasa_url
        self.phone = phone
        self.address = f"whatsapp:{phone}"
        self.public_base_url = public_base_url
        self.session = requests.Session()

    @classmethod
    def new_sid(cls) -> str:
        """A fresh Twilio-like MessageSid."""
        return f"SM{next(cls._sids):06d}{uuid.uuid4().hex[:26]}"

    def form(self, body: str = "", message_sid: str | None = None, **extra: str) -> Dict[str, str]:
        """The fields Twilio posts for an incoming WhatsApp message."""
        return {
            "SmsMessageSid": message_sid or "",
            "NumMedia": "0",
            "ProfileName": "Ayşe",
            "SmsSid": message_sid or "",
            "WaId": self.phone.lstrip("+"),
            "SmsStatus": "received",
            "Body": body,
            "To": f"whatsapp:{BOT_NUMBER}",
            "NumSegments": "1",
            "ReferralNumMedia": "0",
            "MessageSid": message_sid or "",
            "AccountSid": ACCOUNT_SID,
            "From": self.address,
            "ApiVersion": "2010-04-01",
            **extra,
        }

    def post(
        self,
        path: str,
        form: Dict[str, str],
        signature: str | None = "sign",
        signed_form: Dict[str, str] | None = None,
    ) -> requests.Response:
        """POSTs `form` to `path`; signs `signed_form` (default: `form`) unless told otherwise.

        `signature="sign"` signs properly, None sends no signature header, any
        other string is sent as it is (a forgery).
        """
        headers = {}
        if signature == "sign":
            signature = sign(f"{self.public_base_url}{path}", signed_form or form)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return self.session.post(f"{self.rasa_url}{path}", data=form, headers=headers, timeout=30)

    def send(self, body: str = "", message_sid: str | None = None, **extra: str) -> str:
        """Sends one properly signed incoming message; returns its MessageSid."""
        message_sid = message_sid or self.new_sid()
        answer = self.post("/webhooks/whatsapp/webhook", self.form(body, message_sid, **extra))
        answer.raise_for_status()
        return message_sid


def channel_env(fake: FakeTwilio, retry_max_seconds: str = "1") -> Dict[str, str]:
    """The WhatsApp settings of a bot that talks to `fake` and retries quickly."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": BOT_NUMBER,
        "TWILIO_API_BASE_URL": fake.base_url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "OUTBOX_RETRY_BASE_SECONDS": "0.2",
        "OUTBOX_RETRY_MAX_SECONDS": retry_max_seconds,
        "OUTBOX_MAX_ATTEMPTS": "100",
    }
