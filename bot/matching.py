"""Finding the published fact (or FAQ entry) a customer's message is about.

Answering with the wrong fact is the worst outcome. A match therefore needs
three things: enough of the message explained by the fact (`threshold`), a clear
lead over the runner-up (`margin`), and at least two independent pieces of
evidence (a lone shared word such as "fire" or "cheese" is never enough: "my
car caught fire" is not about a factory fire). Otherwise the answer is "none
fits" and the bot says it is checking.

How a text becomes evidence, in both languages at once:
- words are folded (no Turkish letters), lower-cased, stop words dropped, and cut
  to their first five letters, a strong stemmer for agglutinative Turkish
  ("siparislerimi" -> "sipar") that is harmless for English;
- the bilingual crisis concepts of `bot.lexicon` ("batiyormus" ~ "bankrupt");
- a word the facts never use is matched to a known stem one typo away.
The score is the share of the message's evidence weight (inverse document
frequency over the indexed documents, concepts counted double) that the document
contains.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from bot.language import normalize, words
from bot.lexicon import concept_hits

STOPWORDS = frozenset(
    """
    a an the and or but is are was were be been being am i you he she it we they me my
    your yours our their them us this that these those of to in on at for with from by
    about as if so do does did not no yes can could would should will just really very
    what why how where when who which there here have has had any some all im its
    heard hear saw seen says said say someone people everyone true truth real fake rumor
    rumour rumours claim claims news post posted message messages forwarded video tweet
    twitter tiktok instagram facebook whatsapp group share shared sharing please pls hi
    hello hey ok okay guys company brand u ur r thats whats lol omg
    ve veya ile ama fakat da de ki mi mu mı mü misiniz musunuz mudur midir miymis muymus
    bu su o bir ben sen siz biz onlar benim senin sizin bizim size sizi bize bana beni
    ne neden nasil niye nerede kim hangi icin gibi kadar daha cok az her hic hep
    var yok degil evet hayir dogru yalan gercek gercekten dogrumu yalanmi gercekmi sahi
    duydum duyduk duydun gordum diyorlar diyor diyolar soyluyorlar yaziyor
    paylasiyor paylasti haber haberi mesaj mesaji grupta grubunda video videosu
    merhaba selam slm lutfen abi abla hocam knk acaba artik simdi bugun sey seyler
    firma firmaniz sirket sirketiniz marka markaniz
    """.split()
)
CONCEPT_WEIGHT = 2.0
TYPO_WEIGHT = 0.8
MIN_EVIDENCE = 2


@dataclass(frozen=True)
class Features:
    """What a text says, as matchable terms, grouped into independent pieces.

    `groups` maps each term to its piece of evidence: a concept and the word that
    triggered it are one piece, not two.
    """

    groups: Dict[str, str]


def features(text: str) -> Features:
    """The terms of a text: five-letter stems, numbers and concept tokens."""
    kept = [w for w in words(text) if w not in STOPWORDS and (len(w) > 1)]
    groups: Dict[str, str] = {}
    for word in kept:
        if word.isdigit() and len(word) < 2:
            continue
        groups.setdefault(word[:5], word[:5])
    for concept, stem in concept_hits(" ".join(kept)).items():
        token = f"c_{concept}"
        groups[token] = groups.get(stem[:5], token) if " " not in stem else token
    return Features(groups)


def analyze(text: str) -> str:
    """The terms of a text, space separated (for inspection and debugging)."""
    return " ".join(features(text).groups)


def _one_edit(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


@dataclass(frozen=True)
class Match:
    """The outcome of a search: the id that fits (or None) and how well."""

    id: Optional[str]
    score: float
    runner_up: float = 0.0
    candidate: Optional[str] = None
    evidence: int = 0

    def as_dict(self) -> Dict[str, object]:
        """The JSON shape the CLI prints."""
        return {"fact_id": self.id, "score": round(self.score, 4)}


class Index:
    """A searchable set of documents, each made of several texts."""

    def __init__(self, docs: Sequence[Tuple[str, Sequence[str]]]) -> None:
        self.ids = [doc_id for doc_id, _ in docs]
        self._terms: List[Set[str]] = []
        for _, texts in docs:
            terms: Set[str] = set()
            for text in texts:
                terms.update(features(text or "").groups)
            self._terms.append(terms)
        self._df = Counter(term for terms in self._terms for term in terms)
        self._stems = sorted(t for t in self._df if not t.startswith("c_") and len(t) >= 4)

    def _idf(self, term: str) -> float:
        return math.log((len(self.ids) + 1) / (self._df.get(term, 0) + 1)) + 1.0

    def _weights(self, text: str) -> Tuple[Dict[str, float], Dict[str, str]]:
        weights: Dict[str, float] = {}
        groups: Dict[str, str] = {}
        for term, group in features(text).groups.items():
            factor = CONCEPT_WEIGHT if term.startswith("c_") else 1.0
            if term not in self._df and not term.startswith("c_") and len(term) >= 4:
                near = next((s for s in self._stems if _one_edit(term, s)), None)
                if near:
                    term, factor = near, TYPO_WEIGHT
            weights[term] = max(weights.get(term, 0.0), factor * self._idf(term))
            groups[term] = group
        return weights, groups

    def scores(self, text: str) -> List[Tuple[str, float, int]]:
        """Every document as (id, score, pieces of evidence), best first."""
        weights, groups = self._weights(text or "")
        total = sum(weights.values())
        common = len(self.ids) / 3
        ranked = []
        for doc_id, terms in zip(self.ids, self._terms):
            shared = [t for t in weights if t in terms]
            score = sum(weights[t] for t in shared) / total if total else 0.0
            evidence = len({groups[t] for t in shared if self._df[t] <= max(common, 1)})
            ranked.append((doc_id, score, evidence))
        ranked.sort(key=lambda item: -item[1])
        return ranked

    def search(self, text: str, threshold: float, margin: float) -> Match:
        """The confident best match for `text`, or a Match with id None."""
        ranked = self.scores(text)
        if not ranked:
            return Match(None, 0.0)
        best_id, best, evidence = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        confident = (
            best >= threshold and best - runner_up >= margin and evidence >= MIN_EVIDENCE
        )
        return Match(best_id if confident else None, best, runner_up, best_id, evidence)


def fact_index(facts: Iterable[Dict[str, str]]) -> Index:
    """An index over facts: topic, claim and both answers."""
    return Index(
        [
            (f["id"], (f.get("topic") or "", f["claim"], f["answer_tr"], f["answer_en"]))
            for f in facts
        ]
    )


def faq_index(faqs: Iterable[Dict[str, str]]) -> Index:
    """An index over FAQ entries: both questions and both answers."""
    return Index(
        [
            (q["id"], (q["question_tr"], q["question_en"], q["answer_tr"], q["answer_en"]))
            for q in faqs
        ]
    )
