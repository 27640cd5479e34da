"""Personal data out of text that may become training data: placeholders instead.

`bot.privacy` masks conversation ids and provider errors for logs (keeping a few
digits to tell two apart); training data must keep none, so here e-mail
addresses, card-like numbers, phone numbers and order numbers become the
placeholders `<email>`, `<card>`, `<phone>` and `<order>`. The order number
shapes are the ones the entity rules know (`bot/nlu/spacy_pipes.py`): 6-12
digits with an optional "#", or 2-3 letters, a dash and 4-10 digits. Ticket
numbers (`CD-1234`, ours) and lot codes (`L2311A`, a product's) are kept.
"""

from __future__ import annotations

import re
from typing import List, Tuple

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 13-19 digits, possibly in groups split by spaces or dashes (payment cards).
CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?!\w)")
# A Turkish or international phone number: "+90 532 123 45 67", "0532 123 4567",
# "(0532) 123-45-67", "5321234567"; 10 to 13 digits with separators.
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?\(?0?\d{3}\)?[\s.-]?\d{3}[\s.-]?\d{2}[\s.-]?\d{2}(?!\w)"
)
ORDER = re.compile(r"(?<!\w)(?:#?\d{6,12}|#?(?!(?i:cd)-)[A-Za-z]{2,3}-\d{4,10})(?!\w)")

# In the order they are tried: a card number also looks like a phone and an order.
PATTERNS: List[Tuple[str, re.Pattern[str]]] = [
    ("email", EMAIL),
    ("card", CARD),
    ("phone", PHONE),
    ("order", ORDER),
]


def scrub(text: str) -> Tuple[str, List[str]]:
    """`text` with personal data replaced by placeholders, and the kinds replaced.

    "beni 0532 123 45 67 den arayin" -> ("beni <phone> den arayin", ["phone"]).
    """
    found: List[str] = []
    for kind, pattern in PATTERNS:
        text, count = pattern.subn(f"<{kind}>", text)
        found.extend([kind] * count)
    return text, found
