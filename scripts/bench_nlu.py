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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.language import detect  # noqa: E402

# The scoring lives in bot/training/evaluate.py (the promotion gate uses it too);
# these names stay importable from here for scripts/bench.py and the tests.
from bot.training.evaluate import (  # noqa: E402,F401
    REJECTED,
    evaluate,
    evaluate_ood,
    load_examples,
    load_ood,
    scores,
)


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
