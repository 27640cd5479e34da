"""`make bench` (channels): WhatsApp next to REST on one running bot, and a burst.

One Rasa server (with its action server) runs the REST and WhatsApp channels;
Twilio's Messages API is the loopback fake from tests/fake_twilio.py.

1. Latency, interleaved on the same server: REST round trip vs. signed WhatsApp
   webhook until the reply has arrived at the fake Twilio; p50/p95.
2. Burst: 2,000 messages from 200 customers (10 each, each customer's in order)
   through the WhatsApp webhook, plus Twilio-style retries of 100 of them and
   HTTP 500s for 2% of the sends. Throughput, and the proof: every inbound
   MessageSid handled once, with exactly one reply set at the fake (each outbox
   row sent once, nothing the fake received twice), none lost, order kept.
Bounded: the burst gives up after BURST_TIMEOUT seconds. Loopback only.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

os.environ.setdefault("LOG_LEVEL", "ERROR")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from bench_stats import summary  # noqa: E402

from bot.facts import import_facts, import_faqs  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fake_twilio import (  # noqa: E402
    FakeTwilio,
    WhatsAppCustomer,
    channel_env,
)
from tests.servers import Bot, running_bot  # noqa: E402

WORK = ROOT / "var/bench/channels"
MODEL = ROOT / "models/crisisdesk.tar.gz"
LATENCY_SENDERS = 10
BURST_SENDERS = 200
BURST_PER_SENDER = 10
BURST_RETRIES = 100
BURST_FAILURE_RATE = 0.02
BURST_TIMEOUT = 600.0


def settled(store: Store, message_sids: List[str]) -> bool:
    """Whether these inbound messages are handled and every reply to them has left the outbox."""
    marks = ", ".join("?" for _ in message_sids)
    unhandled = store.db.execute(
        f"select count(*) from inbound_messages where message_id in ({marks})"
        " and status = 'received'",
        message_sids,
    ).fetchone()[0]
    unsent = store.db.execute(
        f"select count(*) from outbox where answers in ({marks}) and status = 'pending'",
        message_sids,
    ).fetchone()[0]
    return unhandled == 0 and unsent == 0


def wait_settled(store: Store, message_sids: List[str], timeout: float) -> None:
    """Blocks until `settled`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not settled(store, message_sids):
        if time.monotonic() > deadline:
            raise SystemExit(f"not settled after {timeout}s")
        time.sleep(0.01)


def latency(bot: Bot, fake: FakeTwilio, store: Store, messages: List[str]) -> Dict[str, Dict]:
    """REST and WhatsApp, interleaved message by message on the same server."""
    rest: List[float] = []
    whatsapp: List[float] = []
    for sender in range(LATENCY_SENDERS):
        customer = WhatsAppCustomer(bot.rasa_url, f"+90555100{sender:04d}")
        for text in messages:
            started = time.perf_counter()
            if not bot.say(f"bench-rest-{sender}", text):
                raise SystemExit(f"REST: no reply to {text!r}")
            rest.append(time.perf_counter() - started)

            before = len(fake.messages_to(customer.address))
            started = time.perf_counter()
            sid = customer.send(text)
            arrived = fake.wait_for_messages(customer.address, before + 1, timeout=60)
            whatsapp.append(arrived[before].received_at - started)
            wait_settled(store, [sid], 60)  # a reply in several parts must not overlap the next
    return {"rest": summary(rest), "whatsapp": summary(whatsapp)}


def burst(bot: Bot, fake: FakeTwilio, store: Store, messages: List[str]) -> Dict:
    """2,000 messages from 200 customers; throughput and exactly-once accounting."""
    rng = random.Random(7)
    customers = [WhatsAppCustomer(bot.rasa_url, f"+90555200{i:04d}") for i in range(BURST_SENDERS)]
    plan = {
        c.address: [
            (WhatsAppCustomer.new_sid(), rng.choice(messages)) for _ in range(BURST_PER_SENDER)
        ]
        for c in customers
    }
    retried = rng.sample([sid for sends in plan.values() for sid, _ in sends], BURST_RETRIES)
    failures = round(BURST_SENDERS * BURST_PER_SENDER * BURST_FAILURE_RATE)
    fake.fail_next(failures, 500)
    sent_before = len(fake.sent)
    acks: List[float] = []

    def talk(customer: WhatsAppCustomer) -> None:
        for sid, text in plan[customer.address]:
            started = time.perf_counter()
            customer.send(text, message_sid=sid)
            acks.append(time.perf_counter() - started)

    def retry(sid: str) -> None:
        address = next(a for a, sends in plan.items() if any(s == sid for s, _ in sends))
        text = next(t for s, t in plan[address] if s == sid)
        customer = WhatsAppCustomer(bot.rasa_url, address.removeprefix("whatsapp:"))
        customer.send(text, message_sid=sid)

    all_sids = [sid for sends in plan.values() for sid, _ in sends]
    started = time.perf_counter()
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(talk, customers))
        list(pool.map(retry, retried))
    accepted = time.perf_counter() - started
    wait_settled(store, all_sids, BURST_TIMEOUT)
    elapsed = time.perf_counter() - started

    inbound = {
        row["message_id"]: row
        for row in store.list_inbound("whatsapp")
        if row["message_id"] in set(all_sids)
    }
    rows = [r for r in store.list_outgoing(channel="whatsapp") if r["answers"] in inbound]
    by_provider = {r["provider_id"]: r for r in rows}
    received = fake.sent[sent_before:]
    received_per_provider = Counter(m.sid for m in received)
    sets = Counter(by_provider[m.sid]["answers"] for m in received if m.sid in by_provider)
    rows_per_sid = Counter(r["answers"] for r in rows)
    # A conversation a person has taken over gets no bot replies: that is not a loss.
    handed_over = {h["sender_id"]: h["created_at"] for h in store.list_handoffs(status=None)}
    silent = [inbound[sid] for sid in all_sids if sets[sid] == 0]
    lost = [
        row
        for row in silent
        if row["sender"] not in handed_over or row["processed_at"] < handed_over[row["sender"]]
    ]
    order_kept = sum(
        [e["text"] for e in bot.tracker(address)["events"] if e["event"] == "user"]
        == [text for _, text in sends]
        for address, sends in plan.items()
    )
    return {
        "messages": len(all_sids),
        "senders": BURST_SENDERS,
        "webhook_retries_sent": BURST_RETRIES,
        "twilio_500s_injected": failures,
        "seconds_to_accept_all": round(accepted, 2),
        "seconds_until_every_reply_delivered": round(elapsed, 2),
        "messages_per_second": round(len(all_sids) / elapsed, 1),
        "webhook_ack": summary(acks),
        "inbound_recorded": len(inbound),
        "inbound_handled": sum(r["status"] == "processed" for r in inbound.values()),
        "silent_during_handoff": len(silent) - len(lost),
        "inbound_without_reply": len(lost),
        "replies_sent": sum(r["status"] == "sent" for r in rows),
        "replies_failed": sum(r["status"] == "failed" for r in rows),
        "replies_received_by_twilio": len(received),
        "received_twice_by_twilio": sum(1 for n in received_per_provider.values() if n > 1),
        "reply_sets_not_exactly_once": sum(1 for sid in all_sids if sets[sid] != rows_per_sid[sid]),
        "reply_set_sizes": dict(sorted(Counter(sets.values()).items())),
        "extra_attempts": sum(r["attempts"] - 1 for r in rows),
        "senders_in_order": order_kept,
    }


def main() -> None:
    """Starts the bot with the fake Twilio, measures, prints a table and JSON."""
    if not MODEL.is_file():
        raise SystemExit(f"no model at {MODEL}: run `make train`")
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    db = WORK / "crisisdesk.db"
    store = Store.open(db)
    import_facts(store, ROOT / "data/facts/demo.csv")
    import_faqs(store, ROOT / "data/facts/faq.csv")
    credentials = WORK / "credentials.yml"
    credentials.write_text(
        "bot.channels.rest.RestInput:\nbot.channels.whatsapp.WhatsAppInput:\n", encoding="utf-8"
    )
    # BaseLoader: every message stays a string ("no" is not False).
    messages = yaml.load((ROOT / "bench/latency_messages.yml").read_text(), yaml.BaseLoader)[
        "messages"
    ]
    with FakeTwilio() as fake:
        env = {**channel_env(fake, retry_max_seconds="2"), "LOG_LEVEL": "ERROR"}
        with running_bot(
            WORK / "run", MODEL, db_path=db, extra_env=env, credentials=credentials
        ) as bot:
            print("channels: warming up ...", flush=True)
            for i, text in enumerate(messages):
                bot.say(f"warmup-{i}", text)
            print("channels: latency, REST and WhatsApp interleaved ...", flush=True)
            timings = latency(bot, fake, store, messages)
            print(
                f"channels: burst of {BURST_SENDERS * BURST_PER_SENDER} messages "
                f"from {BURST_SENDERS} senders ...",
                flush=True,
            )
            load = burst(bot, fake, store, messages)
    store.close()
    report = {"latency": timings, "burst": load}
    rest, whatsapp = timings["rest"], timings["whatsapp"]
    print()
    print(f"{'':40}{'REST':>10}{'WhatsApp':>10}")
    print(f"{'reply latency p50 ms':40}{rest['p50_ms']:>10}{whatsapp['p50_ms']:>10}")
    print(f"{'reply latency p95 ms':40}{rest['p95_ms']:>10}{whatsapp['p95_ms']:>10}")
    print(
        f"burst: {load['messages']} messages from {load['senders']} senders in "
        f"{load['seconds_until_every_reply_delivered']} s = {load['messages_per_second']} msg/s "
        f"(webhook ack p95 {load['webhook_ack']['p95_ms']} ms)"
    )
    print(
        f"  handled {load['inbound_handled']}/{load['messages']}, without reply "
        f"{load['inbound_without_reply']} (+{load['silent_during_handoff']} silent during a "
        f"handoff), replies sent {load['replies_sent']} = received "
        f"{load['replies_received_by_twilio']}, received twice {load['received_twice_by_twilio']}, "
        f"order kept for {load['senders_in_order']}/{load['senders']} senders "
        f"({load['webhook_retries_sent']} webhook retries, "
        f"{load['twilio_500s_injected']} Twilio 500s)"
    )
    print()
    print(json.dumps(report))
    (WORK / "report.json").write_text(json.dumps(report, indent=2))
    ok = (
        load["inbound_handled"] == load["messages"]
        and load["inbound_without_reply"] == 0
        and load["received_twice_by_twilio"] == 0
        and load["replies_sent"] == load["replies_received_by_twilio"]
        and load["replies_failed"] == 0
        and load["reply_sets_not_exactly_once"] == 0
    )
    if not ok:
        raise SystemExit("burst: a message was lost or duplicated (see above)")


if __name__ == "__main__":
    main()
