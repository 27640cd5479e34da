"""The agents' dashboard: queue length, waiting p50/p95, agents online, closed-handoff measures."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.desk.dashboard import duration, measures, percentile, seconds_between
from bot.store import Store
from tests.conftest import open_handoff
from tests.desk_client import Desk


@pytest.fixture
def desk(store: Store) -> Desk:
    desk = Desk(store)
    desk.user("ayse", "agent")
    desk.user("ed", "editor")
    return desk


def test_percentile_is_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0
    assert percentile([30.0, 10.0, 20.0], 50) == 20.0


def test_durations_for_a_person():
    assert duration(None) == "–"
    assert duration(42) == "42 s"
    assert duration(12 * 60 + 20) == "12 min"
    assert duration(2 * 3600 + 5 * 60) == "2 h 5 min"
    assert seconds_between("2026-12-01T10:00:00+00:00", "2026-12-01T10:03:30+00:00") == 210
    assert seconds_between("2026-12-01T10:00:00+00:00", None) is None


def test_measures_of_waiting_and_closed_handoffs():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    at = lambda minutes: (now - timedelta(minutes=minutes)).isoformat()  # noqa: E731
    queue = [{"status": "waiting", "created_at": at(m)} for m in (1, 2, 3, 10)] + [
        {"status": "assigned", "created_at": at(30)}
    ]
    closed = [
        {
            "id": 1,
            "sender_id": "whatsapp:+905551112233",
            "channel": "whatsapp",
            "created_at": at(60),
            "first_reply_at": at(58),
            "closed_at": at(40),
            "assigned_to": "ayse",
            "rating": 5,
        },
        {
            "id": 2,
            "sender_id": "telegram:123456789",
            "channel": "telegram",
            "created_at": at(50),
            "first_reply_at": None,
            "closed_at": at(45),
            "assigned_to": None,
            "closed_by": "cli",
            "rating": None,
        },
    ]
    shown = measures(queue, closed, now, ["ayse"])
    assert (shown["waiting"], shown["assigned"]) == (4, 1)
    assert shown["wait_p50"] == 120 and shown["wait_p95"] == 600
    assert shown["first_reply_median"] == 120  # the one with a reply
    assert shown["to_close_median"] == (20 * 60 + 5 * 60) / 2
    assert shown["rating_mean"] == 5 and shown["rated"] == 1
    assert [row["agent"] for row in shown["closed"]] == ["ayse", "cli"]
    assert "905551112233" not in str(shown["closed"])  # customers masked


def test_the_page_shows_the_queue_and_closed_handoffs(desk, store):
    waiting = open_handoff(store, "whatsapp:+905550000001")
    open_handoff(store, "whatsapp:+905550000002")
    done = open_handoff(store, "whatsapp:+905550000003")
    store.claim_handoff(done, "ayse")
    store.record_first_reply(done)
    store.close_handoff(done, by="ayse", owner="ayse")
    store.rate_handoff(done, 4)
    created = desk.clock.now - timedelta(minutes=20)
    store.db["handoffs"].update(waiting, {"created_at": created.isoformat()})
    client = desk.login("ayse")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert '<dd id="m-waiting">2</dd>' in page.text
    assert '<dd id="m-online">1</dd>' in page.text and "Online: ayse" in page.text
    assert '<dd id="m-wait-p95">20 min</dd>' in page.text
    assert f"<td>{done}</td>" in page.text and "<td>4</td>" in page.text
    assert "905550000003" not in page.text
    assert 'href="/dashboard"' in client.get("/queue").text


def test_the_dashboard_refuses_anonymous_and_editors(desk):
    anonymous = desk.client().get("/dashboard")
    assert anonymous.status_code in (302, 303, 401)
    assert desk.login("ed").get("/dashboard").status_code == 403


def test_the_lifespan_starts_the_sweep_and_stops_every_task(desk, store):
    """Shutting the desk down leaves no task running (the sweep, the live feed)."""
    with desk.client() as client:
        sweep = desk.app.state.waiting
        assert sweep.task is not None and not sweep.task.done()
        running = sweep.task
        desk.login("ayse", client=client)
        assert client.get("/dashboard").status_code == 200
    assert running.done() and sweep.task is None
    assert getattr(desk.app.state, "live", None) is None
