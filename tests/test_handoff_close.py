"""Close and hand back: the bot thanks the customer, asks for a 1-5 rating, stores it."""

from __future__ import annotations

import pytest
from rasa_sdk.events import SlotSet

from actions.handoff import ActionHandoffClosed
from actions.rating import ActionRateHandoff
from tests.conftest import make_tracker


def rating_tracker(rating, pending, language="en"):
    payload = f'/rate_handoff{{"rating": "{rating}"}}'
    entities = [{"entity": "rating", "value": str(rating)}] if rating is not None else []
    return make_tracker(
        payload, "rate_handoff", slots={"pending": pending}, entities=entities, language=language
    )


def waiting_handoff(store, sender="customer-1"):
    return store.open_handoff(
        sender_id=sender,
        channel="whatsapp",
        reason="customer asked for a person",
        priority="normal",
        language="en",
        last_messages=[],
    )


def test_the_rating_question_has_five_buttons_in_each_language(domain):
    for variant in domain["responses"]["utter_handoff_closed"]:
        payloads = [b["payload"] for b in variant["buttons"]]
        assert payloads == [f'/rate_handoff{{"rating": "{n}"}}' for n in range(1, 6)]


async def test_closing_asks_for_a_rating_of_that_handoff(action_store, dispatcher, domain):
    handoff_id = waiting_handoff(action_store)
    events = await ActionHandoffClosed().run(dispatcher, make_tracker("x", "thank"), domain)
    assert events == [SlotSet("pending", f"rating:{handoff_id}")]
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_closed"]


@pytest.mark.parametrize("rating", [1, 3, 5])
async def test_a_rating_is_stored_with_the_handoff(action_store, dispatcher, domain, rating):
    handoff_id = waiting_handoff(action_store)
    action_store.close_handoff(handoff_id)
    events = await ActionRateHandoff().run(
        dispatcher, rating_tracker(rating, f"rating:{handoff_id}"), domain
    )
    assert events == [SlotSet("pending", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_thanks"]
    assert action_store.get_handoff(handoff_id)["rating"] == rating


async def test_a_second_rating_is_thanked_but_the_first_kept(action_store, dispatcher, domain):
    handoff_id = waiting_handoff(action_store)
    await ActionRateHandoff().run(dispatcher, rating_tracker(2, f"rating:{handoff_id}"), domain)
    await ActionRateHandoff().run(dispatcher, rating_tracker(5, f"rating:{handoff_id}"), domain)
    assert action_store.get_handoff(handoff_id)["rating"] == 2
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_thanks"] * 2


@pytest.mark.parametrize("rating", [None, 0, 6, "x"])
async def test_a_rating_out_of_range_asks_again_and_stores_nothing(
    action_store, dispatcher, domain, rating
):
    handoff_id = waiting_handoff(action_store)
    events = await ActionRateHandoff().run(
        dispatcher, rating_tracker(rating, f"rating:{handoff_id}"), domain
    )
    assert events == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_invalid"]
    assert action_store.get_handoff(handoff_id)["rating"] is None


async def test_a_rating_with_no_handoff_asked_about_stores_nothing(
    action_store, dispatcher, domain
):
    handoff_id = waiting_handoff(action_store)
    await ActionRateHandoff().run(dispatcher, rating_tracker(4, "fact:bankruptcy"), domain)
    await ActionRateHandoff().run(dispatcher, rating_tracker(4, "rating:99999"), domain)
    assert action_store.get_handoff(handoff_id)["rating"] is None
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_thanks"] * 2
