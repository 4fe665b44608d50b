"""Sigma of the training data (Eq. 2) and S = span{x - gx}, the subspace the invariance error sees.

Sigma = sum_x sum_g (x - gx)(x - gx)^T is built from C = X^T X in float64 (one pass over the data,
then index permutations), equal to ``theory.linear_flow.sigma_orbit`` without the (|G|, n, d) orbit array.
Sigma_train = (1/|G|) sum_a rho(a) Sigma rho(a)^T is its expectation over one augmented epoch (the
augmented image a x has Sigma_{ax} = rho(a) Sigma_x rho(a)^T). S, the range of both, comes from the SVD
of the difference matrix; its complement ker Sigma holds the fixed subspace and every pixel orbit on
which every image is constant (the zero-padded border, pixels no image lights), so it is larger than Fix(G).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from empirical.engine.context import Context
from empirical.engine.runs import dataset_for
from theory import groups
from theory.groups import Representation

__all__ = ["Subspace", "FlowData", "orbit_covariance", "symmetrize", "difference_subspace", "flow_data"]


@dataclass(frozen=True, eq=False)
class Subspace:
    """S = span{x - gx}: orthonormal basis (d, r), singular values of the difference matrix, and kernel counts."""

    basis: np.ndarray
    singular_values: np.ndarray
    tol: float
    fixed_dim: int
    live: np.ndarray  # (d,) bool: coordinates where some difference x - gx is nonzero
    structural_kernel_dim: int | None

    def frozen_projector(self, pg: np.ndarray) -> np.ndarray:
        """F = D (I - P_G) D, D = diag(dead coordinates): the non-invariant directions on the dead pixel orbits.

        Neither LI nor CE gradients (nor Adam's per-coordinate steps, which are equal across a dead orbit
        because every image is constant on a dead orbit) move W along F, so W F = W(0) F throughout training
        and ||W(0) F||_F bounds how close training can get to genuine invariance. For permutation groups.
        """
        dead = (~self.live).astype(float)
        return dead[:, None] * (np.eye(self.dim) - pg) * dead[None, :]

    @property
    def rank(self) -> int:
        """dim S = rank Sigma."""
        return self.basis.shape[1]

    @property
    def dim(self) -> int:
        """d, the input dimension."""
        return self.basis.shape[0]

    def projector(self) -> np.ndarray:
        """P_S = B B^T, (d, d); Pi = I - P_S projects onto ker Sigma."""
        return self.basis @ self.basis.T

    def summary(self) -> dict[str, Any]:
        """The counts and the singular-value gap at the rank cut, JSON-ready."""
        s = self.singular_values
        r = self.rank
        return {"d": self.dim, "rank_S": r, "ker_dim": self.dim - r, "fixed_dim": self.fixed_dim,
                "dead_coordinates": int((~self.live).sum()),
                "structural_ker_dim": self.structural_kernel_dim, "rank_rtol": self.tol,
                "smallest_kept_sv_rel": float(s[r - 1] / s[0]) if r else None,
                "largest_dropped_sv_rel": float(s[r] / s[0]) if r < len(s) and s[0] > 0 else 0.0}


def orbit_covariance(x: np.ndarray, rep: Representation, chunk: int = 4096) -> np.ndarray:
    """Sigma = sum_x sum_g (x - gx)(x - gx)^T (Eq. 2, = sigma_orbit) for x (n, d), from C = X^T X in float64."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != rep.dim:
        raise ValueError(f"x must be (n, {rep.dim}) for {rep.name}; got {x.shape}")
    c = sum((x[s:s + chunk].T @ x[s:s + chunk] for s in range(0, len(x), chunk)), np.zeros((rep.dim, rep.dim)))
    sigma = rep.order * c
    for g in range(rep.order):  # (x - gx)(x - gx)^T summed: C - C rho^T - rho C + rho C rho^T
        if rep.perms is not None:
            p = rep.perms[g]
            sigma += c[np.ix_(p, p)] - c[p, :] - c[:, p]
        else:
            m = rep.matrices[g]
            sigma += m @ c @ m.T - c @ m.T - m @ c
    return (sigma + sigma.T) / 2


def symmetrize(sigma: np.ndarray, rep: Representation) -> np.ndarray:
    """Sigma_train = (1/|G|) sum_a rho(a) Sigma rho(a)^T: the expected Sigma of one augmented epoch, (d, d)."""
    out = np.zeros_like(sigma)
    for g in range(rep.order):
        if rep.perms is not None:
            p = rep.perms[g]
            out += sigma[np.ix_(p, p)]
        else:
            m = rep.matrices[g]
            out += m @ sigma @ m.T
    return out / rep.order


def difference_subspace(x: np.ndarray, rep: Representation, rtol: float | None = None) -> Subspace:
    """S = span{x - gx : x in data, g in G} from the SVD of the difference matrix (n (|G|-1), d) in float64.

    Columns that are exactly zero (coordinates where every difference vanishes: ``Subspace.live`` False)
    are dropped first; the rank counts singular values above rtol * s_max, rtol defaulting to numpy's
    max(rows, cols) * eps (for a matrix representation s_max is raised to ||X||_2 max_g ||rho(g)||_2, the
    scale of the round-off in rho(g) x; permutations are exact). For a permutation representation a dead
    pixel's whole orbit is dead (every image is constant on it), and R^orbit lies in ker Sigma:
    ``structural_kernel_dim`` counts dim Fix + sum over dead orbits of (|orbit| - 1).
    """
    x = np.asarray(x, dtype=np.float64)
    d = rep.dim
    live = np.zeros(d, dtype=bool)
    for g in range(1, rep.order):
        live |= (x != groups.act(rep, g, x)).any(axis=0)
    cols = np.flatnonzero(live)
    diffs = np.concatenate([x[:, cols] - groups.act(rep, g, x)[:, cols] for g in range(1, rep.order)]) \
        if cols.size and rep.order > 1 else np.zeros((0, 0))
    if rtol is None:
        rtol = max(max(diffs.shape), 1) * np.finfo(np.float64).eps
    if diffs.size:
        r_factor = np.linalg.qr(diffs, mode="r") if diffs.shape[0] > diffs.shape[1] else diffs
        try:
            _, s, vt = np.linalg.svd(r_factor, full_matrices=False)
        except np.linalg.LinAlgError:
            # LAPACK's divide and conquer (gesdd) can fail to converge, e.g. OpenBLAS 0.3.31 on 2 threads for
            # T3's quick difference matrix; the QR-iteration driver converges on it, and only then is it used
            _, s, vt = scipy.linalg.svd(r_factor, full_matrices=False, lapack_driver="gesvd")
    else:
        s, vt = np.zeros(0), np.zeros((0, 0))
    scale = s.max(initial=0.0)
    if rep.perms is None and x.size:  # rho(g) x carries round-off ~ eps ||rho(g)|| ||x|| even along ker Sigma
        scale = max(scale, float(np.linalg.norm(x, 2) * np.linalg.norm(rep.matrices, 2, axis=(1, 2)).max()))
    rank = int((s > rtol * scale).sum()) if s.size else 0
    basis = np.zeros((d, rank))
    basis[cols] = vt[:rank].T
    fixed = groups.fixed_subspace(rep).shape[1]
    structural = None
    if rep.perms is not None:
        dead_orbits = np.unique(rep.perms.min(axis=0)[~live]).size
        structural = fixed + int((~live).sum()) - dead_orbits
    return Subspace(basis=basis, singular_values=s, tol=float(rtol), fixed_dim=fixed, live=live,
                    structural_kernel_dim=structural)


@dataclass(frozen=True, eq=False)
class FlowData:
    """One group's training data as the theory sees it: x (n, d) float64, Sigma, Sigma_train and S."""

    group: str
    rep: Representation
    x: np.ndarray
    sigma: np.ndarray
    sigma_train: np.ndarray
    subspace: Subspace


def flow_data(ctx: Context, group: str) -> FlowData:
    """Sigma (Eq. 2, sum over the normalized training images), Sigma_train and S for ``group`` at ctx's scale."""
    ds = dataset_for(ctx, ctx.config(group=group))
    x = ds.train.images.flatten(1).double().numpy()
    sigma = orbit_covariance(x, ds.group)
    return FlowData(group, ds.group, x, sigma, symmetrize(sigma, ds.group), difference_subspace(x, ds.group))
