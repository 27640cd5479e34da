"""Measures the emerging-topic threshold (ALERT_EMERGING_THRESHOLD) on written data.

tests/emerging_dev.yml holds groups of messages about topics the demo facts do
not cover (each group: one new thing, asked in Turkish and English) and single
messages about other things. For several thresholds this runs the clustering of
bot/alerts.py (`cluster`: one pass in arrival order, cosine with each group's
centroid) over the messages in five shuffled orders and prints, on average:
how many of the groups come out as a cluster of at least MIN_SIZE messages,
clusters that mix two groups, and messages of other groups or singles inside a
group's cluster ("strays").

    .venv/bin/python scripts/emerging_threshold.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import encoder  # noqa: E402
from bot.alerts import cluster  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
MIN_SIZE = 4  # the data's groups have 6-7 messages
ORDERS = 5


def main() -> None:
    data = yaml.safe_load((ROOT / "tests/emerging_dev.yml").read_text(encoding="utf-8"))
    texts, labels = [], []
    for name, messages in data["groups"].items():
        texts += messages
        labels += [name] * len(messages)
    for number, message in enumerate(data["singles"]):
        texts.append(message)
        labels.append(f"single-{number}")
    vectors = encoder.encode(texts)
    grouped = sum(len(m) for m in data["groups"].values())
    print(f"{len(data['groups'])} groups ({grouped} messages), {len(data['singles'])} singles")
    print("threshold  groups found  mixed clusters  strays  grouped messages in their cluster")
    for threshold in THRESHOLDS:
        totals = np.zeros(4)
        for seed in range(ORDERS):
            order = list(range(len(texts)))
            random.Random(seed).shuffle(order)
            found, mixed, strays, placed = set(), 0, 0, 0
            for members in cluster(vectors[order], threshold):
                if len(members) < MIN_SIZE:
                    continue
                names = [labels[order[i]] for i in members]
                main_name = max(set(names), key=names.count)
                if not main_name.startswith("single-"):
                    found.add(main_name)
                others = [n for n in names if n != main_name]
                if any(not n.startswith("single-") and others.count(n) >= 2 for n in others):
                    mixed += 1
                strays += len(others)
                placed += names.count(main_name)
            totals += (len(found), mixed, strays, placed)
        found_, mixed_, strays_, placed_ = totals / ORDERS
        print(
            f"{threshold:9.2f}  {found_:6.1f}/{len(data['groups'])}"
            f"  {mixed_:14.1f}  {strays_:6.1f}  {placed_:6.1f}/{grouped}"
        )


if __name__ == "__main__":
    main()
