"""The whole assistant over HTTP: real Rasa server, real action server, real SQLite."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
import requests

from bot.store import Store
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bot(demo_bot):
    return demo_bot


@pytest.fixture
def store(bot):
    opened = Store.open(bot.db_path)
    yield opened
    opened.close()


def texts(replies):
    return [r.get("text", "") for r in replies]


def test_greeting_in_each_language(bot):
    assert "Merhaba" in texts(bot.say("greet-tr", "slm merhaba"))[0]
    assert "Hello" in texts(bot.say("greet-en", "hello there"))[0]


def test_rumour_gets_verified_fact_with_source_and_buttons(bot):
    [reply] = bot.say("rumour-tr", "kuzey sut iflas ediyormus dogru mu")
    assert reply["text"].startswith(
        "❌ Yanlış: “Kuzey Süt iflas ediyor ve şirket satılıyor” iddiası doğru değil."
    )
    assert "https://kuzeysut.example/" in reply["text"]
    assert [b["payload"] for b in reply["buttons"]] == ["/affirm", "/deny"]
    assert texts(bot.say("rumour-tr", "evet"))[0] == "Geri bildiriminiz için teşekkürler!"


def test_unknown_rumour_is_recorded_as_open(bot, store):
    reply = texts(bot.say("rumour-unknown", "ceo'nuz tutuklandi diyorlar dogru mu"))
    assert "kontrol ediyor" in reply[0]
    assert any("tutuklandi" in r["text"] for r in store.list_rumours("open"))


def test_complaint_ticket_number_is_quoted(bot, store):
    reply = texts(bot.say("complaint-en", "my order 4821937 never arrived, it has been 3 weeks"))[0]
    [ticket] = store.list_tickets("complaint-en")
    assert ticket["number"] in reply
    assert ticket["language"] == "en"
    assert {"entity": "order_number", "value": "4821937"} in json.loads(ticket["entities"])


def test_handoff_pauses_bot_until_closed_from_the_cli(bot, store):
    sender = "handoff-1"
    assert "temsilci" in texts(bot.say(sender, "canli destek istiyorum, bir insanla konusayim"))[0]
    assert bot.say(sender, "merhaba? kimse yok mu") == []
    assert bot.tracker(sender)["paused"] is True
    [handoff] = [h for h in store.list_handoffs() if h["sender_id"] == sender]
    assert handoff["language"] == "tr"
    assert "canli destek" in handoff["last_messages"]

    closed = subprocess.run(
        [
            str(ROOT / ".venv/bin/crisisdesk"),
            "--db",
            str(bot.db_path),
            "handoffs",
            "close",
            str(handoff["id"]),
            "--rasa-url",
            bot.rasa_url,
        ],
        capture_output=True,
        text=True,
        env=bot.env,
    )
    assert closed.returncode == 0, closed.stderr
    assert "closed" in closed.stdout
    assert bot.tracker(sender)["paused"] is False
    assert store.get_handoff(handoff["id"])["status"] == "closed"
    assert "Temsilcimiz" in closed.stdout  # the bot is back and asks for a 1-5 rating


def test_severe_complaint_is_escalated_at_once(bot, store):
    sender = "severe-1"
    reply = texts(bot.say(sender, "your yogurt made my son sick, we spent the night in hospital"))
    assert "priority" in reply[0]
    assert bot.say(sender, "hello?") == []
    [handoff] = [h for h in store.list_handoffs() if h["sender_id"] == sender]
    assert handoff["priority"] == "high"


@pytest.mark.parametrize(
    "message",
    [
        "",
        "    ",
        "😡😡😡",
        "kargom " * 800,
        "<script>alert('x')</script><b>hi</b>",
        "'; DROP TABLE tickets; --",
        "merhaba I need help siparisim nerede where is it",
        "/etc/passwd",
        "\u0000\u0007 null bytes",
    ],
    ids=["empty", "spaces", "emoji", "5000-chars", "html", "sql", "mixed", "slash", "control"],
)
def test_bad_input_always_gets_a_polite_reply(bot, store, message):
    sender = "bad-" + hashlib.sha1(message.encode()).hexdigest()[:12]
    before = {t["id"]: t["text"] for t in store.list_tickets()}
    replies = bot.say(sender, message)
    assert replies and all(r.get("text") for r in replies)
    after = {t["id"]: t for t in store.list_tickets()}
    # No earlier ticket is lost or altered (the SQL line, say, ran as no SQL)...
    assert {i: after[i]["text"] for i in before if i in after} == before
    # ...and at most one new ticket appears, this sender's own.
    new = [t for i, t in after.items() if i not in before]
    assert len(new) <= 1
    assert [t["sender_id"] for t in new] in ([], [sender])


def test_channels_without_their_settings_are_off_and_name_what_is_missing(bot, demo_workdir):
    """A provider channel without its settings answers 404 naming them; REST goes on."""
    whatsapp = f"{bot.rasa_url}/webhooks/whatsapp"
    answer = requests.post(
        f"{whatsapp}/webhook",
        data={"From": "whatsapp:+905321111112", "Body": "merhaba", "MessageSid": "SM" + "0" * 32},
        timeout=10,
    )
    assert answer.status_code == 404
    assert "TWILIO_ACCOUNT_SID" in answer.json()["error"]
    assert requests.get(f"{whatsapp}/", timeout=10).status_code == 404

    telegram = f"{bot.rasa_url}/webhooks/telegram"
    chat = {"id": 7, "type": "private"}
    update = {"update_id": 1, "message": {"message_id": 1, "chat": chat, "date": 0, "text": "hi"}}
    for answer in (
        requests.post(f"{telegram}/webhook", json=update, timeout=10),
        requests.get(f"{telegram}/", timeout=10),
    ):
        assert answer.status_code == 404
        assert "TELEGRAM_BOT_TOKEN" in answer.json()["error"]
    assert "telegram channel off" in (demo_workdir / "rasa.log").read_text()
    assert bot.say("rest-still-works", "merhaba")
