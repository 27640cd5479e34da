"""Finding the published fact (or FAQ entry) a customer's message is about.

Answering with the wrong fact is the worst outcome; saying "we are checking" is
acceptable. The best-scoring document therefore matches only when all hold:
- score >= `threshold`: enough of the message is explained by the document;
- score - runner-up >= `margin`: a clear lead over the next document;
- anchor: the message shares what the document's lead (a fact's topic and
  claim, an FAQ's questions) is about. When the lead names crisis *issues* (the
  non-context concepts of `bot.lexicon`: a fire, a recall, a leak, a refund) or
  numbers ("500 workers"), the message must share one of them, or a code such as
  the lot number in the answer of a recall; "a worker was injured at your
  factory" shares the factory but not the fire. A lead without them ("Where can
  I find your official statements?") accepts any of its terms;
- evidence: two independent pieces that few documents share, or one when the
  document explains the whole message. "kuzey sut iflas mi etti" is all about
  the bankruptcy; in "metro grevi" the strike is a lone shared word next to an
  unexplained "metro". A concept counts by its own spread (the milk concept is
  everywhere because the brand is "Kuzey Sut"); a plain word counts only when
  it is in the lead or is a code or a place: words that only the answers use
  ("use", "lot code") are too loose to tell documents apart;
- same world: the message names no other sector that the documents never
  mention (`bot.lexicon.ELSEWHERE`: "my landlord raised the rent by 40 percent"
  is not our price rise, "metro workers on strike" not our delivery strike) and
  no place the document does not name ("a factory in China" is not the Bursa
  factory).

How a text becomes pieces of evidence, in both languages at once:
- words are folded (no Turkish letters), lower-cased, and numbers written as
  words become digits ("yuzde kirk" -> "yuzde 40", "besyuz" -> "500");
- the bilingual concepts of `bot.lexicon` turn words and phrases into concepts
  ("batiyomus" and "going under" are both `bankrupt`); a concept and the words
  that mention it are one piece;
- every other word that is not a stop word is one piece, cut to its first five
  letters, a strong stemmer for agglutinative Turkish ("siparislerimi" ->
  "sipar") that is harmless for English; numbers and codes stay whole;
- a word the documents never use is read as the known word one typo away that
  starts with the same letter ("fabrkada" -> "fabri", and so the factory
  concept), with `TYPO_WEIGHT`.
A piece weighs its inverse document frequency over the indexed documents, a
concept `CONCEPT_WEIGHT` times (concepts carry the crisis meaning). A document's
score is the share of the message's weight it contains, where a piece found only
in its answers counts `ANSWER_CREDIT` of its weight. FAQ entries are stricter
(see `Index`): a question matches only messages about exactly its issues.
Everything is deterministic; ties keep the documents' order.

Known limit: another company's crisis in our words ("amazon is laying off
workers") looks like ours, as nothing says "amazon" is not Kuzey.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, NamedTuple, Sequence, Set, Tuple

from bot.language import words
from bot.lexicon import CONTEXT, ELSEWHERE, concept_spans, is_place

STOPWORDS = frozenset(
    """
    a an the and or but is are was were be been being am i you he she it we they me my
    your yours our their them us this that these those of to in on at for with from by
    about as if so do does did not no yes can could would should will just really very
    what why how where when who which there here have has had any some all im its
    heard hear saw seen says said say saying someone somebody anyone people everyone
    true truth real fake rumor rumour rumours rumors claim claims news post posted
    message messages msg forwarded video vid clip tweet twitter tiktok instagram
    facebook whatsapp group share shared sharing please pls hi hello hey ok okay guys
    company companies firm brand another other u ur r thats whats lol omg wtf like
    seriously still also too now today got get gets getting go goes going gonna went gone
    up down off out over into via than then because bc cuz stuff thing things anything
    something know tell told think much many more dont doesnt didnt isnt arent cant
    wont put puts use uses using used find found circulating going around viral online
    safe full folks plz asap urgent answer reply wondering wonder ask asking question
    curious check confirm verify mean means read watched watch worried scared afraid
    concerned drink drinking eat eating
    ve veya ile ama fakat da de ki mi mu mı mü misiniz musunuz mudur midir miymis muymus
    misin musun miyiz muyuz miyim mis mus
    bu su o bir bi ben sen siz biz onlar benim senin sizin bizim size sizi bize bana beni
    sizde sizden bunu bunlar bunun buna sunu onu onun ona kisi kisiyi kisiler kisinin
    insan insanlar arkadas arkadaslar millet birisi biri herkes hepsi tum butun baska
    diger ayni yoksa hemen biraz baya bayagi galiba sanirim herhalde bence bilmiyorum
    lazim gerek mumkun tabi tabii soyle boyle oyle ise yada ancak hatta mesela noldu
    acil cevap yanit verin bakin bak okudum izledim gorduk guvenli korku korkuyorum
    korkuyoruz endise endiseliyim icmek icmeye iciyoruz iciyorum yiyebilir yiyebilirim
    tuketmek sirket sirketi sirketin sirketiniz sirketinizi sirketinizin sirketimiz
    sirketler firma firmaniz firmanin firmasi firmalar marka markaniz markasi markalar
    ne neden nasil niye nicin nerede nerde nereden nerden kim kimse hangi icin gibi kadar
    daha cok az her hic hep zaman kac icinde icine icinden
    var yok varmis yokmus vardir degil evet hayir dogru yalan gercek gercekten dogrumu
    yalanmi gercekmi sahi
    duydum duyduk duydun gordum diyorlar diyor diyo diyolar dedi demis deniyo
    soyluyorlar yaziyor yaziyo yazmislar yazmis paylasiyor paylasiyo paylasti paylasmis
    haber haberi mesaj mesaji grupta grubunda videosu iddia iddiasi soylenti dedikodu
    dolasiyor dolasiyo dolasan yayiliyor yayiliyo yayilan
    merhaba selam slm lutfen abi abla hocam knk acaba artik simdi bugun sey seyler
    bisey biseyler falan filan ya yaa la lan valla vallahi hani iste aynen cidden
    yine gene bile sadece zaten olarak olan diye yuzunden nedeniyle dolayi
    etti etmis ettiniz etmissiniz ediyor ediyo ediyorlar ediyolar edildi edilmis edilmedi
    edelim ediyoz ediyoruz edecek
    oldu olmus olur olabilir olacak oluyor oluyo olmali
    yapti yapmis yapiyor yapiyo yapilir yapilirim yapabilirim yaparim ederim
    geldi gelmis cikti cikmis cikan cikiyo bul bulurum bulursam bulabilirim buldum
    """.split()
)
CONCEPT_WEIGHT = 2.0
TYPO_WEIGHT = 0.8
ANSWER_CREDIT = 0.6
MIN_EVIDENCE = 2

# Numbers people write as words; a multiplier scales the number before it.
# fmt: off
_NUMBER_WORDS: Dict[str, int] = {
    "iki": 2, "uc": 3, "dort": 4, "bes": 5, "alti": 6, "yedi": 7, "sekiz": 8,
    "dokuz": 9, "yirmi": 20, "otuz": 30, "kirk": 40, "elli": 50, "altmis": 60,
    "yetmis": 70, "seksen": 80, "doksan": 90,
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
# fmt: on
_MULTIPLIERS: Dict[str, int] = {"yuz": 100, "hundred": 100, "bin": 1000, "thousand": 1000}


def _number_parts(token: str) -> List[str] | None:
    """A token written as number words, split ("besyuz" -> ["bes", "yuz"]), or None."""
    if token in _NUMBER_WORDS or token in _MULTIPLIERS:
        return [token]
    for size in range(len(token) - 2, 1, -1):
        head = token[:size]
        if head in _NUMBER_WORDS or head in _MULTIPLIERS:
            rest = _number_parts(token[size:])
            if rest:
                return [head] + rest
    return None


def _with_digits(tokens: List[str]) -> List[str]:
    """Tokens with runs of number words replaced by one digit token.

    A multiplier counts only after a number ("bes yuz" is 500; a lone "yuz" is a
    face and a lone "bin" a verb), as does a run written as one word ("ikibin").
    """
    out: List[str] = []
    run: List[str] = []

    def flush() -> None:
        if not run:
            return
        total = current = 0
        for word in run:
            if word in _MULTIPLIERS:
                current *= _MULTIPLIERS[word]
                if _MULTIPLIERS[word] >= 1000:
                    total, current = total + current, 0
            else:
                current += _NUMBER_WORDS[word]
        out.append(str(total + current))
        run.clear()

    for token in tokens:
        parts = _number_parts(token)
        if parts and (parts[0] in _NUMBER_WORDS or run):
            run.extend(parts)
        else:
            flush()
            out.append(token)
    flush()
    return out


@dataclass(frozen=True)
class Features:
    """What a text says, as matchable terms, grouped into independent pieces.

    `groups` maps each term to its piece of evidence: a concept token ("c_fire")
    and the words that mentioned it ("yangi") are one piece, not two. `places`
    are the terms that name places.
    """

    groups: Dict[str, str]
    places: FrozenSet[str] = field(default_factory=frozenset)


# Turkish light verbs carry tense and hearsay, not the claim: "iflas ediyormus",
# "kapanacakmis", "zam olmus". Any inflection of them is filler.
LIGHT_VERB_STEMS = frozenset(
    {
        "ediyo",
        "edece",
        "edile",
        "edilm",
        "etmis",
        "etmes",
        "oluyo",
        "olmus",
        "olaca",
        "olurm",
        "yapiy",
        "yapmi",
        "yapac",
    }
)


def _content(word: str) -> bool:
    return word not in STOPWORDS and len(word) > 1 and word[:5] not in LIGHT_VERB_STEMS


def _stem(word: str) -> str:
    """A word cut to five letters; numbers and codes stay whole ("L2311A" is not "L2311B")."""
    return word if any(c.isdigit() for c in word) else word[:5]


def features(text: str) -> Features:
    """The terms of a text: concept tokens, five-letter stems and numbers."""
    tokens = _with_digits(words(text))
    covered: Dict[int, str] = {}
    for start, end, concept in concept_spans(tokens):
        for position in range(start, end):
            covered[position] = f"c_{concept}"
    groups: Dict[str, str] = {}
    places: Set[str] = set()
    for position, word in enumerate(tokens):
        token = covered.get(position)
        if token:
            groups.setdefault(token, token)
        if _content(word):
            stem = _stem(word)
            groups.setdefault(stem, token or stem)
            if not token and is_place(word):
                places.add(stem)
    return Features(groups, frozenset(places))


def analyze(text: str) -> str:
    """The terms of a text, space separated (for inspection and debugging)."""
    return " ".join(features(text).groups)


def _deletions(term: str) -> Set[str]:
    """The term and every string one deletion away (for typo look-up)."""
    return {term} | {term[:i] + term[i + 1 :] for i in range(len(term))}


def _is_context(term: str) -> bool:
    return term.startswith("c_") and term[2:] in CONTEXT


def _is_code(term: str) -> bool:
    """A lot number or similar: letters and digits mixed ("l2311a")."""
    return len(term) >= 4 and any(c.isdigit() for c in term) and any(c.isalpha() for c in term)


@dataclass(frozen=True)
class Match:
    """The outcome of a search: the id that fits (or None) and how well."""

    id: str | None
    score: float
    runner_up: float = 0.0
    candidate: str | None = None
    evidence: int = 0

    def as_dict(self) -> Dict[str, object]:
        """The JSON shape the CLI prints."""
        return {"fact_id": self.id, "score": round(self.score, 4)}


class _Ranked(NamedTuple):
    """How one document fares against a message (see the module docstring)."""

    id: str
    score: float
    evidence: int
    anchored: bool
    complete: bool
    elsewhere: bool


class _Message(NamedTuple):
    """A message as pieces of evidence, piece -> {term: weight}, and what it names."""

    pieces: Dict[str, Dict[str, float]]
    issues: FrozenSet[str]
    places: FrozenSet[str]
    other_sector: bool


class Index:
    """A searchable set of documents, each made of several texts.

    The first `lead` texts of a document are its lead, what a message about it
    mentions (a fact's topic and claim, an FAQ's questions); the rest are answers.
    With `same_issues`, a document scores 0 unless the message names exactly the
    issues its lead names: right for questions about procedures ("how do I report
    a phishing message?"), where a message about another issue ("the free milk
    link is a scam?", "was the app hacked?") is a rumour, not that question.
    """

    def __init__(
        self, docs: Sequence[Tuple[str, Sequence[str]]], lead: int = 1, same_issues: bool = False
    ) -> None:
        self.ids = [doc_id for doc_id, _ in docs]
        self._same_issues = same_issues
        self._terms: List[Set[str]] = []
        self._lead: List[Set[str]] = []
        self._anchors: List[FrozenSet[str]] = []
        self._issues: List[FrozenSet[str]] = []
        self._places: Set[str] = set()
        groups_of: Dict[str, Set[str]] = {}
        for _, texts in docs:
            lead_groups: Dict[str, str] = {}
            terms: Set[str] = set()
            for number, text in enumerate(texts):
                found = features(text or "")
                terms.update(found.groups)
                self._places.update(found.places)
                if number < lead:
                    lead_groups.update(found.groups)
                for term, group in found.groups.items():
                    groups_of.setdefault(term, set()).add(group)
            issues = {
                t
                for t, g in lead_groups.items()
                if (g.startswith("c_") and not _is_context(g)) or any(c.isdigit() for c in t)
            }
            self._terms.append(terms)
            self._lead.append(set(lead_groups))
            self._anchors.append(frozenset(issues or lead_groups))
            self._issues.append(frozenset(t for t in issues if t.startswith("c_")))
        self._df = Counter(term for terms in self._terms for term in terms)
        self._rare = max(len(self.ids) / 3, 1)
        # Words that always belong to the same concept ("fabri" -> "c_factory").
        self._concept_of = {
            term: min(groups)
            for term, groups in groups_of.items()
            if len(groups) == 1 and min(groups) != term
        }
        self._typos: Dict[str, Set[str]] = {}
        for stem in self._df:
            if len(stem) == 5 and stem.isalpha():
                for key in _deletions(stem):
                    self._typos.setdefault(key, set()).add(stem)

    def _idf(self, term: str) -> float:
        return math.log((len(self.ids) + 1) / (self._df.get(term, 0) + 1)) + 1.0

    def _near(self, term: str) -> str | None:
        """A known five-letter stem one typo away from an unknown one, if any.

        The first letter must agree (people rarely mistype it, and "lacto" is not
        "facto"); among several candidates the alphabetically first wins.
        """
        if len(term) != 5 or not term.isalpha():
            return None
        near = {
            stem
            for key in _deletions(term)
            for stem in self._typos.get(key, ())
            if stem[0] == term[0]
        }
        return min(near) if near else None

    def _message(self, text: str) -> _Message:
        """The message's pieces, typos read as known words, and the names it uses."""
        found = features(text)
        pieces: Dict[str, Dict[str, float]] = {}
        for term, group in found.groups.items():
            factor = CONCEPT_WEIGHT if term.startswith("c_") else 1.0
            if term == group and not term.startswith("c_") and term not in self._df:
                near = self._near(term)
                if near:
                    term, factor = near, TYPO_WEIGHT
                    if near in self._concept_of:
                        term = group = self._concept_of[near]
                        factor *= CONCEPT_WEIGHT
            terms = pieces.setdefault(group, {})
            terms[term] = max(terms.get(term, 0.0), factor * self._idf(term))
        issues = frozenset(p for p in pieces if p.startswith("c_") and not _is_context(p))
        elsewhere = any(p[2:] in ELSEWHERE and p not in self._df for p in pieces)
        return _Message(pieces, issues, found.places, elsewhere)

    def _independent(self, group: str, found: List[str], lead: Set[str]) -> bool:
        """Whether a shared piece is evidence: rare, and a concept, code, place or lead word.

        A concept is judged by its own spread ("milk" is rare as a word, but the
        milk concept is everywhere); other plain words found only in the answers
        ("use", "lot code") are too loose to tell documents apart.
        """
        if group.startswith("c_"):
            return group in found and self._df[group] <= self._rare
        return any(
            (t in lead or _is_code(t) or t in self._places) and self._df[t] <= self._rare
            for t in found
        )

    def _rank(self, text: str) -> List[_Ranked]:
        """Every document against the message, best score first."""
        message = self._message(text or "")
        total = sum(max(terms.values()) for terms in message.pieces.values())
        ranked = []
        for index, doc_id in enumerate(self.ids):
            doc, lead, anchors = self._terms[index], self._lead[index], self._anchors[index]
            credit = 0.0
            evidence = shared = 0
            anchored = False
            for group, terms in message.pieces.items():
                found = [t for t in terms if t in doc]
                if not found:
                    continue
                shared += 1
                credit += max(terms[t] * (1.0 if t in lead else ANSWER_CREDIT) for t in found)
                evidence += self._independent(group, found, lead)
                anchored = anchored or any(
                    t in anchors or (_is_code(t) and self._issues[index]) for t in found
                )
            elsewhere = message.other_sector or not message.places <= doc
            score = credit / total if total else 0.0
            if self._same_issues and message.issues != self._issues[index]:
                score = 0.0
            ranked.append(
                _Ranked(
                    doc_id,
                    score,
                    evidence,
                    anchored,
                    shared == len(message.pieces),
                    elsewhere,
                )
            )
        ranked.sort(key=lambda item: -item.score)
        return ranked

    def scores(self, text: str) -> List[Tuple[str, float, int]]:
        """Every document as (id, score, pieces of evidence), best first."""
        return [(r.id, r.score, r.evidence) for r in self._rank(text)]

    def search(self, text: str, threshold: float, margin: float) -> Match:
        """The confident best match for `text`, or a Match with id None."""
        ranked = self._rank(text)
        if not ranked:
            return Match(None, 0.0)
        best = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        enough = best.evidence >= MIN_EVIDENCE or (best.evidence == 1 and best.complete)
        confident = (
            best.score >= threshold
            and best.score - runner_up >= margin
            and best.anchored
            and enough
            and not best.elsewhere
        )
        return Match(best.id if confident else None, best.score, runner_up, best.id, best.evidence)


def fact_index(facts: Iterable[Dict[str, str]]) -> Index:
    """An index over facts: topic and claim (the lead), then both answers."""
    return Index(
        [
            (f["id"], (f.get("topic") or "", f["claim"], f["answer_tr"], f["answer_en"]))
            for f in facts
        ],
        lead=2,
    )


def faq_index(faqs: Iterable[Dict[str, str]]) -> Index:
    """An index over FAQ entries: both questions (the lead), then both answers.

    A question matches only messages about exactly its issues (`same_issues`).
    """
    return Index(
        [
            (q["id"], (q["question_tr"], q["question_en"], q["answer_tr"], q["answer_en"]))
            for q in faqs
        ],
        lead=2,
        same_issues=True,
    )
