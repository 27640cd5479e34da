"""Builds crisisdesk's local spaCy pipelines (no model download).

Usage: python -m bot.nlu.build [TARGET_DIR]   (default: CRISISDESK_SPACY_DIR, var/spacy)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bot.config import settings
from bot.nlu.spacy_pipes import build


def main() -> None:
    """Builds the Turkish and English pipelines."""
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else settings().spacy_dir
    for lang in ("tr", "en"):
        started = time.perf_counter()
        build(lang, target / lang)
        print(f"spaCy pipeline {lang}: {target / lang} ({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
