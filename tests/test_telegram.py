"""The Telegram channel: helpers, the sender against a fake Bot API, and the whole bot.

Updates are real Bot API JSON; the Bot API is `tests/fake_telegram.py`, a real
HTTP server on loopback; Rasa, the action server and the store run for real.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests
from telegram import Bot, Update

from bot.channels.telegram import (
    MAX_TEXT,
    SECRET_HEADER,
    TelegramInput,
    TelegramSender,
    chat_id_of,
    conversation_id,
    inline_keyboard,
    outgoing_messages,
    read_update,
    secret_ok,
)
from bot.config import Settings
from bot.facts import import_facts, import_faqs
from bot.outbox import Outbox, PermanentFailure, TemporaryFailure
from bot.store import Store
from tests.conftest import ROOT
from tests.fake_telegram import BOT_USER, TOKEN, FakeTelegram
from tests.servers import BIN, running_bot

SECRET = "test-webhook-secret_1"
MODEL = ROOT / "models/crisisdesk.tar.gz"
_ids = itertools.count(int(time.time()) % 100000 * 1000)


# -- real Bot API JSON ---------------------------------------------------------------------


def _user(chat_id: int, language: str = "tr") -> Dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Ayşe", "language_code": language}


def _chat(chat_id: int, kind: str = "private") -> Dict[str, Any]:
    chat: Dict[str, Any] = {"id": chat_id, "type": kind}
    if kind == "private":
        chat["first_name"] = "Ayşe"
    else:
        chat["title"] = "Kuzey Süt fans"
    return chat


def message_update(
    chat_id: int, update_id: int | None = None, kind: str = "private", **content: Any
) -> Dict[str, Any]:
    """An update with a message from a customer (`text=`, `photo=`, `caption=`...)."""
    update_id = next(_ids) if update_id is None else update_id
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 100000,
            "from": _user(chat_id),
            "chat": _chat(chat_id, kind),
            "date": int(time.time()),
            **content,
        },
    }


def text_update(chat_id: int, text: str, update_id: int | None = None) -> Dict[str, Any]:
    """A customer's text message."""
    return message_update(chat_id, update_id, text=text)


PHOTO = [
    {"file_id": "AgACAgQAAxkBAAIB", "file_unique_id": "AQADs", "width": 90, "height": 67},
    {"file_id": "AgACAgQAAxkBAAIC", "file_unique_id": "AQADt", "width": 800, "height": 600},
]
VOICE = {"file_id": "AwACAgQAAxkBAAID", "file_unique_id": "AgADv", "duration": 3}
DOCUMENT = {"file_id": "BQACAgQAAxkBAAIE", "file_unique_id": "AgADd", "file_name": "fis.pdf"}


def callback_update(chat_id: int, data: str, bot_message: Dict[str, Any] | None = None) -> dict:
    """The customer pressed an inline button under one of the bot's messages."""
    update_id = next(_ids)
    message = {
        "message_id": 4242,
        "from": BOT_USER,
        "chat": _chat(chat_id),
        "date": int(time.time()),
        "text": "Bu yanıt işinize yaradı mı?",
        **(bot_message or {}),
    }
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cbq-{update_id}",
            "from": _user(chat_id),
            "message": message,
            "chat_instance": "-5349586434923939447",
            "data": data,
        },
    }


def parse(data: Dict[str, Any]) -> Update:
    """The update as python-telegram-bot reads it."""
    return Update.de_json(data, Bot(TOKEN))


# -- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "received, expected, ok",
    [
        (SECRET, SECRET, True),
        ("wrong", SECRET, False),
        (SECRET + "x", SECRET, False),
        ("", SECRET, False),
        (None, SECRET, False),
        ("", "", False),
        (None, "", False),
    ],
    ids=["right", "wrong", "longer", "empty", "missing", "no-secret-configured", "none-at-all"],
)
def test_secret_check(received, expected, ok):
    assert secret_ok(received, expected) is ok


def test_conversation_ids_carry_the_channel():
    assert conversation_id(12345) == "telegram:12345"
    assert chat_id_of("telegram:12345") == 12345
    assert chat_id_of(conversation_id(-100123)) == -100123
    for wrong in ("whatsapp:+905321234567", "telegram:", "12345", "telegram:abc"):
        with pytest.raises(ValueError):
            chat_id_of(wrong)


def keyboard_json(buttons: List[Dict[str, Any]]) -> Any:
    markup = inline_keyboard(buttons)
    return None if markup is None else markup.to_dict()["inline_keyboard"]


def test_short_buttons_share_a_row_and_send_their_payload():
    assert keyboard_json(
        [{"title": "Evet", "payload": "/affirm"}, {"title": "Hayır", "payload": "/deny"}]
    ) == [
        [{"text": "Evet", "callback_data": "/affirm"}, {"text": "Hayır", "callback_data": "/deny"}]
    ]


def test_three_short_buttons_make_two_rows():
    rows = keyboard_json([{"title": t, "payload": f"/{t}"} for t in ("a", "b", "c")])
    assert [[key["text"] for key in row] for row in rows] == [["a", "b"], ["c"]]


def test_long_titles_get_a_row_each_and_links_open():
    rows = keyboard_json(
        [
            {"title": "Evet, temsilciye bağlan", "payload": "/affirm"},
            {"title": "Açıklamayı oku", "url": "https://kuzeysut.example/aciklama"},
            {"title": "Kaynak", "type": "web_url", "payload": "https://kuzeysut.example/"},
        ]
    )
    assert rows == [
        [{"text": "Evet, temsilciye bağlan", "callback_data": "/affirm"}],
        [{"text": "Açıklamayı oku", "url": "https://kuzeysut.example/aciklama"}],
        [{"text": "Kaynak", "url": "https://kuzeysut.example/"}],
    ]


def test_payload_over_64_bytes_falls_back_to_the_title():
    payload = '/complaint{"order_number": "' + "1" * 60 + '"}'
    [[key]] = keyboard_json([{"title": "Şikayet", "payload": payload}])
    assert key == {"text": "Şikayet", "callback_data": "Şikayet"}


def test_no_buttons_no_keyboard():
    assert inline_keyboard([]) is None


def test_long_text_is_split_with_buttons_on_the_last_piece():
    sentence = "Kuzey Süt iflas etmiyor, üretim ve dağıtım sürüyor. "
    text = sentence * 200  # ~10,000 characters
    buttons = [{"title": "Evet", "payload": "/affirm"}]
    messages = outgoing_messages(text, buttons)
    assert len(messages) == 3
    assert all(len(m["text"]) <= MAX_TEXT and m["text"].endswith(".") for m in messages)
    assert " ".join(m["text"] for m in messages) == text.strip()
    assert [m.get("buttons") for m in messages] == [None, None, buttons]
    assert outgoing_messages("Merhaba!") == [{"text": "Merhaba!"}]
    assert outgoing_messages("", buttons) == [{"text": "…", "buttons": buttons}]


@pytest.mark.parametrize(
    "typed, kind, text",
    [
        ("/start", "start", "/start"),
        ("/start@crisisdesk_test_bot", "start", "/start"),
        ("/start campaign-42", "start", "/start"),
        ("/stop", "text", "/stop"),
        ("  siparisim nerede ", "text", "siparisim nerede"),
    ],
)
def test_start_is_the_only_command_telegram_reads(typed, kind, text):
    incoming = read_update(parse(text_update(777, typed)))
    assert (incoming.kind, incoming.text) == (kind, text)


def test_text_update_is_read_with_the_chat_as_conversation():
    incoming = read_update(parse(text_update(777, "merhaba", update_id=9001)))
    assert incoming is not None
    assert (incoming.update_id, incoming.sender_id) == (9001, "telegram:777")
    assert (incoming.text, incoming.media, incoming.language_code) == ("merhaba", [], "tr")


def test_callback_query_is_read_as_a_button_press():
    incoming = read_update(parse(callback_update(777, "/affirm")))
    assert incoming is not None
    assert (incoming.sender_id, incoming.text, incoming.kind) == (
        "telegram:777",
        "/affirm",
        "button",
    )
    assert incoming.callback_query_id.startswith("cbq-")


@pytest.mark.parametrize(
    "content, kinds",
    [
        ({"photo": PHOTO}, ["photo"]),
        ({"voice": VOICE}, ["voice"]),
        ({"document": DOCUMENT}, ["document"]),
        ({"location": {"latitude": 41.01, "longitude": 28.97}}, ["location"]),
    ],
    ids=["photo", "voice", "document", "location"],
)
def test_media_without_caption_has_no_text(content, kinds):
    incoming = read_update(parse(message_update(777, **content)))
    assert incoming is not None and incoming.text == ""
    assert [m["type"] for m in incoming.media] == kinds


def test_caption_is_read_as_text():
    incoming = read_update(parse(message_update(777, photo=PHOTO, caption="bozuk sut geldi")))
    assert incoming is not None and incoming.text == "bozuk sut geldi"
    assert incoming.media == [{"type": "photo"}]


@pytest.mark.parametrize(
    "data",
    [
        message_update(777, kind="group", text="merhaba"),
        {"update_id": 5, "edited_message": text_update(777, "x")["message"]},
        message_update(777, new_chat_title="yeni ad"),
        message_update(777, text="   "),
    ],
    ids=["group", "edit", "service-message", "blank"],
)
def test_updates_not_for_the_bot_are_ignored(data):
    assert read_update(parse(data)) is None


def test_unknown_mode_stops_the_channel_from_loading_only_when_it_is_on():
    with pytest.raises(ValueError, match="TELEGRAM_MODE"):
        TelegramInput(Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "push"}))
    assert not TelegramInput(Settings.from_env({"TELEGRAM_MODE": "push"})).enabled


# -- the sender against the fake Bot API -----------------------------------------------------


@pytest.fixture
def fake():
    with FakeTelegram() as running:
        yield running


def _sender(fake: FakeTelegram) -> TelegramSender:
    return TelegramSender.from_settings(
        Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url})
    )


async def test_sender_sends_text_and_inline_keyboard(fake):
    sender = _sender(fake)
    message = {
        "text": "Bu yanıt işinize yaradı mı?",
        "buttons": [{"title": "Evet", "payload": "/y"}],
    }
    provider_id = await sender.send("telegram:777", message)
    [call] = fake.calls_to("sendMessage")
    assert provider_id == "1001"
    assert call.params == {
        "chat_id": 777,
        "text": "Bu yanıt işinize yaradı mı?",
        "reply_markup": {"inline_keyboard": [[{"text": "Evet", "callback_data": "/y"}]]},
    }


@pytest.mark.parametrize(
    "status, failure",
    [(500, TemporaryFailure), (502, TemporaryFailure), (429, TemporaryFailure)]
    + [(400, PermanentFailure), (403, PermanentFailure)],
)
async def test_sender_maps_bot_api_errors(fake, status, failure):
    fake.fail_next("sendMessage", status, retry_after=7)
    with pytest.raises(failure) as raised:
        await _sender(fake).send("telegram:777", {"text": "x"})
    if status == 429:
        assert raised.value.retry_after == 7


async def test_sender_with_api_down_fails_temporarily(fake):
    fake.stop()
    with pytest.raises(TemporaryFailure):
        await _sender(fake).send("telegram:777", {"text": "x"})


async def test_outbox_delivers_exactly_once_after_500s(fake, store):
    fake.fail_next("sendMessage", 500, times=2)
    outbox = Outbox(store, {"telegram": _sender(fake)}, base_delay=0.01, max_delay=0.05)
    outgoing = await outbox.enqueue("telegram", "telegram:777", {"text": "Merhaba"}, answers="1")
    for _ in range(50):
        await outbox.deliver_due()
        if store.get_outgoing(outgoing)["status"] == "sent":
            break
        await asyncio.sleep(0.02)
    await outbox.deliver_due()
    row = store.get_outgoing(outgoing)
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert [p["text"] for p in fake.sent_to(777)] == ["Merhaba"]
    assert len(fake.calls_to("sendMessage", ok_only=False)) == 3


# -- the command line ------------------------------------------------------------------------


def _cli(fake: FakeTelegram, *args: str, **env: str) -> subprocess.CompletedProcess:
    settings_env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_MODE": "webhook",
        "PUBLIC_BASE_URL": "",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **settings_env},
        cwd=ROOT,
    )


def test_cli_points_the_webhook_here_with_the_secret(fake):
    done = _cli(fake, "telegram", "webhook", PUBLIC_BASE_URL="https://desk.example")
    assert done.returncode == 0, done.stderr
    [call] = fake.calls_to("setWebhook")
    assert call.params == {
        "url": "https://desk.example/webhooks/telegram/webhook",
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
    }
    assert "https://desk.example/webhooks/telegram/webhook" in done.stdout


@pytest.mark.parametrize(
    "args, env, code",
    [
        (
            ["--url", "https://x.example/webhooks/telegram/webhook"],
            {"TELEGRAM_WEBHOOK_SECRET": ""},
            2,
        ),
        ([], {}, 2),
    ],
    ids=["no-secret", "no-url"],
)
def test_cli_webhook_needs_a_secret_and_a_url(fake, args, env, code):
    done = _cli(fake, "telegram", "webhook", *args, **env)
    assert done.returncode == code and done.stderr
    assert fake.calls_to("setWebhook") == []


def test_cli_reports_a_refused_webhook(fake):
    fake.fail_next("setWebhook", 400)
    done = _cli(fake, "telegram", "webhook", "--url", "http://insecure.example/hook")
    assert done.returncode == 1 and "refused" in done.stderr


def test_channels_command_says_which_channels_are_on(fake):
    off = _cli(fake, "channels", TELEGRAM_BOT_TOKEN="").stdout
    assert re.search(r"^telegram\s+off\s+set TELEGRAM_BOT_TOKEN", off, flags=re.M)
    assert re.search(r"^rest\s+on", off, flags=re.M)
    webhook = _cli(fake, "channels").stdout
    assert re.search(r"^telegram\s+on\s+/webhooks/telegram/webhook$", webhook, flags=re.M)
    polling = _cli(fake, "channels", TELEGRAM_MODE="polling").stdout
    assert re.search(r"^telegram\s+on\s+long polling", polling, flags=re.M)


# -- the whole bot ------------------------------------------------------------------------

slow = pytest.mark.slow


def _seed(db_path: Path) -> None:
    store = Store.open(db_path)
    import_facts(store, ROOT / "data/facts/demo.csv")
    import_faqs(store, ROOT / "data/facts/faq.csv")
    store.close()


def _telegram_env(fake: FakeTelegram, mode: str = "webhook") -> Dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET if mode == "webhook" else "",
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_MODE": mode,
        # Quick retries, so that a failing fake costs the tests seconds, not minutes.
        "OUTBOX_RETRY_BASE_SECONDS": "0.3",
        "OUTBOX_RETRY_MAX_SECONDS": "3",
    }


@pytest.fixture(scope="module")
def fake_api():
    with FakeTelegram() as running:
        yield running


@pytest.fixture(scope="module")
def tg(tmp_path_factory, fake_api):
    """The bot with the Telegram channel on (webhook mode), talking to the fake API."""
    workdir = tmp_path_factory.mktemp("telegram")
    _seed(workdir / "crisisdesk.db")
    with running_bot(workdir, MODEL, extra_env=_telegram_env(fake_api)) as running:
        yield running


@pytest.fixture
def tg_store(tg):
    opened = Store.open(tg.db_path)
    yield opened
    opened.close()


def post(bot, update: Any, secret: str | None = SECRET) -> requests.Response:
    """Delivers an update to the webhook like Telegram does."""
    headers = {} if secret is None else {SECRET_HEADER: secret}
    url = f"{bot.rasa_url}/webhooks/telegram/webhook"
    if isinstance(update, dict):
        return requests.post(url, json=update, headers=headers, timeout=30)
    return requests.post(url, data=update, headers=headers, timeout=30)


def new_chat() -> int:
    return 700000000 + next(_ids) % 100000000


def replies(fake: FakeTelegram, chat_id: int, count: int = 1, timeout: float = 30) -> List[dict]:
    """The messages sent to a chat, once at least `count` arrived (or the time is up)."""
    fake.wait_for("sendMessage", count, timeout, chat_id=chat_id)
    return fake.sent_to(chat_id)


def keyboard(message: Dict[str, Any]) -> List[List[Dict[str, Any]]]:
    return message.get("reply_markup", {}).get("inline_keyboard", [])


def inbound(store: Store, update: Dict[str, Any]) -> Dict[str, Any] | None:
    rows = [
        r for r in store.list_inbound("telegram") if r["message_id"] == str(update["update_id"])
    ]
    return rows[0] if rows else None


def wait_until(condition, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def settle(tg, store: Store, fake: FakeTelegram, chat_id: int) -> List[dict]:
    """Everything sent to a chat so far, once nothing more can be on its way.

    A marker message goes last: one chat's updates are handled in order and its
    replies sent in order, so once the marker is handled and nothing is pending for
    the chat, every reply to an earlier update is at the fake. Returns what was
    sent before the replies to the marker.
    """
    marker = text_update(chat_id, "merhaba")
    assert post(tg, marker).json() == {"status": "accepted"}
    sender = conversation_id(chat_id)
    assert wait_until(
        lambda: (
            (inbound(store, marker) or {}).get("status") == "processed"
            and not [r for r in store.list_outgoing("pending") if r["recipient"] == sender]
        )
    ), "the marker was not handled"
    answering = [r for r in store.list_outgoing() if r["answers"] == str(marker["update_id"])]
    sent = fake.sent_to(chat_id)
    return sent[: len(sent) - len(answering)]


@slow
@pytest.mark.parametrize("secret", [None, "", "wrong-secret"], ids=["missing", "empty", "wrong"])
def test_webhook_without_the_secret_is_refused(tg, tg_store, fake_api, secret):
    chat = new_chat()
    update = text_update(chat, "merhaba")
    assert post(tg, update, secret=secret).status_code == 403
    assert settle(tg, tg_store, fake_api, chat) == []
    assert inbound(tg_store, update) is None
    events = tg.tracker(conversation_id(chat)).get("events") or []
    assert [e["text"] for e in events if e["event"] == "user"] == ["merhaba"]  # the marker


@slow
@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"message": {}}'])
def test_webhook_refuses_what_is_not_an_update(tg, body):
    assert post(tg, body).status_code == 400


@slow
def test_text_message_gets_a_reply_in_its_chat(tg, tg_store, fake_api):
    chat = new_chat()
    update = text_update(chat, "slm merhaba")
    answer = post(tg, update)
    assert answer.status_code == 200 and answer.json() == {"status": "accepted"}
    [reply] = replies(fake_api, chat)
    assert reply["text"].startswith("Merhaba! Ben Kuzey Süt'ün dijital asistanıyım.")
    tracker = tg.tracker(conversation_id(chat))
    assert tracker["sender_id"] == f"telegram:{chat}"
    assert tracker["latest_input_channel"] == "telegram"
    assert wait_until(lambda: inbound(tg_store, update)["status"] == "processed")


@slow
def test_start_command_greets(tg, fake_api):
    chat = new_chat()
    post(tg, text_update(chat, "/start"))
    [reply] = replies(fake_api, chat)
    assert "Merhaba" in reply["text"] and "How can I help?" in reply["text"]


@slow
def test_fact_answer_has_an_inline_keyboard_and_a_pressed_button_is_handled(tg, tg_store, fake_api):
    chat = new_chat()
    post(tg, text_update(chat, "sutunuzde camasir suyu var miymis"))
    [fact] = replies(fake_api, chat)
    assert fact["text"].startswith("❌ Yanlış: “Kuzey Süt sütünde plastik")
    assert "https://kuzeysut.example/" in fact["text"]
    assert keyboard(fact) == [
        [{"text": "Evet", "callback_data": "/affirm"}, {"text": "Hayır", "callback_data": "/deny"}]
    ]

    shown = {"text": fact["text"], "reply_markup": fact["reply_markup"]}
    press = callback_update(chat, "/affirm", shown)
    assert post(tg, press).json() == {"status": "accepted"}
    thanks = replies(fake_api, chat, 2)[1]
    assert thanks["text"] == "Geri bildiriminiz için teşekkürler!"
    answered = [c.params for c in fake_api.calls_to("answerCallbackQuery")]
    assert {"callback_query_id": press["callback_query"]["id"]} in answered
    feedback = tg_store.db["feedback"].rows_where("sender_id = ?", [conversation_id(chat)])
    assert [row["helpful"] for row in feedback] == [1]


def read_by_the_nlu(event: dict) -> bool:
    """Parse data the NLU made (a ranking of several intents, unlike `/intent` syntax)."""
    parse = event["parse_data"]
    return len(parse.get("intent_ranking") or []) > 1 and "text" in parse


@slow
def test_forged_callback_data_and_typed_commands_are_text(tg, tg_store, fake_api):
    forger, typist = new_chat(), new_chat()
    post(tg, callback_update(forger, '/complaint{"order_number":"X"}'))  # never offered
    post(tg, text_update(typist, "/request_human"))
    replies(fake_api, forger)
    replies(fake_api, typist)
    tracker = tg.tracker(conversation_id(forger))
    [pressed] = [e for e in tracker["events"] if e["event"] == "user"]
    assert pressed["text"] == 'complaint{"order_number":"X"}' and read_by_the_nlu(pressed)
    assert pressed["metadata"]["crisisdesk"]["payload"] is False
    assert tracker["slots"]["order_number"] != "X"
    [typed] = [e for e in tg.tracker(conversation_id(typist))["events"] if e["event"] == "user"]
    assert typed["text"] == "request_human" and read_by_the_nlu(typed)


@slow
@pytest.mark.parametrize(
    "content",
    [{"photo": PHOTO}, {"voice": VOICE}, {"document": DOCUMENT}],
    ids=["photo", "voice", "document"],
)
def test_media_without_caption_gets_a_polite_reply(tg, tg_store, fake_api, content):
    chat = new_chat()
    update = message_update(chat, **content)
    assert post(tg, update).json() == {"status": "accepted"}
    [reply] = replies(fake_api, chat)
    # No conversation yet: the customer's Telegram language (tr) decides.
    assert reply["text"].startswith("Şimdilik yalnızca yazılı mesajları okuyabiliyorum")
    assert wait_until(lambda: inbound(tg_store, update)["status"] == "processed")


@slow
def test_media_reply_follows_the_conversation_language(tg, fake_api):
    chat = new_chat()
    post(tg, text_update(chat, "hello there"))
    replies(fake_api, chat)
    post(tg, message_update(chat, photo=PHOTO))
    media_reply = replies(fake_api, chat, 2)[1]
    assert media_reply["text"].startswith("For now I can only read text")


@slow
def test_photo_with_caption_is_handled_as_text(tg, tg_store, fake_api):
    chat = new_chat()
    post(tg, message_update(chat, photo=PHOTO, caption="my order 4821937 never arrived"))
    [reply] = replies(fake_api, chat)
    [ticket] = tg_store.list_tickets(conversation_id(chat))
    assert ticket["number"] in reply["text"] and ticket["channel"] == "telegram"


@slow
def test_repeated_update_id_is_handled_once(tg, tg_store, fake_api):
    chat = new_chat()
    update = text_update(chat, "my order 5512093 never arrived, nobody answers")
    assert post(tg, update).json() == {"status": "accepted"}
    assert post(tg, update).json() == {"status": "duplicate"}
    replies(fake_api, chat)
    assert post(tg, update).json() == {"status": "duplicate"}
    assert len(settle(tg, tg_store, fake_api, chat)) == 1
    assert len(tg_store.list_tickets(conversation_id(chat))) == 1
    row = inbound(tg_store, update)
    assert row["status"] == "processed" and row["sender"] == conversation_id(chat)


@slow
def test_reply_arrives_exactly_once_when_the_api_fails_then_recovers(tg, tg_store, fake_api):
    chat = new_chat()
    fake_api.fail_next("sendMessage", 500, times=2)
    post(tg, text_update(chat, "hello"))
    [reply] = replies(fake_api, chat)
    assert reply["text"].startswith("Hello!")
    assert len(settle(tg, tg_store, fake_api, chat)) == 1
    [row, *_marker] = [
        r for r in tg_store.list_outgoing(channel="telegram") if r["recipient"].endswith(str(chat))
    ]
    assert (row["status"], row["attempts"]) == ("sent", 3)


@slow
def test_reply_waits_in_the_outbox_while_the_api_is_down(tg, tg_store, fake_api):
    chat = new_chat()
    fake_api.stop()
    try:
        assert post(tg, text_update(chat, "merhaba")).json() == {"status": "accepted"}

        def pending():
            rows = tg_store.list_outgoing(channel="telegram")
            return [r for r in rows if r["recipient"] == conversation_id(chat)]

        assert wait_until(lambda: pending() and pending()[0]["attempts"] >= 2)
        assert pending()[0]["status"] == "pending"
    finally:
        fake_api.start()
    [reply] = replies(fake_api, chat)
    assert reply["text"].startswith("Merhaba!")
    assert len(settle(tg, tg_store, fake_api, chat)) == 1


@slow
def test_rate_limit_is_honoured(tg, fake_api):
    chat = new_chat()
    fake_api.fail_next("sendMessage", 429, retry_after=2)
    post(tg, text_update(chat, "merhaba"))
    [reply] = replies(fake_api, chat)
    assert reply["text"].startswith("Merhaba!")
    limited = [c for c in fake_api.calls_to("sendMessage", ok_only=False) if c.status == 429][-1]
    [sent] = [c for c in fake_api.calls_to("sendMessage") if c.params["chat_id"] == chat]
    assert sent.at - limited.at >= 2.0


@slow
def test_opt_out_stops_proactive_messages_until_opt_in(tg, tg_store, fake_api):
    chat = new_chat()
    sender = conversation_id(chat)

    def proactive(text: str) -> int:
        return tg_store.enqueue_outgoing("telegram", sender, {"text": text}, answers=None)

    post(tg, text_update(chat, "DUR"))
    [stopped] = replies(fake_api, chat)
    assert "BAŞLA" in stopped["text"]
    assert tg_store.is_opted_out("telegram", sender)
    post(tg, text_update(chat, "/stop"))  # already out: no second confirmation
    blocked = proactive("Yeni bir açıklama yayınladık.")
    assert wait_until(lambda: tg_store.get_outgoing(blocked)["status"] == "failed")
    assert tg_store.get_outgoing(blocked)["last_error"] == "opted out"

    post(tg, text_update(chat, "siparişim nerede kaldı, 2 haftadır bekliyorum"))
    assert len(replies(fake_api, chat, 2)) == 2  # questions are still answered

    post(tg, text_update(chat, "BAŞLA"))
    started = replies(fake_api, chat, 3)[2]
    assert "DUR" in started["text"]
    assert not tg_store.is_opted_out("telegram", sender)
    allowed = proactive("Yeni bir açıklama yayınladık.")
    assert wait_until(lambda: tg_store.get_outgoing(allowed)["status"] == "sent")
    assert [m["text"] for m in replies(fake_api, chat, 4)][-1] == "Yeni bir açıklama yayınladık."


@slow
def test_handoff_and_its_end_reach_the_customer_on_telegram(tg, tg_store, fake_api):
    chat = new_chat()
    sender = conversation_id(chat)
    post(tg, text_update(chat, "canli destek istiyorum, bir insanla konusayim"))
    assert "temsilci" in replies(fake_api, chat)[0]["text"]
    post(tg, text_update(chat, "merhaba? kimse yok mu"))
    post(tg, text_update(chat, "/restart"))
    post(tg, callback_update(chat, "/restart"))
    post(tg, message_update(chat, photo=PHOTO))  # a person has the conversation: no reply
    assert wait_until(lambda: len(tg_store.list_inbound("telegram", "received")) == 0)
    assert tg.tracker(sender)["paused"] is True
    [handoff] = [h for h in tg_store.list_handoffs() if h["sender_id"] == sender]
    assert handoff["channel"] == "telegram"
    assert len(fake_api.sent_to(chat)) == 1
    said = [e["text"] for e in tg.tracker(sender)["events"] if e["event"] == "user"]
    assert said[1:] == ["merhaba? kimse yok mu", "restart", "restart"]  # recorded for the agent

    closed = subprocess.run(
        [str(BIN / "crisisdesk"), "--db", str(tg.db_path), "handoffs", "close"]
        + [str(handoff["id"]), "--rasa-url", tg.rasa_url],
        capture_output=True,
        text=True,
        env=tg.env,
    )
    assert closed.returncode == 0, closed.stderr
    rating = replies(fake_api, chat, 2)[1]
    assert rating["text"].startswith("Temsilcimiz görüşmeyi tamamladı")
    assert "1 (çok kötü) ile 5 (çok iyi)" in rating["text"]
    buttons = [b["callback_data"] for row in keyboard(rating) for b in row]
    assert buttons == [f'/rate_handoff{{"rating": "{n}"}}' for n in range(1, 6)]
    post(tg, callback_update(chat, buttons[3]))
    assert "teşekkürler" in replies(fake_api, chat, 3)[2]["text"]
    assert wait_until(lambda: tg_store.get_handoff(handoff["id"])["rating"] == 4)


@slow
def test_chat_ids_are_masked_in_the_logs(tg, fake_api):
    chat = 912345678
    post(tg, text_update(chat, "merhaba"))
    replies(fake_api, chat)

    def ours() -> List[str]:
        return [
            line
            for line in (tg.db_path.parent / "rasa.log").read_text().splitlines()
            if "bot.channels" in line or "bot.outbox" in line
        ]

    assert wait_until(lambda: any("telegram:91*****78" in line for line in ours()))
    assert not any("912345678" in line for line in ours())


@slow
def test_the_bot_token_stays_out_of_the_logs(tg, fake_api):
    chat = new_chat()
    post(tg, text_update(chat, "merhaba"))
    replies(fake_api, chat)
    assert TOKEN.split(":")[1] not in (tg.db_path.parent / "rasa.log").read_text()


# -- long polling, and the channel switched off ---------------------------------------


@slow
def test_long_polling_feeds_the_same_handling(tmp_path):
    with FakeTelegram() as fake:
        chat = new_chat()
        first = text_update(chat, "hello there")
        fake.push_update(first)
        with running_bot(tmp_path, MODEL, extra_env=_telegram_env(fake, "polling")) as bot:
            [reply] = replies(fake, chat)
            assert reply["text"].startswith("Hello!")
            fake.push_update(first)  # Telegram sending an update again
            fake.push_update(message_update(chat, photo=PHOTO))
            assert replies(fake, chat, 2)[1]["text"].startswith("For now I can only read text")
            # A marker goes last: one chat's updates are handled in order, so a second
            # reply to the repeated update would arrive before the marker's.
            fake.push_update(text_update(chat, "thanks"))
            sent = [m["text"] for m in replies(fake, chat, 3)]
            assert len(sent) == 3 and sent[2].startswith("You're welcome")
            assert fake.calls_to("deleteWebhook")
            offsets = [c.params.get("offset") for c in fake.calls_to("getUpdates")]
            assert max(o or 0 for o in offsets) > first["update_id"]
            # The webhook stays closed without a secret.
            assert post(bot, text_update(chat, "hi"), secret="").status_code == 403
