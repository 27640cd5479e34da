"""How serious a complaint is, and why.

High severity goes straight to a person: health harm, safety hazards, legal
threats, the press, violence, or a customer complaining for the second time.
Matching is on folded lower-case text, by word prefix, so Turkish suffixes and
missing Turkish letters do not hide a signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Tuple

from bot.language import normalize

SIGNALS: Dict[str, Tuple[str, ...]] = {
    "health": (
        "hastane",
        "hasta oldu",
        "hastalandi",
        "hastalan",
        "zehirlen",
        "kustu",
        "kusuyor",
        "kusma",
        "ishal",
        "alerji",
        "alerjik",
        "nefes alam",
        "acil servis",
        "acile",
        "ambulans",
        "doktor",
        "bayildi",
        "hospital",
        "sick",
        "food poisoning",
        "poisoned",
        "vomit",
        "diarrh",
        "allerg",
        "anaphyla",
        "emergency room",
        "ambulance",
        "doctor",
        "passed out",
        "fainted",
        "rash",
        "ill$",
        "ilac",
        "insulin",
    ),
    "safety": (
        "yangin",
        "yandi",
        "alev",
        "patladi",
        "patlama",
        "duman",
        "elektrik carp",
        "kivilcim",
        "cam parca",
        "metal parca",
        "kesildi",
        "yaralan",
        "fire$",
        "caught fire",
        "explod",
        "smoke",
        "sparks",
        "electric shock",
        "shard",
        "glass in",
        "injur",
        "burned",
        "burnt",
        "cut my",
        "choked",
        "bogul",
    ),
    "legal": (
        "avukat",
        "dava",
        "mahkeme",
        "savcilik",
        "suc duyurusu",
        "tuketici hakem",
        "hakem heyeti",
        "sikayet edecegim",
        "cimer",
        "btk",
        "bddk",
        "lawyer",
        "attorney",
        "sue$",
        "suing",
        "lawsuit",
        "court",
        "legal action",
        "regulator",
        "ombudsman",
    ),
    "press": (
        "gazeteci",
        "gazete",
        "haber yap",
        "habere",
        "basina",
        "basin",
        "muhabir",
        "televizyon",
        "viral",
        "journalist",
        "reporter",
        "press",
        "newspaper",
        "media",
        "go public",
        "news$",
    ),
    "violence": (
        "oldururum",
        "olduru",
        "gebertir",
        "dovecegim",
        "doverim",
        "bomba",
        "silah",
        "kill",
        "shoot",
        "bomb",
        "beat you",
        "hurt you",
        "gun$",
    ),
}

_PATTERNS = {
    reason: re.compile(
        r"(?<![a-z0-9])(?:"
        + "|".join(
            re.escape(stem[:-1]) + r"(?![a-z0-9])" if stem.endswith("$") else re.escape(stem)
            for stem in stems
        )
        + ")"
    )
    for reason, stems in SIGNALS.items()
}


@dataclass(frozen=True)
class Severity:
    """A complaint's severity ("high" or "normal") and the reasons found."""

    level: str
    reasons: List[str]

    @property
    def is_high(self) -> bool:
        """True when the complaint must go to a person at once."""
        return self.level == "high"


def assess(text: str, previous_complaints: int = 0) -> Severity:
    """Severity of one complaint, given how many the customer made before."""
    folded = normalize(text or "")
    reasons = [reason for reason, pattern in _PATTERNS.items() if pattern.search(folded)]
    if previous_complaints > 0:
        reasons.append("repeated")
    return Severity("high" if reasons else "normal", reasons)
