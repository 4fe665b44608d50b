"""Linear softmax classifier: CE, LI and DI with analytic gradients (checked by finite differences) and their flows."""

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies import matrices, representations, vectors
from theory import groups
from theory import linear_flow as lf
from theory import softmax_flow as sf

matrices = lru_cache(maxsize=None)(matrices)  # built once per shape; rebuilding them dominated the run time
vectors = lru_cache(maxsize=None)(vectors)
# Properties that integrate an ODE (LSODA, up to 156 unknowns) per example cost ~50x a plain one: a quarter of the
# profile's examples (10 in "ci", 2,500 in "thorough").
ODE_EXAMPLES = settings(max_examples=max(10, settings.default.max_examples // 4))


@st.composite
def models(draw, kind="any"):
    """(rep, data x (n, d), labels y (n,), W (k, d)) with k >= 2 classes."""
    rep = draw(representations(kind))
    n, k = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    x = draw(vectors(rep.dim, n))
    y = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return rep, x, y, draw(matrices(k, rep.dim))


def kl_literal(w, x, rep):
    """Eq. 1 computed term by term: sum_x sum_g sum_i p_i (log p_i - log q_i), p = softmax(W x), q = softmax(W g x).

    From scipy's log_softmax, not softmax: a probability that underflows to 0 in q (logits [1573, 817] give
    q_2 = e^-756) made rel_entr(p, q) = inf although the KL is finite (issue 24.7: the reference, not the code, was
    wrong); with logs, p_i log p_i - p_i log q_i stays finite and 0 where p_i underflows.
    """
    from scipy.special import log_softmax

    total = 0.0
    for g in range(rep.order):
        for xi in x:
            lp, lq = log_softmax(w @ xi), log_softmax(w @ rep.act(g, xi))
            total += np.sum(np.exp(lp) * (lp - lq))
    return total


def assert_gradient(fun, w, seed, x_scale, rtol=1e-6):
    """Richardson-extrapolated central differences of fun along 3 random directions match <grad, V>.

    fun: W -> (value, grad); x_scale bounds |V x| per unit step, so the step h keeps the logits' change small.
    """
    value, grad = fun(w)
    rng = np.random.default_rng(seed)
    h = 1e-3 / x_scale
    for _ in range(3):
        v = rng.standard_normal(w.shape)

        def central(step):
            return (fun(w + step * v)[0] - fun(w - step * v)[0]) / (2 * step)

        fd = (4 * central(h / 2) - central(h)) / 3  # the O(h^2) truncation term cancels; O(h^4) is left
        exact = float(np.sum(grad * v))
        tol = rtol * (abs(exact) + np.abs(grad).sum() * np.abs(v).max()) + 1e-12 * (1 + abs(value)) / h
        assert abs(fd - exact) <= tol, (fd, exact)


@given(models(), st.integers(0, 2**32 - 1), st.sampled_from(["ce", "li", "di"]))
def test_gradients_match_finite_differences(model, seed, which):
    rep, x, y, w = model
    fun = {"ce": lambda m: sf.cross_entropy(m, x, y), "li": lambda m: sf.logit_invariance_loss(m, x, rep),
           "di": lambda m: sf.distribution_invariance(m, x, rep)}[which]
    assert_gradient(fun, w, seed, x_scale=1 + np.abs(x).sum(axis=1).max() * (1 + np.abs(rep.matrices).max()))


def test_gradients_full_finite_difference():
    """Every entry of each gradient by central differences on a fixed instance (nonorth D3, 2 points, 3 classes)."""
    rng = np.random.default_rng(3)
    rep = groups.random_invertible(groups.dihedral(3), rng)
    x, w, y = rng.standard_normal((2, 3)), rng.standard_normal((3, 3)), np.array([0, 2])
    for fun in (lambda m: sf.cross_entropy(m, x, y), lambda m: sf.logit_invariance_loss(m, x, rep),
                lambda m: sf.distribution_invariance(m, x, rep),
                sf.regularized_loss(x, rep, y, 0.7, "di"), sf.regularized_loss(x, rep, y, 0.7, "li")):
        h, fd = 1e-6, np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            e = np.zeros_like(w)
            e[idx] = h
            fd[idx] = (fun(w + e)[0] - fun(w - e)[0]) / (2 * h)
        np.testing.assert_allclose(fd, fun(w)[1], rtol=1e-6, atol=1e-8)


@given(models())
def test_losses_match_literal_definitions(model):
    """DI equals Eq. 1 term by term (scipy rel_entr), LI equals Eq. 2, CE equals -sum log softmax; DI >= 0."""
    from scipy.special import log_softmax

    rep, x, y, w = model
    di, _ = sf.distribution_invariance(w, x, rep)
    assert di == pytest.approx(kl_literal(w, x, rep), rel=1e-9, abs=1e-12)
    assert di >= -1e-12
    li, _ = sf.logit_invariance_loss(w, x, rep)
    gx = groups.orbit(rep, x)
    assert li == pytest.approx(0.5 * np.sum((x @ w.T - gx @ w.T) ** 2), rel=1e-10, abs=1e-10)
    ce, _ = sf.cross_entropy(w, x, y)
    assert ce == pytest.approx(-log_softmax(x @ w.T, axis=-1)[np.arange(len(x)), y].sum(), rel=1e-12)


@given(models(), vectors(4))
def test_di_is_blind_to_logit_shifts_and_zero_for_invariant_w(model, c):
    """DI(W + c 1^T-style shift of every logit) = DI(W) (softmax shift invariance); LI = 0 implies DI = 0 (Sec. 3.2)."""
    rep, x, y, w = model
    k = w.shape[0]
    shift = np.outer(np.ones(k), np.resize(c, rep.dim))  # adds (c . x) to every logit of x
    assert sf.distribution_invariance(w + shift, x, rep)[0] == pytest.approx(
        sf.distribution_invariance(w, x, rep)[0], rel=1e-7, abs=1e-9)
    w_inv = w @ lf.invariant_projector(rep)  # genuinely invariant: LI = DI = 0 on any data
    sigma = lf.sigma_orbit(x, rep)  # LI = 1/2 tr(W Sigma W^T): round-off ~ eps ||W||^2 ||Sigma||
    assert sf.logit_invariance_loss(w_inv, x, rep)[0] <= 1e-13 * (1 + np.sum(w**2)) * (1 + np.abs(sigma).sum())
    assert abs(sf.distribution_invariance(w_inv, x, rep)[0]) <= 1e-9


@ODE_EXAMPLES
@given(models(), st.floats(0.0, 3.0))
def test_li_only_flow_matches_closed_form(model, tau):
    """gradient_flow on nu LI alone reproduces the closed form W(0) expm(-nu Sigma t) of Eq. 6 (independent paths)."""
    rep, x, _, w0 = model
    sigma = lf.sigma_orbit(x, rep)
    lam = max(np.linalg.eigvalsh(sigma).max(), 1e-3)
    ts = np.linspace(0, tau / lam, 4)
    got = sf.gradient_flow(sf.regularized_loss(x, rep, None, 2.0, "li"), w0, ts, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, lf.flow_closed_form(w0, 2.0 * sigma, ts), rtol=1e-6,
                               atol=1e-7 * (1 + np.abs(w0).max()))


@ODE_EXAMPLES
@given(models(), st.sampled_from(["li", "di", "none"]), st.floats(0.0, 5.0))
def test_loss_decreases_along_every_flow(model, regularizer, nu):
    """d/dt L = -||grad L||^2 <= 0: L(W(t)) is non-increasing for CE + nu LI, CE + nu DI and CE alone."""
    rep, x, y, w0 = model
    loss = sf.regularized_loss(x, rep, y, nu, regularizer)
    ws = sf.gradient_flow(loss, w0, np.linspace(0.0, 2.0, 9), rtol=1e-9, atol=1e-12)
    values = np.array([loss(w)[0] for w in ws])
    assert (np.diff(values) <= 1e-6 * (1 + abs(values[0]))).all()


def test_rejects_bad_arguments():
    rep = groups.cyclic_shift(3)
    with pytest.raises(ValueError, match="regularizer"):
        sf.regularized_loss(np.ones((1, 3)), rep, regularizer="kl")
    with pytest.raises(ValueError, match="nu"):
        sf.regularized_loss(np.ones((1, 3)), rep, nu=-1.0)
    with pytest.raises(ValueError, match="label"):
        sf.cross_entropy(np.ones((2, 3)), np.ones((1, 3)), np.array([2]))
    with pytest.raises(ValueError, match="same d"):
        sf.distribution_invariance(np.ones((2, 4)), np.ones((1, 3)), rep)
    with pytest.raises(ValueError, match="sorted"):
        sf.gradient_flow(sf.regularized_loss(np.ones((1, 3)), rep), np.ones((2, 3)), np.array([1.0, 0.5]))


# ---------------------------------------------------------------- counterexamples beyond Prop. 3.1 (regressions)

C2 = groups.cyclic_shift(2)
W_SHARP = np.array([[3.0, 0.0], [-3.0, 0.0]])


def max_ratio(loss, w0, horizon, num=401):
    ws = sf.gradient_flow(loss, w0, np.linspace(0.0, horizon, num), rtol=1e-11, atol=1e-13)
    ratios = np.array([lf.spectral_norm(w) for w in ws]) / lf.spectral_norm(w0)
    return ratios.max(), ratios


def test_di_counterexample_one_point():
    """Minimal DI counterexample: C2 on R^2, x = e1 (so gx = e2), 2 classes, W(0) = [[3, 0], [-3, 0]].

    Logits at x are sharp, (3, -3); at gx they are (0, 0). The DI flow pulls the gx-logits (column 2 of W) up toward
    the sharp ones faster than it flattens the x-logits (the softmax Jacobian at x is ~0.005), so W grows along e2, an
    invariant-agnostic direction LI would never grow: sigma_max rises from 3 sqrt 2 to 4.8666 (ratio 1.14706).
    """
    ratio, ratios = max_ratio(sf.regularized_loss(np.array([[1.0, 0.0]]), C2, None, 1.0, "di"), W_SHARP, 200.0)
    assert ratio == pytest.approx(1.1470611, rel=1e-6)
    # it first decreases: d sigma_max/dt = u_1^T (-grad DI) v_1 = -0.020929 at t = 0, then grows past sigma_max(W(0))
    u, _, vt = np.linalg.svd(W_SHARP)
    rate0 = -u[:, 0] @ sf.distribution_invariance(W_SHARP, np.array([[1.0, 0.0]]), C2)[1] @ vt[0]
    assert rate0 == pytest.approx(-0.020929025, rel=1e-6)
    assert ratios[-1] > 1.14
    li_ratio, _ = max_ratio(sf.regularized_loss(np.array([[1.0, 0.0]]), C2, None, 1.0, "li"), W_SHARP, 200.0)
    assert li_ratio == pytest.approx(1.0, abs=1e-12)  # the LI flow from the same start obeys the bound


def test_di_counterexample_full_orbit_data():
    """The same W(0) with data x in {e1, e2} (the whole orbit, spanning R^2): sigma_max still rises, ratio 1.02966."""
    ratio, _ = max_ratio(sf.regularized_loss(np.eye(2), C2, None, 1.0, "di"), W_SHARP, 200.0)
    assert ratio == pytest.approx(1.0296566, rel=1e-6)


def test_di_gradient_row_space_contains_invariant_direction():
    """At W_SHARP the DI gradient has a component along the invariant x + gx = (1, 1); LI's gradient has none."""
    x = np.array([[1.0, 0.0]])
    g_di = sf.distribution_invariance(W_SHARP, x, C2)[1]
    g_li = sf.logit_invariance_loss(W_SHARP, x, C2)[1]
    inv = np.array([1.0, 1.0]) / np.sqrt(2)
    assert np.linalg.norm(g_di @ inv) == pytest.approx(0.48272832, rel=1e-6)
    assert np.linalg.norm(g_li @ inv) == 0.0


def test_ce_plus_li_counterexample():
    """CE + 10 LI, C2, one invariant point x = (1, 1) with label 0, W(0) = 0.01 I: Sigma = 0 on this data, so LI exerts
    no force and CE grows W = W(0) + c(t) x^T without bound. Hand-derived oracle: c = (z, -z)/4 with the logit gap z
    solving z + e^z = 4 t + 1; sigma_max(W(5)) / sigma_max(W(0)) = 144.813."""
    from scipy.optimize import brentq

    x, y = np.array([[1.0, 1.0]]), np.array([0])
    loss = sf.regularized_loss(x, C2, y, 10.0, "li")
    w0 = 0.01 * np.eye(2)
    ratio, ratios = max_ratio(loss, w0, 5.0, num=11)
    assert ratio == pytest.approx(ratios[-1])  # monotone growth
    z = brentq(lambda z: z + np.exp(z) - 21.0, 0.0, 5.0)
    w5 = w0 + np.outer([z / 4, -z / 4], x[0])
    assert ratio == pytest.approx(lf.spectral_norm(w5) / 0.01, rel=1e-7)
    assert ratio == pytest.approx(144.81320, rel=1e-6)


def test_di_reference_stays_finite_where_softmax_underflows():
    # Issue 24.7: the thorough profile found logits [1573, 817]; the code's DI was right (377.292375, checked to
    # 50 digits with mpmath), the reference gave inf.
    import mpmath

    rep = groups.cyclic_shift(2)
    w = np.array([[1573.0, 817.0], [817.0, 1573.0]])
    x = np.array([[1.0, 0.0]])
    got = sf.distribution_invariance(w, x, rep)[0]
    mpmath.mp.dps = 50
    exact = mpmath.mpf(0)
    for g in range(rep.order):
        a, b = [mpmath.mpf(v) for v in w @ x[0]], [mpmath.mpf(v) for v in w @ rep.act(g, x[0])]
        la = [v - mpmath.log(sum(mpmath.exp(u) for u in a)) for v in a]
        lb = [v - mpmath.log(sum(mpmath.exp(u) for u in b)) for v in b]
        exact += sum(mpmath.exp(p) * (p - q) for p, q in zip(la, lb))
    assert np.isfinite(kl_literal(w, x, rep))
    assert got == pytest.approx(float(exact), rel=1e-9) and kl_literal(w, x, rep) == pytest.approx(float(exact), rel=1e-9)
