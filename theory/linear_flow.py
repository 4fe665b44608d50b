"""The gradient flow of the logit invariance error for a linear network h(x) = W x (paper Sec. 3.3).

With LI(W) = sum_x sum_g 1/2 ||W x - W g x||^2 (Eq. 2) the gradient is W Sigma with
Sigma = sum_x sum_g (x - gx)(x - gx)^T, so the flow dW/dt = -W Sigma (Eq. 5) has the
closed form W(t) = W(0) expm(-Sigma t) (Eq. 6). Three independent solvers live here
(closed form, ``solve_ivp``, discrete gradient descent) so that each checks the others.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import expm

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
    """W(t) = W(0) expm(-Sigma t) (Eq. 6); t scalar -> (k, d), t of shape (T,) -> (T, k, d)."""
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
    kernel = u[:, lam <= rtol * max(1.0, lam.max(initial=0.0))]
    return kernel @ kernel.T
