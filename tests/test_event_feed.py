"""The desk's live feed: Rasa's SQL event broker and the store's handoff changes, fanned out."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from rasa.core.brokers.sql import SQLEventBroker

from bot.desk.live import LiveFeed, broker_db_from_endpoints
from tests.desk_client import CSRF_FIELD, PASSWORD, Desk
from tests.servers import serving_desk

ROOT = Path(__file__).resolve().parent.parent


def user_message(sender: str, text: str) -> dict:
    return {"event": "user", "sender_id": sender, "text": text, "timestamp": 1.0}


async def delivered(feed: LiveFeed, count: int) -> None:
    while feed.delivered < count:
        await asyncio.sleep(0.01)


def test_the_projects_endpoints_name_the_sql_broker_file():
    assert broker_db_from_endpoints(ROOT / "endpoints.yml") == ROOT / "var/rasa_events.db"


def test_another_broker_type_feeds_no_rasa_events(tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("event_broker:\n  type: pika\n  url: localhost\n", encoding="utf-8")
    assert broker_db_from_endpoints(endpoints) is None


async def test_rasa_events_and_handoff_changes_reach_every_subscriber(store, tmp_path):
    broker = SQLEventBroker(db=str(tmp_path / "events.db"))  # Rasa's own broker class
    broker.publish(user_message("rest:old", "before the desk started"))
    feed = LiveFeed(tmp_path / "crisisdesk.db", tmp_path / "events.db", poll_seconds=0.02)
    try:
        async with feed.subscribe() as everything, feed.subscribe("rest:b") as only_b:
            broker.publish(user_message("rest:a", "merhaba"))
            broker.publish({"event": "slot", "sender_id": "rest:a", "name": "x"})  # skipped
            hid = store.open_handoff(
                sender_id="rest:b",
                channel="rest",
                reason="customer asked for a person",
                priority="normal",
                language="tr",
                last_messages=[],
            )
            broker.publish(user_message("rest:b", "canlı destek"))
            store.claim_handoff(hid, "ayse")

            seen = []
            while len(seen) < 4:
                event = await everything.get(timeout=10)
                assert event is not None, f"feed stopped after {seen}"
                seen.append((event.source, event.sender_id, event.type))
            # the broker and the store are read in turns: order within each source holds
            assert [s for s in seen if s[0] == "rasa"] == [
                ("rasa", "rest:a", "user"),
                ("rasa", "rest:b", "user"),
            ]
            assert [s for s in seen if s[0] == "handoff"] == [
                ("handoff", "rest:b", "opened"),
                ("handoff", "rest:b", "claimed"),
            ]
            mine = [await only_b.get(timeout=10) for _ in range(3)]
            assert {(e.source, e.type) for e in mine} == {
                ("handoff", "opened"),
                ("handoff", "claimed"),
                ("rasa", "user"),
            }
            assert all(e.sender_id == "rest:b" for e in mine)
            assert await only_b.get(timeout=0.2) is None  # nothing of rest:a
            text = next(e for e in mine if e.source == "rasa").data["text"]
            assert text == "canlı destek"
    finally:
        await feed.stop()
    assert feed.subscribers == set()


async def test_the_broker_file_may_appear_after_the_desk_starts(store, tmp_path):
    feed = LiveFeed(tmp_path / "crisisdesk.db", tmp_path / "later.db", poll_seconds=0.02)
    try:
        async with feed.subscribe() as events:
            assert await events.get(timeout=0.1) is None
            broker = SQLEventBroker(db=str(tmp_path / "later.db"))
            broker.publish(user_message("rest:a", "ilk"))
            event = await events.get(timeout=10)
            assert (event.source, event.type, event.data["text"]) == ("rasa", "user", "ilk")
    finally:
        await feed.stop()


async def test_a_slow_subscriber_loses_the_oldest_and_never_blocks_the_feed(store, tmp_path):
    feed = LiveFeed(tmp_path / "crisisdesk.db", None, poll_seconds=0.02)
    try:
        async with feed.subscribe() as slow:
            slow.queue = asyncio.Queue(2)
            for n in range(5):
                store.open_handoff(
                    sender_id=f"rest:{n}",
                    channel="rest",
                    reason="customer asked for a person",
                    priority="normal",
                    language="en",
                    last_messages=[],
                )
            await asyncio.wait_for(delivered(feed, 5), 10)
            kept = [await slow.get(timeout=1) for _ in range(2)]
            assert [e.sender_id for e in kept] == ["rest:3", "rest:4"]
            assert slow.dropped == 3
    finally:
        await feed.stop()


# -- the queue's event stream, over a real HTTP server ----------------------------------


def browser_login(base: str, name: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=10)
    token = CSRF_FIELD.search(page.text).group(1)
    answer = session.post(
        f"{base}/login",
        data={"name": name, "password": PASSWORD, "csrf_token": token, "next": ""},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text
    return session


class EventStream:
    """Reads a server-sent event stream (a plain socket, closed at once) in a thread."""

    def __init__(self, session: requests.Session, url: str) -> None:
        parts = urlsplit(url)
        cookies = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.sock.sendall(
            (
                f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Accept: text/event-stream\r\nCookie: {cookies}\r\n\r\n"
            ).encode()
        )
        self.lines = self.sock.makefile("r", encoding="utf-8", newline="\r\n")
        status = self.lines.readline()
        assert " 200 " in status, status
        headers = {}
        while (line := self.lines.readline().rstrip("\r\n")) != "":
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"].startswith("text/event-stream"), headers
        self.events: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        # Chunked encoding: chunk-size lines and chunk ends are skipped as noise.
        name, data = None, []
        try:
            for raw in self.lines:
                for line in raw.replace("\r\n", "\n").split("\n"):
                    if line == ": connected":
                        self.connected.set()
                    elif line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif line == "" and name:
                        self.events.put((name, json.loads("\n".join(data))))
                        name, data = None, []
        except (OSError, ValueError):
            pass  # the test closed the stream

    def next_event(self, timeout: float = 20):
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def test_a_new_handoff_reaches_a_queue_subscriber_over_sse(store, tmp_path):
    desk = Desk(store)
    desk.user("ayse", "agent")
    desk.app.state.live = LiveFeed(tmp_path / "crisisdesk.db", None, poll_seconds=0.05)
    with serving_desk(desk.app) as base:
        agent = browser_login(base, "ayse")
        stream = EventStream(agent, f"{base}/queue/events")
        try:
            assert stream.connected.wait(10)
            hid = store.open_handoff(
                sender_id="rest:sse",
                channel="rest",
                reason="customer asked for a person",
                priority="normal",
                language="en",
                last_messages=[],
            )
            name, changes = stream.next_event()
            assert name == "queue"
            assert {"source": "handoff", "type": "opened", "handoff_id": hid} in changes
            # what the page re-fetches on that event now lists it
            assert f'data-handoff="{hid}"' in agent.get(f"{base}/queue/items", timeout=10).text
            assert len(desk.app.state.live.subscribers) == 1
        finally:
            stream.close()
        # the stream ends when the browser goes, not at the next keep-alive
        deadline = time.monotonic() + 5
        while desk.app.state.live.subscribers:
            assert time.monotonic() < deadline, "the stream outlived its client"
            time.sleep(0.02)


@pytest.mark.slow
def test_rasas_event_broker_feeds_the_queue_stream(store, tmp_path):
    """A real Rasa and action server write to the SQL broker; the desk streams it."""
    from tests.servers import running_bot

    model = ROOT / "models/crisisdesk.tar.gz"
    db_path = tmp_path / "crisisdesk.db"
    with running_bot(tmp_path / "bot", model, db_path=db_path) as bot:
        desk = Desk(store)
        desk.user("ayse", "agent")
        desk.app.state.live = LiveFeed(db_path, bot.events_db, poll_seconds=0.05)
        with serving_desk(desk.app) as base:
            agent = browser_login(base, "ayse")
            stream = EventStream(agent, f"{base}/queue/events")
            try:
                assert stream.connected.wait(10)
                bot.say("rest:live-1", "canlı destek istiyorum, bir temsilciyle görüşmek istiyorum")
                seen: list = []
                deadline = time.monotonic() + 30
                while not (
                    {"source": "rasa", "type": "pause"} in strip(seen)
                    and {"source": "handoff", "type": "opened"} in strip(seen)
                ):
                    assert time.monotonic() < deadline, seen
                    name, changes = stream.next_event(timeout=30)
                    assert name == "queue"
                    seen.extend(changes)
                [handoff] = store.queue()
                assert handoff["sender_id"] == "rest:live-1"
                # a message while the customer waits comes through the broker too
                bot.say("rest:live-1", "hâlâ bekliyorum")
                name, changes = stream.next_event(timeout=30)
                assert {"source": "rasa", "type": "user"} in strip(changes), changes
            finally:
                stream.close()


def strip(changes: list) -> list:
    return [{"source": c["source"], "type": c["type"]} for c in changes]
