"""Scoring trained models on held-out messages: intent F1, confusions, out-of-domain share.

Shared by `scripts/bench_nlu.py` (make bench) and `bot/training/models.py` (the
promotion gate). Nothing here trains; a model is loaded with Rasa's `Agent` and
asked to parse each held-out message, as the running server would.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Tuple

import yaml
from sklearn.metrics import accuracy_score, f1_score

# What a rejected out-of-domain message ends as.
REJECTED = ("nlu_fallback", "out_of_scope")


def load_examples(path: Path) -> List[Tuple[str, str, str]]:
    """(text, intent, language) for every example of a Rasa NLU YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue  # synonyms, lookups, regexes
        lang = (block.get("metadata") or {}).get("language", "")
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                out.append((line[2:].strip(), block["intent"], lang))
    return out


def load_ood(path: Path) -> List[Dict[str, str]]:
    """The messages of an out-of-domain set: {text, language, kind} each."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        {"text": str(m["text"]), "language": str(m.get("language") or "none"), "kind": m["kind"]}
        for m in data["messages"]
    ]


def share(flags: Sequence[bool]) -> float:
    """The share of true flags, 4 decimals (NaN for none)."""
    return round(sum(flags) / len(flags), 4) if flags else float("nan")


def scores(gold: List[str], predicted: List[str]) -> Dict[str, float]:
    """Macro-F1 over the gold intents, and accuracy."""
    labels = sorted(set(gold))
    return {
        "macro_f1": round(float(f1_score(gold, predicted, labels=labels, average="macro")), 4),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
    }


def per_intent_f1(gold: Sequence[str], predicted: Sequence[str]) -> Dict[str, float]:
    """F1 of every gold intent (an intent never predicted right scores 0)."""
    labels = sorted(set(gold))
    values = f1_score(list(gold), list(predicted), labels=labels, average=None, zero_division=0)
    return {label: round(float(value), 4) for label, value in zip(labels, values, strict=True)}


def confusions(gold: Sequence[str], predicted: Sequence[str]) -> Counter:
    """How often each gold intent was read as another one: {(gold, predicted): count}."""
    return Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)


def load_agent(model: Path) -> Any:
    """Rasa's Agent for a model file, with Rasa's own logging quiet."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is first imported
    from rasa.core.agent import Agent  # slow import, only when needed
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)
    return Agent.load(str(model))


async def parse_all(agent: Any, texts: Iterable[str]) -> List[Tuple[str, float]]:
    """(intent, confidence) the agent gives each text, in order."""
    out = []
    for text in texts:
        parsed = await agent.parse_message(text)
        intent = parsed.get("intent") or {}
        out.append((intent.get("name") or "None", float(intent.get("confidence") or 0)))
    return out


def ood_result(messages: List[Dict[str, str]], intents: List[str]) -> Dict[str, Any]:
    """Share of out-of-domain messages rejected, overall, per kind and per language."""
    rejected = [intent in REJECTED for intent in intents]
    result: Dict[str, Any] = {"messages": len(messages), "rejected_share": share(rejected)}
    for field in ("kind", "language"):
        values = sorted({m[field] for m in messages})
        result[field] = {
            value: share([r for m, r in zip(messages, rejected, strict=True) if m[field] == value])
            for value in values
        }
    return result


async def evaluate_ood(model: Path, messages: List[Dict[str, str]]) -> Dict[str, object]:
    """Share of out-of-domain messages the model rejects, overall, per kind and language."""
    parsed = await parse_all(load_agent(model), [m["text"] for m in messages])
    intents = [intent for intent, _ in parsed]
    result: Dict[str, Any] = {"model": model.name, **ood_result(messages, intents)}
    result["misses"] = [
        f"{m['kind']}: {m['text']!r} -> {intent} {round(confidence, 2)}"
        for m, (intent, confidence) in zip(messages, parsed, strict=True)
        if intent not in REJECTED
    ]
    return result


async def evaluate(model: Path, examples: List[Tuple[str, str, str]]) -> Dict[str, object]:
    """Parses every example with the model and scores the intents."""
    parsed = await parse_all(load_agent(model), [text for text, _, _ in examples])
    predicted = [intent for intent, _ in parsed]
    gold = [intent for _, intent, _ in examples]
    result: Dict[str, object] = {"model": model.name, "examples": len(examples)}
    result.update(scores(gold, predicted))
    for lang in ("tr", "en"):
        pick = [i for i, (_, _, example_lang) in enumerate(examples) if example_lang == lang]
        result[lang] = scores([gold[i] for i in pick], [predicted[i] for i in pick])
    result["fallbacks"] = predicted.count("nlu_fallback")
    result["errors"] = [
        f"{intent}->{guess}: {text}"
        for (text, intent, _), guess in zip(examples, predicted, strict=False)
        if guess != intent
    ]
    return result
