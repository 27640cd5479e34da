"""Askers of an unanswered rumour hear the answer once a fact is published."""

from __future__ import annotations

from bot.cli import main
from bot.followup import queue_followups


def db_path(store):
    return store.db.execute("pragma database_list").fetchone()[2]


def test_publishing_queues_one_followup_per_reachable_asker(demo_store, capsys):
    demo_store.set_fact_status("layoffs-500", "draft")
    claim = "500 isciyi isten cikariyormussunuz dogru mu"
    demo_store.record_rumour(claim, "tr", "whatsapp:+905320000001", "whatsapp")
    demo_store.record_rumour(claim, "en", "telegram:4242", "telegram")
    demo_store.record_rumour(claim, "tr", "rest-user", "rest")

    assert main(["--db", db_path(demo_store), "facts", "publish", "layoffs-500"]) == 0
    out = capsys.readouterr().out
    assert "2 follow-up message(s) queued" in out and "1 asker(s)" in out

    fact = demo_store.get_fact("layoffs-500")
    rows = {r["recipient"]: r for r in demo_store.list_outgoing()}
    assert set(rows) == {"whatsapp:+905320000001", "telegram:4242"}
    assert fact["answer_tr"] in rows["whatsapp:+905320000001"]["payload"]
    assert "Kaynak:" in rows["whatsapp:+905320000001"]["payload"]
    assert fact["answer_en"] in rows["telegram:4242"]["payload"]
    assert all(r["answers"] is None for r in rows.values())  # proactive: opt-outs respected
    assert [f["sender_id"] for f in demo_store.pending_followups()] == ["rest-user"]

    assert queue_followups(demo_store).queued == 0  # nobody is told twice
    assert len(demo_store.list_outgoing()) == 2
