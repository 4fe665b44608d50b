"""Closed forms of the deep linear invariance flow, derived with sympy and checked against ``solve_ivp``.

Three exact results (tests/theory/test_deep_symbolic.py compares each with ``deep_linear.flow_ode``):

1. Balanced depth-L flow, singular values aligned with Sigma's eigenvectors. Each singular value obeys
   d sigma/dt = -L lambda sigma^(3 - 2/L) (``deep_linear.singular_value_rates``), so by separation
   sigma(t) = sigma0 (1 + (2L - 2) lambda sigma0^((2L - 2)/L) t)^(-L/(2L - 2)) for L >= 2 and
   sigma0 exp(-lambda t) for L = 1. Invariance is reached only polynomially, ~ t^(-L/(2L-2)), at depth >= 2.
2. Two layers with a width-1 bottleneck (rank-one W = b a^T) and rank-one Sigma = lambda e e^T (||e|| = 1):
   a = alpha e + a_perp with a_perp frozen, and p = alpha ||b|| obeys dp/dt = -lambda p sqrt(delta^2 + 4 p^2),
   delta = ||b||^2 - alpha^2 conserved, so p(t) = delta / (2 sinh(asinh(delta / (2 p0)) + delta lambda t))
   (p0, delta > 0; odd in p0, even in delta). Balanced (delta = 0): p0 / (1 + 2 lambda p0 t).
3. The layer-wise identities of ``deep_linear`` (conserved balancedness, d/dt ||W_k||_F^2 = -4 LI,
   d/dt W_L W_L^T = -2 W Sigma W^T) as exact polynomial identities in symbolic matrices.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import sympy as sp

from theory.deep_linear import Layers, as_layers

__all__ = [
    "T",
    "LAMBDA",
    "SIGMA0",
    "balanced_rate_exponent",
    "derive_balanced_closed_form",
    "balanced_closed_form_general",
    "balanced_closed_form_residual",
    "balanced_singular_values",
    "derive_rank_one_two_layer",
    "rank_one_two_layer_residual",
    "rank_one_two_layer_flow",
    "layer_identities",
    "exact_end_to_end_rates",
]

T, LAMBDA, SIGMA0 = sp.symbols("t lambda sigma0", positive=True)
_L = sp.symbols("L", positive=True, integer=True)
_DELTA, _P0, _P = sp.symbols("delta p0 p", positive=True)


def balanced_rate_exponent(depth: int | sp.Expr = _L) -> sp.Expr:
    """k(L) = 3 - 2/L in d sigma/dt = -L lambda sigma^k for a balanced depth-L network (not (2L - 1)/L)."""
    return 3 - sp.Integer(2) / depth


def derive_balanced_closed_form(depth: int) -> sp.Expr:
    """sigma(t) for d sigma/dt = -L lambda sigma^(3 - 2/L), sigma(0) = sigma0, by separation of variables."""
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth must be a positive integer, got {depth!r}")
    if depth == 1:
        return SIGMA0 * sp.exp(-LAMBDA * T)
    s, big_s = sp.symbols("s S", positive=True)
    antiderivative = sp.integrate(s ** (-balanced_rate_exponent(depth)), (s, SIGMA0, big_s))
    roots = sp.solve(sp.Eq(antiderivative, -depth * LAMBDA * T), big_s)
    if len(roots) != 1:
        raise RuntimeError(f"expected one positive root for depth {depth}, sympy found {roots}")
    return roots[0]


def balanced_closed_form_general() -> sp.Expr:
    """sigma(t) = sigma0 (1 + (2L - 2) lambda sigma0^((2L-2)/L) t)^(-L/(2L-2)), for symbolic L >= 2."""
    return SIGMA0 * (1 + (2 * _L - 2) * LAMBDA * SIGMA0 ** ((2 * _L - 2) / _L) * T) ** (-_L / (2 * _L - 2))


def balanced_closed_form_residual() -> sp.Expr:
    """d sigma/dt + L lambda sigma^(3 - 2/L) for the general-L closed form, simplified (0 if it solves the ODE)."""
    u = sp.symbols("u", positive=True)  # u = 1 + (2L - 2) lambda sigma0^((2L-2)/L) t > 0
    du_dt = (2 * _L - 2) * LAMBDA * SIGMA0 ** ((2 * _L - 2) / _L)
    sigma_u = SIGMA0 * u ** (-_L / (2 * _L - 2))
    residual = sp.diff(sigma_u, u) * du_dt + _L * LAMBDA * sigma_u ** balanced_rate_exponent()
    # force=True is sound here: every base (sigma0, u) is positive and every exponent real.
    residual = sp.powdenest(sp.expand_power_base(residual, force=True), force=True)
    return sp.simplify(sp.powsimp(residual, force=True))


def balanced_singular_values(s0: np.ndarray, lambdas: np.ndarray, depth: int, ts: np.ndarray) -> np.ndarray:
    """Closed-form singular values (T, r) of a balanced depth-L flow whose right singular vectors are
    eigenvectors of Sigma with eigenvalues ``lambdas`` (r,); s0 (r,) the initial singular values."""
    s0 = np.asarray(s0, dtype=float)[None, :]
    lam = np.asarray(lambdas, dtype=float)[None, :]
    ts = np.asarray(ts, dtype=float)[:, None]
    if depth == 1:
        return s0 * np.exp(-lam * ts)
    power = (2.0 * depth - 2.0) / depth
    return s0 * (1.0 + (2.0 * depth - 2.0) * lam * s0**power * ts) ** (-depth / (2.0 * depth - 2.0))


def derive_rank_one_two_layer() -> sp.Expr:
    """p(t) for dp/dt = -lambda p sqrt(delta^2 + 4 p^2), p(0) = p0 > 0, delta > 0, by separation."""
    antiderivative = sp.integrate(1 / (_P * sp.sqrt(_DELTA**2 + 4 * _P**2)), _P)  # -asinh(delta/(2p))/delta
    big_p = sp.symbols("P", positive=True)
    equation = sp.Eq(antiderivative.subs(_P, big_p) - antiderivative.subs(_P, _P0), -LAMBDA * T)
    roots = sp.solve(equation, big_p)
    if len(roots) != 1:
        raise RuntimeError(f"expected one positive root, sympy found {roots}")
    return roots[0]


def rank_one_two_layer_residual(p_of_t: sp.Expr | None = None) -> tuple[sp.Expr, sp.Expr]:
    """(ODE residual, initial-value residual) of p(t) = delta / (2 sinh(x)), x = asinh(delta/(2 p0)) + delta lam t."""
    p_of_t = derive_rank_one_two_layer() if p_of_t is None else p_of_t
    x = sp.symbols("x", positive=True)
    p_x = sp.simplify(p_of_t.subs(T, (x - sp.asinh(_DELTA / (2 * _P0))) / (_DELTA * LAMBDA)))
    residual = sp.diff(p_x, x) * _DELTA * LAMBDA + LAMBDA * p_x * sp.sqrt(_DELTA**2 + 4 * p_x**2)
    return sp.simplify(residual), sp.simplify(p_of_t.subs(T, 0) - _P0)


def rank_one_two_layer_flow(a0: np.ndarray, b0: np.ndarray, eps: np.ndarray, ts: np.ndarray) -> Layers:
    """Closed-form flow of W_1 = a^T (1, d), W_2 = b (m, 1) under Sigma = eps eps^T; ((T, 1, d), (T, m, 1)).

    With e = eps/||eps||, lambda = ||eps||^2, alpha = a.e, beta = ||b||: a_perp and b/||b|| are frozen,
    p = alpha beta follows result 2 of the module docstring, and beta^2 = (delta + sqrt(delta^2 + 4p^2))/2.
    """
    a0, b0, eps = (np.asarray(v, dtype=float).ravel() for v in (a0, b0, eps))
    ts = np.asarray(ts, dtype=float)
    lam = float(eps @ eps)
    if lam == 0.0:
        raise ValueError("eps must be non-zero (Sigma = 0 means the flow stands still)")
    e = eps / np.sqrt(lam)
    alpha0, beta0 = float(a0 @ e), float(np.linalg.norm(b0))
    a_perp = a0 - alpha0 * e
    p0, delta = alpha0 * beta0, beta0**2 - alpha0**2
    if p0 == 0.0:
        p = np.zeros_like(ts)
    elif delta == 0.0:
        p = p0 / (1.0 + 2.0 * lam * abs(p0) * ts)
    else:
        c = np.arcsinh(abs(delta) / (2.0 * abs(p0)))
        with np.errstate(over="ignore"):  # sinh overflows to inf only where p has decayed below the float range: 0
            p = np.sign(p0) * abs(delta) / (2.0 * np.sinh(c + abs(delta) * lam * ts))
    root = np.sqrt(delta**2 + 4.0 * p**2)
    beta = np.sqrt(np.maximum(delta + root, 0.0) / 2.0)
    alpha = np.sign(alpha0) * np.sqrt(np.maximum(root - delta, 0.0) / 2.0)
    b_dir = b0 / beta0 if beta0 > 0 else b0
    w1 = (alpha[:, None] * e[None, :] + a_perp[None, :])[:, None, :]
    w2 = (beta[:, None] * b_dir[None, :])[:, :, None]
    return w1, w2


def _symbolic_layers(widths: Sequence[int]) -> tuple[list[sp.Matrix], sp.Matrix]:
    layers = [sp.Matrix(o, i, lambda r, c, k=k: sp.Symbol(f"w{k + 1}_{r}{c}"))
              for k, (i, o) in enumerate(zip(widths[:-1], widths[1:]))]
    d = widths[0]
    sigma = sp.Matrix(d, d, lambda r, c: sp.Symbol(f"s_{min(r, c)}{max(r, c)}"))  # generic symmetric Sigma
    return layers, sigma


def layer_identities(widths: Sequence[int]) -> dict[str, sp.Matrix]:
    """Exact residuals (all zero) of the layer-wise identities for generic symbolic layers of the given widths.

    'balancedness_k': d/dt (W_{k+1}^T W_{k+1} - W_k W_k^T); 'frobenius_k': d/dt ||W_k||_F^2 + 4 LI;
    'last_gram': d/dt W_L W_L^T + 2 W Sigma W^T. Time derivatives use dW_k/dt = -dLI/dW_k, with the
    gradient taken by sympy from LI = 1/2 tr(W Sigma W^T), independently of ``deep_linear.layer_gradients``.
    """
    widths = tuple(int(d) for d in widths)
    layers, sigma = _symbolic_layers(widths)
    w = layers[0]
    for layer in layers[1:]:
        w = layer * w
    li = (w * sigma * w.T).trace() / 2
    velocities = [-li.diff(layer) for layer in layers]  # sympy derivative by a matrix symbol-array
    velocities = [sp.Matrix(v).reshape(*layer.shape) for v, layer in zip(velocities, layers)]
    out: dict[str, sp.Matrix] = {}
    for k in range(len(layers) - 1):
        a, va, b, vb = layers[k + 1], velocities[k + 1], layers[k], velocities[k]
        rate = va.T * a + a.T * va - (vb * b.T + b * vb.T)
        out[f"balancedness_{k + 1}"] = sp.expand(rate)
    for k, (layer, vel) in enumerate(zip(layers, velocities)):
        out[f"frobenius_{k + 1}"] = sp.Matrix([sp.expand(2 * (layer.T * vel).trace() + 4 * li)])
    last, vlast = layers[-1], velocities[-1]
    out["last_gram"] = sp.expand(vlast * last.T + last * vlast.T + 2 * w * sigma * w.T)
    return out


def exact_end_to_end_rates(layers: Sequence[np.ndarray], sigma: np.ndarray) -> dict[str, sp.Expr]:
    """Exact d/dt at t = 0 of ||W||_F^2 (= sigma_max(W)^2 when d_L = 1) and of each simple lambda_max(W_k^T W_k),
    with the entries of the layers and Sigma read as exact rationals (sympy nsimplify)."""
    layers = as_layers(layers)
    rat = lambda m: sp.Matrix(m.shape[0], m.shape[1], lambda r, c: sp.nsimplify(m[r, c], rational=True))  # noqa: E731
    sym_layers = [rat(w) for w in layers]
    sig = rat(np.asarray(sigma, dtype=float))
    w = sym_layers[0]
    for layer in sym_layers[1:]:
        w = layer * w
    g = w * sig
    befores = [sp.eye(layers[0].shape[1])]
    for layer in sym_layers[:-1]:
        befores.append(layer * befores[-1])
    afters = [sp.eye(layers[-1].shape[0])]
    for layer in sym_layers[:0:-1]:
        afters.append(afters[-1] * layer)
    afters = afters[::-1]
    vels = [-(a.T * g * b.T) for a, b in zip(afters, befores)]
    w_dot = sum((a * v * b for a, v, b in zip(afters, vels, befores)), sp.zeros(*w.shape))
    out = {"end_to_end_fro_sq": sp.nsimplify((2 * (w_dot * w.T).trace()))}
    for k, (layer, vel) in enumerate(zip(sym_layers, vels)):
        gram_rate = vel.T * layer + layer.T * vel
        gram = layer.T * layer
        top, mult, vecs = max(gram.eigenvects(), key=lambda item: float(item[0]))
        if mult != 1:
            raise ValueError(f"lambda_max(W_{k + 1}^T W_{k + 1}) is degenerate; its rate is not one number")
        v = vecs[0]
        out[f"layer_{k + 1}_lambda_max"] = sp.simplify((v.T * gram_rate * v)[0] / (v.T * v)[0])
    return out
