"""Timing helper shared by the benchmark scripts (imported from the script's own folder)."""

from __future__ import annotations

import statistics
import time


def timed(fn, repeats: int) -> dict:
    """Median and best of ``repeats`` calls after one warm-up call (allocator/JIT costs).
    Both are reported: on a shared machine the median carries other processes' load."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 6), "min_s": round(min(times), 6)}
