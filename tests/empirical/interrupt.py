"""A training stack stopped part-way, as a kill would stop it, for the resume tests of both engine paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from empirical.engine.training import train_stack

__all__ = ["interrupt"]


class _Interrupt(Exception):
    pass


def interrupt(cfgs, data, rep, checkpoint: Path, after: int, **kwargs) -> None:
    """Train ``cfgs`` with a checkpoint at every chance and stop once ``after`` run-epochs are reported."""
    seen: list[int] = []

    def stop(n: int) -> None:
        seen.append(n)
        if sum(seen) >= after:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_stack(cfgs, data, rep, progress=stop, checkpoint=checkpoint, checkpoint_seconds=0.0, **kwargs)
    assert checkpoint.exists()  # else the resume below would only retrain from scratch
