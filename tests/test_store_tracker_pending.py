"""Events owed to Rasa's tracker: the store's queue (leases, order, attempts) and the
conversation view's place for an owed reply, on a fresh SQLite file.

The appender itself (bot/desk/history.py) is tested against a real Rasa server that
is stopped and started again, in tests/test_desk_restarts.py.
"""

from __future__ import annotations

from typing import Any, Dict, List

from bot.desk.conversations import transcript_with_owed
from bot.desk.history import NOT_YET, agent_reply_event
from bot.store import Store

SENDER = "whatsapp:+905320000088"
OTHER = "telegram:4242"
LEASE = 60.0


def reply(store: Store, text: str, sender: str = SENDER, at: float = 1000.0) -> int:
    outbox_id = store.enqueue_outgoing(sender.split(":")[0], sender, {"text": text})
    return store.record_reply(
        sender_id=sender,
        handoff_id=None,
        agent="ayse",
        channel=sender.split(":")[0],
        text=text,
        outbox_id=outbox_id,
        tracker_event=agent_reply_event(text, "ayse", at),
    )


def texts(rows: List[Dict[str, Any]]) -> List[str]:
    return [row["event"]["text"] for row in rows]


# -- the store ---------------------------------------------------------------------------


def test_a_reply_is_owed_to_the_tracker_from_the_transaction_that_records_it(store):
    first = reply(store, "one", at=1000.5)
    reply(store, "elsewhere", sender=OTHER)
    [owed] = store.list_tracker_appends(SENDER)
    assert owed["reply_id"] == first and owed["attempts"] == 0
    assert owed["event"] == agent_reply_event("one", "ayse", 1000.5)  # its own time kept
    assert store.get_reply(first)["in_tracker"] == 0
    assert store.tracker_append_senders() == [SENDER, OTHER]  # longest owed first


def test_one_holder_at_a_time_appends_a_conversation_in_order(store):
    reply(store, "one")
    reply(store, "two")
    rows = store.claim_tracker_appends(SENDER, "a", at=100.0, lease_seconds=LEASE)
    assert texts(rows) == ["one", "two"] and [r["attempts"] for r in rows] == [0, 0]
    # A reply made meanwhile waits behind the leased head: nobody else can take it.
    reply(store, "three")
    assert store.claim_tracker_appends(SENDER, "b", at=101.0, lease_seconds=LEASE) == []
    assert store.claim_tracker_appends(OTHER, "b", at=101.0, lease_seconds=LEASE) == []
    assert store.finish_tracker_appends([r["id"] for r in rows]) == 2
    assert [r["in_tracker"] for r in store.list_replies(SENDER)] == [1, 1, 0]
    [left] = store.claim_tracker_appends(SENDER, "b", at=102.0, lease_seconds=LEASE)
    assert left["event"]["text"] == "three"


def test_a_lease_whose_holder_died_is_taken_over_with_its_attempts_counted(store):
    reply(store, "one")
    store.claim_tracker_appends(SENDER, "a", at=100.0, lease_seconds=LEASE)
    assert store.claim_tracker_appends(SENDER, "b", at=100.0 + LEASE - 1, lease_seconds=LEASE) == []
    [row] = store.claim_tracker_appends(SENDER, "b", at=100.0 + LEASE + 1, lease_seconds=LEASE)
    assert row["attempts"] == 1  # "a" may have posted it: "b" looks in the tracker first


def test_a_released_lease_keeps_the_events_and_says_why(store):
    reply(store, "one")
    reply(store, "two")
    store.claim_tracker_appends(SENDER, "a", at=100.0, lease_seconds=LEASE)
    store.release_tracker_appends(SENDER, "someone else", "not mine")  # no effect
    assert store.claim_tracker_appends(SENDER, "b", at=101.0, lease_seconds=LEASE) == []
    store.release_tracker_appends(SENDER, "a", "cannot reach Rasa")
    assert {r["last_error"] for r in store.list_tracker_appends(SENDER)} == {"cannot reach Rasa"}
    rows = store.claim_tracker_appends(SENDER, "b", at=101.0, lease_seconds=LEASE)
    assert texts(rows) == ["one", "two"] and [r["attempts"] for r in rows] == [1, 1]


def test_nothing_owed_claims_nothing(store):
    assert store.claim_tracker_appends(SENDER, "a", at=1.0, lease_seconds=LEASE) == []
    assert store.finish_tracker_appends([]) == 0
    assert store.tracker_append_senders() == []


# -- the view ----------------------------------------------------------------------------


def test_the_view_shows_an_owed_reply_in_its_place_until_the_tracker_has_it(store):
    reply(store, "ben Ayse", at=1001.0)
    owed = store.list_tracker_appends(SENDER)
    customer = [
        {"event": "user", "text": "merhaba", "timestamp": 1000.0},
        {"event": "user", "text": "orada misiniz", "timestamp": 1002.0},
    ]
    lines = transcript_with_owed(customer, owed)
    assert [(x["who"], x["text"], x["mark"]) for x in lines] == [
        ("customer", "merhaba", None),
        ("agent", "ben Ayse", NOT_YET),
        ("customer", "orada misiniz", None),
    ]
    # Appended late (after the customer's second message) but shown at its time, once.
    late = {
        "event": "bot",
        "text": "ben Ayse",
        "timestamp": 1001.0,
        "metadata": {"agent": "ayse", "desk_append_id": owed[0]["id"]},
    }
    lines = transcript_with_owed([*customer, late], owed)
    assert [(x["text"], x["mark"]) for x in lines] == [
        ("merhaba", None),
        ("ben Ayse", None),
        ("orada misiniz", None),
    ]
