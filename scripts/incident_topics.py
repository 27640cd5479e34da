"""Measures the incident topic detector's meaning threshold (CRISISDESK_INCIDENT_TOPIC_THRESHOLD).

Each fact of the matcher's dev sets plays an incident: its two claims (Turkish,
English) are the incident's example messages, and it has no keywords, so only
the sentence vectors decide. On topic: the dev cases of that fact. Off topic:
the cases of the brand's other facts and its no-match cases (the nearest
confusers: the same brand, another crisis) and every training example of
data/nlu (greetings, complaints, questions...). For each threshold it prints the
share of on-topic messages found and of off-topic ones wrongly taken.

    .venv/bin/python scripts/incident_topics.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import encoder  # noqa: E402


def _facts(path: Path) -> Dict[str, Tuple[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return {row["id"]: (row["claim_tr"], row["claim_en"]) for row in csv.DictReader(handle)}


def dev_sets() -> List[Tuple[Dict[str, Tuple[str, str]], List[Dict]]]:
    """(facts by id, cases) per brand of the three dev sets."""
    sets = [(_facts(ROOT / "data/facts/demo.csv"), _cases(ROOT / "tests/match_dev.yml"))]
    for folder in ("tests/match_dev", "tests/match_dev2"):
        brands = yaml.safe_load((ROOT / folder / "brands.yml").read_text(encoding="utf-8"))
        cases = _cases(ROOT / folder / "cases.yml")
        for brand in brands["brands"]:
            facts = _facts(ROOT / brand["facts"])
            sets.append((facts, [c for c in cases if c.get("brand") == brand["id"]]))
    return sets


def _cases(path: Path) -> List[Dict]:
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["cases"])


def training_texts() -> List[str]:
    texts = []
    for path in sorted((ROOT / "data/nlu").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.append(line[2:])
    return texts


def _table(title: str, on: List[float], confusers: List[float], chat: List[float]) -> None:
    on_a, conf_a, chat_a = np.array(on), np.array(confusers), np.array(chat)
    print(
        f"{title}: {len(on)} on-topic, {len(confusers)} same-brand off-topic and"
        f" {len(chat)} training-example pairs"
    )
    print("threshold  on-topic found  same brand, other topic taken  training examples taken")
    for threshold in np.arange(0.30, 0.75, 0.05):
        print(
            f"{threshold:9.2f}  {np.mean(on_a >= threshold):14.1%}"
            f"  {np.mean(conf_a >= threshold):29.2%}  {np.mean(chat_a >= threshold):23.2%}"
        )


def main() -> None:
    """Prints found/wrong shares per threshold, for claims and for customer wordings as examples."""
    training = training_texts()
    training_vectors = encoder.encode(training)
    for mode in ("claims", "customer wordings"):
        on: List[float] = []
        confusers: List[float] = []
        chat: List[float] = []
        for facts, cases in dev_sets():
            texts = [c["text"] for c in cases]
            vectors = dict(zip(texts, encoder.encode(texts), strict=True))
            for fact_id, claims in facts.items():
                own = [c["text"] for c in cases if c.get("fact") == fact_id]
                if mode == "claims":
                    examples_text = list(claims)
                else:
                    # The first two customer wordings are the examples; the rest are tested.
                    if len(own) < 4:
                        continue
                    examples_text = own[:2]
                examples = encoder.encode(examples_text)
                for case in cases:
                    if case["text"] in examples_text:
                        continue
                    score = float(np.max(examples @ vectors[case["text"]]))
                    (on if case.get("fact") == fact_id else confusers).append(score)
                chat.extend(np.max(training_vectors @ examples.T, axis=1).tolist())
        _table(f"examples = {mode}", on, confusers, chat)
        print()


if __name__ == "__main__":
    main()
