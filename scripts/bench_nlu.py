"""Intent benchmark: macro-F1 and accuracy of trained models on held-out messages.

Usage: python scripts/bench_nlu.py MODEL.tar.gz [MODEL2.tar.gz ...] [--data tests/nlu_heldout.yml]
                                   [--ood tests/ood_dev.yml]
Prints one JSON line per model, plus per-language scores and language detection.
With --ood, also the share of out-of-domain messages (keyboard mash, emoji, markup,
code, URLs, numbers, off-topic chat) that end as nlu_fallback or out_of_scope.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import yaml
from sklearn.metrics import accuracy_score, f1_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.language import detect  # noqa: E402


def load_examples(path: Path) -> List[Tuple[str, str, str]]:
    """(text, intent, language) for every example of a Rasa NLU YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for block in data["nlu"]:
        lang = (block.get("metadata") or {}).get("language", "")
        for line in block["examples"].splitlines():
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


REJECTED = ("nlu_fallback", "out_of_scope")


def _share(flags: List[bool]) -> float:
    return round(sum(flags) / len(flags), 4) if flags else float("nan")


async def evaluate_ood(model: Path, messages: List[Dict[str, str]]) -> Dict[str, object]:
    """Share of out-of-domain messages the model rejects, overall, per kind and language."""
    from rasa.core.agent import Agent  # slow import, only when needed
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)
    agent = Agent.load(str(model))
    rejected, misses = [], []
    for message in messages:
        parsed = await agent.parse_message(message["text"])
        intent = (parsed.get("intent") or {}).get("name") or "None"
        rejected.append(intent in REJECTED)
        if intent not in REJECTED:
            confidence = round(float((parsed.get("intent") or {}).get("confidence") or 0), 2)
            misses.append(f"{message['kind']}: {message['text']!r} -> {intent} {confidence}")
    result: Dict[str, object] = {"model": model.name, "messages": len(messages)}
    result["rejected_share"] = _share(rejected)
    for field in ("kind", "language"):
        values = sorted({m[field] for m in messages})
        result[field] = {
            value: _share([r for m, r in zip(messages, rejected, strict=True) if m[field] == value])
            for value in values
        }
    result["misses"] = misses
    return result


def scores(gold: List[str], predicted: List[str]) -> Dict[str, float]:
    """Macro-F1 over the gold intents, and accuracy."""
    labels = sorted(set(gold))
    return {
        "macro_f1": round(float(f1_score(gold, predicted, labels=labels, average="macro")), 4),
        "accuracy": round(float(accuracy_score(gold, predicted)), 4),
    }


async def evaluate(model: Path, examples: List[Tuple[str, str, str]]) -> Dict[str, object]:
    """Parses every example with the model and scores the intents."""
    from rasa.core.agent import Agent  # slow import, only when needed
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.ERROR)
    agent = Agent.load(str(model))
    predicted = []
    for text, _, _ in examples:
        parsed = await agent.parse_message(text)
        predicted.append((parsed.get("intent") or {}).get("name") or "None")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--data", default=str(ROOT / "tests/nlu_heldout.yml"))
    parser.add_argument("--ood", help="an out-of-domain set (tests/ood_dev.yml format)")
    parser.add_argument("--ood-only", action="store_true", help="skip the intent set")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    examples = load_examples(Path(args.data))
    detected = sum(1 for text, _, lang in examples if detect(text, "en") == lang)
    print(json.dumps({"language_detection_accuracy": round(detected / len(examples), 4)}))
    for model in args.models:
        if not args.ood_only:
            result = asyncio.run(evaluate(Path(model), examples))
            errors = result.pop("errors")
            print(json.dumps(result))
            if args.show_errors:
                for line in errors:  # type: ignore[union-attr]
                    print("  ", line)
        if args.ood:
            ood = asyncio.run(evaluate_ood(Path(model), load_ood(Path(args.ood))))
            misses = ood.pop("misses")
            print(json.dumps(ood))
            if args.show_errors:
                for line in misses:  # type: ignore[union-attr]
                    print("  ", line)


if __name__ == "__main__":
    # Quiet when run as a script; importing this module (tests do) changes nothing.
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    main()
