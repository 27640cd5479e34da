"""The desk's live feed: Rasa's SQL event broker and the store's handoff changes, fanned out."""

from __future__ import annotations

import asyncio
from pathlib import Path

from rasa.core.brokers.sql import SQLEventBroker

from bot.desk.live import LiveFeed, broker_db_from_endpoints

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
