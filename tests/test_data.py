"""Training data, held-out data and domain: amounts, separation and completeness."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

MAIN = {"complaint": 80, "rumour": 80, "question": 80, "request_human": 30}
SMALL = ["greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "out_of_scope"]
# Never typed, so no NLU examples: the desk's external intent, the rating buttons' intent.
NOT_TYPED = ["EXTERNAL_handoff_closed", "rate_handoff"]


def examples(path: Path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for block in data.get("nlu", []):
        lang = (block.get("metadata") or {}).get("language")
        for line in block.get("examples", "").splitlines():
            if line.strip().startswith("- "):
                yield block["intent"], lang, line.strip()[2:].strip()


def training():
    return [e for p in sorted((ROOT / "data/nlu").glob("*.yml")) for e in examples(p)]


def key(text):
    return " ".join(text.lower().split())


@pytest.mark.parametrize("lang", ["tr", "en"])
def test_enough_training_examples_per_intent_and_language(lang):
    counts = Counter(intent for intent, example_lang, _ in training() if example_lang == lang)
    for intent, minimum in MAIN.items():
        assert counts[intent] >= minimum, (intent, lang, counts[intent])
    for intent in SMALL:
        assert counts[intent] >= 15, (intent, lang, counts[intent])


def test_heldout_is_big_enough_and_never_in_training():
    held = list(examples(ROOT / "tests/nlu_heldout.yml"))
    counts = Counter((intent, lang) for intent, lang, _ in held)
    for intent in MAIN:
        for lang in ("tr", "en"):
            assert counts[(intent, lang)] >= 20
    train = {key(text) for _, _, text in training()}
    assert [text for _, _, text in held if key(text) in train] == []


OOD_HELDOUT = ROOT / "tests/ood_heldout2.yml"


def test_ood_heldout_is_big_enough_and_never_in_training():
    # written by a separate author, never tuned on; skipped until it exists
    if not OOD_HELDOUT.exists():
        pytest.skip(f"{OOD_HELDOUT.name} does not exist yet")
    messages = yaml.safe_load(OOD_HELDOUT.read_text(encoding="utf-8"))["messages"]
    held = {key(str(m["text"])) for m in messages}
    size = len(held)
    assert size >= 60
    train = {key(text) for _, _, text in training()}
    # counts only, bound to names first: pytest would print the sets of an inline
    # expression, and held-out lines must not reach logs that a tuner reads
    overlap = len(held & train)
    assert overlap == 0


MATCH_HELDOUT = ROOT / "tests/match_heldout4"
MATCH_DEV = [ROOT / "tests/match_dev.yml"] + [
    ROOT / f"tests/{name}/cases.yml" for name in ("match_dev", "match_dev2", "match_dev3")
]


def test_match_heldout_is_big_enough_and_never_in_dev_or_training():
    """The issue's held-out match set: 150+ claims, 30 %+ without a fact, 3+ other brands."""
    import csv

    spec = yaml.safe_load((MATCH_HELDOUT / "brands.yml").read_text(encoding="utf-8"))
    cases = yaml.safe_load((MATCH_HELDOUT / "cases.yml").read_text(encoding="utf-8"))["cases"]
    facts = {}
    for brand in spec["brands"]:
        with (ROOT / brand["facts"]).open(encoding="utf-8", newline="") as handle:
            facts[brand["id"]] = {row["id"] for row in csv.DictReader(handle)}
    assert len(cases) >= 150
    assert sum(case["fact"] is None for case in cases) >= 0.3 * len(cases)
    assert len({case["brand"] for case in cases} - {"kuzey"}) >= 3
    unknown = [c for c in cases if c["fact"] is not None and c["fact"] not in facts[c["brand"]]]
    assert len(unknown) == 0
    held = {key(str(case["text"])) for case in cases}
    dev = {
        key(str(case["text"]))
        for path in MATCH_DEV
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
    }
    train = {key(text) for _, _, text in training()}
    # counts only (see the out-of-domain test above)
    overlap = len(held & (dev | train))
    assert overlap == 0


def test_no_example_is_labelled_twice():
    seen = {}
    clashes = []
    for intent, _, text in training():
        if seen.setdefault(key(text), intent) != intent:
            clashes.append(text)
    assert clashes == []


@pytest.fixture(scope="module")
def domain():
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def test_domain_intents_are_exactly_the_agreed_ones(domain):
    assert sorted(domain["intents"]) == sorted([*MAIN, *SMALL, *NOT_TYPED])


def test_every_response_speaks_both_languages(domain):
    for name, variants in domain["responses"].items():
        langs = {
            c["value"]
            for v in variants
            for c in v.get("condition") or []
            if c["name"] == "language"
        }
        assert langs in ({"tr", "en"}, set()), name
        assert any(not v.get("condition") for v in variants), f"{name} has no default variant"


def test_every_response_used_by_actions_or_data_exists_and_every_response_is_used(domain):
    code = "\n".join(
        p.read_text()
        for folder in ("actions", "bot", "bot/channels")
        for p in (ROOT / folder).glob("*.py")
    )
    data = "\n".join(p.read_text() for p in (ROOT / "data").rglob("*.yml"))
    used = set(re.findall(r'"(utter_[a-z_]+)"', code)) | set(re.findall(r"(utter_[a-z_]+)", data))
    used |= {f"utter_fact_{v}" for v in ("true", "false", "misleading", "unverified")}
    # Button titles exist for the intents the NLU can predict (rephrase buttons).
    used |= {f"utter_button_{i}" for i, _, _ in training()}
    dynamic = {u for u in used if u.endswith("_")}
    assert (used - dynamic) - set(domain["responses"]) == set()
    assert set(domain["responses"]) - used == set()
