"""Off-topic gate: chat in real words that has nothing to do with a brand's support.

DIET reads some off-topic questions as support intents at full confidence ("how
do i center a div in css" -> question 1.0, "what rhymes with orange" -> deny
0.99): they share their shape ("how do i", "what") with support questions, and
word and letter features see shape, not subject. The sentence encoder
(bot/encoder.py) sees the subject. A logistic regression on the training
examples' sentence vectors, `out_of_scope` against every other intent, gives the
probability that a message is off-topic; at or above the threshold, DIET's intent
becomes `out_of_scope`.

The gate only turns a message into `out_of_scope`, never the other way: DIET's
own `out_of_scope` and `nlu_fallback` stay as they are, and a message equal to a
training example keeps its label. The weights are plain numbers in the model
(no pickled objects), and scoring is one dot product after the encoder's call.
"""

from __future__ import annotations

import json
import math
from typing import Iterable, List, NamedTuple, Sequence, Set

import numpy as np

from bot import encoder
from bot.language import normalize

OFF_TOPIC = "off_topic"
OUT_OF_SCOPE = "out_of_scope"


class OffTopicGate(NamedTuple):
    """Weights of the off-topic probability, and the examples it never overrides."""

    weights: np.ndarray
    bias: float
    threshold: float
    examples: Set[str]

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        intents: Sequence[str],
        threshold: float,
        regularization: float,
    ) -> OffTopicGate | None:
        """Fits the gate on training examples; None without both kinds of example."""
        labels = np.array([1 if intent == OUT_OF_SCOPE else 0 for intent in intents])
        if labels.min(initial=1) == labels.max(initial=0):
            return None
        from sklearn.linear_model import LogisticRegression  # training only

        vectors = encoder.encode(texts)
        model = LogisticRegression(C=regularization, max_iter=5000)
        model.fit(vectors, labels)
        return cls(
            np.asarray(model.coef_[0], dtype=np.float32),
            float(model.intercept_[0]),
            threshold,
            {normalize(text) for text in texts},
        )

    def probability(self, text: str) -> float:
        """How likely `text` is off-topic chat, 0..1."""
        vector = encoder.encode_one(text)
        if not vector.any():
            return 0.0
        logit = float(vector @ self.weights) + self.bias
        return 1.0 / (1.0 + math.exp(-logit))

    def off_topic(self, text: str) -> float | None:
        """The probability when `text` is off-topic (at or above the threshold), else None."""
        if normalize(text) in self.examples:
            return None
        probability = self.probability(text)
        return probability if probability >= self.threshold else None

    def to_json(self) -> str:
        """The gate as JSON (weights as a list of floats)."""
        return json.dumps(
            {
                "weights": [round(float(w), 6) for w in self.weights],
                "bias": self.bias,
                "examples": sorted(self.examples),
            }
        )

    @classmethod
    def from_json(cls, text: str, threshold: float) -> OffTopicGate:
        """A gate saved by `to_json`, with the threshold of the current config."""
        data = json.loads(text)
        return cls(
            np.asarray(data["weights"], dtype=np.float32),
            float(data["bias"]),
            threshold,
            set(data["examples"]),
        )


def example_texts(pairs: Iterable[tuple[str, str]]) -> tuple[List[str], List[str]]:
    """(texts, intents) of the non-empty (text, intent) pairs."""
    kept = [(text, intent) for text, intent in pairs if text and text.strip() and intent]
    return [t for t, _ in kept], [i for _, i in kept]
