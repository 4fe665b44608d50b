"""Thread counts for a block of work: torch's intra-op pool and, on request, numpy's BLAS pool, restored after.

One thread makes a CPU run's bits independent of the machine, and keeps many small operations from paying for
idle or oversubscribed pools (measured on this project's 2-core machine: a 196 x 196 eigh 0.8 s on two busy
OpenBLAS threads against 9 ms on one; the bridge's float64 analysis 7.8 s against 2.9 s).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from threadpoolctl import threadpool_limits  # numpy's BLAS pool cannot be sized from Python without it

__all__ = ["threads"]


@contextlib.contextmanager
def threads(n: int | None, blas: bool = False) -> Iterator[None]:
    """Run the block with ``n`` torch threads (and ``n`` BLAS threads with ``blas``); None leaves every count as is."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n, user_api="blas") if blas else contextlib.nullcontext():
            yield
    finally:
        torch.set_num_threads(before)
