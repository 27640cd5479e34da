"""Out-of-domain guard: messages unlike anything a customer writes are not guessed at.

DIET always picks one of its intents, and on text unlike its training data it is
confidently wrong ("asdfgh qwerty" -> deny 0.82, "😡😡😡" -> affirm 0.99). This
component runs after DIET and the FallbackClassifier and looks at the message
itself, not at DIET's confidence:

- no letters or digits at all (emoji, punctuation): kind `emoji`;
- HTML/XML/BBCode tags: `markup`; program text, shell or SQL: `code`;
- a link with at most a few words around it: `url`;
- digits and signs only (a phone number, a date, "42"): `number`;
- words that are neither in the training vocabulary, nor in the lemma
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
import unicodedata
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
# Markup that is markup on its own: HTML entities, LaTeX commands, Markdown links,
# images, headings, table rows and code fences. Nobody writes these to a brand's
# support line except by pasting page source.
_MARKUP_PATTERNS = {
    "entity": re.compile(r"&(?:[a-zA-Z]{2,8}|#\d{1,5}|#x[0-9a-fA-F]{1,4});"),
    "latex": re.compile(r"\\[a-zA-Z]{2,}\s*[{\[]|\$[^$\s][^$]*[\\^_][^$]*\$"),
    "md_link": re.compile(r"!?\[[^\]\n]*\]\([^)\s]+\)"),
    "md_heading": re.compile(r"(?m)^\s{0,3}#{1,6}\s+\S"),
    "md_table": re.compile(r"(?m)^\s*\|(?:[^|\n]*\|){2,}\s*$"),
    "code_fence": re.compile(r"```"),
}
# Inline formatting and emoji shortcodes (:smile:) are markup when they are nearly
# the whole message; "**acil** kargom gelmedi" is still a customer.
_INLINE_MARKUP = re.compile(
    r"\*\*[^*\n]+\*\*|__[^_\n]+__|~~[^~\n]+~~|`[^`\n]+`|(?<![\w*])[*_][^\s*_][^*_\n]*[*_](?![\w*])"
    r"|:(?=[a-z0-9_+-]*[a-z])[a-z0-9_+-]{2,30}:|:[+-]1:"
)
# A Rasa command once the channel took its slash away: one snake_case name
# ("request_human", "out_of_scope") or a name with slot JSON ("greet{}",
# 'complaint{"order_number": "X"}'). Customers write words, not identifiers.
_TYPED_COMMAND = re.compile(
    r"^\s*(?:[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z_][\w.-]*(?:@[\d.]+)?\{.*\})\s*$",
    re.IGNORECASE | re.DOTALL,
)
# Program text that is program text on its own: SQL injection, a stack trace or
# an error line, a sed substitution, a YAML/JSON document of several lines.
_STRONG_CODE_PATTERNS = {
    "injection": re.compile(
        r"'\s*(?:or|and)\s+'?\w+'?\s*=\s*'?\w|\w'\s*--|'\s*;\s*(?:drop|delete|select|insert|update)\b",
        re.IGNORECASE,
    ),
    "stack_trace": re.compile(
        r"Traceback \(most recent call last\)|\b[A-Z][a-z]+\w*(?:Error|Exception)\b(?::\s|\s+at\b)"
        r"|\bat\s+[\w.$<>]+\([\w.]+:\d+\)"
    ),
    "substitution": re.compile(r"^\s*s/[^/\s]+/[^/]*/[gimx]*\s*$"),
}
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
    "sql_clause": re.compile(
        r"\b(?:insert\s+into|delete\s+from|drop\s+table|group\s+by|order\s+by"
        r"|values\s*\(|update\s+\w+\s+set|select\s+(?:\*|distinct\b|count\())",
        re.IGNORECASE,
    ),
    "keyword": re.compile(
        r"^\s*(?:def|function|class|import|from|var|let|const|return|lambda|print|"
        r"SELECT|DROP|for\s*\(|if\s*\()\b",
        re.IGNORECASE,
    ),
    # A shell command name first, then arguments (the next patterns) make a command line.
    "shell_command": re.compile(
        r"^\s*(?:sudo|ls|cd|cat|git|npm|npx|yarn|pip3?|docker|kubectl|chmod|chown|echo|rm|"
        r"mv|cp|mkdir|grep|curl|wget|ssh|apt(?:-get)?|brew|python3?|node|export|tail|"
        r"systemctl|kill)\s+\S",
        re.IGNORECASE,
    ),
    "shell_flag": re.compile(r"(?:^|\s)--?[a-z][\w-]*(?:\s|$)"),
    "path": re.compile(r"(?:^|\s)(?:\.{1,2}/|~/|/)[\w.-]+(?:/[\w.-]*)*"),
    "pipe": re.compile(r"\s(?:\||&&|>>?)\s*[\w./$]"),
    "variable": re.compile(r"\$[A-Za-z_]\w*|%[A-Za-z_]\w*%"),
    "sql_comment": re.compile(r"--\s*$|/\*|\*/"),
    # `while True: pass`, `for x in y: ...`, `lambda x: x + 1`
    "block": re.compile(
        r"^\s*(?:if|elif|else|while|for|try|except|with|def|class|lambda)\b[^:\n]*:\s*\S"
    ),
    "literal": re.compile(r"\b(?:True|False|None|null|undefined|nil)\b|\bself\.|__\w+__"),
    # YAML: a list item with a key; a block scalar ("examples: |").
    "yaml_item": re.compile(r"(?m)^\s*-\s+[a-z_][\w-]*:\s"),
    "yaml_block": re.compile(r"(?m):\s*[|>]-?\s*$"),
    "escape": re.compile(r"\\[ntr0\\]|%[-+0-9.]*[dsfx]\b"),
    # Regular expressions: escapes such as \d, character classes such as [a-z0-9],
    # groups such as (?:...), anchors.
    "regex_escape": re.compile(r"\\[dDwWsSbB.()\[\]{}+*?]|\(\?[:=!<]"),
    "char_class": re.compile(r"\[\^?[^\]\s]*\w-\w[^\]\s]*\]"),
    "anchor": re.compile(r"^\^|\$$"),
}
_REPEAT = re.compile(r"(.)\1{2,}")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W_]+")
# Words around a link that add nothing to it ("bak", "look at this", "bu ne").
MIN_INLINE_SPANS = 3
MAX_WORDS_AROUND_LINK = 3
ALPHABET = 40


class Verdict(NamedTuple):
    """Why a message is out of domain."""

    kind: str
    reason: str


def code_signals(text: str) -> List[str]:
    """The names of the program-text patterns found in `text`."""
    return [name for name, pattern in _CODE_PATTERNS.items() if pattern.search(text)]


def _first(patterns: Dict[str, re.Pattern[str]], text: str) -> str | None:
    return next((name for name, pattern in patterns.items() if pattern.search(text)), None)


def surface_verdict(text: str) -> Verdict | None:
    """Out-of-domain kinds that the characters alone show (no vocabulary needed)."""
    if not words(text):
        return Verdict("emoji", "no letters or digits")
    if _TYPED_COMMAND.match(text):
        return Verdict("code", "a typed command name")
    if _TAG.search(text):
        return Verdict("markup", "markup tags")
    markup = _first(_MARKUP_PATTERNS, text)
    if markup is not None:
        return Verdict("markup", f"markup: {markup}")
    # Before links: a stack trace's dotted names ("com.example.App") look like one.
    strong = _first(_STRONG_CODE_PATTERNS, text)
    if strong is not None:
        return Verdict("code", f"program text: {strong}")
    without_links = _URL.sub(" ", text)
    if without_links != text:
        around = [w for w in words(without_links) if _LETTER.search(w)]
        if len(around) <= MAX_WORDS_AROUND_LINK:
            return Verdict("url", f"a link with {len(around)} other words")
        return None
    signals = code_signals(text)
    if len(signals) >= 2:
        return Verdict("code", "program text: " + ", ".join(signals))
    without_markup, spans = _INLINE_MARKUP.subn(" ", text)
    if spans and not any(_LETTER.search(w) for w in words(without_markup)):
        return Verdict("markup", "inline formatting or emoji shortcodes only")
    # A customer may bold one word; three formatted spans are pasted page text.
    if spans >= MIN_INLINE_SPANS:
        return Verdict("markup", f"{spans} inline formatting spans")
    if not any(_LETTER.search(w) for w in words(text)):
        return Verdict("number", "digits and signs only")
    return None


# Keyboard rows with each row's offset, on the US and the Turkish Q layouts: mash
# runs along neighbouring keys ("asdf", "wasd", "ğüşi", "poiuy").
_LAYOUTS = (
    (("qwertyuiop", 0.0), ("asdfghjkl", 0.25), ("zxcvbnm", 0.75)),
    (("qwertyuıopğü", 0.0), ("asdfghjklşi", 0.25), ("zxcvbnmöç", 0.75)),
)
_KEYS = [
    {
        key: (row, col + offset)
        for row, (keys, offset) in enumerate(rows)
        for col, key in enumerate(keys)
    }
    for rows in _LAYOUTS
]
_REPEATED_UNIT = re.compile(r"^(.{1,3}?)\1+$")
# "ğ" only ever follows a vowel in Turkish.
_IMPOSSIBLE_G = re.compile(r"(?:^|[^aeıioöuüâîû])ğ")


def keyboard_share(word: str) -> float:
    """Share of a word's letter steps to a neighbouring key (repeats skipped), best layout."""
    best = 0.0
    for keys in _KEYS:
        steps = neighbours = 0
        for a, b in zip(word, word[1:], strict=False):
            a, b = (a.replace("ı", "i"), b.replace("ı", "i")) if "ı" not in keys else (a, b)
            if a == b or a not in keys or b not in keys:
                continue
            (row_a, col_a), (row_b, col_b) = keys[a], keys[b]
            steps += 1
            neighbours += abs(row_a - row_b) <= 1 and abs(col_a - col_b) <= 1.0
        if steps:
            best = max(best, neighbours / steps)
    return best


def raw_words(text: str) -> List[str]:
    """Lower-case word tokens with Turkish letters kept (same tokens as `words`)."""
    text = unicodedata.normalize("NFKC", text).replace("İ", "i").replace("I", "ı").lower()
    return _WORD.findall(text)


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
        min_keyboard_share: float = 0.8,
    ) -> None:
        """`vocabulary`: folded training words; `examples`: normalized training texts;
        `dictionary`: folded lemmas of both languages (the lemma tables)."""
        self.vocabulary = vocabulary
        self.examples = examples
        self.char_model = char_model
        self.dictionary = dictionary or set()
        self.min_char_score = min_char_score
        self.min_short_char_score = min_short_char_score
        self.max_mash_share = max_mash_share
        self.min_keyboard_share = min_keyboard_share

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

    def implausible(self, word: str, raw: str | None = None) -> bool:
        """Unknown and not letter sequences Turkish or English would use.

        `word` is folded ("gusico"); `raw` the same word with Turkish letters ("ğüşiçö").
        """
        if not _LETTER.search(word) or len(word) < 3:
            return False
        if len(word) >= 4 and len(set(word)) == 1:
            return True  # "aaaaaa", "jjjjjj": squeezed to "a" they would look known
        if self.known(word):
            return False
        raw = squeeze(raw or word)
        squeezed = squeeze(word)
        if _IMPOSSIBLE_G.search(raw):
            return True  # "ğüş": no Turkish word has a "ğ" after a consonant or first
        if len(squeezed) >= 4 and _REPEATED_UNIT.match(squeezed):
            return True  # "hdhdhd", "asdasd", "ksksks"
        if len(squeezed) >= 4 and keyboard_share(raw) >= self.min_keyboard_share:
            return True  # "wasd", "poiuy", "hjkl": a run along neighbouring keys
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
        folded = words(text)
        raw = raw_words(text)
        pairs = list(zip(folded, raw if len(raw) == len(folded) else folded, strict=True))
        lettered = [(w, r) for w, r in pairs if _LETTER.search(w)]
        if len(lettered) >= 3 and all(len(w) == 1 for w, _ in lettered):
            return Verdict("mash", "single letters only")
        mash = [w for w, r in lettered if self.implausible(w, r)]
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
