"""Rasa NLU components for Turkish and English customers.

`BilingualTokenizer` detects each message's language, tokenizes it with that
language's local spaCy pipeline and gives every token a folded text and a lookup
lemma (falling back to the other language's table for code-switched words), so
that "SİPARİŞLERİMİ", "siparislerimi" and "sipariş" all meet as "siparis".
`SpacyRuleEntityExtractor` turns the spaCy entity rules' matches into Rasa
entities (order/ticket numbers, lot codes, topics).
`OutOfDomainClassifier` runs after DIET and turns messages unlike any customer
message (keyboard mash, emoji only, markup, code, a typed command name such as
"request_human", a link or a number alone) into `nlu_fallback`, with the reason in
the parse data (see bot/nlu/ood.py).
`OffTopicClassifier` runs last and turns off-topic chat in real words that DIET
took for a support intent into `out_of_scope`, by the meaning of the sentence
(see bot/nlu/offtopic.py).
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any, Dict, List, Set

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from spacy.language import Language
from spacy.tokens import Doc

from bot.config import settings
from bot.language import detect, fold, normalize, words
from bot.nlu import offtopic, ood
from bot.nlu.spacy_pipes import LOT_WORDS, load, load_lemmas

LANGUAGE_PROPERTY = "language"
LOT_KEYWORDS = frozenset(LOT_WORDS)
_DOC = "crisisdesk_doc"


def turkish_lower(text: str) -> str:
    """Lower case with Turkish dotted/dotless I ("İ" -> "i", "I" -> "ı")."""
    return text.replace("İ", "i").replace("I", "ı").lower()


class _Pipelines:
    """Both languages' spaCy pipelines and their lemma tables."""

    def __init__(self, directory: str | None) -> None:
        root = directory or str(settings().spacy_dir)
        self.nlp: Dict[str, Language] = {lang: load(root, lang) for lang in ("tr", "en")}
        self.lemmas: Dict[str, Dict[str, str]] = {
            lang: load_lemmas(root, lang) for lang in ("tr", "en")
        }

    def lemma(self, word: str, lang: str) -> str:
        """The folded lemma of `word`, trying `lang`'s table first, then the other."""
        lowered = turkish_lower(word) if lang == "tr" else word.lower()
        candidates = (lowered, normalize(word))
        order = (lang, "en" if lang == "tr" else "tr")
        for table_lang in order:
            table = self.lemmas[table_lang]
            for candidate in candidates:
                if candidate in table:
                    return normalize(table[candidate])
        return normalize(word)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class BilingualTokenizer(Tokenizer):
    """Tokens and lemmas for Turkish and English, per message language."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Tokenizer defaults plus where the spaCy pipelines live."""
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
            # directory with tr/ and en/ pipelines; default CRISISDESK_SPACY_DIR
            "spacy_dir": None,
        }

    def __init__(self, config: Dict[str, Any]) -> None:
        """Loads the spaCy pipelines."""
        super().__init__(config)
        self.pipelines = _Pipelines(config.get("spacy_dir"))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> BilingualTokenizer:
        """Creates the tokenizer (see parent class for full docstring)."""
        return cls(config)

    def _doc(self, text: str) -> Doc:
        lang = detect(text) or "tr"
        return self.pipelines.nlp[lang](text)

    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        """Tokens with folded text and lemma; emoji and punctuation are kept."""
        text = message.get(attribute) or ""
        doc = message.get(_DOC) if attribute == TEXT else None
        if doc is None:
            doc = self._doc(text)
        lang = doc.lang_
        tokens = [
            Token(
                fold(token.text),
                token.idx,
                lemma=self.pipelines.lemma(token.text, lang),
            )
            for token in doc
            if not token.is_space
        ]
        return self._apply_token_pattern(tokens)

    def process(self, messages: List[Message]) -> List[Message]:
        """Tokenizes messages and records their language in the parse output."""
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str):
                doc = self._doc(text)
                message.set(_DOC, doc)
                message.set(LANGUAGE_PROPERTY, detect(text), add_to_output=True)
        return super().process(messages)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class SpacyRuleEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Entities from the spaCy entity ruler: order_number, ticket_number, lot_code, topic."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Which entity labels to report (all by default)."""
        return {"entities": None, "spacy_dir": None}

    def __init__(self, config: Dict[str, Any]) -> None:
        """Loads the spaCy pipelines (shared with the tokenizer in one process)."""
        self._wanted = set(config.get("entities") or [])
        self._pipelines = _Pipelines(config.get("spacy_dir"))

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SpacyRuleEntityExtractor:
        """Creates the extractor (see parent class for full docstring)."""
        return cls(config)

    def _entities(self, doc: Doc) -> List[Dict[str, Any]]:
        found = []
        for span in doc.ents:
            label = span.label_
            if self._wanted and label not in self._wanted:
                continue
            if label == "lot_code":
                # "LOT 24-118": the entity is the code, not the keyword before it.
                span = span[1:] if span[0].norm_ in LOT_KEYWORDS else span
                value = span.text.upper()
            elif label in ("order_number", "ticket_number"):
                value = span.text.lstrip("#").upper()
            else:
                value = span.ent_id_ or span.text
            found.append(
                {
                    "entity": label,
                    "value": value,
                    "start": span.start_char,
                    "end": span.end_char,
                    "confidence_entity": 1.0,
                }
            )
        # One topic per message is enough for routing and reports.
        topics = [e for e in found if e["entity"] == "topic"]
        return [e for e in found if e["entity"] != "topic"] + topics[:1]

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds rule-based entities to each message."""
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str):
                continue
            doc = message.get(_DOC)
            if doc is None:
                lang = detect(text) or "tr"
                doc = self._pipelines.nlp[lang](text)
            entities = self.add_extractor_name(self._entities(doc))
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages


def override_intent(
    message: Message, intent: str, confidence: float, key: str, details: Dict[str, Any]
) -> None:
    """Replaces the message's intent, puts it first in the ranking (once), and sets
    `key` in the parse data to `details` plus the intent it replaced."""
    replaced = dict(message.get(INTENT) or {})
    chosen = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: confidence}
    message.data[INTENT] = chosen
    ranking = [
        r for r in message.data.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != intent
    ]
    message.data[INTENT_RANKING_KEY] = [dict(chosen), *ranking]
    message.set(
        key,
        {
            **details,
            "replaced": {
                "name": replaced.get(INTENT_NAME_KEY),
                "confidence": replaced.get(PREDICTED_CONFIDENCE_KEY),
            },
        },
        add_to_output=True,
    )


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class OutOfDomainClassifier(GraphComponent, IntentClassifier):
    """Overrides the intent with nlu_fallback for messages that are not customer text."""

    THRESHOLDS = ("min_char_score", "min_short_char_score", "max_mash_share", "min_keyboard_share")
    FILE = "out_of_domain.json"

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """Thresholds of bot.nlu.ood.OutOfDomainCheck (config.yml says why)."""
        return {
            "min_char_score": -4.8,
            "min_short_char_score": -6.6,
            "max_mash_share": 0.5,
            "min_keyboard_share": 0.8,
            "spacy_dir": None,
        }

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str | None:
        """Retrain when the check's code changes, not only its config or data."""
        source = inspect.getsource(ood) + inspect.getsource(cls)
        return hashlib.sha256(source.encode("utf-8")).hexdigest()

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        check: ood.OutOfDomainCheck | None = None,
    ) -> None:
        """A classifier with a trained check (or none yet)."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.check = check

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OutOfDomainClassifier:
        """Creates an untrained classifier (see parent class for full docstring)."""
        return cls(config, model_storage, resource)

    def _thresholds(self) -> Dict[str, float]:
        return {name: float(self.config[name]) for name in self.THRESHOLDS}

    @staticmethod
    def dictionary(spacy_dir: str | None) -> Set[str]:
        """Folded lemmas of both languages' lemma tables (one word each)."""
        found: Set[str] = set()
        for table in _Pipelines(spacy_dir).lemmas.values():
            found.update(normalize(lemma) for lemma in table.values())
        return {word for word in found if word and " " not in word}

    def train(self, training_data: TrainingData) -> Resource:
        """Learns the training vocabulary, examples and the character model."""
        texts = [m.get(TEXT) for m in training_data.intent_examples if m.get(TEXT)]
        vocabulary = {word for text in texts for word in words(text)}
        dictionary = self.dictionary(self.config.get("spacy_dir"))
        self.check = ood.OutOfDomainCheck(
            vocabulary,
            {normalize(text) for text in texts},
            ood.CharModel.train(vocabulary | dictionary),
            dictionary,
            **self._thresholds(),
        )
        with self._model_storage.write_to(self._resource) as directory:
            (directory / self.FILE).write_text(self.check.to_json(), encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> OutOfDomainClassifier:
        """Loads the trained check (see parent class for full docstring)."""
        classifier = cls(config, model_storage, resource)
        with model_storage.read_from(resource) as directory:
            saved = (directory / cls.FILE).read_text(encoding="utf-8")
        classifier.check = ood.OutOfDomainCheck.from_json(
            saved, cls.dictionary(classifier.config.get("spacy_dir")), **classifier._thresholds()
        )
        return classifier

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets nlu_fallback and `out_of_domain` (kind, reason, replaced intent)."""
        if self.check is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str):
                continue
            verdict = self.check.verdict(text)
            if verdict is None:
                continue
            override_intent(
                message,
                ood.FALLBACK,
                1.0,
                ood.OUT_OF_DOMAIN,
                {"kind": verdict.kind, "reason": verdict.reason},
            )
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class OffTopicClassifier(GraphComponent, IntentClassifier):
    """Overrides DIET's intent with out_of_scope for off-topic chat (bot/nlu/offtopic.py)."""

    FILE = "off_topic.json"
    KEPT = frozenset({offtopic.OUT_OF_SCOPE, ood.FALLBACK})

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        """The gate's threshold and the inverse regularization (config.yml says why)."""
        return {"threshold": 0.9, "regularization": 3.0}

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> str | None:
        """Retrain when the gate's code changes, not only its config or data."""
        source = inspect.getsource(offtopic) + inspect.getsource(cls)
        return hashlib.sha256(source.encode("utf-8")).hexdigest()

    def __init__(
        self,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        gate: offtopic.OffTopicGate | None = None,
    ) -> None:
        """A classifier with a trained gate (or none: no out_of_scope training data)."""
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.gate = gate

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OffTopicClassifier:
        """Creates an untrained classifier (see parent class for full docstring)."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the gate on the training examples' sentence vectors."""
        texts, intents = offtopic.example_texts(
            (m.get(TEXT), m.get(INTENT)) for m in training_data.intent_examples
        )
        self.gate = offtopic.OffTopicGate.train(
            texts,
            intents,
            threshold=float(self.config["threshold"]),
            regularization=float(self.config["regularization"]),
        )
        with self._model_storage.write_to(self._resource) as directory:
            saved = self.gate.to_json() if self.gate else "null"
            (directory / self.FILE).write_text(saved, encoding="utf-8")
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> OffTopicClassifier:
        """Loads the trained gate (see parent class for full docstring)."""
        classifier = cls(config, model_storage, resource)
        with model_storage.read_from(resource) as directory:
            saved = (directory / cls.FILE).read_text(encoding="utf-8")
        if saved.strip() != "null":
            classifier.gate = offtopic.OffTopicGate.from_json(
                saved, float(classifier.config["threshold"])
            )
        return classifier

    def process(self, messages: List[Message]) -> List[Message]:
        """Sets out_of_scope and `off_topic` (probability, replaced intent) on off-topic chat."""
        if self.gate is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            if not isinstance(text, str) or intent in self.KEPT:
                continue
            probability = self.gate.off_topic(text)
            if probability is None:
                continue
            override_intent(
                message,
                offtopic.OUT_OF_SCOPE,
                probability,
                offtopic.OFF_TOPIC,
                {"probability": round(probability, 4)},
            )
        return messages
