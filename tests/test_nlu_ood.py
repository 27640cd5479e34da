"""Nonsense is not a yes: out-of-domain messages end as nlu_fallback or out_of_scope.

Fast tests: the out-of-domain check (bot/nlu/ood.py) and its Rasa component
trained on the real training data, and the actions that answer such messages.
Slow tests: the same messages through the trained model (models/crisisdesk.tar.gz).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa_sdk.events import ConversationPaused, SlotSet

from actions.fallback import ActionFallback
from actions.feedback import ActionYesNo
from bot.language import words
from bot.nlu import offtopic, ood
from bot.nlu.components import OutOfDomainClassifier
from scripts.bench_nlu import REJECTED, load_ood
from tests.conftest import ROOT, make_tracker, user_event

# The three examples and the other kinds, both languages. Not copied into
# training data; tests/ood_dev.yml, ood_dev2.yml and ood_dev3.yml are the dev sets,
# tests/ood_heldout2.yml the held-out one.
UNREADABLE = [
    ("asdfgh qwerty", "mash"),
    ("qwertyuiop asdfghjkl", "mash"),
    ("sdfghj kjhgf", "mash"),
    ("😡😡😡", "emoji"),
    ("👀👀", "emoji"),
    ("<script>alert(1)</script>", "markup"),
    ("<p>merhaba</p>", "markup"),
    ("<h1>hello</h1>", "markup"),
    ("print('hello world'); exit()", "code"),
    ("SELECT name FROM customers; --", "code"),
    ("function f() { return 1; }", "code"),
    ("https://www.haberler.example/kuzey-sut-12", "url"),
    ("bakar misin https://t.co/Zx81", "url"),
    ("check this http://example.org/post/7", "url"),
    ("555 12 34", "number"),
    ("2024", "number"),
    ("+44 20 7946 0000", "number"),
    # Rasa commands once the channel took the slash away, and other program text
    ("request_human", "code"),
    ('complaint{"order_number":"X"}', "code"),
    ("greet{}", "code"),
    ("git status --short", "code"),
    ("cat ~/.ssh/id_rsa", "code"),
    ("DELETE FROM orders WHERE 1", "code"),
    ("x' OR 'a'='a", "code"),
    ("ValueError: invalid literal for int()", "code"),
    ("while n > 0: n = n - 1", "code"),
    ("[0-9]+\\.[0-9]+", "code"),
    ("steps:\n  - uses: checkout\n    run: |", "code"),
    # markup beyond tags
    ("&quot;hi&quot;", "markup"),
    ("\\section{Giris}", "markup"),
    ("### Notlar", "markup"),
    ("| ad | soyad | yas |", "markup"),
    ("[bakiniz](sayfa.html)", "markup"),
    ("**onemli**", "markup"),
    (":heart: :fire:", "markup"),
    ("*bir* _iki_ `uc` dort", "markup"),
    ('Exception in thread "main" java.lang.IllegalStateException\n\tat org.shop.Cart.add(Cart.java:42)', "code"),
    # keyboard mash of other shapes
    ("ğşğşğş", "mash"),
    ("ğrt", "mash"),
    ("hjhjhj", "mash"),
    ("oiuy lkjh", "mash"),
    ("q w e r", "mash"),
]
OFFTOPIC = [
    "kek tarifi verir misin",
    "bu aksam hangi filmi izlesem",
    "matematik sinavim icin konu anlatir misin",
    "can you recommend a good book",
    "what's the weather in london",
    "tell me a funny joke please",
    # DIET read this as a rumour at 1.0; the off-topic gate turns it (bot/nlu/offtopic.py).
    "how do i change a flat tyre on the motorway",
]
IN_DOMAIN = [
    ("kargom 5 gundur gelmedi", "complaint"),
    ("my order never arrived and nobody answers", "complaint"),
    ("kuzey sut iflas mi ediyor dogru mu", "rumour"),
    ("is it true there is bleach in your milk? https://x.example/post/1", "rumour"),
    ("evet", "affirm"),
    ("100%", "affirm"),
    ("iade nasil yapilir", "question"),
    # code- or markup-like signs that customers use too
    ("**acil** kargom 5 gundur gelmedi", "complaint"),
    ("**acil** kargom _hala_ gelmedi", "complaint"),
    ("Ad: Ali\nSiparis: 4821937\nSorun: kargo gelmedi", "complaint"),
    ("for example: my order came without the lid", "complaint"),
    ("None of my orders arrived this month", "complaint"),
    ("cat food order never came", "complaint"),
    ("echo of the rumour: are you closing the factory?", "rumour"),
    ("ğğğ :( siparisim bozuk geldi", "complaint"),
    ("haha ok thanks", "thank"),
    ("request human", "request_human"),
]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> OutOfDomainClassifier:
    """The component trained on the project's training data, saved and loaded again."""
    storage = LocalModelStorage(tmp_path_factory.mktemp("ood-model"))
    resource = Resource("out_of_domain")
    context = ExecutionContext(GraphSchema({}), "test")
    config = OutOfDomainClassifier.get_default_config()
    trained = OutOfDomainClassifier.create(config, storage, resource, context)
    trained.train(load_data(str(ROOT / "data/nlu")))
    return OutOfDomainClassifier.load(config, storage, resource, context)


def classify(classifier: OutOfDomainClassifier, text: str, intent: str = "affirm") -> Message:
    """What the component makes of `text` after DIET said `intent` (0.99)."""
    message = Message({TEXT: text})
    message.data[INTENT] = {"name": intent, "confidence": 0.99}
    message.data[INTENT_RANKING_KEY] = [{"name": intent, "confidence": 0.99}]
    classifier.process([message])
    return message


@pytest.mark.parametrize(("text", "kind"), UNREADABLE)
def test_unreadable_messages_become_fallback_with_their_kind(classifier, text, kind):
    message = classify(classifier, text)
    assert message.get(INTENT) == {"name": "nlu_fallback", "confidence": 1.0}
    assert message.get(INTENT_RANKING_KEY)[0]["name"] == "nlu_fallback"
    found = message.get(ood.OUT_OF_DOMAIN)
    assert found["kind"] == kind
    assert found["reason"]
    assert found["replaced"] == {"name": "affirm", "confidence": 0.99}
    assert ood.OUT_OF_DOMAIN in message.as_dict(only_output_properties=True)


@pytest.mark.parametrize(("text", "intent"), IN_DOMAIN + [(t, "out_of_scope") for t in OFFTOPIC])
def test_customer_text_keeps_the_classifiers_intent(classifier, text, intent):
    message = classify(classifier, text, intent)
    assert message.get(INTENT)["name"] == intent
    assert message.get(ood.OUT_OF_DOMAIN) is None


def test_no_training_example_would_be_flagged_if_it_were_new(classifier):
    """Each example, with the words only it has removed from the vocabulary, still passes:
    what the check would do to an unseen in-domain message of the same kind."""
    data = load_data(str(ROOT / "data/nlu"))
    texts = [m.get(TEXT) for m in data.intent_examples]
    counts = Counter(w for text in texts for w in set(words(text)))
    check = classifier.check
    flagged = []
    for text in texts:
        own = {w for w in words(text) if counts[w] == 1}
        unseen = ood.OutOfDomainCheck(
            check.vocabulary - own,
            set(),
            check.char_model,
            check.dictionary,
            min_char_score=check.min_char_score,
            min_short_char_score=check.min_short_char_score,
        )
        verdict = unseen.verdict(text)
        if verdict is not None:
            flagged.append((text, verdict))
    # "100%" is a yes only because it is a training example (exact matches pass).
    assert [text for text, _ in flagged if text != "100%"] == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "emoji"),
        ("?!...", "emoji"),
        ("<b>x</b>", "markup"),
        ("[url]x[/url]", "markup"),
        ("www.example.com", "url"),
        ("a b c d https://x.example/1", None),  # four words around a link: read the words
        ("x = foo(1); y = 2", "code"),
        ("fiyat=zam?", None),  # one code-like sign is not code
        ("12.05.2024 14:30", "number"),
        ("siparis 4821937 nerede", None),
    ],
)
def test_surface_verdicts(text, kind):
    verdict = ood.surface_verdict(text)
    assert (verdict.kind if verdict else None) == kind


def test_char_model_scores_words_above_mash():
    model = ood.CharModel.train(["siparis", "kargo", "gelmedi", "order", "refund", "never"])
    assert model.score("siparisim") > model.score("qxzvbk")
    again = ood.CharModel.from_dict(model.to_dict())
    assert again.score("kargom") == model.score("kargom")


def test_repeated_letters_are_squeezed_before_lookup(classifier):
    assert classifier.check.known("cooook")  # "cok", emphasis
    assert classifier.check.implausible("jjjjjjj")
    assert classifier.check.implausible("aaaaaaaa")


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("request_human", True),
        ("Out_Of_Scope", True),
        ("session_start", True),
        ("greet{}", True),
        ('affirm@0.9{"pending": "feedback"}', True),
        ("request human", False),
        ("kargo_", False),
        ("affirm", False),  # one plain word: the NLU reads it as the word it is
        ("siparis {4821937}", False),
    ],
)
def test_a_typed_command_name_is_code(text, typed):
    verdict = ood.surface_verdict(text)
    assert (verdict == ood.Verdict("code", "a typed command name")) is typed


@pytest.mark.parametrize(
    ("word", "mash"),
    [("asdf", True), ("poiuyt", True), ("şiğü", True), ("were", True), ("siparis", False)],
)
def test_keyboard_runs(word, mash):
    assert (ood.keyboard_share(word) >= 0.8) is mash


def test_known_words_are_never_mash_for_their_letters(classifier):
    # "were" runs along neighbouring keys, but it is a word
    assert not classifier.check.implausible("were")
    assert not classifier.check.implausible("dogru", "doğru")
    assert classifier.check.implausible("grt", "ğrt")


DEV_SETS = ["ood_dev", "ood_dev2", "ood_dev3"]


@pytest.mark.parametrize("name", [f"tests/{name}.yml" for name in DEV_SETS])
def test_dev_set_format_is_what_the_bench_reads(name):
    messages = load_ood(ROOT / name)
    assert len(messages) >= 60
    assert {m["kind"] for m in messages} == {
        "mash",
        "emoji",
        "markup",
        "code",
        "url",
        "number",
        "offtopic",
    }
    assert {m["language"] for m in messages} == {"tr", "en", "none"}


def _training_texts():
    data = load_data(str(ROOT / "data/nlu"))
    return {" ".join(str(m.get(TEXT)).lower().split()) for m in data.intent_examples}


def test_the_dev_sets_are_not_training_data():
    texts = {
        " ".join(m["text"].lower().split())
        for name in DEV_SETS
        for m in load_ood(ROOT / f"tests/{name}.yml")
    }
    assert sorted(texts & _training_texts()) == []

# the held-out set, tests/ood_heldout2.yml, is checked in tests/test_data.py


# -- the actions that answer them ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "response"),
    [
        ("url", "utter_out_of_domain_url"),
        ("number", "utter_out_of_domain_number"),
        ("markup", "utter_out_of_domain_markup"),
        ("code", "utter_out_of_domain_markup"),
        ("mash", "utter_out_of_domain_mash"),
    ],
)
async def test_fallback_answers_each_kind_in_its_own_words(
    action_store, dispatcher, domain, kind, response
):
    tracker = make_tracker(
        "https://x.example/1" if kind == "url" else "x1", "nlu_fallback", confidence=1.0
    )
    tracker.latest_message[ood.OUT_OF_DOMAIN] = {"kind": kind, "reason": "test"}
    assert await ActionFallback().run(dispatcher, tracker, domain) == []
    assert [m["response"] for m in dispatcher.messages] == [response]
    assert dispatcher.messages[0]["buttons"] == []
    assert action_store.list_handoffs() == []


async def test_an_unreadable_message_does_not_count_as_a_first_miss(
    action_store, dispatcher, domain
):
    link = user_event("https://x.example/1", "nlu_fallback", confidence=1.0)
    link["parse_data"]["out_of_domain"] = {"kind": "url", "reason": "test"}
    tracker = make_tracker("hmm sey yani", "nlu_fallback", confidence=0.4, history=[link])
    events = await ActionFallback().run(dispatcher, tracker, domain)
    assert ConversationPaused() not in events
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_rephrase"]
    assert action_store.list_handoffs() == []


@pytest.mark.parametrize(("text", "intent"), [("evet", "affirm"), ("no", "deny"), ("ok", "affirm")])
@pytest.mark.parametrize("pending", [None, "", "something-unknown"])
async def test_yes_or_no_with_nothing_pending_is_not_taken_as_an_answer(
    action_store, dispatcher, domain, text, intent, pending
):
    tracker = make_tracker(text, intent, slots={"pending": pending})
    assert await ActionYesNo().run(dispatcher, tracker, domain) == [SlotSet("pending", None)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_yes_no_nothing_pending"]
    assert list(action_store.db["feedback"].rows) == []
    assert action_store.list_handoffs() == []


# -- through the trained model (slow) ----------------------------------------------------------

MODEL = ROOT / "models/crisisdesk.tar.gz"


@pytest.fixture(scope="module")
def agent():
    if not MODEL.is_file():
        pytest.fail(f"no trained model at {MODEL}: run `make train`")
    from rasa.core.agent import Agent

    logging.disable(logging.WARNING)
    loaded = Agent.load(str(MODEL))
    logging.disable(logging.NOTSET)
    return loaded


def parse(agent, text: str) -> dict:
    return asyncio.run(agent.parse_message(text))


@pytest.mark.slow
@pytest.mark.parametrize(("text", "kind"), UNREADABLE)
def test_model_sends_unreadable_messages_to_fallback(agent, text, kind):
    parsed = parse(agent, text)
    assert parsed["intent"]["name"] == "nlu_fallback"
    assert parsed[ood.OUT_OF_DOMAIN]["kind"] == kind


@pytest.mark.slow
@pytest.mark.parametrize("text", OFFTOPIC)
def test_model_rejects_off_topic_chat(agent, text):
    assert parse(agent, text)["intent"]["name"] in REJECTED


@pytest.mark.slow
@pytest.mark.parametrize("text", [text for text, _ in IN_DOMAIN])
def test_the_guards_leave_customer_messages_to_diet(agent, text):
    """Neither guard (the out-of-domain check, the off-topic gate) replaces the
    intent of a customer's message, however code-like it looks."""
    parsed = parse(agent, text)
    assert ood.OUT_OF_DOMAIN not in parsed
    assert offtopic.OFF_TOPIC not in parsed


@pytest.mark.slow
def test_model_reads_nearly_all_customer_messages_right(agent):
    """DIET's intents on the messages above: at least 90 % right, about its held-out
    accuracy. Not one assertion per message: the same data and config, trained on
    two machines, read "cat food order never came" as a complaint on one (CI runs
    up to 2026-12-04) and as out_of_scope at 1.0 on the other (an AMD EPYC,
    2026-12-07; training there is deterministic, run after run), so one message's
    intent is not a property of the code; the share is."""
    read = {text: parse(agent, text)["intent"]["name"] for text, _ in IN_DOMAIN}
    wrong = [(text, intent, read[text]) for text, intent in IN_DOMAIN if read[text] != intent]
    assert len(wrong) <= 0.1 * len(IN_DOMAIN), wrong


@pytest.mark.slow
def test_model_rejects_most_of_the_dev_set(agent):
    messages = load_ood(Path(ROOT / "tests/ood_dev.yml"))
    rejected = [parse(agent, m["text"])["intent"]["name"] in REJECTED for m in messages]
    assert sum(rejected) / len(rejected) >= 0.9


# -- the whole bot over REST (slow) ----------------------------------------------------------


@pytest.fixture(scope="module")
def bot(demo_bot):
    return demo_bot


def domain_text(domain, response: str, lang: str) -> str:
    [variant] = [
        v
        for v in domain["responses"][response]
        if {"name": "language", "type": "slot", "value": lang} in (v.get("condition") or [])
    ]
    return variant["text"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first", "message", "response", "lang"),
    [
        ("merhaba", "asdfgh qwerty", "utter_out_of_domain_mash", "tr"),
        ("hello", "😡😡😡", "utter_empty_message", "en"),
        ("hello", "<script>alert(1)</script>", "utter_out_of_domain_markup", "en"),
        ("merhaba", "https://t.co/Zx81", "utter_out_of_domain_url", "tr"),
        ("hello", "555 12 34", "utter_out_of_domain_number", "en"),
        ("merhaba", "kek tarifi verir misin", "utter_out_of_scope", "tr"),
        ("hello", "how do i change a flat tyre on the motorway", "utter_out_of_scope", "en"),
        ("hello", "yes", "utter_yes_no_nothing_pending", "en"),
    ],
)
def test_the_bot_answers_each_kind_politely_and_keeps_talking(
    bot, domain, first, message, response, lang
):
    sender = f"ood-{response}-{lang}"
    bot.say(sender, first)  # sets the conversation's language
    replies = bot.say(sender, message)
    assert [r.get("text") for r in replies] == [domain_text(domain, response, lang)]
    assert not any(r.get("buttons") for r in replies)
    # Nothing was handed over: the bot still answers the next message.
    assert bot.say(sender, "kargom gelmedi" if lang == "tr" else "my order never came")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first", "typed", "lang"),
    [
        ("hello", "/request_human", "en"),
        ("merhaba", "/request_human", "tr"),
        ("hello", '/complaint{"order_number":"X"}', "en"),
        ("merhaba", "/greet{}", "tr"),
        ("hello", "/out_of_scope", "en"),
    ],
)
def test_a_typed_command_gets_the_code_reply_and_no_handoff(bot, domain, first, typed, lang):
    """Over REST the slash goes (bot/channels/payloads.py); the name left is code, not a
    request: DIET alone reads "request_human" as a request for a person at 1.0."""
    from bot.store import Store

    sender = f"ood-typed-{abs(hash(typed))}-{lang}"  # braces and quotes stay out of URLs
    bot.say(sender, first)
    replies = bot.say(sender, typed)
    # The reply's language follows the bot's per-message detection, which reads a
    # bare name as English; what matters here is that it is the code/markup answer.
    variants = {domain_text(domain, "utter_out_of_domain_markup", x) for x in ("tr", "en")}
    assert len(replies) == 1 and replies[0].get("text") in variants
    assert not any(r.get("buttons") for r in replies)
    [*_, event] = [e for e in bot.tracker(sender)["events"] if e["event"] == "user"]
    assert event["text"] == typed.lstrip("/")
    assert event["parse_data"]["intent"]["name"] == "nlu_fallback"
    assert event["parse_data"][ood.OUT_OF_DOMAIN]["kind"] == "code"
    assert event["parse_data"]["entities"] == []
    store = Store.open(bot.db_path)
    try:
        assert [h for h in store.list_handoffs(None) if h["sender_id"] == sender] == []
    finally:
        store.close()
    tracker = bot.tracker(sender)
    assert tracker["slots"].get("order_number") != "X"
    assert not tracker.get("paused")
