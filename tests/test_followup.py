"""Askers of an unanswered rumour hear the answer once a fact is published."""

from __future__ import annotations

import json

from bot.cli import main
from bot.corrections import queue_followups


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


def test_the_followup_names_the_claim_in_the_askers_language(demo_store):
    demo_store.set_fact_status("bankruptcy", "draft")
    tr = demo_store.record_rumour(
        "kuzey sut batiyormus", "tr", "whatsapp:+905320000001", "whatsapp"
    )
    demo_store.record_rumour("is kuzey going under?", "en", "telegram:4242", "telegram")
    demo_store.set_fact_status("bankruptcy", "published")
    for rumour in demo_store.list_rumours("open"):
        demo_store.answer_rumour(rumour["id"], "bankruptcy")
    assert queue_followups(demo_store).queued == 2
    rows = {r["recipient"]: json.loads(r["payload"])["text"] for r in demo_store.list_outgoing()}
    assert (
        "❌ Yanlış: “Kuzey Süt iflas ediyor ve şirket satılıyor” iddiası doğru değil."
        in rows["whatsapp:+905320000001"]
    )
    assert (
        "❌ False: the claim that Kuzey Süt is going bankrupt and the company is being sold."
        in rows["telegram:4242"]
    )
    assert demo_store.get_rumour(tr)["status"] == "answered"


def test_an_asker_of_two_rumours_answered_by_one_fact_is_told_once(demo_store):
    sender = "whatsapp:+905320000005"
    first = demo_store.record_rumour("kuzey sut batiyormus", "tr", sender, "whatsapp")
    second = demo_store.record_rumour("kuzey iflas etti mi", "tr", sender, "whatsapp")
    assert first != second
    demo_store.answer_rumour(first, "bankruptcy")
    assert queue_followups(demo_store).queued == 1
    demo_store.answer_rumour(second, "bankruptcy")
    assert queue_followups(demo_store).queued == 0
    assert len(demo_store.list_outgoing()) == 1
    assert demo_store.pending_followups() == []


def test_asking_again_after_the_followup_does_not_send_it_again(demo_store):
    sender = "telegram:99"
    rumour = demo_store.record_rumour("kuzey sut batiyormus", "tr", sender, "telegram")
    demo_store.answer_rumour(rumour, "bankruptcy")
    assert queue_followups(demo_store).queued == 1
    assert demo_store.record_rumour("kuzey sut batiyormus", "tr", sender, "telegram") == rumour
    assert queue_followups(demo_store).queued == 0
