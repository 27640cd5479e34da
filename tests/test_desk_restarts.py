"""Restarts and failures under a handoff, with the whole system running for real.

A real Rasa server and action server (tests/servers.py) with the REST, WhatsApp
and web chat channels, the fake Twilio at the edge (tests/fake_twilio.py), and the
desk under uvicorn on the same SQLite store, its live feed tailing Rasa's SQL event
broker. The agent is an HTTP client with a desk session; the web chat customer is
the page's own calls (/chat/send, /chat/events). One system serves the module; a
test that stops a server starts it again before it ends.

- The Rasa server restarted during a handoff: the conversation stays paused, what
  the customer wrote while it was down (the page keeps it and sends it again with
  the same id) and after it is back is all in the agent's view, the bot says
  nothing, the agent's reply reaches the page, and the hand-back works.
- The action server killed mid-conversation: the next message queues the
  conversation as "bot failed" and the customer is told a person will answer.
- An agent's reply is in Rasa's own tracker (HTTP API) as a bot message naming the
  agent, in the desk's transcript, and at the fake Twilio through the outbox.
- Agents' replies sent while the Rasa server is down reach the customer at once,
  show in the view as not yet in the bot's history, and are in Rasa's tracker each
  exactly once, in order, with their own times, after the server is back (the desk's
  retry loop); an event a dead desk process already appended is not appended again.

Every wait is a condition (`wait_for`), never a fixed sleep.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator, List, Tuple

import httpx
import pytest
import requests

from bot.channels.common import DomainResponses
from bot.desk.auth import SESSION_COOKIE
from bot.desk.history import agent_reply_event, owed_event
from bot.rasa_api import RasaClient
from bot.store import Store
from tests.fake_twilio import WhatsAppCustomer
from tests.servers import Bot, wait_for
from tests.system import System, running_system
from tests.test_desk_chat import Visitor

pytestmark = pytest.mark.slow

WAIT = 60  # seconds any one condition may take (the first replies after a start are slow)
ASK_FOR_A_PERSON = "canli destek istiyorum, bir insanla konusayim"


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[System]:
    with running_system(tmp_path_factory.mktemp("restarts")) as running:
        yield running


@pytest.fixture
def store(system) -> Iterator[Store]:
    opened = Store.open(system.db_path)
    yield opened
    opened.close()


@pytest.fixture
def agent(system, store) -> Iterator[Agent]:
    client = Agent(system.desk, store, "ayse")
    yield client
    client.close()


class Agent:
    """An agent's browser on the served desk: a live session (made in the store), CSRF token."""

    def __init__(self, base: str, store: Store, name: str) -> None:
        user = store.find_user(name) or store.create_user(
            name, "agent", "not-a-real-hash", must_change=False
        )
        self.base = base
        self.session, self.csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        store.create_session(
            self.session, user["id"], self.csrf, datetime.now(timezone.utc) + timedelta(hours=1)
        )
        self.http = self.browser_tab()

    def browser_tab(self) -> httpx.Client:
        """A client with the agent's session (the desk's cookie, sent over loopback http)."""
        client = httpx.Client(base_url=self.base, timeout=30, follow_redirects=False)
        client.cookies.set(SESSION_COOKIE, self.session)
        return client

    def post(self, path: str, **data: str) -> httpx.Response:
        return self.http.post(path, data={**data, "csrf_token": self.csrf})

    def claim(self, handoff_id: int) -> None:
        answer = self.post(f"/queue/{handoff_id}/claim")
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == f"/conversations/{handoff_id}"

    def reply(self, handoff_id: int, text: str) -> httpx.Response:
        return self.post(f"/conversations/{handoff_id}/reply", text=text)

    def close_handoff(self, handoff_id: int) -> None:
        answer = self.post(f"/conversations/{handoff_id}/close")
        assert answer.status_code == 204, answer.text

    def messages(self, handoff_id: int) -> str:
        """The conversation view's transcript and replies (what the live view re-fetches)."""
        answer = self.http.get(f"/conversations/{handoff_id}/messages")
        assert answer.status_code == 200, answer.text
        return answer.text

    def close(self) -> None:
        self.http.close()


class Customer(Visitor):
    """The web chat page's calls. The desk is set up as behind https (PUBLIC_BASE_URL),
    so its cookies are Secure; the test talks plain http on loopback and sends them anyway."""

    def open_page(self) -> str:
        page = super().open_page()
        for cookie in self.http.cookies.jar:
            cookie.secure = False
        return page

    def tab(self) -> httpx.Client:
        """Another connection of the same page (its event stream)."""
        return httpx.Client(base_url=self.base, cookies=self.http.cookies, timeout=30)


def customer_lines(page: str) -> List[str]:
    """The customer's messages in the conversation view, in order."""
    items = re.findall(r'<li class="msg customer">.*?<p class="text">(.*?)</p>', page, re.S)
    return [text.strip() for text in items]


@contextmanager
def reading_events(client: httpx.Client, path: str) -> Iterator[List[Tuple[str, str]]]:
    """A server-sent event stream read in a thread: the (event, data) pairs seen so far.

    The test waits on the list with `wait_for`, so a missing event fails in time
    instead of blocking on a stream that only sends keep-alives.
    """
    seen: List[Tuple[str, str]] = []
    connected = threading.Event()

    def read() -> None:
        event, data = "message", ""
        try:
            with client.stream("GET", path, timeout=None) as stream:
                assert stream.status_code == 200, stream.status_code
                for line in stream.iter_lines():
                    connected.set()
                    if not line:
                        if data:
                            seen.append((event, data))
                        event, data = "message", ""
                    elif line.startswith("event:"):
                        event = line.partition(":")[2].strip()
                    elif line.startswith("data:"):
                        data = line.partition(":")[2].strip()
        except (httpx.HTTPError, RuntimeError):
            pass  # the client is closed at the end

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(connected.is_set, WAIT, f"{path} connected")
        yield seen
    finally:
        client.close()


def handled(store: Store, channel: str, sender: str, count: int) -> bool:
    """Whether the channel finished handling `count` messages of `sender`."""
    rows = store.inbound_from(channel, sender)
    return len(rows) >= count and all(r["status"] != "received" for r in rows)


def user_texts(bot: Bot, sender: str) -> List[str]:
    return [e["text"] for e in bot.tracker(sender)["events"] if e["event"] == "user"]


def outbox_texts(store: Store, channel: str, sender: str) -> List[str]:
    return [json.loads(r["payload"]).get("text") or "" for r in store.outgoing_to(channel, sender)]


def rasa_down(bot: Bot) -> bool:
    try:
        requests.get(f"{bot.rasa_url}/", timeout=2)
    except requests.ConnectionError:
        return True
    return False


def test_rasa_restarted_during_a_handoff_keeps_it_paused_and_loses_nothing(system, store, agent):
    """Story: a web chat customer asks for a person and an agent takes the conversation;
    the Rasa server stops and starts again in the middle. The conversation stays with
    the agent: the bot says nothing, every message the customer wrote (while Rasa was
    down, and after) is in the agent's view, the agent's reply reaches the page, and
    the hand-back gives the conversation to the bot again."""
    bot = system.bot
    customer = Customer(system.desk)
    try:
        customer.open_page()
        sender = customer.conversation
        assert customer.send(ASK_FOR_A_PERSON).status_code == 202
        handoff = wait_for(lambda: store.open_handoff_for(sender), WAIT, "the handoff")
        wait_for(lambda: handled(store, "webchat", sender, 1), WAIT, "the request handled")
        agent.claim(handoff["id"])
        bot_said = len(store.outgoing_to("webchat", sender))
        assert bot_said >= 1  # the bot said a person will answer

        bot.stop("rasa")
        assert rasa_down(bot)
        # The page is told to try again (it keeps the message and sends the same id).
        while_down = "siparis numaram 48213, hala bekliyorum"
        again_id = secrets.token_hex(16)
        refused = customer.send(while_down, client_id=again_id)
        assert refused.status_code == 503, refused.text
        # The desk stays up and says why it has no transcript.
        assert "The transcript could not be read" in agent.messages(handoff["id"])

        bot.start("rasa")
        live = reading_events(agent.browser_tab(), f"/conversations/{handoff['id']}/live")
        with live as changes:
            sent = customer.send(while_down, client_id=again_id)
            assert sent.status_code == 202 and sent.json() == {"ok": True, "repeat": False}
            after = "kargo takip numarasi da gelmedi"
            assert customer.send(after).status_code == 202
            wait_for(lambda: handled(store, "webchat", sender, 3), WAIT, "both messages handled")
            # the agent's open view is told (Rasa's event broker, after the restart)
            wait_for(
                lambda: ("changed", "user") in changes, WAIT, "the live view told of the messages"
            )

        tracker = bot.tracker(sender)
        assert tracker["paused"] is True
        assert user_texts(bot, sender)[-3:] == [ASK_FOR_A_PERSON, while_down, after]
        assert customer_lines(agent.messages(handoff["id"]))[-3:] == [
            ASK_FOR_A_PERSON,
            while_down,
            after,
        ]
        assert [r["status"] for r in store.inbound_from("webchat", sender)] == ["processed"] * 3
        assert len(store.outgoing_to("webchat", sender)) == bot_said  # the bot said nothing

        page = reading_events(customer.tab(), f"/chat/events?after={customer.after}")
        with page as pushed:
            text = "Merhaba, ben Ayse. Kargonuza bakiyorum."
            answer = agent.reply(handoff["id"], text)
            assert answer.status_code == 200, answer.text
            [shown] = wait_for(
                lambda: [
                    json.loads(data)
                    for event, data in pushed
                    if event == "message" and json.loads(data)["text"] == text
                ],
                WAIT,
                "the agent's reply on the customer's page",
            )
        assert (shown["who"], shown["agent"]) == ("agent", "ayse")

        agent.close_handoff(handoff["id"])
        assert store.get_handoff(handoff["id"])["status"] == "closed"
        rows = wait_for(
            lambda: [
                r
                for r in store.outgoing_to("webchat", sender)[bot_said:]
                if "buttons" in json.loads(r["payload"])
            ],
            WAIT,
            "the bot's rating question",
        )
        buttons = json.loads(rows[0]["payload"])["buttons"]
        assert [b["payload"] for b in buttons] == [
            f'/rate_handoff{{"rating": "{n}"}}' for n in range(1, 6)
        ]
        assert bot.tracker(sender)["paused"] is False
        # The bot answers the next message again: the rating, then a greeting.
        said = len(store.outgoing_to("webchat", sender))
        customer.send(buttons[3]["payload"], kind="button", title=buttons[3]["title"])
        assert wait_for(lambda: store.get_handoff(handoff["id"])["rating"], WAIT, "rating") == 4
        wait_for(lambda: len(store.outgoing_to("webchat", sender)) > said, WAIT, "a thank-you")
        said = len(store.outgoing_to("webchat", sender))
        customer.send("merhaba")
        wait_for(lambda: len(store.outgoing_to("webchat", sender)) > said, WAIT, "a greeting")
        assert outbox_texts(store, "webchat", sender)[-1].startswith("Merhaba!")
    finally:
        customer.close()
        if rasa_down(bot):
            bot.start("rasa")


def test_the_action_server_killed_puts_the_conversation_in_the_queue_as_bot_failed(
    system, store, agent
):
    """Story: the action server dies in the middle of a WhatsApp conversation; the
    customer's next message puts the conversation in the agents' queue as "bot
    failed" (high priority) and the customer is told a person will answer."""
    bot, fake = system.bot, system.fake
    customer = WhatsAppCustomer(bot.rasa_url, "+905321110201")
    sender = customer.address
    try:
        customer.send("kuzey sut iflas mi ediyor dogru mu")  # answered by a custom action
        fake.wait_for_messages(sender, 1, WAIT)
        wait_for(lambda: handled(store, "whatsapp", sender, 1), WAIT, "the rumour handled")
        assert store.open_handoff_for(sender) is None
        told_before = len(fake.messages_to(sender))

        bot.stop("actions", kill=True)
        customer.send("sutunuzde camasir suyu var miymis")
        handoff = wait_for(lambda: store.open_handoff_for(sender), WAIT, "the bot-failed handoff")
        assert (handoff["kind"], handoff["priority"], handoff["status"]) == (
            "bot_failed",
            "high",
            "waiting",
        )
        assert handoff["reason"].startswith("bot failed")
        [queued] = [h for h in store.queue() if h["id"] == handoff["id"]]
        assert queued["last_messages"][-1]["text"] == "sutunuzde camasir suyu var miymis"

        expected = DomainResponses().render("utter_bot_failed_handoff", "tr")["text"]
        told = fake.wait_for_messages(sender, told_before + 1, WAIT)
        assert told[-1].body == expected
        assert outbox_texts(store, "whatsapp", sender)[-1] == expected
        wait_for(
            lambda: store.outgoing_to("whatsapp", sender)[-1]["status"] == "sent",
            WAIT,
            "the notice marked sent",
        )
        [row] = [r for r in store.inbound_from("whatsapp", sender)][-1:]
        assert row["status"] == "failed" and row["error"]
        assert bot.tracker(sender)["paused"] is True

        queue = agent.http.get("/queue/items")
        assert queue.status_code == 200
        item = re.search(rf'<tr id="handoff-{handoff["id"]}".*?</tr>', queue.text, re.S)
        assert item and 'data-kind="bot_failed"' in item.group(0)
        assert "bot failed" in item.group(0) and ">high<" in item.group(0)

        # A person has it now: the next message is kept for the agent, the bot is silent.
        customer.send("orada misiniz")
        wait_for(lambda: handled(store, "whatsapp", sender, 3), WAIT, "the next message")
        assert user_texts(bot, sender)[-1] == "orada misiniz"
        assert len(fake.messages_to(sender)) == told_before + 1
        assert [h["sender_id"] for h in store.list_handoffs(None)].count(sender) == 1
    finally:
        if bot.servers["actions"].process.poll() is not None:
            bot.start("actions")


def test_an_agents_reply_is_in_rasas_tracker_and_reaches_the_customer(system, store, agent):
    """Story: an agent answers a WhatsApp customer from the desk; the reply reaches the
    customer through the outbox and is in Rasa's own tracker as a bot message naming
    the agent, as the desk's transcript shows it."""
    bot, fake = system.bot, system.fake
    customer = WhatsAppCustomer(bot.rasa_url, "+905321110301")
    sender = customer.address
    customer.send(ASK_FOR_A_PERSON)
    handoff = wait_for(lambda: store.open_handoff_for(sender), WAIT, "the handoff")
    wait_for(lambda: handled(store, "whatsapp", sender, 1), WAIT, "the request handled")
    agent.claim(handoff["id"])
    before = len(fake.wait_for_messages(sender, 1, WAIT))

    text = "Merhaba, ben Ayse. Siparisinizi kontrol ediyorum."
    answer = agent.reply(handoff["id"], text)
    assert answer.status_code == 200, answer.text
    [sent] = fake.wait_for_messages(sender, before + 1, WAIT)[before:]
    assert sent.body == text
    [reply] = store.list_replies(sender)
    wait_for(
        lambda: store.get_outgoing(reply["outbox_id"])["status"] == "sent", WAIT, "outbox sent"
    )
    assert reply["in_tracker"] == 1 and reply["agent"] == "ayse"

    events = bot.tracker(sender)["events"]
    [recorded] = [e for e in events if e["event"] == "bot" and e.get("text") == text]
    assert recorded["metadata"]["agent"] == "ayse"
    assert recorded["metadata"]["sent_by"] == "desk"
    assert recorded["metadata"]["desk_reply_id"] == reply["id"]
    last_user = max(e["timestamp"] for e in events if e["event"] == "user")
    assert recorded["timestamp"] >= last_user  # after the customer's message
    assert bot.tracker(sender)["paused"] is True  # recording it did not wake the bot

    page = agent.messages(handoff["id"])
    assert re.search(
        r'<li class="msg agent">.*?agent ayse.*?<p class="text">' + re.escape(text) + "</p>",
        page,
        re.S,
    )
    assert 'data-status="sent"' in page or 'data-status="delivered"' in page


def test_replies_sent_while_rasa_is_down_are_in_the_tracker_once_rasa_is_back(
    system, store, agent
):
    """Story: the Rasa server is down when an agent answers a WhatsApp customer, twice.
    The customer gets both replies at once; the agent's view shows them, marked as not
    yet in the bot's history; once the server is back the desk's retry loop appends
    them to Rasa's tracker, each once, in order, with the time it was sent, as bot
    messages naming the agent."""
    bot, fake = system.bot, system.fake
    customer = WhatsAppCustomer(bot.rasa_url, "+905321110401")
    sender = customer.address
    texts = [
        "Merhaba, ben Ayse. Kargonuz yarin teslim edilecek.",
        "Takip numaraniz SMS ile gelecek.",
    ]
    try:
        customer.send(ASK_FOR_A_PERSON)
        handoff = wait_for(lambda: store.open_handoff_for(sender), WAIT, "the handoff")
        wait_for(lambda: handled(store, "whatsapp", sender, 1), WAIT, "the request handled")
        agent.claim(handoff["id"])
        before = len(fake.wait_for_messages(sender, 1, WAIT))

        bot.stop("rasa")
        assert rasa_down(bot)
        sent_at = time.time()
        for text in texts:
            answer = agent.reply(handoff["id"], text)
            assert answer.status_code == 200, answer.text
        sent = fake.wait_for_messages(sender, before + 2, WAIT)[before:]
        assert [m.body for m in sent] == texts  # the customer is not kept waiting for Rasa
        replies = store.list_replies(sender)
        assert [r["in_tracker"] for r in replies] == [0, 0]
        owed = store.list_tracker_appends(sender)
        assert [row["reply_id"] for row in owed] == [r["id"] for r in replies]
        page = html.unescape(agent.messages(handoff["id"]))
        assert "The transcript could not be read" in page
        for text in texts:
            assert re.search(
                r'<li class="msg agent">.*?agent ayse.*?'
                r"not yet in the bot's history.*?"
                r'<p class="text">' + re.escape(text) + "</p>",
                page,
                re.S,
            )

        started_at = time.time()
        bot.start("rasa")

        def in_tracker() -> list:
            events = bot.tracker(sender)["events"]
            return [e for e in events if e["event"] == "bot" and e.get("text") in texts]

        wait_for(lambda: len(in_tracker()) >= 2, WAIT, "the replies appended to Rasa's tracker")
        wait_for(
            lambda: (
                store.list_tracker_appends(sender) == []
                and all(store.get_reply(r["id"])["in_tracker"] == 1 for r in replies)
            ),
            WAIT,
            "the replies no longer owed",
        )
        recorded = in_tracker()  # each once, now that nothing is owed any more
        assert [e["text"] for e in recorded] == texts  # in the order they were sent
        assert [e["metadata"]["desk_reply_id"] for e in recorded] == [r["id"] for r in replies]
        for event in recorded:
            assert event["metadata"]["agent"] == "ayse"
            assert event["metadata"]["sent_by"] == "desk"
            assert sent_at <= event["timestamp"] < started_at  # the time it was sent
        assert bot.tracker(sender)["paused"] is True  # appending them did not wake the bot
        assert len(fake.messages_to(sender)) == before + 2  # and the customer got each once

        page = html.unescape(agent.messages(handoff["id"]))
        for text in texts:
            assert re.search(
                r'<li class="msg agent">.*?agent ayse.*?<p class="text">'
                + re.escape(text)
                + "</p>",
                page,
                re.S,
            )
        assert "not yet in the bot's history" not in page
    finally:
        if rasa_down(bot):
            bot.start("rasa")


def test_an_event_a_dead_holder_already_appended_is_not_appended_again(system, store):
    """A desk process leased a conversation's owed event, posted it to Rasa and died
    before it could forget the row (or its post timed out after Rasa took it). Once
    the lease runs out the running desk's retry loop takes the row over, finds the
    event in Rasa's tracker by its `desk_append_id`, and does not post it again."""
    bot = system.bot
    sender = "whatsapp:+905321110402"
    text = "Siparisiniz icin iade talebi olusturuldu."
    event = agent_reply_event(text, "ayse", time.time())
    # Owed and leased in one transaction, so that the running desk's loop cannot take
    # the row between the two (the insert opens the transaction the claim commits).
    store._insert_tracker_append(sender, event, None)
    [row] = store.claim_tracker_appends(sender, "dead-process", time.time(), lease_seconds=10)
    RasaClient(bot.rasa_url, bot.token).append_events(sender, [owed_event(row)])

    wait_for(lambda: store.list_tracker_appends(sender) == [], WAIT, "the row taken over")
    recorded = [e for e in bot.tracker(sender)["events"] if e.get("text") == text]
    assert len(recorded) == 1
    assert recorded[0]["metadata"]["desk_append_id"] == row["id"]
