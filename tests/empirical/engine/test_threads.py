"""engine.threads: the block runs on the asked thread counts and every count is restored after, errors included."""

import pytest
import torch
from threadpoolctl import threadpool_info

from empirical.engine.threads import threads


def _blas() -> set[int]:
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


def test_the_block_runs_on_n_threads_and_the_counts_come_back_after_an_error():
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), threads(1, blas=True):
            assert torch.get_num_threads() == 1 and _blas() <= {1}
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
        with threads(1):  # torch only: BLAS as it was
            assert torch.get_num_threads() == 1
        with threads(None, blas=True):  # nothing changes
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
