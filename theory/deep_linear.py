"""The gradient flow of the logit invariance error for a deep linear network h(x) = W_L ... W_1 x.

Extends the linear analysis of Sec. 3.3 (Prop. 3.1) to depth L >= 1. A network is a tuple of float64
layer matrices ``(W_1, ..., W_L)``, ``W_k`` of shape (d_k, d_{k-1}), input side first; ``widths`` is
(d_0, ..., d_L). With the end-to-end map W = W_L ... W_1, LI = 1/2 tr(W Sigma W^T) (Eq. 2 with the
Sigma of ``linear_flow.sigma_orbit``) and, writing A_k = W_L ... W_{k+1} and B_k = W_{k-1} ... W_1,

    dLI/dW_k = A_k^T (W Sigma) B_k^T,        dW/dt = -sum_k A_k A_k^T W Sigma B_k^T B_k.

Facts derived here and property-tested in tests/theory/test_deep_linear.py (proof sketches in the
docstrings of the functions that compute them):

* balancedness D_k = W_{k+1}^T W_{k+1} - W_k W_k^T is conserved exactly (``balancedness``);
* d/dt ||W_k||_F^2 = -4 LI for every k: all layers lose Frobenius mass at the same rate (``frobenius_sq``);
* d/dt (W_L W_L^T) = -2 W Sigma W^T <= 0: every singular value of the LAST layer is non-increasing;
* every critical point has LI = 0, and LI(t) <= LI(0) / (1 + 4 t LI(0) / ||W_L(0)||_F^2) (``li_decay_bound``);
* for balanced initialization (D_k = 0) every singular value of W obeys
  d sigma_r/dt = -L sigma_r^(3 - 2/L) v_r^T Sigma v_r <= 0 (``singular_value_rates``);
* the time-uniform bound ``spectral_bound`` on sigma_max(W(t)) built from the three facts above.

Refuted (``theory.deep_claims``, counterexamples in tests/theory/test_deep_linear.py): for generic
initializations at depth L >= 2, sigma_max(W(t)) and sigma_max(W_k(t)), k < L, can increase, and
sigma_max(W(inf)) can exceed sigma_max(W(0)) by an unbounded factor.

Three solvers check each other: ``flow_ode`` (solve_ivp), ``gradient_descent`` and, in
``theory.deep_symbolic``, sympy closed forms.
"""

from __future__ import annotations

from functools import reduce
from typing import Sequence

import numpy as np
from scipy.integrate import solve_ivp

from theory.linear_flow import logit_invariance as _li_end_to_end

__all__ = [
    "Layers",
    "INIT_SCHEMES",
    "as_layers",
    "widths_of",
    "end_to_end",
    "logit_invariance",
    "layer_gradients",
    "end_to_end_velocity",
    "flow_ode",
    "gradient_descent",
    "initialize",
    "balanced_factorization",
    "balancedness",
    "frobenius_sq",
    "layer_spectral_norms",
    "end_to_end_spectral",
    "singular_value_rates",
    "layer_spectral_bounds",
    "spectral_bound",
    "li_decay_bound",
    "flow_time_scale",
    "worst_increase_ratio",
]

Layers = tuple[np.ndarray, ...]
INIT_SCHEMES = ("glorot", "he", "gaussian", "orthogonal", "balanced")


def as_layers(layers: Sequence[np.ndarray]) -> Layers:
    """Validate (W_1, ..., W_L), W_k of shape (d_k, d_{k-1}), and return float64 copies as a tuple."""
    out = tuple(np.array(w, dtype=float, copy=True) for w in layers)
    if not out:
        raise ValueError("a deep linear network needs at least one layer; pass (W_1, ..., W_L)")
    for k, w in enumerate(out):
        if w.ndim != 2:
            raise ValueError(f"layer W_{k + 1} must be a 2-d matrix, got shape {w.shape}")
        if k and w.shape[1] != out[k - 1].shape[0]:
            raise ValueError(f"W_{k + 1} has {w.shape[1]} columns but W_{k} has {out[k - 1].shape[0]} rows; "
                             f"layers must chain as (d_k, d_(k-1)), input side first")
    return out


def widths_of(layers: Sequence[np.ndarray]) -> tuple[int, ...]:
    """(d_0, d_1, ..., d_L) of a network (W_1, ..., W_L); works on trajectories (T, d_k, d_{k-1}) too."""
    return (layers[0].shape[-1],) + tuple(w.shape[-2] for w in layers)


def end_to_end(layers: Sequence[np.ndarray]) -> np.ndarray:
    """W = W_L ... W_1, (d_L, d_0); leading batch axes (e.g. time, from ``flow_ode``) broadcast."""
    return reduce(lambda acc, w: w @ acc, layers[1:], layers[0])


def logit_invariance(layers: Sequence[np.ndarray], sigma: np.ndarray) -> float:
    """LI = 1/2 tr(W Sigma W^T) of the end-to-end map (Eq. 2 for a deep linear network)."""
    return _li_end_to_end(end_to_end(layers), sigma)


def _befores_afters(layers: Layers) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """B_k = W_{k-1} ... W_1 (B_1 = I) and A_k = W_L ... W_{k+1} (A_L = I) for k = 1..L."""
    befores = [np.eye(layers[0].shape[1])]
    for w in layers[:-1]:
        befores.append(w @ befores[-1])
    afters = [np.eye(layers[-1].shape[0])]
    for w in layers[:0:-1]:
        afters.append(afters[-1] @ w)
    return befores, afters[::-1]


def layer_gradients(layers: Sequence[np.ndarray], sigma: np.ndarray) -> Layers:
    """dLI/dW_k = A_k^T W Sigma B_k^T for k = 1..L (chain rule on Eq. 2); shapes as the layers."""
    # The right-hand side of every ODE step: 3L - 1 products, no identity matrices.
    befores, b = [], None  # B_k, with None standing for the identity B_1
    for w in layers:
        befores.append(b)
        b = w if b is None else w @ b
    m = b @ sigma  # A_L^T W Sigma
    out = [None] * len(layers)
    for k in range(len(layers) - 1, -1, -1):
        out[k] = m if befores[k] is None else m @ befores[k].T
        if k:
            m = layers[k].T @ m  # A_{k-1}^T W Sigma = W_k^T A_k^T W Sigma
    return tuple(out)


def end_to_end_velocity(layers: Sequence[np.ndarray], sigma: np.ndarray) -> np.ndarray:
    """dW/dt = -sum_k A_k A_k^T W Sigma B_k^T B_k under the layer-wise flow, (d_L, d_0)."""
    layers = tuple(layers)
    befores, afters = _befores_afters(layers)
    g = (layers[-1] @ befores[-1]) @ sigma
    return -sum(a @ a.T @ g @ b.T @ b for a, b in zip(afters, befores))


def _pack(layers: Layers) -> np.ndarray:
    return np.concatenate([w.ravel() for w in layers])


def _unpack(flat: np.ndarray, shapes: list[tuple[int, int]]) -> Layers:
    out, start = [], 0
    for r, c in shapes:
        out.append(flat[start : start + r * c].reshape(r, c))
        start += r * c
    return tuple(out)


def flow_ode(layers0: Sequence[np.ndarray], sigma: np.ndarray, ts: np.ndarray,
             rtol: float = 1e-10, atol: float | None = None) -> Layers:
    """dW_k/dt = -A_k^T W Sigma B_k^T on all layers at once, by ``solve_ivp`` (DOP853); (T, d_k, d_{k-1}) each.

    Integrated in normalized units: with c the geometric mean of the ||W_k(0)||_F and lam = lambda_max(Sigma),
    V_k = W_k / c solves the same flow with Sigma / lam in the time s = c^(2L-2) lam t (the field is
    homogeneous of degree 2L - 1), so the result does not depend on the scale of the data or the weights.
    atol (in normalized units) defaults to rtol / 100.
    """
    layers0 = as_layers(layers0)
    sigma = np.asarray(sigma, dtype=float)
    if sigma.shape != (layers0[0].shape[1],) * 2:
        raise ValueError(f"Sigma must be ({layers0[0].shape[1]}, {layers0[0].shape[1]}) to match d_0, "
                         f"got {sigma.shape}")
    ts = np.asarray(ts, dtype=float)
    if ts.ndim != 1 or not np.all(np.isfinite(ts)) or (ts.size and (ts[0] < 0 or np.any(np.diff(ts) < 0))):
        raise ValueError("ts must be a non-decreasing 1-d array of finite times >= 0 (rescale a tiny Sigma)")
    peaks = np.array([float(np.abs(w).max(initial=0.0)) for w in layers0])
    norms = np.array([p * np.linalg.norm(w / p) if p > 0 else 0.0 for p, w in zip(peaks, layers0)])  # no underflow
    lam = float(np.abs(np.linalg.eigvalsh(sigma)).max(initial=0.0))
    if lam == 0.0 or norms.min() == 0.0:  # the field vanishes: W(t) = W(0)
        return tuple(np.broadcast_to(w, (len(ts), *w.shape)).copy() for w in layers0)
    depth = len(layers0)
    c = float(np.exp(np.mean(np.log(norms))))
    speed = c ** (2 * depth - 2) * lam
    unit_sigma = sigma / lam
    shapes = [w.shape for w in layers0]

    def rhs(_s, flat):
        # A rejected trial step of the high-degree polynomial field may overflow; the step controller
        # shrinks the step, and a non-finite accepted state is caught below.
        with np.errstate(over="ignore", invalid="ignore"):
            return -_pack(layer_gradients(_unpack(flat, shapes), unit_sigma))

    grid, back = np.unique(ts * speed, return_inverse=True)
    sol = solve_ivp(rhs, (0.0, float(grid.max(initial=0.0))), _pack(layers0) / c, method="DOP853",
                    t_eval=grid, rtol=rtol, atol=1e-2 * rtol if atol is None else atol)
    if not sol.success or not np.all(np.isfinite(sol.y)):
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return tuple(c * np.moveaxis(part, -1, 0)[back] for part in _unpack_batched(sol.y, shapes))


def _unpack_batched(y: np.ndarray, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Split solve_ivp's (P, T) state into per-layer (d_k, d_{k-1}, T) arrays."""
    out, start = [], 0
    for r, c in shapes:
        out.append(y[start : start + r * c].reshape(r, c, -1))
        start += r * c
    return out


def gradient_descent(layers0: Sequence[np.ndarray], sigma: np.ndarray, alpha: float, steps: int,
                     every: int = 1) -> Layers:
    """W_k <- W_k - alpha dLI/dW_k on all layers at once; iterates 0, every, 2 every, ... (n, d_k, d_{k-1})."""
    if every < 1 or steps < 0 or steps % every:
        raise ValueError(f"need steps >= 0 divisible by every >= 1; got steps={steps}, every={every}")
    layers = as_layers(layers0)
    record = [[w.copy()] for w in layers]
    for i in range(1, steps + 1):
        grads = layer_gradients(layers, sigma)
        layers = tuple(w - alpha * g for w, g in zip(layers, grads))
        if i % every == 0:
            for rec, w in zip(record, layers):
                rec.append(w.copy())
    return tuple(np.stack(rec) for rec in record)


def _semi_orthogonal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random (rows, cols) matrix with orthonormal rows or columns (as torch.nn.init.orthogonal_)."""
    z = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(z)
    q = q * np.sign(np.diag(r))
    return q if rows >= cols else q.T


def balanced_factorization(w: np.ndarray, widths: Sequence[int], seed: int | np.random.Generator) -> Layers:
    """Balanced layers with W_L ... W_1 = rank-r truncation of w, r = min(widths) (Arora et al. 2018, Sec. 3.3).

    With w ~ U S V^T truncated to rank r, W_1 = Q_1 S^(1/L) V^T, W_k = Q_k S^(1/L) Q_{k-1}^T and
    W_L = U S^(1/L) Q_{L-1}^T for random orthonormal Q_k (d_k, r), so W_{k+1}^T W_{k+1} = Q_k S^(2/L) Q_k^T
    = W_k W_k^T exactly.
    """
    widths = tuple(int(d) for d in widths)
    w = np.asarray(w, dtype=float)
    if len(widths) < 2 or w.shape != (widths[-1], widths[0]):
        raise ValueError(f"w must have shape (d_L, d_0) = ({widths[-1]}, {widths[0]}) for widths {widths}")
    rng = np.random.default_rng(seed)
    r = min(widths)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    u, root, vt = u[:, :r], s[:r] ** (1.0 / (len(widths) - 1)), vt[:r]
    frames = [vt.T] + [_semi_orthogonal(d, r, rng) for d in widths[1:-1]] + [u]
    return tuple((frames[k + 1] * root) @ frames[k].T for k in range(len(widths) - 1))


def initialize(widths: Sequence[int], scheme: str, seed: int | np.random.Generator, gain: float = 1.0) -> Layers:
    """Random layers for widths (d_0, ..., d_L) by a standard scheme; the same seed gives the same layers.

    'glorot': U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010);
    'he': N(0, 2 gain^2 / fan_in) (He et al. 2015); 'gaussian': N(0, gain^2) (scaled Gaussian);
    'orthogonal': gain times a Haar semi-orthogonal matrix (balanced when all widths are equal);
    'balanced': ``balanced_factorization`` of an end-to-end N(0, gain^2 / d_0) matrix.
    """
    widths = tuple(int(d) for d in widths)
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must be (d_0, ..., d_L) with L >= 1 and every d_k >= 1, got {widths}")
    rng = np.random.default_rng(seed)
    pairs = list(zip(widths[:-1], widths[1:]))
    if scheme == "glorot":
        return tuple(rng.uniform(-1, 1, (o, i)) * gain * np.sqrt(6.0 / (i + o)) for i, o in pairs)
    if scheme == "he":
        return tuple(rng.standard_normal((o, i)) * gain * np.sqrt(2.0 / i) for i, o in pairs)
    if scheme == "gaussian":
        return tuple(rng.standard_normal((o, i)) * gain for i, o in pairs)
    if scheme == "orthogonal":
        return tuple(gain * _semi_orthogonal(o, i, rng) for i, o in pairs)
    if scheme == "balanced":
        w = rng.standard_normal((widths[-1], widths[0])) * gain / np.sqrt(widths[0])
        return balanced_factorization(w, widths, rng)
    raise ValueError(f"unknown initialization {scheme!r}; use one of {INIT_SCHEMES}")


def balancedness(layers: Sequence[np.ndarray]) -> Layers:
    """D_k = W_{k+1}^T W_{k+1} - W_k W_k^T, k = 1..L-1, (d_k, d_k); conserved by the flow (Arora et al. 2018).

    Proof: with G = W Sigma, W_{k+1}^T dW_{k+1}/dt = -W_{k+1}^T A_{k+1}^T G B_{k+1}^T = -A_k^T G B_k^T W_k^T
    = (dW_k/dt) W_k^T, because A_k = A_{k+1} W_{k+1} and B_{k+1} = W_k B_k; adding the transpose,
    d/dt W_{k+1}^T W_{k+1} = d/dt W_k W_k^T. Works on trajectories (leading time axis).
    """
    tr = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    return tuple(tr(layers[k + 1]) @ layers[k + 1] - layers[k] @ tr(layers[k]) for k in range(len(layers) - 1))


def frobenius_sq(layers: Sequence[np.ndarray]) -> np.ndarray:
    """||W_k||_F^2 for each layer, (..., L); under the flow d/dt ||W_k||_F^2 = -4 LI for every k.

    Proof: d/dt ||W_k||_F^2 = -2 tr(W_k^T A_k^T W Sigma B_k^T) = -2 tr((A_k W_k B_k)^T W Sigma)
    = -2 tr(W Sigma W^T) = -4 LI, the same for every layer (the trace of the conserved D_k says the same).
    """
    return np.stack([np.sum(w * w, axis=(-2, -1)) for w in layers], axis=-1)


def layer_spectral_norms(layers: Sequence[np.ndarray]) -> np.ndarray:
    """sigma_max(W_k) for each layer, (..., L)."""
    return np.stack([np.linalg.norm(w, 2, axis=(-2, -1)) for w in layers], axis=-1)


def end_to_end_spectral(layers: Sequence[np.ndarray]) -> np.ndarray:
    """sigma_max(W_L ... W_1), a float or (T,) along a trajectory."""
    return np.linalg.norm(end_to_end(layers), 2, axis=(-2, -1))


def singular_value_rates(layers: Sequence[np.ndarray], sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s_r, ds_r/dt = u_r^T (dW/dt) v_r, gaps) for the singular values of W; the rate is exact where s_r is simple.

    For balanced layers (D_k = 0), (W W^T)^(j/L) and (W^T W)^(j/L) replace A_k A_k^T and B_k^T B_k, so
    u^T (dW/dt) v = -sum_k s^(2(L-k)/L) u^T W Sigma v s^(2(k-1)/L) = -L s^(3 - 2/L) v^T Sigma v <= 0 for
    every unit singular pair (u, v), degenerate or not: the Rayleigh derivative u^T d(W W^T)/dt u is <= 0
    for every top eigenvector u, so sigma_max(W(t)) is non-increasing (Danskin). ``gaps[r]`` is the
    distance from s_r to the nearest other singular value (inf when there is none).
    """
    w = end_to_end(layers)
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    rates = np.einsum("ir,ij,rj->r", u, end_to_end_velocity(layers, sigma), vt)
    diffs = np.abs(s[:, None] - s[None, :]) + np.diag(np.full(len(s), np.inf))
    return s, rates, diffs.min(axis=1)


def layer_spectral_bounds(layers0: Sequence[np.ndarray]) -> np.ndarray:
    """Time-uniform bounds b_k >= sigma_max(W_k(t)) for all t >= 0 under the flow from layers0, (L,).

    b_L = sigma_max(W_L(0)) since d/dt W_L W_L^T = -2 W Sigma W^T <= 0 (Loewner); going down, by the
    conserved D_k and Weyl, sigma_max(W_k(t))^2 = lambda_max(W_{k+1}^T W_{k+1} - D_k)
    <= b_{k+1}^2 + lambda_max(-D_k); and sigma_max(W_k(t)) <= ||W_k(t)||_F <= ||W_k(0)||_F. b_k is the
    smaller of the two. For balanced layers b_k = sigma_max(W_k(0)).
    """
    layers0 = as_layers(layers0)
    fro = np.sqrt(frobenius_sq(layers0))
    ds = balancedness(layers0)
    bounds = np.empty(len(layers0))
    bounds[-1] = min(np.linalg.norm(layers0[-1], 2), fro[-1])
    chain = bounds[-1] ** 2
    for k in range(len(layers0) - 2, -1, -1):
        chain = chain + max(float(np.linalg.eigvalsh(-ds[k])[-1]), 0.0)
        chain = min(chain, fro[k] ** 2)
        bounds[k] = np.sqrt(chain)
    return bounds


def spectral_bound(layers0: Sequence[np.ndarray]) -> float:
    """sigma_max(W(t)) <= prod_k b_k for every t >= 0 (``layer_spectral_bounds``); = sigma_max(W(0)) if balanced."""
    return float(np.prod(layer_spectral_bounds(layers0)))


def li_decay_bound(layers0: Sequence[np.ndarray], sigma: np.ndarray, t: float | np.ndarray) -> float | np.ndarray:
    """LI(t) <= LI(0) / (1 + 4 t LI(0) / ||W_L(0)||_F^2); hence LI -> 0 and W(inf) eps = 0 for eps in span.

    Proof: dLI/dt = -sum_k ||dLI/dW_k||_F^2 <= -||dLI/dW_L||_F^2, and tr((dLI/dW_L) W_L^T) = tr(W Sigma W^T)
    = 2 LI gives ||dLI/dW_L||_F >= 2 LI / ||W_L||_F >= 2 LI / ||W_L(0)||_F (Frobenius norms shrink).
    So dLI/dt <= -4 LI^2 / ||W_L(0)||_F^2; integrate. In particular every critical point has LI = 0.
    """
    layers0 = as_layers(layers0)
    li0 = logit_invariance(layers0, sigma)
    fro_last = float(np.sum(layers0[-1] ** 2))
    if fro_last == 0.0 or li0 == 0.0:
        return li0 * np.ones_like(np.asarray(t, dtype=float)) if np.ndim(t) else li0
    return li0 / (1.0 + 4.0 * np.asarray(t, dtype=float) * li0 / fro_last)


def flow_time_scale(layers0: Sequence[np.ndarray], sigma: np.ndarray) -> float:
    """tau = 1 / (lambda_max(Sigma) sum_k ||A_k||_2^2 ||B_k||_2^2): the time the end-to-end map needs to move."""
    layers0 = as_layers(layers0)
    befores, afters = _befores_afters(layers0)
    speed = sum(np.linalg.norm(a, 2) ** 2 * np.linalg.norm(b, 2) ** 2 for a, b in zip(afters, befores))
    lam = float(np.linalg.eigvalsh(np.asarray(sigma, dtype=float))[-1])
    if not speed * lam > 1.0 / np.finfo(float).max:  # zero, subnormal or NaN: nothing moves; any unit will do
        return 1.0
    return 1.0 / (speed * lam)


def worst_increase_ratio(values: np.ndarray, floor: float = 1e-6) -> tuple[float, int, int]:
    """max over i <= j of values[j] / values[i] (1 iff non-increasing), with the pair (i, j).

    Values below ``floor`` times the largest value are raised to that level first: they sit at the
    integrator's absolute-error floor, where a ratio of two of them measures noise, not the flow.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)) or np.any(v < 0) or v.max() <= 0:
        raise ValueError("worst_increase_ratio needs a non-empty 1-d series of finite values >= 0, not all 0")
    v = np.maximum(v, floor * v.max())
    running_argmin = np.zeros(len(v), dtype=int)
    for j in range(1, len(v)):
        i = running_argmin[j - 1]
        running_argmin[j] = j if v[j] < v[i] else i
    ratios = v / v[running_argmin]
    j = int(np.argmax(ratios))
    return float(ratios[j]), int(running_argmin[j]), j
