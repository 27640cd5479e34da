"""Every action with a real Tracker, CollectingDispatcher and the real domain."""

from __future__ import annotations

import json

import pytest
from rasa_sdk.events import ConversationPaused, SlotSet

from actions.complaints import ActionLogComplaint
from actions.facts import ActionAnswerQuestion, ActionAnswerRumour, utter_fact
from actions.fallback import ActionFallback
from actions.feedback import ActionYesNo
from actions.handoff import ActionHandoff, ActionHandoffClosed
from bot.channels.common import DomainResponses
from bot.config import settings
from tests.conftest import bot_event, make_tracker, user_event


async def run(action, dispatcher, tracker, domain):
    return await action.run(dispatcher, tracker, domain)


# -- rumours and questions -------------------------------------------------------------


async def test_rumour_with_matching_fact_gets_verdict_answer_and_source(
    action_store, dispatcher, domain
):
    tracker = make_tracker("kuzey sut iflas mi etti, batiyormussunuz", "rumour", language="tr")
    events = await run(ActionAnswerRumour(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", "fact:bankruptcy")]
    [message] = dispatcher.messages
    assert message["response"] == "utter_fact_false"
    fact = action_store.get_fact("bankruptcy")
    assert message["answer"] == fact["answer_tr"]
    assert message["source_url"] == fact["source_url"]


async def test_rumour_in_english_gets_english_answer(action_store, dispatcher, domain):
    tracker = make_tracker("is it true you put bleach in the milk?", "rumour", language="en")
    events = await run(ActionAnswerRumour(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", "fact:bleach-in-milk")]
    assert dispatcher.messages[0]["answer"] == action_store.get_fact("bleach-in-milk")["answer_en"]


async def test_unknown_rumour_is_recorded_with_its_asker(action_store, dispatcher, domain):
    text = "genel muduru tutuklamislar dogru mu"
    for sender in ("alice", "bob", "alice"):
        dispatcher.messages.clear()
        tracker = make_tracker(text, "rumour", language="tr", sender_id=sender)
        events = await run(ActionAnswerRumour(), dispatcher, tracker, domain)
        assert events == [SlotSet("pending", None)]
        assert [m["response"] for m in dispatcher.messages] == ["utter_rumour_checking"]
    [rumour] = action_store.list_rumours("open")
    assert rumour["text"] == text
    assert rumour["ask_count"] == 3
    assert rumour["language"] == "tr"
    assert sorted(a["sender_id"] for a in action_store.rumour_askers(rumour["id"])) == [
        "alice",
        "bob",
    ]


async def test_draft_fact_never_reaches_a_customer(action_store, dispatcher, domain):
    action_store.set_fact_status("bankruptcy", "draft")
    tracker = make_tracker("kuzey sut iflas mi etti, batiyor mu", "rumour", language="tr")
    await run(ActionAnswerRumour(), dispatcher, tracker, domain)
    assert [m["response"] for m in dispatcher.messages] == ["utter_rumour_checking"]


async def test_question_answered_from_faq_with_source(action_store, dispatcher, domain):
    tracker = make_tracker(
        "bir urunu nasil iade ederim, paramı nasil geri alirim",
        "question",
        language="tr",
    )
    events = await run(ActionAnswerQuestion(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", None)]
    faq = next(f for f in action_store.published_faqs() if f["id"] == "return-refund")
    assert dispatcher.messages[0]["response"] == "utter_faq_answer"
    assert dispatcher.messages[0]["answer"] == faq["answer_tr"]
    if faq["source_url"]:
        assert dispatcher.messages[1]["source_url"] == faq["source_url"]


async def test_unanswerable_question_offers_a_person(action_store, dispatcher, domain):
    tracker = make_tracker("what is the airspeed velocity of a swallow", "question", language="en")
    events = await run(ActionAnswerQuestion(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", "offer_human")]
    assert [m["response"] for m in dispatcher.messages] == ["utter_question_unknown"]


async def test_button_payload_uses_the_text_the_customer_typed(action_store, dispatcher, domain):
    typed = "kuzey kart uygulamaniz hacklendi mi veriler calindi mi"
    history = [user_event(typed, "nlu_fallback", language="tr")]
    tracker = make_tracker("/rumour", "rumour", history=history)
    events = await run(ActionAnswerRumour(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", "fact:kuzey-kart-breach")]
    assert (
        dispatcher.messages[0]["answer"] == action_store.get_fact("kuzey-kart-breach")["answer_tr"]
    )


def rendered(message, language):
    """The text the customer reads: the domain variant for `language`, filled in."""
    template = DomainResponses().render(message["response"], language)["text"]
    return template.format(**message)


@pytest.mark.parametrize(
    ("text", "language", "fact_id", "opening"),
    [
        (
            "sutunuzde camasir suyu yok degil mi",
            "tr",
            "bleach-in-milk",
            "❌ Yanlış: “Kuzey Süt sütünde plastik, çamaşır suyu veya kostik soda var”"
            " iddiası doğru değil.",
        ),
        (
            "you are NOT laying off 500 workers, right?",
            "en",
            "layoffs-500",
            "❌ False: the claim that Kuzey Süt is laying off 500 workers.",
        ),
        (
            "kuzey sut iflas etmiyor degil mi",
            "tr",
            "bankruptcy",
            "❌ Yanlış: “Kuzey Süt iflas ediyor ve şirket satılıyor” iddiası doğru değil.",
        ),
        (
            "there is no hormones in your milk, right?",
            "en",
            "hormones-antibiotics",
            "❌ False: the claim that Kuzey Süt milk contains hormones and antibiotics.",
        ),
    ],
)
async def test_a_negated_claim_is_answered_with_the_claim_named(
    action_store, dispatcher, domain, text, language, fact_id, opening
):
    tracker = make_tracker(text, "rumour", language=language)
    events = await run(ActionAnswerRumour(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", f"fact:{fact_id}")]
    [message] = dispatcher.messages
    assert rendered(message, language).startswith(opening + "\n\n")


@pytest.mark.parametrize(
    ("fact_id", "language", "opening"),
    [
        (
            "yogurt-recall-l2311",
            "en",
            "✅ True: the claim that Kuzey Süt is recalling a batch of its yogurt because"
            " something dangerous was found inside is correct.",
        ),
        ("yogurt-recall-l2311", "tr", "✅ Doğru: “Kuzey Süt, içinde tehlikeli bir şey"),
        (
            "cheese-worms-video",
            "en",
            "⚠️ Misleading: the claim that a viral video shows worms in Kuzey Süt cheese.",
        ),
        ("cheese-worms-video", "tr", "⚠️ Yanıltıcı: “Viral bir video Kuzey Süt peynirinde"),
        (
            "kuzey-kart-breach",
            "en",
            "🔎 Not verified yet: we are investigating the claim that the Kuzey Kart app was"
            " hacked",
        ),
        ("kuzey-kart-breach", "tr", "🔎 Henüz doğrulanmadı: “Kuzey Kart uygulaması hacklendi;"),
        (
            "layoffs-500",
            None,
            "❌ Yanlış: “Kuzey Süt 500 çalışanını işten çıkarıyor” iddiası doğru değil. / False:"
            " the claim that Kuzey Süt is laying off 500 workers.",
        ),
    ],
)
def test_every_verdict_names_the_claim_in_the_language(
    action_store, dispatcher, fact_id, language, opening
):
    utter_fact(dispatcher, action_store.get_fact(fact_id), language)
    [message] = dispatcher.messages
    assert rendered(message, language).startswith(opening)


@pytest.mark.parametrize(
    ("text", "language", "other", "action"),
    [
        ("danone is recalling yogurt with metal pieces", "en", "Danone", ActionAnswerRumour),
        (
            "danone yoğurtlarında metal parça varmış, toplatılıyor",
            "tr",
            "Danone",
            ActionAnswerRumour,
        ),
        ("Pınar sütünde çamaşır suyu varmış doğru mu", "tr", "Pınar", ActionAnswerRumour),
        ("is nestlé milk full of hormones and antibiotics?", "en", "Nestlé", ActionAnswerRumour),
        ("Anka Holding 500 işçi çıkarıyormuş", "tr", "Anka", ActionAnswerRumour),
        (
            "how do I return a danone yogurt and get my money back?",
            "en",
            "Danone",
            ActionAnswerQuestion,
        ),
    ],
)
async def test_a_claim_about_another_brand_is_not_answered_as_ours(
    action_store, dispatcher, domain, text, language, other, action
):
    tracker = make_tracker(text, "rumour", language=language)
    events = await run(action(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", None)]
    [message] = dispatcher.messages
    assert message["response"] == "utter_other_brand"
    assert (message["our_brand"], message["other_brand"]) == ("Kuzey Süt", other)
    said = rendered(message, language)
    assert "Kuzey Süt" in said and other in said
    assert action_store.list_rumours() == []  # not our open rumour


async def test_a_brand_entity_from_the_nlu_counts_as_another_brand(
    action_store, dispatcher, domain
):
    tracker = make_tracker(
        "their yogurt has metal pieces in it",
        "rumour",
        language="en",
        entities=[{"entity": "brand", "value": "Yoğurtçu Ali"}],
    )
    await run(ActionAnswerRumour(), dispatcher, tracker, domain)
    assert dispatcher.messages[0]["other_brand"] == "Yoğurtçu Ali"


async def test_naming_us_and_another_brand_is_answered(action_store, dispatcher, domain):
    tracker = make_tracker(
        "kuzey sut de danone gibi 500 isci mi cikariyor", "rumour", language="tr"
    )
    events = await run(ActionAnswerRumour(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", "fact:layoffs-500")]


async def test_a_close_claim_is_checked_and_queued_with_its_suggestions(
    action_store, dispatcher, domain
):
    # Two claims in one message: close to two facts, sure of neither (the second tier).
    text = "kuzey süt zam yapıp işçi mi çıkarıyor"
    tracker = make_tracker(text, "rumour", language="tr", sender_id="whatsapp:+905320000009")
    events = await run(ActionAnswerRumour(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_rumour_checking"]
    [group] = action_store.rumour_groups()
    assert group["text"] == text and group["askers"] == 1
    suggested = [fact_id for fact_id, _ in group["suggestions"]]
    assert suggested and {"price-increase-40", "layoffs-500"} & set(suggested[:2])
    scores = [score for _, score in group["suggestions"]]
    assert scores == sorted(scores, reverse=True)
    assert all(settings().match_suggest_threshold <= score for score in scores)


# -- complaints ------------------------------------------------------------------------


async def test_complaint_becomes_ticket_with_number(action_store, dispatcher, domain):
    tracker = make_tracker(
        "siparisim 2 haftadir gelmedi #4821937",
        "complaint",
        language="tr",
        entities=[{"entity": "order_number", "value": "4821937"}],
    )
    events = await run(ActionLogComplaint(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", None)]
    [ticket] = action_store.list_tickets()
    assert dispatcher.messages[0]["response"] == "utter_complaint_logged"
    assert dispatcher.messages[0]["ticket_number"] == ticket["number"] == "CD-000001"
    assert ticket["severity"] == "normal"
    assert ticket["language"] == "tr"
    assert ticket["channel"] == "rest"
    assert json.loads(ticket["entities"]) == [{"entity": "order_number", "value": "4821937"}]
    assert action_store.list_handoffs() == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("your yogurt made my son sick, we were at the hospital all night", "health"),
        ("avukatimla gorustum dava acacagim", "legal"),
        ("bunu gazetecilere anlatacagim haber yapacaklar", "press"),
        ("the charger exploded and burned my hand", "safety"),
    ],
)
async def test_severe_complaint_goes_straight_to_a_person(
    action_store, dispatcher, domain, text, reason
):
    tracker = make_tracker(text, "complaint")
    events = await run(ActionLogComplaint(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", None), ConversationPaused()]
    assert dispatcher.messages[0]["response"] == "utter_complaint_escalated"
    [handoff] = action_store.list_handoffs()
    assert handoff["priority"] == "high"
    assert reason in handoff["reason"]
    assert handoff["ticket_number"] == dispatcher.messages[0]["ticket_number"]


async def test_second_complaint_of_a_customer_is_escalated(action_store, dispatcher, domain):
    first = make_tracker("kargom gecikti", "complaint", sender_id="ayse")
    assert await run(ActionLogComplaint(), dispatcher, first, domain) == [SlotSet("pending", None)]
    second = make_tracker("hala gelmedi kargom", "complaint", sender_id="ayse")
    events = await run(ActionLogComplaint(), dispatcher, second, domain)
    assert events[-1] == ConversationPaused()
    [handoff] = action_store.list_handoffs()
    assert "repeated" in handoff["reason"]


# -- handoff -----------------------------------------------------------------------------


async def test_request_human_pauses_and_queues_with_last_messages(action_store, dispatcher, domain):
    history = [user_event("merhaba", "greet"), bot_event("Merhaba! ...")]
    tracker = make_tracker(
        "temsilciye baglar misiniz", "request_human", language="tr", history=history
    )
    events = await run(ActionHandoff(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", None), ConversationPaused()]
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff"]
    [handoff] = action_store.list_handoffs()
    assert handoff["language"] == "tr"
    assert handoff["priority"] == "normal"
    texts = [m["text"] for m in json.loads(handoff["last_messages"])]
    assert texts == ["merhaba", "Merhaba! ...", "temsilciye baglar misiniz"]


async def test_handoff_closed_asks_for_a_rating(action_store, dispatcher, domain):
    handoff_id = action_store.open_handoff(
        sender_id="customer-1",
        channel="rest",
        reason="x",
        priority="normal",
        language="en",
        last_messages=[],
    )
    action_store.close_handoff(handoff_id)
    tracker = make_tracker("thanks", "thank", language="en")
    events = await run(ActionHandoffClosed(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", f"rating:{handoff_id}")]
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff_closed"]


# -- fallback ----------------------------------------------------------------------------


async def test_first_fallback_offers_the_two_likeliest_intents(action_store, dispatcher, domain):
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.5},
        {"name": "rumour", "confidence": 0.41},
        {"name": "question", "confidence": 0.33},
        {"name": "complaint", "confidence": 0.1},
    ]
    tracker = make_tracker(
        "kuzey su an ne durumda", "nlu_fallback", language="tr", intent_ranking=ranking
    )
    assert await run(ActionFallback(), dispatcher, tracker, domain) == []
    [message] = dispatcher.messages
    assert message["response"] == "utter_ask_rephrase"
    assert message["buttons"] == [
        {"title": "Bir iddia doğru mu?", "payload": "/rumour"},
        {"title": "Bir sorum var", "payload": "/question"},
    ]


async def test_second_fallback_in_a_row_hands_over(action_store, dispatcher, domain):
    history = [user_event("asdf qwer", "nlu_fallback", confidence=0.2), bot_event("?")]
    tracker = make_tracker("zxcv uiop", "nlu_fallback", language="en", history=history)
    events = await run(ActionFallback(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", None), ConversationPaused()]
    assert [m["response"] for m in dispatcher.messages] == ["utter_handoff"]
    assert action_store.list_handoffs()[0]["reason"] == "the bot did not understand twice"


@pytest.mark.parametrize("text", ["", "   ", "🙏🙏", "?!"])
async def test_empty_or_emoji_only_message_asks_for_words(action_store, dispatcher, domain, text):
    tracker = make_tracker(text, "nlu_fallback")
    assert await run(ActionFallback(), dispatcher, tracker, domain) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_empty_message"]
    assert action_store.list_handoffs() == []


# -- yes / no ------------------------------------------------------------------------------


async def test_yes_after_a_fact_records_positive_feedback(action_store, dispatcher, domain):
    tracker = make_tracker("evet", "affirm", slots={"pending": "fact:bankruptcy"})
    assert await run(ActionYesNo(), dispatcher, tracker, domain) == [SlotSet("pending", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_feedback_thanks"]
    [row] = action_store.db["feedback"].rows
    assert (row["subject"], row["subject_id"], row["helpful"]) == ("fact", "bankruptcy", 1)


async def test_no_after_a_fact_offers_a_person(action_store, dispatcher, domain):
    tracker = make_tracker("no", "deny", slots={"pending": "fact:bankruptcy"})
    assert await run(ActionYesNo(), dispatcher, tracker, domain) == [
        SlotSet("pending", "offer_human")
    ]
    assert [m["response"] for m in dispatcher.messages] == ["utter_feedback_sorry"]
    assert [r["helpful"] for r in action_store.db["feedback"].rows] == [0]


async def test_yes_to_the_offer_of_a_person_hands_over(action_store, dispatcher, domain):
    tracker = make_tracker("yes please", "affirm", slots={"pending": "offer_human"})
    events = await run(ActionYesNo(), dispatcher, tracker, domain)
    assert events == [SlotSet("pending", None), ConversationPaused()]
    assert len(action_store.list_handoffs()) == 1


@pytest.mark.parametrize(("intent", "pending"), [("deny", "offer_human")])
async def test_yes_or_no_without_consequence_just_acknowledges(
    action_store, dispatcher, domain, intent, pending
):
    tracker = make_tracker("ok", intent, slots={"pending": pending})
    assert await run(ActionYesNo(), dispatcher, tracker, domain) == [SlotSet("pending", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_ok"]
    assert action_store.list_handoffs() == []
