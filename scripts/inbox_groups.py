"""Measures the review inbox's grouping threshold on the training data.

The inbox groups messages whose sentence vectors (bot/encoder.py) have a cosine
of at least `bot.training.inbox.GROUP_THRESHOLD` with a group's first message.
Here the training examples of data/nlu stand in for inbox messages: for several
thresholds it prints how many pairs of examples score at least that much, the
share of those pairs that are of the same intent (how often a group would mix
intents), and the share of examples with at least one same-intent partner at
that score (how much grouping would help).

    .venv/bin/python scripts/inbox_groups.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import encoder  # noqa: E402
from bot.training import inbox, intents  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)


def main() -> None:
    examples = [
        e for e in intents.project_examples(ROOT) if e.path.startswith("data/nlu/") and e.intent
    ]
    texts = [inbox.plain(e.text) for e in examples]
    labels = np.array([e.intent for e in examples])
    vectors = encoder.encode(texts)
    scores = vectors @ vectors.T
    upper = np.triu(np.ones_like(scores, dtype=bool), k=1)
    same = labels[:, None] == labels[None, :]
    print(f"{len(texts)} training examples, {len(set(labels))} intents")
    print(f"current GROUP_THRESHOLD: {inbox.GROUP_THRESHOLD:.2f}")
    print("threshold  pairs  same-intent  examples-with-a-same-intent-partner")
    for t in THRESHOLDS:
        close = (scores >= t) & upper
        pairs = int(close.sum())
        share = float((close & same).sum()) / pairs if pairs else 0.0
        both = (scores >= t) & same & ~np.eye(len(texts), dtype=bool)
        partnered = float(both.any(axis=1).mean())
        print(f"  {t:.2f}   {pairs:7d}    {share:6.1%}      {partnered:6.1%}")


if __name__ == "__main__":
    main()
