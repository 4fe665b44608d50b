"""The linear invariance flow (Sec. 3.3): Sigma's scaling, three solvers, Prop. 3.1, the limit and the GD boundary."""

from functools import lru_cache

import numpy as np
import pytest
import scipy.linalg
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.strategies import matrices, representations, vectors
from theory import groups
from theory import linear_flow as lf

RTOL = 1e-9
# Strategies are built once per shape: rebuilding (and re-validating) them on every draw dominated the run time.
matrices = lru_cache(maxsize=None)(matrices)
vectors = lru_cache(maxsize=None)(vectors)


@st.composite
def flows(draw, kind="any", spanning=False, max_n=3, max_k=3):
    """(rep, data x (n, d), W(0) (k, d)); spanning=True gives x = M + (d+1) I, invertible by diagonal dominance."""
    rep = draw(representations(kind))
    d = rep.dim
    if spanning:
        x = draw(matrices(d, d, scale=1.0)) + (d + 1) * np.eye(d)
    else:
        x = draw(vectors(d, draw(st.integers(1, max_n))))
    w0 = draw(matrices(draw(st.integers(1, max_k)), d))
    return rep, x, w0


@st.composite
def sigmas(draw, kind="any"):
    """(rep, x, W(0), Sigma, which): Sigma for one pair x - gx (proof of Prop. 3.1) or summed over the orbit (Eq. 2)."""
    rep, x, w0 = draw(flows(kind))
    if draw(st.booleans()):
        g = draw(st.integers(1, rep.order - 1))
        return rep, x[:1], w0, lf.sigma_pair(x[0] - rep.act(g, x[0])), "pair"
    return rep, x, w0, lf.sigma_orbit(x, rep), "orbit"


def li_from_orbit(w, x, rep):
    """Eq. 2 computed literally: sum_x sum_g 1/2 ||W x - W g x||^2."""
    gx = groups.orbit(rep, x)  # (|G|, n, d)
    return 0.5 * float(np.sum((x @ w.T - gx @ w.T) ** 2))


def lam_max(sigma):
    return float(np.linalg.eigvalsh(sigma).max())


# ---------------------------------------------------------------- Sigma and its scaling

@given(flows(), st.integers(0, 2**32 - 1))
def test_grad_of_eq2_is_w_sigma(case, seed):
    """Sigma is symmetric PSD, LI(W) = 1/2 tr(W Sigma W^T) equals Eq. 2, and central differences of Eq. 2 (exact for
    a quadratic up to round-off) along random directions equal <W Sigma, V>."""
    rep, x, w = case
    sigma = lf.sigma_orbit(x, rep)
    np.testing.assert_allclose(sigma, sigma.T, rtol=0, atol=1e-12 * (1 + np.abs(sigma).max()))
    assert np.linalg.eigvalsh(sigma).min() >= -1e-10 * (1 + np.abs(sigma).max())  # PSD
    li = li_from_orbit(w, x, rep)
    np.testing.assert_allclose(lf.logit_invariance(w, sigma), li, rtol=1e-10, atol=1e-10)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        v = rng.standard_normal(w.shape)
        h = 1e-3
        fd = (li_from_orbit(w + h * v, x, rep) - li_from_orbit(w - h * v, x, rep)) / (2 * h)
        scale = 1e-9 * (1 + abs(li) / h + np.abs(w @ sigma).sum() * np.abs(v).sum())
        assert abs(fd - np.sum((w @ sigma) * v)) <= scale


def test_grad_of_eq2_full_finite_difference():
    """Every entry of the gradient of Eq. 2 by central differences on a fixed small instance (C3, 2 points)."""
    rng = np.random.default_rng(0)
    rep = groups.cyclic_shift(3)
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    h, fd = 1e-4, np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = h
        fd[idx] = (li_from_orbit(w + e, x, rep) - li_from_orbit(w - e, x, rep)) / (2 * h)
    np.testing.assert_allclose(fd, w @ lf.sigma_orbit(x, rep), rtol=1e-7)


@given(representations())
def test_sigma_orbit_of_c2_is_sigma_pair(rep):
    """For a two-element group and one point, the orbit sum is the single pair of the proof: Sigma = eps eps^T."""
    rep2 = groups.cyclic_shift(2)
    x = np.array([1.5, -0.25])
    np.testing.assert_allclose(lf.sigma_orbit(x, rep2), lf.sigma_pair(x - rep2.act(1, x)), rtol=1e-15)
    # the general orbit sum is the sum of the pairs over g
    y = np.linspace(-1, 1, rep.dim)
    pairs = sum(lf.sigma_pair(y - rep.act(g, y)) for g in range(rep.order))
    np.testing.assert_allclose(lf.sigma_orbit(y, rep), pairs, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- three solvers

@given(sigmas(), st.floats(0.0, 5.0))
def test_closed_form_equals_scipy_expm(case, tau):
    rep, x, w0, sigma, _ = case
    t = tau / max(lam_max(sigma), 1e-12)
    expected = w0 @ scipy.linalg.expm(-sigma * t)
    np.testing.assert_allclose(lf.flow_closed_form(w0, sigma, t), expected, rtol=1e-8,
                               atol=1e-10 * (1 + np.abs(w0).max()))


@given(sigmas(), st.floats(0.01, 3.0))
def test_closed_form_equals_solve_ivp(case, tau):
    rep, x, w0, sigma, _ = case
    lam = lam_max(sigma)
    assume(lam > 1e-6)
    ts = np.linspace(0.0, tau / lam, 5)
    np.testing.assert_allclose(lf.flow_ode(w0, sigma, ts), lf.flow_closed_form(w0, sigma, ts), rtol=1e-7,
                               atol=1e-8 * (1 + np.abs(w0).max()))


@given(sigmas())
def test_gradient_descent_converges_to_flow_at_first_order(case):
    """||W_GD(T) - W(T)|| ~ C alpha^p with p = 1: the Euler discretization of Eq. 5."""
    rep, x, w0, sigma, _ = case
    lam = lam_max(sigma)
    assume(lam > 1e-6 and np.linalg.norm(w0 @ sigma) > 1e-6 * lam * np.linalg.norm(w0))
    slope, alphas, errors = lf.gd_error_order(w0, sigma, 1.0 / lam, np.array([100, 200, 400, 800, 1600]))
    assert abs(slope - 1.0) <= 0.05, (slope, errors)
    assert (np.diff(errors) < 0).all()


def test_gd_error_order_measured_value():
    """The measured order on a fixed instance (D4, 5 points): recorded from the run that wrote the report."""
    rng = np.random.default_rng(0)
    rep = groups.dihedral(4)
    x, w0 = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    sigma = lf.sigma_orbit(x, rep)
    slope, _, errors = lf.gd_error_order(w0, sigma, 1.0 / lam_max(sigma), np.array([100, 200, 400, 800, 1600]))
    assert slope == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(errors[:-1] / errors[1:], 2.0, rtol=0.02)  # halving alpha halves the error


def test_gd_error_order_rejects_bad_input():
    with pytest.raises(ValueError, match="two step counts"):
        lf.gd_error_order(np.eye(2), np.eye(2), 1.0, np.array([10]))
    with pytest.raises(ValueError, match="does not move"):
        lf.gd_error_order(np.zeros((1, 2)), np.eye(2), 1.0, np.array([10, 20]))
    with pytest.raises(ValueError, match="exactly zero"):  # W(0) in ker Sigma: GD and flow agree exactly
        lf.gd_error_order(np.array([[0.0, 1.0]]), np.diag([1.0, 0.0]), 1.0, np.array([10, 20]))


# ---------------------------------------------------------------- Proposition 3.1

def _time_grid(sigma):
    lam = np.linalg.eigvalsh(sigma)
    lam = lam[lam > max(1e-12 * lam.max(), 1e-280)]  # subnormal eigenvalues: 10 / lambda would overflow
    if lam.size == 0:
        return np.linspace(0, 1, 5)
    return np.concatenate([[0.0], np.geomspace(1e-3 / lam.max(), 10.0 / lam.min(), 40)])


@given(sigmas(), st.floats(0.0, 1e3), st.floats(0.0, 10.0))
def test_prop31_bound_monotone_semigroup(case, a, b):
    """Prop. 3.1 for the pair and the orbit Sigma, every kind of representation: sigma_max(W(t)) <= sigma_max(W(0))
    at any t; non-increasing on a log grid 1e-3/lambda_max .. 10/lambda_min; and the semigroup identity behind it,
    W(t + s) = W(t) expm(-Sigma s) with ||expm(-Sigma s)||_2 <= 1."""
    rep, x, w0, sigma, _ = case
    lam = max(lam_max(sigma), 1e-12)
    t, s = a / lam, b / lam
    s0 = lf.spectral_norm(w0)
    assert lf.spectral_norm(lf.flow_closed_form(w0, sigma, t)) <= s0 * (1 + RTOL) + 1e-300
    norms = np.array([lf.spectral_norm(w) for w in lf.flow_closed_form(w0, sigma, _time_grid(sigma))])
    assert (np.diff(norms) <= RTOL * norms[0]).all()
    e_s = lf.flow_closed_form(np.eye(rep.dim), sigma, s)
    np.testing.assert_allclose(lf.flow_closed_form(w0, sigma, t + s), lf.flow_closed_form(w0, sigma, t) @ e_s,
                               rtol=1e-9, atol=1e-12 * (1 + np.abs(w0).max()))
    assert lf.spectral_norm(e_s) <= 1 + RTOL


@given(sigmas())
def test_li_monotone_with_rate(case):
    """LI(W(t)) non-increasing on the grid, and d/dt LI = -||W Sigma||_F^2 (central difference in t)."""
    rep, x, w0, sigma, _ = case
    ts = _time_grid(sigma)
    li = np.array([lf.logit_invariance(w, sigma) for w in lf.flow_closed_form(w0, sigma, ts)])
    lam = lam_max(sigma)
    # round-off of LI = 1/2 tr(W Sigma W^T) is relative to ||W||_F^2 lambda_max, not to LI (0 for invariant W(0))
    assert (np.diff(li) <= RTOL * (li[0] + np.sum(w0**2) * lam) + 1e-300).all()
    assume(lam > 1e-6)
    t, h = 0.3 / lam, 1e-4 / lam
    w_m, w_t, w_p = lf.flow_closed_form(w0, sigma, np.array([t - h, t, t + h]))
    fd = (lf.logit_invariance(w_p, sigma) - lf.logit_invariance(w_m, sigma)) / (2 * h)
    rate = lf.logit_invariance_rate(w_t, sigma)
    assert rate <= 0
    assert fd == pytest.approx(rate, rel=1e-5, abs=1e-9 * lam * (1 + np.sum(w0**2)) * (1 + lam))


# ---------------------------------------------------------------- the limit

@given(flows(kind="permutation", spanning=True) | flows(kind="orthogonal", spanning=True))
def test_limit_is_reynolds_for_orthogonal_rep(case):
    """Orthogonal rep, data spanning R^d: Pi = P_G, so W(inf) = W(0) P_G, the weight-tied model, genuinely invariant."""
    rep, x, w0 = case
    sigma = lf.sigma_orbit(x, rep)
    pi = lf.limit_projector(sigma)
    p_g = groups.reynolds(rep)
    np.testing.assert_allclose(pi, p_g, atol=1e-8)
    lam = np.linalg.eigvalsh(sigma)
    t_late = 60.0 / lam[lam > 1e-9 * lam.max()].min()
    late = lf.flow_closed_form(w0, sigma, t_late)
    np.testing.assert_allclose(late, w0 @ p_g, atol=1e-8 * (1 + np.abs(w0).max()))
    assert lf.invariance_defect(late, rep) <= 1e-8


@given(flows(kind="nonorthogonal", spanning=True))
def test_limit_for_nonorthogonal_rep(case):
    """Non-orthogonal rep, spanning data: Pi = orth. projector onto Fix(rho^T) (oracle: range of P_G^T), W(0) Pi is
    invariant and Frobenius-closest (oracle: least squares on a basis), Pi = P_G iff P_G is symmetric."""
    rep, x, w0 = case
    sigma = lf.sigma_orbit(x, rep)
    pi = lf.limit_projector(sigma)
    p_g = groups.reynolds(rep)
    # oracle for Fix(rho^T): the range of P_G^T (the Reynolds operator of the matrices rho(g)^T)
    u, s, _ = np.linalg.svd(p_g.T)
    basis = u[:, s > 1e-8 * s.max()]
    np.testing.assert_allclose(pi, basis @ basis.T, atol=1e-7)
    np.testing.assert_allclose(lf.invariant_projector(rep), pi, atol=1e-7)
    w_inf = w0 @ pi
    assert lf.invariance_defect(w_inf, rep) <= 1e-7 or np.linalg.norm(w_inf) <= 1e-12
    z = np.linalg.lstsq(basis, w0.T, rcond=None)[0]  # closest Z B^T to W(0) row by row
    np.testing.assert_allclose(w_inf, (basis @ z).T, atol=1e-8 * (1 + np.abs(w0).max()))
    assert np.linalg.norm(w0 - w_inf) <= np.linalg.norm(w0 - w0 @ p_g) * (1 + RTOL) + 1e-12
    assert lf.spectral_norm(w_inf) <= lf.spectral_norm(w0) * (1 + RTOL) + 1e-300
    assert np.allclose(pi, p_g, atol=1e-7) == np.allclose(p_g, p_g.T, atol=1e-7)


@given(representations("nonorthogonal"))
def test_weight_tied_can_exceed_the_bound(rep):
    """sup_W sigma_max(W P_G) / sigma_max(W) = ||P_G||_2, attained at W = u_1^T, and > 1 iff P_G is not symmetric:
    ||P_G||_2^2 = 1 + ||P_G - P_G^T||_2^2, as for every projector (in a suitable orthonormal basis P = [[I, X], [0, 0]],
    and both sides are 1 + ||X||_2^2)."""
    p_g = groups.reynolds(rep)
    u, s, _ = np.linalg.svd(p_g)
    w = u[:, :1].T
    assert lf.spectral_norm(w @ p_g) == pytest.approx(s[0], rel=1e-10)
    # The excess over 1 is second order in the asymmetry (hypothesis found ||P_G - P_G^T|| = 2.9e-5 with
    # ||P_G|| = 1 + 4.3e-10), so "> 1" and "not symmetric" cannot share one threshold; the identity is checked instead.
    # Round-off: P_G = mean rho(g) is idempotent up to ~eps max ||rho(g)||, and both sides carry ~eps ||P_G||^2.
    asym = np.linalg.norm(p_g - p_g.T, 2)
    rho_scale = np.linalg.norm(rep.matrices, 2, axis=(1, 2)).max()
    assert abs(s[0] ** 2 - 1 - asym**2) <= 1e-12 * s[0] ** 2 * rho_scale


def test_nonorthogonal_shear_counterexample():
    """C2 as rho(s) = [[1, 2], [0, -1]], data e1, e2, W(0) = [[1, 0]]: exact numbers.

    P_G = [[1, 1], [0, 0]], Fix(rho^T) = span (1, 1), Pi = [[.5, .5], [.5, .5]]; the flow lands on
    W(0) Pi = [[.5, .5]] (sigma_max 1/sqrt 2) while the weight-tied W(0) P_G = [[1, 1]] has sigma_max sqrt 2 > 1.
    """
    rep = groups.from_matrices("C2 shear", np.array([np.eye(2), [[1.0, 2.0], [0.0, -1.0]]]))
    sigma = lf.sigma_orbit(np.eye(2), rep)
    np.testing.assert_allclose(sigma, [[4.0, -4.0], [-4.0, 4.0]])
    w0 = np.array([[1.0, 0.0]])
    pi = lf.limit_projector(sigma)
    np.testing.assert_allclose(pi, 0.5 * np.ones((2, 2)), atol=1e-14)
    np.testing.assert_allclose(groups.reynolds(rep), [[1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(lf.flow_closed_form(w0, sigma, 10.0), [[0.5, 0.5]], atol=1e-14)
    assert lf.spectral_norm(w0 @ groups.reynolds(rep)) == pytest.approx(np.sqrt(2), rel=1e-14)
    assert lf.spectral_norm(w0 @ pi) == pytest.approx(1 / np.sqrt(2), rel=1e-14)
    assert lf.invariance_defect(w0 @ pi, rep) == 0.0


@given(flows(kind="any", max_n=2))
def test_limit_invariant_iff_rank(case):
    """ker Sigma always contains Fix(rho^T) (v^T (x - gx) = v^T x - (rho^T v)^T x = 0), and W(0) Pi is genuinely
    invariant for every W(0) iff rank Sigma = d - dim Fix(rho), i.e. iff ker Sigma = Fix(rho^T)."""
    rep, x, _ = case
    sigma = lf.sigma_orbit(x, rep)
    assert np.abs(sigma @ lf.invariant_projector(rep)).max() <= 1e-9 * (1 + np.abs(sigma).max())
    lam = np.linalg.eigvalsh(sigma)
    assume(lam.max() > 1e-6)
    # The rank must be unambiguous: every eigenvalue is round-off (eigvalsh: ~d eps lambda_max < 1e-12 lambda_max) or
    # clearly nonzero (>= 1e-6 lambda_max), and both cuts, limit_projector's (1e-10) and the count's (1e-9), fall in
    # that gap. In between, a float64 rank is a matter of threshold, not of the theory: hypothesis found x with entries
    # 3.6e-5 beside a 1, whose Sigma has eigenvalues 3.3e-10 and 8.8e-10 lambda_max (true rank d - dim Fix).
    assume(not np.any((lam > 1e-12 * lam.max()) & (lam < 1e-6 * lam.max())))
    nonzero = lam[lam > 1e-9 * lam.max()]
    pi = lf.limit_projector(sigma)
    dim_fix = groups.fixed_subspace(rep).shape[1]
    # W Pi rho(g) = W Pi for all W. With the gap above, Pi is off by <= ~d eps / 1e-6 < 1e-8 (Davis-Kahan), which
    # rho(g) magnifies by ||rho(g)||_2 (up to ~1e2 for the non-orthogonal representations): hence the relative 1e-7.
    defect = np.abs(pi @ rep.matrices - pi).max() / (1 + np.linalg.norm(rep.matrices, 2, axis=(1, 2)).max())
    assert (defect <= 1e-7) == (nonzero.size == rep.dim - dim_fix)


def test_limit_projector_is_scale_invariant():
    """ker (c Sigma) = ker Sigma for c > 0: a small Sigma keeps its rank (no absolute eigenvalue floor), and Sigma = 0
    leaves everything fixed."""
    eps = np.random.default_rng(0).standard_normal((3, 4))
    sigma = eps.T @ eps  # rank 3 in R^4
    pi = lf.limit_projector(sigma)
    assert np.trace(pi) == pytest.approx(1.0, rel=1e-12)
    for c in (1e-6, 1e-12, 1e-100):
        np.testing.assert_allclose(lf.limit_projector(c * sigma), pi, atol=1e-12)
    np.testing.assert_array_equal(lf.limit_projector(np.zeros((3, 3))), np.eye(3))


def test_one_image_is_not_enough_for_r4():
    """R4 on a 3x3 grid (dim Fix = 3) and one training image: x - gx span <= 3 < 6 dims, so W(inf) is not invariant."""
    rep = groups.rotations(3)
    x = np.random.default_rng(0).standard_normal((1, 9))  # a generic image (arange(9) is too symmetric: rank 2)
    sigma = lf.sigma_orbit(x, rep)
    assert np.linalg.matrix_rank(sigma) == 3 < rep.dim - groups.fixed_subspace(rep).shape[1] == 6
    w0 = np.eye(9)[:1]  # reads the top-left pixel
    w_inf = w0 @ lf.limit_projector(sigma)
    assert lf.invariance_defect(w_inf, rep) > 0.5
    # yet it is invariant on the training orbit
    np.testing.assert_allclose(groups.orbit(rep, x) @ w_inf.T, np.broadcast_to(x @ w_inf.T, (4, 1, 1)), atol=1e-12)


# ---------------------------------------------------------------- discrete gradient descent

@given(sigmas(), st.floats(0.0, 3.0), st.floats(0.0, 1.0), st.booleans())
def test_gd_within_2_over_lambda_is_monotone(case, v, u, at_boundary):
    """||I - alpha Sigma||_2 = max(1, |1 - alpha lambda_max|) for singular Sigma (oracle: numpy's matrix 2-norm), so
    0 < alpha <= 2/lambda_max keeps sigma_max(W_k) non-increasing at every step (the boundary included)."""
    rep, x, w0, sigma, _ = case
    lam = lam_max(sigma)
    assume(lam > 1e-6)
    any_alpha = v * 2.0 / lam
    assert lf.gd_contraction(sigma, any_alpha) == pytest.approx(
        np.linalg.norm(np.eye(rep.dim) - any_alpha * sigma, 2), rel=1e-9)
    assert lf.gd_contraction(sigma, any_alpha) == pytest.approx(max(1.0, abs(1 - any_alpha * lam)), rel=1e-9)
    alpha = (1.0 if at_boundary else u) * 2.0 / lam
    norms = np.array([lf.spectral_norm(w) for w in lf.gradient_descent(w0, sigma, alpha, 25)])
    assert (np.diff(norms) <= RTOL * norms[0] + 1e-300).all()


@given(sigmas(), st.floats(1.01, 3.0))
def test_gd_beyond_2_over_lambda_eventually_grows(case, u):
    """alpha > 2/lambda_max: the component along the top eigenvector grows like |1 - alpha lambda_max|^k."""
    rep, x, w0, sigma, _ = case
    lam, vecs = np.linalg.eigh(sigma)
    assume(lam[-1] > 1e-6)
    top = vecs[:, -1]  # W_k top = (1 - alpha lambda_max)^k W(0) top exactly, degenerate or not
    along = np.linalg.norm(w0 @ top)
    assume(along > 1e-3 * np.linalg.norm(w0))
    alpha = u * 2.0 / lam[-1]
    growth = abs(1 - alpha * lam[-1])
    steps = int(np.ceil(np.log(lf.spectral_norm(w0) / along) / np.log(growth))) + 2
    w_k = lf.gradient_descent(w0, sigma, alpha, steps)[-1]
    assert lf.spectral_norm(w_k) > lf.spectral_norm(w0)
    assert np.linalg.norm(w_k @ top) == pytest.approx(growth**steps * along, rel=1e-6)


def test_gd_beyond_boundary_exact_counterexample():
    """eps = (1, -1), lambda_max = 2, alpha = 1.5 > 2/2: W(0) = eps^T/sqrt2 -> W_1 = (1 - 3) W(0), ratio exactly 2."""
    eps = np.array([1.0, -1.0])
    sigma = lf.sigma_pair(eps)
    w0 = eps[None] / np.sqrt(2)
    ws = lf.gradient_descent(w0, sigma, 1.5, 3)
    np.testing.assert_allclose([lf.spectral_norm(w) for w in ws], [1.0, 2.0, 4.0, 8.0], rtol=1e-14)
    assert lf.gd_contraction(sigma, 1.5) == pytest.approx(2.0)
    assert lf.gd_contraction(sigma, 1.0) == pytest.approx(1.0)  # alpha = 2/lambda_max exactly: |1 - 2| = 1
