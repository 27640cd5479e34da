"""Waiting customers are not forgotten: reminder, after-hours notice, staff Telegram chat.

The sweep runs for real over a real store, the desk's outbox and web chat; Twilio and
Telegram are the loopback fakes. Each sweep is called with the time it should
think it is, instead of waiting minutes.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from bot.desk.lifespan import stop_background, waiting_sweep
from bot.store import Store
from bot.waiting import NOTICE_LEASE, StaffedHours, iso, staff_text
from tests.desk_client import Desk
from tests.fake_telegram import TOKEN, FakeTelegram
from tests.fake_twilio import FakeTwilio, channel_env

PHONE = "whatsapp:+905321112233"
VISITOR = "webchat:" + "ab" * 16
UTC = timezone.utc
# Friday 4 December 2026, 20:00 in Istanbul (UTC+3): after hours.
FRIDAY_EVENING = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
# Monday 7 December 2026, 09:00 in Istanbul: the team is back.
MONDAY_NINE = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def open_handoff(store: Store, sender: str, channel: str, language: str, **extra) -> int:
    values = dict(
        sender_id=sender,
        channel=channel,
        reason="customer asked for a person",
        priority="normal",
        language=language,
        last_messages=[{"from": "customer", "text": "bir temsilciyle görüşmek istiyorum"}],
    )
    values.update(extra)
    handoff_id = store.open_handoff(**values)
    return handoff_id


def created(store: Store, handoff_id: int, at: datetime | None = None) -> datetime:
    """The handoff's creation time (set to `at` first, when given)."""
    if at is not None:
        store.db["handoffs"].update(handoff_id, {"created_at": iso(at)})
    return datetime.fromisoformat(store.get_handoff(handoff_id)["created_at"])


def texts(store: Store, channel: str) -> list:
    return [json.loads(row["payload"])["text"] for row in store.list_outgoing(channel=channel)]


def notices(store: Store, handoff_id: int) -> dict:
    return {n["kind"]: n["status"] for n in store.list_handoff_notices(handoff_id)}


# -- staffed hours ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, local, staffed",
    [
        ("Mon-Fri 09:00-18:00", "2026-12-07 09:00", True),  # Monday, opening minute
        ("Mon-Fri 09:00-18:00", "2026-12-07 17:59", True),
        ("Mon-Fri 09:00-18:00", "2026-12-07 18:00", False),  # the end is not staffed
        ("Mon-Fri 09:00-18:00", "2026-12-05 12:00", False),  # Saturday
        ("Mon-Fri 09:00-18:00; Sat 10:00-14:00", "2026-12-05 12:00", True),
        ("Fri 22:00-06:00", "2026-12-05 03:00", True),  # past midnight into Saturday
        ("Fri 22:00-06:00", "2026-12-04 21:00", False),
        ("Sat-Mon 00:00-24:00", "2026-12-06 23:59", True),  # a range across the week's end
        ("", "2026-12-06 03:00", True),  # empty: always staffed
    ],
)
def test_staffed_hours_are_read_in_the_configured_time_zone(spec, local, staffed):
    hours = StaffedHours.parse(spec, "Europe/Istanbul")
    at = datetime.fromisoformat(local).replace(tzinfo=hours.zone)
    assert hours.is_staffed(at) is staffed


def test_next_opening_and_the_start_of_the_shift():
    hours = StaffedHours.parse("Mon-Fri 09:00-18:00", "Europe/Istanbul")
    assert hours.next_opening(FRIDAY_EVENING) == MONDAY_NINE
    assert hours.describe(MONDAY_NINE, "tr") == "Pazartesi 09:00 (Europe/Istanbul)"
    assert hours.describe(MONDAY_NINE, "en") == "Monday 09:00 (Europe/Istanbul)"
    assert hours.shift_start(MONDAY_NINE + timedelta(hours=3)) == MONDAY_NINE
    assert hours.shift_start(FRIDAY_EVENING) is None
    overnight = StaffedHours.parse("Fri 22:00-06:00", "Europe/Istanbul")
    saturday_3am = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
    assert overnight.shift_start(saturday_3am) == datetime(2026, 12, 4, 19, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "spec, zone",
    [
        ("Mon-Fri 9-18", "Europe/Istanbul"),
        ("Mo-Fr 09:00-18:00", "Europe/Istanbul"),
        ("Mon 09:00-25:00", "Europe/Istanbul"),
        ("Mon-Fri 09:00-18:00", "Mars/Olympus"),
    ],
)
def test_unreadable_staffed_hours_are_refused_with_the_setting_named(store, spec, zone):
    desk = Desk(store, DESK_STAFFED_HOURS=spec, DESK_TIMEZONE=zone)
    with pytest.raises(ValueError, match="DESK_STAFFED_HOURS"):
        waiting_sweep(desk.app)


# -- the reminder ---------------------------------------------------------------------------


async def test_an_unclaimed_customer_gets_one_reminder_in_their_language(store, twilio):
    desk = Desk(store, **channel_env(twilio), DESK_REMINDER_MINUTES="10", RASA_TOKEN="t" * 32)
    sweep = waiting_sweep(desk.app)
    whatsapp = open_handoff(store, PHONE, "whatsapp", "tr")
    webchat = open_handoff(store, VISITOR, "webchat", "en")
    rest = open_handoff(store, "rest:someone", "rest", "en")
    claimed = open_handoff(store, "whatsapp:+905329998877", "whatsapp", "tr")
    store.claim_handoff(claimed, "ayse")
    start = created(store, whatsapp)
    try:
        assert (await sweep.sweep(start + timedelta(minutes=9)))["reminder"] == 0
        assert store.list_outgoing() == []

        done = await sweep.sweep(start + timedelta(minutes=10, seconds=5))
        assert done["reminder"] == 3
        sent = await asyncio.to_thread(twilio.wait_for_messages, PHONE, 1, 10)
        assert "Sizi unutmadık" in sent[0].body
        assert texts(store, "webchat") == [
            "We haven't forgotten you: your message is in the queue and a person from our"
            " team will write to you here as soon as possible. Thank you for waiting."
        ]
        assert notices(store, whatsapp) == {"reminder": "queued"}
        assert notices(store, webchat) == {"reminder": "queued"}
        assert notices(store, rest) == {"reminder": "skipped"}  # REST cannot be written to
        assert notices(store, claimed) == {}

        again = await sweep.sweep(start + timedelta(minutes=40))
        assert again["reminder"] == 0
        assert len(store.list_outgoing()) == 2
        assert [m.to for m in twilio.sent] == [PHONE]
    finally:
        await stop_background(desk.app)


async def test_a_reservation_left_by_a_dead_process_is_taken_over_after_the_lease(store, twilio):
    desk = Desk(store, **channel_env(twilio), DESK_REMINDER_MINUTES="10", RASA_TOKEN="t" * 32)
    sweep = waiting_sweep(desk.app)
    handoff = open_handoff(store, PHONE, "whatsapp", "en")
    start = created(store, handoff)
    # Another desk process reserved the reminder, then died before queueing it.
    assert store.claim_handoff_notice(handoff, "reminder")
    assert not store.claim_handoff_notice(handoff, "reminder")  # the reservation holds
    try:
        fresh = await sweep.sweep(start + timedelta(minutes=10))  # reserved 10 min ago at most
        assert fresh["reminder"] == 0 and store.list_outgoing() == []
        assert notices(store, handoff) == {"reminder": "pending"}

        late = await sweep.sweep(start + NOTICE_LEASE + timedelta(minutes=1))
        assert late["reminder"] == 1
        sent = await asyncio.to_thread(twilio.wait_for_messages, PHONE, 1, 10)
        assert "haven't forgotten you" in sent[0].body
        assert notices(store, handoff) == {"reminder": "queued"}
        # Recorded as ended: a later sweep leaves it alone.
        assert (await sweep.sweep(start + timedelta(hours=3)))["reminder"] == 0
        assert len(store.list_outgoing()) == 1
    finally:
        await stop_background(desk.app)


async def test_no_reminder_when_turned_off(store):
    desk = Desk(store, DESK_REMINDER_MINUTES="0", DESK_STAFFED_HOURS="Mon-Fri 09:00-18:00")
    sweep = waiting_sweep(desk.app)
    handoff = open_handoff(store, VISITOR, "webchat", "tr")
    created(store, handoff, MONDAY_NINE)
    try:
        done = await sweep.sweep(MONDAY_NINE + timedelta(hours=2))
        assert done == {"after_hours": 0, "reminder": 0, "staff_alert": 0}
        assert store.list_outgoing() == []
    finally:
        await stop_background(desk.app)


def test_nothing_to_sweep_means_no_task(store):
    desk = Desk(store, DESK_REMINDER_MINUTES="0")
    assert waiting_sweep(desk.app) is None


# -- outside staffed hours ------------------------------------------------------------------


async def test_after_hours_the_customer_is_told_when_to_expect_an_answer(store):
    desk = Desk(
        store,
        DESK_STAFFED_HOURS="Mon-Fri 09:00-18:00",
        DESK_TIMEZONE="Europe/Istanbul",
        DESK_REMINDER_MINUTES="10",
        RASA_TOKEN="t" * 32,  # the web chat's key
    )
    sweep = waiting_sweep(desk.app)
    turkish = open_handoff(store, VISITOR, "webchat", "tr")
    english = open_handoff(store, "webchat:" + "cd" * 16, "webchat", "en")
    for handoff in (turkish, english):
        created(store, handoff, FRIDAY_EVENING)
    try:
        done = await sweep.sweep(FRIDAY_EVENING + timedelta(seconds=15))
        assert done["after_hours"] == 2
        tr_text, en_text = texts(store, "webchat")
        assert "mesai dışında" in tr_text and "Pazartesi 09:00 (Europe/Istanbul)" in tr_text
        assert "Monday 09:00 (Europe/Istanbul)" in en_text

        # All weekend: no second notice and no reminder (nobody is there to claim).
        for later in (timedelta(minutes=30), timedelta(days=1)):
            assert await sweep.sweep(FRIDAY_EVENING + later) == {
                "after_hours": 0,
                "reminder": 0,
                "staff_alert": 0,
            }
        # Monday: the reminder counts staffed minutes only.
        assert (await sweep.sweep(MONDAY_NINE + timedelta(minutes=9)))["reminder"] == 0
        assert (await sweep.sweep(MONDAY_NINE + timedelta(minutes=10)))["reminder"] == 2
        assert notices(store, turkish) == {"after_hours": "queued", "reminder": "queued"}
        assert len(texts(store, "webchat")) == 4
    finally:
        await stop_background(desk.app)


# -- the staff chat --------------------------------------------------------------------------


def staff_env(telegram: FakeTelegram) -> dict:
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": telegram.base_url,
        "STAFF_TELEGRAM_CHAT_ID": "-1001234567",
        "PUBLIC_BASE_URL": "https://desk.example",
        "DESK_REMINDER_MINUTES": "0",
    }


async def test_a_new_high_priority_handoff_is_announced_once_with_customer_text_masked(
    store, telegram
):
    desk = Desk(store, **staff_env(telegram))
    sweep = waiting_sweep(desk.app)
    severe = open_handoff(
        store,
        PHONE,
        "whatsapp",
        "tr",
        reason="complaint: illness",
        priority="high",
        ticket_number="CD-000042",
        last_messages=[
            {"from": "customer", "text": "sutunuzden zehirlendim beni 05321112233 ten arayin"}
        ],
    )
    open_handoff(store, VISITOR, "webchat", "en")  # normal priority: not announced
    try:
        assert (await sweep.sweep(datetime.now(UTC)))["staff_alert"] == 1
        calls = telegram.sent_to(-1001234567)
        assert len(calls) == 1
        text = calls[0]["text"]
        assert f"#{severe}: severe complaint" in text
        assert "Language: Turkish" in text and "Channel: whatsapp" in text
        assert "Customer: whatsapp:+90*******233" in text
        assert f"https://desk.example/conversations/{severe}" in text
        assert "Ticket: CD-000042" in text
        assert "zehirlendim" in text
        assert "05321112233" not in text and "1112233" not in text
        assert "parse_mode" not in calls[0]  # plain text: customer words are never markup

        assert (await sweep.sweep(datetime.now(UTC)))["staff_alert"] == 0
        assert len(telegram.sent_to(-1001234567)) == 1
        assert notices(store, severe)["staff_alert"] == "sent"
    finally:
        await stop_background(desk.app)


async def test_the_staff_chat_down_is_retried_and_a_refusal_is_recorded(store, telegram):
    desk = Desk(store, **staff_env(telegram))
    sweep = waiting_sweep(desk.app)
    first = open_handoff(store, PHONE, "whatsapp", "tr", reason="bot failed: x", priority="high")
    try:
        telegram.fail_next("sendMessage", 500)
        assert (await sweep.sweep(datetime.now(UTC)))["staff_alert"] == 0
        assert notices(store, first) == {}  # not reserved: the next sweep tries again
        assert (await sweep.sweep(datetime.now(UTC)))["staff_alert"] == 1
        assert len(telegram.sent_to(-1001234567)) == 1

        second = open_handoff(
            store, "telegram:777", "telegram", "en", reason="bot failed: y", priority="high"
        )
        telegram.fail_next("sendMessage", 400)
        assert (await sweep.sweep(datetime.now(UTC)))["staff_alert"] == 1
        assert notices(store, second) == {"staff_alert": "failed"}
        await sweep.sweep(datetime.now(UTC))
        assert len(telegram.calls_to("sendMessage", ok_only=False)) == 3  # 500, 200, 400
    finally:
        await stop_background(desk.app)


def test_the_announcement_text_says_unknown_language_and_keeps_to_200_characters():
    handoff = {
        "id": 5,
        "kind": "asked_for_person",
        "reason": "customer asked for a person",
        "language": None,
        "channel": "webchat",
        "sender_id": VISITOR,
        "last_messages": [{"from": "customer", "text": "x" * 500}],
    }
    text = staff_text(handoff, "http://localhost:8000/")
    assert "Language: unknown" in text
    assert "x" * 199 + "…" in text and "x" * 200 not in text
    assert text.endswith("http://localhost:8000/conversations/5")
