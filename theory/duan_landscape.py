"""The loss landscape in function space of Duan & Montúfar 2026 (Prop. 13): critical points, their Hessian
index, and an independent search for critical points.

All three problems of ``theory.duan`` are quadratic in the end-to-end map: on maps E (dL, m),

    L(E) = 1/2 tr(E H E^T) - tr(E C^T) + c0,      grad L(E) = E H - C,

restricted to the determinantal variety M_r = {rank E <= r}. ``Quadratic`` builds (H, C, c0) from the raw data,
never from the paper's closed forms, so the checks here are independent of them:

* constrained (Eq. 4): E = W N are the coordinates of an invariant W = E N^T, N (d0, d) an orthonormal basis of
  Fix(rho^T) computed from all of G (not from generators); H = 2/n N^T X X^T N, C = 2/n Y X^T N;
* regularized (Eq. 7): E = W, H = 2/n X X^T + 2 lambda G G^T, C = 2/n Y X^T;
* augmented (Eq. 9): E = W, H and C of the explicitly augmented data [rho(g) X]_g, [Y]_g, scaled 1/(n|G|).

``Quadratic.rank_r_minimum`` is the optimal value over M_r by reduced-rank regression (a generalized eigenproblem of
(C^T C, H)), a second oracle for the optima besides the trained networks of ``theory.duan_solvers``.

At a point E of rank exactly r (a smooth point of M_r) the tangent space is T = {xi : (I - Pc) xi (I - Pr) = 0},
Pc, Pr the projectors onto the column and row spaces of E; E is critical iff the tangent part of grad L vanishes.
The Riemannian Hessian at a critical point, as a quadratic form on T, is

    Hess[xi, xi] = tr(xi H xi^T) + 2 <grad L, xi E^+ xi>

(second derivative of L along (A + t a)(B + t b)^T with velocity xi; only the normal part of grad L and of
xi E^+ xi meet). Its inertia does not depend on the coordinates (Sylvester), so its index can be compared with
the one the paper's coordinates predict: #{(i, j) : i in I, j not in I, sigma_j > sigma_i} for the critical
point that keeps the singular values I of the target (``predicted_index``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh
from scipy.optimize import least_squares

from theory import duan
from theory.groups import Representation
from theory.linear_flow import invariant_projector

__all__ = [
    "Quadratic",
    "constrained_problem",
    "regularized_problem",
    "augmented_problem",
    "invariant_basis",
    "enumerate_critical_points",
    "constrained_critical_points",
    "augmented_critical_points",
    "regularized_critical_points",
    "tangent_projection",
    "riemannian_gradient_norm",
    "hessian_eigenvalues",
    "predicted_index",
    "escape_decrease",
    "find_critical_points",
]


@dataclass(frozen=True, eq=False)
class Quadratic:
    """L(E) = 1/2 tr(E H E^T) - tr(E C^T) + c0 on maps E (dL, m); H (m, m) symmetric PSD, C (dL, m)."""

    h: np.ndarray
    c: np.ndarray
    c0: float

    def value(self, e: np.ndarray) -> float:
        """L(E)."""
        return float(0.5 * np.einsum("ij,jk,ik->", e, self.h, e) - np.sum(e * self.c) + self.c0)

    def grad(self, e: np.ndarray) -> np.ndarray:
        """grad L(E) = E H - C, (dL, m)."""
        return e @ self.h - self.c

    def rank_r_minimum(self, r: int) -> float:
        """min over rank E <= r of L(E) = c0 - 1/2 (sum of the r largest generalized eigenvalues of (C^T C, H)),
        reduced-rank regression (needs H positive definite); no SVD of any of the paper's targets."""
        m = self.c.T @ self.c
        lam = eigh((m + m.T) / 2, (self.h + self.h.T) / 2, eigvals_only=True)
        return float(self.c0 - 0.5 * np.sort(lam)[::-1][:r].sum())

    @property
    def scale(self) -> float:
        """||C||_F^2 / ||H||_2: the size of L's variation, for relative tolerances."""
        return float(np.sum(self.c**2) / max(np.linalg.norm(self.h, 2), 1e-300))


def invariant_basis(rep: Representation) -> np.ndarray:
    """An orthonormal basis N (d0, d) of Fix(rho^T) = {v : rho(g)^T v = v for all g}: W is invariant iff W = W N N^T."""
    lam, u = np.linalg.eigh(invariant_projector(rep))
    return u[:, lam > 0.5]


def constrained_problem(x: np.ndarray, y: np.ndarray, basis: np.ndarray) -> Quadratic:
    """Eq. 4 in the coordinates E = W N of the invariant maps W = E N^T; X (d0, n), Y (dL, n), N (d0, d)."""
    n = x.shape[1]
    xn = basis.T @ x
    return Quadratic(2.0 / n * xn @ xn.T, 2.0 / n * y @ xn.T, float(np.sum(y**2) / n))


def regularized_problem(x: np.ndarray, y: np.ndarray, g: np.ndarray, lam: float) -> Quadratic:
    """Eq. 7: 1/n ||W X - Y||^2 + lambda ||W G||^2 as a Quadratic in W (dL, d0)."""
    n = x.shape[1]
    return Quadratic(2.0 / n * x @ x.T + 2.0 * lam * g @ g.T, 2.0 / n * y @ x.T, float(np.sum(y**2) / n))


def augmented_problem(x: np.ndarray, y: np.ndarray, rep: Representation) -> Quadratic:
    """Eq. 9: the MSE on the augmented data [rho(g) X]_g with targets [Y]_g, as a Quadratic in W (dL, d0)."""
    xa = np.concatenate([m @ x for m in rep.matrices], axis=1)
    ya = np.tile(y, (1, rep.order))
    na = xa.shape[1]
    return Quadratic(2.0 / na * xa @ xa.T, 2.0 / na * ya @ xa.T, float(np.sum(ya**2) / na))


# ---------------------------------------------------------------- Prop. 13: the critical points in closed form

def enumerate_critical_points(target: np.ndarray, r: int) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """[(I, U Sigma_I V^T)] for every r-subset I of the nonzero singular values of ``target`` (Prop. B.9)."""
    u, s, vt = np.linalg.svd(target, full_matrices=False)
    k = int((s > duan.RANK_RTOL * max(s.max(initial=0.0), 1e-300)).sum())
    return [(idx, (u[:, list(idx)] * s[list(idx)]) @ vt[list(idx)]) for idx in itertools.combinations(range(k), r)]


def constrained_critical_points(x, y, g, r):
    """Prop. 13.1: [(I, U^inv Sigma_I^inv V^inv^T P^{-1})], I in [k]_r, k = rank Z^inv; W (dL, d0)."""
    z_inv, p_inv = duan.constrained_target(x, y, g)
    return [(i, m @ p_inv) for i, m in enumerate_critical_points(z_inv, r)]


def augmented_critical_points(x, y, rep, r):
    """Prop. 13.2: [(I, U^da Sigma_I^da V^da^T Q^{-1})], I in [k]_r, k = rank Z^da; W (dL, d0)."""
    z_da, q_inv = duan.augmented_target(x, y, rep)
    return [(i, m @ q_inv) for i, m in enumerate_critical_points(z_da, r)]


def regularized_critical_points(x, y, g, lam, r):
    """Prop. 13.3: [(I, U^reg Sigma_I^reg V^reg^T B(lambda)^{-1} P^{-1})], I in [m]_r; W (dL, d0)."""
    z_reg, b_inv, p_inv = duan.regularized_target(x, y, g, lam)
    return [(i, m @ b_inv @ p_inv) for i, m in enumerate_critical_points(z_reg, r)]


# ---------------------------------------------------------------- Riemannian calculus on M_r

def _frames(e: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, s, vt = np.linalg.svd(e, full_matrices=True)
    if s.size < r or s[r - 1] <= 1e-9 * max(s[0], 1e-300):
        raise ValueError(f"the point has rank < {r}: not a smooth point of M_r")
    return u, s, vt.T


def tangent_projection(e: np.ndarray, m: np.ndarray, r: int) -> np.ndarray:
    """The orthogonal projection of m onto the tangent space of M_r at e (rank exactly r): Pc m + m Pr - Pc m Pr."""
    u, _, v = _frames(e, r)
    pc, pr = u[:, :r] @ u[:, :r].T, v[:, :r] @ v[:, :r].T
    return pc @ m + m @ pr - pc @ m @ pr


def riemannian_gradient_norm(problem: Quadratic, e: np.ndarray, r: int) -> float:
    """||tangent part of grad L(E)||_F / (||H||_2 ||E||_F + ||C||_F): 0 iff E is a critical point on M_r."""
    g = tangent_projection(e, problem.grad(e), r)
    return float(np.linalg.norm(g) / (np.linalg.norm(problem.h, 2) * np.linalg.norm(e) + np.linalg.norm(problem.c)))


def _tangent_basis(e: np.ndarray, r: int) -> np.ndarray:
    """An orthonormal basis (D, dL, m) of the tangent space at e: u_i v_j^T with i < r or j < r; D = r(dL + m - r)."""
    u, _, v = _frames(e, r)
    pairs = [(i, j) for i in range(u.shape[0]) for j in range(v.shape[0]) if i < r or j < r]
    return np.stack([np.outer(u[:, i], v[:, j]) for i, j in pairs])


def hessian_eigenvalues(problem: Quadratic, e: np.ndarray, r: int) -> np.ndarray:
    """Eigenvalues (ascending, D = r(dL + m - r)) of the Riemannian Hessian of L on M_r at a critical point e."""
    return _hessian_eig(problem, e, r, _tangent_basis(e, r))[0]


def predicted_index(sigmas: np.ndarray, chosen: tuple[int, ...]) -> int:
    """#{(i, j) : i in I, j not in I, sigma_j > sigma_i}: the Hessian index of the critical point U Sigma_I V^T."""
    rest = [j for j in range(len(sigmas)) if j not in chosen]
    return int(sum(sigmas[j] > sigmas[i] for i in chosen for j in rest))


def escape_decrease(problem: Quadratic, e: np.ndarray, r: int, step: float = 1e-3) -> float:
    """(L(gamma(t)) - L(e)) / (t^2 ||xi||^2) along gamma(t) = (A + t a)(B + t b)^T in M_r, xi = gamma'(0) the Hessian's
    most negative eigendirection and t = step ||e|| / ||xi||: negative means a descent curve out of e (a saddle)."""
    u, s, v = _frames(e, r)
    basis = _tangent_basis(e, r)
    lam, vecs = _hessian_eig(problem, e, r, basis)
    xi = np.einsum("a,aij->ij", vecs[:, 0], basis)
    a_mat, b_mat = u[:, :r] * s[:r], v[:, :r]
    pr = b_mat @ b_mat.T
    da = xi @ b_mat
    db = ((u[:, :r].T @ xi @ (np.eye(len(pr)) - pr)) / s[:r, None]).T
    t = step * np.linalg.norm(e) / np.linalg.norm(xi)
    moved = (a_mat + t * da) @ (b_mat + t * db).T
    return (problem.value(moved) - problem.value(e)) / (t**2 * np.sum(xi**2))


def _hessian_eig(problem: Quadratic, e: np.ndarray, r: int, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues, eigenvectors on ``basis``) of Hess[xi, xi] = tr(xi H xi^T) + 2 <grad L, xi E^+ xi>."""
    u, s, v = _frames(e, r)
    pc, pr = u[:, :r] @ u[:, :r].T, v[:, :r] @ v[:, :r].T
    g = problem.grad(e)
    g_normal = g - pc @ g - g @ pr + pc @ g @ pr
    e_pinv = (v[:, :r] / s[:r]) @ u[:, :r].T
    quad = np.einsum("aij,jk,bik->ab", basis, problem.h, basis)
    f = np.einsum("ji,ajk,kl->ail", g_normal, basis, e_pinv)  # grad_N^T xi_a E^+, (D, m, dL)
    curv = np.einsum("aij,bji->ab", f, basis)  # <grad_N, xi_a E^+ xi_b>
    hess = quad + curv + curv.T
    return np.linalg.eigh((hess + hess.T) / 2)


# ---------------------------------------------------------------- an independent search for critical points

def _residual_and_jacobian(problem: Quadratic, shape: tuple[int, int], r: int):
    dl, m = shape
    h, c = problem.h, problem.c
    na, nb = dl * r, m * r
    unit_a = np.eye(na).reshape(na, dl, r)
    unit_b = np.eye(nb).reshape(nb, m, r)

    def split(z):
        return z[:na].reshape(dl, r), z[na:].reshape(m, r)

    def fun(z):
        a, b = split(z)
        grad = a @ b.T @ h - c
        return np.concatenate([(grad @ b).ravel(), (a.T @ grad).ravel()])

    def jac(z):
        a, b = split(z)
        grad = a @ b.T @ h - c
        # perturbing A: dW = dA B^T; perturbing B: dW = A dB^T
        dw_a = np.einsum("kij,lj->kil", unit_a, b)
        dw_b = np.einsum("ij,klj->kil", a, unit_b)
        cols = []
        for dw, da, db in ((dw_a, unit_a, None), (dw_b, None, unit_b)):
            dgrad = dw @ h
            d1 = dgrad @ b + (0 if db is None else grad @ db)
            d2 = np.einsum("ij,kjl->kil", a.T, dgrad) + (0 if da is None else np.einsum("kji,jl->kil", da, grad))
            cols.append(np.concatenate([d1.reshape(len(dw), -1), d2.reshape(len(dw), -1)], axis=1))
        return np.concatenate(cols, axis=0).T

    return fun, jac, split


def find_critical_points(problem: Quadratic, r: int, rng: np.random.Generator, starts: int = 4,
                         tol: float = 1e-10) -> tuple[list[np.ndarray], int]:
    """Critical points of L on M_r of rank exactly r, found by Levenberg–Marquardt on the equations
    grad L(A B^T) B = 0, A^T grad L(A B^T) = 0 (A (dL, r), B (m, r)) from random starts; no closed form used.

    Returns (points E = A B^T that solved the equations to ``tol`` (relative to ||C|| sqrt(s)) with sigma_r(E) >
    1e-6 s, s = ||C||_F / ||H||_2 the natural size of a solution; the number of starts that ended elsewhere: at
    rank < r, e.g. the root A = B = 0, or unconverged). A root A B^T of rank r is a critical point on M_r.
    """
    dl, m = problem.c.shape
    fun, jac, split = _residual_and_jacobian(problem, (dl, m), r)
    size = np.linalg.norm(problem.c) / max(np.linalg.norm(problem.h, 2), 1e-300)  # the natural size of a solution E
    # residual scale at |A| = |B| = sqrt(size): ||grad|| ~ ||C||, times sqrt(size)
    res_scale = np.linalg.norm(problem.c) * np.sqrt(size)
    found, other = [], 0
    for _ in range(starts):
        # starts well outside the solutions' scale: started near it, LM mostly falls into the root A = B = 0
        z0 = rng.standard_normal(r * (dl + m)) * np.sqrt(30 * size / np.sqrt(r * max(dl, m)))
        sol = least_squares(fun, z0, jac=jac, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=200)
        a, b = split(sol.x)
        e = a @ b.T
        s = np.linalg.svd(e, compute_uv=False)
        if s[r - 1] > 1e-6 * size and np.linalg.norm(fun(sol.x)) <= tol * res_scale:
            found.append(e)
        else:
            other += 1
    return found, other
