"""An independent optimizer for the problems of Duan & Montúfar 2026: train a deep linear network.

The closed forms of ``theory.duan`` are checked against what an optimizer finds with no SVD of any target:
a deep linear network E = W_L ... W_1 (widths (m, d_1, ..., d_{L-1}, dL), narrowest width r, so E ranges over
the rank-<=r maps) minimizes a ``duan_landscape.Quadratic`` by L-BFGS (``scipy.optimize.minimize``) on its
layers, with the exact layer gradients dL/dW_k = A_k^T grad L(E) B_k^T, from several random initializations.
The hard-wired network of the paper's Sec. 4.2 is the constrained Quadratic (input N^T x, N a basis of
Fix(rho^T)); the regularized and augmented ones act on the raw input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from theory.deep_linear import end_to_end
from theory.duan_landscape import Quadratic

__all__ = ["Fit", "random_widths", "fit_deep_linear"]


@dataclass(frozen=True)
class Fit:
    """The best of ``inits`` runs: end-to-end map, its loss, every run's final loss, widths."""

    e: np.ndarray
    loss: float
    losses: tuple[float, ...]
    widths: tuple[int, ...]


def random_widths(m: int, dl: int, r: int, rng: np.random.Generator, max_depth: int = 3) -> tuple[int, ...]:
    """(m, d_1, ..., d_{L-1}, dL): depth 2..max_depth, one hidden layer of width r, the others r..r+2."""
    depth = int(rng.integers(2, max_depth + 1))
    hidden = [r + int(rng.integers(0, 3)) for _ in range(depth - 1)]
    hidden[int(rng.integers(depth - 1))] = r
    return (m, *hidden, dl)


def _shapes(widths):
    return [(widths[k + 1], widths[k]) for k in range(len(widths) - 1)]


def _unpack(z, shapes):
    out, i = [], 0
    for a, b in shapes:
        out.append(z[i:i + a * b].reshape(a, b))
        i += a * b
    return out


def fit_deep_linear(problem: Quadratic, widths: tuple[int, ...], rng: np.random.Generator, inits: int = 3,
                    gtol: float = 1e-10, maxiter: int = 20_000) -> Fit:
    """Minimize L(W_L ... W_1) over the layers by L-BFGS from ``inits`` random Gaussian initializations: the best."""
    dl, m = problem.c.shape
    if widths[0] != m or widths[-1] != dl:
        raise ValueError(f"widths {widths} must start at {m} and end at {dl}")
    shapes = _shapes(widths)
    scale = (problem.scale + 1e-300) ** (1.0 / (2 * len(shapes)))

    def fun(z):
        layers = _unpack(z, shapes)
        e = end_to_end(layers)
        grad = problem.grad(e)
        grads, after = [], np.eye(dl)
        befores = [np.eye(m)]
        for w in layers[:-1]:
            befores.append(w @ befores[-1])
        for k in range(len(layers) - 1, -1, -1):
            grads.append(after.T @ grad @ befores[k].T)
            after = after @ layers[k]
        return problem.value(e), np.concatenate([g.ravel() for g in grads[::-1]])

    best, losses = None, []
    for _ in range(inits):
        z0 = np.concatenate([rng.standard_normal(a * b) * scale / np.sqrt(b) for a, b in shapes])
        sol = minimize(fun, z0, jac=True, method="L-BFGS-B",
                       options={"maxiter": maxiter, "gtol": gtol, "ftol": 1e-16, "maxcor": 30})
        losses.append(float(sol.fun))
        if best is None or sol.fun < best.fun:
            best = sol
    e = end_to_end(_unpack(best.x, shapes))
    return Fit(e, problem.value(e), tuple(losses), tuple(widths))
