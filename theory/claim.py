"""A claim of the theory and the verdict a randomized check returns for it.

Each claim has a stable identifier, a one-sentence statement and a ``check(rng, cases)``
that searches ``cases`` random instances and reports whether the statement held on all
of them, the worst ratio sigma_max(after) / sigma_max(before) seen, and a counterexample
when one turned up. ``python -m theory.flow_demo`` and the tests run the same checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Verdict", "Claim"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one claim on ``cases`` random instances."""

    claim: str
    statement: str
    holds: bool
    cases: int
    worst_ratio: float | None
    counterexample: dict[str, Any] | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (numpy arrays become nested lists)."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class Claim:
    """A statement with a randomized check: ``check(rng, cases) -> Verdict``."""

    id: str
    statement: str
    check: Callable[[np.random.Generator, int], Verdict] = field(repr=False)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    return obj
