"""Random instances for the Duan & Montúfar 2026 claims, and the search that turns trials into a Verdict.

An instance is a finite group in a permutation, random orthogonal or random non-orthogonal representation
on R^{d0} (d0 <= 9) whose invariant subspace Fix(rho^T) has dimension d >= 2 (so that the paper's non-trivial
case 1 <= r < d exists), data X (d0, n) with n = d0+1..d0+3 Gaussian points (X X^T invertible, as the paper
assumes), Gaussian targets Y (dL, n), and a rank r with 1 <= r < d and r < dL. ``with_target`` replaces Y by
targets whose paper-coordinate target Z = Y X^T P^{-1} is prescribed (Y = Z P^{-1} X), to build instances
on a boundary (tied singular values, crossings).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from theory import duan, groups

__all__ = ["Instance", "draw_rep", "fix_dim", "draw_instance", "with_target", "Tied", "tied_instance", "rep_json",
           "conjugated", "FIX2_GROUPS", "IMAGE_GROUPS"]

# FIX2_GROUPS: permutation representations with dim Fix >= 2 (d0 <= 9): padded cyclic / dihedral / symmetric groups
# (extra fixed coordinates), doubled groups (rho + rho), and the suite's image groups on 2x2 and 3x3 grids.


def _padded(rep: groups.Representation, extra: int) -> groups.Representation:
    d = rep.dim
    tail = np.broadcast_to(np.arange(d, d + extra), (rep.order, extra))
    return groups.from_permutations(f"{rep.name}+{extra}", np.concatenate([rep.perms, tail], axis=1))


FIX2_GROUPS: tuple[Callable[[], groups.Representation], ...] = (
    lambda: _padded(groups.cyclic_shift(2), 1), lambda: _padded(groups.cyclic_shift(3), 1),
    lambda: _padded(groups.cyclic_shift(3), 2), lambda: _padded(groups.cyclic_shift(4), 1),
    lambda: _padded(groups.cyclic_shift(5), 2), lambda: _padded(groups.dihedral(3), 2),
    lambda: _padded(groups.dihedral(4), 1), lambda: _padded(groups.symmetric(3), 2),
    lambda: groups.direct_sum(groups.cyclic_shift(3), groups.cyclic_shift(3)),
    lambda: groups.direct_sum(groups.cyclic_shift(4), groups.cyclic_shift(4)),
    lambda: groups.direct_sum(groups.symmetric(3), groups.symmetric(3)),
    lambda: groups.flips(2), lambda: groups.rotations(3), lambda: groups.translations(3),
    lambda: groups.square_symmetries(3), lambda: groups.flips(3),
)

# The image groups of the experiments on small grids, for Prop. 4 (R4, T3, D4, F2).
IMAGE_GROUPS: tuple[Callable[[], groups.Representation], ...] = (
    lambda: groups.rotations(2), lambda: groups.rotations(3), lambda: groups.rotations(4),
    lambda: groups.translations(3), lambda: groups.translations(6),
    lambda: groups.square_symmetries(2), lambda: groups.square_symmetries(3), lambda: groups.square_symmetries(4),
    lambda: groups.flips(2), lambda: groups.flips(3), lambda: groups.flips(4),
)


def conjugated(rep: groups.Representation, kind: str, rng: np.random.Generator) -> groups.Representation:
    """``rep`` itself ('permutation'), conjugated by a Haar orthogonal ('orthogonal') or by a random invertible
    matrix ('nonorthogonal', spread 0.3..1)."""
    if kind == "orthogonal":
        return groups.random_orthogonal(rep, rng)
    if kind == "nonorthogonal":
        return groups.random_invertible(rep, rng, spread=float(rng.uniform(0.3, 1.0)))
    if kind != "permutation":
        raise ValueError(f"kind must be 'permutation', 'orthogonal', 'nonorthogonal' or 'any', got {kind!r}")
    return rep


def draw_rep(rng: np.random.Generator, kind: str = "any", max_dim: int = 9, min_fix: int = 2) -> groups.Representation:
    """A random group with dim Fix(rho^T) >= min_fix and d0 <= max_dim, in a representation of the given kind
    ('permutation', 'orthogonal', 'nonorthogonal', 'unitary' = one of the first two, or 'any')."""
    if kind == "any":
        kind = ("permutation", "orthogonal", "nonorthogonal")[int(rng.integers(3))]
    elif kind == "unitary":
        kind = ("permutation", "orthogonal")[int(rng.integers(2))]
    while True:
        rep = FIX2_GROUPS[int(rng.integers(len(FIX2_GROUPS)))]()
        fix = int(np.rint(np.trace(groups.reynolds(rep))))
        if rep.dim <= max_dim and fix >= min_fix:
            return conjugated(rep, kind, rng)


@dataclass(frozen=True, eq=False)
class Instance:
    """rep, X (d0, n), Y (dL, n), rank r, d = dim Fix(rho^T), G = stacked generator blocks (d0, M d0)."""

    rep: groups.Representation
    x: np.ndarray
    y: np.ndarray
    r: int
    d: int
    g: np.ndarray

    @property
    def dl(self) -> int:
        """dL, the output dimension."""
        return self.y.shape[0]

    def to_json(self) -> dict[str, Any]:
        """The instance as a small JSON-ready dict (float64 numbers, so it can be replayed)."""
        return {**rep_json(self.rep), "X": self.x, "Y": self.y, "r": self.r, "d": self.d}


def rep_json(rep: groups.Representation) -> dict[str, Any]:
    """{'group', 'perms'} or {'group', 'rho'}: enough to rebuild the representation."""
    if rep.perms is not None:
        return {"group": rep.name, "perms": rep.perms}
    return {"group": rep.name, "rho": rep.matrices}


def fix_dim(rep: groups.Representation) -> int:
    """d = dim Fix(rho^T) = d0 - rank [I - rho(g)]_g (the paper's nullity of G)."""
    return int(rep.dim - np.linalg.matrix_rank(duan.constraint_matrix(rep, range(rep.order))))


def draw_instance(rng: np.random.Generator, kind: str = "any", max_dim: int = 9, min_fix: int = 2,
                  ranks: str = "paper") -> Instance:
    """A random instance, n = d0+1..d0+3 Gaussian points and Gaussian targets. ranks='paper': 1 <= r < d and
    r < dL <= d + 2; 'output_at_least_d': the same with dL >= d; 'narrow_output': r < dL < d (needs d >= 3);
    'r_at_least_d': d <= r < min(d0, dL), so rank Z^inv <= d <= r (Thm. 6's assumption fails)."""
    rep = draw_rep(rng, kind, max_dim, max(min_fix, 3) if ranks == "narrow_output" else min_fix)
    d0, d = rep.dim, fix_dim(rep)
    if ranks == "paper":
        r = int(rng.integers(1, d))
        dl = int(rng.integers(r + 1, d + 3))
    elif ranks == "output_at_least_d":
        r = int(rng.integers(1, d))
        dl = int(rng.integers(max(r + 1, d), d + 2))
    elif ranks == "narrow_output":
        r = int(rng.integers(1, d - 1))
        dl = int(rng.integers(r + 1, d))
    elif ranks == "r_at_least_d":
        dl = d + 1 + int(rng.integers(0, 2))
        r = int(rng.integers(d, min(d0, dl)))
    else:
        raise ValueError(f"unknown ranks {ranks!r}")
    n = d0 + 1 + int(rng.integers(0, 3))
    x = rng.standard_normal((d0, n))
    return Instance(rep, x, rng.standard_normal((dl, n)), r, d, duan.constraint_matrix(rep))


def with_target(inst: Instance, z: np.ndarray) -> Instance:
    """The same instance with targets Y = Z P^{-1} X, so that Y X^T P^{-1} = Z (Eq. 5); Z (dL', d0)."""
    _, p_inv = duan.data_root(inst.x)
    return replace(inst, y=z @ p_inv @ inst.x)


@dataclass(frozen=True, eq=False)
class Tied:
    """An instance whose Z^inv = U diag(s) F^T has s_r = s_{r+1} (1-based; ``s[r] == s[r - 1]``), F (d0, k)
    orthonormal in the invariant directions of W~ = W P, U (dL, k) orthonormal; P^{-1} to map back to W."""

    inst: Instance
    u: np.ndarray
    s: np.ndarray
    f: np.ndarray
    p_inv: np.ndarray

    def truncation(self, keep: list[int]) -> np.ndarray:
        """U_keep diag(s_keep) F_keep^T P^{-1}, (dL, d0): a feasible map for Eq. 4."""
        return (self.u[:, keep] * self.s[keep]) @ self.f[:, keep].T @ self.p_inv


def tied_instance(inst: Instance, rng: np.random.Generator) -> Tied:
    """``inst`` with targets whose Z^inv has the tie sigma_r = sigma_{r+1} (Prop. 13's assumption violated), plus a
    random non-invariant part of Z; k = min(d, dL) > r singular values drawn in [0.5, 3]."""
    x, r = inst.x, inst.r
    _, p_inv = duan.data_root(x)
    pi_t = duan.left_null_projector(p_inv @ inst.g)  # invariant directions in the coordinates W~ = W P
    lam, vecs = np.linalg.eigh(pi_t)
    fix = vecs[:, lam > 0.5]
    k = min(fix.shape[1], inst.dl)
    f = fix @ np.linalg.qr(rng.standard_normal((fix.shape[1], k)))[0]
    u = np.linalg.qr(rng.standard_normal((inst.dl, k)))[0]
    s = np.sort(rng.uniform(0.5, 3.0, k))[::-1]
    s[r] = s[r - 1]  # the tie
    z = (u * s) @ f.T + rng.standard_normal((inst.dl, x.shape[0])) @ (np.eye(x.shape[0]) - pi_t)
    return Tied(with_target(inst, z), u, s, f, p_inv)
