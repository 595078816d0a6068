"""Small numeric helpers: percentiles and rates over sorted samples."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), nearest-rank on sorted data; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: Sequence[float], digits: int = 2) -> dict[str, Any]:
    """count, p50, p90, p99, max and mean, rounded."""
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, digits)

    return {
        "count": len(values),
        "p50": r(percentile(values, 50)),
        "p90": r(percentile(values, 90)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values)),
        "mean": r(sum(values) / len(values)),
    }


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The most events that fall in any half-open interval of ``window`` seconds."""
    ordered = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def steady_rate(finish_times: Sequence[float], *, trim: float = 0.1) -> float | None:
    """Completions per second between the ``trim`` and ``1 - trim`` quantiles of the
    completion times: the sustained rate without the ramp-up and the tail."""
    if len(finish_times) < 10:
        return None
    ordered = sorted(finish_times)
    lo = int(len(ordered) * trim)
    hi = int(len(ordered) * (1 - trim)) - 1
    span = ordered[hi] - ordered[lo]
    if span <= 0:
        return None
    return (hi - lo) / span
