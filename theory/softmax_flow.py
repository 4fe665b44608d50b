"""Gradient flows of a linear softmax classifier p(x) = softmax(W x) under a task loss and an invariance error.

The losses of Eq. 4 (task loss + nu * invariance regularizer) for h(x) = W x, each with its
analytic gradient: cross-entropy (the task loss), the logit invariance error LI (Eq. 2) and
the predictive-distribution invariance error DI (Eq. 1, KL(softmax(W x) || softmax(W gx)),
differentiated through both arguments). ``gradient_flow`` integrates dW/dt = -grad L with
``solve_ivp``; these flows are where Prop. 3.1's bound stops holding (see ``theory.claims``).

The DI gradient is sum_{x,g} [J_p (a - b)] x^T + (q - p) (gx)^T with a = W x, b = W gx,
p = softmax(a), q = softmax(b), J_p = diag(p) - p p^T: its row space is span{x, gx}, not
span{x - gx} as for LI, so the DI flow can grow W along invariant directions.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp

from theory.groups import Representation, orbit
from theory.linear_flow import logit_invariance, sigma_orbit

__all__ = [
    "log_softmax",
    "softmax",
    "cross_entropy",
    "logit_invariance_loss",
    "distribution_invariance",
    "regularized_loss",
    "gradient_flow",
]

Loss = Callable[[np.ndarray], tuple[float, np.ndarray]]
REGULARIZERS = ("li", "di", "none")


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax over the last axis of logits (..., k), computed stably (shifted by the max)."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax over the last axis of logits (..., k) -> probabilities (..., k)."""
    return np.exp(log_softmax(np.asarray(z, dtype=float)))


def _check(w: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(w, dtype=float)
    x = np.atleast_2d(np.asarray(x, dtype=float))
    if w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"need W of shape (k, d) and x of shape (n, d) with the same d; got {w.shape} and {x.shape}")
    return w, x


def cross_entropy(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Task loss sum_n -log softmax(W x_n)[y_n] and its gradient (P - Y)^T X; w (k, d), x (n, d), y (n,) int."""
    w, x = _check(w, x)
    y = np.asarray(y, dtype=int)
    if y.shape != (len(x),) or (y < 0).any() or (y >= w.shape[0]).any():
        raise ValueError(f"y must hold one label in 0..{w.shape[0] - 1} per row of x; got shape {y.shape}")
    logp = log_softmax(x @ w.T)
    rows = np.arange(len(x))
    resid = np.exp(logp)
    resid[rows, y] -= 1.0
    return float(-logp[rows, y].sum()), resid.T @ x


def logit_invariance_loss(w: np.ndarray, x: np.ndarray, rep: Representation) -> tuple[float, np.ndarray]:
    """LI (Eq. 2) = sum_x sum_g 1/2 ||W x - W gx||^2 over data (n, d) and its gradient W Sigma."""
    w, x = _check(w, x)
    sigma = sigma_orbit(x, rep)
    return logit_invariance(w, sigma), w @ sigma


def _orbit_pairs(x: np.ndarray, rep: Representation) -> tuple[np.ndarray, np.ndarray]:
    """(x, gx) for every x in the data and g in G, each (|G| n, d)."""
    gx = orbit(rep, x).reshape(-1, x.shape[1])
    xs = np.broadcast_to(x, (rep.order, *x.shape)).reshape(-1, x.shape[1])
    return xs, gx


def _di_pairs(w: np.ndarray, xs: np.ndarray, gx: np.ndarray) -> tuple[float, np.ndarray]:
    la, lb = log_softmax(xs @ w.T), log_softmax(gx @ w.T)
    p, q = np.exp(la), np.exp(lb)
    diff = la - lb
    kl = (p * diff).sum(axis=-1, keepdims=True)
    grad_a = p * (diff - kl)  # J_p (a - b): softmax Jacobian times the log-ratio
    grad_b = q - p
    return float(kl.sum()), grad_a.T @ xs + grad_b.T @ gx


def distribution_invariance(w: np.ndarray, x: np.ndarray, rep: Representation) -> tuple[float, np.ndarray]:
    """DI (Eq. 1) = sum_x sum_g KL(softmax(W x) || softmax(W gx)) and its gradient through both arguments."""
    w, x = _check(w, x)
    return _di_pairs(w, *_orbit_pairs(x, rep))


def regularized_loss(x: np.ndarray, rep: Representation, y: np.ndarray | None = None, nu: float = 1.0,
                     regularizer: str = "li") -> Loss:
    """W -> (L, grad L) for L = CE(W; x, y) + nu I(W) (Eq. 4), I = LI (Eq. 2) or DI (Eq. 1); y=None drops CE."""
    if regularizer not in REGULARIZERS:
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}")
    if nu < 0:
        raise ValueError(f"nu must be >= 0, got {nu}")
    x = np.atleast_2d(np.asarray(x, dtype=float))
    if x.shape[-1] != rep.dim:
        raise ValueError(f"{rep.name} acts on R^{rep.dim}; got data of shape {x.shape}")
    use_reg = regularizer != "none" and nu > 0
    sigma = sigma_orbit(x, rep) if use_reg and regularizer == "li" else None  # precomputed once per flow
    pairs = _orbit_pairs(x, rep) if use_reg and regularizer == "di" else None

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = 0.0, np.zeros(np.shape(w))
        if y is not None:
            value, grad = cross_entropy(w, x, y)
        if sigma is not None:
            value, grad = value + nu * logit_invariance(w, sigma), grad + nu * (w @ sigma)
        if pairs is not None:
            v, g = _di_pairs(w, *pairs)
            value, grad = value + nu * v, grad + nu * g
        return value, grad

    return loss


def gradient_flow(loss: Loss, w0: np.ndarray, ts: np.ndarray, rtol: float = 1e-9, atol: float = 1e-12,
                  method: str = "LSODA") -> np.ndarray:
    """dW/dt = -grad L(W) integrated by ``solve_ivp`` from W(0) = w0 (k, d); (T, k, d) at the sorted times ts >= 0."""
    w0 = np.asarray(w0, dtype=float)
    ts = np.asarray(ts, dtype=float)
    if ts.ndim != 1 or (ts < 0).any() or (np.diff(ts) < 0).any():
        raise ValueError("ts must be a sorted 1-d array of times >= 0")
    shape = w0.shape
    if ts.size == 0 or ts.max() == 0.0:
        return np.broadcast_to(w0, (len(ts), *shape)).copy()
    grad0 = loss(w0)[1]
    if ts.max() * np.linalg.norm(grad0) <= 1e-12 * np.linalg.norm(w0):
        # W moves by < 1e-12 relative: one Euler step is exact to round-off (error O(t^2)), and LSODA can stall on
        # such spans (seen for t ~ 1e-164)
        return w0 - ts[:, None, None] * grad0

    def rhs(_t, w_flat):
        return -loss(w_flat.reshape(shape))[1].ravel()

    sol = solve_ivp(rhs, (0.0, float(ts.max())), w0.ravel(), method=method, t_eval=ts, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}; try method='Radau' for a stiff Sigma")
    return sol.y.T.reshape(len(ts), *shape)
