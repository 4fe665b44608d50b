"""Layer-wise invariance: every module's normalized orbit error, per sample, against a per-sample loop."""

import pytest
import torch
from torch import nn

from empirical import layer_invariance
from empirical.measure.image_groups import act, image_group

T3 = image_group("T3", 6)


class Affine(nn.Module):
    def forward(self, a):
        return 3.0 * a - 5.0


def gap_cnn(seed=0):
    """Conv (circular: equivariant to cyclic translations) -> ReLU -> global average pool (invariant) -> Linear."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3)).double()


def images(n, seed):
    return torch.randn(n, 1, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_it_shows_where_invariance_is_gained():
    model = gap_cnn(1)
    out = layer_invariance(model, images(5, 1), T3)
    assert list(out) == ["0", "1", "2", "3", "4", ""]  # forward order, named as in named_modules; "" the output
    assert all(v.shape == (5,) for v in out.values())
    assert out["0"].min() > 0.05 and out["1"].min() > 0.05  # equivariant, not invariant
    for name in ("2", "3", "4", ""):
        assert out[name].max() < 1e-25, name  # invariant from the pooling on


def test_it_equals_a_per_sample_loop_and_ignores_scale_and_offset():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 8), Affine(), nn.Tanh(), nn.Linear(8, 3)).double()
    x = images(4, 2)
    out = layer_invariance(model, x, T3, layers=["1", "2", "3"])
    assert list(out) == ["1", "2", "3"]
    torch.testing.assert_close(out["2"], out["1"], rtol=1e-12, atol=0)  # a -> 3 a - 5 changes nothing
    for name, upto in (("1", 2), ("3", 4)):
        sub = model[:upto]
        base = torch.stack([sub(x[i:i + 1])[0] for i in range(4)])
        den = torch.stack([(base[i] - base[j]).square().sum() for i in range(4) for j in range(4) if i != j]).mean()
        num = torch.stack([torch.stack([(sub(act(T3, x[i:i + 1], g))[0] - base[i]).square().sum()
                                        for g in range(1, 3)]).mean() for i in range(4)])
        torch.testing.assert_close(out[name], num / den, rtol=1e-10, atol=0)


def test_a_nonfinite_sample_is_nan_and_leaves_the_others_and_the_model_alone():
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    model.train()
    mean = model[2].running_mean.clone()
    x = images(5, 3)
    x[1, 0, 2, 2] = float("nan")
    out = layer_invariance(model, x, T3)
    ok = torch.tensor([True, False, True, True, True])
    clean = layer_invariance(model, x[ok], T3)
    for name in out:
        assert torch.isnan(out[name][1]) and not out[name].requires_grad
        torch.testing.assert_close(out[name][ok], clean[name], rtol=1e-12, atol=0)
    assert torch.equal(model[2].running_mean, mean) and model.training


def test_errors_say_what_to_pass():
    model = gap_cnn()
    with pytest.raises(ValueError, match="at least 2 samples"):
        layer_invariance(model, images(1, 0), T3)
    with pytest.raises(ValueError, match="no module named 'conv1'"):
        layer_invariance(model, images(3, 0), T3, layers=["conv1"])
    with pytest.raises(TypeError, match="nn.Module"):
        layer_invariance(lambda v: model(v), images(3, 0), T3)
