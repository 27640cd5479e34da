"""Early warning: the message log from Rasa's event broker, spikes, emerging topics, alerts.

The detector runs on store data at times the test chooses (no sleeps): rows
are fed with their `at`, then `Detector.check(at)` is called. The broker reader
reads a real SQLite file written by Rasa's own SQL event broker class. The staff
chat is the fake Telegram Bot API.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from bot import encoder
from bot.alerts import (
    Detector,
    EarlyWarning,
    Notifier,
    Thresholds,
    iso,
    rumour_ranking,
    staff_text,
)
from bot.cli import main as cli
from bot.message_log import MessageLog
from bot.staff import StaffChat
from bot.store.aio import AsyncStore
from tests.desk_client import Desk
from tests.fake_telegram import TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
DEV = yaml.safe_load((ROOT / "tests/emerging_dev.yml").read_text(encoding="utf-8"))
STAFF_CHAT = -1009876543


def log(store, topic, intent, at, text="bursa fabrikasi yaniyor mu", n=1, vector=None):
    """Feeds `n` messages of one topic and intent at `at` into the message log."""
    for _ in range(n):
        log.event_id += 1
        store.log_message(
            {
                "event_id": log.event_id,
                "channel": "whatsapp",
                "sender_id": f"whatsapp:+9053200{log.event_id:05d}",
                "text": text,
                "intent": intent,
                "confidence": 0.9,
                "language": "tr",
                "topic": topic,
                "at": iso(at),
                "vector": vector,
            }
        )


log.event_id = 0


def user_event(sender, text, intent="rumour", when=None, **extra):
    return {
        "event": "user",
        "sender_id": sender,
        "text": text,
        "timestamp": when if when is not None else time.time(),
        "message_id": f"SM{abs(hash((sender, text))) % 10**8}",
        "input_channel": sender.partition(":")[0],
        "parse_data": {
            "intent": {"name": intent, "confidence": 0.93},
            "language": "tr",
            "entities": [],
        },
        **extra,
    }


@pytest.fixture
def broker(tmp_path):
    from rasa.core.brokers.sql import SQLEventBroker

    return SQLEventBroker(db=str(tmp_path / "events.db"))  # Rasa's own broker class


@pytest.fixture
def telegram():
    with FakeTelegram() as fake:
        yield fake


def staff_settings(telegram):
    from bot.config import Settings

    return Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
            "STAFF_TELEGRAM_CHAT_ID": str(STAFF_CHAT),
        }
    )


# -- the message log ----------------------------------------------------------------------


def test_the_log_has_each_customer_message_once_with_topic_intent_and_the_crisis_clock(
    demo_store, broker, tmp_path, monkeypatch
):
    clock_file = tmp_path / "clock"
    clock_file.write_text("7200")  # crisisdesk's clock two hours ahead of Rasa's
    monkeypatch.setenv("CRISISDESK_CLOCK_FILE", str(clock_file))
    demo_store.open_incident(
        name="Ayran glass",
        severity="high",
        keywords=["cam kirigi", "broken glass"],
        examples={"tr": ["ayranda cam kirigi var"], "en": ["broken glass in the ayran"]},
        opened_by="eda",
    )
    sent = 1_796_300_000.0
    broker.publish(user_event("whatsapp:+905321234567", "kuzey sut iflas mi ediyor", when=sent))
    broker.publish({"event": "bot", "sender_id": "whatsapp:+905321234567", "text": "Hayır"})
    broker.publish({"event": "slot", "sender_id": "whatsapp:+905321234567", "name": "x"})
    broker.publish(user_event("telegram:5551234", "ayranda cam kirigi cikti", "complaint"))
    broker.publish(user_event("webchat:v1", "izmir deposunu su basmis", "question"))
    broker.publish(
        user_event(
            "whatsapp:+905321234567", "/affirm", "affirm", metadata={"crisisdesk": {"payload": 1}}
        )
    )
    broker.publish(user_event("rest:x", "   "))  # nothing typed: not a message

    reader = MessageLog(demo_store, tmp_path / "events.db")
    assert reader.read() == 4
    rows = {row["text"]: row for row in demo_store.logged_messages()}
    fact = rows["kuzey sut iflas mi ediyor"]
    assert (fact["channel"], fact["intent"], fact["language"]) == ("whatsapp", "rumour", "tr")
    assert (fact["topic"], fact["incident_id"]) == ("finance", None)
    assert fact["at"] == iso(datetime.fromtimestamp(sent + 7200, timezone.utc))
    assert fact["message_id"].startswith("SM") and fact["confidence"] == pytest.approx(0.93)
    incident = rows["ayranda cam kirigi cikti"]
    assert (incident["topic"], incident["channel"]) == ("Ayran glass", "telegram")
    assert incident["incident_id"] == demo_store.active_incidents()[0]["id"]
    assert rows["izmir deposunu su basmis"]["topic"] == ""
    assert rows["/affirm"]["topic"] == "" and rows["/affirm"]["intent"] == "affirm"
    vectors = dict(
        demo_store.db.execute("select text, vector is not null from message_log").fetchall()
    )
    assert vectors == {  # only a typed message on no known topic is encoded
        "kuzey sut iflas mi ediyor": 0,
        "ayranda cam kirigi cikti": 0,
        "izmir deposunu su basmis": 1,
        "/affirm": 0,
    }

    assert reader.read() == 0  # nothing new
    again = MessageLog(demo_store, tmp_path / "events.db")  # a restarted desk
    assert again.read() == 0
    demo_store.set_inbox_cursor("message_log", 0)  # even reading everything again
    assert again.read() == 0 and len(demo_store.logged_messages()) == 4
    broker.publish(user_event("telegram:5551234", "bursa fabrikaniz yaniyor mu"))
    assert again.read() == 1
    rows = {row["text"]: row for row in demo_store.logged_messages()}
    assert rows["bursa fabrikaniz yaniyor mu"]["topic"] == "factory fire"


def test_a_message_is_logged_at_its_arrival_however_late_the_reader_gets_to_it(
    store, broker, tmp_path, monkeypatch
):
    clock_file = tmp_path / "clock"
    clock_file.write_text("0")
    monkeypatch.setenv("CRISISDESK_CLOCK_FILE", str(clock_file))
    event = user_event("whatsapp:+905321234567", "ayran cam kirigi var mi")
    store.record_inbound("whatsapp", event["message_id"], event["sender_id"], event["text"])
    arrived = store.inbound_received_at("whatsapp", event["message_id"])
    broker.publish(event)
    broker.publish(user_event("rest:x", "rest has no inbound record"))
    from bot import clock

    clock.advance(clock_file, 3600)  # the clock jumps before the reader looks
    assert MessageLog(store, tmp_path / "events.db").read() == 2
    rows = {row["text"]: row for row in store.logged_messages()}
    assert rows["ayran cam kirigi var mi"]["at"] == arrived
    rest_at = datetime.fromisoformat(rows["rest has no inbound record"]["at"])
    assert (rest_at - datetime.fromisoformat(arrived)).total_seconds() >= 3599


def test_a_missing_broker_file_reads_as_nothing(store, tmp_path):
    assert MessageLog(store, tmp_path / "no-such.db", topics=lambda t: (None, "")).read() == 0
    assert MessageLog(store, None, topics=lambda t: (None, "")).read() == 0


# -- spikes --------------------------------------------------------------------------------


def test_a_spike_alerts_once_until_the_rate_falls_back(store):
    detector = Detector(store, Thresholds())  # 15 min, 24 h, 3x, at least 10, floor 1
    for hour in range(24):  # the usual: 2 an hour, 0.5 a window, floored to 1
        log(store, "factory fire", "rumour", T0 - timedelta(hours=hour, minutes=20), n=2)
    log(store, "factory fire", "rumour", T0 - timedelta(minutes=5), n=9)
    assert detector.check(T0) == []  # 9: below the minimum of 10
    log(
        store,
        "factory fire",
        "rumour",
        T0 + timedelta(seconds=20),
        text="fabrika yaniyor beni 0532 123 45 67 den arayin",
    )
    now = T0 + timedelta(seconds=30)
    (alert,) = detector.check(now)
    assert (alert["kind"], alert["topic"], alert["intent"]) == ("spike", "factory fire", "rumour")
    assert (alert["count"], alert["baseline"], alert["window_minutes"]) == (10, 1.0, 15)
    assert alert["raised_at"] == iso(now)
    texts = [e["text"] for e in alert["examples"]]
    assert len(texts) == 3 and "fabrika yaniyor" in texts[0]
    assert "123 45 67" not in texts[0] and "0532" not in texts[0]  # scrubbed
    assert all(e["language"] == "tr" and e["channel"] == "whatsapp" for e in alert["examples"])

    log(store, "factory fire", "rumour", now, n=5)
    assert detector.check(now + timedelta(seconds=10)) == []  # still the same alert
    assert store.get_alert(alert["id"])["count"] == 15
    assert len(store.list_alerts("open")) == 1

    # Twenty minutes on, the window holds nothing: the rate fell back, the alert closes.
    later = now + timedelta(minutes=20)
    assert detector.check(later) == []
    closed = store.get_alert(alert["id"])
    assert closed["closed_at"] == iso(later) and closed["peak_count"] == 15
    # A new spike is a new alert.
    log(store, "factory fire", "rumour", later, n=12)
    (second,) = detector.check(later + timedelta(seconds=1))
    assert second["id"] != alert["id"] and second["count"] == 12


def test_a_busy_topic_needs_three_times_its_usual_and_other_intents_do_not_count(store):
    detector = Detector(store, Thresholds())
    for hour in range(24):  # the usual: 40 a window (160 an hour)
        log(store, "prices", "complaint", T0 - timedelta(hours=hour, minutes=30), n=160)
    log(store, "prices", "complaint", T0 - timedelta(minutes=1), n=100)
    log(store, "prices", "greet", T0 - timedelta(minutes=1), n=50)  # not a spike intent
    log(store, "", "rumour", T0 - timedelta(minutes=1), n=50)  # no known topic
    assert detector.check(T0) == []  # 100 < 3 x 40
    log(store, "prices", "complaint", T0, n=20)
    (alert,) = detector.check(T0)
    assert (alert["count"], alert["baseline"]) == (120, 40.0)


def test_settings_set_the_thresholds():
    from bot.config import Settings

    cfg = Settings.from_env(
        {"ALERT_WINDOW_MINUTES": "5", "ALERT_FACTOR": "2", "ALERT_MIN_COUNT": "4"}
    )
    thresholds = Thresholds.from_settings(cfg)
    assert thresholds.window == timedelta(minutes=5) and thresholds.raise_level(3.0) == 6.0
    assert thresholds.raise_level(1.0) == 4.0 and thresholds.emerging_threshold == 0.45


# -- emerging topics -----------------------------------------------------------------------


def test_similar_messages_on_no_known_topic_become_one_emerging_alert(store):
    detector = Detector(store, Thresholds(emerging_min_count=5))
    glass = DEV["groups"]["glass-in-ayran"]
    singles = DEV["singles"]
    vectors = encoder.encode(glass + singles)
    for number, text in enumerate(glass[:6]):
        at = T0 - timedelta(minutes=10 - number)
        log(store, "", "rumour", at, text=text, vector=vectors[number].tobytes())
    for number, text in enumerate(singles):
        vector = vectors[len(glass) + number].tobytes()
        log(store, "", "question", T0 - timedelta(minutes=5), text=text, vector=vector)
    (alert,) = detector.check(T0)
    assert (alert["kind"], alert["topic"], alert["intent"]) == ("emerging", "", "rumour")
    assert alert["count"] >= 5
    assert {e["text"] for e in alert["examples"]} <= set(glass)
    assert detector.check(T0 + timedelta(seconds=5)) == []  # once per cluster

    # One more asker of the same thing is counted in the same alert, not a new one.
    log(store, "", "rumour", T0 + timedelta(minutes=1), text=glass[6], vector=vectors[6].tobytes())
    before = alert["count"]
    assert detector.check(T0 + timedelta(minutes=1)) == []
    assert store.get_alert(alert["id"])["count"] == before + 1
    assert store.get_alert(alert["id"])["examples"][0]["text"] == glass[6]


def test_two_new_topics_at_once_are_two_emerging_alerts(store):
    detector = Detector(store, Thresholds(emerging_min_count=4))
    glass = DEV["groups"]["glass-in-ayran"][:5]
    kefir = DEV["groups"]["kefir-alcohol"][:5]
    vectors = encoder.encode(glass + kefir)
    for number, text in enumerate(glass + kefir):
        at = T0 - timedelta(minutes=10) + timedelta(seconds=number)
        log(store, "", "rumour", at, text=text, vector=vectors[number].tobytes())
    raised = detector.check(T0)
    assert len(raised) == 2
    seen = [{e["text"] for e in alert["examples"]} for alert in raised]
    assert sorted([bool(s <= set(glass)), bool(s <= set(kefir))] for s in seen) == [
        [False, True],
        [True, False],
    ]


def test_the_measured_threshold_keeps_the_written_groups_apart():
    from bot.alerts import cluster

    texts, labels = [], []
    for name, messages in DEV["groups"].items():
        texts += messages
        labels += [name] * len(messages)
    vectors = encoder.encode(texts)
    for members in cluster(vectors, Thresholds().emerging_threshold):
        names = [labels[i] for i in members]
        main = max(set(names), key=names.count)
        assert sum(1 for n in names if n != main) <= 1, names  # never two topics mixed


# -- the staff chat ------------------------------------------------------------------------


def raise_spike(store, count=12):
    return store.raise_alert(
        "spike",
        "factory fire",
        "rumour",
        window_minutes=15,
        count=count,
        baseline=1.0,
        examples=[{"text": "bursa fabrikasi yaniyor mu", "language": "tr", "channel": "whatsapp"}],
    )


async def test_each_alert_reaches_the_staff_chat_once_with_counts_examples_and_link(
    store, telegram
):
    from bot.staff import staff_chat

    chat = staff_chat(staff_settings(telegram))
    db = AsyncStore.of(store)
    notifier = Notifier(db, chat, "https://desk.example/")
    try:
        first = raise_spike(store)
        assert await notifier.notify() == 1
        (message,) = telegram.sent_to(STAFF_CHAT)
        assert message["text"].splitlines()[:2] == [
            "Spike: rumours about factory fire",
            "12 in the last 15 min (usually 1 per 15 min)",
        ]
        assert "- bursa fabrikasi yaniyor mu" in message["text"]
        assert message["text"].endswith(f"Open: https://desk.example/alerts/{first}")
        assert "parse_mode" not in message
        assert await notifier.notify() == 0 and len(telegram.sent_to(STAFF_CHAT)) == 1
        assert store.get_alert(first)["notified_at"] is not None

        store.close_alert(first)
        second = raise_spike(store, 30)
        telegram.fail_next("sendMessage", 500)
        assert await notifier.notify() == 0  # not reached: tried again next round
        assert store.get_alert(second)["notified_at"] is None
        assert await notifier.notify() == 1
        assert len(telegram.sent_to(STAFF_CHAT)) == 2

        store.close_alert(second)
        third = raise_spike(store, 40)
        telegram.fail_next("sendMessage", 400)  # refused for good: recorded, not retried
        assert await notifier.notify() == 1
        assert store.get_alert(third)["notify_status"] == "failed"
        assert await notifier.notify() == 0
    finally:
        await chat.close()
        db.close()


def test_an_emerging_alert_reads_as_such():
    alert = {
        "id": 7,
        "kind": "emerging",
        "topic": "",
        "intent": "question",
        "count": 11,
        "window_minutes": 15,
        "baseline": 0.0,
        "examples": [{"text": "izmir deposu su basmis"}],
    }
    text = staff_text(alert, "http://localhost:8000")
    assert text.startswith("Emerging topic: 11 similar questions on no known topic")
    assert "- izmir deposu su basmis" in text and text.endswith("/alerts/7")


# -- the desk's background task: broker -> log -> alert -> staff chat, within seconds --------


async def test_a_spike_in_the_broker_reaches_the_staff_chat_within_seconds(
    demo_store, broker, tmp_path, telegram, monkeypatch
):
    clock_file = tmp_path / "clock"
    clock_file.write_text(str(3 * 86400))  # a simulated day three days ahead
    monkeypatch.setenv("CRISISDESK_CLOCK_FILE", str(clock_file))
    from bot import clock

    chat = StaffChat(*_sender(telegram))
    db = AsyncStore.of(demo_store)
    warning = EarlyWarning(
        Path(db.path),
        tmp_path / "events.db",
        Notifier(db, chat, "http://localhost:8000"),
        clock=clock.now,
        thresholds=Thresholds(min_count=5),
        poll_seconds=0.02,
    )
    warning.start()
    try:
        for n in range(5):
            broker.publish(user_event(f"whatsapp:+9053212345{n:02d}", "kuzey sut iflas mi ediyor"))
        started = time.monotonic()
        while not telegram.sent_to(STAFF_CHAT) and time.monotonic() - started < 30:
            await asyncio.sleep(0.05)
        (message,) = telegram.sent_to(STAFF_CHAT)
        assert message["text"].startswith("Spike: rumours about finance")
        (alert,) = demo_store.list_alerts()
        raised = datetime.fromisoformat(alert["raised_at"])
        assert abs((raised - clock.now()).total_seconds()) < 30  # on crisisdesk's clock
        assert raised - datetime.now(timezone.utc) > timedelta(days=2)
        assert len(demo_store.logged_messages()) == 5
    finally:
        await warning.stop()
        db.close()


def _sender(telegram):
    from bot.staff import staff_recipient, staff_sender

    cfg = staff_settings(telegram)
    return staff_sender(cfg), staff_recipient(cfg)


# -- rumour groups by askers and growth -----------------------------------------------------


def old_askers(store, rumour_id, when):
    store.db.execute(
        "update rumour_askers set asked_at = ? where rumour_id = ?", [iso(when), rumour_id]
    )
    store.db.execute("update rumours set first_seen = ? where id = ?", [iso(when), rumour_id])
    store.db.conn.commit()


def test_open_rumour_groups_rank_by_askers_and_growth(store, capsys):
    now = datetime.now(timezone.utc)
    steady = store.record_rumour("kuzey sut zam yapacak mi", "tr", "telegram:1", "telegram")
    for n in range(2, 9):
        store.record_rumour("kuzey sut zam yapacak mi", "tr", f"telegram:{n}", "telegram")
    old_askers(store, steady, now - timedelta(days=2))
    store.record_rumour("kuzey sut zam yapacak mi", "tr", "telegram:99", "telegram")  # 1 new
    rising = store.record_rumour("is the new plant closing", "en", "telegram:20", "telegram")
    for n in range(21, 25):
        store.record_rumour("is the new plant closing", "en", f"telegram:{n}", "telegram")
    quiet = store.record_rumour("kuzey ceo istifa etti", "tr", "telegram:30", "telegram")
    old_askers(store, quiet, now - timedelta(days=1))

    ranked = rumour_ranking(store, now)
    assert [g["id"] for g in ranked] == [rising, steady, quiet]
    by_id = {g["id"]: g for g in ranked}
    assert (by_id[rising]["askers"], by_id[rising]["recent"], by_id[rising]["growth"]) == (5, 5, 5)
    assert (by_id[steady]["askers"], by_id[steady]["recent"]) == (9, 1)
    assert by_id[steady]["growth"] == 1.0  # 1 new against 8 in 47 hours: the floor of 1
    assert by_id[quiet]["growth"] == 0.0

    assert cli(["--db", str(Desk(store).settings.db_path), "rumours", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["id", "status", "askers", "new", "growth"]
    assert [int(line.split()[0]) for line in lines[1:]] == [rising, steady, quiet]


# -- the desk and the command line ----------------------------------------------------------


def test_agents_see_acknowledge_and_count_alerts_in_the_desk(store):
    desk = Desk(store)
    desk.user("ayse", "agent")
    desk.user("eda", "editor")
    desk.user("tim", "trainer")
    alert = store.raise_alert(
        "spike",
        "factory fire",
        "rumour",
        window_minutes=15,
        count=12,
        baseline=1.5,
        examples=[{"text": "<b>fabrika</b> yaniyor mu", "language": "tr", "channel": "whatsapp"}],
    )
    agent = desk.login("ayse")
    page = agent.get("/alerts")
    assert page.status_code == 200
    assert 'hx-get="/alerts/badge"' in page.text  # the nav's count
    assert "Spike: rumours about factory fire" in page.text
    assert "&lt;b&gt;fabrika&lt;/b&gt;" in page.text and "<b>fabrika</b>" not in page.text
    assert 'class="badge count alerts"' in agent.get("/alerts/badge").text
    assert ">1<" in agent.get("/alerts/badge").text
    detail = agent.get(f"/alerts/{alert}")
    assert detail.status_code == 200
    assert 'id="a-count">12<' in detail.text and 'id="a-baseline">1.5<' in detail.text

    answer = agent.post(f"/alerts/{alert}/ack", data={"csrf_token": desk.csrf(agent)})
    assert answer.status_code == 303 and answer.headers["location"].startswith(f"/alerts/{alert}")
    assert store.get_alert(alert)["acknowledged_by"] == "ayse"
    assert agent.get("/alerts/badge").text == ""
    editor = desk.login("eda")
    again = editor.post(f"/alerts/{alert}/ack", data={"csrf_token": desk.csrf(editor)})
    assert "already" in again.headers["location"]
    assert store.get_alert(alert)["acknowledged_by"] == "ayse"  # the first one stays
    assert "By ayse" in editor.get(f"/alerts/{alert}").text
    audit = store.db.execute(
        "select actor, action, subject from audit_log where action = 'alert.acknowledge'"
    ).fetchall()
    assert audit == [("ayse", "alert.acknowledge", f"alert:{alert}")]

    assert agent.get("/alerts/999").status_code == 404
    assert agent.get("/alerts/nope").status_code == 404
    assert agent.post("/alerts/999/ack", data={"csrf_token": desk.csrf(agent)}).status_code == 404
    assert agent.post(f"/alerts/{alert}/ack").status_code == 403  # no CSRF token
    assert desk.login("tim").get("/alerts").status_code == 403  # trainers do not see them


def test_alerts_list_and_ack_on_the_command_line(store, capsys):
    db = str(Desk(store).settings.db_path)
    first = raise_spike(store)
    assert cli(["--db", db, "alerts", "list"]) == 0
    out = capsys.readouterr().out
    assert "Spike: rumours about factory fire" in out and "bursa fabrikasi" in out
    assert cli(["--db", db, "alerts", "ack", str(first), "--by", "eda"]) == 0
    assert "acknowledged by eda" in capsys.readouterr().out
    assert cli(["--db", db, "alerts", "list", "--status", "unacknowledged"]) == 0
    assert capsys.readouterr().out.strip() == "(none)"
    assert cli(["--db", db, "alerts", "ack", "99"]) == 2
    assert "no alert 99" in capsys.readouterr().err


def test_the_alert_tables_hold_what_the_contract_names(store):
    columns = {r[1] for r in store.db.execute("pragma table_info(message_log)").fetchall()}
    assert {
        "id", "event_id", "channel", "sender_id", "message_id", "text", "intent",
        "confidence", "language", "incident_id", "topic", "at",
    } <= columns  # fmt: skip
    columns = {r[1] for r in store.db.execute("pragma table_info(alerts)").fetchall()}
    assert {
        "id", "kind", "topic", "intent", "incident_id", "window_minutes", "count", "baseline",
        "examples", "raised_at", "notified_at", "acknowledged_by", "acknowledged_at",
    } <= columns  # fmt: skip


def test_the_desk_runs_early_warning_on_its_live_feeds_broker_and_stops_it(
    demo_store, broker, tmp_path
):
    from bot import clock
    from bot.desk.live import LiveFeed

    desk = Desk(demo_store)
    desk.app.state.clock = clock.now  # the clock messages are stamped with, not a test's
    desk.app.state.live = LiveFeed(Path(desk.settings.db_path), tmp_path / "events.db")
    with desk.client():
        warning = desk.app.state.early_warning
        assert warning.broker_db == tmp_path / "events.db"
        assert warning.task is not None and not warning.task.done()
        running = warning.task
        for n in range(10):
            broker.publish(user_event(f"telegram:77{n:04d}", "bursa fabrikaniz yaniyor mu"))
        started = time.monotonic()
        while not demo_store.list_alerts() and time.monotonic() - started < 30:
            time.sleep(0.05)
        (alert,) = demo_store.list_alerts()
        assert (alert["topic"], alert["intent"], alert["count"]) == ("factory fire", "rumour", 10)
    assert running.done() and getattr(desk.app.state, "early_warning", None) is None


def test_the_rumours_page_shows_growth_against_the_rate_before(store):
    now = datetime.now(timezone.utc)
    steady = store.record_rumour("kuzey sut zam yapacak mi", "tr", "telegram:1", "telegram")
    for n in range(2, 9):
        store.record_rumour("kuzey sut zam yapacak mi", "tr", f"telegram:{n}", "telegram")
    old_askers(store, steady, now - timedelta(days=2))
    rising = store.record_rumour("is the new plant closing", "en", "telegram:20", "telegram")
    for n in range(21, 24):
        store.record_rumour("is the new plant closing", "en", f"telegram:{n}", "telegram")
    desk = Desk(store)
    desk.user("eda", "editor")
    editor = desk.login("eda")
    largest = editor.get("/rumours").text
    assert largest.index(f'id="rumour-{steady}"') < largest.index(f'id="rumour-{rising}"')
    growing = editor.get("/rumours?order=growing").text
    assert growing.index(f'id="rumour-{rising}"') < growing.index(f'id="rumour-{steady}"')
    assert "+4 in the last 60 min, 4× the rate before" in growing
    assert "+0 in the last 60 min</span>" in growing


async def test_a_long_backlog_is_read_a_batch_per_round_and_run_once_reads_it_all(
    store, broker, tmp_path
):
    from bot import message_log

    for n in range(message_log.BATCH + 20):
        broker.publish({"event": "bot", "sender_id": "rest:a", "text": f"reply {n}"})
    broker.publish(user_event("rest:a", "merhaba", "greet"))
    reader = MessageLog(store, tmp_path / "events.db", topics=lambda text: (None, ""))
    assert reader.read(batches=1) == 0 and reader.pending
    assert reader.read(batches=1) == 1 and not reader.pending

    store.set_inbox_cursor("message_log", 0)
    store.db.execute("delete from message_log")
    store.db.conn.commit()
    db = AsyncStore.of(store)
    warning = EarlyWarning(Path(db.path), tmp_path / "events.db", topics=lambda t: (None, ""))
    try:
        assert await warning.run_once() == (1, 0)
    finally:
        await warning.stop()
        db.close()


def test_real_rasa_messages_are_logged_with_the_nlus_intent_language_and_topic(demo_bot):
    """The broker rows of a running Rasa server (the session's demo bot), not hand-made ones."""
    from bot.store import Store

    sender = "h2-alerts-real"
    demo_bot.say(sender, "kuzey sut iflas mi ediyor dogru mu")
    demo_bot.say(sender, "hello")
    store = Store.open(demo_bot.db_path)
    try:
        reader = MessageLog(store, demo_bot.events_db)
        started = time.monotonic()
        mine: list = []
        while len(mine) < 2 and time.monotonic() - started < 30:  # the broker writes after replying
            if not reader.read():
                time.sleep(0.05)  # polling for a condition, not a fixed wait
            mine = [m for m in store.logged_messages() if m["sender_id"] == sender]
        rumour, hello = mine
        assert (rumour["channel"], rumour["intent"], rumour["language"]) == ("rest", "rumour", "tr")
        assert rumour["topic"] == "finance" and rumour["message_id"]
        assert (hello["intent"], hello["language"], hello["topic"]) == ("greet", "en", "")
    finally:
        store.close()
