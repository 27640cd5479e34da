"""The operational store: migrations, facts, rumours, tickets, handoffs."""

from __future__ import annotations

import pytest

from bot.store import NotFound, Store
from bot.store.migrations import MIGRATIONS

FACT = {
    "id": "f1",
    "topic": "finance",
    "claim_tr": "iflas ediyor",
    "claim_en": "going bankrupt",
    "verdict": "false",
    "answer_tr": "Hayır.",
    "answer_en": "No.",
    "source_url": "https://example.org/a",
}


def test_migrations_run_once_and_are_recorded(tmp_path):
    path = tmp_path / "x.db"
    first = Store.open(path, migrate=False)
    assert first.migrate() == [name for name, _ in MIGRATIONS]
    assert first.migrate() == []
    first.close()
    again = Store.open(path)
    assert {r["name"] for r in again.db["_migrations"].rows} == {n for n, _ in MIGRATIONS}
    assert {"facts", "faqs", "rumours", "rumour_askers", "tickets", "handoffs", "feedback"} <= set(
        again.db.table_names()
    )


def test_opening_does_not_lose_data(tmp_path):
    path = tmp_path / "x.db"
    store = Store.open(path)
    store.upsert_fact(FACT, "published", "tester")
    store.close()
    assert Store.open(path).get_fact("f1")["claim_en"] == "going bankrupt"


def test_fact_upsert_publish_retire(store):
    assert store.upsert_fact(FACT, "draft", "tester") is True
    assert store.published_facts() == []
    fact = store.set_fact_status("f1", "published", by="editor")
    assert fact["verified_by"] == "editor" and fact["verified_at"]
    assert [f["id"] for f in store.published_facts()] == ["f1"]
    assert store.upsert_fact({**FACT, "claim_en": "sold"}, "published", "tester") is False
    assert store.get_fact("f1")["claim_en"] == "sold"
    store.set_fact_status("f1", "retired")
    assert store.published_facts() == []
    with pytest.raises(NotFound):
        store.set_fact_status("missing", "published")


def test_content_version_changes_with_content(store):
    before = store.content_version()
    store.upsert_fact(FACT, "published", "t")
    assert store.content_version() != before


def test_ticket_numbers_are_sequential_and_unique(store):
    numbers = [
        store.create_ticket(
            sender_id="s", channel="rest", text=f"t{i}", language="tr", severity="normal"
        ).number
        for i in range(3)
    ]
    assert numbers == ["CD-000001", "CD-000002", "CD-000003"]
    assert store.count_tickets("s") == 3
    assert store.count_tickets("other") == 0


def test_hostile_text_is_stored_verbatim(store):
    schema = sorted(store.db.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
    earlier = store.create_ticket(
        sender_id="s", channel="rest", text="earlier", language=None, severity="normal"
    )
    text = "'); DROP TABLE tickets; -- <script>alert(1)</script>"
    ticket = store.create_ticket(
        sender_id="s", channel="rest", text=text, language=None, severity="normal"
    )
    assert [t["text"] for t in store.list_tickets()] == [text, "earlier"]
    assert (earlier.number, ticket.number) == ("CD-000001", "CD-000002")
    # The text ran as no SQL: the schema is byte for byte what it was before.
    assert sorted(store.db.execute("SELECT type, name, sql FROM sqlite_master").fetchall()) == (
        schema
    )


def test_one_open_handoff_per_conversation_and_queue_order(store):
    common = dict(channel="rest", language="tr", last_messages=[])
    low = store.open_handoff(sender_id="a", reason="asked", priority="normal", **common)
    assert store.open_handoff(sender_id="a", reason="again", priority="normal", **common) == low
    high = store.open_handoff(sender_id="b", reason="health", priority="high", **common)
    assert [h["id"] for h in store.list_handoffs()] == [high, low]
    store.close_handoff(high)
    assert [h["id"] for h in store.list_handoffs()] == [low]
    assert store.get_handoff(high)["closed_at"]
    assert store.latest_handoff("b", "closed")["id"] == high
    with pytest.raises(NotFound):
        store.get_handoff(999)


def test_rumour_answered_later_lists_followups(store):
    rid = store.record_rumour("CEO arrested?", "en", "whatsapp:+905550000000", "whatsapp")
    assert store.record_rumour("  ceo   ARRESTED? ", "en", "telegram:42", "telegram") == rid
    assert store.pending_followups() == []
    store.upsert_fact(FACT, "published", "t")
    store.answer_rumour(rid, "f1")
    assert {f["sender_id"] for f in store.pending_followups()} == {
        "whatsapp:+905550000000",
        "telegram:42",
    }


def test_store_is_safe_to_open_twice(tmp_path):
    a = Store.open(tmp_path / "x.db")
    b = Store.open(tmp_path / "x.db")
    # The second open found every migration recorded and applied none again.
    assert b.migrate() == []
    assert b.db["_migrations"].count == len(MIGRATIONS)
    first = a.create_ticket(sender_id="s", channel=None, text="t", language=None, severity="normal")
    assert b.count_tickets("s") == 1
    second = b.create_ticket(
        sender_id="s", channel=None, text="u", language=None, severity="normal"
    )
    # Each handle sees the other's writes, and numbering continues across them.
    assert (first.number, second.number) == ("CD-000001", "CD-000002")
    assert [t["text"] for t in a.list_tickets("s")] == ["u", "t"]
    a.close()
    b.close()
