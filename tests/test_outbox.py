"""The outbox and its tables: ordered delivery, backoff, giving up, opt-outs, exactly-once marking.

Messages really go over HTTP to the fake Twilio through the real `TwilioSender`;
time is a settable clock, so backoff is checked without sleeping.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator, Callable, Iterator, List

import pytest

from bot.channels.twilio import TwilioSender
from bot.cli import channel_status, main
from bot.config import Settings
from bot.outbox import Outbox
from bot.store import Store
from bot.store.migrations import MIGRATIONS
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, FakeTwilio

ANA = "whatsapp:+905321110001"
BORA = "whatsapp:+905321110002"


class Clock:
    """Unix time that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_outbox(store: Store, fake: FakeTwilio) -> AsyncIterator[Callable[..., Outbox]]:
    """Builds outboxes with a real Twilio sender pointed at the fake; closes the senders."""
    senders: List[TwilioSender] = []

    def build(clock: Callable[[], float], auth_token: str = AUTH_TOKEN, **options: Any) -> Outbox:
        sender = TwilioSender(
            ACCOUNT_SID,
            auth_token,
            BOT_NUMBER,
            fake.base_url,
            "https://crisisdesk.example/webhooks/whatsapp/status",
        )
        senders.append(sender)
        defaults = dict(max_attempts=4, base_delay=2.0, max_delay=60.0, rng=lambda: 1.0)
        return Outbox(store, {"whatsapp": sender}, clock=clock, **{**defaults, **options})

    yield build
    for sender in senders:
        await sender.close()


def bodies(fake: FakeTwilio, recipient: str) -> List[str]:
    return [m.body for m in fake.messages_to(recipient)]


# -- store ---------------------------------------------------------------------------


def test_channel_tables_come_from_their_migrations(store):
    names = [name for name, _ in MIGRATIONS]
    assert {"0005_channels", "0007_offered_payloads"} <= set(names)
    assert names == sorted(names)
    assert {"outbox", "inbound_messages", "opt_outs", "offered_choices", "offered_payloads"} <= set(
        store.db.table_names()
    )


def test_inbound_message_ids_are_remembered_across_reopening(tmp_path):
    path = tmp_path / "x.db"
    store = Store.open(path)
    assert store.record_inbound("whatsapp", "SM1", ANA, "merhaba") is True
    assert store.record_inbound("whatsapp", "SM1", ANA, "merhaba") is False
    store.close()
    again = Store.open(path)
    assert again.record_inbound("whatsapp", "SM1", ANA, "başka") is False
    assert again.record_inbound("telegram", "SM1", "telegram:1", "x") is True
    [row] = again.list_inbound("whatsapp")
    assert (row["body"], row["status"]) == ("merhaba", "received")
    again.finish_inbound("whatsapp", "SM1", "failed", "boom")
    assert again.list_inbound("whatsapp", "failed")[0]["error"] == "boom"
    again.close()


def test_opt_out_and_back_in(store):
    assert store.is_opted_out("whatsapp", ANA) is False
    assert store.opt_out("whatsapp", ANA) is True
    assert store.opt_out("whatsapp", ANA) is False
    assert store.is_opted_out("whatsapp", ANA) is True
    assert store.is_opted_out("telegram", ANA) is False
    assert store.opt_in("whatsapp", ANA) is True
    assert store.opt_in("whatsapp", ANA) is False
    assert store.is_opted_out("whatsapp", ANA) is False


def test_offered_choices_answer_one_reply(store):
    options = [{"title": "Evet", "payload": "/affirm"}, {"title": "Hayır", "payload": "/deny"}]
    store.offer_choices("whatsapp", ANA, options)
    store.offer_choices("whatsapp", ANA, options[:1])
    assert store.take_choices("whatsapp", ANA) == options[:1]
    assert store.take_choices("whatsapp", ANA) == []


def test_a_message_is_claimed_and_marked_sent_once(store):
    first = store.enqueue_outgoing("whatsapp", ANA, {"text": "a"}, answers="SM1")
    assert store.claim_outgoing(first, at=10, lease_until=100) is True
    assert store.claim_outgoing(first, at=10, lease_until=100) is False  # leased
    assert store.mark_sent(first, "SMout") is True
    assert store.mark_sent(first, "SMout-again") is False
    row = store.get_outgoing(first)
    assert (row["status"], row["provider_id"], row["attempts"]) == ("sent", "SMout", 1)
    assert json.loads(row["payload"]) == {"text": "a"} and row["answers"] == "SM1"


def test_delivery_reports_never_move_a_message_back(store):
    outgoing = store.enqueue_outgoing("whatsapp", ANA, {"text": "a"})
    store.claim_outgoing(outgoing, 0, 0)
    store.mark_sent(outgoing, "SMx")
    assert store.update_delivery_status("whatsapp", "SMx", "delivered") is True
    assert store.update_delivery_status("whatsapp", "SMx", "sent") is True
    assert store.get_outgoing(outgoing)["delivery_status"] == "delivered"
    store.update_delivery_status("whatsapp", "SMx", "read")
    assert store.get_outgoing(outgoing)["delivery_status"] == "read"
    assert store.update_delivery_status("whatsapp", "SMunknown", "read") is False


# -- delivery -----------------------------------------------------------------------


async def test_messages_go_out_in_order_with_the_provider_id(store, fake, clock, make_outbox):
    outbox = make_outbox(clock)
    ids = [
        await outbox.enqueue("whatsapp", ANA, {"text": f"part {i}"}, answers="SMin") for i in (1, 2)
    ]
    assert await outbox.deliver_due() == 2
    assert bodies(fake, ANA) == ["part 1", "part 2"]
    sent = fake.messages_to(ANA)
    assert sent[0].from_ == f"whatsapp:{BOT_NUMBER}"
    assert sent[0].status_callback == "https://crisisdesk.example/webhooks/whatsapp/status"
    rows = [store.get_outgoing(i) for i in ids]
    assert [(r["status"], r["provider_id"]) for r in rows] == [("sent", m.sid) for m in sent]
    assert await outbox.deliver_due() == 0
    assert len(fake.sent) == 2


def test_backoff_is_exponential_capped_and_jittered(clock, make_outbox):
    outbox = make_outbox(clock, base_delay=2.0, max_delay=60.0, rng=lambda: 0.0)
    assert [outbox.retry_delay(n) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]
    outbox.rng = lambda: 0.999999
    assert [round(outbox.retry_delay(n)) for n in (1, 2, 3, 6, 7)] == [2, 4, 8, 60, 60]
    assert outbox.retry_delay(1, retry_after=45) == 45


async def test_500_then_200_sends_exactly_once_after_backoff(store, fake, clock, make_outbox):
    outbox = make_outbox(clock)
    fake.fail_next(2, 500)
    outgoing = await outbox.enqueue("whatsapp", ANA, {"text": "hello"}, answers="SMin")
    assert await outbox.deliver_due() == 0
    row = store.get_outgoing(outgoing)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "500" in row["last_error"]
    assert row["next_attempt_at"] == clock.now + 2.0
    assert await outbox.deliver_due() == 0  # not due yet: nothing is tried
    assert fake.requests == 1
    clock.now += 2.0
    assert await outbox.deliver_due() == 0
    assert store.get_outgoing(outgoing)["next_attempt_at"] == clock.now + 4.0
    clock.now += 4.0
    assert await outbox.deliver_due() == 1
    assert bodies(fake, ANA) == ["hello"]
    row = store.get_outgoing(outgoing)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 3, None)


async def test_a_failing_message_holds_back_later_ones_to_the_same_recipient_only(
    store, fake, clock, make_outbox
):
    outbox = make_outbox(clock)
    fake.fail_next(1, 503)
    await outbox.enqueue("whatsapp", ANA, {"text": "first"}, answers="SM1")
    await outbox.enqueue("whatsapp", ANA, {"text": "second"}, answers="SM1")
    await outbox.deliver_due()
    assert bodies(fake, ANA) == []
    await outbox.enqueue("whatsapp", BORA, {"text": "other"}, answers="SM2")
    await outbox.deliver_due()
    assert bodies(fake, ANA) == [] and bodies(fake, BORA) == ["other"]
    clock.now += 10
    await outbox.deliver_due()
    assert bodies(fake, ANA) == ["first", "second"]


async def test_429_waits_at_least_retry_after(store, fake, clock, make_outbox):
    outbox = make_outbox(clock)
    fake.fail_next(1, 429, retry_after="30")
    outgoing = await outbox.enqueue("whatsapp", ANA, {"text": "x"}, answers="SM1")
    await outbox.deliver_due()
    assert store.get_outgoing(outgoing)["next_attempt_at"] == clock.now + 30


async def test_provider_down_then_back(store, fake, clock, make_outbox):
    outbox = make_outbox(clock)
    fake.down()
    outgoing = await outbox.enqueue("whatsapp", ANA, {"text": "still here"}, answers="SM1")
    await outbox.deliver_due()
    clock.now += 10
    await outbox.deliver_due()
    row = store.get_outgoing(outgoing)
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert "unreachable" in row["last_error"]
    fake.up()
    clock.now += 10
    assert await outbox.deliver_due() == 1
    assert bodies(fake, ANA) == ["still here"]


async def test_a_timeout_is_retried(store, fake, clock, make_outbox):
    outbox = make_outbox(clock, send_timeout=0.3)
    fake.stall_next(1, 1.0)
    outgoing = await outbox.enqueue("whatsapp", ANA, {"text": "slow"}, answers="SM1")
    await outbox.deliver_due()
    assert "TimeoutError" in store.get_outgoing(outgoing)["last_error"]
    clock.now += 10
    await outbox.deliver_due()
    assert store.get_outgoing(outgoing)["status"] == "sent"
    assert bodies(fake, ANA) == ["slow"]


async def test_gives_up_after_max_attempts_and_keeps_the_message(store, fake, clock, make_outbox):
    outbox = make_outbox(clock, max_attempts=3)
    fake.fail_next(3, 500)
    outgoing = await outbox.enqueue("whatsapp", ANA, {"text": "x"}, answers="SM1")
    for _ in range(5):
        await outbox.deliver_due()
        clock.now += 100
    row = store.get_outgoing(outgoing)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["last_error"].startswith("gave up after 3 attempts")
    assert fake.requests == 3
    assert store.list_outgoing("failed")[0]["id"] == outgoing
    assert store.retry_outgoing(outgoing)["status"] == "pending"
    assert await outbox.deliver_due() == 1


async def test_a_refusal_fails_at_once(store, fake, clock, make_outbox):
    outbox = make_outbox(clock, auth_token="wrong")
    outgoing = await outbox.enqueue("whatsapp", ANA, {"text": "x"}, answers="SM1")
    await outbox.deliver_due()
    row = store.get_outgoing(outgoing)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "401" in row["last_error"]


async def test_proactive_messages_respect_opt_outs_replies_do_not_need_to(
    store, fake, clock, make_outbox
):
    outbox = make_outbox(clock)
    store.opt_out("whatsapp", ANA)
    proactive = await outbox.enqueue("whatsapp", ANA, {"text": "update"})
    reply = await outbox.enqueue("whatsapp", ANA, {"text": "answer"}, answers="SM9")
    await outbox.deliver_due()
    assert bodies(fake, ANA) == ["answer"]
    assert (store.get_outgoing(proactive)["status"], store.get_outgoing(reply)["status"]) == (
        "failed",
        "sent",
    )
    assert store.get_outgoing(proactive)["last_error"] == "opted out"


async def test_an_unknown_channel_is_refused_when_enqueueing(store, fake, clock, make_outbox):
    with pytest.raises(ValueError):
        await make_outbox(clock).enqueue("telegram", "telegram:1", {"text": "x"})


async def eventually(condition: Callable[[], object], what: str, timeout: float = 10) -> None:
    """Waits (without blocking the loop) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_background_loop_delivers_when_the_provider_comes_back(
    store, fake, clock, make_outbox
):
    outbox = make_outbox(clock, base_delay=30.0, max_delay=60.0, max_attempts=100)
    outbox.start()
    try:
        fake.down()
        outgoing = await outbox.enqueue("whatsapp", ANA, {"text": "queued while down"}, "SM1")
        # The attempt is counted when the row is claimed (with a lease), the retry is
        # scheduled once the provider has refused: wait for the second.
        await eventually(
            lambda: store.get_outgoing(outgoing)["next_attempt_at"] == clock.now + 30.0,
            "the retry to be scheduled",
        )
        row = store.get_outgoing(outgoing)
        assert row["status"] == "pending" and row["attempts"] == 1
        fake.up()
        clock.now += 29.0  # not due yet: the loop waits
        outbox.wake()
        await eventually(lambda: not outbox._wakeup.is_set(), "the loop to look again")
        assert store.get_outgoing(outgoing)["attempts"] == 1 and fake.sent == []
        clock.now += 1.0
        outbox.wake()
        await eventually(lambda: store.get_outgoing(outgoing)["status"] == "sent", "sent")
        assert bodies(fake, ANA) == ["queued while down"]
        assert store.get_outgoing(outgoing)["attempts"] == 2
        await outbox.deliver_due()  # nothing is due any more: nothing is sent again
        assert len(fake.sent) == 1
    finally:
        await outbox.stop()


# -- the command line ------------------------------------------------------------------


def test_outbox_list_and_retry_from_the_command_line(store, capsys):
    failed = store.enqueue_outgoing("whatsapp", ANA, {"text": "Merhaba"}, answers="SM1")
    store.claim_outgoing(failed, 0, 0)
    store.mark_failed(failed, "gave up after 20 attempts: twilio HTTP 500")
    sent = store.enqueue_outgoing("whatsapp", BORA, {"text": "Selam"}, answers="SM2")
    store.claim_outgoing(sent, 0, 0)
    store.mark_sent(sent, "SMx")
    db = store.db.conn.execute("pragma database_list").fetchone()[2]

    assert main(["--db", db, "outbox", "list", "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert "whatsapp:+90*******001" in out and ANA not in out
    assert "gave up after 20 attempts" in out and "Selam" not in out
    assert main(["--db", db, "outbox", "list", "--json"]) == 0
    assert [row["recipient"] for row in json.loads(capsys.readouterr().out)] == [ANA, BORA]

    assert main(["--db", db, "outbox", "retry", str(failed)]) == 0
    assert "queued again" in capsys.readouterr().out
    assert store.get_outgoing(failed)["status"] == "pending"
    assert main(["--db", db, "outbox", "retry", str(sent)]) == 2
    assert main(["--db", db, "outbox", "retry", "999"]) == 2


def test_channels_says_whether_whatsapp_is_on_and_what_is_missing():
    off = {name: (on, detail) for name, on, detail in channel_status(Settings.from_env({}))}
    assert off["whatsapp"] == (
        False,
        "set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_NUMBER, PUBLIC_BASE_URL"
        " in .env",
    )
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": BOT_NUMBER,
        "PUBLIC_BASE_URL": "https://crisisdesk.example/",
    }
    on = {name: (up, detail) for name, up, detail in channel_status(Settings.from_env(env))}
    assert on["whatsapp"][0] is True
    assert on["whatsapp"][1].startswith("https://crisisdesk.example/webhooks/whatsapp/webhook ")
