"""The regularization path lambda -> W^reg(lambda) of Duan & Montúfar 2026 (Thm. 9): its limits, their rates,
and where it jumps.

Thm. 9 states: if Z(lambda)^reg = Z B(lambda)^{-1} has full rank for every lambda >= 0, the path is continuous
on (0, inf) and W^reg(lambda) -> W^inv as lambda -> inf. The limit holds (``limit_rates``: the distance falls
like 1/lambda, and W^reg(lambda) -> [Z]_r P^{-1} like lambda as lambda -> 0). Continuity does not follow from
full rank: the truncation [Z(lambda)^reg]_r jumps wherever sigma_r and sigma_{r+1} of Z(lambda)^reg cross, and
they do cross when a non-invariant direction of Z starts above an invariant one (its singular value decays
like (1 + n lambda mu)^{-1/2}, the invariant ones stay put). ``crossing_instance`` draws such data on purpose;
``minimal_discontinuity`` is the smallest one (d0 = 3, dL = 2, r = 1, a jump at lambda = 1/4). The proof's
appeal to a smooth SVD (Lemma B.3) needs the groups of singular values to stay disjoint; with the gap
sigma_r > sigma_{r+1} along the path the path is continuous (``largest_jump`` finds no jump).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from theory import duan
from theory.groups import Representation, from_permutations

__all__ = [
    "PathInstance",
    "path_distance",
    "log_slope",
    "limit_rates",
    "largest_jump",
    "crossing_instance",
    "minimal_discontinuity",
]


@dataclass(frozen=True, eq=False)
class PathInstance:
    """Data X (d0, n), Y (dL, n), constraint G (d0, M d0), rank r; ``crossing``: a lambda where sigma_r and
    sigma_{r+1} of Z(lambda)^reg are known to cross (None when not constructed to cross)."""

    rep: Representation
    x: np.ndarray
    y: np.ndarray
    g: np.ndarray
    r: int
    crossing: float | None = None

    @cached_property
    def path(self) -> duan.RegularizationPath:
        """lambda -> W^reg(lambda), decompositions cached."""
        return duan.RegularizationPath(self.x, self.y, self.g @ self.g.T, self.r)

    def w(self, lam: float) -> np.ndarray:
        """W^reg(lambda) (Prop. 8)."""
        return self.path(lam)

    def singular_values(self, lam: float) -> np.ndarray:
        """The singular values of Z(lambda)^reg, descending."""
        return np.linalg.svd(self.path.target(lam), compute_uv=False)


def path_distance(inst: PathInstance, lams: np.ndarray, target: np.ndarray) -> np.ndarray:
    """||W^reg(lambda) - target||_F / ||target||_F for each lambda."""
    scale = np.linalg.norm(target)
    return np.array([np.linalg.norm(inst.w(lam) - target) / scale for lam in lams])


def log_slope(lams: np.ndarray, dist: np.ndarray) -> float:
    """The least-squares slope of log dist against log lambda."""
    return float(np.polyfit(np.log(lams), np.log(dist), 1)[0])


def _gap(target: np.ndarray, r: int) -> float:
    s = np.linalg.svd(target, compute_uv=False)
    return float((s[r - 1] - s[r]) / s[0]) if len(s) > r else 1.0


def limit_rates(inst: PathInstance, decades: int = 4) -> dict[str, float]:
    """Slopes of log ||W^reg(lambda) - W^inv|| at large lambda, of log ||W^reg(lambda) - [Z]_r P^{-1}|| at small lambda.

    The lambda grids start ``decades`` decades of 10 beyond the scale where the penalty's smallest nonzero
    eigenvalue n lambda mu_min (resp. largest n lambda mu_max) meets the relative singular-value gap at r of
    Z^inv (resp. Z), and span ``decades`` decades; the distances there should fall like 1/lambda and like lambda.
    """
    x, y, g, r = inst.x, inst.y, inst.g, inst.r
    n = x.shape[1]
    _, p_inv = duan.data_root(x)
    mu = np.linalg.eigvalsh(p_inv @ g @ g.T @ p_inv)
    mu = mu[mu > duan.RANK_RTOL * mu.max()]
    z_inv, _ = duan.constrained_target(x, y, g)
    z, _ = duan.least_squares_target(x, y)
    big0 = 1.0 / (n * mu.min() * _gap(z_inv, r) ** 2)
    small0 = _gap(z, r) / (n * mu.max())
    big = big0 * np.logspace(decades, 2 * decades, 5)
    small = small0 * np.logspace(-2 * decades, -decades, 5)
    w_inv = duan.constrained_optimum(x, y, g, r)
    w_unc = duan.unconstrained_optimum(x, y, r)
    d_big, d_small = path_distance(inst, big, w_inv), path_distance(inst, small, w_unc)
    return {"slope_inf": log_slope(big, d_big), "slope_zero": log_slope(small, d_small),
            "dist_inf": float(d_big[-1]), "dist_zero": float(d_small[0]),
            "lambda_inf": float(big[-1]), "lambda_zero": float(small[0])}


def largest_jump(inst: PathInstance, lo: float, hi: float, grid: int = 31,
                 halvings: int = 42) -> tuple[float, float, float]:
    """Locate the largest change of the path on [lo, hi] and bisect it: (lambda_a, lambda_b, jump).

    On a log grid the interval where ||W(b) - W(a)||_F changes most is halved ``halvings`` times (in log lambda),
    keeping the half that changes more; jump = ||W(b) - W(a)||_F / ||W^inv||_F at the end. A continuous path gives
    jump -> 0 (by 2^-halvings times its log-derivative); a jump discontinuity keeps jump at its size.
    """
    scale = np.linalg.norm(duan.constrained_optimum(inst.x, inst.y, inst.g, inst.r))
    grid_l = np.geomspace(lo, hi, grid)
    ws = [inst.w(lam) for lam in grid_l]
    k = int(np.argmax([np.linalg.norm(b - a) for a, b in zip(ws, ws[1:], strict=False)]))
    a, b, wa, wb = np.log(grid_l[k]), np.log(grid_l[k + 1]), ws[k], ws[k + 1]
    for _ in range(halvings):
        mid = 0.5 * (a + b)
        wm = inst.w(float(np.exp(mid)))
        if np.linalg.norm(wm - wa) >= np.linalg.norm(wb - wm):
            b, wb = mid, wm
        else:
            a, wa = mid, wm
    return float(np.exp(a)), float(np.exp(b)), float(np.linalg.norm(wb - wa) / scale)


def crossing_instance(rep: Representation, r: int, rng: np.random.Generator) -> PathInstance:
    """Data meeting every assumption of Thm. 9 whose path jumps: X X^T = I (P = I, n = d0 + 0..2), dL = r + 2,
    Z = sum_{j<=r+1} a_j p_j f_j^T + b q u^T with f_j orthonormal in Fix(rho^T), u a unit eigenvector of G G^T with
    eigenvalue mu > 0, {p_j, q} orthonormal, and b > a_1 > ... > a_{r+1} > 0.

    Z(lambda)^reg = Z B(lambda)^{-1} has singular values a_j and b (1 + n lambda mu)^{-1/2}: full rank dL for all
    lambda >= 0, rank Z^inv = r + 1 > r, and sigma_r, sigma_{r+1} cross at n lambda* mu = (b / a_r)^2 - 1.
    Needs dim Fix(rho^T) >= r + 1 and d0 >= r + 2.
    """
    d0 = rep.dim
    g = duan.constraint_matrix(rep)
    fix = np.linalg.svd(g.T)[2][int(np.linalg.matrix_rank(g)):].T  # (d0, d): left null space of G
    if fix.shape[1] < r + 1 or d0 < r + 2:
        raise ValueError(f"{rep.name}: crossing_instance needs dim Fix(rho^T) >= r + 1 = {r + 1} and d0 >= {r + 2}")
    mu, vecs = np.linalg.eigh(g @ g.T)
    pos = np.flatnonzero(mu > duan.RANK_RTOL * mu.max())
    pick = int(rng.choice(pos))
    u_vec, mu_u = vecs[:, pick], float(mu[pick])
    f = fix @ np.linalg.qr(rng.standard_normal((fix.shape[1], r + 1)))[0]
    dl = r + 2
    pq = np.linalg.qr(rng.standard_normal((dl, dl)))[0]
    a = np.sort(rng.uniform(0.5, 2.0, r + 1))[::-1]
    b = a[0] * rng.uniform(1.5, 4.0)
    z = (pq[:, : r + 1] * a) @ f.T + b * np.outer(pq[:, r + 1], u_vec)
    n = d0 + int(rng.integers(0, 3))
    x = np.linalg.qr(rng.standard_normal((n, n)))[0][:d0]  # orthonormal rows: X X^T = I, P = I
    lam_star = ((b / a[r - 1]) ** 2 - 1.0) / (n * mu_u)
    return PathInstance(rep, x, z @ x, g, r, lam_star)


def minimal_discontinuity() -> PathInstance:
    """The smallest counterexample to Thm. 9's continuity: C2 swapping x1, x2 of R^3, X = I_3, Y = [[3, -1, 0],
    [0, 0, 2]], r = 1 (d0 = 3, dL = 2, d = dim Fix = 2: smaller is impossible, as r < d and r < dL).

    Z = Y, G = I - rho(s): in the basis u+ = (1, 1, 0)/sqrt 2, u- = (1, -1, 0)/sqrt 2, e3 the rows of Z B^{-1} are
    sqrt 2 u+ + 2 sqrt 2 beta u- and 2 e3 with beta^2 = 1 / (1 + 12 lambda): singular values sqrt(2 + 8 beta^2) and 2,
    equal at lambda* = 1/4; Z B^{-1} has full rank 2 for every lambda, rank Z^inv = 2 > r. For lambda < 1/4,
    W^reg = [[2 beta^2 + 1, 1 - 2 beta^2, 0], [0, 0, 0]] (-> [[1.5, 0.5, 0], [0, 0, 0]]); for lambda > 1/4,
    W^reg = [[0, 0, 0], [0, 0, 2]] = W^inv. The jump has Frobenius size sqrt(6.5) = 2.5495.
    """
    rep = from_permutations("C2[swap x1 x2 of R^3]", np.array([[0, 1, 2], [1, 0, 2]]))
    x = np.eye(3)
    y = np.array([[3.0, -1.0, 0.0], [0.0, 0.0, 2.0]])
    return PathInstance(rep, x, y, duan.constraint_matrix(rep), 1, 0.25)
