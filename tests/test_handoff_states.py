"""The handoff state machine: bot -> waiting -> assigned -> closed, guarded in SQL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from actions.handoff import ActionHandoff
from bot.store import Store
from bot.store.cases import HandoffConflict, handoff_kind
from bot.store.migrations import MIGRATIONS
from tests.conftest import bot_event, make_tracker, open_handoff, user_event

ROOT = Path(__file__).resolve().parent.parent


def audit_actions(store: Store) -> list:
    return [
        (row["actor"], row["action"], row["subject"])
        for row in store.db.query("select * from audit_log order by id")
    ]


def test_claim_release_transfer_close_and_every_step_is_audited(store):
    hid = open_handoff(store)
    assert store.get_handoff(hid)["status"] == "waiting"
    assert store.open_handoff_for("whatsapp:+905551112233")["id"] == hid

    claimed = store.claim_handoff(hid, "ayse")
    assert (claimed["status"], claimed["assigned_to"]) == ("assigned", "ayse")
    assert claimed["assigned_at"]
    # claiming one's own conversation again is harmless
    assert store.claim_handoff(hid, "ayse")["assigned_to"] == "ayse"

    moved = store.transfer_handoff(hid, "ayse", "mehmet")
    assert (moved["status"], moved["assigned_to"]) == ("assigned", "mehmet")

    back = store.release_handoff(hid, "mehmet")
    assert (back["status"], back["assigned_to"]) == ("waiting", None)
    assert store.open_handoff_for("whatsapp:+905551112233")["id"] == hid  # still held

    store.claim_handoff(hid, "ayse")
    closed = store.close_handoff(hid, by="ayse", owner="ayse")
    assert (closed["status"], closed["closed_by"]) == ("closed", "ayse")
    assert store.open_handoff_for("whatsapp:+905551112233") is None
    assert store.close_handoff(hid, by="cli")["closed_by"] == "ayse"  # twice: harmless

    subject = f"handoff:{hid}"
    assert audit_actions(store) == [
        ("bot", "conversation.opened", subject),
        ("ayse", "conversation.claim", subject),
        ("ayse", "conversation.transfer", subject),
        ("mehmet", "conversation.release", subject),
        ("ayse", "conversation.claim", subject),
        ("ayse", "conversation.close", subject),
    ]
    changes = [c["change"] for c in store.handoff_changes_after(0)]
    assert changes == ["opened", "claimed", "transferred", "released", "claimed", "closed"]
    assert store.last_handoff_change_id() == store.handoff_changes_after(0)[-1]["id"]


def test_transitions_from_the_wrong_state_are_refused_and_name_the_owner(store):
    hid = open_handoff(store)
    with pytest.raises(HandoffConflict):
        store.release_handoff(hid, "ayse")  # waiting: nobody to release it from
    store.claim_handoff(hid, "ayse")
    with pytest.raises(HandoffConflict) as lost:
        store.claim_handoff(hid, "mehmet")
    assert lost.value.owner == "ayse"
    with pytest.raises(HandoffConflict):
        store.transfer_handoff(hid, "mehmet", "zeynep")  # not mehmet's to give
    with pytest.raises(HandoffConflict):
        store.release_handoff(hid, "mehmet")
    with pytest.raises(HandoffConflict):
        store.close_handoff(hid, by="mehmet", owner="mehmet")
    assert store.get_handoff(hid)["assigned_to"] == "ayse"
    store.close_handoff(hid, by="ayse")
    with pytest.raises(HandoffConflict):
        store.claim_handoff(hid, "mehmet")  # closed: nothing to claim


def test_one_active_handoff_per_conversation(store):
    first = open_handoff(store)
    assert open_handoff(store, reason="complaint: illness", priority="high") == first
    store.claim_handoff(first, "ayse")
    assert open_handoff(store) == first  # assigned is still active
    store.close_handoff(first, by="ayse")
    assert open_handoff(store) != first


def race_to_claim(path, hid: int, agents: list) -> dict:
    """Every agent claims `hid` at the same moment, each on its own connection."""
    barrier = threading.Barrier(len(agents))
    results: dict = {}

    def claim(agent: str) -> None:
        own = Store.open(path, migrate=False)
        try:
            barrier.wait()
            try:
                results[agent] = own.claim_handoff(hid, agent)["assigned_to"]
            except HandoffConflict as conflict:
                results[agent] = ("lost", conflict.owner)
        finally:
            own.close()

    threads = [threading.Thread(target=claim, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_agents_claiming_at_once_exactly_one_wins(store, tmp_path):
    path = tmp_path / "crisisdesk.db"
    agents = [f"agent{n}" for n in range(4)]
    for round_ in range(20):
        hid = open_handoff(store, sender=f"telegram:{round_}")
        results = race_to_claim(path, hid, agents)
        assert set(results) == set(agents)
        winners = [agent for agent, result in results.items() if result == agent]
        assert len(winners) == 1, results
        assert store.get_handoff(hid)["assigned_to"] == winners[0]
        losers = [result for agent, result in results.items() if agent not in winners]
        assert losers == [("lost", winners[0])] * (len(agents) - 1)
        claims = store.db.execute(
            "select count(*) from audit_log where action = 'conversation.claim' and subject = ?",
            [f"handoff:{hid}"],
        ).fetchone()[0]
        assert claims == 1


def test_queue_order_reasons_ticket_and_intents(store):
    ticket = store.create_ticket(
        sender_id="rest:b", channel="rest", text="hastalandim", language="tr", severity="high"
    )
    normal = open_handoff(store, sender="rest:a")
    complaint = open_handoff(
        store,
        sender="rest:b",
        reason="complaint: illness",
        priority="high",
        ticket_number=ticket.number,
        intents=[{"name": "complaint", "confidence": 0.9}],
    )
    failed = open_handoff(
        store, sender="rest:c", reason="bot failed: the action server is down", priority="high"
    )
    taken = open_handoff(store, sender="rest:d", priority="high")
    store.claim_handoff(taken, "ayse")
    queue = store.queue()
    assert [row["id"] for row in queue] == [complaint, failed, normal, taken]
    by_id = {row["id"]: row for row in queue}
    assert by_id[complaint]["kind"] == "severe_complaint"
    assert by_id[complaint]["ticket_severity"] == "high"
    assert by_id[complaint]["intents"] == [{"name": "complaint", "confidence": 0.9}]
    assert by_id[failed]["kind"] == "bot_failed"
    assert by_id[normal]["kind"] == "asked_for_person"
    assert by_id[taken]["assigned_to"] == "ayse"


@pytest.mark.parametrize(
    "reason, kind",
    [
        ("customer asked for a person", "asked_for_person"),
        ("accepted the offer of a person", "asked_for_person"),
        ("complaint: illness, repeated", "severe_complaint"),
        ("the bot did not understand twice", "not_understood"),
        ("bot failed: the dialogue raised", "bot_failed"),
    ],
)
def test_reason_kinds(reason, kind):
    assert handoff_kind(reason) == kind


def test_rating_and_first_reply(store):
    hid = open_handoff(store)
    assert store.record_first_reply(hid) is True
    first = store.get_handoff(hid)["first_reply_at"]
    assert store.record_first_reply(hid) is False
    assert store.get_handoff(hid)["first_reply_at"] == first
    assert store.rate_handoff(hid, 4)["rating"] == 4
    with pytest.raises(ValueError):
        store.rate_handoff(hid, 6)


def test_migration_maps_open_to_waiting(tmp_path):
    path = tmp_path / "old.db"
    old = Store.open(path, migrate=False)
    old.db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    for name, migration in MIGRATIONS:
        if name == "0010_handoff_states":
            break
        migration(old.db)
        old.db["_migrations"].insert({"name": name, "applied_at": "2026-01-01"})
    old.db["handoffs"].insert_all(
        [
            {
                "sender_id": "a",
                "reason": "r",
                "priority": "normal",
                "status": "open",
                "created_at": "2026-01-01T00:00:00+00:00",
            },
            {
                "sender_id": "b",
                "reason": "r",
                "priority": "normal",
                "status": "closed",
                "created_at": "2026-01-01T00:00:00+00:00",
                "closed_at": "2026-01-02T00:00:00+00:00",
            },
        ]
    )
    old.db.conn.commit()
    old.close()
    new = Store.open(path)
    assert [h["status"] for h in new.list_handoffs(None)] == ["waiting", "closed"]
    assert new.open_handoff_for("a")["status"] == "waiting"
    assert new.get_handoff(2)["updated_at"] == "2026-01-02T00:00:00+00:00"
    with pytest.raises(sqlite3.IntegrityError):
        new.db.execute("insert into handoff_changes (handoff_id) values (1)")
    new.close()


async def test_the_handoff_action_stores_the_detected_intents(action_store, dispatcher, domain):
    history = [
        user_event("sütünüz bozuk çıktı", "complaint", confidence=0.62, language="tr"),
        bot_event("..."),
        user_event("sütünüz bozuk", "complaint", confidence=0.81, language="tr"),
    ]
    tracker = make_tracker(
        "temsilciye baglar misiniz", "request_human", language="tr", history=history
    )
    await ActionHandoff().run(dispatcher, tracker, domain)
    [handoff] = action_store.queue()
    assert handoff["intents"] == [
        {"name": "request_human", "confidence": 0.95},
        {"name": "complaint", "confidence": 0.81},
    ]
    assert handoff["kind"] == "asked_for_person"


# -- the bot failed: the pipeline queues the conversation -------------------------------


async def test_when_the_dialogue_raises_the_conversation_joins_the_queue(tmp_path):
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain

    from bot.channels.common import DomainResponses
    from bot.channels.pipeline import Incoming, Pipeline
    from bot.store.aio import AsyncStore

    domain = Domain.load(str(ROOT / "domain.yml"))
    agent = Agent(
        domain=domain, tracker_store=InMemoryTrackerStore(domain), lock_store=InMemoryLockStore()
    )
    app = SimpleNamespace(ctx=SimpleNamespace(agent=agent))
    collector = CollectingOutputChannel()
    astore = AsyncStore(tmp_path / "crisisdesk.db")

    async def broken_dialogue(message):
        raise ValueError("the policy blew up")

    pipeline = Pipeline("rest", astore, lambda _: collector, record=False, opt_words=False)
    pipeline.start(app, broken_dialogue)
    try:
        outcome = await pipeline.handle(Incoming("rest:ana", "my milk was sour", language="en"))
        assert outcome == "bot failed"
        expected = DomainResponses().render("utter_bot_failed_handoff", "en")["text"]
        assert [m["text"] for m in collector.messages] == [expected]
        [queued] = await astore.queue()
        assert (queued["kind"], queued["priority"], queued["status"]) == (
            "bot_failed",
            "high",
            "waiting",
        )
        assert queued["reason"] == "bot failed: the policy blew up"
        assert queued["last_messages"][0]["text"] == "my milk was sour"
        tracker = await agent.tracker_store.retrieve("rest:ana")
        assert tracker.is_paused()
        # The next failure in the same conversation queues nothing new and says the
        # error reply only (a person has it now).
        outcome = await pipeline.handle(Incoming("rest:ana", "hello?", language="en"))
        assert outcome == "error"
        assert len(await astore.list_handoffs()) == 1
    finally:
        astore.close()


@pytest.mark.slow
def test_with_the_action_server_down_the_customer_is_queued_as_bot_failed(tmp_path):
    """A real Rasa server whose action server never started (tests/servers.py)."""
    from tests.servers import running_bot

    with running_bot(tmp_path, ROOT / "models/crisisdesk.tar.gz", with_actions=False) as bot:
        replies = bot.say("rest:down-1", "merhaba, sütünüz bozuk çıktı")
        texts = " ".join(reply.get("text", "") for reply in replies)
        assert "temsilci" in texts or "person from our team" in texts, replies
        store = Store.open(bot.db_path)
        try:
            [queued] = store.queue()
            assert (queued["sender_id"], queued["kind"], queued["priority"]) == (
                "rest:down-1",
                "bot_failed",
                "high",
            )
            assert bot.tracker("rest:down-1")["paused"] is True
            # Now a person has it: the next message is kept for the agent, and the bot
            # says nothing.
            assert bot.say("rest:down-1", "orada misiniz") == []
            events = bot.tracker("rest:down-1")["events"]
            assert [e["text"] for e in events if e["event"] == "user"][-1] == "orada misiniz"
            assert len(store.list_handoffs()) == 1
        finally:
            store.close()
