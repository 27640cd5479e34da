"""The latency summary every `make bench` script prints: count, p50 and p95 in ms.

Percentiles are nearest-rank, the same function the desk's dashboard uses.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.desk.dashboard import percentile  # noqa: E402


def summary(seconds: List[float]) -> Dict[str, float]:
    """Count, p50 and p95 (ms) of latency samples taken in seconds (at least one)."""
    return {
        "samples": len(seconds),
        "p50_ms": round(statistics.median(seconds) * 1000, 1),
        "p95_ms": round(percentile(seconds, 95) * 1000, 1),
    }
