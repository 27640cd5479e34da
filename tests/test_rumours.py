"""Open rumours: grouped by meaning, suggested facts, confirmed or rejected by a person."""

from __future__ import annotations

import sqlite_utils

from bot import rumours
from bot.answers import Knowledge
from bot.cli import main
from bot.config import settings
from bot.publishing import publish_fact
from bot.store import Store
from bot.store import migrations as store_migrations


def db_path(store):
    return store.db.execute("pragma database_list").fetchone()[2]


def record(store, text, sender, language="tr", channel="whatsapp", suggestions=()):
    return rumours.record(store, text, language, sender, channel, suggestions)


# -- grouping ------------------------------------------------------------------------


def test_the_same_claim_in_other_words_joins_one_group(store):
    first = record(store, "kuzey sut tereyaginda margarin varmis", "whatsapp:+1")
    assert record(store, "tereyağında margarin varmış doğru mu", "whatsapp:+2") == first
    assert record(store, "Kuzey Süt tereyağında margarin var", "telegram:3", "tr") == first
    assert record(store, "kuzey sut tereyaginda margarin varmis", "whatsapp:+1") == first
    [group] = store.rumour_groups()
    assert (group["id"], group["size"], group["askers"], group["ask_count"]) == (first, 3, 3, 4)
    assert group["text"] == "kuzey sut tereyaginda margarin varmis"  # the first wording


def test_different_claims_stay_apart(store):
    ids = {
        record(store, "500 isciyi isten cikariyormussunuz", "a"),
        record(store, "50 isciyi isten cikariyormussunuz", "b"),  # another number
        record(store, "is it true your ceo resigned", "c", "en"),
        record(store, "is it true your ceo was arrested", "d", "en"),  # a word replaced
        record(store, "your milk gives kids cancer", "e", "en"),
        record(store, "your milk gives kids diabetes", "f", "en"),
    }
    assert len(ids) == 6
    assert len(store.rumour_groups()) == 6


def test_same_claim_rule():
    assert rumours.same_claim("your ceo resigned", "is it true your ceo resigned??", 0.8, 0.45)
    assert not rumours.same_claim("your ceo resigned", "your ceo resigned", 0.2, 0.45)
    assert not rumours.same_claim("500 workers fired", "50 workers fired", 0.99, 0.45)
    assert rumours.same_claim("your ceo resigned", "ceo istifa etmis", 0.95, 0.45)  # translation
    assert rumours.same_claim("kuzey sut batiyor", "kuzey süt batıyor mu", 0.3, 0.45)


def test_an_answered_group_takes_no_new_wordings(demo_store):
    first = record(demo_store, "genel muduru tutuklamislar dogru mu", "a")
    demo_store.answer_rumour(first, "bankruptcy")
    assert record(demo_store, "genel muduru tutuklamislar mi", "b") != first


def test_old_rumours_become_groups_with_their_wording(tmp_path):
    db = sqlite_utils.Database(tmp_path / "old.db")
    db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    for name, migration in store_migrations.MIGRATIONS:
        if name.startswith("0006"):
            break
        migration(db)
        db["_migrations"].insert({"name": name, "applied_at": "then"})
    db["rumours"].insert(
        {
            "id": 7,
            "text": "Genel müdür tutuklandı",
            "normalized": "genel mudur tutuklandi",
            "language": "tr",
            "status": "open",
            "ask_count": 2,
            "first_seen": "t1",
            "last_seen": "t2",
        }
    )
    db["facts"].insert(
        {
            "id": "f",
            "topic": "x",
            "claim": "Old claim.",
            "verdict": "false",
            "answer_tr": "a",
            "answer_en": "b",
            "source_url": "https://e.org",
            "status": "published",
        }
    )
    db.conn.commit()
    db.conn.close()
    store = Store.open(tmp_path / "old.db")
    assert store.get_fact("f")["claim_en"] == "Old claim." and store.get_fact("f")["claim_tr"] == ""
    [wording] = store.rumour_wordings(7)
    assert (wording["text"], wording["ask_count"]) == ("Genel müdür tutuklandı", 2)
    assert record(store, "genel mudur tutuklandi", "x") == 7  # the same wording, same group
    store.close()


# -- suggestions, confirm, reject ---------------------------------------------------


def test_suggestions_keep_the_best_score_and_rejections_stick(demo_store):
    rid = record(
        demo_store, "fabrikaniz yanip kul olmus", "a", suggestions=[("bursa-factory-fire", 0.4)]
    )
    record(
        demo_store, "fabrikanız yanıp kül olmuş", "b", suggestions=[("bursa-factory-fire", 0.47)]
    )
    [suggestion] = demo_store.rumour_suggestions(rid)
    assert suggestion["score"] == 0.47
    rumours.reject(demo_store, rid, "bursa-factory-fire")
    record(demo_store, "fabrikaniz yanip kul olmus", "c", suggestions=[("bursa-factory-fire", 0.9)])
    assert demo_store.rumour_suggestions(rid) == []
    assert [s["fact_id"] for s in demo_store.rumour_suggestions(rid, "rejected")] == [
        "bursa-factory-fire"
    ]


def test_confirm_answers_the_askers_once_and_keeps_the_wordings(demo_store):
    # An answer threshold just above what the paraphrase scores today (whatever
    # the matcher's tuning): not answered before, answered once its wording is kept.
    paraphrase = "they're sacking hundreds of workers"
    probe = Knowledge(demo_store, 0.0, 0.0)
    before = probe.match_fact(paraphrase)
    threshold = min(before.score + 0.01, 0.99)
    knowledge = Knowledge(demo_store, threshold, settings().match_margin, suggest=threshold)
    assert knowledge.match_fact(paraphrase).id is None
    rid = record(demo_store, paraphrase, "whatsapp:+905320000001", "en", "whatsapp")
    assert (
        record(
            demo_store, "they are sacking hundreds of workers!!", "telegram:77", "en", "telegram"
        )
        == rid
    )
    record(demo_store, paraphrase, "rest-user", "en", "rest")
    record(demo_store, paraphrase, "whatsapp:+905320000001", "en", "whatsapp")  # asked again

    done = rumours.confirm(demo_store, rid, "layoffs-500")
    assert (done.variants, done.followups.queued, done.followups.unreachable) == (2, 2, 1)
    outgoing = {row["recipient"]: row["payload"] for row in demo_store.list_outgoing()}
    assert set(outgoing) == {"whatsapp:+905320000001", "telegram:77"}
    assert "the claim that Kuzey Süt is laying off 500 workers" in outgoing["telegram:77"]
    assert demo_store.claim_variants()["layoffs-500"] == [
        paraphrase,
        "they are sacking hundreds of workers!!",
    ]
    # The next customer worded like them gets the answer directly.
    assert knowledge.match_fact("they're sacking hundreds of workers, is it true?").id == (
        "layoffs-500"
    )
    # Confirming again tells nobody twice.
    assert rumours.confirm(demo_store, rid, "layoffs-500").followups.queued == 0
    assert len(demo_store.list_outgoing()) == 2


def test_confirm_also_answers_the_open_groups_its_wordings_now_match(demo_store):
    # The matcher abstains on both wordings today (detergent is not bleach, for
    # its evidence checks); a person judges the first, and the second group,
    # kept apart, is answered with it, not later when the fact is published again.
    first, second = "your milk is full of detergent", "is your milk full of detergent??"
    knowledge = Knowledge(demo_store, settings().match_threshold, settings().match_margin)
    assert knowledge.match_fact(first).id is None and knowledge.match_fact(second).id is None
    judged = demo_store.record_rumour(first, "en", "whatsapp:+905320000011", "whatsapp")
    apart = demo_store.record_rumour(second, "en", "whatsapp:+905320000012", "whatsapp")
    assert judged != apart

    done = rumours.confirm(demo_store, judged, "bleach-in-milk")
    assert demo_store.get_rumour(apart)["fact_id"] == "bleach-in-milk"
    assert done.followups.queued == 2
    assert {row["recipient"] for row in demo_store.list_outgoing()} == {
        "whatsapp:+905320000011",
        "whatsapp:+905320000012",
    }
    # Publishing the fact again (a second click) then tells nobody anything.
    assert publish_fact(demo_store, "bleach-in-milk", by="eda").followups.queued == 0
    assert len(demo_store.list_outgoing()) == 2


def test_confirm_refuses_drafts_and_a_second_fact(demo_store):
    rid = record(demo_store, "genel muduru tutuklamislar", "a")
    demo_store.set_fact_status("halal-certificate", "draft")
    for fact_id, message in (("halal-certificate", "publish it first"),):
        try:
            rumours.confirm(demo_store, rid, fact_id)
        except ValueError as problem:
            assert message in str(problem)
        else:
            raise AssertionError("a draft fact was confirmed")
    rumours.confirm(demo_store, rid, "bankruptcy")
    try:
        rumours.confirm(demo_store, rid, "layoffs-500")
    except ValueError as problem:
        assert "already answered by fact bankruptcy" in str(problem)
    else:
        raise AssertionError("a rumour was answered by two facts")


def test_cli_list_suggest_confirm_reject(demo_store, capsys):
    db = db_path(demo_store)
    rid = record(
        demo_store,
        "fabrikanız yanıp kül olmuş",
        "whatsapp:+905320000002",
        suggestions=[("bursa-factory-fire", 0.47), ("halal-certificate", 0.31)],
    )
    record(demo_store, "fabrikaniz yanip kul olmus dogru mu", "whatsapp:+905320000003")
    other = record(demo_store, "genel muduru tutuklamislar", "whatsapp:+905320000004")

    assert main(["--db", db, "rumours", "list"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "id",
        "status",
        "askers",
        "new",
        "growth",
        "wordings",
        "asks",
        "first_seen",
        "last_seen",
        "suggestions",
        "example",
    ]
    assert len(rows) == 2
    first = next(row for row in rows if row.split()[0] == str(rid))
    # open, 2 askers, both new in the last hour (growth 2: no rate before), 2 wordings, 2 asks
    assert first.split()[1:7] == ["open", "2", "2", "2.0", "2", "2"]
    assert "bursa-factory-fire (0.47), halal-certificate" in first  # cut at 48 characters
    assert "fabrikanız yanıp kül olmuş" in first

    assert main(["--db", db, "rumours", "suggest"]) == 0
    out = capsys.readouterr().out
    assert f"rumour {rid}: 2 asker(s)" in out and f"rumour {other}:" not in out
    assert "suggested: bursa-factory-fire (score 0.47)" in out

    assert main(["--db", db, "rumours", "reject", str(rid), "halal-certificate"]) == 0
    assert "no longer suggested" in capsys.readouterr().out
    assert main(["--db", db, "rumours", "reject", str(rid), "halal-certificate"]) == 2
    assert "not an open suggestion" in capsys.readouterr().err

    assert main(["--db", db, "rumours", "confirm", str(rid), "bursa-factory-fire"]) == 0
    out = capsys.readouterr().out
    assert "answered by fact bursa-factory-fire; 2 wording(s) kept" in out
    assert "2 follow-up message(s) queued" in out
    payloads = [row["payload"] for row in demo_store.list_outgoing()]
    assert len(payloads) == 2
    assert all("Kuzey Süt'ün Bursa'daki fabrikası yanıyor" in p for p in payloads)

    assert main(["--db", db, "rumours", "confirm", "999", "bursa-factory-fire"]) == 2
    assert "no rumour with id 999" in capsys.readouterr().err
    assert main(["--db", db, "rumours", "confirm", str(other), "nope"]) == 2
    assert "no fact with id 'nope'" in capsys.readouterr().err
    assert main(["--db", db, "rumours", "suggest"]) == 0
    assert capsys.readouterr().out.strip() == "(none)"


def test_publishing_answers_a_group_through_any_of_its_wordings(demo_store, capsys):
    demo_store.set_fact_status("bankruptcy", "draft")
    group = demo_store.record_rumour("sirket el degistiriyormus", "tr", "whatsapp:+1", "whatsapp")
    same = demo_store.record_rumour(
        "kuzey sut iflas mi ediyor dogru mu", "tr", "whatsapp:+2", "whatsapp", group_id=group
    )
    assert same == group
    assert main(["--db", db_path(demo_store), "facts", "publish", "bankruptcy"]) == 0
    assert "1 open rumour(s) now answered; 2 customer(s) to follow up" in capsys.readouterr().out
    assert demo_store.get_rumour(group)["fact_id"] == "bankruptcy"
