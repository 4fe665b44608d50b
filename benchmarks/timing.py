"""Shared timing helper of the benchmark scripts."""

from __future__ import annotations

import statistics
import time

import torch

__all__ = ["median_time"]


def median_time(fn, repeats: int) -> tuple[float, torch.Tensor]:
    """Median wall time of fn() over ``repeats`` runs after one warm-up, and its last output."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        if out.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out
