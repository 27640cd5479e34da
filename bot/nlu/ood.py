"""Out-of-domain guard: messages unlike anything a customer writes are not guessed at.

DIET always picks one of its intents, and on text unlike its training data it is
confidently wrong ("asdfgh qwerty" -> deny 0.82, "😡😡😡" -> affirm 0.99). This
component runs after DIET and the FallbackClassifier and looks at the message
itself, not at DIET's confidence:

- no letters or digits at all (emoji, punctuation): kind `emoji`;
- HTML/XML/BBCode tags: `markup`; program text, shell or SQL: `code`;
- a link with at most a few words around it: `url`;
- digits and signs only (a phone number, a date, "42"): `number`;
- words that are neither in the training vocabulary, nor in the spaCy lemma
  tables of either language, nor plausible letter sequences for Turkish or
  English (a character trigram model): `mash`.

Such a message becomes `nlu_fallback` (confidence 1.0) and the parse data gets
`out_of_domain: {kind, reason, replaced}` so that the fallback action answers
each kind in its own words ("I can't open links, what does it say?"). A message
identical to a training example is never overridden ("100%" is a yes).
Off-topic chat in plain words ("kek tarifi verir misin") is DIET's job: the
`out_of_scope` intent has its own training data.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any, Dict, Iterable, List, NamedTuple, Set

from bot.language import normalize, words

OUT_OF_DOMAIN = "out_of_domain"
FALLBACK = "nlu_fallback"
KINDS = ("emoji", "markup", "code", "url", "number", "mash")

_URL = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\."
    r"(?:com|net|org|io|co|tr|me|ly|be|gl|info|biz|app|dev|tv|edu|gov|uk|de)\b(?:/\S*)?",
    re.IGNORECASE,
)
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!?][^<>]*>|\[/?[a-zA-Z]{1,10}(?:=[^\]]*)?\]")
# Signs of program text. One alone is not enough ("fiyat=zam?" is a customer);
# two different ones are (see `code_signals`).
_CODE_PATTERNS = {
    "call": re.compile(r"[A-Za-z_][\w.]*\([^()\s]*\)"),
    "member_call": re.compile(r"\b[a-z_]\w*\.[a-z_]\w*\("),
    "statement_end": re.compile(r";\s*(?:--|$|\w)"),
    "operator": re.compile(r"=>|==|!=|&&|\|\||\+\+|\*\*|:=|->|::"),
    "braces": re.compile(r"[{}]"),
    "template": re.compile(r"\$\{|\{\{|\}\}"),
    "json_key": re.compile(r"[{,]\s*\"[^\"]+\"\s*:"),
    "assignment": re.compile(r"\b[a-zA-Z_]\w*\s*=\s*[\[{(\"'\w]"),
    "sql": re.compile(r"\b(?:SELECT|INSERT|UPDATE|DELETE|DROP|UNION|WHERE|FROM)\b"),
    "keyword": re.compile(
        r"^\s*(?:def|function|class|import|from|var|let|const|return|sudo|curl|wget|"
        r"echo|print|SELECT|DROP|for\s*\(|if\s*\()\b",
        re.IGNORECASE,
    ),
    "shell_flag": re.compile(r"(?:^|\s)--?[a-z][\w-]*(?:\s|$)"),
    "sql_comment": re.compile(r"--\s*$|/\*|\*/"),
}
_REPEAT = re.compile(r"(.)\1{2,}")
_LETTER = re.compile(r"[^\W\d_]")
# Words around a link that add nothing to it ("bak", "look at this", "bu ne").
MAX_WORDS_AROUND_LINK = 3
ALPHABET = 40


class Verdict(NamedTuple):
    """Why a message is out of domain."""

    kind: str
    reason: str


def code_signals(text: str) -> List[str]:
    """The names of the program-text patterns found in `text`."""
    return [name for name, pattern in _CODE_PATTERNS.items() if pattern.search(text)]


def surface_verdict(text: str) -> Verdict | None:
    """Out-of-domain kinds that the characters alone show (no vocabulary needed)."""
    if not words(text):
        return Verdict("emoji", "no letters or digits")
    if _TAG.search(text):
        return Verdict("markup", "markup tags")
    without_links = _URL.sub(" ", text)
    if without_links != text:
        around = [w for w in words(without_links) if _LETTER.search(w)]
        if len(around) <= MAX_WORDS_AROUND_LINK:
            return Verdict("url", f"a link with {len(around)} other words")
        return None
    signals = code_signals(text)
    if len(signals) >= 2:
        return Verdict("code", "program text: " + ", ".join(signals))
    if not any(_LETTER.search(w) for w in words(text)):
        return Verdict("number", "digits and signs only")
    return None


def squeeze(word: str) -> str:
    """Runs of three or more equal letters to one ("cooook" -> "cok")."""
    return _REPEAT.sub(r"\1", word)


class CharModel:
    """Character trigram model of Turkish and English words (folded, lower case).

    `score` is the mean log2 probability per character transition, with
    add-one smoothing: real words, even misspelt, score well above keyboard
    mash ("asdfgh", "qwerty", "sdfsdf"), whose letter sequences the languages
    rarely or never use.
    """

    def __init__(self, trigrams: Dict[str, int], bigrams: Dict[str, int]) -> None:
        """A model from trigram counts and the counts of their two-letter contexts."""
        self.trigrams = trigrams
        self.bigrams = bigrams

    @staticmethod
    def _padded(word: str) -> str:
        return f"^^{word}$"

    @classmethod
    def train(cls, vocabulary: Iterable[str]) -> CharModel:
        """Counts the trigrams of every word (each distinct word once)."""
        trigrams: Counter[str] = Counter()
        for word in set(vocabulary):
            padded = cls._padded(word)
            trigrams.update(padded[i : i + 3] for i in range(len(padded) - 2))
        bigrams: Counter[str] = Counter()
        for trigram, count in trigrams.items():
            bigrams[trigram[:2]] += count
        return cls(dict(trigrams), dict(bigrams))

    def score(self, word: str) -> float:
        """Mean log2 probability per character of `word` (higher is more word-like)."""
        padded = self._padded(word)
        total = 0.0
        for i in range(len(padded) - 2):
            trigram = padded[i : i + 3]
            count = self.trigrams.get(trigram, 0)
            context = self.bigrams.get(trigram[:2], 0)
            total += math.log2((count + 1) / (context + ALPHABET))
        return total / (len(padded) - 2)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-serialisable counts."""
        return {"trigrams": self.trigrams, "bigrams": self.bigrams}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> CharModel:
        """The model saved by `to_dict`."""
        return cls(dict(data["trigrams"]), dict(data["bigrams"]))


class OutOfDomainCheck:
    """The whole check: surface kinds, then known words and letter plausibility."""

    def __init__(
        self,
        vocabulary: Set[str],
        examples: Set[str],
        char_model: CharModel,
        dictionary: Set[str] | None = None,
        min_char_score: float = -4.8,
        min_short_char_score: float = -6.6,
        max_mash_share: float = 0.5,
    ) -> None:
        """`vocabulary`: folded training words; `examples`: normalized training texts;
        `dictionary`: folded lemmas of both languages (spaCy lookups)."""
        self.vocabulary = vocabulary
        self.examples = examples
        self.char_model = char_model
        self.dictionary = dictionary or set()
        self.min_char_score = min_char_score
        self.min_short_char_score = min_short_char_score
        self.max_mash_share = max_mash_share

    def known(self, word: str) -> bool:
        """In the training vocabulary or the lemma tables (also as a Turkish stem + suffix)."""
        for candidate in {word, squeeze(word)}:
            if candidate in self.vocabulary or candidate in self.dictionary:
                return True
            # Turkish adds suffixes to a lemma: "kargomu" is "kargo" + "mu".
            for cut in range(len(candidate) - 1, 3, -1):
                if candidate[:cut] in self.dictionary or candidate[:cut] in self.vocabulary:
                    return True
        return False

    def implausible(self, word: str) -> bool:
        """Unknown and not letter sequences Turkish or English would use."""
        if not _LETTER.search(word) or len(word) < 3:
            return False
        if len(word) >= 4 and len(set(word)) == 1:
            return True  # "aaaaaa", "jjjjjj": squeezed to "a" they would look known
        if self.known(word):
            return False
        squeezed = squeeze(word)
        # Short words score lower (fewer transitions, abbreviations such as "mrb"),
        # so they have their own, lower threshold.
        limit = self.min_char_score if len(squeezed) >= 5 else self.min_short_char_score
        return self.char_model.score(squeezed) < limit

    def verdict(self, text: str) -> Verdict | None:
        """Why `text` is out of domain, or None when the intent classifier may decide."""
        if normalize(text) in self.examples:
            return None
        surface = surface_verdict(text)
        if surface is not None:
            return surface
        lettered = [w for w in words(text) if _LETTER.search(w)]
        mash = [w for w in lettered if self.implausible(w)]
        if lettered and len(mash) / len(lettered) >= self.max_mash_share:
            return Verdict("mash", f"{len(mash)} of {len(lettered)} words unlike any language")
        return None

    def to_json(self) -> str:
        """The trained parts (not the dictionary, which comes from the spaCy pipelines)."""
        return json.dumps(
            {
                "vocabulary": sorted(self.vocabulary),
                "examples": sorted(self.examples),
                "char_model": self.char_model.to_dict(),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str, dictionary: Set[str], **thresholds: float) -> OutOfDomainCheck:
        """The check saved by `to_json`, with the lemma dictionary and thresholds."""
        data = json.loads(text)
        return cls(
            set(data["vocabulary"]),
            set(data["examples"]),
            CharModel.from_dict(data["char_model"]),
            dictionary,
            **thresholds,
        )
