"""Finite groups as immutable values: one matrix (or pixel permutation) per element.

A :class:`Representation` is the only notion of a group in the suite. The
image groups R4 and T3 that the empirical MLPs are trained with are built here
as pixel permutations; their matrices follow from the permutations, so a theory
statement about ``rho(g)`` applies to a trained network without translation.

Convention: element 0 is always the identity, and for a permutation
representation ``(rho(g) x)[i] = x[perms[g, i]]``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = [
    "Representation",
    "from_matrices",
    "from_permutations",
    "cyclic_shift",
    "rotations",
    "translations",
    "from_generators",
    "square_symmetries",
    "flips",
    "dihedral",
    "symmetric",
    "regular",
    "direct_sum",
    "conjugate",
    "random_orthogonal",
    "random_invertible",
    "cayley_table",
    "inverse_indices",
    "act",
    "orbit",
    "reynolds",
    "fixed_subspace",
    "is_orthogonal",
]

_ATOL = 1e-9  # absolute tolerance on entries of O(1) matrices when identifying elements


@dataclass(frozen=True, eq=False)
class Representation:
    """A finite group G acting linearly on R^d: rho(g) for each of the |G| elements.

    Build one with a constructor (``rotations(36)``, ``cyclic_shift(5)``, ...);
    ``matrices`` is (|G|, d, d) float64, ``perms`` is (|G|, d) int64 or None.
    """

    name: str
    perms: np.ndarray | None = field(default=None, repr=False)
    _matrices: np.ndarray | None = field(default=None, repr=False)

    @cached_property
    def matrices(self) -> np.ndarray:
        """rho(g) for every element, (|G|, d, d) float64, read-only."""
        if self._matrices is not None:
            return self._matrices
        n, d = self.perms.shape
        m = np.zeros((n, d, d))
        rows = np.arange(d)
        for g in range(n):
            m[g, rows, self.perms[g]] = 1.0
        m.setflags(write=False)
        return m

    @property
    def order(self) -> int:
        """|G|, the number of group elements."""
        return len(self.perms) if self.perms is not None else len(self._matrices)

    @property
    def dim(self) -> int:
        """d, the dimension of the space the group acts on."""
        return self.perms.shape[1] if self.perms is not None else self._matrices.shape[1]

    def act(self, g: int, x: np.ndarray) -> np.ndarray:
        """rho(g) x for x of shape (..., d)."""
        return act(self, g, x)


def _frozen(a: np.ndarray, dtype) -> np.ndarray:
    a = np.array(a, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


def from_matrices(name: str, matrices: np.ndarray) -> Representation:
    """A representation from its matrices (|G|, d, d); element 0 must be the identity."""
    m = np.asarray(matrices, dtype=float)
    if m.ndim != 3 or m.shape[1] != m.shape[2]:
        raise ValueError(f"{name}: matrices must have shape (|G|, d, d), got {m.shape}")
    if not np.allclose(m[0], np.eye(m.shape[1]), atol=_ATOL):
        raise ValueError(f"{name}: element 0 must be the identity matrix; reorder the elements")
    return Representation(name=name, _matrices=_frozen(m, float))


def from_permutations(name: str, perms: np.ndarray) -> Representation:
    """A permutation representation from index permutations (|G|, d); perms[0] must be arange(d)."""
    p = np.asarray(perms, dtype=np.int64)
    if p.ndim != 2:
        raise ValueError(f"{name}: perms must have shape (|G|, d), got {p.shape}")
    d = p.shape[1]
    if not np.array_equal(np.sort(p, axis=1), np.broadcast_to(np.arange(d), p.shape)):
        raise ValueError(f"{name}: every row of perms must be a permutation of 0..{d - 1}")
    if not np.array_equal(p[0], np.arange(d)):
        raise ValueError(f"{name}: element 0 must be the identity permutation; reorder the elements")
    return Representation(name=name, perms=_frozen(p, np.int64))


def cyclic_shift(n: int) -> Representation:
    """Z_n acting on R^n by cyclic shifts: (rho(k) x)[i] = x[(i - k) mod n]."""
    if n < 1:
        raise ValueError(f"cyclic_shift needs n >= 1, got {n}")
    i = np.arange(n)
    return from_permutations(f"C{n}", [(i - k) % n for k in range(n)])


def _square_grid(s: int, what: str) -> np.ndarray:
    if not isinstance(s, (int, np.integer)) or s < 1:
        raise ValueError(f"{what} needs a positive integer grid side s, got {s!r}")
    return np.arange(s * s).reshape(s, s)


def rotations(s: int | tuple[int, int] = 36) -> Representation:
    """R4: rotations of an s x s pixel grid by k * 90 degrees, k = 0..3 (as ``torch.rot90(x, k, (-2, -1))``)."""
    if isinstance(s, tuple):
        if len(s) != 2 or s[0] != s[1]:
            raise ValueError(f"R4 rotates square grids only; got grid shape {s}. Pad the images to a square.")
        s = s[0]
    idx = _square_grid(s, "rotations")
    return from_permutations(f"R4[{s}x{s}]", [np.rot90(idx, k).ravel() for k in range(4)])


def translations(s: int = 36, n: int = 3) -> Representation:
    """T3: cyclic translations of an s x s grid along x by k * s/n pixels, k = 0..n-1 (as ``torch.roll``)."""
    idx = _square_grid(s, "translations")
    if n < 1 or s % n:
        raise ValueError(f"translations by s/n pixels need s divisible by n; got s={s}, n={n} "
                         f"(for T3 use a side divisible by 3, e.g. 36)")
    step = s // n
    return from_permutations(f"T{n}[{s}x{s}]", [np.roll(idx, k * step, axis=1).ravel() for k in range(n)])


def from_generators(name: str, generators: list[np.ndarray], max_order: int = 10_000) -> Representation:
    """The permutation group generated by index permutations (each (d,)), closed under composition.

    Elements in breadth-first order from the identity (element 0), multiplying by the generators in
    the order given, so the same generators always give the same element order.
    """
    gens = [np.asarray(g, dtype=np.int64) for g in generators]
    if not gens:
        raise ValueError(f"{name}: give at least one generator permutation")
    d = gens[0].shape[0]
    elements, seen, frontier = [np.arange(d)], {np.arange(d).tobytes()}, [np.arange(d)]
    while frontier:
        nxt = []
        for p in frontier:
            for g in gens:
                q = p[g]  # x[p][g] = x[p[g]]: first p, then g
                if q.tobytes() not in seen:
                    seen.add(q.tobytes())
                    elements.append(q)
                    nxt.append(q)
            if len(elements) > max_order:
                raise ValueError(f"{name}: the generators give more than {max_order} elements")
        frontier = nxt
    return from_permutations(name, elements)


def square_symmetries(s: int = 36) -> Representation:
    """D4: the 8 rotations and reflections of an s x s pixel grid, generated by rot90 and the left-right flip."""
    idx = _square_grid(s, "square_symmetries")
    return from_generators(f"D4[{s}x{s}]", [np.rot90(idx).ravel(), np.fliplr(idx).ravel()])


def flips(s: int = 36) -> Representation:
    """F2: the identity and the horizontal (left-right) reflection of an s x s pixel grid."""
    idx = _square_grid(s, "flips")
    return from_generators(f"F2[{s}x{s}]", [np.fliplr(idx).ravel()])


def dihedral(n: int) -> Representation:
    """D_n (order 2n) permuting the n vertices of a regular n-gon: rotations r^k, then reflections r^k s."""
    if n < 3:
        raise ValueError(f"dihedral needs n >= 3 vertices, got {n}")
    i = np.arange(n)
    rots = [(i - k) % n for k in range(n)]
    refl = [(k - i) % n for k in range(n)]
    return from_permutations(f"D{n}", rots + refl)


def symmetric(n: int) -> Representation:
    """S_n permuting the coordinates of R^n (n! elements; n <= 6 keeps it small)."""
    if not 1 <= n <= 7:
        raise ValueError(f"symmetric needs 1 <= n <= 7 (n! elements), got {n}")
    return from_permutations(f"S{n}", list(itertools.permutations(range(n))))


def cayley_table(rep: Representation) -> np.ndarray:
    """table[a, b] = index of the element ab, from rho(a) rho(b) = rho(ab); (|G|, |G|) int64."""
    n = rep.order
    table = np.empty((n, n), dtype=np.int64)
    if rep.perms is not None:
        # (rho(a) rho(b) x)[i] = (rho(b) x)[pa[i]] = x[pb[pa[i]]]
        index = {p.tobytes(): g for g, p in enumerate(rep.perms)}
        for a in range(n):
            for b in range(n):
                g = index.get(rep.perms[b][rep.perms[a]].tobytes())
                if g is None:
                    raise ValueError(f"{rep.name}: the permutations are not closed under composition; not a group")
                table[a, b] = g
        return table
    m = rep.matrices
    flat = m.reshape(n, -1)
    tol = _ATOL * max(1.0, np.abs(flat).max())
    for a in range(n):
        prod = (m[a] @ m).reshape(n, -1)
        dist = np.abs(prod[:, None, :] - flat[None, :, :]).max(axis=-1)
        table[a] = dist.argmin(axis=-1)
        if not (dist.min(axis=-1) <= tol).all():
            raise ValueError(f"{rep.name}: the matrices are not closed under multiplication; not a group")
    return table


def inverse_indices(rep: Representation) -> np.ndarray:
    """inv[g] = index of g^{-1}; (|G|,) int64."""
    table = cayley_table(rep)
    return np.argmax(table == 0, axis=1)


def regular(rep: Representation) -> Representation:
    """The regular representation of the abstract group of ``rep``: rho(g) e_h = e_{gh}."""
    table = cayley_table(rep)
    inv = np.argmax(table == 0, axis=1)
    # (rho(g) x)[i] = x[g^{-1} i], i.e. perms[g, i] = table[inv[g], i]
    return from_permutations(f"reg({rep.name})", table[inv])


def direct_sum(a: Representation, b: Representation) -> Representation:
    """rho_a(g) (+) rho_b(g), block diagonal; a and b must list the same group in the same order."""
    if a.order != b.order or not np.array_equal(cayley_table(a), cayley_table(b)):
        raise ValueError(f"direct_sum needs two representations of the same group with the same element "
                         f"order; {a.name} and {b.name} have different multiplication tables")
    if a.perms is not None and b.perms is not None:
        return from_permutations(f"{a.name}+{b.name}", np.concatenate([a.perms, b.perms + a.dim], axis=1))
    m = np.zeros((a.order, a.dim + b.dim, a.dim + b.dim))
    m[:, : a.dim, : a.dim] = a.matrices
    m[:, a.dim :, a.dim :] = b.matrices
    return from_matrices(f"{a.name}+{b.name}", m)


def conjugate(rep: Representation, q: np.ndarray, name: str | None = None) -> Representation:
    """The equivalent representation Q^{-1} rho(g) Q for an invertible (d, d) Q."""
    q = np.asarray(q, dtype=float)
    if q.shape != (rep.dim, rep.dim):
        raise ValueError(f"conjugate needs a ({rep.dim}, {rep.dim}) matrix for {rep.name}, got {q.shape}")
    if np.linalg.cond(q) > 1e8:
        raise ValueError("conjugate needs a well-conditioned invertible matrix (cond(Q) > 1e8)")
    m = np.linalg.solve(q, rep.matrices @ q)
    m[0] = np.eye(rep.dim)  # remove round-off from the identity
    return from_matrices(name or f"conj({rep.name})", m)


def random_orthogonal(rep: Representation, rng: np.random.Generator) -> Representation:
    """``rep`` conjugated by a Haar-random orthogonal matrix: a generic orthogonal representation."""
    z = rng.standard_normal((rep.dim, rep.dim))
    q, r = np.linalg.qr(z)
    q = q * np.sign(np.diag(r))
    return conjugate(rep, q, name=f"orth({rep.name})")


def random_invertible(rep: Representation, rng: np.random.Generator, spread: float = 1.0) -> Representation:
    """``rep`` conjugated by U diag(exp(spread * N(0,1))) V^T: a non-orthogonal representation."""
    d = rep.dim
    u, _ = np.linalg.qr(rng.standard_normal((d, d)))
    v, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s = np.exp(np.clip(spread * rng.standard_normal(d), -3.0, 3.0))
    return conjugate(rep, (u * s) @ v.T, name=f"nonorth({rep.name})")


def act(rep: Representation, g: int, x: np.ndarray) -> np.ndarray:
    """rho(g) x for x of shape (..., d)."""
    x = np.asarray(x)
    if x.shape[-1] != rep.dim:
        raise ValueError(f"{rep.name} acts on R^{rep.dim}; got x with last axis {x.shape[-1]}")
    if rep.perms is not None:
        return x[..., rep.perms[g]]
    return x @ rep.matrices[g].T


def orbit(rep: Representation, x: np.ndarray) -> np.ndarray:
    """The orbit {rho(g) x : g in G} of x (..., d) as one array (|G|, ..., d), element 0 = x."""
    return np.stack([act(rep, g, x) for g in range(rep.order)])


def reynolds(rep: Representation) -> np.ndarray:
    """The group average P_G = (1/|G|) sum_g rho(g), (d, d); a projector onto the fixed subspace."""
    return rep.matrices.mean(axis=0)


def fixed_subspace(rep: Representation, rtol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis (d, k) of {x : rho(g) x = x for all g}, the null space of stacked rho(g) - I."""
    d = rep.dim
    if rep.perms is not None:
        # A permutation group fixes exactly the vectors constant on each orbit {perms[g, i] : g} of coordinates.
        label = rep.perms.min(axis=0)
        _, cols = np.unique(label, return_inverse=True)
        basis = np.zeros((d, cols.max() + 1))
        basis[np.arange(d), cols] = 1.0
        return basis / np.sqrt(basis.sum(axis=0))
    stacked = (rep.matrices - np.eye(d)).reshape(-1, d)
    _, s, vt = np.linalg.svd(stacked, full_matrices=True)
    tol = rtol * max(1.0, s.max(initial=0.0)) * max(stacked.shape)
    rank = int((s > tol).sum())
    return vt[rank:].T


def is_orthogonal(rep: Representation, atol: float = 1e-9) -> bool:
    """Whether every rho(g) is orthogonal (rho(g)^T rho(g) = I)."""
    if rep.perms is not None:
        return True
    m = rep.matrices
    return bool(np.allclose(np.swapaxes(m, 1, 2) @ m, np.eye(rep.dim), atol=atol))
