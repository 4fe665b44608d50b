"""sympy: the rank-one closed form of expm(-eps eps^T t), its ODE, initial value, eigenvalues; numeric cross-check."""

from functools import lru_cache

import numpy as np
import pytest
import scipy.linalg
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import vectors
from theory import linear_flow as lf
from theory import symbolic


@lru_cache(maxsize=None)
def identities(d):
    return symbolic.rank_one_identities(d)


NAMES = list(identities(2))


def is_zero(expr):
    return symbolic.vanishes(expr)


def test_vanishes_agrees_with_simplify():
    eps, t, _, _ = symbolic.symbols(2)
    s = (eps.T * eps)[0, 0]
    assert symbolic.vanishes(sp.exp(-t * s) * s / s - sp.exp(-t * eps[0] ** 2) * sp.exp(-t * eps[1] ** 2))
    assert not symbolic.vanishes(sp.exp(-t * s) - 1)
    assert not symbolic.vanishes(sp.Matrix([[0, 0], [0, eps[0] - eps[1]]]))


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_rank_one_identity_holds(d, name):
    assert is_zero(identities(d)[name]), f"{name} fails for d = {d}"


def test_a_wrong_closed_form_is_caught():
    """The checks can fail: without the 1/s normalization the closed form neither equals expm nor solves the ODE."""
    eps, t, _, _ = symbolic.symbols(2)
    wrong = sp.eye(2) - (1 - sp.exp(-t * (eps.T * eps)[0, 0])) * (eps * eps.T)
    assert not is_zero((-t * eps * eps.T).exp() - wrong)
    assert not is_zero(wrong.diff(t) + wrong * (eps * eps.T))


def test_symbolic_closed_form_evaluates_to_scipy_expm():
    eps, t, _, _ = symbolic.symbols(3)
    values = {eps[0]: 0.3, eps[1]: -1.2, eps[2]: 2.0, t: 0.7}
    closed = np.array(symbolic.rank_one_closed_form(eps, t).subs(values).evalf(), dtype=float)
    e = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(closed, scipy.linalg.expm(-np.outer(e, e) * 0.7), rtol=1e-12, atol=1e-14)


@given(st.integers(2, 40).flatmap(lambda d: vectors(d)), st.floats(0.0, 20.0))
def test_rank_one_expm_numeric(eps, tau):
    """The closed form at larger d equals scipy.linalg.expm and flow_closed_form; eigenvalues 1 (d-1 times), e^{-ts}."""
    s = float(eps @ eps)
    if s < 1e-6:
        with pytest.raises(ValueError) if s == 0 else _nullcontext():
            symbolic.rank_one_expm(eps, 1.0)
        return
    t = tau / s
    closed = symbolic.rank_one_expm(eps, t)
    sigma = lf.sigma_pair(eps)
    np.testing.assert_allclose(closed, scipy.linalg.expm(-sigma * t), atol=1e-10)
    np.testing.assert_allclose(closed, lf.flow_closed_form(np.eye(len(eps)), sigma, t), atol=1e-10)
    lam = np.sort(np.linalg.eigvalsh(closed))
    np.testing.assert_allclose(lam[1:], 1.0, atol=1e-10)
    assert lam[0] == pytest.approx(np.exp(-tau), abs=1e-10)


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_symbols_rejects_large_d():
    with pytest.raises(ValueError, match="rank_one_expm"):
        symbolic.symbols(10)
