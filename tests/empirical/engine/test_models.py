"""The MLP and the weight-tied MLP of Sec. 4.1: sizes, keys, shapes, exact invariance, pooling, the Network split."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from empirical.measure.image_groups import act, image_group, orbit
from empirical.engine.models import MLP, Network, WeightTiedMLP, parameter_count
from theory import groups

SMALL = dict(in_features=36, hidden=16, depth=3, classes=5)  # 6x6 images keep the property tests fast


def linear_count(widths):
    """Weights + biases of a chain of Linear layers with the given widths."""
    return sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


def test_parameter_count_against_the_paper():
    assert parameter_count(MLP()) == linear_count([1296, 128, 128, 128, 128, 9]) == 216_713
    # The paper's "230k" matches five hidden layers (six linear layers) better than five linear layers.
    assert parameter_count(MLP(depth=6)) == linear_count([1296] + [128] * 5 + [9]) == 233_225
    assert abs(parameter_count(MLP(depth=6)) - 230_000) < abs(parameter_count(MLP()) - 230_000)
    assert parameter_count(WeightTiedMLP(image_group("R4"))) == 216_713


def test_state_dict_keys_shared_and_loadable():
    mlp, wt = MLP(seed=0), WeightTiedMLP(image_group("T3"), seed=1)
    keys = [f"layers.{i}.{p}" for i in range(5) for p in ("weight", "bias")]
    assert list(mlp.state_dict()) == keys == list(wt.state_dict())
    wt.load_state_dict(mlp.state_dict())  # strict: the group buffer is not persistent
    for a, b in zip(mlp.parameters(), wt.parameters()):
        assert torch.equal(a, b)


def test_seed_reproduces_initialization():
    a, b, c = MLP(seed=7), MLP(seed=7), MLP(seed=8)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.layers[0].weight, c.layers[0].weight)
    bound = 1 / np.sqrt(1296)  # nn.Linear's default range
    assert a.layers[0].weight.abs().max() <= bound and a.layers[0].weight.abs().max() > 0.9 * bound


def test_input_shapes_agree():
    model = MLP(seed=0)
    x = torch.randn(4, 1, 36, 36, generator=torch.Generator().manual_seed(0))
    out = model(x)
    assert out.shape == (4, 9)
    torch.testing.assert_close(model(x.reshape(4, 36, 36)), out, rtol=0, atol=0)
    torch.testing.assert_close(model(x.reshape(4, 1296)), out, rtol=0, atol=0)
    torch.testing.assert_close(model(x.reshape(2, 2, 1296)).reshape(4, 9), out, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="1296"):
        model(torch.zeros(4, 28, 28))


@given(seed=st.integers(0, 2**31 - 1), pool=st.sampled_from(["max", "mean"]),
       make=st.sampled_from([lambda: groups.rotations(6), lambda: groups.translations(6, 3),
                             lambda: groups.random_orthogonal(groups.rotations(6), np.random.default_rng(0))]))
def test_weight_tied_model_is_exactly_invariant(seed, pool, make):
    rep = make()
    model = WeightTiedMLP(rep, pool=pool, seed=seed, **SMALL).double()
    x = torch.randn(3, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    z = model(orbit(rep, x).reshape(-1, 1, 6, 6)).reshape(rep.order, 3, -1)
    torch.testing.assert_close(z, z[:1].expand_as(z), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["R4", "T3"])
def test_weight_tied_features_are_the_first_layer_on_the_orbit(name):
    """The permuted-weight shortcut against its definition u_g = W_1 (rho(g) x) + b_1, in float64."""
    rep = image_group(name)
    model = WeightTiedMLP(rep, seed=0).double()
    x = torch.randn(5, 36 * 36, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    oracle = torch.stack([model.layers[0](act(rep, x, g)) for g in range(rep.order)], dim=-2)
    torch.testing.assert_close(model.features(x), oracle, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["R4", "T3"])
def test_weight_tied_model_full_size_float32(name):
    rep = image_group(name)
    model = WeightTiedMLP(rep, seed=0)
    x = torch.randn(8, 1, 36, 36, generator=torch.Generator().manual_seed(1))
    z0 = model(x)
    for g in range(rep.order):
        torch.testing.assert_close(model(act(rep, x, g)), z0, rtol=1e-5, atol=1e-6)
    plain = MLP(seed=0)  # the same weights without tying are not invariant
    assert (plain(act(rep, x, 1)) - plain(x)).abs().max() > 1e-2


@given(seed=st.integers(0, 2**31 - 1))
def test_mean_pooling_sees_only_the_group_average(seed):
    """pool='mean' is W_1 P_G x: the same as the untied MLP on the Reynolds-averaged input."""
    rep = groups.rotations(6)
    tied = WeightTiedMLP(rep, pool="mean", seed=seed, **SMALL).double()
    plain = MLP(seed=seed, **SMALL).double()
    x = torch.randn(4, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    averaged = x @ torch.from_numpy(groups.reynolds(rep)).T
    torch.testing.assert_close(tied(x), plain(averaged), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(tied(x), tied(averaged), rtol=1e-10, atol=1e-12)


def test_max_pooling_keeps_more_than_the_group_average():
    """x and its group average P_G x: mean pooling cannot tell them apart, max pooling can."""
    rep = image_group("R4")
    x = torch.randn(16, 1296, generator=torch.Generator().manual_seed(5))
    averaged = x @ torch.from_numpy(groups.reynolds(rep)).float().T
    mean_model = WeightTiedMLP(rep, pool="mean", seed=3)
    max_model = WeightTiedMLP(rep, pool="max", seed=3)
    torch.testing.assert_close(mean_model(x), mean_model(averaged), rtol=1e-4, atol=1e-5)
    gap = (max_model(x) - max_model(averaged)).abs().amax(1)
    assert (gap > 1e-2).all(), gap


def test_weight_tied_errors():
    with pytest.raises(ValueError, match="max, mean"):
        WeightTiedMLP(image_group("R4"), pool="sum")
    with pytest.raises(ValueError, match="image_group"):
        WeightTiedMLP(image_group("R4", 28))
    with pytest.raises(ValueError, match="depth"):
        MLP(depth=0)


def test_models_run_under_vmap_over_stacked_parameters():
    """The trainer-style use: torch.func.functional_call with stacked parameters."""
    models = [WeightTiedMLP(image_group("R4"), seed=s) for s in range(3)]
    params = {k: torch.stack([m.state_dict()[k] for m in models]) for k in models[0].state_dict()}
    x = torch.randn(5, 1296, generator=torch.Generator().manual_seed(6))
    out = torch.func.vmap(lambda p: torch.func.functional_call(models[0], p, (x,)))(params)
    for r, m in enumerate(models):
        torch.testing.assert_close(out[r], m(x), rtol=1e-5, atol=1e-6)


def test_the_mlp_is_a_network_split_into_first_layer_and_rest():
    """f = rest o first; WeightTiedMLP is the MLP built with a group (Network's WT), same keys and numbers."""
    rep = image_group("T3")
    x = torch.randn(6, 1296, generator=torch.Generator().manual_seed(3))
    plain = MLP(seed=2)
    assert isinstance(plain, Network) and plain.group is None
    torch.testing.assert_close(plain(x), plain.rest(plain.first(x)), rtol=0, atol=0)
    tied, built = WeightTiedMLP(rep, seed=2), MLP(seed=2, group=rep)
    assert list(tied.state_dict()) == list(plain.state_dict())
    torch.testing.assert_close(tied(x), built(x), rtol=0, atol=0)
    # Network's generic WT (first on the given orbit) against the MLP's permuted-weight shortcut
    torch.testing.assert_close(tied(orbit(rep, x), given_orbit=True), tied(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="with a group"):
        plain(orbit(rep, x), given_orbit=True)
