"""Finding the published fact (or FAQ entry) a customer's message is about.

Answering with the wrong fact is the worst outcome; saying "we are checking" is
acceptable. Two signals score each document:
- the words (below): the share of the message's evidence the document holds;
- the meaning: the cosine between the message's sentence vector (`bot.encoder`,
  one call per message) and the document's claims and confirmed wordings,
  whose vectors the index computes once when it is built (once per content
  version, see `bot.answers.Knowledge`). `combined` makes one score of both.
Two thresholds then make two tiers, as fact-checking tiplines use them: at or
above the answer threshold (with the evidence below) the bot answers; from the
suggestion threshold up, the documents come back as `Match.suggestions` with
their scores, for a person to confirm. Candidate generation (postings of the
message's terms, plus the nearest centroids by one matrix product) keeps a
search of 10,000 facts in a few milliseconds.

The best-scoring document answers only when all hold (`Index.search`):
- score >= `threshold` and a lead of `margin` over the runner-up;
- support from the words (anchor and evidence, below) or from the meaning (a
  cosine of at least `SEMANTIC_SUPPORT`, `SEMANTIC_MARGIN` ahead of the
  runner-up's), so abstaining stays the default when both are unsure;
- no other issue or number than the document's lead names ("a worker was
  injured at your factory" is not the fire; "a 50 percent rise" not the 40);
- when the message names issues, the document mentions at least one of them
  somewhere, in its lead or its answers ("a gas price rise?" is not judged by
  a fact about gas cuts that never speaks of prices);
- same world, below, and no name the documents never use ("Flixbus",
  "Getir'den"): another company's crisis in our words is not ours.
The words support a document, and its world is the same, when:
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

Questions that only ask for a detail of a fact's subject ("how many were hurt
in the crash?", "antibiyotik kullanirken sut icilir mi?") are never answered
with the fact (`asks_detail`): the claim does not state the detail, so they go
to a person with the fact as a suggestion. The encoder reads a message as it
was written (Turkish letters kept when typed); published texts are encoded both
as written and folded. Support may also come from both signals together: the
words anchored with one piece of evidence and a cosine of `JOINT_SEMANTIC`
with a lead of `JOINT_MARGIN`.

Known limits: a detail question whose verb the patterns miss still looks like
its claim; a capitalised first word is read as a name unless it is a stop word
or carries a Turkish suffix, so an uninflected ordinary first word the
documents never use ("Bozdogan village here") sends the message to a person.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, NamedTuple, Sequence, Set, Tuple

import numpy as np

from bot import encoder
from bot.config import settings
from bot.language import normalize, words
from bot.lexicon import CONTEXT, DISTRICTS, ELSEWHERE, concept_spans, is_place

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
    curious check confirm verify mean means read watched watch worried scared afraid since
    concerned drink drinking eat eating right innit yeah di
    hundreds thousands dozens yuzlerce binlerce onlarca
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
# The semantic signal and the decision (see `combined` and `Index.search`).
# Chosen on the dev sets (tests/match_dev.yml, tests/match_dev/), never on the
# held-out set, by a grid over these values: the most dev cases right among the
# settings with the fewest wrong-fact answers.
SEMANTIC_FLOOR = 0.15
SEMANTIC_CEILING = 0.55
LEXICAL_SHARE = 0.6
SEMANTIC_SUPPORT = 0.40
SEMANTIC_MARGIN = 0.15
# A words-only index (the FAQ): the lexical score's own thresholds.
WORDS_THRESHOLD = 0.30
WORDS_MARGIN = 0.05
CANDIDATES = 16
# Large indexes look for the nearest centroids in their PROJECTED main directions
# first, keep ROUGH_POOL times CANDIDATES of them, and rank those exactly.
PROJECTED = 128
ROUGH_POOL = 4
MAX_SUGGESTIONS = 3
# Words in at least COMMON_SHARE of the documents (given COMMON_MIN_DOCS) are not
# read by the encoder: they name the brand, not the claim.
COMMON_SHARE = 0.5
COMMON_MIN_DOCS = 4
FIRST_WORD_NAMES = False
# Both signals agreeing modestly also support an answer: the words anchored with
# one piece of evidence, and the meaning at least JOINT_SEMANTIC with a lead of
# JOINT_MARGIN (see `Index.search`).
JOINT_SEMANTIC = 0.25
JOINT_MARGIN = 0.15
AS_TYPED = True
DETAIL_QUESTIONS = True
# A message that names crisis issues, none of which a document mentions anywhere,
# is not answered with that document (see `Index._judge`).
UNJUDGED_ISSUES = True

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


# A district's stem -> its city's stem, and each city's districts.
_CITY_OF: Dict[str, str] = {district[:5]: city[:5] for district, city in DISTRICTS.items()}
_DISTRICTS_OF: Dict[str, FrozenSet[str]] = {
    city: frozenset(d for d, c in _CITY_OF.items() if c == city) for city in set(_CITY_OF.values())
}


def _covers(terms: Set[str] | FrozenSet[str], place: str) -> bool:
    """Whether texts with `terms` are about `place`: they name it, or its city and none
    of that city's districts ("Kadıköy" is in "the Istanbul strike", not in "the
    Beşiktaş store")."""
    if place in terms:
        return True
    city = _CITY_OF.get(place)
    return bool(city and city in terms and not _DISTRICTS_OF[city] & terms)


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


_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

# Questions that ask for a detail of a subject (a quantity, a time, a procedure,
# whether one may do something) rather than whether a claim is true: "how many
# were hurt in the crash?", "antibiyotik kullanirken sut icilir mi?". A fact
# judges its claim; it does not state the detail, so such a question goes to a
# person. Folded words, as `bot.language.words` gives them.
_DETAIL_PHRASES = tuple(
    tuple(phrase.split())
    for phrase in (
        "how many",
        "how much",
        "how long",
        "how often",
        "how do i",
        "how can i",
        "how should i",
        "what should i",
        "what do i do",
        "can i",
        "could i",
        "may i",
        "should i",
        "is it ok to",
        "is it okay to",
        "is it safe to",
        "when will",
        "when can i",
        "where can i",
        # a where-question asks for a place (an office, an address, a form), which
        # the claim does not state
        "where do",
        "where does",
        "where should",
        "where is",
        "where are",
        "ne kadar",
        "ne zaman",
        "ne yapmaliyim",
        "ne yapmam",
        "ne yapacagim",
        "ne yapalim",
    )
)
_DETAIL_WORDS = frozenset(
    {"kac", "kaci", "kacta", "kacinci", "kactan", "kaca"}
    # where (to, from): a place is a detail, as in "where can i"
    | {"nereye", "nerede", "nerde", "nereden", "nerden", "neresi"}
)
# "icilir mi", "yenir mi", "kullanilir mi" (may one drink/eat/use), "yiyebilir miyim"
_DETAIL_VERB = re.compile(r"^\w{2,}(?:ilir|ulur|ilebilir|abilir|ebilir|enir|anir|inir|unur)$")
# ... but "olabilir mi" (could it be?) and "guvenilir mi" (is it trustworthy?) ask
# whether something is so.
_TRUTH_VERBS = ("ol", "guvenil")
_QUESTION_PARTICLE = frozenset(
    {"mi", "mu", "miyim", "muyum", "miyiz", "muyuz", "misin", "musun", "misiniz", "musunuz"}
)
_CLAUSE_SPLIT = re.compile(r"([.?!;,:\n]+)")
# Words that relay what others say: a clause with one passes a claim on ("heard
# Turna is going bust, should I cancel?", "SGK bitmis diyorlar, ilaci alabilir
# miyim"), so the message asks about the claim too, not only for a detail.
_HEARSAY = frozenset(
    "heard hearing say says saying rumour rumours rumor rumors apparently reportedly allegedly"
    " diyorlar diyolar diyor diyo deniyor deniyo duydum duyduk duydun soyleniyor soyleniyo"
    " soylenti dedikodu iddia".split()
)


def _detail_clause(tokens: Sequence[str]) -> bool:
    for start in range(len(tokens)):
        for phrase in _DETAIL_PHRASES:
            if tuple(tokens[start : start + len(phrase)]) == phrase:
                return True
        if tokens[start] in _DETAIL_WORDS:
            return True
        if (
            start + 1 < len(tokens)
            and tokens[start + 1] in _QUESTION_PARTICLE
            and _DETAIL_VERB.match(tokens[start])
            and not tokens[start].startswith(_TRUTH_VERBS)
        ):
            return True
    return False


def asks_detail(text: str) -> bool:
    """Whether the message's questions all ask for a detail, none whether a claim holds.

    A question is a clause ending in "?", one with a question particle ("mi",
    "mu") or one asking for a detail; other clauses state the context. "Afyon'daki
    kazada kac kisi yaralandi?" asks how many, not whether the crash happened;
    "A meter reader came without showing ID, should I let him in?" asks what to
    do; "data breach at kuzey kart? should i change my password" also asks about
    the breach itself, so it is not only a detail question.
    """
    parts = _CLAUSE_SPLIT.split(text or "")
    details = others = 0
    for number in range(0, len(parts), 2):
        tokens = words(parts[number])
        if not any(_content(w) for w in tokens):
            continue
        ending = parts[number + 1] if number + 1 < len(parts) else ""
        if _detail_clause(tokens):
            details += 1
        elif "?" in ending or any(w in _QUESTION_PARTICLE or w in _HEARSAY for w in tokens):
            others += 1
    return details > 0 and not others


# Turkish case, possessive and plural endings written without an apostrophe: a
# word, not a name ("Elimde", "Annem", "Urunleriniz", "Sehirde", "Ayranin",
# "Sitenizdeki", "Saticilara").
_INFLECTED = re.compile(
    r"\w{3,}(?:d[ae]|t[ae]|d[ae]n|t[ae]n|n[iu]z|l[ae]r|l[ae]ri|l[ae]rin|[aeiu]m|[aeiu]miz|[aiu]n"
    r"|[dt][ae]ki|l[ae]r[ae]|l[ae]rd[ae]|l[ae]r[iu]n[ae])$"
)
_SENTENCE_END = re.compile(r"[.!?:;\n\"“”‘]\s*$")


def _names(text: str) -> List[str]:
    """Capitalised words, folded and lower-cased: the names a message may use.

    "there's a video of a Flixbus driver", "Getir'den kart bilgileri sizmis",
    "Enerjisa elektrige zam yapacakmis". A sentence's first word is capitalised
    as a matter of course ("Annem bir mesaj iletti", "Since they put in a new
    meter", "Ocakta kimse gelmedi"), so it counts only when `FIRST_WORD_NAMES`
    or when an apostrophe joins a suffix to it ("Getir'den", "Flixbus'ta"), as
    Turkish writes suffixes on names; a first word of two letters is a name only
    before another capitalised word ("Ak Çiftlik Süt", not "El bagajı"). Codes (letters and digits), one-letter words
    and units in capitals ("TL", "KG") are not names.
    """
    found = []
    text = unicodedata.normalize("NFKC", text or "")
    for match in _TOKEN.finditer(text):
        word = match.group(0)
        if len(word) < 2 or not word[0].isupper() or any(c.isdigit() for c in word):
            continue
        if len(word) <= 2 and word.isupper():
            continue
        folded = normalize(word)
        first = not text[: match.start()].strip() or _SENTENCE_END.search(text[: match.start()])
        if first and not FIRST_WORD_NAMES and text[match.end() : match.end() + 1] not in "'’":
            if folded in STOPWORDS or _INFLECTED.search(folded):
                continue
            after = text[match.end() :].split(maxsplit=1)
            if len(folded) <= 2 and not (after and after[0][:1].isupper()):
                continue
        found.append(folded)
    return found


@dataclass(frozen=True)
class Match:
    """The outcome of a search: the id that fits (or None), how well, and what came close.

    `score` is the combined score of the best document (`candidate`), `runner_up`
    that of the second. `suggestions` are the documents, best first (at most
    `MAX_SUGGESTIONS`), that a person should look at when the bot does not answer:
    each scored at least the suggestion threshold, as (id, score).
    """

    id: str | None
    score: float
    runner_up: float = 0.0
    candidate: str | None = None
    evidence: int = 0
    suggestions: Tuple[Tuple[str, float], ...] = ()
    lexical: float = 0.0
    semantic: float = 0.0

    def as_dict(self) -> Dict[str, object]:
        """The JSON shape the CLI prints; "suggestions" only when there are some."""
        found: Dict[str, object] = {"fact_id": self.id, "score": round(self.score, 4)}
        if self.suggestions:
            found["suggestions"] = [
                {"fact_id": doc_id, "score": round(score, 4)} for doc_id, score in self.suggestions
            ]
        return found


class _Ranked(NamedTuple):
    """How one document fares against a message (see the module docstring)."""

    id: str
    score: float
    evidence: int
    anchored: bool
    complete: bool
    elsewhere: bool
    lexical: float = 0.0
    semantic: float = 0.0
    conflict: bool = False
    unjudged: bool = False
    same_issues: bool = False


class _Message(NamedTuple):
    """A message as pieces of evidence, piece -> {term: weight}, and what it names."""

    pieces: Dict[str, Dict[str, float]]
    issues: FrozenSet[str]
    places: FrozenSet[str]
    other_sector: bool
    numbers: FrozenSet[str] = frozenset()
    strangers: FrozenSet[str] = frozenset()


def _numbers(terms: Iterable[str]) -> FrozenSet[str]:
    return frozenset(t for t in terms if t.isdigit())


# Sentence vectors of published texts, kept across content versions: publishing
# or retiring one fact re-encodes nothing else (10,000 facts take ~18 s to encode).
_KNOWN_VECTORS: Dict[str, np.ndarray] = {}
KNOWN_VECTORS_LIMIT = 100_000


def _vectors_of(texts: List[str]) -> np.ndarray:
    """The encoder's vectors of `texts`, encoding only those not seen before."""
    new = [t for t in dict.fromkeys(texts) if t not in _KNOWN_VECTORS]
    if new:
        if len(_KNOWN_VECTORS) + len(new) > KNOWN_VECTORS_LIMIT:
            _KNOWN_VECTORS.clear()
            new = list(dict.fromkeys(texts))
        for text, vector in zip(new, encoder.encode(new, encoder.SEARCH_THREADS), strict=True):
            _KNOWN_VECTORS[text] = vector
    if not texts:
        return np.zeros((0, encoder.DIMENSIONS), dtype=np.float32)
    return np.stack([_KNOWN_VECTORS[t] for t in texts])


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)


def _first_sentence(text: str) -> str:
    """The first sentence of an answer, which usually restates the claim it judges."""
    text = (text or "").strip()
    for end, char in enumerate(text):
        if char in ".!?;" and (end + 1 == len(text) or text[end + 1] == " "):
            return text[: end + 1]
    return text


class Index:
    """A searchable set of documents, each made of several texts.

    The first `lead` texts of a document are its lead, what a message about it
    mentions (a fact's topic and claims, an FAQ's questions); the rest are answers.
    With `same_issues`, a document scores 0 unless the message names exactly the
    issues its lead names: right for questions about procedures ("how do I report
    a phishing message?"), where a message about another issue ("the free milk
    link is a scam?", "was the app hacked?") is a rumour, not that question.

    With `semantic` (per document, the texts whose meaning it states: claims and
    confirmed wordings), the index also holds their sentence vectors, computed
    here once, and a search adds the encoder's similarity to the lexical score.
    """

    def __init__(
        self,
        docs: Sequence[Tuple[str, Sequence[str]]],
        lead: int = 1,
        same_issues: bool = False,
        semantic: Sequence[Sequence[str]] | None = None,
        judges_claims: bool = False,
    ) -> None:
        self.ids = [doc_id for doc_id, _ in docs]
        self._same_issues = same_issues
        # A fact judges whether a claim holds, so a question that only asks for a
        # detail ("how many", "where do i") is not answered by it; an FAQ entry
        # answers exactly such questions ("how do i return a product?").
        self._judges_claims = judges_claims
        self._terms: List[Set[str]] = []
        self._lead: List[Set[str]] = []
        self._anchors: List[FrozenSet[str]] = []
        self._issues: List[FrozenSet[str]] = []
        self._lead_numbers: List[FrozenSet[str]] = []
        self._places: Set[str] = set()
        self._words: Set[str] = set()
        groups_of: Dict[str, Set[str]] = {}
        postings: Dict[str, List[int]] = {}
        for number_of_doc, (_, texts) in enumerate(docs):
            lead_groups: Dict[str, str] = {}
            terms: Set[str] = set()
            for number, text in enumerate(texts):
                self._words.update(words(text or ""))
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
            self._lead_numbers.append(_numbers(lead_groups))
            for term in terms:
                postings.setdefault(term, []).append(number_of_doc)
        self._postings = {t: np.asarray(docs_of, dtype=np.int64) for t, docs_of in postings.items()}
        self._df = Counter({t: len(docs_of) for t, docs_of in postings.items()})
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
        self._build_vectors(semantic)

    # -- semantic signal ------------------------------------------------------

    def _build_vectors(self, semantic: Sequence[Sequence[str]] | None) -> None:
        """Sentence vectors of every document's semantic texts, once per index.

        Two measured steps make the encoder tell one brand's facts apart (dev
        sets, semantic top-1 0.89 -> 0.91, median lead over the runner-up 0.19
        -> 0.28): words that at least half of the documents use (the brand's
        name, "Kuzey Süt", is in every claim) are left out of what the encoder
        reads, and the mean of the documents' vectors, what they all share, is
        taken off every vector and off the message's.
        `_vectors` holds them all (rows of one document are contiguous from
        `_starts`); `_centroids` one normalised mean per document, so that finding
        the nearest documents is one matrix product with one row per document.
        """
        self.semantic = semantic is not None and len(self.ids) > 0
        self._common: FrozenSet[str] = frozenset()
        if not self.semantic:
            return
        assert semantic is not None and len(semantic) == len(self.ids)
        if len(self.ids) >= COMMON_MIN_DOCS:
            spread = Counter(w for doc_texts in semantic for w in set(words(" ".join(doc_texts))))
            self._common = frozenset(
                w for w, count in spread.items() if count >= COMMON_SHARE * len(self.ids)
            )
        texts: List[str] = []
        starts: List[int] = []
        for doc_texts in semantic:
            starts.append(len(texts))
            read = [self._semantic_text(t) for t in doc_texts]
            if AS_TYPED:
                read += [self._typed_text(t) for t in doc_texts]
            kept = [t for t in dict.fromkeys(read) if t]
            texts.extend(kept or [""])
        self._semantic_texts = texts
        vectors = _vectors_of(texts)
        self._mean = vectors.mean(axis=0)
        self._vectors = _unit(vectors - self._mean)
        self._starts = np.asarray(starts, dtype=np.int64)
        self._centroids = _unit(np.add.reduceat(self._vectors, self._starts, axis=0))
        self._ends = np.append(self._starts[1:], len(texts))
        self._projection: np.ndarray | None = None
        if len(self.ids) > CANDIDATES * 2:
            # Reading every centroid costs a search its memory bandwidth (10,000
            # facts are 20 MB); their main directions, a quarter of the size, find
            # the near ones, and the exact cosine then picks among those.
            covariance = self._centroids.T @ self._centroids
            _, directions = np.linalg.eigh(covariance)
            self._projection = np.ascontiguousarray(directions[:, -PROJECTED:], dtype=np.float32)
            self._projected = np.ascontiguousarray(self._centroids @ self._projection)

    def _semantic_text(self, text: str) -> str:
        """What the encoder reads: folded lower-case words, without the common ones.

        Customers mostly write Turkish without its letters; folding the published
        texts the same way brings the two surface forms together.
        """
        folded = normalize(text or "")
        if not self._common:
            return folded
        kept = [w for w in words(folded) if w not in self._common]
        return " ".join(kept) if kept else folded

    def _typed_text(self, text: str) -> str:
        """The words as written, lower-cased, without the common ones (see `_semantic_text`).

        The encoder reads Turkish with its letters better than folded Turkish:
        a message typed with them is also compared with the published texts as
        written. For text without Turkish letters this is the folded reading.
        """
        typed = unicodedata.normalize("NFKC", text or "").replace("İ", "i").lower()
        tokens = _TOKEN.findall(typed)
        kept = [w for w in tokens if normalize(w) not in self._common]
        return " ".join(kept or tokens)

    def _query_vector(self, text: str) -> np.ndarray:
        """The message's vector (one row), centred like the documents' (one encoder call).

        Read as written (`_typed_text`) when `AS_TYPED`, which the published texts
        match in both forms: measured on the dev sets, 0.878 -> 0.890 top-1 with no
        wrong answer, at 4.0 ms median for 10,000 facts (reading both forms, two
        encoder calls, gained one more dev case but took 7.3 ms).
        """
        read = self._typed_text(text) if AS_TYPED else self._semantic_text(text)
        return _unit((encoder.encode_one(read, encoder.SEARCH_THREADS) - self._mean)[None])

    def _semantics(self, vector: np.ndarray, indexes: Sequence[int]) -> Dict[int, float]:
        """The best cosine between the message and each document's semantic texts.

        One matrix product over the candidates' rows, then the maximum per document.
        """
        if not indexes:
            return {}
        spans = [(int(self._starts[i]), int(self._ends[i])) for i in indexes]
        rows = np.fromiter((r for start, end in spans for r in range(start, end)), dtype=np.int64)
        cosines = self._vectors[rows] @ vector[0]
        offsets = np.cumsum([0] + [end - start for start, end in spans[:-1]])
        best = np.maximum.reduceat(cosines, offsets)
        return {index: float(value) for index, value in zip(indexes, best, strict=True)}

    # -- lexical signal -------------------------------------------------------

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
        guessed: Set[str] = set()
        for term, group in found.groups.items():
            factor = CONCEPT_WEIGHT if term.startswith("c_") else 1.0
            if term == group and not term.startswith("c_") and term not in self._df:
                near = self._near(term)
                if near:
                    term, factor = near, TYPO_WEIGHT
                    if near in self._concept_of:
                        term = group = self._concept_of[near]
                        factor *= CONCEPT_WEIGHT
                        guessed.add(group)
            terms = pieces.setdefault(group, {})
            terms[term] = max(terms.get(term, 0.0), factor * self._idf(term))
        # An issue read from a typo guess ("yuzlerce" as "yuzde", a price) may
        # add evidence but does not make the message about another issue.
        issues = frozenset(
            p
            for p in pieces
            if p.startswith("c_") and not _is_context(p) and p not in guessed - set(found.groups)
        )
        elsewhere = any(p[2:] in ELSEWHERE and p not in self._df for p in pieces)
        return _Message(
            pieces, issues, found.places, elsewhere, _numbers(found.groups), self._strangers(text)
        )

    def _strangers(self, text: str) -> FrozenSet[str]:
        """Names in the message that no indexed text uses: someone else's ("Flixbus").

        A word that is a stop word, a place, a lexicon concept or a word the
        documents use as it is (the brand's own names) is no stranger; a
        whole word, not a stem: "Getir'den" names a company, though the
        documents say "getirildi".
        """
        strangers = set()
        for name in _names(text):
            found = features(name)
            if not found.groups or found.places or name in self._words:
                continue
            if any(t.startswith("c_") for t in found.groups):
                continue
            strangers.add(name)
        return frozenset(strangers)

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

    def _candidates(self, message: _Message, vector: np.ndarray | None) -> List[int]:
        """The documents worth scoring: all of a small index, else the likely ones.

        Candidate generation keeps the cost flat as facts grow: the documents
        with the most message weight in their postings (upper bound of the
        lexical score, summed with numpy), and the nearest by meaning (one
        matrix product over the centroids).
        """
        count = len(self.ids)
        if count <= CANDIDATES * 2:
            return list(range(count))
        chosen: Set[int] = set()
        weight = np.zeros(count, dtype=np.float32)
        for terms in message.pieces.values():
            lists = [self._postings[t] for t in terms if t in self._postings]
            if len(lists) == 1:
                weight[lists[0]] += max(terms.values())
            elif lists:  # a document counts once per piece, whichever of its terms it has
                has = np.zeros(count, dtype=bool)
                for docs_of in lists:
                    has[docs_of] = True
                weight[has] += max(terms.values())
        if weight.any():
            top = np.argpartition(-weight, CANDIDATES)[:CANDIDATES]
            chosen.update(int(i) for i in top if weight[i] > 0)
        if vector is not None and self.semantic:
            chosen.update(self._nearest(vector[0]))
        return sorted(chosen)

    def _nearest(self, vector: np.ndarray) -> List[int]:
        """The CANDIDATES documents whose centroids are nearest `vector` (cosine)."""
        if self._projection is None:
            pool = np.arange(len(self.ids))
        else:
            rough = self._projected @ (vector @ self._projection)
            wide = min(len(rough) - 1, CANDIDATES * ROUGH_POOL)
            pool = np.argpartition(-rough, wide)[:wide]
        exact = self._centroids[pool] @ vector
        if len(pool) <= CANDIDATES:
            return [int(i) for i in pool]
        best = np.argpartition(-exact, CANDIDATES)[:CANDIDATES]
        return [int(i) for i in pool[best]]

    def _rank(self, text: str) -> List[_Ranked]:
        """The candidate documents against the message, best combined score first."""
        return self._judge(text)[1]

    def _judge(self, text: str) -> Tuple[_Message, List[_Ranked]]:
        """The message as evidence, and the candidates ranked against it."""
        message = self._message(text or "")
        vector = None
        if self.semantic and (text or "").strip():
            vector = self._query_vector(text)
        total = sum(max(terms.values()) for terms in message.pieces.values())
        ranked = []
        candidates = self._candidates(message, vector)
        semantics = self._semantics(vector, candidates) if vector is not None else {}
        for index in candidates:
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
            # A place the message names must be the document's; and when the
            # claim itself names places, one of the claim's ("Trabzon flights
            # dropped?" is not judged by "the Izmir flights continue; only
            # Izmir-Trabzon runs less often", which names Trabzon in its answer).
            claim_places = lead & self._places
            elsewhere = (
                message.other_sector
                or not all(_covers(doc, place) for place in message.places)
                or bool(
                    claim_places
                    and not all(_covers(claim_places, place) for place in message.places)
                )
            )
            lexical = credit / total if total else 0.0
            if self._same_issues and message.issues != self._issues[index]:
                lexical = 0.0
            semantic = semantics.get(index, 0.0)
            # A different issue or a different number than the lead's is another claim.
            issues, numbers = self._issues[index], self._lead_numbers[index]
            conflict = bool(
                (message.issues and issues and not message.issues & issues)
                or (message.numbers and numbers and not message.numbers & numbers)
            )
            # The message's issues are its claim: a document that mentions none of
            # them anywhere (lead or answers) cannot judge it ("a gas price rise?"
            # is not judged by "no gas cut this winter").
            unjudged = UNJUDGED_ISSUES and bool(message.issues) and not message.issues & doc
            ranked.append(
                _Ranked(
                    self.ids[index],
                    combined(lexical, semantic) if vector is not None else lexical,
                    evidence,
                    anchored,
                    shared == len(message.pieces),
                    elsewhere,
                    lexical,
                    semantic,
                    conflict,
                    unjudged,
                    bool(message.issues) and message.issues == issues,
                )
            )
        # Ties (both signals at their ceiling) go to the document with more of both.
        ranked.sort(key=lambda item: (-item.score, -(item.lexical + item.semantic)))
        return message, ranked

    def scores(self, text: str) -> List[Tuple[str, float, int]]:
        """The candidate documents as (id, score, pieces of evidence), best first."""
        return [(r.id, r.score, r.evidence) for r in self._rank(text)]

    def search(
        self,
        text: str,
        threshold: float | None = None,
        margin: float | None = None,
        suggest: float | None = None,
    ) -> Match:
        """The confident best match for `text` (else id None), with suggestions.

        `threshold`, `margin` and `suggest` default to the settings'
        CRISISDESK_MATCH_ANSWER_THRESHOLD, _MARGIN and _SUGGEST_THRESHOLD; they
        apply to the combined score. An index without the semantic signal (the
        FAQ) scores words only and keeps the thresholds measured for them,
        `WORDS_THRESHOLD` and `WORDS_MARGIN`, with no suggestions.

        The bot answers only when the best document's score clears the answer
        threshold with a lead of `margin` over the runner-up, and its evidence
        holds: the same world (no other sector, no other place, no name the
        documents never use), no other issue or number than its lead names,
        and support from the words (anchored, enough evidence) or from the
        meaning (the encoder's similarity clears `SEMANTIC_SUPPORT` with a lead
        of `SEMANTIC_MARGIN`). Otherwise the documents that clear the
        suggestion threshold, in the same world, are the suggestions.
        """
        if not self.semantic:
            threshold, margin, suggest = WORDS_THRESHOLD, WORDS_MARGIN, 2.0
        elif threshold is None or margin is None or suggest is None:
            cfg = settings()
            threshold = cfg.match_threshold if threshold is None else threshold
            margin = cfg.match_margin if margin is None else margin
            suggest = cfg.match_suggest_threshold if suggest is None else suggest
        message, ranked = self._judge(text)
        if not ranked:
            return Match(None, 0.0)
        best = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        # One piece of evidence is enough when it is the claim's issue, the same
        # as the document's ("Yelken Bank batiyormus, herkes parasini cekiyor").
        single = best.evidence == 1 and (best.complete or best.same_issues)
        words_support = best.anchored and (best.evidence >= MIN_EVIDENCE or single)
        meaning_support = False
        if self.semantic:
            second = max((r.semantic for r in ranked[1:]), default=0.0)
            meaning_support = (
                best.semantic >= SEMANTIC_SUPPORT
                and best.semantic - second >= SEMANTIC_MARGIN
                and best.lexical > 0
            )
        joint_support = False
        if self.semantic:
            joint_support = (
                best.anchored
                and best.evidence >= 1
                and best.semantic >= JOINT_SEMANTIC
                and best.semantic - second >= JOINT_MARGIN
            )
        confident = (
            best.score >= threshold
            and best.score - runner_up >= margin
            and (words_support or meaning_support or joint_support)
            and not (self._judges_claims and DETAIL_QUESTIONS and asks_detail(text))
            and not best.elsewhere
            and not best.conflict
            and not best.unjudged
            and not (self.semantic and message.strangers)
        )
        suggestions: Tuple[Tuple[str, float], ...] = ()
        if not confident:
            suggestions = tuple(
                (r.id, round(r.score, 4)) for r in ranked if r.score >= suggest and not r.elsewhere
            )[:MAX_SUGGESTIONS]
        return Match(
            best.id if confident else None,
            best.score,
            runner_up,
            best.id,
            best.evidence,
            suggestions,
            best.lexical,
            best.semantic,
        )


def combined(lexical: float, semantic: float) -> float:
    """One score in [0, 1] from both signals: either one can carry a match.

    The encoder's cosine is rescaled from [SEMANTIC_FLOOR, SEMANTIC_CEILING]
    (unrelated texts sit below the floor, paraphrases of the claim above the
    ceiling) to [0, 1]; then the two combine as a noisy-or, 1 - (1 - l)(1 - s),
    with the lexical score weighted `LEXICAL_SHARE`. A weighted mean was
    measured too: it sinks a match that one signal is sure of and the other
    misses (Turkish slang the encoder reads badly, a paraphrase without one
    shared word), and answered fewer dev cases at the same wrong answers.
    """
    scaled = (semantic - SEMANTIC_FLOOR) / (SEMANTIC_CEILING - SEMANTIC_FLOOR)
    scaled = min(max(scaled, 0.0), 1.0)
    return 1.0 - (1.0 - LEXICAL_SHARE * lexical) * (1.0 - scaled)


def _claims(fact: Dict[str, str]) -> List[str]:
    """A fact's claim in both languages (`claim_en` was called `claim`)."""
    return [fact.get("claim_tr") or "", fact.get("claim_en") or fact.get("claim") or ""]


def fact_index(
    facts: Iterable[Dict[str, str]], variants: Dict[str, List[str]] | None = None
) -> Index:
    """An index over facts: topic, claims and confirmed wordings (the lead), then answers.

    `variants` maps a fact id to customer wordings of its claim that a person
    confirmed; they count like the claim, for the words and for the meaning.
    The meaning of a fact is its claims and its wordings (and, for a fact
    without `claim_tr`, the first sentence of its Turkish answer).
    """
    facts = list(facts)
    variants = variants or {}
    docs = []
    semantic = []
    for f in facts:
        extra = [v for v in variants.get(f["id"], ()) if v]
        lead = "\n".join([f.get("topic") or "", *_claims(f), *extra])
        docs.append((f["id"], (lead, f.get("answer_tr") or "", f.get("answer_en") or "")))
        meaning = [*_claims(f), *extra]
        if not f.get("claim_tr"):  # an old fact: its Turkish answer restates the claim
            meaning.append(_first_sentence(f.get("answer_tr") or ""))
        semantic.append(meaning)
    return Index(docs, lead=1, semantic=semantic, judges_claims=True)


def faq_index(faqs: Iterable[Dict[str, str]]) -> Index:
    """An index over FAQ entries: both questions (the lead), then both answers.

    A question matches only messages about exactly its issues (`same_issues`).
    Words only: a procedure question is about its exact issues, which the
    lexicon names.
    """
    return Index(
        [
            (q["id"], (q["question_tr"], q["question_en"], q["answer_tr"], q["answer_en"]))
            for q in faqs
        ],
        lead=2,
        same_issues=True,
    )
