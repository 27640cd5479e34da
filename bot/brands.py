"""Whose claim is it? Our brand's names, and the other companies the bot must not speak for.

The bot answers only about its own brand. A message that names another company
and not ours ("danone is recalling yogurt with metal pieces") must not get our
recall as if it were about us, nor become our open rumour.

- Our names: `BRAND_NAME` and `BRAND_ALIASES` (settings; the demo brand Kuzey Süt
  and its aliases by default).
- Other brands, found three ways:
  - the seed list `data/facts/brands.csv` (well-known brands per sector), minus
    the names editors removed and plus the ones they added
    (`crisisdesk brands add/remove`, the store's `brands` table);
  - an entity rule: one to three capitalised words before a company word
    ("Anka Holding", "Mavi Yol şirketi", "Foo Inc"), for companies on no list;
  - a `brand` (or `ORG`) entity from the NLU, when a pipeline provides one.
Names are compared folded (no Turkish letters or accents, lower case), word by
word; the last word may carry a Turkish case ending ("danonenin", "migrosta"),
names shorter than four letters only after an apostrophe ("BİM'de").
Seed names that are also everyday words are left out on purpose ("Şok" is shock,
"Mavi" blue, "Getir" bring, "Eti" its meat, "Metro" the underground).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Tuple

from bot.config import PROJECT_ROOT, Settings, settings
from bot.language import fold
from bot.lexicon import is_place
from bot.store import Store

SEED_FILE = PROJECT_ROOT / "data/facts/brands.csv"

# Folded Turkish case and possessive endings a brand name may carry without an apostrophe.
SUFFIXES = frozenset(
    """
    in nin un nun a ya e ye da de ta te dan den tan ten i yi u yu la le yla yle
    nda nde ndan nden daki deki taki teki ndaki ndeki ler lar s
    """.split()
)
MIN_SUFFIXED = 4  # shorter names only whole ("bim", "thy") or before an apostrophe

# Words that mark the capitalised words before them as a company's name.
_COMPANY_WORDS = (
    r"şirketi|şirketinin|şirketine|firması|firmasının|markası|markasının|holding|holdingi"
    r"|a\.ş\.?|aş|inc\.?|ltd\.?|plc|gmbh|corp\.?|corporation|company|co\."
)
_CAPITALISED = r"[A-ZÇĞİÖŞÜ][\w&'’.-]*"
_NAMED_COMPANY = re.compile(
    rf"((?:{_CAPITALISED}\s+){{0,2}}{_CAPITALISED})\s+(?i:{_COMPANY_WORDS})(?=\W|$)",
    re.UNICODE,
)
# Capitalised words that are not names ("Bu şirket", "Kargo şirketi", "The company").
_NOT_NAMES = frozenset(
    """
    bu su o bir sizin senin bizim onun hangi her baska diger sirket firma marka
    the a an this that your our their which every another other my
    kargo sigorta banka gida sut market teslimat dagitim nakliye telefon elektrik
    cargo delivery insurance bank food dairy milk shipping phone energy
    """.split()
)


def fold_name(text: str) -> str:
    """A name or text folded for comparison: no Turkish letters, accents or case."""
    text = unicodedata.normalize("NFKD", fold(unicodedata.normalize("NFKC", text)))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _tokens(text: str) -> List[Tuple[str, bool]]:
    """Folded word tokens, each with whether an apostrophe follows it ("bim'de")."""
    folded = fold_name(text)
    return [
        (m.group(0), folded[m.end() : m.end() + 1] in ("'", "’"))
        for m in re.finditer(r"[^\W_]+", folded)
    ]


def _name_tokens(name: str) -> Tuple[str, ...]:
    return tuple(token for token, _ in _tokens(name))


def _names_in(tokens: Sequence[Tuple[str, bool]], name: Tuple[str, ...]) -> bool:
    """Whether the folded name's words occur in order in the tokens (last one inflected)."""
    size = len(name)
    if not size:
        return False
    for start in range(len(tokens) - size + 1):
        if any(tokens[start + k][0] != name[k] for k in range(size - 1)):
            continue
        word = tokens[start + size - 1][0]
        last = name[-1]
        if word == last:
            return True
        rest = word[len(last) :]
        if word.startswith(last) and len(last) >= MIN_SUFFIXED and rest in SUFFIXES:
            return True
    return False


@lru_cache(maxsize=4)
def _seed(path: Path) -> Tuple[Tuple[str, str], ...]:
    """The seed list as (name, sector) pairs."""
    with path.open(encoding="utf-8", newline="") as handle:
        return tuple(
            (row["name"].strip(), (row.get("sector") or "").strip())
            for row in csv.DictReader(handle)
            if (row.get("name") or "").strip()
        )


def seed_brands(path: Path = SEED_FILE) -> List[Tuple[str, str]]:
    """The well-known brands every installation starts with: (name, sector)."""
    return list(_seed(path))


@dataclass(frozen=True)
class Brands:
    """Our names and the other brands' names; finds which a text talks about."""

    ours: Tuple[str, ...]
    others: Tuple[Tuple[str, str], ...]  # (name, sector)

    @property
    def name(self) -> str:
        """Our brand's name as customers should read it."""
        return self.ours[0] if self.ours else ""

    def names_ours(self, text: str) -> bool:
        """Whether the text names our brand (by its name or an alias)."""
        tokens = _tokens(text)
        return any(_names_in(tokens, _name_tokens(name)) for name in self.ours)

    def other_named(self, text: str, entities: Iterable[str] = ()) -> str | None:
        """The other company a text is about, when it names one and not ours; else None."""
        if self.names_ours(text):
            return None
        ours = {_name_tokens(name) for name in self.ours}
        for value in entities:
            if value and value.strip() and _name_tokens(value) not in ours:
                return value.strip()
        tokens = _tokens(text)
        for name, _ in self.others:
            if _names_in(tokens, _name_tokens(name)):
                return name
        return self._named_company(text, ours)

    @staticmethod
    def _named_company(text: str, ours: set) -> str | None:
        for found in _NAMED_COMPANY.finditer(text):
            words = found.group(1).split()
            while words and fold_name(words[0]).strip("'’.") in _NOT_NAMES:
                words = words[1:]
            if not words:
                continue
            name = " ".join(words)
            folded = _name_tokens(name)
            if folded in ours or all(is_place(w) for w in folded):
                continue
            return name
        return None


def our_names(cfg: Settings | None = None) -> Tuple[str, ...]:
    """BRAND_NAME first, then BRAND_ALIASES, without repeats."""
    cfg = cfg or settings()
    names: List[str] = []
    for name in (cfg.brand_name, *cfg.brand_aliases):
        if name.strip() and fold_name(name) not in {fold_name(n) for n in names}:
            names.append(name.strip())
    return tuple(names)


def load(store: Store | None = None, cfg: Settings | None = None) -> Brands:
    """Our names from the settings; other brands from the seed list and editors' changes."""
    ours = our_names(cfg)
    mine = {_name_tokens(name) for name in ours}
    others: Dict[str, Tuple[str, str]] = {
        fold_name(name): (name, sector)
        for name, sector in seed_brands()
        if _name_tokens(name) not in mine
    }
    for change in store.brand_changes() if store else ():
        key = fold_name(change["name"])
        if change["status"] == "removed":
            others.pop(key, None)
        elif _name_tokens(change["name"]) not in mine:
            others[key] = (change["name"], change["sector"] or "")
    return Brands(ours, tuple(sorted(others.values(), key=lambda item: fold_name(item[0]))))
