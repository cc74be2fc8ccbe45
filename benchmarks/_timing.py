"""Timing helpers shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_us(fn: Callable[[], object], n: int = 3000, rounds: int = 7, warmup: int = 300) -> float:
    """Median over ``rounds`` of the mean time per call of ``fn``, in microseconds, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        means.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(means)
