"""The affine first layer found in models that do not declare it: found where it is one, refused where it is not,
and the model left exactly as it was."""

import pytest
import torch
from torch import nn

from empirical.measure.first_layer import affine_split

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")

K = 3


def points(n=4, shape=(1, 6, 6), seed=0):
    return torch.randn(n, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 8), nn.ReLU(), nn.Linear(8, K)).double().eval()


def cnn():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 36, K)).double().eval()


class SkipFromInput(nn.Module):
    """Reads x after its first layer too: splitting it off would lose that path."""

    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        return self.net(x) + x.flatten(1)[:, :K]


class TwiceCalled(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(36, 36).double()

    def forward(self, x):
        return self.lin(self.lin(x.flatten(1)))[:, :K]


class OwnLinear(nn.Linear):
    def forward(self, x):
        return super().forward(x).tanh()  # not affine: a subclass with its own forward is never trusted


def untouched(model):
    """No hook left, no forward replaced, on any module."""
    return all(not m._forward_pre_hooks and not m._forward_hooks and "forward" not in m.__dict__
               for m in model.modules())


@pytest.mark.parametrize("build", [mlp, cnn], ids=["linear", "conv"])
def test_a_first_linear_or_conv_layer_is_split_off_and_the_model_is_left_as_it_was(build):
    model = build()
    x = points()
    split = affine_split(model, x)
    assert split is not None and untouched(model)
    affine, head = split
    torch.testing.assert_close(head(affine(x)), model(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(affine(x), model[0 if build is cnn else 1](x if build is cnn else x.flatten(1)))
    # the affine part is affine: the path b + a (x - b) stays straight
    b = torch.zeros_like(x)
    torch.testing.assert_close(affine(0.3 * x + 0.7 * b), 0.3 * affine(x) + 0.7 * affine(b), rtol=1e-12, atol=1e-12)
    assert untouched(model)


@pytest.mark.parametrize("build", [SkipFromInput, TwiceCalled,
                                   lambda: nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(36, K)).double(),
                                   lambda: nn.Sequential(nn.Flatten(), OwnLinear(36, K)).double(),
                                   lambda: torch.jit.script(mlp())],
                         ids=["skip-from-input", "called-twice", "relu-first", "overridden-forward", "torchscript"])
def test_no_split_where_the_first_layer_is_not_an_affine_map_of_the_input_alone(build):
    model = build().eval()
    x = points()
    assert affine_split(model, x) is None
    if isinstance(model, nn.Module) and not isinstance(model, torch.jit.ScriptModule):
        assert untouched(model)


class Clamped(nn.Module):
    """Its first layer is fed clamp(x): equal to x for small inputs, not for a baseline of -9."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.lin = nn.Linear(36, K).double()

    def forward(self, x):
        return self.lin(x.flatten(1).clamp(-5.0, 5.0))


def test_no_split_for_functions_or_a_first_layer_fed_a_function_of_the_input():
    assert affine_split(lambda v: mlp()(v), points()) is None
    x, far = points(), torch.full((1, 1, 6, 6), -9.0, dtype=torch.float64)
    model = Clamped()
    assert affine_split(model, torch.cat([x, far])) is None  # found wrong at the probe (first and last point)
    assert affine_split(model, torch.cat([x[:2], far, x[2:]])) is None  # the probe passes; the check does not
    assert affine_split(model, x) is not None and untouched(model)  # where clamp(x) = x, the split is exact
