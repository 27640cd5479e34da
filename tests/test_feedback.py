"""Feedback per fact: answers kept with the message they were for; poor facts flagged to editors."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet

from actions.facts import ActionAnswerQuestion
from actions.feedback import ActionYesNo
from bot.config import Settings
from tests.conftest import bot_event, make_tracker, user_event
from tests.desk_client import Desk

ASKED = "kuzey sut iflas mi etti, beni 0532 123 45 67 den arayin"


def answered_then(answer: str, intent: str, fact_id: str = "bankruptcy", sender="customer-1"):
    """A tracker: the customer's claim, the bot's fact, then their yes or no (a button)."""
    history = [user_event(ASKED, "rumour", language="tr"), bot_event("❌ Yanlış ...")]
    return make_tracker(
        answer,
        intent,
        slots={"pending": f"fact:{fact_id}"},
        history=history,
        sender_id=sender,
        language="tr",
        metadata={"crisisdesk": {"payload": answer.startswith("/")}},
    )


async def test_an_answer_keeps_the_scrubbed_message_it_was_for(action_store, dispatcher, domain):
    events = await ActionYesNo().run(dispatcher, answered_then("/deny", "deny"), domain)
    assert events == [SlotSet("pending", "offer_human")]
    [row] = action_store.db["feedback"].rows
    assert (row["subject"], row["subject_id"], row["helpful"]) == ("fact", "bankruptcy", 0)
    assert row["message"].startswith("kuzey sut iflas mi etti")
    assert "0532" not in row["message"] and "<phone>" in row["message"]
    assert row["language"] == "tr"


async def test_a_typed_yes_points_back_to_the_claim_not_to_itself(action_store, dispatcher, domain):
    await ActionYesNo().run(dispatcher, answered_then("evet, sagolun", "affirm"), domain)
    [row] = action_store.db["feedback"].rows
    assert row["helpful"] == 1 and row["message"].startswith("kuzey sut iflas mi etti")


async def test_an_unanswerable_question_is_recorded_scrubbed(action_store, dispatcher, domain):
    text = "what is the airspeed velocity of a swallow, mail me at a@b.example"
    await ActionAnswerQuestion().run(
        dispatcher, make_tracker(text, "question", language="en"), domain
    )
    [row] = action_store.db["unanswered_questions"].rows
    assert row["text"].startswith("what is the airspeed velocity of a swallow")
    assert "a@b.example" not in row["text"] and row["language"] == "en"


def _answers(store, fact_id: str, yes: int, no: int) -> None:
    for i in range(yes + no):
        store.record_answer_feedback(
            f"whatsapp:+90555000{i:04d}",
            "fact",
            fact_id,
            i < yes,
            message=f"message {i} about {fact_id}, call 0532 123 45 {i:02d}",
            language="tr",
        )


@pytest.mark.parametrize(
    ("yes", "no", "flagged"),
    [(1, 4, True), (2, 3, True), (3, 2, False), (0, 4, False)],  # 0/4: too few answers
)
def test_poor_helpfulness_needs_enough_answers_and_a_low_share(demo_store, yes, no, flagged):
    _answers(demo_store, "bankruptcy", yes, no)
    poor = demo_store.poor_facts(min_answers=5, max_share=0.5)
    assert ("bankruptcy" in poor) is flagged
    [row] = demo_store.fact_helpfulness()
    assert (row["answers"], row["helpful"]) == (yes + no, yes)


def test_settings_set_the_flag_thresholds():
    cfg = Settings.from_env({"FEEDBACK_MIN_ANSWERS": "3", "FEEDBACK_HELPFUL_SHARE": "0.3"})
    assert (cfg.feedback_min_answers, cfg.feedback_helpful_share) == (3, 0.3)
    default = Settings.from_env({})
    assert (default.feedback_min_answers, default.feedback_helpful_share) == (5, 0.5)


def test_editors_see_the_flag_and_the_messages_behind_it(demo_store):
    _answers(demo_store, "bankruptcy", 1, 5)
    _answers(demo_store, "bleach-in-milk", 5, 0)
    desk = Desk(demo_store)
    desk.user("eda", "editor")
    desk.user("root", "admin")
    editor = desk.login("eda")
    page = editor.get("/facts")
    assert page.status_code == 200
    flagged = page.text.split('id="poor-title"', 1)[1].split("</section>", 1)[0]
    assert "bankruptcy" in flagged and "1 of 6" in flagged
    assert "bleach-in-milk" not in flagged
    fact = editor.get("/facts/bankruptcy")
    assert "poor helpfulness" in fact.text and "1 of 6 customers" in fact.text
    # Only the "no" answers' messages, phone numbers masked for an editor.
    assert "message 5 about bankruptcy" in fact.text
    assert "message 0 about bankruptcy" not in fact.text
    assert "0532 123 45 05" not in fact.text
    assert "0532 123 45 05" in desk.login("root").get("/facts/bankruptcy").text
    assert "poor helpfulness" not in editor.get("/facts/bleach-in-milk").text
