"""Close and hand back: the bot asks for a 1-5 rating, stores it, then asks once for a comment."""

from __future__ import annotations

import pytest
from rasa_sdk.events import FollowupAction, SlotSet

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
    # The comment form's question thanks for the rating and asks for a comment.
    assert events == [
        SlotSet("pending", f"comment:{handoff_id}"),
        FollowupAction("rating_comment_form"),
    ]
    assert dispatcher.messages == []
    assert action_store.get_handoff(handoff_id)["rating"] == rating
    assert action_store.get_handoff(handoff_id)["comment_asked_at"]


async def test_a_second_rating_is_thanked_but_the_first_kept(action_store, dispatcher, domain):
    handoff_id = waiting_handoff(action_store)
    await ActionRateHandoff().run(dispatcher, rating_tracker(2, f"rating:{handoff_id}"), domain)
    await ActionRateHandoff().run(dispatcher, rating_tracker(5, f"rating:{handoff_id}"), domain)
    assert action_store.get_handoff(handoff_id)["rating"] == 2
    # The first is asked for a comment (by the form), the second only thanked.
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_thanks"]


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


# -- the comment after a rating ------------------------------------------------------------


def comment_tracker(text, intent, handoff_id, language="en"):
    return make_tracker(
        text,
        intent,
        slots={"pending": f"comment:{handoff_id}", "rating_comment": text},
        language=language,
    )


async def rated_handoff(store, dispatcher, domain, rating=4):
    handoff_id = waiting_handoff(store)
    store.close_handoff(handoff_id)
    await ActionRateHandoff().run(
        dispatcher, rating_tracker(rating, f"rating:{handoff_id}"), domain
    )
    return handoff_id


def test_the_comment_question_thanks_for_the_rating_and_offers_skip(domain):
    variants = domain["responses"]["utter_ask_rating_comment_form_rating_comment"]
    assert {v["condition"][0]["value"] for v in variants if "condition" in v} == {"tr", "en"}
    for variant in variants:
        assert [b["payload"] for b in variant["buttons"]] == ["/deny"]
    assert variants[0]["text"].startswith("Puanınız için teşekkürler!")
    slot = domain["slots"]["rating_comment"]["mappings"][0]
    assert slot["type"] == "from_text"
    assert slot["conditions"] == [
        {"active_loop": "rating_comment_form", "requested_slot": "rating_comment"}
    ]


async def test_a_comment_is_kept_scrubbed_once(action_store, dispatcher, domain):
    from actions.rating import ActionSaveRatingComment

    handoff_id = await rated_handoff(action_store, dispatcher, domain)
    text = "temsilci cok ilgiliydi ama 40 dakika bekledim, beni 0532 123 45 67 den arayin"
    events = await ActionSaveRatingComment().run(
        dispatcher, comment_tracker(text, "complaint", handoff_id, "tr"), domain
    )
    assert events == [SlotSet("rating_comment", None), SlotSet("pending", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_comment_thanks"]
    kept = action_store.get_handoff(handoff_id)
    assert kept["rating_comment"].startswith("temsilci cok ilgiliydi ama 40 dakika bekledim")
    assert "0532" not in kept["rating_comment"] and "<phone>" in kept["rating_comment"]
    assert kept["rating_comment_at"]
    # Asked once: a later message in the same state does not overwrite it.
    await ActionSaveRatingComment().run(
        dispatcher, comment_tracker("another one", "complaint", handoff_id), domain
    )
    assert action_store.get_handoff(handoff_id)["rating_comment"] == kept["rating_comment"]


@pytest.mark.parametrize(
    ("text", "intent"),
    [("/deny", "deny"), ("hayır", "deny"), ("Skip", "out_of_scope"), ("geç", "deny")],
)
async def test_the_customer_may_skip_the_comment(action_store, dispatcher, domain, text, intent):
    from actions.rating import ActionSaveRatingComment

    handoff_id = await rated_handoff(action_store, dispatcher, domain)
    await ActionSaveRatingComment().run(
        dispatcher, comment_tracker(text, intent, handoff_id), domain
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_comment_skipped"]
    assert action_store.get_handoff(handoff_id)["rating_comment"] == ""


async def test_a_rumour_instead_of_a_comment_is_answered_as_usual(action_store, dispatcher, domain):
    from actions.rating import ActionSaveRatingComment

    handoff_id = await rated_handoff(action_store, dispatcher, domain)
    events = await ActionSaveRatingComment().run(
        dispatcher, comment_tracker("kuzey sut iflas mi etti", "rumour", handoff_id, "tr"), domain
    )
    assert events[-1] == SlotSet("pending", "fact:bankruptcy")
    assert [m["response"] for m in dispatcher.messages] == ["utter_fact_false"]
    assert action_store.get_handoff(handoff_id)["rating_comment"] == ""


@pytest.mark.parametrize(
    ("text", "intent", "reply"),
    [("merhaba", "greet", "utter_greet"), ("thanks!", "thank", "utter_thank")],
)
async def test_small_talk_instead_of_a_comment_gets_its_usual_reply(
    action_store, dispatcher, domain, text, intent, reply
):
    from actions.rating import ActionSaveRatingComment

    handoff_id = await rated_handoff(action_store, dispatcher, domain)
    dispatcher.messages.clear()
    await ActionSaveRatingComment().run(
        dispatcher, comment_tracker(text, intent, handoff_id), domain
    )
    assert [m["response"] for m in dispatcher.messages] == [reply]
    assert action_store.get_handoff(handoff_id)["rating_comment"] == ""


async def test_a_longer_thank_you_is_a_comment(action_store, dispatcher, domain):
    from actions.rating import ActionSaveRatingComment

    handoff_id = await rated_handoff(action_store, dispatcher, domain)
    text = "temsilciniz cok yardimci oldu, tesekkurler"
    await ActionSaveRatingComment().run(
        dispatcher, comment_tracker(text, "thank", handoff_id, "tr"), domain
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_comment_thanks"]
    assert action_store.get_handoff(handoff_id)["rating_comment"] == text


async def test_a_model_without_the_comment_form_only_thanks(action_store, dispatcher, domain):
    """A model trained before the form (its domain has no forms) must not be sent to one."""
    handoff_id = waiting_handoff(action_store)
    old_domain = {k: v for k, v in domain.items() if k != "forms"}
    events = await ActionRateHandoff().run(
        dispatcher, rating_tracker(3, f"rating:{handoff_id}"), old_domain
    )
    assert events == [SlotSet("pending", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_rating_thanks"]
    assert action_store.get_handoff(handoff_id)["comment_asked_at"] is None
