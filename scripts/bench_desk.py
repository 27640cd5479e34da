"""`make bench` (desk): the agents' desk over the real system, measured in one run.

A real Rasa server and action server (REST and WhatsApp channels), the fake
Twilio (tests/fake_twilio.py) and the desk app (bot/desk/app.py) under uvicorn
on the same SQLite store, its live feed tailing the Rasa server's SQL event
broker at the desk's default poll interval. One agent, logged in through the
login form like a browser, with the desk's session cookie and CSRF token.

1. Customer -> agent: a WhatsApp customer in a handoff the agent owns writes; the
   time from the signed webhook until the message is in the agent's open view,
   measured as the page does it: the conversation's server-sent event stream
   (`/conversations/{id}/live`) says `changed`, the page re-fetches
   `/conversations/{id}/messages`, and the text is in it. p50/p95 over 50
   messages; the `changed` event's own arrival alongside. The bot must stay
   silent throughout (checked at the fake Twilio).
2. Agent -> customer: the agent's reply (`POST /conversations/{id}/reply`) until
   the fake Twilio has accepted it; p50/p95 over 50 replies, interleaved with 1.
3. Queue under load: `/queue` (the page) and `/queue/items` (what the live page
   re-fetches) with 10 waiting handoffs in the store, then with 1,000: median and
   p95 over repeated requests, and the ratio 1,000 / 10, both in this run.
Loopback only; every wait is a condition with a timeout.
"""

from __future__ import annotations

import html
import json
import os
import queue
import random
import re
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

STARTED = time.perf_counter()  # the whole run, the heavy imports below included

os.environ.setdefault("LOG_LEVEL", "ERROR")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from bench_stats import summary  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.desk.app import create_app  # noqa: E402
from bot.desk.auth import hash_password  # noqa: E402
from bot.desk.live import POLL_SECONDS, LiveFeed  # noqa: E402
from bot.facts import import_facts, import_faqs  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.fake_twilio import FakeTwilio, WhatsAppCustomer, channel_env  # noqa: E402
from tests.servers import running_bot, serving_desk, wait_for  # noqa: E402

WORK = ROOT / "var/bench/desk"
MODEL = ROOT / "models/crisisdesk.tar.gz"
CREDENTIALS = "bot.channels.rest.RestInput:\nbot.channels.whatsapp.WhatsAppInput:\n"
AGENT = "ayse"
PASSWORD = "a long bench password 8"
ROUNDS = 50  # customer messages and agent replies, interleaved
QUEUE_SMALL = 10
QUEUE_LARGE = 1000
QUEUE_REQUESTS = 30  # per page and size, after QUEUE_WARMUP
QUEUE_WARMUP = 3
TIMEOUT = 60.0  # seconds any one condition may take
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


class LoopbackSession(requests.Session):
    """A cookie session that sends Secure cookies back to 127.0.0.1 over http, as Chromium does.

    The desk marks its cookies Secure because PUBLIC_BASE_URL is https (the URL the
    fake Twilio signs against); the bench reaches it on loopback without TLS.
    """

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:  # noqa: ANN003
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            if cookie.domain.startswith("127.0.0.1"):
                cookie.secure = False
        return response


class Agent:
    """An agent's browser: a cookie session logged in through the desk's form."""

    def __init__(self, base: str, name: str, password: str) -> None:
        self.base = base
        self.http = LoopbackSession()
        page = self.http.get(f"{base}/login", timeout=10)
        token = CSRF_FIELD.search(page.text).group(1)
        answer = self.http.post(
            f"{base}/login",
            data={"name": name, "password": password, "csrf_token": token, "next": ""},
            allow_redirects=False,
            timeout=10,
        )
        if answer.status_code != 303:
            raise SystemExit(f"desk login failed: {answer.status_code} {answer.text[:300]}")
        self.csrf = CSRF_META.search(self.get("/account").text).group(1)

    def get(self, path: str) -> requests.Response:
        answer = self.http.get(f"{self.base}{path}", timeout=TIMEOUT)
        answer.raise_for_status()
        return answer

    def post(self, path: str, data: Dict[str, str]) -> requests.Response:
        """A form POST as htmx sends it (CSRF header and field)."""
        answer = self.http.post(
            f"{self.base}{path}",
            data={**data, "csrf_token": self.csrf},
            headers={"HX-Request": "true", "X-CSRF-Token": self.csrf},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if answer.status_code >= 400:
            raise SystemExit(f"POST {path}: {answer.status_code} {answer.text[:300]}")
        return answer


@contextmanager
def event_stream(agent: Agent, path: str) -> Iterator[queue.Queue[Tuple[float, str]]]:
    """The SSE stream at `path` read in a thread: (arrival time, data) per `changed` event."""
    http = LoopbackSession()
    http.cookies.update(agent.http.cookies)
    arrived: queue.Queue[Tuple[float, str]] = queue.Queue()
    connected = threading.Event()
    response = http.get(f"{agent.base}{path}", stream=True, timeout=(10, None))
    response.raise_for_status()

    def read() -> None:
        event = ""
        try:
            for line in response.iter_lines(chunk_size=None, decode_unicode=True):
                if line == ": connected":
                    connected.set()
                elif line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "changed":
                    arrived.put((time.perf_counter(), line.removeprefix("data: ")))
                elif not line:
                    event = ""
        except (requests.RequestException, AttributeError, ValueError):
            pass  # closed at the end of the run

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not connected.wait(TIMEOUT):
        raise SystemExit(f"{path}: the event stream never connected")
    try:
        yield arrived
    finally:
        response.close()
        http.close()
        reader.join(5)


def next_event(events: queue.Queue[Tuple[float, str]], kind: str | None = None) -> float:
    """The arrival time of the next `changed` event (of Rasa event type `kind`, if given)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            at, data = events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise SystemExit(f"no `changed` event ({kind or 'any'}) in {TIMEOUT:.0f} s") from None
        if kind is None or data == kind:
            return at


def drain(events: queue.Queue[Tuple[float, str]]) -> None:
    while True:
        try:
            events.get_nowait()
        except queue.Empty:
            return


def handoff_latency(
    agent: Agent, fake: FakeTwilio, store: Store, customer: WhatsAppCustomer
) -> Dict[str, object]:
    """Customer -> agent's view and agent -> fake Twilio, ROUNDS each, interleaved."""
    customer.send("bir insanla konusmak istiyorum, canli destek lutfen")
    handoff = wait_for(
        lambda: store.open_handoff_for(customer.address), TIMEOUT, "the bench handoff"
    )
    # The bot's "a person will answer you" has gone out before the agent takes over.
    wait_for(lambda: fake.messages_to(customer.address), TIMEOUT, "the bot's handoff reply")
    agent.post(f"/queue/{handoff['id']}/claim", {})
    base = f"/conversations/{handoff['id']}"
    agent.get(base)  # the agent opens the conversation
    sent_before = len(fake.messages_to(customer.address))
    shown: List[float] = []
    feed: List[float] = []
    delivered: List[float] = []
    posted: List[float] = []
    # Each round starts just after the feed delivered the previous reply's event, i.e.
    # right after one of its looks; a real customer writes at any moment. A random
    # pause of up to one poll interval puts each message at a random point of it.
    phase = random.Random(8)
    with event_stream(agent, f"{base}/live") as events:
        for i in range(ROUNDS):
            text = f"siparis {48000 + i} hala gelmedi, kontrol eder misiniz? ({i + 1})"
            time.sleep(phase.uniform(0, POLL_SECONDS))
            drain(events)
            started = time.perf_counter()
            customer.send(text)
            first_event = None
            while True:
                at = next_event(events)
                first_event = first_event or at
                if html.escape(text, quote=False) in agent.get(f"{base}/messages").text:
                    shown.append(time.perf_counter() - started)
                    feed.append(first_event - started)
                    break

            words = f"Kontrol ediyorum, siparis {48000 + i} kargoda. ({i + 1})"
            before = len(fake.messages_to(customer.address))
            drain(events)
            started = time.perf_counter()
            agent.post(f"{base}/reply", {"text": words})
            posted.append(time.perf_counter() - started)
            arrived = fake.wait_for_messages(customer.address, before + 1, TIMEOUT)
            if arrived[before].body != words:
                raise SystemExit(f"fake Twilio got {arrived[before].body!r}, not the reply")
            delivered.append(arrived[before].received_at - started)
            # the reply's tracker event has reached the feed: the stream is quiet again
            next_event(events, "bot")
    inbound_done = wait_for(
        lambda: all(
            r["status"] != "received" for r in store.inbound_from("whatsapp", customer.address)
        ),
        TIMEOUT,
        "the customer's messages handled",
    )
    bot_spoke = len(fake.messages_to(customer.address)) - sent_before - ROUNDS
    return {
        "customer_to_agent_view": summary(shown),
        "customer_to_sse_event": summary(feed),
        "agent_reply_to_twilio": summary(delivered),
        "agent_reply_post": summary(posted),
        "bot_messages_during_handoff": bot_spoke,
        "customer_messages_handled": bool(inbound_done),
        "handoff_id": handoff["id"],
    }


def seed_waiting(store: Store, start: int, count: int) -> None:
    """`count` waiting handoffs as the bot opens them, with varied reasons and a few tickets."""
    reasons = [
        ("customer asked for a person", "normal"),
        ("severe complaint", "high"),
        ("bot did not understand", "normal"),
        ("bot failed", "high"),
    ]
    for n in range(start, start + count):
        sender = f"whatsapp:+90555300{n:04d}"
        language = "tr" if n % 3 else "en"
        reason, priority = reasons[n % len(reasons)]
        ticket = None
        if priority == "high":
            ticket = store.create_ticket(
                sender_id=sender,
                channel="whatsapp",
                text=f"urun {n} bozuk cikti, iade istiyorum",
                language=language,
                severity="high",
            ).number
        store.open_handoff(
            sender_id=sender,
            channel="whatsapp",
            reason=reason,
            priority=priority,
            language=language,
            ticket_number=ticket,
            last_messages=[
                {"from": "customer", "text": f"siparisim {n} nerede, canli destek lutfen"},
                {"from": "bot", "text": "Sizi bir temsilciye aktariyorum."},
            ],
            intents=[{"name": "ask_for_person", "confidence": 0.93}],
        )


def page_times(agent: Agent, path: str) -> Tuple[List[float], int]:
    """Response times (s) of QUEUE_REQUESTS GETs of `path` after a warm-up; the page size."""
    for _ in range(QUEUE_WARMUP):
        agent.get(path)
    times, size = [], 0
    for _ in range(QUEUE_REQUESTS):
        started = time.perf_counter()
        size = len(agent.get(path).content)
        times.append(time.perf_counter() - started)
    return times, size


def queue_load(agent: Agent, store: Store) -> Dict[str, object]:
    """The queue with QUEUE_SMALL waiting, then QUEUE_LARGE waiting, on the same desk."""
    found: Dict[str, object] = {}
    seed_waiting(store, 0, QUEUE_SMALL)
    for size, label in ((QUEUE_SMALL, "small"), (QUEUE_LARGE, "large")):
        if size == QUEUE_LARGE:
            seed_waiting(store, QUEUE_SMALL, QUEUE_LARGE - QUEUE_SMALL)
        waiting = sum(h["status"] == "waiting" for h in store.queue())
        if waiting != size:
            raise SystemExit(f"queue: {waiting} waiting in the store, expected {size}")
        shown = agent.get("/queue/items").text
        counted = re.search(r"data-waiting-count>(\d+)<", shown)
        if not counted or int(counted.group(1)) != size:
            raise SystemExit(f"queue: the page does not show {size} waiting")
        for path in ("/queue", "/queue/items"):
            times, body = page_times(agent, path)
            found[f"{path}@{label}"] = {
                "waiting": size,
                **summary(times),
                "kib": round(body / 1024, 1),
            }
    for path in ("/queue", "/queue/items"):
        small, large = found[f"{path}@small"], found[f"{path}@large"]
        found[f"{path}_p50_ratio"] = round(large["p50_ms"] / small["p50_ms"], 1)
    return found


def main() -> None:
    """Starts Rasa, the fake Twilio and the desk; measures; prints a table and JSON."""
    if not MODEL.is_file():
        raise SystemExit(f"no model at {MODEL}: run `make train`")
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    db = WORK / "crisisdesk.db"
    store = Store.open(db)
    import_facts(store, ROOT / "data/facts/demo.csv")
    import_faqs(store, ROOT / "data/facts/faq.csv")
    store.create_user(AGENT, "agent", hash_password(PASSWORD), must_change=False)
    credentials = WORK / "credentials.yml"
    credentials.write_text(CREDENTIALS, encoding="utf-8")
    with FakeTwilio() as fake:
        env = {**channel_env(fake), "LOG_LEVEL": "ERROR"}
        with running_bot(
            WORK / "run", MODEL, db_path=db, extra_env=env, credentials=credentials
        ) as bot:
            settings = Settings.from_env(
                {"CRISISDESK_DB": str(db), "RASA_URL": bot.rasa_url, "RASA_TOKEN": bot.token, **env}
            )
            app = create_app(settings)
            # as `make run` has it, but on this run's broker file: the default poll interval
            app.state.live = LiveFeed(db, bot.events_db, poll_seconds=POLL_SECONDS)
            with serving_desk(app) as desk:
                agent = Agent(desk, AGENT, PASSWORD)
                print("desk: warming up the bot ...", flush=True)
                for i in range(5):
                    bot.say(f"warmup-{i}", "kargom nerede")
                print(
                    f"desk: {ROUNDS} customer messages and {ROUNDS} agent replies ...", flush=True
                )
                customer = WhatsAppCustomer(bot.rasa_url, "+905551230001")
                handoff = handoff_latency(agent, fake, store, customer)
                print(
                    f"desk: queue with {QUEUE_SMALL} and {QUEUE_LARGE} waiting, "
                    f"{QUEUE_REQUESTS} requests each ...",
                    flush=True,
                )
                load = queue_load(agent, store)
    store.close()
    elapsed = round(time.perf_counter() - STARTED, 1)
    report = {
        "handoff": handoff,
        "queue": load,
        "live_feed_poll_seconds": POLL_SECONDS,
        "seconds": elapsed,
    }
    print()
    print(f"{'':44}{'p50 ms':>10}{'p95 ms':>10}")
    for key, label in (
        ("customer_to_agent_view", "customer message -> agent's view"),
        ("customer_to_sse_event", "  of which until the SSE `changed` event"),
        ("agent_reply_to_twilio", "agent reply -> fake Twilio"),
        ("agent_reply_post", "  agent's POST /reply answered"),
    ):
        row = handoff[key]
        print(f"{label:44}{row['p50_ms']:>10}{row['p95_ms']:>10}")
    print(
        f"  ({ROUNDS} of each; bot messages during the handoff: "
        f"{handoff['bot_messages_during_handoff']}; live feed polls every {POLL_SECONDS} s)"
    )
    print()
    print(f"{'queue':20}{'waiting':>9}{'p50 ms':>10}{'p95 ms':>10}{'KiB':>9}")
    for path in ("/queue", "/queue/items"):
        for label in ("small", "large"):
            row = load[f"{path}@{label}"]
            print(
                f"{path:20}{row['waiting']:>9}{row['p50_ms']:>10}{row['p95_ms']:>10}{row['kib']:>9}"
            )
        print(
            f"{'':20}{'ratio p50 ' + str(QUEUE_LARGE) + ' / ' + str(QUEUE_SMALL):>29}"
            f"{load[f'{path}_p50_ratio']:>10}"
        )
    print(f"({QUEUE_REQUESTS} requests each after {QUEUE_WARMUP} warm-up; whole run {elapsed} s)")
    print()
    print(json.dumps(report))
    (WORK / "report.json").write_text(json.dumps(report, indent=2))
    if handoff["bot_messages_during_handoff"] != 0:
        raise SystemExit("the bot talked during the handoff (see above)")


if __name__ == "__main__":
    main()
