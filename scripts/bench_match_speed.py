"""Fact matching speed: one claim against the demo facts and against 10,000 synthetic facts.

Measures `Index.search` per message, the sentence encoder's call included (its
cache is cleared before every search), median and p95 in milliseconds, and the
time to build the index (the facts' vectors, computed once per content version).
Next to it, in the same run, the encoder's call alone on the same messages: the
part of a search that does not depend on the number of facts, and the one that
moves most with the shared machine's load.
The 10,000 facts are generated: 500 fictional brands in ten sectors, each with
20 claims drawn from crisis templates in Turkish and English.

Usage: python scripts/bench_match_speed.py [--facts 10000] [--messages 200]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import encoder  # noqa: E402
from bot.matching import fact_index  # noqa: E402

# fmt: off
_SECTORS = [
    ("süt", "milk"), ("kargo", "parcels"), ("elektrik", "electricity"), ("otobüs", "buses"),
    ("banka", "banking"), ("telefon", "phone lines"), ("market", "groceries"),
    ("ilaç", "medicine"), ("sigorta", "insurance"), ("yemek", "food delivery"),
]
_CLAIMS = [
    ("{b} iflas ediyor.", "{b} is going bankrupt."),
    ("{b} {p} fiyatlarına yüzde {n} zam yaptı.", "{b} raised {pe} prices by {n} percent."),
    ("{b} {n} çalışanını işten çıkarıyor.", "{b} is laying off {n} workers."),
    ("{b} {c} tesisinde yangın çıktı.", "There was a fire at the {b} site in {c}."),
    ("{b} müşteri verileri sızdırıldı.", "{b} customer data was leaked."),
    ("{b} {c} şubesini kapatıyor.", "{b} is closing its {c} branch."),
    ("{b} çalışanları {c} bölgesinde greve çıktı.", "{b} staff in {c} are on strike."),
    ("{b} yabancı bir şirkete satıldı.", "{b} was sold to a foreign company."),
    ("{b} {p} ürünlerini geri çağırıyor.", "{b} is recalling its {pe} products."),
    ("{b} bedava {p} kampanyası yapıyor.", "{b} is giving away free {pe}."),
    ("{b} iade taleplerini kabul etmiyor.", "{b} no longer accepts refunds."),
    ("{b} genel müdürü tutuklandı.", "The {b} chief executive was arrested."),
]
_CITIES = ["Ankara", "İzmir", "Bursa", "Adana", "Konya", "Samsun", "Trabzon", "Antalya",
           "Kayseri", "Mersin", "Eskişehir", "Denizli"]
_SYLLABLES = ["ka", "ra", "de", "niz", "yol", "su", "ay", "el", "tan", "mer", "gi", "ko",
              "bel", "ta", "ser", "lu", "an", "ver", "is", "ok"]
# fmt: on


def synthetic_facts(count: int, seed: int = 7) -> List[Dict[str, str]]:
    """`count` generated facts with claims in both languages and short answers."""
    rng = random.Random(seed)
    facts: List[Dict[str, str]] = []
    brands = []
    while len(brands) < max(1, count // 20):
        name = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()
        if name not in brands:
            brands.append(name)
    for number in range(count):
        brand = brands[number % len(brands)]
        product, product_en = _SECTORS[(number // len(brands)) % len(_SECTORS)]
        claim_tr, claim_en = rng.choice(_CLAIMS)
        values = {
            "b": brand,
            "p": product,
            "pe": product_en,
            "n": str(rng.choice([10, 20, 30, 40, 50, 100, 200, 300, 500, 1000])),
            "c": rng.choice(_CITIES),
        }
        tr, en = claim_tr.format(**values), claim_en.format(**values)
        facts.append(
            {
                "id": f"synthetic-{number}",
                "topic": product_en,
                "claim_tr": tr,
                "claim_en": en,
                "verdict": "false",
                "answer_tr": f"Bu doğru değil: {tr[:-1].lower()} iddiası yanlış.",
                "answer_en": f"This is not true: the claim that {en[:-1]} is false.",
                "source_url": f"https://{brand.lower()}.example/{number}",
            }
        )
    return facts


def _timed(call, messages: List[str]) -> List[float]:
    """Milliseconds of `call(text)` per message, the encoder's cache cleared before each."""
    samples = []
    for text in messages:
        encoder._cached_one.cache_clear()
        started = time.perf_counter()
        call(text)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def timed_searches(index, messages: List[str]) -> Dict[str, float]:
    """Median and p95 ms of `index.search`, encoding included (cache cleared)."""
    samples = _timed(index.search, messages)
    ordered = sorted(samples)
    return {
        "searches": len(samples),
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
    }


def evaluate(facts_count: int = 10_000, messages_count: int = 200) -> dict:
    """Search latency at the demo's size and at `facts_count` synthetic facts."""
    cases = yaml.safe_load((ROOT / "tests/match_dev.yml").read_text(encoding="utf-8"))["cases"]
    messages = [str(case["text"]) for case in cases][:messages_count]
    encoder.encode_one("warm up")
    with (ROOT / "data/facts/demo.csv").open(encoding="utf-8", newline="") as handle:
        demo = list(csv.DictReader(handle))
    report = {}
    for name, facts in (("demo", demo), ("synthetic", synthetic_facts(facts_count))):
        started = time.perf_counter()
        index = fact_index(facts)
        build = time.perf_counter() - started
        timed_searches(index, messages[:10])  # warm-up
        report[name] = {
            "facts": len(facts),
            "index_build_s": round(build, 2),
            **timed_searches(index, messages),
            "encoder_alone_median_ms": encoder_median(messages),
        }
    return report


def encoder_median(messages: List[str]) -> float:
    """Median ms of the encoder's call alone on `messages` (cache cleared), as a search makes it."""

    def call(text: str) -> object:
        return encoder.encode_one(text, encoder.SEARCH_THREADS)

    return round(statistics.median(_timed(call, messages)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(evaluate(args.facts, args.messages)))


if __name__ == "__main__":
    main()
