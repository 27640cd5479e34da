"""Turkish/English text handling shared by the NLU pipeline, matching and actions.

Customers write both languages, often without Turkish letters, with typos and
emoji. Everything here is deterministic and cheap: it runs on every message.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Dict, Iterable, List, Mapping, Sequence

LANGUAGES = ("tr", "en")
# How the desk and the staff chat name them.
LANGUAGE_NAMES = {"tr": "Turkish", "en": "English"}

# Turkish letters folded to the ASCII letters people type instead of them.
_FOLD = str.maketrans(
    {
        "ı": "i",
        "İ": "I",
        "ş": "s",
        "Ş": "S",
        "ğ": "g",
        "Ğ": "G",
        "ç": "c",
        "Ç": "C",
        "ö": "o",
        "Ö": "O",
        "ü": "u",
        "Ü": "U",
        "â": "a",
        "Â": "A",
        "î": "i",
        "Î": "I",
        "û": "u",
        "Û": "U",
    }
)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Words that are frequent in one language and (practically) absent in the other.
# Folded, lower case. Kept short on purpose: frequent function words carry the
# signal, content words would tie detection to one sector.
_TR_WORDS = frozenset(
    """
    ve bir bu da de mi mu mı mü mu ne neden nasil nerede nereden nereye niye kim hangi
    icin ile ama fakat ben sen siz biz onlar benim bana beni sizin size sizi bize bizim
    var yok degil evet hayir tamam tesekkur tesekkurler tesekkurederim sagol sagolun
    merhaba selam slm mrb iyi gunler aksamlar kolay gelsin hala daha cok az simdi bugun
    dun yarin hemen lutfen rica olur olmaz mi misiniz musunuz miyim mudur dogru yalan
    gercek gercekten sey hic hep her gibi kadar sonra once diye ki ya yani abi abla knk
    hocam efendim canli destek insan biri birisi baglayin baglar misiniz istiyorum
    siparis siparisim kargo iade ucret para hesabim kartim paket urun musteri temsilci
    gelmedi olmadi yapmadi yaptiniz ettiniz oldu geldi aldim verdim bekliyorum
    haftadir gundur aydir saattir
    """.split()
)
_EN_WORDS = frozenset(
    """
    the a an and or but is are was were be been am i you he she we they it my your our
    their me him her us them this that these those what why how where when who which
    do does did done not no yes yeah yep nope ok okay please thanks thank hello hi hey
    to of in on at for with from by about as if so just still can could would should
    will wont cant dont didnt doesnt isnt im ive youre its there here have has had
    get got want need talk speak person human agent someone real order my card account
    true fake really heard saw said says someone anyone bye goodbye morning evening
    """.split()
)
# Endings that only Turkish words have (checked on folded words).
_TR_SUFFIX = re.compile(
    r"(miyim|misiniz|musunuz|mussunuz|missiniz|iyor|iyorum|iyoruz|iyormus|yormus|"
    r"mis|mus|miz|niz|nuz|lar|ler|lari|leri|dir|dur|tir|tur|sin|sun|dim|dik|tim|tik|"
    r"madi|medi|madim|medim|acak|ecek|abilir|ebilir|sunuz|siniz|imiz|umuz|inizi|unuzu)$"
)
_TR_LETTERS = set("ıİşŞğĞçÇöÖüÜ")


def fold(text: str) -> str:
    """Turkish letters to their ASCII look-alikes, case kept ("Sipariş" -> "Siparis")."""
    return text.translate(_FOLD)


def normalize(text: str) -> str:
    """Folded, lower-cased, NFKC text with runs of white space collapsed."""
    text = unicodedata.normalize("NFKC", text)
    # Turkish dotted capital I lowers to "i" + combining dot in Python; fold first.
    return " ".join(fold(text).lower().split())


def words(text: str) -> List[str]:
    """Folded lower-case word tokens (letters and digits; emoji and punctuation dropped)."""
    return _WORD.findall(normalize(text))


def _scores(tokens: Iterable[str], raw: str) -> tuple[float, float]:
    tr = en = 0.0
    for token in tokens:
        if token in _TR_WORDS:
            tr += 1.0
        elif token in _EN_WORDS:
            en += 1.0
        elif len(token) > 4 and _TR_SUFFIX.search(token):
            tr += 0.5
    tr += 2.0 * sum(1 for ch in raw if ch in _TR_LETTERS)
    return tr, en


def detect(text: str | None, previous: str | None = None) -> str | None:
    """The language of one message: "tr", "en", or `previous` when it cannot tell.

    Emoji, numbers and empty messages carry no language, so the conversation keeps
    the language it had. In a mixed message the language with more evidence wins.
    """
    if not text or not text.strip():
        return previous
    tr, en = _scores(words(text), text)
    if tr == en:
        return previous if previous in LANGUAGES or tr == 0 else "tr"
    return "tr" if tr > en else "en"


def is_turkish(text: str) -> bool:
    """True when `detect` says Turkish (English when undecided)."""
    return detect(text, previous="en") == "tr"


def latest_language(parse_datas: Iterable[Mapping[str, Any] | None]) -> str | None:
    """The language of the newest message that had one, from parse data newest first.

    The NLU records each message's language in its parse data (`language`);
    emoji, numbers and button presses have none and keep the conversation's.
    """
    for parse_data in parse_datas:
        found = (parse_data or {}).get("language")
        if found in LANGUAGES:
            return found
    return None


def response_variant(variants: Sequence[Mapping[str, Any]], language: str | None) -> Dict[str, Any]:
    """The variant of a domain response for `language`, else the unconditioned one.

    Domain responses carry a `language` slot condition per variant plus one
    bilingual variant without a condition (see domain.yml).
    """
    fallback: Mapping[str, Any] = {}
    for variant in variants:
        conditions = variant.get("condition") or []
        if not conditions:
            fallback = fallback or variant
        elif any(c.get("name") == "language" and c.get("value") == language for c in conditions):
            return dict(variant)
    return dict(fallback)
