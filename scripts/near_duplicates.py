"""Measures the near-duplicate check of `crisisdesk intents add` on the training data.

Prints, for the character trigram and the sentence encoder scores of
bot/training/intents.py, the highest score between examples of different intents
(the thresholds must sit above it, so the existing data passes its own check),
with and without the pairs that differ by a negation, and how many made
near-duplicates of 400 random examples the check flags (one typo, two words
swapped, a filler word added, a word dropped, and two of these at once).

    .venv/bin/python scripts/near_duplicates.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.training import intents  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FILLERS = {"tr": ["lutfen", "ya", "acaba", "abi", "simdi"], "en": ["please", "hey", "so", "pls"]}
KINDS = ("typo", "swap", "filler", "drop", "typo+filler", "drop+typo")


def _perturb(rng: random.Random, text: str, lang: str, kind: str) -> str | None:
    w = text.split()
    if kind == "typo":
        long = [i for i, x in enumerate(w) if len(x) > 3]
        if not long:
            return None
        i = rng.choice(long)
        k = rng.randrange(1, len(w[i]) - 1)
        w[i] = w[i][:k] + w[i][k + 1 :] if rng.random() < 0.5 else w[i][:k] + w[i][k:][0] + w[i][k:]
    elif kind == "swap":
        if len(w) < 3:
            return None
        i = rng.randrange(len(w) - 1)
        w[i], w[i + 1] = w[i + 1], w[i]
    elif kind == "filler":
        filler = rng.choice(FILLERS.get(lang or "en", FILLERS["en"]))
        w = [filler, *w] if rng.random() < 0.5 else [*w, filler]
    elif kind == "drop":
        if len(w) < 4:
            return None
        del w[rng.randrange(len(w))]
    return " ".join(w)


def main() -> int:
    """Prints the measurements."""
    examples = [e for e in intents.project_examples(ROOT) if e.path.startswith("data/")]
    keys = [intents.key(e.text) for e in examples]
    labels = np.array([e.intent for e in examples])
    chars, encs = intents.similarities(keys, keys)
    other = labels[:, None] != labels[None, :]
    negated = np.zeros_like(other)
    for i, j in zip(*np.nonzero(other & ((chars >= 0.7) | (encs >= 0.8))), strict=True):
        negated[i, j] = intents.negation_differs(keys[i], keys[j])
    print(f"{len(examples)} training examples of {len(set(labels))} intents")
    for name, scores in (("characters", chars), ("encoder", encs)):
        for label, mask in (("all pairs", other), ("without negation pairs", other & ~negated)):
            masked = np.where(mask, scores, -1.0)
            i, j = np.unravel_index(int(np.argmax(masked)), masked.shape)
            print(
                f"{name:<10} highest between intents, {label}: {masked[i, j]:.3f}"
                f"  {keys[i]!r} ({labels[i]}) / {keys[j]!r} ({labels[j]})"
            )
    rng = random.Random(9)
    made = []
    for i in rng.sample(range(len(examples)), 400):
        for kind in KINDS:
            text: str | None = keys[i]
            for step in kind.split("+"):
                text = _perturb(rng, text, examples[i].language, step) if text else None
            if text and intents.key(text) != keys[i]:
                made.append((i, kind, text))
    print(f"thresholds: characters {intents.CHAR_THRESHOLD}, encoder {intents.ENCODER_THRESHOLD}")
    for kind in KINDS:
        rows = [(i, text) for i, k, text in made if k == kind]
        # each made text against its own original only
        hits = sum(
            intents.near_duplicates([text], [examples[i]])[0][0] is not None for i, text in rows
        )
        print(f"  {kind:<12} {hits}/{len(rows)} flagged ({hits / len(rows):.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
