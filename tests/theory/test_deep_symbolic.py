"""Sympy closed forms of the deep linear flow (theory.deep_symbolic), each checked against solve_ivp."""

from functools import lru_cache

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given

from tests.strategies import vectors
from theory import deep_linear as dl
from theory import deep_symbolic as ds
from theory.deep_claims import minimal_counterexample
from theory.linear_flow import sigma_pair

vectors = lru_cache(maxsize=None)(vectors)


@pytest.fixture(scope="module")
def rank_one_p():
    return ds.derive_rank_one_two_layer()


# ---------------------------------------------------------------- balanced depth-L flow

@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_derived_closed_form_matches_the_general_formula(depth):
    """Separation of variables for concrete L gives sigma0 (1 + (2L-2) lam sigma0^((2L-2)/L) t)^(-L/(2L-2))."""
    derived = ds.derive_balanced_closed_form(depth)
    if depth == 1:
        assert sp.simplify(derived - ds.SIGMA0 * sp.exp(-ds.LAMBDA * ds.T)) == 0
        return
    general = ds.balanced_closed_form_general().subs(sp.Symbol("L", positive=True, integer=True), depth)
    assert sp.simplify(derived - general) == 0
    assert sp.simplify(derived.subs(ds.T, 0) - ds.SIGMA0) == 0


def test_general_closed_form_solves_the_ode():
    """For symbolic L: d sigma/dt + L lam sigma^(3 - 2/L) simplifies to 0."""
    assert ds.balanced_closed_form_residual() == 0


def test_rate_exponent_is_not_the_briefs():
    """The exponent is (3L - 2)/L: L = 1 gives 1 (Prop. 3.1's exponential), L = 2 gives 2, not (2L - 1)/L = 3/2."""
    assert ds.balanced_rate_exponent(1) == 1
    assert ds.balanced_rate_exponent(2) == 2
    assert ds.balanced_rate_exponent(2) != sp.Rational(3, 2)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_balanced_closed_form_matches_ode(depth):
    """Balanced init whose right singular vectors are eigenvectors of Sigma: the closed-form singular values
    equal those of flow_ode (rtol 1e-12) to 1e-9 relative, over four decades of time."""
    rng = np.random.default_rng(depth)
    d, width = 3, 4
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lambdas = np.array([2.0, 0.5, 0.0])
    sigma = (q * lambdas) @ q.T
    s0 = np.array([1.7, 0.9, 0.4])
    u, _ = np.linalg.qr(rng.standard_normal((2 + d, d)))
    w_end = (u * s0) @ q.T  # right singular vectors = eigenvectors of Sigma
    layers = dl.balanced_factorization(w_end, (d, *([width] * (depth - 1)), 2 + d), rng)
    ts = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 9)])
    traj = dl.flow_ode(layers, sigma, ts, rtol=1e-12)
    got = np.linalg.svd(dl.end_to_end(traj), compute_uv=False)
    want = -np.sort(-ds.balanced_singular_values(s0, lambdas, depth, ts), axis=1)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- rank-one two-layer flow (any init)

def test_rank_one_two_layer_derivation(rank_one_p):
    """sympy derives p(t) = delta / (2 sinh(delta lam t + asinh(delta / (2 p0)))); it solves the ODE and p(0) = p0."""
    delta, p0 = sp.symbols("delta p0", positive=True)
    expected = delta / (2 * sp.sinh(delta * ds.LAMBDA * ds.T + sp.asinh(delta / (2 * p0))))
    assert sp.simplify(rank_one_p - expected) == 0
    assert ds.rank_one_two_layer_residual(rank_one_p) == (0, 0)


@given(vectors(3, scale=2.0), vectors(2, scale=2.0), vectors(3, scale=2.0))
def test_rank_one_two_layer_closed_form_matches_ode(a0, b0, eps):
    """W_1 = a^T, W_2 = b, Sigma = eps eps^T, any (unbalanced) init: the closed form equals flow_ode."""
    assume(np.linalg.norm(eps) > 0.1 and np.linalg.norm(a0) > 0.1 and np.linalg.norm(b0) > 0.1)
    sigma = sigma_pair(eps)
    layers = (a0[None, :], b0[:, None])
    tau = dl.flow_time_scale(layers, sigma)
    ts = np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 7) * tau])
    ode = dl.flow_ode(layers, sigma, ts, rtol=1e-12)
    closed = ds.rank_one_two_layer_flow(a0, b0, eps, ts)
    scale = max(np.abs(a0).max(), np.abs(b0).max())
    for got, want in zip(ode, closed):
        assert np.allclose(got, want, rtol=1e-8, atol=1e-8 * scale)


def test_rank_one_two_layer_balanced_limit():
    """delta = 0 (balanced, a parallel to eps): p(t) = p0 / (1 + 2 lam p0 t), the L = 2 balanced closed form."""
    eps = np.array([0.0, 2.0])
    a0, b0 = np.array([0.0, 1.5]), np.array([1.5])
    ts = np.array([0.0, 0.3, 3.0])
    w1, w2 = ds.rank_one_two_layer_flow(a0, b0, eps, ts)
    p = (w1[:, 0, 1] * w2[:, 0, 0])
    assert np.allclose(p, 2.25 / (1 + 2 * 4.0 * 2.25 * ts), rtol=1e-12)


# ---------------------------------------------------------------- exact identities and rates

@pytest.mark.parametrize("widths", [(2, 2, 1), (2, 2, 2, 1)])
def test_layer_identities_are_exact(widths):
    """Balancedness conservation, d/dt ||W_k||_F^2 = -4 LI and d/dt W_L W_L^T = -2 W Sigma W^T as polynomial
    identities in generic symbolic matrices (gradients taken by sympy, not by deep_linear)."""
    residuals = ds.layer_identities(widths)
    assert len(residuals) == 2 * (len(widths) - 1)
    assert all(r.is_zero_matrix for r in residuals.values())


def test_exact_rates_of_the_minimal_counterexample():
    """At t = 0, exactly: d/dt ||W||^2 = 2 > 0, d/dt lambda_max(W_1^T W_1) = -1 + 11/sqrt(65) > 0, and the last
    layer's lambda_max decreases (-2)."""
    case = minimal_counterexample()
    rates = ds.exact_end_to_end_rates(case.layers, case.sigma)
    assert rates["end_to_end_fro_sq"] == 2
    assert sp.simplify(rates["layer_1_lambda_max"] - (-1 + 11 / sp.sqrt(65))) == 0
    assert rates["layer_1_lambda_max"] > 0
    assert rates["layer_2_lambda_max"] == -2
