"""Duan & Montúfar 2026 (theory/duan*.py): every closed form against an independent oracle, with hypothesis.

The oracle for the three optima is reduced-rank regression, solved without any SVD of the paper's targets:
min_{rank W <= r} ||W A - B||_F^2 = ||B||_F^2 - (sum of the r largest generalized eigenvalues of
(A B^T B A^T, A A^T)) (scipy.linalg.eigh). Hard-wiring is RRR on the invariant coordinates N^T X, augmentation
is RRR on the augmented data [rho(g) X]_g, and the penalty lambda ||W G||^2 is RRR on [X, sqrt(n lambda) G] with
targets [Y, 0]. The deep-linear optimizer of ``theory.duan_solvers`` and gradient descent check the same values
on fixed instances; finite differences check the layer gradients and the Riemannian Hessian.
"""

import subprocess
import sys
from functools import lru_cache
from math import comb
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, given
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from hypothesis.extra import numpy as hnp

from tests.strategies import representations
from theory import duan, groups
from theory import duan_landscape as dl
from theory import duan_path as dp
from theory import duan_solvers as ds
from theory.linear_flow import flow_closed_form, invariance_defect, invariant_projector, sigma_orbit

# entries 0 or of size 1e-6..3: the closed forms are homogeneous in Y, and entries near 1e-300 only test underflow
_ENTRY = st.one_of(st.just(0.0), st.floats(1e-6, 3.0), st.floats(-3.0, -1e-6))


@lru_cache(maxsize=None)
def matrices(rows, cols):
    """Float64 matrices (rows, cols) with entries 0 or +-[1e-6, 3]."""
    return hnp.arrays(np.float64, (rows, cols), elements=_ENTRY)

RTOL = 1e-9
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Tiny matrices: one BLAS thread (a thread pool busy-waiting on a loaded 2-core machine is ~100x slower)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def rrr_loss(a, b, r):
    """min over rank <= r of ||W A - B||_F^2, by generalized eigenvalues (reduced-rank regression)."""
    s = a @ a.T
    m = a @ b.T @ b @ a.T
    lam = scipy.linalg.eigh((m + m.T) / 2, (s + s.T) / 2, eigvals_only=True)
    return float(np.sum(b**2) - np.sort(lam)[::-1][:r].sum())


@st.composite
def problems(draw, kind="any", max_dim=12):
    """(rep, X (d0, n), Y (dL, n), r): X = [3 I, M] (so X X^T >= 9 I), M and Y drawn entry by entry, 1 <= r < dL."""
    rep = draw(representations(kind))
    assume(rep.dim <= max_dim)
    d0 = rep.dim
    extra = draw(st.integers(0, 3))
    x = np.concatenate([3.0 * np.eye(d0), draw(matrices(d0, extra))], axis=1) if extra else 3.0 * np.eye(d0)
    dl_ = draw(st.integers(2, 5))
    y = draw(matrices(dl_, x.shape[1]))
    r = draw(st.integers(1, dl_ - 1))
    return rep, x, y, r


def padded(rep, m):
    """rho(g) (+) I_m: the same group with m more fixed coordinates (any kind of representation)."""
    d = rep.dim
    mats = np.zeros((rep.order, d + m, d + m))
    mats[:, :d, :d] = rep.matrices
    mats[:, d:, d:] = np.eye(m)
    return groups.from_matrices(f"{rep.name}+{m}", mats)


def scale(y):
    return float(np.sum(y**2) / y.shape[1]) + 1e-300


# ---------------------------------------------------------------- Prop. 4, Remark 5

IMAGE = [groups.rotations(2), groups.rotations(3), groups.translations(3), groups.square_symmetries(2),
         groups.square_symmetries(3), groups.flips(2), groups.flips(3)]


@pytest.mark.parametrize("rep", IMAGE + [groups.cyclic_shift(6), groups.dihedral(5), groups.symmetric(4)],
                         ids=lambda r: r.name)
def test_generators_of_the_suite_groups(rep):
    """generators() generate G; cyclic groups (R4, T3, F2, C6) get one generator of order |G|, D4, D5, S4 two."""
    gens = duan.generators(rep)
    assert duan.generated_subgroup(rep, gens) == frozenset(range(rep.order))
    cyclic = rep.name.startswith(("R4", "T3", "F2", "C"))
    assert (len(gens) == 1) == cyclic
    assert len(gens) <= 2
    if cyclic:
        assert duan.element_orders(rep)[gens[0]] == rep.order


@given(representations())
def test_element_orders_and_constraint(rep):
    """rho(g)^k = I first at k = order(g); W G = 0 over the generators iff W is invariant: the left null space of
    G equals Fix(rho^T), computed from all of G by linear_flow.invariant_projector."""
    orders = duan.element_orders(rep)
    for g, k in enumerate(orders):
        powers = [np.linalg.matrix_power(rep.matrices[g], j) for j in range(1, k + 1)]
        assert np.allclose(powers[-1], np.eye(rep.dim), atol=1e-8)
        assert not any(np.allclose(p, np.eye(rep.dim), atol=1e-8) for p in powers[:-1])
    p = duan.left_null_projector(duan.constraint_matrix(rep))
    assert np.allclose(p, invariant_projector(rep), atol=1e-8)


def test_single_non_generator_is_not_enough():
    """S3 on R^3: W (I - rho(t)) = 0 for a transposition t leaves W not S3-invariant (t generates only {e, t})."""
    rep = groups.symmetric(3)
    t = next(g for g in range(rep.order) if duan.element_orders(rep)[g] == 2)
    assert len(duan.generated_subgroup(rep, [t])) == 2
    w = np.random.default_rng(0).standard_normal((1, 3)) @ duan.left_null_projector(duan.constraint_matrix(rep, [t]))
    assert np.allclose(w @ (np.eye(3) - rep.matrices[t]), 0, atol=1e-12)
    assert invariance_defect(w, rep) > 0.1


# ---------------------------------------------------------------- Thm. 6, Prop. 8, Prop. 11: the optima

@given(problems())
def test_constrained_optimum_is_reduced_rank_regression_on_invariant_coordinates(case):
    """Thm. 6 (and beyond: any r, also r >= rank Z^inv): W^inv is feasible and attains the RRR optimum over
    invariant maps W = M N^T."""
    rep, x, y, r = case
    g = duan.constraint_matrix(rep)
    w = duan.constrained_optimum(x, y, g, r)
    assert np.linalg.norm(w @ g) <= 1e-9 * (np.linalg.norm(w) * np.linalg.norm(g) + 1e-300)
    assert np.linalg.matrix_rank(w, tol=1e-9 * (np.linalg.norm(w) + 1e-300)) <= r
    basis = dl.invariant_basis(rep)
    oracle = rrr_loss(basis.T @ x, y, r) / x.shape[1]
    assert duan.mse(w, x, y) == pytest.approx(oracle, rel=RTOL, abs=RTOL * scale(y))


@given(problems(), st.floats(1e-3, 1e3))
def test_regularized_optimum_is_reduced_rank_regression_on_penalty_data(case, lam):
    """Prop. 8: lambda ||W G||^2 = 1/n ||W sqrt(n lambda) G||^2, so Eq. 7 is RRR on [X, sqrt(n lambda) G], targets
    [Y, 0]; W^reg(lambda) attains it."""
    rep, x, y, r = case
    g = duan.constraint_matrix(rep)
    n = x.shape[1]
    w = duan.regularized_optimum(x, y, g, lam, r)
    a = np.concatenate([x, np.sqrt(n * lam) * g], axis=1)
    b = np.concatenate([y, np.zeros((y.shape[0], g.shape[1]))], axis=1)
    assert duan.regularized_loss(w, x, y, g, lam) == pytest.approx(rrr_loss(a, b, r) / n, rel=RTOL,
                                                                   abs=RTOL * scale(y))


@given(problems())
def test_augmented_optimum_is_invariant_and_matches_constrained_for_any_representation(case):
    """Prop. 11: W^da attains the RRR optimum on the augmented data; beyond the paper, for every representation
    (unitary or not) it is invariant and has the constrained optimum's loss (Thm. 12)."""
    rep, x, y, r = case
    w = duan.augmented_optimum(x, y, rep, r)
    xa = np.concatenate([m @ x for m in rep.matrices], axis=1)
    ya = np.tile(y, (1, rep.order))
    assert duan.augmented_loss(w, x, y, rep) == pytest.approx(rrr_loss(xa, ya, r) / xa.shape[1], rel=RTOL,
                                                              abs=RTOL * scale(y))
    assert invariance_defect(w, rep) <= 1e-7
    w_inv = duan.constrained_optimum(x, y, duan.constraint_matrix(rep), r)
    assert duan.mse(w, x, y) == pytest.approx(duan.mse(w_inv, x, y), rel=1e-8, abs=RTOL * scale(y))


@given(problems())
def test_paper_proof_step_eq34_holds_iff_orthogonal(case):
    """Eq. 34 of the proof of Prop. 11, Q^{-1} rho(h) = rho(h) Q^{-1} for all h, holds iff rho is orthogonal
    (rho Q^2 rho^T = Q^2 always; commuting as well forces rho^T = rho^{-1}), while Prop. 11's conclusion holds
    for every representation (previous test)."""
    rep, x, _, _ = case
    _, q_inv = duan.augmentation_root(x, rep)
    commutes = all(np.linalg.norm(q_inv @ m - m @ q_inv) <= 1e-8 * np.linalg.norm(q_inv) * np.linalg.norm(m)
                   for m in rep.matrices)
    assert commutes == groups.is_orthogonal(rep, atol=1e-6)


@pytest.mark.parametrize("kind", ["permutation", "orthogonal"])
def test_eq42_holds_for_unitary(kind):
    rng = np.random.default_rng(3)
    rep = groups.rotations(3) if kind == "permutation" else groups.random_orthogonal(groups.rotations(3), rng)
    x = rng.standard_normal((9, 12))
    _, q_inv = duan.augmentation_root(x, rep)
    _, p_inv = duan.data_root(x)
    lhs = rep.order * rep.matrices.mean(axis=0) @ q_inv @ q_inv
    rhs = p_inv @ duan.left_null_projector(p_inv @ duan.constraint_matrix(rep)) @ p_inv
    assert np.allclose(lhs, rhs, atol=1e-10)
    nonorth = groups.random_invertible(groups.rotations(3), rng)
    _, q_inv = duan.augmentation_root(x, nonorth)
    assert not all(np.allclose(q_inv @ m, m @ q_inv, atol=1e-6) for m in nonorth.matrices)


@given(problems())
def test_unconstrained_end_of_the_path(case):
    """lambda = 0: W^reg(0) and [Z]_r P^{-1} both attain the plain RRR optimum, and are equal when sigma_r(Z) >
    sigma_{r+1}(Z) (with a tie the truncation is not unique; hypothesis found Y = (e4, e2)^T, sigma = (1/3, 1/3))."""
    rep, x, y, r = case
    g = duan.constraint_matrix(rep)
    w0, w_reg = duan.unconstrained_optimum(x, y, r), duan.regularized_optimum(x, y, g, 0.0, r)
    oracle = rrr_loss(x, y, r) / x.shape[1]
    for w in (w0, w_reg):
        assert duan.mse(w, x, y) == pytest.approx(oracle, rel=RTOL, abs=RTOL * scale(y))
    s = np.linalg.svd(duan.least_squares_target(x, y)[0], compute_uv=False)
    if len(s) <= r or s[r - 1] - s[r] > 1e-6 * s[0]:
        assert np.allclose(w_reg, w0, atol=1e-10 * (np.abs(w0).max() + 1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trained_networks_reach_the_closed_forms(seed):
    """The L-BFGS deep linear networks of duan_solvers and plain gradient descent on a two-layer factorization both
    reach W^inv (hard-wired), W^reg and W^da on a random instance."""
    rng = np.random.default_rng(seed)
    rep = groups.random_orthogonal(groups.rotations(3), rng) if seed else groups.translations(3)
    x, y, r = rng.standard_normal((9, 11)), rng.standard_normal((3, 11)), 2
    g = duan.constraint_matrix(rep)
    basis = dl.invariant_basis(rep)
    cases = [(duan.constrained_optimum(x, y, g, r), dl.constrained_problem(x, y, basis), basis),
             (duan.regularized_optimum(x, y, g, 0.3, r), dl.regularized_problem(x, y, g, 0.3), None),
             (duan.augmented_optimum(x, y, rep, r), dl.augmented_problem(x, y, rep), None)]
    for closed, problem, basis_ in cases:
        to_w = (lambda e, b=basis_: e @ b.T) if basis_ is not None else (lambda e: e)
        m = problem.c.shape[1]
        fit = ds.fit_deep_linear(problem, (m, r, r + 1, 3), rng, inits=3)
        assert np.linalg.norm(to_w(fit.e) - closed) <= 1e-5 * np.linalg.norm(closed)
        # gradient descent on E = A B^T with step 1 / (4 lambda_max(H) ||E*||)
        e_closed = closed @ basis_ if basis_ is not None else closed
        a, b = 0.1 * rng.standard_normal((3, r)), 0.1 * rng.standard_normal((m, r))
        step = 0.25 / (np.linalg.norm(problem.h, 2) * max(np.linalg.norm(e_closed, 2), 1e-3))
        for _ in range(5_000):
            grad = problem.grad(a @ b.T)
            a, b = a - step * grad @ b, b - step * grad.T @ a
        assert problem.value(a @ b.T) == pytest.approx(problem.value(e_closed), rel=1e-7)


def test_layer_gradients_of_the_solver_are_exact():
    """Central differences of L(W_L ... W_1) match the gradients fit_deep_linear descends along."""
    rng = np.random.default_rng(5)
    problem = dl.regularized_problem(rng.standard_normal((4, 6)), rng.standard_normal((3, 6)),
                                     duan.constraint_matrix(groups.cyclic_shift(4)), 0.7)
    widths = (4, 2, 3, 3)
    shapes = ds._shapes(widths)
    z = rng.standard_normal(sum(a * b for a, b in shapes))
    captured = {}

    def spy(fun, z0, jac, method, options):
        captured["fun"] = fun
        raise StopIteration

    orig = ds.minimize
    ds.minimize = spy
    try:
        with pytest.raises(StopIteration):
            ds.fit_deep_linear(problem, widths, rng, inits=1)
    finally:
        ds.minimize = orig
    _, grad = captured["fun"](z)
    h = 1e-6
    for i in rng.choice(len(z), 8, replace=False):
        e = np.zeros_like(z)
        e[i] = h
        fd = (captured["fun"](z + e)[0] - captured["fun"](z - e)[0]) / (2 * h)
        assert fd == pytest.approx(grad[i], rel=1e-6, abs=1e-8)


# ---------------------------------------------------------------- Thm. 9

def test_minimal_discontinuity_exact_numbers():
    """The smallest counterexample to Thm. 9's continuity: every assumption holds, the path jumps at lambda = 1/4."""
    inst = dp.minimal_discontinuity()
    x, y, g = inst.x, inst.y, inst.g
    for lam in (0.0, 0.1, 0.25, 1.0, 1e6):  # Z(lambda)^reg: singular values sqrt(2 + 8 beta^2) and 2, full rank 2
        beta2 = 1.0 / (1.0 + 12.0 * lam)
        expected = sorted([np.sqrt(2 + 8 * beta2), 2.0], reverse=True)
        assert np.allclose(np.linalg.svd(inst.path.target(lam), compute_uv=False), expected, atol=1e-12)
    assert np.linalg.matrix_rank(duan.constrained_target(x, y, g)[0]) == 2  # > r = 1
    for lam in (0.0, 0.2, 0.249999):
        beta2 = 1.0 / (1.0 + 12.0 * lam)
        assert np.allclose(inst.w(lam), [[1 + 2 * beta2, 1 - 2 * beta2, 0], [0, 0, 0]], atol=1e-12)
    for lam in (0.250001, 0.3, 10.0):
        assert np.allclose(inst.w(lam), [[0, 0, 0], [0, 0, 2]], atol=1e-12)
    assert np.allclose(duan.constrained_optimum(x, y, g, 1), [[0, 0, 0], [0, 0, 2]], atol=1e-12)
    left, right = np.array([[1.5, 0.5, 0], [0, 0, 0]]), np.array([[0, 0, 0], [0, 0, 2.0]])
    assert duan.regularized_loss(left, x, y, g, 0.25) == pytest.approx(duan.regularized_loss(right, x, y, g, 0.25))
    a, b, jump = dp.largest_jump(inst, 1e-3, 1e3)
    assert a <= 0.25 <= b and b - a < 1e-12
    assert jump == pytest.approx(np.sqrt(6.5) / 2, rel=1e-9)
    # the trained regularized network agrees on both sides
    rng = np.random.default_rng(0)
    for lam, expected in ((0.2, inst.w(0.2)), (0.3, right)):
        fit = ds.fit_deep_linear(dl.regularized_problem(x, y, g, lam), (3, 1, 2), rng, inits=4)
        assert np.allclose(fit.e, expected, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_crossing_instance_jumps_where_constructed(seed):
    rng = np.random.default_rng(seed)
    rep = [groups.rotations(3), groups.flips(3), groups.random_invertible(groups.translations(3), rng),
           groups.random_orthogonal(groups.square_symmetries(3), rng)][seed]
    inst = dp.crossing_instance(rep, 1 + seed % 2, rng)
    a, b, jump = dp.largest_jump(inst, inst.crossing / 100, inst.crossing * 100)
    assert a <= inst.crossing * (1 + 1e-9) and b >= inst.crossing * (1 - 1e-9)
    assert jump > 0.1
    for side in (a, b):  # both sides are optimal: RRR with penalty data
        n = inst.x.shape[1]
        aa = np.concatenate([inst.x, np.sqrt(n * side) * inst.g], axis=1)
        bb = np.concatenate([inst.y, np.zeros((inst.y.shape[0], inst.g.shape[1]))], axis=1)
        assert duan.regularized_loss(inst.w(side), inst.x, inst.y, inst.g, side) == pytest.approx(
            rrr_loss(aa, bb, inst.r) / n, rel=1e-9)


@st.composite
def generic_problems(draw, max_dim=10):
    """(rep (+) I_m, X = [3 I, M], Y = drawn + 0.1 generic offset, r) with 1 <= r < min(d, dL): d >= 2, and the
    offset (a seeded Gaussian) makes singular values distinct while hypothesis still draws and shrinks M and Y."""
    rep = padded(draw(representations()), draw(st.integers(1, 2)))
    assume(rep.dim <= max_dim)
    d0, dl_ = rep.dim, draw(st.integers(2, 5))
    x = np.concatenate([3.0 * np.eye(d0), draw(matrices(d0, 2))], axis=1)
    offset = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((dl_, d0 + 2))
    y = draw(matrices(dl_, d0 + 2)) + 0.1 * offset
    k = min(dl.invariant_basis(rep).shape[1], dl_)
    return rep, x, y, draw(st.integers(1, k - 1))


@given(generic_problems())
def test_path_converges_like_one_over_lambda(case):
    """Thm. 9's limit with its rate, ||W^reg(lambda) - W^inv|| ~ c / lambda; ||W^reg(lambda) - [Z]_r P^{-1}|| ~ c lambda
    (when sigma_r > sigma_{r+1} for Z^inv and for Z, so both limits are unique)."""
    rep, x, y, r = case
    g = duan.constraint_matrix(rep)
    s_inv = np.linalg.svd(duan.constrained_target(x, y, g)[0], compute_uv=False)
    s = np.linalg.svd(duan.least_squares_target(x, y)[0], compute_uv=False)
    assume(s_inv[r - 1] - s_inv[r] > 1e-3 * s_inv[0] and s[r - 1] - s[r] > 1e-3 * s[0])
    rates = dp.limit_rates(dp.PathInstance(rep, x, y, g, r), decades=3)
    assume(rates["dist_inf"] > 1e-12 and rates["dist_zero"] > 1e-12)  # else the path sits on its limits exactly
    assert rates["slope_inf"] == pytest.approx(-1.0, abs=0.05)
    assert rates["slope_zero"] == pytest.approx(1.0, abs=0.05)


# ---------------------------------------------------------------- Prop. 13

@given(representations(), st.integers(1, 2), st.integers(2, 5), st.integers(0, 2**32 - 1), st.floats(1e-2, 10.0),
       st.data())
def test_listed_critical_points_are_critical_with_the_predicted_index(rep, m, dl_, seed, lam, data):
    """Every listed point of the three problems has zero Riemannian gradient of the raw loss, and its Hessian index
    is #{(i, j): i in I, j not in I, sigma_j > sigma_i}; hard-wiring and augmentation list the same points.
    The group gets m extra fixed coordinates (d >= 2); the targets are drawn plus a small generic offset, so that
    the singular values are distinct (Prop. 13's assumption)."""
    rep = padded(rep, m)
    assume(rep.dim <= 10)
    d0 = rep.dim
    x = np.concatenate([3.0 * np.eye(d0), data.draw(matrices(d0, 2))], axis=1)
    y = data.draw(matrices(dl_, d0 + 2)) + 0.1 * np.random.default_rng(seed).standard_normal((dl_, d0 + 2))
    g = duan.constraint_matrix(rep)
    basis = dl.invariant_basis(rep)
    k = min(basis.shape[1], dl_)
    r = data.draw(st.integers(1, k - 1))
    s = np.linalg.svd(duan.constrained_target(x, y, g)[0], compute_uv=False)
    assume(np.all(-np.diff(s[: k + 1]) > 1e-6 * s[0]))  # distinct, nonzero: Prop. 13's assumption
    cons = dl.constrained_critical_points(x, y, g, r)
    da = dl.augmented_critical_points(x, y, rep, r)
    assert len(cons) == len(da) == comb(k, r)
    problem = dl.constrained_problem(x, y, basis)
    for (idx, w), (idx_da, w_da) in zip(cons, da, strict=True):
        assert idx == idx_da and np.allclose(w, w_da, atol=1e-8 * np.abs(w).max())
        e = w @ basis
        assert dl.riemannian_gradient_norm(problem, e, r) <= 1e-9
        ev = dl.hessian_eigenvalues(problem, e, r)
        assert int((ev < -1e-9 * np.abs(ev).max()).sum()) == dl.predicted_index(s[:k], idx)
    reg = dl.regularized_critical_points(x, y, g, lam, r)
    assert len(reg) == comb(min(d0, dl_), r)
    reg_problem = dl.regularized_problem(x, y, g, lam)
    for _, w in reg:
        assert dl.riemannian_gradient_norm(reg_problem, w, r) <= 1e-9


def test_hessian_matches_second_differences_along_retractions():
    """The Riemannian Hessian formula against second differences of L(R(E + t xi)), R the rank-r truncation
    (a second-order retraction), at every critical point of a small hard-wired problem."""
    rng = np.random.default_rng(2)
    rep = groups.rotations(3)
    x, y, r = rng.standard_normal((9, 12)), rng.standard_normal((3, 12)), 1
    g = duan.constraint_matrix(rep)
    basis = dl.invariant_basis(rep)
    problem = dl.constrained_problem(x, y, basis)
    for _, w in dl.constrained_critical_points(x, y, g, r):
        e = w @ basis
        basis_t = dl._tangent_basis(e, r)
        lam, vecs = dl._hessian_eig(problem, e, r, basis_t)
        for j in range(len(lam)):
            xi = np.einsum("a,aij->ij", vecs[:, j], basis_t)
            t = 1e-4 * np.linalg.norm(e)
            f = [problem.value(duan.truncate(e + s * t * xi, r)) for s in (-1, 0, 1)]
            second = (f[0] - 2 * f[1] + f[2]) / t**2
            assert second == pytest.approx(lam[j], abs=1e-5 * np.abs(lam).max())


def test_search_finds_only_listed_critical_points():
    """Levenberg–Marquardt from random starts (no closed form) finds saddles and minima, all on the list."""
    rng = np.random.default_rng(4)
    rep = groups.flips(3)
    x, y, r = rng.standard_normal((9, 11)), rng.standard_normal((5, 11)), 2
    g = duan.constraint_matrix(rep)
    problem = dl.augmented_problem(x, y, rep)
    listed = [w for _, w in dl.augmented_critical_points(x, y, rep, r)]
    found, _ = dl.find_critical_points(problem, r, rng, starts=12)
    assert len(found) >= 6
    matched = [min(range(len(listed)), key=lambda j: np.linalg.norm(f - listed[j])) for f in found]
    for f, j in zip(found, matched, strict=True):
        assert np.linalg.norm(f - listed[j]) <= 1e-6 * np.linalg.norm(listed[j])
    assert len(set(matched)) >= 2  # not only the global minimum
    assert np.allclose(listed[0], duan.augmented_optimum(x, y, rep, r)) and invariance_defect(listed[0], rep) < 1e-9
    assert len(listed) == comb(5, 2) and g.shape[0] == 9


# ---------------------------------------------------------------- relation to the seed paper's LI flow

@pytest.mark.parametrize("kind", ["permutation", "orthogonal", "nonorthogonal"])
def test_li_flow_limit_versus_w_inv(kind):
    """LI flow from W_LS -> W_LS Pi; W^inv (r >= d) = W_LS Pi_S; they agree for data closed under an orthogonal G,
    not for generic data, and not for data closed under a non-orthogonal G."""
    rng = np.random.default_rng(7)
    base = groups.rotations(3)
    rep = {"permutation": base, "orthogonal": groups.random_orthogonal(base, rng),
           "nonorthogonal": groups.random_invertible(base, rng)}[kind]
    basis = dl.invariant_basis(rep)
    g = duan.constraint_matrix(rep)
    for closed in (False, True):
        x0 = rng.standard_normal((9, 4 if closed else 13))
        x = np.concatenate([m @ x0 for m in rep.matrices], axis=1) if closed else x0
        y = rng.standard_normal((2, x.shape[1]))
        w_ls = duan.least_squares(x, y)
        pi, pi_s = basis @ basis.T, duan.data_metric_projector(x, basis)
        w_inv = duan.constrained_optimum(x, y, g, basis.shape[1])
        assert np.allclose(w_inv, w_ls @ pi_s, atol=1e-10)
        sigma = sigma_orbit(x.T, rep)
        ev = np.linalg.eigvalsh(sigma)
        late = flow_closed_form(w_ls, sigma, 80.0 / ev[ev > 1e-9 * ev.max()].min())
        assert np.allclose(late, w_ls @ pi, atol=1e-9)
        coincide = np.allclose(w_ls @ pi, w_inv, atol=1e-8)
        assert coincide == np.allclose(pi_s, pi, atol=1e-8) == (closed and kind != "nonorthogonal")


def test_li_flow_versus_w_inv_exact_example():
    """C2 swapping x1, x2, X = diag(1, 2), Y = (1, 0): W_LS = (1, 0); the LI flow lands on W_LS Pi = (1/2, 1/2)
    (MSE 1.25 / 2), W^inv = W_LS Pi_S = (1/5, 1/5) (MSE 0.8 / 2, the best invariant fit)."""
    rep = groups.cyclic_shift(2)
    x, y = np.diag([1.0, 2.0]), np.array([[1.0, 0.0]])
    w_ls = duan.least_squares(x, y)
    assert np.allclose(w_ls, [[1.0, 0.0]])
    sigma = sigma_orbit(x.T, rep)
    assert np.allclose(flow_closed_form(w_ls, sigma, 100.0), [[0.5, 0.5]], atol=1e-12)
    w_inv = duan.constrained_optimum(x, y, duan.constraint_matrix(rep), 1)
    assert np.allclose(w_inv, [[0.2, 0.2]], atol=1e-12)
    assert np.allclose(duan.data_metric_projector(x, dl.invariant_basis(rep)), [[0.2, 0.2], [0.8, 0.8]])
    assert duan.mse(np.array([[0.5, 0.5]]), x, y) == pytest.approx(1.25 / 2)
    assert duan.mse(w_inv, x, y) == pytest.approx(0.8 / 2)


def test_theory_duan_modules_import_no_torch_no_empirical_no_claims():
    """theory.duan* are numpy/scipy only, import nothing from empirical, and theory.duan_claims does not import
    theory.claims (the import runs claim <- duan_claims <- claims)."""
    code = ("import sys, theory.duan_claims, theory.duan_path, theory.duan_solvers; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'empirical') or m == 'theory.claims']; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
