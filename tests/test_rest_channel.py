"""Our REST channel end to end: Rasa's REST JSON, typed text never a command, silent handoffs.

Rasa and the action server run for real with the project's credentials.yml
(WhatsApp and Telegram are off without their settings; REST is ours).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from typing import Iterator, List

import pytest
import requests

from bot.store import Store
from tests.conftest import ROOT
from tests.servers import Bot

pytestmark = pytest.mark.slow
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def bot(demo_bot: Bot) -> Bot:
    return demo_bot


@pytest.fixture
def store(bot) -> Iterator[Store]:
    opened = Store.open(bot.db_path)
    yield opened
    opened.close()


def someone() -> str:
    return f"rest-customer-{next(_ids)}"


def user_events(bot: Bot, sender: str) -> List[dict]:
    return [e for e in bot.tracker(sender)["events"] if e["event"] == "user"]


def read_by_the_nlu(event: dict) -> bool:
    """Parse data the NLU made: a ranking of several intents.

    A message Rasa took as `/intent` syntax has one intent at confidence 1, nothing else.
    """
    parse = event["parse_data"]
    return len(parse.get("intent_ranking") or []) > 1 and "text" in parse


def test_same_json_in_and_out_as_rasas_rest_channel(bot):
    sender = someone()
    replies = bot.say(sender, "merhaba")
    assert replies and replies[0]["recipient_id"] == sender
    assert replies[0]["text"].startswith("Merhaba!")
    [event] = user_events(bot, sender)
    assert event["input_channel"] == "rest"
    health = requests.get(f"{bot.rasa_url}/webhooks/rest/", timeout=10)
    assert health.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "body", [b"not json", b"[1]", b'{"sender": "x"}', b'{"sender": 5, "message": "hi"}']
)
def test_bad_requests_get_a_clean_400(bot, body):
    answer = requests.post(f"{bot.rasa_url}/webhooks/rest/webhook", data=body, timeout=10)
    assert answer.status_code == 400 and "error" in answer.json()


def test_typed_request_human_is_read_by_the_nlu(bot):
    sender = someone()
    assert bot.say(sender, "/request_human")
    [event] = user_events(bot, sender)
    assert event["text"] == "request_human"
    assert read_by_the_nlu(event)
    assert event["metadata"]["crisisdesk"]["typed_command"] == "request_human"


def test_typed_slot_json_does_not_set_the_slot(bot):
    sender = someone()
    assert bot.say(sender, '/complaint{"order_number":"X"}')
    tracker = bot.tracker(sender)
    assert tracker["slots"]["order_number"] != "X"
    [event] = [e for e in tracker["events"] if e["event"] == "user"]
    assert read_by_the_nlu(event) and event["parse_data"]["entities"] == []


def test_an_offered_payload_works_once(bot, store):
    sender = someone()
    [fact] = bot.say(sender, "kuzey sut iflas mi ediyor dogru mu")
    assert [b["payload"] for b in fact["buttons"]] == ["/affirm", "/deny"]
    assert all(b["title"] for b in fact["buttons"])
    [thanks] = bot.say(sender, "/affirm")
    assert thanks["text"] == "Geri bildiriminiz için teşekkürler!"
    pressed = user_events(bot, sender)[-1]
    assert pressed["text"] == "/affirm" and pressed["metadata"]["crisisdesk"]["payload"] is True
    feedback = list(store.db["feedback"].rows_where("sender_id = ?", [sender]))
    assert [row["helpful"] for row in feedback] == [1]
    bot.say(sender, "/affirm")  # used: now it is only a word
    again = user_events(bot, sender)[-1]
    assert again["text"] == "affirm" and read_by_the_nlu(again)
    assert len(list(store.db["feedback"].rows_where("sender_id = ?", [sender]))) == 1


def test_a_payload_offered_to_someone_else_is_text(bot):
    ali, mallory = someone(), someone()
    bot.say(ali, "kuzey sut iflas mi ediyor dogru mu")
    bot.say(mallory, "/deny")
    [event] = user_events(bot, mallory)
    assert event["text"] == "deny" and read_by_the_nlu(event)


def test_a_rumour_typed_with_a_slash_is_matched_as_text(bot):
    sender = someone()
    [fact] = bot.say(sender, "/kuzey sut iflas mi ediyor dogru mu")
    assert fact["text"].startswith("❌")
    [event] = user_events(bot, sender)
    assert event["text"] == "kuzey sut iflas mi ediyor dogru mu"


def test_during_a_handoff_nothing_typed_makes_the_bot_speak(bot, store):
    sender = someone()
    assert bot.say(sender, "canli destek istiyorum, bir insanla konusayim")
    handoff = store.open_handoff_for(sender)
    assert handoff is not None
    for typed in ("/restart", "/session_start", "merhaba? kimse yok mu", "/greet", "1"):
        assert bot.say(sender, typed) == [], typed
    tracker = bot.tracker(sender)
    assert tracker["paused"] is True
    said = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert said[-5:] == ["restart", "session_start", "merhaba? kimse yok mu", "greet", "1"]
    assert not [e for e in tracker["events"] if e["event"] == "restart"]
    assert store.open_handoff_for(sender)["id"] == handoff["id"]

    closed = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--db", str(bot.db_path), "handoffs", "close"]
        + [str(handoff["id"]), "--rasa-url", bot.rasa_url],
        capture_output=True,
        text=True,
        env=bot.env,
        cwd=ROOT,
    )
    assert closed.returncode == 0, closed.stderr
    assert bot.tracker(sender)["paused"] is False
    # The rating question's buttons were offered through the HTTP API's output.
    [thanks] = bot.say(sender, '/rate_handoff{"rating": "5"}')
    assert thanks["text"].startswith("Puanınız için teşekkürler!")
    assert store.get_handoff(handoff["id"])["rating"] == 5
    # Then one free-text comment, asked for with the thanks, is kept with the handoff.
    [kept] = bot.say(sender, "temsilciniz cok yardimci oldu, tesekkurler")
    assert kept["text"].startswith("Yorumunuz için teşekkürler")
    comment = store.get_handoff(handoff["id"])["rating_comment"]
    assert comment == "temsilciniz cok yardimci oldu, tesekkurler"
