"""Symbolic checks (sympy) of the rank-one flow in the proof of Proposition 3.1.

For one difference eps = x - gx, Sigma = eps eps^T (proof of Prop. 3.1) and, with s = eps^T eps,

    expm(-Sigma t) = I - (1 - e^{-t s}) eps eps^T / s,

because Sigma^k = s^{k-1} Sigma for k >= 1 (Sigma / s is an idempotent), so the power series
collapses to I + Sigma sum_{k>=1} (-t)^k s^{k-1} / k! = I + Sigma (e^{-t s} - 1) / s.
Its eigenvalues are 1 (multiplicity d - 1, on eps^perp) and e^{-t s} (on eps) (Eq. 7 and after).
``rank_one_identities(d)`` returns the residual of each identity for symbolic eps in R^d;
every residual simplifies to zero. Keep d small (2, 3); ``rank_one_expm`` is the same formula
in numpy for the numerical cross-check at larger d.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

__all__ = ["symbols", "rank_one_closed_form", "rank_one_identities", "vanishes", "rank_one_expm"]


def symbols(d: int) -> tuple[sp.Matrix, sp.Symbol, sp.Symbol, sp.Symbol]:
    """Symbolic eps = (e1, ..., ed)^T (real, not all zero), time t >= 0, step alpha > 0, eigenvalue variable lam."""
    if not 1 <= d <= 4:
        raise ValueError(f"symbolic checks are kept to 1 <= d <= 4 for speed; got d={d} "
                         "(use rank_one_expm for larger d)")
    eps = sp.Matrix(sp.symbols(f"e1:{d + 1}", real=True))
    t = sp.Symbol("t", nonnegative=True)
    alpha = sp.Symbol("alpha", positive=True)
    lam = sp.Symbol("lam")
    return eps, t, alpha, lam


def rank_one_closed_form(eps: sp.Matrix, t: sp.Expr) -> sp.Matrix:
    """expm(-eps eps^T t) = I - (1 - e^{-t eps^T eps}) eps eps^T / (eps^T eps), symbolic (d, d) (Eq. 6, rank one)."""
    s = (eps.T * eps)[0, 0]
    return sp.eye(eps.rows) - (1 - sp.exp(-t * s)) / s * (eps * eps.T)


def rank_one_identities(d: int) -> dict[str, sp.Expr | sp.Matrix]:
    """Residual (zero iff the identity holds) of each step of the rank-one argument, for symbolic eps in R^d."""
    eps, t, alpha, lam = symbols(d)
    k = sp.Symbol("k", integer=True, positive=True)
    sigma = eps * eps.T
    s = (eps.T * eps)[0, 0]
    closed = rank_one_closed_form(eps, t)
    w0 = sp.Matrix(1, d, sp.symbols(f"w1:{d + 1}", real=True))  # one row suffices: the flow acts row by row
    w = w0 * closed
    # vectors spanning eps^perp: s u - (eps^T u) eps for the standard basis u
    perp = [s * sp.eye(d)[:, i] - eps[i] * eps for i in range(d)]
    series = sp.summation((-t) ** k * s ** (k - 1) / sp.factorial(k), (k, 1, sp.oo))
    return {
        "idempotent: Sigma^2 = s Sigma": sigma * sigma - s * sigma,
        "power series: sum_k>=1 (-t)^k s^(k-1)/k! = (e^(-ts) - 1)/s": series - (sp.exp(-t * s) - 1) / s,
        "sympy expm equals the closed form": (-t * sigma).exp() - closed,
        "solves the ODE: dW/dt = -W Sigma": w.diff(t) + w * sigma,
        "meets W(0)": w.subs(t, 0) - w0,
        "eigenvalue e^(-ts) on eps": closed * eps - sp.exp(-t * s) * eps,
        "eigenvalue 1 on eps^perp": sp.Matrix.hstack(*[closed * v - v for v in perp]),
        "charpoly = (lam - 1)^(d-1) (lam - e^(-ts))": (closed.charpoly(lam).as_expr()
                                                          - (lam - 1) ** (d - 1) * (lam - sp.exp(-t * s))),
        "GD step I - alpha Sigma: charpoly (lam - 1)^(d-1) (lam - 1 + alpha s)": (
            (sp.eye(d) - alpha * sigma).charpoly(lam).as_expr() - (lam - 1) ** (d - 1) * (lam - 1 + alpha * s)),
    }


def vanishes(residual: sp.Expr | sp.Matrix) -> bool:
    """Whether a residual (scalar or matrix) is identically zero: expanded numerators first, then sympy.simplify."""
    entries = list(residual) if isinstance(residual, sp.MatrixBase) else [residual]
    for entry in entries:
        if sp.expand(sp.numer(sp.together(entry))) != 0 and sp.simplify(entry) != 0:
            return False
    return True


def rank_one_expm(eps: np.ndarray, t: float) -> np.ndarray:
    """The closed form I - (1 - e^{-t s}) eps eps^T / s in float64 for eps (d,), s = eps^T eps > 0; (d, d)."""
    eps = np.asarray(eps, dtype=float)
    s = float(eps @ eps)
    if s == 0.0:
        raise ValueError("rank_one_expm needs eps != 0 (for eps = 0, expm(0) = I)")
    return np.eye(len(eps)) - (-np.expm1(-t * s)) / s * np.outer(eps, eps)
