"""The gradient flow of the logit invariance error for a linear network h(x) = W x (paper Sec. 3.3).

With LI(W) = sum_x sum_g 1/2 ||W x - W g x||^2 (Eq. 2) the gradient is W Sigma with
Sigma = sum_x sum_g (x - gx)(x - gx)^T, so the flow dW/dt = -W Sigma (Eq. 5) has the
closed form W(t) = W(0) expm(-Sigma t) (Eq. 6). Three independent solvers live here
(closed form, ``solve_ivp``, discrete gradient descent) so that each checks the others.

Beyond the paper: the limit W(inf) = W(0) Pi (Pi the orthogonal projector onto ker Sigma),
the invariant-readout projector it is compared with, and the exact step-size boundary
alpha <= 2 / lambda_max(Sigma) of the discrete iteration.

Why sigma_max(W(t)) is non-increasing for ALL t >= 0, not only as t -> inf (Prop. 3.1):
the flow is a semigroup, W(t + s) = W(t) expm(-Sigma s), and Sigma is symmetric PSD, so
||expm(-Sigma s)||_2 = max_i exp(-lambda_i s) <= 1; hence ||W(t + s)||_2 <= ||W(t)||_2.
The same holds for LI: d/dt LI(W(t)) = tr(dW/dt Sigma W^T) = -||W Sigma||_F^2 <= 0.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from theory.groups import Representation, orbit

__all__ = [
    "sigma_pair",
    "sigma_orbit",
    "logit_invariance",
    "flow_closed_form",
    "flow_ode",
    "gradient_descent",
    "limit_projector",
    "spectral_norm",
    "logit_invariance_rate",
    "invariant_projector",
    "invariance_defect",
    "gd_contraction",
    "gd_error_order",
]


def sigma_pair(eps: np.ndarray) -> np.ndarray:
    """Sigma = eps eps^T for one difference eps = x - gx, (d,) -> (d, d); proof of Prop. 3.1."""
    eps = np.asarray(eps, dtype=float)
    return np.outer(eps, eps)


def sigma_orbit(x: np.ndarray, rep: Representation) -> np.ndarray:
    """Sigma = sum_x sum_g (x - gx)(x - gx)^T over data (n, d) and all of G; grad LI = W Sigma (Eq. 2)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    eps = (x[None] - orbit(rep, x)).reshape(-1, rep.dim)
    return eps.T @ eps


def logit_invariance(w: np.ndarray, sigma: np.ndarray) -> float:
    """LI(W) = 1/2 tr(W Sigma W^T), equal to Eq. 2 for the Sigma of ``sigma_orbit``."""
    return 0.5 * float(np.einsum("ij,jk,ik->", w, sigma, w))


def spectral_norm(w: np.ndarray) -> float:
    """sigma_max(W) = ||W||_2, the largest singular value."""
    return float(np.linalg.norm(w, 2))


def flow_closed_form(w0: np.ndarray, sigma: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """W(t) = W(0) expm(-Sigma t) (Eq. 6); t scalar -> (k, d), t of shape (T,) -> (T, k, d).

    Prop. 3.1, strengthened: W(t + s) = W(t) expm(-Sigma s) and ||expm(-Sigma s)||_2 <= 1 for
    symmetric PSD Sigma, so sigma_max(W(t)) is non-increasing in t on all of [0, inf).
    """
    # Sigma is symmetric PSD: expm through its eigendecomposition is exact and cheap for many t.
    lam, u = np.linalg.eigh(sigma)
    lam = np.clip(lam, 0.0, None)
    ts = np.atleast_1d(np.asarray(t, dtype=float))
    out = np.einsum("ij,jk,tk,lk->til", w0, u, np.exp(-np.outer(ts, lam)), u)
    return out[0] if np.ndim(t) == 0 else out


def flow_ode(w0: np.ndarray, sigma: np.ndarray, ts: np.ndarray, rtol: float = 1e-10, atol: float = 1e-12) -> np.ndarray:
    """dW/dt = -W Sigma (Eq. 5) integrated by ``scipy.integrate.solve_ivp`` (DOP853); (T, k, d) at times ts."""
    k, d = w0.shape
    ts = np.asarray(ts, dtype=float)

    def rhs(_t, w_flat):
        return -(w_flat.reshape(k, d) @ sigma).ravel()

    sol = solve_ivp(rhs, (0.0, float(ts.max(initial=0.0))), w0.ravel(), method="DOP853", t_eval=ts, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.y.T.reshape(len(ts), k, d)


def gradient_descent(w0: np.ndarray, sigma: np.ndarray, alpha: float, steps: int) -> np.ndarray:
    """W_{k+1} = W_k - alpha W_k Sigma (proof of Prop. 3.1); all iterates (steps + 1, k, d)."""
    step = np.eye(sigma.shape[0]) - alpha * sigma
    out = np.empty((steps + 1, *w0.shape))
    out[0] = w0
    for i in range(steps):
        out[i + 1] = out[i] @ step
    return out


def limit_projector(sigma: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """Pi = lim_{t->inf} expm(-Sigma t): the orthogonal projector onto ker Sigma, (d, d)."""
    lam, u = np.linalg.eigh(sigma)
    # The cut is relative to lambda_max only: ker (c Sigma) = ker Sigma for every c > 0, and a small Sigma (data
    # differences ~1e-3) still drives every nonzero mode to 0 as t -> inf; an absolute floor would call them kernel.
    kernel = u[:, lam <= rtol * max(lam.max(initial=0.0), 0.0)]
    return kernel @ kernel.T


def logit_invariance_rate(w: np.ndarray, sigma: np.ndarray) -> float:
    """d/dt LI(W(t)) = -||W Sigma||_F^2 along the flow of Eq. 5; w (k, d), sigma (d, d)."""
    return -float(np.sum((w @ sigma) ** 2))


def invariant_projector(rep: Representation, rtol: float = 1e-10) -> np.ndarray:
    """Orthogonal projector (d, d) onto Fix(rho^T) = {v : rho(g)^T v = v}: W rho(g) = W for all g iff W = W Pi.

    W(0) Pi is the Frobenius-closest genuinely invariant matrix to W(0). For an orthogonal
    representation Fix(rho^T) = Fix(rho) and Pi equals the Reynolds operator P_G; otherwise
    P_G is an oblique projector and Pi = P_G exactly when P_G is symmetric.
    """
    d = rep.dim
    stacked = (np.swapaxes(rep.matrices, 1, 2) - np.eye(d)).reshape(-1, d)
    _, s, vt = np.linalg.svd(stacked, full_matrices=True)
    tol = rtol * max(1.0, s.max(initial=0.0)) * max(stacked.shape)
    basis = vt[int((s > tol).sum()):]
    return basis.T @ basis


def invariance_defect(w: np.ndarray, rep: Representation) -> float:
    """max_g ||W rho(g) - W||_F / ||W||_F, zero iff h(x) = W x is genuinely G-invariant; w (k, d)."""
    scale = np.linalg.norm(w)
    if scale == 0.0:
        return 0.0
    return float(np.linalg.norm(w @ rep.matrices - w, axis=(1, 2)).max() / scale)


def gd_contraction(sigma: np.ndarray, alpha: float) -> float:
    """||I - alpha Sigma||_2 = max_i |1 - alpha lambda_i| (= max(1, |1 - alpha lambda_max|) for singular Sigma)."""
    lam = np.clip(np.linalg.eigvalsh(sigma), 0.0, None)
    return float(np.abs(1.0 - alpha * lam).max())


def gd_error_order(w0: np.ndarray, sigma: np.ndarray, horizon: float,
                   steps: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Order p in ||W_GD(T) - W(T)||_F / ||W(0)||_F ~ C alpha^p for alpha = T / steps (Eq. 5 vs its Euler steps).

    Returns (p, alphas, relative errors); p is the least-squares slope of log error against log alpha. The flow
    is linear in W(0), so W(0) is rescaled first (tiny W(0) would underflow the norms).
    """
    steps = np.asarray(steps, dtype=int)
    if horizon <= 0 or steps.size < 2 or (steps < 1).any():
        raise ValueError("gd_error_order needs horizon > 0 and at least two step counts >= 1")
    w0 = np.asarray(w0, dtype=float)
    if not np.abs(w0).max(initial=0.0) > 0:
        raise ValueError("gd_error_order: W(0) = 0 does not move; pick a nonzero W(0)")
    w0 = w0 / np.abs(w0).max()
    w0 = w0 / np.linalg.norm(w0)
    exact = flow_closed_form(w0, sigma, horizon)
    alphas = horizon / steps
    errors = np.array([
        np.linalg.norm(w0 @ np.linalg.matrix_power(np.eye(sigma.shape[0]) - a * sigma, int(n)) - exact)
        for a, n in zip(alphas, steps)
    ])
    if not (errors > 0).all():
        raise ValueError("gd_error_order: an error is exactly zero (W(0) Sigma = 0?); pick W(0) outside ker Sigma")
    slope = float(np.polyfit(np.log(alphas), np.log(errors), 1)[0])
    return slope, alphas, errors
