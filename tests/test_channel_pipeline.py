"""The shared channel mechanism without servers: typed text, offered payloads, guards, the store.

Real SQLite, the real domain and real Rasa/rasa-sdk classes; no provider involved.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from rasa.core.channels.channel import CollectingOutputChannel
from rasa_sdk.events import ConversationPaused, UserUtteranceReverted

from actions.common import customer_text, is_payload
from actions.fallback import ActionFallback, rephrase_buttons
from actions.session import ActionSessionStart, ended_paused
from bot.channels.payloads import (
    CONTROL_INTENTS,
    as_text,
    button_payloads,
    domain_intents,
    payload_allowed,
    payload_intent,
)
from bot.channels.pipeline import MAX_REPLIES, GuardedOutput
from bot.store import Store
from bot.store.aio import AsyncStore
from bot.store.channels import KEPT_OFFERS
from tests.conftest import bot_event, make_tracker, user_event

ANA = "rest:ana"


# -- typed text is never a command ---------------------------------------------------------


@pytest.mark.parametrize(
    "typed, read",
    [
        ("/request_human", "request_human"),
        ('/complaint{"order_number":"X"}', 'complaint{"order_number":"X"}'),
        ("//restart", "restart"),
        ("/ kuzey sut iflas mi ediyor", "kuzey sut iflas mi ediyor"),
        ("/help@kuzeybot siparisim nerede", "help siparisim nerede"),
        ("  siparisim nerede ", "siparisim nerede"),
        ("1/2 litre sut bozuk", "1/2 litre sut bozuk"),
        ("/", ""),
    ],
)
def test_typed_text_loses_its_leading_slash_only(typed, read):
    assert as_text(typed) == read
    assert not as_text(typed).startswith("/")


def test_only_the_domains_own_intents_may_be_payloads():
    intents = domain_intents()
    assert {"affirm", "deny", "request_human", "complaint"} <= intents
    assert not intents & CONTROL_INTENTS
    assert payload_allowed("/affirm", intents)
    assert payload_allowed('/complaint{"order_number": "KS-1"}', intents)
    for forged in ("/restart", "/session_start", "/back", "/nlu_fallback", "/no_such_intent"):
        assert not payload_allowed(forged, intents), forged
    assert not payload_allowed("affirm", intents)
    assert payload_intent("/affirm@0.9{}") == "affirm"
    assert payload_intent("/kuzey sut") is None


def test_link_buttons_offer_no_payload():
    buttons = [
        {"title": "Evet", "payload": "/affirm"},
        {"title": "Site", "url": "https://kuzeysut.example"},
        {"title": "Site", "type": "web_url", "payload": "https://kuzeysut.example"},
        {"title": "Boş"},
    ]
    assert button_payloads(buttons) == ["/affirm"]


# -- offered payloads in the store ---------------------------------------------------------


def test_an_offered_payload_works_once_and_takes_its_offer_with_it(store: Store):
    store.offer_payloads("rest", ANA, ["/affirm", "/deny"])
    assert store.take_payload("rest", "rest:bora", "/affirm") is False  # offered to Ana only
    assert store.take_payload("telegram", ANA, "/affirm") is False  # on another channel
    assert store.take_payload("rest", ANA, "/request_human") is False  # never offered
    assert store.take_payload("rest", ANA, "/affirm") is True
    assert store.take_payload("rest", ANA, "/affirm") is False  # used
    assert store.take_payload("rest", ANA, "/deny") is False  # the question was answered


def test_older_offers_lapse(store: Store):
    for index in range(KEPT_OFFERS + 2):
        store.offer_payloads("rest", ANA, [f'/affirm{{"n": {index}}}'])
    kept = store.offered_payloads("rest", ANA)
    assert len(kept) == KEPT_OFFERS
    assert store.take_payload("rest", ANA, '/affirm{"n": 0}') is False
    assert store.take_payload("rest", ANA, f'/affirm{{"n": {KEPT_OFFERS + 1}}}') is True


# -- the guarded output ------------------------------------------------------------------


@pytest.fixture
def astore(tmp_path: Path):
    opened = AsyncStore(tmp_path / "crisisdesk.db")
    yield opened
    opened.close()


async def test_at_most_a_few_replies_get_through_per_message(astore):
    collector = CollectingOutputChannel()
    output = GuardedOutput(collector, astore, "rest")
    for index in range(3 * MAX_REPLIES):
        await output.send_response(ANA, {"text": f"Anlayamadım ({index})"})
    assert len(collector.messages) == MAX_REPLIES
    assert (output.sent, output.dropped) == (MAX_REPLIES, 2 * MAX_REPLIES)


async def test_a_silenced_output_says_nothing_and_offers_nothing(astore):
    collector = CollectingOutputChannel()
    output = GuardedOutput(collector, astore, "rest", silent=True)
    await output.send_response(
        ANA, {"text": "?", "buttons": [{"title": "E", "payload": "/affirm"}]}
    )
    assert collector.messages == [] and output.dropped == 1
    assert await astore.offered_payloads("rest", ANA) == []


async def test_buttons_passed_on_are_recorded_as_offered(astore):
    collector = CollectingOutputChannel()
    output = GuardedOutput(collector, astore, "rest")
    buttons = [{"title": "Evet", "payload": "/affirm"}, {"title": "Hayır", "payload": "/deny"}]
    await output.send_response(ANA, {"text": "Yardımcı oldu mu?", "buttons": buttons})
    assert collector.messages[0]["buttons"] == buttons
    assert set(await astore.offered_payloads("rest", ANA)) == {"/affirm", "/deny"}


# -- the store off the event loop ----------------------------------------------------------


async def test_a_locked_database_does_not_stop_the_event_loop(tmp_path: Path):
    """The CLI holding the write lock: the write waits in a thread, the loop keeps going."""
    astore = AsyncStore(tmp_path / "crisisdesk.db")
    cli = sqlite3.connect(str(tmp_path / "crisisdesk.db"), isolation_level=None)
    try:
        cli.execute("begin immediate")  # someone else's write transaction
        write = asyncio.ensure_future(astore.opt_out("whatsapp", "whatsapp:+905321110001"))
        ticks = 0
        while ticks < 20:  # the loop runs while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
        cli.execute("commit")
        assert await asyncio.wait_for(write, 10) is True
        assert await astore.is_opted_out("whatsapp", "whatsapp:+905321110001") is True
    finally:
        cli.close()
        astore.close()


# -- actions: what was typed, fallback guards, sessions --------------------------------------


def test_a_rumour_typed_with_a_slash_is_the_customers_text():
    typed = user_event("/kuzey sut iflas mi ediyor", "rumour")
    pressed = user_event("/affirm", "affirm", metadata={"crisisdesk": {"payload": True}})
    forged = user_event("affirm", "affirm", metadata={"crisisdesk": {"payload": False}})
    assert not is_payload(typed) and is_payload(pressed) and not is_payload(forged)
    tracker = make_tracker("/affirm", "affirm", history=[typed, bot_event("...")])
    assert customer_text(tracker) == "/kuzey sut iflas mi ediyor"


def test_rephrase_buttons_only_for_intents_with_a_title(domain):
    ranking = [
        {"name": "restart", "confidence": 0.5},
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "no_such_intent", "confidence": 0.3},
        {"name": "complaint", "confidence": 0.2},
        {"name": "request_human", "confidence": 0.1},
    ]
    buttons = rephrase_buttons(domain, ranking, "tr")
    assert [b["payload"] for b in buttons] == ["/complaint", "/request_human"]
    assert all(b["title"].strip() for b in buttons)
    assert rephrase_buttons(domain, ranking[:3], "en") == []


async def test_fallback_as_the_core_fallback_speaks_once_and_reverts(domain, dispatcher):
    tracker = make_tracker(
        "restart",
        "affirm",
        confidence=0.2,
        intent_ranking=[{"name": "restart", "confidence": 0.9}],
    )
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert events == [UserUtteranceReverted()]
    [asked] = dispatcher.messages
    assert asked["response"] == "utter_ask_rephrase" and asked["buttons"] == []

    tracker.events.append({"event": "action", "name": "action_fallback"})
    again = type(dispatcher)()
    assert await ActionFallback().run(again, tracker, domain) == [UserUtteranceReverted()]
    assert again.messages == []  # the prediction loop does not make it speak again


async def test_a_new_session_keeps_a_handoff_paused(domain, dispatcher):
    paused = [{"event": "action", "name": "action_handoff"}, {"event": "pause"}]
    assert ended_paused(paused) and not ended_paused(paused + [{"event": "resume"}])
    tracker = make_tracker("merhaba?", "greet", history=paused, slots={"language": "tr"})
    events = await ActionSessionStart().run(dispatcher, tracker, domain)
    names = [e["event"] for e in events]
    assert names == ["session_started", "slot", "pause", "action"]
    assert ConversationPaused() in events and events[-1]["name"] == "action_listen"
    resumed = make_tracker("merhaba", "greet", history=paused + [{"event": "resume"}])
    assert "pause" not in [
        e["event"] for e in await ActionSessionStart().run(dispatcher, resumed, domain)
    ]
