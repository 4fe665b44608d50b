"""The Lie derivative of a continuous transformation (Gruver et al. 2023): forward-mode AD against finite
differences; tiny on models invariant by construction, not on ordinary ones; what it sees that LI does not."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from empirical import lie_derivative, logit_invariance
from empirical.measure.image_groups import image_group
from empirical.measure.lie import rotate, translate
from tests.empirical.measure.zoo import OrbitAveraged

S = 21  # odd: the centre is a pixel, and rotate(x, pi/2) is exactly rot90


def blobs(n, seed, sigma=2.0, side=S):
    """Smooth images: a few Gaussian blobs each, (n, 1, side, side) float64."""
    g = torch.Generator().manual_seed(seed)
    r = torch.arange(side, dtype=torch.float64)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    out = torch.zeros(n, 1, side, side, dtype=torch.float64)
    for i in range(n):
        for _ in range(4):
            cy, cx = (torch.rand(2, generator=g, dtype=torch.float64) * side / 2 + side / 4)
            w = torch.randn((), generator=g, dtype=torch.float64)
            out[i, 0] += w * torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
    return out


class Radial(nn.Module):
    """Reads only a radial intensity profile (Gaussian rings about the centre): invariant to rotation by construction."""

    def __init__(self, side=S, rings=4):
        super().__init__()
        r = torch.arange(side, dtype=torch.float64) - (side - 1) / 2
        rr = (r[:, None] ** 2 + r[None, :] ** 2).sqrt()
        self.register_buffer("rings", torch.stack([torch.exp(-(rr - 2.0 * k) ** 2 / (2 * 1.5 ** 2))
                                                   for k in range(rings)]))
        torch.manual_seed(0)
        self.head = nn.Sequential(nn.Linear(rings, 16), nn.Tanh(), nn.Linear(16, 5)).double()

    def forward(self, x):
        return self.head((x[:, :1] * self.rings).flatten(2).sum(-1))


def mlp(side=S, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(side * side, 16), nn.Tanh(), nn.Linear(16, 5)).double()


def cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(3), nn.Flatten(),
                         nn.Linear(36, 5)).double()


@pytest.mark.parametrize("transform", [rotate, translate], ids=["rotate", "translate"])
@pytest.mark.parametrize("make", [mlp, cnn], ids=["mlp", "cnn"])
def test_forward_mode_equals_finite_differences(transform, make):
    model, x, h = make(), blobs(4, 1), 1e-4
    got = lie_derivative(model, x, transform, norm=False)
    with torch.no_grad():
        fd = (model(transform(x, h)) - model(transform(x, -h))) / (2 * h)
    torch.testing.assert_close(got, fd, rtol=1e-6, atol=1e-9 * fd.abs().max().item())
    torch.testing.assert_close(lie_derivative(model, x, transform), fd.norm(dim=1), rtol=1e-6, atol=0)


def test_a_model_invariant_by_construction_is_orders_of_magnitude_below_an_ordinary_one():
    x = blobs(6, 2)
    radial = lie_derivative(Radial(), x, rotate)
    ordinary = lie_derivative(mlp(), x, rotate)
    assert radial.max() < 1e-3 * ordinary.min(), (radial, ordinary)
    noise = torch.randn(4, 1, 12, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    power = lambda v: nn.functional.softplus(torch.fft.fft2(v).abs().flatten(1)[:, :5])  # noqa: E731
    dense = nn.Sequential(nn.Flatten(), nn.Linear(120, 5)).double()  # translations: |FFT| ignores any shift
    assert lie_derivative(power, noise, translate).max() < 1e-10 * lie_derivative(dense, noise, translate).min()


def test_it_sees_what_the_finite_group_metrics_do_not():
    """Exactly invariant to a finite group (LI = 0), yet changing under a small rotation or a sub-pixel shift."""
    r4 = image_group("R4", S)
    model = OrbitAveraged(mlp(), r4)  # R4-averaged
    x = blobs(4, 4)
    assert logit_invariance(model, x, r4).max() < 1e-20
    assert lie_derivative(model, x, rotate).min() > 1e-2 * lie_derivative(mlp(), x, rotate).mean()
    torch.manual_seed(3)  # circular convolution, tanh, global average pool: invariant to every 1-pixel shift
    gap = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"), nn.Tanh(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(4, 5)).double()
    noise = torch.randn(4, 1, 12, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert logit_invariance(gap, noise, image_group("T10", (12, 10))).max() < 1e-25
    assert lie_derivative(gap, noise, translate).min() > 1e-3  # sub-pixel shifts alias through the tanh


def test_the_transformations():
    x = torch.randn(2, 3, S, S, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(rotate(x, math.pi / 2), torch.rot90(x, 1, (-2, -1)), rtol=0, atol=1e-12)
    torch.testing.assert_close(rotate(rotate(x, 0.3), -0.3), x, rtol=0, atol=1e-10)
    y = torch.randn(2, 8, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(translate(y, 2), torch.roll(y, 2, -1), rtol=0, atol=1e-12)
    torch.testing.assert_close(translate(y, -3, dim=-2), torch.roll(y, -3, -2), rtol=0, atol=1e-12)
    torch.testing.assert_close(rotate(y, 0.0), y, rtol=0, atol=1e-12)


def test_refusals_and_nan():
    model, x = mlp(), blobs(3, 7)

    def grid_rotate(v, t):
        c, s = torch.cos(t), torch.sin(t)
        theta = torch.stack([torch.stack([c, -s, 0 * t]), torch.stack([s, c, 0 * t])])[None].expand(len(v), 2, 3)
        return F.grid_sample(v, F.affine_grid(theta, v.shape, align_corners=False), align_corners=False)

    with pytest.raises(RuntimeError, match=r"^lie_derivative needs forward-mode AD .*grid_sampler") as err:
        lie_derivative(model, x, grid_rotate)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="T_0 is the identity"):
        lie_derivative(model, x, lambda v, t: 2 * v + t)
    x[1, 0, 3, 3] = float("nan")
    got = lie_derivative(model, x, rotate)
    assert torch.isnan(got[1]) and torch.isfinite(got[[0, 2]]).all()
    assert lie_derivative(model, x[:0], rotate).shape == (0,)
