"""A claim of the theory, the verdict a randomized check returns for it, and what every check draws from.

Each claim has a stable identifier, a one-sentence statement, the verdict the theory predicts for it
(``expected``: True where the statement is proved, False for a boundary — a naive extension the theory
says fails) and a ``check(rng, cases)`` that searches ``cases`` random instances and reports whether the
statement held on all of them, the worst ratio sigma_max(after) / sigma_max(before) seen, and a
counterexample when one turned up. ``python -m theory.flow_demo`` and the tests run the same checks.

The helpers both claims modules draw from live here too (``claim_rng``, ``random_representation``), so
``theory.deep_claims`` needs nothing from ``theory.claims``, which only gathers DEEP_CLAIMS into
``all_claims()``: the imports run one way, claim <- deep_claims <- claims, with no circle.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_limits

from theory import groups

__all__ = ["Verdict", "Claim", "KINDS", "Trial", "claim_rng", "random_representation", "search", "claim"]

KINDS = ("permutation", "orthogonal", "nonorthogonal")

# Small groups in a permutation representation (d <= 9) so counterexamples stay readable.
_BASES: tuple[tuple[Callable[[int], groups.Representation], int], ...] = (
    (groups.cyclic_shift, 2), (groups.cyclic_shift, 3), (groups.cyclic_shift, 4), (groups.cyclic_shift, 5),
    (groups.dihedral, 3), (groups.dihedral, 4), (groups.symmetric, 3),
    (groups.rotations, 2), (groups.rotations, 3), (groups.translations, 3),
)


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
    """A statement with a randomized check ``check(rng, cases) -> Verdict`` and the verdict the theory predicts."""

    id: str
    statement: str
    check: Callable[[np.random.Generator, int], Verdict] = field(repr=False)
    # The value ``Verdict.holds`` should take: True where the theory proves the statement, False where the
    # statement is one of the theory's boundaries (a naive extension that a counterexample refutes).
    expected: bool = field(kw_only=True)


def claim_rng(seed: int, claim_id: str) -> np.random.Generator:
    """The generator for one claim: a function of (seed, id) only, so claims do not perturb each other's draws."""
    return np.random.default_rng([seed, zlib.crc32(claim_id.encode())])


def random_representation(rng: np.random.Generator, kind: str = "any") -> groups.Representation:
    """A random small group (d <= 9) in a 'permutation', 'orthogonal', 'nonorthogonal' or 'any' representation."""
    if kind == "any":
        kind = KINDS[rng.integers(len(KINDS))]
    if kind not in KINDS:
        raise ValueError(f"kind must be 'any' or one of {KINDS}, got {kind!r}")
    make, arg = _BASES[rng.integers(len(_BASES))]
    rep = make(arg)
    if kind == "orthogonal":
        return groups.random_orthogonal(rep, rng)
    if kind == "nonorthogonal":
        return groups.random_invertible(rep, rng, spread=rng.uniform(0.3, 1.0))
    return rep


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


# A trial draws one random instance: (statement held, its ratio or None, the instance as a dict).
Trial = Callable[[np.random.Generator], tuple[bool, float | None, dict[str, Any]]]


def search(claim_id: str, statement: str, trial: Trial, rng: np.random.Generator, cases: int,
           stats: tuple[str, ...] = ()) -> Verdict:
    """Run ``trial`` ``cases`` times: the worst (largest) ratio, the smallest (then largest-ratio) counterexample,
    and the range of the named scalar ``stats`` over all cases in the detail."""
    if cases < 1:
        raise ValueError(f"cases must be >= 1, got {cases}")
    top, failures, counter = None, 0, None
    seen: dict[str, list[float]] = {name: [] for name in stats}
    # the matrices are tiny: one BLAS thread (a thread pool busy-waiting on a loaded machine is ~100x slower)
    with threadpool_limits(limits=1, user_api="blas"):
        results = [trial(rng) for _ in range(cases)]
    for ok, ratio, example in results:
        for name in stats:
            seen[name].append(float(example[name]))
        if ratio is not None:
            top = ratio if top is None else max(top, ratio)
        if not ok:
            failures += 1
            key = (_size(example), -(ratio or 0.0))
            if counter is None or key < counter[0]:
                counter = (key, {**example, "ratio": ratio})
    detail = f"{failures} of {cases} random instances violate the statement"
    detail += "".join(f"; {name} in [{min(v):.4g}, {max(v):.4g}]" for name, v in seen.items())
    return Verdict(claim_id, statement, failures == 0, cases, top, None if counter is None else counter[1], detail)


def _size(example: dict[str, Any]) -> int:
    return int(sum(np.size(v) for v in example.values() if isinstance(v, np.ndarray)))


def claim(claim_id: str, statement: str, trial: Trial, expected: bool, stats: tuple[str, ...] = ()) -> Claim:
    """A Claim whose check runs :func:`search` over ``trial``."""
    return Claim(claim_id, statement, lambda rng, cases: search(claim_id, statement, trial, rng, cases, stats),
                 expected=expected)
