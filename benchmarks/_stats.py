"""The one way the benchmarks summarise samples: median and nearest-rank percentiles.

Every script prints its figures through :func:`summary`, so a p99 means the
same thing in every table (the nearest-rank definition: the p99 of 100
samples is the 99th smallest) and ratios between two columns compare like
with like.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import NamedTuple


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (``fraction`` in 0..1)."""
    if not values:
        raise ValueError("percentile of no samples")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


class Summary(NamedTuple):
    """Median and p99 of one series, with its sample count."""

    median: float
    p99: float
    samples: int


def summary(values: Sequence[float]) -> Summary:
    """The median and nearest-rank p99 of ``values``."""
    return Summary(statistics.median(values), percentile(values, 0.99), len(values))


def ratio(ours: float, peer: float) -> str:
    """``ours / peer`` formatted as ``0.85x`` (``n/a`` when the peer is 0)."""
    return f"{ours / peer:.2f}x" if peer else "n/a"
