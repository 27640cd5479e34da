"""The off-topic gate (bot/nlu/offtopic.py): off-topic chat that DIET took for a
support intent ends as out_of_scope, and customer messages keep DIET's intent.

The component is trained on the project's real training data (the sentence
encoder runs for real), saved and loaded again, then given messages with the
intent DIET would have set. None of these texts is in the training data or in
the out-of-domain dev and held-out sets.
"""

from __future__ import annotations

from typing import List

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa_sdk.executor import CollectingDispatcher

from actions.out_of_scope import ActionOutOfScope
from bot.nlu import offtopic
from bot.nlu.components import OffTopicClassifier
from tests.conftest import ROOT, make_tracker

OFF_TOPIC = [
    # DIET read this one as a rumour at 1.0 before the gate.
    ("how do i change a flat tyre on the motorway", "rumour"),
    ("which programming language should i learn first", "question"),
    ("uzayda kac gezegen var", "question"),
    ("kuantum fizigi nedir basitce anlatir misin", "question"),
    ("how many moons does jupiter have", "question"),
]
CUSTOMER = [
    ("siparisim nerede kaldi", "complaint"),
    ("kartimdan iki kez cekim yapilmis", "complaint"),
    ("is it true you are closing the factory", "rumour"),
    ("fabrikaniz kapaniyor mu", "rumour"),
    ("i want to talk to a real person", "request_human"),
    ("how do i return a damaged item", "question"),
    ("ne zaman kargoya verilir", "question"),
    ("merhaba", "greet"),
    ("tesekkurler", "thank"),
]


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def _trained(tmp_path, data: TrainingData) -> OffTopicClassifier:
    storage = LocalModelStorage(tmp_path)
    resource = Resource("off_topic")
    config = OffTopicClassifier.get_default_config()
    OffTopicClassifier.create(config, storage, resource, _context()).train(data)
    return OffTopicClassifier.load(config, storage, resource, _context())


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> OffTopicClassifier:
    return _trained(tmp_path_factory.mktemp("off-topic"), load_data(str(ROOT / "data/nlu")))


def classify(classifier: OffTopicClassifier, text: str, intent: str) -> Message:
    """What the component makes of `text` after DIET said `intent` (0.99)."""
    message = Message({TEXT: text})
    message.data[INTENT] = {"name": intent, "confidence": 0.99}
    message.data[INTENT_RANKING_KEY] = [
        {"name": intent, "confidence": 0.99},
        {"name": "out_of_scope", "confidence": 0.01},
    ]
    classifier.process([message])
    return message


@pytest.mark.parametrize(("text", "diet"), OFF_TOPIC)
def test_off_topic_chat_becomes_out_of_scope(classifier, text, diet):
    message = classify(classifier, text, diet)
    intent = message.get(INTENT)
    assert intent["name"] == "out_of_scope"
    assert classifier.config["threshold"] <= intent["confidence"] <= 1.0
    ranking = [r["name"] for r in message.get(INTENT_RANKING_KEY)]
    assert ranking == ["out_of_scope", diet]  # out_of_scope once, first
    found = message.get(offtopic.OFF_TOPIC)
    assert found["replaced"] == {"name": diet, "confidence": 0.99}
    assert found["probability"] == round(intent["confidence"], 4)
    assert offtopic.OFF_TOPIC in message.as_dict(only_output_properties=True)


@pytest.mark.parametrize(("text", "diet"), CUSTOMER)
def test_customer_messages_keep_diets_intent(classifier, text, diet):
    message = classify(classifier, text, diet)
    assert message.get(INTENT) == {"name": diet, "confidence": 0.99}
    assert message.get(offtopic.OFF_TOPIC) is None
    assert classifier.gate.probability(text) < classifier.config["threshold"]


@pytest.mark.parametrize("diet", ["out_of_scope", "nlu_fallback"])
def test_what_diet_already_rejected_is_left_alone(classifier, diet):
    message = classify(classifier, OFF_TOPIC[0][0], diet)
    assert message.get(INTENT) == {"name": diet, "confidence": 0.99}
    assert message.get(offtopic.OFF_TOPIC) is None


def test_a_training_example_keeps_its_label(classifier):
    """An out_of_scope-looking line that trainers labelled otherwise stays theirs."""
    data = load_data(str(ROOT / "data/nlu"))
    examples = [m for m in data.intent_examples if m.get(INTENT) != "out_of_scope"]
    likeliest = max(examples, key=lambda m: classifier.gate.probability(m.get(TEXT)))
    message = classify(classifier, likeliest.get(TEXT), likeliest.get(INTENT))
    assert message.get(INTENT)["name"] == likeliest.get(INTENT)


def test_few_training_examples_would_be_turned_off_topic_if_they_were_new(tmp_path):
    """Fit on four fifths, score the fifth: what the gate would do to unseen
    messages of the same kinds. The threshold keeps false alarms at 1 % or fewer;
    on its own the gate catches about two in five off-topic lines (0.40 when this
    was written), the rest being DIET's, which the gate only backs up."""
    data = load_data(str(ROOT / "data/nlu"))
    examples = list(data.intent_examples)
    held = examples[::5]
    rest = [m for i, m in enumerate(examples) if i % 5]
    gate = _trained(tmp_path, TrainingData(training_examples=rest)).gate
    in_domain = [m for m in held if m.get(INTENT) != "out_of_scope"]
    turned = [m.get(TEXT) for m in in_domain if gate.off_topic(m.get(TEXT)) is not None]
    assert len(turned) <= 0.01 * len(in_domain), turned
    off = [m for m in held if m.get(INTENT) == "out_of_scope"]
    caught = [m for m in off if gate.off_topic(m.get(TEXT)) is not None]
    assert len(caught) >= 0.3 * len(off)


def test_without_out_of_scope_examples_there_is_no_gate(tmp_path):
    data = load_data(str(ROOT / "data/nlu"))
    kept = [m for m in data.intent_examples if m.get(INTENT) != "out_of_scope"]
    classifier = _trained(tmp_path, TrainingData(training_examples=kept))
    assert classifier.gate is None
    message = classify(classifier, OFF_TOPIC[0][0], "rumour")
    assert message.get(INTENT) == {"name": "rumour", "confidence": 0.99}


# -- the action: the gate is a second opinion, so a known answer still answers -------------


async def _out_of_scope(text: str, gated: bool, sender: str, entities=()) -> List[str]:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(text, "out_of_scope", language="en", sender_id=sender,
                           entities=list(entities))  # fmt: skip
    if gated:
        tracker.latest_message[offtopic.OFF_TOPIC] = {
            "probability": 0.93,
            "replaced": {"name": "question", "confidence": 1.0},
        }
    await ActionOutOfScope().run(dispatcher, tracker, {})
    return [m["response"] for m in dispatcher.messages]


async def test_a_gated_message_with_a_confident_faq_answer_is_answered(action_store):
    question = "how do i return a product and get my money back"
    assert await _out_of_scope(question, True, "rest:g1") == ["utter_faq_answer", "utter_faq_source"]
    # DIET's own out_of_scope is not second-guessed: the off-topic reply, as before.
    assert await _out_of_scope(question, False, "rest:g2") == ["utter_out_of_scope"]


async def test_a_gated_message_with_no_answer_gets_the_off_topic_reply(action_store):
    responses = await _out_of_scope("how many moons does jupiter have", True, "rest:g3")
    assert responses == ["utter_out_of_scope"]
    assert action_store.list_rumours() == []  # off-topic chat is no rumour


async def test_a_gated_message_about_another_company_is_not_answered_with_ours(action_store):
    text = "how do i return a product to Anka Holding and get my money back"
    entities = [{"entity": "brand", "value": "Anka Holding"}]
    assert await _out_of_scope(text, True, "rest:g4", entities) == ["utter_out_of_scope"]
