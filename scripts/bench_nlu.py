"""Intent benchmark: macro-F1 and accuracy of trained models on held-out messages.

Usage: python scripts/bench_nlu.py MODEL.tar.gz [MODEL2.tar.gz ...] [--data tests/nlu_heldout.yml]
Prints one JSON line per model, plus per-language scores and language detection.
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

os.environ.setdefault("LOG_LEVEL", "ERROR")
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
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    examples = load_examples(Path(args.data))
    detected = sum(1 for text, _, lang in examples if detect(text, "en") == lang)
    print(json.dumps({"language_detection_accuracy": round(detected / len(examples), 4)}))
    for model in args.models:
        result = asyncio.run(evaluate(Path(model), examples))
        errors = result.pop("errors")
        print(json.dumps(result))
        if args.show_errors:
            for line in errors:  # type: ignore[union-attr]
                print("  ", line)


if __name__ == "__main__":
    main()
