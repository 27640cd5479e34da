"""The web chat end to end: the desk's /chat page, a real Rasa server and action server.

A customer's message goes page -> desk (/chat/send) -> Rasa's webchat channel
(signed) -> the pipeline -> the dialogue -> the outbox -> the desk's SSE stream.
The Rasa server loads the REST and web chat channels only (its own credentials
file). Fast tests of the channel's signature check are at the end.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Iterator, List

import pytest
import requests
from markupsafe import escape

from bot.channels.webchat_auth import SIGNATURE_HEADER, WebchatKeys
from bot.facts import import_facts, import_faqs
from bot.store import Store
from tests.conftest import ROOT
from tests.servers import Bot, running_bot, wait_for
from tests.test_desk_chat import Visitor, desk_settings, messages, running_desk

CREDENTIALS = "bot.channels.rest.RestInput:\nbot.channels.webchat.WebchatInput:\n"


@pytest.fixture(scope="module")
def bot(tmp_path_factory) -> Iterator[Bot]:
    workdir = tmp_path_factory.mktemp("webchat")
    store = Store.open(workdir / "crisisdesk.db")
    import_facts(store, ROOT / "data/facts/demo.csv")
    import_faqs(store, ROOT / "data/facts/faq.csv")
    store.close()
    credentials = workdir / "credentials.yml"
    credentials.write_text(CREDENTIALS, encoding="utf-8")
    with running_bot(
        workdir, ROOT / "models/crisisdesk.tar.gz", credentials=credentials
    ) as running:
        yield running


@pytest.fixture(scope="module")
def desk(bot) -> Iterator[str]:
    with running_desk(desk_settings(bot.db_path, bot.rasa_url, token=bot.token)) as base:
        yield base


@pytest.fixture
def customer(desk) -> Iterator[Visitor]:
    visitor = Visitor(desk)
    visitor.open_page()
    yield visitor
    visitor.close()


@pytest.fixture
def store(bot) -> Iterator[Store]:
    opened = Store.open(bot.db_path)
    yield opened
    opened.close()


def bot_messages(events: List[dict]) -> List[dict]:
    return [e["data"] for e in events if e["event"] == "message"]


def user_events(bot: Bot, sender: str) -> List[dict]:
    return [e for e in bot.tracker(sender)["events"] if e["event"] == "user"]


def handled(store: Store, sender: str, count: int) -> bool:
    """Whether the channel finished handling `count` messages of `sender`."""
    rows = store.inbound_from("webchat", sender)
    return len(rows) >= count and all(r["status"] != "received" for r in rows)


slow = pytest.mark.slow  # the tests that start servers


@slow
def test_a_message_reaches_rasa_and_the_reply_reaches_the_page(bot, customer, store):
    with customer.events() as events:
        answer = customer.send("merhaba")
        assert answer.status_code == 202 and answer.json() == {"ok": True, "repeat": False}
        seen = events.until(lambda s: len(messages(s)) >= 1)
    assert messages(seen)[0].startswith("Merhaba!")
    assert [e["data"]["who"] for e in seen if e["event"] == "message"][0] == "bot"
    # the page's own message comes back as "mine" (for the visitor's other pages)
    assert [e["data"]["text"] for e in seen if e["event"] == "mine"] == ["merhaba"]
    [event] = user_events(bot, customer.conversation)
    assert event["input_channel"] == "webchat" and event["text"] == "merhaba"
    [row] = store.inbound_from("webchat", customer.conversation)
    assert row["status"] == "processed" and row["body"] == "merhaba"
    assert event["message_id"] == row["message_id"]  # remembered with the desk's id
    rows = store.outgoing_to("webchat", customer.conversation)
    assert rows and all(r["status"] == "sent" for r in rows)


@slow
def test_the_same_message_sent_twice_is_handled_once(bot, customer, store):
    client_id = secrets.token_hex(16)
    assert customer.send("merhaba", client_id=client_id).json()["repeat"] is False
    assert customer.send("merhaba", client_id=client_id).json()["repeat"] is True
    wait_for(lambda: handled(store, customer.conversation, 1), what="the message handled")
    assert len(store.inbound_from("webchat", customer.conversation)) == 1
    assert len(user_events(bot, customer.conversation)) == 1


@slow
def test_a_button_press_works_once(bot, customer, store):
    sender = customer.conversation
    with customer.events() as events:
        customer.send("kuzey sut iflas mi ediyor dogru mu")
        seen = events.until(lambda s: any(m.get("buttons") for m in bot_messages(s)))
        [offer] = [m for m in bot_messages(seen) if m["buttons"]]
        assert [b["payload"] for b in offer["buttons"]] == ["/affirm", "/deny"]
        title = offer["buttons"][0]["title"]
        customer.send("/affirm", kind="button", title=title)
        seen = events.until(lambda s: "Geri bildiriminiz için teşekkürler!" in messages(s))
        pressed = user_events(bot, sender)[-1]
        assert pressed["text"] == "/affirm" and pressed["metadata"]["crisisdesk"]["payload"]
        assert len(list(store.db["feedback"].rows_where("sender_id = ?", [sender]))) == 1
        customer.send("/affirm", kind="button", title=title)  # used: only a word now
        wait_for(lambda: handled(store, sender, 3), what="the second press handled")
    again = user_events(bot, sender)[-1]
    assert again["text"] == "affirm" and len(again["parse_data"]["intent_ranking"]) > 1
    assert len(list(store.db["feedback"].rows_where("sender_id = ?", [sender]))) == 1
    # on reload the press shows as the button's title, not its payload
    page = customer.open_page()
    shown_press = f'<p class="text">{escape(title)}</p>'
    assert shown_press in page and "/affirm</p>" not in page
    assert page.index("Geri bildiriminiz") > page.index(shown_press)


@slow
def test_a_typed_command_is_text(bot, customer, store):
    customer.send('/request_human{"order_number": "X"}')
    wait_for(lambda: handled(store, customer.conversation, 1), what="the message handled")
    [event] = user_events(bot, customer.conversation)
    assert not event["text"].startswith("/")
    assert len(event["parse_data"]["intent_ranking"]) > 1  # read by the NLU
    assert event["metadata"]["crisisdesk"]["typed_command"] == "request_human"
    assert bot.tracker(customer.conversation)["slots"]["order_number"] != "X"


@slow
def test_a_button_nobody_offered_is_text(bot, customer, store):
    customer.send("/request_human", kind="button", title="Forged")
    wait_for(lambda: handled(store, customer.conversation, 1), what="the message handled")
    [event] = user_events(bot, customer.conversation)
    assert event["text"] == "request_human" and len(event["parse_data"]["intent_ranking"]) > 1


@slow
def test_forged_requests_to_rasa_are_403_and_nothing_is_stored(bot, store):
    visitor = secrets.token_hex(16)
    body = json.dumps(
        {"visitor": visitor, "message_id": secrets.token_hex(16), "text": "merhaba"}
    ).encode()
    url = f"{bot.rasa_url}/webhooks/webchat/webhook"
    wrong_key = WebchatKeys(b"not the desk's secret")
    right_key = WebchatKeys.from_settings(desk_settings(bot.db_path, bot.rasa_url, bot.token))
    attempts = [
        {},
        {SIGNATURE_HEADER: "t=1,v1=" + "0" * 64},
        {SIGNATURE_HEADER: wrong_key.sign(body)},
        {SIGNATURE_HEADER: right_key.sign(body, at=time.time() - 3600)},  # a replay, too old
        {SIGNATURE_HEADER: right_key.sign(body + b" ")},  # signs another body
    ]
    for headers in attempts:
        answer = requests.post(url, data=body, headers=headers, timeout=10)
        assert answer.status_code == 403, headers
    assert store.inbound_from("webchat", f"webchat:{visitor}") == []
    assert user_events(bot, f"webchat:{visitor}") == []
    # the same body, signed by the desk's key, is taken
    answer = requests.post(url, data=body, headers={SIGNATURE_HEADER: right_key.sign(body)})
    assert answer.status_code == 202
    wait_for(lambda: store.inbound_from("webchat", f"webchat:{visitor}"), what="the message")


@slow
def test_a_reply_sent_while_the_page_was_closed_arrives_on_reconnect(customer, store):
    customer.send("merhaba")  # no page listening
    rows = wait_for(
        lambda: store.outgoing_to("webchat", customer.conversation), what="the reply queued"
    )
    assert rows[0]["status"] == "pending"
    with customer.events() as events:
        seen = events.until(lambda s: len(messages(s)) >= 1)
    assert messages(seen)[0].startswith("Merhaba!")
    assert store.get_outgoing(rows[0]["id"])["status"] == "sent"


@slow
def test_script_in_a_message_is_shown_as_text(customer, store):
    attack = "<script>document.title='pwned'</script> merhaba"
    customer.send(attack)
    wait_for(lambda: handled(store, customer.conversation, 1), what="the message handled")
    page = customer.open_page()
    assert "<script>document.title" not in page
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt; merhaba" in page


@slow
def test_a_handoff_is_silent_and_nothing_the_customer_writes_is_lost(bot, customer, store):
    sender = customer.conversation
    with customer.events() as events:
        customer.send("canli destek istiyorum, bir insanla konusayim")
        seen = events.until(lambda s: any("temsilci" in t for t in messages(s)))
    wait_for(lambda: store.open_handoff_for(sender), what="the handoff")
    before = len(store.outgoing_to("webchat", sender))
    customer.send("merhaba? kimse yok mu")
    wait_for(lambda: handled(store, sender, 2), what="the message during the handoff")
    assert len(store.outgoing_to("webchat", sender)) == before  # the bot said nothing
    assert user_events(bot, sender)[-1]["text"] == "merhaba? kimse yok mu"
    assert len(seen) >= 1


# -- the channel's checks, without servers ---------------------------------------------------


@pytest.mark.parametrize(
    "data, problem",
    [
        ([], "send JSON"),
        ({"visitor": "x", "message_id": "0" * 32, "text": "hi"}, "visitor"),
        ({"visitor": "0" * 32, "message_id": "../x", "text": "hi"}, "message_id"),
        ({"visitor": "0" * 32, "message_id": "0" * 32, "text": " "}, "text"),
        ({"visitor": "0" * 32, "message_id": "0" * 32, "text": "x" * 4001}, "longer"),
        ({"visitor": "0" * 32, "message_id": "0" * 32, "text": "hi", "kind": "start"}, "kind"),
    ],
)
def test_malformed_forwarded_messages_are_named(data, problem):
    from bot.channels.webchat import _problem

    assert problem in _problem(data)


def test_well_formed_forwarded_message_passes():
    from bot.channels.webchat import _problem

    assert _problem({"visitor": "0" * 32, "message_id": "1" * 32, "text": "hi"}) is None


def test_outbox_rows_keep_what_the_page_shows():
    from bot.channels.webchat import outbox_message

    shown = outbox_message(
        {
            "text": "Doğru mu?",
            "buttons": [
                {"title": "Evet", "payload": "/affirm"},
                {"title": "Site", "url": "https://example.com"},
            ],
            "image": "javascript:alert(1)",
        }
    )
    assert shown == {"text": "Doğru mu?", "buttons": [{"title": "Evet", "payload": "/affirm"}]}
    assert outbox_message({"custom": {"x": 1}}) is None


def test_the_channel_is_on_by_default():
    text = (ROOT / "credentials.yml").read_text(encoding="utf-8")
    assert "\nbot.channels.webchat.WebchatInput:" in text
