"""Duan & Montúfar's closed forms when the data do not span R^{d0}, as in their own §4 experiment.

The paper assumes X X^T invertible (P = (X X^T)^{1/2}, Eq. 5) and ``theory.duan`` raises otherwise. Their §4 data
break the assumption: MNIST digits downsampled to 14 x 14 leave pixels that are zero in every image (1,000 images:
31 pixels, 3 whole C4 orbits; ``empirical.paper.duan_experiment``). Each objective then sees W only on a subspace,
and is blind to the rest:

* augmentation (Eq. 9), 1/(n|G|) sum_g ||W rho(g) X - Y||^2: W only through W V_da, V_da an orthonormal basis of
  range(S_aug), S_aug = sum_g rho(g) X X^T rho(g)^T. range(S_aug) is rho-invariant (rho(h) S_aug rho(h)^T = S_aug),
  so rho restricts to it: rho_V(g) = V_da^T rho(g) V_da, and the problem is Eq. 9 on R^k with data V_da^T X, whose
  augmented second moment V_da^T S_aug V_da is invertible: ``theory.duan.augmented_optimum`` applies there.
* hard-wiring (Eq. 4), invariant W = M N^T with N an orthonormal basis of the left null space of G (the invariant
  row vectors): 1/n ||W X - Y||^2 = 1/n ||M F - Y||^2, F = N^T X, and rank W = rank M. M is seen only on
  range(F F^T) (an orbit of pixels dead in every image drops out); there it is the rank-r least-squares problem
  that ``theory.duan.unconstrained_optimum`` solves ([Z]_r P^{-1} in the invariant coordinates).
* regularization (Eq. 7): 1/n ||W X - Y||^2 + lambda ||W G||^2 = 1/n ||W X' - Y'||^2 with X' = [X, sqrt(n lambda) G]
  and Y' = [Y, 0]: a rank-r least-squares problem whose second moment X' X'^T = X X^T + n lambda G G^T (P(lambda)^2 of
  Prop. 8, up to the B(lambda) factorization) is blind exactly to Fix(rho^T) ∩ null(X X^T): invariant directions no
  image lights. ``theory.duan.unconstrained_optimum`` on range(X' X'^T).

On the blind subspace the objective does not depend on W: the minimizers are W* + E with E zero on the seen
subspace (and, when rank W* = r, E's columns in col(W*), so that the rank bound still holds). The functions return
W* itself, the minimizer of least Frobenius norm. A gradient-trained network lands on another member: its blind part
is W_L(t) ... W_2(t) W_1(0) restricted there (the first layer's gradient vanishes on directions the data never
light). So compare trained maps with these optima only on the seen subspace, or in the data metric
||(W - W*) X_aug||_F (the loss sees nothing else). When the data span R^{d0}, the seen subspaces are everything and
the three functions equal ``theory.duan``'s closed forms (tests/theory/test_duan_span.py).

Why W^da and W^inv still agree (Thm. 12 without the full-rank assumption): for invariant W, W rho(g) X = W X, so the
augmented loss equals the plain one; and ``theory.duan``'s decoupling L_da(W) = L_da(W Gbar) + 1/(n|G|) sum_g
||W (I - Gbar) rho(g) X||^2 needs no invertibility. So every minimizer of Eq. 9 differs from an invariant one only
by a part the augmented data never see, and the least-norm W^da is invariant and equals the least-norm W^inv
whenever the optimum is unique on the seen subspace (sigma_r > sigma_{r+1}).
"""

from __future__ import annotations

import numpy as np

from theory import duan
from theory.groups import Representation

__all__ = ["range_basis", "augmented_seen", "constrained_seen", "regularized_seen", "augmented_optimum",
           "constrained_optimum", "regularized_optimum"]

RANK_RTOL = duan.RANK_RTOL


def range_basis(s: np.ndarray, rtol: float = RANK_RTOL) -> np.ndarray:
    """An orthonormal basis (d, k) of the range of a symmetric PSD matrix s (d, d): eigenvectors whose eigenvalue
    exceeds rtol times the largest."""
    lam, u = np.linalg.eigh((s + s.T) / 2)
    return u[:, lam > rtol * max(lam.max(initial=0.0), 1e-300)]


def _augmented_moment(x: np.ndarray, rep: Representation) -> np.ndarray:
    s = x @ x.T
    return sum(m @ s @ m.T for m in rep.matrices)


def augmented_seen(x: np.ndarray, rep: Representation) -> np.ndarray:
    """V_da (d0, k): orthonormal basis of range(S_aug), the subspace on which Eq. 9 sees W (W V_da)."""
    return range_basis(_augmented_moment(x, rep))


def constrained_seen(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """N U (d0, k): orthonormal basis of the invariant row vectors that the data light (Eq. 4 sees W N U)."""
    n = duan.left_null_basis(g)
    f = n.T @ x
    return n @ range_basis(f @ f.T)


def _regularized_data(x: np.ndarray, y: np.ndarray, g: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    if lam < 0:
        raise ValueError(f"lambda must be >= 0, got {lam}")
    n = x.shape[1]
    xx = np.concatenate([x, np.sqrt(n * lam) * g], axis=1)
    yy = np.concatenate([y, np.zeros((y.shape[0], g.shape[1]))], axis=1)
    return xx, yy


def regularized_seen(x: np.ndarray, g: np.ndarray, lam: float) -> np.ndarray:
    """V_reg (d0, k): orthonormal basis of range(X X^T + n lambda G G^T), the subspace on which Eq. 7 sees W."""
    return range_basis(x @ x.T + x.shape[1] * lam * (g @ g.T))


def augmented_optimum(x: np.ndarray, y: np.ndarray, rep: Representation, r: int) -> np.ndarray:
    """W^da (dL, d0) of least norm: Prop. 11 on range(S_aug), zero off it.

    X (d0, n), Y (dL, n); any data (X X^T may be singular). On V = range(S_aug) with rho_V(g) = V^T rho(g) V and data
    V^T X: Q^2 = V^T S_aug V (invertible), Z^da = |G| Y X^T V Gbar_V^T Q^{-1}, W^da = [Z^da]_r Q^{-1} V^T: the formula
    of ``theory.duan.augmented_optimum`` (which it equals when S_aug is invertible), with S_aug summed over the group
    by matrix products (that function's einsum costs O(|G| d^4): seconds at d = 196).
    """
    v = augmented_seen(x, rep)
    rho_v = np.stack([v.T @ m @ v for m in rep.matrices])
    xv = v.T @ x
    lam, u = np.linalg.eigh(v.T @ _augmented_moment(x, rep) @ v)
    q_inv = (u / np.sqrt(lam)) @ u.T
    z_da = rep.order * y @ xv.T @ rho_v.mean(axis=0).T @ q_inv
    return duan.truncate(z_da, r) @ q_inv @ v.T


def constrained_optimum(x: np.ndarray, y: np.ndarray, g: np.ndarray, r: int) -> np.ndarray:
    """W^inv (dL, d0) of least norm: the rank-r least-squares fit over invariant maps W = M N^T (Eq. 4), M seen on
    range(N^T X X^T N), zero off it. Equals ``theory.duan.constrained_optimum`` (Thm. 6) when X X^T is invertible."""
    basis = constrained_seen(x, g)
    return duan.unconstrained_optimum(basis.T @ x, y, r) @ basis.T


def regularized_optimum(x: np.ndarray, y: np.ndarray, g: np.ndarray, lam: float, r: int) -> np.ndarray:
    """W^reg(lambda) (dL, d0) of least norm: min 1/n ||W X - Y||^2 + lambda ||W G||^2 s.t. rank W <= r (Eq. 7), as the
    rank-r least-squares fit of Y' = [Y, 0] from X' = [X, sqrt(n lambda) G] on range(X' X'^T), zero off it. Equals
    ``theory.duan.regularized_optimum`` (Prop. 8) when X X^T is invertible."""
    xx, yy = _regularized_data(x, y, g, lam)
    basis = regularized_seen(x, g, lam)
    return duan.unconstrained_optimum(basis.T @ xx, yy, r) @ basis.T
