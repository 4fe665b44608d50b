"""Hypothesis strategies shared by the tests: random groups, representations, data."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from theory import groups

__all__ = ["base_groups", "representations", "orthogonal_representations", "vectors", "matrices"]

# Small abstract groups in a permutation representation: (constructor, argument).
_BASES = [
    (groups.cyclic_shift, 2), (groups.cyclic_shift, 3), (groups.cyclic_shift, 4), (groups.cyclic_shift, 5),
    (groups.dihedral, 3), (groups.dihedral, 4), (groups.dihedral, 5),
    (groups.symmetric, 3), (groups.symmetric, 4),
    (groups.rotations, 2), (groups.rotations, 3), (groups.translations, 3), (groups.translations, 6),
]


@st.composite
def base_groups(draw) -> groups.Representation:
    """A small permutation representation: cyclic, dihedral, symmetric, or an image group on a tiny grid."""
    make, arg = draw(st.sampled_from(_BASES))
    rep = make(arg)
    if draw(st.booleans()) and rep.order <= 8:
        rep = groups.direct_sum(rep, groups.regular(rep))
    return rep


@st.composite
def representations(draw, kind: str = "any") -> groups.Representation:
    """A random representation; kind = 'permutation', 'orthogonal', 'nonorthogonal' or 'any'."""
    rep = draw(base_groups())
    if kind == "any":
        kind = draw(st.sampled_from(["permutation", "orthogonal", "nonorthogonal"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "orthogonal":
        return groups.random_orthogonal(rep, rng)
    if kind == "nonorthogonal":
        return groups.random_invertible(rep, rng, spread=draw(st.floats(0.1, 1.0)))
    return rep


def orthogonal_representations():
    """Permutation or randomly rotated permutation representations (all orthogonal)."""
    return st.one_of(representations("permutation"), representations("orthogonal"))


def vectors(d: int, n: int | None = None, scale: float = 3.0):
    """Finite float64 arrays (d,) or (n, d) with entries in [-scale, scale]."""
    shape = (d,) if n is None else (n, d)
    return hnp.arrays(np.float64, shape, elements=st.floats(-scale, scale, allow_nan=False, width=64))


def matrices(rows: int, cols: int, scale: float = 3.0):
    """Finite float64 matrices (rows, cols) with entries in [-scale, scale]."""
    return hnp.arrays(np.float64, (rows, cols), elements=st.floats(-scale, scale, allow_nan=False, width=64))
