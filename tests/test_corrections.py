"""Corrections to every asker and statement broadcasts, through the real outbox.

Twilio's HTTP API is the only fake (tests/fake_twilio.py): the outbox, the
Twilio sender, the store and, in the last tests, a real Rasa server with the
WhatsApp channel run for real. WhatsApp's 24-hour window is crossed by moving
crisisdesk's clock (CRISISDESK_CLOCK_FILE), never by waiting.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from bot import clock
from bot.channels.twilio import TwilioSender
from bot.cli import main
from bot.corrections import (
    broadcast_statement,
    load_update_template,
    queue_corrections,
    window_open,
)
from bot.facts import import_facts, import_faqs
from bot.outbox import Outbox, Pacer
from bot.publishing import publish_fact
from bot.store import Store
from tests.conftest import ROOT
from tests.desk_client import Desk
from tests.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BOT_NUMBER,
    PUBLIC_BASE_URL,
    FakeTwilio,
    WhatsAppCustomer,
    channel_env,
)
from tests.servers import running_bot, wait_for

CLAIM = "500 isciyi isten cikariyormussunuz dogru mu"
DAY = 24 * 3600
TEMPLATE = load_update_template()


def db_path(store: Store) -> str:
    return store.db.execute("pragma database_list").fetchone()[2]


@pytest.fixture
def moved_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """crisisdesk's clock, at real time until the test advances it."""
    path = tmp_path / "clock"
    path.write_text("0")
    monkeypatch.setenv(clock.ENV, str(path))
    return path


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


def deliver(store: Store, fake: FakeTwilio, rates: Dict[str, float] | None = None) -> int:
    """Runs a real outbox with the Twilio sender until nothing is due; returns how many went."""

    async def run() -> int:
        sender = TwilioSender(
            ACCOUNT_SID,
            AUTH_TOKEN,
            BOT_NUMBER,
            fake.base_url,
            f"{PUBLIC_BASE_URL}/webhooks/whatsapp/status",
        )
        outbox = Outbox(store, {"whatsapp": sender}, rates=rates or {}, base_delay=0.01)
        try:
            total = 0
            while sent := await outbox.deliver_due():
                total += sent
            return total
        finally:
            await sender.close()
            outbox.store.close()

    return asyncio.run(run())


def customer_wrote(store: Store, recipient: str, text: str = "merhaba") -> None:
    """The customer's message as the WhatsApp channel remembers it (opens the window)."""
    store.record_inbound("whatsapp", WhatsAppCustomer.new_sid(), recipient, text)


def bodies(fake: FakeTwilio, recipient: str) -> List[str]:
    return [m.body for m in fake.messages_to(recipient)]


def deliveries(store: Store, campaign_id: int | None = None) -> Dict[str, Dict]:
    return {d["recipient"]: d for d in store.list_deliveries(campaign_id)}


# -- corrections ------------------------------------------------------------------------


def test_each_asker_gets_the_answer_once_however_often_and_by_whom_it_is_published(
    demo_store, fake
):
    store = demo_store
    store.set_fact_status("layoffs-500", "draft")
    ayse, can = "whatsapp:+905320000101", "whatsapp:+905320000102"
    for who in (ayse, can):
        customer_wrote(store, who, CLAIM)
        store.record_rumour(CLAIM, "tr", who, "whatsapp")
    store.record_rumour(CLAIM, "en", "rest-user", "rest")
    store.opt_out("whatsapp", can)

    done = publish_fact(store, "layoffs-500", "eda")
    assert (done.followups.queued, done.followups.unreachable, done.followups.opted_out) == (
        1,
        1,
        1,
    )
    # Published again, and by two other processes at the same moment: nobody twice.
    publish_fact(store, "layoffs-500", "eda")
    others = [Store.open(db_path(store)) for _ in range(2)]
    threads = [threading.Thread(target=queue_corrections, args=(other,)) for other in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in others:
        other.close()

    assert deliver(store, fake) == 1
    [answer] = bodies(fake, ayse)
    fact = store.get_fact("layoffs-500")
    assert answer.startswith("Daha önce bize sorduğunuz iddia") and fact["answer_tr"] in answer
    assert bodies(fake, can) == []
    found = deliveries(store)
    assert {who: d["status"] for who, d in found.items()} == {
        ayse: "sent",
        can: "opted_out",
        "rest-user": "unreachable",
    }
    assert found[ayse]["sent_at"] and not found[ayse]["corrects_earlier"]
    assert len(store.list_campaigns()) == 1


def test_a_changed_answer_reaches_everyone_told_the_earlier_one_as_a_correction(demo_store, fake):
    store = demo_store
    asker, told, told_new = (f"whatsapp:+90532000020{i}" for i in (1, 2, 3))
    store.set_fact_status("bankruptcy", "draft")
    for who in (asker, told, told_new):
        customer_wrote(store, who)
    store.record_rumour("kuzey sut batiyormus", "tr", asker, "whatsapp")
    publish_fact(store, "bankruptcy", "eda")
    # Direct answers of the bot (actions/facts.py records them).
    assert store.record_fact_told("bankruptcy", "whatsapp", told, "en") == 1
    assert store.record_fact_told("bankruptcy", "whatsapp", told_new, "tr") == 1
    deliver(store, fake)

    fact = store.get_fact("bankruptcy")
    changed = {**fact, "verdict": "misleading", "answer_en": "Only one plant is being sold."}
    changed["answer_tr"] = "Yalnızca bir tesis satılıyor."
    store.upsert_fact(changed, status="published", verified_by="eda")  # as `facts import` does
    # The bot answers with the new version before any correction is queued.
    assert store.record_fact_told("bankruptcy", "whatsapp", told_new, "tr") == 2
    publish_fact(store, "bankruptcy", "ali")
    publish_fact(store, "bankruptcy", "ali")  # again: the same version
    deliver(store, fake)

    first, correction = bodies(fake, asker)
    assert "❌" in first and correction.startswith("Düzeltme:")
    assert "Yalnızca bir tesis satılıyor." in correction
    [to_told] = bodies(fake, told)
    assert to_told.startswith("A correction: we have updated the answer we gave you earlier.")
    assert "Only one plant is being sold." in to_told
    assert bodies(fake, told_new) == []  # the bot told them the new version itself
    versions = [v["verdict"] for v in store.fact_versions("bankruptcy")]
    assert versions == ["false", "misleading"]
    latest = store.list_campaigns()[0]
    assert (latest["fact_version"], latest["counts"]) == (2, {"sent": 2})
    assert all(d["corrects_earlier"] for d in store.list_deliveries(latest["id"]))


def test_askers_followed_up_before_answer_versions_existed_are_not_told_again(demo_store, fake):
    store = demo_store
    old = "whatsapp:+905320000251"
    customer_wrote(store, old)
    rumour = store.record_rumour(CLAIM, "tr", old, "whatsapp")
    store.answer_rumour(rumour, "layoffs-500")
    store.mark_followup_sent(rumour, old)  # by the follow-ups of before
    assert queue_corrections(store).queued == 0
    fact = store.get_fact("layoffs-500")
    store.upsert_fact({**fact, "verdict": "misleading"}, status="draft", verified_by="eda")
    assert publish_fact(store, "layoffs-500", "eda").followups.queued == 1
    deliver(store, fake)
    [correction] = bodies(fake, old)
    assert correction.startswith("Düzeltme:")


def test_outside_the_window_a_template_goes_and_a_newer_version_replaces_the_waiting_one(
    demo_store, fake, moved_clock
):
    store = demo_store
    late, recent = "whatsapp:+905320000301", "whatsapp:+905320000302"
    store.set_fact_status("layoffs-500", "draft")
    customer_wrote(store, late)
    store.record_rumour(CLAIM, "tr", late, "whatsapp")
    clock.advance(moved_clock, DAY + 60)
    customer_wrote(store, recent)
    store.record_rumour(CLAIM, "tr", recent, "whatsapp")
    assert not window_open(store, "whatsapp", late) and window_open(store, "whatsapp", recent)

    done = publish_fact(store, "layoffs-500", "eda")
    assert (done.followups.queued, done.followups.waiting) == (2, 1)
    deliver(store, fake)
    [template] = fake.messages_to(late)
    assert template.form["ContentSid"] == TEMPLATE.content_sid["tr"]
    assert json.loads(template.form["ContentVariables"]) == {} and "Body" not in template.form
    [answer] = bodies(fake, recent)
    assert store.get_fact("layoffs-500")["answer_tr"] in answer

    fact = store.get_fact("layoffs-500")
    store.upsert_fact({**fact, "answer_tr": "Yeni yanıt."}, status="draft", verified_by="eda")
    publish_fact(store, "layoffs-500", "eda")
    deliver(store, fake)
    assert len(fake.messages_to(late)) == 1  # no second template
    by_status = {(d["recipient"], d["status"]) for d in store.list_deliveries()}
    assert (late, "superseded") in by_status and (late, "waiting_window") in by_status

    assert store.release_on_message("whatsapp", late, "SMreply") != []
    assert store.release_on_message("whatsapp", late, "SMreply2") == []  # once
    deliver(store, fake)
    _, full = bodies(fake, late)
    assert full.startswith("Daha önce bize sorduğunuz") and "Yeni yanıt." in full
    row = next(d for d in store.list_deliveries() if d["recipient"] == late and d["released_at"])
    assert store.get_outgoing(row["outbox_id"])["answers"] == "SMreply"  # a reply now


def test_a_waiting_answer_is_not_sent_once_its_fact_is_retired(demo_store, fake, moved_clock):
    store = demo_store
    late = "whatsapp:+905320000351"
    store.set_fact_status("layoffs-500", "draft")
    customer_wrote(store, late)
    store.record_rumour(CLAIM, "tr", late, "whatsapp")
    clock.advance(moved_clock, DAY)
    assert publish_fact(store, "layoffs-500", "eda").followups.waiting == 1
    store.set_fact_status("layoffs-500", "retired")  # wrong after all (a direct store call)
    assert store.release_on_message("whatsapp", late, "SMlater") == []
    [row] = store.list_deliveries()
    assert row["status"] == "superseded" and "no longer current" in row["error"]


def test_retiring_a_fact_withdraws_its_corrections_not_sent_yet(demo_store, fake):
    store = demo_store
    soon = "whatsapp:+905320000361"
    store.set_fact_status("layoffs-500", "draft")
    customer_wrote(store, soon)
    store.record_rumour(CLAIM, "tr", soon, "whatsapp")
    publish_fact(store, "layoffs-500", "eda")
    db = db_path(store)
    assert main(["--db", db, "facts", "retire", "layoffs-500", "--by", "eda"]) == 0
    assert deliver(store, fake) == 0 and fake.sent == []
    [row] = store.list_deliveries()
    assert (row["status"], row["error"]) == ("superseded", "withdrawn: fact retired by eda")
    publish_fact(store, "layoffs-500", "eda")  # right after all: it goes, once
    publish_fact(store, "layoffs-500", "eda")
    assert deliver(store, fake) == 1 and len(bodies(fake, soon)) == 1


def test_deliveries_follow_the_providers_reports_and_failures(demo_store, fake):
    store = demo_store
    good, bad = "whatsapp:+905320000401", "whatsapp:+905320000402"
    store.set_fact_status("layoffs-500", "draft")
    for who in (good, bad):
        customer_wrote(store, who)
        store.record_rumour(CLAIM, "tr", who, "whatsapp")
    publish_fact(store, "layoffs-500", "eda")
    fake.fail_next(1, 400)  # whichever goes first is refused for good
    deliver(store, fake)
    [sent] = fake.sent
    found = deliveries(store)
    refused = found[good if sent.to == bad else bad]
    assert refused["status"] == "failed" and "twilio HTTP 400" in refused["error"]
    for report in ("delivered", "read", "sent"):  # a late "sent" never moves it back
        store.update_delivery_status("whatsapp", sent.sid, report)
    accepted = deliveries(store)[sent.to]
    assert accepted["status"] == "read"
    assert accepted["sent_at"] and accepted["delivered_at"] and accepted["read_at"]


def test_a_web_chat_delivery_is_delivered_once_the_page_shows_it(demo_store):
    store = demo_store
    visitor = "webchat:" + "b" * 32
    store.set_fact_status("layoffs-500", "draft")
    store.record_rumour(CLAIM, "en", visitor, "webchat")
    publish_fact(store, "layoffs-500", "eda")
    [row] = store.list_outgoing(channel="webchat")
    assert deliveries(store)[visitor]["status"] == "queued"
    store.mark_shown("webchat", visitor, row["id"])  # what the chat page's stream does
    shown = deliveries(store)[visitor]
    assert shown["status"] == "delivered" and shown["delivered_at"]


# -- pacing -----------------------------------------------------------------------------


def test_a_pacer_spaces_proactive_messages_and_lets_replies_through():
    now = [100.0]
    pacer = Pacer(10, clock=lambda: now[0])
    assert [round(pacer.delay(False), 3) for _ in range(3)] == [0.0, 0.1, 0.2]
    assert pacer.delay(True) == 0.0  # a reply never waits...
    assert round(pacer.delay(False), 3) == 0.4  # ...but takes a slot


def test_proactive_sends_are_paced_per_sender_and_a_reply_goes_first(demo_store, fake):
    store = demo_store
    rate = 20.0
    for i in range(12):
        store.enqueue_outgoing("whatsapp", f"whatsapp:+9053200005{i:02d}", {"text": f"update {i}"})
    store.enqueue_outgoing("whatsapp", "whatsapp:+905320000599", {"text": "reply"}, "SMin")
    assert deliver(store, fake, {"whatsapp": rate}) == 13
    sent = fake.sent
    # Nobody who just wrote waits behind a broadcast (the first update may share its slot).
    assert [m.body for m in sent].index("reply") <= 1
    times = [m.received_at for m in sent if m.body != "reply"]
    assert times[-1] - times[0] >= 11 / rate - 0.03  # 12 slots 1/rate apart
    # Never a burst: any quarter of a second holds about rate/4 of them (latency jitter aside).
    assert max(sum(t <= u < t + 0.25 for u in times) for t in times) <= 0.25 * rate + 2


# -- statement broadcasts ---------------------------------------------------------------


def live_incident(store: Store, text_tr: str = "Yangın söndürüldü.") -> int:
    incident = store.open_incident(
        name="Bursa fabrika yangını",
        severity="high",
        keywords=["yangın", "fire"],
        examples={"tr": ["fabrikanız yanıyor mu"], "en": ["is your factory on fire"]},
        opened_by="eda",
    )
    statement = store.add_statement(
        incident, text_tr=text_tr, text_en="The fire is out.", written_by="eda"
    )
    store.approve_statement(statement["id"], "ali")
    return incident


def test_a_statement_reaches_everyone_who_wrote_about_the_incident_once(demo_store, fake):
    store = demo_store
    incident = live_incident(store)
    tr, en, opted = "whatsapp:+905320000601", "whatsapp:+905320000602", "whatsapp:+905320000603"
    for who, language in ((tr, "tr"), (en, "en"), (opted, "tr")):
        customer_wrote(store, who, "fabrika yanıyor mu")
        store.note_incident_conversation(incident, who, "whatsapp", language)
    store.note_incident_conversation(incident, "rest-9", "rest", "tr")
    store.opt_out("whatsapp", opted)

    first = broadcast_statement(store, incident, "eda")
    again = broadcast_statement(store, incident, "eda")
    assert (first.queued, first.opted_out, first.unreachable, again.queued) == (2, 1, 1, 0)
    deliver(store, fake)
    assert bodies(fake, tr) == [
        "Yazdığınız konuyla ilgili resmi açıklamamız:\n\nYangın söndürüldü."
    ]
    assert bodies(fake, en) == [
        "Our official statement on what you wrote to us about:\n\nThe fire is out."
    ]

    newer = store.add_statement(
        incident,
        text_tr="Üretim yarın başlıyor.",
        text_en="Work resumes tomorrow.",
        written_by="eda",
    )
    store.approve_statement(newer["id"], "ali")
    assert broadcast_statement(store, incident, "ali").queued == 2
    deliver(store, fake)
    assert bodies(fake, en)[-1].startswith("We have updated our official statement")
    assert bodies(fake, opted) == []

    bare = store.open_incident(
        name="Quiet", severity="low", keywords=["x"], examples={"tr": [], "en": []}, opened_by="eda"
    )
    with pytest.raises(ValueError, match="no live statement"):
        broadcast_statement(store, bare, "eda")


def test_a_broadcast_can_take_its_recipients_from_any_list(demo_store):
    store = demo_store
    incident = live_incident(store)

    def recipients(_store: Store, incident_id: int) -> List[Dict]:
        assert incident_id == incident
        return [{"sender_id": "telegram:77", "channel": "telegram", "language": "en", "at": None}]

    done = broadcast_statement(store, incident, "eda", recipients=recipients)
    assert done.queued == 1
    [row] = store.list_outgoing()
    assert row["recipient"] == "telegram:77" and "The fire is out." in row["payload"]


def test_a_broadcast_skips_who_saw_the_statement_in_the_chat_and_the_chat_skips_it_after(
    demo_store,
):
    store = demo_store
    incident = live_incident(store)
    statement = store.live_statement(incident)
    people = [
        {"sender_id": "telegram:70", "channel": "telegram", "language": "tr", "at": None},
        {"sender_id": "telegram:71", "channel": "telegram", "language": "en", "at": None},
    ]
    assert store.mark_statement_shown(statement["id"], "telegram:70", "tr")  # in the chat
    done = broadcast_statement(store, incident, "eda", recipients=lambda _s, _i: people)
    assert done.queued == 1
    assert [row["recipient"] for row in store.list_outgoing()] == ["telegram:71"]
    # The chat's "statement first" claims the view: already taken by the broadcast.
    assert not store.mark_statement_shown(statement["id"], "telegram:71", "en")


def test_the_cli_broadcasts_and_lists_progress(demo_store, capsys):
    from bot.desk.auth import hash_password

    store = demo_store
    incident = live_incident(store)
    store.note_incident_conversation(incident, "whatsapp:+905320000701", "whatsapp", "tr")
    store.create_user("eda", "editor", hash_password("a long password 123"), must_change=False)
    db = db_path(store)
    assert main(["--db", db, "incidents", "broadcast", str(incident), "--as", "nobody"]) == 2
    assert main(["--db", db, "incidents", "broadcast", str(incident), "--as", "eda"]) == 0
    assert "1 message(s) queued (0 waiting" in capsys.readouterr().out
    assert main(["--db", db, "corrections", "list"]) == 0
    listing = capsys.readouterr().out
    assert f"incident {incident} statement" in listing
    [campaign] = store.list_campaigns()
    assert main(["--db", db, "corrections", "show", str(campaign["id"])]) == 0
    shown = capsys.readouterr().out
    assert "queued 1" in shown and "+905320000701" not in shown  # masked


def test_the_desk_shows_progress_and_broadcasts_for_editors(demo_store):
    store = demo_store
    incident = live_incident(store)
    store.note_incident_conversation(incident, "whatsapp:+905320000801", "whatsapp", "tr")
    desk = Desk(store)
    desk.user("eda", "editor")
    desk.user("ayse", "agent")
    assert desk.login("ayse").get("/campaigns").status_code == 403
    editor = desk.login("eda")
    page = editor.get("/campaigns").text
    assert "Broadcast to everyone who wrote about it" in page
    assert editor.post("/campaigns/broadcast", data={"incident_id": incident}).status_code == 403
    token = desk.csrf(editor)
    answer = editor.post(
        "/campaigns/broadcast", data={"incident_id": incident, "csrf_token": token}
    )
    assert answer.status_code == 303
    detail = editor.get(answer.headers["location"]).text
    assert "whatsapp:+90 5** *** **01" in detail and "+905320000801" not in detail
    assert "1 message(s) queued" in detail
    # The progress refreshes itself: the page polls its own figures.
    assert 'hx-trigger="every 10s"' in detail and 'hx-select="#campaign-live"' in detail
    assert ("eda", "incident.broadcast") in [(a["actor"], a["action"]) for a in store.list_audit()]
    bad = editor.post("/campaigns/broadcast", data={"incident_id": "x", "csrf_token": token})
    assert "choose an incident" in editor.get(bad.headers["location"]).text
    assert editor.get("/campaigns/999").status_code == 404


# -- through the real WhatsApp channel --------------------------------------------------


@pytest.fixture(scope="module")
def whatsapp_bot(tmp_path_factory) -> Iterator[tuple]:
    """Rasa and the actions with the WhatsApp channel on, the fake Twilio, a moved clock."""
    workdir = tmp_path_factory.mktemp("corrections")
    clock_file = workdir / "clock"
    clock_file.write_text("0")
    store = Store.open(workdir / "crisisdesk.db")
    import_facts(store, ROOT / "data/facts/demo.csv")
    import_faqs(store, ROOT / "data/facts/faq.csv")
    store.set_fact_status("bankruptcy", "draft")  # the bot cannot answer it yet
    store.close()
    credentials = workdir / "credentials.yml"
    credentials.write_text("bot.channels.whatsapp.WhatsAppInput:\n", encoding="utf-8")
    before = os.environ.get(clock.ENV)
    os.environ[clock.ENV] = str(clock_file)  # the test's publishing reads the same clock
    try:
        with FakeTwilio() as fake:
            env = {**channel_env(fake), clock.ENV: str(clock_file)}
            with running_bot(
                workdir,
                ROOT / "models/crisisdesk.tar.gz",
                extra_env=env,
                credentials=credentials,
            ) as bot:
                yield bot, fake, clock_file
    finally:
        if before is None:
            os.environ.pop(clock.ENV, None)
        else:
            os.environ[clock.ENV] = before


def wait_body(fake: FakeTwilio, address: str, test, what: str):
    """The first message to `address` whose Sent passes `test` (waits for it)."""
    found = fake.wait_for(lambda sent: any(m.to == address and test(m) for m in sent), 30)
    return next(m for m in found if m.to == address and test(m))


def starts(prefix: str):
    return lambda m: m.body.startswith(prefix)


@pytest.mark.slow
def test_a_customer_told_an_answer_on_whatsapp_gets_its_correction(whatsapp_bot):
    bot, fake, _ = whatsapp_bot
    store = Store.open(bot.db_path)
    deniz = WhatsAppCustomer(bot.rasa_url, "+905320000901")
    deniz.send(CLAIM)
    wait_body(fake, deniz.address, starts("❌ Yanlış"), "the fact")
    [told] = wait_for(lambda: store.told_versions("layoffs-500"), 10, "the telling")
    assert (told["recipient"], told["version"], told["language"]) == (deniz.address, 1, "tr")

    fact = store.get_fact("layoffs-500")
    store.upsert_fact(
        {**fact, "answer_tr": "Yalnızca 50 sözleşmeli çalışanın sözleşmesi bitiyor."},
        status="draft",
        verified_by="eda",
    )
    publish_fact(store, "layoffs-500", "eda")
    correction = wait_body(fake, deniz.address, starts("Düzeltme:"), "the correction")
    assert "50 sözleşmeli" in correction.body
    wait_for(lambda: store.list_deliveries()[0]["status"] == "sent", 10, "the delivery sent")
    store.close()


@pytest.mark.slow
def test_outside_the_window_the_template_then_the_answer_once_the_customer_presses_it(
    whatsapp_bot,
):
    bot, fake, clock_file = whatsapp_bot
    store = Store.open(bot.db_path)
    ece, mert = (WhatsAppCustomer(bot.rasa_url, f"+90532000100{i}") for i in (1, 2))
    for customer in (ece, mert):
        customer.send("kuzey sut iflas mi ediyor dogru mu")
        wait_body(fake, customer.address, lambda m: bool(m.body), "we are checking")
    wait_for(lambda: len(store.rumour_askers(store.list_rumours()[0]["id"])) == 2, 10, "askers")
    mert.send("STOP")
    wait_body(fake, mert.address, starts("Done"), "the opt-out confirmation")
    clock.advance(clock_file, DAY + 3600)  # every process is a day later

    done = publish_fact(store, "bankruptcy", "eda")
    assert (done.followups.queued, done.followups.waiting, done.followups.opted_out) == (1, 1, 1)
    template = wait_body(fake, ece.address, lambda m: "ContentSid" in m.form, "the template")
    assert template.form["ContentSid"] == TEMPLATE.content_sid["tr"]

    ece.send("Göster", ButtonPayload=TEMPLATE.payload, ButtonText="Göster")
    full = wait_body(fake, ece.address, starts("Daha önce bize sorduğunuz"), "the answer")
    assert "❌" in full.body
    before = len(fake.messages_to(ece.address))
    ece.send("merhaba")  # the window is open: the dialogue answers; the update stays once
    fake.wait_for_messages(ece.address, before + 1)
    assert sum("Daha önce bize sorduğunuz" in m.body for m in fake.messages_to(ece.address)) == 1
    texts = [e.get("text") for e in bot.tracker(ece.address)["events"] if e["event"] == "user"]
    assert "Göster" not in texts  # the button press was not for the dialogue

    for report in ("delivered", "read"):
        form = {"MessageSid": full.sid, "MessageStatus": report, "To": ece.address}
        assert ece.post("/webhooks/whatsapp/status", form).ok
    [campaign] = [c for c in store.list_campaigns() if c["fact_id"] == "bankruptcy"]
    found = wait_for(
        lambda: (
            deliveries(store, campaign["id"])[ece.address]["status"] == "read"
            and deliveries(store, campaign["id"])
        ),
        10,
        "read",
    )
    assert found[mert.address]["status"] == "opted_out" and found[mert.address]["outbox_id"] is None
    store.close()
