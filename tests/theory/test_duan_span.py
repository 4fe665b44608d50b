"""theory.duan_span: Duan & Montúfar's closed forms on data that do not span R^d0."""

import numpy as np
import pytest

from theory import duan, duan_span, groups


@pytest.fixture(params=[0, 1, 2])
def problem(request):
    rng = np.random.default_rng(request.param)
    rep = [groups.rotations(4), groups.translations(6, 3), groups.square_symmetries(3)][request.param]
    d = rep.dim
    x = rng.standard_normal((d, 3 * d))
    y = rng.standard_normal((3, 3 * d))
    return rep, x, y, duan.constraint_matrix(rep)


def test_equal_to_theory_duan_when_the_data_span(problem):
    rep, x, y, g = problem
    for got, want in [(duan_span.augmented_optimum(x, y, rep, 2), duan.augmented_optimum(x, y, rep, 2)),
                      (duan_span.constrained_optimum(x, y, g, 2), duan.constrained_optimum(x, y, g, 2)),
                      (duan_span.regularized_optimum(x, y, g, 0.3, 2), duan.regularized_optimum(x, y, g, 0.3, 2))]:
        assert np.linalg.norm(got - want) <= 1e-10 * np.linalg.norm(want)


def test_on_dark_coordinates_the_optima_are_optimal_invariant_and_zero_where_blind(problem):
    rep, x, y, g = problem
    rng = np.random.default_rng(7)
    x = x.copy()
    x[0] = 0.0  # coordinate 0 dark in every point; its orbit is lit by the other group elements
    orbit0 = sorted({int(np.flatnonzero(rep.matrices[k][:, 0])[0]) for k in range(rep.order)})
    x[orbit0] = 0.0  # the whole orbit dark: the augmented data do not span R^d0 either
    w_da, w_inv = duan_span.augmented_optimum(x, y, rep, 2), duan_span.constrained_optimum(x, y, g, 2)
    w_reg = duan_span.regularized_optimum(x, y, g, 0.3, 2)
    assert np.linalg.norm(w_da - w_inv) <= 1e-9 * np.linalg.norm(w_inv)  # Thm. 12 without the full-rank assumption
    assert np.abs(w_inv @ g).max() < 1e-10
    for w in (w_da, w_inv, w_reg):
        assert np.abs(w[:, orbit0]).max() < 1e-10  # least norm: nothing on what no point lights
    # no rank-2 perturbation does better (the objectives of Eq. 9, 4, 7)
    for _ in range(20):
        e = 1e-3 * rng.standard_normal(w_da.shape)
        p = duan.truncate(w_da + e, 2)
        assert duan.augmented_loss(p, x, y, rep) >= duan.augmented_loss(w_da, x, y, rep) - 1e-12
        pi = p @ groups.reynolds(rep)
        assert duan.mse(pi, x, y) >= duan.mse(w_inv, x, y) - 1e-12
        pr = duan.truncate(w_reg + e, 2)
        assert duan.regularized_loss(pr, x, y, g, 0.3) >= duan.regularized_loss(w_reg, x, y, g, 0.3) - 1e-12
    assert duan_span.augmented_seen(x, rep).shape[1] == rep.dim - len(orbit0)
