"""A scripted incident for the post-crisis report: its tests and scripts/report_screenshot.py.

`seed(store, crisis_clock)` writes two hours of an incident through the real
Store's own methods while crisisdesk's clock (a CRISISDESK_CLOCK_FILE) is moved,
so every time stamp comes from the store as in production: messages in two
languages, two rumour groups (one answered after 70 minutes), two handoffs
(rated 5 and 2, with a comment), five "was this helpful?" answers (one yes),
an approved statement, an unanswered question asked twice and four
corrections (read, delivered, sent, failed).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot import clock
from bot import report as post_crisis
from bot.config import PROJECT_ROOT
from tests.conftest import open_handoff

PHONE_A = "whatsapp:+905551110001"
PHONE_B = "whatsapp:+905551110002"


class CrisisClock:
    """crisisdesk's clock at five past the next full hour, moved forward by `at`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        real = datetime.now(timezone.utc)
        start = real.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1, minutes=5)
        path.write_text(repr((start - real).total_seconds()))
        self.start = clock.now()

    def at(self, minutes: float) -> None:
        """Moves the clock to `minutes` after the start."""
        target = self.start + timedelta(minutes=minutes)
        clock.advance(self.path, (target - clock.now()).total_seconds())


def log(store, n: int, intent: str, language: str, sender: str = PHONE_A, topic="bleach"):
    for _ in range(n):
        event_id = store.last_logged_event() + 1
        store.log_message(
            {
                "event_id": event_id,
                "channel": "whatsapp",
                "sender_id": sender,
                "text": f"message {event_id}",
                "intent": intent,
                "language": language,
                "topic": topic,
                "at": post_crisis.stamp(clock.now()),
            }
        )


def seed(store, crisis_clock: CrisisClock) -> int:
    """An incident of two hours; returns its id."""
    from bot.facts import import_facts

    import_facts(store, PROJECT_ROOT / "data/facts/demo.csv")
    crisis_clock.at(0)
    incident_id = store.open_incident(
        name="Bleach rumour",
        severity="high",
        keywords=["bleach", "camasir suyu"],
        examples={"tr": ["sutte camasir suyu var mi"], "en": ["is there bleach in the milk"]},
        opened_by="eda",
    )
    statement = store.add_statement(
        incident_id, text_tr="Sütümüzde çamaşır suyu yok.", text_en="No bleach.", written_by="eda"
    )
    log(store, 3, "rumour", "tr")
    log(store, 1, "complaint", "en", sender=PHONE_B)
    rumour_a = store.record_rumour("sutte camasir suyu var mi", "tr", PHONE_A, "whatsapp")
    store.record_rumour("sutte camasir suyu var mi", "tr", PHONE_B, "whatsapp")
    crisis_clock.at(10)
    store.approve_statement(statement["id"], "can")
    crisis_clock.at(15)
    slow = open_handoff(store, sender=PHONE_A)
    fast = open_handoff(
        store, sender=PHONE_B, reason="complaint: health", priority="high", language="en"
    )
    crisis_clock.at(20)
    store.record_rumour("genel muduru tutuklamislar mi", "tr", PHONE_B, "whatsapp")
    store.claim_handoff(fast, "ayse")
    store.record_first_reply(fast)
    crisis_clock.at(45)
    store.claim_handoff(slow, "ayse")
    store.record_first_reply(slow)
    store.close_handoff(fast, "ayse")
    store.rate_handoff(fast, 5)
    crisis_clock.at(65)
    log(store, 5, "rumour", "tr")
    log(store, 2, "question", "en", sender=PHONE_B, topic="")
    for sender in (PHONE_A, PHONE_B):
        store.record_unanswered_question(sender, "whatsapp", "en", "when does the factory reopen")
    crisis_clock.at(70)
    store.answer_rumour(rumour_a, "bleach-in-milk", by="eda")
    for i, helpful in enumerate([True, False, False, False, False]):
        store.record_answer_feedback(
            f"whatsapp:+9055522200{i:02d}",
            "fact",
            "bleach-in-milk",
            helpful,
            message="is it true, call me 0532 123 45 67",
        )
    campaign = store.campaign_for(
        "fact:bleach-in-milk:1",
        "correction",
        "eda",
        fact_id="bleach-in-milk",
        fact_version=1,
        incident_id=incident_id,
    )
    for recipient, status in (
        (PHONE_A, "read"),
        (PHONE_B, "delivered"),
        ("whatsapp:+905551110003", "sent"),
        ("whatsapp:+905551110004", "failed"),
    ):
        store.add_delivery(campaign["id"], "whatsapp", recipient, "tr", status)
    crisis_clock.at(100)
    store.close_handoff(slow, "ayse")
    store.rate_handoff(slow, 2)
    store.ask_rating_comment(slow)
    store.save_rating_comment(slow, "waited long, call 0532 765 43 21")
    crisis_clock.at(110)
    return incident_id
