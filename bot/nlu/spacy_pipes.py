"""The spaCy side of crisisdesk's NLU: pipe factories, entity rules, and loading.

Each language has a blank spaCy pipeline (no downloaded model) with:
- `crisisdesk_norm`, which sets each token's NORM to its folded lower-case form;
- an entity ruler with crisisdesk's entity rules (order and ticket numbers, lot
  codes, topics), matched on NORM so that both spellings hit.
Beside it lies the language's lemma table, word -> lemma, from spacy-lookups-data;
the Turkish table is extended with diacritic-free spellings ("siparislerimi" ->
"sipariş"), because customers often type without Turkish letters. The tokenizer
looks lemmas up itself (`bot/nlu/components.py`), so the table is not a spaCy
lemmatizer pipe: spaCy's `Table` took 7 s to load the 2.2 million Turkish
entries in every process that loads a model, a marshalled dict takes about 1 s.
`python -m bot.nlu.build` writes both to `var/spacy/{tr,en}`.
"""

from __future__ import annotations

import gzip
import json
import marshal
import shutil
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Dict, List, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from bot.language import normalize

# Topics a complaint or question is about: canonical id -> folded word prefixes.
TOPICS: Dict[str, Tuple[str, ...]] = {
    "delivery": (
        "kargo",
        "teslimat",
        "kurye",
        "paket",
        "delivery",
        "deliver",
        "courier",
        "shipping",
        "shipment",
        "parcel",
        "package",
    ),
    "refund": ("iade", "refund", "geriodeme"),
    "billing": ("fatura", "ucret", "tahsil", "bill", "invoice", "charge", "overcharg"),
    "card": ("kart", "card"),
    "network": ("internet", "sebeke", "sinyal", "network", "signal", "wifi", "modem"),
    "flight": ("ucus", "ucak", "bagaj", "flight", "baggage", "luggage", "boarding"),
    "health": (
        "zehirlen",
        "hastane",
        "hasta",
        "alerji",
        "ishal",
        "kusma",
        "poison",
        "hospital",
        "sick",
        "allerg",
        "vomit",
        "diarrh",
    ),
    "account": ("hesab", "hesap", "sifre", "account", "password", "login"),
    "staff": ("personel", "calisan", "kaba", "staff", "employee", "rude"),
}


LOT_WORDS = ("lot", "parti", "batch", "seri")


def topic_patterns() -> List[dict]:
    """Entity-ruler patterns for topics, order/ticket numbers and lot codes."""
    patterns: List[dict] = [
        {"label": "ticket_number", "pattern": [{"TEXT": {"REGEX": r"^(?i:cd)-?\d{4,8}$"}}]},
        {"label": "order_number", "pattern": [{"TEXT": {"REGEX": r"^#?\d{6,12}$"}}]},
        {
            "label": "order_number",
            "pattern": [{"TEXT": {"REGEX": r"^#?(?!(?i:cd)-)(?i:[A-Z]{2,3})-\d{4,10}$"}}],
        },
        {"label": "lot_code", "pattern": [{"TEXT": {"REGEX": r"^(?i:L)\d{4}[A-Za-z]?$"}}]},
        {
            "label": "lot_code",
            "pattern": [
                {"NORM": {"IN": list(LOT_WORDS)}},
                {"TEXT": {"REGEX": r"^(?=.*\d)[A-Za-z0-9]{2,10}$"}},
                {"TEXT": "-", "OP": "?"},
                {"TEXT": {"REGEX": r"^\d{1,6}$"}, "OP": "?"},
            ],
        },
    ]
    for topic, prefixes in TOPICS.items():
        for prefix in prefixes:
            patterns.append(
                {"label": "topic", "id": topic, "pattern": [{"NORM": {"REGEX": f"^{prefix}"}}]}
            )
    return patterns


@Language.component("crisisdesk_norm")
def crisisdesk_norm(doc: Doc) -> Doc:
    """Sets every token's NORM to its folded, lower-case text."""
    for token in doc:
        token.norm_ = normalize(token.text)
    return doc


LEMMAS = "lemmas.marshal"


def build(lang: str, target: Path) -> Language:
    """Builds the blank `lang` pipeline with entity rules and its lemma table into `target`."""
    nlp = spacy.blank(lang)
    nlp.add_pipe("crisisdesk_norm")
    ruler = nlp.add_pipe(
        "entity_ruler", config={"phrase_matcher_attr": "NORM", "overwrite_ents": True}
    )
    nlp.initialize()
    ruler.add_patterns(topic_patterns())  # type: ignore[attr-defined]
    shutil.rmtree(target, ignore_errors=True)  # no pipe of an older build is left behind
    target.mkdir(parents=True)
    nlp.to_disk(target)
    # marshal: the fastest loader of a large str -> str dict in the standard library;
    # the file is written here, by the same Python that reads it (not a shared format).
    (target / LEMMAS).write_bytes(marshal.dumps(lemma_table(lang)))
    return nlp


def _lookups(lang: str) -> Dict[str, str]:
    data = resources.files("spacy_lookups_data") / "data" / f"{lang}_lemma_lookup.json.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def lemma_table(lang: str) -> Dict[str, str]:
    """spacy-lookups-data's lemma table for `lang`; Turkish also without diacritics."""
    table = _lookups(lang)
    if lang == "tr":
        for plain, lemma in folded_lemmas(table).items():
            table.setdefault(plain, lemma)
    return table


def folded_lemmas(words: Dict[str, str]) -> Dict[str, str]:
    """Diacritic-free spellings of the words of a lemma table."""
    folded: Dict[str, str] = {}
    for word, lemma in words.items():
        plain = normalize(word)
        if plain != word:
            folded.setdefault(plain, lemma)
    return folded


@lru_cache(maxsize=4)
def load(directory: str, lang: str) -> Language:
    """The built pipeline for `lang` from `directory` (cached per process)."""
    path = Path(directory) / lang
    if not (path / "config.cfg").is_file():
        raise FileNotFoundError(
            f"no spaCy pipeline at {path}; run `make spacy` (python -m bot.nlu.build)"
        )
    return spacy.load(path)


@lru_cache(maxsize=4)
def load_lemmas(directory: str, lang: str) -> Dict[str, str]:
    """The lemma table built for `lang` in `directory` (cached per process)."""
    path = Path(directory) / lang / LEMMAS
    if not path.is_file():
        raise FileNotFoundError(
            f"no lemma table at {path}; run `make spacy` (python -m bot.nlu.build)"
        )
    return marshal.loads(path.read_bytes())
