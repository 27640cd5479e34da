"""WhatsApp through Twilio, end to end: signed webhooks in, the fake Twilio's Messages API out.

Rasa and the action server run for real with the WhatsApp channel on; only
Twilio's HTTP API is faked (tests/fake_twilio.py). Requests are signed with the
twilio library's RequestValidator against a public URL that is not the loopback
address the test really posts to, as behind a proxy.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, List

import pytest
from twilio.request_validator import RequestValidator

from bot.channels.common import keyword, split_text, utf16_len
from bot.channels.twilio import (
    MAX_CHARS,
    chosen_payload,
    signed_form,
    whatsapp_address,
    with_numbered_options,
)
from bot.facts import import_facts, import_faqs
from bot.store import Store
from tests.conftest import ROOT
from tests.fake_twilio import (
    AUTH_TOKEN,
    BOT_NUMBER,
    PUBLIC_BASE_URL,
    FakeTwilio,
    Sent,
    WhatsAppCustomer,
    channel_env,
    sign,
)
from tests.servers import Bot, running_bot

WEBHOOK = "/webhooks/whatsapp/webhook"
STATUS = "/webhooks/whatsapp/status"
OPTIONS = [{"title": "Evet", "payload": "/affirm"}, {"title": "Hayır", "payload": "/deny"}]
# A message the previous run acknowledged but never handled, and one it handled.
UNHANDLED = ("SMunhandled00000000000000000000001", "+905320000001", "merhaba")
HANDLED = ("SMhandled0000000000000000000000001", "+905320000002")


# -- pure functions -----------------------------------------------------------------


def test_short_text_is_one_piece():
    assert split_text("  Merhaba!  ", MAX_CHARS) == ["Merhaba!"]


def test_long_text_is_cut_at_sentence_ends_below_the_limit():
    sentence = "Kuzey Süt iflas etmiyor ve üretimine normal şekilde devam ediyor. "
    text = sentence * 60
    pieces = split_text(text, MAX_CHARS)
    assert len(pieces) == 3
    assert all(utf16_len(p) <= MAX_CHARS and p.endswith("ediyor.") for p in pieces)
    assert " ".join(pieces) == text.strip()


def test_a_turkish_ordinal_is_not_a_sentence_end():
    text = " ".join(f"Bu açıklamanın {i}. cümlesi bir şey anlatıyor." for i in range(1, 60))
    pieces = split_text(text, MAX_CHARS)
    assert len(pieces) == 2 and pieces[0].endswith("anlatıyor.")
    assert pieces[1].startswith("Bu açıklamanın")


def test_cuts_prefer_paragraphs_and_count_emoji_as_twilio_does():
    text = "😀" * 700 + "\n\n" + "b" * 100 + ". " + "c" * 900
    pieces = split_text(text, MAX_CHARS)
    assert pieces[0] == "😀" * 700  # 1400 UTF-16 units; the paragraph break wins
    assert all(utf16_len(p) <= MAX_CHARS for p in pieces)


def test_a_word_longer_than_the_limit_is_cut_hard():
    pieces = split_text("x" * 4000, MAX_CHARS)
    assert [len(p) for p in pieces] == [1600, 1600, 800]


def test_buttons_become_numbered_options():
    assert with_numbered_options("Yardımcı oldu mu?", OPTIONS) == (
        "Yardımcı oldu mu?\n\n1. Evet\n2. Hayır"
    )
    assert with_numbered_options("", OPTIONS) == "1. Evet\n2. Hayır"


@pytest.mark.parametrize(
    "reply, payload",
    [("1", "/affirm"), (" 2 ", "/deny"), ("2.", "/deny"), ("1)", "/affirm"), ("2️⃣", "/deny")],
)
def test_a_number_picks_its_option(reply, payload):
    assert chosen_payload(reply, OPTIONS) == payload


@pytest.mark.parametrize("reply", ["3", "0", "1 tane", "evet", ""])
def test_anything_else_is_not_a_choice(reply):
    assert chosen_payload(reply, OPTIONS) is None
    assert chosen_payload("1", []) is None


@pytest.mark.parametrize(
    "text, word",
    [
        ("STOP", "stop"),
        ("İPTAL", "iptal"),
        ("iptal.", "iptal"),
        ("Abonelikten ÇIK!", "abonelikten cik"),
        ("BAŞLA", "basla"),
    ],
)
def test_keywords_are_folded(text, word):
    assert keyword(text) == word


def test_whatsapp_address():
    assert whatsapp_address("+14155238886") == "whatsapp:+14155238886"
    assert whatsapp_address("whatsapp:+14155238886") == "whatsapp:+14155238886"


def test_signature_covers_url_and_every_field_including_empty_ones():
    validator = RequestValidator(AUTH_TOKEN)
    url = f"{PUBLIC_BASE_URL}{WEBHOOK}"
    form = {"MessageSid": "SM1", "Body": "", "NumMedia": "1", "From": "whatsapp:+90532"}
    body = b"MessageSid=SM1&Body=&NumMedia=1&From=whatsapp%3A%2B90532"
    good = sign(url, form)
    assert signed_form(validator, url, body, good).get("From") == "whatsapp:+90532"
    assert signed_form(validator, url, body.replace(b"NumMedia=1", b"NumMedia=2"), good) is None
    assert signed_form(validator, "http://127.0.0.1:5005" + WEBHOOK, body, good) is None
    assert signed_form(RequestValidator("other-token"), url, body, good) is None
    assert signed_form(validator, url, body, "") is None


# -- the running bot ----------------------------------------------------------------


@dataclass
class Running:
    """The bot with the WhatsApp channel on, its fake Twilio, and the store it uses."""

    bot: Bot
    fake: FakeTwilio
    db_path: Path

    def customer(self, phone: str) -> WhatsAppCustomer:
        return WhatsAppCustomer(self.bot.rasa_url, phone)

    def user_events(self, sender: str) -> List[dict]:
        return [e for e in self.bot.tracker(sender)["events"] if e["event"] == "user"]


def whatsapp_credentials(workdir: Path) -> Path:
    path = workdir / "credentials.yml"
    path.write_text(
        "bot.channels.rest.RestInput:\nbot.channels.whatsapp.WhatsAppInput:\n", encoding="utf-8"
    )
    return path


@pytest.fixture(scope="module")
def running(tmp_path_factory) -> Iterator[Running]:
    workdir = tmp_path_factory.mktemp("whatsapp")
    store = Store.open(workdir / "crisisdesk.db")
    import_facts(store, ROOT / "data/facts/demo.csv")
    import_faqs(store, ROOT / "data/facts/faq.csv")
    sid, phone, body = UNHANDLED
    store.record_inbound("whatsapp", sid, f"whatsapp:{phone}", body)
    sid, phone = HANDLED
    store.record_inbound("whatsapp", sid, f"whatsapp:{phone}", "merhaba")
    store.finish_inbound("whatsapp", sid)
    store.close()
    with FakeTwilio() as fake:
        with running_bot(
            workdir,
            ROOT / "models/crisisdesk.tar.gz",
            extra_env=channel_env(fake),
            credentials=whatsapp_credentials(workdir),
        ) as bot:
            yield Running(bot, fake, workdir / "crisisdesk.db")


@pytest.fixture
def store(running) -> Iterator[Store]:
    opened = Store.open(running.db_path)
    yield opened
    opened.close()


def wait_until(condition: Callable[[], object], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def settle(running: Running, store: Store, customer: WhatsAppCustomer) -> List[Sent]:
    """Everything sent to `customer` so far, once nothing more can be on its way.

    A marker message goes last: messages of one customer are handled in order and
    their replies sent in order, so once the marker is handled and nothing is
    pending for the customer, any reply to an earlier message is at the fake.
    Returns what was sent, without the replies to the marker.
    """
    marker = customer.send("merhaba")
    wait_until(
        lambda: (
            any(r["message_id"] == marker for r in store.list_inbound("whatsapp", "processed"))
            and not [
                r for r in store.list_outgoing("pending") if r["recipient"] == customer.address
            ]
        ),
        what="the marker handled and nothing pending",
    )
    marker_ids = {r["provider_id"] for r in store.list_outgoing() if r["answers"] == marker}
    return [m for m in running.fake.messages_to(customer.address) if m.sid not in marker_ids]


def read_by_the_nlu(event: dict) -> bool:
    """Parse data the NLU made (a ranking of several intents, unlike `/intent` syntax)."""
    parse = event["parse_data"]
    return len(parse.get("intent_ranking") or []) > 1 and "text" in parse


def texts(messages: List[Sent]) -> List[str]:
    return [m.body for m in messages]


slow = pytest.mark.slow


@slow
def test_a_message_is_acknowledged_at_once_and_answered_through_twilio(running):
    ayse = running.customer("+905321234567")
    answer = ayse.post(WEBHOOK, ayse.form("slm merhaba", ayse.new_sid()))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert answer.text.endswith("<Response/>")
    [reply] = running.fake.wait_for_messages(ayse.address, 1)
    assert reply.body.startswith("Merhaba!")
    assert reply.from_ == f"whatsapp:{BOT_NUMBER}"
    assert reply.status_callback == f"{PUBLIC_BASE_URL}{STATUS}"
    [event] = running.user_events("whatsapp:+905321234567")
    assert event["input_channel"] == "whatsapp"
    assert event["metadata"]["whatsapp"]["message_sid"] == event["message_id"]


@slow
@pytest.mark.parametrize(
    "attack", ["forged", "unsigned", "body-changed", "wrong-url", "other-token"]
)
def test_requests_twilio_did_not_sign_are_refused_and_leave_no_trace(running, store, attack):
    attacks = ["forged", "unsigned", "body-changed", "wrong-url", "other-token"]
    phone = f"+90532999000{attacks.index(attack)}"  # a conversation of its own per attack
    mallory = running.customer(phone)
    sid = mallory.new_sid()
    form = mallory.form("kuzey sut iflas ediyor mu", sid)
    if attack == "forged":
        answer = mallory.post(WEBHOOK, form, signature="bm90IGEgc2lnbmF0dXJl")
    elif attack == "unsigned":
        answer = mallory.post(WEBHOOK, form, signature=None)
    elif attack == "body-changed":
        changed = {**form, "Body": "siparisimi iptal edin"}
        answer = mallory.post(WEBHOOK, changed, signed_form=form)
    elif attack == "wrong-url":
        signature = sign(f"{running.bot.rasa_url}{WEBHOOK}", form)
        answer = mallory.post(WEBHOOK, form, signature=signature)
    else:
        answer = mallory.post(
            WEBHOOK, form, signature=sign(f"{PUBLIC_BASE_URL}{WEBHOOK}", form, "x")
        )
    assert answer.status_code == 403
    assert settle(running, store, mallory) == []
    assert [r for r in store.list_inbound("whatsapp") if r["message_id"] == sid] == []
    assert {e["text"] for e in running.user_events(f"whatsapp:{phone}")} == {"merhaba"}


@slow
def test_a_retried_message_sid_is_handled_once(running, store):
    emre = running.customer("+905321112233")
    sid = emre.new_sid()
    form = emre.form("merhaba", sid)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: emre.post(WEBHOOK, form), range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    running.fake.wait_for_messages(emre.address, 1)
    assert emre.post(WEBHOOK, form).status_code == 200
    assert len(settle(running, store, emre)) == 1
    assert [e["message_id"] for e in running.user_events(emre.address)][0] == sid
    assert len(running.user_events(emre.address)) == 2  # the retried one, then the marker


@slow
def test_message_ids_survive_a_restart_and_unhandled_messages_are_resumed(running, store):
    sid, phone, _ = UNHANDLED
    [reply] = running.fake.wait_for_messages(f"whatsapp:{phone}", 1)
    assert reply.body.startswith("Merhaba")
    wait_until(lambda: store.list_inbound("whatsapp", "received") == [], what="handled")
    sid, phone = HANDLED
    old = running.customer(phone)
    assert old.post(WEBHOOK, old.form("merhaba", sid)).status_code == 200
    assert settle(running, store, old) == []


@slow
def test_messages_from_one_customer_are_handled_in_the_order_they_came(running):
    deniz = running.customer("+905324445566")
    said = ["merhaba", "hello there", "tesekkurler", "thank you", "gorusuruz"]
    for text in said:
        deniz.send(text)
    running.fake.wait_for_messages(deniz.address, len(said))
    assert [e["text"] for e in running.user_events(deniz.address)] == said
    replies = texts(running.fake.messages_to(deniz.address))
    assert replies[0].startswith("Merhaba") and replies[1].startswith("Hello")


@slow
def test_media_without_text_gets_a_polite_answer_in_the_customer_language(running):
    can = running.customer("+905327778899")
    can.send("", NumMedia="1", MediaContentType0="image/jpeg", MediaUrl0="https://x/1")
    [first] = running.fake.wait_for_messages(can.address, 1)
    assert "/" in first.body and "only read text" in first.body  # language unknown yet
    can.send("siparisim nerede kaldi")
    running.fake.wait_for_messages(can.address, 2)
    can.send("", NumMedia="1", MediaContentType0="audio/ogg", MediaUrl0="https://x/2")
    can.send("", Latitude="41.0082", Longitude="28.9784", Address="İstanbul")
    *_, voice, location = running.fake.wait_for_messages(can.address, 4)
    assert voice.body.startswith("Şimdilik yalnızca yazılı mesajları okuyabiliyorum;")
    assert location.body == voice.body
    assert [e["text"] for e in running.user_events(can.address)] == ["siparisim nerede kaldi"]


@slow
def test_a_caption_is_read_as_text(running):
    lale = running.customer("+905321239876")
    lale.send(
        "kuzey sut iflas mi ediyor dogru mu",
        NumMedia="1",
        MediaContentType0="image/jpeg",
        MediaUrl0="https://x/3",
    )
    [reply] = running.fake.wait_for_messages(lale.address, 1)
    assert reply.body.startswith("❌ Yanlış: “Kuzey Süt iflas ediyor")
    [event] = running.user_events(lale.address)
    assert event["metadata"]["whatsapp"]["media"] == ["image/jpeg"]


@slow
def test_buttons_are_numbered_and_a_number_answers_them(running, store):
    ali = running.customer("+905325550011")
    ali.send("kuzey sut iflas mi ediyor dogru mu")
    [fact] = running.fake.wait_for_messages(ali.address, 1)
    assert fact.body.endswith("Bu yanıt işinize yaradı mı?\n\n1. Evet\n2. Hayır")
    ali.send("1")
    *_, thanks = running.fake.wait_for_messages(ali.address, 2)
    assert thanks.body == "Geri bildiriminiz için teşekkürler!"
    assert running.user_events(ali.address)[-1]["parse_data"]["intent"]["name"] == "affirm"
    feedback = list(store.db["feedback"].rows_where("sender_id = ?", [ali.address]))
    assert [row["helpful"] for row in feedback] == [1]


@slow
def test_a_long_reply_is_split_at_sentence_ends(running, store):
    long_answer = " ".join(
        f"Bu açıklamanın {i}. cümlesi, videodaki görüntünün kurt değil küf olduğunu anlatıyor."
        for i in range(1, 31)
    )
    cheese = next(f for f in store.list_facts() if f["id"] == "cheese-worms-video")
    store.upsert_fact({**cheese, "answer_tr": long_answer}, "published", "test")
    zeynep = running.customer("+905326660022")
    zeynep.send("peynirde kurt videosu gercek mi")
    running.fake.wait_for_messages(zeynep.address, 2)
    pieces = settle(running, store, zeynep)
    assert len(pieces) == 2
    assert all(utf16_len(p.body) <= MAX_CHARS for p in pieces)
    assert pieces[0].body.endswith("anlatıyor.")
    assert pieces[1].body.endswith("1. Evet\n2. Hayır")
    assert long_answer in " ".join(p.body for p in pieces)


@slow
def test_opt_out_stops_proactive_messages_until_start(running, store):
    mert = running.customer("+905321357911")
    mert.send("STOP")
    mert.send("stop")  # already out: not confirmed twice
    mert.send("hello there")
    confirmation, hello = running.fake.wait_for_messages(mert.address, 2)
    assert confirmation.body.startswith("Done: we won't send you any more updates")
    assert hello.body.startswith("Hello")  # questions are still answered
    assert store.is_opted_out("whatsapp", mert.address)

    update = store.enqueue_outgoing("whatsapp", mert.address, {"text": "Yeni açıklama"})
    wait_until(lambda: store.get_outgoing(update)["status"] != "pending", what="outbox")
    assert store.get_outgoing(update)["last_error"] == "opted out"

    mert.send("BAŞLA")
    *_, back = running.fake.wait_for_messages(mert.address, 3)
    assert back.body.startswith("Bilgilendirme mesajları yeniden açıldı.")
    assert not store.is_opted_out("whatsapp", mert.address)
    update = store.enqueue_outgoing("whatsapp", mert.address, {"text": "Yeni açıklama"})
    *_, news = running.fake.wait_for_messages(mert.address, 4)
    assert news.body == "Yeni açıklama"
    assert [e["text"] for e in running.user_events(mert.address)] == ["hello there"]


@slow
@pytest.mark.parametrize(
    "word, phone",
    [("İPTAL", "+905320101001"), ("dur", "+905320101002"), ("abonelikten çık", "+905320101003")],
)
def test_turkish_opt_out_words_are_confirmed_in_turkish(running, store, word, phone):
    customer = running.customer(phone)
    customer.send(word)
    [confirmation] = running.fake.wait_for_messages(customer.address, 1)
    assert confirmation.body.startswith("Tamam, bu numaraya artık bilgilendirme mesajı")
    assert store.is_opted_out("whatsapp", customer.address)


@slow
def test_twilio_500_then_200_delivers_the_reply_exactly_once(running, store):
    selin = running.customer("+905322468000")
    running.fake.fail_next(2, 500)
    sid = selin.send("merhaba")
    [reply] = running.fake.wait_for_messages(selin.address, 1)
    assert reply.body.startswith("Merhaba")
    assert len(settle(running, store, selin)) == 1
    [row] = [r for r in store.list_outgoing() if r["answers"] == sid]
    assert (row["status"], row["attempts"], row["provider_id"]) == ("sent", 3, reply.sid)


@slow
def test_twilio_down_the_outbox_keeps_the_reply_and_sends_it_when_back(running, store):
    kaan = running.customer("+905321010101")
    running.fake.down()
    try:
        sid = kaan.send("merhaba")
        wait_until(
            lambda: any(r["answers"] == sid and r["attempts"] >= 3 for r in store.list_outgoing()),
            what="three failed attempts",
        )
        [row] = [r for r in store.list_outgoing() if r["answers"] == sid]
        assert row["status"] == "pending" and "unreachable" in row["last_error"]
    finally:
        running.fake.up()
    [reply] = running.fake.wait_for_messages(kaan.address, 1)
    assert reply.body.startswith("Merhaba")
    assert len(settle(running, store, kaan)) == 1
    assert store.get_outgoing(row["id"])["status"] == "sent"


@slow
def test_delivery_reports_are_signed_and_recorded(running, store):
    oya = running.customer("+905328080808")
    sid = oya.send("merhaba")
    [reply] = running.fake.wait_for_messages(oya.address, 1)
    # Posted as soon as the fake has the message: often before the outbox has
    # stored Twilio's id for it, which the status webhook must wait for.
    report = {"MessageSid": reply.sid, "MessageStatus": "delivered", "To": oya.address}
    assert oya.post(STATUS, report, signature=None).status_code == 403
    assert (
        oya.post(STATUS, {**report, "MessageStatus": "failed"}, signed_form=report).status_code
        == 403
    )
    assert oya.post(STATUS, report).status_code in (200, 204)
    [row] = [r for r in store.list_outgoing() if r["answers"] == sid]
    assert row["delivery_status"] == "delivered"
    assert oya.post(STATUS, {**report, "MessageStatus": "sent"}).status_code in (200, 204)
    assert store.get_outgoing(row["id"])["delivery_status"] == "delivered"


@slow
def test_a_handoff_keeps_the_bot_quiet_and_closing_it_asks_on_whatsapp(running, store):
    hakan = running.customer("+905321212121")
    hakan.send("canli destek istiyorum, bir insanla konusayim")
    [handing_over] = running.fake.wait_for_messages(hakan.address, 1)
    assert "temsilci" in handing_over.body
    hakan.send("merhaba? kimse yok mu")
    hakan.send("/restart")
    hakan.send('/complaint{"order_number":"X"}')
    # Nothing typed makes the bot speak (no "technical problem" either), nor resume.
    assert len(settle(running, store, hakan)) == 1
    tracker = running.bot.tracker(hakan.address)
    assert tracker["paused"] is True and tracker["slots"]["order_number"] != "X"
    typed = [e["text"] for e in tracker["events"] if e["event"] == "user"][1:]
    assert typed == ["merhaba? kimse yok mu", "restart", 'complaint{"order_number":"X"}', "merhaba"]
    [handoff] = [h for h in store.list_handoffs() if h["sender_id"] == hakan.address]
    assert handoff["channel"] == "whatsapp"
    closed = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--db", str(running.db_path), "handoffs", "close"]
        + [str(handoff["id"]), "--rasa-url", running.bot.rasa_url],
        capture_output=True,
        text=True,
        env=running.bot.env,
        cwd=ROOT,
    )
    assert closed.returncode == 0, closed.stderr
    *_, question = running.fake.wait_for_messages(hakan.address, 2)
    assert question.body.startswith("Temsilcimiz görüşmeyi tamamladı")
    assert question.body.endswith("1. 1 ⭐\n2. 2 ⭐⭐\n3. 3 ⭐⭐⭐\n4. 4 ⭐⭐⭐⭐\n5. 5 ⭐⭐⭐⭐⭐")
    hakan.send("4")
    running.fake.wait_for_messages(hakan.address, 3)
    assert running.user_events(hakan.address)[-1]["parse_data"]["intent"]["name"] == "rate_handoff"
    assert store.get_handoff(handoff["id"])["rating"] == 4


@slow
def test_typed_commands_are_read_by_the_nlu_on_whatsapp(running):
    nur, oya, pelin = (running.customer(f"+90532131313{i}") for i in (1, 2, 3))
    nur.send("/request_human")
    oya.send('/complaint{"order_number":"X"}')
    pelin.send("/kuzey sut iflas mi ediyor dogru mu")
    for customer in (nur, oya):
        running.fake.wait_for_messages(customer.address, 1)
    [fact] = running.fake.wait_for_messages(pelin.address, 1)
    assert fact.body.startswith("❌")
    [typed] = running.user_events(nur.address)
    assert typed["text"] == "request_human" and read_by_the_nlu(typed)
    assert typed["metadata"]["crisisdesk"] == {
        "kind": "text",
        "payload": False,
        "typed_command": "request_human",
    }
    [json_typed] = running.user_events(oya.address)
    assert read_by_the_nlu(json_typed)
    assert running.bot.tracker(oya.address)["slots"]["order_number"] != "X"
    [rumour] = running.user_events(pelin.address)
    assert rumour["text"] == "kuzey sut iflas mi ediyor dogru mu"


# -- failures and the channel being off ------------------------------------------------


@slow
def test_when_the_dialogue_fails_the_customer_is_told_and_the_message_kept(tmp_path):
    """No action server: Rasa cannot run any custom action and gives no answer."""
    with (
        FakeTwilio() as fake,
        running_bot(
            tmp_path,
            ROOT / "models/crisisdesk.tar.gz",
            with_actions=False,
            extra_env=channel_env(fake),
            credentials=whatsapp_credentials(tmp_path),
        ) as bot,
    ):
        customer = WhatsAppCustomer(bot.rasa_url, "+905321111111")
        sid = customer.send("kuzey sut iflas mi ediyor dogru mu")
        [reply] = fake.wait_for_messages(customer.address, 1)
        assert "technical problem" in reply.body or "teknik bir sorun" in reply.body
        store = Store.open(bot.db_path)
        wait_until(lambda: store.list_inbound("whatsapp", "failed"), what="failed inbound")
        [kept] = store.list_inbound("whatsapp", "failed")
        assert (kept["message_id"], kept["body"]) == (sid, "kuzey sut iflas mi ediyor dogru mu")
        store.close()
