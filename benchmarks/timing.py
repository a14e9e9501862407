"""Timing helpers shared by the benchmark scripts (imported from the script's own folder)."""

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


def matmul_peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """This machine's fp32 matmul rate (best of ``repeats``), the yardstick for 'fraction of peak'."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9
