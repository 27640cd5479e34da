"""A small fake of the Telegram Bot API on loopback, for tests and benchmarks.

It speaks the real wire format (``POST /bot<token>/<method>`` with form-encoded or
JSON parameters, answers ``{"ok": true, "result": ...}``), records every call,
queues updates for ``getUpdates`` (long polling with offsets, like Telegram), can
be told to fail the next calls with 500 or 429, and can be taken down and brought
back on the same port.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple
from urllib.parse import parse_qsl, urlsplit

TOKEN = "123456789:TEST-crisisdesk-fake-token"
BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "crisisdesk",
    "username": "crisisdesk_test_bot",
}
# Parameters sent JSON-encoded inside a form field, and numeric ones.
_JSON_FIELDS = {"reply_markup", "allowed_updates", "entities", "link_preview_options"}
_INT_FIELDS = {"chat_id", "offset", "limit", "timeout", "message_id"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections cut by `stop()` are expected; stay quiet about them."""
        return


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: Dict[str, Any]
    status: int
    at: float = field(default_factory=time.monotonic)


def _decode(params: Dict[str, Any]) -> Dict[str, Any]:
    decoded: Dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and key in _JSON_FIELDS:
            value = json.loads(value)
        elif isinstance(value, str) and key in _INT_FIELDS and value.lstrip("-").isdigit():
            value = int(value)
        decoded[key] = value
    return decoded


class FakeTelegram:
    """The fake Bot API server; `base_url` is what TELEGRAM_API_BASE_URL should be."""

    def __init__(self, token: str = TOKEN, port: int = 0) -> None:
        self.token = token
        self.port = port
        self.calls: List[Call] = []
        self._failures: List[Tuple[str, int, float | None]] = []
        self._updates: List[Dict[str, Any]] = []
        self._next_message_id = 1000
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The Bot API base URL (the token is appended by the client)."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> FakeTelegram:
        """Starts listening (on the same port as before after a `stop`)."""
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

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                fake._handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening: clients now get "connection refused"."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            # Keep-alive connections die with the server, as they would for real.
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()
            self._lock.notify_all()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------------

    def fail_next(
        self, method: str, status: int = 500, times: int = 1, retry_after: float | None = None
    ) -> None:
        """The next `times` calls of `method` fail with `status` (429 sets retry_after)."""
        with self._lock:
            self._failures.extend([(method, status, retry_after)] * times)

    def push_update(self, update: Dict[str, Any]) -> None:
        """Queues an update for the next getUpdates call."""
        with self._lock:
            self._updates.append(update)
            self._lock.notify_all()

    def reset(self) -> None:
        """Forgets recorded calls, scripted failures and queued updates."""
        with self._lock:
            self.calls.clear()
            self._failures.clear()
            self._updates.clear()

    # -- inspection ----------------------------------------------------------------

    def calls_to(self, method: str, ok_only: bool = True) -> List[Call]:
        """Recorded calls of one method (by default only the ones answered 200)."""
        with self._lock:
            return [
                c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)
            ]

    def sent_to(self, chat_id: int) -> List[Dict[str, Any]]:
        """Parameters of the messages delivered to a chat, in order."""
        return [c.params for c in self.calls_to("sendMessage") if c.params["chat_id"] == chat_id]

    def wait_for(
        self, method: str, count: int = 1, timeout: float = 30, chat_id: int | None = None
    ) -> List[Call]:
        """Waits until `count` successful calls of `method` (to `chat_id`) were made."""
        deadline = time.monotonic() + timeout
        while True:
            calls = [
                c
                for c in self.calls_to(method)
                if chat_id is None or c.params.get("chat_id") == chat_id
            ]
            if len(calls) >= count or time.monotonic() > deadline:
                return calls
            time.sleep(0.05)

    # -- the API ---------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlsplit(request.path)
        params: Dict[str, Any] = dict(parse_qsl(url.query))
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        content_type = request.headers.get("Content-Type") or ""
        if body and "json" in content_type:
            params.update(json.loads(body))
        elif body:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        params = _decode(params)

        prefix, _, method = url.path.rpartition("/")
        if prefix != f"/bot{self.token}":
            self._reply(request, "?", params, 401, {"description": "Unauthorized"})
            return
        with self._lock:
            failure = next((f for f in self._failures if f[0] == method), None)
            if failure:
                self._failures.remove(failure)
        if failure:
            _, status, retry_after = failure
            extra: Dict[str, Any] = {"description": f"fake failure {status}"}
            if status == 429:
                extra["description"] = "Too Many Requests: retry later"
                extra["parameters"] = {"retry_after": retry_after or 1}
            self._reply(request, method, params, status, extra)
            return
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            self._reply(request, method, params, 404, {"description": "Not Found"})
            return
        self._reply(request, method, params, 200, {"result": handler(params)})

    def _reply(
        self,
        request: BaseHTTPRequestHandler,
        method: str,
        params: Dict[str, Any],
        status: int,
        extra: Dict[str, Any],
    ) -> None:
        with self._lock:
            self.calls.append(Call(method, params, status))
        body = {"ok": status == 200, **extra}
        if status != 200:
            body["error_code"] = status
        data = json.dumps(body).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def _api_getMe(self, params: Dict[str, Any]) -> Dict[str, Any]:  # noqa: N802
        return BOT_USER

    def _api_sendMessage(self, params: Dict[str, Any]) -> Dict[str, Any]:  # noqa: N802
        with self._lock:
            self._next_message_id += 1
            message_id = self._next_message_id
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "from": BOT_USER,
            "chat": {"id": params["chat_id"], "type": "private"},
            "text": params.get("text", ""),
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message

    def _api_answerCallbackQuery(self, params: Dict[str, Any]) -> bool:  # noqa: N802
        return True

    def _api_deleteWebhook(self, params: Dict[str, Any]) -> bool:  # noqa: N802
        return True

    def _api_setWebhook(self, params: Dict[str, Any]) -> bool:  # noqa: N802
        return True

    def _api_getUpdates(self, params: Dict[str, Any]) -> List[Dict[str, Any]]:  # noqa: N802
        """Long polling: waits up to `timeout` seconds for updates at or after `offset`."""
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 30)
        with self._lock:
            # Like Telegram: asking with an offset confirms every earlier update.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline and self._server:
                self._lock.wait(max(0.0, deadline - time.monotonic()))
            limit = int(params.get("limit") or 100)
            return list(self._updates[:limit])
