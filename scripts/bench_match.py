"""Fact matching benchmark: top-1 accuracy and wrong-fact answers on a case file.

Usage: python scripts/bench_match.py [CASES.yml] [--facts data/facts/demo.csv] [-v]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import settings  # noqa: E402
from bot.matching import analyze, fact_index  # noqa: E402


def evaluate(cases_path: Path, facts_path: Path, verbose: bool = False) -> dict:
    """Runs every case through the matcher with the configured thresholds."""
    with facts_path.open(encoding="utf-8") as handle:
        index = fact_index(csv.DictReader(handle))
    cases = yaml.safe_load(cases_path.read_text(encoding="utf-8"))["cases"]
    cfg = settings()
    right = wrong = abstained_on_match = 0
    for case in cases:
        found = index.search(case["text"], cfg.match_threshold, cfg.match_margin)
        if found.id == case["fact"]:
            right += 1
        elif found.id is not None:
            wrong += 1
        else:
            abstained_on_match += 1
        if verbose and found.id != case["fact"]:
            print(
                f"  expected={case['fact']} got={found.id} best={found.candidate}"
                f" score={found.score:.3f} runner_up={found.runner_up:.3f}"
                f" evidence={found.evidence} | {case['text']} | {analyze(case['text'])}"
            )
    total = len(cases)
    return {
        "cases": total,
        "matched_cases": sum(1 for c in cases if c["fact"]),
        "no_match_cases": sum(1 for c in cases if not c["fact"]),
        "top1_accuracy": round(right / total, 4),
        "wrong_fact_answers": wrong,
        "said_checking_instead": abstained_on_match,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", default=str(ROOT / "tests/match_heldout.yml"))
    parser.add_argument("--facts", default=str(ROOT / "data/facts/demo.csv"))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    print(json.dumps(evaluate(Path(args.cases), Path(args.facts), args.verbose)))


if __name__ == "__main__":
    main()
