"""LI, DI and NLI over the orbit (Eq. 1, 2, Sec. 4.4) against numpy/scipy oracles and invariant models."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import log_softmax as np_log_softmax
from scipy.stats import entropy

from empirical.measure import invariance as inv
from empirical.measure.image_groups import act, image_group
from empirical.engine.models import MLP, WeightTiedMLP
from theory import groups

RTOL = 1e-10  # float64 oracles


def orbit_logit_arrays(min_g=1, max_g=5):
    """Logits (|G|, B, K) in float64."""
    shapes = st.tuples(st.integers(min_g, max_g), st.integers(1, 3), st.integers(2, 6))
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=st.floats(-20, 20, allow_nan=False, width=64)))


def oracle(z: np.ndarray, form: str) -> np.ndarray:
    """The per-pair errors (|G|, B) written out with numpy / scipy."""
    if form == "LI":
        return 0.5 * ((z[:1] - z) ** 2).sum(-1)
    if form == "NLI":
        return ((z[:1] - z) ** 2).sum(-1) / np.maximum((z[:1] ** 2).sum(-1), inv.NLI_FLOOR)
    u = np.exp(np_log_softmax(z[0], axis=-1))
    return np.stack([entropy(u, np.exp(np_log_softmax(zg, axis=-1)), axis=-1) for zg in z])  # KL(u || q)


@given(z=orbit_logit_arrays(min_g=2), form=st.sampled_from(inv.INVARIANCE_FORMS))
def test_forms_match_oracles(z, form):
    pairs = oracle(z, form)
    got = inv.invariance_from_logits(torch.from_numpy(z), form).numpy()
    np.testing.assert_allclose(got, pairs[1:].mean(0), rtol=RTOL, atol=1e-9)
    total = inv.invariance_from_logits(torch.from_numpy(z), form, reduction="sum").numpy()
    np.testing.assert_allclose(total, pairs.sum(0), rtol=RTOL, atol=1e-9)  # Eq. 1-2 literally, identity included


@given(z=orbit_logit_arrays(min_g=2), r=st.integers(1, 3), form=st.sampled_from(inv.INVARIANCE_FORMS),
       seed=st.integers(0, 2**32 - 1))
def test_broadcasts_over_stacked_models(z, r, form, seed):
    """(|G|, R, B, K) as the trainer passes it equals R separate calls."""
    rng = np.random.default_rng(seed)
    stacked = np.stack([z + rng.normal(size=z.shape) * i for i in range(r)], axis=1)
    got = inv.invariance_from_logits(torch.from_numpy(stacked), form)
    assert got.shape == (r, z.shape[1])
    for i in range(r):
        torch.testing.assert_close(got[i], inv.invariance_from_logits(torch.from_numpy(stacked[:, i]), form),
                                   rtol=1e-12, atol=1e-12)


def test_shifted_logits_have_zero_di_but_positive_li():
    """LI = 0 implies DI = 0, not conversely: softmax ignores a per-sample constant shift."""
    z0 = torch.randn(1, 5, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    shift = torch.tensor([0.0, 1.5, -3.0, 7.0], dtype=torch.float64).view(4, 1, 1)
    z = z0 + shift * torch.arange(1, 6, dtype=torch.float64).view(1, 5, 1)
    assert inv.invariance_from_logits(z, "DI").abs().max() < 1e-12
    li = inv.invariance_from_logits(z, "LI")
    # LI = 1/2 * K * mean_g c_g^2 per sample, with c_g = shift_g * (n + 1)
    expected = 0.5 * 9 * (shift[1:, 0, 0] ** 2).mean() * torch.arange(1, 6, dtype=torch.float64) ** 2
    torch.testing.assert_close(li, expected, rtol=1e-12, atol=0)
    assert inv.invariance_from_logits(z[:1].expand(3, -1, -1), "LI").abs().max() == 0


def test_gradients_flow_through_both_arguments():
    z = torch.randn(3, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    for form in inv.INVARIANCE_FORMS:
        torch.autograd.gradcheck(lambda t: inv.invariance_from_logits(t, form), (z,))
        (grad,) = torch.autograd.grad(inv.invariance_from_logits(z, form).sum(), z)
        assert grad[0].abs().max() > 1e-3 and grad[1:].abs().max() > 1e-3, form


def test_nli_floor_and_trivial_group():
    zeros = torch.zeros(3, 2, 4)
    assert torch.equal(inv.invariance_from_logits(zeros, "NLI"), torch.zeros(2))
    z = zeros.clone()
    z[1:] = 1.0
    nli = inv.invariance_from_logits(z, "NLI")
    assert torch.isfinite(nli).all() and (nli > 0).all()
    for form in inv.INVARIANCE_FORMS:  # |G| = 1: nothing to compare
        assert torch.equal(inv.invariance_from_logits(torch.randn(1, 2, 4), form), torch.zeros(2))


def test_errors_list_the_choices():
    with pytest.raises(ValueError, match="LI, DI, NLI"):
        inv.invariance_from_logits(torch.zeros(2, 3, 4), "KL")
    with pytest.raises(ValueError, match="mean, sum"):
        inv.invariance_from_logits(torch.zeros(2, 3, 4), "LI", reduction="max")


def test_orbit_logits_is_one_forward_of_the_stacked_orbit():
    rep = image_group("R4")
    model = MLP(seed=0)
    calls = []

    def f(v):
        calls.append(v.shape)
        return model(v)

    x = torch.randn(5, 1, 36, 36, generator=torch.Generator().manual_seed(2))
    z = inv.orbit_logits(f, x, rep)
    assert calls == [(20, 1, 36, 36)] and z.shape == (4, 5, 9)
    for g in range(4):
        torch.testing.assert_close(z[g], model(act(rep, x, g)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["R4", "T3"])
def test_invariant_models_have_zero_error_and_a_random_mlp_does_not(name):
    rep = image_group(name)
    x = torch.randn(16, 1, 36, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    tied = WeightTiedMLP(rep, seed=0).double()
    plain = MLP(seed=0).double()
    p_g = torch.from_numpy(groups.reynolds(rep))

    def averaged(v):  # invariant by construction: the MLP on the Reynolds-averaged input
        return plain(v.reshape(v.shape[0], -1) @ p_g.T)

    for metric in (inv.logit_invariance, inv.distribution_invariance, inv.normalized_logit_invariance):
        for f in (tied, averaged):
            err = metric(f, x, rep)
            # float64 round-off only: P_G gx and P_G x agree to ~1e-16, KL then cancels to ~1e-16
            assert err.shape == (16,) and err.abs().max() < 1e-12, (metric.__name__, err.abs().max())
        assert metric(plain, x, rep).min() > 1e-6, metric.__name__


NONFINITE = (float("nan"), float("inf"), -float("inf"))
METRICS = (inv.logit_invariance, inv.distribution_invariance, inv.normalized_logit_invariance)


@given(z=orbit_logit_arrays(min_g=1), bad=st.sampled_from(NONFINITE), form=st.sampled_from(inv.INVARIANCE_FORMS),
       reduction=st.sampled_from(inv.REDUCTIONS), data=st.data())
def test_a_nonfinite_orbit_logit_gives_nan_for_that_sample_only(z, bad, form, reduction, data):
    """-inf in f(gx) would give DI = +inf, inf in f(gx) LI = inf, and |G| = 1 gives 0: all NaN instead."""
    g, b, k = (data.draw(st.integers(0, n - 1)) for n in z.shape)
    broken = z.copy()
    broken[g, b, k] = bad
    got = inv.invariance_from_logits(torch.from_numpy(broken), form, reduction)
    assert torch.isnan(got[b])
    keep = torch.arange(z.shape[1]) != b
    torch.testing.assert_close(got[keep], inv.invariance_from_logits(torch.from_numpy(z), form, reduction)[keep],
                               rtol=0, atol=0)


@pytest.mark.parametrize("bad", NONFINITE)
def test_nonfinite_pixels_and_logits_give_nan_per_sample(bad):
    rep = image_group("R4", 6)
    plain = MLP(in_features=36, hidden=16, depth=3, classes=5, seed=7).double()
    x = torch.randn(5, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    x[1] = bad
    x[3, 0, 5, 0] = bad  # one pixel
    ok = torch.tensor([True, False, True, False, True])

    def robust(v):  # a model that maps non-finite pixels to finite logits must not hide them
        return plain(torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0))

    def broken(v):  # finite inputs, non-finite logits for the images whose mean is above 1
        return plain(v) + torch.where(v.flatten(1).mean(1, keepdim=True) > 1, bad, 0.0)

    for metric in METRICS:
        for f in (plain, robust):
            err = metric(f, x, rep)
            assert torch.isnan(err[~ok]).all(), (metric.__name__, err)
            torch.testing.assert_close(err[ok], metric(f, x[ok], rep), rtol=1e-12, atol=0)
        y = torch.randn(3, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
        y[2] += 2.0  # every orbit element of sample 2 has mean > 1
        err = metric(broken, y, rep)
        assert torch.isnan(err[2]) and torch.isfinite(err[:2]).all(), metric.__name__
    trivial = groups.from_permutations("trivial", [np.arange(36)])
    for form in inv.INVARIANCE_FORMS:  # the trivial group compares nothing, yet NaN stays NaN
        err = inv.invariance(plain, x, trivial, form)
        assert torch.isnan(err[~ok]).all() and torch.equal(err[ok], torch.zeros(3, dtype=torch.float64))


def test_nan_samples_do_not_leak_into_the_gradients_of_the_others():
    rep = image_group("T3", 6)
    model = MLP(in_features=36, hidden=16, depth=3, classes=5, seed=9).double()
    x = torch.randn(4, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    x[2] = float("nan")
    ok = torch.tensor([True, True, False, True])
    # the metric is detached; the differentiable per-sample formula (the loss's) is orbit_invariance
    err = inv.orbit_invariance(model, x, rep, "LI")
    torch.testing.assert_close(err, inv.logit_invariance(model, x, rep), rtol=0, atol=0, equal_nan=True)
    (grad,) = torch.autograd.grad(err[ok].sum(), model.layers[0].weight)
    (alone,) = torch.autograd.grad(inv.orbit_invariance(model, x[ok], rep, "LI").sum(), model.layers[0].weight)
    torch.testing.assert_close(grad, alone, rtol=1e-12, atol=1e-15)


def test_every_metric_takes_a_group_name():
    x = torch.randn(3, 1, 36, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    model = MLP(seed=10).double()
    for name in ("R4", "t3"):
        rep = image_group(name)
        torch.testing.assert_close(inv.orbit_logits(model, x, name), inv.orbit_logits(model, x, rep), rtol=0, atol=0)
        for metric in METRICS:
            torch.testing.assert_close(metric(model, x, name), metric(model, x, rep), rtol=0, atol=0)
        torch.testing.assert_close(inv.invariance(model, x, name, "DI", "sum"),
                                   inv.invariance(model, x, rep, "DI", "sum"), rtol=0, atol=0)


def test_bad_groups_and_shapes_raise_before_the_model_runs():
    def model(v):
        raise AssertionError("the model must not run on a bad group or shape")

    x = torch.zeros(2, 1, 36, 36)
    for metric in (*METRICS, inv.orbit_logits):
        with pytest.raises(TypeError, match=r"group must be a theory.groups.Representation or one of the names "
                                            r"'R4', 'T3', 'D4', 'F2'; got int"):
            metric(model, x, 4)
        with pytest.raises(ValueError, match="R4, T3, D4, F2"):
            metric(model, x, "Q8")
        with pytest.raises(ValueError, match=r"got x of shape \(2, 28, 28\).*\(N, 1296\), \(N, 36, 36\) or "
                                             r"\(N, C, 36, 36\)"):
            metric(model, torch.zeros(2, 28, 28), "R4")
        with pytest.raises(ValueError, match=r"\(N, 36\), \(N, 6, 6\)"):  # a 6x6 group would act on image rows
            metric(model, x, image_group("R4", 6))
